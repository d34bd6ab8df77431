//! Softirq latency records (from the softirq probe).

use serde::{Deserialize, Serialize};

/// Softirq activity in `[start_mono_ns, end_mono_ns)`, only cells that saw activity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SoftirqInterval {
    pub start_mono_ns: u64,
    pub end_mono_ns: u64,
    pub cells: Vec<SoftirqCell>,
}

/// One CPU × vector over one interval.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SoftirqCell {
    pub cpu: u32,
    pub vector: u8,
    pub entries: u64,
    pub ksoftirqd_entries: u64,
    pub raises: u64,
    pub wait_unknown: u64,
    pub wait_sum_ns: u64,
    pub run_sum_ns: u64,
    /// Exact maximum and when it happened, when it fell inside this interval; otherwise the
    /// histogram bounds it.
    pub wait_max: Option<TimedMax>,
    pub run_max: Option<TimedMax>,
    pub wait_hist: SparseHist,
    pub run_hist: SparseHist,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimedMax {
    pub value_ns: u64,
    pub at_mono_ns: u64,
}

/// Non-zero buckets of an `agent_common::hist` histogram: (bucket index, count).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SparseHist(pub Vec<(u16, u64)>);

impl SparseHist {
    pub fn total(&self) -> u64 {
        self.0.iter().map(|&(_, n)| n).sum()
    }
}
