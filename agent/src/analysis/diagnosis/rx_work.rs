//! Receive work stuck on a held CPU: when the NET_RX wait on an RX CPU explains a gap and that
//! CPU was held by a task (an RT loop) or by interrupt work, the fix is to take the NIC queues'
//! interrupts off it (IRQ affinity, or an RSS table that avoids its queues). RPS alone is not:
//! the driver's NAPI poll still runs where the queue's interrupt fires, and RPS only hands the
//! protocol work of packets already polled to other CPUs. RPS is the fix where the protocol work
//! itself is the cost (a long NET_RX run with nothing else holding the CPU).
//!
//! Also the VM case: heartbeats that never reached this kernel while no drop counter rose were
//! lost before it saw them (in the hypervisor or on its tap), which the finding says.

use super::{
    cause::Cause,
    evidence::GapEvidence,
    recommend::Context,
    rules::{Finding, VERDICT_THRESHOLD, covers},
};
use crate::{
    analysis::{
        audit::cpulist,
        recommendation::{Recommendation, Severity},
    },
    recording::records::{HostConfig, IrqKind, NicConfig, NicIrq},
    units::format_cpumask,
    units::ns,
};

/// Move the queue IRQs off the held CPU.
pub const IRQS_OFF: &str = "rx-irqs-off-busy-cpu";
/// Steer RSS away from the queues whose IRQs sit on the held CPU.
pub const RSS_TABLE: &str = "rss-table-off-busy-cpu";
/// RPS for receive work whose cost is the protocol processing itself.
pub const RPS_PROTOCOL: &str = "rps-protocol-work";

/// A CPU busier than this in the window, with no single task to blame, was held by interrupt
/// (or mixed) work.
const BUSY_SHARE: f64 = 0.8;

/// The RX CPU whose NET_RX wait explains the gap, and what held it.
#[derive(Debug, Clone, PartialEq)]
pub struct Held {
    pub cpu: u32,
    pub wait_ns: u64,
    /// "rt-hog (PID 812), 95% of the window", or the CPU's busy share.
    pub holder: Option<String>,
    /// The longest NET_RX run on that CPU in the window.
    pub run_ns: u64,
}

/// The RX CPU with the longest NET_RX wait, when that wait is a softirq delay (the thresholds
/// of `rules::softirq_delay`).
pub fn held(e: &GapEvidence) -> Option<Held> {
    let rx: Vec<_> = e.net_rx.iter().filter(|c| c.handles_heartbeat_rx).collect();
    let worst = rx.iter().max_by_key(|c| c.window_wait_max_ns)?;
    let d = worst.window_wait_max_ns;
    if d < 1_000_000 || d < 10 * worst.baseline_wait_p99_ns.max(1) {
        return None;
    }
    let users = e
        .nic_cpu_users
        .iter()
        .flatten()
        .find(|u| u.cpu == worst.cpu);
    let holder = users.and_then(|u| match u.dominant() {
        Some(t) => Some(format!(
            "{}{} (PID {}), {:.0}% of the window",
            t.comm,
            if t.kernel_thread {
                " (kernel thread)"
            } else {
                ""
            },
            t.tgid,
            t.window_share * 100.0
        )),
        None => (u.window_busy_share >= BUSY_SHARE).then(|| {
            format!(
                "interrupt and task work, busy {:.0}% of the window",
                u.window_busy_share * 100.0
            )
        }),
    });
    // Deferred softirqs say the CPU could not run them in time even without samples.
    let holder = holder.or_else(|| {
        (worst.ksoftirqd.excess(e.window_s()) > 0.0)
            .then(|| "work that kept ksoftirqd waiting (softirqs deferred above normal)".into())
    });
    Some(Held {
        cpu: worst.cpu,
        wait_ns: d,
        holder,
        run_ns: worst.window_run_max_ns,
    })
}

/// RX queue IRQs routed to `cpu` alone, per NIC: by their affinity mask or their effective
/// affinity (x86 moves an IRQ only when it next fires, so an idle queue's effective affinity
/// lags a new mask).
fn irqs_on(config: &HostConfig, cpu: u32) -> Vec<(&NicConfig, Vec<&NicIrq>)> {
    config
        .nics
        .iter()
        .filter(|n| !n.is_virtual)
        .map(|n| {
            let on: Vec<&NicIrq> = n
                .queue_irqs()
                .filter(|q| q.kind == IrqKind::Rx && (q.affinity == [cpu] || q.effective == [cpu]))
                .collect();
            (n, on)
        })
        .filter(|(_, on)| !on.is_empty())
        .collect()
}

/// "virtio0-input.0–3" for consecutive queues of one device, else the names joined.
fn names(irqs: &[&NicIrq]) -> String {
    let parsed: Vec<(&str, u32)> = irqs.iter().filter_map(|q| split_queue(&q.name)).collect();
    if parsed.len() == irqs.len() && parsed.len() > 1 {
        let prefix = parsed[0].0;
        let same = parsed.iter().all(|(p, _)| *p == prefix);
        let run = parsed.windows(2).all(|w| w[1].1 == w[0].1 + 1);
        if same && run {
            return format!("{prefix}{}–{}", parsed[0].1, parsed[parsed.len() - 1].1);
        }
    }
    irqs.iter()
        .map(|q| q.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// "virtio0-input.2" → ("virtio0-input.", 2); "eth0-TxRx-3" → ("eth0-TxRx-", 3).
fn split_queue(name: &str) -> Option<(&str, u32)> {
    let digits = name.len() - name.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    if digits == 0 || digits == name.len() {
        return None;
    }
    let (p, n) = name.split_at(name.len() - digits);
    Some((p, n.parse().ok()?))
}

/// Evidence lines for a softirq_delay verdict: the queues whose IRQs sit on the held CPU, and,
/// when nothing in this kernel dropped them, that the missing heartbeats were lost before it.
pub fn annotate(findings: &mut [Finding], e: &GapEvidence, cx: &Context<'_>) {
    let Some(f) = findings
        .iter_mut()
        .find(|f| f.cause == Cause::SoftirqDelay && f.confidence >= VERDICT_THRESHOLD)
    else {
        return;
    };
    if let (Some(h), Some(config)) = (held(e), cx.config) {
        for (nic, on) in irqs_on(config, h.cpu) {
            f.evidence.push(format!(
                "{} RX queue IRQ(s) of {} ({}) are routed to CPU {}: their NAPI polls wait for it",
                on.len(),
                nic.name,
                names(&on),
                h.cpu
            ));
        }
    }
    if let Some(line) = unseen(e, cx) {
        f.evidence.push(line);
    }
}

/// A virtio NIC's heartbeats missing at the device with no drop counter up: held or lost before
/// this kernel saw them (those delivered late arrive in the burst that ends the gap, not counted
/// in it). On metal the NIC's own miss counters say it (`nic_ring_overflow`).
fn unseen(e: &GapEvidence, cx: &Context<'_>) -> Option<String> {
    let flow = e.flow.as_ref()?;
    let vm = cx.config.is_some_and(|c| {
        c.nics
            .iter()
            .any(|n| n.driver.as_deref().is_some_and(|d| d.starts_with("virtio")))
    });
    let w = e.window_s();
    let quiet = flow.dropped_total() == 0
        && e.softnet_dropped.excess(w) == 0.0
        && e.udp_rcvbuf_errors.excess(w) == 0.0
        && e.nic_missed.excess(w) == 0.0;
    let expected = (e.gap_ns / e.expected_interval_ns.max(1)).saturating_sub(1);
    if !vm || !quiet || expected == 0 || flow.seen_at_device >= expected {
        return None;
    }
    Some(format!(
        "no drop counter of this kernel rose, yet only {} of about {expected} heartbeats reached the NIC during the gap: the others were held or lost before this kernel saw them (a virtio NIC: queued in its RX ring while nothing polled it, then dropped by the hypervisor or the host's tap once full, which the host's tap tx_dropped counts)",
        flow.seen_at_device
    ))
}

/// Recommendations for a held RX CPU: IRQs off it (first), or an RSS table that avoids its
/// queues; RPS only where the protocol work is the cost.
pub fn recommend(e: &GapEvidence, cx: &Context<'_>, why: &str) -> Vec<Recommendation> {
    let (Some(h), Some(config)) = (held(e), cx.config) else {
        return Vec::new();
    };
    let online = if config.cpus.online.is_empty() {
        cx.online
    } else {
        &config.cpus.online[..]
    };
    let targets: Vec<u32> = online
        .iter()
        .copied()
        .filter(|c| *c != h.cpu && !config.cpus.isolated.contains(c))
        .collect();
    if targets.is_empty() {
        return Vec::new();
    }
    let on = irqs_on(config, h.cpu);
    let mut out = Vec::new();
    match &h.holder {
        Some(holder) => {
            if !on.is_empty() {
                out.push(irqs_off(&h, holder, &on, &targets, config, why));
            }
            out.extend(
                on.iter()
                    .filter_map(|(nic, irqs)| rss_table(&h, nic, irqs, why)),
            );
        }
        None if covers(h.run_ns, h.wait_ns) => {
            out.extend(on.iter().map(|(nic, _)| rps(&h, nic, &targets, why)));
        }
        None => {}
    }
    out
}

const NOT_RPS: &str = "RPS alone does not help here: the driver's NAPI poll still runs on the CPU where the queue's interrupt fires, so the packets wait there before RPS could hand them on.";

fn irqs_off(
    h: &Held,
    holder: &str,
    on: &[(&NicConfig, Vec<&NicIrq>)],
    targets: &[u32],
    config: &HostConfig,
    why: &str,
) -> Recommendation {
    let cpu = h.cpu;
    let all: Vec<&NicIrq> = on.iter().flat_map(|(_, q)| q.iter().copied()).collect();
    let subject = on
        .iter()
        .map(|(n, _)| n.name.as_str())
        .collect::<Vec<_>>()
        .join(",");
    let mut r = Recommendation::new(
        IRQS_OFF,
        Severity::Critical,
        &subject,
        format!(
            "Move the {} RX queue interrupts off CPU {cpu} (to CPU {})",
            all.len(),
            cpulist(targets)
        ),
        format!("CPU {cpu} was held by {holder} while every receive queue whose interrupt fires there waited for it: NET_RX waited up to {}. Taking the interrupts off CPU {cpu} lets the NAPI polls run elsewhere. {NOT_RPS}", ns(h.wait_ns)),
    )
    .evidence("gap evidence", why)
    .evidence(format!("CPU {cpu} held by"), holder);
    for (nic, q) in on {
        r = r.evidence(format!("{} RX queue IRQs on CPU {cpu}", nic.name), names(q));
    }
    r = r.evidence("irqbalance running", config.irqbalance.running);
    if config.irqbalance.running {
        // Otherwise irqbalance moves them back within its next pass.
        r = r.apply(format!("# irqbalance runs: ban CPU {cpu} first (IRQBALANCE_BANNED_CPULIST={cpu} in /etc/default/irqbalance, then systemctl restart irqbalance)"));
    }
    for (k, q) in all.iter().enumerate() {
        r = r.apply(format!(
            "echo {} > /proc/irq/{}/smp_affinity_list   # {}",
            targets[k % targets.len()],
            q.irq,
            q.name
        ));
    }
    r = if config.irqbalance.running {
        r.persist("irqbalance", Some("/etc/default/irqbalance"), format!("IRQBALANCE_BANNED_CPULIST={cpu}   # irqbalance keeps device interrupts off CPU {cpu}; then systemctl restart irqbalance"))
    } else {
        r.persist("systemd unit", None, format!("a oneshot unit after network-online.target running the echo lines above, or irqbalance with IRQBALANCE_BANNED_CPULIST={cpu}"))
    };
    for q in &all {
        r = r.undo(format!(
            "echo {} > /proc/irq/{}/smp_affinity_list",
            cpulist(&q.affinity),
            q.irq
        ));
    }
    r.cost(format!("CPU {} takes these interrupts and their receive work; keep latency-critical or isolated CPUs out of the list. Kernel-managed IRQs refuse manual affinity (EIO): then use the RSS table instead.", cpulist(targets)))
        .verify(format!("grep -E '{}' /proc/interrupts   # counts grow on CPU {} only", all.iter().map(|q| q.name.as_str()).collect::<Vec<_>>().join("|"), cpulist(targets)))
        .verify(format!("hbwatch record ... && hbwatch report   # NET_RX wait on CPU {cpu} no longer explains gaps"))
}

/// The RSS table with weight 0 for the queues whose IRQs sit on the held CPU: only when some of
/// the NIC's RX queues are served elsewhere (otherwise there is nowhere to steer to).
fn rss_table(h: &Held, nic: &NicConfig, on: &[&NicIrq], why: &str) -> Option<Recommendation> {
    let queues = nic.rx_queue_count();
    let on_q: Vec<u32> = on
        .iter()
        .filter_map(|q| split_queue(&q.name).map(|(_, n)| n))
        .collect();
    if queues < 2 || on_q.len() != on.len() || on_q.len() as u32 >= queues {
        return None;
    }
    let weights: Vec<&str> = (0..queues)
        .map(|q| if on_q.contains(&q) { "0" } else { "1" })
        .collect();
    let (i, cpu) = (&nic.name, h.cpu);
    Some(
        Recommendation::new(
            RSS_TABLE,
            Severity::Warning,
            i,
            format!("Steer {i}'s RSS table away from the queues served on CPU {cpu}"),
            format!("Queues {} of {i} are served on CPU {cpu}, which was held; an indirection table with weight 0 for them sends new packets to the queues served elsewhere. {NOT_RPS}", cpulist(&on_q)),
        )
        .evidence("gap evidence", why)
        .evidence(format!("{i} RX queues"), queues)
        .evidence(format!("{i} queues served on CPU {cpu}"), cpulist(&on_q))
        .apply(format!("ethtool -x {i}   # the table now"))
        .apply(format!("ethtool -X {i} weight {}", weights.join(" ")))
        .persist("udev", Some("/etc/udev/rules.d/90-hbwatch-rss.rules"), format!("ACTION==\"add\", SUBSYSTEM==\"net\", KERNEL==\"{i}\", RUN+=\"/usr/sbin/ethtool -X {i} weight {}\"", weights.join(" ")))
        .cost(format!("The other queues (and their CPUs) take all of {i}'s receive traffic. `ethtool -X {i} equal N` spreads over the first N queues instead."))
        .verify(format!("ethtool -x {i}   # no entry points at queues {}", cpulist(&on_q)))
        .undo(format!("ethtool -X {i} default")),
    )
}

/// Protocol work is the cost (long NET_RX runs, nothing else holding the CPU): RPS spreads it.
fn rps(h: &Held, nic: &NicConfig, targets: &[u32], why: &str) -> Recommendation {
    let (i, cpu) = (&nic.name, h.cpu);
    let mask = format_cpumask(targets);
    let mut r = Recommendation::new(
        RPS_PROTOCOL,
        Severity::Warning,
        i,
        format!("Spread {i}'s protocol work with RPS to CPU {}", cpulist(targets)),
        format!("NET_RX on CPU {cpu} ran up to {} with nothing else holding the CPU: the protocol work of the packets is the cost, and RPS hands it to other CPUs after the driver's poll.", ns(h.run_ns)),
    )
    .evidence("gap evidence", why)
    .evidence(format!("longest NET_RX run on CPU {cpu}"), ns(h.run_ns));
    for q in &nic.rx_queues {
        r = r.apply(format!(
            "echo {mask} > /sys/class/net/{i}/queues/rx-{}/rps_cpus",
            q.index
        ));
    }
    for q in &nic.rx_queues {
        r = r.undo(format!(
            "echo {} > /sys/class/net/{i}/queues/rx-{}/rps_cpus",
            format_cpumask(&q.rps_cpus),
            q.index
        ));
    }
    r.persist("udev", Some("/etc/udev/rules.d/90-hbwatch-rps.rules"), format!("ACTION==\"add\", SUBSYSTEM==\"net\", KERNEL==\"{i}\", RUN+=\"/bin/sh -c 'for f in /sys/class/net/{i}/queues/rx-*/rps_cpus; do echo {mask} > $f; done'\""))
        .cost("Inter-processor interrupts and cache traffic; the driver's poll itself stays where it is.")
        .verify("cat /proc/net/softnet_stat   # column 10 (received_rps) grows on the target CPUs")
}

#[cfg(test)]
#[path = "rx_work_tests.rs"]
mod tests;
