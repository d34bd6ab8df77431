//! Heartbeat timeout advisor: from the delays actually measured on this host, proposes an interval
//! and timeout that keep a stated safety margin over the worst delay seen.

use serde::Serialize;

use crate::output::units::ns;

/// Timeouts keep this factor over the worst delay seen.
pub const MARGIN: f64 = 2.0;

/// One measured delay that a heartbeat timeout must ride out.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Delay {
    pub ns: u64,
    /// What it was: "inter-arrival p99.9", "self-stall", "NET_RX softirq wait", "probe latency".
    pub what: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimeoutAdvice {
    pub interval_ns: u64,
    /// The timeout hbwatch's own gap detection used (gap factor × interval).
    pub current_timeout_ns: u64,
    pub worst: Delay,
    pub suggested_timeout_ns: u64,
    /// Retries (missed heartbeats tolerated) at the current interval.
    pub suggested_misses: u64,
    pub margin: f64,
    pub text: String,
}

/// Rounds up to a value people configure: 50 ms steps below 1 s, 500 ms steps above.
fn round_up(v: u64) -> u64 {
    let step = if v < 1_000_000_000 {
        50_000_000
    } else {
        500_000_000
    };
    v.div_ceil(step) * step
}

/// Advice for a source with `interval_ns`, given the delays measured; None without delays.
pub fn advise(interval_ns: u64, gap_factor: f64, delays: &[Delay]) -> Option<TimeoutAdvice> {
    if interval_ns == 0 {
        return None;
    }
    let worst = delays.iter().max_by_key(|d| d.ns)?.clone();
    let current = (interval_ns as f64 * gap_factor) as u64;
    let suggested = round_up(((worst.ns as f64 * MARGIN) as u64).max(current));
    let misses = suggested.div_ceil(interval_ns);
    let text = if (current as f64) >= worst.ns as f64 * MARGIN {
        format!(
            "the timeout of {} already keeps a {MARGIN}× margin over the worst delay seen ({}, {}); no change needed",
            ns(current),
            ns(worst.ns),
            worst.what
        )
    } else if current > worst.ns {
        format!(
            "the timeout of {} is above the worst delay seen ({}, {}) but with less than {MARGIN}× margin; {} keeps {MARGIN}× ({} missed heartbeats at {})",
            ns(current),
            ns(worst.ns),
            worst.what,
            ns(suggested),
            misses,
            ns(interval_ns)
        )
    } else {
        format!(
            "the timeout of {} is below the {} worst delay seen ({}); {} keeps a {MARGIN}× margin ({} missed heartbeats at {}) — or remove the delay with the fixes above",
            ns(current),
            ns(worst.ns),
            worst.what,
            ns(suggested),
            misses,
            ns(interval_ns)
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

    fn d(ms: u64, what: &str) -> Delay {
        Delay {
            ns: ms * MS,
            what: what.into(),
        }
    }

    #[test]
    fn timeout_below_worst_stall_gets_a_margin() {
        let a = advise(
            1000 * MS,
            1.0,
            &[d(1400, "self-stall"), d(30, "probe latency")],
        )
        .expect("advice");
        assert_eq!(a.worst.what, "self-stall");
        assert_eq!(a.suggested_timeout_ns, 3000 * MS);
        assert_eq!(a.suggested_misses, 3);
        assert!(a.text.contains("below the 1.40s worst delay"), "{}", a.text);
    }

    #[test]
    fn enough_margin_needs_no_change() {
        let a = advise(1000 * MS, 3.0, &[d(200, "inter-arrival p99.9")]).expect("advice");
        assert_eq!(a.suggested_timeout_ns, 3000 * MS);
        assert!(a.text.contains("no change needed"), "{}", a.text);
    }

    #[test]
    fn sub_second_values_round_to_50ms() {
        let a = advise(100 * MS, 2.0, &[d(130, "NET_RX softirq wait")]).expect("advice");
        assert_eq!(a.suggested_timeout_ns, 300 * MS);
        assert!(advise(100 * MS, 2.0, &[]).is_none());
        assert!(advise(0, 2.0, &[d(1, "x")]).is_none());
    }
}
