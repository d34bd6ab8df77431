//! Counts, sums and rates over spans of records, named from the recording's tables: what the
//! live view, the exporters and the metrics show. One function per aggregate, whichever output
//! shows it; the outputs only lay these values out.

pub mod drops;
pub mod evidence;
pub mod napi;
pub mod softirq;
pub mod sources;
pub mod stacks;
pub mod steps;

#[cfg(test)]
pub(crate) mod tests;

use crate::recording::records::Record;

/// Length covered by intervals that follow one another; 0 when there are none.
fn span_ns(intervals: impl Iterator<Item = (u64, u64)>) -> u64 {
    intervals.map(|(s, e)| e.saturating_sub(s)).sum()
}

/// The intervals of one record kind (`pick` selects it), `None` when there are none: that probe
/// is off, which differs from a quiet second.
fn intervals_of<'a, T>(
    records: &'a [Record],
    pick: impl Fn(&'a Record) -> Option<&'a T>,
) -> Option<Vec<&'a T>> {
    let ivs: Vec<&T> = records.iter().filter_map(pick).collect();
    (!ivs.is_empty()).then_some(ivs)
}

/// Per second, from a count over `interval_ns` (0 for an empty interval).
pub fn rate(n: u64, interval_ns: u64) -> f64 {
    if interval_ns == 0 {
        0.0
    } else {
        n as f64 * 1e9 / interval_ns as f64
    }
}
