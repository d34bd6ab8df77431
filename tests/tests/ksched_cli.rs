//! Root, end to end: `hbwatch record` with the scheduling, threshold and stack options, then
//! `hbwatch report --format json` shows the watched process, the event stream and the stacks.

use std::process::{Command, Stdio};

use hbwatch_tests::{hbwatch_bin, require_root, tempdir};

#[test]
fn record_with_watch_and_stacks_then_report_json() {
    if !require_root("record_with_watch_and_stacks_then_report_json") {
        return;
    }
    let mut spinner = Command::new("sh")
        .args(["-c", "while :; do :; done"])
        .spawn()
        .expect("spawn spinner");
    let pid_num = u64::from(spinner.id());
    let pid = pid_num.to_string();
    let dir = tempdir();
    let rec = dir.path().join("k.hbw");
    let out = Command::new(hbwatch_bin())
        .args([
            "record",
            "-d",
            "3s",
            "--watch-pid",
            &pid,
            "--softirq-threshold",
            "1us",
        ])
        .args(["--stack-rate", "199", "--all-stacks", "-o"])
        .arg(&rec)
        .stderr(Stdio::piped())
        .output()
        .expect("run hbwatch record");
    let _ = spinner.kill();
    let _ = spinner.wait();
    assert!(
        out.status.success(),
        "record failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(hbwatch_bin())
        .args(["report", "--format", "json"])
        .arg(&rec)
        .output()
        .expect("run hbwatch report");
    assert!(out.status.success(), "report failed");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    let tasks = v["sched_delay"].as_array().expect("sched_delay array");
    assert!(
        tasks
            .iter()
            .any(|t| t["tid"].as_u64() == Some(pid_num)
                && t["offcpu_ns"]["count"].as_u64() > Some(0)),
        "watched PID {pid} missing from sched_delay: {tasks:?}"
    );
    assert!(
        v["softirq_events"]["count"].as_u64() > Some(0),
        "no softirq over 1 µs in 3 s: {}",
        v["softirq_events"]
    );
    assert_eq!(v["softirq_events"]["threshold_ns"], 1000);
    let stacks = &v["kernel_stacks"];
    assert!(stacks["samples"].as_u64() > Some(100), "stacks: {stacks}");
    let collectors = v["collectors"].as_array().expect("collectors");
    for name in ["sched", "stacks", "softirq-events"] {
        assert!(
            collectors
                .iter()
                .any(|c| c["name"] == name && c["state"] == "running"),
            "collector {name} not running: {collectors:?}"
        );
    }
}
