//! `hbwatch demo`: a lab of two namespaces and a UDP heartbeat between them, with faults injected
//! in turn, recorded and explained. Its namespaces and peers are reused by the tests.

pub mod lab;
pub mod netns;
pub mod peer;
pub mod scenarios;
