//! `--heartbeat SPEC` and `--config FILE` parsing into validated [`SourceSpec`]s. Every error names
//! the spec, the position and what was expected, so `record` exits 2 before attaching anything.

use std::{path::PathBuf, time::Duration};

use regex::Regex;
use serde::Deserialize;

use super::presets::{self, Preset};
use crate::recording::records::{EventKind, SourceKind};

/// Named groups a user pattern may use.
pub const GROUPS: &[&str] = &["ts", "peer", "count", "ms", "s", "ns"];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("heartbeat spec `{spec}`: at position {position}: expected {expected}")]
pub struct SpecError {
    pub spec: String,
    /// 1-based character position of the problem.
    pub position: usize,
    pub expected: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("{path}: heartbeat #{index}: {error}")]
    Spec {
        path: PathBuf,
        index: usize,
        error: SpecError,
    },
    /// A `--heartbeat` flag.
    #[error(transparent)]
    Flag(#[from] SpecError),
    #[error("--gap-factor: expected a factor above 1, not {0}")]
    GapFactor(f64),
}

/// How a log or journal line is recognised.
#[derive(Debug, Clone)]
pub enum LineRule {
    /// A preset's lines: every one reports a loss, a stall or a clock jump.
    Preset(&'static Preset),
    /// User patterns, each with what its lines are: a heartbeat (`Arrival`), a reported loss of
    /// the peer's heartbeats (`PeerSilence`) or a stall of this process (`SelfStall`).
    Patterns(Vec<(EventKind, Regex)>),
    /// Every line is an arrival (a journal unit without a preset).
    Any,
}

impl LineRule {
    /// Every line it matches reports a loss or stall: the source's silence is health, not a gap.
    pub fn reports_losses_only(&self) -> bool {
        match self {
            LineRule::Preset(_) => true,
            LineRule::Patterns(p) => p.iter().all(|(k, _)| *k != EventKind::Arrival),
            LineRule::Any => false,
        }
    }
}

/// The spec markers of user patterns, with the kind of line each names (`regex=`: a heartbeat,
/// or a loss when it has a `count`, `ms`, `s` or `ns` group).
const PATTERN_MARKS: &[(&str, Option<EventKind>)] = &[
    (":beat=", Some(EventKind::Arrival)),
    (":loss=", Some(EventKind::PeerSilence)),
    (":stall=", Some(EventKind::SelfStall)),
    (":regex=", None),
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeTarget {
    Tcp {
        host: String,
        port: u16,
    },
    Http {
        host: String,
        port: u16,
        path: String,
    },
    Udp {
        host: String,
        port: u16,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeSpec {
    pub target: ProbeTarget,
    pub interval: Duration,
    pub timeout: Duration,
    /// Consecutive failures that make a stall.
    pub failures: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    Udp,
    Tcp,
}

#[derive(Debug, Clone)]
pub enum Source {
    Log {
        path: PathBuf,
        rule: LineRule,
        interval: Option<Duration>,
    },
    Journal {
        unit: String,
        rule: LineRule,
        interval: Option<Duration>,
    },
    Passive {
        proto: Proto,
        port: u16,
        interval: Option<Duration>,
        /// `udp:5405:corosync`: the protocol whose timing sets the interval's floor.
        preset: Option<&'static Preset>,
    },
    Probe(ProbeSpec),
}

/// One validated source and the text it came from.
#[derive(Debug, Clone)]
pub struct SourceSpec {
    pub spec: String,
    pub source: Source,
}

impl SourceSpec {
    pub fn kind(&self) -> SourceKind {
        match &self.source {
            Source::Log { .. } => SourceKind::Log,
            Source::Journal { .. } => SourceKind::Journal,
            Source::Passive {
                proto: Proto::Udp, ..
            } => SourceKind::PassiveUdp,
            Source::Passive {
                proto: Proto::Tcp, ..
            } => SourceKind::PassiveTcp,
            Source::Probe(p) => match p.target {
                ProbeTarget::Tcp { .. } => SourceKind::ProbeTcp,
                ProbeTarget::Http { .. } => SourceKind::ProbeHttp,
                ProbeTarget::Udp { .. } => SourceKind::ProbeUdp,
            },
        }
    }

    pub fn preset(&self) -> Option<&'static Preset> {
        match &self.source {
            Source::Log {
                rule: LineRule::Preset(p),
                ..
            }
            | Source::Journal {
                rule: LineRule::Preset(p),
                ..
            }
            | Source::Passive {
                preset: Some(p), ..
            } => Some(p),
            _ => None,
        }
    }

    /// The interval given by the user or implied by the probe; `None` = learn it.
    pub fn expected_interval(&self) -> Option<Duration> {
        match &self.source {
            Source::Log { interval, .. }
            | Source::Journal { interval, .. }
            | Source::Passive { interval, .. } => *interval,
            Source::Probe(p) => Some(p.interval),
        }
    }
}

fn err(spec: &str, at: usize, expected: impl Into<String>) -> SpecError {
    SpecError {
        spec: spec.to_owned(),
        position: spec[..at.min(spec.len())].chars().count() + 1,
        expected: expected.into(),
    }
}

/// Parses one `--heartbeat` spec.
pub fn parse(spec: &str) -> Result<SourceSpec, SpecError> {
    let Some((scheme, rest)) = spec.split_once(':') else {
        return Err(err(
            spec,
            0,
            "a source kind: log:, journal:, udp:, tcp: or probe:",
        ));
    };
    let off = scheme.len() + 1;
    let source = match scheme {
        "log" => parse_log(spec, off, rest)?,
        "journal" => parse_journal(spec, off, rest)?,
        "udp" | "tcp" => {
            let (port, interval) = split_interval(spec, off, rest)?;
            let proto = if scheme == "udp" {
                Proto::Udp
            } else {
                Proto::Tcp
            };
            let (port, preset) = match port.split_once(':') {
                Some((p, name)) => (p, Some(find_preset(spec, off + p.len() + 1, name)?)),
                None => (port, None),
            };
            Source::Passive {
                proto,
                port: parse_port(spec, off, port)?,
                interval,
                preset,
            }
        }
        "probe" => Source::Probe(parse_probe(spec, off, rest)?),
        _ => {
            return Err(err(
                spec,
                0,
                "a source kind: log:, journal:, udp:, tcp: or probe:",
            ));
        }
    };
    Ok(SourceSpec {
        spec: spec.to_owned(),
        source,
    })
}

/// `X@INTERVAL` → (X, Some(interval)); the `@` must be followed by a duration.
fn split_interval<'a>(
    spec: &str,
    off: usize,
    s: &'a str,
) -> Result<(&'a str, Option<Duration>), SpecError> {
    match s.rsplit_once('@') {
        Some((head, iv)) => {
            let at = off + head.len() + 1;
            Ok((head, Some(parse_dur(spec, at, iv)?)))
        }
        None => Ok((s, None)),
    }
}

fn parse_dur(spec: &str, at: usize, s: &str) -> Result<Duration, SpecError> {
    crate::units::parse_duration(s).map_err(|_| {
        err(
            spec,
            at,
            format!("a duration such as 1s or 500ms, not `{s}`"),
        )
    })
}

fn parse_port(spec: &str, at: usize, s: &str) -> Result<u16, SpecError> {
    match s.parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(err(spec, at, format!("a port number 1-65535, not `{s}`"))),
    }
}

fn parse_log(spec: &str, off: usize, rest: &str) -> Result<Source, SpecError> {
    if let Some(i) = PATTERN_MARKS.iter().filter_map(|(m, _)| rest.find(m)).min() {
        let path = &rest[..i];
        if path.is_empty() {
            return Err(err(spec, off, "a file path"));
        }
        return Ok(Source::Log {
            path: PathBuf::from(path),
            rule: parse_patterns(spec, off + i, &rest[i..])?,
            interval: None,
        });
    }
    let (path, rule, interval) = match rest.rsplit_once(':') {
        // A last part with no `/` or `.` is a preset name; otherwise the `:` is part of the path.
        Some((path, tail)) if !tail.contains('/') && !tail.contains('.') || tail.contains('@') => {
            let tail_at = off + path.len() + 1;
            let (name, interval) = split_interval(spec, tail_at, tail)?;
            (
                path,
                LineRule::Preset(find_preset(spec, tail_at, name)?),
                interval,
            )
        }
        _ => match rest.rsplit_once('@') {
            Some((path, iv)) if crate::units::parse_duration(iv).is_ok() => {
                let at = off + path.len() + 1;
                (
                    path,
                    LineRule::Patterns(vec![(EventKind::Arrival, default_arrival_regex())]),
                    Some(parse_dur(spec, at, iv)?),
                )
            }
            _ => (
                rest,
                LineRule::Patterns(vec![(EventKind::Arrival, default_arrival_regex())]),
                None,
            ),
        },
    };
    if path.is_empty() {
        return Err(err(spec, off, "a file path"));
    }
    Ok(Source::Log {
        path: PathBuf::from(path),
        rule,
        interval,
    })
}

/// `:beat=RE:loss=RE:stall=RE:regex=RE`, in any order and number: each marker starts a pattern
/// that runs to the next marker.
fn parse_patterns(spec: &str, off: usize, s: &str) -> Result<LineRule, SpecError> {
    let mut marks: Vec<(usize, &str, Option<EventKind>)> = PATTERN_MARKS
        .iter()
        .flat_map(|(m, k)| s.match_indices(m).map(move |(i, _)| (i, *m, *k)))
        .collect();
    marks.sort_by_key(|m| m.0);
    let mut patterns = Vec::new();
    for (n, (i, mark, kind)) in marks.iter().enumerate() {
        let end = marks.get(n + 1).map_or(s.len(), |m| m.0);
        let at = off + i + mark.len();
        let re = compile_user_regex(spec, at, &s[i + mark.len()..end])?;
        let kind = kind.unwrap_or_else(|| {
            let loss = re
                .capture_names()
                .flatten()
                .any(|g| ["count", "ms", "s", "ns"].contains(&g));
            if loss {
                EventKind::PeerSilence
            } else {
                EventKind::Arrival
            }
        });
        patterns.push((kind, re));
    }
    Ok(LineRule::Patterns(patterns))
}

/// Without a preset or pattern every non-empty line of the file is a heartbeat, stamped by a
/// leading RFC 3339 / ISO 8601 time when it has one.
fn default_arrival_regex() -> Regex {
    // A fixed, known-good pattern: failing to compile it is a bug, caught by the unit tests.
    Regex::new(r"^\[?(?<ts>\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?)|\S")
        .unwrap_or_else(|e| panic!("built-in pattern: {e}"))
}

fn find_preset(spec: &str, at: usize, name: &str) -> Result<&'static Preset, SpecError> {
    presets::find(name).ok_or_else(|| {
        err(
            spec,
            at,
            format!(
                "a preset name (one of: {}), not `{name}`",
                presets::names().join(", ")
            ),
        )
    })
}

fn parse_journal(spec: &str, off: usize, rest: &str) -> Result<Source, SpecError> {
    let (unit, interval) = split_interval(spec, off, rest)?;
    let (unit, rule) = match unit.split_once(':') {
        Some((u, p)) => (
            u,
            LineRule::Preset(find_preset(spec, off + u.len() + 1, p)?),
        ),
        None => {
            // A unit named after a preset's system gets that preset (corosync.service → corosync).
            let base = unit.trim_end_matches(".service");
            (
                unit,
                presets::find(base).map_or(LineRule::Any, LineRule::Preset),
            )
        }
    };
    if unit.is_empty() {
        return Err(err(spec, off, "a systemd unit name"));
    }
    Ok(Source::Journal {
        unit: unit.to_owned(),
        rule,
        interval,
    })
}

/// `tcp://HOST:PORT`, `http://HOST:PORT/PATH`, `udp://HOST:PORT`, then `@INTERVAL` and
/// `,timeout=DUR`, `,failures=N`.
fn parse_probe(spec: &str, off: usize, rest: &str) -> Result<ProbeSpec, SpecError> {
    let (main, opts) = rest.split_once(',').unwrap_or((rest, ""));
    let (url, interval) = split_interval(spec, off, main)?;
    let Some((scheme, hostport)) = url.split_once("://") else {
        return Err(err(
            spec,
            off,
            "tcp://, http:// or udp:// followed by HOST:PORT",
        ));
    };
    let hp_at = off + scheme.len() + 3;
    let (hostport, path) = match hostport.find('/') {
        Some(i) if scheme == "http" => (&hostport[..i], hostport[i..].to_owned()),
        Some(i) => return Err(err(spec, hp_at + i, "no path (only http probes take one)")),
        None => (hostport, "/".to_owned()),
    };
    let Some((host, port)) = hostport.rsplit_once(':') else {
        return Err(err(spec, hp_at + hostport.len(), "`:PORT` after the host"));
    };
    if host.is_empty() {
        return Err(err(spec, hp_at, "a host name or address"));
    }
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = parse_port(spec, hp_at + host.len() + 1, port)?;
    let target = match scheme {
        "tcp" => ProbeTarget::Tcp { host, port },
        "http" => ProbeTarget::Http { host, port, path },
        "udp" => ProbeTarget::Udp { host, port },
        _ => return Err(err(spec, off, "tcp://, http:// or udp://")),
    };
    let interval = interval.unwrap_or(Duration::from_secs(1));
    let mut p = ProbeSpec {
        target,
        interval,
        timeout: interval,
        failures: 3,
    };
    let mut at = off + main.len() + 1;
    for opt in opts.split(',').filter(|o| !o.is_empty()) {
        match opt.split_once('=') {
            Some(("timeout", v)) => p.timeout = parse_dur(spec, at + 8, v)?,
            Some(("failures", v)) => {
                p.failures = match v.parse::<u32>() {
                    Ok(n) if n > 0 => n,
                    _ => return Err(err(spec, at + 9, "a failure count of at least 1")),
                }
            }
            _ => return Err(err(spec, at, "`timeout=DURATION` or `failures=N`")),
        }
        at += opt.len() + 1;
    }
    Ok(p)
}

/// Compiles a user pattern and checks its group names.
pub fn compile_user_regex(spec: &str, at: usize, re: &str) -> Result<Regex, SpecError> {
    if re.is_empty() {
        return Err(err(spec, at, "a regular expression after `regex=`"));
    }
    let compiled = Regex::new(re).map_err(|e| {
        let why = e.to_string();
        let last = why.lines().last().unwrap_or("").trim().to_owned();
        err(spec, at, format!("a valid regular expression ({last})"))
    })?;
    for name in compiled.capture_names().flatten() {
        if !GROUPS.contains(&name) {
            return Err(err(
                spec,
                at,
                format!("group names among {} (not `{name}`)", GROUPS.join(", ")),
            ));
        }
    }
    Ok(compiled)
}

/// The `--config` file: `[[heartbeat]]` tables, each either `spec = "..."` or fields.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    #[serde(default)]
    pub heartbeat: Vec<ConfigSource>,
    pub gap_factor: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigSource {
    pub spec: Option<String>,
    pub log: Option<String>,
    pub preset: Option<String>,
    pub regex: Option<String>,
    /// Patterns of heartbeat lines, loss lines and stall lines (`beat=`, `loss=`, `stall=`).
    pub beat: Option<String>,
    pub loss: Option<String>,
    pub stall: Option<String>,
    pub journal: Option<String>,
    pub udp: Option<u16>,
    pub tcp: Option<u16>,
    pub probe: Option<String>,
    pub interval: Option<String>,
    pub timeout: Option<String>,
    pub failures: Option<u32>,
}

impl ConfigSource {
    /// The equivalent spec string; the same parser then validates it.
    fn to_spec(&self) -> Result<String, SpecError> {
        let iv = self
            .interval
            .as_ref()
            .map(|i| format!("@{i}"))
            .unwrap_or_default();
        let mut opts = String::new();
        if let Some(t) = &self.timeout {
            opts += &format!(",timeout={t}");
        }
        if let Some(n) = self.failures {
            opts += &format!(",failures={n}");
        }
        let s = match (
            &self.spec,
            &self.log,
            &self.journal,
            self.udp,
            self.tcp,
            &self.probe,
        ) {
            (Some(s), None, None, None, None, None) => s.clone(),
            (None, Some(path), None, None, None, None) => {
                let mut pats = String::new();
                for (mark, re) in [
                    ("regex", &self.regex),
                    ("beat", &self.beat),
                    ("loss", &self.loss),
                    ("stall", &self.stall),
                ] {
                    if let Some(r) = re {
                        pats += &format!(":{mark}={r}");
                    }
                }
                match (&self.preset, pats.is_empty()) {
                    (Some(p), true) => format!("log:{path}:{p}{iv}"),
                    (None, false) => format!("log:{path}{pats}"),
                    (None, true) => format!("log:{path}{iv}"),
                    _ => {
                        return Err(err(
                            "log",
                            0,
                            "either `preset` or patterns (`regex`, `beat`, `loss`, `stall`), not both",
                        ));
                    }
                }
            }
            (None, None, Some(u), None, None, None) => match &self.preset {
                Some(p) => format!("journal:{u}:{p}{iv}"),
                None => format!("journal:{u}{iv}"),
            },
            (None, None, None, Some(p), None, None) => match &self.preset {
                Some(name) => format!("udp:{p}:{name}{iv}"),
                None => format!("udp:{p}{iv}"),
            },
            (None, None, None, None, Some(p), None) => match &self.preset {
                Some(name) => format!("tcp:{p}:{name}{iv}"),
                None => format!("tcp:{p}{iv}"),
            },
            (None, None, None, None, None, Some(u)) => format!("probe:{u}{iv}{opts}"),
            _ => {
                return Err(err(
                    "",
                    0,
                    "exactly one of spec, log, journal, udp, tcp or probe",
                ));
            }
        };
        Ok(s)
    }
}

/// Sources and settings from a config file.
pub fn parse_config(path: &std::path::Path, text: &str) -> Result<ConfigSpecs, ConfigError> {
    let file: ConfigFile = toml::from_str(text).map_err(|e| ConfigError::Syntax {
        path: path.to_owned(),
        message: e.to_string().replace('\n', " ").trim().to_owned(),
    })?;
    let mut sources = Vec::new();
    for (i, c) in file.heartbeat.iter().enumerate() {
        let spec = c.to_spec().and_then(|s| parse(&s));
        sources.push(spec.map_err(|error| ConfigError::Spec {
            path: path.to_owned(),
            index: i + 1,
            error,
        })?);
    }
    Ok(ConfigSpecs {
        sources,
        gap_factor: file.gap_factor,
    })
}

#[derive(Debug, Default)]
pub struct ConfigSpecs {
    pub sources: Vec<SourceSpec>,
    pub gap_factor: Option<f64>,
}

/// Reads and parses a config file.
pub fn load_config(path: &std::path::Path) -> Result<ConfigSpecs, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse_config(path, &text)
}

#[cfg(test)]
#[path = "spec_tests.rs"]
mod tests;
