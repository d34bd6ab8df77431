//! clap definitions. Values are validated while parsing, so a command starts with settings that
//! are already known to be sound.

use std::{path::PathBuf, time::Duration};

use clap::{Args, Parser, Subcommand};

use crate::output::report::ReportFormat;

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
    /// List the log presets for heartbeat sources, with an example line each.
    Presets,
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
    #[command(flatten)]
    pub heartbeat: HeartbeatArgs,
}

/// Heartbeat sources and gap detection, shared by `record` and the live view.
#[derive(Args, Debug, Default)]
pub struct HeartbeatArgs {
    /// A heartbeat source (repeatable): log:PATH[:PRESET], log:PATH:regex=RE, journal:UNIT,
    /// udp:PORT[@INTERVAL], tcp:PORT[@INTERVAL], probe:tcp://HOST:PORT[@INTERVAL][,timeout=D][,failures=N],
    /// probe:http://HOST:PORT/PATH, probe:udp://HOST:PORT. `hbwatch presets` lists presets.
    #[arg(long = "heartbeat", value_name = "SPEC")]
    pub heartbeat: Vec<String>,
    /// A TOML file with `[[heartbeat]]` sources (same forms as --heartbeat).
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Read followed log files from their start instead of their end.
    #[arg(long)]
    pub from_start: bool,
    /// Time zone for log stamps without one (e.g. UTC, Europe/Paris) [default: host local time].
    #[arg(long, value_name = "ZONE", value_parser = parse_tz)]
    pub tz: Option<jiff::tz::TimeZone>,
    /// A heartbeat gap is silence longer than this many expected intervals [default: 2].
    #[arg(long, value_name = "K", value_parser = parse_gap_factor)]
    pub gap_factor: Option<f64>,
}

fn parse_tz(s: &str) -> Result<jiff::tz::TimeZone, String> {
    jiff::tz::TimeZone::get(s).map_err(|_| {
        format!("`{s}` is not a known time zone; use an IANA name such as UTC or Europe/Paris")
    })
}

pub fn parse_gap_factor(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(k) if k.is_finite() && k > 1.0 => Ok(k),
        _ => Err(format!(
            "`{s}`: the gap factor must be a number above 1 (e.g. 2 or 3.5)"
        )),
    }
}

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// The recording to read.
    pub path: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    pub format: ReportFormat,
    /// Re-run heartbeat gap detection with this factor instead of the recorded one.
    #[arg(long, value_name = "K", value_parser = parse_gap_factor)]
    pub gap_factor: Option<f64>,
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
}
