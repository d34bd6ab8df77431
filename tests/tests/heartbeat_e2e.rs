//! End to end: `hbwatch record` with heartbeat sources while this test writes log lines with a
//! pause and stops a loopback listener a TCP probe watches; the report must show those gaps.

use std::{
    io::Write as _,
    net::TcpListener,
    process::Command,
    time::{Duration, Instant},
};

use hbwatch_tests::{hbwatch_bin, require_root, tempdir};

const PROBE_PORT: u16 = 47_311;

fn utc_now() -> jiff::Timestamp {
    jiff::Timestamp::now()
}

fn append(path: &std::path::Path, line: &str) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("open log");
    writeln!(f, "{line}").expect("write log");
}

/// Accepts connections until the returned guard is dropped.
fn listen() -> TcpListener {
    let l = TcpListener::bind(("127.0.0.1", PROBE_PORT)).expect("bind probe port");
    l.set_nonblocking(true).expect("nonblocking");
    l
}

#[test]
fn record_shows_log_and_probe_gaps() {
    if !require_root("record_shows_log_and_probe_gaps") {
        return;
    }
    let dir = tempdir();
    let beats = dir.path().join("beats.log");
    let coro = dir.path().join("corosync.log");
    let rec = dir.path().join("hb.hbw");
    append(&beats, "start");
    append(
        &coro,
        "Nov 22 00:00:00.000 [1] vm corosync notice  [TOTEM ] A new membership (1.d) was formed.",
    );
    let mut listener = Some(listen());
    let mut child = Command::new(hbwatch_bin())
        .args(["record", "-d", "5s", "--force", "--tz", "UTC", "-o"])
        .arg(&rec)
        .arg("--heartbeat")
        .arg(format!("log:{}@100ms", beats.display()))
        .arg("--heartbeat")
        .arg(format!("log:{}:corosync", coro.display()))
        .arg("--heartbeat")
        .arg(format!(
            "probe:tcp://127.0.0.1:{PROBE_PORT}@200ms,failures=3"
        ))
        .spawn()
        .expect("spawn hbwatch record");
    // Attached once the recording exists; then give the followers a moment to open the files
    // (they start from the files' ends).
    hbwatch_tests::wait_for_recording(&rec);
    std::thread::sleep(Duration::from_millis(300));
    let t0 = Instant::now();
    let mut paused = false;
    let mut resumed = false;
    // Until hbwatch stops by itself (5 s), so neither source is silent at the end.
    while child.try_wait().expect("try_wait").is_none() {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "hbwatch did not stop"
        );
        let el = t0.elapsed();
        if let Some(l) = &listener {
            while l.accept().is_ok() {}
        }
        if el >= Duration::from_millis(1000) && !paused {
            paused = true;
            listener = None;
        }
        let in_pause = el >= Duration::from_millis(1000) && el < Duration::from_millis(2200);
        if !in_pause {
            if paused && !resumed {
                resumed = true;
                listener = Some(listen());
                let now = utc_now().strftime("%b %d %H:%M:%S%.3f");
                append(
                    &coro,
                    &format!(
                        "{now} [20775] vm corosync warning [MAIN  ] Corosync main process was not scheduled (@1) for 1200.0000 ms (threshold is 800.0000 ms). Consider token timeout increase."
                    ),
                );
            }
            append(&beats, &format!("{} beat", utc_now()));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(listener);
    let status = child.wait().expect("wait hbwatch");
    assert!(
        paused && resumed,
        "hbwatch stopped before the pause was over"
    );
    assert!(status.success(), "record failed: {status}");

    let out = Command::new(hbwatch_bin())
        .args(["report", "--format", "json"])
        .arg(&rec)
        .output()
        .expect("report");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let hb = &v["heartbeats"];
    let gaps = hb["gaps"].as_array().expect("gaps");
    let of = |src: u64, kind: &str| -> Vec<&serde_json::Value> {
        gaps.iter()
            .filter(|g| g["source"] == src && g["kind"] == kind && g["open"] == false)
            .collect()
    };
    let log_gaps = of(0, "silence");
    assert_eq!(log_gaps.len(), 1, "{gaps:#?}");
    let len = log_gaps[0]["length_ns"].as_u64().expect("length") as f64 / 1e9;
    assert!((1.0..1.8).contains(&len), "log gap {len} s");
    let stall = of(1, "self_stall");
    assert_eq!(stall.len(), 1, "{gaps:#?}");
    assert_eq!(stall[0]["length_ns"], 1_200_000_000u64);
    assert!(stall[0]["onset_estimate_s"].is_number());
    let probe = of(2, "silence");
    assert_eq!(probe.len(), 1, "{gaps:#?}");
    let plen = probe[0]["length_ns"].as_u64().expect("length") as f64 / 1e9;
    assert!((0.9..2.0).contains(&plen), "probe gap {plen} s");
    let warnings: Vec<String> = hb["sources"][2]["warnings"]
        .as_array()
        .expect("warnings")
        .iter()
        .map(|w| w["kind"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(warnings, ["refused", "stalled", "recovered"]);
    assert!(
        hb["sources"][2]["probe_attempts"]
            .as_u64()
            .expect("attempts")
            >= 15
    );

    let text = Command::new(hbwatch_bin())
        .arg("report")
        .arg(&rec)
        .output()
        .expect("text report");
    let text = String::from_utf8_lossy(&text.stdout);
    // The gaps are listed once, under their incidents; the heartbeat section only counts them.
    assert!(text.contains("\nIncidents ("), "{text}");
    assert!(text.contains("Heartbeat gaps: "), "{text}");
    assert!(!text.contains("Heartbeat gaps ("), "{text}");
    assert!(text.contains("self-stall logged"), "{text}");
    // The log gap, the probe gap and the corosync stall line tell of one pause: one incident.
    let inc = &v["diagnosis"]["incidents"][0];
    assert_eq!(inc["sources"].as_array().map(Vec::len), Some(3), "{inc:#}");
}

#[test]
fn bad_heartbeat_spec_exits_2_before_attaching() {
    let dir = tempdir();
    let rec = dir.path().join("never.hbw");
    let out = Command::new(hbwatch_bin())
        .args(["record", "-d", "1s", "-o"])
        .arg(&rec)
        .args(["--heartbeat", "log:/var/log/x.log:nosuchpreset"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("at position 20") && err.contains("nosuchpreset"),
        "{err}"
    );
    assert!(!rec.exists(), "a recording was created");
}
