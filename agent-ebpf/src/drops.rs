//! Packet drops: skb:kfree_skb by (reason, device, RX queue, protocol) per CPU and by destination
//! port; udp:udp_fail_queue_rcv_skb by local port and result; sock:sock_rcvqueue_full counted.
//! The skb header parsing it shares with the other packet-path programs is in skb.rs.
//!
//! tp_btf arguments (include/trace/events/skb.h, udp.h, sock.h on 6.18):
//! kfree_skb(struct sk_buff *skb, void *location, enum skb_drop_reason reason, struct sock *rx_sk),
//! udp_fail_queue_rcv_skb(int rc, struct sock *sk, struct sk_buff *skb) (6.1: rc, sk only),
//! sock_rcvqueue_full(struct sock *sk, struct sk_buff *skb). The `_tp` twins at the end are the
//! classic-tracepoint fallback.

use agent_common::{
    drops::{
        DROP_DETAIL_PER_TICK as DEFAULT_DETAIL_PER_TICK, DROP_PROTO_CLASSES, DROP_REASON_SLOTS,
        DropKey, DropReasons, IPPROTO_UDP, NO_QUEUE, PortDropKey, UDP_FAIL_SLOTS as SLOTS,
        UdpFailKey, UdpFailSlots,
    },
    events::Stream,
    portwatch::PortEventKind,
};
use aya_ebpf::{
    helpers::bpf_jiffies64,
    macros::{btf_tracepoint, map, tracepoint},
    maps::{PerCpuArray, PerCpuHashMap},
    programs::{BtfTracePointContext, TracePointContext},
};

use crate::{
    field::{kernel_offset, load, tp_offset, tp_read},
    portwatch::{record, watched},
    skb::{ETH_P_IP, ETH_P_IPV6, IpAt, empty_event, fill_device, parse_addrs, parse_event},
    softirq_events::count_lost,
};

#[map]
static DROPS: PerCpuHashMap<DropKey, u64> = PerCpuHashMap::with_max_entries(4096, 0);
#[map]
static DROP_REASONS: PerCpuArray<DropReasons> = PerCpuArray::with_max_entries(1, 0);
#[map]
static PORT_DROPS: PerCpuHashMap<PortDropKey, u64> = PerCpuHashMap::with_max_entries(1024, 0);
#[map]
static UDP_FAIL: PerCpuHashMap<UdpFailKey, u64> = PerCpuHashMap::with_max_entries(1024, 0);
#[map]
static UDP_FAIL_SLOTS: PerCpuArray<UdpFailSlots> = PerCpuArray::with_max_entries(1, 0);
#[map]
static RCVQUEUE_FULL: PerCpuArray<u64> = PerCpuArray::with_max_entries(1, 0);

/// kfree_skb drops per tick and CPU counted in detail (0: all); set by userspace.
#[unsafe(no_mangle)]
static DROP_DETAIL_PER_TICK: u32 = DEFAULT_DETAIL_PER_TICK;
/// 1 when any port is watched: then every drop's ports are read to find the watched ones.
#[unsafe(no_mangle)]
static PORTS_WATCHED: u32 = 0;

const BPF_NOEXIST: u64 = 1;
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

/// Drops are counted in detail (device, RX queue, ports: two hash updates and the header
/// reads) while the tick's budget lasts, and always on watched ports; beyond it by reason and
/// protocol only, in one per-CPU array (`DROP_REASONS`). Totals by reason stay exact.
#[btf_tracepoint(function = "kfree_skb")]
pub fn kfree_skb(ctx: BtfTracePointContext) -> i32 {
    let skb: *const u8 = ctx.arg(0);
    let reason: u32 = ctx.arg(2);
    let Some(r) = DROP_REASONS.get_ptr_mut(0) else {
        return 0;
    };
    // SAFETY: this CPU's slot; programs on one CPU do not run concurrently on it.
    let r = unsafe { &mut *r };
    // SAFETY: read_volatile of plain globals the loader rewrote; nothing writes them at run time.
    let watching = unsafe { core::ptr::read_volatile(&PORTS_WATCHED) } != 0;
    let countable = (reason as usize) < DROP_REASON_SLOTS;
    if !watching && countable && !take_detail(r) {
        count_reason(r, skb, reason);
        return 0;
    }
    let (protocol, mut ev) = parse_addrs(skb, IpAt::NetworkHeader);
    let is_watched = watching && ev.local_port != 0 && watched(ev.proto, ev.local_port);
    if watching && !is_watched && countable && !take_detail(r) {
        count_reason(r, skb, reason);
        return 0;
    }
    let queue = fill_device(skb, &mut ev);
    bump(
        &DROPS,
        &DropKey {
            reason,
            ifindex: ev.ifindex,
            netns: ev.netns,
            queue,
            protocol: protocol as u32,
        },
        Stream::DropKeys,
    );
    if ev.local_port != 0 {
        bump(
            &PORT_DROPS,
            &PortDropKey {
                reason,
                proto: ev.proto,
                port: ev.local_port,
            },
            Stream::PortDropKeys,
        );
        if is_watched {
            ev.kind = PortEventKind::Dropped as u32;
            ev.code = reason as i32;
            record(&ev);
        }
    }
    0
}

/// Whether this drop is counted in detail: true while the tick's budget lasts.
#[inline(always)]
fn take_detail(r: &mut DropReasons) -> bool {
    // SAFETY: as in `kfree_skb`.
    let budget = unsafe { core::ptr::read_volatile(&DROP_DETAIL_PER_TICK) };
    if budget == 0 {
        return true;
    }
    // SAFETY: helper with no arguments (inlined by the verifier into a load of jiffies_64).
    let tick = unsafe { bpf_jiffies64() } as u32;
    if r.tick != tick {
        r.tick = tick;
        r.detailed_in_tick = 0;
    }
    if r.detailed_in_tick >= budget {
        return false;
    }
    r.detailed_in_tick += 1;
    true
}

/// One drop by reason and protocol class (`reason` < DROP_REASON_SLOTS, checked by the caller).
#[inline(always)]
fn count_reason(r: &mut DropReasons, skb: *const u8, reason: u32) {
    let protocol = u16::from_be(load::<u16>(skb, kernel_offset!(skb_protocol)));
    let class = match protocol {
        ETH_P_IP => 1,
        ETH_P_IPV6 => 2,
        _ => 0,
    };
    // Masked on the register that indexes (see `softirq::vector_index`).
    let i = core::hint::black_box(class * DROP_REASON_SLOTS + reason as usize)
        & (DROP_PROTO_CLASSES * DROP_REASON_SLOTS - 1);
    r.counts[i] += 1;
}

#[btf_tracepoint(function = "udp_fail_queue_rcv_skb")]
pub fn udp_fail_queue_rcv_skb(ctx: BtfTracePointContext) -> i32 {
    let rc: i32 = ctx.arg(0);
    let sk: *const u8 = ctx.arg(1);
    let port = load::<u16>(sk, kernel_offset!(sk_num));
    let family = load::<u16>(sk, kernel_offset!(sk_family));
    count_udp_fail(UdpFailKey { rc, port, family });
    // SAFETY: as in `kfree_skb`.
    let watching = unsafe { core::ptr::read_volatile(&PORTS_WATCHED) } != 0;
    if watching && watched(IPPROTO_UDP as u16, port) {
        // Kernels before the `skb` argument (6.1) have rc and sk only; the verifier drops the
        // read below there, as the count is a constant of the frozen globals.
        let mut ev = if kernel_offset!(udp_fail_args) >= 3 {
            let skb: *const u8 = ctx.arg(2);
            parse_event(skb, IpAt::NetworkHeader)
        } else {
            empty_event()
        };
        ev.kind = PortEventKind::QueueFailed as u32;
        ev.code = rc;
        ev.local_port = port;
        record(&ev);
    }
    0
}

/// One UDP enqueue failure: in this CPU's slot for `key` (a scan of at most [`SLOTS`] keys),
/// else in a free slot, else in the `UDP_FAIL` hash.
#[inline(always)]
fn count_udp_fail(key: UdpFailKey) {
    if let Some(s) = UDP_FAIL_SLOTS.get_ptr_mut(0) {
        // SAFETY: this CPU's slot; programs on one CPU do not run concurrently on it.
        let s = unsafe { &mut *s };
        for i in 0..SLOTS {
            if s.counts[i] == 0 {
                s.keys[i] = key;
                s.counts[i] = 1;
                return;
            }
            if s.keys[i] == key {
                s.counts[i] += 1;
                return;
            }
        }
    }
    bump(&UDP_FAIL, &key, Stream::UdpFailKeys);
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
    count_udp_fail(UdpFailKey { rc, port, family });
    0
}

#[tracepoint(category = "sock", name = "sock_rcvqueue_full")]
pub fn sock_rcvqueue_full_tp(_ctx: TracePointContext) -> u32 {
    count_rcvqueue_full();
    0
}
