//! Scheduling delay of watched processes: runqueue latency (became runnable → switched in) and
//! off-CPU time (switched out → switched in), per thread, as in-kernel histograms.
//!
//! tp_btf sched:sched_wakeup / sched_wakeup_new (`struct task_struct *p`, argument 0) and
//! sched:sched_switch (`bool preempt, struct task_struct *prev, struct task_struct *next,
//! unsigned int prev_state`; include/trace/events/sched.h). Task fields are read at offsets
//! userspace found in BTF (`TASK_OFFSETS`), never hard-coded. The `_tp` twins are the
//! classic-tracepoint fallback (thread ids and `prev_state` from the records).

use agent_common::{
    events::Stream,
    sched::{MAX_SCHED_TASKS, MAX_WATCHED, SchedStats, SchedTimes, TaskOffsets},
};

use crate::{
    dist::add_sample,
    field::{load, tp_offset, tp_read},
    softirq_events::count_lost,
};
use aya_ebpf::{
    helpers::bpf_ktime_get_ns,
    macros::{btf_tracepoint, map, tracepoint},
    maps::{HashMap, PerCpuArray},
    programs::{BtfTracePointContext, TracePointContext},
};

#[map]
static SCHED_WATCHED: HashMap<u32, u32> = HashMap::with_max_entries(MAX_WATCHED, 0);

#[map]
static SCHED_STATS: HashMap<u32, SchedStats> = HashMap::with_max_entries(MAX_SCHED_TASKS, 0);

#[map]
static SCHED_TIMES: HashMap<u32, SchedTimes> = HashMap::with_max_entries(MAX_SCHED_TASKS, 0);

/// Zeroed value to create `SCHED_STATS` entries from: too large for the 512-byte eBPF stack.
#[map]
static SCHED_ZERO: PerCpuArray<SchedStats> = PerCpuArray::with_max_entries(1, 0);

/// Offsets of `pid`, `tgid` and the state field in `struct task_struct`; set by userspace.
#[unsafe(no_mangle)]
static TASK_OFFSETS: TaskOffsets = TaskOffsets {
    pid: 0,
    tgid: 0,
    state: 0,
    state_size: 4,
};

/// A `u32` field of a task (a BTF-typed pointer from the tracepoint), as a direct load: see
/// `field.rs` for why the offset must be read field by field from the read-only global.
macro_rules! task_field {
    ($task:expr, $field:ident) => {
        // SAFETY: read_volatile of a field of a frozen read-only global.
        load::<u32>($task, unsafe {
            core::ptr::read_volatile(core::ptr::addr_of!(TASK_OFFSETS.$field))
        })
    };
}

#[btf_tracepoint(function = "sched_wakeup")]
pub fn sched_wakeup(ctx: BtfTracePointContext) -> i32 {
    on_wakeup(watched(ctx.arg::<*const u8>(0)));
    0
}

#[btf_tracepoint(function = "sched_wakeup_new")]
pub fn sched_wakeup_new(ctx: BtfTracePointContext) -> i32 {
    on_wakeup(watched(ctx.arg::<*const u8>(0)));
    0
}

#[btf_tracepoint(function = "sched_switch")]
pub fn sched_switch(ctx: BtfTracePointContext) -> i32 {
    let (prev, next) = (ctx.arg::<*const u8>(1), ctx.arg::<*const u8>(2));
    let prev_w = watched(prev);
    let next_w = watched(next);
    if prev_w.is_none() && next_w.is_none() {
        return 0;
    }
    // Still TASK_RUNNING (0) when switched out: preempted, so it waits on the runqueue now.
    let runnable = prev_w.is_some() && task_field!(prev, state) == 0;
    on_switch(prev_w, runnable, next_w);
    0
}

// --- classic-tracepoint twins (no BTF): the records carry thread ids, not task pointers, so
// `SCHED_WATCHED` holds tid → tgid for every thread of a watched process (kept by userspace).

#[tracepoint(category = "sched", name = "sched_wakeup")]
pub fn sched_wakeup_tp(ctx: TracePointContext) -> u32 {
    on_wakeup(watched_tid(tp_read::<i32>(
        &ctx,
        tp_offset!(sched_wakeup_pid),
    )));
    0
}

#[tracepoint(category = "sched", name = "sched_wakeup_new")]
pub fn sched_wakeup_new_tp(ctx: TracePointContext) -> u32 {
    on_wakeup(watched_tid(tp_read::<i32>(
        &ctx,
        tp_offset!(sched_wakeup_pid),
    )));
    0
}

#[tracepoint(category = "sched", name = "sched_switch")]
pub fn sched_switch_tp(ctx: TracePointContext) -> u32 {
    let prev_w = watched_tid(tp_read::<i32>(&ctx, tp_offset!(sched_prev_pid)));
    let next_w = watched_tid(tp_read::<i32>(&ctx, tp_offset!(sched_next_pid)));
    if prev_w.is_none() && next_w.is_none() {
        return 0;
    }
    let off = tp_offset!(sched_prev_state);
    let state = if tp_offset!(sched_prev_state_size) == 8 {
        tp_read::<u64>(&ctx, off)
    } else {
        tp_read::<u32>(&ctx, off).map(u64::from)
    };
    // No sleep bit set: the task was preempted (the preempt flag sits above the mask).
    let runnable = matches!(state, Some(s) if s & u64::from(tp_offset!(sched_sleep_mask)) == 0);
    on_switch(prev_w, prev_w.is_some() && runnable, next_w);
    0
}

/// (tid, tgid) of a watched thread id (classic mode: the map value is the tgid).
#[inline(always)]
fn watched_tid(tid: Option<i32>) -> Option<(u32, u32)> {
    let tid = tid? as u32;
    if tid == 0 {
        return None;
    }
    // SAFETY: the map only holds plain u32 values, copied out at once.
    let tgid = unsafe { SCHED_WATCHED.get(&tid) }.copied()?;
    Some((tid, tgid))
}

/// (tid, tgid) of a task when its process is watched. Runs for both tasks of every context
/// switch, so it is two plain loads and one hash lookup.
#[inline(always)]
fn watched(task: *const u8) -> Option<(u32, u32)> {
    if task.is_null() {
        return None;
    }
    let tgid = task_field!(task, tgid);
    if tgid == 0 {
        return None;
    }
    // SAFETY: the map only holds plain u32 values.
    unsafe { SCHED_WATCHED.get(&tgid) }?;
    Some((task_field!(task, pid), tgid))
}

#[inline(always)]
fn on_wakeup(w: Option<(u32, u32)>) {
    let Some((tid, _)) = w else {
        return;
    };
    // SAFETY: helper with no arguments.
    let now = unsafe { bpf_ktime_get_ns() };
    match SCHED_TIMES.get_ptr_mut(&tid) {
        // SAFETY: map value pointer; a concurrent update only loses one sample.
        Some(t) => unsafe {
            if (*t).runnable_at_ns == 0 {
                (*t).runnable_at_ns = now;
            }
        },
        None => {
            insert_times(
                tid,
                SchedTimes {
                    runnable_at_ns: now,
                    off_at_ns: 0,
                },
            );
        }
    }
}

/// `prev_runnable`: the task switched out was still runnable (preempted), so its runqueue wait
/// starts now.
#[inline(always)]
fn on_switch(prev_w: Option<(u32, u32)>, prev_runnable: bool, next_w: Option<(u32, u32)>) {
    // SAFETY: helper with no arguments.
    let now = unsafe { bpf_ktime_get_ns() };
    if let Some((tid, _)) = prev_w {
        let runnable = if prev_runnable { now } else { 0 };
        match SCHED_TIMES.get_ptr_mut(&tid) {
            // SAFETY: map value pointer; updating in place avoids a hash update per switch.
            Some(t) => unsafe {
                (*t).runnable_at_ns = runnable;
                (*t).off_at_ns = now;
            },
            None => {
                insert_times(
                    tid,
                    SchedTimes {
                        runnable_at_ns: runnable,
                        off_at_ns: now,
                    },
                );
            }
        }
    }
    let Some((tid, tgid)) = next_w else { return };
    let Some(t) = SCHED_TIMES.get_ptr_mut(&tid) else {
        return; // first seen running: nothing to measure yet
    };
    // SAFETY: map value pointer, see `on_wakeup`.
    let (runnable, off) = unsafe {
        let v = ((*t).runnable_at_ns, (*t).off_at_ns);
        (*t).runnable_at_ns = 0;
        (*t).off_at_ns = 0;
        v
    };
    let Some(st) = stats_for(tid, tgid) else {
        return;
    };
    if runnable != 0 && runnable <= now {
        st.runq_count += 1;
        add_sample(
            &mut st.runq_sum_ns,
            &mut st.runq_max_ns,
            &mut st.runq_max_at_ns,
            &mut st.runq_hist,
            now - runnable,
            now,
        );
    }
    if off != 0 && off <= now {
        st.offcpu_count += 1;
        add_sample(
            &mut st.offcpu_sum_ns,
            &mut st.offcpu_max_ns,
            &mut st.offcpu_max_at_ns,
            &mut st.offcpu_hist,
            now - off,
            now,
        );
    }
}

/// A thread's first timestamps; a full map is counted, not ignored.
#[inline(always)]
fn insert_times(tid: u32, t: SchedTimes) {
    if SCHED_TIMES.insert(&tid, &t, 0).is_err() {
        count_lost(Stream::SchedTasks);
    }
}

#[inline(always)]
fn stats_for(tid: u32, tgid: u32) -> Option<&'static mut SchedStats> {
    if let Some(p) = SCHED_STATS.get_ptr_mut(&tid) {
        // SAFETY: map value pointer; one thread is switched in on one CPU at a time.
        return Some(unsafe { &mut *p });
    }
    let zero = SCHED_ZERO.get_ptr_mut(0)?;
    // SAFETY: per-CPU map value used as a template; nothing else writes it but this line.
    let zero = unsafe { &mut *zero };
    zero.tgid = tgid;
    if SCHED_STATS.insert(&tid, &*zero, 0).is_err() {
        count_lost(Stream::SchedTasks);
        return None;
    }
    // SAFETY: as above.
    SCHED_STATS.get_ptr_mut(&tid).map(|p| unsafe { &mut *p })
}
