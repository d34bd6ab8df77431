//! Words for the live view's heartbeat lanes and verdict line, from the analysis of one tick
//! (each source's state, the latest incident).

use super::state::{HeartbeatSourceSnapshot, Severity, Verdict};
use crate::{
    analysis::{
        RecordingSummary,
        aggregates::sources::{latest_incident, source_states},
        diagnosis::Diagnosis,
    },
    output::export::inputs::verdict_line,
};

/// One snapshot per declared heartbeat source at `now_mono_ns`, with the cause of each source's
/// latest judged gap.
pub fn heartbeat_snapshots(
    summary: &RecordingSummary,
    now_mono_ns: u64,
    diagnosis: Option<&Diagnosis>,
) -> Vec<HeartbeatSourceSnapshot> {
    source_states(summary, now_mono_ns, diagnosis)
        .into_iter()
        .map(|s| HeartbeatSourceSnapshot {
            detail: s.declared.map_or_else(String::new, |d| {
                let kind = words(&d.kind);
                match &d.preset {
                    Some(p) => format!("{kind}, preset {p}"),
                    None => kind,
                }
            }),
            name: s.name,
            expected_interval_ns: s.expected_interval_ns,
            gap_threshold_ns: s.gap_threshold_ns,
            last_arrival_mono_ns: s.last_arrival_mono_ns,
            gap_open: s.gap_open,
            gaps: s.gaps,
            latest_verdict: s
                .latest_gap
                .map(|(number, cause)| format!("gap {number}: {cause}")),
        })
        .collect()
}

/// The verdict line for the latest incident: its cause over every source that saw it, and its
/// first recommendation; `None` before the first gap.
pub fn verdict(d: &Diagnosis) -> Option<Verdict> {
    let (i, first) = latest_incident(d)?;
    let gaps = if i.gaps.len() == 1 {
        format!("gap {}", i.gaps[0])
    } else {
        format!("{} gaps", i.gaps.len())
    };
    Some(Verdict {
        severity: if i.open {
            Severity::Critical
        } else {
            Severity::Warning
        },
        finding: format!(
            "incident {} ({gaps}) on {}: {}",
            i.number,
            i.sources.join(", "),
            verdict_line(i.cause())
        ),
        recommendation: first.map_or_else(|| "no change suggested".to_owned(), |r| r.title.clone()),
    })
}

/// "passive_udp" → "passive udp".
fn words(kind: &str) -> String {
    kind.replace('_', " ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recording::records::{HeartbeatEvent, PacketTables, Record, SourceDeclared};

    const SEC: u64 = 1_000_000_000;

    fn summary() -> RecordingSummary {
        let mut s = RecordingSummary::new(crate::output::export::synthetic::header(), (1, 0));
        s.add(&Record::PacketTables(PacketTables {
            drop_reasons: vec![(3, "NO_SOCKET".into())],
            interfaces: vec![(2, "eth0".into())],
            host_netns: 7,
            irq_lines: Vec::new(),
        }));
        s
    }

    #[test]
    fn lanes_follow_the_gap_detector() {
        let mut s = summary();
        let start = s.header.anchor.mono_ns;
        s.add(&Record::HeartbeatSource(SourceDeclared {
            at_mono_ns: start,
            source: 1,
            spec: "udp:5405@100ms".into(),
            kind: crate::recording::records::SourceKind::PassiveUdp,
            preset: None,
            expected_interval_ns: Some(SEC / 10),
            gap_factor: 3.0,
            preset_interval_ns: None,
        }));
        for i in 0..10 {
            s.add(&Record::Heartbeat(HeartbeatEvent {
                source: 1,
                kind: crate::recording::records::EventKind::Arrival,
                read_mono_ns: start + i * SEC / 10,
                read_realtime_ns: 0,
                stamped_realtime_ns: None,
                peer: None,
                count: None,
                measured_ns: None,
                line: String::new(),
            }));
        }
        let last = start + 9 * SEC / 10;
        let ok = heartbeat_snapshots(&s, last + SEC / 10, None);
        assert_eq!(ok.len(), 1);
        let l = &ok[0];
        assert_eq!(
            (l.name.as_str(), l.detail.as_str()),
            ("udp:5405@100ms", "passive udp")
        );
        assert_eq!(l.last_arrival_mono_ns, Some(last));
        assert_eq!(l.gap_threshold_ns, Some(300_000_000));
        assert!(!l.gap_open);
        assert_eq!(l.gaps, 0);
        let silent = heartbeat_snapshots(&s, last + SEC, None);
        assert!(silent[0].gap_open);
        assert_eq!(silent[0].gaps, 1, "the running silence counts");
        // Judged: the lane carries the cause, the verdict line the finding.
        s.add(&Record::Heartbeat(HeartbeatEvent {
            source: 1,
            kind: crate::recording::records::EventKind::Arrival,
            read_mono_ns: last + 2 * SEC,
            read_realtime_ns: 0,
            stamped_realtime_ns: None,
            peer: None,
            count: None,
            measured_ns: None,
            line: String::new(),
        }));
        let d = crate::analysis::diagnosis::diagnose(&s, &[]);
        let lanes = heartbeat_snapshots(&s, last + 2 * SEC, Some(&d));
        let cause = d.gaps[0].verdict().cause.as_str();
        assert_eq!(
            lanes[0].latest_verdict.as_deref(),
            Some(format!("gap 1: {cause}").as_str())
        );
        let v = verdict(&d).expect("an incident");
        assert_eq!(v.severity, Severity::Warning);
        assert!(
            v.finding
                .starts_with("incident 1 (gap 1) on udp:5405@100ms: "),
            "{}",
            v.finding
        );
    }
}
