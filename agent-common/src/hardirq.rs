//! Hard IRQ handler duration per IRQ line and CPU.

/// Cumulative per-CPU counters of one IRQ line (`HARDIRQ_STATS`, per-CPU hash keyed by irq u32).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct HardirqStats {
    pub count: u64,
    pub time_sum_ns: u64,
    pub time_max_ns: u64,
    pub time_max_at_ns: u64,
}

/// Per-CPU scratch: the handler running now.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct HardirqScratch {
    pub entered_ns: u64,
    pub irq: u64,
}

const _: () = assert!(core::mem::size_of::<HardirqStats>() == 4 * 8);
const _: () = assert!(core::mem::size_of::<HardirqScratch>() == 2 * 8);

#[cfg(feature = "user")]
mod pod {
    // SAFETY: repr(C), u64 fields, no padding.
    unsafe impl aya::Pod for super::HardirqStats {}
}
