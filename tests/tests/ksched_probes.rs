//! Root: softirq counts against /proc/softirqs, threshold events and their loss accounting,
//! kernel stacks sampled under UDP load across a veth pair, and scheduling delay of a watched
//! busy process this test starts (and kills).

use std::{
    collections::BTreeMap,
    net::UdpSocket,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use hbwatch::{
    analysis::{StackFilter, folded_stacks},
    clock::mono_ns,
    collectors::host::HostRoot,
    probes::{ProbeOptions, Probes, sched::WatchList, stacks::StackOptions},
    recording::records::Record,
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

fn load(opts: ProbeOptions) -> Probes {
    Probes::load(&HostRoot::default(), &opts).unwrap_or_else(|e| panic!("loading probes: {e}"))
}

fn no_stacks() -> ProbeOptions {
    ProbeOptions {
        stacks: None,
        ..ProbeOptions::default()
    }
}

/// /proc/softirqs as (cpu, vector number) → count.
fn proc_softirqs() -> BTreeMap<(u32, u8), u64> {
    let text = std::fs::read_to_string("/proc/softirqs").expect("read /proc/softirqs");
    let mut out = BTreeMap::new();
    for (v, line) in text.lines().skip(1).enumerate() {
        let counts = line.split_whitespace().skip(1);
        for (cpu, n) in counts.enumerate() {
            out.insert((cpu as u32, v as u8), n.parse::<u64>().expect("count"));
        }
    }
    out
}

#[test]
fn softirq_counts_match_proc_softirqs_within_one_percent() {
    if !require_root("softirq_counts_match_proc_softirqs_within_one_percent") {
        return;
    }
    let pair = NetnsPair::new("hbw-ks-count", 61);
    let mut probes = load(no_stacks());
    probes
        .softirq
        .as_mut()
        .expect("softirq probe attached")
        .read_interval(mono_ns())
        .expect("first read");
    let before = proc_softirqs();
    let sent = udp_flood(&pair, 46_001, Duration::from_secs(3));
    let after = proc_softirqs();
    let iv = probes
        .softirq
        .as_mut()
        .expect("softirq probe attached")
        .read_interval(mono_ns())
        .expect("read");
    assert!(sent > 1000, "sent only {sent} datagrams");
    let mut ours: BTreeMap<(u32, u8), u64> = BTreeMap::new();
    for c in &iv.cells {
        *ours.entry((c.cpu, c.vector)).or_default() += c.entries;
    }
    let mut checked = 0;
    for (key, a) in &after {
        let want = a - before.get(key).copied().unwrap_or(0);
        let got = ours.get(key).copied().unwrap_or(0);
        // Softirqs between the map read and the /proc read at either edge land on different sides
        // of the two readings: a few per cell on a busy machine. Busy cells must agree within 1 %.
        let slack = if want >= 300 { want / 100 + 3 } else { 10 };
        assert!(
            got.abs_diff(want) <= slack,
            "cpu {} vector {}: hbwatch {got}, /proc/softirqs {want}",
            key.0,
            key.1
        );
        if want >= 300 {
            checked += 1;
        }
    }
    assert!(checked > 0, "no busy cell to compare: {ours:?}");
}

#[test]
fn threshold_events_are_sent_or_counted_lost() {
    if !require_root("threshold_events_are_sent_or_counted_lost") {
        return;
    }
    let pair = NetnsPair::new("hbw-ks-evt", 62);
    // 1 ns: every softirq is an event, far more than the ring holds between reads. Every
    // softirq timed (no per-tick budget), so every one is judged against the threshold.
    let mut probes = load(ProbeOptions {
        softirq_threshold_ns: 1,
        softirq_timed_per_tick: 0,
        ..no_stacks()
    });
    let ev = probes.softirq_events.as_mut().expect("events probe");
    ev.drain();
    ev.lost(mono_ns()).expect("lost");
    probes
        .softirq
        .as_mut()
        .expect("softirq probe attached")
        .read_interval(mono_ns())
        .expect("first read");
    udp_flood(&pair, 46_002, Duration::from_secs(2));
    let iv = probes
        .softirq
        .as_mut()
        .expect("softirq probe attached")
        .read_interval(mono_ns())
        .expect("read");
    let ev = probes.softirq_events.as_mut().expect("events probe");
    let events = ev.drain().events.len() as u64;
    let lost: u64 = ev
        .lost(mono_ns())
        .expect("lost")
        .iter()
        .map(|l| l.count)
        .sum();
    let entries: u64 = iv.cells.iter().map(|c| c.entries).sum();
    eprintln!("softirqs {entries}, events {events}, lost {lost}");
    assert!(events > 0, "no threshold events at a 1 ns threshold");
    // Softirqs that ran between the stats read and the drain add a few events.
    let slack = entries / 100 + 20;
    assert!(
        (events + lost).abs_diff(entries) <= slack,
        "events {events} + lost {lost} vs softirqs {entries}"
    );
}

#[test]
fn no_threshold_events_lost_at_normal_load() {
    if !require_root("no_threshold_events_lost_at_normal_load") {
        return;
    }
    let pair = NetnsPair::new("hbw-ks-nolost", 63);
    let mut probes = load(ProbeOptions {
        softirq_threshold_ns: 50_000,
        ..no_stacks()
    });
    let mut lost = 0;
    for _ in 0..3 {
        udp_flood(&pair, 46_003, Duration::from_secs(1));
        let ev = probes.softirq_events.as_mut().expect("events probe");
        ev.drain();
        lost += ev
            .lost(mono_ns())
            .expect("lost")
            .iter()
            .map(|l| l.count)
            .sum::<u64>();
    }
    assert_eq!(lost, 0, "threshold events lost at 50 µs under a UDP flood");
}

#[test]
fn stacks_under_udp_load_contain_net_rx_action() {
    if !require_root("stacks_under_udp_load_contain_net_rx_action") {
        return;
    }
    let pair = NetnsPair::new("hbw-ks-stack", 64);
    let mut probes = load(ProbeOptions {
        stacks: Some(StackOptions {
            rate_hz: 499,
            all_stacks: false,
        }),
        ..ProbeOptions::default()
    });
    let start = mono_ns();
    let sent = udp_flood(&pair, 46_004, Duration::from_secs(3));
    let s = probes
        .stacks
        .as_mut()
        .expect("stack probe attached")
        .read_interval(mono_ns())
        .expect("read stacks");
    assert!(sent > 1000, "sent only {sent} datagrams");
    assert!(
        s.samples > 100,
        "only {} samples in 3 s at 499 Hz",
        s.samples
    );
    let recs = [Record::Stacks(s)];
    let folded = folded_stacks(&recs, start, mono_ns(), StackFilter::Softirq);
    let with = folded
        .iter()
        .filter(|(f, _)| f.split(';').any(|fr| fr == "net_rx_action"))
        .map(|(_, n)| n)
        .sum::<u64>();
    assert!(
        with > 0,
        "no softirq stack with net_rx_action among {} stacks: {:?}",
        folded.len(),
        folded.keys().take(5).collect::<Vec<_>>()
    );
}

/// Kills the child on drop, so a failing assertion leaves no spinner behind.
struct Spinner(Child);

impl Drop for Spinner {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn check_sched(watch: impl FnOnce(u32) -> WatchList, spinner: Spinner) {
    check_sched_mode(watch, spinner, false);
}

/// `no_btf`: the classic-tracepoint twins, watching the process's threads by id.
fn check_sched_mode(watch: impl FnOnce(u32) -> WatchList, spinner: Spinner, no_btf: bool) {
    let pid = spinner.0.id();
    let mut probes = load(ProbeOptions {
        watch: watch(pid),
        no_btf,
        ..no_stacks()
    });
    let st = probes
        .statuses
        .iter()
        .find(|s| s.collector == "sched")
        .expect("a sched status");
    assert!(
        st.detail
            .contains(if no_btf { "classic" } else { "tp_btf" }),
        "{}",
        st.detail
    );
    // Two more spinners than CPUs would be rude on a shared machine; one competes with the
    // rest of the system, which is enough for it to be preempted and wait on the runqueue.
    std::thread::sleep(Duration::from_secs(2));
    let sched = probes.sched.as_mut().expect("sched probe attached");
    let iv = sched.read_interval(mono_ns()).expect("read sched");
    drop(spinner);
    let t = iv
        .tasks
        .iter()
        .find(|t| t.tid == pid)
        .unwrap_or_else(|| panic!("watched PID {pid} not in {:?}", iv.tasks));
    assert_eq!(t.tgid, pid);
    assert!(
        t.runq_count > 0 && t.runq_hist.total() == t.runq_count && t.runq_sum_ns > 0,
        "no runqueue delay recorded for a busy process: {t:?}"
    );
    assert!(t.offcpu_count > 0, "no off-CPU time recorded: {t:?}");
}

#[test]
fn sched_delay_of_a_watched_pid_is_recorded() {
    if !require_root("sched_delay_of_a_watched_pid_is_recorded") {
        return;
    }
    let child = Command::new("sh")
        .args(["-c", "while :; do :; done"])
        .spawn()
        .expect("spawn spinner");
    check_sched(
        |pid| WatchList {
            pids: vec![pid],
            comms: vec![],
        },
        Spinner(child),
    );
}

#[test]
fn sched_delay_of_a_watched_command_name_is_recorded() {
    if !require_root("sched_delay_of_a_watched_command_name_is_recorded") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let exe = dir.path().join("hbw-ks-spin");
    std::fs::copy("/usr/bin/yes", &exe).expect("copy /usr/bin/yes");
    let child = Command::new(&exe)
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn spinner");
    check_sched(
        |_| WatchList {
            pids: vec![],
            comms: vec!["hbw-ks-spin".into()],
        },
        Spinner(child),
    );
}

#[test]
fn classic_tracepoints_record_sched_delay_of_a_watched_pid() {
    if !require_root("classic_tracepoints_record_sched_delay_of_a_watched_pid") {
        return;
    }
    let child = Command::new("sh")
        .args(["-c", "while :; do :; done"])
        .spawn()
        .expect("spawn spinner");
    check_sched_mode(
        |pid| WatchList {
            pids: vec![pid],
            comms: vec![],
        },
        Spinner(child),
        true,
    );
}
