use super::*;

const MS: u64 = 1_000_000;

fn feed(d: &mut GapDetector, source: u32, times_ms: impl IntoIterator<Item = u64>) -> Vec<Gap> {
    times_ms
        .into_iter()
        .filter_map(|t| {
            d.arrival(&Arrival {
                source,
                at_mono_ns: t * MS,
                peer: None,
                netns: 0,
            })
        })
        .collect()
}

/// Every 100 ms from `from` to `to` (exclusive).
fn beats(from: u64, to: u64) -> impl Iterator<Item = u64> {
    (from..to).step_by(100)
}

#[test]
fn given_interval_one_gap_with_bounds() {
    let mut d = GapDetector::new(2.0);
    d.declare(1, Some(100 * MS), None);
    let closed = feed(&mut d, 1, beats(0, 2000).chain(beats(3000, 4000)));
    assert_eq!(closed.len(), 1);
    let g = &closed[0];
    assert_eq!(
        (g.start_mono_ns, g.end_mono_ns, g.length_ns),
        (1900 * MS, 3000 * MS, 1100 * MS)
    );
    assert_eq!(g.detected_mono_ns, 2100 * MS);
    assert!(!g.open);
    let a = d.finish(4000 * MS);
    assert_eq!(a.gaps.len(), 1);
}

#[test]
fn jitter_below_factor_is_not_a_gap() {
    let mut d = GapDetector::new(2.0);
    d.declare(1, Some(100 * MS), None);
    let t = [0, 100, 290, 390, 480, 670, 700];
    assert!(feed(&mut d, 1, t).is_empty());
}

#[test]
fn learned_interval_is_robust_to_an_early_gap() {
    let mut d = GapDetector::new(2.0);
    d.declare(7, None, None);
    // The third inter-arrival is a 1 s gap, inside the learning window; too short a warm-up to
    // learn live, so the closing analysis learns and judges it.
    let t: Vec<u64> = [0, 100, 200, 1200, 1300, 1400, 1500, 1600, 1700, 1800].into();
    assert!(feed(&mut d, 7, t).is_empty());
    let a = d.finish(1850 * MS);
    assert_eq!(a.gaps.len(), 1, "{:?}", a.gaps);
    assert_eq!(
        (a.gaps[0].start_mono_ns, a.gaps[0].end_mono_ns),
        (200 * MS, 1200 * MS)
    );
    assert_eq!(a.sources[0].expected_interval_ns, Some(100 * MS));
    assert!(a.sources[0].interval_learned);
    assert!(a.sources[0].interval_basis.contains("left out"));
}

#[test]
fn silence_until_the_end_is_an_open_gap() {
    let mut d = GapDetector::new(2.0);
    d.declare(1, Some(100 * MS), None);
    feed(&mut d, 1, beats(0, 1000));
    assert_eq!(d.open_silences(1100 * MS), Vec::new());
    assert_eq!(d.open_silences(1200 * MS), vec![(1, 900 * MS)]);
    let a = d.finish(2000 * MS);
    assert_eq!(a.gaps.len(), 1);
    assert!(a.gaps[0].open);
    assert_eq!(a.gaps[0].length_ns, 1100 * MS);
}

#[test]
fn clock_step_is_not_a_gap() {
    let mut d = GapDetector::new(2.0);
    d.declare(1, Some(100 * MS), None);
    // Stamped arrivals jump 5 s forward because the wall clock stepped at ~1 s.
    d.clock_event(1050 * MS, Some(5000 * MS as i64));
    let t = beats(0, 1000).chain(beats(6000, 7000));
    assert!(feed(&mut d, 1, t).is_empty());
    let a = d.finish(7000 * MS);
    assert!(a.gaps.is_empty());
    assert_eq!(a.clock_excused.len(), 1);
    assert_eq!(a.clock_excused[0].step_ns, Some(5000 * MS as i64));
}

#[test]
fn real_gap_larger_than_step_still_counts() {
    let mut d = GapDetector::new(2.0);
    d.declare(1, Some(100 * MS), None);
    d.clock_event(1050 * MS, Some(200 * MS as i64));
    let closed = feed(&mut d, 1, beats(0, 1000).chain(beats(3000, 3500)));
    assert_eq!(closed.len(), 1);
}

#[test]
fn chrony_jump_line_excuses_the_silence() {
    let mut d = GapDetector::new(2.0);
    d.declare(1, Some(100 * MS), None);
    d.clock_event(1500 * MS, None);
    assert!(feed(&mut d, 1, beats(0, 1000).chain(beats(3000, 3500))).is_empty());
    // A silence far from the jump is still a gap.
    assert_eq!(feed(&mut d, 1, [6000]).len(), 1);
}

#[test]
fn onset_from_duration_and_from_count() {
    let mut d = GapDetector::new(2.0);
    d.declare(1, None, Some(120_000 * MS));
    let g = d.reported(&Reported {
        source: 1,
        kind: EventKind::PeerSilence,
        read_mono_ns: 500_000 * MS,
        logged_mono_ns: Some(499_000 * MS),
        count: Some(2),
        measured_ns: None,
        peer: None,
        implied: None,
    });
    assert_eq!(g.onset_estimate_mono_ns, Some(259_000 * MS));
    assert_eq!(
        (g.start_mono_ns, g.end_mono_ns),
        (259_000 * MS, 499_000 * MS)
    );
    assert_eq!(g.detected_mono_ns, 500_000 * MS);
    let g = d.reported(&Reported {
        source: 1,
        kind: EventKind::SelfStall,
        read_mono_ns: 10_000 * MS,
        logged_mono_ns: Some(10_000 * MS),
        count: None,
        measured_ns: Some(3307 * MS),
        peer: None,
        implied: None,
    });
    assert_eq!(g.kind, GapKind::SelfStall);
    assert_eq!(g.onset_estimate_mono_ns, Some(6693 * MS));
    assert_eq!(g.length_ns, 3307 * MS);
}

#[test]
fn sources_are_independent_and_out_of_order_is_counted() {
    let mut d = GapDetector::new(2.0);
    d.declare(1, Some(100 * MS), None);
    d.declare(2, Some(1000 * MS), None);
    feed(&mut d, 1, beats(0, 3000));
    assert!(feed(&mut d, 2, [0, 1000, 2000, 2900, 2500]).is_empty());
    let a = d.finish(3000 * MS);
    assert!(a.gaps.is_empty());
    assert_eq!(a.sources[1].out_of_order, 1);
}

#[test]
fn source_now_reports_last_arrival_threshold_and_gaps() {
    let mut d = GapDetector::new(3.0);
    assert_eq!(d.source_now(1), None);
    d.declare(1, None, None);
    let learning = d.source_now(1).expect("declared source");
    assert_eq!(
        (learning.last_arrival_mono_ns, learning.gap_threshold_ns),
        (None, None)
    );
    feed(&mut d, 1, beats(0, 2000).chain(beats(3000, 3500)));
    let now = d.source_now(1).expect("source");
    assert_eq!(now.last_arrival_mono_ns, Some(3400 * MS));
    assert_eq!(now.expected_interval_ns, Some(100 * MS));
    assert_eq!(now.gap_threshold_ns, Some(300 * MS));
    assert_eq!(now.gaps, 1);
    assert_eq!(d.gaps_so_far().len(), 1);
}

/// Inter-arrivals of healthy corosync/knet traffic as one node sees it: pings, pongs, token and
/// acks in bursts a few ms apart, then pauses of 150-450 ms (token hold, ping interval).
fn knet_like(from_ms: u64, to_ms: u64) -> Vec<u64> {
    let mut t = Vec::new();
    let (mut now, mut i) = (from_ms, 0u64);
    while now < to_ms {
        for gap in [0, 2, 1, 6, 3] {
            now += gap;
            t.push(now);
        }
        // A pseudo-random pause: the long tail bursty protocols have.
        now += 150 + (i * 7919) % 300;
        i += 1;
    }
    t
}

#[test]
fn bursty_knet_like_traffic_gives_no_gap_when_healthy() {
    let mut d = GapDetector::new(2.0);
    d.declare(1, None, None);
    let closed = feed(&mut d, 1, knet_like(0, 12_000));
    assert!(closed.is_empty(), "{closed:?}");
    let a = d.finish(12_000 * MS);
    assert!(a.gaps.is_empty(), "{:?}", a.gaps);
    // The median inter-arrival is a few ms; the interval is the longest ordinary pause.
    let iv = a.sources[0].expected_interval_ns.expect("learned");
    assert!(iv >= 400 * MS, "{}", a.sources[0].interval_basis);
}

#[test]
fn a_real_three_second_silence_in_bursty_traffic_is_one_gap() {
    let mut d = GapDetector::new(2.0);
    d.declare(1, None, None);
    let mut t = knet_like(0, 6_000);
    let last = *t.last().expect("beats");
    t.extend(knet_like(last + 3_000, 12_000));
    feed(&mut d, 1, t);
    let a = d.finish(12_000 * MS);
    assert_eq!(a.gaps.len(), 1, "{:?}", a.gaps);
    assert_eq!(a.gaps[0].length_ns, 3_000 * MS);
}

#[test]
fn a_loss_only_source_never_makes_silence_gaps() {
    let mut d = GapDetector::new(2.0);
    d.declare(1, None, None);
    d.set_timing(
        1,
        Timing {
            loss_only: true,
            ..Timing::default()
        },
    );
    // Even arrivals (an older recording's loss lines) leave no silence gap behind them.
    feed(&mut d, 1, [0, 100, 200, 300, 400, 500]);
    let g = d.reported(&Reported {
        source: 1,
        kind: EventKind::PeerSilence,
        read_mono_ns: 2_000 * MS,
        logged_mono_ns: None,
        count: None,
        measured_ns: None,
        peer: None,
        implied: None,
    });
    assert!(g.length_ns > 0, "{g:?}");
    let a = d.finish(9_000 * MS);
    assert_eq!(a.gaps.len(), 1, "{:?}", a.gaps);
    assert!(!a.gaps[0].open);
}

fn feed_from(d: &mut GapDetector, peer: &str, times_ms: impl IntoIterator<Item = u64>) -> Vec<Gap> {
    times_ms
        .into_iter()
        .filter_map(|t| {
            d.arrival(&Arrival {
                source: 1,
                at_mono_ns: t * MS,
                peer: Some(peer.to_owned()),
                netns: 0,
            })
        })
        .collect()
}

/// Feeds two flows' arrivals merged in time order.
fn feed_two(d: &mut GapDetector, a: (&str, Vec<u64>), b: (&str, Vec<u64>)) -> Vec<Gap> {
    let mut all: Vec<(u64, &str)> = a.1.iter().map(|t| (*t, a.0)).collect();
    all.extend(b.1.iter().map(|t| (*t, b.0)));
    all.sort();
    all.into_iter()
        .flat_map(|(t, p)| feed_from(d, p, [t]))
        .collect()
}

#[test]
fn udp_flood_from_the_peers_host_does_not_hide_its_heartbeat_gap() {
    let mut d = GapDetector::new(2.0);
    d.declare(1, Some(100 * MS), None);
    d.follow_flows(1);
    // Heartbeats from :41000 stop for 1 s while another socket of the same host floods the port.
    let beats: Vec<u64> = (0..3000)
        .step_by(100)
        .chain((4000..6000).step_by(100))
        .collect();
    let flood: Vec<u64> = (3000..4500).step_by(2).collect();
    let closed = feed_two(&mut d, ("10.0.0.2:41000", beats), ("10.0.0.2:52000", flood));
    assert_eq!(closed.len(), 1, "{closed:?}");
    assert_eq!(
        (closed[0].start_mono_ns, closed[0].end_mono_ns),
        (2900 * MS, 4000 * MS)
    );
    assert_eq!(closed[0].peer.as_deref(), Some("10.0.0.2:41000"));
    // The flood ended while the heartbeat flow went on: no open gap for it at the end.
    let a = d.finish(6000 * MS);
    assert_eq!(a.gaps.len(), 1, "{:?}", a.gaps);
}

#[test]
fn without_flows_a_flood_from_the_peers_host_counts_as_its_heartbeats() {
    // TCP sources (and log names) follow the address: a reconnect is the same peer.
    let mut d = GapDetector::new(2.0);
    d.declare(1, Some(100 * MS), None);
    let beats: Vec<u64> = (0..3000)
        .step_by(100)
        .chain((4000..6000).step_by(100))
        .collect();
    let flood: Vec<u64> = (3000..4500).step_by(2).collect();
    let closed = feed_two(&mut d, ("10.0.0.2:41000", beats), ("10.0.0.2:52000", flood));
    assert!(closed.is_empty(), "{closed:?}");
}

#[test]
fn a_socket_per_send_is_followed_by_address() {
    let mut d = GapDetector::new(2.0);
    d.declare(1, Some(100 * MS), None);
    d.follow_flows(1);
    // Every heartbeat from a new source port; one 1 s silence.
    let times: Vec<u64> = (0..2000)
        .step_by(100)
        .chain((3000..4000).step_by(100))
        .collect();
    let mut closed = Vec::new();
    for (i, t) in times.iter().enumerate() {
        closed.extend(feed_from(&mut d, &format!("10.0.0.3:{}", 40000 + i), [*t]));
    }
    assert_eq!(closed.len(), 1, "{closed:?}");
    assert_eq!(
        (closed[0].start_mono_ns, closed[0].end_mono_ns),
        (1900 * MS, 3000 * MS)
    );
    let a = d.finish(4000 * MS);
    assert_eq!(a.gaps.len(), 1, "{:?}", a.gaps);
}
