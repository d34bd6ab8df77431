//! The skb and IP header reading the packet-path programs share (drops, port watch, send side,
//! UDP peers), and the BTF-resolved struct offsets it reads at (Rust eBPF has no CO-RE, so
//! userspace passes offsets as a global).

use agent_common::{
    drops::{IPPROTO_TCP, IPPROTO_UDP, KernelOffsets, NO_OFFSET, NO_QUEUE},
    portwatch::PortEvent,
};
use aya_ebpf::helpers::bpf_probe_read_kernel;

use crate::field::{kernel_offset, load};

pub(crate) const ETH_P_IP: u16 = 0x0800;
pub(crate) const ETH_P_IPV6: u16 = 0x86DD;
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
    parse_ip(ip_header(skb, at), protocol, &mut ev);
    (protocol, ev)
}

/// The IP header's address, null when unknown. `data` and `head` are byte pointers: the verifier
/// gives them as plain numbers, so the headers behind them are read with bpf_probe_read_kernel.
#[inline(always)]
pub(crate) fn ip_header(skb: *const u8, at: IpAt) -> *const u8 {
    match at {
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
    }
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

/// Addresses, ports, device, RX queue and length of one skb.
#[inline(always)]
pub(crate) fn parse_event(skb: *const u8, at: IpAt) -> PortEvent {
    let (_, mut ev) = parse_addrs(skb, at);
    fill_device(skb, &mut ev);
    ev
}

/// Fills family, proto, addresses and ports (local = destination: these are received packets).
#[inline(always)]
pub(crate) fn parse_ip(ip: *const u8, protocol: u16, ev: &mut PortEvent) {
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

/// An event with nothing filled in; `record` stamps time and CPU, so unwatched packets skip both.
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
        ident: 0,
        flags: 0,
    }
}
