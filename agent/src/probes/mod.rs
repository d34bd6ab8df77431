//! Userspace side of the eBPF probes: load the embedded object, attach programs, read the
//! in-kernel aggregates into recording records. One file per probe family.

pub mod loader;
pub mod privileges;
pub mod softirq;
pub mod tracefs;

pub use loader::{AttachMode, ProbeError, ProbeOptions, Probes};
