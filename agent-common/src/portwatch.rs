//! Per-packet events for watched heartbeat ports, sent through the `PORT_EVENTS` ring buffer.

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
pub const PORT_EVENTS_BYTES: u32 = 256 * 1024;

const _: () = assert!(core::mem::size_of::<PortEvent>() == 8 + 5 * 4 + 4 * 2 + 4 + 32);
const _: () = assert!(core::mem::align_of::<PortEvent>() == 8);

#[cfg(feature = "user")]
mod pod {
    // SAFETY: repr(C), integer fields and byte arrays, no padding, size asserted.
    unsafe impl aya::Pod for super::PortEvent {}
}
