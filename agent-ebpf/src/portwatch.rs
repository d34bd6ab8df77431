//! Per-packet events for watched heartbeat ports, into the `PORT_EVENTS` ring buffer; every failed
//! reserve is counted per CPU in `PORT_EVENTS_LOST`.
//!
//! tp_btf arguments (6.18): net:netif_receive_skb(struct sk_buff *skb) — the packet enters the
//! stack from a device; sock:sk_data_ready(const struct sock *sk) — data queued, reader woken;
//! sock:sock_recv_length(struct sock *sk, int ret, int flags) — the application's recvmsg returned
//! (6.3+). Where sock_recv_length is missing, reads come from skb:skb_copy_datagram_iovec(const
//! struct sk_buff *skb, int len) for TCP and skb:consume_skb(struct sk_buff *skb, …) for UDP
//! (include/trace/events/skb.h, every supported kernel). Drops and UDP queue failures on watched
//! ports come from drops.rs.

use agent_common::portwatch::{PORT_EVENTS_BYTES, PortEvent, PortEventKind};
use aya_ebpf::{
    helpers::{bpf_get_smp_processor_id, bpf_ktime_get_ns},
    macros::{btf_tracepoint, map},
    maps::{PerCpuArray, RingBuf},
    programs::BtfTracePointContext,
};

use crate::{
    drops::{IpAt, empty_event, fill_device, offsets, parse_addrs, read, watched},
    field::{kernel_offset, load},
};

#[map]
static PORT_EVENTS: RingBuf = RingBuf::with_byte_size(PORT_EVENTS_BYTES, 0);
#[map]
static PORT_EVENTS_LOST: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);

/// Sends one event, or counts it lost when the ring buffer is full.
#[inline(always)]
pub(crate) fn emit(ev: &PortEvent) {
    match PORT_EVENTS.reserve::<PortEvent>(0) {
        Some(mut entry) => {
            let mut ev = *ev;
            // SAFETY: helpers with no arguments.
            unsafe {
                ev.mono_ns = bpf_ktime_get_ns();
                ev.cpu = bpf_get_smp_processor_id();
            }
            entry.write(ev);
            entry.submit(0);
        }
        None => {
            if let Some(p) = PORT_EVENTS_LOST.get_ptr_mut(0) {
                // SAFETY: this CPU's slot.
                unsafe { *p += 1 };
            }
        }
    }
}

#[btf_tracepoint(function = "netif_receive_skb")]
pub fn netif_receive_skb(ctx: BtfTracePointContext) -> i32 {
    let skb: *const u8 = ctx.arg(0);
    // Most packets are not watched: check the ports before reading the device.
    let (_, mut ev) = parse_addrs(skb, IpAt::Data);
    if watched(ev.proto, ev.local_port) {
        fill_device(skb, &mut ev);
        ev.kind = PortEventKind::Seen as u32;
        emit(&ev);
    }
    0
}

/// A socket-side event: local port, protocol and (for connected sockets) the peer.
#[inline(always)]
fn socket_event(sk: *const u8, kind: PortEventKind, len: i32) {
    let port = load::<u16>(sk, kernel_offset!(sk_num));
    let proto = load::<u16>(sk, kernel_offset!(sk_protocol));
    if !watched(proto, port) {
        return;
    }
    let mut ev = empty_event();
    ev.kind = kind as u32;
    ev.len = len;
    ev.proto = proto;
    ev.local_port = port;
    ev.family = load::<u16>(sk, kernel_offset!(sk_family));
    // Sockets of two namespaces can share a port on one kernel: say whose this is.
    let net = load::<u64>(sk, kernel_offset!(sk_net)) as *const u8;
    ev.netns = load::<u32>(net, kernel_offset!(net_ns_inum));
    ev.peer_port = u16::from_be(load::<u16>(sk, kernel_offset!(sk_dport)));
    // Addresses are arrays inside unions: copied with bpf_probe_read_kernel.
    let o = offsets();
    if ev.family == 10 {
        if let Some(a) = read::<[u8; 16]>(sk, o.sk_v6_daddr) {
            ev.peer_addr = a;
        }
    } else if let Some(a) = read::<[u8; 4]>(sk, o.sk_daddr) {
        ev.peer_addr[..4].copy_from_slice(&a);
    }
    emit(&ev);
}

#[btf_tracepoint(function = "sk_data_ready")]
pub fn sk_data_ready(ctx: BtfTracePointContext) -> i32 {
    socket_event(ctx.arg(0), PortEventKind::Queued, 0);
    0
}

#[btf_tracepoint(function = "sock_recv_length")]
pub fn sock_recv_length(ctx: BtfTracePointContext) -> i32 {
    let ret: i32 = ctx.arg(1);
    socket_event(ctx.arg(0), PortEventKind::Read, ret);
    0
}

#[btf_tracepoint(function = "skb_copy_datagram_iovec")]
pub fn skb_copy_datagram_iovec(ctx: BtfTracePointContext) -> i32 {
    let skb: *const u8 = ctx.arg(0);
    let len: i32 = ctx.arg(1);
    // At read time `data` points past the headers; the network header offset still holds.
    let (_, mut ev) = parse_addrs(skb, IpAt::NetworkHeader);
    // TCP only: small UDP datagrams are copied without this tracepoint (copy_linear_skb), so UDP
    // reads are taken from consume_skb below.
    if ev.proto == IPPROTO_TCP && watched(ev.proto, ev.local_port) {
        ev.kind = PortEventKind::Read as u32;
        ev.len = len;
        emit(&ev);
    }
    0
}

/// skb:consume_skb(struct sk_buff *skb[, void *location since 6.3]): argument 0 only, the same
/// on every kernel. A received UDP datagram is consumed once its reader has copied it
/// (skb_consume_udp); `skb_iif` is set only on the receive path, so sent packets to the same port
/// (transmit completions) are not taken for reads.
#[btf_tracepoint(function = "consume_skb")]
pub fn consume_skb(ctx: BtfTracePointContext) -> i32 {
    let skb: *const u8 = ctx.arg(0);
    if load::<u32>(skb, kernel_offset!(skb_iif)) == 0 {
        return 0;
    }
    let (_, mut ev) = parse_addrs(skb, IpAt::NetworkHeader);
    if ev.proto == IPPROTO_UDP && watched(ev.proto, ev.local_port) {
        ev.kind = PortEventKind::Read as u32;
        ev.len = load::<u32>(skb, kernel_offset!(skb_len)) as i32;
        emit(&ev);
    }
    0
}

const IPPROTO_TCP: u16 = 6;
const IPPROTO_UDP: u16 = 17;
