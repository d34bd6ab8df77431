//! Gathers, per heartbeat source, the delays a timeout must ride out — the inter-arrival p99.9
//! outside gaps (normal jitter), self-stalls, probe latencies, and gaps diagnosed as transient
//! delays (stall, softirq delay, VM pause) rather than losses — and asks the advisor for a timeout.

use std::collections::BTreeMap;

use super::{
    Cause, GapDiagnosis,
    advisor::{Delay, DelayKind, TimeoutAdvice, advise},
};
use crate::{
    analysis::{RecordingSummary, gaps::GapAnalysis},
    recording::records::{EventKind, PortStage, Record},
};

/// Arrival times per source, in recording order, folded one record at a time.
#[derive(Default)]
pub struct Arrivals(BTreeMap<u32, Vec<u64>>);

impl Arrivals {
    pub fn add(&mut self, s: &RecordingSummary, r: &Record) {
        let hit = match r {
            // A read that found nothing (EAGAIN) is no arrival.
            Record::PortPacket(e) if e.stage == PortStage::Read && e.len >= 0 => s
                .heartbeats
                .passive_source(e.proto, e.local_port)
                .map(|src| (src, e.mono_ns)),
            Record::Heartbeat(h) if h.kind == EventKind::Arrival => {
                Some((h.source, h.read_mono_ns))
            }
            Record::Probe(p) if p.error.is_none() => {
                Some((p.source, p.start_mono_ns + p.latency_ns))
            }
            _ => None,
        };
        if let Some((src, t)) = hit {
            self.0.entry(src).or_default().push(t);
        }
    }
}

/// The value at quantile `q` of sorted `v`.
fn quantile(v: &[u64], q: f64) -> u64 {
    let i = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1;
    v[i]
}

/// Timeout advice for every source that has measured delays.
pub fn advice(
    s: &RecordingSummary,
    arrivals: &Arrivals,
    analysis: &GapAnalysis,
    judged: &[GapDiagnosis],
) -> Vec<(u32, TimeoutAdvice)> {
    let arr = &arrivals.0;
    let mut out = Vec::new();
    for sg in &analysis.sources {
        let Some(interval) = sg.expected_interval_ns else {
            continue;
        };
        let mut delays = Vec::new();
        if let Some(times) = arr.get(&sg.source) {
            // Jitter outside gaps: an inter-arrival past the gap threshold is a gap, judged below.
            let threshold = interval as f64 * analysis.gap_factor;
            let mut gaps: Vec<u64> = times
                .windows(2)
                .map(|w| w[1].saturating_sub(w[0]))
                .filter(|&d| d as f64 <= threshold)
                .collect();
            gaps.sort_unstable();
            if gaps.len() >= 10 {
                delays.push(Delay::new(
                    quantile(&gaps, 0.999),
                    DelayKind::InterArrivalP999,
                ));
            }
        }
        if let Some(st) = s.heartbeats.sources.get(&sg.source)
            && st.probe_latency_max_ns > 0
        {
            delays.push(Delay::new(st.probe_latency_max_ns, DelayKind::ProbeLatency));
        }
        if let Some(m) = s
            .heartbeats
            .notable
            .iter()
            .filter(|h| h.kind == EventKind::SelfStall)
            .filter_map(|h| h.measured_ns)
            .max()
        {
            delays.push(Delay::new(m, DelayKind::SelfStall));
        }
        // A delay the peer would see as a missed heartbeat but that recovers by itself.
        for g in judged.iter().filter(|g| g.gap.source == sg.source) {
            let c = g.findings[0].cause;
            if matches!(c, Cause::AppStall | Cause::SoftirqDelay | Cause::VmPause) {
                delays.push(Delay {
                    gap: Some(g.number),
                    cause: Some(c.to_string()),
                    ..Delay::new(g.gap.length_ns, DelayKind::Gap)
                });
            }
        }
        if let Some(a) = advise(interval, analysis.gap_factor, &delays) {
            out.push((sg.source, a));
        }
    }
    out
}
