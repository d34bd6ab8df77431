//! Incidents: the gaps of all sources that overlap in time, or lie within [`JOIN_NS`] of each
//! other, are one event on the cluster (a port source's silence, the daemon's "token lost"
//! line and its "link down" line all tell of one firewall rule). Each incident gets the combined
//! evidence and ranked causes of its gaps; the verdict ranks causes by incidents and heartbeat
//! time lost, so the number of lines a daemon prints never decides the headline.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{
    GapDiagnosis,
    cause::Cause,
    rules::{CONSEQUENCE, Finding, VERDICT_THRESHOLD},
};
use crate::analysis::recommendation::Recommendation;

/// Gaps this close (end of one to onset of the next) belong to one incident.
pub const JOIN_NS: u64 = 2_000_000_000;
/// Causes combined below this are not listed with an incident (its gaps still list them).
const NEGLIGIBLE: f64 = 0.1;
/// `peer_or_upstream`'s most where a gap of the incident found a drop on this host.
const EXCLUDED: f64 = 0.3;
/// Evidence lines kept per cause of an incident.
const EVIDENCE_KEEP: usize = 6;

#[derive(Debug, Clone, Serialize)]
pub struct Incident {
    /// 1-based, as `report --incident N` numbers them.
    pub number: u32,
    /// Earliest onset of its gaps.
    pub start_mono_ns: u64,
    /// Latest end of its gaps.
    pub end_mono_ns: u64,
    pub length_ns: u64,
    /// Heartbeat time lost: the union of its gaps' spans.
    pub lost_ns: u64,
    /// Source specs, in order of first gap.
    pub sources: Vec<String>,
    /// Peers named by its gaps.
    pub peers: Vec<String>,
    /// Gap numbers.
    pub gaps: Vec<u32>,
    /// Some gap was still open when the recording ended.
    pub open: bool,
    /// Ranked; `findings[0]` is the incident's cause (may be `unknown`).
    pub findings: Vec<Finding>,
    /// Recommendation ids, the top cause's first.
    pub recommendations: Vec<String>,
}

impl Incident {
    pub fn cause(&self) -> &Finding {
        &self.findings[0]
    }
}

/// One cause in the verdict's ranking.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CauseRank {
    pub cause: Cause,
    /// Incidents whose top cause it is.
    pub incidents: u32,
    /// Heartbeat time lost in those incidents.
    pub lost_ns: u64,
    /// Gaps in those incidents.
    pub gaps: u32,
    /// The highest confidence among those incidents.
    pub confidence: f64,
}

fn onset(g: &GapDiagnosis) -> u64 {
    g.gap.onset_estimate_mono_ns.unwrap_or(g.gap.start_mono_ns)
}

/// Length of the union of `spans`.
fn union_ns(mut spans: Vec<(u64, u64)>) -> u64 {
    spans.sort_unstable();
    let (mut total, mut cur): (u64, Option<(u64, u64)>) = (0, None);
    for (a, b) in spans {
        cur = match cur {
            Some((s, e)) if a <= e => Some((s, e.max(b))),
            Some((s, e)) => {
                total += e - s;
                Some((a, b))
            }
            None => Some((a, b)),
        };
    }
    total + cur.map_or(0, |(s, e)| e - s)
}

/// Longest join of a reported loss: a daemon that logs one line per lost probe during one outage
/// (memberlist: a line every few seconds of a 5 s flood) tells one incident.
pub const LOSS_JOIN_MAX_NS: u64 = 3_000_000_000;

/// How close a gap's onset must come to the incident before it to join it: [`JOIN_NS`], and for
/// a loss a log line reported, three times the silence it implies (at most
/// [`LOSS_JOIN_MAX_NS`]).
pub fn join_of(g: &crate::analysis::Gap) -> u64 {
    match g.kind {
        crate::analysis::gaps::GapKind::Silence => JOIN_NS,
        _ => g
            .length_ns
            .saturating_mul(3)
            .clamp(JOIN_NS, LOSS_JOIN_MAX_NS),
    }
}

/// The incident (0-based, in time order) of each (onset, end, join) span: spans that overlap,
/// or whose onset lies within its `join` of the spans before it, share one.
pub fn group_spans(spans: &[(u64, u64, u64)]) -> Vec<u32> {
    let mut order: Vec<usize> = (0..spans.len()).collect();
    order.sort_by_key(|&i| (spans[i].0, i));
    let mut out = vec![0u32; spans.len()];
    let (mut n, mut end): (Option<u32>, u64) = (None, 0);
    for i in order {
        let (onset, e, join) = spans[i];
        n = match n {
            Some(k) if onset <= end.saturating_add(join) => {
                end = end.max(e);
                Some(k)
            }
            k => {
                end = e;
                Some(k.map_or(0, |k| k + 1))
            }
        };
        out[i] = n.unwrap_or(0);
    }
    out
}

/// Groups `gaps` into incidents and sets each gap's `incident`.
pub fn group(gaps: &mut [GapDiagnosis]) -> Vec<Incident> {
    let spans: Vec<(u64, u64, u64)> = gaps
        .iter()
        .map(|g| (onset(g), g.gap.end_mono_ns, join_of(&g.gap)))
        .collect();
    let of = group_spans(&spans);
    let count = of.iter().max().map_or(0, |m| m + 1);
    for (g, n) in gaps.iter_mut().zip(&of) {
        g.incident = n + 1;
    }
    (0..count)
        .map(|n| {
            let member: Vec<&GapDiagnosis> = gaps.iter().filter(|g| g.incident == n + 1).collect();
            incident(n + 1, &member)
        })
        .collect()
}

fn incident(number: u32, gaps: &[&GapDiagnosis]) -> Incident {
    let start = gaps.iter().map(|g| onset(g)).min().unwrap_or(0);
    let end = gaps
        .iter()
        .map(|g| g.gap.end_mono_ns)
        .max()
        .unwrap_or(start);
    let lost = union_ns(gaps.iter().map(|g| (onset(g), g.gap.end_mono_ns)).collect()).max(1);
    let mut sources: Vec<String> = Vec::new();
    let mut peers: Vec<String> = Vec::new();
    for g in gaps {
        if !sources.contains(&g.source_spec) {
            sources.push(g.source_spec.clone());
        }
        if let Some(p) = &g.gap.peer
            && !peers.contains(p)
        {
            peers.push(p.clone());
        }
    }
    let findings = combine(gaps, lost);
    let top = findings[0].cause;
    let mut recommendations: Vec<String> = Vec::new();
    // The top cause's gaps first, so the incident's first fix is for its cause.
    let (first, rest): (Vec<&&GapDiagnosis>, Vec<&&GapDiagnosis>) =
        gaps.iter().partition(|g| g.verdict().cause == top);
    for r in first.iter().chain(&rest).flat_map(|g| &g.recommendations) {
        if !recommendations.contains(&r.id) {
            recommendations.push(r.id.clone());
        }
    }
    let mut numbers: Vec<u32> = gaps.iter().map(|g| g.number).collect();
    numbers.sort_unstable();
    Incident {
        number,
        start_mono_ns: start,
        end_mono_ns: end,
        length_ns: end - start,
        lost_ns: lost,
        sources,
        peers,
        gaps: numbers,
        open: gaps.iter().any(|g| g.gap.open),
        findings,
        recommendations,
    }
}

/// The causes of the gaps, combined: a cause's confidence is its best over the gaps, scaled
/// down where the gaps that support it cover less than a quarter of the time lost (a cause must
/// cover what it explains; many short per-miss lines together may). `unknown` leads only when no
/// cause reaches the verdict threshold.
fn combine(gaps: &[&GapDiagnosis], lost_ns: u64) -> Vec<Finding> {
    let mut by: BTreeMap<Cause, (Finding, Vec<(u64, u64)>)> = BTreeMap::new();
    for g in gaps {
        // A consequence of a stall is not a cause of the incident.
        for f in g
            .findings
            .iter()
            .filter(|f| !f.evidence.iter().any(|e| e == CONSEQUENCE))
        {
            let (e, spans) = by.entry(f.cause).or_insert_with(|| {
                (
                    Finding {
                        cause: f.cause,
                        confidence: 0.0,
                        evidence: Vec::new(),
                    },
                    Vec::new(),
                )
            });
            e.confidence = e.confidence.max(f.confidence);
            spans.push((onset(g), g.gap.end_mono_ns));
            for line in &f.evidence {
                if e.evidence.len() < EVIDENCE_KEEP && !e.evidence.contains(line) {
                    e.evidence.push(line.clone());
                }
            }
        }
    }
    let unknown = by.remove(&Cause::Unknown).map(|(f, _)| f);
    let mut found: Vec<Finding> = by
        .into_values()
        .map(|(mut f, spans)| {
            let cover = (4.0 * union_ns(spans) as f64 / lost_ns as f64).min(1.0);
            f.confidence *= cover;
            f
        })
        .filter(|f| f.confidence >= NEGLIGIBLE)
        .collect();
    // `peer_or_upstream` is a verdict by exclusion ("nothing on this host"): a drop on this host
    // that another gap of the incident found at verdict strength refutes it (a firewall rule's
    // drops end before the daemon's last loss line of that outage).
    if let Some(local) = found
        .iter()
        .find(|f| {
            // A late softirq delays; only a drop says the packets were lost here.
            f.cause.is_network()
                && f.cause != Cause::SoftirqDelay
                && f.confidence >= VERDICT_THRESHOLD
        })
        .map(|f| f.cause)
    {
        for f in found
            .iter_mut()
            .filter(|f| f.cause == Cause::PeerOrUpstream)
        {
            f.confidence = f.confidence.min(EXCLUDED);
            f.evidence.push(format!(
                "another gap of this incident shows {local} on this host"
            ));
        }
    }
    super::rules::rank(&mut found);
    let best = found.first().map_or(0.0, |f| f.confidence);
    if best < VERDICT_THRESHOLD {
        let mut u = unknown.unwrap_or_else(|| Finding {
            cause: Cause::Unknown,
            confidence: 0.0,
            evidence: vec!["no cause on this host is supported well enough".to_owned()],
        });
        u.confidence = u.confidence.max(1.0 - best);
        found.insert(0, u);
    }
    found
}

/// Causes ranked by heartbeat time lost, then by incidents (`unknown` last): the verdict's order.
pub fn rank(incidents: &[Incident]) -> Vec<CauseRank> {
    let mut by: BTreeMap<Cause, CauseRank> = BTreeMap::new();
    for i in incidents {
        let f = i.cause();
        let r = by.entry(f.cause).or_insert(CauseRank {
            cause: f.cause,
            incidents: 0,
            lost_ns: 0,
            gaps: 0,
            confidence: 0.0,
        });
        r.incidents += 1;
        r.lost_ns += i.lost_ns;
        r.gaps += i.gaps.len() as u32;
        r.confidence = r.confidence.max(f.confidence);
    }
    let mut v: Vec<CauseRank> = by.into_values().collect();
    v.sort_by(|a, b| {
        (a.cause == Cause::Unknown)
            .cmp(&(b.cause == Cause::Unknown))
            .then(b.lost_ns.cmp(&a.lost_ns))
            .then(b.incidents.cmp(&a.incidents))
            .then(a.cause.cmp(&b.cause))
    });
    v
}

/// Every recommendation once, in the verdict's order: causes as ranked, within a cause its
/// incidents by time lost, within an incident its top cause's gaps first. `[1]` is the first fix.
pub fn ordered_recommendations(
    ranking: &[CauseRank],
    incidents: &[Incident],
    gaps: &[GapDiagnosis],
) -> Vec<Recommendation> {
    let mut out: Vec<Recommendation> = Vec::new();
    for r in ranking {
        let mut of: Vec<&Incident> = incidents
            .iter()
            .filter(|i| i.cause().cause == r.cause)
            .collect();
        of.sort_by(|a, b| b.lost_ns.cmp(&a.lost_ns).then(a.number.cmp(&b.number)));
        for i in of {
            let member = |top: bool| {
                gaps.iter().filter(move |g| {
                    g.incident == i.number && (g.verdict().cause == r.cause) == top
                })
            };
            for rec in member(true)
                .chain(member(false))
                .flat_map(|g| &g.recommendations)
            {
                if !out
                    .iter()
                    .any(|o| o.id == rec.id && o.subject == rec.subject)
                {
                    out.push(rec.clone());
                }
            }
        }
    }
    out
}
