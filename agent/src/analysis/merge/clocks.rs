//! Aligning the hosts' clocks. Every host's monotonic clock is mapped onto host 0's. Recordings
//! of one boot share it exactly. Other hosts start from their wall clocks (the recording's start
//! anchor), then the matched packets correct that: with heartbeats both ways, the offset is half
//! the difference of the two directions' shortest delays, within half their sum (the usual
//! two-way bound, as NTP's); with heartbeats one way only, no packet may arrive before it left.

use serde::Serialize;

use super::HostInput;

/// One matched packet: sent on host `from`'s monotonic clock, seen on host `to`'s.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub from: usize,
    pub to: usize,
    pub sent: u64,
    pub seen: u64,
}

/// Each host's monotonic clock onto host 0's: `t0 = t + shift[h]`.
#[derive(Debug, Clone)]
pub struct Shifts {
    shift: Vec<i64>,
    /// Half-width of the uncertainty of `shift[h]`; None when unbounded (one-way, other boot).
    error: Vec<Option<i64>>,
    fits: Vec<ClockFit>,
    /// Hosts whose wall clock was found seconds off from packets going one way only.
    moved_one_way: Vec<bool>,
}

impl Shifts {
    /// Host `s`'s monotonic time `t` on host `r`'s monotonic clock.
    pub fn map(&self, s: usize, r: usize, t: u64) -> i64 {
        t as i64 + self.shift[s] - self.shift[r]
    }

    /// How far from the mapped time a packet's arrival may be matched.
    pub fn window_ns(&self, s: usize, r: usize) -> i64 {
        match (self.error[s], self.error[r]) {
            (Some(a), Some(b)) => (4 * (a + b)).max(MIN_WINDOW_NS),
            _ => super::COARSE_WINDOW_NS,
        }
    }

    pub fn pairs(&self) -> Vec<ClockFit> {
        self.fits.clone()
    }
}

/// Matching window when the clocks are known well (the wire delay itself fits in it).
const MIN_WINDOW_NS: i64 = 200_000_000;

/// How one host's clock relates to host 0's, and how that was found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClockFit {
    /// Host indexes: `b`'s clock is compared with `a`'s (a is host 0).
    pub a: usize,
    pub b: usize,
    /// wall(b) − wall(a) at one instant.
    pub offset_ns: i64,
    /// The offset is within ± this; None when nothing bounds it.
    pub error_ns: Option<i64>,
    /// Change of the offset over the recording, in parts per million; None with too few packets.
    pub drift_ppm: Option<f64>,
    pub method: String,
    /// Matched packets a → b and b → a.
    pub samples_ab: u64,
    pub samples_ba: u64,
}

/// From the wall clocks alone (or one clock, for one boot).
pub fn from_walls(inputs: &[HostInput]) -> Shifts {
    let base = inputs.first();
    let shift = inputs
        .iter()
        .map(|h| match base {
            Some(b) if same_boot(b, h) => 0,
            Some(b) => h.wall_offset_ns - b.wall_offset_ns,
            None => 0,
        })
        .collect();
    Shifts {
        shift,
        error: vec![None; inputs.len()],
        fits: Vec::new(),
        moved_one_way: vec![false; inputs.len()],
    }
}

/// A candidate pairing of a sent and a received packet of one identity: the delay it implies on
/// the current mapping.
#[derive(Debug, Clone, Copy)]
pub struct Candidate {
    pub from: usize,
    pub to: usize,
    pub delay: i64,
}

/// Width of the delay histogram's bins when finding the wall clocks' error.
const BIN_NS: i64 = 10_000_000;

/// Corrects the wall clocks' error (NTP off by seconds) before packets are matched: the true
/// pairings of a flow share one delay, so the densest bin of candidate delays gives each host's
/// error against host 0. Hosts of host 0's boot, or never paired with it, keep their shift.
pub fn refine(inputs: &[HostInput], shifts: &mut Shifts, cands: &[Candidate]) {
    for b in 1..inputs.len() {
        if same_boot(&inputs[0], &inputs[b]) {
            continue;
        }
        // e: host b's shift error. 0 → b delays read delay − e; b → 0 ones delay + e.
        let mut v: Vec<i64> = cands
            .iter()
            .filter_map(|c| match (c.from, c.to) {
                (0, t) if t == b => Some(-c.delay),
                (f, 0) if f == b => Some(c.delay),
                _ => None,
            })
            .collect();
        if v.is_empty() {
            continue;
        }
        let both = cands.iter().any(|c| (c.from, c.to) == (0, b))
            && cands.iter().any(|c| (c.from, c.to) == (b, 0));
        v.sort_unstable();
        let mut best = (0usize, 0usize);
        let mut lo = 0;
        for hi in 0..v.len() {
            while v[hi] - v[lo] > BIN_NS {
                lo += 1;
            }
            if hi + 1 - lo > best.1 - best.0 {
                best = (lo, hi + 1);
            }
        }
        let bin = &v[best.0..best.1];
        let e = bin[bin.len() / 2];
        // One way, the delay cannot be told from the offset: only a wall clock seconds off
        // (so far that matching would fail) is moved, and the report says so.
        if both || e.abs() > super::COARSE_WINDOW_NS / 2 {
            shifts.shift[b] += e;
            shifts.moved_one_way[b] = !both;
        }
    }
}

fn same_boot(a: &HostInput, b: &HostInput) -> bool {
    !a.boot_id.is_empty() && a.boot_id == b.boot_id
}

/// Shortest one-way delay among `delays`, and the offset correction per half of the run.
fn min_of(delays: &[(u64, i64)]) -> Option<i64> {
    delays.iter().map(|&(_, d)| d).min()
}

/// The final shifts: each host against host 0, from the matched packets.
pub fn fit(inputs: &[HostInput], coarse: &Shifts, samples: &[Sample]) -> Shifts {
    let mut out = coarse.clone();
    if inputs.is_empty() {
        return out;
    }
    out.error[0] = Some(0);
    for b in 1..inputs.len() {
        // Delays on the coarse mapping: (send time on host 0's clock, delay).
        let dir = |from: usize, to: usize| -> Vec<(u64, i64)> {
            samples
                .iter()
                .filter(|s| s.from == from && s.to == to)
                .map(|s| {
                    let sent0 = coarse.map(from, 0, s.sent);
                    (
                        sent0.max(0) as u64,
                        s.seen as i64 - coarse.map(from, to, s.sent),
                    )
                })
                .collect()
        };
        let (ab, ba) = (dir(0, b), dir(b, 0));
        let mut fit = ClockFit {
            a: 0,
            b,
            offset_ns: 0,
            error_ns: None,
            drift_ppm: None,
            method: String::new(),
            samples_ab: ab.len() as u64,
            samples_ba: ba.len() as u64,
        };
        if same_boot(&inputs[0], &inputs[b]) {
            fit.error_ns = Some(0);
            fit.method = "same boot: one monotonic clock".into();
            out.error[b] = Some(0);
        } else {
            // wall(b) − wall(a) as the anchors say, then corrected by θ.
            let walls = inputs[b].wall_offset_ns - inputs[0].wall_offset_ns;
            let base = walls - coarse.shift[b];
            match (min_of(&ab), min_of(&ba)) {
                (Some(x), Some(y)) => {
                    let theta = (x - y) / 2;
                    fit.offset_ns = base + theta;
                    fit.error_ns = Some(((x + y) / 2).max(0));
                    fit.drift_ppm = drift(&ab, &ba);
                    fit.method =
                        "heartbeats both ways: half the difference of the shortest delays".into();
                    // θ > 0: b's clock is ahead, so b's monotonic time maps to less on host 0's.
                    out.shift[b] = coarse.shift[b] - theta;
                    out.error[b] = fit.error_ns;
                }
                (x, y) => {
                    // One way: no packet may arrive before it left.
                    let m = x.or(y.map(|v| -v));
                    let moved = match (x, y) {
                        (Some(v), None) if v < 0 => v,
                        (None, Some(v)) if v < 0 => -v,
                        _ => 0,
                    };
                    fit.offset_ns = base + moved;
                    out.shift[b] = coarse.shift[b] - moved;
                    fit.method = match (m, moved) {
                        (None, _) => "wall clocks only (no heartbeat matched between them)".into(),
                        _ if coarse.moved_one_way[b] => "wall clocks seconds apart, moved to the \
                            heartbeats' common delay (one way only: the delay itself is unknown)"
                            .into(),
                        (_, 0) => "wall clocks (heartbeats one way only: unbounded)".into(),
                        _ => "wall clocks, moved so that no heartbeat arrives before it left \
                              (one way only)"
                            .into(),
                    };
                }
            }
        }
        out.fits.push(fit);
    }
    out
}

/// Drift from the two halves of the run: θ in each, over the time between their middles.
fn drift(ab: &[(u64, i64)], ba: &[(u64, i64)]) -> Option<f64> {
    if ab.len() < 8 || ba.len() < 8 {
        return None;
    }
    let lo = ab.iter().chain(ba).map(|x| x.0).min()?;
    let hi = ab.iter().chain(ba).map(|x| x.0).max()?;
    let mid = lo + (hi - lo) / 2;
    let half = |v: &[(u64, i64)], first: bool| -> Option<i64> {
        v.iter().filter(|x| (x.0 < mid) == first).map(|x| x.1).min()
    };
    let t1 = (half(ab, true)? - half(ba, true)?) / 2;
    let t2 = (half(ab, false)? - half(ba, false)?) / 2;
    let span = (hi - lo) as f64 / 2.0;
    (span > 0.0).then(|| (t2 - t1) as f64 / span * 1e6)
}
