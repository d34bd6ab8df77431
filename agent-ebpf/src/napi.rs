//! NAPI polls per device, NAPI instance and CPU: polls, packets, full-budget polls, poll time.
//!
//! napi:napi_poll(struct napi_struct *napi, int work, int budget) fires after each poll
//! (include/trace/events/napi.h); there is no poll-start event. Each poll is therefore timed from
//! the later of the current NET_RX run's start (kept by the softirq programs in
//! `SOFTIRQ_SCRATCH.entered_at_ns[NET_RX]`, 0 outside NET_RX) and the end of the previous poll on
//! this CPU in the same run. Polls outside NET_RX (busy polling, threaded NAPI) are counted but not
//! timed; the time includes net_rx_action's own bookkeeping between polls (small next to a poll).
//!
//! Cost matters here (one run per NET_RX softirq under load), so: the key is read with direct BTF
//! loads (`field`), counters live in direct-mapped per-CPU slots (an inlined array lookup) with a
//! per-CPU hash only for keys whose slot is taken, and a poll's end time is taken lazily by the
//! next event that reads the clock anyway (the next poll, or the NET_RX exit: [`on_net_rx_exit`]).

use agent_common::napi::{
    NAPI_SLOTS, NET_RX_SOFTIRQ, NapiKey, NapiScratch, NapiSlot, NapiStats, slot_index,
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
    let s = &mut sc.napi;
    if rx_start != 0 && s.run_start_ns != rx_start {
        // First poll of this NET_RX run (state left by a run whose exit was missed is dropped).
        s.run_start_ns = rx_start;
        s.mark_ns = rx_start;
        s.pending_slot = 0;
    }
    let slot = slot_index(&key);
    if let Some(p) = NAPI_SLOTS_MAP.get_ptr_mut(slot) {
        // SAFETY: this CPU's slot of a per-CPU array; programs on one CPU do not run concurrently.
        let sl = unsafe { &mut *p };
        if sl.used == 0 {
            sl.key = key;
            sl.used = 1;
        }
        if sl.key == key {
            count(&mut sl.stats, work, budget);
            if rx_start != 0 {
                // Close the previous poll of this run (that needs the clock), then leave this one
                // open for the next clock reader.
                if s.pending_slot != 0 {
                    // SAFETY: helper with no arguments.
                    close_pending(s, unsafe { bpf_ktime_get_ns() });
                }
                s.pending_slot = slot + 1;
            }
            return 0;
        }
    }
    // Slot taken by another instance on this CPU: the hash, timed at once.
    let Some(st) = overflow_stats(&key) else {
        return 0;
    };
    count(st, work, budget);
    if rx_start != 0 {
        // SAFETY: helper with no arguments.
        let now = unsafe { bpf_ktime_get_ns() };
        close_pending(s, now);
        add_time(st, s.mark_ns, now);
        s.mark_ns = now;
    }
    0
}

/// Classic-tracepoint twin (no BTF): keyed by the `dev_name` string of the record and timed at
/// once (one clock read per poll; the lazy close needs the slot path).
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
            if NAPI_BY_NAME.insert(&name, &ZERO, BPF_NOEXIST).is_err() {
                crate::softirq_events::count_lost(agent_common::events::Stream::NapiKeys);
            }
            match NAPI_BY_NAME.get_ptr_mut(&name) {
                Some(p) => p,
                None => return 0,
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
    if rx_start != 0 {
        let s = &mut sc.napi;
        if s.run_start_ns != rx_start {
            s.run_start_ns = rx_start;
            s.mark_ns = rx_start;
            s.pending_slot = 0;
        }
        // SAFETY: helper with no arguments.
        let now = unsafe { bpf_ktime_get_ns() };
        add_time(st, s.mark_ns, now);
        s.mark_ns = now;
    }
    0
}

/// Called by the softirq exit program at the end of each NET_RX run with its clock reading:
/// closes the run's last poll.
#[inline(always)]
pub fn on_net_rx_exit(s: &mut NapiScratch, run_start_ns: u64, now: u64) {
    if s.run_start_ns == run_start_ns && s.pending_slot != 0 {
        close_pending(s, now);
    }
    s.run_start_ns = 0;
    s.pending_slot = 0;
}

#[inline(always)]
fn count(st: &mut NapiStats, work: i32, budget: i32) {
    st.polls += 1;
    st.work += work.max(0) as u64;
    if work >= budget {
        st.full_budget += 1;
    }
}

/// Gives the pending poll the time from the mark to `now`; `now` becomes the mark.
#[inline(always)]
fn close_pending(s: &mut NapiScratch, now: u64) {
    let pending = s.pending_slot;
    s.pending_slot = 0;
    if pending != 0
        && let Some(p) = NAPI_SLOTS_MAP.get_ptr_mut(pending - 1)
    {
        // SAFETY: this CPU's slot, see `napi_poll`.
        add_time(unsafe { &mut (*p).stats }, s.mark_ns, now);
    }
    s.mark_ns = now;
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
            if NAPI_STATS.insert(key, &ZERO, BPF_NOEXIST).is_err() {
                crate::softirq_events::count_lost(agent_common::events::Stream::NapiKeys);
            }
            NAPI_STATS.get_ptr_mut(key)?
        }
    };
    // SAFETY: this CPU's slot of a per-CPU hash value.
    Some(unsafe { &mut *p })
}
