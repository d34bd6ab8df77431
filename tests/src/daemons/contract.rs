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
/// A gap counts in the healthy stretch when it starts more than `slack_ns` before the first
/// fault (its silence begins at the last beat heard before the fault, and a stamp to the second
/// can put a logged onset up to a second early); a port's silence that runs into the fault may
/// start up to its own learned interval before it (etcd's prober pauses up to 4 s).
pub fn check(j: &Value, healthy_end_ns: u64, slack_ns: u64, windows: &[Window]) -> Vec<String> {
    let mut out = Vec::new();
    check_into(
        j,
        healthy_end_ns.saturating_sub(slack_ns),
        healthy_end_ns,
        windows,
        &mut out,
    );
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

/// A silence that began at most its expected interval before the first fault and lasted past it.
fn silence_into_fault(g: &Value, start_ns: u64, healthy_end_ns: u64) -> bool {
    let n = |k: &str| g.get(k).and_then(Value::as_u64);
    g.get("kind").and_then(Value::as_str) == Some("silence")
        && n("end_mono_ns").is_some_and(|e| e > healthy_end_ns)
        && n("expected_interval_ns").is_some_and(|i| start_ns >= healthy_end_ns.saturating_sub(i))
}

fn check_into(
    j: &Value,
    healthy_until_ns: u64,
    healthy_end_ns: u64,
    windows: &[Window],
    out: &mut Vec<String>,
) {
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
            && s < healthy_until_ns
            && !silence_into_fault(g, s, healthy_end_ns)
        {
            healthy.push(g);
        }
    }
    eprintln!("healthy stretch: {} gaps", healthy.len());
    for g in &healthy {
        eprintln!("  healthy-stretch gap: {}", brief(g, healthy_end_ns));
    }
    if !healthy.is_empty() {
        out.push(format!(
            "{} gaps start in the healthy stretch, before the first fault; the first: {}",
            healthy.len(),
            brief(healthy[0], healthy_end_ns)
        ));
    }
    let Some(incidents) = field(d, "incidents", "diagnosis", out).and_then(Value::as_array) else {
        out.push(format!(
            "diagnosis.incidents is missing or not a list: cannot check the {} fault windows",
            windows.len()
        ));
        return;
    };
    // Each incident belongs to the window it overlaps most, so an onset estimated a little
    // early still counts for its own fault (the healthy-stretch check above sees it).
    let mut owner = Vec::new();
    for g in d
        .get("gaps")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        eprintln!(
            "  gap {} (incident {}, peer {}): {}",
            g.get("number").unwrap_or(&Value::Null),
            g.get("incident").unwrap_or(&Value::Null),
            g.get("peer").unwrap_or(&Value::Null),
            brief(g, healthy_end_ns)
        );
    }
    for inc in incidents {
        eprintln!("  incident: {}", brief(inc, healthy_end_ns));
        let what = "an incident in diagnosis.incidents[]";
        for name in ["number", "findings", "sources", "gaps"] {
            field(inc, name, what, out);
        }
        let start = mono(inc, "start_mono_ns", what, out);
        let end = mono(inc, "end_mono_ns", what, out);
        owner.push(start.zip(end).and_then(|(s, e)| {
            let overlap = |w: &Window| e.max(s + 1).min(w.end_ns).saturating_sub(s.max(w.start_ns));
            (0..windows.len())
                .filter(|&i| overlap(&windows[i]) > 0)
                .max_by_key(|&i| overlap(&windows[i]))
        }));
    }
    for (i, w) in windows.iter().enumerate() {
        let inside: Vec<&Value> = incidents
            .iter()
            .zip(&owner)
            .filter(|(_, o)| **o == Some(i))
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

/// A gap or incident in a line: when it starts (seconds from the end of the healthy stretch),
/// its length, sources and top cause.
fn brief(g: &Value, healthy_end_ns: u64) -> String {
    let at = g
        .get("start_mono_ns")
        .and_then(Value::as_u64)
        .map(|s| format!("{:+.2} s", (s as f64 - healthy_end_ns as f64) / 1e9))
        .unwrap_or_else(|| "?".into());
    format!(
        "at {at} length {} ns source {} cause {}",
        g.get("length_ns").unwrap_or(&Value::Null),
        g.get("source_spec")
            .or_else(|| g.get("sources"))
            .unwrap_or(&Value::Null),
        g.pointer("/findings/0/cause").unwrap_or(&Value::Null)
    )
}
