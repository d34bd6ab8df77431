//! Watched heartbeat ports: per-flow fate counters (`PORT_FLOWS`) and the one-by-one events sent
//! through the `PORT_EVENTS` ring buffer within each flow's budget.

/// What happened to a packet (`PortEvent::kind`). Explicit numbers: they cross the boundary.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PortEventKind {
    /// net:netif_receive_skb: the packet reached the stack from a device.
    Seen = 1,
    /// sock:sk_data_ready: data was queued to the socket and its reader woken.
    Queued = 2,
    /// sock:sock_recv_length: the application read from the socket (`len` = bytes or -errno).
    Read = 3,
    /// skb:kfree_skb: the packet was dropped (`code` = drop reason).
    Dropped = 4,
    /// udp:udp_fail_queue_rcv_skb: the socket refused it (`code` = rc, -ENOMEM = rcvbuf full).
    QueueFailed = 5,
}

impl PortEventKind {
    pub fn from_u32(v: u32) -> Option<Self> {
        Some(match v {
            1 => Self::Seen,
            2 => Self::Queued,
            3 => Self::Read,
            4 => Self::Dropped,
            5 => Self::QueueFailed,
            _ => return None,
        })
    }
}

/// One ring-buffer event. Addresses are IPv4 in the first 4 bytes (family 2) or IPv6 (family 10),
/// network order; all-zero when unknown (unconnected socket events have no peer).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct PortEvent {
    pub mono_ns: u64,
    pub kind: u32,
    pub cpu: u32,
    pub ifindex: u32,
    /// Drop reason (Dropped) or result code (QueueFailed); 0 otherwise.
    pub code: i32,
    /// Packet length (Seen, Dropped), bytes read or -errno (Read).
    pub len: i32,
    pub family: u16,
    pub proto: u16,
    pub local_port: u16,
    pub peer_port: u16,
    /// Network namespace inode of `ifindex`'s device, 0 when unknown.
    pub netns: u32,
    pub local_addr: [u8; 16],
    pub peer_addr: [u8; 16],
}

/// Ring buffer size (bytes, power of two, page multiple).
pub const PORT_EVENTS_BYTES: u32 = 1024 * 1024;

/// Key of `PORT_FLOWS` (per-CPU hash, value [`FlowCell`]): one fate of one flow — a watched
/// port, a peer (all-zero on unconnected sockets' events) and a code (drop reason, rc).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FlowKey {
    /// [`PortEventKind`] number.
    pub kind: u32,
    pub code: i32,
    pub family: u16,
    pub proto: u16,
    pub local_port: u16,
    pub peer_port: u16,
    pub peer_addr: [u8; 16],
}

/// One CPU's counters of a [`FlowKey`]. Events pass a GCRA budget: one every
/// [`FLOW_EVENT_SPACING_NS`], bursts of [`FLOW_EVENT_BURST`]; the rest are counted only, so a
/// flood on the port costs counters, not ring-buffer events, and a heartbeat flow at its own
/// rate is still seen packet by packet.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlowCell {
    /// Every packet with this fate, exact.
    pub count: u64,
    /// Of those, counted without an event (over budget, or the ring buffer was full).
    pub suppressed: u64,
    /// Monotonic time of the latest suppressed one.
    pub last_suppressed_ns: u64,
    /// GCRA theoretical arrival time: the next event is sent when now ≥ tat − burst.
    pub tat_ns: u64,
    /// `PORT_FLOW_EPOCH` at the first suppressed one of `first_suppressed_ns`: userspace bumps
    /// the epoch each read, so the earliest suppressed packet of each interval is known.
    pub epoch: u64,
    pub first_suppressed_ns: u64,
}

/// Per flow and CPU: one event per 5 ms on average (200/s; heartbeat flows are slower)...
pub const FLOW_EVENT_SPACING_NS: u64 = 5_000_000;
/// ...with bursts of this many (a retransmit burst, a reader catching up).
pub const FLOW_EVENT_BURST: u64 = 8;
/// Flows tracked; the events of flows past it are all sent (and counted lost if they do not fit).
pub const MAX_FLOWS: u32 = 4096;

const _: () = assert!(core::mem::size_of::<PortEvent>() == 8 + 5 * 4 + 4 * 2 + 4 + 32);
const _: () = assert!(core::mem::align_of::<PortEvent>() == 8);
const _: () = assert!(core::mem::size_of::<FlowKey>() == 4 + 4 + 4 * 2 + 16);
const _: () = assert!(core::mem::size_of::<FlowCell>() == 6 * 8);

#[cfg(feature = "user")]
mod pod {
    // SAFETY: repr(C), integer fields and byte arrays, no padding, size asserted.
    unsafe impl aya::Pod for super::PortEvent {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::FlowKey {}
    // SAFETY: six u64, no padding.
    unsafe impl aya::Pod for super::FlowCell {}
}
