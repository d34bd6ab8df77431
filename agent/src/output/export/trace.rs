//! Chrome Trace Event JSON (the "JSON Object Format"), which Perfetto and chrome://tracing open:
//! a process per kind of evidence, a track per CPU and per heartbeat source, drops as instant
//! events and each gap's verdict as an annotation.

use std::io::Write;

use serde::Serialize;
use serde_json::{Value, json};

use super::{ExportInput, series};

/// Softirq waits at least this long become slices on the CPU tracks (shorter ones are in the
/// counter tracks only).
pub const SPIKE_NS: u64 = 1_000_000;

const PID_CPUS: u32 = 1;
const PID_HEARTBEATS: u32 = 2;
const PID_DROPS: u32 = 3;
const PID_RECORDER: u32 = 4;

/// One trace event. `ts` and `dur` are microseconds from the window start.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    pub name: String,
    pub ph: &'static str,
    pub pid: u32,
    pub tid: u32,
    pub ts: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dur: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cat: Option<&'static str>,
    /// Instant-event scope: "t" thread, "p" process, "g" global.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub s: Option<&'static str>,
    #[serde(skip_serializing_if = "Value::is_null")]
    pub args: Value,
}

fn meta(name: &'static str, pid: u32, tid: u32, value: &str) -> Event {
    Event {
        name: name.into(),
        ph: "M",
        pid,
        tid,
        ts: 0.0,
        dur: None,
        cat: None,
        s: None,
        args: json!({ "name": value }),
    }
}

/// Microseconds from the window start; an instant before it is shown at its start (the trace
/// starts at 0, never before).
fn us(input: &ExportInput, mono_ns: u64) -> f64 {
    mono_ns.saturating_sub(input.window.start_mono_ns) as f64 / 1e3
}

/// `(ts, dur)` of a slice `[start, end)` cut to the window.
fn slice(input: &ExportInput, start: u64, end: u64) -> (f64, f64) {
    let w = &input.window;
    let (s, e) = (start.max(w.start_mono_ns), end.min(w.end_mono_ns));
    (us(input, s), e.saturating_sub(s) as f64 / 1e3)
}

/// All events, metadata first.
pub fn events(input: &ExportInput) -> Vec<Event> {
    let mut ev = vec![
        meta("process_name", PID_CPUS, 0, "CPUs (softirq)"),
        meta("process_name", PID_HEARTBEATS, 0, "Heartbeats"),
        meta("process_name", PID_DROPS, 0, "Packet drops"),
        meta("process_name", PID_RECORDER, 0, "Recorder"),
    ];
    for &cpu in &input.cpus {
        ev.push(meta("thread_name", PID_CPUS, cpu, &format!("CPU {cpu}")));
    }
    for (i, h) in input.heartbeats.iter().enumerate() {
        ev.push(meta("thread_name", PID_HEARTBEATS, i as u32, &h.source));
    }
    for s in series::seconds(input) {
        let ts = us(input, s.start_mono_ns);
        for c in &s.softirq {
            ev.push(Event {
                name: format!("{} wait p99 µs cpu{}", c.vector, c.cpu),
                ph: "C",
                pid: PID_CPUS,
                tid: c.cpu,
                ts,
                dur: None,
                cat: Some("softirq"),
                s: None,
                args: json!({ "p99": c.wait_p99_ns as f64 / 1e3 }),
            });
        }
    }
    for iv in &input.softirq {
        for c in &iv.cells {
            let Some(m) = c.wait_max.filter(|m| m.value_ns >= SPIKE_NS) else {
                continue;
            };
            // The maximum is stamped when the softirq ran; the wait led up to it.
            let (ts, dur) = slice(input, m.at_mono_ns.saturating_sub(m.value_ns), m.at_mono_ns);
            ev.push(Event {
                name: format!("{} waited {}", input.vector_name(c.vector), crate::units::ns(m.value_ns)),
                ph: "X",
                pid: PID_CPUS,
                tid: c.cpu,
                ts,
                dur: Some(dur),
                cat: Some("softirq"),
                s: None,
                args: json!({ "vector": input.vector_name(c.vector), "wait_ns": m.value_ns, "entries_in_interval": c.entries }),
            });
        }
    }
    for (i, h) in input.heartbeats.iter().enumerate() {
        for &t in &h.arrivals_mono_ns {
            ev.push(Event {
                name: "arrival".into(),
                ph: "i",
                pid: PID_HEARTBEATS,
                tid: i as u32,
                ts: us(input, t),
                dur: None,
                cat: Some("heartbeat"),
                s: Some("t"),
                args: Value::Null,
            });
        }
    }
    for g in &input.gaps {
        let tid = input
            .heartbeats
            .iter()
            .position(|h| h.source == g.source)
            .unwrap_or(input.heartbeats.len()) as u32;
        let end = g.end_mono_ns(input.window.end_mono_ns);
        let (ts, dur) = slice(input, g.last_arrival_mono_ns, end);
        ev.push(Event {
            name: format!("gap {}", g.number),
            ph: "X",
            pid: PID_HEARTBEATS,
            tid,
            ts,
            dur: Some(dur),
            cat: Some("gap"),
            s: None,
            args: json!({
                "source": g.source, "cause": g.cause, "verdict": g.verdict,
                "onset_us": g.onset_mono_ns.map(|t| us(input, t)),
                "detected_us": g.detected_mono_ns.map(|t| us(input, t)),
            }),
        });
        let mark = |name: String, at: u64| Event {
            name,
            ph: "i",
            pid: PID_HEARTBEATS,
            tid,
            ts: us(input, at),
            dur: None,
            cat: Some("verdict"),
            s: Some("g"),
            args: json!({ "gap": g.number, "verdict": g.verdict, "cause": g.cause }),
        };
        if let Some(t) = g.onset_mono_ns {
            ev.push(mark(format!("gap {} onset", g.number), t));
        }
        if let Some(t) = g.detected_mono_ns {
            ev.push(mark(format!("gap {} detected", g.number), t));
        }
        if let Some(v) = &g.verdict {
            ev.push(mark(format!("gap {}: {v}", g.number), end));
        }
    }
    for d in input.drops.iter().filter(|d| d.total > 0) {
        ev.push(Event {
            name: format!("{} drops", d.total),
            ph: "i",
            pid: PID_DROPS,
            tid: 0,
            ts: us(input, d.start_mono_ns),
            dur: None,
            cat: Some("drops"),
            s: Some("p"),
            args: json!({ "total": d.total, "by_reason": d.by_reason }),
        });
    }
    for l in &input.lost {
        ev.push(Event {
            name: format!("lost {} {}", l.count, l.stream),
            ph: "i",
            pid: PID_RECORDER,
            tid: 0,
            ts: us(input, l.at_mono_ns),
            dur: None,
            cat: Some("lost"),
            s: Some("p"),
            args: json!({ "stream": l.stream, "count": l.count }),
        });
    }
    ev
}

/// The trace document: `{"traceEvents": [...], "displayTimeUnit": "ms", "metadata": {...}}`.
pub fn write(input: &ExportInput, mut w: impl Write) -> std::io::Result<()> {
    let doc = json!({
        "traceEvents": events(input),
        "displayTimeUnit": "ms",
        "metadata": {
            "tool": "hbwatch",
            "host": input.host,
            "kernel_release": input.kernel_release,
            "window": input.window.label,
            "window_start": input.wall(input.window.start_mono_ns),
        },
    });
    serde_json::to_writer(&mut w, &doc)?;
    writeln!(w)
}
