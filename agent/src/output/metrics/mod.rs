//! The OpenMetrics endpoint for fleets: a prometheus-client registry whose collectors read the
//! latest recording summary at scrape time, served over HTTP by [`server`].
//!
//! Registered (all with real data): softirq wait/run histograms and entry counters per CPU and
//! vector, lost events per stream, collector state, and from [`evidence`] drops by
//! reason/device/port, NAPI budget exhaustion per CPU and device, and heartbeat gaps by source
//! and cause (`hbwatch_heartbeat_gaps_total`, the name docs/deploy/alerts.yml uses).
//! [`Metrics::register`] takes any further prometheus-client collector.

pub mod evidence;
pub mod server;

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex, MutexGuard},
};

use agent_common::hist::bucket_high;
use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeMetric as _, NoLabelSet},
    metrics::{MetricType, counter::ConstCounter, gauge::ConstGauge},
    registry::Registry,
};

use crate::{
    analysis::LatencyTable,
    analysis::{
        RecordingSummary,
        aggregates::evidence::{Causes, EvidenceCounts, causes},
        latency::HistAgg,
        recent::{self, RecentDiagnosis},
    },
    recording::records::{CollectorState, CollectorStatus, Record},
};

/// Histogram bucket upper bounds in seconds: 1 µs to 1 s in 1-2-5 steps, then +Inf.
pub const BUCKETS_S: &[f64] = &[
    1e-6, 2e-6, 5e-6, 1e-5, 2e-5, 5e-5, 1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2, 2e-2, 5e-2, 0.1,
    0.2, 0.5, 1.0,
];

/// What the collectors show: a copy of the summary parts taken after every tick.
#[derive(Debug, Default)]
struct Snapshot {
    latency: LatencyTable,
    vectors: Vec<String>,
    lost: BTreeMap<String, u64>,
    collectors: BTreeMap<String, CollectorStatus>,
    evidence: EvidenceCounts,
}

#[derive(Debug, Clone, Default)]
struct Shared(Arc<Mutex<Snapshot>>);

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Snapshot> {
        // A panic elsewhere while holding the lock leaves a consistent copy; keep serving it.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The registry plus the snapshot its collectors read.
pub struct Metrics {
    registry: Registry,
    shared: Shared,
    /// Recent records and their diagnosis, for the gaps' cause label; only the capture loop
    /// takes this lock, never a scrape.
    recent: Mutex<RecentDiagnosis>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let shared = Shared::default();
        let mut registry = Registry::with_prefix("hbwatch");
        registry.register_collector(Box::new(SoftirqCollector(shared.clone())));
        registry.register_collector(Box::new(RecorderCollector(shared.clone())));
        registry.register_collector(Box::new(evidence::EvidenceCollector(shared.clone())));
        Metrics {
            registry,
            shared,
            recent: Mutex::new(RecentDiagnosis::new(recent::KEEP_NS)),
        }
    }

    /// Registers a further collector; register only what has real data.
    pub fn register(&mut self, collector: Box<dyn Collector>) {
        self.registry.register_collector(collector);
    }

    /// After a tick: [`Metrics::publish`], with the gaps' causes from a diagnosis over the
    /// recent records, redone when the gaps changed.
    pub fn publish_tick(&self, s: &RecordingSummary, tick_records: &[Record], now_mono_ns: u64) {
        let causes = {
            let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
            if !s.heartbeats.is_empty() {
                recent.tick(s, tick_records, now_mono_ns);
            }
            recent.diagnosis().map(causes).unwrap_or_default()
        };
        self.publish_with(s, &causes);
    }

    /// Copies what the collectors show from the session's running summary; gaps have the
    /// cause `unknown` (see [`Metrics::publish_tick`]).
    pub fn publish(&self, s: &RecordingSummary) {
        self.publish_with(s, &BTreeMap::new());
    }

    fn publish_with(&self, s: &RecordingSummary, causes: &Causes) {
        // Built before taking the lock: a scrape never waits for the naming work.
        let evidence = EvidenceCounts::of(s, causes);
        let mut snap = self.shared.lock();
        snap.evidence = evidence;
        snap.latency = s.latency.clone();
        snap.vectors = s.header.softirq_vectors.clone();
        snap.lost = s.lost.clone();
        snap.collectors = s.collectors.clone();
    }

    /// The OpenMetrics text exposition, ending in `# EOF`.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

/// Non-cumulative counts per [`BUCKETS_S`] bound (+Inf last), plus the sum in seconds.
/// A kernel bucket counts under the first bound at or above its upper edge, so a sample may
/// be reported up to one kernel bucket (12.5 %) higher, never lower.
pub fn prometheus_buckets(h: &HistAgg) -> (f64, Vec<(f64, u64)>) {
    let mut out: Vec<(f64, u64)> = BUCKETS_S.iter().map(|&b| (b, 0)).collect();
    out.push((f64::INFINITY, 0));
    for (i, &n) in h.buckets.iter().enumerate().filter(|(_, n)| **n > 0) {
        let high_s = bucket_high(i) as f64 / 1e9;
        let slot = BUCKETS_S
            .iter()
            .position(|&b| high_s <= b)
            .unwrap_or(BUCKETS_S.len());
        out[slot].1 += n;
    }
    (h.sum_ns as f64 / 1e9, out)
}

#[derive(Debug)]
struct SoftirqCollector(Shared);

impl Collector for SoftirqCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let s = self.0.lock();
        let name = |v: u8| {
            s.vectors
                .get(v as usize)
                .cloned()
                .unwrap_or_else(|| format!("vec{v}"))
        };
        for (metric, help, pick) in [
            (
                "softirq_wait_seconds",
                "Time from softirq raise to handler entry, per CPU and vector.",
                (|a: &crate::analysis::SoftirqAgg| &a.wait)
                    as fn(&crate::analysis::SoftirqAgg) -> &HistAgg,
            ),
            (
                "softirq_run_seconds",
                "Softirq handler run time, per CPU and vector.",
                |a| &a.run,
            ),
        ] {
            let mut m = encoder.encode_descriptor(metric, help, None, MetricType::Histogram)?;
            for ((cpu, v), agg) in &s.latency.cells {
                let h = pick(agg);
                let (sum, buckets) = prometheus_buckets(h);
                let labels = [("cpu", cpu.to_string()), ("vector", name(*v))];
                m.encode_family(&labels)?
                    .encode_histogram::<NoLabelSet>(sum, h.count, &buckets, None)?;
            }
        }
        let mut m = encoder.encode_descriptor(
            "softirq_entries",
            "Softirq handler runs, per CPU and vector.",
            None,
            MetricType::Counter,
        )?;
        for ((cpu, v), agg) in &s.latency.cells {
            let labels = [("cpu", cpu.to_string()), ("vector", name(*v))];
            ConstCounter::new(agg.entries).encode(m.encode_family(&labels)?)?;
        }
        Ok(())
    }
}

#[derive(Debug)]
struct RecorderCollector(Shared);

impl Collector for RecorderCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let s = self.0.lock();
        let mut m = encoder.encode_descriptor(
            "lost_events",
            "Events that could not be delivered or read, per stream.",
            None,
            MetricType::Counter,
        )?;
        for (stream, n) in &s.lost {
            ConstCounter::new(*n).encode(m.encode_family(&[("stream", stream.as_str())])?)?;
        }
        let mut m = encoder.encode_descriptor(
            "collector_state",
            "1 for each collector's current state (running, degraded, unavailable).",
            None,
            MetricType::Gauge,
        )?;
        for (name, c) in &s.collectors {
            for (state, label) in [
                (CollectorState::Running, "running"),
                (CollectorState::Degraded, "degraded"),
                (CollectorState::Unavailable, "unavailable"),
            ] {
                let labels = [("collector", name.as_str()), ("state", label)];
                ConstGauge::new(i64::from(c.state == state)).encode(m.encode_family(&labels)?)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::export::synthetic;

    fn metrics() -> Metrics {
        let h = synthetic::header();
        let s = RecordingSummary::from_records(h, (1, 0), synthetic::records(40));
        let m = Metrics::new();
        m.publish(&s);
        m
    }

    #[test]
    fn exposition_has_real_values() {
        let text = metrics().encode().expect("encode");
        assert!(text.ends_with("# EOF\n"), "not OpenMetrics: {text}");
        assert!(text.contains("# TYPE hbwatch_softirq_wait_seconds histogram"));
        assert!(
            text.contains("hbwatch_softirq_wait_seconds_count{cpu=\"1\",vector=\"NET_RX\"} 6750")
        );
        assert!(text.contains(
            "hbwatch_softirq_wait_seconds_bucket{le=\"+Inf\",cpu=\"1\",vector=\"NET_RX\"} 6750"
        ));
        assert!(text.contains("hbwatch_softirq_entries_total{cpu=\"0\",vector=\"TIMER\"} 1600"));
        assert!(text.contains("hbwatch_lost_events_total{stream=\"softirq-interval\"} 3"));
        assert!(
            text.contains("hbwatch_collector_state{collector=\"softirq\",state=\"running\"} 1")
        );
    }

    #[test]
    fn buckets_never_report_lower() {
        let mut h = HistAgg::default();
        let idx = agent_common::hist::bucket_index(1_500) as u16;
        h.add(
            &crate::recording::records::SparseHist(vec![(idx, 4)]),
            6_000,
            None,
        );
        let (sum, b) = prometheus_buckets(&h);
        assert!((sum - 6e-6).abs() < 1e-12);
        // 1.5 µs lands under le=2e-6, not le=1e-6.
        assert_eq!(b[0], (1e-6, 0));
        assert_eq!(b[1], (2e-6, 4));
        assert_eq!(b.last(), Some(&(f64::INFINITY, 0)));
    }
}
