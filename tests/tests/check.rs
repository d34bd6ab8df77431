//! `hbwatch check`: fixture trees trigger exactly their findings; the CLI runs on this host,
//! speaks JSON with a schema version, and exits 2 on bad input.

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use hbwatch::commands::check::check_with;
use hbwatch_tests::hbwatch_bin;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../agent/fixtures/hosts")
        .join(name)
}

/// (finding id, subject) of every finding the fixture produces.
fn findings(name: &str, iface: Option<&str>) -> BTreeSet<(String, String)> {
    let report = check_with(Some(&fixture(name)), iface, Duration::ZERO)
        .unwrap_or_else(|e| panic!("check of fixture {name}: {e:#}"));
    assert!(
        report.unreadable.is_empty(),
        "fixture {name} left things unreadable: {:?}",
        report.unreadable
    );
    report
        .findings
        .iter()
        .map(|f| (f.id.clone(), f.subject.clone()))
        .collect()
}

fn set(items: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    items
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

#[test]
fn vm_with_one_virtio_queue_needs_rps() {
    assert_eq!(
        findings("vm-virtio", None),
        set(&[("single-queue-rps-off", "eth0")])
    );
}

#[test]
fn ixgbe_with_unused_rss_and_a_small_ring_missing_frames() {
    let report = check_with(Some(&fixture("ixgbe-multiqueue")), None, Duration::ZERO)
        .expect("check ixgbe fixture");
    let ids: BTreeSet<_> = report.findings.iter().map(|f| f.id.as_str()).collect();
    assert_eq!(ids, BTreeSet::from(["rss-underused", "ring-small-missed"]));
    let ring = report
        .findings
        .iter()
        .find(|f| f.id == "ring-small-missed")
        .expect("ring finding");
    // The `later/` snapshot missed 35 more frames: counted as rising, hence critical.
    assert_eq!(
        ring.severity,
        hbwatch::analysis::recommendation::Severity::Critical
    );
    assert!(
        ring.evidence
            .iter()
            .any(|e| e.what == "rx_missed_errors in the last window" && e.value.starts_with("35 ")),
        "{:?}",
        ring.evidence
    );
    assert_eq!(ring.apply, vec!["ethtool -G eth0 rx 2048"]);
    let rss = report
        .findings
        .iter()
        .find(|f| f.id == "rss-underused")
        .expect("rss finding");
    assert_eq!(rss.apply, vec!["ethtool -L eth0 combined 8"]);
    assert_eq!(rss.undo, vec!["ethtool -L eth0 combined 4"]);
}

#[test]
fn mlx5_with_rps_no_rfs_drops_and_irqbalance_fighting_pinning() {
    assert_eq!(
        findings("mlx5-rps", None),
        set(&[
            ("irqbalance-fighting", "enp94s0f0np0"),
            ("rps-without-rfs", "enp94s0f0np0"),
            ("offload-coalescing", "enp94s0f0np0"),
            ("softnet-backlog-drops", "host"),
            ("softnet-time-squeeze", "host"),
            ("udp-rcvbuf-errors", "host"),
        ])
    );
}

#[test]
fn ice_with_every_queue_irq_on_cpu0_and_offline_cpus() {
    let report = check_with(Some(&fixture("ice-all-irqs-cpu0")), None, Duration::ZERO)
        .expect("check ice fixture");
    assert_eq!(report.online_cpus, vec![0, 1, 2, 3, 6, 7]);
    let ids: Vec<_> = report.findings.iter().map(|f| f.id.as_str()).collect();
    assert_eq!(ids, vec!["irqs-one-cpu"]);
    // Queues are spread over the CPUs that exist: 4 and 5 are offline.
    let targets: Vec<&str> = report.findings[0]
        .apply
        .iter()
        .map(|c| c.split_whitespace().nth(1).expect("echo CPU"))
        .collect();
    assert_eq!(targets, vec!["0", "1", "2", "3", "6", "7"]);
}

#[test]
fn iface_filter_and_unknown_iface() {
    let f = findings("mlx5-rps", Some("enp94s0f0np0"));
    assert_eq!(f.len(), 6);
    let err = check_with(Some(&fixture("mlx5-rps")), Some("eth9"), Duration::ZERO)
        .expect_err("unknown iface accepted");
    assert!(
        err.to_string().contains("unknown interface `eth9`"),
        "{err}"
    );
}

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(hbwatch_bin())
        .args(args)
        .output()
        .expect("run hbwatch");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn cli_json_on_a_fixture_has_a_schema_version() {
    let root = fixture("vm-virtio");
    let (code, out, err) = run(&[
        "check",
        "--root",
        root.to_str().expect("utf-8 path"),
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "stderr: {err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("check JSON");
    assert_eq!(v["schema_version"], 1);
    let f = &v["findings"][0];
    assert_eq!(f["id"], "single-queue-rps-off");
    assert_eq!(f["severity"], "warning");
    assert_eq!(
        f["apply"][0],
        "echo 3 > /sys/class/net/eth0/queues/rx-0/rps_cpus"
    );
    assert!(
        f["persist"][0]["content"]
            .as_str()
            .expect("persist")
            .contains("ATTR{queues/rx-0/rps_cpus}=\"3\"")
    );
    assert!(f["undo"].as_array().expect("undo").len() >= 2);
}

#[test]
fn cli_bad_input_exits_2() {
    let (code, _, err) = run(&["check", "--iface", "no-such-nic0"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("unknown interface `no-such-nic0`"), "{err}");
    let (code, _, err) = run(&["check", "--root", "/nonexistent/hbwatch-root"]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = run(&["check", "--format", "yaml"]);
    assert_eq!(code, 2, "{err}");
}

/// Physical NICs of this host with one RX queue and RPS off, when it has two or more CPUs.
fn single_queue_rps_off_here() -> Vec<String> {
    let online = std::fs::read_to_string("/sys/devices/system/cpu/online").unwrap_or_default();
    if online.trim() == "0" {
        return Vec::new();
    }
    let mut out = Vec::new();
    for e in std::fs::read_dir("/sys/class/net")
        .expect("/sys/class/net")
        .flatten()
    {
        let dir = e.path();
        if !dir.join("device").exists() {
            continue;
        }
        let rx: Vec<_> = std::fs::read_dir(dir.join("queues"))
            .map(|d| {
                d.flatten()
                    .filter(|q| q.file_name().to_string_lossy().starts_with("rx-"))
                    .collect()
            })
            .unwrap_or_default();
        let rps = std::fs::read_to_string(dir.join("queues/rx-0/rps_cpus")).unwrap_or_default();
        if rx.len() == 1 && rps.trim().trim_start_matches(['0', ',']).is_empty() {
            out.push(e.file_name().to_string_lossy().into_owned());
        }
    }
    out.sort();
    out
}

#[test]
fn live_check_on_this_host_matches_what_it_is() {
    let (code, out, err) = run(&["check", "--format", "json"]);
    assert_eq!(code, 0, "stderr: {err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("check JSON");
    assert!(
        v["window_ms"].as_u64().expect("window_ms") >= 900,
        "counters compared over {}",
        v["window_ms"]
    );
    let mut flagged: Vec<String> = v["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["id"] == "single-queue-rps-off")
        .map(|f| f["subject"].as_str().expect("subject").to_owned())
        .collect();
    flagged.sort();
    // On the development VM: eth0, one virtio queue, two CPUs, RPS off.
    assert_eq!(flagged, single_queue_rps_off_here(), "{out}");
    let (code, text, err) = run(&["check"]);
    assert_eq!(code, 0, "stderr: {err}");
    assert!(text.starts_with("hbwatch check on "), "{text}");
}

#[test]
fn cli_says_what_it_could_not_read_and_still_exits_0() {
    let dir = hbwatch_tests::tempdir();
    let (code, out, err) = run(&["check", "--root", dir.path().to_str().expect("utf-8 path")]);
    assert_eq!(code, 0, "stderr: {err}");
    assert!(out.contains("No findings in what could be read"), "{out}");
    assert!(
        out.contains("/proc/net/softnet_stat: No such file"),
        "{out}"
    );
    assert!(out.contains("/sys/class/net: not found"), "{out}");
}
