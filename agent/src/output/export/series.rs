//! Raw per-second series (one row per recorded interval) as one JSON document or as NDJSON,
//! for notebooks.

use std::{collections::BTreeMap, io::Write};

use serde::Serialize;

use super::ExportInput;
use crate::analysis::aggregates::steps::steps;

pub const SCHEMA: &str = "hbwatch-series";
pub const SCHEMA_VERSION: u32 = 1;

/// One CPU × softirq vector over one interval.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CellSecond {
    pub cpu: u32,
    pub vector: String,
    pub entries: u64,
    pub raises: u64,
    pub ksoftirqd_entries: u64,
    pub wait_p99_ns: u64,
    pub wait_max_ns: u64,
    pub run_p99_ns: u64,
    pub run_max_ns: u64,
}

/// Everything known about one recorded interval (normally one second).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Second {
    /// Seconds from the window start to the interval start (never negative: an interval that
    /// began before the window is cut at its start, like `start_mono_ns`/`end_mono_ns`).
    pub t_s: f64,
    pub start_mono_ns: u64,
    pub end_mono_ns: u64,
    pub wall: String,
    pub softirq: Vec<CellSecond>,
    /// Packet drops in this interval; None when no drop analysis is present.
    pub drops: Option<u64>,
    pub heartbeat_arrivals: BTreeMap<String, u64>,
    pub lost_events: BTreeMap<String, u64>,
}

/// One row per time step (softirq interval), with drops, arrivals and losses binned into it.
pub fn seconds(input: &ExportInput) -> Vec<Second> {
    let w = &input.window;
    steps(
        (w.start_mono_ns, w.end_mono_ns),
        &input.softirq,
        &input.drops,
        &input.heartbeats,
        &input.lost,
    )
    .into_iter()
    .map(|s| Second {
        t_s: input.offset_s(s.start_mono_ns),
        start_mono_ns: s.start_mono_ns,
        end_mono_ns: s.end_mono_ns,
        wall: input.wall(s.start_mono_ns),
        softirq: s
            .cells
            .into_iter()
            .map(|c| CellSecond {
                cpu: c.cpu,
                vector: input.vector_name(c.vector),
                entries: c.entries,
                raises: c.raises,
                ksoftirqd_entries: c.ksoftirqd_entries,
                wait_p99_ns: c.wait_p99_ns,
                wait_max_ns: c.wait_max_ns,
                run_p99_ns: c.run_p99_ns,
                run_max_ns: c.run_max_ns,
            })
            .collect(),
        drops: s.drops,
        heartbeat_arrivals: s.heartbeat_arrivals,
        lost_events: s.lost_events,
    })
    .collect()
}

#[derive(Serialize)]
struct Document<'a> {
    schema: &'static str,
    schema_version: u32,
    host: &'a str,
    kernel_release: &'a str,
    window: &'a super::Window,
    window_start: String,
    seconds: Vec<Second>,
}

/// One JSON document: metadata and the array of seconds.
pub fn write_json(input: &ExportInput, mut w: impl Write) -> std::io::Result<()> {
    let doc = Document {
        schema: SCHEMA,
        schema_version: SCHEMA_VERSION,
        host: &input.host,
        kernel_release: &input.kernel_release,
        window: &input.window,
        window_start: input.wall(input.window.start_mono_ns),
        seconds: seconds(input),
    };
    serde_json::to_writer_pretty(&mut w, &doc)?;
    writeln!(w)
}

/// NDJSON: one [`Second`] per line, nothing else, so `jq -c` and pandas read it line by line.
pub fn write_ndjson(input: &ExportInput, mut w: impl Write) -> std::io::Result<()> {
    for s in seconds(input) {
        serde_json::to_writer(&mut w, &s)?;
        writeln!(w)?;
    }
    Ok(())
}
