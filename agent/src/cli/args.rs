//! clap definitions. Values are validated while parsing, so a command starts with settings that
//! are already known to be sound.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::{Args, Parser, Subcommand};

use crate::output::{export::window::TimeSpec, report::ReportFormat};

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
    /// Export a recording (or one gap's window) as flamegraphs, HdrHistograms, a timeline, a
    /// Perfetto trace or per-second JSON.
    Export(ExportArgs),
    /// Record continuously for fleets: serve OpenMetrics and write rotating recordings (needs root).
    Serve(ServeArgs),
    /// Print shell completions for SHELL to stdout.
    Completions(CompletionsArgs),
    /// Print the man page (roff) to stdout.
    Man,
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
    /// Serve OpenMetrics at http://ADDR/metrics while recording (e.g. 127.0.0.1:9464).
    #[arg(long, value_name = "ADDR")]
    pub metrics_addr: Option<SocketAddr>,
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Serve OpenMetrics at http://ADDR/metrics.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9464")]
    pub metrics_addr: SocketAddr,
    /// Folder for rotating recordings; without it nothing is written to disk.
    #[arg(long, value_name = "DIR")]
    pub output_dir: Option<PathBuf>,
    /// Start a new recording file this often.
    #[arg(long, default_value = "1h", value_parser = parse_duration, requires = "output_dir")]
    pub rotate: Duration,
    /// Keep at most this many recordings in the folder (oldest removed first).
    #[arg(long, default_value_t = 24, value_parser = clap::value_parser!(u32).range(1..), requires = "output_dir")]
    pub keep: u32,
    /// How often kernel aggregates are read (at most 1s).
    #[arg(long, default_value = "1s", value_parser = parse_interval)]
    pub interval: Duration,
    #[arg(long, hide = true)]
    pub no_btf: bool,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// The recording to read.
    pub path: PathBuf,
    /// Limit to the evidence window of heartbeat gap N (as numbered by the report).
    #[arg(long, value_name = "N", conflicts_with_all = ["from", "to"])]
    pub gap: Option<u32>,
    /// Window start: an offset from the recording start (+10s) or an RFC 3339 time.
    #[arg(long, value_name = "T", value_parser = crate::output::export::window::parse_time)]
    pub from: Option<TimeSpec>,
    /// Window end: an offset from the recording start (+40s) or an RFC 3339 time.
    #[arg(long, value_name = "T", value_parser = crate::output::export::window::parse_time)]
    pub to: Option<TimeSpec>,
    /// Kernel stacks as an interactive SVG flamegraph (inferno).
    #[arg(long, value_name = "OUT.svg")]
    pub flamegraph: Option<PathBuf>,
    /// Kernel stacks as folded text (flamegraph.pl, speedscope).
    #[arg(long, value_name = "OUT.folded")]
    pub folded: Option<PathBuf>,
    /// Make --flamegraph differential: the window against the rest of the recording.
    #[arg(long, requires = "flamegraph")]
    pub diff_baseline: bool,
    /// HdrHistogram .hgrm and .hlog files into this folder (created if missing).
    #[arg(long, value_name = "DIR")]
    pub histograms: Option<PathBuf>,
    /// Timeline picture (SVG): heartbeats, NET_RX wait p99, drops, gaps.
    #[arg(long, value_name = "OUT.svg")]
    pub timeline: Option<PathBuf>,
    /// Chrome Trace Event JSON for Perfetto or chrome://tracing.
    #[arg(long, value_name = "OUT.json")]
    pub trace: Option<PathBuf>,
    /// Per-second series as one JSON document.
    #[arg(long, value_name = "OUT.json")]
    pub json: Option<PathBuf>,
    /// Per-second series as NDJSON (one object per line).
    #[arg(long, value_name = "OUT.ndjson")]
    pub ndjson: Option<PathBuf>,
    /// Overwrite output files that exist.
    #[arg(long)]
    pub force: bool,
}

#[derive(Args, Debug)]
pub struct CompletionsArgs {
    /// bash, zsh, fish, elvish or powershell.
    pub shell: clap_complete::Shell,
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
    fn parses_export_serve_and_metrics() {
        let c = Cli::try_parse_from([
            "hbwatch",
            "export",
            "r.hbw",
            "--from",
            "+10s",
            "--to",
            "2026-11-22T07:00:40Z",
            "--trace",
            "t.json",
        ])
        .expect("parse");
        let Command::Export(e) = c.command else {
            panic!("not export")
        };
        assert_eq!(e.from, Some(TimeSpec::Offset(Duration::from_secs(10))));
        assert!(matches!(e.to, Some(TimeSpec::Wall(_))));
        assert!(
            Cli::try_parse_from(["hbwatch", "export", "r.hbw", "--gap", "1", "--from", "+1s"])
                .is_err()
        );
        assert!(Cli::try_parse_from(["hbwatch", "export", "r.hbw", "--diff-baseline"]).is_err());
        assert!(Cli::try_parse_from(["hbwatch", "export", "r.hbw", "--from", "soon"]).is_err());
        let c = Cli::try_parse_from(["hbwatch", "record", "--metrics-addr", "127.0.0.1:9464"])
            .expect("parse");
        assert!(matches!(
            c.command,
            Command::Record(RecordArgs {
                metrics_addr: Some(_),
                ..
            })
        ));
        assert!(Cli::try_parse_from(["hbwatch", "record", "--metrics-addr", "localhost"]).is_err());
        assert!(Cli::try_parse_from(["hbwatch", "serve", "--rotate", "1h"]).is_err());
        assert!(
            Cli::try_parse_from(["hbwatch", "serve", "--output-dir", "/x", "--keep", "0"]).is_err()
        );
        assert!(Cli::try_parse_from(["hbwatch", "completions", "bash"]).is_ok());
    }
}
