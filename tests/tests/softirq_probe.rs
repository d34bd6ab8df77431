//! Root: the real softirq programs load, attach, count NET_RX softirqs caused by UDP traffic across
//! a veth pair between two namespaces made here, and leave nothing loaded when dropped.

use std::{
    net::UdpSocket,
    time::{Duration, Instant},
};

use hbwatch::{
    collectors::host::HostRoot,
    probes::{AttachMode, ProbeOptions, Probes},
};
use hbwatch_tests::{
    netns::{NetnsPair, in_netns},
    require_root,
};

/// Sends UDP datagrams from namespace `a` to `b` for `dur`; returns how many were sent.
fn udp_flood(pair: &NetnsPair, port: u16, dur: Duration) -> u64 {
    let dst = format!("{}:{port}", pair.b_ip);
    in_netns(&pair.a, move || {
        let s = UdpSocket::bind("0.0.0.0:0").expect("bind");
        let t0 = Instant::now();
        let mut n = 0u64;
        while t0.elapsed() < dur {
            if s.send_to(&[0u8; 64], &dst).is_ok() {
                n += 1;
            }
        }
        n
    })
}

fn net_rx_entries(iv: &hbwatch::recording::records::SoftirqInterval, net_rx: u8) -> u64 {
    iv.cells
        .iter()
        .filter(|c| c.vector == net_rx)
        .map(|c| c.entries)
        .sum()
}

fn check_mode(opts: ProbeOptions, want: AttachMode, tag: &str, subnet: u8) {
    let host = HostRoot::default();
    let net_rx = host
        .softirq_vectors()
        .iter()
        .position(|v| v == "NET_RX")
        .expect("NET_RX in /proc/softirqs") as u8;
    let pair = NetnsPair::new(tag, subnet);
    let mut probes = Probes::load(&host, &opts).unwrap_or_else(|e| panic!("loading probes: {e}"));
    assert_eq!(probes.mode, want);
    let ids = probes.program_ids();
    assert!(ids.len() >= 3, "programs loaded: {ids:?}");

    let _ = probes
        .softirq
        .as_mut()
        .expect("softirq probe attached")
        .read_interval(hbwatch::clock::mono_ns())
        .expect("first read");
    let sent = udp_flood(&pair, 40_001, Duration::from_millis(800));
    let iv = probes
        .softirq
        .as_mut()
        .expect("softirq probe attached")
        .read_interval(hbwatch::clock::mono_ns())
        .expect("read");
    let rx = net_rx_entries(&iv, net_rx);
    assert!(sent > 1000, "sent only {sent} datagrams");
    assert!(
        rx > 50,
        "NET_RX entries {rx} after {sent} datagrams across the veth"
    );
    let cell = iv
        .cells
        .iter()
        .find(|c| c.vector == net_rx)
        .expect("NET_RX cell");
    assert!(
        cell.run_hist.total() > 0 && cell.run_sum_ns > 0,
        "run time histogram empty: {cell:?}"
    );

    drop(probes);
    // The kernel frees programs after an RCU grace period once the last fd closes: poll briefly.
    let t0 = Instant::now();
    let still = loop {
        let still: Vec<u32> = aya::programs::loaded_programs()
            .filter_map(Result::ok)
            .map(|p| p.id())
            .filter(|id| ids.contains(id))
            .collect();
        if still.is_empty() || t0.elapsed() > Duration::from_secs(5) {
            break still;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        still.is_empty(),
        "programs still loaded 5 s after drop: {still:?}"
    );
}

#[test]
fn btf_tracepoints_count_net_rx_and_detach() {
    if !require_root("btf_tracepoints_count_net_rx_and_detach") {
        return;
    }
    check_mode(
        ProbeOptions::default(),
        AttachMode::BtfTracepoint,
        "hbw-sirq-btf",
        11,
    );
}

#[test]
fn classic_tracepoints_count_net_rx_and_detach() {
    if !require_root("classic_tracepoints_count_net_rx_and_detach") {
        return;
    }
    check_mode(
        ProbeOptions {
            no_btf: true,
            ..ProbeOptions::default()
        },
        AttachMode::Classic,
        "hbw-sirq-tp",
        12,
    );
}

/// NET_RX softirqs executed on all CPUs so far, from /proc/softirqs.
fn proc_net_rx() -> u64 {
    let text = std::fs::read_to_string("/proc/softirqs").expect("reading /proc/softirqs");
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("NET_RX:"))
        .expect("NET_RX in /proc/softirqs");
    line.split_whitespace()
        .skip(1)
        .map(|n| n.parse::<u64>().expect("a count"))
        .sum()
}

#[test]
fn a_timing_budget_samples_latency_and_keeps_counts_exact() {
    if !require_root("a_timing_budget_samples_latency_and_keeps_counts_exact") {
        return;
    }
    let host = HostRoot::default();
    let net_rx = host
        .softirq_vectors()
        .iter()
        .position(|v| v == "NET_RX")
        .expect("NET_RX in /proc/softirqs") as u8;
    let pair = NetnsPair::new("hbw-sirq-bud", 13);
    // One timed softirq per tick, CPU and vector: a flood is far over it.
    let opts = ProbeOptions {
        softirq_timed_per_tick: 1,
        ..ProbeOptions::default()
    };
    let mut probes = Probes::load(&host, &opts).unwrap_or_else(|e| panic!("loading probes: {e}"));
    let sirq = probes.softirq.as_mut().expect("softirq probe attached");
    // /proc first, probe last at the start and the other way round at the end, so the kernel's
    // window holds the probe's.
    let before = proc_net_rx();
    let _ = sirq
        .read_interval(hbwatch::clock::mono_ns())
        .expect("first read");
    let sent = udp_flood(&pair, 40_002, Duration::from_millis(800));
    // Let the last softirqs exit before either count is read.
    std::thread::sleep(Duration::from_millis(50));
    let iv = sirq.read_interval(hbwatch::clock::mono_ns()).expect("read");
    let after = proc_net_rx();
    let kernel = after - before;
    let rx = net_rx_entries(&iv, net_rx);
    let timed: u64 = iv
        .cells
        .iter()
        .filter(|c| c.vector == net_rx)
        .map(|c| c.run_hist.total())
        .sum();
    assert!(sent > 1000, "sent only {sent} datagrams");
    // Other programs' traffic counts in both; only the softirqs between a probe read and a /proc
    // read (and one in flight per CPU: /proc counts at entry, the probe at exit) may differ.
    assert!(
        rx <= kernel + 4 && rx + kernel / 100 + 100 >= kernel,
        "NET_RX entries {rx} against the kernel's {kernel} after {sent} datagrams"
    );
    assert!(
        timed > 0 && timed < rx / 2,
        "timed {timed} of {rx} NET_RX softirqs with one timed per tick"
    );
}
