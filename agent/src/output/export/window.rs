//! Chooses the export window: the whole recording, one heartbeat gap's evidence window, or a
//! `--from/--to` range given as offsets (`+10s`) or RFC 3339 times.

use super::{GapInput, Window, adapt::RecordingData};

/// Evidence around a gap reaches this far before its onset and after its end.
pub const GAP_MARGIN_NS: u64 = 2_000_000_000;

/// One end of a `--from/--to` range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimeSpec {
    /// Offset from the start of the recording.
    Offset(std::time::Duration),
    /// Wall-clock instant (nanoseconds since the epoch).
    Wall(i64),
}

/// Parses `+10s`, `+1m30s` or an RFC 3339 time such as `2026-11-22T07:00:00Z`.
pub fn parse_time(s: &str) -> Result<TimeSpec, String> {
    let s = s.trim();
    if let Some(rest) = s.strip_prefix('+') {
        let d = humantime::parse_duration(rest)
            .map_err(|e| format!("`{s}` is not an offset ({e}); use forms like +10s, +2m30s"))?;
        return Ok(TimeSpec::Offset(d));
    }
    let ts: jiff::Timestamp = s
        .parse()
        .map_err(|e| format!("`{s}` is neither an offset like +10s nor an RFC 3339 time ({e})"))?;
    i64::try_from(ts.as_nanosecond())
        .map(TimeSpec::Wall)
        .map_err(|_| format!("`{s}`: time out of range"))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WindowSpec {
    Whole,
    Gap(u32),
    Range {
        from: Option<TimeSpec>,
        to: Option<TimeSpec>,
    },
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum WindowError {
    #[error("the recording has no heartbeat gap {wanted} (gaps: {have})")]
    NoSuchGap { wanted: u32, have: String },
    #[error(
        "the window {label} ({requested} from the recording start) is empty or outside the recording ({recording})"
    )]
    Empty {
        label: String,
        /// The requested ends as signed offsets from the recording start ("-6.9 years..+12.3s").
        requested: String,
        /// The recording's own span, as offsets and wall-clock times.
        recording: String,
    },
}

/// A monotonic instant, signed: a wall-clock time before the recording maps before its start.
fn to_mono(data: &RecordingData, t: &TimeSpec) -> i128 {
    match t {
        TimeSpec::Offset(d) => i128::from(data.first_mono_ns) + d.as_nanos() as i128,
        TimeSpec::Wall(rt) => i128::from(*rt) - i128::from(data.header.anchor.offset_ns()),
    }
}

/// A signed offset from the recording start, readable at any size.
fn offset_text(ns: i128) -> String {
    let sign = if ns < 0 { '-' } else { '+' };
    let s = ns.unsigned_abs() as f64 / 1e9;
    let (v, unit) = match s {
        s if s < 120.0 => (s, "s"),
        s if s < 7200.0 => (s / 60.0, " min"),
        s if s < 2.0 * 86_400.0 => (s / 3600.0, " h"),
        s if s < 730.0 * 86_400.0 => (s / 86_400.0, " days"),
        s => (s / (365.25 * 86_400.0), " years"),
    };
    format!("{sign}{v:.1}{unit}")
}

fn clamp_mono(t: i128) -> u64 {
    t.clamp(0, i128::from(u64::MAX)) as u64
}

fn label_of(t: &TimeSpec) -> String {
    match t {
        TimeSpec::Offset(d) => format!("+{}", humantime::format_duration(*d)),
        TimeSpec::Wall(rt) => crate::clock::rfc3339(*rt),
    }
}

/// Resolves a window against the recording; the result always lies inside it and is non-empty.
pub fn resolve(
    spec: &WindowSpec,
    data: &RecordingData,
    gaps: &[GapInput],
) -> Result<Window, WindowError> {
    let whole = data.whole();
    let w = match spec {
        WindowSpec::Whole => whole.clone(),
        WindowSpec::Gap(n) => {
            let g = gaps
                .iter()
                .find(|g| g.number == *n)
                .ok_or_else(|| WindowError::NoSuchGap {
                    wanted: *n,
                    have: if gaps.is_empty() {
                        "none recorded".into()
                    } else {
                        gaps.iter()
                            .map(|g| g.number.to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    },
                })?;
            let begin = g
                .onset_mono_ns
                .unwrap_or(g.last_arrival_mono_ns)
                .min(g.last_arrival_mono_ns);
            Window {
                start_mono_ns: begin.saturating_sub(GAP_MARGIN_NS),
                end_mono_ns: g.end_mono_ns(whole.end_mono_ns) + GAP_MARGIN_NS,
                label: format!("gap {} ({})", g.number, g.source),
            }
        }
        WindowSpec::Range { from, to } => {
            let start = from
                .as_ref()
                .map_or(i128::from(whole.start_mono_ns), |t| to_mono(data, t));
            let end = to
                .as_ref()
                .map_or(i128::from(whole.end_mono_ns), |t| to_mono(data, t));
            let label = format!(
                "{}..{}",
                from.as_ref().map_or("start".into(), label_of),
                to.as_ref().map_or("end".into(), label_of)
            );
            // Decided on the signed ends: clamping first made a range from years before the
            // recording look like one that starts with it.
            if end <= start
                || start >= i128::from(whole.end_mono_ns)
                || end <= i128::from(whole.start_mono_ns)
            {
                return Err(empty(data, &whole, label, start, end));
            }
            let (first, last) = (
                i128::from(whole.start_mono_ns),
                i128::from(whole.end_mono_ns),
            );
            let label = if start < first || end > last {
                let rel = |t: i128| offset_text(t - first);
                format!(
                    "{label} (the recording covers {}..{} of it)",
                    rel(start.max(first)),
                    rel(end.min(last))
                )
            } else {
                label
            };
            Window {
                start_mono_ns: clamp_mono(start),
                end_mono_ns: clamp_mono(end),
                label,
            }
        }
    };
    let clipped = Window {
        start_mono_ns: w.start_mono_ns.max(whole.start_mono_ns),
        end_mono_ns: w.end_mono_ns.min(whole.end_mono_ns),
        label: w.label.clone(),
    };
    if clipped.end_mono_ns <= clipped.start_mono_ns {
        return Err(empty(
            data,
            &whole,
            w.label,
            i128::from(w.start_mono_ns),
            i128::from(w.end_mono_ns),
        ));
    }
    Ok(clipped)
}

fn empty(
    data: &RecordingData,
    whole: &Window,
    label: String,
    start: i128,
    end: i128,
) -> WindowError {
    let rel = |t: i128| offset_text(t - i128::from(whole.start_mono_ns));
    let wall = |mono: u64| crate::clock::rfc3339(data.header.anchor.offset_ns() + mono as i64);
    WindowError::Empty {
        label,
        requested: format!("{}..{}", rel(start), rel(end)),
        recording: format!(
            "+0s..{}, {} to {}",
            offset_text(i128::from(whole.duration_ns())),
            wall(whole.start_mono_ns),
            wall(whole.end_mono_ns)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_range_outside_the_recording_says_where_it_is() {
        let data = RecordingData::from_records(crate::output::export::synthetic::header(), []);
        let start_wall = data.header.anchor.offset_ns() + data.first_mono_ns as i64;
        let years_before = start_wall - 6 * 365 * 86_400 * 1_000_000_000;
        let spec = WindowSpec::Range {
            from: Some(TimeSpec::Wall(years_before)),
            to: Some(TimeSpec::Wall(years_before + 86_400 * 1_000_000_000)),
        };
        // Before the fix this said "-100.0s..-100.0s": both ends clamped to monotonic 0.
        let e = resolve(&spec, &data, &[]).expect_err("a day 6 years before the recording");
        let WindowError::Empty { requested, .. } = &e else {
            panic!("{e}")
        };
        assert_eq!(requested, "-6.0 years..-6.0 years", "{e}");
        let from_only = WindowSpec::Range {
            from: Some(TimeSpec::Wall(years_before)),
            to: None,
        };
        let w = resolve(&from_only, &data, &[]).expect("6 years ago until the end");
        assert!(
            w.label
                .contains("(the recording covers +0.0s..+0.0s of it)"),
            "{}",
            w.label
        );
        let after = WindowSpec::Range {
            from: Some(TimeSpec::Offset(std::time::Duration::from_secs(3600))),
            to: None,
        };
        let e = resolve(&after, &data, &[]).expect_err("a range after the end");
        assert!(e.to_string().contains("+60.0 min.."), "{e}");
        let inside = WindowSpec::Range {
            from: Some(TimeSpec::Wall(start_wall - 1_000_000_000)),
            to: Some(TimeSpec::Offset(std::time::Duration::from_millis(1))),
        };
        let w = resolve(&inside, &data, &[]).expect("a range that overlaps the recording");
        assert_eq!(w.start_mono_ns, data.first_mono_ns, "clipped to the start");
        assert!(
            w.label
                .ends_with("(the recording covers +0.0s..+0.0s of it)"),
            "{}",
            w.label
        );
    }
}
