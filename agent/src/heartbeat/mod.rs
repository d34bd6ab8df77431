//! Heartbeat sources: log files and the journal (with presets for real systems), passive packet
//! watching on a port (fed by the eBPF side), and active probes. Each runs as a task that turns
//! what it sees into records.

pub mod follow;
pub mod journal;
pub mod owner;
pub mod probe;
pub mod runner;

use std::time::Duration;

pub use crate::protocol::spec::{ConfigError, Proto, Source, SourceSpec, SpecError};
use crate::protocol::{spec, wire};

/// Every heartbeat source of a run, validated, and the gap settings.
#[derive(Debug, Clone, Default)]
pub struct HeartbeatConfig {
    pub sources: Vec<SourceSpec>,
    /// A gap is silence longer than this many expected intervals.
    pub gap_factor: f64,
    /// Read log files whole instead of from their end.
    pub from_start: bool,
    /// Zone for stamps without one; `None` = the host's.
    pub tz: Option<jiff::tz::TimeZone>,
}

/// A local port to watch passively.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchedPort {
    /// Index of the source in [`HeartbeatConfig::sources`] (its `source` number in records).
    pub source: u32,
    pub proto: Proto,
    pub port: u16,
    pub interval: Option<Duration>,
}

impl HeartbeatConfig {
    pub const DEFAULT_GAP_FACTOR: f64 = crate::analysis::gaps::DEFAULT_GAP_FACTOR;

    /// Specs from `--heartbeat` (in order) and then from `--config`.
    pub fn build(
        specs: &[String],
        config: Option<&std::path::Path>,
        gap_factor: Option<f64>,
    ) -> Result<Self, ConfigError> {
        let mut c = HeartbeatConfig {
            gap_factor: Self::DEFAULT_GAP_FACTOR,
            ..Default::default()
        };
        for s in specs {
            c.sources.push(spec::parse(s)?);
        }
        if let Some(path) = config {
            let file = spec::load_config(path)?;
            c.sources.extend(file.sources);
            if let Some(k) = file.gap_factor {
                c.gap_factor = k;
            }
        }
        if let Some(k) = gap_factor {
            c.gap_factor = k;
        }
        if !(c.gap_factor.is_finite() && c.gap_factor > 1.0) {
            return Err(ConfigError::GapFactor(c.gap_factor));
        }
        Ok(c)
    }

    /// Ports the passive packet probes must watch, with the source number to record them under.
    pub fn watched_ports(&self) -> Vec<WatchedPort> {
        self.sources
            .iter()
            .enumerate()
            .filter_map(|(i, s)| match &s.source {
                Source::Passive {
                    proto,
                    port,
                    interval,
                    ..
                } => Some(WatchedPort {
                    source: i as u32,
                    proto: *proto,
                    port: *port,
                    interval: *interval,
                }),
                _ => None,
            })
            .collect()
    }

    /// UDP ports of the heartbeat packets of preset log and journal sources (corosync's 5405):
    /// watched for evidence only, so a log source is judged by the fate of its own packets.
    /// TCP ports are left to explicit `tcp:` sources: they carry bulk traffic too (etcd's
    /// replication, an API server), and every packet would be an event.
    pub fn wire_ports(&self) -> Vec<(Proto, u16)> {
        let mut v = Vec::new();
        for s in &self.sources {
            if matches!(s.source, Source::Passive { .. }) {
                continue;
            }
            let Some(w) = s.preset().and_then(|p| wire::of(p.name)) else {
                continue;
            };
            for p in w.packets {
                let proto = match p.proto {
                    wire::WireProto::Udp => Proto::Udp,
                    wire::WireProto::Tcp | wire::WireProto::Ip(_) => continue,
                };
                if !v.contains(&(proto, p.port)) {
                    v.push((proto, p.port));
                }
            }
        }
        v
    }

    pub fn time_zone(&self) -> jiff::tz::TimeZone {
        self.tz.clone().unwrap_or_else(jiff::tz::TimeZone::system)
    }
}
