//! Tests of the periodic counters: fixture reads, degraded sources, wrap, size budget, round trip.

use super::*;
use crate::{
    collectors::config,
    recording::records::{HostConfig, Record},
};

fn fixture(name: &str) -> HostRoot {
    HostRoot::at(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/hosts")
            .join(name),
    )
}

fn targets(root: &HostRoot) -> (HostConfig, Targets) {
    let cfg = config::read(root, 0, None);
    let t = Targets::from_config(&cfg, root.softirq_vectors());
    (cfg, t)
}

#[test]
fn softnet_wraps_at_32_bits() {
    assert_eq!(d(5, u64::from(u32::MAX) - 4), 10);
    assert_eq!(d(7, 3), 4);
    // A 64-bit counter that went backwards was reset: count from zero.
    assert_eq!(d(7, 1 << 40), 7);
}

#[test]
fn vm_fixture_reads_every_source() {
    let root = fixture("vm-virtio");
    let (cfg, t) = targets(&root);
    assert_eq!(t.ifaces, vec!["eth0"]);
    assert_eq!(t.irqs, BTreeSet::from([37, 38, 39]));
    let eth0 = cfg.nic("eth0").expect("eth0");
    assert_eq!(eth0.driver.as_deref(), Some("virtio_net"));
    let kinds: Vec<_> = eth0.irqs.iter().map(|i| (i.irq, i.kind)).collect();
    use crate::recording::records::IrqKind::*;
    assert_eq!(kinds, vec![(37, Other), (38, Rx), (39, Tx)]);
    let (c, results) = Counters::read(&root, &t, 1);
    for (name, r) in &results {
        assert!(r.is_ok(), "{name}: {r:?}");
    }
    assert_eq!(c.softnet.len(), 2);
    assert!(c.interrupts.keys().any(|(irq, _)| *irq == 38));
    assert!(c.snmp.contains_key("Udp.RcvbufErrors"));
    // Identical reads: nothing moved, nothing recorded.
    let (c2, _) = Counters::read(&root, &t, 2);
    assert!(delta(&c, &c2).is_empty());
}

#[test]
fn old_kernel_softnet_lines_map_to_online_cpus_around_offline_ones() {
    let root = fixture("ice-all-irqs-cpu0");
    let (_, t) = targets(&root);
    let (c, _) = Counters::read(&root, &t, 1);
    assert_eq!(
        c.softnet.keys().copied().collect::<Vec<_>>(),
        vec![0, 1, 2, 3, 6, 7]
    );
    assert_eq!(
        c.cpu_time.keys().copied().collect::<Vec<_>>(),
        vec![0, 1, 2, 3, 6, 7]
    );
}

#[test]
fn unreadable_sources_are_reported_and_the_rest_is_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("proc/net")).expect("mkdir");
    std::fs::write(
        dir.path().join("proc/net/snmp"),
        "Udp: InErrors RcvbufErrors\nUdp: 1 2\n",
    )
    .expect("write");
    let mut col = SystemCollector::new(HostRoot::at(dir.path().to_owned()), Targets::default());
    let (sample, statuses) = col.tick(1);
    assert!(sample.is_none());
    let state = |n: &str| statuses.iter().find(|s| s.collector == n).map(|s| s.state);
    assert_eq!(state("system.softnet"), Some(CollectorState::Unavailable));
    assert_eq!(state("system.snmp"), Some(CollectorState::Degraded));
    assert_eq!(state("system.netdev"), Some(CollectorState::Unavailable));
    assert_eq!(state("system.ethtool-stats"), Some(CollectorState::Running));
    std::fs::write(
        dir.path().join("proc/net/snmp"),
        "Udp: InErrors RcvbufErrors\nUdp: 1 5\n",
    )
    .expect("write");
    let (sample, statuses) = col.tick(1_000_000_001);
    // Same states as before: nothing new to report.
    assert!(statuses.is_empty(), "{statuses:?}");
    assert_eq!(sample.expect("second tick").snmp("Udp.RcvbufErrors"), 3);
}

/// A 64-CPU host where every counter moves every second must stay well under 100 MB/hour,
/// before the recording's zstd compression.
#[test]
fn busy_64_cpu_host_fits_the_size_budget() {
    let s = busy_sample();
    let bytes = postcard::to_allocvec(&Record::System(s))
        .expect("encode")
        .len();
    let per_hour = bytes * 3600;
    assert!(
        per_hour < 40 << 20,
        "{bytes} bytes per second = {} MiB/hour",
        per_hour >> 20
    );
    eprintln!(
        "64-CPU busy sample: {bytes} bytes/s, {} MiB/hour uncompressed",
        per_hour >> 20
    );
}

/// The records go through a real recording file and fold back into the summary.
#[test]
fn records_round_trip_through_a_recording_and_fold() {
    use crate::{
        analysis::RecordingSummary,
        recording::{RecordingReader, RecordingWriter},
    };
    let root = fixture("mlx5-rps");
    let (cfg, _) = targets(&root);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("sys.hbw");
    let header = crate::capture::session::build_header(&root, vec!["test".into()]);
    let mut w = RecordingWriter::create(&path, false, &header).expect("create");
    w.push(&Record::HostConfig(cfg.clone()))
        .expect("push config");
    let sample = busy_sample();
    for _ in 0..60 {
        w.push(&Record::System(sample.clone()))
            .expect("push sample");
        w.flush().expect("flush");
    }
    let mut changed = cfg.clone();
    changed
        .sysctls
        .insert("net.core.netdev_max_backlog".into(), "4000".into());
    assert!(!changed.same_as(&cfg));
    w.push(&Record::HostConfig(changed)).expect("push change");
    w.flush().expect("flush");
    let per_hour = w.bytes_written() * 60;
    eprintln!("64-CPU busy host: {} MiB/hour compressed", per_hour >> 20);
    assert!(per_hour < 40 << 20);
    let mut r = RecordingReader::open(&path).expect("open");
    let mut sum = RecordingSummary::new(r.header().clone(), r.version());
    let recs: Vec<Record> = r.by_ref().collect();
    assert_eq!(recs[0], Record::HostConfig(cfg));
    for rec in &recs {
        sum.add(rec);
    }
    assert_eq!(sum.host_config_changes, 1);
    assert_eq!(
        sum.host_config
            .as_ref()
            .and_then(|c| c.sysctl_u64("net.core.netdev_max_backlog")),
        Some(4000)
    );
    let cpu3 = sum
        .system
        .softnet
        .iter()
        .find(|s| s.cpu == 3)
        .expect("cpu 3");
    assert_eq!(cpu3.dropped, 60);
}

fn busy_sample() -> SystemSample {
    let root = fixture("mlx5-rps");
    let (_, t) = targets(&root);
    let (cur, _) = Counters::read(&root, &t, 2_000_000_000);
    let mut prev = cur.clone();
    prev.at_mono_ns = 1_000_000_000;
    let shrink = |v: &mut u64| *v = v.saturating_sub(1000);
    prev.softnet.values_mut().for_each(|r| {
        shrink(&mut r.processed);
        r.dropped = r.dropped.saturating_sub(1);
        r.time_squeeze = r.time_squeeze.saturating_sub(1);
    });
    prev.softirqs.values_mut().for_each(shrink);
    prev.interrupts.values_mut().for_each(shrink);
    prev.cpu_time.values_mut().for_each(|c| {
        c.softirq_ns = c.softirq_ns.saturating_sub(10_000_000);
        c.irq_ns = c.irq_ns.saturating_sub(10_000_000);
    });
    prev.snmp.values_mut().for_each(shrink);
    prev.netdev
        .values_mut()
        .for_each(|n| shrink(&mut n.rx_packets));
    let s = delta(&prev, &cur);
    assert_eq!(s.cpu_time.len(), 64);
    assert!(s.softirqs.len() >= 640);
    assert!(s.interrupts.len() >= 64);
    s
}
