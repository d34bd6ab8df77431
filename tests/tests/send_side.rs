//! Root: the send side of a watched flow, across a veth pair between namespaces made here. Each
//! heartbeat sent from `a` is seen leaving (application, qdisc, driver) with the same identity
//! the receiver's device sees in `b`; a sender-side qdisc that overflows drops heartbeats with
//! the kernel's reason, on the sender's device.

use std::{net::UdpSocket, time::Duration};

use agent_common::portwatch::{IDENT_PAYLOAD_BYTES, udp_ident};
use hbwatch::{
    analysis::PacketSummary,
    collectors::host::HostRoot,
    probes::{ProbeOptions, Probes, portwatch::WatchPort},
    recording::records::{
        CollectorState, PortPacketEvent, PortStage, Record, WirePacketEvent, WireStage,
    },
};
use hbwatch_tests::{
    netns::{NetnsPair, in_netns, run, udp_receiver},
    require_root,
};

fn load(port: u16) -> Probes {
    let opts = ProbeOptions {
        watch_ports: vec![WatchPort { proto: 17, port }],
        ..Default::default()
    };
    Probes::load(&HostRoot::default(), &opts).expect("loading probes")
}

/// Ticks the packet probes once: the wire events, the port events, and the folded summary.
fn tick(
    probes: &mut Probes,
    sum: &mut PacketSummary,
) -> (Vec<WirePacketEvent>, Vec<PortPacketEvent>) {
    let (records, errors) = probes.packet.tick(hbwatch::clock::mono_ns());
    assert!(errors.is_empty(), "map reads failed: {errors:?}");
    let (mut wire, mut port) = (Vec::new(), Vec::new());
    for r in records {
        match r {
            Record::Wire(e) => {
                sum.add_wire(&e);
                wire.push(e);
            }
            Record::WireFlows(iv) => sum.add_wire_flows(&iv),
            Record::PortPacket(e) => {
                sum.add_port_event(&e);
                port.push(e);
            }
            Record::PortFlows(iv) => sum.add_port_flows(&iv),
            Record::Drops(iv) => sum.add_drops(&iv),
            _ => {}
        }
    }
    (wire, port)
}

/// The test's payload of heartbeat `i`: distinct; shorter than the hashed head for odd `i`, and
/// for even `i` behind a constant header longer than it (only the tail tells them apart).
fn payload(i: u32) -> Vec<u8> {
    if i.is_multiple_of(2) {
        format!("a constant heartbeat header, seq {i:05}").into_bytes()
    } else {
        format!("hb {i:05}").into_bytes()
    }
}

fn ident_of(p: &[u8]) -> u32 {
    let mut head = [0u8; IDENT_PAYLOAD_BYTES];
    let mut tail = [0u8; IDENT_PAYLOAD_BYTES];
    let n = p.len().min(IDENT_PAYLOAD_BYTES);
    head[..n].copy_from_slice(&p[..n]);
    if p.len() >= IDENT_PAYLOAD_BYTES {
        tail.copy_from_slice(&p[p.len() - IDENT_PAYLOAD_BYTES..]);
    }
    udp_ident(8 + p.len() as u16, &head, &tail)
}

/// The inode of a named namespace's network namespace.
fn netns_inode(ns: &str) -> u32 {
    use std::os::unix::fs::MetadataExt as _;
    std::fs::metadata(format!("/run/netns/{ns}"))
        .expect("netns file")
        .ino() as u32
}

#[test]
fn sent_heartbeats_carry_their_identity_to_the_receiver() {
    if !require_root("sent_heartbeats_carry_their_identity_to_the_receiver") {
        return;
    }
    const PORT: u16 = 41_211;
    const BEATS: u32 = 20;
    let pair = NetnsPair::new("hbc-tx-ident", 211);
    let mut probes = load(PORT);
    let send_status = probes
        .statuses
        .iter()
        .find(|s| s.collector == "portwatch:sock_send_length")
        .cloned()
        .expect("status of sock_send_length");
    let receiver = udp_receiver(&pair, PORT, BEATS);
    std::thread::sleep(Duration::from_millis(100));
    let dst = format!("{}:{PORT}", pair.b_ip);
    let src = in_netns(&pair.a, move || {
        // Connected, so the application's send names its peer.
        let s = UdpSocket::bind("0.0.0.0:0").expect("bind sender");
        s.connect(&dst).expect("connect");
        for i in 0..BEATS {
            s.send(&payload(i)).expect("send");
            std::thread::sleep(Duration::from_millis(10));
        }
        s.local_addr().expect("local addr").port()
    });
    assert_eq!(receiver.join().expect("receiver"), BEATS);
    std::thread::sleep(Duration::from_millis(100));
    let mut sum = PacketSummary::default();
    let (wire, _) = tick(&mut probes, &mut sum);
    let (na, nb) = (netns_inode(&pair.a), netns_inode(&pair.b));
    let peer = format!("{}:{PORT}", pair.b_ip);
    let local = format!("{}:{src}", pair.a_ip);
    let at = |stage: WireStage, ident: u32| -> Vec<&WirePacketEvent> {
        wire.iter()
            .filter(|e| e.stage == stage && e.ident == Some(ident))
            .collect()
    };
    for i in 0..BEATS {
        let id = ident_of(&payload(i));
        let q = at(WireStage::DevQueued, id);
        let x = at(WireStage::XmitStart, id);
        let d = at(WireStage::XmitDone, id);
        let seen = at(WireStage::Seen, id);
        assert_eq!(
            (q.len(), x.len(), d.len(), seen.len()),
            (1, 1, 1, 1),
            "beat {i}: {wire:#?}"
        );
        for e in [q[0], x[0], d[0]] {
            assert_eq!(e.netns, na, "sent on veth-a in {}: {e:?}", pair.a);
            assert_eq!(e.peer.as_deref(), Some(peer.as_str()), "{e:?}");
            assert_eq!(e.local.as_deref(), Some(local.as_str()), "{e:?}");
            assert_ne!(e.ifindex, 0, "{e:?}");
        }
        assert_eq!(d[0].code, 0, "driver rc: {:?}", d[0]);
        assert_eq!(
            seen[0].netns, nb,
            "received on veth-b in {}: {:?}",
            pair.b, seen[0]
        );
        assert_eq!(
            seen[0].peer.as_deref(),
            Some(local.as_str()),
            "{:?}",
            seen[0]
        );
        assert!(
            q[0].mono_ns <= x[0].mono_ns
                && x[0].mono_ns <= d[0].mono_ns
                && d[0].mono_ns <= seen[0].mono_ns,
            "beat {i} out of order: {q:?} {x:?} {d:?} {seen:?}"
        );
    }
    let key = (17u8, src, peer.clone());
    let agg = sum
        .sent
        .get(&key)
        .unwrap_or_else(|| panic!("no send summary for {key:?}: {:?}", sum.sent));
    assert_eq!(
        (agg.dev_queued, agg.xmit, agg.xmit_failed),
        (BEATS as u64, BEATS as u64, 0)
    );
    // The application's send exists from 6.3 on; before, the status says sends start at the queue.
    if send_status.detail.starts_with("tp_btf") {
        assert_eq!(send_status.state, CollectorState::Running);
        assert_eq!(agg.sent, BEATS as u64, "sock_send_length: {:?}", sum.sent);
    } else {
        assert!(
            send_status.detail.contains("net_dev_queue"),
            "{send_status:?}"
        );
    }
}

#[test]
fn a_full_sender_qdisc_drops_heartbeats_with_its_reason() {
    if !require_root("a_full_sender_qdisc_drops_heartbeats_with_its_reason") {
        return;
    }
    const PORT: u16 = 41_213;
    let pair = NetnsPair::new("hbc-tx-qdisc", 213);
    // A slow token bucket with room for about two datagrams: a burst overflows it.
    run(&[
        "tc", "-n", &pair.a, "qdisc", "add", "dev", "veth-a", "root", "tbf", "rate", "8kbit",
        "burst", "1600", "limit", "3000",
    ]);
    let mut probes = load(PORT);
    let mut sum = PacketSummary::default();
    sum.add_tables(&probes.packet.tables);
    // A bound receiver: what passes the qdisc is queued in `b`, not dropped there.
    let b_ip = pair.b_ip.clone();
    let _receiver = in_netns(&pair.b, move || {
        UdpSocket::bind(format!("{b_ip}:{PORT}")).expect("bind")
    });
    let dst = format!("{}:{PORT}", pair.b_ip);
    let src = in_netns(&pair.a, move || {
        let s = UdpSocket::bind("0.0.0.0:0").expect("bind sender");
        for i in 0..200u32 {
            let _ = s.send_to(&[i as u8; 1000], &dst);
        }
        s.local_addr().expect("local addr").port()
    });
    std::thread::sleep(Duration::from_millis(200));
    let (_, port) = tick(&mut probes, &mut sum);
    let na = netns_inode(&pair.a);
    let key = (17u8, src, format!("{}:{PORT}", pair.b_ip));
    let agg = sum
        .sent
        .get(&key)
        .unwrap_or_else(|| panic!("no send summary for {key:?}: {:?}", sum.sent));
    // Every datagram reaches the qdisc, exactly (events and counted-only ones).
    assert_eq!(agg.dev_queued, 200, "{agg:?}");
    let dropped = sum.port_stage_count(17, PORT, PortStage::Dropped);
    assert!(
        dropped >= 150 && agg.xmit + dropped <= 200,
        "{dropped} dropped, {agg:?}"
    );
    // The drops one by one: on the sender's device, with the qdisc's reason.
    let drops: Vec<&PortPacketEvent> = port
        .iter()
        .filter(|e| e.stage == PortStage::Dropped)
        .collect();
    assert!(!drops.is_empty());
    for e in &drops {
        assert_eq!(e.netns, na, "dropped outside the sender's namespace: {e:?}");
        let r = sum.reason_name(e.code as u32);
        assert!(r.contains("QDISC"), "reason {r} of {e:?}");
    }
}
