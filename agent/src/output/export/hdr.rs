//! HdrHistogram exports with the hdrhistogram crate: a percentile-distribution `.hgrm` per
//! CPU × softirq vector (wait and run), per heartbeat source (inter-arrival) and per probe
//! (latency), and interval logs (`.hlog`) that HdrHistogram's log tools read.
//!
//! Values are recorded in nanoseconds and printed in microseconds (`.hgrm`) or with a
//! max-value divisor of 1000 (`.hlog`), as HistogramLogProcessor's `-outputValueUnitRatio` expects.

use std::{io::Write, time::Duration};

use agent_common::hist::bucket_high;
use hdrhistogram::{
    Histogram,
    serialization::{
        V2DeflateSerializer,
        interval_log::{IntervalLogWriterBuilder, Tag},
    },
};

use super::ExportInput;
use crate::recording::records::SparseHist;

/// Longest value tracked: one hour; larger values saturate at it.
const HIGHEST_NS: u64 = 3_600_000_000_000;
const SIGFIGS: u8 = 3;
/// Nanoseconds per printed unit (microseconds).
const UNIT_NS: f64 = 1000.0;

pub type Hist = Histogram<u64>;

/// An empty histogram with hbwatch's bounds; callers clone it rather than build each one.
fn new_hist() -> std::io::Result<Hist> {
    Histogram::new_with_bounds(1, HIGHEST_NS, SIGFIGS)
        .map_err(|e| std::io::Error::other(format!("HdrHistogram bounds: {e:?}")))
}

/// Adds a kernel log-linear histogram: every sample counts at its bucket's upper bound, the same
/// convention as the report's percentiles.
fn add_sparse(h: &mut Hist, s: &SparseHist) {
    for &(i, n) in &s.0 {
        h.saturating_record_n(bucket_high(i as usize).max(1), n);
    }
}

/// One histogram with a file-safe name, e.g. `softirq-wait-cpu1-NET_RX`.
pub struct Named {
    pub name: String,
    pub hist: Hist,
}

fn safe(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn cell_name(kind: &str, cpu: u32, vector: &str) -> String {
    format!("softirq-{kind}-cpu{cpu}-{}", safe(vector))
}

/// Whole-window histograms: softirq wait/run per cell, inter-arrival per source, probe latency.
pub fn histograms(input: &ExportInput) -> std::io::Result<Vec<Named>> {
    let empty = new_hist()?;
    let mut cells: std::collections::BTreeMap<String, Hist> = Default::default();
    for iv in &input.softirq {
        for c in &iv.cells {
            let v = input.vector_name(c.vector);
            for (kind, s) in [("wait", &c.wait_hist), ("run", &c.run_hist)] {
                if s.total() > 0 {
                    add_sparse(
                        cells
                            .entry(cell_name(kind, c.cpu, &v))
                            .or_insert_with(|| empty.clone()),
                        s,
                    );
                }
            }
        }
    }
    let mut out: Vec<Named> = cells
        .into_iter()
        .map(|(name, hist)| Named { name, hist })
        .collect();
    for h in &input.heartbeats {
        let mut hist = empty.clone();
        for w in h.arrivals_mono_ns.windows(2) {
            hist.saturating_record(w[1].saturating_sub(w[0]).max(1));
        }
        if !hist.is_empty() {
            out.push(Named {
                name: format!("heartbeat-interarrival-{}", safe(&h.source)),
                hist,
            });
        }
    }
    for p in &input.probes {
        let mut hist = empty.clone();
        for &(_, ns) in &p.samples {
            hist.saturating_record(ns.max(1));
        }
        if !hist.is_empty() {
            out.push(Named {
                name: format!("probe-latency-{}", safe(&p.probe)),
                hist,
            });
        }
    }
    Ok(out)
}

/// Sub-buckets per bucket, as HdrHistogram derives it from the significant figures.
fn sub_buckets() -> u64 {
    let largest_single_unit = 2 * 10u64.pow(SIGFIGS as u32);
    largest_single_unit.next_power_of_two()
}

/// The percentile distribution in HdrHistogram's `.hgrm` text layout (values in µs), which
/// HdrHistogram's plotter reads.
pub fn write_hgrm(h: &Hist, mut w: impl Write) -> std::io::Result<()> {
    writeln!(
        w,
        "{:>12} {:>14} {:>10} {:>14}\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    )?;
    let mut total = 0u64;
    for v in h.iter_quantiles(5) {
        total += v.count_since_last_iteration();
        let q = v.quantile_iterated_to();
        let value = v.value_iterated_to() as f64 / UNIT_NS;
        if q < 1.0 {
            writeln!(
                w,
                "{value:>12.3} {q:>2.12} {total:>10} {:>14.2}",
                1.0 / (1.0 - q)
            )?;
        } else {
            writeln!(w, "{value:>12.3} {q:>2.12} {total:>10}")?;
        }
    }
    writeln!(
        w,
        "#[Mean    = {:>12.3}, StdDeviation   = {:>12.3}]",
        h.mean() / UNIT_NS,
        h.stdev() / UNIT_NS
    )?;
    writeln!(
        w,
        "#[Max     = {:>12.3}, Total count    = {:>12}]",
        h.max() as f64 / UNIT_NS,
        h.len()
    )?;
    writeln!(
        w,
        "#[Buckets = {:>12}, SubBuckets     = {:>12}]",
        h.buckets(),
        sub_buckets()
    )
}

/// Interval log of softirq `kind` ("wait" or "run"): one tagged histogram per CPU × vector per
/// recorded interval. Timestamps are seconds since the window start; StartTime is its wall clock.
pub fn write_softirq_hlog(
    input: &ExportInput,
    kind: &str,
    mut w: impl Write,
) -> std::io::Result<()> {
    let start_rt = input.anchor.realtime_of(input.window.start_mono_ns);
    let start = std::time::UNIX_EPOCH + Duration::from_nanos(start_rt.max(0) as u64);
    let empty = new_hist()?;
    let mut ser = V2DeflateSerializer::new();
    let mut log = IntervalLogWriterBuilder::new()
        .add_comment(&format!(
            "hbwatch softirq {kind} time, ns (divide by 1000 for µs): {}",
            input.title_context()
        ))
        .with_start_time(start)
        .with_base_time(start)
        .with_max_value_divisor(UNIT_NS)
        .begin_log_with(&mut w, &mut ser)?;
    for iv in &input.softirq {
        // Cut to the window: an interval that began before it would start at 0 with its whole
        // length and overlap the next one.
        let w = &input.window;
        let (start, end) = (
            iv.start_mono_ns.max(w.start_mono_ns),
            iv.end_mono_ns.min(w.end_mono_ns),
        );
        let offset = Duration::from_nanos(start - w.start_mono_ns);
        let dur = Duration::from_nanos(end.saturating_sub(start));
        for c in &iv.cells {
            let s = if kind == "run" {
                &c.run_hist
            } else {
                &c.wait_hist
            };
            if s.total() == 0 {
                continue;
            }
            let mut h = empty.clone();
            add_sparse(&mut h, s);
            let tag = format!("cpu{}-{}", c.cpu, safe(&input.vector_name(c.vector)));
            log.write_histogram(&h, offset, dur, Tag::new(&tag))
                .map_err(|e| std::io::Error::other(format!("{e:?}")))?;
        }
    }
    Ok(())
}

/// Interval log of heartbeat inter-arrival times: one tagged histogram per source per second.
pub fn write_heartbeat_hlog(input: &ExportInput, mut w: impl Write) -> std::io::Result<()> {
    let start_rt = input.anchor.realtime_of(input.window.start_mono_ns);
    let start = std::time::UNIX_EPOCH + Duration::from_nanos(start_rt.max(0) as u64);
    let empty = new_hist()?;
    let mut ser = V2DeflateSerializer::new();
    let mut log = IntervalLogWriterBuilder::new()
        .add_comment(&format!(
            "hbwatch heartbeat inter-arrival, ns: {}",
            input.title_context()
        ))
        .with_start_time(start)
        .with_base_time(start)
        .with_max_value_divisor(UNIT_NS)
        .begin_log_with(&mut w, &mut ser)?;
    for src in &input.heartbeats {
        let tag = safe(&src.source);
        let mut per_second: std::collections::BTreeMap<u64, Hist> = Default::default();
        for p in src.arrivals_mono_ns.windows(2) {
            let sec = p[1].saturating_sub(input.window.start_mono_ns) / 1_000_000_000;
            per_second
                .entry(sec)
                .or_insert_with(|| empty.clone())
                .saturating_record(p[1].saturating_sub(p[0]).max(1));
        }
        let window_ns = input.window.duration_ns();
        for (sec, h) in per_second {
            // The last second ends with the window.
            let len = window_ns
                .saturating_sub(sec * 1_000_000_000)
                .min(1_000_000_000);
            log.write_histogram(
                &h,
                Duration::from_secs(sec),
                Duration::from_nanos(len),
                Tag::new(&tag),
            )
            .map_err(|e| std::io::Error::other(format!("{e:?}")))?;
        }
    }
    Ok(())
}
