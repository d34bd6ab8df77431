//! The records of the last minutes and the diagnosis of the recording's gaps over them, redone
//! only when the set of gaps changes: what the live view and the metrics show while recording.

use std::collections::{BTreeSet, VecDeque};

use super::{
    RecordingSummary,
    diagnosis::{Diagnosis, GapDiagnosis, diagnose},
};
use crate::recording::records::Record;

/// How much recent evidence a running diagnosis sees: longer than any gap worth explaining live.
pub const KEEP_NS: u64 = 120_000_000_000;

/// Which gaps exist: closed gaps found so far and the sources silent past their threshold now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct GapSet {
    closed: usize,
    open: BTreeSet<u32>,
}

#[derive(Debug, Default)]
pub struct RecentDiagnosis {
    keep_ns: u64,
    /// (tick time, the records it appended), oldest first.
    ticks: VecDeque<(u64, Vec<Record>)>,
    seen: GapSet,
    latest: Option<Diagnosis>,
}

impl RecentDiagnosis {
    pub fn new(keep_ns: u64) -> Self {
        RecentDiagnosis {
            keep_ns,
            ..RecentDiagnosis::default()
        }
    }

    /// Keeps a tick's records and re-diagnoses if the gaps changed since the last time; returns
    /// whether it did. Gaps older than the kept records are judged on what is left of them.
    pub fn tick(
        &mut self,
        summary: &RecordingSummary,
        records: &[Record],
        now_mono_ns: u64,
    ) -> bool {
        self.ticks.push_back((now_mono_ns, records.to_vec()));
        while self
            .ticks
            .front()
            .is_some_and(|(t, _)| t + self.keep_ns < now_mono_ns)
        {
            self.ticks.pop_front();
        }
        let hb = &summary.heartbeats;
        let now = GapSet {
            closed: hb.detector.gaps_so_far().len(),
            open: hb
                .detector
                .open_silences(now_mono_ns)
                .into_iter()
                .map(|(s, _)| s)
                .collect(),
        };
        if now == self.seen {
            return false;
        }
        self.seen = now;
        let kept: Vec<Record> = self
            .ticks
            .iter()
            .flat_map(|(_, r)| r.iter().cloned())
            .collect();
        self.latest = Some(diagnose(summary, &kept));
        true
    }

    pub fn diagnosis(&self) -> Option<&Diagnosis> {
        self.latest.as_ref()
    }

    /// The gap that started last, with its judgement.
    pub fn latest_gap(&self) -> Option<&GapDiagnosis> {
        self.latest
            .as_ref()?
            .gaps
            .iter()
            .max_by_key(|g| g.gap.start_mono_ns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recording::records::{EventKind, HeartbeatEvent, SourceDeclared, SourceKind};

    const MS: u64 = 1_000_000;

    #[test]
    fn rediagnoses_only_when_the_gaps_change() {
        let mut s = RecordingSummary::new(crate::recording::synth::one_gap::header(), (1, 0));
        let t0 = s.header.anchor.mono_ns;
        let declare = Record::HeartbeatSource(SourceDeclared {
            at_mono_ns: t0,
            source: 1,
            spec: "log:/x@100ms".into(),
            kind: SourceKind::Log,
            preset: None,
            expected_interval_ns: Some(100 * MS),
            gap_factor: 3.0,
            preset_interval_ns: None,
        });
        let beat = |at: u64| {
            Record::Heartbeat(HeartbeatEvent {
                source: 1,
                kind: EventKind::Arrival,
                read_mono_ns: at,
                read_realtime_ns: 0,
                stamped_realtime_ns: None,
                peer: None,
                count: None,
                measured_ns: None,
                line: String::new(),
            })
        };
        let mut r = RecentDiagnosis::new(KEEP_NS);
        let mut feed = |s: &mut RecordingSummary, recs: Vec<Record>, now: u64| {
            for x in &recs {
                s.add(x);
            }
            r.tick(s, &recs, now)
        };
        let mut first = vec![declare];
        first.extend((0..10).map(|i| beat(t0 + i * 100 * MS)));
        assert!(!feed(&mut s, first, t0 + 1_000 * MS), "no gap yet");
        // Silent since 900 ms: a gap is open at 2 s.
        assert!(feed(&mut s, Vec::new(), t0 + 2_000 * MS), "the gap opened");
        assert!(
            !feed(&mut s, Vec::new(), t0 + 2_500 * MS),
            "same gap, no redo"
        );
        assert!(
            feed(&mut s, vec![beat(t0 + 2_600 * MS)], t0 + 3_000 * MS),
            "closed"
        );
        let g = r.latest_gap().expect("a judged gap");
        assert_eq!(g.number, 1);
        assert_eq!(g.gap.start_mono_ns, t0 + 900 * MS);
        assert!(!g.findings.is_empty());
    }
}
