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

/// Counted fates of watched-port flows over one interval (only flows that moved). Events past a
/// flow's budget are counted here only: totals are `PortPacket` events + `suppressed`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortFlowInterval {
    pub start_mono_ns: u64,
    pub end_mono_ns: u64,
    pub cells: Vec<PortFlowCell>,
}

/// One fate of one flow, all CPUs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortFlowCell {
    pub proto: u8,
    pub local_port: u16,
    /// As in [`PortPacketEvent::peer`].
    pub peer: Option<String>,
    pub stage: PortStage,
    /// Drop reason (Dropped) or rc (QueueFailed); 0 otherwise.
    pub code: i32,
    /// Packets with this fate in the interval, exact (the kernel's per-CPU counters).
    pub count: u64,
    /// Of those, counted without a `PortPacket` event (over the flow's event budget, or lost).
    pub suppressed: u64,
    /// Monotonic time of the latest suppressed one; 0 when none.
    pub last_suppressed_mono_ns: u64,
    /// Monotonic time of the earliest suppressed one; 0 when none or unknown (then the
    /// interval's start bounds it).
    pub first_suppressed_mono_ns: u64,
}

/// A stage of a watched flow's packet that carries its identity across hosts, so recordings of
/// both ends can be merged (see `agent_common::portwatch::PortEventKind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum WireStage {
    /// Received: entered the stack from a device (net:netif_receive_skb).
    Seen,
    /// Sent by the application (sock:sock_send_length; `len` = bytes or -errno).
    Sent,
    /// Handed to the device's queueing discipline (net:net_dev_queue).
    DevQueued,
    /// Given to the driver (net:net_dev_start_xmit); `code` is the TX queue.
    XmitStart,
    /// The driver returned (net:net_dev_xmit); `code` is its rc, 0 = NETDEV_TX_OK.
    XmitDone,
}

impl WireStage {
    pub fn is_tx(self) -> bool {
        self != WireStage::Seen
    }
}

/// One packet of a watched flow at a [`WireStage`], named from this host: `local` is this
/// host's end (the destination of a received packet, the source of a sent one), `peer` the other.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WirePacketEvent {
    pub mono_ns: u64,
    pub stage: WireStage,
    pub cpu: u32,
    /// 17 UDP, 6 TCP.
    pub proto: u8,
    /// "10.0.0.1:5405"; None when unknown (the application's send on an unconnected socket
    /// names only its port: `local_port`).
    pub local: Option<String>,
    pub local_port: u16,
    pub peer: Option<String>,
    /// The device (0 at the socket), and its network namespace inode (the socket's at the
    /// socket; 0 when unknown).
    pub ifindex: u32,
    pub netns: u32,
    pub len: i32,
    /// TX queue (XmitStart) or the driver's rc (XmitDone); 0 otherwise.
    pub code: i32,
    /// UDP: a hash of the datagram's length and first 16 payload bytes; TCP: the sequence number.
    /// The same on both hosts; None when the headers could not be read.
    pub ident: Option<u32>,
}

/// Counted send-side fates of watched flows over one interval, as [`PortFlowInterval`] counts
/// the receive side (`local_port` is the source port, `peer` the destination).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireFlowInterval {
    pub start_mono_ns: u64,
    pub end_mono_ns: u64,
    pub cells: Vec<WireFlowCell>,
}

/// One send-side fate of one flow, all CPUs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireFlowCell {
    pub proto: u8,
    pub local_port: u16,
    pub peer: Option<String>,
    pub stage: WireStage,
    /// As in [`WirePacketEvent::code`].
    pub code: i32,
    /// Packets with this fate in the interval, exact.
    pub count: u64,
    /// Of those, counted without a `Wire` event (over the flow's event budget, or lost).
    pub suppressed: u64,
}
