//! Softirq latency: per CPU and vector, raise→entry wait and entry→exit run time.

use crate::hist::BUCKETS;

/// Slots for softirq vectors. Linux has 10 (HI … RCU); vectors at or above this are counted as
/// out of range by userspace comparing with /proc/softirqs, never written out of bounds.
pub const MAX_VECTORS: usize = 16;
const _: () = assert!(
    MAX_VECTORS.is_power_of_two(),
    "the eBPF side masks vector indexes"
);
/// Upper bound on CPU ids the ksoftirqd PID table covers.
pub const MAX_CPUS: usize = 1024;
/// "No raise was seen before this entry" (raised before attach): wait unknown.
pub const WAIT_UNKNOWN: u64 = u64::MAX;

/// Value of `SOFTIRQ_STATS[vector]` on one CPU. Monotonic counters since load; userspace takes
/// deltas. Maxima are kept with the time they happened (CLOCK_MONOTONIC ns), so userspace can tell
/// whether a maximum fell inside the interval it is reading.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct SoftirqStats {
    /// softirq_entry events for this vector.
    pub entries: u64,
    /// Of those, entries that ran in ksoftirqd (deferred because of load).
    pub ksoftirqd_entries: u64,
    /// softirq_raise events.
    pub raises: u64,
    /// Entries whose raise was not seen (wait not measured).
    pub wait_unknown: u64,
    pub wait_sum_ns: u64,
    pub run_sum_ns: u64,
    pub wait_max_ns: u64,
    pub wait_max_at_ns: u64,
    pub run_max_ns: u64,
    pub run_max_at_ns: u64,
    pub wait_hist: [u64; BUCKETS],
    pub run_hist: [u64; BUCKETS],
}

/// Per-CPU scratch: when each vector was first raised since its last run, when its current run
/// began, and the wait measured at entry (recorded at exit, so entry touches one map only).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct SoftirqScratch {
    pub raised_at_ns: [u64; MAX_VECTORS],
    pub entered_at_ns: [u64; MAX_VECTORS],
    pub wait_ns: [u64; MAX_VECTORS],
    pub from_ksoftirqd: [u64; MAX_VECTORS],
}

const _: () = assert!(core::mem::size_of::<SoftirqStats>() == 10 * 8 + 2 * BUCKETS * 8);
const _: () = assert!(core::mem::align_of::<SoftirqStats>() == 8);
const _: () = assert!(core::mem::size_of::<SoftirqScratch>() == 4 * MAX_VECTORS * 8);

#[cfg(feature = "user")]
mod pod {
    // SAFETY: repr(C), only u64 fields and arrays of u64: no padding, every bit pattern valid.
    unsafe impl aya::Pod for super::SoftirqStats {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::SoftirqScratch {}
}
