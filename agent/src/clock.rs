//! Clocks: CLOCK_MONOTONIC for every measurement (the same clock as `bpf_ktime_get_ns`),
//! CLOCK_REALTIME only for display and for matching log timestamps.

use serde::{Deserialize, Serialize};

/// CLOCK_MONOTONIC and CLOCK_REALTIME read back to back. A change in their difference between two
/// anchors is a wall-clock step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockAnchor {
    pub mono_ns: u64,
    pub realtime_ns: i64,
}

impl ClockAnchor {
    /// Wall-clock time of a monotonic instant, assuming no step since this anchor.
    pub fn realtime_of(&self, mono_ns: u64) -> i64 {
        self.realtime_ns + (mono_ns as i64 - self.mono_ns as i64)
    }

    /// realtime − monotonic: constant while the wall clock does not step.
    pub fn offset_ns(&self) -> i64 {
        self.realtime_ns - self.mono_ns as i64
    }
}

fn read(clock: libc::clockid_t) -> libc::timespec {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock ids used here always exist on Linux.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts
}

/// Nanoseconds of CLOCK_MONOTONIC.
pub fn mono_ns() -> u64 {
    let ts = read(libc::CLOCK_MONOTONIC);
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Nanoseconds of CLOCK_REALTIME since the Unix epoch.
pub fn realtime_ns() -> i64 {
    let ts = read(libc::CLOCK_REALTIME);
    ts.tv_sec * 1_000_000_000 + ts.tv_nsec
}

/// Both clocks, read with monotonic on both sides of realtime and the midpoint kept, so the pair
/// is accurate to the time one clock read takes.
pub fn anchor() -> ClockAnchor {
    let a = mono_ns();
    let rt = realtime_ns();
    let b = mono_ns();
    ClockAnchor {
        mono_ns: a + (b - a) / 2,
        realtime_ns: rt,
    }
}

/// Formats a wall-clock instant for people: local time, millisecond precision.
pub fn display_realtime(realtime_ns: i64) -> String {
    match jiff::Timestamp::from_nanosecond(realtime_ns as i128) {
        Ok(ts) => ts
            .to_zoned(jiff::tz::TimeZone::system())
            .strftime("%Y-%m-%d %H:%M:%S%.3f %Z")
            .to_string(),
        Err(_) => format!("@{realtime_ns}ns"),
    }
}

/// RFC 3339 in UTC, for machine-readable output.
pub fn rfc3339(realtime_ns: i64) -> String {
    jiff::Timestamp::from_nanosecond(realtime_ns as i128)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn anchor_is_consistent_with_clocks() {
        let a = super::anchor();
        let b = super::anchor();
        assert!(b.mono_ns >= a.mono_ns);
        // No step expected between two reads a few microseconds apart.
        assert!((b.offset_ns() - a.offset_ns()).abs() < 50_000_000);
    }
}
