//! Judges one kernel's results (exit codes, the JSON reports' collectors and causes) and prints
//! the matrix: kernel × probe family × scenario cause.

use std::{collections::BTreeMap, fmt::Write as _};

use serde_json::Value;

use super::guest::Boot;

/// The demo's faults and the cause each must be judged as.
pub const EXPECTED_CAUSES: &[(&str, &str)] = &[
    ("rcvbuf flood", "socket_rcvbuf_overflow"),
    ("receiver SIGSTOP", "app_stall"),
    ("nft drop", "netfilter_drop"),
];

pub enum Outcome {
    Passed,
    Failed(Vec<String>),
    NotRun(String),
}

pub struct Row {
    pub name: String,
    pub release: String,
    pub outcome: Outcome,
    /// Probe family → how it ran with BTF (default) and with --no-btf (classic).
    pub families: BTreeMap<String, (String, String)>,
    /// Top causes of the demo's gaps (or incidents).
    pub causes: Vec<String>,
    pub model: String,
    pub seconds: f64,
}

impl Row {
    pub fn not_run(name: &str, why: String) -> Row {
        Row {
            name: name.to_owned(),
            release: String::new(),
            outcome: Outcome::NotRun(why),
            families: BTreeMap::new(),
            causes: Vec::new(),
            model: String::new(),
            seconds: 0.0,
        }
    }

    pub fn failed(name: &str, release: &str, why: String) -> Row {
        Row {
            release: release.to_owned(),
            outcome: Outcome::Failed(vec![why]),
            ..Row::not_run(name, String::new())
        }
    }
}

/// How a collector ran, in a table cell: `btf`, `classic`, `degraded`, or `off: reason`.
fn cell(c: &Value) -> String {
    let state = c["state"].as_str().unwrap_or("?");
    let detail = c["detail"].as_str().unwrap_or("");
    let how = if detail.contains("tp_btf") && !detail.contains("fell back from tp_btf") {
        "btf"
    } else if detail.contains("classic") {
        "classic"
    } else {
        "on"
    };
    match state {
        "running" => how.to_owned(),
        "degraded" => format!("{how}*"),
        _ => "off".to_owned(),
    }
}

fn collectors(report: &Value) -> Vec<&Value> {
    report["collectors"]
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default()
}

/// The top cause of each incident, or of each gap in a report without incidents.
fn top_causes(report: &Value) -> Vec<String> {
    let d = &report["diagnosis"];
    let list = d["incidents"]
        .as_array()
        .filter(|a| !a.is_empty())
        .or_else(|| d["gaps"].as_array());
    list.map(|a| {
        a.iter()
            .filter_map(|g| g["findings"][0]["cause"].as_str().map(str::to_owned))
            .collect()
    })
    .unwrap_or_default()
}

pub fn judge(name: &str, release: &str, b: &Boot) -> Row {
    let mut problems = Vec::new();
    if b.timed_out {
        problems.push(format!("timed out after {:.0} s", b.seconds));
    } else if !b.finished {
        problems.push("the guest did not reach the end of its script".to_owned());
    }
    for step in ["check", "demo", "demo_report", "classic", "classic_report"] {
        match b.sections.get(step) {
            None => problems.push(format!("{step}: did not run")),
            Some(s) if s.rc != Some(0) => {
                let err = b
                    .sections
                    .get(&format!("{step}.stderr"))
                    .map(|e| e.text.trim().to_owned())
                    .unwrap_or_default();
                problems.push(format!("{step}: exit {:?}: {}", s.rc, tail(&err, 6)));
            }
            Some(_) => {}
        }
    }
    let parse = |step: &str| -> Option<Value> {
        b.sections
            .get(step)
            .and_then(|s| serde_json::from_str(&s.text).ok())
    };
    let demo = parse("demo_report");
    let classic = parse("classic_report");
    let mut families: BTreeMap<String, (String, String)> = BTreeMap::new();
    for (report, col) in [(&demo, 0), (&classic, 1)] {
        let Some(r) = report else { continue };
        for c in collectors(r) {
            let Some(n) = c["name"].as_str() else {
                continue;
            };
            let e = families.entry(n.to_owned()).or_default();
            let v = cell(c);
            if col == 0 {
                e.0 = v;
            } else {
                e.1 = v;
            }
            let detail = c["detail"].as_str().unwrap_or("");
            if detail.contains("BPF_PROG_LOAD") || detail.contains("Verifier output") {
                problems.push(format!(
                    "{n} ({}): a program was rejected: {}",
                    if col == 0 { "default" } else { "--no-btf" },
                    tail(detail, 3)
                ));
            }
        }
    }
    for (mode, r) in [("default", &demo), ("--no-btf", &classic)] {
        if r.is_none() {
            problems.push(format!("{mode} report: no JSON"));
            continue;
        }
        let softirq = families
            .get("softirq")
            .map(|f| if mode == "default" { &f.0 } else { &f.1 });
        if !softirq.is_some_and(|s| s != "off" && !s.is_empty()) {
            problems.push(format!("{mode}: the softirq probe did not run"));
        }
    }
    let causes = demo.as_ref().map(top_causes).unwrap_or_default();
    for (fault, cause) in EXPECTED_CAUSES {
        if !causes.iter().any(|c| c == cause) {
            problems.push(format!("{fault}: no gap judged {cause} (found {causes:?})"));
        }
    }
    let model = demo
        .as_ref()
        .and_then(|d| d["recording"]["receive_model"].as_str().map(str::to_owned))
        .or_else(|| {
            b.sections
                .get("realtime")
                .filter(|s| s.text.trim() == "1")
                .map(|_| "PREEMPT_RT".to_owned())
        })
        .unwrap_or_else(|| "softirq".to_owned());
    // An RT build must be recognised as such: its receive delay is measured differently.
    if name.ends_with("-rt") && model != "preempt_rt" {
        problems.push(format!("receive model {model}, expected preempt_rt"));
    }
    // The console says why a guest died; when it finished its script, the sections do.
    if (b.timed_out || !b.finished) && !b.console_tail.is_empty() {
        problems.push(format!("console:\n{}", b.console_tail));
    }
    Row {
        name: name.to_owned(),
        release: release.to_owned(),
        outcome: if problems.is_empty() {
            Outcome::Passed
        } else {
            Outcome::Failed(problems)
        },
        families,
        causes,
        model,
        seconds: b.seconds,
    }
}

fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join(" | ")
}

/// The matrix as text: one row per kernel, one column per probe family (`default/--no-btf`),
/// the demo's causes, the time, and the failures below.
pub fn table(rows: &[Row]) -> String {
    // eBPF families only: the procfs/sysfs collectors run the same on every kernel.
    let mut fams: Vec<&String> = rows
        .iter()
        .flat_map(|r| r.families.keys())
        .filter(|f| !f.starts_with("system.") && !f.starts_with("heartbeat-owner"))
        .collect();
    fams.sort();
    fams.dedup();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Kernel matrix (cell: default mode / --no-btf; btf = tp_btf, classic = classic tracepoint, * = degraded, off = unavailable)"
    );
    let mut header = vec![
        "kernel".to_owned(),
        "release".to_owned(),
        "result".to_owned(),
        "rx model".to_owned(),
    ];
    header.extend(fams.iter().map(|f| (*f).clone()));
    header.push("demo causes".to_owned());
    header.push("time".to_owned());
    let mut lines = vec![header];
    for r in rows {
        let result = match &r.outcome {
            Outcome::Passed => "pass".to_owned(),
            Outcome::Failed(_) => "FAIL".to_owned(),
            Outcome::NotRun(_) => "not run".to_owned(),
        };
        let mut l = vec![r.name.clone(), r.release.clone(), result, r.model.clone()];
        for f in &fams {
            l.push(
                r.families
                    .get(*f)
                    .map(|(a, b)| format!("{a}/{b}"))
                    .unwrap_or_else(|| "-".to_owned()),
            );
        }
        let mut causes = r.causes.clone();
        causes.sort();
        causes.dedup();
        l.push(if causes.is_empty() {
            "-".to_owned()
        } else {
            causes.join(",")
        });
        l.push(format!("{:.0}s", r.seconds));
        lines.push(l);
    }
    let widths: Vec<usize> = (0..lines[0].len())
        .map(|i| {
            lines
                .iter()
                .map(|l| l[i].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for l in &lines {
        let cells: Vec<String> = l
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        let _ = writeln!(out, "  {}", cells.join("  ").trim_end());
    }
    for r in rows {
        match &r.outcome {
            Outcome::Failed(p) => {
                let _ = writeln!(out, "\n{} FAILED:", r.name);
                for x in p {
                    let _ = writeln!(out, "  - {x}");
                }
            }
            Outcome::NotRun(why) => {
                let _ = writeln!(out, "\n{} NOT RUN: {why}", r.name);
            }
            Outcome::Passed => {}
        }
    }
    out
}
