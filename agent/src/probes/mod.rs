//! Userspace side of the eBPF probes: load the embedded object, attach programs, read the
//! in-kernel aggregates into recording records. One file per probe family.

pub mod btf;
pub mod classic;
pub mod cpu_tasks;
pub mod disable;
pub mod drops;
mod extras;
pub mod hardirq;
pub mod kallsyms;
pub mod loader;
pub mod napi;
pub mod object;
pub mod packet;
pub mod portwatch;
pub mod privileges;
pub mod sched;
pub mod softirq;
pub mod softirq_events;
pub mod stacks;
pub mod tracefs;

pub use loader::{AttachMode, ProbeError, ProbeOptions, Probes};
