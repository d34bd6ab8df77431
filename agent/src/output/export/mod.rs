//! Exports: functions from one [`ExportInput`] to the formats other tools read (flamegraphs,
//! HdrHistogram files, a timeline picture, a Perfetto trace, raw per-second series).
//!
//! Every exporter takes analysis values and writes to any [`std::io::Write`]; none reads files or
//! computes findings of its own. [`ExportInput`] is filled from a recording by [`adapt`]; the
//! heartbeat, drop and stack parts are the values of [`crate::analysis::aggregates`].

pub mod adapt;
pub mod flamegraph;
pub mod hdr;
pub mod inputs;
pub mod merged_timeline;
pub mod series;
pub mod synthetic;
pub mod timeline;
pub mod trace;
pub mod window;

#[cfg(test)]
mod render_tests;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use serde::Serialize;

pub use crate::analysis::aggregates::{
    drops::DropsSecond,
    sources::{GapInput, HeartbeatSeries, ProbeLatency},
    steps::LostAt,
};
use crate::recording::records::{ClockAnchor, CollectorStatus, SoftirqInterval};

/// Everything an export may draw, already limited to one window.
#[derive(Debug, Clone)]
pub struct ExportInput {
    pub host: String,
    pub kernel_release: String,
    pub cpus: Vec<u32>,
    /// Softirq vector names by number ("HI", "TIMER", ...).
    pub vectors: Vec<String>,
    /// Start anchor of the recording: converts monotonic instants to wall-clock for display.
    pub anchor: ClockAnchor,
    /// Monotonic time of the recording's first instant; offsets like `+10s` count from it.
    pub recording_start_mono_ns: u64,
    pub window: Window,
    /// Softirq intervals that overlap the window, in time order.
    pub softirq: Vec<SoftirqInterval>,
    /// Events lost per stream inside the window, with when they were counted.
    pub lost: Vec<LostAt>,
    /// Collector state changes inside the window (and the latest one before it).
    pub collectors: Vec<CollectorStatus>,
    /// Heartbeat arrivals per source (from the heartbeat analysis).
    pub heartbeats: Vec<HeartbeatSeries>,
    /// Heartbeat gaps with their verdicts (from the heartbeat and correlation analyses).
    pub gaps: Vec<GapInput>,
    /// Heartbeat probe latencies (from the heartbeat probes).
    pub probes: Vec<ProbeLatency>,
    /// Packet drops per second (from the drop/NAPI analysis).
    pub drops: Vec<DropsSecond>,
    /// Folded kernel stacks (from the stack sampler's pure fold for a window).
    pub stacks: StackInput,
}

/// The monotonic span an export covers, `[start, end)`, and how it was chosen.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Window {
    pub start_mono_ns: u64,
    pub end_mono_ns: u64,
    /// "whole recording", "gap 3 (source …)", "+10s..+40s".
    pub label: String,
}

impl Window {
    pub fn contains(&self, mono_ns: u64) -> bool {
        (self.start_mono_ns..self.end_mono_ns).contains(&mono_ns)
    }
    pub fn overlaps(&self, start: u64, end: u64) -> bool {
        start < self.end_mono_ns && end > self.start_mono_ns
    }
    pub fn duration_ns(&self) -> u64 {
        self.end_mono_ns.saturating_sub(self.start_mono_ns)
    }
}

/// Folded kernel stacks ("a;b;c" → samples) for the window and, for a differential flamegraph,
/// for a baseline outside it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StackInput {
    pub window: BTreeMap<String, u64>,
    pub baseline: Option<BTreeMap<String, u64>>,
    /// What was sampled ("softirq+hardirq kernel stacks", "all kernel stacks at 99 Hz").
    pub kind: String,
}

impl StackInput {
    pub fn samples(m: &BTreeMap<String, u64>) -> u64 {
        m.values().sum()
    }
}

impl ExportInput {
    /// Name of softirq vector `v`, or its number when unknown.
    pub fn vector_name(&self, v: u8) -> String {
        self.vectors
            .get(v as usize)
            .cloned()
            .unwrap_or_else(|| format!("vec{v}"))
    }

    /// Seconds from the window start, for axes and trace timestamps.
    pub fn offset_s(&self, mono_ns: u64) -> f64 {
        (mono_ns as f64 - self.window.start_mono_ns as f64) / 1e9
    }

    /// Wall-clock (RFC 3339, UTC) of a monotonic instant.
    pub fn wall(&self, mono_ns: u64) -> String {
        crate::clock::rfc3339(self.anchor.realtime_of(mono_ns))
    }

    /// "host · window · from – to", used in every title.
    pub fn title_context(&self) -> String {
        format!(
            "{} · {} · {} – {}",
            self.host,
            self.window.label,
            self.wall(self.window.start_mono_ns),
            self.wall(self.window.end_mono_ns)
        )
    }
}
