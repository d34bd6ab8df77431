//! `hbwatch check`: read the host's configuration and counters twice about a second apart, run
//! the audit rules and print the findings. No tracing, no root needed where files are readable.

use std::{io::Write as _, path::PathBuf, time::Duration};

use anyhow::Context as _;

use crate::{
    analysis::audit::{AuditInput, audit},
    cli::args::CheckArgs,
    collectors::check as host_check,
    commands::{Failure, ResultExt as _},
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
    let r = host_check::read(root, iface, window)?;
    let findings = audit(&AuditInput {
        config: &r.config,
        since_boot: Some(&r.since_boot),
        recent: Some(&r.recent),
        iface,
        app: None,
    });
    Ok(CheckReport::new(
        (r.hostname, r.kernel),
        root.map(PathBuf::from),
        iface,
        &r.config,
        r.recent.duration_ns(),
        r.unreadable,
        findings,
    ))
}
