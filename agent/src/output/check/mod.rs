//! `hbwatch check` output: the findings as text for operators or JSON (schema in docs/check.md).

mod text;

use std::{io::Write, path::PathBuf};

use serde::Serialize;

use crate::{
    analysis::recommendation::Recommendation,
    recording::records::{HostConfig, IrqKind},
};

/// Bumped when a field changes meaning or disappears; adding fields does not bump it.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    pub schema_version: u32,
    pub hbwatch_version: String,
    pub host: String,
    pub kernel: String,
    /// Set when a fixture tree was read instead of this host.
    pub root: Option<PathBuf>,
    pub iface: Option<String>,
    /// Time between the two counter reads, milliseconds.
    pub window_ms: u64,
    pub online_cpus: Vec<u32>,
    pub isolated_cpus: Vec<u32>,
    pub irqbalance_running: bool,
    pub nics: Vec<NicLine>,
    /// What could not be read, and why; findings that depend on it are missing.
    pub unreadable: Vec<String>,
    pub findings: Vec<Recommendation>,
}

/// One NIC in a line: what the findings talk about.
#[derive(Debug, Clone, Serialize)]
pub struct NicLine {
    pub name: String,
    pub driver: Option<String>,
    pub numa_node: Option<i32>,
    pub rx_queues: u32,
    pub queue_irqs: Vec<u32>,
    pub rps_queues: usize,
    pub ethtool_source: String,
}

impl CheckReport {
    pub fn new(
        (host, kernel): (String, String),
        root: Option<PathBuf>,
        iface: Option<&str>,
        cfg: &HostConfig,
        window_ns: u64,
        unreadable: Vec<String>,
        findings: Vec<Recommendation>,
    ) -> Self {
        CheckReport {
            schema_version: SCHEMA_VERSION,
            hbwatch_version: env!("CARGO_PKG_VERSION").to_owned(),
            host,
            kernel,
            root,
            iface: iface.map(str::to_owned),
            window_ms: window_ns / 1_000_000,
            online_cpus: cfg.cpus.online.clone(),
            isolated_cpus: cfg.cpus.isolated.clone(),
            irqbalance_running: cfg.irqbalance.running,
            nics: cfg
                .nics
                .iter()
                .filter(|n| !n.is_virtual)
                .map(|n| NicLine {
                    name: n.name.clone(),
                    driver: n.driver.clone(),
                    numa_node: n.numa_node,
                    rx_queues: n.rx_queue_count(),
                    queue_irqs: n
                        .queue_irqs()
                        .filter(|q| q.kind == IrqKind::Rx)
                        .map(|q| q.irq)
                        .collect(),
                    rps_queues: n
                        .rx_queues
                        .iter()
                        .filter(|q| !q.rps_cpus.is_empty())
                        .count(),
                    ethtool_source: n.ethtool.source.clone(),
                })
                .collect(),
            unreadable,
            findings,
        }
    }
}

pub fn render(r: &CheckReport, format: CheckFormat, out: &mut dyn Write) -> std::io::Result<()> {
    match format {
        CheckFormat::Text => text::render(r, out),
        CheckFormat::Json => {
            serde_json::to_writer_pretty(&mut *out, r)?;
            writeln!(out)
        }
    }
}
