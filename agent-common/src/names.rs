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
