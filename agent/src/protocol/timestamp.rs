//! Log timestamps to wall-clock nanoseconds: every format the presets use, syslog-style stamps
//! without a year (year from the read time, December→January rollover) and zone-less stamps in
//! a chosen zone (`--tz`, default the host's).

use jiff::{Timestamp, civil, fmt::strtime::BrokenDownTime, tz::TimeZone};

/// The shapes hbwatch knows. `Auto` tries them all, most specific first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TsFormat {
    /// RFC 3339 / ISO 8601: `T` or space, `.` or `,` fraction, offset `Z`, `+01:00`, `+0100` or none.
    Iso,
    /// `Nov 22 06:11:44.679`, `May  7 18:37:11` (no year).
    Syslog,
    /// `Sun Nov 22 06:12:32 2026` (keepalived 2.x).
    Ctime,
    /// `Mar 30 2013 19:36:46.105 -0500` (Cisco CVP).
    Cvp,
    /// `2026/11/22 06:09:42` (Go's log package).
    Go,
    /// `22 Nov 2026 06:13:12.882`, or without the year (redis ≤ 2.8).
    Redis,
    /// `E0927 08:59:59.849143` (klog, no year).
    Klog,
    /// Seconds or milliseconds since the epoch, optional fraction.
    Epoch,
    /// `10:22:01`: the date comes from context (FlexLM's `TIMESTAMP 4/8/2019` lines) or the read day.
    TimeOnly,
    Auto,
}

/// What a stamp is read against.
#[derive(Debug, Clone)]
pub struct TsContext {
    /// Zone for stamps that carry none.
    pub tz: TimeZone,
    /// Wall-clock time the line was read: the year for year-less stamps, the day for time-only ones.
    pub now_ns: i64,
    /// A date given by the log itself (FlexLM `TIMESTAMP` lines).
    pub date: Option<civil::Date>,
}

impl TsContext {
    pub fn new(tz: TimeZone, now_ns: i64) -> Self {
        TsContext {
            tz,
            now_ns,
            date: None,
        }
    }
}

const ORDER: &[TsFormat] = &[
    TsFormat::Iso,
    TsFormat::Cvp,
    TsFormat::Ctime,
    TsFormat::Go,
    TsFormat::Redis,
    TsFormat::Syslog,
    TsFormat::Klog,
    TsFormat::Epoch,
    TsFormat::TimeOnly,
];

/// Parses `s` (already cut to the stamp) into nanoseconds since the epoch.
pub fn parse(s: &str, fmt: TsFormat, ctx: &TsContext) -> Option<i64> {
    let s = s.trim();
    let ts = match fmt {
        TsFormat::Auto => return ORDER.iter().find_map(|f| parse(s, *f, ctx)),
        TsFormat::Iso => iso(s, ctx),
        TsFormat::Syslog => year_less(&squash(s), "%b %d %H:%M:%S%.f", ctx),
        TsFormat::Ctime => local(&squash(s), "%a %b %d %H:%M:%S %Y", ctx),
        TsFormat::Cvp => zoned(s, "%b %d %Y %H:%M:%S%.f %z"),
        TsFormat::Go => local(s, "%Y/%m/%d %H:%M:%S%.f", ctx),
        TsFormat::Redis => {
            local(s, "%d %b %Y %H:%M:%S%.f", ctx).or_else(|| year_less(s, "%d %b %H:%M:%S%.f", ctx))
        }
        TsFormat::Klog => klog(s, ctx),
        TsFormat::Epoch => epoch(s),
        TsFormat::TimeOnly => time_only(s, ctx),
    }?;
    i64::try_from(ts.as_nanosecond()).ok()
}

/// Runs of spaces to one (syslog pads single-digit days with a space).
fn squash(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn iso(s: &str, ctx: &TsContext) -> Option<Timestamp> {
    if !s.as_bytes().first()?.is_ascii_digit() || s.len() < 19 {
        return None;
    }
    if let Ok(t) = s.parse::<Timestamp>() {
        return Some(t);
    }
    let dt: civil::DateTime = s.parse().ok()?;
    ctx.tz.to_ambiguous_timestamp(dt).compatible().ok()
}

fn zoned(s: &str, fmt: &str) -> Option<Timestamp> {
    BrokenDownTime::parse(fmt, s).ok()?.to_timestamp().ok()
}

fn local(s: &str, fmt: &str, ctx: &TsContext) -> Option<Timestamp> {
    let dt = BrokenDownTime::parse(fmt, s).ok()?.to_datetime().ok()?;
    ctx.tz.to_ambiguous_timestamp(dt).compatible().ok()
}

/// A stamp without a year: the read year, or the one before when that would put it more than a
/// day in the future (a December line read in January).
fn year_less(s: &str, fmt: &str, ctx: &TsContext) -> Option<Timestamp> {
    let mut tm = BrokenDownTime::parse(fmt, s).ok()?;
    let now = Timestamp::from_nanosecond(ctx.now_ns as i128).ok()?;
    let year = now.to_zoned(ctx.tz.clone()).year();
    for y in [year, year - 1] {
        tm.set_year(Some(y)).ok()?;
        let Ok(dt) = tm.to_datetime() else { continue };
        let Ok(t) = ctx.tz.to_ambiguous_timestamp(dt).compatible() else {
            continue;
        };
        if t.as_nanosecond() <= now.as_nanosecond() + 86_400_000_000_000 {
            return Some(t);
        }
    }
    None
}

fn klog(s: &str, ctx: &TsContext) -> Option<Timestamp> {
    let s = s.trim_start_matches(['I', 'W', 'E', 'F']);
    let (md, time) = s.split_once(' ')?;
    if md.len() != 4 || !md.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    year_less(
        &format!("{}-{} {}", &md[..2], &md[2..], time.trim()),
        "%m-%d %H:%M:%S%.f",
        ctx,
    )
}

fn epoch(s: &str) -> Option<Timestamp> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: i128 = int.parse().ok()?;
    let frac_ns = |scale: u32| -> i128 {
        let digits: String = frac.chars().take(scale as usize).collect();
        let v: i128 = digits.parse().unwrap_or(0);
        v * 10i128.pow(scale - digits.len() as u32)
    };
    let ns = match int.len() {
        9 | 10 => n * 1_000_000_000 + frac_ns(9),
        12 | 13 => n * 1_000_000 + frac_ns(6),
        _ => return None,
    };
    Timestamp::from_nanosecond(ns).ok()
}

fn time_only(s: &str, ctx: &TsContext) -> Option<Timestamp> {
    let t = BrokenDownTime::parse("%H:%M:%S%.f", s)
        .ok()?
        .to_time()
        .ok()?;
    let date = match ctx.date {
        Some(d) => d,
        None => Timestamp::from_nanosecond(ctx.now_ns as i128)
            .ok()?
            .to_zoned(ctx.tz.clone())
            .date(),
    };
    ctx.tz
        .to_ambiguous_timestamp(date.to_datetime(t))
        .compatible()
        .ok()
}

/// FlexLM's `TIMESTAMP 4/8/2019` (month/day/year).
pub fn flexlm_date(s: &str) -> Option<civil::Date> {
    BrokenDownTime::parse("%m/%d/%Y", s.trim())
        .ok()?
        .to_date()
        .ok()
}

#[cfg(test)]
#[path = "timestamp_tests.rs"]
mod tests;
