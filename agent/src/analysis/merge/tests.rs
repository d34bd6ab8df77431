use super::*;
use crate::{
    analysis::{
        Gap,
        diagnosis::{Cause, GapDiagnosis, GapEvidence, SourceKind, rules::Finding},
        gaps::GapKind,
    },
    recording::records::{PortStage, WireStage},
};

const MS: u64 = 1_000_000;
const A: &str = "10.0.0.1:5405";
const B: &str = "10.0.0.2:5405";

fn wire(
    stage: WireStage,
    at: u64,
    local: &str,
    peer: &str,
    ident: u32,
    code: i32,
) -> WirePacketEvent {
    WirePacketEvent {
        mono_ns: at,
        stage,
        cpu: 0,
        proto: 17,
        local: Some(local.into()),
        local_port: local
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or(0),
        peer: Some(peer.into()),
        ifindex: 2,
        netns: 0,
        len: 60,
        code,
        ident: Some(ident),
    }
}

/// Host `from` sends a beat every 100 ms (identity = its number + `base`), seen by `to` after
/// `delay` on `to`'s clock, which reads `skew` more than `from`'s; `lost(i)` says what happens.
fn beats(
    from: &mut HostInput,
    to: &mut HostInput,
    (src, dst): (&str, &str),
    base: u32,
    skew: i64,
    delay: u64,
    lost: impl Fn(u32) -> Option<Leg>,
) {
    for i in 0..100u32 {
        let t = 1_000 * MS + u64::from(i) * 100 * MS;
        let id = base + i;
        match lost(i) {
            Some(Leg::NotSent) => continue,
            Some(Leg::SenderStack) => {
                from.wire
                    .push(wire(WireStage::DevQueued, t, src, dst, id, 0));
                continue;
            }
            _ => {}
        }
        from.wire
            .push(wire(WireStage::DevQueued, t, src, dst, id, 0));
        from.wire
            .push(wire(WireStage::XmitStart, t + 1000, src, dst, id, 0));
        from.wire
            .push(wire(WireStage::XmitDone, t + 2000, src, dst, id, 0));
        if lost(i) == Some(Leg::BetweenHosts) {
            continue;
        }
        let seen = (t as i64 + delay as i64 + skew) as u64;
        to.wire.push(wire(WireStage::Seen, seen, dst, src, id, 0));
        if lost(i) == Some(Leg::ReceiverDrop) {
            to.port.push(PortPacketEvent {
                mono_ns: seen + 1000,
                stage: PortStage::Dropped,
                cpu: 0,
                proto: 17,
                local_port: 5405,
                peer: Some(src.into()),
                ifindex: 2,
                netns: 0,
                len: 60,
                code: 7,
            });
        }
    }
}

fn host(label: &str, boot: &str, wall: i64) -> HostInput {
    HostInput {
        label: label.into(),
        host: label.into(),
        boot_id: boot.into(),
        wall_offset_ns: wall,
        reasons: vec![(7, "NETFILTER_DROP".into())],
        interfaces: vec![(2, "eth0".into())],
        ..Default::default()
    }
}

/// A gap the receiver saw from `peer`, between beats `first` and `last` (exclusive) of the
/// sender's schedule on the receiver's clock.
fn gap(
    number: u32,
    peer: &str,
    first: u32,
    last: u32,
    skew: i64,
    delay: u64,
    cause: Cause,
) -> GapDiagnosis {
    let at =
        |i: u32| (1_000 * MS as i64 + i64::from(i) * 100 * MS as i64 + delay as i64 + skew) as u64;
    let (start, end) = (at(first - 1) + 50_000, at(last) + 50_000);
    GapDiagnosis {
        number,
        incident: number,
        gap: Gap {
            source: 1,
            kind: GapKind::Silence,
            start_mono_ns: start,
            end_mono_ns: end,
            length_ns: end - start,
            open: false,
            detected_mono_ns: start + 200 * MS,
            onset_estimate_mono_ns: None,
            expected_interval_ns: Some(100 * MS),
            peer: Some(peer.into()),
            estimate: None,
            netns: 0,
        },
        source_spec: "udp:5405@100ms".into(),
        evidence: GapEvidence::empty(SourceKind::Port, end - start, 100 * MS),
        findings: vec![Finding {
            cause,
            confidence: 0.5,
            evidence: Vec::new(),
        }],
        recommendations: Vec::new(),
    }
}

#[test]
fn two_way_heartbeats_fit_the_offset_within_the_round_trip() {
    // b's wall clock is 3 s ahead of a's, and its anchor says so wrongly by 40 ms: the wall
    // clocks alone are off, the packets both ways find it.
    let skew = 3_000 * MS as i64;
    let mut a = host("a", "boot-a", 0);
    let mut b = host("b", "boot-b", skew + 40 * MS as i64);
    // b's monotonic clock reads `skew − 40 ms` more than a's at one instant.
    let mono_skew = -40 * MS as i64;
    beats(&mut a, &mut b, (A, B), 0, mono_skew, 300_000, |_| None);
    beats(&mut b, &mut a, (B, A), 1000, -mono_skew, 500_000, |_| None);
    let m = merge(&[a, b]);
    let c = &m.clocks[0];
    assert_eq!((c.samples_ab, c.samples_ba), (100, 100), "{c:?}");
    // wall(b) − wall(a) is `skew`: its anchor's 40 ms error is corrected to within the bound.
    let err = c.error_ns.expect("bounded");
    assert!((c.offset_ns - skew).abs() <= err, "{c:?}");
    assert!(err <= 500_000, "half the sum of the shortest delays: {c:?}");
    assert!(c.drift_ppm.is_some_and(|d| d.abs() < 1.0), "{c:?}");
    assert_eq!(m.flows.len(), 2);
    assert!(
        m.flows.iter().all(|f| f.delivered == 100 && f.sent == 100),
        "{:?}",
        m.flows
    );
}

#[test]
fn one_way_heartbeats_keep_the_wall_clocks_and_say_so() {
    let mut a = host("a", "boot-a", 0);
    let mut b = host("b", "boot-b", 0);
    beats(&mut a, &mut b, (A, B), 0, 0, 300_000, |_| None);
    let m = merge(&[a, b]);
    let c = &m.clocks[0];
    assert_eq!(c.error_ns, None, "{c:?}");
    assert!(c.method.contains("one way"), "{c:?}");
    assert_eq!(m.flows[0].delivered, 100);
}

#[test]
fn each_gap_gets_the_leg_its_packets_died_on() {
    let mut a = host("a", "same-boot", 0);
    let mut b = host("b", "same-boot", 0);
    let lost = |i: u32| match i {
        10..15 => Some(Leg::BetweenHosts),
        30..35 => Some(Leg::NotSent),
        50..55 => Some(Leg::ReceiverDrop),
        70..75 => Some(Leg::SenderStack),
        _ => None,
    };
    beats(&mut a, &mut b, (A, B), 0, 0, 300_000, lost);
    b.diagnosis.gaps = vec![
        gap(1, A, 10, 15, 0, 300_000, Cause::PeerOrUpstream),
        gap(2, A, 30, 35, 0, 300_000, Cause::PeerOrUpstream),
        gap(3, A, 50, 55, 0, 300_000, Cause::NetfilterDrop),
        gap(4, A, 70, 75, 0, 300_000, Cause::PeerOrUpstream),
        // A peer no recording shows: the receiver's verdict stands.
        gap(5, "10.0.0.9:5405", 80, 85, 0, 300_000, Cause::AppStall),
    ];
    let m = merge(&[a, b]);
    let legs: Vec<(u32, Leg, u64, u64)> = m
        .findings
        .iter()
        .map(|f| (f.gap, f.leg, f.sent, f.delivered))
        .collect();
    assert_eq!(
        legs,
        [
            (1, Leg::BetweenHosts, 5, 0),
            (2, Leg::NotSent, 0, 0),
            (3, Leg::ReceiverDrop, 5, 5),
            (4, Leg::SenderStack, 5, 0),
            (5, Leg::ReceiverApp, 0, 0),
        ]
    );
    assert_eq!(m.clocks[0].error_ns, Some(0));
    assert!(
        m.findings[2]
            .evidence
            .iter()
            .any(|e| e.contains("NETFILTER_DROP ×5")),
        "{:?}",
        m.findings[2]
    );
    assert_eq!(m.findings[3].fix_on, Some(0), "the sender must change");
    assert!(
        m.findings[3]
            .fix
            .iter()
            .any(|x| x.contains("tc -s qdisc show dev eth0")),
        "{:?}",
        m.findings[3].fix
    );
    assert_eq!(m.findings[2].fix_on, Some(1), "the receiver must change");
    assert_eq!(
        m.flows[0].fates,
        [(Leg::SenderStack, 5), (Leg::BetweenHosts, 5)]
    );
    assert_eq!(m.ranking.len(), 5);
}

#[test]
fn wall_clocks_seconds_apart_still_pair_one_way_heartbeats() {
    // b's NTP is 5 s off: its anchor is right for its own wall clock, which is wrong.
    let mut a = host("a", "boot-a", 0);
    let mut b = host("b", "boot-b", 5_000 * MS as i64);
    beats(&mut a, &mut b, (A, B), 0, 0, 300_000, |_| None);
    let m = merge(&[a, b]);
    let c = &m.clocks[0];
    assert_eq!(m.flows[0].delivered, 100, "{:?}", m.flows);
    assert!(
        (c.offset_ns - 5_000 * MS as i64).abs() < 10 * MS as i64,
        "{c:?}"
    );
    assert!(c.method.contains("seconds apart"), "{c:?}");
}

#[test]
fn three_hosts_pair_each_flow_with_its_sender() {
    const C: &str = "10.0.0.3:5405";
    let mut a = host("a", "boot-a", 0);
    let mut b = host("b", "boot-b", 0);
    let mut c = host("c", "boot-c", 0);
    // b and c both send to a, and a to both; c's heartbeats to a are lost on the wire for 5 beats.
    beats(&mut b, &mut a, (B, A), 0, 0, 300_000, |_| None);
    beats(&mut c, &mut a, (C, A), 1000, 0, 400_000, |i| {
        (40..45).contains(&i).then_some(Leg::BetweenHosts)
    });
    beats(&mut a, &mut b, (A, B), 2000, 0, 300_000, |_| None);
    beats(&mut a, &mut c, (A, C), 3000, 0, 400_000, |_| None);
    a.diagnosis.gaps = vec![gap(1, C, 40, 45, 0, 400_000, Cause::PeerOrUpstream)];
    let m = merge(&[a, b, c]);
    assert_eq!(m.flows.len(), 4, "{:?}", m.flows);
    assert_eq!(m.clocks.len(), 2);
    assert!(
        m.clocks
            .iter()
            .all(|c| c.error_ns.is_some_and(|e| e <= 400_000)),
        "{:?}",
        m.clocks
    );
    assert_eq!(m.findings.len(), 1);
    assert_eq!(
        (m.findings[0].sender, m.findings[0].leg),
        (Some(2), Leg::BetweenHosts)
    );
    assert_eq!(m.incidents.len(), 1);
}
