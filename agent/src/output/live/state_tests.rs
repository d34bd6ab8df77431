//! Unit tests of the view-model updates.

use super::fixtures;
use crate::analysis::aggregates::sources::Standing;

#[test]
fn last_second_and_total_differ_and_sparkline_is_capped() {
    let (_, s) = fixtures::recorded(70);
    let cpu0 = &s.softirq.cpus[0];
    assert_eq!(cpu0.cpu, 0);
    // Second 69's largest wait is 10 µs + 69 × 0.5 µs; since start the same maximum, 210 entries.
    assert_eq!(cpu0.last.wait_max_ns, 44_500);
    assert_eq!(cpu0.last.count, 3);
    assert_eq!(cpu0.total.count, 210);
    assert_eq!(cpu0.total.wait_max_ns, 44_500);
    assert_eq!(cpu0.spark_wait_max_ns.len(), super::state::SPARK_SECONDS);
    assert_eq!(cpu0.spark_wait_max_ns.back(), Some(&44_500));
    assert_eq!(
        cpu0.spark_wait_max_ns.front(),
        Some(&15_000),
        "oldest kept is second 10"
    );
    let cpu1 = &s.softirq.cpus[1];
    assert_eq!((cpu1.ksoftirqd_last, cpu1.ksoftirqd_total), (2, 140));
    let timer = s
        .softirq
        .vectors
        .iter()
        .find(|v| v.name == "TIMER")
        .expect("TIMER row");
    assert_eq!((timer.last.count, timer.total.count), (1, 70));
    assert_eq!(s.header.elapsed_ns, 70_000_000_000);
    assert_eq!(s.header.recording.bytes, 2_048 * 70);
}

#[test]
fn a_quiet_second_clears_last_second_but_keeps_totals() {
    let (summary, mut s) = fixtures::recorded(3);
    let quiet =
        crate::recording::records::Record::Softirq(crate::recording::records::SoftirqInterval {
            start_mono_ns: fixtures::now(3),
            end_mono_ns: fixtures::now(4),
            cells: vec![],
        });
    s.update_from_records(&summary, &[quiet]);
    assert_eq!(s.softirq.cpus[0].last.count, 0);
    assert_eq!(s.softirq.cpus[0].total.count, 9);
    assert_eq!(s.softirq.cpus[0].spark_wait_max_ns.back(), Some(&0));
}

#[test]
fn lanes_go_ok_late_gap() {
    let (_, mut s) = fixtures::recorded(1);
    let anchor = fixtures::header().anchor;
    let now = fixtures::now(10);
    let mut src = fixtures::sources(now, 100_000_000);
    src[1].last_arrival_mono_ns = None;
    s.update_from_heartbeats(now, &anchor, &src);
    assert_eq!(s.lanes[0].status, Standing::Ok);
    assert_eq!(s.lanes[1].status, Standing::Waiting);
    assert_eq!(s.lanes[0].last_arrival.as_deref(), Some("00:00:09.900"));
    for (silence, want) in [
        (500_000_000, Standing::Late),
        (2_999_000_000, Standing::Late),
        (3_000_000_000, Standing::Gap),
        (9_000_000_000, Standing::Gap),
    ] {
        s.update_from_heartbeats(now, &anchor, &fixtures::sources(now, silence));
        assert_eq!(s.lanes[0].status, want, "silence {silence}");
        let fill = (silence as f64 / 3e9).min(1.0);
        assert!((s.lanes[0].fill - fill).abs() < 1e-9);
    }
    // The detector's word wins below the threshold; an unknown interval is "learning".
    let mut src = fixtures::sources(now, 100_000_000);
    src[0].gap_open = true;
    src[1].expected_interval_ns = None;
    src[1].gap_threshold_ns = None;
    s.update_from_heartbeats(now, &anchor, &src);
    assert_eq!(s.lanes[0].status, Standing::Gap);
    assert_eq!(s.lanes[1].status, Standing::Learning);
    assert_eq!(s.lanes[1].fill, 0.0);
}

#[test]
fn drop_rates_totals_and_heartbeat_ports() {
    let (_, mut s) = fixtures::recorded(1);
    fixtures::feed_drops(&mut s);
    fixtures::feed_drops(&mut s);
    let d = &s.drops;
    assert!(d.fed && s.napi.fed);
    assert_eq!(d.total_per_s, 42.0);
    assert_eq!(d.by_reason[0].label, "SOCKET_RCVBUFF");
    assert_eq!((d.by_reason[0].per_s, d.by_reason[0].total), (30.0, 60));
    assert_eq!(d.by_device[0].label, "eth0/q1");
    assert_eq!(d.by_cpu[1].label, "cpu0");
    // The heartbeat port comes first although it drops less.
    assert_eq!(d.by_port[0].label, ":5405");
    assert!(d.by_port[0].heartbeat && !d.by_port[1].heartbeat);
    let napi = &s.napi.rows[0];
    assert_eq!((napi.exhausted_per_s, napi.exhausted_total), (20.0, 40));
    assert!((napi.exhausted_share - 0.05).abs() < 1e-9);
    // A quiet interval keeps totals and zeroes rates.
    s.update_from_drops(1_000_000_000, &[], &[5405]);
    assert_eq!(s.drops.by_reason[0].per_s, 0.0);
    assert_eq!(s.drops.by_port[0].total, 24);
}
