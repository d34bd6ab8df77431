//! NAPI polls and budget exhaustion named by device (and CPU): per span of `Napi` records, since
//! the start of the recording, and as running rates with totals.

use std::collections::BTreeMap;

use super::{intervals_of, rate, span_ns};
use crate::{
    analysis::PacketSummary,
    recording::records::{NapiInterval, Record},
};

/// NAPI polls of one device over some span.
#[derive(Debug, Clone, PartialEq)]
pub struct NapiSample {
    pub device: String,
    pub polls: u64,
    /// Polls that used their whole budget (work left for the next poll or ksoftirqd).
    pub budget_exhausted: u64,
}

/// Polls and budget exhaustion per key, summed.
fn tally<K: Ord>(cells: impl Iterator<Item = (K, u64, u64)>) -> BTreeMap<K, (u64, u64)> {
    let mut by: BTreeMap<K, (u64, u64)> = BTreeMap::new();
    for (k, polls, full) in cells {
        let e = by.entry(k).or_default();
        e.0 += polls;
        e.1 += full;
    }
    by
}

/// NAPI polls and budget exhaustion per device over the `Napi` records among `records`, and the
/// time they cover; `None` without any (the NAPI probes are off).
pub fn napi_samples(p: &PacketSummary, records: &[Record]) -> Option<(u64, Vec<NapiSample>)> {
    let ivs: Vec<&NapiInterval> = intervals_of(records, |r| match r {
        Record::Napi(iv) => Some(iv),
        _ => None,
    })?;
    let by_device = tally(
        ivs.iter()
            .flat_map(|iv| &iv.cells)
            .map(|c| (p.napi_device(c.ifindex, c.netns), c.polls, c.full_budget)),
    );
    let samples = by_device
        .into_iter()
        .map(|(device, (polls, budget_exhausted))| NapiSample {
            device,
            polls,
            budget_exhausted,
        })
        .collect();
    let span = span_ns(ivs.iter().map(|iv| (iv.start_mono_ns, iv.end_mono_ns)));
    Some((span, samples))
}

/// (cpu, device) → polls that used their whole budget, over everything the summary folded.
pub fn exhausted_so_far(p: &PacketSummary) -> BTreeMap<(u32, String), u64> {
    tally(p.napi.iter().map(|(&(netns, ifindex, _napi_id, cpu), a)| {
        ((cpu, p.napi_device(ifindex, netns)), a.polls, a.full_budget)
    }))
    .into_iter()
    .map(|(k, (_, full))| (k, full))
    .collect()
}

/// One device's budget exhaustion: over the latest interval and since the first.
#[derive(Debug, Clone, PartialEq)]
pub struct NapiRow {
    pub device: String,
    pub exhausted_per_s: f64,
    /// Share of polls that exhausted the budget in the latest interval, 0..=1.
    pub exhausted_share: f64,
    pub exhausted_total: u64,
}

/// NAPI budget exhaustion per device, fed one interval at a time.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NapiRates {
    /// Whether an interval has been fed at all.
    pub fed: bool,
    pub rows: Vec<NapiRow>,
    totals: BTreeMap<String, u64>,
}

impl NapiRates {
    /// Rates from one interval of `interval_ns`.
    pub fn update(&mut self, interval_ns: u64, samples: &[NapiSample]) {
        self.fed = true;
        for s in samples {
            *self.totals.entry(s.device.clone()).or_default() += s.budget_exhausted;
        }
        self.rows = self
            .totals
            .iter()
            .map(|(dev, total)| {
                let now = samples.iter().find(|s| &s.device == dev);
                NapiRow {
                    device: dev.clone(),
                    exhausted_per_s: rate(now.map_or(0, |s| s.budget_exhausted), interval_ns),
                    exhausted_share: now.map_or(0.0, |s| {
                        if s.polls == 0 {
                            0.0
                        } else {
                            s.budget_exhausted as f64 / s.polls as f64
                        }
                    }),
                    exhausted_total: *total,
                }
            })
            .collect();
    }
}
