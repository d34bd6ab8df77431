//! Field offsets of classic tracepoint records, for the fallback programs on kernels without
//! BTF. Userspace reads them from each tracepoint's `format` file; nothing is hard-coded.

use crate::drops::NO_OFFSET;

/// Byte offsets of fields in classic tracepoint records, read from each tracepoint's `format`
/// file (the fallback without kernel BTF). [`NO_OFFSET`] where this kernel lacks the field.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TracepointOffsets {
    /// skb:kfree_skb `reason` (5.17+) and `protocol`.
    pub kfree_reason: u32,
    pub kfree_protocol: u32,
    /// udp:udp_fail_queue_rcv_skb `rc`, and the local port: `sport` (6.x) or `lport` (older).
    pub udp_rc: u32,
    pub udp_lport: u32,
    /// udp:udp_fail_queue_rcv_skb `family` (6.x only).
    pub udp_family: u32,
    /// napi:napi_poll `dev_name` (`__data_loc char[]`), `work`, `budget`.
    pub napi_dev_name: u32,
    pub napi_work: u32,
    pub napi_budget: u32,
    /// irq:irq_handler_entry and irq:irq_handler_exit `irq`.
    pub irq_entry_irq: u32,
    pub irq_exit_irq: u32,
    /// sched:sched_wakeup / sched_wakeup_new `pid` (the thread id).
    pub sched_wakeup_pid: u32,
    /// sched:sched_switch `prev_pid`, `prev_state` (and its size, 4 or 8), `next_pid`.
    pub sched_prev_pid: u32,
    pub sched_prev_state: u32,
    pub sched_prev_state_size: u32,
    pub sched_next_pid: u32,
    /// Bits of `prev_state` that mean the task went to sleep (none set: it was still runnable,
    /// i.e. preempted), from the tracepoint's own print format.
    pub sched_sleep_mask: u32,
}

impl TracepointOffsets {
    pub const UNKNOWN: TracepointOffsets = TracepointOffsets {
        kfree_reason: NO_OFFSET,
        kfree_protocol: NO_OFFSET,
        udp_rc: NO_OFFSET,
        udp_lport: NO_OFFSET,
        udp_family: NO_OFFSET,
        napi_dev_name: NO_OFFSET,
        napi_work: NO_OFFSET,
        napi_budget: NO_OFFSET,
        irq_entry_irq: NO_OFFSET,
        irq_exit_irq: NO_OFFSET,
        sched_wakeup_pid: NO_OFFSET,
        sched_prev_pid: NO_OFFSET,
        sched_prev_state: NO_OFFSET,
        sched_prev_state_size: 0,
        sched_next_pid: NO_OFFSET,
        sched_sleep_mask: 0,
    };
}

const _: () = assert!(core::mem::size_of::<TracepointOffsets>() == 16 * 4);

#[cfg(feature = "user")]
mod pod {
    // SAFETY: repr(C), u32 fields only, no padding.
    unsafe impl aya::Pod for super::TracepointOffsets {}
}
