//! Heartbeat source records: sources declared, heartbeat lines and arrivals, probe attempts,
//! source warnings and line-level losses.

use serde::{Deserialize, Serialize};

/// What kind of source a `--heartbeat` spec names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum SourceKind {
    Log,
    Journal,
    PassiveUdp,
    PassiveTcp,
    ProbeTcp,
    ProbeHttp,
    ProbeUdp,
}

impl SourceKind {
    /// The snake_case name JSON outputs use: "passive_udp", "probe_http".
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Log => "log",
            SourceKind::Journal => "journal",
            SourceKind::PassiveUdp => "passive_udp",
            SourceKind::PassiveTcp => "passive_tcp",
            SourceKind::ProbeTcp => "probe_tcp",
            SourceKind::ProbeHttp => "probe_http",
            SourceKind::ProbeUdp => "probe_udp",
        }
    }
}

/// A heartbeat source, written once when it starts. `source` numbers the other records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceDeclared {
    pub at_mono_ns: u64,
    pub source: u32,
    /// The spec as the user wrote it.
    pub spec: String,
    pub kind: SourceKind,
    /// The preset applied to its lines, if any.
    pub preset: Option<String>,
    /// Given with `@INTERVAL` (or by the probe); `None` means learned from arrivals.
    pub expected_interval_ns: Option<u64>,
    /// A gap is silence longer than this many intervals (`--gap-factor`).
    pub gap_factor: f64,
    /// The preset's usual interval, for onset estimates from "missed N" lines.
    pub preset_interval_ns: Option<u64>,
}

/// The timing a daemon's own config sets for a preset source, read by `record` when it starts
/// (haproxy's `inter` and `fall`, sentinel's `down-after-milliseconds`); after its
/// [`SourceDeclared`], and only when the config could be read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceTiming {
    pub at_mono_ns: u64,
    pub source: u32,
    /// The protocol's heartbeat period.
    pub period_ns: u64,
    /// The silence a loss line without a duration implies, when the config sets it.
    pub loss_ns: Option<u64>,
    /// The file and the settings read ("/etc/haproxy/haproxy.cfg: inter 500 ms, fall 2").
    pub basis: String,
}

/// What a line (or arrival) says happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum EventKind {
    /// A heartbeat was seen.
    Arrival,
    /// This node stopped hearing a peer.
    PeerSilence,
    /// This process itself ran late.
    SelfStall,
    /// The wall clock jumped (e.g. chrony's "time jump detected"): a clock event, never a gap.
    ClockJump,
}

/// One heartbeat line or arrival from a log or journal source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeartbeatEvent {
    pub source: u32,
    pub kind: EventKind,
    /// When hbwatch read it (CLOCK_MONOTONIC) and the wall clock at that moment.
    pub read_mono_ns: u64,
    pub read_realtime_ns: i64,
    /// The time the line carries, when it had one that parsed.
    pub stamped_realtime_ns: Option<i64>,
    pub peer: Option<String>,
    /// "missed N" or a repeat counter.
    pub count: Option<u64>,
    /// A duration the line measured (a stall length, a silence).
    pub measured_ns: Option<u64>,
    /// The line, cut to [`LINE_KEEP`] bytes.
    pub line: String,
}

/// How much of a matched line a record keeps.
pub const LINE_KEEP: usize = 240;

/// One active probe attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeAttempt {
    pub source: u32,
    pub start_mono_ns: u64,
    /// Connect, first byte or echo time; for a failure, the time until it failed.
    pub latency_ns: u64,
    /// HTTP status, when there was one.
    pub status: Option<u16>,
    /// `None` for success, otherwise why it failed ("connection refused", "timeout", "status 503").
    pub error: Option<String>,
    /// Consecutive failures including this one (0 on success).
    pub consecutive_failures: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum WarningKind {
    /// The followed file disappeared (rotation in progress or deleted).
    Vanished,
    /// The file or journal could not be opened or read.
    Unreadable,
    /// A probe target refused or failed.
    Refused,
    /// N consecutive probe failures: the target is declared stalled.
    Stalled,
    /// The source works again after a warning.
    Recovered,
    /// The file was rotated (rename or copytruncate); informational.
    Rotated,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceWarning {
    pub at_mono_ns: u64,
    pub source: u32,
    pub kind: WarningKind,
    pub detail: String,
}

/// Line-level accounting of a log or journal source since its previous record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineCounts {
    pub at_mono_ns: u64,
    pub source: u32,
    pub lines: u64,
    pub bytes: u64,
    pub matched: u64,
    /// Lines longer than the limit, cut.
    pub long_lines_cut: u64,
    /// Lines with invalid UTF-8, decoded lossily.
    pub invalid_utf8: u64,
    /// Lines whose timestamp did not parse (read time used instead).
    pub bad_timestamps: u64,
    /// Lines known lost (e.g. written during copytruncate and not found in the copy).
    pub lost: u64,
}

impl LineCounts {
    pub fn is_empty(&self) -> bool {
        self.lines + self.long_lines_cut + self.invalid_utf8 + self.bad_timestamps + self.lost == 0
    }
}
