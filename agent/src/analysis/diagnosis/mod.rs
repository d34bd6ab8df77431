//! Diagnosis: for each heartbeat gap, the evidence around it, the ranked likely causes, and what
//! to change; gaps grouped into incidents, and causes ranked by incidents and time lost. Pure:
//! records in, findings and recommendations out.

pub mod advisor;
pub mod build;
pub mod cause;
pub mod evidence;
#[doc(hidden)]
pub mod incidents;
pub mod recommend;
pub mod rules;
pub mod rx_cpus;
pub mod rx_threads;
pub mod rx_work;
mod timeouts;

use serde::Serialize;

pub use advisor::TimeoutAdvice;
pub use cause::Cause;
pub use evidence::{
    Counter, CpuSoftirq, FlowFate, GapEvidence, ReasonDrops, SelfStall, SourceKind,
};
pub use incidents::{CauseRank, Incident};
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
    /// The incident it belongs to (1-based).
    pub incident: u32,
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

impl Diagnosis {
    /// The cause the verdict's headline names; `None` without incidents.
    pub fn top_cause(&self) -> Option<Cause> {
        self.ranking.first().map(|r| r.cause)
    }

    /// Groups the judged gaps into incidents and ranks causes and recommendations.
    pub fn assemble(&mut self) {
        self.incidents = incidents::group(&mut self.gaps);
        self.ranking = incidents::rank(&self.incidents);
        self.recommendations =
            incidents::ordered_recommendations(&self.ranking, &self.incidents, &self.gaps);
        self.totals = Totals {
            gaps: self.gaps.len() as u32,
            incidents: self.incidents.len() as u32,
            lost_ns: self.incidents.iter().map(|i| i.lost_ns).sum(),
            longest_incident_ns: self
                .incidents
                .iter()
                .map(|i| i.length_ns)
                .max()
                .unwrap_or(0),
        };
    }

    /// Narrows the view to gap `n` and its incident; the totals, ranking and recommendation
    /// order stay the whole recording's. `None` when there is no such gap.
    pub fn focus_gap(&mut self, n: u32) -> Option<()> {
        let inc = self.gaps.iter().find(|g| g.number == n)?.incident;
        self.gaps.retain(|g| g.number == n);
        self.incidents.retain(|i| i.number == inc);
        self.focus = Some(Focus::Gap(n));
        Some(())
    }

    /// Narrows the view to incident `n` and its gaps.
    pub fn focus_incident(&mut self, n: u32) -> Option<()> {
        self.incidents.iter().find(|i| i.number == n)?;
        self.incidents.retain(|i| i.number == n);
        self.gaps.retain(|g| g.incident == n);
        self.focus = Some(Focus::Incident(n));
        Some(())
    }

    /// The incident gap `g` belongs to, when it is in view.
    pub fn incident_of(&self, g: &GapDiagnosis) -> Option<&Incident> {
        self.incidents.iter().find(|i| i.number == g.incident)
    }
}

/// Whole-recording counts, kept when a view narrows to one gap or incident.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Totals {
    pub gaps: u32,
    pub incidents: u32,
    /// Heartbeat time lost over all incidents.
    pub lost_ns: u64,
    pub longest_incident_ns: u64,
}

/// What a narrowed view shows (`report --gap N` / `--incident N`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Focus {
    Gap(u32),
    Incident(u32),
}

/// Every gap of a recording, judged, grouped into incidents, and the timeout advice per source.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Diagnosis {
    pub incidents: Vec<Incident>,
    pub gaps: Vec<GapDiagnosis>,
    /// Causes in the verdict's order; `ranking[0]` is the headline's cause.
    pub ranking: Vec<CauseRank>,
    /// Every recommendation once, in the verdict's order: `[1]` is the first fix.
    pub recommendations: Vec<crate::analysis::recommendation::Recommendation>,
    pub totals: Totals,
    pub focus: Option<Focus>,
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
                let mut findings = judge(&e);
                let cx = recommend::Context {
                    config: summary.host_config.as_ref(),
                    audit: &audit,
                    port: build::source_port(summary, g.source),
                    rx_cpus: &rx_cpus,
                    app: app.clone(),
                    online: &summary.header.online_cpus,
                    app_cpus: crate::analysis::audit::app_cpus(summary),
                };
                rx_work::annotate(&mut findings, &e, &cx);
                let recommendations = recommend::recommend(&e, &findings, &cx);
                GapDiagnosis {
                    number: i as u32 + 1,
                    incident: 0,
                    gap: g.clone(),
                    source_spec: source_spec(summary, g.source),
                    evidence: e,
                    findings,
                    recommendations,
                }
            })
            .collect();
        let timeout_advice = timeouts::advice(summary, &self.arrivals, &analysis, &gaps);
        let mut d = Diagnosis {
            gaps,
            timeout_advice,
            rx_cpus,
            unavailable: not_running(summary),
            lost_events: summary.total_lost(),
            ..Diagnosis::default()
        };
        d.assemble();
        d
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
    // Receive threads hbwatch watched on its own (threaded models) are not the daemon.
    s.ksched
        .sched
        .values()
        .filter(|t| !s.is_rx_thread(t.tgid))
        .max_by_key(|t| t.runq.count)
        .map(|t| (t.comm.clone(), t.tgid))
}

#[cfg(test)]
mod incidents_tests;
#[cfg(test)]
mod recorded_tests;
#[cfg(test)]
mod tests;
