//! Incidents from synthetic judged gaps: grouping, the cover rule, ranking by incidents and time
//! lost, and the recommendation order the verdict's "first fix" follows.

use super::*;
use crate::analysis::{
    diagnosis::{GapEvidence, SourceKind, evidence::SelfStall, judge},
    gaps::{Gap, GapKind},
    recommendation::{Recommendation, Severity},
};

const MS: u64 = 1_000_000;

fn finding(cause: Cause, confidence: f64) -> Finding {
    Finding {
        cause,
        confidence,
        evidence: vec![format!("{cause} evidence")],
    }
}

fn rec(id: &str) -> Recommendation {
    Recommendation::new(id, Severity::Warning, "host", id.to_owned(), String::new())
}

fn gap(number: u32, spec: &str, from_ms: u64, to_ms: u64, f: Vec<Finding>) -> GapDiagnosis {
    let recs = f.iter().map(|f| rec(&format!("fix-{}", f.cause))).collect();
    GapDiagnosis {
        number,
        incident: 0,
        gap: Gap {
            source: number,
            kind: GapKind::Silence,
            start_mono_ns: from_ms * MS,
            end_mono_ns: to_ms * MS,
            length_ns: (to_ms - from_ms) * MS,
            open: false,
            detected_mono_ns: from_ms * MS,
            onset_estimate_mono_ns: None,
            expected_interval_ns: Some(100 * MS),
            peer: Some("10.0.0.2:5405".into()),
            estimate: None,
            netns: 0,
        },
        source_spec: spec.to_owned(),
        evidence: GapEvidence::empty(SourceKind::Port, (to_ms - from_ms) * MS, 100 * MS),
        findings: f,
        recommendations: recs,
    }
}

fn diagnosis(gaps: Vec<GapDiagnosis>) -> Diagnosis {
    let mut d = Diagnosis {
        gaps,
        ..Diagnosis::default()
    };
    d.assemble();
    d
}

#[test]
fn overlapping_and_close_gaps_of_all_sources_are_one_incident() {
    // A port source's 3 s silence, 22 per-miss log lines inside it, then a separate gap later.
    let mut gaps = vec![gap(
        1,
        "udp:5405",
        4_000,
        7_000,
        vec![finding(Cause::NetfilterDrop, 0.95)],
    )];
    for i in 0..22 {
        let at = 4_100 + i * 130;
        gaps.push(gap(
            2 + i as u32,
            "log:app.log:loss=Missed",
            at,
            at + 100,
            vec![finding(Cause::PeerOrUpstream, 0.5)],
        ));
    }
    // 1.5 s after the end: still the same incident.
    gaps.push(gap(
        24,
        "log:app.log:loss=Missed",
        8_500,
        8_600,
        vec![finding(Cause::PeerOrUpstream, 0.5)],
    ));
    gaps.push(gap(
        25,
        "udp:5405",
        20_000,
        21_000,
        vec![finding(Cause::AppStall, 0.9)],
    ));
    let d = diagnosis(gaps);
    assert_eq!(d.incidents.len(), 2, "{:?}", d.incidents);
    let first = &d.incidents[0];
    assert_eq!(first.gaps.len(), 24);
    assert_eq!(first.sources, ["udp:5405", "log:app.log:loss=Missed"]);
    assert_eq!(
        first.cause().cause,
        Cause::NetfilterDrop,
        "{:?}",
        first.findings
    );
    assert_eq!(
        (first.start_mono_ns, first.end_mono_ns),
        (4_000 * MS, 8_600 * MS)
    );
    // Time lost is the union of the spans, not their sum.
    assert_eq!(first.lost_ns, 3_100 * MS);
    assert!(
        d.gaps
            .iter()
            .filter(|g| g.number <= 24)
            .all(|g| g.incident == 1)
    );
    assert_eq!(d.gaps.last().map(|g| g.incident), Some(2));
    assert_eq!(first.peers, ["10.0.0.2:5405"]);
}

#[test]
fn the_verdict_ranks_by_incidents_and_time_lost_never_by_gap_count() {
    // 40 short log-line gaps in one incident blamed on the peer, against two long firewall
    // incidents of one gap each.
    let mut gaps: Vec<GapDiagnosis> = (0..40)
        .map(|i| {
            let at = 1_000 + i * 50;
            gap(
                i as u32 + 1,
                "log:x",
                at,
                at + 40,
                vec![finding(Cause::PeerOrUpstream, 0.8)],
            )
        })
        .collect();
    gaps.push(gap(
        41,
        "udp:5405",
        10_000,
        13_000,
        vec![finding(Cause::NetfilterDrop, 0.95)],
    ));
    gaps.push(gap(
        42,
        "udp:5405",
        30_000,
        33_000,
        vec![finding(Cause::NetfilterDrop, 0.95)],
    ));
    let d = diagnosis(gaps);
    assert_eq!(d.totals.incidents, 3);
    assert_eq!(d.top_cause(), Some(Cause::NetfilterDrop));
    assert_eq!(d.ranking[0].incidents, 2);
    assert_eq!(d.ranking[0].lost_ns, 6_000 * MS);
    assert_eq!(d.ranking[1].cause, Cause::PeerOrUpstream);
    // Recommendation [1] is the top cause's fix.
    assert_eq!(d.recommendations[0].id, "fix-netfilter_drop");
}

#[test]
fn a_cause_found_on_a_tiny_gap_does_not_explain_a_long_incident() {
    // A 100 ms self-stall gap inside a 4 s silence nobody explains.
    let d = diagnosis(vec![
        gap(
            1,
            "udp:5405",
            1_000,
            5_000,
            vec![finding(Cause::Unknown, 0.8)],
        ),
        gap(
            2,
            "log:x",
            2_000,
            2_100,
            vec![finding(Cause::AppStall, 0.8)],
        ),
    ]);
    let i = &d.incidents[0];
    assert_eq!(i.cause().cause, Cause::Unknown, "{:?}", i.findings);
    // Scaled to 0.08: too small to list with the incident (gap 2 still has it).
    assert!(
        i.findings.iter().all(|f| f.cause != Cause::AppStall),
        "{:?}",
        i.findings
    );
    assert_eq!(d.gaps[1].verdict().cause, Cause::AppStall);
}

#[test]
fn short_steal_or_stall_evidence_does_not_win_a_long_gap() {
    // 130 ms of steal and a 200 ms logged stall for a 3 s gap (keepalived's advertisement
    // timeout): neither may be the verdict at high confidence.
    let mut e = GapEvidence::empty(SourceKind::LogPeerSilence, 3_000 * MS, 1_000 * MS);
    e.steal_max_ns = 130 * MS;
    e.self_stalls = vec![SelfStall {
        at_mono_ns: 0,
        measured_ns: Some(200 * MS),
        line: "not scheduled for 200 ms".into(),
    }];
    let j = judge(&e);
    assert!(j.iter().all(|f| f.cause != Cause::VmPause), "{j:?}");
    let stall = j
        .iter()
        .find(|f| f.cause == Cause::AppStall)
        .expect("app stall");
    assert!(stall.confidence < 0.4, "{j:?}");
    assert_ne!(j[0].cause, Cause::AppStall, "{j:?}");
}

#[test]
fn focus_keeps_the_whole_recordings_context() {
    let mut d = diagnosis(vec![
        gap(
            1,
            "udp:5405",
            1_000,
            2_000,
            vec![finding(Cause::AppStall, 0.9)],
        ),
        gap(
            2,
            "udp:5405",
            10_000,
            12_000,
            vec![finding(Cause::NetfilterDrop, 0.95)],
        ),
    ]);
    assert!(d.clone().focus_gap(9).is_none());
    d.focus_gap(2).expect("gap 2");
    assert_eq!((d.gaps.len(), d.incidents.len()), (1, 1));
    assert_eq!((d.totals.gaps, d.totals.incidents), (2, 2));
    assert_eq!(d.incidents[0].number, 2);
    assert_eq!(d.top_cause(), Some(Cause::NetfilterDrop));
}

#[test]
fn a_consequence_of_a_stall_is_not_a_cause_of_the_incident() {
    let mut rcvbuf = finding(Cause::SocketRcvbufOverflow, 0.3);
    rcvbuf
        .evidence
        .push(crate::analysis::diagnosis::rules::CONSEQUENCE.to_owned());
    let d = diagnosis(vec![gap(
        1,
        "udp:5405",
        1_000,
        4_000,
        vec![finding(Cause::AppStall, 0.9), rcvbuf],
    )]);
    let causes: Vec<Cause> = d.incidents[0].findings.iter().map(|f| f.cause).collect();
    assert_eq!(causes, [Cause::AppStall]);
}

#[test]
fn a_daemons_loss_lines_through_one_outage_are_one_incident() {
    // memberlist during a 5 s flood: a 1 s loss reported, then another 2.005 s after it ended.
    let loss = |n: u32, from: u64| {
        let mut g = gap(
            n,
            "log:serf.log:memberlist",
            from,
            from + 1_000,
            vec![finding(Cause::SocketRcvbufOverflow, 0.5)],
        );
        g.gap.kind = GapKind::PeerSilence;
        g
    };
    let d = diagnosis(vec![loss(1, 10_000), loss(2, 13_005)]);
    assert_eq!(d.incidents.len(), 1, "{:?}", d.incidents);
    // Beyond three times the implied silence (and 3 s), another outage.
    let d = diagnosis(vec![loss(1, 10_000), loss(2, 14_100)]);
    assert_eq!(d.incidents.len(), 2, "{:?}", d.incidents);
    // Silences of a port source keep the 2 s join.
    let d = diagnosis(vec![
        gap(
            1,
            "udp:7946",
            10_000,
            11_000,
            vec![finding(Cause::NetfilterDrop, 0.9)],
        ),
        gap(
            2,
            "udp:7946",
            13_005,
            14_000,
            vec![finding(Cause::NetfilterDrop, 0.9)],
        ),
    ]);
    assert_eq!(d.incidents.len(), 2, "{:?}", d.incidents);
}

#[test]
fn a_drop_on_this_host_refutes_a_peer_verdict_in_the_same_incident() {
    // serf and etcd under an all-traffic rule: the port's silence shows the rule's drops; the
    // daemon's last loss line falls after the last drop and is judged peer_or_upstream alone.
    let d = diagnosis(vec![
        gap(
            1,
            "log:serf",
            1_000,
            3_000,
            vec![finding(Cause::NetfilterDrop, 0.45)],
        ),
        gap(
            2,
            "log:serf",
            3_500,
            4_500,
            vec![finding(Cause::PeerOrUpstream, 0.5)],
        ),
    ]);
    assert_eq!(d.incidents.len(), 1);
    let i = &d.incidents[0];
    assert_eq!(i.cause().cause, Cause::NetfilterDrop, "{:?}", i.findings);
    let peer = i
        .findings
        .iter()
        .find(|f| f.cause == Cause::PeerOrUpstream)
        .expect("peer_or_upstream listed");
    assert!(peer.confidence < VERDICT_THRESHOLD, "{peer:?}");
    assert!(
        peer.evidence.iter().any(|e| e.contains("netfilter_drop")),
        "{peer:?}"
    );
    // A weak local drop does not refute it.
    let d = diagnosis(vec![
        gap(
            1,
            "log:serf",
            1_000,
            3_000,
            vec![finding(Cause::OtherKernelDrop, 0.35)],
        ),
        gap(
            2,
            "log:serf",
            3_500,
            4_500,
            vec![finding(Cause::PeerOrUpstream, 0.7)],
        ),
    ]);
    assert_eq!(d.incidents[0].cause().cause, Cause::PeerOrUpstream);
}

#[test]
fn a_late_softirq_does_not_refute_a_peer_verdict() {
    let d = diagnosis(vec![
        gap(
            1,
            "log:serf",
            1_000,
            3_000,
            vec![finding(Cause::SoftirqDelay, 0.4)],
        ),
        gap(
            2,
            "log:serf",
            3_500,
            4_500,
            vec![finding(Cause::PeerOrUpstream, 0.8)],
        ),
    ]);
    assert_eq!(d.incidents[0].cause().cause, Cause::PeerOrUpstream);
}
