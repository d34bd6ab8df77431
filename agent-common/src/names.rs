//! Map, program and global names shared by both sides, so neither retypes a string.

/// Per-CPU array, one entry per softirq vector: [`crate::softirq::SoftirqStats`].
pub const MAP_SOFTIRQ_STATS: &str = "SOFTIRQ_STATS";
/// Per-CPU scratch holding raise/entry timestamps: [`crate::softirq::SoftirqScratch`].
pub const MAP_SOFTIRQ_SCRATCH: &str = "SOFTIRQ_SCRATCH";

pub const PROG_SOFTIRQ_RAISE: &str = "softirq_raise";
pub const PROG_SOFTIRQ_ENTRY: &str = "softirq_entry";
pub const PROG_SOFTIRQ_EXIT: &str = "softirq_exit";
/// Classic-tracepoint twins of the three programs above, used where tp_btf is unavailable.
pub const PROG_SOFTIRQ_RAISE_TP: &str = "softirq_raise_tp";
pub const PROG_SOFTIRQ_ENTRY_TP: &str = "softirq_entry_tp";
pub const PROG_SOFTIRQ_EXIT_TP: &str = "softirq_exit_tp";
/// Global: offset of `vec` in the classic softirq tracepoint record.
pub const GLOBAL_TP_VEC_OFFSET: &str = "TP_VEC_OFFSET";

/// Tracepoint names (category `irq`) the softirq programs attach to.
pub const TP_SOFTIRQ_RAISE: &str = "softirq_raise";
pub const TP_SOFTIRQ_ENTRY: &str = "softirq_entry";
pub const TP_SOFTIRQ_EXIT: &str = "softirq_exit";

/// Global: PID of `ksoftirqd/N` for each CPU N (0 where unknown), so the entry program can tell a
/// softirq deferred to ksoftirqd from one run on irq exit without a comm comparison.
pub const GLOBAL_KSOFTIRQD_PIDS: &str = "KSOFTIRQD_PIDS";

/// Every program the built ELF must contain (checked by a test that needs no root).
pub const ALL_PROGRAMS: &[&str] = &[
    PROG_SOFTIRQ_RAISE,
    PROG_SOFTIRQ_ENTRY,
    PROG_SOFTIRQ_EXIT,
    PROG_SOFTIRQ_RAISE_TP,
    PROG_SOFTIRQ_ENTRY_TP,
    PROG_SOFTIRQ_EXIT_TP,
];
/// Every map the built ELF must contain.
pub const ALL_MAPS: &[&str] = &[MAP_SOFTIRQ_STATS, MAP_SOFTIRQ_SCRATCH];

// --- softirq threshold events, loss accounting, scheduling delay, kernel stacks ---

/// Ring buffer of [`crate::events::SoftirqEvent`].
pub const MAP_SOFTIRQ_EVENTS: &str = "SOFTIRQ_EVENTS";
/// Per-CPU array of u64, one per [`crate::events::Stream`]: failed ring-buffer reserves.
pub const MAP_LOST_EVENTS: &str = "LOST_EVENTS";
/// Global u64: softirqs whose wait or run time exceeds this many ns become events.
pub const GLOBAL_SOFTIRQ_THRESHOLD_NS: &str = "SOFTIRQ_THRESHOLD_NS";
/// Global u32: softirqs timed per jiffy, CPU and vector (0: all), see
/// [`crate::softirq::VectorScratch`].
pub const GLOBAL_SOFTIRQ_TIMED_PER_TICK: &str = "SOFTIRQ_TIMED_PER_TICK";

/// Hash of watched thread-group ids (u32 → u32 marker), filled by userspace.
pub const MAP_SCHED_WATCHED: &str = "SCHED_WATCHED";
/// Hash tid → [`crate::sched::SchedStats`].
pub const MAP_SCHED_STATS: &str = "SCHED_STATS";
/// Hash tid → [`crate::sched::SchedTimes`].
pub const MAP_SCHED_TIMES: &str = "SCHED_TIMES";
/// Per-CPU zeroed [`crate::sched::SchedStats`] used as the initial value of a new entry.
pub const MAP_SCHED_ZERO: &str = "SCHED_ZERO";
/// Global [`crate::sched::TaskOffsets`] from BTF.
pub const GLOBAL_TASK_OFFSETS: &str = "TASK_OFFSETS";
pub const PROG_SCHED_WAKEUP: &str = "sched_wakeup";
pub const PROG_SCHED_WAKEUP_NEW: &str = "sched_wakeup_new";
pub const PROG_SCHED_SWITCH: &str = "sched_switch";
pub const TP_SCHED_WAKEUP: &str = "sched_wakeup";
pub const TP_SCHED_WAKEUP_NEW: &str = "sched_wakeup_new";
pub const TP_SCHED_SWITCH: &str = "sched_switch";
/// Classic-tracepoint twins of the sched programs (no BTF): threads by id, watched through
/// `SCHED_WATCHED` entries tid → tgid that userspace keeps for every thread of a watched process.
pub const PROG_SCHED_WAKEUP_TP: &str = "sched_wakeup_tp";
pub const PROG_SCHED_WAKEUP_NEW_TP: &str = "sched_wakeup_new_tp";
pub const PROG_SCHED_SWITCH_TP: &str = "sched_switch_tp";

/// perf_event program sampling kernel stacks.
pub const PROG_STACK_SAMPLE: &str = "stack_sample";
/// Stack-trace map of kernel stacks.
pub const MAP_STACKS: &str = "STACKS";
/// Hash [`crate::stacks::StackKey`] → u64 samples.
pub const MAP_STACK_COUNTS: &str = "STACK_COUNTS";
/// Per-CPU [`crate::stacks::StackSampleStats`].
pub const MAP_STACK_SAMPLES: &str = "STACK_SAMPLES";
/// Global u32: 1 keeps every kernel stack, 0 only those taken in softirq context.
pub const GLOBAL_ALL_STACKS: &str = "ALL_STACKS";

/// Programs of the scheduling, stack and event probes (the built-ELF test checks these too).
pub const SCHED_STACK_PROGRAMS: &[&str] = &[
    PROG_SCHED_WAKEUP,
    PROG_SCHED_WAKEUP_NEW,
    PROG_SCHED_SWITCH,
    PROG_SCHED_WAKEUP_TP,
    PROG_SCHED_WAKEUP_NEW_TP,
    PROG_SCHED_SWITCH_TP,
    PROG_STACK_SAMPLE,
];
/// Maps of the scheduling, stack and event probes.
pub const SCHED_STACK_MAPS: &[&str] = &[
    MAP_SOFTIRQ_EVENTS,
    MAP_LOST_EVENTS,
    MAP_SCHED_WATCHED,
    MAP_SCHED_STATS,
    MAP_SCHED_TIMES,
    MAP_SCHED_ZERO,
    MAP_STACKS,
    MAP_STACK_COUNTS,
    MAP_STACK_SAMPLES,
];

// Packet path: drops, NAPI, hard IRQs and watched-port events (agent-ebpf/src/{drops,napi,
// hardirq,portwatch}.rs). tp_btf programs are named after their tracepoint; the `_tp` twins are
// the classic-tracepoint fallback for kernels without BTF (no struct offsets there, so they
// record less: see `crate::tracepoints::TracepointOffsets`).

/// Global: [`crate::drops::KernelOffsets`] resolved from the running kernel's BTF.
pub const GLOBAL_KERNEL_OFFSETS: &str = "KERNEL_OFFSETS";

/// Per-CPU hash [`crate::drops::DropKey`] → u64.
pub const MAP_DROPS: &str = "DROPS";
/// Per-CPU array of one [`crate::drops::DropReasons`]: drops over the detail budget.
pub const MAP_DROP_REASONS: &str = "DROP_REASONS";
/// Global u32: kfree_skb drops per tick and CPU counted with device, queue and ports (0: all).
pub const GLOBAL_DROP_DETAIL_PER_TICK: &str = "DROP_DETAIL_PER_TICK";
/// Global u32: 1 when ports are watched (every drop's ports are then read, to find theirs).
pub const GLOBAL_PORTS_WATCHED: &str = "PORTS_WATCHED";
/// Per-CPU hash [`crate::drops::PortDropKey`] → u64.
pub const MAP_PORT_DROPS: &str = "PORT_DROPS";
/// Per-CPU hash [`crate::drops::UdpFailKey`] → u64.
pub const MAP_UDP_FAIL: &str = "UDP_FAIL";
/// Per-CPU array of one [`crate::drops::UdpFailSlots`]: the first keys of `UDP_FAIL`, in place.
pub const MAP_UDP_FAIL_SLOTS: &str = "UDP_FAIL_SLOTS";
/// Per-CPU array, one u64: sock:sock_rcvqueue_full events.
pub const MAP_RCVQUEUE_FULL: &str = "RCVQUEUE_FULL";
/// Hash `watch_key(proto, port)` → u32: ports whose packets are reported one by one.
pub const MAP_WATCH_PORTS: &str = "WATCH_PORTS";
/// Ring buffer of [`crate::portwatch::PortEvent`].
pub const MAP_PORT_EVENTS: &str = "PORT_EVENTS";
/// Per-CPU array, one u64: failed `PORT_EVENTS` reserves.
pub const MAP_PORT_EVENTS_LOST: &str = "PORT_EVENTS_LOST";
/// Per-CPU hash [`crate::portwatch::FlowKey`] → [`crate::portwatch::FlowCell`].
pub const MAP_PORT_FLOWS: &str = "PORT_FLOWS";
/// Array, one u64: the read number userspace is in, stamped on each interval's first suppressed.
pub const MAP_PORT_FLOW_EPOCH: &str = "PORT_FLOW_EPOCH";
/// LRU hash socket address → the peer of the datagram its next read returns (kernel-side only).
pub const MAP_UDP_NEXT_PEER: &str = "UDP_NEXT_PEER";
/// Per-CPU hash [`crate::napi::NapiKey`] → [`crate::napi::NapiStats`], for instances whose
/// slot in `NAPI_SLOTS` is taken on that CPU.
pub const MAP_NAPI_STATS: &str = "NAPI_STATS";
/// Per-CPU array of [`crate::napi::NapiSlot`], indexed by [`crate::napi::slot_index`].
pub const MAP_NAPI_SLOTS: &str = "NAPI_SLOTS_MAP";
/// Per-CPU hash device name (`[u8; 16]`, NUL-padded) → [`crate::napi::NapiStats`]: NAPI polls
/// seen by the classic tracepoint, which names the device but cannot reach the NAPI instance.
pub const MAP_NAPI_BY_NAME: &str = "NAPI_BY_NAME";
/// Global: [`crate::tracepoints::TracepointOffsets`] from the classic tracepoints' format files.
pub const GLOBAL_TP_OFFSETS: &str = "TP_OFFSETS";
/// Per-CPU hash irq (u32) → [`crate::hardirq::HardirqStats`].
pub const MAP_HARDIRQ_STATS: &str = "HARDIRQ_STATS";
/// Per-CPU array, one [`crate::hardirq::HardirqScratch`].
pub const MAP_HARDIRQ_SCRATCH: &str = "HARDIRQ_SCRATCH";

pub const PROG_KFREE_SKB: &str = "kfree_skb";
pub const PROG_UDP_FAIL_QUEUE_RCV_SKB: &str = "udp_fail_queue_rcv_skb";
pub const PROG_SOCK_RCVQUEUE_FULL: &str = "sock_rcvqueue_full";
pub const PROG_NAPI_POLL: &str = "napi_poll";
pub const PROG_IRQ_HANDLER_ENTRY: &str = "irq_handler_entry";
pub const PROG_IRQ_HANDLER_EXIT: &str = "irq_handler_exit";
pub const PROG_NETIF_RECEIVE_SKB: &str = "netif_receive_skb";
pub const PROG_SK_DATA_READY: &str = "sk_data_ready";
pub const PROG_SOCK_RECV_LENGTH: &str = "sock_recv_length";
/// Reads on kernels before 6.3, which have no sock:sock_recv_length: TCP copies to the reader,
/// and UDP datagrams freed after the read.
pub const PROG_SKB_COPY_DATAGRAM_IOVEC: &str = "skb_copy_datagram_iovec";
pub const PROG_CONSUME_SKB: &str = "consume_skb";
/// The send side of watched flows (agent-ebpf/src/xmit.rs).
pub const PROG_SOCK_SEND_LENGTH: &str = "sock_send_length";
pub const PROG_NET_DEV_QUEUE: &str = "net_dev_queue";
pub const PROG_NET_DEV_START_XMIT: &str = "net_dev_start_xmit";
pub const PROG_NET_DEV_XMIT: &str = "net_dev_xmit";
/// Per-CPU array, one slot: the packet the driver was last given (kernel-side only).
pub const MAP_XMIT_SLOT: &str = "XMIT_SLOT";
pub const PROG_KFREE_SKB_TP: &str = "kfree_skb_tp";
pub const PROG_UDP_FAIL_QUEUE_RCV_SKB_TP: &str = "udp_fail_queue_rcv_skb_tp";
pub const PROG_SOCK_RCVQUEUE_FULL_TP: &str = "sock_rcvqueue_full_tp";
pub const PROG_NAPI_POLL_TP: &str = "napi_poll_tp";
pub const PROG_IRQ_HANDLER_ENTRY_TP: &str = "irq_handler_entry_tp";
pub const PROG_IRQ_HANDLER_EXIT_TP: &str = "irq_handler_exit_tp";

/// Packet-path programs the built ELF must contain.
pub const PACKET_PROGRAMS: &[&str] = &[
    PROG_KFREE_SKB,
    PROG_UDP_FAIL_QUEUE_RCV_SKB,
    PROG_SOCK_RCVQUEUE_FULL,
    PROG_NAPI_POLL,
    PROG_IRQ_HANDLER_ENTRY,
    PROG_IRQ_HANDLER_EXIT,
    PROG_NETIF_RECEIVE_SKB,
    PROG_SK_DATA_READY,
    PROG_SOCK_RECV_LENGTH,
    PROG_SKB_COPY_DATAGRAM_IOVEC,
    PROG_CONSUME_SKB,
    PROG_SOCK_SEND_LENGTH,
    PROG_NET_DEV_QUEUE,
    PROG_NET_DEV_START_XMIT,
    PROG_NET_DEV_XMIT,
    PROG_KFREE_SKB_TP,
    PROG_UDP_FAIL_QUEUE_RCV_SKB_TP,
    PROG_SOCK_RCVQUEUE_FULL_TP,
    PROG_NAPI_POLL_TP,
    PROG_IRQ_HANDLER_ENTRY_TP,
    PROG_IRQ_HANDLER_EXIT_TP,
];
/// Packet-path maps the built ELF must contain.
pub const PACKET_MAPS: &[&str] = &[
    MAP_DROPS,
    MAP_DROP_REASONS,
    MAP_PORT_DROPS,
    MAP_UDP_FAIL,
    MAP_UDP_FAIL_SLOTS,
    MAP_RCVQUEUE_FULL,
    MAP_WATCH_PORTS,
    MAP_PORT_EVENTS,
    MAP_PORT_EVENTS_LOST,
    MAP_PORT_FLOWS,
    MAP_PORT_FLOW_EPOCH,
    MAP_UDP_NEXT_PEER,
    MAP_XMIT_SLOT,
    MAP_NAPI_STATS,
    MAP_NAPI_SLOTS,
    MAP_NAPI_BY_NAME,
    MAP_HARDIRQ_STATS,
    MAP_HARDIRQ_SCRATCH,
];

/// Per-CPU hash tgid (u32) → [`crate::stacks::TaskCpuSamples`]: who was on each sampled CPU.
pub const MAP_CPU_TASKS: &str = "CPU_TASKS";
/// Maps of the per-process CPU sampling (the stack sampler's program fills them).
pub const CPU_TASK_MAPS: &[&str] = &[MAP_CPU_TASKS];
