//! Assembles the [`HostConfig`] picture from the individual readers.

use super::{cpu_table, ethtool, host::HostRoot, irq, rps, sysctl};
use crate::recording::records::{HostConfig, NicConfig};

/// Reads the whole configuration. Never fails: what cannot be read is listed in `unreadable`.
/// `only` limits the NICs to one interface.
pub fn read(root: &HostRoot, at_mono_ns: u64, only: Option<&str>) -> HostConfig {
    let mut unreadable = Vec::new();
    let interrupts = match root.read("proc/interrupts") {
        Ok(t) => cpu_table::parse(&t),
        Err(e) => {
            unreadable.push(format!("/proc/interrupts: {e}"));
            cpu_table::CpuTable::default()
        }
    };
    if !root.path("sys/class/net").is_dir() {
        unreadable.push("/sys/class/net: not found (no NIC can be checked)".to_owned());
    }
    // Loopback is left out of the host-wide picture but may be asked for by name.
    let names = match only {
        Some(o) => interface_names(root)
            .into_iter()
            .filter(|n| n == o)
            .collect(),
        None => nic_names(root),
    };
    let nics = names
        .into_iter()
        .map(|name| nic(root, &name, &interrupts, &mut unreadable))
        .collect();
    HostConfig {
        at_mono_ns,
        cpus: sysctl::cpus(root),
        nics,
        sysctls: sysctl::sysctls(root, &mut unreadable),
        irqbalance: sysctl::irqbalance(root),
        unreadable,
    }
}

/// Interfaces in /sys/class/net except loopback.
pub fn nic_names(root: &HostRoot) -> Vec<String> {
    interface_names(root)
        .into_iter()
        .filter(|n| n != "lo")
        .collect()
}

/// Every interface in /sys/class/net, loopback included.
pub fn interface_names(root: &HostRoot) -> Vec<String> {
    root.list("sys/class/net")
}

fn nic(
    root: &HostRoot,
    name: &str,
    interrupts: &cpu_table::CpuTable,
    unreadable: &mut Vec<String>,
) -> NicConfig {
    let base = format!("sys/class/net/{name}");
    let num = |f: &str| root.read_trim(&format!("{base}/{f}"));
    let is_virtual = !root.path(&format!("{base}/device")).exists();
    NicConfig {
        name: name.to_owned(),
        driver: std::fs::read_link(root.path(&format!("{base}/device/driver")))
            .ok()
            .and_then(|l| l.file_name().map(|n| n.to_string_lossy().into_owned())),
        is_virtual,
        numa_node: num("device/numa_node").and_then(|s| s.parse().ok()),
        mtu: num("mtu").and_then(|s| s.parse().ok()),
        operstate: num("operstate"),
        // speed reads -1 (or EINVAL) when the link is down or virtual.
        speed_mbps: num("speed")
            .and_then(|s| s.parse::<i64>().ok())
            .and_then(|s| u32::try_from(s).ok()),
        ethtool: if is_virtual {
            Default::default()
        } else {
            ethtool::config(root, name)
        },
        rx_queues: rps::rx_queues(root, name),
        tx_queues: rps::tx_queues(root, name),
        irqs: if is_virtual {
            Vec::new()
        } else {
            irq::nic_irqs(root, name, interrupts, unreadable)
        },
    }
}
