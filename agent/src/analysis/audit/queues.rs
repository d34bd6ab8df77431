//! Queue, IRQ placement and packet-steering rules: RSS, IRQ spread, RPS/RFS, irqbalance.

use super::{AuditInput, SYSCTL_FILE, cpulist};
use crate::{
    analysis::recommendation::{Recommendation, Severity},
    recording::records::{IrqKind, NicConfig},
    units::format_cpumask,
};

/// Fewer RX queues than CPUs while the NIC could do more (RSS available but unused).
pub fn rss_underused(input: &AuditInput<'_>) -> Vec<Recommendation> {
    let online = input.online() as u32;
    input
        .nics()
        .filter_map(|n| {
            let ch = n.ethtool.channels?;
            let (kind, cur, max) = if ch.combined_max > 0 {
                ("combined", ch.combined, ch.combined_max)
            } else {
                ("rx", ch.rx, ch.rx_max)
            };
            let want = max.min(online);
            if online < 2 || cur >= want || cur == 0 {
                return None;
            }
            let i = &n.name;
            Some(
                Recommendation::new(
                    "rss-underused",
                    Severity::Warning,
                    i,
                    format!("{i} uses {cur} of {max} possible RX queues on a {online}-CPU host"),
                    format!("All receive processing for {i} runs on {cur} CPU(s); a burst or a busy CPU there delays every heartbeat behind it while other CPUs idle."),
                )
                .evidence(format!("{i} {kind} channels (ethtool -l)"), format!("{cur} in use, {max} possible"))
                .evidence("online CPUs", online)
                .apply(format!("ethtool -L {i} {kind} {want}"))
                .persist("udev", Some("/etc/udev/rules.d/90-hbwatch-channels.rules"), format!("ACTION==\"add\", SUBSYSTEM==\"net\", KERNEL==\"{i}\", RUN+=\"/usr/sbin/ethtool -L {i} {kind} {want}\""))
                .persist("systemd-networkd", Some(&format!("/etc/systemd/network/90-{i}.link")), format!("[Match]\nOriginalName={i}\n\n[Link]\n{}Channels={want}", if kind == "combined" { "Combined" } else { "RX" }))
                .persist("NetworkManager", None, format!("nmcli connection modify <connection-of-{i}> ethtool.channels-{kind} {want}"))
                .cost("More queues spread interrupts and softirq work over more CPUs; each queue needs its own ring memory. Changing channels resets the link briefly (a second or so without packets).")
                .verify(format!("ethtool -l {i}"))
                .verify(format!("grep {i} /proc/interrupts   # every queue IRQ should be counting"))
                .undo(format!("ethtool -L {i} {kind} {cur}")),
            )
        })
        .collect()
}

/// CPUs a NIC's RX queue IRQs are routed to now: effective affinity; where the kernel does not
/// expose it, the CPU that has taken most of the IRQ (/proc/interrupts); else the affinity mask.
fn routed(n: &NicConfig) -> Vec<(u32, Vec<u32>)> {
    n.queue_irqs()
        .filter(|q| q.kind == IrqKind::Rx)
        .map(|q| {
            let busiest = q
                .taken
                .iter()
                .max_by_key(|(_, n)| *n)
                .map(|(c, _)| vec![*c]);
            let cpus = if !q.effective.is_empty() {
                q.effective.clone()
            } else {
                busiest.unwrap_or_else(|| q.affinity.clone())
            };
            (q.irq, cpus)
        })
        .collect()
}

/// All queue IRQs of a multi-queue NIC land on one CPU.
pub fn irqs_one_cpu(input: &AuditInput<'_>) -> Vec<Recommendation> {
    let online = &input.config.cpus.online;
    if online.len() < 2 {
        return Vec::new();
    }
    input
        .nics()
        .filter_map(|n| {
            let irqs = routed(n);
            if irqs.len() < 2 {
                return None;
            }
            let first = irqs[0].1.clone();
            if first.len() != 1 || irqs.iter().any(|(_, c)| *c != first) {
                return None;
            }
            let cpu = first[0];
            let i = &n.name;
            let severity = softnet_trouble_on(input, cpu).map_or(Severity::Warning, |_| Severity::Critical);
            let mut r = Recommendation::new(
                "irqs-one-cpu",
                severity,
                i,
                format!("All {} RX queue interrupts of {i} land on CPU {cpu}", irqs.len()),
                format!("CPU {cpu} does all receive softirq work for {i}; anything else running there (a busy task, another interrupt storm, ksoftirqd falling behind) delays heartbeats on every queue at once."),
            )
            .evidence(format!("{i} RX queue IRQs"), irqs.iter().map(|(q, _)| q.to_string()).collect::<Vec<_>>().join(","))
            .evidence("CPU they are routed to (effective_affinity_list)", cpu)
            .evidence("irqbalance running", input.config.irqbalance.running);
            if let Some(why) = softnet_trouble_on(input, cpu) {
                r = r.evidence(format!("softnet_stat CPU {cpu}"), why);
            }
            // Spread queue i to the i-th online, non-isolated CPU (wrapping): the classic
            // one-queue-per-CPU layout.
            let spread = rps_cpus(input);
            let spread = if spread.is_empty() { online.clone() } else { spread };
            for (k, (irq, _)) in irqs.iter().enumerate() {
                r = r.apply(format!(
                    "echo {} > /proc/irq/{irq}/smp_affinity_list",
                    spread[k % spread.len()]
                ));
            }
            r = if input.config.irqbalance.running {
                r.persist("irqbalance", Some("/etc/default/irqbalance"), "Remove any IRQBALANCE_BANNED_CPUS/--banirq entries that cover these IRQs, then: systemctl restart irqbalance")
            } else {
                r.persist("irqbalance", None, "systemctl enable --now irqbalance   # or keep the echo lines above in a oneshot systemd unit run after the network is up")
            };
            for (irq, _) in &irqs {
                let orig = n.irqs.iter().find(|q| q.irq == *irq).map_or_else(String::new, |q| cpulist(&q.affinity));
                r = r.undo(format!("echo {orig} > /proc/irq/{irq}/smp_affinity_list"));
            }
            Some(
                r.cost("Receive work moves to other CPUs, which then take interrupts; keep isolated or latency-critical CPUs out of the list. Kernel-managed IRQs refuse manual affinity (write fails with EIO).")
                    .verify(format!("grep {i} /proc/interrupts   # counts should grow on several CPUs"))
                    .verify("cat /proc/net/softnet_stat   # dropped/time_squeeze stop growing on the busy CPU"),
            )
        })
        .collect()
}

/// Whether softnet counters show backlog drops or squeezes on `cpu`.
fn softnet_trouble_on(input: &AuditInput<'_>, cpu: u32) -> Option<String> {
    let s = input.since_boot?.softnet.iter().find(|s| s.cpu == cpu)?;
    (s.dropped + s.time_squeeze > 0).then(|| {
        format!(
            "{} dropped, {} time_squeeze since boot",
            s.dropped, s.time_squeeze
        )
    })
}

/// CPUs RPS should spread to: online and not isolated.
fn rps_cpus(input: &AuditInput<'_>) -> Vec<u32> {
    let iso = &input.config.cpus.isolated;
    input
        .config
        .cpus
        .online
        .iter()
        .copied()
        .filter(|c| !iso.contains(c))
        .collect()
}

/// One RX queue, several CPUs, RPS off: one CPU does all receive processing.
pub fn single_queue_rps_off(input: &AuditInput<'_>) -> Vec<Recommendation> {
    let all = rps_cpus(input);
    if all.len() < 2 {
        return Vec::new();
    }
    let (cpus, app_note) = avoid_app(input, all);
    let mask = format_cpumask(&cpus);
    let entries = input
        .config
        .sysctl_u64("net.core.rps_sock_flow_entries")
        .unwrap_or(0);
    input
        .nics()
        .filter(|n| n.rx_queue_count() == 1 && n.rx_queues.len() == 1 && n.rx_queues[0].rps_cpus.is_empty())
        .map(|n| {
            let i = &n.name;
            let q = format!("/sys/class/net/{i}/queues/rx-0");
            let irq_cpu = routed(n).first().map(|(_, c)| cpulist(c)).unwrap_or_else(|| "unknown".into());
            Recommendation::new(
                "single-queue-rps-off",
                Severity::Warning,
                i,
                format!("{i} has a single RX queue and RPS is off: CPU {irq_cpu} does all receive processing"),
                format!("Every packet for {i}, heartbeats included, is processed in softirq on the one CPU that takes the queue interrupt; when that CPU is busy or ksoftirqd is throttled, heartbeats wait."),
            )
            .evidence(format!("{i} RX queues"), 1)
            .evidence(format!("{q}/rps_cpus"), "0 (RPS off)")
            .evidence("online CPUs", cpulist(&input.config.cpus.online))
            .evidence(format!("{i} RX queue IRQ routed to CPU"), &irq_cpu)
            .evidence("net.core.rps_sock_flow_entries", entries)
            .evidence(app_note.0.clone(), app_note.1.clone())
            .apply(format!("echo {mask} > {q}/rps_cpus"))
            .apply("sysctl -w net.core.rps_sock_flow_entries=32768")
            .apply(format!("echo 32768 > {q}/rps_flow_cnt"))
            .persist("udev", Some("/etc/udev/rules.d/90-hbwatch-rps.rules"), format!("ACTION==\"add\", SUBSYSTEM==\"net\", KERNEL==\"{i}\", ATTR{{queues/rx-0/rps_cpus}}=\"{mask}\", ATTR{{queues/rx-0/rps_flow_cnt}}=\"32768\""))
            .persist("sysctl.d", Some(SYSCTL_FILE), "net.core.rps_sock_flow_entries = 32768")
            .cost(format!("Packets are handed to CPUs {} with an inter-processor interrupt: a little more CPU per packet, better spread and lower queueing under load. RFS (the flow entries) keeps each flow on the CPU of the socket that reads it.", cpulist(&cpus)))
            .verify(format!("cat {q}/rps_cpus"))
            .verify("cat /proc/net/softnet_stat   # column 10 (received_rps) grows on several CPUs")
            .undo(format!("echo 0 > {q}/rps_cpus"))
            .undo(format!("echo 0 > {q}/rps_flow_cnt"))
            .undo(format!("sysctl -w net.core.rps_sock_flow_entries={entries}"))
        })
        .collect()
}

/// The RPS CPUs without those of a pinned heartbeat application (an evidence line saying so), or
/// all of them when it is not pinned, not known, or pinned to every one of them (said too).
fn avoid_app(input: &AuditInput<'_>, all: Vec<u32>) -> (Vec<u32>, (String, String)) {
    let none = (String::new(), String::new());
    let Some(app) = input.app else {
        return (all, none);
    };
    let online = &input.config.cpus.online;
    let pinned =
        !app.cpus_allowed.is_empty() && online.iter().any(|c| !app.cpus_allowed.contains(c));
    if !pinned {
        return (all, none);
    }
    let what = format!(
        "heartbeat process {} (PID {}) is pinned to CPU {}",
        app.comm,
        app.tgid,
        cpulist(app.cpus_allowed)
    );
    let rest: Vec<u32> = all
        .iter()
        .copied()
        .filter(|c| !app.cpus_allowed.contains(c))
        .collect();
    if rest.is_empty() {
        let why =
            "every CPU RPS could use is one of its CPUs: the mask cannot avoid them".to_owned();
        return (all, (what, why));
    }
    (rest, (what, "left out of the RPS mask".to_owned()))
}

/// RPS steers packets but RFS is off, so they land on a CPU other than the reader's.
pub fn rps_without_rfs(input: &AuditInput<'_>) -> Vec<Recommendation> {
    let entries = input
        .config
        .sysctl_u64("net.core.rps_sock_flow_entries")
        .unwrap_or(0);
    input
        .nics()
        .filter_map(|n| {
            let on: Vec<_> = n.rx_queues.iter().filter(|q| !q.rps_cpus.is_empty()).collect();
            if on.is_empty() || (entries > 0 && on.iter().all(|q| q.rps_flow_cnt > 0)) {
                return None;
            }
            let i = &n.name;
            let per_queue = (32768 / on.len() as u64).max(1);
            let mut r = Recommendation::new(
                "rps-without-rfs",
                Severity::Info,
                i,
                format!("RPS is on for {} RX queue(s) of {i} but RFS is off", on.len()),
                "Packets are spread by hash, not to the CPU where the heartbeat reader runs: an extra cross-CPU hop and cache misses for every heartbeat.".into(),
            )
            .evidence(format!("{i} RX queues with rps_cpus set"), on.len())
            .evidence("net.core.rps_sock_flow_entries", entries)
            .evidence(format!("{i} rps_flow_cnt (first queue with RPS)"), on[0].rps_flow_cnt)
            .apply("sysctl -w net.core.rps_sock_flow_entries=32768")
            .persist("sysctl.d", Some(SYSCTL_FILE), "net.core.rps_sock_flow_entries = 32768")
            .persist("udev", Some("/etc/udev/rules.d/90-hbwatch-rfs.rules"), format!("ACTION==\"add\", SUBSYSTEM==\"net\", KERNEL==\"{i}\", RUN+=\"/bin/sh -c 'for q in /sys/class/net/{i}/queues/rx-*; do echo {per_queue} > $q/rps_flow_cnt; done'\""))
            .cost("A flow table of a few hundred KiB; negligible CPU.")
            .verify("sysctl net.core.rps_sock_flow_entries")
            .undo(format!("sysctl -w net.core.rps_sock_flow_entries={entries}"));
            for q in &on {
                r = r.apply(format!("echo {per_queue} > /sys/class/net/{i}/queues/rx-{}/rps_flow_cnt", q.index));
                r = r.undo(format!("echo {} > /sys/class/net/{i}/queues/rx-{}/rps_flow_cnt", q.rps_flow_cnt, q.index));
            }
            Some(r)
        })
        .collect()
}

/// irqbalance absent on a multi-queue host nobody placed by hand, or running against a manual
/// one-queue-per-CPU layout it will undo. `covered`: NICs already reported by irqs-one-cpu.
pub fn irqbalance(input: &AuditInput<'_>, covered: &[String]) -> Vec<Recommendation> {
    let ib = &input.config.irqbalance;
    let online = &input.config.cpus.online;
    let mut out = Vec::new();
    for n in input.nics().filter(|n| !covered.contains(&n.name)) {
        let irqs: Vec<_> = n.queue_irqs().filter(|q| q.kind == IrqKind::Rx).collect();
        if irqs.len() < 2 || online.len() < 2 {
            continue;
        }
        let i = &n.name;
        let unplaced = irqs.iter().all(|q| q.affinity.len() >= online.len());
        // set_irq_affinity-style layout: queue k pinned to exactly one CPU, k-th in order.
        let manual = irqs
            .iter()
            .enumerate()
            .all(|(k, q)| q.affinity == [online[k % online.len()]]);
        let banned = ib.config.iter().any(|(k, v)| {
            let v = v.trim();
            match k.as_str() {
                "IRQBALANCE_BANNED_CPUS" | "IRQBALANCE_BANNED_CPULIST" => !v.is_empty(),
                "IRQBALANCE_ARGS" => v.contains("banirq") || v.contains("policyscript"),
                _ => false,
            }
        });
        if !ib.running && unplaced {
            out.push(
                Recommendation::new(
                    "irqbalance-absent",
                    Severity::Info,
                    i,
                    format!("irqbalance is not running and nobody placed the {} queue IRQs of {i}", irqs.len()),
                    "Interrupt placement is left to the kernel's first choice and never adapts; several queues can end up on one busy CPU.".into(),
                )
                .evidence("irqbalance process", "not found")
                .evidence(format!("{i} queue IRQ affinity"), format!("all {} allow every online CPU ({})", irqs.len(), cpulist(online)))
                .apply("systemctl start irqbalance")
                .persist("irqbalance", None, "systemctl enable irqbalance")
                .cost("irqbalance moves interrupts every 10 s by default; a move can cost a few cache misses. Ban latency-critical CPUs with IRQBALANCE_BANNED_CPULIST.")
                .verify(format!("grep {i} /proc/interrupts"))
                .undo("systemctl disable --now irqbalance"),
            );
        } else if ib.running && manual && !banned {
            let list: Vec<String> = irqs.iter().map(|q| q.irq.to_string()).collect();
            let args = list
                .iter()
                .map(|q| format!("--banirq={q}"))
                .collect::<Vec<_>>()
                .join(" ");
            out.push(
                Recommendation::new(
                    "irqbalance-fighting",
                    Severity::Warning,
                    i,
                    format!("irqbalance runs while the queue IRQs of {i} are pinned one per CPU by hand"),
                    "irqbalance periodically rewrites affinities it does not know are deliberate; the manual layout (and the heartbeat path it protects) silently changes under load.".into(),
                )
                .evidence("irqbalance pid", ib.pid.map_or("?".into(), |p| p.to_string()))
                .evidence(format!("{i} queue IRQ → CPU"), irqs.iter().map(|q| format!("{}→{}", q.irq, cpulist(&q.affinity))).collect::<Vec<_>>().join(" "))
                .evidence("irqbalance bans configured", "none")
                .apply(format!("systemctl stop irqbalance   # or restart it with: irqbalance {args}"))
                .persist("irqbalance", Some("/etc/default/irqbalance (Debian) or /etc/sysconfig/irqbalance (RHEL)"), format!("IRQBALANCE_ARGS=\"{args}\""))
                .cost("Banned IRQs stay where they were put; if the manual layout is wrong, nothing corrects it.")
                .verify("for i in $(grep -o -- '--banirq=[0-9]*' /etc/default/irqbalance | cut -d= -f2); do cat /proc/irq/$i/smp_affinity_list; done")
                .undo("systemctl start irqbalance   # and remove IRQBALANCE_ARGS"),
            );
        }
    }
    out
}
