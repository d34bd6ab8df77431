//! Heartbeat timeout advisor: from the delays actually measured on this host, proposes an interval
//! and timeout that keep a stated safety margin over the worst delay seen.

use serde::Serialize;

use crate::units::ns;

/// Timeouts keep this factor over the worst delay seen.
pub const MARGIN: f64 = 2.0;

/// One measured delay that a heartbeat timeout must ride out.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Delay {
    pub ns: u64,
    pub what: DelayKind,
    /// The gap it was (for `gap`), as the report numbers it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gap: Option<u32>,
    /// That gap's cause (for `gap`), e.g. "app_stall".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
}

impl Delay {
    pub fn new(ns: u64, what: DelayKind) -> Self {
        Delay {
            ns,
            what,
            gap: None,
            cause: None,
        }
    }
}

/// What a measured delay was. JSON values are these names in snake_case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DelayKind {
    /// p99.9 of the heartbeat inter-arrival times outside gaps.
    InterArrivalP999,
    /// The largest stall the application logged about itself.
    SelfStall,
    /// The largest round trip of an active probe.
    ProbeLatency,
    /// A gap that recovered by itself (application stall, softirq delay, VM pause).
    Gap,
}

impl std::fmt::Display for Delay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.what, self.gap) {
            (DelayKind::InterArrivalP999, _) => f.write_str("inter-arrival p99.9"),
            (DelayKind::SelfStall, _) => f.write_str("self-stall"),
            (DelayKind::ProbeLatency, _) => f.write_str("probe latency"),
            (DelayKind::Gap, n) => write!(
                f,
                "{} in gap {}",
                self.cause.as_deref().unwrap_or("gap"),
                n.map_or("?".to_owned(), |n| n.to_string())
            ),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimeoutAdvice {
    pub interval_ns: u64,
    /// The timeout hbwatch's own gap detection used (gap factor × interval).
    pub current_timeout_ns: u64,
    pub worst: Delay,
    pub suggested_timeout_ns: u64,
    /// The suggested timeout in heartbeat intervals: `suggested_timeout_ns / interval_ns`.
    pub suggested_misses: u64,
    pub margin: f64,
    pub text: String,
}

/// Advice for a source with `interval_ns`, given the delays measured; None without delays.
/// The suggested timeout is a whole number of heartbeat intervals (what cluster stacks
/// configure), the fewest that keep [`MARGIN`] over the worst delay and never below today's.
pub fn advise(interval_ns: u64, gap_factor: f64, delays: &[Delay]) -> Option<TimeoutAdvice> {
    if interval_ns == 0 {
        return None;
    }
    let worst = delays.iter().max_by_key(|d| d.ns)?.clone();
    let current = (interval_ns as f64 * gap_factor) as u64;
    let needed = ((worst.ns as f64 * MARGIN).ceil() as u64).max(current);
    let misses = needed.div_ceil(interval_ns).max(1);
    let suggested = misses * interval_ns;
    let keeps = format!(
        "{} ({misses} × the {} interval) keeps {:.1}× the worst delay",
        ns(suggested),
        ns(interval_ns),
        suggested as f64 / worst.ns.max(1) as f64
    );
    let text = if (current as f64) >= worst.ns as f64 * MARGIN {
        format!(
            "the timeout of {} already keeps a {MARGIN}× margin over the worst delay seen ({}, {}); no change needed",
            ns(current),
            ns(worst.ns),
            worst
        )
    } else if current > worst.ns {
        format!(
            "the timeout of {} is above the worst delay seen ({}, {}) but with less than a {MARGIN}× margin; {keeps}",
            ns(current),
            ns(worst.ns),
            worst,
        )
    } else {
        format!(
            "the timeout of {} is below the {} worst delay seen ({}); {keeps} — or remove the delay with the fixes above",
            ns(current),
            ns(worst.ns),
            worst,
        )
    };
    Some(TimeoutAdvice {
        interval_ns,
        current_timeout_ns: current,
        worst,
        suggested_timeout_ns: suggested,
        suggested_misses: misses,
        margin: MARGIN,
        text,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    fn d(ms: u64, what: DelayKind) -> Delay {
        Delay::new(ms * MS, what)
    }

    #[test]
    fn timeout_below_worst_stall_gets_a_margin() {
        let a = advise(
            1000 * MS,
            1.0,
            &[
                d(1400, DelayKind::SelfStall),
                d(30, DelayKind::ProbeLatency),
            ],
        )
        .expect("advice");
        assert_eq!(a.worst.what, DelayKind::SelfStall);
        assert_eq!(a.suggested_timeout_ns, 3000 * MS);
        assert_eq!(a.suggested_misses, 3);
        assert!(a.text.contains("below the 1.40s worst delay"), "{}", a.text);
        assert!(
            a.text
                .contains("3.00s (3 × the 1.00s interval) keeps 2.1× the worst delay"),
            "{}",
            a.text
        );
    }

    /// "2.50s keeps 2× (3 missed heartbeats at 1.00s)" said two different timeouts: every
    /// suggestion is now a whole number of intervals, at least MARGIN × the worst delay, and
    /// the text states the same numbers the fields hold.
    #[test]
    fn suggestion_agrees_with_its_own_numbers() {
        for (interval, factor, worst) in [
            (1000, 2.0, 1200),
            (1000, 1.0, 1400),
            (300, 3.0, 700),
            (100, 2.0, 130),
            (1000, 2.0, 1001),
        ] {
            let a =
                advise(interval * MS, factor, &[d(worst, DelayKind::SelfStall)]).expect("advice");
            assert_eq!(
                a.suggested_timeout_ns,
                a.suggested_misses * a.interval_ns,
                "{interval} ms × {factor}, worst {worst} ms: {a:?}"
            );
            assert!(
                a.suggested_timeout_ns as f64 >= MARGIN * a.worst.ns as f64,
                "{a:?}"
            );
            assert!(
                a.suggested_timeout_ns - a.interval_ns < (MARGIN * a.worst.ns as f64) as u64
                    || a.suggested_timeout_ns == a.interval_ns,
                "not the fewest intervals: {a:?}"
            );
            let said = format!(
                "{} ({} × the {} interval)",
                ns(a.suggested_timeout_ns),
                a.suggested_misses,
                ns(a.interval_ns)
            );
            assert!(a.text.contains(&said), "{said:?} not in {:?}", a.text);
        }
    }

    #[test]
    fn enough_margin_needs_no_change() {
        let a = advise(1000 * MS, 3.0, &[d(200, DelayKind::InterArrivalP999)]).expect("advice");
        assert_eq!(a.suggested_timeout_ns, 3000 * MS);
        assert!(a.text.contains("no change needed"), "{}", a.text);
    }

    #[test]
    fn sub_second_values_round_to_50ms() {
        let a = advise(100 * MS, 2.0, &[d(130, DelayKind::Gap)]).expect("advice");
        assert_eq!(a.suggested_timeout_ns, 300 * MS);
        assert!(advise(100 * MS, 2.0, &[]).is_none());
        assert!(advise(0, 2.0, &[d(1, DelayKind::SelfStall)]).is_none());
    }
}
