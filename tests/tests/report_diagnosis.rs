//! `hbwatch report` on synthetic recordings written through the real writer: the ranked verdict
//! per cause in JSON, golden text/Markdown/JSON reports (`HBWATCH_BLESS=1` rewrites them), `--gap`,
//! and `--fix-script` (mode 0600, no symlink following, numbered blocks with their undo, parses
//! with `bash -n`).

use std::{os::unix::fs::PermissionsExt as _, path::Path, process::Command};

use hbwatch::recording::synth::causes::{GapSpec, Scenario, write};
use hbwatch_tests::{hbwatch_bin, tempdir};

fn report(dir: &Path, file: &str, args: &[&str]) -> std::process::Output {
    Command::new(hbwatch_bin())
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("TZ", "UTC")
        .arg("report")
        .arg(file)
        .args(args)
        .output()
        .expect("run hbwatch report")
}

fn json(dir: &Path, file: &str) -> serde_json::Value {
    let out = report(dir, file, &["--format", "json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON report")
}

fn gap(at_s: u64, len_s: u64, scenario: Scenario) -> GapSpec {
    GapSpec {
        at_s,
        len_s,
        scenario,
    }
}

#[test]
fn every_cause_is_the_verdict_in_the_json_report() {
    let dir = tempdir();
    for (i, (sc, want)) in [
        (Scenario::RcvbufOverflow, "socket_rcvbuf_overflow"),
        (Scenario::BacklogOverflow, "cpu_backlog_overflow"),
        (Scenario::SoftirqDelay, "softirq_delay"),
        (Scenario::NicRing, "nic_ring_overflow"),
        (Scenario::Netfilter, "netfilter_drop"),
        (Scenario::AppStall, "app_stall"),
        (Scenario::VmPause, "vm_pause"),
        (Scenario::PeerStopped, "peer_or_upstream"),
        (Scenario::AppStallWithHostNoise, "app_stall"),
    ]
    .into_iter()
    .enumerate()
    {
        let file = format!("c{i}.hbw");
        write(&dir.path().join(&file), 40, &[gap(20, 4, sc)]).expect("write recording");
        let j = json(dir.path(), &file);
        let gaps = j["diagnosis"]["gaps"].as_array().expect("gaps");
        assert_eq!(gaps.len(), 1, "{sc:?}");
        assert_eq!(
            gaps[0]["findings"][0]["cause"], want,
            "{sc:?}: {:#}",
            gaps[0]["findings"]
        );
        assert_eq!(gaps[0]["number"], 1);
        assert!(
            j["diagnosis"]["verdict"]
                .as_str()
                .is_some_and(|v| !v.is_empty())
        );
        if want == "app_stall" {
            // No network cause is stated above or beside the stall.
            for f in gaps[0]["findings"]
                .as_array()
                .expect("findings")
                .iter()
                .skip(1)
            {
                assert!(f["confidence"].as_f64().expect("confidence") < 0.4, "{f:#}");
            }
        }
    }
}

#[test]
fn mixed_recording_ranks_each_gap_and_flows_are_reported() {
    let dir = tempdir();
    write(
        &dir.path().join("m.hbw"),
        60,
        &[
            gap(10, 3, Scenario::Netfilter),
            gap(30, 5, Scenario::AppStall),
            gap(45, 4, Scenario::RcvbufOverflow),
        ],
    )
    .expect("write");
    let j = json(dir.path(), "m.hbw");
    let g = &j["diagnosis"]["gaps"];
    let causes: Vec<&str> = (0..3)
        .map(|i| g[i]["findings"][0]["cause"].as_str().expect("cause"))
        .collect();
    assert_eq!(
        causes,
        ["netfilter_drop", "app_stall", "socket_rcvbuf_overflow"]
    );
    assert_eq!(g[0]["flow"]["dropped"][0][0], "NETFILTER_DROP");
    assert_eq!(g[0]["flow"]["dropped"][0][1], 3);
    assert!(g[1]["flow"]["queued_to_socket"].as_u64().expect("queued") >= 3);
    assert_eq!(g[1]["flow"]["read_by_app"], 0);
    assert!(
        g[2]["recommendations"]
            .as_array()
            .expect("recs")
            .iter()
            .any(|r| r["id"] == "so-rcvbuf")
    );
    assert!(
        !j["diagnosis"]["timeout_advice"]
            .as_array()
            .expect("advice")
            .is_empty()
    );

    let one = report(dir.path(), "m.hbw", &["--gap", "2"]);
    assert!(one.status.success());
    let text = String::from_utf8_lossy(&one.stdout);
    assert!(
        text.contains("Gap 2") && text.contains("app_stall"),
        "{text}"
    );
    assert!(!text.contains("Gap 1 "), "{text}");
    // Piped output has no colour even without NO_COLOR.
    let piped = Command::new(hbwatch_bin())
        .current_dir(dir.path())
        .env_remove("NO_COLOR")
        .args(["report", "m.hbw"])
        .output()
        .expect("run");
    assert!(piped.status.success() && !piped.stdout.contains(&0x1b));
    let one_json = report(dir.path(), "m.hbw", &["--gap", "3", "--format", "json"]);
    let j: serde_json::Value = serde_json::from_slice(&one_json.stdout).expect("json");
    assert_eq!(j["diagnosis"]["gaps"].as_array().map(Vec::len), Some(1));
    assert_eq!(j["diagnosis"]["gaps"][0]["number"], 3);
    let bad = report(dir.path(), "m.hbw", &["--gap", "9"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("3 heartbeat gap"));
}

fn golden(name: &str, got: &[u8]) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("golden")
        .join(name);
    if std::env::var_os("HBWATCH_BLESS").is_some_and(|v| v == "1") {
        std::fs::write(&path, got).expect("bless golden file");
        return;
    }
    let want = std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{}: {e}; run with HBWATCH_BLESS=1", path.display()));
    if want != got {
        let actual = path.with_extension("actual");
        std::fs::write(&actual, got).expect("write actual");
        panic!(
            "{name} differs from its golden file; see {} (HBWATCH_BLESS=1 accepts it)",
            actual.display()
        );
    }
}

#[test]
fn golden_reports() {
    let dir = tempdir();
    write(
        &dir.path().join("golden.hbw"),
        40,
        &[
            gap(8, 4, Scenario::SoftirqDelay),
            gap(25, 4, Scenario::AppStall),
        ],
    )
    .expect("write");
    for (fmt, name) in [
        ("text", "report-mixed.txt"),
        ("markdown", "report-mixed.md"),
        ("json", "report-mixed.json"),
    ] {
        let out = report(dir.path(), "golden.hbw", &["--format", fmt]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            !out.stdout.contains(&0x1b),
            "{fmt}: colour escapes with NO_COLOR"
        );
        if fmt == "text" {
            let text = String::from_utf8_lossy(&out.stdout);
            let first = text
                .lines()
                .position(|l| l == "Verdict")
                .expect("verdict section");
            let tables = text
                .lines()
                .position(|l| l.starts_with("Softirq latency"))
                .expect("tables");
            assert!(first < tables, "verdict comes first");
            // Commands stay on one line so they can be copied; everything else fits 100 columns.
            let commands = ["now:", "keep:", "verify:", "undo:"];
            for l in text
                .lines()
                .filter(|l| !commands.iter().any(|c| l.trim_start().starts_with(c)))
            {
                assert!(l.chars().count() <= 100, "line over 100 columns: {l}");
            }
        }
        golden(name, &out.stdout);
    }
}

#[test]
fn fix_script_is_private_reviewable_and_has_an_undo_section() {
    let dir = tempdir();
    write(
        &dir.path().join("f.hbw"),
        40,
        &[gap(20, 4, Scenario::BacklogOverflow)],
    )
    .expect("write");
    let out = report(dir.path(), "f.hbw", &["--fix-script", "fix.sh"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let path = dir.path().join("fix.sh");
    let meta = std::fs::metadata(&path).expect("script written");
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let text = std::fs::read_to_string(&path).expect("read script");
    assert!(text.starts_with("#!/bin/sh\n"));
    // Numbered blocks, each with its apply and undo side by side.
    let (apply, undo) = (
        text.find("\napply_1() {").expect("apply_1"),
        text.find("\nundo_1() {").expect("undo_1"),
    );
    assert!(
        apply < undo && !text[apply..undo].contains("\n# ["),
        "{text}"
    );
    assert!(text.contains("\nset -eu\n"), "{text}");
    assert!(
        text.contains("sysctl -w net.core.netdev_max_backlog="),
        "{text}"
    );
    let bash = Command::new("bash")
        .arg("-n")
        .arg(&path)
        .output()
        .expect("bash -n");
    assert!(
        bash.status.success(),
        "{}",
        String::from_utf8_lossy(&bash.stderr)
    );
    // Without an argument it only prints usage: nothing is applied.
    let dry = Command::new("sh").arg(&path).output().expect("sh");
    assert_eq!(dry.status.code(), Some(2));
    let list = Command::new("sh")
        .arg(&path)
        .arg("list")
        .output()
        .expect("sh list");
    assert!(
        list.status.success(),
        "{}",
        String::from_utf8_lossy(&list.stderr)
    );
    assert!(
        String::from_utf8_lossy(&list.stdout).contains("netdev-max-backlog"),
        "{}",
        String::from_utf8_lossy(&list.stdout)
    );

    // Never over an existing file, never through a symlink.
    let again = report(dir.path(), "f.hbw", &["--fix-script", "fix.sh"]);
    assert_eq!(
        again.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    std::os::unix::fs::symlink(dir.path().join("target"), dir.path().join("link.sh"))
        .expect("symlink");
    let link = report(dir.path(), "f.hbw", &["--fix-script", "link.sh"]);
    assert_ne!(link.status.code(), Some(0));
    assert!(!dir.path().join("target").exists(), "followed the symlink");
}
