//! System-side records: the host's NIC/IRQ/RPS/sysctl/CPU configuration and per-interval kernel
//! counter deltas (softnet, softirqs, interrupts, CPU time, PSI, SNMP, UDP sockets, netdev, ethtool).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// How the host is configured; written at start and again whenever any of it changes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HostConfig {
    pub at_mono_ns: u64,
    pub cpus: CpuConfig,
    pub nics: Vec<NicConfig>,
    /// sysctl name ("net.core.netdev_max_backlog") → value as the kernel prints it.
    pub sysctls: BTreeMap<String, String>,
    pub irqbalance: Irqbalance,
    /// What could not be read, one line each ("/proc/irq/40/smp_affinity_list: permission denied").
    pub unreadable: Vec<String>,
}

impl HostConfig {
    /// Equal apart from the time it was read and the interrupt counts (which always move): no
    /// need to record it again.
    pub fn same_as(&self, other: &HostConfig) -> bool {
        fn stripped(c: &HostConfig) -> HostConfig {
            let mut c = c.clone();
            c.at_mono_ns = 0;
            for n in &mut c.nics {
                for i in &mut n.irqs {
                    i.taken.clear();
                }
            }
            c
        }
        stripped(self) == stripped(other)
    }
    pub fn sysctl_u64(&self, name: &str) -> Option<u64> {
        self.sysctls
            .get(name)?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    }
    pub fn nic(&self, name: &str) -> Option<&NicConfig> {
        self.nics.iter().find(|n| n.name == name)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuConfig {
    /// Number of possible CPUs (highest possible id + 1).
    pub possible: u32,
    pub online: Vec<u32>,
    /// From /sys/devices/system/cpu/isolated (isolcpus=).
    pub isolated: Vec<u32>,
    /// From /sys/devices/system/cpu/nohz_full.
    pub nohz_full: Vec<u32>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Irqbalance {
    pub running: bool,
    pub pid: Option<u32>,
    /// IRQBALANCE_BANNED_CPUS / IRQBALANCE_BANNED_CPULIST / IRQBALANCE_ARGS from its config file.
    pub config: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NicConfig {
    pub name: String,
    pub driver: Option<String>,
    /// Has no `device` link: a bridge, bond, veth, tun and the like.
    pub is_virtual: bool,
    pub numa_node: Option<i32>,
    pub mtu: Option<u32>,
    pub operstate: Option<String>,
    pub speed_mbps: Option<u32>,
    pub ethtool: EthtoolConfig,
    pub rx_queues: Vec<RxQueue>,
    pub tx_queues: Vec<TxQueue>,
    /// The device's interrupts (queue and others), in IRQ order.
    pub irqs: Vec<NicIrq>,
}

impl NicConfig {
    pub fn queue_irqs(&self) -> impl Iterator<Item = &NicIrq> {
        self.irqs.iter().filter(|i| i.kind != IrqKind::Other)
    }
    /// RX queues the NIC spreads receive traffic over: ethtool channels, else sysfs queues.
    pub fn rx_queue_count(&self) -> u32 {
        match &self.ethtool.channels {
            Some(c) if c.combined + c.rx > 0 => c.combined + c.rx,
            _ => self.rx_queues.len() as u32,
        }
    }
}

/// What ethtool says about a NIC, and where it came from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EthtoolConfig {
    /// "netlink", "snapshot <file>" (fixtures), or why only sysfs was available.
    pub source: String,
    pub channels: Option<Channels>,
    pub rings: Option<Rings>,
    /// Active state of the features that matter here (netlink names: "rx-gro", "rx-lro", ...).
    pub features: BTreeMap<String, bool>,
    pub coalesce: Option<Coalesce>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Channels {
    pub rx: u32,
    pub tx: u32,
    pub other: u32,
    pub combined: u32,
    pub rx_max: u32,
    pub tx_max: u32,
    pub other_max: u32,
    pub combined_max: u32,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rings {
    pub rx: u32,
    pub rx_max: u32,
    pub tx: u32,
    pub tx_max: u32,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coalesce {
    pub rx_usecs: Option<u32>,
    pub rx_max_frames: Option<u32>,
    pub tx_usecs: Option<u32>,
    pub adaptive_rx: Option<bool>,
    pub adaptive_tx: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RxQueue {
    pub index: u32,
    /// CPUs in rps_cpus (empty: RPS off for this queue).
    pub rps_cpus: Vec<u32>,
    pub rps_flow_cnt: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxQueue {
    pub index: u32,
    pub xps_cpus: Vec<u32>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum IrqKind {
    /// Serves a receive queue (or a combined RX/TX queue, or a completion queue).
    Rx,
    Tx,
    #[default]
    Other,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NicIrq {
    pub irq: u32,
    /// The action name in /proc/interrupts ("ice-eth0-TxRx-3", "virtio2-input.0").
    pub name: String,
    pub kind: IrqKind,
    /// /proc/irq/N/smp_affinity_list: where it may run.
    pub affinity: Vec<u32>,
    /// /proc/irq/N/effective_affinity_list: where it is routed now (empty when unreadable).
    pub effective: Vec<u32>,
    /// Per-CPU totals from /proc/interrupts when the configuration was read: which CPUs have
    /// actually taken it since boot (sparse: (cpu, count)).
    pub taken: Vec<(u32, u64)>,
}

/// Kernel counter deltas over `[start_mono_ns, end_mono_ns)`; only counters that moved are kept.
/// The same shape holds totals since boot when taken against a zero baseline.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SystemSample {
    pub start_mono_ns: u64,
    pub end_mono_ns: u64,
    pub softnet: Vec<SoftnetDelta>,
    /// (vector index as in the header's `softirq_vectors`, cpu, count).
    pub softirqs: Vec<(u8, u32, u64)>,
    /// NIC IRQs only: (irq, cpu, count).
    pub interrupts: Vec<(u32, u32, u64)>,
    pub cpu_time: Vec<CpuTimeDelta>,
    /// /proc/pressure/cpu "some" and "full" total stall, microseconds.
    pub psi_cpu_some_us: Option<u64>,
    pub psi_cpu_full_us: Option<u64>,
    /// Selected /proc/net/snmp and /proc/net/netstat counters ("Udp.RcvbufErrors", "TcpExt.TCPBacklogDrop").
    pub snmp: Vec<(String, u64)>,
    pub udp_sockets: Vec<UdpSocketDelta>,
    pub netdev: Vec<NetdevDelta>,
    /// Drop/error-like `ethtool -S` counters: (iface, stat name, delta).
    pub ethtool: Vec<(String, String, u64)>,
}

impl SystemSample {
    pub fn duration_ns(&self) -> u64 {
        self.end_mono_ns.saturating_sub(self.start_mono_ns)
    }
    pub fn snmp(&self, name: &str) -> u64 {
        self.snmp
            .iter()
            .find(|(n, _)| n == name)
            .map_or(0, |(_, v)| *v)
    }
    pub fn ethtool_stat(&self, iface: &str, stat: &str) -> u64 {
        self.ethtool
            .iter()
            .find(|(i, s, _)| i == iface && s == stat)
            .map_or(0, |(_, _, v)| *v)
    }
    pub fn is_empty(&self) -> bool {
        self.softnet.is_empty()
            && self.softirqs.is_empty()
            && self.interrupts.is_empty()
            && self.cpu_time.is_empty()
            && self.psi_cpu_some_us.is_none()
            && self.snmp.is_empty()
            && self.udp_sockets.is_empty()
            && self.netdev.is_empty()
            && self.ethtool.is_empty()
    }
}

/// One CPU's /proc/net/softnet_stat deltas.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SoftnetDelta {
    pub cpu: u32,
    pub processed: u64,
    /// Packets dropped because the backlog queue was full (netdev_max_backlog).
    pub dropped: u64,
    /// NAPI polls cut short by netdev_budget / netdev_budget_usecs.
    pub time_squeeze: u64,
    pub received_rps: u64,
    pub flow_limit_count: u64,
}

/// One CPU's /proc/stat time deltas, nanoseconds (from USER_HZ ticks).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuTimeDelta {
    pub cpu: u32,
    pub irq_ns: u64,
    pub softirq_ns: u64,
    pub steal_ns: u64,
    /// All /proc/stat columns summed except guest (already inside user/nice).
    pub total_ns: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UdpSocketDelta {
    /// "127.0.0.1:5405" or "[::]:5405".
    pub local: String,
    pub inode: u64,
    /// Bytes waiting in the receive queue now (a level, not a delta).
    pub rx_queue: u64,
    pub drops: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetdevDelta {
    pub iface: String,
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub rx_errs: u64,
    pub rx_drop: u64,
    pub rx_fifo: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    pub tx_errs: u64,
    pub tx_drop: u64,
}

/// The IP addresses of hbwatch's own network namespace, once per recording: on one kernel the
/// port watch also sees a peer's sockets, and the packets it got from these addresses were this
/// host's, heard by the peer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostAddresses {
    pub at_mono_ns: u64,
    /// As text ("10.0.0.2", "fe80::1").
    pub addresses: Vec<String>,
}
