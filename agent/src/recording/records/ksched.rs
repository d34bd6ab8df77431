//! Records of the softirq threshold events, scheduling-delay and kernel-stack probes.

use serde::{Deserialize, Serialize};

use super::{SparseHist, TimedMax};

/// Softirqs over the threshold read from the ring buffer during one tick, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SoftirqEvents {
    /// The threshold in force (`--softirq-threshold`): wait or run above it made an event.
    pub threshold_ns: u64,
    pub events: Vec<SoftirqEvent>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SoftirqEvent {
    /// Softirq exit, CLOCK_MONOTONIC.
    pub at_mono_ns: u64,
    pub cpu: u32,
    pub vector: u8,
    /// Raise→entry; None when the raise happened before hbwatch attached.
    pub wait_ns: Option<u64>,
    pub run_ns: u64,
    /// The task the softirq interrupted (thread id and name); ksoftirqd when deferred.
    pub pid: u32,
    pub comm: String,
    pub ksoftirqd: bool,
}

/// Scheduling delay of watched threads over `[start_mono_ns, end_mono_ns)`; only threads that
/// were switched in during the interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SchedInterval {
    pub start_mono_ns: u64,
    pub end_mono_ns: u64,
    pub tasks: Vec<SchedTask>,
}

/// One watched thread over one interval.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SchedTask {
    pub tid: u32,
    pub tgid: u32,
    /// Thread name from /proc when the interval was read (empty if it had exited).
    pub comm: String,
    /// Runqueue latency: became runnable (woken, or preempted) → switched in.
    pub runq_count: u64,
    pub runq_sum_ns: u64,
    pub runq_max: Option<TimedMax>,
    pub runq_hist: SparseHist,
    /// Off-CPU time: switched out → switched in.
    pub offcpu_count: u64,
    pub offcpu_sum_ns: u64,
    pub offcpu_max: Option<TimedMax>,
    pub offcpu_hist: SparseHist,
}

/// Where a sampled CPU was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum StackContext {
    /// Serving a softirq (known from hbwatch's softirq probe).
    Softirq,
    /// Anything else in the kernel (kept only with `--all-stacks`).
    Other,
}

/// Kernel stacks sampled over `[start_mono_ns, end_mono_ns)` on every CPU.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StackSamples {
    pub start_mono_ns: u64,
    pub end_mono_ns: u64,
    /// Samples per second per CPU.
    pub rate_hz: u32,
    /// Whether stacks outside softirq context were kept.
    pub all_stacks: bool,
    /// Samples taken (all contexts, user mode included).
    pub samples: u64,
    /// Samples whose kernel stack could not be captured or counted (user mode with
    /// `--all-stacks`, or a full stack map).
    pub dropped: u64,
    pub stacks: Vec<FoldedStack>,
}

/// One distinct kernel stack, outermost frame first, frames joined by `;` (the folded format
/// flamegraph tools read), with how often it was sampled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FoldedStack {
    pub context: StackContext,
    pub folded: String,
    pub count: u64,
}
