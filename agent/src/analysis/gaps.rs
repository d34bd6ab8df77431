//! Heartbeat gap detection, pure: arrivals from any source go in (log lines, probe replies,
//! packets on a port), gaps come out, live (one arrival at a time) or over a whole recording.
//!
//! A gap is silence longer than `factor` × the expected interval, which is given or learned as
//! the median of the first inter-arrivals. Lines that report a loss themselves ("missed N",
//! "not scheduled for 3307 ms") become gaps whose onset is estimated back from the logged time.
//! A wall-clock step inside a silence is a clock event, never a gap.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::recording::records::EventKind;

/// Inter-arrivals used to learn an interval.
pub const LEARN_SAMPLES: usize = 8;
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

#[derive(Debug, Clone, Default)]
struct SourceState {
    given_ns: Option<u64>,
    learned_ns: Option<u64>,
    /// Onset estimates only (never the silence threshold).
    hint_ns: Option<u64>,
    last: Option<u64>,
    arrivals: u64,
    out_of_order: u64,
    early: Vec<(u64, u64)>,
}

impl SourceState {
    fn interval(&self) -> Option<u64> {
        self.given_ns.or(self.learned_ns)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SourceGaps {
    pub source: u32,
    pub expected_interval_ns: Option<u64>,
    pub interval_learned: bool,
    pub arrivals: u64,
    pub out_of_order: u64,
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

    /// A wall-clock step (`step_ns` known) or a clock-jump line (unknown) at `at_mono_ns`.
    pub fn clock_event(&mut self, at_mono_ns: u64, step_ns: Option<i64>) {
        self.clock.push((at_mono_ns, step_ns));
    }

    /// Feeds one arrival; returns the gap it closed, if any.
    pub fn arrival(&mut self, a: &Arrival) -> Option<Gap> {
        let s = self.sources.entry(a.source).or_default();
        s.arrivals += 1;
        let Some(last) = s.last else {
            s.last = Some(a.at_mono_ns);
            return None;
        };
        if a.at_mono_ns < last {
            s.out_of_order += 1;
            return None;
        }
        s.last = Some(a.at_mono_ns);
        if s.interval().is_none() {
            s.early.push((last, a.at_mono_ns));
            if s.early.len() < LEARN_SAMPLES {
                return None;
            }
            let mut d: Vec<u64> = s.early.iter().map(|(p, n)| n - p).collect();
            d.sort_unstable();
            s.learned_ns = Some(d[d.len() / 2].max(1_000_000));
            // Silences during learning are judged once the interval is known.
            let early = std::mem::take(&mut s.early);
            let mut found = None;
            for (p, n) in early {
                found = self
                    .silence(a.source, p, n, false, a.peer.clone())
                    .or(found);
            }
            return found;
        }
        self.silence(a.source, last, a.at_mono_ns, false, a.peer.clone())
    }

    fn silence(
        &mut self,
        source: u32,
        start: u64,
        end: u64,
        open: bool,
        peer: Option<String>,
    ) -> Option<Gap> {
        let interval = self.sources.get(&source)?.interval()?;
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
        };
        self.gaps.push(g.clone());
        Some(g)
    }

    /// A line that reports a loss: a gap from the estimated onset to the logged time.
    pub fn reported(&mut self, r: &Reported) -> Gap {
        let s = self.sources.get(&r.source);
        let interval = s.and_then(|s| s.interval().or(s.hint_ns));
        let logged = r.logged_mono_ns.unwrap_or(r.read_mono_ns);
        let back = r.measured_ns.or_else(|| Some(r.count? * interval?));
        let onset = back.map(|b| logged.saturating_sub(b));
        let g = Gap {
            source: r.source,
            kind: if r.kind == EventKind::SelfStall {
                GapKind::SelfStall
            } else {
                GapKind::PeerSilence
            },
            start_mono_ns: onset.unwrap_or(logged),
            end_mono_ns: logged,
            length_ns: back.unwrap_or(0),
            open: false,
            detected_mono_ns: r.read_mono_ns,
            onset_estimate_mono_ns: onset,
            expected_interval_ns: interval,
            peer: r.peer.clone(),
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
        let interval = s.interval();
        Some(SourceNow {
            last_arrival_mono_ns: s.last,
            expected_interval_ns: interval,
            gap_threshold_ns: interval.map(|i| (i as f64 * self.factor) as u64),
            gaps: self.gaps.iter().filter(|g| g.source == source).count() as u64,
        })
    }

    /// Silences still running at `now` (for the live view); nothing is recorded.
    pub fn open_silences(&self, now_mono_ns: u64) -> Vec<(u32, u64)> {
        self.sources
            .iter()
            .filter_map(|(id, s)| {
                let (last, iv) = (s.last?, s.interval()?);
                let silent = now_mono_ns.saturating_sub(last);
                (silent as f64 > iv as f64 * self.factor).then_some((*id, last))
            })
            .collect()
    }

    /// Closes the analysis at `end_mono_ns`: running silences become open gaps.
    pub fn finish(mut self, end_mono_ns: u64) -> GapAnalysis {
        let running: Vec<(u32, u64)> = self
            .sources
            .iter()
            .filter_map(|(id, s)| Some((*id, s.last?)))
            .collect();
        for (id, last) in running {
            if end_mono_ns > last {
                self.silence(id, last, end_mono_ns, true, None);
            }
        }
        self.gaps.sort_by_key(|g| (g.start_mono_ns, g.source));
        GapAnalysis {
            gap_factor: self.factor,
            gaps: self.gaps,
            clock_excused: self.excused,
            sources: self
                .sources
                .iter()
                .map(|(id, s)| SourceGaps {
                    source: *id,
                    expected_interval_ns: s.interval(),
                    interval_learned: s.given_ns.is_none() && s.learned_ns.is_some(),
                    arrivals: s.arrivals,
                    out_of_order: s.out_of_order,
                })
                .collect(),
        }
    }
}

#[cfg(test)]
#[path = "gaps_tests.rs"]
mod tests;
