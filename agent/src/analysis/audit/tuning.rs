//! Trade-off rules: receive offloads and interrupt coalescing for heartbeat latency, CPU steal.

use super::AuditInput;
use crate::analysis::recommendation::{Recommendation, Severity};

/// Coalescing above this many microseconds is visible next to heartbeat jitter budgets.
const RX_USECS_NOTABLE: u32 = 50;

/// LRO on, adaptive RX coalescing, or long RX coalescing delays.
pub fn offload_coalesce(input: &AuditInput<'_>) -> Vec<Recommendation> {
    input
        .nics()
        .filter_map(|n| {
            let lro = n.ethtool.features.get("rx-lro").copied().unwrap_or(false);
            let gro = n.ethtool.features.get("rx-gro").copied();
            let c = n.ethtool.coalesce.unwrap_or_default();
            let adaptive = c.adaptive_rx.unwrap_or(false);
            let usecs = c.rx_usecs.unwrap_or(0);
            if !lro && !adaptive && usecs <= RX_USECS_NOTABLE {
                return None;
            }
            let i = &n.name;
            let mut r = Recommendation::new(
                "offload-coalescing",
                Severity::Info,
                i,
                format!("{i} trades latency for throughput (LRO {}, adaptive RX {}, rx-usecs {usecs})", on(lro), on(adaptive)),
                "Coalescing holds a heartbeat in the NIC until a timer or frame count fires, and LRO merges segments in hardware; both add delay and jitter to small latency-sensitive packets.".into(),
            )
            .evidence(format!("{i} rx-lro"), on(lro))
            .evidence(format!("{i} rx-gro"), gro.map_or("unknown", on))
            .evidence(format!("{i} adaptive-rx"), on(adaptive))
            .evidence(format!("{i} rx-usecs"), usecs);
            let mut set = Vec::new();
            let mut back = Vec::new();
            if lro {
                r = r.apply(format!("ethtool -K {i} lro off")).undo(format!("ethtool -K {i} lro on"));
                set.push(("lro", "off".to_owned()));
            }
            if adaptive || usecs > RX_USECS_NOTABLE {
                let new = usecs.clamp(8, RX_USECS_NOTABLE);
                r = r.apply(format!("ethtool -C {i} adaptive-rx off rx-usecs {new}"));
                back.push(format!("ethtool -C {i} adaptive-rx {} rx-usecs {usecs}", on(adaptive)));
                set.push(("coalesce", format!("adaptive-rx off rx-usecs {new}")));
            }
            for b in back {
                r = r.undo(b);
            }
            let udev: Vec<String> = set
                .iter()
                .map(|(k, v)| if *k == "lro" { format!("/usr/sbin/ethtool -K {i} lro {v}") } else { format!("/usr/sbin/ethtool -C {i} {v}") })
                .collect();
            let mut nm = Vec::new();
            let mut networkd = Vec::new();
            for (k, v) in &set {
                if *k == "lro" {
                    nm.push("ethtool.feature-lro off".to_owned());
                    networkd.push("LargeReceiveOffload=false".to_owned());
                } else {
                    let us = v.rsplit(' ').next().unwrap_or("50");
                    nm.push(format!("ethtool.coalesce-adaptive-rx 0 ethtool.coalesce-rx-usecs {us}"));
                    networkd.push(format!("UseAdaptiveRxCoalesce=false\nRxCoalesceSec={us}us"));
                }
            }
            Some(
                r.persist("udev", Some("/etc/udev/rules.d/90-hbwatch-offload.rules"), udev.iter().map(|c| format!("ACTION==\"add\", SUBSYSTEM==\"net\", KERNEL==\"{i}\", RUN+=\"{c}\"")).collect::<Vec<_>>().join("\n"))
                    .persist("systemd-networkd", Some(&format!("/etc/systemd/network/90-{i}.link")), format!("[Match]\nOriginalName={i}\n\n[Link]\n{}", networkd.join("\n")))
                    .persist("NetworkManager", None, format!("nmcli connection modify <connection-of-{i}> {}", nm.join(" ")))
                    .cost("More interrupts per second and more CPU per packet; on a busy NIC this can cost throughput. GRO stays on: it merges only within one softirq poll and costs heartbeats almost nothing.")
                    .verify(format!("ethtool -c {i}; ethtool -k {i} | grep large-receive")),
            )
        })
        .collect()
}

fn on(b: bool) -> &'static str {
    if b { "on" } else { "off" }
}

/// Steal above this share of a CPU's time means the hypervisor is running someone else.
const STEAL_WARN: f64 = 0.05;
const STEAL_BOOT_INFO: f64 = 0.02;

/// Time a vCPU was runnable but the hypervisor ran something else.
pub fn cpu_steal(input: &AuditInput<'_>) -> Vec<Recommendation> {
    let worst = |s: Option<&crate::recording::records::SystemSample>| {
        s.and_then(|s| {
            s.cpu_time
                .iter()
                .filter(|c| c.total_ns > 0)
                .map(|c| (c.cpu, c.steal_ns as f64 / c.total_ns as f64))
                .max_by(|a, b| a.1.total_cmp(&b.1))
        })
    };
    let recent = worst(input.recent).filter(|(_, f)| *f >= STEAL_WARN);
    let boot = worst(input.since_boot).filter(|(_, f)| *f >= STEAL_BOOT_INFO);
    let (severity, (cpu, frac), when) = match (recent, boot) {
        (Some(r), _) => (Severity::Warning, r, "in the last window"),
        (None, Some(b)) => (Severity::Info, b, "since boot"),
        (None, None) => return Vec::new(),
    };
    let mut r = Recommendation::new(
        "cpu-steal",
        severity,
        "host",
        format!("The hypervisor took {:.1}% of CPU {cpu}'s time {when} (steal)", frac * 100.0),
        "While a vCPU is stolen nothing runs on it, softirqs included: heartbeats wait for the hypervisor, and no in-guest setting removes that delay.".into(),
    )
    .evidence(format!("/proc/stat steal, CPU {cpu}, {when}"), format!("{:.1}%", frac * 100.0));
    if let (Some(b), true) = (boot, recent.is_some()) {
        r = r.evidence(
            format!("/proc/stat steal, CPU {}, since boot", b.0),
            format!("{:.1}%", b.1 * 100.0),
        );
    }
    vec![
        r.persist("hypervisor", None, "Ask for dedicated (pinned) vCPUs or a host with less overcommit; this cannot be changed from inside the guest.")
            .cost("Dedicated vCPUs cost more; moving heartbeat traffic handling to a less loaded VM is the alternative.")
            .verify("mpstat -P ALL 1   # %steal column")
            .verify("grep '^cpu' /proc/stat   # 8th number (steal) grows slowly"),
    ]
}
