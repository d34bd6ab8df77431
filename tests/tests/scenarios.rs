//! Real fault scenarios as root: a 100 ms UDP heartbeat between namespaces, one fault each,
//! recorded by `hbwatch record`; each asserts the gap, the kernel evidence and the top cause.

use std::{net::UdpSocket, time::Duration};

use hbwatch::demo::lab::NftDrop;
use hbwatch_tests::{
    global_lock,
    netns::{in_netns, run},
    require_root,
    scenario::{Scenario, causes, gaps, port_drops},
};
use serde_json::Value;

const SLEEP_FAULT: Duration = Duration::from_millis(1500);

/// The top cause of every diagnosed gap.
fn top_causes(j: &Value) -> Vec<String> {
    causes(j)
        .into_iter()
        .map(|c| c.first().cloned().unwrap_or_default())
        .collect()
}

#[test]
fn rcvbuf_overflow_on_the_heartbeat_port() {
    if !require_root("rcvbuf_overflow_on_the_heartbeat_port") {
        return;
    }
    const PORT: u16 = 41_211;
    // A small buffer and a reader pausing 2 ms per datagram: fine for 10 heartbeats a second,
    // overwhelmed by a flood from another peer to the same port.
    let mut sc = Scenario::start(
        "hbc-sc-rcvbuf",
        181,
        PORT,
        &["--rcvbuf", "2048", "--read-delay", "2ms"],
    );
    let j = sc.record(8, &[], |sc| {
        sc.flood(SLEEP_FAULT, "0s");
        std::thread::sleep(SLEEP_FAULT + Duration::from_millis(300));
    });
    let drops = port_drops(&j, PORT, "SOCKET_RCVBUFF");
    let lost = j["lost_events"]["port-events"].as_u64().unwrap_or(0);
    eprintln!("SOCKET_RCVBUFF drops on the port: {drops}; port events lost: {lost}");
    assert!(drops > 100, "no receive-buffer overflow: {drops}");
    assert!(!gaps(&j).is_empty(), "no heartbeat gap during the flood");
    let c = causes(&j);
    // The flood outruns the port-event ring (256 KiB, read once a second), so later gaps may
    // miss the reads that show the application kept reading; the first gap opens before that.
    assert_eq!(c[0][0], "socket_rcvbuf_overflow", "{c:?}");
    for g in &c {
        assert!(g.iter().any(|x| x == "socket_rcvbuf_overflow"), "{c:?}");
    }
}

/// Lowers net.core.netdev_max_backlog; restores it on drop, even when the test fails.
struct BacklogGuard(String);

impl BacklogGuard {
    fn set(v: u32) -> BacklogGuard {
        let path = "/proc/sys/net/core/netdev_max_backlog";
        let old = std::fs::read_to_string(path).expect("read netdev_max_backlog");
        std::fs::write(path, v.to_string()).expect("set netdev_max_backlog");
        BacklogGuard(old.trim().to_owned())
    }
}

impl Drop for BacklogGuard {
    fn drop(&mut self) {
        let _ = std::fs::write("/proc/sys/net/core/netdev_max_backlog", &self.0);
    }
}

/// Pins the calling thread to `cpu`.
fn pin_to(cpu: usize) {
    pin_pid_to(0, cpu);
}

/// Pins process (or thread) `pid` to `cpu` (0: the calling thread).
fn pin_pid_to(pid: u32, cpu: usize) {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; the pointers are valid for the call.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        let rc = libc::sched_setaffinity(pid as libc::pid_t, size_of::<libc::cpu_set_t>(), &set);
        assert_eq!(
            rc,
            0,
            "sched_setaffinity: {}",
            std::io::Error::last_os_error()
        );
    }
}

/// Steers everything veth-b receives to CPU 0 with RPS (veth delivers through the per-CPU
/// backlog), then floods from threads on CPU 1 to `port` for `for_`.
fn steer_and_flood(sc: &Scenario, port: u16, threads: usize, for_: Duration) {
    run(&[
        "ip",
        "netns",
        "exec",
        &sc.pair.b,
        "sh",
        "-c",
        "echo 1 > /sys/class/net/veth-b/queues/rx-0/rps_cpus",
    ]);
    let dst = format!("{}:{port}", sc.pair.b_ip);
    let hs: Vec<_> = (0..threads)
        .map(|_| {
            let (ns, dst) = (sc.pair.a.clone(), dst.clone());
            std::thread::spawn(move || {
                in_netns(&ns, move || {
                    pin_to(1);
                    let s = UdpSocket::bind("0.0.0.0:0").expect("bind flood");
                    let t0 = std::time::Instant::now();
                    while t0.elapsed() < for_ {
                        let _ = s.send_to(&[0u8; 32], &dst);
                    }
                })
            })
        })
        .collect();
    for h in hs {
        h.join().expect("flood thread");
    }
}

fn two_cpus(test: &str) -> bool {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    if n < 2 {
        eprintln!("SKIP {test}: needs 2 CPUs to steer a flood onto one");
    }
    n >= 2
}

#[test]
fn cpu_backlog_overflow() {
    if !require_root("cpu_backlog_overflow") || !two_cpus("cpu_backlog_overflow") {
        return;
    }
    const PORT: u16 = 41_221;
    let _lock = global_lock("netdev_max_backlog");
    let mut sc = Scenario::start("hbw-sc-backlog", 182, PORT, &[]);
    // The heartbeat sender runs on CPU 0, whose backlog the flood from CPU 1 keeps full: its
    // datagrams are enqueued there between drains. (On CPU 1 it would only run while the flood
    // threads do not, and find room.)
    pin_pid_to(sc.send.pid(), 0);
    let j = {
        let _g = BacklogGuard::set(1);
        // A gap is one lost heartbeat (silence > 1.5 × 100 ms): the backlog, refilled by the
        // flood, takes some heartbeats but rarely two in a row.
        sc.record(9, &["--gap-factor", "1.5"], |sc| {
            // To another port, so only the CPU backlog (not the receiver's buffer) overflows.
            steer_and_flood(sc, PORT + 1, 3, Duration::from_secs(3));
            std::thread::sleep(Duration::from_millis(300));
        })
    };
    let backlog: u64 = j["packet"]["drops_by_reason"]
        .as_array()
        .expect("drops_by_reason")
        .iter()
        .filter(|r| r["reason"] == "CPU_BACKLOG")
        .map(|r| r["count"].as_u64().unwrap_or(0))
        .sum();
    let on_port = port_drops(&j, PORT, "CPU_BACKLOG");
    eprintln!("CPU_BACKLOG drops: {backlog}, of heartbeats: {on_port}");
    assert!(on_port >= 1, "no heartbeat dropped by the backlog");
    // Every gap whose heartbeats the backlog dropped is blamed on it.
    let dg = j["diagnosis"]["gaps"].as_array().expect("diagnosis.gaps");
    let backlog_gaps: Vec<&Value> = dg
        .iter()
        .filter(|g| {
            g["flow"]["dropped"]
                .as_array()
                .is_some_and(|d| d.iter().any(|r| r[0] == "CPU_BACKLOG"))
        })
        .collect();
    assert!(
        !backlog_gaps.is_empty(),
        "no gap with backlog drops: {:?}",
        causes(&j)
    );
    for g in backlog_gaps {
        assert_eq!(g["findings"][0]["cause"], "cpu_backlog_overflow", "{g:#}");
    }
}

#[test]
fn softirq_delay_under_a_flood_on_the_heartbeat_cpu() {
    if !require_root("softirq_delay_under_a_flood_on_the_heartbeat_cpu")
        || !two_cpus("softirq_delay_under_a_flood_on_the_heartbeat_cpu")
    {
        return;
    }
    const PORT: u16 = 41_231;
    // The backlog is left as it is; nothing else here touches it, but it shares CPU 0's.
    let _lock = global_lock("netdev_max_backlog");
    let mut sc = Scenario::start("hbw-sc-softirq", 183, PORT, &[]);
    // What the flood does to CPU 0's NET_RX depends on what else the machine runs: across runs
    // on this VM the worst wait went from 60 µs to 12 ms and the worst run from 0.3 to 9 ms, one
    // high when the other was low. The test wants softirq latency (the worst of the two, the
    // DPC-latency figure) of hundreds of µs, and the worst wait far above the median one; a run
    // in which the flood did not get there is tried once more, and that run's figures stand.
    // Every run's gaps must be judged right.
    let mut attempt = 1;
    let cpu0 = loop {
        let j = sc.record(8, &["--softirq-threshold", "1ms"], |sc| {
            steer_and_flood(sc, PORT + 1, 3, SLEEP_FAULT);
            std::thread::sleep(Duration::from_millis(300));
        });
        let cpu0 = net_rx_on_cpu0(&j);
        eprintln!(
            "gaps under the flood: {:?}; causes {:?}",
            gaps(&j),
            causes(&j)
        );
        // NET_RX waits of a few ms do not silence a 100 ms heartbeat on this kernel; where a gap
        // did open, the verdict must name the CPU's packet processing, not the application or
        // the peer.
        for c in top_causes(&j) {
            assert!(
                c == "softirq_delay" || c == "cpu_backlog_overflow",
                "{:?}",
                causes(&j)
            );
        }
        if attempt == 2 || softirq_latency_reached(&cpu0) {
            break cpu0;
        }
        eprintln!("the flood did not delay CPU 0's NET_RX enough: {cpu0}; once more");
        attempt += 1;
    };
    // The flood really loaded NET_RX on the heartbeat's CPU and pushed it to ksoftirqd.
    assert!(cpu0["count"].as_u64().unwrap_or(0) > 1000, "{cpu0}");
    assert!(cpu0["ksoftirqd"].as_u64().unwrap_or(0) > 0, "{cpu0}");
    let ns = |side: &str, what: &str| cpu0[side][what].as_u64().unwrap_or(0);
    assert!(
        ns("wait_ns", "max_ns").max(ns("run_ns", "max_ns")) >= 250_000,
        "{cpu0}"
    );
    assert!(
        ns("wait_ns", "max_ns") >= 10 * ns("wait_ns", "p50_ns").max(1),
        "{cpu0}"
    );
}

/// CPU 0's NET_RX row of a report (printing every CPU's).
fn net_rx_on_cpu0(j: &Value) -> Value {
    let rows = j["softirq"]["by_cpu"].as_array().expect("by_cpu");
    for r in rows.iter().filter(|r| r["vector"] == "NET_RX") {
        eprintln!(
            "NET_RX cpu {}: count {} ksoftirqd {} wait p99 {} max {} run max {}",
            r["cpu"],
            r["count"],
            r["ksoftirqd"],
            r["wait_ns"]["p99_ns"],
            r["wait_ns"]["max_ns"],
            r["run_ns"]["max_ns"]
        );
    }
    rows.iter()
        .find(|r| r["vector"] == "NET_RX" && r["cpu"] == 0)
        .expect("NET_RX on CPU 0")
        .clone()
}

/// The flood loaded CPU 0's NET_RX, pushed it to ksoftirqd and delayed it as the test wants.
fn softirq_latency_reached(cpu0: &Value) -> bool {
    let n = |k: &str| cpu0[k].as_u64().unwrap_or(0);
    let ns = |side: &str, what: &str| cpu0[side][what].as_u64().unwrap_or(0);
    n("count") > 1000
        && n("ksoftirqd") > 0
        && ns("wait_ns", "max_ns").max(ns("run_ns", "max_ns")) >= 250_000
        && ns("wait_ns", "max_ns") >= 10 * ns("wait_ns", "p50_ns").max(1)
}

#[test]
fn receiver_stopped_is_an_app_stall() {
    if !require_root("receiver_stopped_is_an_app_stall") {
        return;
    }
    const PORT: u16 = 41_241;
    let mut sc = Scenario::start("hbw-sc-stall", 184, PORT, &[]);
    let j = sc.record(7, &[], |sc| {
        sc.recv.stop().expect("SIGSTOP receiver");
        std::thread::sleep(SLEEP_FAULT);
        sc.recv.resume().expect("SIGCONT receiver");
    });
    let g = gaps(&j);
    assert_eq!(g.len(), 1, "{g:?}");
    assert!((1.3..2.2).contains(&g[0].1), "gap {} s", g[0].1);
    let c = causes(&j);
    assert_eq!(c.len(), 1, "{c:?}");
    assert_eq!(c[0][0], "app_stall", "{c:?}");
    // A network finding may be listed (the stall also shows in the kernel), never level with it.
    let f = j["diagnosis"]["gaps"][0]["findings"]
        .as_array()
        .expect("findings");
    let top = f[0]["confidence"].as_f64().expect("confidence");
    for x in &f[1..] {
        assert!(
            x["confidence"].as_f64().expect("confidence") < top,
            "a network cause ranks with the stall: {f:#?}"
        );
    }
}

#[test]
fn nftables_drop_is_netfilter() {
    if !require_root("nftables_drop_is_netfilter") {
        return;
    }
    const PORT: u16 = 41_251;
    let mut sc = Scenario::start("hbw-sc-nft", 185, PORT, &[]);
    let j = sc.record(7, &[], |sc| {
        let rule = NftDrop::add(&sc.pair.b, "hbw_sc_nft", PORT).expect("nft rule");
        std::thread::sleep(SLEEP_FAULT);
        drop(rule);
    });
    let drops = port_drops(&j, PORT, "NETFILTER_DROP");
    eprintln!("NETFILTER_DROP on the port: {drops}");
    assert!((10..=17).contains(&drops), "{drops}");
    let g = gaps(&j);
    assert_eq!(g.len(), 1, "{g:?}");
    assert_eq!(top_causes(&j), ["netfilter_drop"], "{:?}", causes(&j));
}

#[test]
fn sender_stopped_is_peer_or_upstream() {
    if !require_root("sender_stopped_is_peer_or_upstream") {
        return;
    }
    const PORT: u16 = 41_261;
    let mut sc = Scenario::start("hbw-sc-peer", 186, PORT, &[]);
    let j = sc.record(7, &[], |sc| {
        sc.send.stop().expect("SIGSTOP sender");
        std::thread::sleep(SLEEP_FAULT);
        sc.send.resume().expect("SIGCONT sender");
    });
    let g = gaps(&j);
    assert_eq!(g.len(), 1, "{g:?}");
    assert_eq!(top_causes(&j), ["peer_or_upstream"], "{:?}", causes(&j));
}
