//! Single events sent through ring buffers, and the per-CPU count of events that could not be sent.

/// Index of each ring-buffer stream in `LOST_EVENTS` (a per-CPU array of u64 counters).
#[repr(u32)]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Stream {
    /// Softirqs whose wait or run time exceeded the threshold: [`SoftirqEvent`].
    SoftirqEvents = 0,
}

/// Slots in `LOST_EVENTS`; streams added later take the next free index.
pub const MAX_STREAMS: usize = 8;

impl Stream {
    /// Every stream, for userspace to read each counter.
    pub const ALL: [Stream; 1] = [Stream::SoftirqEvents];

    /// Stable name used in `Lost` records and reports.
    pub const fn name(self) -> &'static str {
        match self {
            Stream::SoftirqEvents => "softirq-events",
        }
    }
}

/// Ring buffer size for softirq threshold events (a power of two, in bytes).
pub const SOFTIRQ_EVENTS_BYTES: u32 = 256 * 1024;

/// One softirq whose wait (raise→entry) or run (entry→exit) time exceeded the threshold.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct SoftirqEvent {
    /// CLOCK_MONOTONIC ns at softirq exit.
    pub at_ns: u64,
    /// Raise→entry; [`crate::softirq::WAIT_UNKNOWN`] when the raise was not seen.
    pub wait_ns: u64,
    pub run_ns: u64,
    pub cpu: u32,
    pub vector: u32,
    /// Thread id and name of the task the softirq interrupted (ksoftirqd when deferred).
    pub pid: u32,
    /// 1 when the softirq ran in ksoftirqd.
    pub ksoftirqd: u32,
    pub comm: [u8; 16],
}

const _: () = assert!(core::mem::size_of::<SoftirqEvent>() == 56);
const _: () = assert!(core::mem::align_of::<SoftirqEvent>() == 8);

#[cfg(feature = "user")]
mod pod {
    // SAFETY: repr(C), integer fields and a byte array, no padding (size asserted above).
    unsafe impl aya::Pod for super::SoftirqEvent {}
}
