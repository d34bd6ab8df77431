//! Periodic kernel counters: one cumulative [`Counters`] read per tick, turned into sparse
//! [`SystemSample`] deltas; a source that cannot be read is reported once, the rest keep going.

use std::collections::{BTreeMap, BTreeSet};

use super::{cpu_table, ethtool, host::HostRoot, netdev, snmp, softnet, stat, udp};
use crate::recording::records::{
    CollectorState, CollectorStatus, CpuTimeDelta, HostConfig, NetdevDelta, SoftnetDelta,
    SystemSample, UdpSocketDelta,
};

/// `ethtool -S` names worth keeping: drops, misses, errors, buffer exhaustion. Packet and byte
/// counters (hundreds per multi-queue NIC) are left to /proc/net/dev to keep recordings small.
const STAT_WORDS: &[&str] = &[
    "drop",
    "discard",
    "miss",
    "err",
    "no_buf",
    "out_of_buffer",
    "fifo",
    "over",
    "full",
    "fail",
    "timeout",
    "alloc",
];

pub fn stat_is_kept(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    STAT_WORDS.iter().any(|w| n.contains(w))
}

/// What to read: fixed by the host configuration.
#[derive(Debug, Clone, Default)]
pub struct Targets {
    /// NIC interrupts to follow in /proc/interrupts.
    pub irqs: BTreeSet<u32>,
    /// Physical interfaces whose ethtool statistics to read.
    pub ifaces: Vec<String>,
    /// Softirq vector names by index (the recording header's list).
    pub vectors: Vec<String>,
}

impl Targets {
    pub fn from_config(config: &HostConfig, vectors: Vec<String>) -> Self {
        Targets {
            irqs: config
                .nics
                .iter()
                .flat_map(|n| n.irqs.iter().map(|i| i.irq))
                .collect(),
            ifaces: config
                .nics
                .iter()
                .filter(|n| !n.is_virtual)
                .map(|n| n.name.clone())
                .collect(),
            vectors,
        }
    }
}

/// Cumulative counters at one instant.
#[derive(Debug, Clone, Default)]
pub struct Counters {
    pub at_mono_ns: u64,
    pub softnet: BTreeMap<u32, softnet::SoftnetRow>,
    pub softirqs: BTreeMap<(u8, u32), u64>,
    pub interrupts: BTreeMap<(u32, u32), u64>,
    pub cpu_time: BTreeMap<u32, stat::CpuTimes>,
    pub psi: (Option<u64>, Option<u64>),
    pub snmp: BTreeMap<String, u64>,
    pub udp: BTreeMap<(String, u64), (u64, u64)>,
    pub netdev: BTreeMap<String, netdev::NetdevRow>,
    pub ethtool: BTreeMap<(String, String), u64>,
}

/// One source's outcome in a read: `Err` carries why it is degraded or unavailable.
pub type SourceResult = (&'static str, Result<(), (CollectorState, String)>);

impl Counters {
    /// Reads every source under `root`.
    pub fn read(root: &HostRoot, t: &Targets, at_mono_ns: u64) -> (Counters, Vec<SourceResult>) {
        let mut c = Counters {
            at_mono_ns,
            ..Counters::default()
        };
        let mut res = Vec::new();
        let unavailable = |rel: &str, e: std::io::Error| {
            Err((CollectorState::Unavailable, format!("/{rel}: {e}")))
        };
        let online = root.online_cpus();
        res.push((
            "softnet",
            match root.read("proc/net/softnet_stat") {
                Ok(s) => {
                    c.softnet = softnet::parse(&s, &online)
                        .into_iter()
                        .map(|r| (r.cpu, r))
                        .collect();
                    Ok(())
                }
                Err(e) => unavailable("proc/net/softnet_stat", e),
            },
        ));
        res.push((
            "softirqs",
            match root.read("proc/softirqs") {
                Ok(s) => {
                    let table = cpu_table::parse(&s);
                    for row in &table.rows {
                        let Some(v) = t.vectors.iter().position(|n| *n == row.key) else {
                            continue;
                        };
                        for (cpu, n) in row.per_cpu(&table.cpus) {
                            c.softirqs.insert((v as u8, cpu), n);
                        }
                    }
                    Ok(())
                }
                Err(e) => unavailable("proc/softirqs", e),
            },
        ));
        res.push((
            "interrupts",
            match root.read("proc/interrupts") {
                Ok(s) => {
                    let table = cpu_table::parse(&s);
                    for row in &table.rows {
                        let Some(irq) = row.key.parse::<u32>().ok().filter(|i| t.irqs.contains(i))
                        else {
                            continue;
                        };
                        for (cpu, n) in row.per_cpu(&table.cpus) {
                            c.interrupts.insert((irq, cpu), n);
                        }
                    }
                    Ok(())
                }
                Err(e) => unavailable("proc/interrupts", e),
            },
        ));
        res.push((
            "cpu-time",
            match root.read("proc/stat") {
                Ok(s) => {
                    c.cpu_time = stat::parse_stat(&s)
                        .into_iter()
                        .map(|r| (r.cpu, r))
                        .collect();
                    Ok(())
                }
                Err(e) => unavailable("proc/stat", e),
            },
        ));
        res.push((
            "psi-cpu",
            match root.read("proc/pressure/cpu") {
                Ok(s) => {
                    c.psi = stat::parse_psi(&s);
                    Ok(())
                }
                // Kernels without CONFIG_PSI or booted with psi=0.
                Err(e) => unavailable("proc/pressure/cpu", e),
            },
        ));
        res.push(("snmp", read_snmp(root, &mut c.snmp)));
        res.push(("udp-sockets", read_udp(root, &mut c.udp)));
        res.push((
            "netdev",
            match root.read("proc/net/dev") {
                Ok(s) => {
                    c.netdev = netdev::parse(&s);
                    Ok(())
                }
                Err(e) => unavailable("proc/net/dev", e),
            },
        ));
        let mut degraded = Vec::new();
        for iface in &t.ifaces {
            let (stats, why) = ethtool::stats(root, iface);
            if let Some(why) = why {
                degraded.push(format!("{iface}: {why}"));
            }
            for (name, v) in stats.into_iter().filter(|(n, _)| stat_is_kept(n)) {
                c.ethtool.insert((iface.clone(), name), v);
            }
        }
        res.push((
            "ethtool-stats",
            if degraded.is_empty() {
                Ok(())
            } else {
                Err((CollectorState::Degraded, degraded.join("; ")))
            },
        ));
        (c, res)
    }
}

fn read_snmp(
    root: &HostRoot,
    out: &mut BTreeMap<String, u64>,
) -> Result<(), (CollectorState, String)> {
    let mut missing = Vec::new();
    let mut all = BTreeMap::new();
    for rel in ["proc/net/snmp", "proc/net/netstat"] {
        match root.read(rel) {
            Ok(s) => all.extend(snmp::parse(&s)),
            Err(e) => missing.push(format!("/{rel}: {e}")),
        }
    }
    if let Ok(s) = root.read("proc/net/snmp6") {
        all.extend(snmp::parse_snmp6(&s));
    }
    out.extend(
        all.into_iter()
            .filter(|(k, _)| snmp::KEPT.contains(&k.as_str())),
    );
    if missing.is_empty() {
        Ok(())
    } else {
        Err((CollectorState::Degraded, missing.join("; ")))
    }
}

fn read_udp(
    root: &HostRoot,
    out: &mut BTreeMap<(String, u64), (u64, u64)>,
) -> Result<(), (CollectorState, String)> {
    let mut missing = Vec::new();
    for rel in ["proc/net/udp", "proc/net/udp6"] {
        match root.read(rel) {
            Ok(s) => {
                for sock in udp::parse(&s) {
                    out.insert((sock.local, sock.inode), (sock.rx_queue, sock.drops));
                }
            }
            Err(e) => missing.push(format!("/{rel}: {e}")),
        }
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err((CollectorState::Degraded, missing.join("; ")))
    }
}

/// Counter difference; softnet counters are 32-bit in the kernel and wrap, the rest restart
/// from zero when an interface or socket is recreated.
fn d(new: u64, old: u64) -> u64 {
    if new >= old {
        new - old
    } else if old <= u64::from(u32::MAX) {
        new + (1u64 << 32) - old
    } else {
        new
    }
}

/// What moved between `prev` and `cur`. Against `Counters::default()` this is totals since boot.
pub fn delta(prev: &Counters, cur: &Counters) -> SystemSample {
    let zero_sn = softnet::SoftnetRow::default();
    let softnet = cur
        .softnet
        .iter()
        .map(|(cpu, n)| {
            let o = prev.softnet.get(cpu).unwrap_or(&zero_sn);
            SoftnetDelta {
                cpu: *cpu,
                processed: d(n.processed, o.processed),
                dropped: d(n.dropped, o.dropped),
                time_squeeze: d(n.time_squeeze, o.time_squeeze),
                received_rps: d(n.received_rps, o.received_rps),
                flow_limit_count: d(n.flow_limit_count, o.flow_limit_count),
            }
        })
        .filter(|s| {
            s.processed + s.dropped + s.time_squeeze + s.received_rps + s.flow_limit_count > 0
        })
        .collect();
    let map_delta = |cur: &BTreeMap<(u32, u32), u64>,
                     prev: &BTreeMap<(u32, u32), u64>|
     -> Vec<(u32, u32, u64)> {
        cur.iter()
            .map(|(&(a, b), &n)| (a, b, d(n, prev.get(&(a, b)).copied().unwrap_or(0))))
            .filter(|x| x.2 > 0)
            .collect()
    };
    let softirqs = cur
        .softirqs
        .iter()
        .map(|(&(v, cpu), &n)| {
            (
                v,
                cpu,
                d(n, prev.softirqs.get(&(v, cpu)).copied().unwrap_or(0)),
            )
        })
        .filter(|x| x.2 > 0)
        .collect();
    let zero_ct = stat::CpuTimes::default();
    let cpu_time = cur
        .cpu_time
        .iter()
        .map(|(cpu, n)| {
            let o = prev.cpu_time.get(cpu).unwrap_or(&zero_ct);
            CpuTimeDelta {
                cpu: *cpu,
                irq_ns: n.irq_ns.saturating_sub(o.irq_ns),
                softirq_ns: n.softirq_ns.saturating_sub(o.softirq_ns),
                steal_ns: n.steal_ns.saturating_sub(o.steal_ns),
                total_ns: n.total_ns.saturating_sub(o.total_ns),
            }
        })
        // Idle-only CPUs tell nothing the interval length does not.
        .filter(|c| c.irq_ns + c.softirq_ns + c.steal_ns > 0)
        .collect();
    let psi = |n: Option<u64>, o: Option<u64>| {
        n.map(|n| n.saturating_sub(o.unwrap_or(0)))
            .filter(|v| *v > 0)
    };
    let udp_sockets = cur
        .udp
        .iter()
        .map(|((local, inode), &(rxq, drops))| UdpSocketDelta {
            local: local.clone(),
            inode: *inode,
            rx_queue: rxq,
            drops: d(
                drops,
                prev.udp.get(&(local.clone(), *inode)).map_or(0, |p| p.1),
            ),
        })
        .filter(|s| s.rx_queue > 0 || s.drops > 0)
        .collect();
    let zero_nd = netdev::NetdevRow::default();
    let netdev = cur
        .netdev
        .iter()
        .map(|(iface, n)| {
            let o = prev.netdev.get(iface).unwrap_or(&zero_nd);
            NetdevDelta {
                iface: iface.clone(),
                rx_packets: d(n.rx_packets, o.rx_packets),
                rx_bytes: d(n.rx_bytes, o.rx_bytes),
                rx_errs: d(n.rx_errs, o.rx_errs),
                rx_drop: d(n.rx_drop, o.rx_drop),
                rx_fifo: d(n.rx_fifo, o.rx_fifo),
                tx_packets: d(n.tx_packets, o.tx_packets),
                tx_bytes: d(n.tx_bytes, o.tx_bytes),
                tx_errs: d(n.tx_errs, o.tx_errs),
                tx_drop: d(n.tx_drop, o.tx_drop),
            }
        })
        .filter(|n| {
            n.rx_packets + n.tx_packets + n.rx_errs + n.rx_drop + n.rx_fifo + n.tx_errs + n.tx_drop
                > 0
        })
        .collect();
    SystemSample {
        start_mono_ns: prev.at_mono_ns,
        end_mono_ns: cur.at_mono_ns,
        softnet,
        softirqs,
        interrupts: map_delta(&cur.interrupts, &prev.interrupts),
        cpu_time,
        psi_cpu_some_us: psi(cur.psi.0, prev.psi.0),
        psi_cpu_full_us: psi(cur.psi.1, prev.psi.1),
        snmp: cur
            .snmp
            .iter()
            .map(|(k, &v)| (k.clone(), d(v, prev.snmp.get(k).copied().unwrap_or(0))))
            .filter(|x| x.1 > 0)
            .collect(),
        udp_sockets,
        netdev,
        ethtool: cur
            .ethtool
            .iter()
            .map(|((i, s), &v)| {
                (
                    i.clone(),
                    s.clone(),
                    d(
                        v,
                        prev.ethtool
                            .get(&(i.clone(), s.clone()))
                            .copied()
                            .unwrap_or(0),
                    ),
                )
            })
            .filter(|x| x.2 > 0)
            .collect(),
    }
}

/// Keeps the previous read and reports each source's state only when it changes.
pub struct SystemCollector {
    root: HostRoot,
    targets: Targets,
    prev: Option<Counters>,
    states: BTreeMap<&'static str, Result<(), (CollectorState, String)>>,
}

impl SystemCollector {
    pub fn new(root: HostRoot, targets: Targets) -> Self {
        SystemCollector {
            root,
            targets,
            prev: None,
            states: BTreeMap::new(),
        }
    }

    pub fn set_targets(&mut self, targets: Targets) {
        self.targets = targets;
    }

    /// Reads now; returns the delta since the previous read (none on the first) and the status
    /// changes to record.
    pub fn tick(&mut self, now_mono_ns: u64) -> (Option<SystemSample>, Vec<CollectorStatus>) {
        let (cur, results) = Counters::read(&self.root, &self.targets, now_mono_ns);
        let mut statuses = Vec::new();
        for (name, r) in results {
            if self.states.get(name) == Some(&r) {
                continue;
            }
            let first = !self.states.contains_key(name);
            let (state, detail) = match &r {
                Ok(()) if first => (CollectorState::Running, "reading".to_owned()),
                Ok(()) => (CollectorState::Running, "readable again".to_owned()),
                Err((s, why)) => (*s, why.clone()),
            };
            statuses.push(CollectorStatus {
                at_mono_ns: now_mono_ns,
                collector: format!("system.{name}"),
                state,
                detail,
            });
            self.states.insert(name, r);
        }
        let sample = self.prev.as_ref().map(|p| delta(p, &cur));
        self.prev = Some(cur);
        (sample, statuses)
    }
}

#[cfg(test)]
mod tests;
