//! Heartbeat folding from records: passive flows per peer, loss-line sources, protocol timing.

use super::*;
use crate::recording::records::{PortPacketEvent, PortStage, SourceDeclared, SourceKind};

fn read(at_ms: u64, peer: &str) -> PortPacketEvent {
    PortPacketEvent {
        mono_ns: at_ms * 1_000_000,
        stage: PortStage::Read,
        cpu: 0,
        proto: libc::IPPROTO_UDP as u8,
        local_port: 5405,
        peer: Some(peer.to_owned()),
        ifindex: 0,
        netns: 0,
        len: 32,
        code: 0,
    }
}

#[test]
fn a_flood_from_another_peer_does_not_hide_a_passive_gap() {
    let mut h = HeartbeatSummary::default();
    h.add(&Record::HeartbeatSource(SourceDeclared {
        at_mono_ns: 0,
        source: 0,
        spec: "udp:5405@100ms".into(),
        kind: SourceKind::PassiveUdp,
        preset: None,
        expected_interval_ns: Some(100_000_000),
        gap_factor: 2.0,
        preset_interval_ns: None,
    }));
    for t in (100..=1000).step_by(100) {
        h.port_packet(&read(t, "10.0.0.1:4000"));
    }
    // 1.5 s in which only a flooding peer is read, every 10 ms.
    for t in (1010..2500).step_by(10) {
        h.port_packet(&read(t, "10.0.0.9:5555"));
    }
    for t in (2500..=3000).step_by(100) {
        h.port_packet(&read(t, "10.0.0.1:4000"));
    }
    let g = h.gaps(3_000_000_000).gaps;
    assert_eq!(g.len(), 1, "{g:?}");
    assert_eq!(g[0].length_ns, 1_500_000_000);
}

fn declare(h: &mut HeartbeatSummary, source: u32, spec: &str, kind: SourceKind) {
    h.add(&Record::HeartbeatSource(SourceDeclared {
        at_mono_ns: 0,
        source,
        spec: spec.into(),
        kind,
        preset: None,
        expected_interval_ns: None,
        gap_factor: 2.0,
        preset_interval_ns: None,
    }));
}

#[test]
fn one_silent_peer_among_several_is_found_and_named() {
    let mut h = HeartbeatSummary::default();
    declare(&mut h, 0, "udp:5405", SourceKind::PassiveUdp);
    for t in (0..12_000).step_by(200) {
        h.port_packet(&read(t, "10.0.0.2:5405"));
        h.port_packet(&read(t + 50, "10.0.0.3:5405"));
        // The third peer stops at 6 s and is silent to the end.
        if t < 6_000 {
            h.port_packet(&read(t + 90, "10.0.0.4:5405"));
        }
    }
    let a = h.gaps(12_000_000_000);
    assert_eq!(a.gaps.len(), 1, "{:?}", a.gaps);
    let g = &a.gaps[0];
    assert_eq!(g.peer.as_deref(), Some("10.0.0.4:5405"));
    assert!(g.open && g.start_mono_ns == 5_890_000_000, "{g:?}");
    assert_eq!(a.sources[0].peers.len(), 3);
    assert!(
        a.sources[0].interval_basis.starts_with("learned from"),
        "{}",
        a.sources[0].interval_basis
    );
}

#[test]
fn a_passive_preset_sets_the_floor_of_a_learned_interval() {
    let mut h = HeartbeatSummary::default();
    declare(&mut h, 0, "udp:5405:corosync", SourceKind::PassiveUdp);
    // Every 100 ms, then one 1.2 s pause: below corosync's 2 × 750 ms, so not a gap.
    for t in (0..3_000).step_by(100).chain((4_200..8_000).step_by(100)) {
        h.port_packet(&read(t, "10.0.0.2:5405"));
    }
    let a = h.gaps(8_000_000_000);
    assert!(a.gaps.is_empty(), "{:?}", a.gaps);
    assert_eq!(a.sources[0].expected_interval_ns, Some(750_000_000));
    assert!(
        a.sources[0].interval_basis.contains("knet ping"),
        "{}",
        a.sources[0].interval_basis
    );
}

fn line(source: u32, at_ms: u64, kind: EventKind, count: Option<u64>) -> HeartbeatEvent {
    HeartbeatEvent {
        source,
        kind,
        read_mono_ns: at_ms * 1_000_000,
        read_realtime_ns: (at_ms * 1_000_000) as i64,
        stamped_realtime_ns: None,
        peer: None,
        count,
        measured_ns: None,
        line: "WARN Missed 2 heartbeats".into(),
    }
}

#[test]
fn a_loss_line_source_has_no_trailing_open_gap() {
    let mut h = HeartbeatSummary::default();
    declare(
        &mut h,
        0,
        r"log:/tmp/app.log:loss=Missed (?<count>\d+) heartbeats",
        SourceKind::Log,
    );
    declare(&mut h, 1, "log:/tmp/ka.log:keepalived", SourceKind::Log);
    h.add(&Record::Heartbeat(line(
        0,
        2_000,
        EventKind::PeerSilence,
        Some(2),
    )));
    // An older hbwatch recorded regex lines as arrivals: still read as losses.
    h.add(&Record::Heartbeat(line(
        0,
        2_500,
        EventKind::Arrival,
        Some(1),
    )));
    h.add(&Record::Heartbeat(line(
        1,
        6_000,
        EventKind::PeerSilence,
        None,
    )));
    let a = h.gaps(10_000_000_000);
    assert_eq!(a.gaps.len(), 3, "{:?}", a.gaps);
    assert!(
        a.gaps.iter().all(|g| !g.open && g.length_ns > 0),
        "{:?}",
        a.gaps
    );
    // keepalived's advertisement timeout at the default advert_int of 1 s.
    let ka = a
        .gaps
        .iter()
        .find(|g| g.source == 1)
        .expect("keepalived gap");
    assert_eq!(ka.length_ns, 3_610_000_000);
    assert!(
        ka.estimate.as_deref().is_some_and(|e| e.contains("advert")),
        "{ka:?}"
    );
    assert!(
        a.sources
            .iter()
            .all(|s| s.interval_basis.starts_with("none"))
    );
}

fn event(at_ms: u64, stage: PortStage, peer: Option<&str>, netns: u32) -> PortPacketEvent {
    PortPacketEvent {
        stage,
        peer: peer.map(str::to_owned),
        netns,
        ..read(at_ms, "")
    }
}

#[test]
fn reads_of_an_unconnected_socket_are_the_peers_of_the_packets_seen() {
    let mut h = HeartbeatSummary::default();
    h.set_host_netns(7);
    declare(&mut h, 0, "udp:5405", SourceKind::PassiveUdp);
    for t in (0..12_000).step_by(100) {
        // Two peers; the second stops at 6 s. Reads carry no peer (unconnected socket).
        let mut senders = vec!["10.0.0.2:5405"];
        if t < 6_000 {
            senders.push("10.0.0.3:5405");
        }
        for (i, p) in senders.iter().enumerate() {
            let at = t + 10 * i as u64;
            h.port_packet(&event(at, PortStage::Seen, Some(p), 7));
            h.port_packet(&event(at + 1, PortStage::Read, None, 0));
            // The reader's next recv finds nothing: not a heartbeat, and no peer's.
            let mut again = event(at + 2, PortStage::Read, None, 0);
            again.len = -11;
            h.port_packet(&again);
        }
    }
    // The stopped peer's own socket, in its namespace on this kernel (a test cluster), saw
    // our packets until 3 s and then read none: not this host's heartbeats.
    for t in (0..3_000).step_by(100) {
        h.port_packet(&event(t + 50, PortStage::Seen, Some("10.0.0.1:5405"), 9));
        h.port_packet(&event(t + 51, PortStage::Read, None, 0));
    }
    let a = h.gaps(12_000_000_000);
    assert_eq!(a.gaps.len(), 1, "{:?}", a.gaps);
    assert_eq!(a.gaps[0].peer.as_deref(), Some("10.0.0.3:5405"));
    assert_eq!(a.sources[0].peers, ["10.0.0.2:5405", "10.0.0.3:5405"]);
}
