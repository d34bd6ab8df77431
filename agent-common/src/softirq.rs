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
const _: () = assert!(
    MAX_CPUS.is_power_of_two(),
    "the eBPF side masks CPU indexes"
);
/// "No raise was seen before this entry" (raised before attach): wait unknown.
pub const WAIT_UNKNOWN: u64 = u64::MAX;
/// In [`VectorScratch::raised_at_ns`] / `entered_at_ns`: raised / entered, but not timed (the
/// tick's timing budget was used up). Never a real CLOCK_MONOTONIC reading.
pub const UNTIMED: u64 = 1;
/// Default softirqs timed per tick, CPU and vector (`--softirq-timed-per-tick`): at HZ=250 all
/// of up to 16,000 a second are timed; above that rate, the first 64 of each tick.
pub const TIMED_PER_TICK: u32 = 64;

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
    /// softirq_raise events, counted up to the vector's latest exit.
    pub raises: u64,
    /// Entries whose raise was not seen (wait not measured).
    pub wait_unknown: u64,
    pub wait_sum_ns: u64,
    pub run_sum_ns: u64,
    pub wait_max_ns: u64,
    pub wait_max_at_ns: u64,
    pub run_max_ns: u64,
    pub run_max_at_ns: u64,
    /// Timed softirqs only: `run_hist` counts every timed entry, so `entries` minus its total is
    /// the number counted but not timed (over the timing budget).
    pub wait_hist: [u64; BUCKETS],
    pub run_hist: [u64; BUCKETS],
}

/// Per-CPU, per-vector scratch: when the vector was first raised since its last run, when its
/// current run began, the wait measured at entry (recorded at exit, so entry touches one map
/// only), and raises not yet added to [`SoftirqStats::raises`] (added at the next exit, so the
/// raise program touches one map only). 40 bytes: one or two cache lines per vector.
///
/// Timing budget: at most `SOFTIRQ_TIMED_PER_TICK` softirqs of a vector are timed per jiffy on a
/// CPU (`tick`, `timed_in_tick`); the rest are counted exactly but read no clock (`UNTIMED`).
/// The jiffies counter is a memory load (the verifier inlines `bpf_jiffies64`), a clock read is
/// not, so at high rates counts stay exact and latency is sampled.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct VectorScratch {
    pub raised_at_ns: u64,
    pub entered_at_ns: u64,
    pub wait_ns: u64,
    pub pending_raises: u32,
    /// 1 when the current run is in ksoftirqd.
    pub from_ksoftirqd: u32,
    /// Low 32 bits of the jiffy `timed_in_tick` counts in.
    pub tick: u32,
    pub timed_in_tick: u32,
}

/// Per-CPU scratch of the softirq programs, plus the NAPI poll timing that lives inside NET_RX
/// runs (one map lookup serves both the NET_RX exit and `napi_poll`).
#[repr(C, align(32))]
#[derive(Clone, Copy)]
pub struct SoftirqScratch {
    pub vectors: [VectorScratch; MAX_VECTORS],
    pub napi: crate::napi::NapiScratch,
}

const _: () = assert!(core::mem::size_of::<SoftirqStats>() == 10 * 8 + 2 * BUCKETS * 8);
const _: () = assert!(core::mem::align_of::<SoftirqStats>() == 8);
const _: () = assert!(core::mem::size_of::<VectorScratch>() == 40);
const _: () = assert!(core::mem::size_of::<SoftirqScratch>() == 40 * MAX_VECTORS + 32);

#[cfg(feature = "user")]
mod pod {
    // SAFETY: repr(C), only u64 fields and arrays of u64: no padding, every bit pattern valid.
    unsafe impl aya::Pod for super::SoftirqStats {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::SoftirqScratch {}
    // SAFETY: as above (u64 and u32 fields, 40 bytes, no padding).
    unsafe impl aya::Pod for super::VectorScratch {}
}
