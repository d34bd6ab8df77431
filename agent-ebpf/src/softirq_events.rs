//! Softirqs over the threshold, one by one, into a ring buffer; every failed reserve is counted
//! per CPU in `LOST_EVENTS` (shared by all ring-buffer streams, indexed by `Stream`).

use agent_common::events::{MAX_STREAMS, SOFTIRQ_EVENTS_BYTES, SoftirqEvent, Stream};
use aya_ebpf::{
    helpers::{bpf_get_current_comm, bpf_get_current_pid_tgid, bpf_get_smp_processor_id},
    macros::map,
    maps::{PerCpuArray, RingBuf},
};

#[map]
static SOFTIRQ_EVENTS: RingBuf = RingBuf::with_byte_size(SOFTIRQ_EVENTS_BYTES, 0);

#[map]
static LOST_EVENTS: PerCpuArray<u64> = PerCpuArray::with_max_entries(MAX_STREAMS as u32, 0);

/// Wait or run time above this (ns) makes an event; set by userspace (`--softirq-threshold`).
#[unsafe(no_mangle)]
static SOFTIRQ_THRESHOLD_NS: u64 = 1_000_000;

/// The threshold, read once per softirq exit.
#[inline(always)]
pub fn threshold_ns() -> u64 {
    // SAFETY: read_volatile of a plain global the loader rewrote; no mutable access exists.
    unsafe { core::ptr::read_volatile(&SOFTIRQ_THRESHOLD_NS) }
}

/// Counts one event of `stream` that could not be sent.
#[inline(always)]
pub fn count_lost(stream: Stream) {
    if let Some(n) = LOST_EVENTS.get_ptr_mut(stream as u32) {
        // SAFETY: per-CPU value; programs on one CPU do not run this concurrently with each other
        // for the same stream except through nesting, where a lost increment is harmless.
        unsafe { *n += 1 };
    }
}

/// Sends one over-threshold softirq; the current task is the one the softirq interrupted.
#[inline(always)]
pub fn emit(at_ns: u64, vector: u32, wait_ns: u64, run_ns: u64, ksoftirqd: u64) {
    let Some(mut entry) = SOFTIRQ_EVENTS.reserve::<SoftirqEvent>(0) else {
        count_lost(Stream::SoftirqEvents);
        return;
    };
    let comm = bpf_get_current_comm().unwrap_or([0; 16]);
    entry.write(SoftirqEvent {
        at_ns,
        wait_ns,
        run_ns,
        // SAFETY: helper with no arguments.
        cpu: unsafe { bpf_get_smp_processor_id() },
        vector,
        pid: bpf_get_current_pid_tgid() as u32,
        ksoftirqd: ksoftirqd as u32,
        comm,
    });
    entry.submit(0);
}
