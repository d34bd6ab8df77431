//! Networking sysctls, the CPU picture (online, isolated, nohz_full) and irqbalance.

use std::collections::BTreeMap;

use super::host::HostRoot;
use crate::recording::records::{CpuConfig, Irqbalance};

/// The sysctls that bound softirq packet processing and socket buffering.
pub const SYSCTLS: &[&str] = &[
    "net.core.netdev_max_backlog",
    "net.core.netdev_budget",
    "net.core.netdev_budget_usecs",
    "net.core.dev_weight",
    "net.core.rmem_default",
    "net.core.rmem_max",
    "net.core.busy_read",
    "net.core.busy_poll",
    "net.core.rps_sock_flow_entries",
    "net.core.flow_limit_table_len",
    "net.ipv4.udp_mem",
    "net.ipv4.udp_rmem_min",
];

pub fn sysctls(root: &HostRoot, unreadable: &mut Vec<String>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for name in SYSCTLS {
        let rel = format!("proc/sys/{}", name.replace('.', "/"));
        match root.read(&rel) {
            // Multi-value sysctls (udp_mem) are tab-separated; keep them space-separated.
            Ok(v) => {
                out.insert(
                    (*name).to_owned(),
                    v.split_whitespace().collect::<Vec<_>>().join(" "),
                );
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => unreadable.push(format!("/{rel}: {e}")),
        }
    }
    out
}

pub fn cpus(root: &HostRoot) -> CpuConfig {
    CpuConfig {
        possible: root.possible_cpus(),
        online: root.online_cpus(),
        isolated: root.cpulist("sys/devices/system/cpu/isolated"),
        nohz_full: root.cpulist("sys/devices/system/cpu/nohz_full"),
    }
}

/// Whether an irqbalance process runs (by /proc/<pid>/comm) and what its config file bans.
pub fn irqbalance(root: &HostRoot) -> Irqbalance {
    let pid = root
        .list("proc")
        .iter()
        .filter_map(|p| p.parse::<u32>().ok())
        .find(|p| root.read_trim(&format!("proc/{p}/comm")).as_deref() == Some("irqbalance"));
    let mut config = BTreeMap::new();
    for file in ["etc/default/irqbalance", "etc/sysconfig/irqbalance"] {
        let Ok(text) = root.read(file) else { continue };
        for line in text.lines().map(str::trim).filter(|l| !l.starts_with('#')) {
            if let Some((k, v)) = line.split_once('=')
                && k.trim().starts_with("IRQBALANCE_")
            {
                config.insert(k.trim().to_owned(), v.trim().trim_matches('"').to_owned());
            }
        }
    }
    Irqbalance {
        running: pid.is_some(),
        pid,
        config,
    }
}
