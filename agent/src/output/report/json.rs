//! The JSON report. Its shape is documented in docs/report-json.md; any change that removes or
//! renames a field bumps [`SCHEMA_VERSION`], additions do not.

use serde::Serialize;

use crate::{
    analysis::{ClockStep, Distribution, RecordingSummary, SoftirqAgg},
    clock,
    recording::{ReadStats, records::NicSummary},
};

pub const SCHEMA: &str = "hbwatch-report";
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Serialize)]
pub struct Report {
    pub schema: &'static str,
    pub schema_version: u32,
    pub hbwatch_version: &'static str,
    pub recording: RecordingInfo,
    pub collectors: Vec<CollectorJson>,
    /// Programs the kernel refused, each with the verifier's whole log.
    pub program_rejections: Vec<crate::recording::records::ProgramRejection>,
    pub lost_events: std::collections::BTreeMap<String, u64>,
    pub clock_steps: Vec<ClockStep>,
    pub softirq: SoftirqJson,
    pub softirq_events: super::ksched::SoftirqEventsJson,
    pub sched_delay: Vec<super::ksched::SchedJson>,
    pub kernel_stacks: Option<super::ksched::StacksJson>,
    /// Drops, NAPI, hard IRQs and watched-port events (added in 0.1; no schema bump).
    pub packet: super::packet::PacketJson,
    /// Heartbeat sources and gaps (added in hbwatch-report 1; absent sources give empty lists).
    pub heartbeats: super::heartbeats::HeartbeatsJson,
    /// Verdict, per-gap causes, recommendations and timeout advice (added in hbwatch-report 1;
    /// no schema bump).
    pub diagnosis: super::diagnosis::DiagnosisJson,
}

#[derive(Serialize)]
pub struct RecordingInfo {
    pub path: String,
    pub format_version: String,
    pub recorded_by: String,
    pub host: String,
    pub kernel_release: String,
    pub cpus: u32,
    pub nics: Vec<NicSummary>,
    pub started_at: String,
    pub duration_s: f64,
    pub stopped_cleanly: bool,
    pub stop_reason: Option<String>,
    pub read: ReadStats,
    /// `softirq`, `threaded_napi` or `preempt_rt`; null in recordings made before it was kept.
    pub receive_model: Option<&'static str>,
    pub receive_model_detail: Option<String>,
    /// `record --netns`: the network namespace kept (`spec`, `path`, `inode`).
    pub netns_scope: Option<crate::recording::records::NetnsScope>,
}

#[derive(Serialize)]
pub struct CollectorJson {
    pub name: String,
    pub state: String,
    pub detail: String,
}

#[derive(Serialize)]
pub struct SoftirqJson {
    pub intervals: u64,
    pub by_vector: Vec<VectorRow>,
    pub by_cpu: Vec<VectorRow>,
}

#[derive(Serialize)]
pub struct VectorRow {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu: Option<u32>,
    pub vector: String,
    pub vector_nr: u8,
    pub count: u64,
    pub ksoftirqd: u64,
    pub raises: u64,
    pub wait_unknown: u64,
    /// Counted but not timed (over the per-tick timing budget); wait and run are sampled.
    #[serde(skip_serializing_if = "is_zero")]
    pub untimed: u64,
    pub wait_ns: Distribution,
    pub run_ns: Distribution,
}

impl VectorRow {
    fn new(s: &RecordingSummary, cpu: Option<u32>, v: u8, a: &SoftirqAgg) -> Self {
        VectorRow {
            cpu,
            vector: s.vector_name(v),
            vector_nr: v,
            count: a.entries,
            ksoftirqd: a.ksoftirqd_entries,
            raises: a.raises,
            wait_unknown: a.wait_unknown,
            untimed: a.untimed(),
            wait_ns: a.wait.distribution(),
            run_ns: a.run.distribution(),
        }
    }
}

impl Report {
    pub fn new(s: &RecordingSummary, path: &str) -> Self {
        let h = &s.header;
        Report {
            schema: SCHEMA,
            schema_version: SCHEMA_VERSION,
            hbwatch_version: env!("CARGO_PKG_VERSION"),
            recording: RecordingInfo {
                path: path.to_owned(),
                format_version: format!("{}.{}", s.format_version.0, s.format_version.1),
                recorded_by: h.hbwatch_version.clone(),
                host: h.host.clone(),
                kernel_release: h.kernel_release.clone(),
                cpus: h.cpus,
                nics: h.nics.clone(),
                started_at: clock::rfc3339(h.anchor.realtime_ns),
                duration_s: s.duration_ns() as f64 / 1e9,
                stopped_cleanly: s.stop.is_some(),
                stop_reason: s.stop.as_ref().map(|x| x.reason.clone()),
                read: s.read.clone(),
                receive_model: s.rx_model.as_ref().map(|m| m.name()),
                receive_model_detail: s.rx_model.as_ref().map(|m| m.describe()),
                netns_scope: s.scope.clone(),
            },
            collectors: s
                .collectors
                .values()
                .map(|c| CollectorJson {
                    name: c.collector.clone(),
                    state: format!("{:?}", c.state).to_lowercase(),
                    detail: c.detail.clone(),
                })
                .collect(),
            program_rejections: s.rejections.clone(),
            lost_events: s.lost.clone(),
            clock_steps: s.clock_steps.clone(),
            softirq: SoftirqJson {
                intervals: s.latency.intervals,
                by_vector: s
                    .latency
                    .by_vector()
                    .iter()
                    .map(|(v, a)| VectorRow::new(s, None, *v, a))
                    .collect(),
                by_cpu: s
                    .latency
                    .cells
                    .iter()
                    .map(|((cpu, v), a)| VectorRow::new(s, Some(*cpu), *v, a))
                    .collect(),
            },
            softirq_events: super::ksched::events_json(s),
            sched_delay: super::ksched::sched_json(s),
            kernel_stacks: super::ksched::stacks_json(s),
            packet: super::packet::json(&s.packet),
            heartbeats: super::heartbeats::json(s),
            diagnosis: super::diagnosis::json(s, &crate::analysis::diagnosis::Diagnosis::default()),
        }
    }

    /// Replaces the diagnosis with `d`.
    pub fn with_diagnosis(
        mut self,
        s: &RecordingSummary,
        d: &crate::analysis::diagnosis::Diagnosis,
    ) -> Self {
        self.diagnosis = super::diagnosis::json(s, d);
        self
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}
