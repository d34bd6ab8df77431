//! Per time step of a window (one softirq interval, normally a second): softirq latency per CPU
//! and vector, and the drops, heartbeat arrivals and lost events that fall inside it.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{drops::DropsSecond, sources::HeartbeatSeries};
use crate::{analysis::latency::HistAgg, recording::records::SoftirqInterval};

/// Events lost on one stream, with when they were counted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LostAt {
    pub at_mono_ns: u64,
    pub stream: String,
    pub count: u64,
}

/// One CPU × softirq vector over one step.
#[derive(Debug, Clone, PartialEq)]
pub struct CellStep {
    pub cpu: u32,
    pub vector: u8,
    pub entries: u64,
    pub raises: u64,
    pub ksoftirqd_entries: u64,
    pub wait_p99_ns: u64,
    pub wait_max_ns: u64,
    pub run_p99_ns: u64,
    pub run_max_ns: u64,
}

/// One step, cut to the window.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub start_mono_ns: u64,
    pub end_mono_ns: u64,
    pub cells: Vec<CellStep>,
    /// Packet drops in this step; None when no drop analysis is present.
    pub drops: Option<u64>,
    /// Arrivals per source (every source, 0 included).
    pub heartbeat_arrivals: BTreeMap<String, u64>,
    /// Lost events per stream, only streams with a loss counted in this step.
    pub lost_events: BTreeMap<String, u64>,
}

/// One step per interval of `softirq`, with drops, arrivals and losses binned into it; an
/// interval that straddles an edge of `[window_start, window_end)` is cut at that edge.
pub fn steps(
    (window_start, window_end): (u64, u64),
    softirq: &[SoftirqInterval],
    drops: &[DropsSecond],
    heartbeats: &[HeartbeatSeries],
    lost: &[LostAt],
) -> Vec<Step> {
    let have_drops = !drops.is_empty();
    softirq
        .iter()
        .map(|iv| {
            let start = iv.start_mono_ns.max(window_start);
            let end = iv.end_mono_ns.min(window_end).max(start);
            let inside = |t: u64| (start..end).contains(&t);
            let cells = iv
                .cells
                .iter()
                .map(|c| {
                    let (mut w, mut r) = (HistAgg::default(), HistAgg::default());
                    w.add(&c.wait_hist, c.wait_sum_ns, c.wait_max);
                    r.add(&c.run_hist, c.run_sum_ns, c.run_max);
                    let (w, r) = (w.distribution(), r.distribution());
                    CellStep {
                        cpu: c.cpu,
                        vector: c.vector,
                        entries: c.entries,
                        raises: c.raises,
                        ksoftirqd_entries: c.ksoftirqd_entries,
                        wait_p99_ns: w.p99_ns,
                        wait_max_ns: w.max_ns,
                        run_p99_ns: r.p99_ns,
                        run_max_ns: r.max_ns,
                    }
                })
                .collect();
            let drops = have_drops.then(|| {
                drops
                    .iter()
                    .filter(|d| inside(d.start_mono_ns))
                    .map(|d| d.total)
                    .sum()
            });
            let mut heartbeat_arrivals = BTreeMap::new();
            for h in heartbeats {
                let n = h.arrivals_mono_ns.iter().filter(|&&t| inside(t)).count() as u64;
                heartbeat_arrivals.insert(h.source.clone(), n);
            }
            let mut lost_events: BTreeMap<String, u64> = BTreeMap::new();
            for l in lost.iter().filter(|l| inside(l.at_mono_ns)) {
                *lost_events.entry(l.stream.clone()).or_default() += l.count;
            }
            Step {
                start_mono_ns: start,
                end_mono_ns: end,
                cells,
                drops,
                heartbeat_arrivals,
                lost_events,
            }
        })
        .collect()
}

/// One interval per time step: records that cover the same span (a recorder that writes each
/// CPU's cells apart) become one, so steps never repeat.
pub fn one_per_step<'a>(ivs: impl Iterator<Item = &'a SoftirqInterval>) -> Vec<SoftirqInterval> {
    let mut by: BTreeMap<(u64, u64), SoftirqInterval> = BTreeMap::new();
    for iv in ivs {
        by.entry((iv.start_mono_ns, iv.end_mono_ns))
            .and_modify(|m| m.cells.extend(iv.cells.iter().cloned()))
            .or_insert_with(|| iv.clone());
    }
    by.into_values().collect()
}
