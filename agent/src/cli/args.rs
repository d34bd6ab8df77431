//! clap definitions. Values are validated while parsing, so a command starts with settings that
//! are already known to be sound.

use std::{path::PathBuf, time::Duration};

use clap::{Args, Parser, Subcommand};

use crate::output::{check::CheckFormat, report::ReportFormat};

#[derive(Parser, Debug)]
#[command(
    name = "hbwatch",
    version,
    about = "Explains lost heartbeats: records softirq latency, packet drops and stalls with eBPF, then reports why.",
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Record kernel evidence into a crash-safe recording (needs root).
    Record(RecordArgs),
    /// Summarise a recording: softirq latency per vector and CPU, lost events, clock steps.
    Report(ReportArgs),
    /// Audit NIC, IRQ, RPS and sysctl settings and kernel drop counters, without tracing.
    Check(CheckArgs),
}

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Only look at this interface.
    #[arg(long)]
    pub iface: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = CheckFormat::Text)]
    pub format: CheckFormat,
    /// Read /proc and /sys under this folder instead of / (fixture trees, for tests).
    #[arg(long, hide = true)]
    pub root: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct RecordArgs {
    /// How long to record (e.g. 30s, 5m, 1h30m); without it, until Ctrl-C or SIGTERM.
    #[arg(short, long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Recording file [default: hbwatch-<host>-<time>.hbw in the current folder].
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Overwrite the output file if it exists.
    #[arg(long)]
    pub force: bool,
    /// How often kernel aggregates are read and the recording is flushed (at most 1s).
    #[arg(long, default_value = "1s", value_parser = parse_interval)]
    pub interval: Duration,
    /// Do not use BTF: attach classic tracepoints (for kernels with broken BTF, and for tests).
    #[arg(long, hide = true)]
    pub no_btf: bool,
}

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// The recording to read.
    pub path: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    pub format: ReportFormat,
}

/// A positive duration such as `30s`, `500ms`, `2m`, `1h30m`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s.trim()).map_err(|e| {
        format!("`{s}` is not a duration ({e}); use forms like 30s, 500ms, 5m, 1h30m")
    })?;
    if d.is_zero() {
        return Err(format!("`{s}`: the duration must be greater than zero"));
    }
    Ok(d)
}

fn parse_interval(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    if d < Duration::from_millis(100) || d > Duration::from_secs(1) {
        return Err(format!("`{s}`: the interval must be between 100ms and 1s"));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        for bad in ["", "0s", "-5s", "ten seconds", "5x", "1.5.2s"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn parses_record_and_report() {
        let c = Cli::try_parse_from(["hbwatch", "record", "-d", "3s", "-o", "x.hbw", "--force"])
            .expect("parse");
        let Command::Record(r) = c.command else {
            panic!("not record")
        };
        assert_eq!(r.duration, Some(Duration::from_secs(3)));
        assert!(r.force);
        let c =
            Cli::try_parse_from(["hbwatch", "report", "x.hbw", "--format", "json"]).expect("parse");
        assert!(matches!(
            c.command,
            Command::Report(ReportArgs {
                format: ReportFormat::Json,
                ..
            })
        ));
        assert!(Cli::try_parse_from(["hbwatch", "record", "--duration", "soon"]).is_err());
        assert!(Cli::try_parse_from(["hbwatch", "record", "--interval", "5s"]).is_err());
        assert!(Cli::try_parse_from(["hbwatch", "frobnicate"]).is_err());
    }

    #[test]
    fn parses_check() {
        let c = Cli::try_parse_from(["hbwatch", "check", "--iface", "eth0", "--format", "json"])
            .expect("parse");
        let Command::Check(a) = c.command else {
            panic!("not check")
        };
        assert_eq!(a.iface.as_deref(), Some("eth0"));
        assert_eq!(a.format, CheckFormat::Json);
        assert!(a.root.is_none());
        assert!(Cli::try_parse_from(["hbwatch", "check", "--format", "xml"]).is_err());
    }
}
