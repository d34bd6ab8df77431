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
    // The send side. Tx events name the flow as sent: `local_*` is this host's end (the source),
    // `peer_*` the destination.
    /// sock:sock_send_length: the application's sendmsg returned (`len` = bytes or -errno).
    Sent = 6,
    /// net:net_dev_queue: handed to the device's queueing discipline.
    DevQueued = 7,
    /// net:net_dev_start_xmit: the driver is given it (`code` = TX queue).
    XmitStart = 8,
    /// net:net_dev_xmit: the driver returned (`code` = rc, 0 = NETDEV_TX_OK).
    XmitDone = 9,
}

impl PortEventKind {
    pub fn from_u32(v: u32) -> Option<Self> {
        Some(match v {
            1 => Self::Seen,
            2 => Self::Queued,
            3 => Self::Read,
            4 => Self::Dropped,
            5 => Self::QueueFailed,
            6 => Self::Sent,
            7 => Self::DevQueued,
            8 => Self::XmitStart,
            9 => Self::XmitDone,
            _ => return None,
        })
    }

    /// A send-side fate (the flow is named as sent).
    pub fn is_tx(self) -> bool {
        matches!(
            self,
            Self::Sent | Self::DevQueued | Self::XmitStart | Self::XmitDone
        )
    }
}

/// `PortEvent::flags`: `ident` holds the packet's identity.
pub const EVENT_HAS_IDENT: u32 = 1;

/// Bytes of UDP payload hashed into a datagram's identity from each end (with its length):
/// enough to tell heartbeats apart — a sequence number or a timestamp sits near one end of most
/// heartbeat formats, behind a constant header or before a constant trailer — few enough to
/// stay cheap.
pub const IDENT_PAYLOAD_BYTES: usize = 16;

/// A datagram's identity, the same on the sender and the receiver: FNV-1a of the UDP length,
/// the first [`IDENT_PAYLOAD_BYTES`] of the payload (zero past its end) and the last ones (all
/// zero when the payload is shorter than that). eBPF and tests compute it alike.
pub const fn udp_ident(
    udp_len: u16,
    head: &[u8; IDENT_PAYLOAD_BYTES],
    tail: &[u8; IDENT_PAYLOAD_BYTES],
) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    let len = udp_len.to_be_bytes();
    h = (h ^ len[0] as u32).wrapping_mul(0x0100_0193);
    h = (h ^ len[1] as u32).wrapping_mul(0x0100_0193);
    let mut i = 0;
    while i < IDENT_PAYLOAD_BYTES {
        h = (h ^ head[i] as u32).wrapping_mul(0x0100_0193);
        i += 1;
    }
    let mut i = 0;
    while i < IDENT_PAYLOAD_BYTES {
        h = (h ^ tail[i] as u32).wrapping_mul(0x0100_0193);
        i += 1;
    }
    h
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
    /// The packet's identity across hosts (see [`EVENT_HAS_IDENT`]): for UDP [`udp_ident`] over
    /// the UDP length and both ends of the payload; for TCP the sequence number.
    pub ident: u32,
    pub flags: u32,
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
    /// Network namespace inode of the device or socket, so a scoped recording (`--netns`)
    /// keeps only its own flows' counts.
    pub netns: u32,
    pub _pad: u32,
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

const _: () = assert!(core::mem::size_of::<PortEvent>() == 8 + 5 * 4 + 4 * 2 + 4 + 32 + 8);
const _: () = assert!(core::mem::align_of::<PortEvent>() == 8);
const _: () = assert!(core::mem::size_of::<FlowKey>() == 4 + 4 + 4 * 2 + 16 + 8);
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
