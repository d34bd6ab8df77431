//! Hard IRQ handler time per IRQ line and CPU: irq:irq_handler_entry(int irq, struct irqaction *)
//! to irq:irq_handler_exit(int irq, struct irqaction *, int ret) (include/trace/events/irq.h).
//! Handlers do not nest on a CPU (since 2.6.35 they run with interrupts off), so one per-CPU slot
//! holds the running one; an exit for another line (threaded handler preempted) is not timed.

use agent_common::hardirq::{HardirqScratch, HardirqStats};
use aya_ebpf::{
    helpers::bpf_ktime_get_ns,
    macros::{btf_tracepoint, map, tracepoint},
    maps::{PerCpuArray, PerCpuHashMap},
    programs::{BtfTracePointContext, TracePointContext},
};

use crate::field::{tp_offset, tp_read};

#[map]
static HARDIRQ_STATS: PerCpuHashMap<u32, HardirqStats> = PerCpuHashMap::with_max_entries(1024, 0);
#[map]
static HARDIRQ_SCRATCH: PerCpuArray<HardirqScratch> = PerCpuArray::with_max_entries(1, 0);

const BPF_NOEXIST: u64 = 1;
const ZERO: HardirqStats = HardirqStats {
    count: 0,
    time_sum_ns: 0,
    time_max_ns: 0,
    time_max_at_ns: 0,
};

#[btf_tracepoint(function = "irq_handler_entry")]
pub fn irq_handler_entry(ctx: BtfTracePointContext) -> i32 {
    on_entry(ctx.arg::<i32>(0) as u32);
    0
}

#[btf_tracepoint(function = "irq_handler_exit")]
pub fn irq_handler_exit(ctx: BtfTracePointContext) -> i32 {
    on_exit(ctx.arg::<i32>(0) as u32);
    0
}

/// Classic-tracepoint twins (no BTF): `irq` from the record at the format file's offset.
#[tracepoint(category = "irq", name = "irq_handler_entry")]
pub fn irq_handler_entry_tp(ctx: TracePointContext) -> u32 {
    if let Some(irq) = tp_read::<i32>(&ctx, tp_offset!(irq_entry_irq)) {
        on_entry(irq as u32);
    }
    0
}

#[tracepoint(category = "irq", name = "irq_handler_exit")]
pub fn irq_handler_exit_tp(ctx: TracePointContext) -> u32 {
    if let Some(irq) = tp_read::<i32>(&ctx, tp_offset!(irq_exit_irq)) {
        on_exit(irq as u32);
    }
    0
}

#[inline(always)]
fn on_entry(irq: u32) {
    if let Some(s) = HARDIRQ_SCRATCH.get_ptr_mut(0) {
        // SAFETY: this CPU's slot; helper with no arguments.
        unsafe {
            (*s).entered_ns = bpf_ktime_get_ns();
            (*s).irq = irq as u64;
        }
    }
}

#[inline(always)]
fn on_exit(irq: u32) {
    let Some(s) = HARDIRQ_SCRATCH.get_ptr_mut(0) else {
        return;
    };
    // SAFETY: this CPU's slot.
    let s = unsafe { &mut *s };
    let entered = s.entered_ns;
    if entered == 0 || s.irq != irq as u64 {
        return;
    }
    s.entered_ns = 0;
    // SAFETY: helper with no arguments.
    let now = unsafe { bpf_ktime_get_ns() };
    let t = now.saturating_sub(entered);
    let st = match HARDIRQ_STATS.get_ptr_mut(&irq) {
        Some(p) => p,
        None => {
            // NOEXIST fails too when another CPU just made the entry: only a missing entry
            // afterwards means the map is full.
            let _ = HARDIRQ_STATS.insert(&irq, &ZERO, BPF_NOEXIST);
            match HARDIRQ_STATS.get_ptr_mut(&irq) {
                Some(p) => p,
                None => {
                    crate::softirq_events::count_lost(agent_common::events::Stream::HardirqLines);
                    return;
                }
            }
        }
    };
    // SAFETY: this CPU's slot of a per-CPU value.
    let st = unsafe { &mut *st };
    st.count += 1;
    st.time_sum_ns += t;
    if t > st.time_max_ns {
        st.time_max_ns = t;
        st.time_max_at_ns = now;
    }
}
