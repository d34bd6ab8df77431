//! The peer of each datagram an unconnected UDP socket queues and reads: the socket has none, and
//! sock:sk_data_ready / sock:sock_recv_length pass only the socket. The queued datagram is the
//! tail of `sk_receive_queue` when sk_data_ready fires; the one a read returned was the head of
//! the socket's queues when the previous read ended, kept per socket in `UDP_NEXT_PEER` (so each
//! read re-synchronises: a race costs at most one misnamed read). Without that, a flood from
//! another peer on the heartbeat port would pass for the heartbeat flow's reads.

use agent_common::{drops::NO_OFFSET, portwatch::PortEvent};
use aya_ebpf::{macros::map, maps::LruHashMap};

use crate::skb::{empty_event, offsets, parse_ip, read};

/// The peer of the datagram the next read of a socket returns.
#[repr(C)]
#[derive(Clone, Copy)]
struct NextPeer {
    family: u16,
    port: u16,
    /// 0: unknown (the queues were empty at the last read, and nothing was queued since).
    known: u32,
    addr: [u8; 16],
}

const _: () = assert!(core::mem::size_of::<NextPeer>() == 24);

/// Keyed by the socket's address; LRU so closed sockets age out.
#[map]
static UDP_NEXT_PEER: LruHashMap<u64, NextPeer> = LruHashMap::with_max_entries(1024, 0);

/// Fills `ev`'s family, peer address and port from a queued skb, a plain address taken from a list
/// link (so read with bpf_probe_read_kernel). False when its headers cannot be read.
#[inline(always)]
fn skb_peer(skb: u64, ev: &mut PortEvent) -> bool {
    let o = offsets();
    let skb = skb as *const u8;
    let (Some(head), Some(nh), Some(protocol)) = (
        read::<u64>(skb, o.skb_head),
        read::<u16>(skb, o.skb_network_header),
        read::<u16>(skb, o.skb_protocol),
    ) else {
        return false;
    };
    if nh == u16::MAX || head == 0 {
        return false;
    }
    let mut p = empty_event();
    parse_ip(
        (head + nh as u64) as *const u8,
        u16::from_be(protocol),
        &mut p,
    );
    if p.family == 0 {
        return false;
    }
    ev.family = p.family;
    ev.peer_addr = p.peer_addr;
    ev.peer_port = p.peer_port;
    true
}

/// The first skb of the list head at `sk + off` (`off` = its `next`), 0 when empty or unknown.
#[inline(always)]
fn first(sk: *const u8, off: u32) -> u64 {
    if off == NO_OFFSET {
        return 0;
    }
    match read::<u64>(sk, off) {
        Some(n) if n != 0 && n != sk as u64 + off as u64 => n,
        _ => 0,
    }
}

/// sk_data_ready of an unconnected UDP socket: names the datagram just queued, and makes it the
/// next read's if a read had found the queues empty.
#[inline(always)]
pub(crate) fn queued(sk: *const u8, ev: &mut PortEvent) {
    let o = offsets();
    if o.sk_rq_prev == NO_OFFSET {
        return;
    }
    let Some(tail) = read::<u64>(sk, o.sk_rq_prev) else {
        return;
    };
    if tail == 0 || tail == sk as u64 + o.sk_rq_next as u64 || !skb_peer(tail, ev) {
        return;
    }
    let key = sk as u64;
    let next = NextPeer {
        family: ev.family,
        port: ev.peer_port,
        known: 1,
        addr: ev.peer_addr,
    };
    match UDP_NEXT_PEER.get_ptr_mut(&key) {
        // SAFETY: the socket's entry; written in place (an LRU insert costs far more).
        Some(n) => unsafe {
            if (*n).known == 0 {
                *n = next;
            }
        },
        None => {
            let _ = UDP_NEXT_PEER.insert(&key, &next, 0);
        }
    }
}

/// sock_recv_length of an unconnected UDP socket that consumed a datagram: names it from what
/// the previous read (or the enqueue after it) left, then notes the next one.
#[inline(always)]
pub(crate) fn read_one(sk: *const u8, ev: &mut PortEvent) {
    let key = sk as u64;
    let slot = UDP_NEXT_PEER.get_ptr_mut(&key);
    if let Some(n) = slot {
        // SAFETY: the socket's entry, copied out at once.
        let n = unsafe { *n };
        if n.known != 0 {
            ev.family = n.family;
            ev.peer_port = n.port;
            ev.peer_addr = n.addr;
        }
    }
    let o = offsets();
    let mut skb = first(sk, o.udp_reader_next);
    if skb == 0 {
        skb = first(sk, o.sk_rq_next);
    }
    let mut p = empty_event();
    let next = if skb != 0 && skb_peer(skb, &mut p) {
        NextPeer {
            family: p.family,
            port: p.peer_port,
            known: 1,
            addr: p.peer_addr,
        }
    } else {
        NextPeer {
            family: 0,
            port: 0,
            known: 0,
            addr: [0; 16],
        }
    };
    match slot {
        // SAFETY: as above; written in place (an LRU insert costs far more).
        Some(n) => unsafe { *n = next },
        None => {
            let _ = UDP_NEXT_PEER.insert(&key, &next, 0);
        }
    }
}
