//! Golden-file tests of every exporter on the synthetic recording (`HBWATCH_BLESS=1` rewrites
//! the golden files), XML well-formedness of the SVGs and a schema check of the trace.

use std::path::PathBuf;

use serde_json::Value;

use super::{
    ExportInput,
    adapt::{self, AnalysisInputs},
    flamegraph, hdr, series, synthetic, timeline, trace,
    window::{self, TimeSpec, WindowSpec},
};

const SECONDS: u64 = 40;

fn input(spec: WindowSpec) -> ExportInput {
    let data = synthetic::data(SECONDS);
    let fold = synthetic::fold_stacks;
    let inputs = AnalysisInputs {
        heartbeats: synthetic::heartbeats(SECONDS),
        gaps: synthetic::gaps(),
        probes: Vec::new(),
        drops: synthetic::drops(SECONDS),
        stacks: Some((&fold, "softirq kernel stacks".into())),
    };
    let w = window::resolve(&spec, &data, &inputs.gaps).expect("window");
    adapt::build(&data, &inputs, w)
}

fn golden(name: &str, got: &[u8]) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("src/output/export/golden")
        .join(name);
    if std::env::var_os("HBWATCH_BLESS").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir golden");
        std::fs::write(&path, got).expect("bless golden file");
        return;
    }
    let want = std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run with HBWATCH_BLESS=1 to create it",
            path.display()
        )
    });
    if want != got {
        let actual = path.with_extension("actual");
        std::fs::write(&actual, got).expect("write actual");
        panic!(
            "{name} differs from its golden file; see {} (HBWATCH_BLESS=1 accepts it)",
            actual.display()
        );
    }
}

fn assert_xml(svg: &[u8]) {
    let mut r = quick_xml::Reader::from_reader(svg);
    let mut buf = Vec::new();
    let mut elements = 0;
    loop {
        match r.read_event_into(&mut buf) {
            Ok(quick_xml::events::Event::Eof) => break,
            Ok(quick_xml::events::Event::Start(_) | quick_xml::events::Event::Empty(_)) => {
                elements += 1
            }
            Ok(_) => {}
            Err(e) => panic!("SVG is not well-formed XML at {}: {e}", r.buffer_position()),
        }
        buf.clear();
    }
    assert!(elements > 10, "SVG has only {elements} elements");
}

fn render(f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut v = Vec::new();
    f(&mut v);
    v
}

#[test]
fn folded_and_flamegraphs() {
    let gap = input(WindowSpec::Gap(1));
    let folded = render(|w| flamegraph::write_folded(&gap.stacks.window, w).expect("folded"));
    golden("gap1.folded", &folded);
    let text = String::from_utf8(folded).expect("utf8");
    assert!(text.lines().all(|l| {
        l.rsplit_once(' ')
            .is_some_and(|(_, n)| n.parse::<u64>().is_ok())
    }));
    let svg = render(|w| flamegraph::write_svg(&gap, w).expect("svg"));
    assert_xml(&svg);
    let s = String::from_utf8_lossy(&svg);
    assert!(
        s.contains("node-a") && s.contains("gap 1") && s.contains("samples"),
        "title lacks host/window/samples"
    );
    golden("gap1-flamegraph.svg", &svg);
    let diff = render(|w| flamegraph::write_diff_svg(&gap, w).expect("diff svg"));
    assert_xml(&diff);
    let d = String::from_utf8_lossy(&diff);
    assert!(d.contains("in baseline"));
    // The colour legend: every colour named, the picture grown to hold it.
    for (fill, what) in flamegraph::DIFF_LEGEND {
        assert!(d.contains(fill) && d.contains(what), "legend lacks {what}");
    }
    assert!(d.contains(r#"id="hbwatch-legend""#), "no legend band");
    golden("gap1-diff.svg", &diff);
}

#[test]
fn flamegraph_without_stacks_says_so() {
    let mut i = input(WindowSpec::Whole);
    i.stacks = Default::default();
    let e = flamegraph::write_svg(&i, Vec::new()).expect_err("no stacks");
    assert!(e.to_string().contains("no kernel stacks"), "{e}");
}

#[test]
fn hdr_files() {
    let i = input(WindowSpec::Whole);
    let hs = hdr::histograms(&i).expect("histograms");
    let names: Vec<&str> = hs.iter().map(|h| h.name.as_str()).collect();
    assert!(names.contains(&"softirq-wait-cpu1-NET_RX"), "{names:?}");
    assert!(names.contains(&"softirq-run-cpu0-TIMER"), "{names:?}");
    assert!(
        names.contains(&"heartbeat-interarrival-corosync_eth0"),
        "{names:?}"
    );
    let rx = hs
        .iter()
        .find(|h| h.name == "softirq-wait-cpu1-NET_RX")
        .expect("cell");
    // 37 quiet seconds of 180 softirqs and 3 stalled seconds of 30.
    assert_eq!(rx.hist.len(), 37 * 180 + 3 * 30);
    assert!(
        rx.hist.max() >= 4_000_000,
        "stall missing: max {}",
        rx.hist.max()
    );
    let hgrm = render(|w| hdr::write_hgrm(&rx.hist, w).expect("hgrm"));
    golden("softirq-wait-cpu1-NET_RX.hgrm", &hgrm);
    let hlog = render(|w| hdr::write_softirq_hlog(&i, "wait", w).expect("hlog"));
    golden("softirq-wait.hlog", &hlog);
    // The log reads back with the crate's own parser, every interval tagged.
    let text = String::from_utf8(hlog).expect("utf8");
    let mut n = 0;
    for item in hdrhistogram::serialization::interval_log::IntervalLogIterator::new(text.as_bytes())
    {
        if let hdrhistogram::serialization::interval_log::LogEntry::Interval(h) =
            item.expect("log entry")
        {
            assert!(h.tag().is_some());
            n += 1;
        }
    }
    assert_eq!(n, SECONDS * 4);
    let hb = render(|w| hdr::write_heartbeat_hlog(&i, w).expect("heartbeat hlog"));
    assert!(String::from_utf8_lossy(&hb).contains("Tag=corosync_eth0"));
}

#[test]
fn series_json_and_ndjson() {
    let i = input(WindowSpec::Range {
        from: Some(TimeSpec::Offset(std::time::Duration::from_secs(18))),
        to: Some(TimeSpec::Offset(std::time::Duration::from_secs(25))),
    });
    let json = render(|w| series::write_json(&i, w).expect("json"));
    golden("series-18-25.json", &json);
    let v: Value = serde_json::from_slice(&json).expect("valid json");
    assert_eq!(v["seconds"].as_array().expect("seconds").len(), 7);
    let nd = render(|w| series::write_ndjson(&i, w).expect("ndjson"));
    let lines: Vec<Value> = String::from_utf8(nd)
        .expect("utf8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("line is json"))
        .collect();
    assert_eq!(lines.len(), 7);
    assert_eq!(lines[3]["drops"], 150, "second 21 is in the stall");
    assert_eq!(lines[3]["heartbeat_arrivals"]["corosync:eth0"], 0);
    assert_eq!(lines[3]["lost_events"]["softirq-interval"], 3);
}

/// Required fields per event phase of the Trace Event Format.
fn check_trace_schema(doc: &Value) -> usize {
    let events = doc["traceEvents"].as_array().expect("traceEvents array");
    for e in events {
        let ph = e["ph"].as_str().expect("ph string");
        assert!(e["name"].is_string(), "name missing: {e}");
        assert!(e["pid"].is_u64() && e["tid"].is_u64(), "pid/tid: {e}");
        match ph {
            "M" => assert!(
                e["args"]["name"].is_string(),
                "metadata without args.name: {e}"
            ),
            "X" => {
                assert!(
                    e["ts"].is_number() && e["dur"].as_f64().is_some_and(|d| d >= 0.0),
                    "{e}"
                )
            }
            "i" => {
                assert!(e["ts"].is_number(), "{e}");
                assert!(
                    matches!(e["s"].as_str(), Some("t" | "p" | "g")),
                    "instant scope: {e}"
                );
            }
            "C" => {
                let args = e["args"].as_object().expect("counter args");
                assert!(
                    !args.is_empty() && args.values().all(Value::is_number),
                    "{e}"
                );
            }
            other => panic!("unexpected phase {other}"),
        }
    }
    events.len()
}

#[test]
fn trace_is_valid_and_stable() {
    let i = input(WindowSpec::Gap(1));
    let t = render(|w| trace::write(&i, w).expect("trace"));
    golden("gap1-trace.json", &t);
    let doc: Value = serde_json::from_slice(&t).expect("json");
    let n = check_trace_schema(&doc);
    assert!(n > 20);
    let ev = doc["traceEvents"].as_array().expect("events");
    let has = |ph: &str, name: &str| {
        ev.iter()
            .any(|e| e["ph"] == ph && e["name"].as_str().is_some_and(|s| s.contains(name)))
    };
    assert!(has("X", "gap 1") && has("i", "onset") && has("i", "detected") && has("i", "drops"));
    assert!(has("X", "NET_RX waited"), "softirq spike slice missing");
    assert!(has("i", "NET_RX starved"), "verdict annotation missing");
}

#[test]
fn timeline_svg() {
    let i = input(WindowSpec::Whole);
    let svg = render(|w| timeline::write_svg(&i, w).expect("timeline"));
    assert_xml(&svg);
    let s = String::from_utf8_lossy(&svg);
    assert!(s.contains("NET_RX") && s.contains("node-a") && s.contains("corosync:eth0"));
    golden("timeline.svg", &svg);
    // Empty analyses still draw, with notes in place of data.
    let mut empty = i.clone();
    empty.heartbeats.clear();
    empty.gaps.clear();
    empty.drops.clear();
    empty.softirq.clear();
    let svg = render(|w| timeline::write_svg(&empty, w).expect("empty timeline"));
    assert_xml(&svg);
    assert!(String::from_utf8_lossy(&svg).contains("no heartbeat sources"));
}

#[test]
fn windows() {
    assert_eq!(
        window::parse_time("+10s"),
        Ok(TimeSpec::Offset(std::time::Duration::from_secs(10)))
    );
    assert!(matches!(
        window::parse_time("2026-11-22T07:00:05Z"),
        Ok(TimeSpec::Wall(_))
    ));
    for bad in ["10s", "+ten", "yesterday", "2026-13-01T00:00:00Z"] {
        assert!(window::parse_time(bad).is_err(), "{bad} accepted");
    }
    let data = synthetic::data(SECONDS);
    let wall = window::parse_time("2026-11-22T07:00:05Z").expect("time");
    let w = window::resolve(
        &WindowSpec::Range {
            from: Some(wall),
            to: None,
        },
        &data,
        &[],
    )
    .expect("range");
    assert_eq!(
        w.start_mono_ns,
        synthetic::START_MONO_NS + 5 * synthetic::SEC
    );
    let e = window::resolve(&WindowSpec::Gap(7), &data, &synthetic::gaps()).expect_err("gap 7");
    assert!(
        e.to_string().contains("no heartbeat gap 7 (gaps: 1)"),
        "{e}"
    );
    let late = window::parse_time("+1h").expect("offset");
    assert!(
        window::resolve(
            &WindowSpec::Range {
                from: Some(late),
                to: None
            },
            &data,
            &[]
        )
        .is_err()
    );
    let g = window::resolve(&WindowSpec::Gap(1), &data, &synthetic::gaps()).expect("gap 1");
    assert_eq!(
        g.start_mono_ns,
        synthetic::START_MONO_NS + 18 * synthetic::SEC
    );
}
