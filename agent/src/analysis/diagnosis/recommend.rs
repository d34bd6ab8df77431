//! Turns a gap's findings into recommendations: the `check` audit rules that address the cause on
//! this host's configuration, plus cause-specific advice the audit cannot give (netfilter
//! inspection, application stalls, VM pauses, clock steps, the peer).

use super::{VERDICT_THRESHOLD, build::Port, cause::Cause, evidence::GapEvidence, rules::Finding};
use crate::{
    analysis::{
        audit::{SYSCTL_FILE, cpulist},
        recommendation::{Recommendation, Severity},
    },
    recording::records::HostConfig,
    units::ns,
};

/// Audit rule ids that address each cause.
fn audit_ids(c: Cause) -> &'static [&'static str] {
    match c {
        Cause::SoftirqDelay => &[
            "rss-underused",
            "irqs-one-cpu",
            "single-queue-rps-off",
            "rps-without-rfs",
            "irqbalance-absent",
            "irqbalance-fighting",
            "softnet-time-squeeze",
            "offload-coalescing",
        ],
        Cause::NicRingOverflow => &[
            "ring-small-missed",
            "rss-underused",
            "irqs-one-cpu",
            "offload-coalescing",
        ],
        Cause::CpuBacklogOverflow => &[
            "softnet-backlog-drops",
            "single-queue-rps-off",
            "rps-without-rfs",
            "irqs-one-cpu",
        ],
        Cause::SocketRcvbufOverflow => &["udp-rcvbuf-errors"],
        Cause::VmPause => &["cpu-steal"],
        _ => &[],
    }
}

/// What the recommendations need besides the findings.
pub struct Context<'a> {
    pub config: Option<&'a HostConfig>,
    /// The audit over the whole recording.
    pub audit: &'a [Recommendation],
    pub port: Option<Port>,
    /// CPUs that take the heartbeat flow's receive work.
    pub rx_cpus: &'a [u32],
    /// Processes seen in scheduling records (the heartbeat daemon), "comm (pid)".
    pub app: Option<(String, u32)>,
    /// Online CPUs when the recording started (the host configuration may be missing).
    pub online: &'a [u32],
    /// The heartbeat process's recorded affinity, when known.
    pub app_cpus: Option<crate::analysis::audit::AppCpus<'a>>,
}

/// Recommendations for the causes stated with enough confidence, most likely cause first.
pub fn recommend(e: &GapEvidence, findings: &[Finding], cx: &Context<'_>) -> Vec<Recommendation> {
    let mut out: Vec<Recommendation> = Vec::new();
    let push = |r: Recommendation, out: &mut Vec<Recommendation>| {
        if !out.iter().any(|o| o.id == r.id && o.subject == r.subject) {
            out.push(r);
        }
    };
    for f in findings
        .iter()
        .filter(|f| f.confidence >= VERDICT_THRESHOLD)
    {
        // A held RX CPU's fix (its queue IRQs off it) comes before the audit's generic spread.
        if f.cause == Cause::SoftirqDelay {
            let why = f.evidence.first().cloned().unwrap_or_default();
            for r in super::rx_work::recommend(e, cx, &why) {
                push(r, &mut out);
            }
        }
        let ids = audit_ids(f.cause);
        for r in cx.audit.iter().filter(|r| ids.contains(&r.id.as_str())) {
            push(r.clone(), &mut out);
        }
        for r in own(f, e, cx) {
            push(r, &mut out);
        }
    }
    out
}

fn sysctl(cx: &Context<'_>, name: &str) -> Option<u64> {
    cx.config.and_then(|c| c.sysctl_u64(name))
}

fn port_text(cx: &Context<'_>) -> String {
    match cx.port {
        Some(p) => format!(
            "{} port {}",
            if p.proto == libc::IPPROTO_TCP as u8 {
                "tcp"
            } else {
                "udp"
            },
            p.port
        ),
        None => "the heartbeat port".to_owned(),
    }
}

/// Advice written here (not by the audit), per cause.
fn own(f: &Finding, e: &GapEvidence, cx: &Context<'_>) -> Vec<Recommendation> {
    let why = f.evidence.first().cloned().unwrap_or_default();
    match f.cause {
        Cause::SoftirqDelay => softirq(e, cx, &why),
        Cause::CpuBacklogOverflow => move_task(e, cx, &why)
            .into_iter()
            .chain(backlog(cx, &why))
            .collect(),
        Cause::SocketRcvbufOverflow => vec![so_rcvbuf(cx, &why)],
        Cause::NicRingOverflow if !cx.audit.iter().any(|r| r.id == "ring-small-missed") => {
            vec![ring(cx, &why)]
        }
        Cause::NetfilterDrop => vec![netfilter(cx, &why)],
        Cause::OtherKernelDrop => vec![other_drop(&why)],
        Cause::AppStall => vec![app_stall(e, cx, &why)],
        Cause::VmPause => vec![vm_pause(&why)],
        Cause::ClockStep => vec![clock_step(&why)],
        Cause::PeerOrUpstream => vec![peer(cx, &why)],
        _ => Vec::new(),
    }
}

fn softirq(e: &GapEvidence, cx: &Context<'_>, why: &str) -> Vec<Recommendation> {
    let budget = sysctl(cx, "net.core.netdev_budget").unwrap_or(300);
    let usecs = sysctl(cx, "net.core.netdev_budget_usecs").unwrap_or(2000);
    let cpus = cpulist(cx.rx_cpus);
    let mut out: Vec<Recommendation> = super::rx_threads::recommend(e, why).into_iter().collect();
    out.push(move_task(e, cx, why).unwrap_or_else(|| {
        Recommendation::new(
            "app-off-nic-cpus",
            Severity::Warning,
            "host",
            format!("Keep busy work off CPU {cpus}, which handles the heartbeat receive path"),
            "Softirq work waits behind whatever else runs on that CPU; a busy or real-time task there delays heartbeats.".into(),
        )
        .evidence("gap evidence", why)
        .evidence("CPUs handling heartbeat RX", &cpus)
        .apply(format!("ps -eo pid,psr,pcpu,comm --sort=-pcpu | awk '$2 ~ /^({})$/' | head   # what runs there", cpus.replace(',', "|")))
        .apply("taskset -apc <other CPUs> <PID of the busy process>   # move it elsewhere")
        .persist("systemd unit", None, "CPUAffinity=<other CPUs> in the busy service's [Service] section")
        .cost("The moved process competes on the remaining CPUs.")
        .verify("hbwatch record --duration 10m ... && hbwatch report   # NET_RX wait on that CPU drops")
        .undo("taskset -apc <all CPUs> <PID>")
    }));
    if e.time_squeeze.window > 0 || e.napi_budget_exhausted.window > 0 {
        let (nb, nu) = (budget.max(600), usecs.max(4000));
        out.push(
            Recommendation::new(
                "netdev-budget",
                Severity::Warning,
                "host",
                format!("Raise net.core.netdev_budget to {nb} and netdev_budget_usecs to {nu}"),
                "NET_RX ran out of budget and deferred the rest of its work (to ksoftirqd or the next softirq), delaying the packets behind it.".into(),
            )
            .evidence("gap evidence", why)
            .evidence("time_squeeze in the window", e.time_squeeze.window)
            .evidence("NAPI polls using their whole budget in the window", e.napi_budget_exhausted.window)
            .apply(format!("sysctl -w net.core.netdev_budget={nb} net.core.netdev_budget_usecs={nu}"))
            .persist("sysctl.d", Some(SYSCTL_FILE), format!("net.core.netdev_budget = {nb}\nnet.core.netdev_budget_usecs = {nu}"))
            .cost("Each NET_RX run may take longer, delaying other softirqs and tasks on that CPU.")
            .verify("cat /proc/net/softnet_stat   # column 3 (time_squeeze) grows more slowly")
            .undo(format!("sysctl -w net.core.netdev_budget={budget} net.core.netdev_budget_usecs={usecs}")),
        );
    }
    out.push(
        Recommendation::new(
            "busy-poll",
            Severity::Info,
            "host",
            "Consider socket busy polling for the heartbeat socket".into(),
            "With busy polling the reading thread polls the NIC queue itself instead of waiting for the softirq; it removes softirq delay from the heartbeat path at the cost of CPU.".into(),
        )
        .evidence("gap evidence", why)
        .apply("sysctl -w net.core.busy_read=50 net.core.busy_poll=50")
        .persist("sysctl.d", Some(SYSCTL_FILE), "net.core.busy_read = 50\nnet.core.busy_poll = 50")
        .cost("Spins up to 50 µs per read/poll on every socket: more CPU use. SO_BUSY_POLL on the heartbeat socket alone is cheaper if the daemon supports it.")
        .verify("hbwatch record ... && hbwatch report   # NET_RX wait no longer explains gaps")
        .undo(format!(
            "sysctl -w net.core.busy_read={} net.core.busy_poll={}",
            sysctl(cx, "net.core.busy_read").unwrap_or(0),
            sysctl(cx, "net.core.busy_poll").unwrap_or(0)
        )),
    );
    out
}

/// A user process held a heartbeat CPU during the gap: move that process, by name, to the other
/// CPUs. None when no such process was measured or no other CPU is left.
fn move_task(e: &GapEvidence, cx: &Context<'_>, why: &str) -> Option<Recommendation> {
    let (cpu, u) = e.dominant_user()?;
    let online = cx.config.map_or(cx.online, |c| &c.cpus.online[..]);
    let others: Vec<u32> = online
        .iter()
        .copied()
        .filter(|c| !cx.rx_cpus.contains(c) && *c != cpu)
        .collect();
    if others.is_empty() {
        return None;
    }
    // Not onto a pinned heartbeat process's CPUs either, while others remain.
    let app = cx.app_cpus.filter(|a| {
        !a.cpus_allowed.is_empty() && online.iter().any(|c| !a.cpus_allowed.contains(c))
    });
    let spare: Vec<u32> = others
        .iter()
        .copied()
        .filter(|c| app.is_none_or(|a| !a.cpus_allowed.contains(c)))
        .collect();
    let others = if spare.is_empty() { others } else { spare };
    let (name, pid, to) = (&u.comm, u.tgid, cpulist(&others));
    let all = cpulist(online);
    let share = format!(
        "{:.0}% of samples in the window, {:.0}% normally",
        u.window_share * 100.0,
        u.baseline_share * 100.0
    );
    let mut r = Recommendation::new(
        "move-task-off-nic-cpus",
        Severity::Warning,
        name,
        format!("Move {name} (PID {pid}) off heartbeat CPU {cpu}"),
        format!("{name} held CPU {cpu} for most of the gap window; the NET_RX softirq that delivers heartbeats waits behind it (or is pushed to ksoftirqd, which competes with it)."),
    )
    .evidence("gap evidence", why)
    .evidence(format!("{name} (PID {pid}) on CPU {cpu}"), share)
    .evidence("CPUs handling heartbeat RX", cpulist(cx.rx_cpus))
    .apply(format!("taskset -apc {to} {pid}   # every thread of {name} to CPU {to}"))
    .persist("systemd unit", None, format!("CPUAffinity={} in the [Service] section of {name}'s unit (systemctl edit <unit>), then restart it", to.replace(',', " ")))
    .cost(format!("{name} shares CPU {to} with what already runs there."))
    .verify(format!("grep Cpus_allowed_list /proc/{pid}/status"))
    .verify("hbwatch record --duration 10m ... && hbwatch report   # NET_RX wait on that CPU drops")
    .undo(format!("taskset -apc {all} {pid}"));
    if let Some(a) = app {
        let kept_out = a.cpus_allowed.iter().all(|c| !others.contains(c));
        r = r.evidence(
            format!(
                "heartbeat process {} (PID {}) pinned to CPU {}",
                a.comm,
                a.tgid,
                cpulist(a.cpus_allowed)
            ),
            if kept_out {
                "left out of the target CPUs"
            } else {
                "no other CPU is left: the target CPUs include them"
            },
        );
    }
    Some(r)
}

fn backlog(cx: &Context<'_>, why: &str) -> Vec<Recommendation> {
    if cx.audit.iter().any(|r| r.id == "softnet-backlog-drops") {
        return Vec::new();
    }
    let cur = sysctl(cx, "net.core.netdev_max_backlog").unwrap_or(1000);
    let new = (cur * 4).max(4096);
    vec![
        Recommendation::new(
            "netdev-max-backlog",
            Severity::Critical,
            "host",
            format!("Raise net.core.netdev_max_backlog from {cur} to {new}"),
            "The per-CPU input queue was full and the kernel dropped packets, heartbeats among them.".into(),
        )
        .evidence("gap evidence", why)
        .apply(format!("sysctl -w net.core.netdev_max_backlog={new}"))
        .persist("sysctl.d", Some(SYSCTL_FILE), format!("net.core.netdev_max_backlog = {new}"))
        .cost("More packets may queue (memory, queueing delay under overload).")
        .verify("cat /proc/net/softnet_stat   # column 2 (dropped) stops growing")
        .undo(format!("sysctl -w net.core.netdev_max_backlog={cur}")),
    ]
}

fn so_rcvbuf(cx: &Context<'_>, why: &str) -> Recommendation {
    let rmax = sysctl(cx, "net.core.rmem_max").unwrap_or(212_992);
    // The same value as the audit's `udp-rcvbuf-errors`, so `check` and `report` agree.
    let new = crate::analysis::audit::drops::rmem_max_suggestion(rmax);
    Recommendation::new(
        "so-rcvbuf",
        Severity::Critical,
        &port_text(cx),
        format!("Give the heartbeat socket on {} a larger receive buffer (SO_RCVBUF)", port_text(cx)),
        "The socket's receive buffer was full when heartbeats arrived, so the kernel dropped them; a burst of other traffic on the socket or a slow reader fills it.".into(),
    )
    .evidence("gap evidence", why)
    .evidence("net.core.rmem_max", rmax)
    .evidence("suggested net.core.rmem_max", crate::analysis::audit::drops::rmem_max_reason(rmax))
    .apply(format!("sysctl -w net.core.rmem_max={new}   # lets the daemon ask for up to {new} bytes"))
    .apply("# then set the daemon's socket buffer option (e.g. corosync netmtu/knet, or SO_RCVBUF in code) and restart it")
    .persist("sysctl.d", Some(SYSCTL_FILE), format!("net.core.rmem_max = {new}"))
    .cost("Kernel memory per socket, only for sockets that ask for it.")
    .verify(format!("ss -uamn 'sport = :{}'   # skmem rb shows the new size", cx.port.map_or(0, |p| p.port)))
    .verify("nstat -az UdpRcvbufErrors   # stops growing")
    .undo(format!("sysctl -w net.core.rmem_max={rmax}"))
}

fn ring(cx: &Context<'_>, why: &str) -> Recommendation {
    let nic = cx
        .config
        .and_then(|c| c.nics.iter().find(|n| !n.is_virtual));
    let name = nic.map_or("<nic>".to_owned(), |n| n.name.clone());
    let (cur, max) = nic
        .and_then(|n| n.ethtool.rings)
        .map_or((0, 0), |r| (r.rx, r.rx_max));
    let new = if max > 0 { max } else { 4096 };
    Recommendation::new(
        "ring-size",
        Severity::Critical,
        &name,
        format!("Enlarge {name}'s RX ring (ethtool -G {name} rx {new})"),
        "The NIC ran out of receive descriptors and dropped frames before the kernel saw them.".into(),
    )
    .evidence("gap evidence", why)
    .evidence(format!("{name} RX ring"), format!("{cur} (max {max})"))
    .apply(format!("ethtool -G {name} rx {new}"))
    .persist("udev", Some("/etc/udev/rules.d/90-hbwatch-ring.rules"), format!("ACTION==\"add\", SUBSYSTEM==\"net\", KERNEL==\"{name}\", RUN+=\"/usr/sbin/ethtool -G {name} rx {new}\""))
    .cost("More memory for buffers; a short link reset on some drivers while the ring is resized.")
    .verify(format!("ethtool -S {name} | grep -Ei 'missed|no_buf|discard'   # stops growing"))
    .undo(format!("ethtool -G {name} rx {}", if cur > 0 { cur } else { 256 }))
}

fn netfilter(cx: &Context<'_>, why: &str) -> Recommendation {
    let port = cx.port.map_or(0, |p| p.port);
    Recommendation::new(
        "netfilter-inspect",
        Severity::Critical,
        &port_text(cx),
        format!("Find the firewall rule that drops {}", port_text(cx)),
        "A netfilter rule (nftables or iptables) dropped the heartbeats; no tuning helps until the rule accepts them.".into(),
    )
    .evidence("gap evidence", why)
    .apply(format!("nft -a list ruleset | grep -nE 'dport {port}|drop|reject'   # find the rule and its handle"))
    .apply("iptables-save -c | grep -E 'DROP|REJECT'   # legacy rules with their hit counters")
    .apply(format!("# accept the heartbeats ahead of the drop, e.g.: nft insert rule inet filter input udp dport {port} accept"))
    .persist("firewall config", Some("/etc/nftables.conf"), format!("an accept rule for udp dport {port} before any drop rule (or the firewalld/ufw equivalent)"))
    .cost("Opens the heartbeat port to whatever the rule was meant to block: restrict by source address.")
    .verify("nft list ruleset -a   # counters on the accept rule grow")
    .verify("hbwatch record ... && hbwatch report   # no NETFILTER_DROP on the heartbeat port")
    .undo("nft delete rule inet filter input handle <handle of the inserted rule>")
}

fn other_drop(why: &str) -> Recommendation {
    Recommendation::new(
        "drop-reason-inspect",
        Severity::Warning,
        "host",
        "Look up why the kernel dropped the heartbeats (drop reason above)".into(),
        "The kernel dropped heartbeat packets for a reason hbwatch does not map to a tuning fix.".into(),
    )
    .evidence("gap evidence", why)
    .apply("hbwatch report --format json <recording> | jq '.packet.drops'   # devices, CPUs and reasons")
    .apply("perf record -e skb:kfree_skb -a -g -- sleep 10 && perf script | head   # where in the kernel")
    .persist("none", None, "depends on the reason")
    .cost("Inspection only.")
    .verify("hbwatch record ... && hbwatch report")
}

fn app_stall(e: &GapEvidence, cx: &Context<'_>, why: &str) -> Recommendation {
    let (name, pid) = cx.app.clone().unwrap_or_else(|| ("<daemon>".into(), 0));
    let pid_s = if pid > 0 {
        pid.to_string()
    } else {
        "<PID>".into()
    };
    let stall = e.self_stalls.iter().filter_map(|s| s.measured_ns).max();
    // Off-CPU time is normal for a reader waiting on packets; only a stretch as long as the
    // heartbeat interval says something.
    let off = e
        .app_off_cpu_max_ns
        .filter(|&o| o >= e.expected_interval_ns);
    let mut r = Recommendation::new(
        "app-stall",
        Severity::Critical,
        &name,
        format!("Find why {name} stalled and protect it (priority, CPU isolation)"),
        "The heartbeats reached this host but the application did not handle them; network tuning will not help.".into(),
    )
    .evidence("gap evidence", why);
    for (what, v) in [
        (
            "longest scheduling delay of the process",
            e.app_sched_delay_max_ns,
        ),
        ("longest off-CPU stretch of the process", off),
        ("stall the application logged", stall),
    ] {
        if let Some(v) = v {
            r = r.evidence(what, ns(v));
        }
    }
    r.apply(format!("cat /proc/{pid_s}/status | grep -E 'State|ctxt'; cat /proc/{pid_s}/stack   # stopped, swapping, blocked on I/O?"))
        .apply(format!("chrt -r -p 10 {pid_s}   # real-time priority for the heartbeat daemon (if it does not already have one)"))
        .apply(format!("taskset -apc <isolated CPUs> {pid_s}   # keep other load off its CPUs"))
        .persist("systemd unit", None, "CPUSchedulingPolicy=rr, CPUSchedulingPriority=10, CPUAffinity=..., and MemoryLow/OOMScoreAdjust in the daemon's unit; check for SIGSTOP (debuggers, cgroup freezer), swap and blocking I/O")
        .cost("A real-time task can starve others on its CPUs if it spins.")
        .verify("hbwatch record ... && hbwatch report   # sched delay of the process stays below the heartbeat interval")
        .undo(format!("chrt -o -p 0 {pid_s}"))
}

fn vm_pause(why: &str) -> Recommendation {
    Recommendation::new(
        "vm-pause",
        Severity::Critical,
        "host",
        "The VM was paused by the hypervisor: raise the heartbeat timeout or fix the host".into(),
        "Nothing ran in the guest while it was paused; no setting inside the VM removes that.".into(),
    )
    .evidence("gap evidence", why)
    .apply("mpstat -P ALL 1   # %steal")
    .persist("hypervisor", None, "dedicated/pinned vCPUs, no live migration or snapshots of cluster nodes during service, less overcommit")
    .cost("Dedicated vCPUs cost more.")
    .verify("hbwatch record ... && hbwatch report   # steal near zero")
}

fn clock_step(why: &str) -> Recommendation {
    Recommendation::new(
        "clock-step",
        Severity::Warning,
        "host",
        "The wall clock stepped: let time sync slew instead of step".into(),
        "A step makes timestamp-based heartbeat checks see a gap that did not happen (or hide one).".into(),
    )
    .evidence("gap evidence", why)
    .apply("chronyc tracking; chronyc sources -v   # why it stepped")
    .persist("chrony", Some("/etc/chrony/chrony.conf"), "makestep 1.0 3   # step only during the first updates after boot")
    .cost("Large offsets after boot take longer to correct by slewing.")
    .verify("journalctl -u chronyd | grep -i step   # no steps during service")
}

fn peer(cx: &Context<'_>, why: &str) -> Recommendation {
    Recommendation::new(
        "check-peer",
        Severity::Warning,
        &port_text(cx),
        "Look at the peer and the network before this host".into(),
        "No heartbeat packet reached this host and nothing here was in the way: the sender stopped or something upstream dropped them.".into(),
    )
    .evidence("gap evidence", why)
    .apply("# run hbwatch record on the peer at the same time: its report says whether it sent")
    .apply("ip -s link; ethtool -S <nic>   # errors on this host's link")
    .persist("none", None, "depends on what the peer shows")
    .cost("Inspection only.")
    .verify("hbwatch record on both hosts, then hbwatch report on each")
}
