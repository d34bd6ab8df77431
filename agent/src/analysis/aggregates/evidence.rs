//! Counts of the kernel and heartbeat evidence so far, named: drops by reason/device/port, NAPI
//! budget exhaustion per CPU and device, heartbeat gaps by source and cause, incidents by cause,
//! and per peer its gaps and silence. A gap's cause is its incident's, as in the report.

use std::collections::BTreeMap;

use super::{drops, napi};
use crate::analysis::{
    RecordingSummary,
    diagnosis::{Diagnosis, incidents},
    gaps::Gap,
};

/// The cause of a gap whose diagnosis has not been computed.
pub const CAUSE_UNKNOWN: &str = "unknown";

/// (source, gap start) → cause, from a diagnosis.
pub type Causes = BTreeMap<(u32, u64), &'static str>;

/// The cause of each judged gap: its incident's.
pub fn causes(d: &Diagnosis) -> Causes {
    d.gaps
        .iter()
        .map(|g| {
            let cause = d.incident_of(g).map_or(g.verdict(), |i| i.cause()).cause;
            ((g.gap.source, g.gap.start_mono_ns), cause.as_str())
        })
        .collect()
}

#[derive(Debug, Default, Clone, PartialEq)]
pub struct EvidenceCounts {
    /// (reason, device, port) → drops. The kernel counts drops per device and, separately, per
    /// watched destination port: a series has either `device` or `port` set, never both.
    pub drops: BTreeMap<(String, String, String), u64>,
    /// (cpu, device) → NAPI polls that used their whole budget.
    pub napi_exhausted: BTreeMap<(u32, String), u64>,
    /// (source, cause) → gaps found so far.
    pub gaps: BTreeMap<(String, String), u64>,
    /// cause → incidents found so far (gaps grouped as the report groups them).
    pub incidents: BTreeMap<String, u64>,
    /// (source, peer address) → gaps found so far, and seconds since its last heartbeat.
    pub peer_gaps: BTreeMap<(String, String), u64>,
    pub peer_silence_s: BTreeMap<(String, String), f64>,
}

impl EvidenceCounts {
    /// Everything `s` folded so far; gaps not in `causes` have the cause [`CAUSE_UNKNOWN`].
    pub fn of(s: &RecordingSummary, causes: &Causes) -> EvidenceCounts {
        let mut out = EvidenceCounts::default();
        for d in drops::samples_so_far(&s.packet) {
            let key = (
                d.reason,
                d.device.unwrap_or_default(),
                d.port.map(|p| p.to_string()).unwrap_or_default(),
            );
            *out.drops.entry(key).or_default() += d.count;
        }
        out.napi_exhausted = napi::exhausted_so_far(&s.packet);
        let hb = &s.heartbeats;
        let gaps = hb.detector.gaps_so_far();
        let cause_of = |g: &Gap| causes.get(&(g.source, g.start_mono_ns)).copied();
        for g in gaps {
            let key = (
                hb.source_name(g.source),
                cause_of(g).unwrap_or(CAUSE_UNKNOWN).to_owned(),
            );
            *out.gaps.entry(key).or_default() += 1;
        }
        let spans: Vec<(u64, u64, u64)> = gaps
            .iter()
            .map(|g| {
                (
                    g.onset_estimate_mono_ns.unwrap_or(g.start_mono_ns),
                    g.end_mono_ns,
                    incidents::join_of(g),
                )
            })
            .collect();
        let of = incidents::group_spans(&spans);
        let mut by: BTreeMap<u32, &'static str> = BTreeMap::new();
        for (g, n) in gaps.iter().zip(&of) {
            let known = cause_of(g);
            let e = by.entry(*n).or_insert(CAUSE_UNKNOWN);
            if *e == CAUSE_UNKNOWN
                && let Some(c) = known
            {
                *e = c;
            }
        }
        for cause in by.into_values() {
            *out.incidents.entry(cause.to_owned()).or_default() += 1;
        }
        for &id in hb.sources.keys() {
            for (peer, last) in hb.detector.peers_now(id) {
                let key = (hb.source_name(id), peer);
                out.peer_gaps.entry(key.clone()).or_default();
                let silence = s.last_mono_ns.saturating_sub(last) as f64 / 1e9;
                out.peer_silence_s.insert(key, silence);
            }
        }
        for g in gaps {
            if let Some(p) = &g.peer {
                let addr = p
                    .parse::<std::net::SocketAddr>()
                    .map_or_else(|_| p.clone(), |a| a.ip().to_string());
                *out.peer_gaps
                    .entry((hb.source_name(g.source), addr))
                    .or_default() += 1;
            }
        }
        out
    }
}
