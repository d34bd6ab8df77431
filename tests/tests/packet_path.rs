//! Root: the packet-path probes against the kernel's own counters, with traffic across a veth
//! pair between namespaces made here. UDP receive-buffer drops on a port equal the change of
//! `Udp: RcvbufErrors`; CPU_BACKLOG drops equal the change of softnet_stat `dropped`; a heartbeat
//! stream to a watched port yields seen/queued/read events per packet.

use std::{
    net::UdpSocket,
    os::fd::AsRawFd as _,
    sync::Mutex,
    time::{Duration, Instant},
};

use hbwatch::{
    analysis::PacketSummary,
    collectors::host::HostRoot,
    probes::{ProbeOptions, Probes, portwatch::WatchPort},
    recording::records::{PortPacketEvent, PortStage, Record},
};
use hbwatch_tests::{
    netns::{NetnsPair, in_netns, run, udp_receiver},
    require_root,
};

/// These tests share the per-CPU backlog (one lowers netdev_max_backlog): run one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Ticks the packet probes once, folds the records and returns the port events.
fn tick(probes: &mut Probes, sum: &mut PacketSummary) -> Vec<PortPacketEvent> {
    let (records, errors) = probes.packet.tick(hbwatch::clock::mono_ns());
    assert!(errors.is_empty(), "map reads failed: {errors:?}");
    let mut events = Vec::new();
    for r in records {
        match r {
            Record::Drops(iv) => sum.add_drops(&iv),
            Record::Napi(iv) => sum.add_napi(&iv),
            Record::PortPacket(e) => {
                sum.add_port_event(&e);
                events.push(e);
            }
            Record::PortFlows(iv) => sum.add_port_flows(&iv),
            Record::Lost(l) => panic!("lost {} port events", l.count),
            _ => {}
        }
    }
    events
}

/// `Udp: RcvbufErrors` of the calling thread's network namespace.
fn udp_rcvbuf_errors() -> u64 {
    let text = std::fs::read_to_string("/proc/thread-self/net/snmp").expect("read snmp");
    let mut udp = text.lines().filter(|l| l.starts_with("Udp: "));
    let names: Vec<&str> = udp.next().expect("Udp header").split_whitespace().collect();
    let values: Vec<&str> = udp.next().expect("Udp values").split_whitespace().collect();
    let i = names
        .iter()
        .position(|n| *n == "RcvbufErrors")
        .expect("RcvbufErrors column");
    values[i].parse().expect("number")
}

/// Sum of the `dropped` column (second, hex) of /proc/net/softnet_stat over all CPUs.
fn softnet_dropped() -> u64 {
    std::fs::read_to_string("/proc/net/softnet_stat")
        .expect("read softnet_stat")
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .map(|h| u64::from_str_radix(h, 16).expect("hex"))
        .sum()
}

fn load(watch: Vec<WatchPort>) -> Probes {
    load_mode(watch, false)
}

/// `no_btf`: the classic-tracepoint fallback, whose drop collectors run degraded (no device,
/// queue or per-port drop counts) by design.
fn load_mode(watch: Vec<WatchPort>, no_btf: bool) -> Probes {
    load_opts(ProbeOptions {
        watch_ports: watch,
        no_btf,
        ..Default::default()
    })
}

fn load_opts(opts: ProbeOptions) -> Probes {
    let no_btf = opts.no_btf;
    let probes = Probes::load(&HostRoot::default(), &opts).expect("loading probes");
    let want = if no_btf {
        hbwatch::recording::records::CollectorState::Degraded
    } else {
        hbwatch::recording::records::CollectorState::Running
    };
    for s in &probes.statuses {
        if s.collector.starts_with("drops") || s.collector.starts_with("portwatch") {
            assert_eq!(s.state, want, "{}: {}", s.collector, s.detail);
        }
    }
    probes
}

/// Shrinks a socket's receive buffer to the kernel's minimum, so a few datagrams fill it.
fn smallest_rcvbuf(s: &UdpSocket) {
    let size: libc::c_int = 1;
    // SAFETY: valid socket fd and a pointer to a c_int of the stated length.
    let rc = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&size as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "SO_RCVBUF");
}

fn udp_burst(pair: &NetnsPair, port: u16, count: u32, pause: Duration) {
    let dst = format!("{}:{port}", pair.b_ip);
    in_netns(&pair.a, move || {
        let s = UdpSocket::bind("0.0.0.0:0").expect("bind sender");
        for i in 0..count {
            let _ = s.send_to(&i.to_le_bytes(), &dst);
            if !pause.is_zero() {
                std::thread::sleep(pause);
            }
        }
    });
}

#[test]
fn udp_rcvbuf_drops_equal_snmp_rcvbuf_errors() {
    if !require_root("udp_rcvbuf_drops_equal_snmp_rcvbuf_errors") {
        return;
    }
    rcvbuf_case(false, 41_101, 171, 0);
}

/// Under the default detail budget a 3000-datagram burst is mostly counted by reason only:
/// totals by reason stay exact, the port's kfree_skb share is a sample (udp_fail stays exact).
#[test]
fn rcvbuf_drops_over_the_detail_budget_keep_exact_totals() {
    if !require_root("rcvbuf_drops_over_the_detail_budget_keep_exact_totals") {
        return;
    }
    rcvbuf_case(
        false,
        41_103,
        173,
        agent_common::drops::DROP_DETAIL_PER_TICK,
    );
}

#[test]
fn classic_tracepoints_count_rcvbuf_drops_exactly() {
    if !require_root("classic_tracepoints_count_rcvbuf_drops_exactly") {
        return;
    }
    rcvbuf_case(true, 41_105, 175, 0);
}

/// `detail`: kfree_skb drops per tick counted with their ports (0: all).
fn rcvbuf_case(no_btf: bool, port: u16, subnet: u8, detail: u32) {
    let _g = serial();
    let pair = NetnsPair::new(&format!("hbc-kd-rcvbuf{subnet}"), subnet);
    let mut probes = load_opts(ProbeOptions {
        no_btf,
        drop_detail_per_tick: detail,
        ..Default::default()
    });
    let mut sum = PacketSummary::default();
    sum.add_tables(&probes.packet.tables);
    // A receiver with the smallest receive buffer that never reads.
    let b_ip = pair.b_ip.clone();
    let (sock, before) = in_netns(&pair.b, move || {
        let s = UdpSocket::bind(format!("{b_ip}:{port}")).expect("bind receiver");
        smallest_rcvbuf(&s);
        (s, udp_rcvbuf_errors())
    });
    tick(&mut probes, &mut sum);
    let base = sum.udp_rcvbuf_drops(port);
    let base_reason = sum.drops_with_reason("SOCKET_RCVBUFF");
    udp_burst(&pair, port, 3000, Duration::ZERO);
    std::thread::sleep(Duration::from_millis(300));
    let after = in_netns(&pair.b, udp_rcvbuf_errors);
    tick(&mut probes, &mut sum);
    drop(sock);
    let got = sum.udp_rcvbuf_drops(port) - base;
    let want = after - before;
    eprintln!("rcvbuf drops on udp:{port}: hbwatch {got}, Udp RcvbufErrors delta {want}");
    assert!(
        want > 0,
        "the burst overflowed nothing: test setup is wrong"
    );
    assert_eq!(got, want);
    // The reason (named from BTF, or from the classic tracepoint's print format) covers at
    // least these drops (other sockets on the host may add their own).
    let by_reason = sum.drops_with_reason("SOCKET_RCVBUFF") - base_reason;
    assert!(
        by_reason >= want,
        "kfree_skb SOCKET_RCVBUFF drops {by_reason} < {want}"
    );
    if no_btf {
        return; // no per-port drop counts without BTF
    }
    // The same drops are seen by kfree_skb with their reason and port.
    let on_port: u64 = sum
        .port_drops
        .iter()
        .filter(|((p, pt, r), _)| *p == 17 && *pt == port && sum_reason(&probes, *r))
        .map(|(_, n)| n)
        .sum();
    if detail == 0 {
        assert_eq!(on_port, want, "kfree_skb SOCKET_RCVBUFF drops on the port");
    } else {
        // One burst spans a few ticks: a few budgets' worth read their ports, not 3000.
        assert!(
            on_port > 0 && on_port < want,
            "kfree_skb SOCKET_RCVBUFF drops on the port {on_port} of {want}, detail budget \
             {detail} per tick"
        );
    }
}

fn sum_reason(probes: &Probes, r: u32) -> bool {
    probes
        .packet
        .tables
        .drop_reasons
        .iter()
        .any(|(v, n)| *v == r && n == "SOCKET_RCVBUFF")
}

/// Keeps the calling thread off CPU 0 (where RPS sends the packets), so its sends only enqueue.
fn pin_off_cpu0() {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET/sched_setaffinity get valid pointers.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        let cpus = libc::sysconf(libc::_SC_NPROCESSORS_ONLN).max(1) as usize;
        for cpu in 1..cpus {
            libc::CPU_SET(cpu, &mut set);
        }
        let rc = libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &set);
        assert_eq!(
            rc,
            0,
            "sched_setaffinity: {}",
            std::io::Error::last_os_error()
        );
    }
}

/// Lowers net.core.netdev_max_backlog and restores it on drop, even when the test fails.
struct BacklogGuard(String);

impl BacklogGuard {
    fn set(v: u32) -> BacklogGuard {
        let path = "/proc/sys/net/core/netdev_max_backlog";
        let old = std::fs::read_to_string(path).expect("read netdev_max_backlog");
        std::fs::write(path, v.to_string()).expect("lower netdev_max_backlog");
        BacklogGuard(old.trim().to_owned())
    }
}

impl Drop for BacklogGuard {
    fn drop(&mut self) {
        let _ = std::fs::write("/proc/sys/net/core/netdev_max_backlog", &self.0);
    }
}

#[test]
fn cpu_backlog_drops_equal_softnet_dropped() {
    if !require_root("cpu_backlog_drops_equal_softnet_dropped") {
        return;
    }
    backlog_case(false, 41_102, 172);
}

#[test]
fn classic_tracepoints_count_backlog_drops_exactly() {
    if !require_root("classic_tracepoints_count_backlog_drops_exactly") {
        return;
    }
    backlog_case(true, 41_106, 176);
}

fn backlog_case(no_btf: bool, port: u16, subnet: u8) {
    // SAFETY: sysconf has no preconditions.
    if unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) } < 2 {
        eprintln!("SKIP backlog drops: needs 2 CPUs to fill a backlog");
        return;
    }
    let _g = serial();
    // Other test binaries lower the same sysctl (the scenarios).
    let _lock = hbwatch_tests::global_lock("netdev_max_backlog");
    let pair = NetnsPair::new(&format!("hbc-kd-backlog{subnet}"), subnet);
    // RPS steers every packet veth-b receives to CPU 0, so a sender on another CPU fills CPU 0's
    // backlog faster than it drains instead of draining it on each send.
    run(&[
        "ip",
        "netns",
        "exec",
        &pair.b,
        "sh",
        "-c",
        "echo 1 > /sys/class/net/veth-b/queues/rx-0/rps_cpus",
    ]);
    let mut probes = load_mode(Vec::new(), no_btf);
    let mut sum = PacketSummary::default();
    sum.add_tables(&probes.packet.tables);
    let guard = BacklogGuard::set(1);
    tick(&mut probes, &mut sum);
    let base = sum.drops_with_reason("CPU_BACKLOG");
    let before = softnet_dropped();
    let senders: Vec<_> = (0..2)
        .map(|_| {
            let dst = format!("{}:{port}", pair.b_ip);
            let ns = pair.a.clone();
            std::thread::spawn(move || {
                in_netns(&ns, move || {
                    pin_off_cpu0();
                    let s = UdpSocket::bind("0.0.0.0:0").expect("bind sender");
                    let t0 = Instant::now();
                    while t0.elapsed() < Duration::from_millis(700) {
                        let _ = s.send_to(&[0u8; 32], &dst);
                    }
                })
            })
        })
        .collect();
    for s in senders {
        s.join().expect("sender");
    }
    std::thread::sleep(Duration::from_millis(200));
    let after = softnet_dropped();
    tick(&mut probes, &mut sum);
    drop(guard);
    let got = sum.drops_with_reason("CPU_BACKLOG") - base;
    let want = after - before;
    eprintln!(
        "CPU_BACKLOG drops: hbwatch {got}, softnet_stat dropped delta {want}; all: {:?}",
        sum.drops_by_reason()
    );
    assert!(
        want > 0,
        "no backlog overflow happened: test setup is wrong"
    );
    assert_eq!(got, want);
}

#[test]
fn watched_heartbeat_port_yields_per_packet_events() {
    if !require_root("watched_heartbeat_port_yields_per_packet_events") {
        return;
    }
    let _g = serial();
    const PORT: u16 = 41_103;
    const BEATS: u32 = 20;
    let pair = NetnsPair::new("hbc-kd-watch", 173);
    let mut probes = load(vec![WatchPort {
        proto: 17,
        port: PORT,
    }]);
    let mut sum = PacketSummary::default();
    let receiver = udp_receiver(&pair, PORT, BEATS);
    std::thread::sleep(Duration::from_millis(100));
    udp_burst(&pair, PORT, BEATS, Duration::from_millis(10));
    let received = receiver.join().expect("receiver");
    assert_eq!(received, BEATS);
    // Nothing listens on PORT + 1: those packets are dropped (NO_SOCKET), not watched.
    udp_burst(&pair, PORT + 1, 3, Duration::ZERO);
    std::thread::sleep(Duration::from_millis(100));
    let events = tick(&mut probes, &mut sum);
    let n = |st| sum.port_stage_count(17, PORT, st);
    eprintln!(
        "udp:{PORT} events: seen {} queued {} read {} dropped {}",
        n(PortStage::Seen),
        n(PortStage::Queued),
        n(PortStage::Read),
        n(PortStage::Dropped)
    );
    assert_eq!(n(PortStage::Seen), BEATS as u64);
    assert_eq!(n(PortStage::Queued), BEATS as u64);
    assert_eq!(n(PortStage::Read), BEATS as u64);
    assert_eq!(n(PortStage::Dropped), 0);
    // A heartbeat flow at its own rate (100/s) stays within its budget: every packet an event.
    assert_eq!(
        sum.port_suppressed, 0,
        "heartbeat packets counted without events"
    );
    assert_eq!(sum.port_stage_count(17, PORT + 1, PortStage::Seen), 0);
    // Seen events carry the sender as peer; per packet, seen ≤ queued ≤ read in time.
    let seen: Vec<&PortPacketEvent> = events
        .iter()
        .filter(|e| e.stage == PortStage::Seen)
        .collect();
    for e in &seen {
        let peer = e.peer.as_deref().expect("peer of a seen packet");
        assert!(peer.starts_with(&format!("{}:", pair.a_ip)), "peer {peer}");
        assert!(e.ifindex != 0, "seen without a device: {e:?}");
        // veth-b lives in the test's namespace, not hbwatch's: the event says which.
        assert!(
            e.netns != 0 && e.netns != probes.packet.tables.host_netns,
            "netns of veth-b: {e:?}"
        );
    }
    // The receiver's socket is unconnected: queued and read packets are named by their skb.
    let peers: Vec<(PortStage, Option<&str>)> = events
        .iter()
        .map(|e| (e.stage, e.peer.as_deref()))
        .collect();
    eprintln!("peers: {peers:?}");
    for e in events
        .iter()
        .filter(|e| matches!(e.stage, PortStage::Queued | PortStage::Read))
    {
        let peer = e.peer.as_deref().expect("peer of a queued or read packet");
        assert!(peer.starts_with(&format!("{}:", pair.a_ip)), "peer {peer}");
    }
    let first = |st| {
        events
            .iter()
            .find(|e| e.stage == st)
            .map(|e| e.mono_ns)
            .expect("event")
    };
    assert!(first(PortStage::Seen) <= first(PortStage::Queued));
    assert!(first(PortStage::Queued) <= first(PortStage::Read));
    // veth delivers through netif_rx, so the per-CPU backlog NAPI (no device) polled them.
    let backlog_work: u64 = sum
        .napi
        .iter()
        .filter(|((ifx, ..), _)| *ifx == 0)
        .map(|(_, a)| a.work)
        .sum();
    assert!(
        backlog_work >= BEATS as u64,
        "backlog NAPI work {backlog_work}"
    );
}

/// A flood on a watched port is counted in the kernel, not sent: no event is lost, and events +
/// counted-only packets give each fate exactly (seen = sent − backlog drops, queued = seen −
/// refusals; each refusal is also a drop).
#[test]
fn a_flood_on_a_watched_port_is_counted_without_losing_events() {
    if !require_root("a_flood_on_a_watched_port_is_counted_without_losing_events") {
        return;
    }
    let _g = serial();
    const PORT: u16 = 41_104;
    let pair = NetnsPair::new("hbc-kd-flood", 174);
    let mut probes = load(vec![WatchPort {
        proto: 17,
        port: PORT,
    }]);
    let mut sum = PacketSummary::default();
    sum.add_tables(&probes.packet.tables);
    let b_ip = pair.b_ip.clone();
    // A receiver that never reads: each packet is seen, then queued or refused and dropped.
    let sock = in_netns(&pair.b, move || {
        UdpSocket::bind(format!("{b_ip}:{PORT}")).expect("bind receiver")
    });
    let dst = format!("{}:{PORT}", pair.b_ip);
    // Far more packets than the ring buffer holds events before the first drain.
    let sent = in_netns(&pair.a, move || {
        let s = UdpSocket::bind("0.0.0.0:0").expect("bind sender");
        (0..50_000u32)
            .filter(|i| s.send_to(&i.to_le_bytes(), &dst).is_ok())
            .count() as u64
    });
    std::thread::sleep(Duration::from_millis(200));
    let events = tick(&mut probes, &mut sum);
    drop(sock);
    let delivered = events.iter().filter(|e| e.local_port == PORT).count() as u64;
    let port_drops: u64 = sum
        .port_drops
        .iter()
        .filter(|((p, port, _), _)| *p == 17 && *port == PORT)
        .map(|(_, n)| n)
        .sum();
    let backlog = sum
        .port_drops
        .iter()
        .filter(|((p, port, r), _)| {
            *p == 17 && *port == PORT && sum.reason_name(*r) == "CPU_BACKLOG"
        })
        .map(|(_, n)| n)
        .sum::<u64>();
    let refused = sum.udp_rcvbuf_drops(PORT);
    let n = |st| sum.port_stage_count(17, PORT, st);
    let dropped = n(PortStage::Dropped);
    eprintln!(
        "sent {sent}: events {delivered}, counted only {}; seen {} queued {} refused {} \
         dropped {dropped} (kfree_skb on the port {port_drops}, backlog {backlog})",
        sum.port_suppressed,
        n(PortStage::Seen),
        n(PortStage::Queued),
        n(PortStage::QueueFailed),
    );
    assert!(
        sum.port_suppressed > 0,
        "the flood stayed within the event budget: test setup is wrong"
    );
    assert!(
        delivered < sent / 4,
        "{delivered} events for {sent} packets: the flood was not held back"
    );
    assert_eq!(n(PortStage::Seen), sent - backlog);
    assert_eq!(n(PortStage::Queued), sent - backlog - refused);
    assert_eq!(n(PortStage::QueueFailed), refused);
    assert_eq!(dropped, port_drops);
}

/// A full key map loses nothing silently: with more receive-buffer-overflowing UDP ports than
/// `UDP_FAIL` has keys (1024), the failures it could not key are counted as lost for their stream,
/// and counted + lost equals the change of `Udp: RcvbufErrors` exactly.
#[test]
fn a_full_key_map_counts_what_it_cannot_keep() {
    if !require_root("a_full_key_map_counts_what_it_cannot_keep") {
        return;
    }
    let _g = serial();
    const FIRST_PORT: u16 = 42_000;
    const PORTS: u16 = 1_100;
    raise_fd_limit(PORTS as u64 + 256);
    let pair = NetnsPair::new("hbc-kd-full", 177);
    let mut probes = load(Vec::new());
    let mut sum = PacketSummary::default();
    let b_ip = pair.b_ip.clone();
    // Receivers with the smallest buffer that never read: every port overflows.
    let (socks, before) = in_netns(&pair.b, move || {
        let socks: Vec<UdpSocket> = (0..PORTS)
            .map(|i| {
                let s = UdpSocket::bind(format!("{b_ip}:{}", FIRST_PORT + i)).expect("bind");
                smallest_rcvbuf(&s);
                s
            })
            .collect();
        (socks, udp_rcvbuf_errors())
    });
    tick(&mut probes, &mut sum);
    let lost_stream = agent_common::events::Stream::UdpFailKeys.name();
    let events = probes.softirq_events.as_mut().expect("loss counters");
    let _ = events.lost(hbwatch::clock::mono_ns());
    let dst_ip = pair.b_ip.clone();
    in_netns(&pair.a, move || {
        let s = UdpSocket::bind("0.0.0.0:0").expect("bind sender");
        for round in 0..6u32 {
            for i in 0..PORTS {
                let _ = s.send_to(&round.to_le_bytes(), format!("{dst_ip}:{}", FIRST_PORT + i));
            }
        }
    });
    std::thread::sleep(Duration::from_millis(300));
    let after = in_netns(&pair.b, udp_rcvbuf_errors);
    tick(&mut probes, &mut sum);
    let lost: u64 = probes
        .softirq_events
        .as_mut()
        .expect("loss counters")
        .lost(hbwatch::clock::mono_ns())
        .expect("read loss counters")
        .iter()
        .filter(|l| l.stream == lost_stream)
        .map(|l| l.count)
        .sum();
    drop(socks);
    let keyed: u64 = (0..PORTS)
        .map(|i| sum.udp_rcvbuf_drops(FIRST_PORT + i))
        .sum();
    let ports_keyed = (0..PORTS)
        .filter(|i| sum.udp_rcvbuf_drops(FIRST_PORT + i) > 0)
        .count();
    let want = after - before;
    eprintln!(
        "rcvbuf drops: keyed {keyed} on {ports_keyed} ports, lost {lost}, RcvbufErrors delta {want}"
    );
    assert!(ports_keyed < PORTS as usize, "the map never filled");
    assert!(lost > 0, "a full map dropped keys without counting them");
    assert_eq!(keyed + lost, want);
}

/// Lifts RLIMIT_NOFILE's soft limit to at least `n` (within the hard limit).
fn raise_fd_limit(n: u64) {
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: valid pointer to an rlimit.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) }, 0);
    if rl.rlim_cur < n {
        rl.rlim_cur = n.min(rl.rlim_max);
        // SAFETY: valid pointer to an rlimit.
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &rl) }, 0);
    }
}
