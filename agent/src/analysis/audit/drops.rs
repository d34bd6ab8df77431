//! Drop rules: softnet backlog drops and budget squeezes, UDP receive-buffer errors, NIC ring
//! overruns.

use super::{AuditInput, SYSCTL_FILE};
use crate::analysis::recommendation::{Recommendation, Severity};

/// (since boot, recent) sums of one softnet field, with the CPUs that counted it since boot.
fn softnet_sum(
    input: &AuditInput<'_>,
    f: fn(&crate::recording::records::SoftnetDelta) -> u64,
) -> (u64, u64, Vec<String>) {
    let boot = input
        .since_boot
        .map_or(0, |s| s.softnet.iter().map(f).sum());
    let recent = input.recent.map_or(0, |s| s.softnet.iter().map(f).sum());
    let cpus = input
        .since_boot
        .map(|s| {
            s.softnet
                .iter()
                .filter(|x| f(x) > 0)
                .map(|x| format!("CPU {}: {}", x.cpu, f(x)))
                .collect()
        })
        .unwrap_or_default();
    (boot, recent, cpus)
}

fn sysctl_fix(r: Recommendation, name: &str, cur: u64, new: u64) -> Recommendation {
    r.apply(format!("sysctl -w {name}={new}"))
        .persist("sysctl.d", Some(SYSCTL_FILE), format!("{name} = {new}"))
        .undo(format!("sysctl -w {name}={cur}"))
}

/// True when only the since-boot total moved: the window watched saw none of it.
fn only_before(input: &AuditInput<'_>, recent: u64) -> bool {
    recent == 0 && input.since_boot.is_some() && input.recent.is_some()
}

/// ", all before this run (none in the 1.0 s it watched)" for a count that did not move in the
/// window, else nothing: an old counter is history, not a finding about now.
fn when(input: &AuditInput<'_>, recent: u64) -> String {
    match input.recent {
        Some(r) if only_before(input, recent) => format!(
            ", all before this run (none in the {:.1} s it watched)",
            r.duration_ns() as f64 / 1e9
        ),
        _ => String::new(),
    }
}

/// Critical while the counter moves; `old` (a warning or less) when it moved only before.
fn severity(input: &AuditInput<'_>, recent: u64, old: Severity) -> Severity {
    if only_before(input, recent) {
        old
    } else {
        Severity::Critical
    }
}

/// Packets dropped because a CPU's input backlog was full.
pub fn softnet_backlog(input: &AuditInput<'_>) -> Vec<Recommendation> {
    let (boot, recent, cpus) = softnet_sum(input, |s| s.dropped);
    if boot + recent == 0 {
        return Vec::new();
    }
    let cur = input
        .config
        .sysctl_u64("net.core.netdev_max_backlog")
        .unwrap_or(1000);
    let new = (cur * 2).max(2000);
    let r = Recommendation::new(
        "softnet-backlog-drops",
        severity(input, recent, Severity::Info),
        "host",
        format!(
            "The kernel dropped {} packets because a CPU's backlog queue was full{}",
            boot.max(recent),
            when(input, recent)
        ),
        "A full backlog drops packets before any socket sees them: heartbeats vanish without a trace in socket or UDP counters.".into(),
    )
    .evidence("/proc/net/softnet_stat dropped since boot", boot)
    .evidence("dropped in the last window", format!("{recent} ({:.1}/s)", input.rate(recent)))
    .evidence("per CPU", cpus.join(", "))
    .evidence("net.core.netdev_max_backlog", cur);
    sysctl_fix(r, "net.core.netdev_max_backlog", cur, new)
        .cost("A longer backlog holds more packets per CPU (memory, and queueing delay under overload) instead of dropping them. If one CPU does all the work, spreading it (RSS, RPS) is the real fix.")
        .verify("watch -d -n1 cat /proc/net/softnet_stat   # column 2 stops growing")
        .into_vec()
}

/// NAPI polls cut short by netdev_budget / netdev_budget_usecs.
pub fn softnet_squeeze(input: &AuditInput<'_>) -> Vec<Recommendation> {
    let (boot, recent, cpus) = softnet_sum(input, |s| s.time_squeeze);
    if boot + recent == 0 {
        return Vec::new();
    }
    let budget = input
        .config
        .sysctl_u64("net.core.netdev_budget")
        .unwrap_or(300);
    let usecs = input
        .config
        .sysctl_u64("net.core.netdev_budget_usecs")
        .unwrap_or(2000);
    let severity = if recent > 0 {
        Severity::Warning
    } else {
        Severity::Info
    };
    let r = Recommendation::new(
        "softnet-time-squeeze",
        severity,
        "host",
        format!(
            "Receive processing ran out of budget {} times (time_squeeze){}",
            boot.max(recent),
            when(input, recent)
        ),
        "Each squeeze leaves packets in the ring until the next softirq run, often in ksoftirqd at normal priority: heartbeats queue behind bulk traffic and can wait milliseconds.".into(),
    )
    .evidence("/proc/net/softnet_stat time_squeeze since boot", boot)
    .evidence("time_squeeze in the last window", format!("{recent} ({:.1}/s)", input.rate(recent)))
    .evidence("per CPU", cpus.join(", "))
    .evidence("net.core.netdev_budget", budget)
    .evidence("net.core.netdev_budget_usecs", usecs);
    let r = sysctl_fix(r, "net.core.netdev_budget", budget, (budget * 2).max(600));
    sysctl_fix(r, "net.core.netdev_budget_usecs", usecs, (usecs * 2).max(4000))
        .cost("A larger budget lets one softirq run longer, which can delay tasks on that CPU; spreading receive work over more CPUs lowers the load instead.")
        .verify("watch -d -n1 cat /proc/net/softnet_stat   # column 3 grows slower")
        .into_vec()
}

/// Hosts whose `net.core.rmem_max` is below this are advised to raise it to this.
pub const RMEM_MAX_TARGET: u64 = 16 << 20;

/// The one `net.core.rmem_max` hbwatch suggests (`check` and `report` alike) for a host at `cur`:
/// 16 MiB, or double `cur` when it is already there, so the advice always changes something.
pub fn rmem_max_suggestion(cur: u64) -> u64 {
    if cur < RMEM_MAX_TARGET {
        RMEM_MAX_TARGET
    } else {
        cur.saturating_mul(2)
    }
}

/// Why that value, for the evidence line of either recommendation.
pub fn rmem_max_reason(cur: u64) -> String {
    let new = rmem_max_suggestion(cur);
    format!(
        "{new} bytes: rmem_max only caps what a socket may ask for with SO_RCVBUF, so it costs no memory until the daemon asks; at about 2 KiB of buffer per small datagram (payload and kernel overhead), 16 MiB rides out a burst of about 8,000{}",
        if cur >= RMEM_MAX_TARGET {
            "; already at that, so doubled"
        } else {
            ""
        }
    )
}

/// UDP datagrams dropped because a socket's receive buffer was full.
pub fn udp_rcvbuf(input: &AuditInput<'_>) -> Vec<Recommendation> {
    let names = ["Udp.RcvbufErrors", "Udp6.RcvbufErrors"];
    let boot: u64 = input
        .since_boot
        .map_or(0, |s| names.iter().map(|n| s.snmp(n)).sum());
    let recent: u64 = input
        .recent
        .map_or(0, |s| names.iter().map(|n| s.snmp(n)).sum());
    if boot + recent == 0 {
        return Vec::new();
    }
    let rmax = input
        .config
        .sysctl_u64("net.core.rmem_max")
        .unwrap_or(212_992);
    let rdef = input
        .config
        .sysctl_u64("net.core.rmem_default")
        .unwrap_or(212_992);
    let mut r = Recommendation::new(
        "udp-rcvbuf-errors",
        severity(input, recent, Severity::Info),
        "host",
        format!(
            "{} UDP datagrams were dropped because a socket's receive buffer was full{}",
            boot.max(recent),
            when(input, recent)
        ),
        "A heartbeat reader that falls behind (a stall, a slow consumer) loses heartbeats once its buffer fills; the peer then sees a gap.".into(),
    )
    .evidence("Udp.RcvbufErrors + Udp6.RcvbufErrors since boot", boot)
    .evidence("in the last window", format!("{recent} ({:.1}/s)", input.rate(recent)))
    .evidence("net.core.rmem_default", rdef)
    .evidence("net.core.rmem_max", rmax);
    if let Some(s) = input.since_boot {
        let mut socks: Vec<_> = s.udp_sockets.iter().filter(|u| u.drops > 0).collect();
        socks.sort_by_key(|u| std::cmp::Reverse(u.drops));
        for u in socks.iter().take(5) {
            r = r.evidence(
                format!("socket {} (inode {}) drops", u.local, u.inode),
                u.drops,
            );
        }
    }
    let r = r.evidence("suggested net.core.rmem_max", rmem_max_reason(rmax));
    let r = sysctl_fix(r, "net.core.rmem_max", rmax, rmem_max_suggestion(rmax));
    sysctl_fix(r, "net.core.rmem_default", rdef, rdef.max(1 << 20))
        .cost("rmem_default applies to every new socket that does not set SO_RCVBUF: more kernel memory per socket. Raising only rmem_max and having the heartbeat daemon set SO_RCVBUF is cheaper.")
        .verify("nstat -az UdpRcvbufErrors Udp6RcvbufErrors   # stops growing")
        .verify("ss -uamn   # skmem rb shows the new buffer size for restarted sockets")
        .into_vec()
}

/// `ethtool -S` names that count frames the NIC dropped for lack of ring or buffer space.
pub const MISSED_STATS: &[&str] = &[
    "rx_missed_errors",
    "rx_no_buffer_count",
    "rx_out_of_buffer",
    "rx_discards_phy",
    "rx_fifo_errors",
    "rx_dropped",
    "rx_drops",
];

/// RX rings below their maximum while the NIC reports missed frames.
pub fn rings(input: &AuditInput<'_>) -> Vec<Recommendation> {
    input
        .nics()
        .filter_map(|n| {
            let ring = n.ethtool.rings?;
            if ring.rx_max == 0 || ring.rx >= ring.rx_max {
                return None;
            }
            let i = &n.name;
            let sum = |s: Option<&crate::recording::records::SystemSample>| -> Vec<(String, u64)> {
                s.map(|s| {
                    s.ethtool
                        .iter()
                        .filter(|(f, name, v)| f == i && *v > 0 && MISSED_STATS.contains(&name.as_str()))
                        .map(|(_, name, v)| (name.clone(), *v))
                        .collect()
                })
                .unwrap_or_default()
            };
            let boot = sum(input.since_boot);
            let recent = sum(input.recent);
            if boot.is_empty() && recent.is_empty() {
                return None;
            }
            let new = ring.rx_max.min((ring.rx * 4).max(1024));
            let severity = if recent.is_empty() { Severity::Warning } else { Severity::Critical };
            let mut r = Recommendation::new(
                "ring-small-missed",
                severity,
                i,
                format!(
                    "{i} RX ring is {} of {} and the NIC has missed frames{}",
                    ring.rx,
                    ring.rx_max,
                    when(input, recent.iter().map(|(_, v)| v).sum())
                ),
                "When the ring fills during a burst or a slow softirq run, the NIC drops frames in hardware: heartbeats are lost before the kernel sees them.".into(),
            )
            .evidence(format!("{i} RX ring (ethtool -g)"), format!("{} of max {}", ring.rx, ring.rx_max));
            for (name, v) in &boot {
                r = r.evidence(format!("{name} since boot"), v);
            }
            for (name, v) in &recent {
                r = r.evidence(format!("{name} in the last window"), format!("{v} ({:.1}/s)", input.rate(*v)));
            }
            Some(
                r.apply(format!("ethtool -G {i} rx {new}"))
                    .persist("udev", Some("/etc/udev/rules.d/90-hbwatch-rings.rules"), format!("ACTION==\"add\", SUBSYSTEM==\"net\", KERNEL==\"{i}\", RUN+=\"/usr/sbin/ethtool -G {i} rx {new}\""))
                    .persist("systemd-networkd", Some(&format!("/etc/systemd/network/90-{i}.link")), format!("[Match]\nOriginalName={i}\n\n[Link]\nRxBufferSize={new}"))
                    .persist("NetworkManager", None, format!("nmcli connection modify <connection-of-{i}> ethtool.ring-rx {new}"))
                    .cost("A bigger ring absorbs bursts but uses more memory and can hold packets longer under sustained overload; resizing resets the link briefly.")
                    .verify(format!("ethtool -S {i} | grep -E 'miss|no_buf|out_of_buffer|discard'   # stops growing"))
                    .undo(format!("ethtool -G {i} rx {}", ring.rx)),
            )
        })
        .collect()
}

trait IntoVec {
    fn into_vec(self) -> Vec<Recommendation>;
}
impl IntoVec for Recommendation {
    fn into_vec(self) -> Vec<Recommendation> {
        vec![self]
    }
}
