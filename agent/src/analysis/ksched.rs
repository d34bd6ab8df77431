//! Folds softirq threshold events, scheduling-delay intervals and kernel stack samples, and
//! extracts folded stacks for a time window (what flamegraph exporters consume).

use std::collections::BTreeMap;

use super::latency::HistAgg;
use crate::recording::records::{
    Record, SchedInterval, SoftirqEvent, SoftirqEvents, StackContext, StackSamples,
};

/// How many of the worst threshold events the summary keeps (all are counted).
pub const WORST_EVENTS: usize = 20;

/// Which sampled stacks a folded-stack query returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StackFilter {
    /// Stacks sampled while a softirq ran.
    Softirq,
    /// Everything recorded (softirq and, with `--all-stacks`, the rest).
    All,
}

impl StackFilter {
    fn keeps(self, c: StackContext) -> bool {
        self == StackFilter::All || c == StackContext::Softirq
    }
}

/// Folded stacks ("outer;…;inner" → samples) from the stack intervals that overlap
/// `[start_mono_ns, end_mono_ns)`. Intervals are about a second long; one that straddles a window
/// edge counts whole.
pub fn folded_stacks<'a>(
    records: impl IntoIterator<Item = &'a Record>,
    start_mono_ns: u64,
    end_mono_ns: u64,
    filter: StackFilter,
) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for r in records {
        if let Record::Stacks(s) = r
            && s.end_mono_ns > start_mono_ns
            && s.start_mono_ns < end_mono_ns
        {
            add_folded(&mut out, s, filter);
        }
    }
    out
}

fn add_folded(out: &mut BTreeMap<String, u64>, s: &StackSamples, filter: StackFilter) {
    for st in s.stacks.iter().filter(|st| filter.keeps(st.context)) {
        *out.entry(st.folded.clone()).or_default() += st.count;
    }
}

/// Scheduling delay of one watched thread over the whole recording.
#[derive(Debug, Clone, Default)]
pub struct SchedAgg {
    pub tgid: u32,
    pub comm: String,
    pub runq: HistAgg,
    pub offcpu: HistAgg,
}

#[derive(Debug, Clone, Default)]
pub struct StackAgg {
    pub intervals: u64,
    pub rate_hz: u32,
    pub all_stacks: bool,
    pub samples: u64,
    pub dropped: u64,
    /// Folded stacks sampled in softirq context over the whole recording.
    pub softirq: BTreeMap<String, u64>,
    /// Other kernel stacks (only with `--all-stacks`).
    pub other: BTreeMap<String, u64>,
}

impl StackAgg {
    /// The innermost functions most often on CPU in softirq context: (function, samples).
    pub fn top_leaf_functions(&self, n: usize) -> Vec<(String, u64)> {
        let mut by: BTreeMap<&str, u64> = BTreeMap::new();
        for (stack, count) in &self.softirq {
            let leaf = stack.rsplit(';').next().unwrap_or(stack);
            *by.entry(leaf).or_default() += count;
        }
        let mut v: Vec<(String, u64)> = by.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        v.truncate(n);
        v
    }

    pub fn softirq_samples(&self) -> u64 {
        self.softirq.values().sum()
    }
}

#[derive(Debug, Clone, Default)]
pub struct KschedSummary {
    /// Threshold of the latest events record.
    pub event_threshold_ns: Option<u64>,
    pub event_count: u64,
    /// Events per (cpu, vector).
    pub events_by_cell: BTreeMap<(u32, u8), u64>,
    /// The worst events by max(wait, run), worst first.
    pub worst_events: Vec<SoftirqEvent>,
    /// Per watched thread id.
    pub sched: BTreeMap<u32, SchedAgg>,
    pub stacks: StackAgg,
}

/// The larger of an event's wait and run time.
pub fn event_worst_ns(e: &SoftirqEvent) -> u64 {
    e.run_ns.max(e.wait_ns.unwrap_or(0))
}

impl KschedSummary {
    pub fn add_events(&mut self, ev: &SoftirqEvents) {
        self.event_threshold_ns = Some(ev.threshold_ns);
        self.event_count += ev.events.len() as u64;
        for e in &ev.events {
            *self.events_by_cell.entry((e.cpu, e.vector)).or_default() += 1;
        }
        self.worst_events.extend(ev.events.iter().cloned());
        self.worst_events
            .sort_by_key(|e| std::cmp::Reverse(event_worst_ns(e)));
        self.worst_events.truncate(WORST_EVENTS);
    }

    pub fn add_sched(&mut self, iv: &SchedInterval) {
        for t in &iv.tasks {
            let a = self.sched.entry(t.tid).or_default();
            a.tgid = t.tgid;
            if !t.comm.is_empty() {
                a.comm = t.comm.clone();
            }
            a.runq.add(&t.runq_hist, t.runq_sum_ns, t.runq_max);
            a.offcpu.add(&t.offcpu_hist, t.offcpu_sum_ns, t.offcpu_max);
        }
    }

    pub fn add_stacks(&mut self, s: &StackSamples) {
        let a = &mut self.stacks;
        a.intervals += 1;
        a.rate_hz = s.rate_hz;
        a.all_stacks = s.all_stacks;
        a.samples += s.samples;
        a.dropped += s.dropped;
        for st in &s.stacks {
            let m = match st.context {
                StackContext::Softirq => &mut a.softirq,
                StackContext::Other => &mut a.other,
            };
            *m.entry(st.folded.clone()).or_default() += st.count;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recording::records::FoldedStack;

    fn stacks(start: u64, end: u64, items: &[(StackContext, &str, u64)]) -> Record {
        Record::Stacks(StackSamples {
            start_mono_ns: start,
            end_mono_ns: end,
            rate_hz: 99,
            all_stacks: true,
            samples: 200,
            dropped: 1,
            stacks: items
                .iter()
                .map(|&(context, f, count)| FoldedStack {
                    context,
                    folded: f.to_owned(),
                    count,
                })
                .collect(),
        })
    }

    #[test]
    fn folded_stacks_for_a_window() {
        use StackContext::*;
        let recs = vec![
            stacks(
                0,
                10,
                &[(Softirq, "a;net_rx_action;b", 3), (Other, "a;c", 2)],
            ),
            stacks(10, 20, &[(Softirq, "a;net_rx_action;b", 4)]),
            stacks(20, 30, &[(Softirq, "x", 9)]),
        ];
        let f = folded_stacks(&recs, 5, 20, StackFilter::Softirq);
        assert_eq!(
            f.into_iter().collect::<Vec<_>>(),
            vec![("a;net_rx_action;b".to_owned(), 7)]
        );
        let all = folded_stacks(&recs, 0, 10, StackFilter::All);
        assert_eq!(all.get("a;c"), Some(&2));
        assert_eq!(all.len(), 2);
        assert!(folded_stacks(&recs, 30, 40, StackFilter::All).is_empty());
    }

    #[test]
    fn summary_keeps_counts_and_leaf_ranking() {
        use StackContext::*;
        let mut k = KschedSummary::default();
        for r in [
            stacks(
                0,
                10,
                &[
                    (Softirq, "a;net_rx_action;virtnet_poll", 3),
                    (Other, "idle", 5),
                ],
            ),
            stacks(
                10,
                20,
                &[
                    (Softirq, "a;run_timer_softirq", 1),
                    (Softirq, "b;virtnet_poll", 2),
                ],
            ),
        ] {
            if let Record::Stacks(s) = &r {
                k.add_stacks(s);
            }
        }
        assert_eq!(k.stacks.samples, 400);
        assert_eq!(k.stacks.softirq_samples(), 6);
        assert_eq!(k.stacks.other.get("idle"), Some(&5));
        assert_eq!(
            k.stacks.top_leaf_functions(1),
            vec![("virtnet_poll".to_owned(), 5)]
        );
    }

    #[test]
    fn worst_events_are_kept_in_order() {
        let ev = |run: u64, wait: Option<u64>| SoftirqEvent {
            at_mono_ns: run,
            cpu: 0,
            vector: 3,
            wait_ns: wait,
            run_ns: run,
            pid: 1,
            comm: "x".into(),
            ksoftirqd: false,
        };
        let mut k = KschedSummary::default();
        k.add_events(&SoftirqEvents {
            threshold_ns: 10,
            events: (0..30)
                .map(|i| ev(100 + i, None))
                .chain([ev(1, Some(5000))])
                .collect(),
        });
        assert_eq!(k.event_count, 31);
        assert_eq!(k.worst_events.len(), WORST_EVENTS);
        assert_eq!(event_worst_ns(&k.worst_events[0]), 5000);
        assert_eq!(k.worst_events[1].run_ns, 129);
        assert_eq!(k.events_by_cell.get(&(0, 3)), Some(&31));
    }
}
