//! What `hbwatch check` reads: the host's configuration and its counters twice, a window apart
//! (or from a fixture tree and its `later/` snapshot).

use std::{path::Path, time::Duration};

use anyhow::anyhow;

use super::{
    config,
    host::HostRoot,
    system::{Counters, Targets, delta},
};
use crate::{
    clock,
    recording::records::{HostConfig, SystemSample},
};

/// The readings `check` judges.
pub struct CheckReadings {
    pub hostname: String,
    pub kernel: String,
    pub config: HostConfig,
    /// Counters over the window.
    pub recent: SystemSample,
    /// Counters since boot.
    pub since_boot: SystemSample,
    /// What could not be read, and why.
    pub unreadable: Vec<String>,
}

/// Reads this host (or the fixture tree `root`). Errors are bad input (a missing root, an
/// unknown interface).
pub fn read(
    root: Option<&Path>,
    iface: Option<&str>,
    window: Duration,
) -> anyhow::Result<CheckReadings> {
    let host = match root {
        Some(r) if !r.is_dir() => return Err(anyhow!("--root {}: not a directory", r.display())),
        Some(r) => HostRoot::at(r.to_owned()),
        None => HostRoot::default(),
    };
    if let Some(i) = iface {
        let names = config::interface_names(&host);
        if !names.iter().any(|n| n == i) {
            return Err(anyhow!(
                "unknown interface `{i}` (this host has: {})",
                if names.is_empty() {
                    "none".to_owned()
                } else {
                    names.join(", ")
                }
            ));
        }
    }
    let cfg = config::read(&host, clock::mono_ns(), iface);
    let targets = Targets::from_config(&cfg, host.softirq_vectors());
    let (first, _) = Counters::read(&host, &targets, clock::mono_ns());
    std::thread::sleep(window);
    // A fixture may hold a second snapshot under `later/` so tests can see counters move.
    let second_root = match root {
        Some(r) if r.join("later").is_dir() => HostRoot::at(r.join("later")),
        _ => host.clone(),
    };
    let (second, results) = Counters::read(&second_root, &targets, clock::mono_ns());
    let recent = delta(&first, &second);
    let since_boot = delta(
        &Counters {
            at_mono_ns: 0,
            ..Counters::default()
        },
        &second,
    );
    let mut unreadable = cfg.unreadable.clone();
    unreadable.extend(
        results
            .into_iter()
            .filter_map(|(name, r)| r.err().map(|(_, why)| format!("{name}: {why}"))),
    );
    for n in cfg.nics.iter().filter(|n| {
        !n.is_virtual
            && !n.ethtool.source.starts_with("netlink")
            && !n.ethtool.source.starts_with("snapshot")
    }) {
        unreadable.push(format!("{} ethtool: {}", n.name, n.ethtool.source));
    }
    Ok(CheckReadings {
        hostname: host.hostname(),
        kernel: host.kernel_release(),
        config: cfg,
        recent,
        since_boot,
        unreadable,
    })
}
