//! What people read in the exports: the timeline's axes, legends, holes and gaps, and windows
//! that start at their start (trace, series, `.hlog`).

use super::{
    ExportInput, GapInput,
    adapt::{self, AnalysisInputs},
    hdr, series, synthetic, timeline, trace,
    window::{self, TimeSpec, WindowSpec},
};

const SECONDS: u64 = 40;

fn input(spec: WindowSpec) -> ExportInput {
    let data = synthetic::data(SECONDS);
    let inputs = AnalysisInputs {
        heartbeats: synthetic::heartbeats(SECONDS),
        gaps: synthetic::gaps(),
        probes: Vec::new(),
        drops: synthetic::drops(SECONDS),
        stacks: None,
    };
    let w = window::resolve(&spec, &data, &inputs.gaps).expect("window");
    adapt::build(&data, &inputs, w)
}

fn svg(i: &ExportInput) -> String {
    let mut v = Vec::new();
    timeline::write_svg(i, &mut v).expect("timeline");
    String::from_utf8(v).expect("utf8")
}

/// (x, text) of every text element.
fn texts(svg: &str) -> Vec<(f64, String)> {
    let re =
        regex::Regex::new(r#"(?s)<text x="([-\d.]+)"[^>]*>\s*([^<]*?)\s*</text>"#).expect("regex");
    re.captures_iter(svg)
        .map(|c| (c[1].parse().expect("x"), c[2].to_owned()))
        .collect()
}

#[test]
fn time_axis_reads_in_ms_or_s() {
    assert_eq!(timeline::time_unit(500_000.0), (1e3, "µs"));
    assert_eq!(timeline::time_unit(4_000_000.0), (1e6, "ms"));
    assert_eq!(timeline::time_unit(1_000_000_000.0), (1e9, "s"));
    // The synthetic stall waits 4 ms: the axis is in ms and no tick reads 1000 or more.
    let s = svg(&input(WindowSpec::Whole));
    assert!(
        s.contains("NET_RX softirq wait p99 per CPU (ms)"),
        "axis unit"
    );
    let big: Vec<_> = texts(&s)
        .into_iter()
        .filter(|(_, t)| t.parse::<f64>().is_ok_and(|v| v >= 1000.0))
        .collect();
    assert!(big.is_empty(), "tick labels of 1000 or more: {big:?}");
}

#[test]
fn legends_sit_beside_the_plots() {
    let s = svg(&input(WindowSpec::Whole));
    let t = texts(&s);
    // The plots end at their last x tick ("40.0" s); the legends start right of it.
    let plot_right = t
        .iter()
        .filter(|(_, s)| s == "40.0")
        .map(|(x, _)| *x)
        .fold(0.0f64, f64::max);
    assert!(plot_right > 0.0, "no x tick 40.0");
    for label in ["CPU 0", "CPU 1", "corosync:eth0", "drops", "gap (silence)"] {
        let (x, _) = t
            .iter()
            .find(|(_, s)| s == label)
            .unwrap_or_else(|| panic!("legend entry {label} missing"));
        assert!(
            *x > plot_right,
            "{label} at x {x}, inside the plot (< {plot_right})"
        );
    }
}

#[test]
fn sparse_series_leave_holes() {
    let segs = timeline::step_segments(&[(0.0, 1.0, 5.0), (1.0, 2.0, 6.0), (5.0, 6.0, 7.0)]);
    assert_eq!(segs.len(), 2, "{segs:?}");
    assert_eq!(
        segs[0],
        vec![(0.0, 5.0), (1.0, 5.0), (1.0, 6.0), (2.0, 6.0)]
    );
    // Seconds 10-19 without softirq intervals: each CPU's line breaks there.
    let dense = input(WindowSpec::Whole);
    let mut sparse = dense.clone();
    let start = sparse.window.start_mono_ns;
    sparse.softirq.retain(|iv| {
        let t = (iv.start_mono_ns.saturating_sub(start)) / synthetic::SEC;
        !(10..20).contains(&t)
    });
    let lines = |s: &str| s.matches("<polyline").count();
    let (d, sp) = (lines(&svg(&dense)), lines(&svg(&sparse)));
    assert_eq!(
        sp,
        d + 2,
        "two CPUs, one more segment each: dense {d}, sparse {sp}"
    );
}

#[test]
fn short_gaps_stay_visible_at_any_zoom() {
    let (a, b) = timeline::gap_span(100.0, 100.001, 3600.0, 1000.0);
    assert!(
        b - a >= 3600.0 * timeline::MIN_GAP_PX / 1000.0 - 1e-9,
        "{a}..{b}"
    );
    assert!(a <= 100.0 && b >= 100.001);
    // Cut to the window, and still wide at its edge.
    let (a, b) = timeline::gap_span(-5.0, 0.0001, 60.0, 1000.0);
    assert!(a == 0.0 && b > 0.0001, "{a}..{b}");
    let mut i = input(WindowSpec::Whole);
    let at = i.window.start_mono_ns + 30 * synthetic::SEC;
    i.gaps = vec![GapInput {
        number: 1,
        source: "corosync:eth0".into(),
        last_arrival_mono_ns: at,
        next_arrival_mono_ns: Some(at + 1_000_000),
        ..GapInput::default()
    }];
    let s = svg(&i);
    let re = regex::Regex::new(
        r##"<rect x="[-\d.]+" y="[-\d.]+" width="([\d.]+)" height="([\d.]+)"[^>]*fill="#FFD6D6""##,
    )
    .expect("regex");
    // Panel-high rectangles; the legend's swatch is the small one.
    let widths: Vec<f64> = re
        .captures_iter(&s)
        .filter(|c| c[2].parse::<f64>().is_ok_and(|h| h > 100.0))
        .map(|c| c[1].parse().expect("width"))
        .collect();
    assert_eq!(widths.len(), 3, "one shaded span per panel");
    assert!(
        widths.iter().all(|&w| w >= 3.0),
        "a 1 ms gap is {widths:?} px wide"
    );
}

/// A window that starts inside a softirq interval: nothing is placed before its start, and the
/// `.hlog` intervals of one tag follow one another without overlap.
#[test]
fn exports_start_at_the_window_start() {
    let i = input(WindowSpec::Range {
        from: Some(TimeSpec::Offset(std::time::Duration::from_millis(18_400))),
        to: Some(TimeSpec::Offset(std::time::Duration::from_secs(25))),
    });
    assert!(
        i.softirq[0].start_mono_ns < i.window.start_mono_ns,
        "the fixture straddles"
    );
    let rows = series::seconds(&i);
    assert!(
        rows[0].t_s == 0.0 && rows[0].start_mono_ns == i.window.start_mono_ns,
        "{:?}",
        rows[0].t_s
    );
    assert!(rows.iter().all(|r| r.t_s >= 0.0));
    for e in trace::events(&i) {
        assert!(e.ts >= 0.0, "{} at {}", e.name, e.ts);
    }
    let mut hlog = Vec::new();
    hdr::write_softirq_hlog(&i, "wait", &mut hlog).expect("hlog");
    let text = String::from_utf8(hlog).expect("utf8");
    let mut last_end: std::collections::BTreeMap<String, f64> = Default::default();
    for item in hdrhistogram::serialization::interval_log::IntervalLogIterator::new(text.as_bytes())
    {
        if let hdrhistogram::serialization::interval_log::LogEntry::Interval(h) =
            item.expect("entry")
        {
            let tag = h.tag().map(|t| t.as_str().to_owned()).unwrap_or_default();
            let start = h.start_timestamp().as_secs_f64();
            let end = start + h.duration().as_secs_f64();
            if let Some(prev) = last_end.insert(tag.clone(), end) {
                assert!(
                    start >= prev - 1e-9,
                    "{tag}: interval at {start} overlaps the previous (to {prev})"
                );
            }
        }
    }
    assert!(!last_end.is_empty());
    let mut hb = Vec::new();
    hdr::write_heartbeat_hlog(&i, &mut hb).expect("heartbeat hlog");
    let span = i.window.duration_ns() as f64 / 1e9;
    let text = String::from_utf8(hb).expect("utf8");
    for item in hdrhistogram::serialization::interval_log::IntervalLogIterator::new(text.as_bytes())
    {
        if let hdrhistogram::serialization::interval_log::LogEntry::Interval(h) =
            item.expect("entry")
        {
            let end = h.start_timestamp().as_secs_f64() + h.duration().as_secs_f64();
            assert!(
                end <= span + 1e-9,
                "heartbeat interval ends at {end} s, after the window ({span} s)"
            );
        }
    }
}

/// Records that cover the same step (one per CPU) make one series row, not one per record.
#[test]
fn one_row_per_time_step() {
    let data = synthetic::data(SECONDS);
    let mut split = data.clone();
    split.softirq = data
        .softirq
        .iter()
        .flat_map(|iv| {
            iv.cells.iter().map(|c| {
                let mut one = iv.clone();
                one.cells = vec![c.clone()];
                one
            })
        })
        .collect();
    let inputs = AnalysisInputs {
        heartbeats: Vec::new(),
        gaps: Vec::new(),
        probes: Vec::new(),
        drops: synthetic::drops(SECONDS),
        stacks: None,
    };
    let whole = split.whole();
    let i = adapt::build(&split, &inputs, whole);
    let mut nd = Vec::new();
    series::write_ndjson(&i, &mut nd).expect("ndjson");
    let rows: Vec<serde_json::Value> = String::from_utf8(nd)
        .expect("utf8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    let mut starts: Vec<u64> = rows
        .iter()
        .map(|r| r["start_mono_ns"].as_u64().expect("start"))
        .collect();
    let n = starts.len();
    starts.dedup();
    assert_eq!(starts.len(), n, "a time step repeats");
    assert_eq!(n as u64, SECONDS, "one row per second");
    assert!(
        rows[0]["softirq"].as_array().expect("cells").len() > 1,
        "cells merged"
    );
}
