//! The report's incident contract (issue 14) checked against the faults a daemon test injected:
//! `diagnosis.incidents[]` (`number`, `start_mono_ns`, `end_mono_ns`, `findings[]` with `cause`
//! and `confidence`, `sources[]`, `gaps[]`), `diagnosis.top_cause`, and `diagnosis.gaps[]` with
//! `start_mono_ns`, `incident` and `peer`. A missing field is a failure, never a pass.

use serde_json::Value;

use super::{Action, Window};

/// Causes that blame the network or the receive path, which a stall of the local daemon must
/// not be given.
pub const NETWORK_CAUSES: &[&str] = &[
    "softirq_delay",
    "nic_ring_overflow",
    "cpu_backlog_overflow",
    "socket_rcvbuf_overflow",
    "netfilter_drop",
    "other_kernel_drop",
    "peer_or_upstream",
];

/// Estimated onsets may precede the injection by clock-reading slack (log stamps are wall
/// clock, converted): how much earlier an incident may start and still belong to a window.
const SLACK_NS: u64 = 250_000_000;

fn field<'a>(v: &'a Value, name: &str, what: &str, out: &mut Vec<String>) -> Option<&'a Value> {
    let f = v.get(name);
    if f.is_none() {
        out.push(format!(
            "{what} has no `{name}` (the issue-14 incident contract)"
        ));
    }
    f
}

fn mono(v: &Value, name: &str, what: &str, out: &mut Vec<String>) -> Option<u64> {
    let f = field(v, name, what, out)?;
    let n = f.as_u64();
    if n.is_none() {
        out.push(format!(
            "{what}.{name} is not a CLOCK_MONOTONIC ns count: {f}"
        ));
    }
    n
}

/// Every way the report misses the contract: gaps in the healthy stretch, a window without
/// exactly one incident, a wrong top cause, a network cause for a local stall, missing fields.
pub fn check(j: &Value, healthy_end_ns: u64, windows: &[Window]) -> Vec<String> {
    let mut out = Vec::new();
    check_into(j, healthy_end_ns, windows, &mut out);
    // The same miss on every gap is one line, with its count.
    let mut counted: Vec<(String, usize)> = Vec::new();
    for m in out {
        match counted.iter_mut().find(|(c, _)| *c == m) {
            Some((_, n)) => *n += 1,
            None => counted.push((m, 1)),
        }
    }
    counted
        .into_iter()
        .map(|(m, n)| if n > 1 { format!("{m} (x{n})") } else { m })
        .collect()
}

fn check_into(j: &Value, healthy_end_ns: u64, windows: &[Window], out: &mut Vec<String>) {
    let Some(d) = field(j, "diagnosis", "the report", out) else {
        return;
    };
    if field(d, "top_cause", "diagnosis", out).is_some_and(|t| !windows.is_empty() && t.is_null()) {
        out.push("diagnosis.top_cause is null although faults were injected".into());
    }
    let gaps = field(d, "gaps", "diagnosis", out).and_then(Value::as_array);
    let mut healthy = Vec::new();
    for g in gaps.into_iter().flatten() {
        let what = "a gap in diagnosis.gaps[]";
        field(g, "incident", what, out);
        field(g, "peer", what, out);
        if let Some(s) = mono(g, "start_mono_ns", what, out)
            && s + SLACK_NS < healthy_end_ns
        {
            healthy.push(g);
        }
    }
    eprintln!("healthy stretch: {} gaps", healthy.len());
    if !healthy.is_empty() {
        out.push(format!(
            "{} gaps start in the healthy stretch, before the first fault; the first: {}",
            healthy.len(),
            brief(healthy[0])
        ));
    }
    let Some(incidents) = field(d, "incidents", "diagnosis", out).and_then(Value::as_array) else {
        out.push(format!(
            "diagnosis.incidents is missing or not a list: cannot check the {} fault windows",
            windows.len()
        ));
        return;
    };
    let mut starts = Vec::new();
    for inc in incidents {
        let what = "an incident in diagnosis.incidents[]";
        for name in ["number", "end_mono_ns", "findings", "sources", "gaps"] {
            field(inc, name, what, out);
        }
        starts.push(mono(inc, "start_mono_ns", what, out));
    }
    for w in windows {
        let inside: Vec<&Value> = incidents
            .iter()
            .zip(&starts)
            .filter(|(_, s)| {
                s.is_some_and(|s| s + SLACK_NS >= w.start_ns && s + SLACK_NS < w.end_ns)
            })
            .map(|(inc, _)| inc)
            .collect();
        eprintln!(
            "fault {}: {} incident(s), causes {:?}",
            w.name,
            inside.len(),
            inside.iter().map(|i| causes(i)).collect::<Vec<_>>()
        );
        if inside.len() != 1 {
            out.push(format!(
                "fault {}: {} incidents in its window, expected exactly 1: {inside:?}",
                w.name,
                inside.len()
            ));
            continue;
        }
        let c = causes(inside[0]);
        match c.first() {
            Some((top, _)) if top == w.cause => {}
            top => out.push(format!(
                "fault {}: top cause {top:?}, expected {} (findings {c:?})",
                w.name, w.cause
            )),
        }
        if matches!(w.action, Action::StopLocal) {
            for (cause, conf) in c
                .iter()
                .filter(|(c, _)| NETWORK_CAUSES.contains(&c.as_str()))
            {
                out.push(format!(
                    "fault {}: a stall of the local daemon blamed on the network: {cause} ({conf})",
                    w.name
                ));
            }
        }
    }
}

/// An incident's findings as (cause, confidence), in the report's order (ranked).
fn causes(inc: &Value) -> Vec<(String, f64)> {
    inc.get("findings")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|f| {
            (
                f.get("cause")
                    .and_then(Value::as_str)
                    .unwrap_or("<no cause>")
                    .to_owned(),
                f.get("confidence")
                    .and_then(Value::as_f64)
                    .unwrap_or(f64::NAN),
            )
        })
        .collect()
}

/// A gap in a line: its source, length and top cause.
fn brief(g: &Value) -> String {
    format!(
        "source {} length {} ns cause {}",
        g.get("source_spec").unwrap_or(&Value::Null),
        g.get("length_ns").unwrap_or(&Value::Null),
        g.pointer("/findings/0/cause").unwrap_or(&Value::Null)
    )
}
