//! Diagnosis: for each heartbeat gap, the evidence around it, the ranked likely causes, and what
//! to change. Pure: records in, findings and recommendations out.

pub mod advisor;
pub mod build;
pub mod cause;
pub mod evidence;
#[doc(hidden)]
pub mod fixtures;
pub mod recommend;
pub mod rules;
pub mod rx_cpus;
mod timeouts;

use serde::Serialize;

pub use advisor::TimeoutAdvice;
pub use cause::Cause;
pub use evidence::{
    Counter, CpuSoftirq, FlowFate, GapEvidence, ReasonDrops, SelfStall, SourceKind,
};
pub use rules::{Finding, VERDICT_THRESHOLD, judge};

use crate::{
    analysis::{
        RecordingSummary, audit::audit_recording, gaps::Gap, recommendation::Recommendation,
    },
    recording::records::Record,
};

/// One gap, judged.
#[derive(Debug, Clone, Serialize)]
pub struct GapDiagnosis {
    /// 1-based, as `report` and `export --gap N` number gaps.
    pub number: u32,
    pub gap: Gap,
    pub source_spec: String,
    pub evidence: GapEvidence,
    /// Ranked; `findings[0]` is the verdict (may be `unknown`).
    pub findings: Vec<Finding>,
    pub recommendations: Vec<Recommendation>,
}

impl GapDiagnosis {
    pub fn verdict(&self) -> &Finding {
        &self.findings[0]
    }
}

/// Every gap of a recording, judged, and the timeout advice per source.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Diagnosis {
    pub gaps: Vec<GapDiagnosis>,
    pub timeout_advice: Vec<(u32, TimeoutAdvice)>,
    /// CPUs found to take the heartbeat flows' receive work.
    pub rx_cpus: Vec<u32>,
    /// Collectors that were unavailable or degraded, with why (the report's "Not measured").
    pub unavailable: Vec<String>,
    pub lost_events: u64,
}

/// Judges every gap of the recording summarised in `summary`, whose records are `records`.
pub fn diagnose(summary: &RecordingSummary, records: &[Record]) -> Diagnosis {
    let mut f = DiagnosisFold::new(summary);
    for r in records {
        f.add(r);
    }
    f.finish()
}

/// The diagnosis folded over a second pass of the records (the first made `summary`): it keeps
/// per-gap window sums, baseline totals and arrival times, never the records, so memory follows
/// the summary rather than the recording's size.
pub struct DiagnosisFold<'a> {
    summary: &'a RecordingSummary,
    analysis: crate::analysis::GapAnalysis,
    evidence: build::EvidenceFold,
    arrivals: timeouts::Arrivals,
}

impl<'a> DiagnosisFold<'a> {
    pub fn new(summary: &'a RecordingSummary) -> Self {
        let analysis = summary.heartbeats.gaps(summary.last_mono_ns);
        let evidence = build::EvidenceFold::new(summary, &analysis.gaps);
        DiagnosisFold {
            summary,
            analysis,
            evidence,
            arrivals: timeouts::Arrivals::default(),
        }
    }

    /// The evidence windows `[from, to]` of the gaps: softirq intervals outside all of them are
    /// not needed (their baseline comes from the summary), so a reader may skip them undecoded.
    pub fn windows(&self) -> Vec<(u64, u64)> {
        self.analysis.gaps.iter().map(build::window).collect()
    }

    pub fn add(&mut self, r: &Record) {
        self.evidence.add(self.summary, r);
        self.arrivals.add(self.summary, r);
    }

    pub fn finish(self) -> Diagnosis {
        let summary = self.summary;
        let analysis = self.analysis;
        let (evidence, rx) = self.evidence.finish(summary);
        let rx_cpus: Vec<u32> = rx.into_iter().collect();
        let audit = audit_recording(summary, None);
        let app = heartbeat_process(summary);
        let gaps: Vec<GapDiagnosis> = analysis
            .gaps
            .iter()
            .zip(evidence)
            .enumerate()
            .map(|(i, (g, e))| {
                let findings = judge(&e);
                let cx = recommend::Context {
                    config: summary.host_config.as_ref(),
                    audit: &audit,
                    port: build::source_port(summary, g.source),
                    rx_cpus: &rx_cpus,
                    app: app.clone(),
                    online: &summary.header.online_cpus,
                    app_cpus: crate::analysis::audit::app_cpus(summary),
                };
                let recommendations = recommend::recommend(&e, &findings, &cx);
                GapDiagnosis {
                    number: i as u32 + 1,
                    gap: g.clone(),
                    source_spec: source_spec(summary, g.source),
                    evidence: e,
                    findings,
                    recommendations,
                }
            })
            .collect();
        let timeout_advice = timeouts::advice(summary, &self.arrivals, &analysis, &gaps);
        Diagnosis {
            gaps,
            timeout_advice,
            rx_cpus,
            unavailable: not_running(summary),
            lost_events: summary.total_lost(),
        }
    }
}

/// Collectors that did not run in full, one line each: unavailable ones, and degraded ones (e.g.
/// the classic-tracepoint fallback) whose detail says what they could not measure.
fn not_running(summary: &RecordingSummary) -> Vec<String> {
    use crate::recording::records::CollectorState;
    summary
        .collectors
        .values()
        .filter_map(|c| match c.state {
            CollectorState::Unavailable => Some(format!("{}: {}", c.collector, c.detail)),
            CollectorState::Degraded => Some(format!("{} (partly): {}", c.collector, c.detail)),
            _ => None,
        })
        .chain(summary.rejections.iter().map(|r| {
            format!(
                "program {} ({} {}) was refused by this kernel's verifier: {} (whole log: \
                 `report --format json`, program_rejections)",
                r.program,
                r.attach,
                r.tracepoint,
                r.verdict()
            )
        }))
        .collect()
}

/// The spec a source was declared with, or "source N".
pub fn source_spec(s: &RecordingSummary, source: u32) -> String {
    s.heartbeats
        .sources
        .get(&source)
        .and_then(|st| st.declared.as_ref())
        .map_or_else(|| format!("source {source}"), |d| d.spec.clone())
}

/// The watched process with the longest scheduling delay: the heartbeat daemon hbwatch followed.
pub(crate) fn heartbeat_process(s: &RecordingSummary) -> Option<(String, u32)> {
    s.ksched
        .sched
        .values()
        .max_by_key(|t| t.runq.count)
        .map(|t| (t.comm.clone(), t.tgid))
}

#[cfg(test)]
mod recorded_tests;
#[cfg(test)]
mod tests;
