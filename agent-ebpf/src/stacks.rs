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
    stacks::{
        CTX_OTHER, CTX_SOFTIRQ, MAX_CPU_TASKS, MAX_STACK_KEYS, MAX_STACKS, StackKey,
        StackSampleStats, TaskCpuSamples,
    },
};
use aya_ebpf::{
    helpers::{bpf_get_current_comm, bpf_get_current_pid_tgid},
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

#[map]
static CPU_TASKS: PerCpuHashMap<u32, TaskCpuSamples> =
    PerCpuHashMap::with_max_entries(MAX_CPU_TASKS, 0);

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
    count_task(stats, context == CTX_SOFTIRQ);
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

/// One sample for the process on this CPU; a full map is counted, never silently skipped.
#[inline(always)]
fn count_task(stats: &mut StackSampleStats, softirq: bool) {
    let tgid = (bpf_get_current_pid_tgid() >> 32) as u32;
    let soft = u64::from(softirq);
    match CPU_TASKS.get_ptr_mut(&tgid) {
        Some(v) => {
            // SAFETY: per-CPU map value of this CPU; the program does not nest with itself here.
            let v = unsafe { &mut *v };
            // The name as of this sample: a process that exec'd since the entry was made
            // (`chrt … taskset … prog`) shows as what it runs now.
            v.comm = bpf_get_current_comm().unwrap_or([0; 16]);
            v.samples += 1;
            v.softirq += soft;
        }
        None => {
            let v = TaskCpuSamples {
                samples: 1,
                softirq: soft,
                comm: bpf_get_current_comm().unwrap_or([0; 16]),
            };
            if CPU_TASKS.insert(&tgid, &v, 0).is_err() {
                stats.task_failed += 1;
            }
        }
    }
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
