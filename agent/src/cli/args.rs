//! clap definitions. Values are validated while parsing, so a command starts with settings that
//! are already known to be sound.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::{Args, Parser, Subcommand};

use crate::{
    heartbeat::{ConfigError, HeartbeatConfig},
    output::{check::CheckFormat, export::window::TimeSpec, report::ReportFormat},
    units::parse_duration,
};

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
    /// Watch live in the terminal while recording underneath (needs root and a TTY).
    Live(LiveArgs),
    /// Export a recording (or one gap's window) as flamegraphs, HdrHistograms, a timeline, a
    /// Perfetto trace or per-second JSON.
    Export(ExportArgs),
    /// Record continuously for fleets: serve OpenMetrics and write rotating recordings (needs root).
    Serve(ServeArgs),
    /// List the log presets for heartbeat sources, with an example line each.
    Presets,
    /// Print shell completions for SHELL to stdout.
    Completions(CompletionsArgs),
    /// Print the man page (roff) to stdout, or write one page per subcommand into --dir.
    Man(ManArgs),
    /// A one-minute tour (needs root, ip and nft): two namespaces, a UDP heartbeat, a
    /// receive-buffer overflow, a receiver stall and a firewall drop, recorded and explained.
    Demo(DemoArgs),
    /// A heartbeat peer for the demo and tests (runs inside a namespace).
    #[command(hide = true)]
    DemoPeer(DemoPeerArgs),
}

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Keep the demo's recording in this file (otherwise it is temporary and removed).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Overwrite the --output file if it exists.
    #[arg(long, requires = "output")]
    pub force: bool,
    /// UDP port of the demo heartbeat (inside the demo's own namespaces).
    #[arg(long, default_value_t = 47_999, value_parser = clap::value_parser!(u16).range(1..))]
    pub port: u16,
}

#[derive(Args, Debug)]
pub struct DemoPeerArgs {
    #[command(subcommand)]
    pub role: DemoPeerRole,
}

#[derive(Subcommand, Debug)]
pub enum DemoPeerRole {
    /// Send a datagram to TO every EVERY (0 = as fast as possible).
    Send {
        to: std::net::SocketAddr,
        #[arg(long, default_value = "100ms", value_parser = humantime::parse_duration)]
        every: Duration,
        #[arg(long = "for", value_parser = parse_duration)]
        for_: Option<Duration>,
    },
    /// Receive on PORT, optionally with a small receive buffer and a delay after each read.
    Recv {
        port: u16,
        #[arg(long, default_value_t = 0)]
        rcvbuf: usize,
        #[arg(long, default_value = "0s", value_parser = humantime::parse_duration)]
        read_delay: Duration,
    },
}

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Only look at this interface.
    #[arg(long)]
    pub iface: Option<String>,
    /// Output format.
    #[arg(long, default_value = "text", value_parser = check_format())]
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
    /// Serve OpenMetrics at http://ADDR/metrics while recording (e.g. 127.0.0.1:9464).
    #[arg(long, value_name = "ADDR")]
    pub metrics_addr: Option<SocketAddr>,
    #[command(flatten)]
    pub probes: ProbeArgs,
    #[command(flatten)]
    pub heartbeat: HeartbeatArgs,
}

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Serve OpenMetrics at http://ADDR/metrics.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9464")]
    pub metrics_addr: SocketAddr,
    /// Folder for the rotating recordings [default: /var/lib/hbwatch].
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
    #[command(flatten)]
    pub probes: ProbeArgs,
    #[command(flatten)]
    pub heartbeat: HeartbeatArgs,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// The recording to read (`-`: standard input).
    pub path: PathBuf,
    /// More recordings, of the other ends of the heartbeats: `--timeline` then draws all of
    /// them on one time axis (as `report A B …` aligns them).
    #[arg(value_name = "MORE", requires = "timeline", conflicts_with_all = ["gap", "from", "to", "flamegraph", "folded", "histograms", "trace", "json", "ndjson"])]
    pub more: Vec<PathBuf>,
    /// Limit to the evidence window of heartbeat gap N (as numbered by the report).
    #[arg(long, value_name = "N", conflicts_with_all = ["from", "to"], allow_negative_numbers = true, value_parser = parse_gap_number)]
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
    /// Kernel stacks as folded text (flamegraph.pl, speedscope); `-` writes to standard output.
    #[arg(long, value_name = "OUT.folded")]
    pub folded: Option<PathBuf>,
    /// Make --flamegraph differential: the window against the rest of the recording.
    #[arg(long, requires = "flamegraph")]
    pub diff_baseline: bool,
    /// Draw every recorded kernel stack, not only those sampled in softirq context (needs a
    /// recording made with `record --all-stacks` to add anything).
    #[arg(long)]
    pub all_stacks: bool,
    /// HdrHistogram .hgrm and .hlog files into this folder (created if missing).
    #[arg(long, value_name = "DIR")]
    pub histograms: Option<PathBuf>,
    /// Timeline picture (SVG): heartbeats, NET_RX wait p99, drops, gaps.
    #[arg(long, value_name = "OUT.svg")]
    pub timeline: Option<PathBuf>,
    /// Chrome Trace Event JSON for Perfetto or chrome://tracing; `-` writes to standard output.
    #[arg(long, value_name = "OUT.json")]
    pub trace: Option<PathBuf>,
    /// Per-second series as one JSON document; `-` writes to standard output.
    #[arg(long, value_name = "OUT.json")]
    pub json: Option<PathBuf>,
    /// Per-second series as NDJSON (one object per line); `-` writes to standard output.
    #[arg(long, value_name = "OUT.ndjson")]
    pub ndjson: Option<PathBuf>,
    /// Overwrite output files that exist.
    #[arg(long)]
    pub force: bool,
}

#[derive(Args, Debug)]
pub struct ManArgs {
    /// Write hbwatch.1 and hbwatch-SUBCOMMAND.1 pages into this folder instead of one page to
    /// stdout (how packages install them).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct CompletionsArgs {
    /// bash, zsh, fish, elvish or powershell.
    pub shell: clap_complete::Shell,
}

/// Kernel-probe options shared by `record` and `live`.
#[derive(Args, Debug)]
pub struct ProbeArgs {
    /// Do not use BTF: attach classic tracepoints (for kernels with broken BTF, and for tests).
    #[arg(long, hide = true)]
    pub no_btf: bool,
    /// Measure scheduling delay (runqueue wait, off-CPU time) of this process; repeatable.
    #[arg(long, value_name = "PID")]
    pub watch_pid: Vec<u32>,
    /// Measure scheduling delay of processes with this command name (/proc/PID/comm); repeatable.
    #[arg(long, value_name = "NAME")]
    pub watch_comm: Vec<String>,
    /// Softirqs waiting or running longer than this are recorded one by one (e.g. 1ms, 200us).
    #[arg(long, default_value = "1ms", value_parser = parse_duration)]
    pub softirq_threshold: Duration,
    /// Softirqs whose wait and run are timed per tick, CPU and vector (0: all). Above this rate
    /// the rest are counted exactly but not timed, and the report shows the share timed.
    #[arg(long, default_value_t = agent_common::softirq::TIMED_PER_TICK)]
    pub softirq_timed_per_tick: u32,
    /// Packet drops per tick and CPU counted with device, RX queue and ports (0: all). Above
    /// this rate the rest are counted by reason and protocol; watched ports always in detail.
    #[arg(long, default_value_t = agent_common::drops::DROP_DETAIL_PER_TICK)]
    pub drop_detail_per_tick: u32,
    /// Kernel stack samples per second per CPU for flamegraphs (0 turns sampling off).
    #[arg(long, default_value_t = 99, value_parser = clap::value_parser!(u32).range(0..=10_000))]
    pub stack_rate: u32,
    /// Keep every sampled kernel stack, not only those taken while a softirq runs.
    #[arg(long)]
    pub all_stacks: bool,
    /// Report each packet of this heartbeat port one by one: `udp:PORT` or `tcp:PORT`
    /// (repeatable): seen at the device, queued to the socket, read, dropped.
    #[arg(long = "watch-port", value_name = "PROTO:PORT", value_parser = crate::probes::portwatch::parse_watch_port)]
    pub watch_ports: Vec<crate::probes::portwatch::WatchPort>,
    /// Record only what belongs to this network namespace: a name (`ip netns`), a path
    /// (/proc/PID/ns/net, /run/netns/NAME) or a PID. Its devices, sockets, drops, NAPI and
    /// watched flows are kept; softirq, CPU and scheduling evidence stays host-wide (shared).
    #[arg(long, value_name = "NAME|PATH|PID", value_parser = crate::collectors::netns::resolve)]
    pub netns: Option<crate::collectors::netns::NetnsTarget>,
    /// Treat this tracepoint as missing from the kernel (repeatable; tests the degraded paths).
    #[arg(long = "disable-probe", value_name = "NAME", hide = true, value_parser = crate::probes::disable::parse_probe_name)]
    pub disable_probe: Vec<String>,
}

impl ProbeArgs {
    /// What the probes need from these options.
    pub fn probe_options(&self) -> crate::probes::ProbeOptions {
        crate::probes::ProbeOptions {
            no_btf: self.no_btf,
            softirq_threshold_ns: u64::try_from(self.softirq_threshold.as_nanos())
                .unwrap_or(u64::MAX),
            softirq_timed_per_tick: self.softirq_timed_per_tick,
            drop_detail_per_tick: self.drop_detail_per_tick,
            watch: crate::probes::sched::WatchList {
                pids: self.watch_pid.clone(),
                comms: self.watch_comm.clone(),
            },
            watch_ports: self.watch_ports.clone(),
            disabled: self.disable_probe.clone(),
            netns: self.netns.clone(),
            stacks: (self.stack_rate > 0).then_some(crate::probes::stacks::StackOptions {
                rate_hz: self.stack_rate,
                all_stacks: self.all_stacks,
            }),
        }
    }
}

#[derive(Args, Debug)]
pub struct LiveArgs {
    /// Keep the recording in this file; without it the view records into a temporary file
    /// that is removed on exit.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Overwrite the output file if it exists.
    #[arg(long)]
    pub force: bool,
    /// Stop after this long (e.g. 30s, 5m); without it, until q, Ctrl-C or SIGTERM.
    #[arg(short, long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    #[command(flatten)]
    pub probes: ProbeArgs,
    #[command(flatten)]
    pub heartbeat: HeartbeatArgs,
}

/// Heartbeat sources and gap detection, shared by `record` and the live view.
#[derive(Args, Debug, Default)]
pub struct HeartbeatArgs {
    /// A heartbeat source (repeatable): log:PATH[:PRESET], journal:UNIT[:PRESET],
    /// udp:PORT[:PRESET][@INTERVAL], tcp:PORT[:PRESET][@INTERVAL],
    /// probe:tcp://HOST:PORT[@INTERVAL][,timeout=D][,failures=N], probe:http://HOST:PORT/PATH,
    /// probe:udp://HOST:PORT. Log lines are of two kinds: log:PATH:beat=RE lines ARE heartbeats
    /// (silence between them is a gap); log:PATH:loss=RE and :stall=RE lines REPORT a lost
    /// peer or a stall of this process (their gaps are the losses they report; their silence is
    /// health). Parts combine (log:app.log:beat=tick:loss=missed (?<count>\d+)); regex=RE is a
    /// loss line when it has a count, ms, s or ns group, else a heartbeat; presets are loss
    /// lines. `hbwatch presets` lists presets.
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
    /// The recording to read (`-`: standard input).
    pub path: PathBuf,
    /// More recordings, of the other hosts (or namespaces) of the same heartbeats: one merged
    /// report that pairs their flows, aligns their clocks and names the leg of each lost
    /// heartbeat.
    #[arg(value_name = "MORE", conflicts_with_all = ["gap", "incident", "fix_script", "gap_factor"])]
    pub more: Vec<PathBuf>,
    /// Output format.
    #[arg(long, default_value = "text", value_parser = report_format())]
    pub format: ReportFormat,
    /// Re-run heartbeat gap detection with this factor instead of the recorded one.
    #[arg(long, value_name = "K", value_parser = parse_gap_factor)]
    pub gap_factor: Option<f64>,
    /// Show only gap N (as numbered in the gap timeline), in full.
    #[arg(long, value_name = "N", allow_negative_numbers = true, value_parser = parse_gap_number)]
    pub gap: Option<u32>,
    /// Show only incident N (as numbered in the report), in full with all its gaps.
    #[arg(long, value_name = "N", conflicts_with = "gap", allow_negative_numbers = true, value_parser = parse_incident_number)]
    pub incident: Option<u32>,
    /// Also write the recommendations as a reviewable shell script (`sh PATH list`, `apply N`,
    /// `undo N`, `--dry-run`; mode 0600; nothing is applied by hbwatch).
    #[arg(long, value_name = "PATH")]
    pub fix_script: Option<PathBuf>,
    /// Overwrite the --fix-script file if it exists.
    #[arg(long, requires = "fix_script")]
    pub force: bool,
}

impl HeartbeatArgs {
    /// The validated heartbeat sources and settings of `record` (and the live view).
    pub fn config(&self) -> Result<HeartbeatConfig, ConfigError> {
        let mut c =
            HeartbeatConfig::build(&self.heartbeat, self.config.as_deref(), self.gap_factor)?;
        c.from_start = self.from_start;
        c.tz = self.tz.clone();
        Ok(c)
    }
}

impl ReportArgs {
    /// `hbwatch report PATH` with every option at its default.
    pub fn of(path: PathBuf) -> Self {
        ReportArgs {
            path,
            more: Vec::new(),
            format: ReportFormat::Text,
            gap_factor: None,
            gap: None,
            incident: None,
            fix_script: None,
            force: false,
        }
    }
}

/// `--format` of `report`: the output types stay free of clap.
fn report_format() -> impl clap::builder::TypedValueParser<Value = ReportFormat> {
    use clap::builder::TypedValueParser as _;
    clap::builder::PossibleValuesParser::new(["text", "json", "markdown"]).map(|s| {
        match s.as_str() {
            "json" => ReportFormat::Json,
            "markdown" => ReportFormat::Markdown,
            _ => ReportFormat::Text,
        }
    })
}

/// `--format` of `check`.
fn check_format() -> impl clap::builder::TypedValueParser<Value = CheckFormat> {
    use clap::builder::TypedValueParser as _;
    clap::builder::PossibleValuesParser::new(["text", "json"]).map(|s| match s.as_str() {
        "json" => CheckFormat::Json,
        _ => CheckFormat::Text,
    })
}

/// A gap number as the report numbers them: 1, 2, ...
pub fn parse_gap_number(s: &str) -> Result<u32, String> {
    match s.trim().parse::<i64>() {
        Ok(n) if (1..=i64::from(u32::MAX)).contains(&n) => Ok(n as u32),
        Ok(_) => Err(format!(
            "`{s}`: gap numbers start at 1 (as numbered in the report's gap timeline)"
        )),
        Err(_) => Err(format!(
            "`{s}` is not a gap number; use 1, 2, ... as numbered in the report's gap timeline"
        )),
    }
}

/// An incident number as the report numbers them: 1, 2, ...
pub fn parse_incident_number(s: &str) -> Result<u32, String> {
    match s.trim().parse::<i64>() {
        Ok(n) if (1..=i64::from(u32::MAX)).contains(&n) => Ok(n as u32),
        Ok(_) => Err(format!(
            "`{s}`: incident numbers start at 1 (as numbered in the report)"
        )),
        Err(_) => Err(format!(
            "`{s}` is not an incident number; use 1, 2, ... as numbered in the report"
        )),
    }
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
        let c = Cli::try_parse_from(["hbwatch", "live", "-o", "x.hbw", "-d", "1m"]).expect("parse");
        let Command::Live(l) = c.command else {
            panic!("not live")
        };
        assert_eq!(l.duration, Some(Duration::from_secs(60)));
        assert_eq!(l.output, Some(PathBuf::from("x.hbw")));
        assert!(Cli::try_parse_from(["hbwatch", "live", "-d", "0s"]).is_err());
    }

    #[test]
    fn parses_kernel_probe_options() {
        let c = Cli::try_parse_from(["hbwatch", "record"]).expect("parse");
        let Command::Record(r) = c.command else {
            panic!("not record")
        };
        let o = r.probes.probe_options();
        assert_eq!(o.softirq_threshold_ns, 1_000_000);
        assert_eq!(
            o.stacks.map(|s| (s.rate_hz, s.all_stacks)),
            Some((99, false))
        );
        assert!(o.watch.is_empty());
        let c = Cli::try_parse_from([
            "hbwatch",
            "record",
            "--watch-pid",
            "42",
            "--watch-comm",
            "corosync",
            "--watch-pid",
            "7",
            "--softirq-threshold",
            "200us",
            "--stack-rate",
            "0",
            "--all-stacks",
        ])
        .expect("parse");
        let Command::Record(r) = c.command else {
            panic!("not record")
        };
        let o = r.probes.probe_options();
        assert_eq!(o.watch.pids, vec![42, 7]);
        assert_eq!(o.watch.comms, vec!["corosync".to_owned()]);
        assert_eq!(o.softirq_threshold_ns, 200_000);
        assert!(o.stacks.is_none());
        for bad in [
            &["hbwatch", "record", "--watch-pid", "x"][..],
            &["hbwatch", "record", "--stack-rate", "20000"],
            &["hbwatch", "record", "--softirq-threshold", "0s"],
        ] {
            assert!(Cli::try_parse_from(bad).is_err(), "{bad:?} accepted");
        }
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
