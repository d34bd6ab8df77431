//! End to end: the built binary records while UDP crosses a veth pair, and `report --format json`
//! shows NET_RX activity; bad input gets one clear line and exit status 2.

use std::{
    net::UdpSocket,
    process::Command,
    time::{Duration, Instant},
};

use hbwatch_tests::{
    hbwatch_bin,
    netns::{NetnsPair, in_netns},
    require_root, tempdir,
};

fn report_json(path: &std::path::Path) -> serde_json::Value {
    let out = Command::new(hbwatch_bin())
        .args(["report", "--format", "json"])
        .arg(path)
        .output()
        .expect("run report");
    assert!(
        out.status.success(),
        "report failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("report JSON parses")
}

#[test]
fn record_three_seconds_then_report_json_shows_net_rx() {
    if !require_root("record_three_seconds_then_report_json_shows_net_rx") {
        return;
    }
    let dir = tempdir();
    let path = dir.path().join("r.hbw");
    let pair = NetnsPair::new("hbw-e2e-rec", 21);
    let mut child = Command::new(hbwatch_bin())
        .args(["record", "-d", "3s", "-o"])
        .arg(&path)
        .spawn()
        .expect("spawn record");
    // The file appears once the probes are attached (slow on a loaded machine); then send for
    // two seconds, well inside the three recorded.
    hbwatch_tests::wait_for_recording(&path);
    let dst = format!("{}:40021", pair.b_ip);
    in_netns(&pair.a, move || {
        let s = UdpSocket::bind("0.0.0.0:0").expect("bind");
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(2) {
            let _ = s.send_to(&[1u8; 100], &dst);
            std::thread::sleep(Duration::from_micros(200));
        }
    });
    let status = child.wait().expect("wait record");
    assert!(status.success(), "record exited {status}");

    let mode = std::fs::metadata(&path).expect("recording exists");
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
        0o600
    );
    let j = report_json(&path);
    assert_eq!(j["schema"], "hbwatch-report");
    assert_eq!(j["schema_version"], 1);
    assert_eq!(j["recording"]["stopped_cleanly"], true);
    let dur = j["recording"]["duration_s"].as_f64().expect("duration");
    assert!((2.5..5.0).contains(&dur), "duration {dur}");
    let net_rx = j["softirq"]["by_vector"]
        .as_array()
        .expect("by_vector")
        .iter()
        .find(|v| v["vector"] == "NET_RX")
        .expect("NET_RX row");
    assert!(
        net_rx["count"].as_u64().expect("count") > 100,
        "NET_RX: {net_rx}"
    );
    assert!(net_rx["run_ns"]["p99_ns"].as_u64().expect("p99") > 0);
    assert!(net_rx["wait_ns"]["count"].as_u64().expect("wait count") > 0);
}

#[test]
fn sigterm_detaches_and_flushes() {
    if !require_root("sigterm_detaches_and_flushes") {
        return;
    }
    let dir = tempdir();
    let path = dir.path().join("r.hbw");
    let child = Command::new(hbwatch_bin())
        .args(["record", "-o"])
        .arg(&path)
        .spawn()
        .expect("spawn record");
    // The file appears once the probes are attached; then let two ticks pass.
    hbwatch_tests::wait_for_recording(&path);
    std::thread::sleep(Duration::from_millis(2500));
    // SAFETY: signalling the child this test started, by its PID.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let out = child.wait_with_output().expect("wait");
    assert!(
        out.status.success(),
        "record after SIGTERM: {:?}",
        out.status
    );
    let j = report_json(&path);
    assert_eq!(j["recording"]["stopped_cleanly"], true);
    assert_eq!(j["recording"]["stop_reason"], "terminated (SIGTERM)");
    assert!(j["softirq"]["intervals"].as_u64().expect("intervals") >= 2);
}

/// Runs hbwatch with `args`, expects exit 2 and one error line containing `want`.
fn expect_usage_error(args: &[&str], want: &str) {
    let out = Command::new(hbwatch_bin())
        .args(args)
        .output()
        .expect("run hbwatch");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{args:?}: status {:?}, stderr: {err}",
        out.status
    );
    assert!(err.contains(want), "{args:?}: stderr lacks {want:?}: {err}");
    assert!(
        !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
        "{args:?} panicked: {err}"
    );
}

#[test]
fn bad_input_is_a_clear_error_with_status_2() {
    let dir = tempdir();
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "not a recording\n").expect("write");
    let existing = dir.path().join("exists.hbw");
    std::fs::write(&existing, "x").expect("write");
    let t = text.to_str().expect("utf8");
    let e = existing.to_str().expect("utf8");
    let d = dir.path().to_str().expect("utf8");
    expect_usage_error(&["record", "--duration", "soon"], "is not a duration");
    expect_usage_error(&["record", "--duration", "0s"], "greater than zero");
    expect_usage_error(&["record", "--frobnicate"], "unexpected argument");
    expect_usage_error(&["report", t], "not an hbwatch recording");
    expect_usage_error(&["report", d], "is a directory");
    expect_usage_error(&["report", "/nonexistent/x.hbw"], "No such file");
    // Checked before anything is attached, so these need no root.
    expect_usage_error(&["record", "-d", "1s", "-o", e], "refusing to overwrite");
    expect_usage_error(&["record", "-d", "1s", "-o", d], "is a directory");
    expect_usage_error(
        &["record", "-d", "1s", "-o", "/nonexistent/dir/x.hbw"],
        "does not exist",
    );
}

#[test]
fn without_privileges_record_says_what_is_missing() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 || Command::new("setpriv").arg("--version").output().is_err()
    {
        eprintln!(
            "SKIP without_privileges_record_says_what_is_missing: needs root to drop privileges and setpriv"
        );
        return;
    }
    let dir = tempdir();
    // Writable by the unprivileged user, so only the missing capability can stop it.
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .expect("chmod");
    let out_path = dir.path().join("r.hbw");
    let out = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
        ])
        .arg(hbwatch_bin())
        .args(["record", "-d", "1s", "-o"])
        .arg(&out_path)
        .output()
        .expect("setpriv");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {err}");
    assert!(
        err.contains("CAP_BPF") && err.contains("sudo"),
        "stderr: {err}"
    );
    assert!(
        !out_path.exists(),
        "no recording is left behind when probes cannot load"
    );
}
