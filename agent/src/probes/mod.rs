//! Userspace side of the eBPF probes: load the embedded object, attach programs, read the
//! in-kernel aggregates into recording records. One file per probe family.

pub mod btf;
mod extras;
pub mod kallsyms;
pub mod loader;
pub mod privileges;
pub mod sched;
pub mod softirq;
pub mod softirq_events;
pub mod stacks;
pub mod tracefs;

pub use loader::{AttachMode, ProbeError, ProbeOptions, Probes};
