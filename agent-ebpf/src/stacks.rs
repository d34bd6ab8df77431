//! Kernel stack sampling for flamegraphs: a perf_event program on every CPU (cpu-clock at the
//! requested rate) counts each kernel stack per context in a per-CPU hash.
//!
//! Softirq context is known portably from hbwatch's own softirq programs: a CPU is serving a
//! softirq while its `SOFTIRQ_SCRATCH` holds an entry time (set at softirq_entry, cleared at
//! exit). That needs no per-CPU symbol address or preempt_count layout. Hardirq context is not
//! told apart: with cpu-clock (an hrtimer interrupt; VMs often have no PMU) a sample cannot land
//! inside another hardirq handler, since handlers run with interrupts off. With `--all-stacks`,
//! the folded frames still show any irq entry code.

use agent_common::{
    softirq::MAX_VECTORS,
    stacks::{CTX_OTHER, CTX_SOFTIRQ, MAX_STACK_KEYS, MAX_STACKS, StackKey, StackSampleStats},
};
use aya_ebpf::{
    macros::{map, perf_event},
    maps::{PerCpuArray, PerCpuHashMap, StackTrace},
    programs::{PerfEventContext, tracing::StackIdContext as _},
};

use crate::softirq::SOFTIRQ_SCRATCH;

#[map]
static STACKS: StackTrace = StackTrace::with_max_entries(MAX_STACKS, 0);

#[map]
static STACK_COUNTS: PerCpuHashMap<StackKey, u64> =
    PerCpuHashMap::with_max_entries(MAX_STACK_KEYS, 0);

#[map]
static STACK_SAMPLES: PerCpuArray<StackSampleStats> = PerCpuArray::with_max_entries(1, 0);

/// 1: keep every kernel stack; 0: only stacks sampled while a softirq runs. Set by userspace.
#[unsafe(no_mangle)]
static ALL_STACKS: u32 = 0;

#[perf_event]
pub fn stack_sample(ctx: PerfEventContext) -> u32 {
    let Some(stats) = STACK_SAMPLES.get_ptr_mut(0) else {
        return 0;
    };
    // SAFETY: per-CPU value; a perf_event program does not nest with itself on one CPU.
    let stats = unsafe { &mut *stats };
    stats.samples += 1;
    let context = if in_softirq() { CTX_SOFTIRQ } else { CTX_OTHER };
    // SAFETY: read_volatile of a plain global the loader rewrote.
    if context == CTX_OTHER && unsafe { core::ptr::read_volatile(&ALL_STACKS) } == 0 {
        return 0;
    }
    // Flags 0: the kernel stack of the interrupted context (user mode has none: an error).
    let Ok(id) = ctx.get_stackid(&STACKS, 0) else {
        stats.stack_failed += 1;
        return 0;
    };
    let key = StackKey {
        stack_id: id as u32,
        context,
    };
    match STACK_COUNTS.get_ptr_mut(&key) {
        // SAFETY: per-CPU map value.
        Some(n) => unsafe { *n += 1 },
        None => {
            if STACK_COUNTS.insert(&key, &1u64, 0).is_err() {
                stats.count_failed += 1;
                return 0;
            }
        }
    }
    stats.kept += 1;
    0
}

#[inline(always)]
fn in_softirq() -> bool {
    let Some(s) = SOFTIRQ_SCRATCH.get_ptr(0) else {
        return false;
    };
    // SAFETY: per-CPU map value, read only.
    let s = unsafe { &*s };
    let mut any = 0u64;
    for v in 0..MAX_VECTORS {
        any |= s.vectors[v].entered_at_ns;
    }
    any != 0
}
