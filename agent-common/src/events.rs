//! Single events sent through ring buffers, and the per-CPU count of events that could not be sent.

/// Index of each ring-buffer stream in `LOST_EVENTS` (a per-CPU array of u64 counters).
#[repr(u32)]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Stream {
    /// Softirqs whose wait or run time exceeded the threshold: [`SoftirqEvent`].
    SoftirqEvents = 0,
    /// NAPI instances not counted because `NAPI_STATS` was full (new keys only).
    NapiKeys = 1,
    /// Drops not counted because `DROPS` was full.
    DropKeys = 2,
    /// Drops not counted per port because `PORT_DROPS` was full.
    PortDropKeys = 3,
    /// UDP enqueue failures not counted because `UDP_FAIL` was full.
    UdpFailKeys = 4,
    /// Watched tasks whose scheduling delay could not be tracked because `SCHED_STATS` or
    /// `SCHED_TIMES` was full.
    SchedTasks = 5,
    /// Hard IRQ handler runs not timed because `HARDIRQ_STATS` was full (new lines only).
    HardirqLines = 6,
}

/// Slots in `LOST_EVENTS`; streams added later take the next free index.
pub const MAX_STREAMS: usize = 8;
const _: () = assert!(Stream::ALL.len() <= MAX_STREAMS);

impl Stream {
    /// Every stream, for userspace to read each counter.
    pub const ALL: [Stream; 7] = [
        Stream::SoftirqEvents,
        Stream::NapiKeys,
        Stream::DropKeys,
        Stream::PortDropKeys,
        Stream::UdpFailKeys,
        Stream::SchedTasks,
        Stream::HardirqLines,
    ];

    /// Stable name used in `Lost` records and reports.
    pub const fn name(self) -> &'static str {
        match self {
            Stream::SoftirqEvents => "softirq-events",
            Stream::NapiKeys => "napi-stats (map full)",
            Stream::DropKeys => "drop-counts (map full)",
            Stream::PortDropKeys => "port-drop-counts (map full)",
            Stream::UdpFailKeys => "udp-fail-counts (map full)",
            Stream::SchedTasks => "sched-tasks (map full)",
            Stream::HardirqLines => "hardirq-lines (map full)",
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
