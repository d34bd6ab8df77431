//! Capture as a library: a [`session::Session`] starts the probes and collectors and appends one
//! tick of records to the recording; [`drive`] ticks it with the heartbeat sources until a
//! duration, a signal or its caller stops it. `record`, `live`, `serve`, the demo and the tests
//! call it directly.

pub mod drive;
pub mod session;

pub use drive::{Flow, LoopEvent, LoopOptions, drive, probe_options_with};
pub use session::{Finished, Session};
