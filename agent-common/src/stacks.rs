//! Kernel stack sampling: a count per (stack id, context) and per (CPU, process) kept in the kernel.

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
    /// Samples not counted per process because `CPU_TASKS` was full.
    pub task_failed: u64,
}

/// Distinct processes counted per sampling interval (userspace removes idle ones every tick).
pub const MAX_CPU_TASKS: u32 = 4096;

/// Value of `CPU_TASKS` (per-CPU hash keyed by tgid, a u32): how often the process was on the
/// sampled CPU, user mode included.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct TaskCpuSamples {
    pub samples: u64,
    /// Samples taken while a softirq ran on top of the process.
    pub softirq: u64,
    /// Name of the thread sampled when the entry was made (NUL-padded).
    pub comm: [u8; 16],
}

const _: () = assert!(core::mem::size_of::<StackKey>() == 8);
const _: () = assert!(core::mem::size_of::<StackSampleStats>() == 40);
const _: () = assert!(core::mem::size_of::<TaskCpuSamples>() == 32);

#[cfg(feature = "user")]
mod pod {
    // SAFETY: repr(C), u32/u64 fields only, no padding (sizes asserted above).
    unsafe impl aya::Pod for super::StackKey {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::StackSampleStats {}
    // SAFETY: as above (two u64 and a byte array, 32 bytes).
    unsafe impl aya::Pod for super::TaskCpuSamples {}
}
