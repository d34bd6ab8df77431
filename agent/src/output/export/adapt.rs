//! Fills an [`ExportInput`] from what a recording holds (softirq intervals, clock anchors, lost
//! events, collector states) plus the analysis inputs other stages provide.

use std::{collections::BTreeMap, path::Path};

use anyhow::Context as _;

use super::{
    DropsSecond, ExportInput, GapInput, HeartbeatSeries, LostAt, ProbeLatency, StackInput, Window,
};
use crate::{
    analysis::aggregates::{stacks::fold_outside, steps::one_per_step},
    recording::{
        RecordingReader,
        records::{CollectorStatus, Header, Record, SoftirqInterval},
    },
};

/// The parts of a recording exports use, in time order.
#[derive(Debug, Clone)]
pub struct RecordingData {
    pub header: Header,
    pub softirq: Vec<SoftirqInterval>,
    pub lost: Vec<LostAt>,
    pub collectors: Vec<CollectorStatus>,
    pub first_mono_ns: u64,
    pub last_mono_ns: u64,
}

impl RecordingData {
    pub fn from_records(header: Header, records: impl IntoIterator<Item = Record>) -> Self {
        let start = header.anchor.mono_ns;
        let mut d = RecordingData {
            header,
            softirq: Vec::new(),
            lost: Vec::new(),
            collectors: Vec::new(),
            first_mono_ns: start,
            last_mono_ns: start,
        };
        for r in records {
            let at = match r {
                Record::Clock(a) => a.mono_ns,
                Record::Softirq(iv) => {
                    let end = iv.end_mono_ns;
                    d.softirq.push(iv);
                    end
                }
                Record::Collector(c) => {
                    let at = c.at_mono_ns;
                    d.collectors.push(c);
                    at
                }
                Record::Lost(l) => {
                    d.lost.push(LostAt {
                        at_mono_ns: l.at_mono_ns,
                        stream: l.stream,
                        count: l.count,
                    });
                    l.at_mono_ns
                }
                Record::Stop(s) => s.at_mono_ns,
                // Heartbeats, drops, stacks and the rest reach the exporters through the
                // analysis inputs, not through this table.
                _ => continue,
            };
            d.last_mono_ns = d.last_mono_ns.max(at);
        }
        d
    }

    /// Reads a whole recording (damaged frames are skipped, as the report does).
    pub fn read(path: &Path) -> anyhow::Result<Self> {
        let r = Recording::read(path)?;
        Ok(Self::from_records(r.header, r.records))
    }

    /// The whole recording as a window.
    pub fn whole(&self) -> Window {
        Window {
            start_mono_ns: self.first_mono_ns,
            end_mono_ns: self.last_mono_ns.max(self.first_mono_ns + 1),
            label: "whole recording".into(),
        }
    }
}

/// A whole recording in memory: what exports read once and then analyse.
#[derive(Debug, Clone)]
pub struct Recording {
    pub header: Header,
    pub version: (u16, u16),
    pub records: Vec<Record>,
}

impl Recording {
    /// Reads every record (damaged frames are skipped, as the report does).
    pub fn read(path: &Path) -> anyhow::Result<Self> {
        if path.is_dir() {
            anyhow::bail!(
                "{}: is a directory, expected a recording file",
                path.display()
            );
        }
        let mut reader = RecordingReader::open(path)
            .with_context(|| format!("opening recording {}", path.display()))?;
        let (header, version) = (reader.header().clone(), reader.version());
        Ok(Recording {
            header,
            version,
            records: reader.by_ref().collect(),
        })
    }
}

/// Folds kernel stacks sampled in `[start, end)` into "a;b;c" → count.
pub type StackFold<'a> = &'a dyn Fn(u64, u64) -> BTreeMap<String, u64>;

/// Inputs that come from analyses other than the recording's softirq table. Each field is
/// empty when that analysis is not present in the recording.
#[derive(Default)]
pub struct AnalysisInputs<'a> {
    /// Heartbeat arrivals per source (heartbeat analysis).
    pub heartbeats: Vec<HeartbeatSeries>,
    /// Heartbeat gaps with verdicts (heartbeat + correlation analyses); `--gap N` picks from these.
    pub gaps: Vec<GapInput>,
    /// Heartbeat probe latencies.
    pub probes: Vec<ProbeLatency>,
    /// Drops per second (drop/NAPI analysis).
    pub drops: Vec<DropsSecond>,
    /// The stack sampler's fold for a window, and what it sampled.
    pub stacks: Option<(StackFold<'a>, String)>,
}

/// Limits everything to `window`; with stacks, the baseline is the whole recording minus the
/// window (so a differential flamegraph shows what the window added).
pub fn build(data: &RecordingData, inputs: &AnalysisInputs<'_>, window: Window) -> ExportInput {
    let w = &window;
    let stacks = match &inputs.stacks {
        Some((fold, kind)) => {
            let inside = fold(w.start_mono_ns, w.end_mono_ns);
            let whole = data.whole();
            let baseline = fold_outside(
                fold,
                (whole.start_mono_ns, whole.end_mono_ns),
                (w.start_mono_ns, w.end_mono_ns),
            );
            StackInput {
                window: inside,
                baseline: (!baseline.is_empty()).then_some(baseline),
                kind: kind.clone(),
            }
        }
        None => StackInput::default(),
    };
    // The latest collector state before the window still describes it.
    let mut collectors: Vec<CollectorStatus> = Vec::new();
    let mut before: BTreeMap<&str, &CollectorStatus> = BTreeMap::new();
    for c in &data.collectors {
        if c.at_mono_ns < w.start_mono_ns {
            before.insert(&c.collector, c);
        } else if w.contains(c.at_mono_ns) {
            collectors.push(c.clone());
        }
    }
    let mut all: Vec<CollectorStatus> = before.into_values().cloned().collect();
    all.append(&mut collectors);
    ExportInput {
        host: data.header.host.clone(),
        kernel_release: data.header.kernel_release.clone(),
        cpus: data.header.online_cpus.clone(),
        vectors: data.header.softirq_vectors.clone(),
        anchor: data.header.anchor,
        recording_start_mono_ns: data.first_mono_ns,
        softirq: one_per_step(
            data.softirq
                .iter()
                .filter(|iv| w.overlaps(iv.start_mono_ns, iv.end_mono_ns)),
        ),
        lost: data
            .lost
            .iter()
            .filter(|l| w.contains(l.at_mono_ns))
            .cloned()
            .collect(),
        collectors: all,
        heartbeats: inputs
            .heartbeats
            .iter()
            .map(|h| HeartbeatSeries {
                source: h.source.clone(),
                arrivals_mono_ns: h
                    .arrivals_mono_ns
                    .iter()
                    .copied()
                    .filter(|&t| w.contains(t))
                    .collect(),
            })
            .collect(),
        gaps: inputs
            .gaps
            .iter()
            .filter(|g| w.overlaps(g.last_arrival_mono_ns, g.end_mono_ns(u64::MAX)))
            .cloned()
            .collect(),
        probes: inputs
            .probes
            .iter()
            .map(|p| ProbeLatency {
                probe: p.probe.clone(),
                samples: p
                    .samples
                    .iter()
                    .copied()
                    .filter(|&(t, _)| w.contains(t))
                    .collect(),
            })
            .collect(),
        drops: inputs
            .drops
            .iter()
            .filter(|d| w.overlaps(d.start_mono_ns, d.start_mono_ns + 1_000_000_000))
            .cloned()
            .collect(),
        stacks,
        window,
    }
}
