//! NAPI polls per device, NAPI instance and CPU: polls, packets, full-budget polls, poll time.
//!
//! napi:napi_poll(struct napi_struct *napi, int work, int budget) fires after each poll
//! (include/trace/events/napi.h); there is no poll-start event. Each poll is therefore timed from
//! the later of the current NET_RX run's start (kept by the softirq programs in
//! `SOFTIRQ_SCRATCH.entered_at_ns[NET_RX]`, 0 outside NET_RX) and the end of the previous poll on
//! this CPU in the same run. Polls outside NET_RX (busy polling, threaded NAPI) and in NET_RX runs
//! over the softirq timing budget (see `softirq`) are counted but not timed; the time includes net_rx_action's own bookkeeping between polls (small next to a poll).
//!
//! Cost matters here (one run per NET_RX softirq under load), so the key is read with direct BTF
//! loads (`field`) and counters live in direct-mapped per-CPU slots (an inlined array lookup),
//! with a per-CPU hash only for keys whose slot is taken. Each poll reads the clock at its end:
//! deferring that read to the next clock reader would save it in one-poll runs but give a poll
//! the time of the one after it in runs with several.

use agent_common::{
    napi::{NAPI_SLOTS, NET_RX_SOFTIRQ, NapiKey, NapiScratch, NapiSlot, NapiStats, slot_index},
    softirq::UNTIMED,
};
use aya_ebpf::{
    EbpfContext as _,
    helpers::{bpf_ktime_get_ns, bpf_probe_read_kernel_str_bytes},
    macros::{btf_tracepoint, map, tracepoint},
    maps::{PerCpuArray, PerCpuHashMap},
    programs::{BtfTracePointContext, TracePointContext},
};

use crate::{
    field::{kernel_offset, load, tp_offset, tp_read},
    softirq::SOFTIRQ_SCRATCH,
};

#[map]
static NAPI_SLOTS_MAP: PerCpuArray<NapiSlot> = PerCpuArray::with_max_entries(NAPI_SLOTS, 0);
#[map]
static NAPI_STATS: PerCpuHashMap<NapiKey, NapiStats> = PerCpuHashMap::with_max_entries(256, 0);
/// Classic-tracepoint fallback: by device name (the NAPI instance is out of reach without BTF).
#[map]
static NAPI_BY_NAME: PerCpuHashMap<[u8; 16], NapiStats> = PerCpuHashMap::with_max_entries(256, 0);

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
    let dev = load::<u64>(napi, kernel_offset!(napi_dev)) as *const u8;
    let net = load::<u64>(dev, kernel_offset!(dev_nd_net)) as *const u8;
    let key = NapiKey {
        ifindex: load::<u32>(dev, kernel_offset!(dev_ifindex)),
        netns: load::<u32>(net, kernel_offset!(net_ns_inum)),
        napi_id: load::<u32>(napi, kernel_offset!(napi_id)),
    };
    let Some(sc) = SOFTIRQ_SCRATCH.get_ptr_mut(0) else {
        return 0;
    };
    // SAFETY: per-CPU value; the NAPI and softirq programs on one CPU do not run concurrently.
    let sc = unsafe { &mut *sc };
    // Entry time of the NET_RX run in progress on this CPU, 0 outside NET_RX.
    let rx_start = sc.vectors[NET_RX_SOFTIRQ as usize].entered_at_ns;
    let slot = slot_index(&key);
    let st = match NAPI_SLOTS_MAP.get_ptr_mut(slot) {
        // SAFETY: this CPU's slot of a per-CPU array; programs on one CPU do not run concurrently.
        Some(p) => match unsafe { &mut *p } {
            sl if sl.used == 0 => {
                sl.key = key;
                sl.used = 1;
                &mut sl.stats
            }
            sl if sl.key == key => &mut sl.stats,
            // Taken by another instance on this CPU: the hash.
            _ => match overflow_stats(&key) {
                Some(st) => st,
                None => return 0,
            },
        },
        None => return 0,
    };
    count(st, work, budget);
    time_poll(st, &mut sc.napi, rx_start);
    0
}

/// Classic-tracepoint twin (no BTF): keyed by the `dev_name` string of the record.
#[tracepoint(category = "napi", name = "napi_poll")]
pub fn napi_poll_tp(ctx: TracePointContext) -> u32 {
    let work = tp_read::<i32>(&ctx, tp_offset!(napi_work)).unwrap_or(0);
    let budget = tp_read::<i32>(&ctx, tp_offset!(napi_budget)).unwrap_or(i32::MAX);
    // `__data_loc char[]`: the low 16 bits are the string's offset in the record.
    let Some(loc) = tp_read::<u32>(&ctx, tp_offset!(napi_dev_name)) else {
        return 0;
    };
    let mut name = [0u8; 16];
    // SAFETY: reads at most 16 bytes of the record, stopping at the NUL; the rest stays zero.
    let src = unsafe { (ctx.as_ptr() as *const u8).add((loc & 0xffff) as usize) };
    // SAFETY: as above; a fault leaves the name empty.
    if unsafe { bpf_probe_read_kernel_str_bytes(src, &mut name) }.is_err() {
        return 0;
    }
    let st = match NAPI_BY_NAME.get_ptr_mut(&name) {
        Some(p) => p,
        None => {
            // NOEXIST also fails when another CPU just made the entry: only a missing entry
            // afterwards means the map is full.
            let _ = NAPI_BY_NAME.insert(&name, &ZERO, BPF_NOEXIST);
            match NAPI_BY_NAME.get_ptr_mut(&name) {
                Some(p) => p,
                None => {
                    crate::softirq_events::count_lost(agent_common::events::Stream::NapiKeys);
                    return 0;
                }
            }
        }
    };
    // SAFETY: this CPU's slot of a per-CPU hash value.
    let st = unsafe { &mut *st };
    count(st, work, budget);
    let Some(sc) = SOFTIRQ_SCRATCH.get_ptr_mut(0) else {
        return 0;
    };
    // SAFETY: per-CPU value, see `napi_poll`.
    let sc = unsafe { &mut *sc };
    let rx_start = sc.vectors[NET_RX_SOFTIRQ as usize].entered_at_ns;
    time_poll(st, &mut sc.napi, rx_start);
    0
}

/// Times a poll that just ended, inside the NET_RX run that started at `rx_start` (0: outside
/// NET_RX; `UNTIMED`: a run over the softirq timing budget; neither is timed): from the end of
/// the previous poll of the same run, or the run's start.
#[inline(always)]
fn time_poll(st: &mut NapiStats, s: &mut NapiScratch, rx_start: u64) {
    if rx_start == 0 || rx_start == UNTIMED {
        return;
    }
    let mark = if s.run_start_ns == rx_start {
        s.mark_ns
    } else {
        s.run_start_ns = rx_start;
        rx_start
    };
    // SAFETY: helper with no arguments.
    let now = unsafe { bpf_ktime_get_ns() };
    add_time(st, mark, now);
    s.mark_ns = now;
}

#[inline(always)]
fn count(st: &mut NapiStats, work: i32, budget: i32) {
    st.polls += 1;
    st.work += work.max(0) as u64;
    if work >= budget {
        st.full_budget += 1;
    }
}

#[inline(always)]
fn add_time(st: &mut NapiStats, mark: u64, now: u64) {
    if mark == 0 || mark > now {
        return;
    }
    let t = now - mark;
    st.timed_polls += 1;
    st.time_sum_ns += t;
    if t > st.time_max_ns {
        st.time_max_ns = t;
        st.time_max_at_ns = now;
    }
}

#[inline(always)]
fn overflow_stats(key: &NapiKey) -> Option<&'static mut NapiStats> {
    let p = match NAPI_STATS.get_ptr_mut(key) {
        Some(p) => p,
        None => {
            // As in the classic twin: only a missing entry after the insert means a full map.
            let _ = NAPI_STATS.insert(key, &ZERO, BPF_NOEXIST);
            match NAPI_STATS.get_ptr_mut(key) {
                Some(p) => p,
                None => {
                    crate::softirq_events::count_lost(agent_common::events::Stream::NapiKeys);
                    return None;
                }
            }
        }
    };
    // SAFETY: this CPU's slot of a per-CPU hash value.
    Some(unsafe { &mut *p })
}
