//! Root, end to end: `hbwatch record` with a UDP heartbeat source across a veth pair, a gap made
//! by stopping the sender, and kernel stacks; then `hbwatch export --gap 1` writes every format
//! from that real recording, with the heartbeat arrivals, the gap and the stacks in them.

use std::{
    path::Path,
    process::{Child, Command, Output, Stdio},
    time::{Duration, Instant},
};

use hbwatch_tests::{
    hbwatch_bin,
    netns::{NetnsPair, run},
    require_root, tempdir,
};

/// A process this test started; killed (by its own id) and reaped on drop.
struct Peer(Child);

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn peer(ns: &str, args: &[&str]) -> Peer {
    Peer(
        NetnsPair::exec(ns, &hbwatch_bin().display().to_string())
            .arg("demo-peer")
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting a demo peer"),
    )
}

fn hbwatch(args: &[&str]) -> Output {
    Command::new(hbwatch_bin())
        .args(args)
        .output()
        .expect("run hbwatch")
}

fn read(dir: &Path, f: &str) -> String {
    std::fs::read_to_string(dir.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"))
}

#[test]
fn export_every_format_of_a_recorded_gap() {
    if !require_root("export_every_format_of_a_recorded_gap") {
        return;
    }
    const PORT: u16 = 41_219;
    let pair = NetnsPair::new("hbw-wire-exp", 182);
    let _receiver = peer(&pair.b, &["recv", &PORT.to_string()]);
    let sender = peer(
        &pair.a,
        &["send", &format!("{}:{PORT}", pair.b_ip), "--every", "100ms"],
    );
    let d = tempdir();
    let rec = d.path().join("gap.hbw");
    let spec = format!("udp:{PORT}@100ms");
    // A gap is silence over 500 ms: scheduling jitter on a busy test machine is not one.
    let record = Command::new(hbwatch_bin())
        .args([
            "record",
            "-d",
            "7s",
            "--heartbeat",
            &spec,
            "--gap-factor",
            "5",
        ])
        .args(["--stack-rate", "499", "--all-stacks", "-o"])
        .arg(&rec)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn hbwatch record");
    // Attaching takes a while: the first ticks reach the file once it runs.
    let t0 = Instant::now();
    while std::fs::metadata(&rec).map_or(0, |m| m.len()) < 4096 {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "record never started"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // Beats for a second or more, one and a half seconds of silence, then beats to the end.
    std::thread::sleep(Duration::from_millis(1200));
    run(&["kill", "-STOP", &sender.0.id().to_string()]);
    std::thread::sleep(Duration::from_millis(1500));
    run(&["kill", "-CONT", &sender.0.id().to_string()]);
    let out = record.wait_with_output().expect("wait hbwatch record");
    assert!(
        out.status.success(),
        "record failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let report = hbwatch(&["report", "--format", "json", rec.to_str().expect("utf8")]);
    assert!(report.status.success(), "report failed");
    let v: serde_json::Value = serde_json::from_slice(&report.stdout).expect("JSON report");
    let gaps = v["heartbeats"]["gaps"].as_array().expect("gaps");
    let len_s = |g: &serde_json::Value| g["length_ns"].as_u64().unwrap_or(0) as f64 / 1e9;
    let long: Vec<usize> = (0..gaps.len())
        .filter(|&i| gaps[i]["open"] == false && len_s(&gaps[i]) > 1.0)
        .collect();
    assert_eq!(long.len(), 1, "one gap from the stopped sender: {gaps:#?}");
    let len = len_s(&gaps[long[0]]);
    assert!((1.3..2.5).contains(&len), "gap of {len} s");
    // Numbered as the report lists them.
    let gap_no = long[0] + 1;

    let p = |n: &str| d.path().join(n).display().to_string();
    let gap_arg = gap_no.to_string();
    let args = [
        rec.to_str().expect("utf8"),
        "--gap",
        &gap_arg,
        // Recorded with --all-stacks: draw them all, not only the softirq ones.
        "--all-stacks",
        "--flamegraph",
        &p("f.svg"),
        "--folded",
        &p("f.folded"),
        "--timeline",
        &p("t.svg"),
        "--trace",
        &p("t.json"),
        "--json",
        &p("s.json"),
        "--ndjson",
        &p("s.ndjson"),
        "--histograms",
        &p("hist"),
    ];
    let o = hbwatch(&std::iter::once("export").chain(args).collect::<Vec<_>>());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "export failed: {err}");
    eprintln!("{err}");

    let folded = read(d.path(), "f.folded");
    assert!(folded.lines().count() > 0, "no stacks in the gap window");
    assert!(
        folded.lines().all(|l| l
            .rsplit_once(' ')
            .is_some_and(|(_, n)| n.parse::<u64>().is_ok())),
        "not folded text:\n{folded}"
    );
    for svg in ["f.svg", "t.svg"] {
        let text = read(d.path(), svg);
        let mut r = quick_xml::Reader::from_str(&text);
        loop {
            match r.read_event() {
                Ok(quick_xml::events::Event::Eof) => break,
                Ok(_) => {}
                Err(e) => panic!("{svg} is not XML: {e}"),
            }
        }
    }
    let trace: serde_json::Value =
        serde_json::from_str(&read(d.path(), "t.json")).expect("trace JSON");
    let events = trace["traceEvents"].as_array().expect("traceEvents");
    let named = |n: &str| events.iter().filter(|e| e["name"] == n).count();
    assert!(
        events.iter().any(|e| e["cat"] == "heartbeat"),
        "no heartbeat arrivals in the trace"
    );
    assert_eq!(
        named(&format!("gap {gap_no}")),
        1,
        "the gap is in the trace"
    );
    assert_eq!(named(&format!("gap {gap_no} detected")), 1);
    let cause = events
        .iter()
        .find(|e| e["name"] == format!("gap {gap_no}"))
        .and_then(|e| e["args"]["cause"].as_str())
        .expect("the gap's cause from the diagnosis");
    eprintln!("gap {gap_no}: cause {cause}");
    let hist = d.path().join("hist");
    let hgrm = std::fs::read_dir(&hist)
        .expect("histograms folder")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("heartbeat-interarrival-"))
        .count();
    assert_eq!(hgrm, 1, "one inter-arrival histogram for the UDP source");
    assert!(hist.join("heartbeat-interarrival.hlog").exists());

    let diff = hbwatch(&[
        "export",
        rec.to_str().expect("utf8"),
        "--gap",
        &gap_arg,
        "--all-stacks",
        "--diff-baseline",
        "--flamegraph",
        &p("diff.svg"),
    ]);
    assert!(
        diff.status.success(),
        "differential flamegraph: {}",
        String::from_utf8_lossy(&diff.stderr)
    );
}
