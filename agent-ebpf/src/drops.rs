//! Packet drops: skb:kfree_skb by (reason, device, RX queue, protocol) per CPU and by destination
//! port; udp:udp_fail_queue_rcv_skb by local port and result; sock:sock_rcvqueue_full counted.
//! Also holds the BTF-resolved struct offsets and the skb header parsing the packet-path
//! programs share (Rust eBPF has no CO-RE, so userspace passes offsets as a global).
//!
//! tp_btf arguments (include/trace/events/skb.h, udp.h, sock.h on 6.18):
//! kfree_skb(struct sk_buff *skb, void *location, enum skb_drop_reason reason, struct sock *rx_sk),
//! udp_fail_queue_rcv_skb(int rc, struct sock *sk, struct sk_buff *skb) (6.1: rc, sk only),
//! sock_rcvqueue_full(struct sock *sk, struct sk_buff *skb). The `_tp` twins at the end are the
//! classic-tracepoint fallback.

use agent_common::{
    drops::{
        DropKey, IPPROTO_TCP, IPPROTO_UDP, KernelOffsets, MAX_WATCH_PORTS, NO_OFFSET, NO_QUEUE,
        PortDropKey, UdpFailKey, watch_key,
    },
    events::Stream,
    portwatch::{PortEvent, PortEventKind},
};
use aya_ebpf::{
    helpers::bpf_probe_read_kernel,
    macros::{btf_tracepoint, map, tracepoint},
    maps::{HashMap, PerCpuArray, PerCpuHashMap},
    programs::{BtfTracePointContext, TracePointContext},
};

use crate::{
    field::{kernel_offset, load, tp_offset, tp_read},
    portwatch::emit,
    softirq_events::count_lost,
};

#[map]
static DROPS: PerCpuHashMap<DropKey, u64> = PerCpuHashMap::with_max_entries(4096, 0);
#[map]
static PORT_DROPS: PerCpuHashMap<PortDropKey, u64> = PerCpuHashMap::with_max_entries(1024, 0);
#[map]
static UDP_FAIL: PerCpuHashMap<UdpFailKey, u64> = PerCpuHashMap::with_max_entries(1024, 0);
#[map]
static RCVQUEUE_FULL: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);
#[map]
pub(crate) static WATCH_PORTS: HashMap<u32, u32> = HashMap::with_max_entries(MAX_WATCH_PORTS, 0);

const BPF_NOEXIST: u64 = 1;
const ETH_P_IP: u16 = 0x0800;
const ETH_P_IPV6: u16 = 0x86DD;
const AF_INET: u16 = 2;
const AF_INET6: u16 = 10;

#[inline(always)]
pub(crate) fn offsets() -> KernelOffsets {
    // SAFETY: read_volatile of a plain global the loader rewrote; nothing writes it at run time.
    unsafe { core::ptr::read_volatile(&crate::field::KERNEL_OFFSETS) }
}

/// Reads a `T` at `base + off` from kernel memory; None when the offset is unknown or the read
/// faults.
#[inline(always)]
pub(crate) fn read<T>(base: *const u8, off: u32) -> Option<T> {
    if off == NO_OFFSET || base.is_null() {
        return None;
    }
    // SAFETY: bpf_probe_read_kernel checks the address and fails instead of faulting.
    unsafe { bpf_probe_read_kernel(base.wrapping_add(off as usize) as *const T) }.ok()
}

/// Adds one to `map[key]` on this CPU. NOEXIST insert so a racing insert on another CPU is not
/// overwritten; then the retry finds it. A key that fits nowhere (map full) is counted in
/// `LOST_EVENTS[full]`, never dropped silently.
#[inline(always)]
fn bump<K>(map: &PerCpuHashMap<K, u64>, key: &K, full: Stream) {
    for _ in 0..2 {
        if let Some(p) = map.get_ptr_mut(key) {
            // SAFETY: this CPU's slot; programs on one CPU do not run concurrently on it.
            unsafe { *p += 1 };
            return;
        }
        if map.insert(key, &1, BPF_NOEXIST).is_ok() {
            return;
        }
    }
    count_lost(full);
}

/// What the packet-path programs learn from one skb.
#[derive(Clone, Copy)]
pub(crate) struct Packet {
    pub ifindex: u32,
    pub netns: u32,
    pub queue: u32,
    pub protocol: u16,
    pub ev: PortEvent,
}

/// Where the IP header is: at `skb->data` before the stack set the network header
/// (net:netif_receive_skb fires before `skb_reset_network_header`), else at head + network_header.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum IpAt {
    Data,
    NetworkHeader,
}

/// Addresses and ports only: the cheap first step when most packets are not of interest.
#[inline(always)]
pub(crate) fn parse_addrs(skb: *const u8, at: IpAt) -> (u16, PortEvent) {
    let protocol = u16::from_be(load::<u16>(skb, kernel_offset!(skb_protocol)));
    let mut ev = empty_event();
    // `data` and `head` are byte pointers: the verifier gives them as plain numbers, so the
    // headers behind them are read with bpf_probe_read_kernel (`parse_ip`).
    let ip: *const u8 = match at {
        IpAt::Data => load::<u64>(skb, kernel_offset!(skb_data)) as *const u8,
        IpAt::NetworkHeader => {
            let head = load::<u64>(skb, kernel_offset!(skb_head));
            let nh = load::<u16>(skb, kernel_offset!(skb_network_header));
            if nh != u16::MAX && head != 0 {
                (head + nh as u64) as *const u8
            } else {
                core::ptr::null()
            }
        }
    };
    parse_ip(ip, protocol, &mut ev);
    (protocol, ev)
}

/// Receiving device, RX queue and length, into `ev`; returns the RX queue.
#[inline(always)]
pub(crate) fn fill_device(skb: *const u8, ev: &mut PortEvent) -> u32 {
    let dev = load::<u64>(skb, kernel_offset!(skb_dev)) as *const u8;
    ev.ifindex = load::<u32>(dev, kernel_offset!(dev_ifindex));
    let net = load::<u64>(dev, kernel_offset!(dev_nd_net)) as *const u8;
    ev.netns = load::<u32>(net, kernel_offset!(net_ns_inum));
    ev.len = load::<u32>(skb, kernel_offset!(skb_len)) as i32;
    let qm = load::<u16>(skb, kernel_offset!(skb_queue_mapping));
    if qm > 0 { qm as u32 - 1 } else { NO_QUEUE }
}

#[inline(always)]
pub(crate) fn parse_skb(skb: *const u8, at: IpAt) -> Packet {
    let (protocol, mut ev) = parse_addrs(skb, at);
    let queue = fill_device(skb, &mut ev);
    Packet {
        ifindex: ev.ifindex,
        netns: ev.netns,
        queue,
        protocol,
        ev,
    }
}

/// Fills family, proto, addresses and ports (local = destination: these are received packets).
#[inline(always)]
fn parse_ip(ip: *const u8, protocol: u16, ev: &mut PortEvent) {
    if ip.is_null() {
        return;
    }
    let l4: *const u8;
    if protocol == ETH_P_IP {
        let Some(hdr) = read::<[u8; 20]>(ip, 0) else {
            return;
        };
        let ihl = (hdr[0] & 0x0f) as usize * 4;
        // Only the first fragment carries the ports.
        if ihl < 20 || (u16::from_be_bytes([hdr[6], hdr[7]]) & 0x1fff) != 0 {
            return;
        }
        ev.family = AF_INET;
        ev.proto = hdr[9] as u16;
        ev.peer_addr[..4].copy_from_slice(&hdr[12..16]);
        ev.local_addr[..4].copy_from_slice(&hdr[16..20]);
        l4 = ip.wrapping_add(ihl);
    } else if protocol == ETH_P_IPV6 {
        let Some(hdr) = read::<[u8; 40]>(ip, 0) else {
            return;
        };
        ev.family = AF_INET6;
        ev.proto = hdr[6] as u16; // extension headers are not walked: proto stays the first one
        ev.peer_addr.copy_from_slice(&hdr[8..24]);
        ev.local_addr.copy_from_slice(&hdr[24..40]);
        l4 = ip.wrapping_add(40);
    } else {
        return;
    }
    if ev.proto == IPPROTO_UDP as u16 || ev.proto == IPPROTO_TCP as u16 {
        if let Some(ports) = read::<[u8; 4]>(l4, 0) {
            ev.peer_port = u16::from_be_bytes([ports[0], ports[1]]);
            ev.local_port = u16::from_be_bytes([ports[2], ports[3]]);
        }
    }
}

/// An event with nothing filled in; `emit` stamps time and CPU, so unwatched packets skip both.
#[inline(always)]
pub(crate) fn empty_event() -> PortEvent {
    PortEvent {
        mono_ns: 0,
        kind: 0,
        cpu: 0,
        ifindex: 0,
        code: 0,
        len: 0,
        family: 0,
        proto: 0,
        local_port: 0,
        peer_port: 0,
        netns: 0,
        local_addr: [0; 16],
        peer_addr: [0; 16],
    }
}

#[inline(always)]
pub(crate) fn watched(proto: u16, port: u16) -> bool {
    // SAFETY: read-only lookup of a u32 value, not kept.
    port != 0 && unsafe { WATCH_PORTS.get(&watch_key(proto as u8, port)) }.is_some()
}

#[btf_tracepoint(function = "kfree_skb")]
pub fn kfree_skb(ctx: BtfTracePointContext) -> i32 {
    let skb: *const u8 = ctx.arg(0);
    let reason: u32 = ctx.arg(2);
    let p = parse_skb(skb, IpAt::NetworkHeader);
    bump(
        &DROPS,
        &DropKey {
            reason,
            ifindex: p.ifindex,
            netns: p.netns,
            queue: p.queue,
            protocol: p.protocol as u32,
        },
        Stream::DropKeys,
    );
    if p.ev.local_port != 0 {
        bump(
            &PORT_DROPS,
            &PortDropKey {
                reason,
                proto: p.ev.proto,
                port: p.ev.local_port,
            },
            Stream::PortDropKeys,
        );
        if watched(p.ev.proto, p.ev.local_port) {
            let mut ev = p.ev;
            ev.kind = PortEventKind::Dropped as u32;
            ev.code = reason as i32;
            emit(&ev);
        }
    }
    0
}

#[btf_tracepoint(function = "udp_fail_queue_rcv_skb")]
pub fn udp_fail_queue_rcv_skb(ctx: BtfTracePointContext) -> i32 {
    let rc: i32 = ctx.arg(0);
    let sk: *const u8 = ctx.arg(1);
    let port = load::<u16>(sk, kernel_offset!(sk_num));
    let family = load::<u16>(sk, kernel_offset!(sk_family));
    bump(
        &UDP_FAIL,
        &UdpFailKey { rc, port, family },
        Stream::UdpFailKeys,
    );
    if watched(IPPROTO_UDP as u16, port) {
        // Kernels before the `skb` argument (6.1) have rc and sk only; the verifier drops the
        // read below there, as the count is a constant of the frozen globals.
        let mut ev = if kernel_offset!(udp_fail_args) >= 3 {
            let skb: *const u8 = ctx.arg(2);
            parse_skb(skb, IpAt::NetworkHeader).ev
        } else {
            empty_event()
        };
        ev.kind = PortEventKind::QueueFailed as u32;
        ev.code = rc;
        ev.local_port = port;
        emit(&ev);
    }
    0
}

#[btf_tracepoint(function = "sock_rcvqueue_full")]
pub fn sock_rcvqueue_full(_ctx: BtfTracePointContext) -> i32 {
    count_rcvqueue_full();
    0
}

#[inline(always)]
fn count_rcvqueue_full() {
    if let Some(p) = RCVQUEUE_FULL.get_ptr_mut(0) {
        // SAFETY: this CPU's slot.
        unsafe { *p += 1 };
    }
}

// --- classic-tracepoint twins (no BTF): no skb or sock pointer can be followed, so drops are
// counted by reason and protocol per CPU (device, queue and ports unknown), UDP failures by the
// port and family the tracepoint itself records.

#[tracepoint(category = "skb", name = "kfree_skb")]
pub fn kfree_skb_tp(ctx: TracePointContext) -> u32 {
    // Kernels before 5.17 have no reason field: counted as 0 (unknown), as userspace reports.
    let reason = tp_read::<u32>(&ctx, tp_offset!(kfree_reason)).unwrap_or(0);
    let protocol = tp_read::<u16>(&ctx, tp_offset!(kfree_protocol)).unwrap_or(0);
    bump(
        &DROPS,
        &DropKey {
            reason,
            ifindex: 0,
            netns: 0,
            queue: NO_QUEUE,
            protocol: protocol as u32,
        },
        Stream::DropKeys,
    );
    0
}

#[tracepoint(category = "udp", name = "udp_fail_queue_rcv_skb")]
pub fn udp_fail_queue_rcv_skb_tp(ctx: TracePointContext) -> u32 {
    let rc = tp_read::<i32>(&ctx, tp_offset!(udp_rc)).unwrap_or(0);
    let port = tp_read::<u16>(&ctx, tp_offset!(udp_lport)).unwrap_or(0);
    let family = tp_read::<u16>(&ctx, tp_offset!(udp_family)).unwrap_or(0);
    bump(
        &UDP_FAIL,
        &UdpFailKey { rc, port, family },
        Stream::UdpFailKeys,
    );
    0
}

#[tracepoint(category = "sock", name = "sock_rcvqueue_full")]
pub fn sock_rcvqueue_full_tp(_ctx: TracePointContext) -> u32 {
    count_rcvqueue_full();
    0
}
