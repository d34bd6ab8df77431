//! Kernel stack sampling: a count per (stack id, context) kept in the kernel.

/// Stacks kept per run; when full, `bpf_get_stackid` fails and the sample is counted as lost.
pub const MAX_STACKS: u32 = 8192;
/// Distinct (stack, context) counters.
pub const MAX_STACK_KEYS: u32 = 16384;

/// Where the sampled CPU was.
pub const CTX_OTHER: u32 = 0;
pub const CTX_SOFTIRQ: u32 = 1;

/// Key of `STACK_COUNTS`; the value is a u64 sample count.
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct StackKey {
    /// Id in the `STACKS` stack-trace map.
    pub stack_id: u32,
    /// [`CTX_SOFTIRQ`] or [`CTX_OTHER`].
    pub context: u32,
}

/// `STACK_SAMPLES[0]` per CPU: samples taken, kept, and failed stack captures.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct StackSampleStats {
    pub samples: u64,
    pub kept: u64,
    pub stack_failed: u64,
    pub count_failed: u64,
}

const _: () = assert!(core::mem::size_of::<StackKey>() == 8);
const _: () = assert!(core::mem::size_of::<StackSampleStats>() == 32);

#[cfg(feature = "user")]
mod pod {
    // SAFETY: repr(C), u32/u64 fields only, no padding (sizes asserted above).
    unsafe impl aya::Pod for super::StackKey {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::StackSampleStats {}
}
