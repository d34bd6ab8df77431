//! End to end: `hbwatch export` on a synthetic recording file writes every requested format,
//! privately, refuses to overwrite, and rejects impossible requests with exit 2. Also times the
//! export of a one-hour recording.

use std::{
    os::unix::fs::PermissionsExt as _,
    path::Path,
    process::{Command, Output},
    time::Instant,
};

use hbwatch::{output::export::synthetic, recording::RecordingWriter};
use hbwatch_tests::{hbwatch_bin, tempdir};

fn write_recording(path: &Path, seconds: u64) {
    let mut w = RecordingWriter::create(path, false, &synthetic::header()).expect("create");
    for (i, r) in synthetic::records(seconds).iter().enumerate() {
        w.push(r).expect("push");
        if i % 4 == 0 {
            w.flush().expect("flush");
        }
    }
    w.flush().expect("flush");
}

fn export(args: &[&str]) -> Output {
    Command::new(hbwatch_bin())
        .arg("export")
        .args(args)
        .output()
        .expect("run hbwatch")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn exports_every_format_privately() {
    let d = tempdir();
    let rec = d.path().join("r.hbw");
    write_recording(&rec, 40);
    let p = |n: &str| d.path().join(n).display().to_string();
    let args = [
        rec.to_str().expect("utf8"),
        "--from",
        "+10s",
        "--to",
        "+30s",
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
    let o = export(&args);
    assert!(o.status.success(), "export failed: {}", stderr(&o));
    for f in [
        "t.svg",
        "t.json",
        "s.json",
        "s.ndjson",
        "hist/softirq-wait.hlog",
        "hist/softirq-run-cpu1-NET_RX.hgrm",
    ] {
        let m = std::fs::metadata(d.path().join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
        assert!(m.len() > 0, "{f} is empty");
        assert_eq!(m.permissions().mode() & 0o777, 0o600, "{f} is not private");
    }
    let nd = std::fs::read_to_string(d.path().join("s.ndjson")).expect("ndjson");
    assert_eq!(nd.lines().count(), 20, "20 seconds in +10s..+30s");
    // Again without --force: refused, exit 2, nothing changed.
    let o = export(&args);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("refusing to overwrite"),
        "{}",
        stderr(&o)
    );
    let mut forced = args.to_vec();
    forced.push("--force");
    assert!(export(&forced).status.success());
}

#[test]
fn impossible_requests_exit_2() {
    let d = tempdir();
    let rec = d.path().join("r.hbw");
    write_recording(&rec, 10);
    let r = rec.to_str().expect("utf8");
    let out = d.path().join("x.svg");
    let o = out.to_str().expect("utf8");
    for (args, says) in [
        (vec![r], "nothing to export"),
        (vec![r, "--gap", "1", "--timeline", o], "no heartbeat gap 1"),
        (vec![r, "--flamegraph", o], "no kernel stacks"),
        (
            vec![r, "--from", "+1h", "--timeline", o],
            "empty or outside",
        ),
        (vec!["/nonexistent.hbw", "--timeline", o], "nonexistent"),
    ] {
        let res = export(&args);
        assert_eq!(res.status.code(), Some(2), "{args:?}: {}", stderr(&res));
        assert!(stderr(&res).contains(says), "{args:?}: {}", stderr(&res));
        assert!(!out.exists(), "{args:?} left a file behind");
    }
    let link = d.path().join("link.svg");
    std::os::unix::fs::symlink("/tmp/hbwatch-should-not-exist", &link).expect("symlink");
    let res = export(&[r, "--timeline", link.to_str().expect("utf8")]);
    assert_eq!(res.status.code(), Some(2), "{}", stderr(&res));
}

#[test]
fn one_hour_export_time() {
    let d = tempdir();
    let rec = d.path().join("hour.hbw");
    write_recording(&rec, 3600);
    let p = |n: &str| d.path().join(n).display().to_string();
    let t0 = Instant::now();
    let o = export(&[
        rec.to_str().expect("utf8"),
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
    ]);
    let took = t0.elapsed();
    assert!(o.status.success(), "{}", stderr(&o));
    eprintln!("one-hour synthetic recording: CLI export of all formats took {took:?}");
    for f in [
        "t.svg",
        "t.json",
        "s.json",
        "s.ndjson",
        "hist/softirq-wait.hlog",
    ] {
        let len = std::fs::metadata(d.path().join(f))
            .map(|m| m.len())
            .unwrap_or(0);
        eprintln!("  {f}: {len} bytes");
    }
    let nd = std::fs::read_to_string(d.path().join("s.ndjson")).expect("ndjson");
    assert_eq!(nd.lines().count(), 3600);
}
