//! Userspace side of the eBPF probes: load the embedded object, attach programs, read the
//! in-kernel aggregates into recording records. One file per probe family here; the kernel
//! plumbing they share (BTF, tracefs, kallsyms, privileges, the loaded object) is in `kernel/`.

pub mod cpu_tasks;
pub mod drops;
pub mod error;
mod extras;
pub mod family;
pub mod hardirq;
pub mod kernel;
pub mod loader;
pub mod napi;
pub mod options;
pub mod packet;
pub mod portwatch;
pub mod sched;
pub mod softirq;
pub mod softirq_events;
pub mod stacks;

pub use error::{LoadError, ProbeError};
pub use family::Family;
/// `--disable-probe` (its value parser is named from `cli/`).
pub use kernel::disable;
pub use loader::Probes;
pub use options::{AttachMode, ProbeOptions};
