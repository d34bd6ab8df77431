//! Learning a heartbeat source's interval from the shape of its inter-arrival times, so bursty
//! protocols (corosync/knet: token, pings, acks back to back, then a pause) give no gaps while
//! healthy, and a silence inside the warm-up is never taken for the interval.
//!
//! The interval is the longest *ordinary* pause of the warm-up: the inter-arrivals sorted, the
//! few longest left out when they stand far above the typical pause (a gap inside the warm-up),
//! and the largest that remains kept. A gap is then silence longer than the gap factor times
//! that. Packets of one burst (closer than [`BURST_NS`]) are no pauses: a source whose traffic
//! comes in bursts (etcd's peer port: a few requests at once every few seconds) waits for
//! [`LEARN_PAUSES`] pauses, not only for 16 inter-arrivals.

use crate::units::ns;

/// Inter-arrivals a live detector waits for before it learns.
pub const LEARN_MIN: usize = 16;
/// ... and the time they must span (a bursty source fills 16 samples in a few milliseconds).
pub const WARMUP_NS: u64 = 3_000_000_000;
/// Enough samples to learn from whatever the span.
pub const LEARN_MAX: usize = 256;
/// Fewest inter-arrivals a closing analysis learns from.
pub const LEARN_FLOOR: usize = 4;
/// A pause this many times the median pause, among the longest tenth, is a gap, not a pause.
const OUTLIER_RATIO: u64 = 3;
/// Inter-arrivals shorter than this are packets of one burst, not pauses.
pub const BURST_NS: u64 = 10_000_000;
/// Pauses a live detector waits for before it learns (unless it has [`LEARN_MAX`] samples).
pub const LEARN_PAUSES: usize = 4;
/// No interval below this (timer granularity, packets of one burst).
const MIN_INTERVAL_NS: u64 = 1_000_000;

/// An interval learned from a warm-up window, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Learned {
    pub interval_ns: u64,
    pub samples: usize,
    pub span_ns: u64,
    pub median_ns: u64,
    /// Longest pauses left out as gaps inside the warm-up.
    pub outliers: usize,
}

impl Learned {
    /// How the threshold was chosen, for the report.
    pub fn basis(&self, factor: f64) -> String {
        let mut s = format!(
            "learned from {} inter-arrivals over {:.1} s of warm-up: longest ordinary pause {} \
             (median {}), gap after {factor} × that",
            self.samples,
            self.span_ns as f64 / 1e9,
            ns(self.interval_ns),
            ns(self.median_ns),
        );
        if self.outliers > 0 {
            s.push_str(&format!(
                "; {} longer silence(s) in the warm-up left out",
                self.outliers
            ));
        }
        s
    }
}

/// Whether a live detector has seen enough of `inter` (the warm-up's inter-arrivals) to learn.
pub fn ready(inter: &[u64], span_ns: u64) -> bool {
    let pauses = inter.iter().filter(|&&d| d >= BURST_NS).count();
    inter.len() >= LEARN_MAX
        || (inter.len() >= LEARN_MIN && span_ns >= WARMUP_NS && pauses >= LEARN_PAUSES)
}

/// Learns from `inter` (inter-arrival times, any order) seen over `span_ns`; `None` with fewer
/// than [`LEARN_FLOOR`] samples.
pub fn learn(inter: &[u64], span_ns: u64) -> Option<Learned> {
    if inter.len() < LEARN_FLOOR {
        return None;
    }
    let mut d = inter.to_vec();
    d.sort_unstable();
    let n = d.len();
    // Gaps are rare: at most a tenth of the warm-up (at least one) may be left out, and only
    // where the sorted pauses jump by OUTLIER_RATIO. A bursty source's long pauses are many,
    // so they stay in and set the interval.
    // The typical pause: the median of the inter-arrivals that are not within a burst (of all
    // of them when every one is).
    let first_pause = d.partition_point(|&x| x < BURST_NS);
    let pauses = if first_pause < n {
        &d[first_pause..]
    } else {
        &d[..]
    };
    let typical = pauses[(pauses.len() - 1) / 2].max(MIN_INTERVAL_NS);
    let max_cut = (pauses.len() / 10).max(1).min(n - 1);
    let cut = (1..=max_cut)
        .take_while(|&k| d[n - k] > OUTLIER_RATIO * typical)
        .count();
    let kept = &d[..n - cut];
    Some(Learned {
        interval_ns: kept[kept.len() - 1].max(MIN_INTERVAL_NS),
        samples: n,
        span_ns,
        median_ns: kept[kept.len() / 2],
        outliers: cut,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn regular_beats_learn_their_period() {
        let d: Vec<u64> = (0..20).map(|i| (100 + i % 3) * MS).collect();
        let l = learn(&d, 2_000 * MS).expect("enough samples");
        assert_eq!(l.interval_ns, 102 * MS);
        assert_eq!(l.outliers, 0);
    }

    #[test]
    fn a_gap_inside_the_warm_up_is_left_out() {
        let mut d = vec![100 * MS; 12];
        d.push(3_000 * MS);
        let l = learn(&d, 4_200 * MS).expect("enough samples");
        assert_eq!((l.interval_ns, l.outliers), (100 * MS, 1));
        assert!(
            l.basis(2.0).contains("1 longer silence"),
            "{}",
            l.basis(2.0)
        );
    }

    #[test]
    fn bursty_traffic_learns_its_long_pauses_not_its_median() {
        // Bursts of four packets 2-5 ms apart, then a pause of 180-400 ms (a knet-like pattern).
        let mut d = Vec::new();
        for i in 0..40u64 {
            d.extend([2 * MS, 3 * MS, 5 * MS, (180 + (i * 37) % 220) * MS]);
        }
        let longest = d.iter().copied().max().expect("pauses");
        let l = learn(&d, 12_000 * MS).expect("enough samples");
        assert!(l.median_ns < 10 * MS, "{l:?}");
        assert_eq!(l.interval_ns, longest, "{l:?}");
        assert_eq!(l.outliers, 0);
    }

    #[test]
    fn too_few_samples_learn_nothing_and_readiness_needs_a_span() {
        assert_eq!(learn(&[MS, MS, MS], MS), None);
        let regular = vec![100 * MS; LEARN_MIN];
        assert!(!ready(&regular, WARMUP_NS - 1));
        assert!(ready(&regular, WARMUP_NS));
        assert!(ready(&vec![MS; LEARN_MAX], 0));
    }

    #[test]
    fn bursts_wait_for_pauses_and_a_silence_among_few_pauses_is_left_out() {
        // etcd's peer port: a few reads at once, then 1.2 s or 2.8 s, then a 6 s fault.
        let mut d = vec![100_000; 12];
        d.extend([1_190 * MS, 2_810 * MS, 1_190 * MS]);
        assert!(!ready(&d, 5_200 * MS), "three pauses are not enough");
        d.push(6_150 * MS);
        assert!(ready(&d, 11_300 * MS));
        let l = learn(&d, 11_300 * MS).expect("enough samples");
        assert_eq!((l.interval_ns, l.outliers), (2_810 * MS, 1), "{l:?}");
    }
}
