//! One synthetic evidence set per cause, and mixed ones, with the expected ranked verdict.

use super::*;

const MS: u64 = 1_000_000;

/// A 1 s UDP heartbeat with a 3 s gap, NET_RX measured and quiet on both CPUs.
fn base() -> GapEvidence {
    let mut e = GapEvidence::empty(SourceKind::Port, 3000 * MS, 1000 * MS);
    e.window_ns = 3500 * MS;
    e.flow = Some(FlowFate::default());
    e.net_rx = (0..2)
        .map(|cpu| CpuSoftirq {
            cpu,
            handles_heartbeat_rx: cpu == 0,
            window_wait_max_ns: 40_000,
            window_wait_p99_ns: 20_000,
            baseline_wait_p99_ns: 20_000,
            window_run_max_ns: 50_000,
            ksoftirqd: Counter::default(),
        })
        .collect();
    e
}

fn flow(e: &mut GapEvidence) -> &mut FlowFate {
    e.flow.as_mut().expect("flow")
}

fn top(e: &GapEvidence) -> Cause {
    judge(e)[0].cause
}

fn rank(e: &GapEvidence, c: Cause) -> usize {
    judge(e)
        .iter()
        .position(|f| f.cause == c)
        .unwrap_or(usize::MAX)
}

#[test]
fn nothing_arrived_and_nothing_local_is_peer_or_upstream() {
    let e = base();
    let j = judge(&e);
    assert_eq!(j[0].cause, Cause::PeerOrUpstream, "{j:?}");
    assert!(j[0].confidence >= 0.7);
}

#[test]
fn queued_but_unread_is_app_stall_above_rcvbuf_drops() {
    let mut e = base();
    let f = flow(&mut e);
    f.seen_at_device = 3;
    f.queued_to_socket = 3;
    f.dropped = vec![("SOCKET_RCVBUFF".into(), 2)];
    e.udp_rcvbuf_errors = Counter {
        window: 2,
        baseline_per_s: 0.0,
    };
    let j = judge(&e);
    assert_eq!(j[0].cause, Cause::AppStall, "{j:?}");
    assert!(
        j.iter()
            .filter(|f| f.cause.is_network())
            .all(|f| f.confidence <= 0.3),
        "{j:?}"
    );
}

#[test]
fn rcvbuf_drops_of_the_flow_while_app_reads() {
    let mut e = base();
    let f = flow(&mut e);
    f.seen_at_device = 3;
    f.queued_to_socket = 0;
    f.read_by_app = 500;
    f.dropped = vec![("SOCKET_RCVBUFF".into(), 3)];
    e.udp_rcvbuf_errors = Counter {
        window: 9000,
        baseline_per_s: 0.0,
    };
    assert_eq!(top(&e), Cause::SocketRcvbufOverflow);
    assert!(rank(&e, Cause::AppStall) > 0);
}

#[test]
fn netfilter_drop_of_the_flow() {
    let mut e = base();
    let f = flow(&mut e);
    f.seen_at_device = 3;
    f.dropped = vec![("NETFILTER_DROP".into(), 3)];
    let j = judge(&e);
    assert_eq!(j[0].cause, Cause::NetfilterDrop, "{j:?}");
    assert!(j[0].confidence > 0.9);
}

#[test]
fn backlog_drop_of_the_flow() {
    let mut e = base();
    flow(&mut e).seen_at_device = 3;
    flow(&mut e).dropped = vec![("CPU_BACKLOG".into(), 3)];
    e.softnet_dropped = Counter {
        window: 4000,
        baseline_per_s: 0.0,
    };
    assert_eq!(top(&e), Cause::CpuBacklogOverflow);
}

#[test]
fn nic_misses_with_nothing_at_the_device_is_ring_overflow() {
    let mut e = base();
    e.nic_missed = Counter {
        window: 5000,
        baseline_per_s: 1.0,
    };
    assert_eq!(top(&e), Cause::NicRingOverflow);
}

#[test]
fn other_drop_reason_of_the_flow() {
    let mut e = base();
    flow(&mut e).seen_at_device = 3;
    flow(&mut e).dropped = vec![("UDP_CSUM".into(), 3)];
    assert_eq!(top(&e), Cause::OtherKernelDrop);
}

#[test]
fn long_net_rx_wait_on_the_rx_cpu_is_softirq_delay() {
    let mut e = base();
    flow(&mut e).seen_at_device = 3;
    flow(&mut e).read_by_app = 3;
    e.net_rx[0].window_wait_max_ns = 1800 * MS;
    e.net_rx[0].window_wait_p99_ns = 900 * MS;
    e.net_rx[0].ksoftirqd = Counter {
        window: 300,
        baseline_per_s: 1.0,
    };
    e.time_squeeze = Counter {
        window: 50,
        baseline_per_s: 0.0,
    };
    let j = judge(&e);
    assert_eq!(j[0].cause, Cause::SoftirqDelay, "{j:?}");
    assert!(
        j[0].evidence.iter().any(|l| l.contains("ksoftirqd")),
        "{j:?}"
    );
}

#[test]
fn a_wait_on_a_cpu_that_does_not_handle_the_flow_is_not_blamed() {
    let mut e = base();
    e.net_rx[1].window_wait_max_ns = 1800 * MS;
    assert_ne!(top(&e), Cause::SoftirqDelay);
}

#[test]
fn steal_during_the_gap_is_vm_pause() {
    let mut e = base();
    e.steal_max_ns = 2900 * MS;
    assert_eq!(top(&e), Cause::VmPause);
}

#[test]
fn steal_of_less_than_half_the_gap_does_not_outrank_a_firewall() {
    // etcd with all traffic dropped: a 1 s loss line, 400 ms of steal, netfilter drops on the host.
    let mut e = GapEvidence::empty(SourceKind::LogPeerSilence, 1000 * MS, 100 * MS);
    e.steal_max_ns = 400 * MS;
    let vm = judge(&e)
        .into_iter()
        .find(|f| f.cause == Cause::VmPause)
        .expect("vm_pause");
    // Below netfilter's 0.45 for drops seen on the host but not on the heartbeat flow.
    assert!(vm.confidence < 0.45, "{vm:?}");
    e.steal_max_ns = 600 * MS;
    assert_eq!(top(&e), Cause::VmPause);
}

#[test]
fn clock_step_explains_a_log_gap() {
    let mut e = GapEvidence::empty(SourceKind::LogPeerSilence, 3000 * MS, 1000 * MS);
    e.clock_steps_ns = vec![-3000 * MS as i64];
    assert_eq!(top(&e), Cause::ClockStep);
}

#[test]
fn self_stall_line_with_measured_delay_is_app_stall() {
    let mut e = GapEvidence::empty(SourceKind::LogPeerSilence, 3000 * MS, 1000 * MS);
    e.self_stalls = vec![SelfStall {
        at_mono_ns: 1,
        measured_ns: Some(3307 * MS),
        line: "Corosync main process was not scheduled for 3307.5891 ms".into(),
    }];
    let j = judge(&e);
    assert_eq!(j[0].cause, Cause::AppStall, "{j:?}");
    assert!(j[0].confidence >= 0.8);
}

#[test]
fn flow_drops_keep_the_application_out_of_the_blame() {
    let mut e = base();
    flow(&mut e).seen_at_device = 3;
    flow(&mut e).dropped = vec![("NETFILTER_DROP".into(), 3)];
    e.app_sched_delay_max_ns = Some(1500 * MS);
    let j = judge(&e);
    assert_eq!(j[0].cause, Cause::NetfilterDrop);
    let app = j
        .iter()
        .find(|f| f.cause == Cause::AppStall)
        .expect("app finding kept, ranked low");
    assert!(app.confidence <= 0.3);
}

#[test]
fn thin_evidence_says_unknown() {
    let mut e = GapEvidence::empty(SourceKind::LogPeerSilence, 3000 * MS, 1000 * MS);
    e.lost_events = 12;
    e.unavailable = vec!["softirq probe: no BTF".into()];
    let j = judge(&e);
    assert_eq!(j[0].cause, Cause::Unknown, "{j:?}");
    assert!(
        j[0].evidence
            .iter()
            .any(|l| l.contains("12 event(s) were lost"))
    );
    assert!(j[0].evidence.iter().any(|l| l.contains("not measured")));
}

#[test]
fn host_wide_netfilter_drops_alone_do_not_convict_when_the_flow_is_watched() {
    let mut e = base();
    e.drops = vec![ReasonDrops {
        reason: "NETFILTER_DROP".into(),
        count: Counter {
            window: 100,
            baseline_per_s: 0.0,
        },
    }];
    // The flow itself lost nothing and nothing arrived: the host-wide drops were someone else's.
    assert_eq!(top(&e), Cause::PeerOrUpstream);
}

#[test]
fn cause_names_are_the_documented_vocabulary() {
    let names: Vec<String> = [
        Cause::SoftirqDelay,
        Cause::NicRingOverflow,
        Cause::CpuBacklogOverflow,
        Cause::SocketRcvbufOverflow,
        Cause::NetfilterDrop,
        Cause::OtherKernelDrop,
        Cause::AppStall,
        Cause::VmPause,
        Cause::ClockStep,
        Cause::PeerOrUpstream,
        Cause::Unknown,
    ]
    .iter()
    .map(|c| {
        serde_json::to_value(c)
            .expect("json")
            .as_str()
            .expect("str")
            .to_owned()
    })
    .collect();
    assert_eq!(
        names,
        [
            "softirq_delay",
            "nic_ring_overflow",
            "cpu_backlog_overflow",
            "socket_rcvbuf_overflow",
            "netfilter_drop",
            "other_kernel_drop",
            "app_stall",
            "vm_pause",
            "clock_step",
            "peer_or_upstream",
            "unknown",
        ]
    );
    for c in [Cause::SoftirqDelay, Cause::Unknown] {
        assert_eq!(serde_json::to_value(c).expect("json"), c.as_str());
    }
}

#[test]
fn a_stopped_reader_with_a_full_buffer_is_app_stall_even_when_it_read_at_the_edges() {
    // SIGSTOP of the receiver: its buffer fills and refuses the rest; the reads the port watch
    // saw are the drain at the gap's edges. Every thread was off CPU for most of the gap.
    let mut e = base();
    let f = flow(&mut e);
    f.seen_at_device = 14;
    f.queued_to_socket = 4;
    f.read_by_app = 4;
    f.dropped = vec![("SOCKET_RCVBUFF".into(), 22)];
    e.app_off_cpu_max_ns = Some(2900 * MS);
    e.app_all_threads_off_ns = Some(2900 * MS);
    let j = judge(&e);
    assert_eq!(j[0].cause, Cause::AppStall, "{j:?}");
    assert!(j[0].evidence.iter().any(|l| l.contains("off CPU")), "{j:?}");
    let rcvbuf = j
        .iter()
        .find(|x| x.cause == Cause::SocketRcvbufOverflow)
        .expect("rcvbuf finding");
    assert!(rcvbuf.confidence <= 0.3, "a consequence: {j:?}");

    // One idle thread of a busy daemon is no stall: the others ran, so the buffer overflowed
    // while it was being read.
    e.app_all_threads_off_ns = Some(10 * MS);
    assert_eq!(top(&e), Cause::SocketRcvbufOverflow);
}

#[test]
fn a_reader_blocked_while_net_rx_runs_late_is_not_a_stall() {
    // The lab's fault on 6.1: an RT busy loop holds the CPU that takes the NIC's interrupts, so
    // ksoftirqd polls the queues late and no heartbeat reaches the device for most of the gap.
    // The receiver sleeps in recv all the while, every thread off CPU, as a stopped one would be.
    let mut e = base();
    e.net_rx[0].window_wait_max_ns = 2900 * MS;
    e.net_rx[0].window_wait_p99_ns = 300_000;
    e.net_rx[0].baseline_wait_p99_ns = 1_500_000;
    e.net_rx[0].ksoftirqd = Counter {
        window: 7,
        baseline_per_s: 0.5,
    };
    e.app_off_cpu_max_ns = Some(2000 * MS);
    e.app_all_threads_off_ns = Some(2000 * MS);
    // Other sockets' buffers overflowed meanwhile (the bulk flows' sink): not the heartbeats'.
    e.udp_rcvbuf_errors = Counter {
        window: 210,
        baseline_per_s: 0.0,
    };
    let j = judge(&e);
    assert_eq!(j[0].cause, Cause::SoftirqDelay, "{j:?}");
    assert!(j[0].confidence >= 0.8, "{j:?}");
    assert!(
        !j[0].evidence.iter().any(|l| l == rules::CONSEQUENCE),
        "the delay is no consequence of a stall: {j:?}"
    );
    assert!(rank(&e, Cause::AppStall) > 0, "{j:?}");

    // The same sleep with NET_RX on time: nothing held the heartbeats on this host, and a
    // process off CPU for two intervals could not time its peer either.
    e.net_rx[0].window_wait_max_ns = 40_000;
    assert_eq!(top(&e), Cause::AppStall, "{:?}", judge(&e));
    // Heartbeats queued unread while NET_RX was late: they reached the socket, so the
    // application is why.
    e.net_rx[0].window_wait_max_ns = 2900 * MS;
    let f = flow(&mut e);
    f.seen_at_device = 3;
    f.queued_to_socket = 3;
    assert_eq!(top(&e), Cause::AppStall, "{:?}", judge(&e));
}

#[test]
fn a_reader_blocked_while_a_firewall_takes_its_heartbeats_is_not_a_stall() {
    // The demo's receiver sleeps in recv for the whole gap: every thread off CPU, as a stopped
    // one would be; the flow says why nothing came.
    let mut e = base();
    let f = flow(&mut e);
    f.seen_at_device = 15;
    f.dropped = vec![("NETFILTER_DROP".into(), 15)];
    e.app_all_threads_off_ns = Some(2900 * MS);
    assert_eq!(top(&e), Cause::NetfilterDrop, "{:?}", judge(&e));
    // Stopped with its heartbeats queued unread: the stall is the cause.
    let mut e = base();
    let f = flow(&mut e);
    f.seen_at_device = 3;
    f.queued_to_socket = 3;
    e.app_all_threads_off_ns = Some(2900 * MS);
    assert_eq!(top(&e), Cause::AppStall, "{:?}", judge(&e));
}
