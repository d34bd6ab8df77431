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
    #[error("the window {label} is empty or outside the recording ({start_s:.1}s..{end_s:.1}s)")]
    Empty {
        label: String,
        start_s: f64,
        end_s: f64,
    },
}

fn to_mono(data: &RecordingData, t: &TimeSpec) -> u64 {
    match t {
        TimeSpec::Offset(d) => data.first_mono_ns.saturating_add(d.as_nanos() as u64),
        TimeSpec::Wall(rt) => {
            let off = rt - data.header.anchor.offset_ns();
            off.max(0) as u64
        }
    }
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
        WindowSpec::Range { from, to } => Window {
            start_mono_ns: from
                .as_ref()
                .map_or(whole.start_mono_ns, |t| to_mono(data, t)),
            end_mono_ns: to.as_ref().map_or(whole.end_mono_ns, |t| to_mono(data, t)),
            label: format!(
                "{}..{}",
                from.as_ref().map_or("start".into(), label_of),
                to.as_ref().map_or("end".into(), label_of)
            ),
        },
    };
    let clipped = Window {
        start_mono_ns: w.start_mono_ns.max(whole.start_mono_ns),
        end_mono_ns: w.end_mono_ns.min(whole.end_mono_ns),
        label: w.label.clone(),
    };
    if clipped.end_mono_ns <= clipped.start_mono_ns {
        let rel = |t: u64| (t as f64 - whole.start_mono_ns as f64) / 1e9;
        return Err(WindowError::Empty {
            label: w.label,
            start_s: rel(w.start_mono_ns),
            end_s: rel(w.end_mono_ns),
        });
    }
    Ok(clipped)
}
