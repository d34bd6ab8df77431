//! Heartbeat gap detection, pure: arrivals from any source go in (log lines, probe replies,
//! packets on a port), gaps come out, live (one arrival at a time) or over a whole recording.
//!
//! A gap is silence longer than `factor` × the expected interval: given, or learned from a warm-up
//! window by the shape of the inter-arrivals ([`super::interval`]), never below the protocol's own
//! timing when a preset names it, never from inside a gap. Every peer of a source is followed on
//! its own, so a gap is per (source, peer). Lines that report a loss themselves ("missed N", "not
//! scheduled for 3307 ms", "advertisement timeout") become gaps from the estimated onset to the
//! logged time; a source made only of such lines never makes silence gaps. A wall-clock step
//! inside a silence is a clock event, never a gap.

use std::collections::BTreeMap;

use serde::Serialize;

use super::interval::{self, Learned};
use crate::{recording::records::EventKind, units::ns};

/// A gap is silence longer than this many expected intervals, unless `--gap-factor` says otherwise.
pub const DEFAULT_GAP_FACTOR: f64 = 2.0;

/// A clock event this close to a silence's ends counts as inside it (anchors are read once a second).
const CLOCK_SLACK_NS: u64 = 1_100_000_000;

/// One heartbeat seen, from any source. Passive port events, probe replies and log lines all
/// become this.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arrival {
    pub source: u32,
    /// When the heartbeat happened, CLOCK_MONOTONIC.
    pub at_mono_ns: u64,
    pub peer: Option<String>,
    /// Network namespace of the socket that read it (packets on a port); 0 when not known.
    pub netns: u32,
}

/// A line that reports a loss by itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reported {
    pub source: u32,
    /// `PeerSilence` or `SelfStall`.
    pub kind: EventKind,
    /// When hbwatch read the line.
    pub read_mono_ns: u64,
    /// The line's own stamp, on the monotonic clock.
    pub logged_mono_ns: Option<u64>,
    pub count: Option<u64>,
    pub measured_ns: Option<u64>,
    pub peer: Option<String>,
    /// The silence this very line implies by its protocol (corosync's "link down" is the knet
    /// ping timeout), and what it is; before the source's general loss silence.
    pub implied: Option<(u64, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GapKind {
    /// No arrival for longer than factor × interval.
    Silence,
    /// A log line said a peer went silent.
    PeerSilence,
    /// A log line said this process stalled.
    SelfStall,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Gap {
    pub source: u32,
    pub kind: GapKind,
    /// Last arrival before the silence, or the estimated onset of a reported loss.
    pub start_mono_ns: u64,
    /// Next arrival, the end of the recording (`open`), or the logged time of a reported loss.
    pub end_mono_ns: u64,
    pub length_ns: u64,
    /// Still silent when the recording ended.
    pub open: bool,
    /// When it could first be known: last arrival + factor × interval, or when the line was read.
    pub detected_mono_ns: u64,
    /// For reported losses: logged time − duration, or − count × interval.
    pub onset_estimate_mono_ns: Option<u64>,
    pub expected_interval_ns: Option<u64>,
    pub peer: Option<String>,
    /// How a reported loss's length was estimated when the line gave no duration.
    pub estimate: Option<String>,
    /// Network namespace of the socket whose reads went silent (0: not a port, or not known).
    #[serde(skip)]
    pub netns: u32,
}

/// A silence explained by a wall-clock step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClockExcused {
    pub source: u32,
    pub start_mono_ns: u64,
    pub end_mono_ns: u64,
    /// The step, when known (chrony lines do not say).
    pub step_ns: Option<i64>,
}

/// A loss line with no duration, no count and no known interval is taken to mean this long.
const DEFAULT_LOSS_NS: u64 = 1_000_000_000;

/// Timing a preset names for its protocol (see `protocol::wire`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Timing {
    /// The protocol's longest normal silence per peer: a learned interval never goes below it.
    pub floor_ns: Option<u64>,
    pub floor_basis: String,
    /// The silence a loss line without a duration or count implies.
    pub loss_ns: Option<u64>,
    pub loss_basis: String,
    /// Every line of the source reports a loss: its silence is health, never a gap.
    pub loss_only: bool,
}

/// One peer (or, for UDP, one peer's flow) of a source.
#[derive(Debug, Clone)]
struct Series {
    /// As last seen ("10.0.0.2:5405").
    peer: Option<String>,
    first: u64,
    last: u64,
    arrivals: u64,
}

#[derive(Debug, Clone, Default)]
struct SourceState {
    given_ns: Option<u64>,
    learned: Option<Learned>,
    /// Onset estimates only (never the silence threshold).
    hint_ns: Option<u64>,
    timing: Timing,
    first: Option<u64>,
    arrivals: u64,
    out_of_order: u64,
    /// Inter-arrivals of the warm-up, all peers pooled.
    warmup: Vec<u64>,
    /// Silences seen while learning, judged once the interval is known.
    pending: Vec<(SeriesKey, u64, u64)>,
    series: BTreeMap<SeriesKey, Series>,
    /// UDP: each (address, port) flow is a series, so a flood from another socket of the
    /// heartbeat peer's host cannot stand in for its heartbeats.
    by_port: bool,
    /// Addresses whose source port changes from one datagram to the next (a socket per send):
    /// followed by address.
    churning: Vec<(u32, String)>,
}

/// (network namespace, peer): each peer of each namespace's socket is a series.
type SeriesKey = (u32, Option<String>);

impl SourceState {
    fn interval(&self) -> Option<u64> {
        if let Some(g) = self.given_ns {
            return Some(g);
        }
        let learned = self.learned.as_ref().map(|l| l.interval_ns);
        match (learned, self.timing.floor_ns) {
            (Some(l), Some(f)) => Some(l.max(f)),
            (l, f) => l.or(f),
        }
    }

    fn basis(&self, factor: f64) -> String {
        if self.timing.loss_only {
            return "none: this source's lines report losses, so its silence is not a gap"
                .to_owned();
        }
        if let Some(g) = self.given_ns {
            return format!("given: {} (gap after {factor} × that)", ns(g));
        }
        let floor = self.timing.floor_ns.map(|f| (f, &self.timing.floor_basis));
        match (&self.learned, floor) {
            (Some(l), Some((f, why))) if l.interval_ns < f => format!(
                "protocol timing: {why}, so {} (gap after {factor} × that); {} was shorter",
                ns(f),
                l.basis(factor)
            ),
            (Some(l), _) => l.basis(factor),
            (None, Some((f, why))) => format!(
                "protocol timing: {why}, so {} (gap after {factor} × that); not learned yet",
                ns(f)
            ),
            (None, None) => format!(
                "not learned: {} inter-arrival(s) seen, {} needed",
                self.warmup.len(),
                interval::LEARN_FLOOR
            ),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SourceGaps {
    pub source: u32,
    pub expected_interval_ns: Option<u64>,
    pub interval_learned: bool,
    /// How the gap threshold was chosen, in words.
    pub interval_basis: String,
    pub arrivals: u64,
    pub out_of_order: u64,
    /// Peers heard (addresses, or names from log lines), each followed on its own.
    pub peers: Vec<String>,
}

/// Everything the detector found.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct GapAnalysis {
    pub gap_factor: f64,
    pub gaps: Vec<Gap>,
    pub clock_excused: Vec<ClockExcused>,
    pub sources: Vec<SourceGaps>,
}

/// What the detector knows of one source at this moment (for the live view).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceNow {
    pub last_arrival_mono_ns: Option<u64>,
    /// Given or learned; `None` while still learning.
    pub expected_interval_ns: Option<u64>,
    /// Silence longer than this is a gap; `None` while still learning.
    pub gap_threshold_ns: Option<u64>,
    /// Gaps found so far (closed silences and reported losses), not counting one running now.
    pub gaps: u64,
}

#[derive(Debug, Clone)]
pub struct GapDetector {
    factor: f64,
    sources: BTreeMap<u32, SourceState>,
    /// (at, step) of wall-clock steps and chrony jump lines.
    clock: Vec<(u64, Option<i64>)>,
    gaps: Vec<Gap>,
    excused: Vec<ClockExcused>,
}

impl GapDetector {
    pub fn new(factor: f64) -> Self {
        GapDetector {
            factor,
            sources: BTreeMap::new(),
            clock: Vec::new(),
            gaps: Vec::new(),
            excused: Vec::new(),
        }
    }

    pub fn factor(&self) -> f64 {
        self.factor
    }

    /// Declares a source: its given interval (or `None` to learn one) and an interval hint used
    /// only for onset estimates.
    pub fn declare(&mut self, source: u32, interval_ns: Option<u64>, hint_ns: Option<u64>) {
        let s = self.sources.entry(source).or_default();
        s.given_ns = interval_ns.filter(|&i| i > 0);
        s.hint_ns = hint_ns;
    }

    /// A UDP port source: each of a peer's flows (address and port) is followed on its own.
    pub fn follow_flows(&mut self, source: u32) {
        self.sources.entry(source).or_default().by_port = true;
    }

    /// The protocol timing of a declared source (from its preset).
    pub fn set_timing(&mut self, source: u32, timing: Timing) {
        self.sources.entry(source).or_default().timing = timing;
    }

    /// A wall-clock step (`step_ns` known) or a clock-jump line (unknown) at `at_mono_ns`.
    pub fn clock_event(&mut self, at_mono_ns: u64, step_ns: Option<i64>) {
        self.clock.push((at_mono_ns, step_ns));
    }

    /// Feeds one arrival; returns the gap it closed, if any.
    pub fn arrival(&mut self, a: &Arrival) -> Option<Gap> {
        let s = self.sources.entry(a.source).or_default();
        s.arrivals += 1;
        let first = *s.first.get_or_insert(a.at_mono_ns);
        let mut key = s.key(a.netns, a.peer.as_deref());
        if !s.series.contains_key(&key) {
            key = s.new_flow(key);
        }
        let Some(series) = s.series.get_mut(&key) else {
            s.series.insert(
                key,
                Series {
                    peer: a.peer.clone(),
                    first: a.at_mono_ns,
                    last: a.at_mono_ns,
                    arrivals: 1,
                },
            );
            return None;
        };
        series.arrivals += 1;
        if a.at_mono_ns < series.last {
            s.out_of_order += 1;
            return None;
        }
        let last = std::mem::replace(&mut series.last, a.at_mono_ns);
        series.peer.clone_from(&a.peer);
        // Learn even under a protocol floor: a bursty protocol may pause longer than its timing.
        if s.given_ns.is_none() && s.learned.is_none() {
            s.warmup.push(a.at_mono_ns - last);
            let span = a.at_mono_ns - first;
            if interval::ready(&s.warmup, span) {
                s.learned = interval::learn(&s.warmup, span);
                s.warmup = Vec::new();
            }
        }
        if s.interval().is_none() {
            s.pending.push((key, last, a.at_mono_ns));
            return None;
        }
        let earlier = self.judge_pending(a.source);
        self.silence(a.source, &key, last, a.at_mono_ns, false)
            .or(earlier)
    }

    /// Silences seen while learning, judged now that the interval is known; the last gap found.
    fn judge_pending(&mut self, source: u32) -> Option<Gap> {
        let pending = std::mem::take(&mut self.sources.get_mut(&source)?.pending);
        let mut found = None;
        for (key, p, n) in pending {
            found = self.silence(source, &key, p, n, false).or(found);
        }
        found
    }

    fn silence(
        &mut self,
        source: u32,
        key: &SeriesKey,
        start: u64,
        end: u64,
        open: bool,
    ) -> Option<Gap> {
        let s = self.sources.get(&source)?;
        if s.timing.loss_only {
            return None;
        }
        // Reads no peer could be found for, beside reads of known peers, are no one's heartbeat.
        if key.1.is_none() && s.series.keys().any(|k| k.1.is_some()) {
            return None;
        }
        let interval = s.interval()?;
        let peer = s.series.get(key).and_then(|x| x.peer.clone());
        let threshold = (interval as f64 * self.factor) as u64;
        let len = end - start;
        if len <= threshold {
            return None;
        }
        let steps: Vec<Option<i64>> = self
            .clock
            .iter()
            .filter(|(at, _)| *at + CLOCK_SLACK_NS >= start && *at <= end + CLOCK_SLACK_NS)
            .map(|(_, st)| *st)
            .collect();
        if !steps.is_empty() {
            let known: Option<i64> = steps.iter().copied().sum();
            let explained = match known {
                Some(step) => (len as i64 - step) <= threshold as i64,
                None => true,
            };
            if explained {
                self.excused.push(ClockExcused {
                    source,
                    start_mono_ns: start,
                    end_mono_ns: end,
                    step_ns: known,
                });
                return None;
            }
        }
        let g = Gap {
            source,
            kind: GapKind::Silence,
            start_mono_ns: start,
            end_mono_ns: end,
            length_ns: len,
            open,
            detected_mono_ns: start + threshold,
            onset_estimate_mono_ns: None,
            expected_interval_ns: Some(interval),
            peer,
            estimate: None,
            netns: key.0,
        };
        self.gaps.push(g.clone());
        Some(g)
    }

    /// A line that reports a loss: a gap from the estimated onset to the logged time. Its length
    /// is the duration the line gives, its count × the interval, or the silence the protocol
    /// implies (keepalived's advertisement timeout): never 0.
    pub fn reported(&mut self, r: &Reported) -> Gap {
        let s = self.sources.get(&r.source);
        let interval = s.and_then(|s| s.interval().or(s.hint_ns));
        let timing = s.map(|s| &s.timing);
        let logged = r.logged_mono_ns.unwrap_or(r.read_mono_ns);
        let (back, estimate) = match (r.measured_ns.filter(|&m| m > 0), r.count, interval) {
            (Some(m), _, _) => (m, None),
            (None, Some(c), Some(i)) if c > 0 => (c * i, None),
            _ if r.implied.is_some() => r
                .implied
                .clone()
                .map_or((DEFAULT_LOSS_NS, None), |(l, why)| (l.max(1), Some(why))),
            _ => match (
                timing.and_then(|t| t.loss_ns.map(|l| (l, &t.loss_basis))),
                interval,
            ) {
                (Some((l, why)), _) => (l, Some(why.clone())),
                (None, Some(i)) => (
                    (i as f64 * self.factor) as u64,
                    Some(format!("{} × the interval {}", self.factor, ns(i))),
                ),
                (None, None) => (
                    DEFAULT_LOSS_NS,
                    Some(
                        "the line gives no duration and the interval is unknown: 1 s assumed"
                            .to_owned(),
                    ),
                ),
            },
        };
        let onset = logged.saturating_sub(back);
        let g = Gap {
            source: r.source,
            kind: if r.kind == EventKind::SelfStall {
                GapKind::SelfStall
            } else {
                GapKind::PeerSilence
            },
            start_mono_ns: onset,
            end_mono_ns: logged,
            length_ns: logged - onset,
            open: false,
            detected_mono_ns: r.read_mono_ns,
            onset_estimate_mono_ns: Some(onset),
            expected_interval_ns: interval,
            peer: r.peer.clone(),
            estimate,
            netns: 0,
        };
        self.gaps.push(g.clone());
        g
    }

    /// Gaps found so far, in the order they were found; silences still running are not in it.
    pub fn gaps_so_far(&self) -> &[Gap] {
        &self.gaps
    }

    /// The state of `source` now; `None` when it was never declared nor heard.
    pub fn source_now(&self, source: u32) -> Option<SourceNow> {
        let s = self.sources.get(&source)?;
        let interval = s.interval().filter(|_| !s.timing.loss_only);
        Some(SourceNow {
            last_arrival_mono_ns: s.series.values().map(|x| x.last).max(),
            expected_interval_ns: interval,
            gap_threshold_ns: interval.map(|i| (i as f64 * self.factor) as u64),
            gaps: self.gaps.iter().filter(|g| g.source == source).count() as u64,
        })
    }

    /// Every peer of `source` heard so far, with its last arrival (metrics: per-peer silence).
    pub fn peers_now(&self, source: u32) -> Vec<(String, u64)> {
        let Some(s) = self.sources.get(&source) else {
            return Vec::new();
        };
        let mut by: BTreeMap<String, u64> = BTreeMap::new();
        for x in s.series.values() {
            if let Some(p) = &x.peer {
                let e = by.entry(peer_key(p)).or_default();
                *e = (*e).max(x.last);
            }
        }
        by.into_iter().collect()
    }

    /// Silences still running at `now` (for the live view), one per source (its longest, by the
    /// last arrival of its silent peer); nothing is recorded.
    pub fn open_silences(&self, now_mono_ns: u64) -> Vec<(u32, u64)> {
        self.sources
            .iter()
            .filter(|(_, s)| !s.timing.loss_only)
            .filter_map(|(id, s)| {
                let iv = s.interval()?;
                let last = s
                    .series
                    .iter()
                    .filter(|(k, x)| !s.flow_ended(k, x.last))
                    .map(|(_, x)| x.last)
                    .filter(|last| {
                        now_mono_ns.saturating_sub(*last) as f64 > iv as f64 * self.factor
                    })
                    .min()?;
                Some((*id, last))
            })
            .collect()
    }

    /// Closes the analysis at `end_mono_ns`: sources still learning learn from what they saw,
    /// and running silences become open gaps. Among several peers, one heard for less than the
    /// warm-up and never again (a scan, a one-off client) is not followed to the end.
    pub fn finish(self, end_mono_ns: u64) -> GapAnalysis {
        self.finish_in(end_mono_ns, 0)
    }

    /// [`GapDetector::finish`], keeping for a port source only the sockets in `host_netns`
    /// (hbwatch's namespace) when it read there: the port watch sees every namespace, and a
    /// peer's own socket (the stopped peer's unread queue) says nothing of this host's heartbeats.
    pub fn finish_in(mut self, end_mono_ns: u64, host_netns: u32) -> GapAnalysis {
        let learning: Vec<u32> = self
            .sources
            .iter()
            .filter(|(_, s)| s.given_ns.is_none() && s.learned.is_none() && !s.warmup.is_empty())
            .map(|(id, _)| *id)
            .collect();
        for id in learning {
            if let Some(s) = self.sources.get_mut(&id) {
                let span = s.first.map_or(0, |f| {
                    s.series.values().map(|x| x.last).max().unwrap_or(f) - f
                });
                s.learned = interval::learn(&s.warmup, span);
            }
            self.judge_pending(id);
        }
        let running: Vec<(u32, SeriesKey, u64)> = self
            .sources
            .iter()
            .flat_map(|(id, s)| {
                let several = s.series.len() > 1;
                s.series
                    .iter()
                    .filter(move |(_, x)| !several || x.last - x.first >= interval::WARMUP_NS)
                    .filter(|(k, x)| !s.flow_ended(k, x.last))
                    .map(|(k, x)| (*id, k.clone(), x.last))
            })
            .collect();
        for (id, key, last) in running {
            if end_mono_ns > last {
                self.silence(id, &key, last, end_mono_ns, true);
            }
        }
        if host_netns != 0 {
            let local: Vec<u32> = self
                .sources
                .iter()
                .filter(|(_, s)| s.series.keys().any(|k| k.0 == host_netns))
                .map(|(id, _)| *id)
                .collect();
            self.gaps
                .retain(|g| g.netns == 0 || g.netns == host_netns || !local.contains(&g.source));
        }
        self.gaps.sort_by(|a, b| {
            (a.start_mono_ns, a.source, &a.peer).cmp(&(b.start_mono_ns, b.source, &b.peer))
        });
        let factor = self.factor;
        GapAnalysis {
            gap_factor: factor,
            gaps: self.gaps,
            clock_excused: self.excused,
            sources: self
                .sources
                .iter()
                .map(|(id, s)| SourceGaps {
                    source: *id,
                    expected_interval_ns: s.interval().filter(|_| !s.timing.loss_only),
                    interval_learned: s.given_ns.is_none() && s.learned.is_some(),
                    interval_basis: s.basis(factor),
                    arrivals: s.arrivals,
                    out_of_order: s.out_of_order,
                    peers: s
                        .series
                        .iter()
                        .filter(|(k, _)| host_netns == 0 || k.0 == 0 || k.0 == host_netns)
                        .filter_map(|(_, x)| x.peer.clone())
                        .collect(),
                })
                .collect(),
        }
    }
}

#[path = "gaps_flows.rs"]
mod flows;
use flows::peer_key;

#[cfg(test)]
#[path = "gaps_tests.rs"]
mod tests;
