//! One shared update for in-kernel latency distributions (softirq wait/run, runqueue and
//! off-CPU time): sum, maximum with the time it happened, and a log-linear histogram bucket.

use agent_common::hist::{BUCKETS, bucket_index};

/// Adds `v` (ns) observed at `at` (monotonic ns); the caller counts the sample itself, since
/// some distributions share one count.
#[inline(always)]
pub fn add_sample(
    sum: &mut u64,
    max: &mut u64,
    max_at: &mut u64,
    hist: &mut [u64; BUCKETS],
    v: u64,
    at: u64,
) {
    *sum += v;
    if v > *max {
        *max = v;
        *max_at = at;
    }
    // `bucket_index` is always in range, so LLVM drops the check below or applies it to a copy
    // of the index; `black_box` keeps the check on the very register used to index.
    let i = core::hint::black_box(bucket_index(v));
    if i < BUCKETS {
        hist[i] += 1;
    }
}
