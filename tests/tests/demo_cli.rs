//! `hbwatch demo` end to end: the three faults explained, and nothing left behind, also when
//! interrupted; a clear exit 2 when its tools are missing.

use std::{
    io::{BufRead as _, BufReader},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use hbwatch_tests::{global_lock, hbwatch_bin, require_root};

/// The demo's namespaces exist.
fn demo_netns_left() -> bool {
    let out = Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("ip netns list");
    String::from_utf8_lossy(&out.stdout).contains("hbwatch-demo-")
}

/// PIDs named in the demo's "receiver pid N … sender pid M" line.
fn peer_pids(line: &str) -> Vec<u32> {
    let w: Vec<&str> = line.split_whitespace().collect();
    w.windows(2)
        .filter(|p| p[0] == "pid")
        .filter_map(|p| p[1].parse().ok())
        .collect()
}

#[test]
fn demo_explains_three_faults_and_cleans_up() {
    if !require_root("demo_explains_three_faults_and_cleans_up") {
        return;
    }
    let _serial = global_lock("scenarios");
    let _demo = global_lock("demo");
    let out = Command::new(hbwatch_bin())
        .args(["demo", "--port", "41401"])
        .output()
        .expect("run hbwatch demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("{stderr}\n{stdout}");
    assert!(out.status.success(), "demo failed: {}", out.status);
    for cause in ["socket_rcvbuf_overflow", "app_stall", "netfilter_drop"] {
        assert!(stdout.contains(cause), "{cause} missing from the report");
    }
    for step in [
        "fault 1/3",
        "fault 2/3",
        "fault 3/3",
        "removing the namespaces",
    ] {
        assert!(stderr.contains(step), "{step} not announced");
    }
    assert!(!demo_netns_left(), "the demo left its namespaces behind");
    let pids = stderr
        .lines()
        .find(|l| l.contains("receiver pid"))
        .map(peer_pids)
        .unwrap_or_default();
    assert_eq!(pids.len(), 2, "{stderr}");
    for p in pids {
        assert!(
            !std::path::Path::new(&format!("/proc/{p}")).exists(),
            "peer {p} still running"
        );
    }
}

#[test]
fn demo_interrupted_removes_everything() {
    if !require_root("demo_interrupted_removes_everything") {
        return;
    }
    let _serial = global_lock("scenarios");
    let _demo = global_lock("demo");
    let mut child = Command::new(hbwatch_bin())
        .args(["demo", "--port", "41402"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn hbwatch demo");
    let stderr = child.stderr.take().expect("stderr");
    let mut pids = Vec::new();
    let t0 = Instant::now();
    // Interrupt in the middle of the receiver stall (the receiver is SIGSTOPped then).
    for line in BufReader::new(stderr).lines().map_while(Result::ok) {
        eprintln!("{line}");
        assert!(t0.elapsed() < Duration::from_secs(90), "demo too slow");
        if line.contains("receiver pid") {
            pids = peer_pids(&line);
        }
        if line.contains("fault 2/3") {
            std::thread::sleep(Duration::from_millis(300));
            // SAFETY: kill has no memory preconditions; the pid is our unreaped child.
            unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
        }
    }
    let status = child.wait().expect("wait demo");
    assert_eq!(status.code(), Some(1), "{status}");
    assert!(!demo_netns_left(), "the demo left its namespaces behind");
    assert_eq!(pids.len(), 2);
    for p in pids {
        assert!(
            !std::path::Path::new(&format!("/proc/{p}")).exists(),
            "peer {p} still running"
        );
    }
}

#[test]
fn demo_without_its_tools_exits_2() {
    let out = Command::new(hbwatch_bin())
        .arg("demo")
        .env("PATH", "/nonexistent")
        .output()
        .expect("run hbwatch demo");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    // Not root: says so; root without ip/nft on PATH: names the missing tool.
    assert!(
        err.contains("needs root") || err.contains("needs `ip`"),
        "{err}"
    );
}
