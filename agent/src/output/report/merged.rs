//! `hbwatch report A.hbw B.hbw …`: the merged report of several hosts' recordings, as text,
//! markdown or JSON. Renders [`crate::analysis::merge::Merged`]; computes nothing.

use std::io::Write;

use serde::Serialize;

use super::ReportFormat;
use crate::{
    analysis::merge::{ClockFit, Leg, Merged},
    units,
};

/// One sentence per leg, naming the hosts.
fn leg_text(leg: Leg, sender: &str, receiver: &str) -> String {
    match leg {
        Leg::NotSent => format!("{sender} did not send them (its application sent nothing)"),
        Leg::SenderStack => format!("held or dropped in {sender}'s stack or qdisc on the way out"),
        Leg::SenderDriver => format!("refused by {sender}'s driver"),
        Leg::BetweenHosts => {
            format!(
                "lost between the hosts: they left {sender}'s device and never reached {receiver}"
            )
        }
        Leg::ReceiverDrop => format!("dropped at {receiver}"),
        Leg::ReceiverSoftirq => format!("delayed in {receiver}'s receive work (softirq)"),
        Leg::ReceiverApp => format!("reached {receiver}'s socket; its application did not read"),
        Leg::Unknown => "no recording shows where".to_owned(),
    }
}

fn label(m: &Merged, i: Option<usize>, fallback: &str) -> String {
    i.and_then(|i| m.hosts.get(i)).map_or_else(
        || fallback.to_owned(),
        |h| format!("[{}] {}", i.unwrap_or(0) + 1, h.label),
    )
}

fn signed_ns(v: i64) -> String {
    format!(
        "{}{}",
        if v < 0 { "-" } else { "+" },
        units::ns(v.unsigned_abs())
    )
}

fn clock_line(m: &Merged, c: &ClockFit) -> String {
    format!(
        "{} against {}: offset {}{}{} ({}; {} / {} matched packets)",
        label(m, Some(c.b), "?"),
        label(m, Some(c.a), "?"),
        signed_ns(c.offset_ns),
        c.error_ns.map_or_else(
            || ", unbounded".to_owned(),
            |e| format!(" ± {}", units::ns(e.max(0) as u64))
        ),
        c.drift_ppm
            .map_or_else(String::new, |d| format!(", drift {d:+.1} ppm")),
        c.method,
        c.samples_ab,
        c.samples_ba
    )
}

/// The headline: legs by the heartbeat time lost in their incidents.
fn verdict(m: &Merged) -> String {
    let total: u64 = m.incidents.iter().map(|i| i.lost_ns).sum();
    let Some(top) = m.ranking.first() else {
        return "No heartbeat gap on any paired flow.".to_owned();
    };
    let example = m.incidents.iter().find(|i| i.leg == top.leg);
    let (s, r) = example.map_or((String::new(), String::new()), |i| {
        let peer = m
            .findings
            .iter()
            .find(|f| f.receiver == i.receiver && f.incident == i.receiver_incident)
            .and_then(|f| f.peer.clone())
            .unwrap_or_else(|| "the peer".into());
        (label(m, i.sender, &peer), label(m, Some(i.receiver), "?"))
    });
    let others: Vec<String> = m.ranking[1..]
        .iter()
        .map(|x| {
            format!(
                "{} ({}, {})",
                x.leg.as_str(),
                x.incidents,
                units::ns(x.lost_ns)
            )
        })
        .collect();
    format!(
        "{} incident(s) ({} heartbeat gap(s), {} of heartbeat time lost) across {} recordings. Most likely ({} incident(s), {}): {}'s heartbeats to {}: {}.{}",
        m.incidents.len(),
        m.findings.len(),
        units::ns(total),
        m.hosts.len(),
        top.incidents,
        units::ns(top.lost_ns),
        s,
        r,
        leg_text(top.leg, &s, &r),
        if others.is_empty() {
            String::new()
        } else {
            format!(" Others: {}.", others.join(", "))
        }
    )
}

pub fn render(m: &Merged, format: ReportFormat, out: &mut dyn Write) -> std::io::Result<()> {
    match format {
        ReportFormat::Json => {
            serde_json::to_writer_pretty(
                &mut *out,
                &Json {
                    schema: "hbwatch-merged-report",
                    schema_version: 1,
                    merged: m,
                },
            )?;
            writeln!(out)
        }
        ReportFormat::Text => text(m, false, out),
        ReportFormat::Markdown => text(m, true, out),
    }
}

#[derive(Serialize)]
struct Json<'a> {
    schema: &'static str,
    schema_version: u32,
    #[serde(flatten)]
    merged: &'a Merged,
}

fn text(m: &Merged, md: bool, out: &mut dyn Write) -> std::io::Result<()> {
    let (h1, h2, item) = if md {
        ("# ", "## ", "- ")
    } else {
        ("", "", "  ")
    };
    writeln!(
        out,
        "{h1}hbwatch report: {} recordings merged",
        m.hosts.len()
    )?;
    for (i, h) in m.hosts.iter().enumerate() {
        writeln!(
            out,
            "{item}[{}] {} — host {}{} · its own report: {} gap(s) in {} incident(s)",
            i + 1,
            h.label,
            h.host,
            h.netns_scope
                .map_or_else(String::new, |n| format!(", network namespace inode {n}")),
            h.gaps,
            h.incidents
        )?;
    }
    writeln!(out)?;
    writeln!(out, "{h2}Clocks")?;
    if m.clocks.is_empty() {
        writeln!(out, "{item}one recording: nothing to align")?;
    }
    for c in &m.clocks {
        writeln!(out, "{item}{}", clock_line(m, c))?;
    }
    writeln!(out)?;
    writeln!(out, "{h2}Verdict")?;
    writeln!(out, "{item}{}", verdict(m))?;
    writeln!(out)?;
    writeln!(out, "{h2}Heartbeat flows between the recordings")?;
    if m.flows.is_empty() {
        writeln!(
            out,
            "{item}none paired: record both ends with the heartbeat port watched (`--watch-port` or a udp:/tcp: heartbeat source)"
        )?;
    }
    for f in &m.flows {
        let fates: Vec<String> = f
            .fates
            .iter()
            .map(|(l, n)| format!("{} {n}", l.as_str()))
            .collect();
        writeln!(
            out,
            "{item}{} {} → {}  {} → {}: sent {}, reached the receiver {}{}; one-way delay p50 {} max {}",
            f.proto,
            f.source,
            f.destination,
            label(m, Some(f.sender), "?"),
            label(m, Some(f.receiver), "?"),
            f.sent,
            f.delivered,
            if fates.is_empty() {
                String::new()
            } else {
                format!(" (lost: {})", fates.join(", "))
            },
            f.delay_p50_ns.map_or("-".into(), signed_ns),
            f.delay_max_ns.map_or("-".into(), signed_ns),
        )?;
        if let (Some(p50), Some(max)) = (f.held_p50_ns, f.held_max_ns) {
            writeln!(
                out,
                "{item}    in the sender's qdisc (queued → driver): p50 {} max {}",
                units::ns(p50),
                units::ns(max)
            )?;
        }
    }
    writeln!(out)?;
    let t0 = m.ref_start_mono_ns as i64;
    writeln!(
        out,
        "{h2}Incidents (times on {}'s clock, from its start)",
        label(m, Some(0), "?")
    )?;
    for i in &m.incidents {
        let s = label(m, i.sender, "an unrecorded peer");
        let r = label(m, Some(i.receiver), "?");
        let gaps: Vec<String> = i
            .gaps
            .iter()
            .map(|(g, l)| format!("{g} {}", l.as_str()))
            .collect();
        writeln!(
            out,
            "{item}#{} {} → {} ({} lost) · {} · {r}'s incident {} (gaps {})",
            i.number,
            signed_ns(i.start_ref_ns - t0),
            signed_ns(i.end_ref_ns - t0),
            units::ns(i.lost_ns),
            i.leg.as_str(),
            i.receiver_incident,
            gaps.join(", ")
        )?;
        writeln!(
            out,
            "{item}    {s}'s heartbeats to {r}: {}",
            leg_text(i.leg, &s, &r)
        )?;
    }
    writeln!(out)?;
    writeln!(out, "{h2}Gaps by leg")?;
    for f in &m.findings {
        let s = label(m, f.sender, f.peer.as_deref().unwrap_or("?"));
        let r = label(m, Some(f.receiver), "?");
        writeln!(
            out,
            "{item}{} {} gap {} ({}, from {}) {} · {} · {} said: {}",
            signed_ns(f.start_ref_ns - t0),
            r,
            f.gap,
            f.source,
            f.peer.as_deref().unwrap_or("?"),
            units::ns(f.length_ns),
            f.leg.as_str(),
            r,
            f.receiver_cause.as_str()
        )?;
        writeln!(out, "{item}    {}", leg_text(f.leg, &s, &r))?;
        for e in &f.evidence {
            writeln!(out, "{item}    · {e}")?;
        }
        if !f.fix.is_empty() {
            writeln!(out, "{item}    fix on {}:", label(m, f.fix_on, "the path"))?;
            for x in &f.fix {
                writeln!(out, "{item}      - {x}")?;
            }
        }
    }
    Ok(())
}
