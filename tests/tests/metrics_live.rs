//! Root: `hbwatch record --metrics-addr` and `hbwatch serve` load the real probes and serve live
//! values; `serve` rotates its recordings and keeps only `--keep` of them.

use std::{
    net::SocketAddr,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use hbwatch_tests::{
    hbwatch_bin,
    http::{free_port, get_ok, sample},
    require_root, tempdir,
};

/// Stops the hbwatch this test started (by its PID only) if the test ends early.
struct Guard(Child);
impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Polls the endpoint until TIMER softirqs on CPU 0 have been counted and published.
fn wait_for_timer_softirqs(addr: SocketAddr) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(body) = get_ok(addr, "/metrics")
            && sample(
                &body,
                "hbwatch_softirq_entries_total{cpu=\"0\",vector=\"TIMER\"}",
            )
            .is_some_and(|v| v > 0.0)
        {
            return body;
        }
        assert!(
            Instant::now() < deadline,
            "no TIMER softirqs published at {addr} within 20 s"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn sigterm(child: &Child) {
    // SAFETY: kill with a PID this test spawned and still owns (not yet waited for).
    let rc = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    assert_eq!(rc, 0, "SIGTERM to hbwatch failed");
}

#[test]
fn record_serves_live_metrics() {
    if !require_root("record_serves_live_metrics") {
        return;
    }
    let d = tempdir();
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
    let child = Command::new(hbwatch_bin())
        .args([
            "record",
            "-d",
            "20s",
            "--metrics-addr",
            &addr.to_string(),
            "-o",
        ])
        .arg(d.path().join("r.hbw"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start hbwatch record");
    let mut guard = Guard(child);
    let body = wait_for_timer_softirqs(addr);
    assert_eq!(
        sample(
            &body,
            "hbwatch_collector_state{collector=\"softirq\",state=\"running\"}"
        ),
        Some(1.0),
        "{body}"
    );
    assert!(
        body.contains(
            "hbwatch_softirq_wait_seconds_bucket{le=\"+Inf\",cpu=\"0\",vector=\"TIMER\"}"
        )
    );
    sigterm(&guard.0);
    let status = guard.0.wait().expect("wait");
    assert!(status.success(), "record exited with {status}");
}

#[test]
fn serve_rotates_and_keeps() {
    if !require_root("serve_rotates_and_keeps") {
        return;
    }
    let d = tempdir();
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
    let child = Command::new(hbwatch_bin())
        .args([
            "serve",
            "--metrics-addr",
            &addr.to_string(),
            "--rotate",
            "1s",
            "--keep",
            "2",
            // Nothing listens there: the source only has to be declared in every file.
            "--heartbeat",
            "probe:tcp://127.0.0.1:9@1s",
        ])
        .arg("--output-dir")
        .arg(d.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start hbwatch serve");
    let mut guard = Guard(child);
    wait_for_timer_softirqs(addr);
    // Several rotations happen within a few seconds; only the newest two files remain.
    std::thread::sleep(Duration::from_secs(4));
    sigterm(&guard.0);
    let status = guard.0.wait().expect("wait");
    assert!(status.success(), "serve exited with {status}");
    let files: Vec<_> = std::fs::read_dir(d.path())
        .expect("read dir")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(files.len(), 2, "{files:?}");
    for f in &files {
        let o = Command::new(hbwatch_bin())
            .args(["report", "--format", "json"])
            .arg(f)
            .output()
            .expect("report");
        assert!(
            o.status.success(),
            "{} unreadable: {}",
            f.display(),
            String::from_utf8_lossy(&o.stderr)
        );
        let r: serde_json::Value = serde_json::from_slice(&o.stdout).expect("report json");
        assert_eq!(
            r["recording"]["stopped_cleanly"],
            true,
            "{}: {}",
            f.display(),
            r["recording"]
        );
        // A rotated file starts with what describes the run, so it reads on its own.
        let collectors = r["collectors"].as_array().expect("collectors");
        assert!(
            collectors.iter().any(|c| c["name"] == "softirq"),
            "{}: collectors {collectors:?}",
            f.display()
        );
        let sources = r["heartbeats"]["sources"].to_string();
        assert!(
            sources.contains("probe:tcp://127.0.0.1:9@1s"),
            "{}: heartbeat sources {sources}",
            f.display()
        );
    }
}
