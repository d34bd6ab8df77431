//! NAPI polls per device, NAPI instance and CPU: polls, packets, full-budget polls, poll time.
//!
//! napi:napi_poll(struct napi_struct *napi, int work, int budget) fires after each poll
//! (include/trace/events/napi.h); there is no poll-start event. Each poll is therefore timed from
//! the later of the current NET_RX run's start (kept by the softirq programs in
//! `SOFTIRQ_SCRATCH.entered_at_ns[NET_RX]`, 0 outside NET_RX) and the end of the previous poll on
//! this CPU in the same run. This adds no program to the softirq path. Polls outside NET_RX (busy
//! polling, threaded NAPI) are counted but not timed; the time includes net_rx_action's own
//! bookkeeping between polls (small next to a poll).

use agent_common::napi::{NET_RX_SOFTIRQ, NapiKey, NapiScratch, NapiStats};
use aya_ebpf::{
    helpers::bpf_ktime_get_ns,
    macros::{btf_tracepoint, map},
    maps::{PerCpuArray, PerCpuHashMap},
    programs::BtfTracePointContext,
};

use crate::{
    drops::{offsets, read},
    softirq::SOFTIRQ_SCRATCH,
};

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

#[btf_tracepoint(function = "napi_poll")]
pub fn napi_poll(ctx: BtfTracePointContext) -> i32 {
    let napi: *const u8 = ctx.arg(0);
    let work: i32 = ctx.arg(1);
    let budget: i32 = ctx.arg(2);
    let o = offsets();
    let dev: *const u8 = read::<u64>(napi, o.napi_dev).unwrap_or(0) as *const u8;
    let net: *const u8 = read::<u64>(dev, o.dev_nd_net).unwrap_or(0) as *const u8;
    let key = NapiKey {
        ifindex: read::<u32>(dev, o.dev_ifindex).unwrap_or(0),
        netns: read::<u32>(net, o.net_ns_inum).unwrap_or(0),
        napi_id: read::<u32>(napi, o.napi_id).unwrap_or(0),
    };
    // SAFETY: helper with no arguments.
    let now = unsafe { bpf_ktime_get_ns() };
    let Some(s) = NAPI_SCRATCH.get_ptr_mut(0) else {
        return 0;
    };
    // SAFETY: per-CPU value read by index; softirq programs on this CPU do not run concurrently.
    let rx_start = SOFTIRQ_SCRATCH
        .get_ptr(0)
        .map(|p| unsafe { (*p).vectors[NET_RX_SOFTIRQ as usize].entered_at_ns })
        .unwrap_or(0);
    // SAFETY: this CPU's slot.
    let last_end = unsafe { (*s).mark_ns };
    let mark = if rx_start == 0 {
        0
    } else {
        rx_start.max(last_end)
    };
    // SAFETY: as above.
    unsafe { (*s).mark_ns = if rx_start == 0 { 0 } else { now } };
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
