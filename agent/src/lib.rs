//! hbwatch: finds out why heartbeats were lost on this host.
//!
//! The pipeline, one folder per stage:
//! - [`probes`]: eBPF programs loaded and attached, kernel aggregates read out;
//! - [`collectors`]: what procfs/sysfs say about the host;
//! - [`recording`]: the crash-safe file everything goes through;
//! - [`analysis`]: pure functions of recorded data;
//! - [`output`]: reports (and later exports and the live view).
//!
//! [`session`] ties capture together; [`cli`] and [`commands`] are the thin command line.

pub mod analysis;
pub mod cli;
pub mod clock;
pub mod collectors;
pub mod commands;
pub mod demo;
pub mod heartbeat;
pub mod output;
pub mod probes;
pub mod recording;
pub mod session;
