//! Who ran on each CPU: per-interval top CPU users from the stack sampler, and the CPU affinity
//! of watched (heartbeat) processes.

use serde::{Deserialize, Serialize};

/// Processes kept per CPU per interval; the rest are summed into `others`.
pub const TOP_TASKS_PER_CPU: usize = 3;

/// Samples per (CPU, process) over `[start_mono_ns, end_mono_ns)`; only CPUs that ran something
/// other than the idle task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CpuTaskSamples {
    pub start_mono_ns: u64,
    pub end_mono_ns: u64,
    /// Samples per second per CPU.
    pub rate_hz: u32,
    pub cpus: Vec<CpuTasks>,
    /// Samples not attributed to a process because the kernel's table was full.
    pub uncounted: u64,
}

/// One CPU over one interval.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CpuTasks {
    pub cpu: u32,
    /// Every sample on this CPU, idle included.
    pub samples: u64,
    /// Samples in the idle task.
    pub idle: u64,
    /// The busiest processes, most samples first (at most [`TOP_TASKS_PER_CPU`]).
    pub top: Vec<TaskSamples>,
    /// Samples of the other processes, and how many of them fell in softirq context.
    pub others: u64,
    pub others_softirq: u64,
}

/// One process on one CPU over one interval.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskSamples {
    pub tgid: u32,
    /// Name of a sampled thread of the process.
    pub comm: String,
    /// A kernel thread (ksoftirqd, kworker, ...): cannot be moved with taskset.
    pub kernel_thread: bool,
    pub samples: u64,
    /// Samples taken while a softirq ran on top of the process.
    pub softirq: u64,
}

/// The CPUs a watched process may run on (`Cpus_allowed_list` in /proc/PID/status), recorded
/// when the process is first seen and whenever it changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskAffinity {
    pub at_mono_ns: u64,
    pub tgid: u32,
    pub comm: String,
    pub cpus_allowed: Vec<u32>,
}
