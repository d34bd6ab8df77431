//! Root: the NAPI probe on a device NAPI instance. With GRO on the receiving veth (and TSO off on
//! the sender, so the packets qualify), veth delivers through its own NAPI instead of the per-CPU
//! backlog; the test checks the instance's key (ifindex and namespace of veth-b, read from the
//! namespace itself), that every packet is counted as NAPI work, and that poll time is measured
//! and never exceeds the NET_RX run time of the same CPU (polls run inside NET_RX). The classic
//! fallback (no BTF) names the device only, so veth-b, in another namespace, is counted under
//! the one "other namespaces" key.

use std::{collections::BTreeMap, net::UdpSocket, os::unix::fs::MetadataExt as _, time::Duration};

use hbwatch::{
    collectors::host::HostRoot,
    probes::{ProbeOptions, Probes},
    recording::records::{NAPI_OTHER_NETNS, Record},
};
use hbwatch_tests::{
    netns::{NetnsPair, in_netns, run},
    require_root,
};

const NET_RX: u8 = 3;
const PACKETS: u32 = 3_000;

#[test]
fn device_napi_is_keyed_counted_and_timed_within_net_rx() {
    if !require_root("device_napi_is_keyed_counted_and_timed_within_net_rx") {
        return;
    }
    device_case(false, 41_220, 181);
}

#[test]
fn classic_napi_counts_polls_by_device_name() {
    if !require_root("classic_napi_counts_polls_by_device_name") {
        return;
    }
    device_case(true, 41_221, 182);
}

fn device_case(no_btf: bool, port: u16, subnet: u8) {
    let pair = NetnsPair::new(&format!("hbw-napi{subnet}"), subnet);
    run(&[
        "ip", "netns", "exec", &pair.a, "ethtool", "-K", "veth-a", "tso", "off",
    ]);
    run(&[
        "ip", "netns", "exec", &pair.b, "ethtool", "-K", "veth-b", "gro", "on",
    ]);
    // `ip -o link` starts with "<ifindex>: veth-b@…" (sysfs shows the host's namespace).
    let out = run(&["ip", "-n", &pair.b, "-o", "link", "show", "veth-b"]);
    let ifindex: u32 = String::from_utf8_lossy(&out.stdout)
        .split(':')
        .next()
        .and_then(|n| n.trim().parse().ok())
        .expect("ifindex of veth-b");
    let netns = std::fs::metadata(format!("/run/netns/{}", pair.b))
        .expect("namespace file")
        .ino() as u32;

    let opts = ProbeOptions {
        no_btf,
        // Every NET_RX run timed, so every poll inside one is (the budget's sampling is
        // softirq_probe's test).
        softirq_timed_per_tick: 0,
        ..ProbeOptions::default()
    };
    let mut probes = Probes::load(&HostRoot::default(), &opts).expect("loading probes");
    // Hard IRQs attach in both modes (classic: `irq` from the record's format offsets).
    for s in &probes.statuses {
        if s.collector == "hardirq" || s.collector == "napi" {
            assert_ne!(
                s.state,
                hbwatch::recording::records::CollectorState::Unavailable,
                "{}: {}",
                s.collector,
                s.detail
            );
        }
    }
    // What the key of veth-b's polls must be.
    let (want_ifindex, want_netns) = if no_btf {
        (0, NAPI_OTHER_NETNS)
    } else {
        (ifindex, netns)
    };
    // Baselines softirq first and, at the end, NAPI first: a NET_RX run ending between the two
    // reads then only ever adds to the softirq side of the comparison below.
    let _ = probes
        .softirq
        .as_mut()
        .expect("softirq probe attached")
        .read_interval(hbwatch::clock::mono_ns());
    let _ = probes.packet.tick(hbwatch::clock::mono_ns());

    let (b, b_ip) = (pair.b.clone(), pair.b_ip.clone());
    let receiver = std::thread::spawn(move || {
        in_netns(&b, move || {
            let s = UdpSocket::bind(format!("{b_ip}:{port}")).expect("bind receiver");
            s.set_read_timeout(Some(Duration::from_secs(2)))
                .expect("timeout");
            let mut buf = [0u8; 64];
            let mut n = 0u32;
            while n < PACKETS && s.recv(&mut buf).is_ok() {
                n += 1;
            }
            n
        })
    });
    std::thread::sleep(Duration::from_millis(100));
    let dst = format!("{}:{port}", pair.b_ip);
    in_netns(&pair.a, move || {
        let s = UdpSocket::bind("0.0.0.0:0").expect("bind sender");
        for i in 0..PACKETS {
            s.send_to(&i.to_le_bytes(), &dst).expect("send");
            if i % 64 == 0 {
                std::thread::sleep(Duration::from_micros(200));
            }
        }
    });
    let received = receiver.join().expect("receiver thread");
    assert!(received > 0, "the receiver got nothing");
    let now = hbwatch::clock::mono_ns();
    let (records, errors) = probes.packet.tick(now);
    assert!(errors.is_empty(), "map reads failed: {errors:?}");
    let softirq = probes
        .softirq
        .as_mut()
        .expect("softirq probe attached")
        .read_interval(now)
        .expect("softirq read");

    let mut ours = BTreeMap::new(); // cpu → (polls, work, timed, time_sum)
    let mut napi_time_per_cpu = BTreeMap::<u32, u64>::new();
    for r in &records {
        if let Record::Napi(iv) = r {
            for c in &iv.cells {
                *napi_time_per_cpu.entry(c.cpu).or_default() += c.time_sum_ns;
                if c.ifindex == want_ifindex && c.netns == want_netns {
                    let e = ours.entry(c.cpu).or_insert((0u64, 0u64, 0u64, 0u64));
                    e.0 += c.polls;
                    e.1 += c.work;
                    e.2 += c.timed_polls;
                    e.3 += c.time_sum_ns;
                }
            }
        }
    }
    let (polls, work, timed, time): (u64, u64, u64, u64) =
        ours.values().fold((0, 0, 0, 0), |a, v| {
            (a.0 + v.0, a.1 + v.1, a.2 + v.2, a.3 + v.3)
        });
    assert!(
        polls > 0,
        "no poll of veth-b's NAPI (ifindex {ifindex}, netns {netns}) in {records:?}"
    );
    assert!(
        work >= u64::from(PACKETS),
        "NAPI work {work} < {PACKETS} packets sent"
    );
    // veth polls from NET_RX here (no threaded NAPI): nearly every poll is timed.
    assert!(timed * 10 >= polls * 9, "timed {timed} of {polls} polls");
    assert!(time > 0, "no poll time measured");
    for (cpu, napi_ns) in &napi_time_per_cpu {
        let net_rx_run: u64 = softirq
            .cells
            .iter()
            .filter(|c| c.cpu == *cpu && c.vector == NET_RX)
            .map(|c| c.run_sum_ns)
            .sum();
        assert!(
            *napi_ns <= net_rx_run,
            "CPU {cpu}: NAPI poll time {napi_ns} ns exceeds NET_RX run time {net_rx_run} ns"
        );
    }
}
