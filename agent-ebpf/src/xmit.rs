//! The send side of watched heartbeat flows: the application's send, the hand-over to the
//! device's queueing discipline, the driver's start and its result. Events go through the port
//! watch's per-flow counters and budget (`portwatch::record`), named as sent: `local_*` is this
//! host's end, `peer_*` the destination. A flow is watched when either port is. Drops on the way
//! out (qdisc, driver) come from kfree_skb in drops.rs with their reason.
//!
//! tp_btf arguments (include/trace/events/net.h, sock.h on 6.18; the same on 6.1 except that
//! sock_send_length came in 6.3): net_dev_queue(struct sk_buff *skb),
//! net_dev_start_xmit(const struct sk_buff *skb, const struct net_device *dev),
//! net_dev_xmit(struct sk_buff *skb, int rc, struct net_device *dev, unsigned int skb_len),
//! sock_send_length(struct sock *sk, int ret, int flags).

use agent_common::{
    drops::{IPPROTO_TCP, IPPROTO_UDP},
    portwatch::{EVENT_HAS_IDENT, IDENT_PAYLOAD_BYTES, PortEvent, PortEventKind, udp_ident},
};
use aya_ebpf::{
    macros::{btf_tracepoint, map},
    maps::PerCpuArray,
    programs::BtfTracePointContext,
};

use crate::{
    field::{kernel_offset, load},
    portwatch::{record, socket_fields, watched},
    skb::{IpAt, empty_event, ip_header, parse_addrs, read},
};

/// The packet the driver was last given on this CPU: net_dev_xmit follows net_dev_start_xmit
/// on the same CPU (xmit_one), and by then the driver may have freed the skb, so its result is
/// matched by address to the event taken while the skb was alive.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct XmitSlot {
    skb: u64,
    ev: PortEvent,
}

#[map]
static XMIT_SLOT: PerCpuArray<XmitSlot> = PerCpuArray::with_max_entries(1, 0);

/// Sets `ev.ident` from the IP packet at `ip`: a UDP datagram's length and first payload bytes
/// (zero past its end), or a TCP segment's sequence number.
#[inline(always)]
pub(crate) fn fill_ident(ip: *const u8, ev: &mut PortEvent) {
    if ip.is_null() {
        return;
    }
    let l4 = if ev.family == 2 {
        let Some(v) = read::<u8>(ip, 0) else {
            return;
        };
        ip.wrapping_add((v & 0x0f) as usize * 4)
    } else {
        ip.wrapping_add(40)
    };
    if ev.proto == IPPROTO_UDP as u16 {
        let Some(h) = read::<[u8; 8]>(l4, 0) else {
            return;
        };
        let udp_len = u16::from_be_bytes([h[4], h[5]]);
        let have = (udp_len as usize).saturating_sub(8);
        let mut head = read::<[u8; IDENT_PAYLOAD_BYTES]>(l4, 8).unwrap_or([0; IDENT_PAYLOAD_BYTES]);
        for (i, b) in head.iter_mut().enumerate() {
            if i >= have {
                *b = 0;
            }
        }
        // Bounded for the verifier: a datagram's payload is below 64 KiB.
        let tail = if have >= IDENT_PAYLOAD_BYTES {
            let off = (have - IDENT_PAYLOAD_BYTES) & 0xffff;
            read::<[u8; IDENT_PAYLOAD_BYTES]>(l4, 8 + off as u32)
                .unwrap_or([0; IDENT_PAYLOAD_BYTES])
        } else {
            [0; IDENT_PAYLOAD_BYTES]
        };
        ev.ident = udp_ident(udp_len, &head, &tail);
        ev.flags |= EVENT_HAS_IDENT;
    } else if ev.proto == IPPROTO_TCP as u16 {
        if let Some(seq) = read::<[u8; 4]>(l4, 4) {
            ev.ident = u32::from_be_bytes(seq);
            ev.flags |= EVENT_HAS_IDENT;
        }
    }
}

/// A sent packet of a watched flow, named as sent; None for other packets.
#[inline(always)]
fn sent_packet(skb: *const u8, kind: PortEventKind) -> Option<PortEvent> {
    let (_, rx) = parse_addrs(skb, IpAt::NetworkHeader);
    // parse_addrs names packets as received (local = destination): swap the ends.
    if !watched(rx.proto, rx.local_port) && !watched(rx.proto, rx.peer_port) {
        return None;
    }
    let mut ev = empty_event();
    ev.kind = kind as u32;
    ev.family = rx.family;
    ev.proto = rx.proto;
    ev.local_port = rx.peer_port;
    ev.local_addr = rx.peer_addr;
    ev.peer_port = rx.local_port;
    ev.peer_addr = rx.local_addr;
    ev.len = load::<u32>(skb, kernel_offset!(skb_len)) as i32;
    fill_ident(ip_header(skb, IpAt::NetworkHeader), &mut ev);
    Some(ev)
}

/// The device `dev` into `ev`: ifindex and its network namespace.
#[inline(always)]
fn fill_dev(dev: *const u8, ev: &mut PortEvent) {
    ev.ifindex = load::<u32>(dev, kernel_offset!(dev_ifindex));
    let net = load::<u64>(dev, kernel_offset!(dev_nd_net)) as *const u8;
    ev.netns = load::<u32>(net, kernel_offset!(net_ns_inum));
}

#[btf_tracepoint(function = "net_dev_queue")]
pub fn net_dev_queue(ctx: BtfTracePointContext) -> i32 {
    let skb: *const u8 = ctx.arg(0);
    if let Some(mut ev) = sent_packet(skb, PortEventKind::DevQueued) {
        fill_dev(
            load::<u64>(skb, kernel_offset!(skb_dev)) as *const u8,
            &mut ev,
        );
        record(&ev);
    }
    0
}

#[btf_tracepoint(function = "net_dev_start_xmit")]
pub fn net_dev_start_xmit(ctx: BtfTracePointContext) -> i32 {
    let skb: *const u8 = ctx.arg(0);
    let dev: *const u8 = ctx.arg(1);
    let Some(mut ev) = sent_packet(skb, PortEventKind::XmitStart) else {
        return 0;
    };
    fill_dev(dev, &mut ev);
    // On transmit, queue_mapping is the TX queue itself (no +1 as on receive).
    ev.code = load::<u16>(skb, kernel_offset!(skb_queue_mapping)) as i32;
    record(&ev);
    if let Some(slot) = XMIT_SLOT.get_ptr_mut(0) {
        // SAFETY: this CPU's slot; the driver's result arrives on this CPU before the next start.
        unsafe {
            (*slot).skb = skb as u64;
            (*slot).ev = ev;
        }
    }
    0
}

#[btf_tracepoint(function = "net_dev_xmit")]
pub fn net_dev_xmit(ctx: BtfTracePointContext) -> i32 {
    let skb: *const u8 = ctx.arg(0);
    let rc: i32 = ctx.arg(1);
    let Some(slot) = XMIT_SLOT.get_ptr_mut(0) else {
        return 0;
    };
    // SAFETY: this CPU's slot, see net_dev_start_xmit.
    let slot = unsafe { &mut *slot };
    if slot.skb != skb as u64 || skb.is_null() {
        return 0;
    }
    slot.skb = 0;
    let mut ev = slot.ev;
    ev.kind = PortEventKind::XmitDone as u32;
    ev.code = rc;
    record(&ev);
    0
}

/// The application's send on a socket of a watched flow (6.3+). An unconnected socket names no
/// destination here: it is watched by its own port, and its packets' destinations are seen at
/// the device.
#[btf_tracepoint(function = "sock_send_length")]
pub fn sock_send_length(ctx: BtfTracePointContext) -> i32 {
    let sk: *const u8 = ctx.arg(0);
    let ret: i32 = ctx.arg(1);
    let port = load::<u16>(sk, kernel_offset!(sk_num));
    let proto = load::<u16>(sk, kernel_offset!(sk_protocol));
    let dport = u16::from_be(load::<u16>(sk, kernel_offset!(sk_dport)));
    if !watched(proto, port) && !watched(proto, dport) {
        return 0;
    }
    record(&socket_fields(sk, PortEventKind::Sent, ret, proto, port));
    0
}
