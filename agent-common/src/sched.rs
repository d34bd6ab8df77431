//! Scheduling delay of watched tasks: wakeup→run latency and off-CPU time, per thread.

use crate::hist::BUCKETS;

/// Threads tracked at once; more watched threads than this are counted in `SchedStats` of none
/// and reported as a lost stream by userspace (insert failures).
pub const MAX_SCHED_TASKS: u32 = 1024;
/// Watched processes (thread-group ids) at once.
pub const MAX_WATCHED: u32 = 256;

/// Value of `SCHED_STATS[tid]`: cumulative since the thread was first seen.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct SchedStats {
    pub tgid: u32,
    pub _pad: u32,
    /// Wakeup (or preemption while runnable) → switched in.
    pub runq_count: u64,
    pub runq_sum_ns: u64,
    pub runq_max_ns: u64,
    pub runq_max_at_ns: u64,
    /// Switched out → switched in (sleeping and waiting both).
    pub offcpu_count: u64,
    pub offcpu_sum_ns: u64,
    pub offcpu_max_ns: u64,
    pub offcpu_max_at_ns: u64,
    pub runq_hist: [u64; BUCKETS],
    pub offcpu_hist: [u64; BUCKETS],
}

/// Per-thread timestamps: when it became runnable and when it left the CPU (0 = not pending).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct SchedTimes {
    pub runnable_at_ns: u64,
    pub off_at_ns: u64,
}

/// Byte offsets into `struct task_struct`, read from BTF by userspace.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct TaskOffsets {
    pub pid: u32,
    pub tgid: u32,
    /// `__state` (5.14+) or `state`.
    pub state: u32,
    /// Size of the state field in bytes (4 for `__state`, 8 for the old `long state`).
    pub state_size: u32,
}

const _: () = assert!(core::mem::size_of::<SchedStats>() == 8 + 8 * 8 + 2 * BUCKETS * 8);
const _: () = assert!(core::mem::size_of::<SchedTimes>() == 16);
const _: () = assert!(core::mem::size_of::<TaskOffsets>() == 16);

#[cfg(feature = "user")]
mod pod {
    // SAFETY: repr(C), integer fields only, explicit padding field, sizes asserted above.
    unsafe impl aya::Pod for super::SchedStats {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::SchedTimes {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::TaskOffsets {}
}
