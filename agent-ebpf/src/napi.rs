//! NAPI polls per device, NAPI instance and CPU: polls, packets, full-budget polls, poll time.
//!
//! napi:napi_poll(struct napi_struct *napi, int work, int budget) fires after each poll
//! (include/trace/events/napi.h); there is no poll-start event. Poll time is therefore measured
//! from a per-CPU mark set at irq:softirq_entry of NET_RX and moved to "now" after every poll, so
//! each poll is timed from the end of the previous one in the same net_rx_action run. The mark is
//! cleared at NET_RX softirq_exit; polls outside NET_RX (busy polling, threaded NAPI) are counted
//! but not timed.

use agent_common::napi::{NET_RX_SOFTIRQ, NapiKey, NapiScratch, NapiStats};
use aya_ebpf::{
    helpers::bpf_ktime_get_ns,
    macros::{btf_tracepoint, map},
    maps::{PerCpuArray, PerCpuHashMap},
    programs::BtfTracePointContext,
};

use crate::drops::{offsets, read};

#[map]
static NAPI_STATS: PerCpuHashMap<NapiKey, NapiStats> = PerCpuHashMap::with_max_entries(256, 0);
#[map]
static NAPI_SCRATCH: PerCpuArray<NapiScratch> = PerCpuArray::with_max_entries(1, 0);

const BPF_NOEXIST: u64 = 1;
const ZERO: NapiStats = NapiStats {
    polls: 0,
    work: 0,
    full_budget: 0,
    timed_polls: 0,
    time_sum_ns: 0,
    time_max_ns: 0,
    time_max_at_ns: 0,
};

#[inline(always)]
fn set_mark(v: u64) {
    if let Some(s) = NAPI_SCRATCH.get_ptr_mut(0) {
        // SAFETY: this CPU's slot.
        unsafe { (*s).mark_ns = v };
    }
}

#[btf_tracepoint(function = "softirq_entry")]
pub fn napi_rx_entry(ctx: BtfTracePointContext) -> i32 {
    let vec: u32 = ctx.arg(0);
    if vec == NET_RX_SOFTIRQ {
        // SAFETY: helper with no arguments.
        set_mark(unsafe { bpf_ktime_get_ns() });
    }
    0
}

#[btf_tracepoint(function = "softirq_exit")]
pub fn napi_rx_exit(ctx: BtfTracePointContext) -> i32 {
    let vec: u32 = ctx.arg(0);
    if vec == NET_RX_SOFTIRQ {
        set_mark(0);
    }
    0
}

#[btf_tracepoint(function = "napi_poll")]
pub fn napi_poll(ctx: BtfTracePointContext) -> i32 {
    let napi: *const u8 = ctx.arg(0);
    let work: i32 = ctx.arg(1);
    let budget: i32 = ctx.arg(2);
    let o = offsets();
    let dev: *const u8 = read::<u64>(napi, o.napi_dev).unwrap_or(0) as *const u8;
    let key = NapiKey {
        ifindex: read::<u32>(dev, o.dev_ifindex).unwrap_or(0),
        napi_id: read::<u32>(napi, o.napi_id).unwrap_or(0),
    };
    // SAFETY: helper with no arguments.
    let now = unsafe { bpf_ktime_get_ns() };
    let Some(s) = NAPI_SCRATCH.get_ptr_mut(0) else {
        return 0;
    };
    // SAFETY: this CPU's slot.
    let mark = unsafe { (*s).mark_ns };
    if mark != 0 {
        // SAFETY: as above.
        unsafe { (*s).mark_ns = now };
    }
    let st = match NAPI_STATS.get_ptr_mut(&key) {
        Some(p) => p,
        None => {
            let _ = NAPI_STATS.insert(&key, &ZERO, BPF_NOEXIST);
            match NAPI_STATS.get_ptr_mut(&key) {
                Some(p) => p,
                None => return 0,
            }
        }
    };
    // SAFETY: this CPU's slot of a per-CPU value.
    let st = unsafe { &mut *st };
    st.polls += 1;
    st.work += work.max(0) as u64;
    if work >= budget {
        st.full_budget += 1;
    }
    if mark != 0 && mark <= now {
        let t = now - mark;
        st.timed_polls += 1;
        st.time_sum_ns += t;
        if t > st.time_max_ns {
            st.time_max_ns = t;
            st.time_max_at_ns = now;
        }
    }
    0
}
