//! Softirq wait (raise→entry) and run time (entry→exit), per CPU and vector, aggregated in per-CPU
//! maps. Three tracepoints: irq:softirq_raise, irq:softirq_entry, irq:softirq_exit, whose only
//! argument is `unsigned int vec_nr` (include/trace/events/irq.h, `softirq` event class).
//!
//! Raises are counted in the per-CPU scratch and added to the stats at the vector's next exit, so
//! each program looks up one map on its common path (exit: two).
//!
//! Timing budget: each softirq is timed (three clock reads: raise, entry, exit) while fewer than
//! `SOFTIRQ_TIMED_PER_TICK` of its vector were timed in the current jiffy on this CPU; beyond
//! that it is counted exactly (entries, raises, ksoftirqd) and reads no clock. The choice is made
//! once, at the first raise (or at entry when no raise was seen), so a softirq is timed whole or
//! not at all, and the NAPI polls of an untimed NET_RX run are counted, not timed.
//!
//! Each is attached as tp_btf (typed argument 0) where BTF is present, and as a classic tracepoint
//! otherwise; the classic record's `vec` offset comes from the tracepoint's `format` file and is
//! passed in as a global by userspace (never hard-coded).

use agent_common::softirq::{
    MAX_CPUS, MAX_VECTORS, SoftirqScratch, SoftirqStats, TIMED_PER_TICK, UNTIMED, VectorScratch,
    WAIT_UNKNOWN,
};
use aya_ebpf::{
    helpers::{
        bpf_get_current_pid_tgid, bpf_get_smp_processor_id, bpf_jiffies64, bpf_ktime_get_ns,
    },
    macros::{btf_tracepoint, map, tracepoint},
    maps::PerCpuArray,
    programs::{BtfTracePointContext, TracePointContext},
};

use crate::dist::add_sample;

#[map]
static SOFTIRQ_STATS: PerCpuArray<SoftirqStats> =
    PerCpuArray::with_max_entries(MAX_VECTORS as u32, 0);

#[map]
pub(crate) static SOFTIRQ_SCRATCH: PerCpuArray<SoftirqScratch> =
    PerCpuArray::with_max_entries(1, 0);

/// PID of ksoftirqd/N per CPU, set by userspace at load time.
#[unsafe(no_mangle)]
static KSOFTIRQD_PIDS: [u32; MAX_CPUS] = [0; MAX_CPUS];

/// Byte offset of `vec` in the classic tracepoint record, from
/// /sys/kernel/tracing/events/irq/softirq_entry/format; set by userspace.
#[unsafe(no_mangle)]
static TP_VEC_OFFSET: u32 = 8;

/// Softirqs timed per jiffy, CPU and vector; 0 times all. Set by userspace.
#[unsafe(no_mangle)]
static SOFTIRQ_TIMED_PER_TICK: u32 = TIMED_PER_TICK;

#[btf_tracepoint(function = "softirq_raise")]
pub fn softirq_raise(ctx: BtfTracePointContext) -> i32 {
    on_raise(ctx.arg::<u32>(0));
    0
}

#[btf_tracepoint(function = "softirq_entry")]
pub fn softirq_entry(ctx: BtfTracePointContext) -> i32 {
    on_entry(ctx.arg::<u32>(0));
    0
}

#[btf_tracepoint(function = "softirq_exit")]
pub fn softirq_exit(ctx: BtfTracePointContext) -> i32 {
    on_exit(ctx.arg::<u32>(0));
    0
}

#[tracepoint(category = "irq", name = "softirq_raise")]
pub fn softirq_raise_tp(ctx: TracePointContext) -> u32 {
    if let Some(vec) = classic_vec(&ctx) {
        on_raise(vec);
    }
    0
}

#[tracepoint(category = "irq", name = "softirq_entry")]
pub fn softirq_entry_tp(ctx: TracePointContext) -> u32 {
    if let Some(vec) = classic_vec(&ctx) {
        on_entry(vec);
    }
    0
}

#[tracepoint(category = "irq", name = "softirq_exit")]
pub fn softirq_exit_tp(ctx: TracePointContext) -> u32 {
    if let Some(vec) = classic_vec(&ctx) {
        on_exit(vec);
    }
    0
}

#[inline(always)]
fn classic_vec(ctx: &TracePointContext) -> Option<u32> {
    // SAFETY: read_volatile of a plain global the loader rewrote; no aliasing mutable access.
    let off = unsafe { core::ptr::read_volatile(&TP_VEC_OFFSET) } as usize;
    // SAFETY: bpf_probe_read of 4 bytes from the tracepoint record; a bad offset returns Err.
    unsafe { ctx.read_at::<u32>(off) }.ok()
}

/// A vector number as an index the verifier can prove in bounds. The mask is a no-op after the
/// caller's range check, so LLVM would drop it; `black_box` keeps it in the program.
#[inline(always)]
fn vector_index(vec: u32) -> usize {
    core::hint::black_box(vec) as usize & (MAX_VECTORS - 1)
}

#[inline(always)]
fn scratch() -> Option<&'static mut SoftirqScratch> {
    // SAFETY: per-CPU value; softirq handlers on one CPU do not nest, so no other program on this
    // CPU holds this reference concurrently.
    SOFTIRQ_SCRATCH.get_ptr_mut(0).map(|p| unsafe { &mut *p })
}

/// Whether the softirq starting now is timed: true while the tick's budget lasts.
#[inline(always)]
fn take_timing(s: &mut VectorScratch) -> bool {
    // SAFETY: read_volatile of a plain global the loader rewrote; no mutable access exists.
    let budget = unsafe { core::ptr::read_volatile(&SOFTIRQ_TIMED_PER_TICK) };
    if budget == 0 {
        return true;
    }
    // SAFETY: helper with no arguments (inlined by the verifier into a load of jiffies_64).
    let tick = unsafe { bpf_jiffies64() } as u32;
    if s.tick != tick {
        s.tick = tick;
        s.timed_in_tick = 0;
    }
    if s.timed_in_tick >= budget {
        return false;
    }
    s.timed_in_tick += 1;
    true
}

#[inline(always)]
fn on_raise(vec: u32) {
    if vec as usize >= MAX_VECTORS {
        return;
    }
    let v = vector_index(vec);
    let Some(s) = scratch() else { return };
    let s = &mut s.vectors[v];
    s.pending_raises += 1;
    // Keep the first raise since the vector last ran: the wait is measured from it.
    if s.raised_at_ns == 0 {
        s.raised_at_ns = if take_timing(s) {
            // SAFETY: helper with no arguments.
            unsafe { bpf_ktime_get_ns() }
        } else {
            UNTIMED
        };
    }
}

#[inline(always)]
fn on_entry(vec: u32) {
    if vec as usize >= MAX_VECTORS {
        return;
    }
    let v = vector_index(vec);
    let Some(s) = scratch() else { return };
    let s = &mut s.vectors[v];
    let raised = s.raised_at_ns;
    s.raised_at_ns = 0;
    // No raise seen (raised before attach, or no raise program): decided here.
    if raised == UNTIMED || (raised == 0 && !take_timing(s)) {
        s.entered_at_ns = UNTIMED;
        s.from_ksoftirqd = is_ksoftirqd() as u32;
        return;
    }
    // SAFETY: helper with no arguments.
    let now = unsafe { bpf_ktime_get_ns() };
    s.wait_ns = if raised != 0 && raised <= now {
        now - raised
    } else {
        WAIT_UNKNOWN
    };
    s.entered_at_ns = now;
    s.from_ksoftirqd = is_ksoftirqd() as u32;
}

#[inline(always)]
fn is_ksoftirqd() -> bool {
    // SAFETY: helpers with no arguments.
    let cpu = unsafe { bpf_get_smp_processor_id() };
    let pid = bpf_get_current_pid_tgid() as u32;
    if cpu as usize >= MAX_CPUS || pid == 0 {
        return false;
    }
    // The index is masked on the very register that addresses the array: the 6.1 verifier does
    // not carry the bound of the compare above over to a copy LLVM zero-extends separately, and
    // `black_box` keeps LLVM from dropping the mask as redundant. MAX_CPUS is a power of two.
    let i = core::hint::black_box(cpu) as usize & (MAX_CPUS - 1);
    // SAFETY: bounded index into a read-only global.
    let want = unsafe { core::ptr::read_volatile(&KSOFTIRQD_PIDS[i]) };
    want == pid
}

#[inline(always)]
fn on_exit(vec: u32) {
    if vec as usize >= MAX_VECTORS {
        return;
    }
    let v = vector_index(vec);
    let Some(s) = scratch() else { return };
    let s = &mut s.vectors[v];
    let entered = s.entered_at_ns;
    if entered == 0 {
        return; // attached mid-run: no entry seen
    }
    s.entered_at_ns = 0;
    let ksoftirqd = u64::from(s.from_ksoftirqd);
    let raises = u64::from(s.pending_raises);
    s.pending_raises = 0;
    let wait = s.wait_ns;
    let Some(st) = SOFTIRQ_STATS.get_ptr_mut(vec) else {
        return;
    };
    // SAFETY: per-CPU value, see `scratch`.
    let st = unsafe { &mut *st };
    st.entries += 1;
    st.raises += raises;
    st.ksoftirqd_entries += ksoftirqd;
    if entered == UNTIMED {
        return; // counted; over the tick's timing budget
    }
    // SAFETY: helper with no arguments.
    let now = unsafe { bpf_ktime_get_ns() };
    let run = now.saturating_sub(entered);
    let thr = crate::softirq_events::threshold_ns();
    if run > thr || (wait != WAIT_UNKNOWN && wait > thr) {
        crate::softirq_events::emit(now, vec, wait, run, ksoftirqd);
    }
    add_sample(
        &mut st.run_sum_ns,
        &mut st.run_max_ns,
        &mut st.run_max_at_ns,
        &mut st.run_hist,
        run,
        now,
    );
    if wait == WAIT_UNKNOWN {
        st.wait_unknown += 1;
        return;
    }
    add_sample(
        &mut st.wait_sum_ns,
        &mut st.wait_max_ns,
        &mut st.wait_max_at_ns,
        &mut st.wait_hist,
        wait,
        entered,
    );
}
