//! NAPI polls per device, NAPI instance and CPU.

/// Key of `NAPI_STATS` (per-CPU hash): one NAPI instance.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NapiKey {
    pub ifindex: u32,
    /// Network namespace inode of the device, 0 when unknown or no device (backlog).
    pub netns: u32,
    /// `napi_struct.napi_id` (0 before the kernel assigned one).
    pub napi_id: u32,
}

/// Cumulative per-CPU NAPI counters since load.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct NapiStats {
    pub polls: u64,
    /// Packets processed (`work`).
    pub work: u64,
    /// Polls where `work >= budget`: the queue had more than one budget of packets waiting.
    pub full_budget: u64,
    /// Polls whose time could be measured (inside a NET_RX softirq run).
    pub timed_polls: u64,
    pub time_sum_ns: u64,
    pub time_max_ns: u64,
    pub time_max_at_ns: u64,
}

/// Per-CPU scratch: when the previous poll in the current NET_RX run ended (0 outside NET_RX).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct NapiScratch {
    pub mark_ns: u64,
}

/// Softirq vector number of NET_RX (include/linux/interrupt.h; fixed since 2.6).
pub const NET_RX_SOFTIRQ: u32 = 3;

const _: () = assert!(core::mem::size_of::<NapiKey>() == 12);
const _: () = assert!(core::mem::size_of::<NapiStats>() == 7 * 8);

#[cfg(feature = "user")]
mod pod {
    // SAFETY: repr(C), u32 fields, no padding.
    unsafe impl aya::Pod for super::NapiKey {}
    // SAFETY: repr(C), u64 fields, no padding.
    unsafe impl aya::Pod for super::NapiStats {}
}
