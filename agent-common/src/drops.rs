//! Packet drops: kernel struct offsets read from BTF, drop counter keys and the watched-port set.

/// "Field not found in this kernel's BTF": programs skip reads at this offset.
pub const NO_OFFSET: u32 = u32::MAX;
/// RX queue unknown (the skb carried no recorded queue).
pub const NO_QUEUE: u32 = u32::MAX;

/// Byte offsets of the kernel struct members the packet-path programs read, resolved by
/// userspace from /sys/kernel/btf/vmlinux and passed as a global (Rust eBPF has no CO-RE).
/// Any member the kernel lacks is [`NO_OFFSET`].
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KernelOffsets {
    pub skb_dev: u32,
    pub skb_protocol: u32,
    pub skb_queue_mapping: u32,
    pub skb_head: u32,
    pub skb_data: u32,
    pub skb_network_header: u32,
    pub skb_len: u32,
    pub dev_ifindex: u32,
    /// `net_device.nd_net.net`: the device's network namespace.
    pub dev_nd_net: u32,
    /// `net.ns.inum`: the namespace's inode number (as in /proc/PID/ns/net).
    pub net_ns_inum: u32,
    pub sk_num: u32,
    pub sk_dport: u32,
    pub sk_family: u32,
    pub sk_daddr: u32,
    pub sk_v6_daddr: u32,
    pub sk_protocol: u32,
    pub napi_dev: u32,
    pub napi_id: u32,
    /// `sk_buff.skb_iif`: set by the receive path only, so it tells received skbs from sent ones.
    pub skb_iif: u32,
    /// Arguments of udp:udp_fail_queue_rcv_skb (3 with `skb` on newer kernels, 2 on 6.1): the
    /// program reads `skb` only when it is there, which the verifier checks statically.
    pub udp_fail_args: u32,
    /// `sock.__sk_common.skc_net.net`: the socket's network namespace.
    pub sk_net: u32,
    /// `sock.sk_receive_queue.next` and `.prev`: the head and tail of the datagrams queued to a
    /// socket (the queue's own address is that of `.next`, `next` being its first member).
    pub sk_rq_next: u32,
    pub sk_rq_prev: u32,
    /// `udp_sock.reader_queue.next`: UDP reads from here first, refilling it from
    /// `sk_receive_queue` when it runs empty.
    pub udp_reader_next: u32,
}

impl KernelOffsets {
    pub const UNKNOWN: KernelOffsets = KernelOffsets {
        skb_dev: NO_OFFSET,
        skb_protocol: NO_OFFSET,
        skb_queue_mapping: NO_OFFSET,
        skb_head: NO_OFFSET,
        skb_data: NO_OFFSET,
        skb_network_header: NO_OFFSET,
        skb_len: NO_OFFSET,
        dev_ifindex: NO_OFFSET,
        dev_nd_net: NO_OFFSET,
        net_ns_inum: NO_OFFSET,
        sk_num: NO_OFFSET,
        sk_dport: NO_OFFSET,
        sk_family: NO_OFFSET,
        sk_daddr: NO_OFFSET,
        sk_v6_daddr: NO_OFFSET,
        sk_protocol: NO_OFFSET,
        napi_dev: NO_OFFSET,
        napi_id: NO_OFFSET,
        skb_iif: NO_OFFSET,
        udp_fail_args: 0,
        sk_net: NO_OFFSET,
        sk_rq_next: NO_OFFSET,
        sk_rq_prev: NO_OFFSET,
        udp_reader_next: NO_OFFSET,
    };
}

/// Key of `DROPS` (per-CPU hash, value u64 count): one drop reason on one device and RX queue.
/// The CPU is the per-CPU slot.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DropKey {
    /// `enum skb_drop_reason` value; names come from the running kernel's BTF.
    pub reason: u32,
    /// `skb->dev->ifindex`, 0 when the skb had no device.
    pub ifindex: u32,
    /// Network namespace inode of the device (ifindex is only unique within one), 0 unknown.
    pub netns: u32,
    /// RX queue (`queue_mapping - 1` when recorded), or [`NO_QUEUE`].
    pub queue: u32,
    /// Link-layer protocol (`skb->protocol`, host order, e.g. 0x0800).
    pub protocol: u32,
}

/// Key of `PORT_DROPS` (per-CPU hash, value u64): drops of UDP/TCP packets by local port.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PortDropKey {
    pub reason: u32,
    /// IPPROTO_UDP (17) or IPPROTO_TCP (6).
    pub proto: u16,
    /// Local (destination) port, host order.
    pub port: u16,
}

/// Key of `UDP_FAIL` (per-CPU hash, value u64): udp:udp_fail_queue_rcv_skb by local port and
/// result code. `rc == -ENOMEM` is exactly a `Udp: RcvbufErrors` increment.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct UdpFailKey {
    pub rc: i32,
    pub port: u16,
    pub family: u16,
}

/// Slots of [`UdpFailSlots`]: a receiver rarely fails on more than a few (port, result) pairs.
pub const UDP_FAIL_SLOTS: usize = 8;

/// Value of `UDP_FAIL_SLOTS[0]` (per-CPU array of one): the first [`UDP_FAIL_SLOTS`] keys a CPU
/// saw, counted in place so the common case is an array scan, not a hash update. A slot is taken
/// for good (its count never returns to 0), so a key lives either here or in `UDP_FAIL` on one
/// CPU; userspace adds the two.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UdpFailSlots {
    pub keys: [UdpFailKey; UDP_FAIL_SLOTS],
    /// 0: the slot is free.
    pub counts: [u64; UDP_FAIL_SLOTS],
}

/// Drop reasons counted in [`DropReasons`] (the core `enum skb_drop_reason`, about 120 values on
/// 6.18); larger values (subsystem reasons carry their subsystem in the high bits) always take
/// the detailed path.
pub const DROP_REASON_SLOTS: usize = 256;
/// Link-layer protocol classes of [`DropReasons::counts`]: other, IPv4, IPv6.
pub const DROP_PROTO_CLASSES: usize = 4;
/// `skb->protocol` of each class (0: any other, recorded as unknown).
pub const DROP_CLASS_PROTOCOL: [u16; DROP_PROTO_CLASSES] = [0, 0x0800, 0x86DD, 0];
/// Default drops per tick and CPU counted with device, queue and ports (`DROP_DETAIL_PER_TICK`);
/// the rest by reason and protocol only. 0: all in detail.
pub const DROP_DETAIL_PER_TICK: u32 = 16;

/// Value of `DROP_REASONS[0]` (per-CPU array of one): kfree_skb drops over the per-tick detail
/// budget, counted by `class * DROP_REASON_SLOTS + reason` (device, queue and ports not read),
/// and the budget's state. Drops of watched ports are always counted in detail.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct DropReasons {
    /// Low 32 bits of the jiffy `detailed_in_tick` counts in.
    pub tick: u32,
    pub detailed_in_tick: u32,
    pub counts: [u64; DROP_PROTO_CLASSES * DROP_REASON_SLOTS],
}

/// Key of `WATCH_PORTS` (hash, value u32 unused): `(proto << 16) | port`.
pub const fn watch_key(proto: u8, port: u16) -> u32 {
    ((proto as u32) << 16) | port as u32
}
pub const IPPROTO_TCP: u8 = 6;
pub const IPPROTO_UDP: u8 = 17;
/// Upper bound on watched ports.
pub const MAX_WATCH_PORTS: u32 = 64;

const _: () = assert!(core::mem::size_of::<KernelOffsets>() == 24 * 4);
const _: () = assert!(core::mem::size_of::<DropKey>() == 20);
const _: () = assert!(core::mem::size_of::<PortDropKey>() == 8);
const _: () = assert!(core::mem::size_of::<UdpFailKey>() == 8);
const _: () = assert!(core::mem::size_of::<UdpFailSlots>() == 16 * UDP_FAIL_SLOTS);
const _: () =
    assert!(core::mem::size_of::<DropReasons>() == 8 + 8 * DROP_PROTO_CLASSES * DROP_REASON_SLOTS);
const _: () = assert!((DROP_PROTO_CLASSES * DROP_REASON_SLOTS).is_power_of_two());

#[cfg(feature = "user")]
mod pod {
    // SAFETY: repr(C), u32/u16/i32 fields laid out without padding (sizes asserted above).
    unsafe impl aya::Pod for super::KernelOffsets {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::DropKey {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::PortDropKey {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::UdpFailKey {}
    // SAFETY: repr(C), 8-byte keys then u64s: no padding (size asserted above).
    unsafe impl aya::Pod for super::UdpFailSlots {}
    // SAFETY: repr(C), two u32 then u64s: no padding (size asserted above).
    unsafe impl aya::Pod for super::DropReasons {}
}
