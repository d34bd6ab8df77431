//! Softirq latency aggregation: merges per-interval cells into per-vector and per-CPU×vector
//! histograms and derives percentiles from the shared log-linear buckets.

use std::collections::BTreeMap;

use agent_common::hist::{BUCKETS, bucket_high, bucket_low};
use serde::Serialize;

use crate::recording::records::{SoftirqCell, SoftirqInterval, SparseHist, TimedMax};

/// Aggregate of one histogram with the exact maxima seen.
#[derive(Debug, Clone)]
pub struct HistAgg {
    pub buckets: Box<[u64; BUCKETS]>,
    pub count: u64,
    pub sum_ns: u64,
    /// Largest exact maximum seen (only intervals whose maximum fell inside them carry one).
    pub exact_max: Option<TimedMax>,
}

impl Default for HistAgg {
    fn default() -> Self {
        HistAgg {
            buckets: Box::new([0; BUCKETS]),
            count: 0,
            sum_ns: 0,
            exact_max: None,
        }
    }
}

impl HistAgg {
    pub fn add(&mut self, hist: &SparseHist, sum_ns: u64, max: Option<TimedMax>) {
        for &(i, n) in &hist.0 {
            if let Some(b) = self.buckets.get_mut(i as usize) {
                *b += n;
                self.count += n;
            }
        }
        self.sum_ns += sum_ns;
        if let Some(m) = max
            && self.exact_max.is_none_or(|e| m.value_ns > e.value_ns)
        {
            self.exact_max = Some(m);
        }
    }

    pub fn merge(&mut self, other: &HistAgg) {
        for (a, b) in self.buckets.iter_mut().zip(other.buckets.iter()) {
            *a += b;
        }
        self.count += other.count;
        self.sum_ns += other.sum_ns;
        if let Some(m) = other.exact_max
            && self.exact_max.is_none_or(|e| m.value_ns > e.value_ns)
        {
            self.exact_max = Some(m);
        }
    }

    /// What remains of `self` without `part` (a subset of it): bucket by bucket. The exact
    /// maximum is kept only when `max_outside(m)` says it fell outside `part`.
    pub fn minus(&self, part: &HistAgg, max_outside: impl Fn(&TimedMax) -> bool) -> HistAgg {
        let mut out = HistAgg::default();
        for ((o, a), b) in out
            .buckets
            .iter_mut()
            .zip(self.buckets.iter())
            .zip(part.buckets.iter())
        {
            *o = a.saturating_sub(*b);
        }
        out.count = out.buckets.iter().sum();
        out.sum_ns = self.sum_ns.saturating_sub(part.sum_ns);
        out.exact_max = self.exact_max.filter(|m| max_outside(m));
        out
    }

    /// Percentiles and maximum. A percentile is the upper bound of the bucket holding it (so the
    /// true value is at most 12.5 % lower), capped by the maximum.
    pub fn distribution(&self) -> Distribution {
        let top = self.buckets.iter().rposition(|&n| n > 0);
        let (max_ns, max_exact, max_at_mono_ns) = match (top, self.exact_max) {
            // A measured maximum stands even when no bucket counted it (a record without its
            // histogram): "0 ns" next to a known 1 s maximum would contradict it.
            (None, Some(m)) => (m.value_ns, true, Some(m.at_mono_ns)),
            (None, None) => (0, true, None),
            (Some(t), Some(m)) if m.value_ns >= bucket_low(t) => {
                (m.value_ns, true, Some(m.at_mono_ns))
            }
            (Some(t), _) => (bucket_high(t), false, None),
        };
        let q = |p: f64| -> u64 {
            if self.count == 0 {
                return 0;
            }
            let rank = ((p * self.count as f64).ceil() as u64).clamp(1, self.count);
            let mut seen = 0;
            for (i, &n) in self.buckets.iter().enumerate() {
                seen += n;
                if seen >= rank {
                    return bucket_high(i).min(max_ns);
                }
            }
            max_ns
        };
        Distribution {
            count: self.count,
            mean_ns: self.sum_ns.checked_div(self.count).unwrap_or(0),
            p50_ns: q(0.50),
            p90_ns: q(0.90),
            p99_ns: q(0.99),
            p999_ns: q(0.999),
            max_ns,
            max_exact,
            max_at_mono_ns,
        }
    }
}

/// Summary numbers of one latency distribution, in nanoseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Distribution {
    pub count: u64,
    pub mean_ns: u64,
    pub p50_ns: u64,
    pub p90_ns: u64,
    pub p99_ns: u64,
    pub p999_ns: u64,
    pub max_ns: u64,
    /// False when the maximum is a bucket bound rather than a measured value.
    pub max_exact: bool,
    pub max_at_mono_ns: Option<u64>,
}

/// Everything recorded for one vector (on one CPU, or summed over CPUs).
#[derive(Debug, Clone, Default)]
pub struct SoftirqAgg {
    pub entries: u64,
    pub ksoftirqd_entries: u64,
    pub raises: u64,
    pub wait_unknown: u64,
    pub wait: HistAgg,
    pub run: HistAgg,
}

impl SoftirqAgg {
    pub fn add(&mut self, c: &SoftirqCell) {
        self.entries += c.entries;
        self.ksoftirqd_entries += c.ksoftirqd_entries;
        self.raises += c.raises;
        self.wait_unknown += c.wait_unknown;
        self.wait.add(&c.wait_hist, c.wait_sum_ns, c.wait_max);
        self.run.add(&c.run_hist, c.run_sum_ns, c.run_max);
    }

    /// Entries counted but not timed (over the per-tick timing budget): every timed entry has
    /// a run sample.
    pub fn untimed(&self) -> u64 {
        self.entries.saturating_sub(self.run.count)
    }

    pub fn merge(&mut self, o: &SoftirqAgg) {
        self.entries += o.entries;
        self.ksoftirqd_entries += o.ksoftirqd_entries;
        self.raises += o.raises;
        self.wait_unknown += o.wait_unknown;
        self.wait.merge(&o.wait);
        self.run.merge(&o.run);
    }
}

/// Softirq aggregates keyed by (cpu, vector); per-vector totals derived on demand.
#[derive(Debug, Clone, Default)]
pub struct LatencyTable {
    pub cells: BTreeMap<(u32, u8), SoftirqAgg>,
    pub intervals: u64,
}

impl LatencyTable {
    pub fn add_interval(&mut self, iv: &SoftirqInterval) {
        self.intervals += 1;
        for c in &iv.cells {
            self.cells.entry((c.cpu, c.vector)).or_default().add(c);
        }
    }

    /// Per-vector totals over all CPUs.
    pub fn by_vector(&self) -> BTreeMap<u8, SoftirqAgg> {
        let mut out: BTreeMap<u8, SoftirqAgg> = BTreeMap::new();
        for ((_, v), agg) in &self.cells {
            out.entry(*v).or_default().merge(agg);
        }
        out
    }

    pub fn total_entries(&self) -> u64 {
        self.cells.values().map(|a| a.entries).sum()
    }
}

#[cfg(test)]
mod tests {
    use agent_common::hist::bucket_index;

    use super::*;

    fn hist(values: &[u64]) -> SparseHist {
        let mut m: BTreeMap<u16, u64> = BTreeMap::new();
        for &v in values {
            *m.entry(bucket_index(v) as u16).or_default() += 1;
        }
        SparseHist(m.into_iter().collect())
    }

    #[test]
    fn minus_leaves_the_rest_of_a_whole() {
        let max = |v, at| {
            Some(TimedMax {
                value_ns: v,
                at_mono_ns: at,
            })
        };
        let (mut whole, mut part) = (HistAgg::default(), HistAgg::default());
        whole.add(&hist(&[10_000, 20_000, 30_000]), 60_000, max(30_000, 5));
        whole.add(&hist(&[900_000_000]), 900_000_000, max(900_000_000, 50));
        part.add(&hist(&[900_000_000]), 900_000_000, max(900_000_000, 50));
        // The whole's maximum lies in the part: the rest has no exact maximum.
        let rest = whole.minus(&part, |m| m.at_mono_ns < 40);
        assert_eq!((rest.count, rest.sum_ns, rest.exact_max), (3, 60_000, None));
        assert!(
            rest.distribution().p99_ns < 40_000,
            "{:?}",
            rest.distribution()
        );
        // Outside it: kept.
        let rest = whole.minus(&HistAgg::default(), |m| m.at_mono_ns > 40);
        assert_eq!(rest.exact_max.map(|m| m.value_ns), Some(900_000_000));
    }

    #[test]
    fn percentiles_bound_the_true_values_within_a_bucket() {
        let values: Vec<u64> = (1..=1000).map(|i| i * 1000).collect(); // 1 µs .. 1 ms
        let mut h = HistAgg::default();
        h.add(
            &hist(&values),
            values.iter().sum(),
            Some(TimedMax {
                value_ns: 1_000_000,
                at_mono_ns: 5,
            }),
        );
        let d = h.distribution();
        assert_eq!(d.count, 1000);
        assert_eq!(d.mean_ns, 500_500);
        assert!(d.max_exact && d.max_ns == 1_000_000 && d.max_at_mono_ns == Some(5));
        for (got, want) in [
            (d.p50_ns, 500_000),
            (d.p90_ns, 900_000),
            (d.p99_ns, 990_000),
            (d.p999_ns, 999_000),
        ] {
            assert!(got >= want && got <= want + want / 8, "{got} vs {want}");
        }
    }

    #[test]
    fn max_without_exact_value_is_the_bucket_bound() {
        let mut h = HistAgg::default();
        h.add(&hist(&[100, 5000]), 5100, None);
        let d = h.distribution();
        assert!(!d.max_exact);
        assert!(d.max_ns >= 5000 && d.max_ns <= 5000 + 5000 / 8);
        // An exact maximum from an earlier, lower bucket does not hide the higher bucket.
        h.add(
            &hist(&[]),
            0,
            Some(TimedMax {
                value_ns: 100,
                at_mono_ns: 1,
            }),
        );
        assert!(!h.distribution().max_exact);
    }

    #[test]
    fn empty_distribution_is_zero() {
        assert_eq!(HistAgg::default().distribution().count, 0);
    }

    /// A record with a maximum but no histogram once gave "0 ns" in the sched table while the
    /// diagnosis cited the same record's 1 s maximum.
    #[test]
    fn a_measured_maximum_stands_without_buckets() {
        let mut h = HistAgg::default();
        let m = TimedMax {
            value_ns: 1_000_000_000,
            at_mono_ns: 7,
        };
        h.add(&SparseHist::default(), 0, Some(m));
        let d = h.distribution();
        assert_eq!(
            (d.max_ns, d.max_exact, d.max_at_mono_ns),
            (m.value_ns, true, Some(7)),
            "{d:?}"
        );
    }

    #[test]
    fn vectors_sum_over_cpus() {
        let mut t = LatencyTable::default();
        let cell = |cpu, n| SoftirqCell {
            cpu,
            vector: 3,
            entries: n,
            run_hist: hist(&vec![10; n as usize]),
            ..Default::default()
        };
        t.add_interval(&SoftirqInterval {
            start_mono_ns: 0,
            end_mono_ns: 1,
            cells: vec![cell(0, 2), cell(1, 3)],
        });
        let v = t.by_vector();
        assert_eq!(v[&3].entries, 5);
        assert_eq!(v[&3].run.count, 5);
        assert_eq!(t.total_entries(), 5);
    }
}
