//! Root: `hbwatch record` writes the host configuration and system counter deltas; UDP datagrams
//! dropped at a full socket buffer on loopback show up as Udp.RcvbufErrors and as that socket's drops.

use std::{
    net::UdpSocket,
    process::Command,
    time::{Duration, Instant},
};

use hbwatch::recording::{
    RecordingReader,
    records::{CollectorState, Record},
};
use hbwatch_tests::{hbwatch_bin, require_root, tempdir};

const PORT: u16 = 40_311;

#[test]
fn recording_holds_host_config_and_system_deltas() {
    if !require_root("recording_holds_host_config_and_system_deltas") {
        return;
    }
    let dir = tempdir();
    let path = dir.path().join("sys.hbw");
    let mut child = Command::new(hbwatch_bin())
        .args(["record", "-d", "4s", "-o"])
        .arg(&path)
        .spawn()
        .expect("start hbwatch record");
    hbwatch_tests::wait_for_recording(&path);

    // A socket nobody reads: once its buffer is full, the kernel drops and counts.
    let sink = UdpSocket::bind(("127.0.0.1", PORT)).expect("bind sink");
    let src = UdpSocket::bind("127.0.0.1:0").expect("bind source");
    let payload = [0u8; 1200];
    let t0 = Instant::now();
    let mut sent = 0u32;
    while sent < 4000 && t0.elapsed() < Duration::from_secs(1) {
        if src.send_to(&payload, ("127.0.0.1", PORT)).is_ok() {
            sent += 1;
        }
    }
    let status = child.wait().expect("wait for hbwatch record");
    drop(sink);
    assert!(status.success(), "hbwatch record: {status}");

    let mut reader = RecordingReader::open(&path).expect("open recording");
    let records: Vec<Record> = reader.by_ref().collect();
    let configs: Vec<_> = records
        .iter()
        .filter_map(|r| match r {
            Record::HostConfig(c) => Some(c),
            _ => None,
        })
        .collect();
    assert!(!configs.is_empty(), "no HostConfig record");
    let cfg = configs[0];
    assert!(!cfg.cpus.online.is_empty());
    assert!(
        cfg.sysctls.contains_key("net.core.netdev_max_backlog"),
        "{:?}",
        cfg.sysctls
    );
    let statuses: Vec<_> = records
        .iter()
        .filter_map(|r| match r {
            Record::Collector(c) if c.collector.starts_with("system.") => Some(c),
            _ => None,
        })
        .collect();
    assert!(
        statuses
            .iter()
            .any(|s| s.collector == "system.softnet" && s.state == CollectorState::Running),
        "{statuses:?}"
    );
    let samples: Vec<_> = records
        .iter()
        .filter_map(|r| match r {
            Record::System(s) => Some(s),
            _ => None,
        })
        .collect();
    assert!(samples.len() >= 2, "{} system samples", samples.len());
    let rcvbuf: u64 = samples.iter().map(|s| s.snmp("Udp.RcvbufErrors")).sum();
    let ours: u64 = samples
        .iter()
        .flat_map(|s| &s.udp_sockets)
        .filter(|u| u.local == format!("127.0.0.1:{PORT}"))
        .map(|u| u.drops)
        .sum();
    assert!(ours > 0, "sent {sent}, no drops recorded for our socket");
    assert!(
        rcvbuf >= ours,
        "Udp.RcvbufErrors {rcvbuf} < socket drops {ours}"
    );
}
