//! Per heartbeat source: its arrivals, its probes' round trips, its gaps numbered as the report
//! numbers them with the finding that explains each, and where it stands at a given moment.

use std::collections::BTreeMap;

use crate::{
    analysis::{
        RecordingSummary,
        diagnosis::{Cause, Diagnosis, Finding, Incident},
        heartbeats::SourceDeclaredJson,
        recommendation::Recommendation,
    },
    recording::records::Record,
};

/// Arrivals of one heartbeat source, monotonic, in time order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeartbeatSeries {
    /// Stable source name, e.g. "corosync:eth0" or "log:/var/log/app.log".
    pub source: String,
    pub arrivals_mono_ns: Vec<u64>,
}

/// One heartbeat gap: the silence between `last_arrival_mono_ns` and `next_arrival_mono_ns`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GapInput {
    /// The number users pass to `--gap N` (as the report prints it).
    pub number: u32,
    pub source: String,
    pub last_arrival_mono_ns: u64,
    /// None while the gap was still open when the recording ended.
    pub next_arrival_mono_ns: Option<u64>,
    /// When the kernel evidence says the trouble began (before the silence was noticed).
    pub onset_mono_ns: Option<u64>,
    /// When the gap became detectable (last arrival + the source's expected period × tolerance).
    pub detected_mono_ns: Option<u64>,
    /// One-line verdict ("NET_RX starved on CPU 1 by ksoftirqd"), shown as an annotation.
    pub verdict: Option<String>,
    /// Short cause class ("softirq-wait", "drops", "app-stall"), used for grouping.
    pub cause: Option<String>,
}

impl GapInput {
    /// End of the silence: the next arrival, or `fallback` when the gap never closed.
    pub fn end_mono_ns(&self, fallback: u64) -> u64 {
        self.next_arrival_mono_ns.unwrap_or(fallback)
    }
}

/// Latency samples of one heartbeat probe (e.g. a UDP echo), as (sent at, round-trip ns).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProbeLatency {
    pub probe: String,
    pub samples: Vec<(u64, u64)>,
}

/// Arrivals per declared source, by the rules the gap detector uses.
pub fn heartbeat_series(summary: &RecordingSummary, records: &[Record]) -> Vec<HeartbeatSeries> {
    let hb = &summary.heartbeats;
    let mut by: BTreeMap<u32, Vec<u64>> = hb.sources.keys().map(|&id| (id, Vec::new())).collect();
    for a in records.iter().filter_map(|r| hb.arrival_of(r)) {
        by.entry(a.source).or_default().push(a.at_mono_ns);
    }
    by.into_iter()
        .map(|(id, mut arrivals_mono_ns)| {
            arrivals_mono_ns.sort_unstable();
            HeartbeatSeries {
                source: hb.source_name(id),
                arrivals_mono_ns,
            }
        })
        .collect()
}

/// The gaps numbered as `report` numbers them (1-based, by start), open ones without an end;
/// without verdicts (see [`gap_finding`]).
pub fn gap_inputs(summary: &RecordingSummary) -> Vec<GapInput> {
    let hb = &summary.heartbeats;
    hb.gaps(summary.last_mono_ns)
        .gaps
        .iter()
        .enumerate()
        .map(|(i, g)| GapInput {
            number: i as u32 + 1,
            source: hb.source_name(g.source),
            last_arrival_mono_ns: g.start_mono_ns,
            next_arrival_mono_ns: (!g.open).then_some(g.end_mono_ns),
            onset_mono_ns: g.onset_estimate_mono_ns,
            detected_mono_ns: Some(g.detected_mono_ns),
            verdict: None,
            cause: None,
        })
        .collect()
}

/// The finding that explains gap `number`: its incident's first, which weighs every source that
/// saw it, as the report does; else the gap's own.
pub fn gap_finding(diagnosis: &Diagnosis, number: u32) -> Option<&Finding> {
    let d = diagnosis.gaps.iter().find(|d| d.number == number)?;
    let incident = diagnosis.incident_of(d).map(|i| &i.findings);
    incident.unwrap_or(&d.findings).first()
}

/// Successful probe round trips per probing source, as (sent at, latency).
pub fn probe_latencies(summary: &RecordingSummary, records: &[Record]) -> Vec<ProbeLatency> {
    let mut by: BTreeMap<u32, Vec<(u64, u64)>> = BTreeMap::new();
    for r in records {
        if let Record::Probe(p) = r
            && p.error.is_none()
        {
            by.entry(p.source)
                .or_default()
                .push((p.start_mono_ns, p.latency_ns));
        }
    }
    by.into_iter()
        .map(|(id, samples)| ProbeLatency {
            probe: summary.heartbeats.source_name(id),
            samples,
        })
        .collect()
}

/// Where one declared source stands at a moment, as the gap detector sees it.
#[derive(Debug, Clone)]
pub struct SourceState<'a> {
    pub name: String,
    pub declared: Option<&'a SourceDeclaredJson>,
    /// `None` while the interval is still being learned.
    pub expected_interval_ns: Option<u64>,
    pub gap_threshold_ns: Option<u64>,
    pub last_arrival_mono_ns: Option<u64>,
    /// A gap is open now (the detector decides, even below the threshold).
    pub gap_open: bool,
    /// Gaps so far, a running silence included.
    pub gaps: u64,
    /// The latest judged gap's number and cause.
    pub latest_gap: Option<(u32, Cause)>,
}

/// One state per declared source at `now_mono_ns`, with the cause of each source's latest
/// judged gap from `diagnosis`.
pub fn source_states<'a>(
    summary: &'a RecordingSummary,
    now_mono_ns: u64,
    diagnosis: Option<&Diagnosis>,
) -> Vec<SourceState<'a>> {
    let hb = &summary.heartbeats;
    let open = hb.detector.open_silences(now_mono_ns);
    hb.sources
        .iter()
        .map(|(&id, stats)| {
            let now = hb.detector.source_now(id);
            let gap_open = open.iter().any(|&(s, _)| s == id);
            SourceState {
                name: hb.source_name(id),
                declared: stats.declared.as_ref(),
                expected_interval_ns: now.and_then(|n| n.expected_interval_ns),
                gap_threshold_ns: now.and_then(|n| n.gap_threshold_ns),
                last_arrival_mono_ns: now.and_then(|n| n.last_arrival_mono_ns),
                gap_open,
                // A running silence is a gap the operator sees now: count it.
                gaps: now.map_or(0, |n| n.gaps) + u64::from(gap_open),
                latest_gap: diagnosis.and_then(|d| {
                    let g = d
                        .gaps
                        .iter()
                        .filter(|g| g.gap.source == id)
                        .max_by_key(|g| g.gap.start_mono_ns)?;
                    Some((g.number, g.verdict().cause))
                }),
            }
        })
        .collect()
}

/// The incident that started last, and its first recommendation.
pub fn latest_incident(d: &Diagnosis) -> Option<(&Incident, Option<&Recommendation>)> {
    let i = d.incidents.iter().max_by_key(|i| i.start_mono_ns)?;
    let first = i
        .recommendations
        .first()
        .and_then(|id| d.recommendations.iter().find(|r| &r.id == id));
    Some((i, first))
}

/// Silence beyond this multiple of the expected interval is late (before it is a gap).
const LATE_FACTOR: f64 = 1.5;

/// Where a heartbeat source stands at a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// Nothing has arrived yet.
    Waiting,
    /// Arrivals, but the expected interval is not known yet.
    Learning,
    Ok,
    /// Silent for longer than the expected interval allows, not yet a gap.
    Late,
    /// Silent past the gap threshold: a gap is in progress.
    Gap,
}

/// A source's silence at `now_mono_ns` (0 before its first arrival) and where that leaves it,
/// given its expected interval and gap threshold (`None` while learning) and whether the gap
/// detector holds a gap open (its word wins, even below the threshold).
pub fn standing(
    now_mono_ns: u64,
    last_arrival_mono_ns: Option<u64>,
    expected_interval_ns: Option<u64>,
    gap_threshold_ns: Option<u64>,
    gap_open: bool,
) -> (u64, Standing) {
    let silence_ns = last_arrival_mono_ns.map_or(0, |t| now_mono_ns.saturating_sub(t));
    let standing = match (last_arrival_mono_ns, expected_interval_ns, gap_threshold_ns) {
        _ if gap_open => Standing::Gap,
        (None, _, _) => Standing::Waiting,
        (Some(_), _, Some(t)) if silence_ns >= t => Standing::Gap,
        (Some(_), Some(e), _) if silence_ns as f64 > e as f64 * LATE_FACTOR => Standing::Late,
        (Some(_), None, _) => Standing::Learning,
        (Some(_), Some(_), _) => Standing::Ok,
    };
    (silence_ns, standing)
}
