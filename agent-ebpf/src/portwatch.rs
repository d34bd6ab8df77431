//! Watched heartbeat ports: every packet's fate counted per flow and CPU in `PORT_FLOWS`; events
//! into the `PORT_EVENTS` ring buffer within each flow's budget (see `FlowCell`), so a flood is
//! counted, not sent. Every failed reserve is counted per CPU in `PORT_EVENTS_LOST`.
//!
//! tp_btf arguments (6.18): net:netif_receive_skb(struct sk_buff *skb) — the packet enters the
//! stack from a device; sock:sk_data_ready(const struct sock *sk) — data queued, reader woken;
//! sock:sock_recv_length(struct sock *sk, int ret, int flags) — the application's recvmsg returned
//! (6.3+). Where sock_recv_length is missing, reads come from skb:skb_copy_datagram_iovec(const
//! struct sk_buff *skb, int len) for TCP and skb:consume_skb(struct sk_buff *skb, …) for UDP
//! (include/trace/events/skb.h, every supported kernel). Drops and UDP queue failures on watched
//! ports come from drops.rs.

use agent_common::{
    drops::{MAX_WATCH_PORTS, watch_key},
    portwatch::{
        FLOW_EVENT_BURST, FLOW_EVENT_SPACING_NS, FlowCell, FlowKey, MAX_FLOWS, PORT_EVENTS_BYTES,
        PortEvent, PortEventKind,
    },
};
use aya_ebpf::{
    helpers::{bpf_get_smp_processor_id, bpf_ktime_get_ns},
    macros::{btf_tracepoint, map},
    maps::{Array, HashMap, PerCpuArray, PerCpuHashMap, RingBuf},
    programs::BtfTracePointContext,
};

use crate::{
    field::{kernel_offset, load},
    skb::{IpAt, empty_event, fill_device, ip_header, offsets, parse_addrs, read},
    udp_peer, xmit,
};

#[map]
static PORT_EVENTS: RingBuf = RingBuf::with_byte_size(PORT_EVENTS_BYTES, 0);
#[map]
static PORT_EVENTS_LOST: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);

#[map]
static PORT_FLOWS: PerCpuHashMap<FlowKey, FlowCell> = PerCpuHashMap::with_max_entries(MAX_FLOWS, 0);
#[map]
static PORT_FLOW_EPOCH: Array<u64> = Array::with_max_entries(1, 0);

/// The watched (protocol, port) keys (`watch_key`), filled by userspace.
#[map]
static WATCH_PORTS: HashMap<u32, u32> = HashMap::with_max_entries(MAX_WATCH_PORTS, 0);

const BPF_NOEXIST: u64 = 1;

/// Whether `port` of `proto` is watched (drops.rs and xmit.rs ask too).
#[inline(always)]
pub(crate) fn watched(proto: u16, port: u16) -> bool {
    // SAFETY: read-only lookup of a u32 value, not kept.
    port != 0 && unsafe { WATCH_PORTS.get(&watch_key(proto as u8, port)) }.is_some()
}

/// This CPU's cell of the event's flow, made on first use; None when the map is full.
#[inline(always)]
fn flow_cell(ev: &PortEvent) -> Option<*mut FlowCell> {
    let key = FlowKey {
        kind: ev.kind,
        code: ev.code,
        family: ev.family,
        proto: ev.proto,
        local_port: ev.local_port,
        peer_port: ev.peer_port,
        peer_addr: ev.peer_addr,
        netns: ev.netns,
        _pad: 0,
    };
    if let Some(c) = PORT_FLOWS.get_ptr_mut(&key) {
        return Some(c);
    }
    // NOEXIST: a cell another CPU just made is kept; this CPU's slot of it is zero either way.
    let _ = PORT_FLOWS.insert(&key, &FlowCell::default(), BPF_NOEXIST);
    PORT_FLOWS.get_ptr_mut(&key)
}

/// Counts the packet's fate in its flow and sends the event if the flow's budget allows. A
/// flow without a cell (map full) sends every event, so nothing goes uncounted.
#[inline(always)]
pub(crate) fn record(ev: &PortEvent) {
    // SAFETY: helper with no arguments. The one clock read of the event.
    let now = unsafe { bpf_ktime_get_ns() };
    let Some(c) = flow_cell(ev) else {
        emit(ev, now);
        return;
    };
    // SAFETY: this CPU's slot of a cell per fate; a program does not nest in itself on one CPU
    // (the tracing programs' recursion guard), so plain increments suffice.
    let c = unsafe { &mut *c };
    c.count += 1;
    if now + FLOW_EVENT_SPACING_NS * FLOW_EVENT_BURST >= c.tat_ns {
        c.tat_ns = if c.tat_ns > now { c.tat_ns } else { now } + FLOW_EVENT_SPACING_NS;
        if emit(ev, now) {
            return;
        }
    }
    c.suppressed += 1;
    c.last_suppressed_ns = now;
    // SAFETY: a u64 userspace writes whole; a torn read cannot happen on 64-bit.
    let epoch = PORT_FLOW_EPOCH.get(0).map_or(0, |e| *e);
    if c.epoch != epoch || c.first_suppressed_ns == 0 {
        c.epoch = epoch;
        c.first_suppressed_ns = now;
    }
}

/// Sends one event stamped `now`, or counts it lost when the ring buffer is full.
#[inline(always)]
fn emit(ev: &PortEvent, now: u64) -> bool {
    match PORT_EVENTS.reserve::<PortEvent>(0) {
        Some(mut entry) => {
            let mut ev = *ev;
            ev.mono_ns = now;
            // SAFETY: helper with no arguments.
            ev.cpu = unsafe { bpf_get_smp_processor_id() };
            entry.write(ev);
            entry.submit(0);
            true
        }
        None => {
            if let Some(p) = PORT_EVENTS_LOST.get_ptr_mut(0) {
                // SAFETY: this CPU's slot.
                unsafe { *p += 1 };
            }
            false
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
        xmit::fill_ident(ip_header(skb, IpAt::Data), &mut ev);
        ev.kind = PortEventKind::Seen as u32;
        record(&ev);
    }
    0
}

/// A socket-side event on a watched local port: protocol and (for connected sockets) the peer.
#[inline(always)]
fn socket_event(sk: *const u8, kind: PortEventKind, len: i32) -> Option<PortEvent> {
    let port = load::<u16>(sk, kernel_offset!(sk_num));
    let proto = load::<u16>(sk, kernel_offset!(sk_protocol));
    if !watched(proto, port) {
        return None;
    }
    Some(socket_fields(sk, kind, len, proto, port))
}

/// A socket's event: local port, protocol, namespace and (for connected sockets) the peer.
#[inline(always)]
pub(crate) fn socket_fields(
    sk: *const u8,
    kind: PortEventKind,
    len: i32,
    proto: u16,
    port: u16,
) -> PortEvent {
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
    ev
}

#[btf_tracepoint(function = "sk_data_ready")]
pub fn sk_data_ready(ctx: BtfTracePointContext) -> i32 {
    let sk: *const u8 = ctx.arg(0);
    let Some(mut ev) = socket_event(sk, PortEventKind::Queued, 0) else {
        return 0;
    };
    if ev.proto == IPPROTO_UDP && ev.peer_port == 0 {
        udp_peer::queued(sk, &mut ev);
    }
    record(&ev);
    0
}

#[btf_tracepoint(function = "sock_recv_length")]
pub fn sock_recv_length(ctx: BtfTracePointContext) -> i32 {
    let sk: *const u8 = ctx.arg(0);
    let ret: i32 = ctx.arg(1);
    let flags: i32 = ctx.arg(2);
    let Some(mut ev) = socket_event(sk, PortEventKind::Read, ret) else {
        return 0;
    };
    // A peek or a failed read consumes nothing.
    if ev.proto == IPPROTO_UDP && ev.peer_port == 0 && ret >= 0 && flags & MSG_PEEK == 0 {
        udp_peer::read_one(sk, &mut ev);
    }
    record(&ev);
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
        record(&ev);
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
        record(&ev);
    }
    0
}

const MSG_PEEK: i32 = 2;
const IPPROTO_TCP: u16 = 6;
const IPPROTO_UDP: u16 = 17;
