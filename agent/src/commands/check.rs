//! `hbwatch check`: read the host's configuration and counters twice about a second apart, run
//! the audit rules and print the findings. No tracing, no root needed where files are readable.

use std::{io::Write as _, path::PathBuf, time::Duration};

use anyhow::{Context as _, anyhow};

use crate::{
    analysis::audit::{AuditInput, audit},
    cli::{Failure, ResultExt as _, args::CheckArgs},
    clock,
    collectors::{
        config,
        host::HostRoot,
        system::{Counters, Targets, delta},
    },
    output::check::{CheckReport, render},
};

/// Between the two counter reads: long enough for rates, short enough to wait for.
const WINDOW: Duration = Duration::from_secs(1);

pub fn run(a: CheckArgs) -> Result<(), Failure> {
    let report = check(a.root.as_deref(), a.iface.as_deref()).usage()?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    render(&report, a.format, &mut out)
        .and_then(|()| out.flush())
        .context("writing the check report")
        .runtime()
}

/// Runs the whole check. Errors are bad input (a missing root, an unknown interface).
pub fn check(root: Option<&std::path::Path>, iface: Option<&str>) -> anyhow::Result<CheckReport> {
    check_with(root, iface, WINDOW)
}

/// [`check`] with a chosen wait between the two counter reads (tests of fixture trees need none).
pub fn check_with(
    root: Option<&std::path::Path>,
    iface: Option<&str>,
    window: Duration,
) -> anyhow::Result<CheckReport> {
    let host = match root {
        Some(r) if !r.is_dir() => return Err(anyhow!("--root {}: not a directory", r.display())),
        Some(r) => HostRoot(r.to_owned()),
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
        Some(r) if r.join("later").is_dir() => HostRoot(r.join("later")),
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
    let findings = audit(&AuditInput {
        config: &cfg,
        since_boot: Some(&since_boot),
        recent: Some(&recent),
        iface,
        app: None,
    });
    Ok(CheckReport::new(
        &host,
        root.map(PathBuf::from),
        iface,
        &cfg,
        recent.duration_ns(),
        unreadable,
        findings,
    ))
}
