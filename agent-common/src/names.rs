//! Map, program and global names shared by both sides, so neither retypes a string.

/// Per-CPU array, one entry per softirq vector: [`crate::softirq::SoftirqStats`].
pub const MAP_SOFTIRQ_STATS: &str = "SOFTIRQ_STATS";
/// Per-CPU scratch holding raise/entry timestamps: [`crate::softirq::SoftirqScratch`].
pub const MAP_SOFTIRQ_SCRATCH: &str = "SOFTIRQ_SCRATCH";

pub const PROG_SOFTIRQ_RAISE: &str = "softirq_raise";
pub const PROG_SOFTIRQ_ENTRY: &str = "softirq_entry";
pub const PROG_SOFTIRQ_EXIT: &str = "softirq_exit";
/// Classic-tracepoint twins of the three programs above, used where tp_btf is unavailable.
pub const PROG_SOFTIRQ_RAISE_TP: &str = "softirq_raise_tp";
pub const PROG_SOFTIRQ_ENTRY_TP: &str = "softirq_entry_tp";
pub const PROG_SOFTIRQ_EXIT_TP: &str = "softirq_exit_tp";
/// Global: offset of `vec` in the classic softirq tracepoint record.
pub const GLOBAL_TP_VEC_OFFSET: &str = "TP_VEC_OFFSET";

/// Tracepoint names (category `irq`) the softirq programs attach to.
pub const TP_SOFTIRQ_RAISE: &str = "softirq_raise";
pub const TP_SOFTIRQ_ENTRY: &str = "softirq_entry";
pub const TP_SOFTIRQ_EXIT: &str = "softirq_exit";

/// Global: PID of `ksoftirqd/N` for each CPU N (0 where unknown), so the entry program can tell a
/// softirq deferred to ksoftirqd from one run on irq exit without a comm comparison.
pub const GLOBAL_KSOFTIRQD_PIDS: &str = "KSOFTIRQD_PIDS";

/// Every program the built ELF must contain (checked by a test that needs no root).
pub const ALL_PROGRAMS: &[&str] = &[
    PROG_SOFTIRQ_RAISE,
    PROG_SOFTIRQ_ENTRY,
    PROG_SOFTIRQ_EXIT,
    PROG_SOFTIRQ_RAISE_TP,
    PROG_SOFTIRQ_ENTRY_TP,
    PROG_SOFTIRQ_EXIT_TP,
];
/// Every map the built ELF must contain.
pub const ALL_MAPS: &[&str] = &[MAP_SOFTIRQ_STATS, MAP_SOFTIRQ_SCRATCH];

// --- softirq threshold events, loss accounting, scheduling delay, kernel stacks ---

/// Ring buffer of [`crate::events::SoftirqEvent`].
pub const MAP_SOFTIRQ_EVENTS: &str = "SOFTIRQ_EVENTS";
/// Per-CPU array of u64, one per [`crate::events::Stream`]: failed ring-buffer reserves.
pub const MAP_LOST_EVENTS: &str = "LOST_EVENTS";
/// Global u64: softirqs whose wait or run time exceeds this many ns become events.
pub const GLOBAL_SOFTIRQ_THRESHOLD_NS: &str = "SOFTIRQ_THRESHOLD_NS";

/// Hash of watched thread-group ids (u32 → u32 marker), filled by userspace.
pub const MAP_SCHED_WATCHED: &str = "SCHED_WATCHED";
/// Hash tid → [`crate::sched::SchedStats`].
pub const MAP_SCHED_STATS: &str = "SCHED_STATS";
/// Hash tid → [`crate::sched::SchedTimes`].
pub const MAP_SCHED_TIMES: &str = "SCHED_TIMES";
/// Per-CPU zeroed [`crate::sched::SchedStats`] used as the initial value of a new entry.
pub const MAP_SCHED_ZERO: &str = "SCHED_ZERO";
/// Global [`crate::sched::TaskOffsets`] from BTF.
pub const GLOBAL_TASK_OFFSETS: &str = "TASK_OFFSETS";
pub const PROG_SCHED_WAKEUP: &str = "sched_wakeup";
pub const PROG_SCHED_WAKEUP_NEW: &str = "sched_wakeup_new";
pub const PROG_SCHED_SWITCH: &str = "sched_switch";
pub const TP_SCHED_WAKEUP: &str = "sched_wakeup";
pub const TP_SCHED_WAKEUP_NEW: &str = "sched_wakeup_new";
pub const TP_SCHED_SWITCH: &str = "sched_switch";

/// perf_event program sampling kernel stacks.
pub const PROG_STACK_SAMPLE: &str = "stack_sample";
/// Stack-trace map of kernel stacks.
pub const MAP_STACKS: &str = "STACKS";
/// Hash [`crate::stacks::StackKey`] → u64 samples.
pub const MAP_STACK_COUNTS: &str = "STACK_COUNTS";
/// Per-CPU [`crate::stacks::StackSampleStats`].
pub const MAP_STACK_SAMPLES: &str = "STACK_SAMPLES";
/// Global u32: 1 keeps every kernel stack, 0 only those taken in softirq context.
pub const GLOBAL_ALL_STACKS: &str = "ALL_STACKS";

/// Programs of the scheduling, stack and event probes (the built-ELF test checks these too).
pub const SCHED_STACK_PROGRAMS: &[&str] = &[
    PROG_SCHED_WAKEUP,
    PROG_SCHED_WAKEUP_NEW,
    PROG_SCHED_SWITCH,
    PROG_STACK_SAMPLE,
];
/// Maps of the scheduling, stack and event probes.
pub const SCHED_STACK_MAPS: &[&str] = &[
    MAP_SOFTIRQ_EVENTS,
    MAP_LOST_EVENTS,
    MAP_SCHED_WATCHED,
    MAP_SCHED_STATS,
    MAP_SCHED_TIMES,
    MAP_SCHED_ZERO,
    MAP_STACKS,
    MAP_STACK_COUNTS,
    MAP_STACK_SAMPLES,
];
