//! Packet-path records (drops, NAPI, hard IRQs, watched-port packet events) and the name tables
//! that decode their numbers, written once per recording.

use serde::{Deserialize, Serialize};

use super::TimedMax;

/// Names for the numbers in packet-path records, from the running kernel: drop reasons from
/// `enum skb_drop_reason` in /sys/kernel/btf/vmlinux, interfaces by ifindex, IRQ lines from
/// /proc/interrupts. Written once at the start of a recording.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PacketTables {
    /// (value, name without the `SKB_DROP_REASON_` prefix), e.g. (3, "NO_SOCKET").
    pub drop_reasons: Vec<(u32, String)>,
    /// (ifindex, name) of the interfaces in hbwatch's network namespace, `host_netns`.
    pub interfaces: Vec<(u32, String)>,
    /// Inode of hbwatch's network namespace (/proc/self/ns/net). Cells from devices in other
    /// namespaces carry another inode; their ifindex means nothing here.
    pub host_netns: u32,
    pub irq_lines: Vec<IrqLine>,
}

/// One line of /proc/interrupts with its NIC queue when the name says so.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IrqLine {
    pub irq: u32,
    /// The action name, e.g. "virtio0-input.0", "eth0-TxRx-3", "mlx5_comp2@pci:0000:3b:00.0".
    pub name: String,
    /// NIC (interface or driver instance) the line serves, when recognised.
    pub nic: Option<String>,
    pub queue: Option<u32>,
    /// "rx", "tx", "rxtx" or "other" (config/control), when recognised.
    pub role: Option<String>,
}

/// Drops in `[start_mono_ns, end_mono_ns)`; only non-zero cells.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DropInterval {
    pub start_mono_ns: u64,
    pub end_mono_ns: u64,
    pub cells: Vec<DropCell>,
    pub ports: Vec<PortDropCell>,
    pub udp_fail: Vec<UdpFailCell>,
    /// sock:sock_rcvqueue_full events, all CPUs.
    pub rcvqueue_full: u64,
}

/// skb:kfree_skb count for one (reason, device, RX queue, protocol, CPU).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DropCell {
    pub reason: u32,
    pub ifindex: u32,
    /// Network namespace inode of the device, 0 when unknown.
    pub netns: u32,
    /// None when the skb had no recorded RX queue.
    pub rx_queue: Option<u32>,
    /// `skb->protocol` (0x0800 IPv4, 0x86DD IPv6, ...).
    pub protocol: u16,
    pub cpu: u32,
    pub count: u64,
}

/// skb:kfree_skb count by destination port (all CPUs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortDropCell {
    pub reason: u32,
    /// 17 UDP, 6 TCP.
    pub proto: u8,
    pub port: u16,
    pub count: u64,
}

/// udp:udp_fail_queue_rcv_skb count by local port and result code (all CPUs). `rc == -12`
/// (-ENOMEM) is the receive-buffer drop that `Udp: RcvbufErrors` counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UdpFailCell {
    pub port: u16,
    pub rc: i32,
    pub count: u64,
}

/// -ENOMEM: what udp_fail_queue_rcv_skb reports for a full receive buffer.
pub const UDP_RC_RCVBUF: i32 = -12;

/// NAPI polls in `[start_mono_ns, end_mono_ns)`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NapiInterval {
    pub start_mono_ns: u64,
    pub end_mono_ns: u64,
    pub cells: Vec<NapiCell>,
}

/// `NapiCell::netns` of the classic-tracepoint fallback's polls on devices outside hbwatch's
/// namespace (with `ifindex` 0): named in the kernel record but not resolvable here, so summed.
pub const NAPI_OTHER_NETNS: u32 = u32::MAX;

/// One NAPI instance on one CPU over one interval.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NapiCell {
    pub ifindex: u32,
    /// Network namespace inode of the device, 0 for the per-CPU backlog (no device).
    pub netns: u32,
    pub napi_id: u32,
    pub cpu: u32,
    pub polls: u64,
    /// Packets processed.
    pub work: u64,
    /// Polls that used their whole budget.
    pub full_budget: u64,
    /// Polls timed (inside NET_RX); `time_sum_ns` covers only these.
    pub timed_polls: u64,
    pub time_sum_ns: u64,
    pub time_max: Option<TimedMax>,
}

/// Hard IRQ handler time in `[start_mono_ns, end_mono_ns)`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HardirqInterval {
    pub start_mono_ns: u64,
    pub end_mono_ns: u64,
    pub cells: Vec<HardirqCell>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HardirqCell {
    pub irq: u32,
    pub cpu: u32,
    pub count: u64,
    pub time_sum_ns: u64,
    pub time_max: Option<TimedMax>,
}

/// What happened to one packet of a watched port (see `agent_common::portwatch::PortEventKind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PortStage {
    /// Entered the stack from a device (net:netif_receive_skb).
    Seen,
    /// Queued to the socket, reader woken (sock:sk_data_ready).
    Queued,
    /// Read by the application (sock:sock_recv_length).
    Read,
    /// Dropped (skb:kfree_skb); `code` is the drop reason.
    Dropped,
    /// Refused by the UDP socket (udp:udp_fail_queue_rcv_skb); `code` is rc, -12 = rcvbuf full.
    QueueFailed,
}

/// One packet event on a watched port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortPacketEvent {
    pub mono_ns: u64,
    pub stage: PortStage,
    pub cpu: u32,
    /// 17 UDP, 6 TCP.
    pub proto: u8,
    pub local_port: u16,
    /// Peer address and port ("10.0.0.2:5405", "[fe80::1]:5405"); None when unknown (events on
    /// an unconnected socket).
    pub peer: Option<String>,
    /// Receiving device (Seen, Dropped), 0 when unknown.
    pub ifindex: u32,
    /// Network namespace inode of that device, 0 when unknown.
    pub netns: u32,
    /// Packet length (Seen, Dropped); bytes read or -errno (Read).
    pub len: i32,
    /// Drop reason (Dropped) or rc (QueueFailed); 0 otherwise.
    pub code: i32,
}
