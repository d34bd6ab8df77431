//! What the stack sampler took in a window: how many samples, and whether it kept stacks outside
//! softirq context (what decides why a window may have no stack to draw).

use std::collections::BTreeMap;

use crate::recording::records::Record;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StackCoverage {
    /// Samples taken in the window, in any context.
    pub taken: u64,
    /// The sampler kept stacks outside softirq context too (`record --all-stacks`).
    pub kept_others: bool,
}

/// The `Stacks` records that overlap `[start, end)`.
pub fn stack_coverage(records: &[Record], start_mono_ns: u64, end_mono_ns: u64) -> StackCoverage {
    let mut c = StackCoverage::default();
    for r in records {
        if let Record::Stacks(s) = r
            && s.end_mono_ns > start_mono_ns
            && s.start_mono_ns < end_mono_ns
        {
            c.taken += s.samples;
            c.kept_others |= s.all_stacks;
        }
    }
    c
}

/// The stacks of `[whole_start, whole_end)` outside `[start, end)`, from `fold` (stacks of a
/// span): the baseline a differential flamegraph compares the window with.
pub fn fold_outside(
    fold: impl Fn(u64, u64) -> BTreeMap<String, u64>,
    (whole_start, whole_end): (u64, u64),
    (start, end): (u64, u64),
) -> BTreeMap<String, u64> {
    let mut outside = fold(whole_start, start);
    for (k, v) in fold(end, whole_end) {
        *outside.entry(k).or_default() += v;
    }
    outside
}
