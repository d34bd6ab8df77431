//! Plain-text rendering of a check report, for a terminal or a ticket.

use std::io::Write;

use super::CheckReport;
use crate::analysis::{audit::cpulist, recommendation::Recommendation};

pub fn render(r: &CheckReport, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(out, "hbwatch check on {} (kernel {})", r.host, r.kernel)?;
    if let Some(root) = &r.root {
        writeln!(out, "  read from fixture tree {}", root.display())?;
    }
    writeln!(
        out,
        "  CPUs online {}, isolated {}; irqbalance {}; counters compared over {} ms",
        cpulist(&r.online_cpus),
        cpulist(&r.isolated_cpus),
        if r.irqbalance_running {
            "running"
        } else {
            "not running"
        },
        r.window_ms
    )?;
    for n in &r.nics {
        writeln!(
            out,
            "  {}: driver {}, NUMA node {}, {} RX queue(s), queue IRQs [{}], RPS on {} queue(s); ethtool: {}",
            n.name,
            n.driver.as_deref().unwrap_or("?"),
            n.numa_node.map_or("?".into(), |v| v.to_string()),
            n.rx_queues,
            n.queue_irqs
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(","),
            n.rps_queues,
            n.ethtool_source
        )?;
    }
    writeln!(out)?;
    if r.findings.is_empty() && r.unreadable.is_empty() {
        writeln!(
            out,
            "No findings: nothing in this configuration or these counters puts heartbeats at risk."
        )?;
    } else if r.findings.is_empty() {
        writeln!(out, "No findings in what could be read (see below).")?;
    }
    for (k, f) in r.findings.iter().enumerate() {
        finding(k + 1, f, out)?;
    }
    if !r.unreadable.is_empty() {
        writeln!(
            out,
            "Could not read (findings that need these are missing):"
        )?;
        for u in &r.unreadable {
            writeln!(out, "  - {u}")?;
        }
    }
    Ok(())
}

fn finding(n: usize, f: &Recommendation, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(
        out,
        "{n}. [{}] {} ({}, {})",
        f.severity.label().to_uppercase(),
        f.title,
        f.id,
        f.subject
    )?;
    writeln!(out, "   Evidence:")?;
    for e in &f.evidence {
        writeln!(out, "     {}: {}", e.what, e.value)?;
    }
    writeln!(out, "   Risk: {}", f.risk)?;
    list(out, "Apply now", &f.apply)?;
    if !f.persist.is_empty() {
        writeln!(out, "   Make it persistent:")?;
        for p in &f.persist {
            match &p.file {
                Some(file) => writeln!(out, "     {} ({file}):", p.mechanism)?,
                None => writeln!(out, "     {}:", p.mechanism)?,
            }
            for line in p.content.lines() {
                writeln!(out, "       {line}")?;
            }
        }
    }
    if !f.cost.is_empty() {
        writeln!(out, "   Cost: {}", f.cost)?;
    }
    list(out, "Verify", &f.verify)?;
    list(out, "Undo", &f.undo)?;
    writeln!(out)
}

fn list(out: &mut dyn Write, title: &str, cmds: &[String]) -> std::io::Result<()> {
    if cmds.is_empty() {
        return Ok(());
    }
    writeln!(out, "   {title}:")?;
    for c in cmds {
        writeln!(out, "     $ {c}")?;
    }
    Ok(())
}
