//! Files and streams: `-` reads standard input and writes standard output, FIFOs are refused at
//! once instead of blocking, the fix script can be replaced with `--force`, and each subcommand's
//! help lists only the options it reads.

use std::{
    io::Write as _,
    path::Path,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use hbwatch::{
    capture::session::build_header,
    collectors::host::HostRoot,
    recording::{
        Record, RecordingWriter,
        records::{FoldedStack, StackContext, StackSamples, StopInfo},
    },
};
use hbwatch_tests::{hbwatch_bin, tempdir};

/// A small recording; with `stacks`, one stack interval keeping `stacks` (recorded with
/// `--all-stacks`).
fn recording(path: &Path, stacks: Option<Vec<FoldedStack>>) {
    let header = build_header(&HostRoot::default(), vec!["streams".into()]);
    let t0 = header.anchor.mono_ns;
    let mut w = RecordingWriter::create(path, false, &header).expect("create recording");
    if let Some(stacks) = stacks {
        w.push(&Record::Stacks(StackSamples {
            start_mono_ns: t0,
            end_mono_ns: t0 + 1_000_000_000,
            rate_hz: 99,
            all_stacks: true,
            samples: 996,
            dropped: 0,
            stacks,
        }))
        .expect("push");
    }
    w.push(&Record::Stop(StopInfo {
        at_mono_ns: t0 + 2_000_000_000,
        reason: "test".into(),
    }))
    .expect("push");
    w.flush().expect("flush");
}

/// Runs hbwatch, killing it (and failing) if it takes longer than 30 s.
fn run_bounded(mut cmd: Command, stdin: Option<Vec<u8>>) -> std::process::Output {
    let mut child = cmd
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn hbwatch");
    if let Some(bytes) = stdin {
        let mut pipe = child.stdin.take().expect("stdin pipe");
        std::thread::spawn(move || {
            let _ = pipe.write_all(&bytes);
        });
    }
    let t0 = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if t0.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("hbwatch {:?} still running after 30 s", cmd.get_args());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("output")
}

fn hbwatch(args: &[&str]) -> Command {
    let mut c = Command::new(hbwatch_bin());
    c.args(args);
    c
}

#[test]
fn a_fifo_is_refused_at_once_not_read() {
    let dir = tempdir();
    let fifo = dir.path().join("pipe.hbw");
    let st = Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("run mkfifo");
    assert!(st.success(), "mkfifo failed");
    let f = fifo.to_str().expect("utf8");
    let out_json = dir.path().join("out.json");
    for args in [
        vec!["report", f],
        vec!["export", f, "--json", out_json.to_str().expect("utf8")],
    ] {
        let t0 = Instant::now();
        let out = run_bounded(hbwatch(&args), None);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains("is a FIFO (named pipe)") && err.contains("`-`"),
            "{args:?}: {err}"
        );
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "{args:?} took {:?}",
            t0.elapsed()
        );
    }
    // As an output, a FIFO would block until someone reads it.
    let rec = dir.path().join("r.hbw");
    recording(&rec, None);
    let out = run_bounded(
        hbwatch(&[
            "export",
            rec.to_str().expect("utf8"),
            "--json",
            f,
            "--force",
        ]),
        None,
    );
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn dash_reads_standard_input_and_writes_standard_output() {
    let dir = tempdir();
    let rec = dir.path().join("r.hbw");
    recording(&rec, None);
    let bytes = std::fs::read(&rec).expect("read recording");
    // Through a pipe (not seekable): the report reads the recording twice.
    let out = run_bounded(
        hbwatch(&["report", "-", "--format", "json"]),
        Some(bytes.clone()),
    );
    assert!(
        out.status.success(),
        "report -: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("report - prints JSON");
    assert!(v.is_object(), "{v}");
    let out = run_bounded(hbwatch(&["export", "-", "--json", "-"]), Some(bytes));
    assert!(
        out.status.success(),
        "export - --json -: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("export prints JSON");
    assert!(v.is_object(), "{v}");
    assert!(!dir.path().join("-").exists(), "`-` became a file");
    // Anything but a recording on standard input is refused after its first bytes.
    let out = run_bounded(hbwatch(&["report", "-"]), Some(vec![0; 1 << 20]));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("standard input: not an hbwatch recording"),
        "{err}"
    );
    let out = run_bounded(
        hbwatch(&["export", rec.to_str().expect("utf8"), "--ndjson", "-"]),
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for l in String::from_utf8_lossy(&out.stdout).lines() {
        serde_json::from_str::<serde_json::Value>(l).expect("an NDJSON line");
    }
}

#[test]
fn export_never_overwrites_its_input() {
    let dir = tempdir();
    let rec = dir.path().join("r.hbw");
    recording(&rec, None);
    let before = std::fs::read(&rec).expect("read");
    let link = dir.path().join("hard.hbw");
    std::fs::hard_link(&rec, &link).expect("hard link");
    for out_path in [&rec, &link] {
        let out = run_bounded(
            hbwatch(&[
                "export",
                rec.to_str().expect("utf8"),
                "--json",
                out_path.to_str().expect("utf8"),
                "--force",
            ]),
            None,
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains("is the recording being read"), "{err}");
    }
    assert_eq!(
        std::fs::read(&rec).expect("read"),
        before,
        "the recording changed"
    );
}

#[test]
fn report_force_replaces_an_existing_fix_script() {
    let dir = tempdir();
    let rec = dir.path().join("r.hbw");
    recording(&rec, None);
    let script = dir.path().join("fixes.sh");
    std::fs::write(&script, "old\n").expect("write");
    let r = rec.to_str().expect("utf8");
    let s = script.to_str().expect("utf8");
    let out = run_bounded(hbwatch(&["report", r, "--fix-script", s]), None);
    assert_eq!(
        out.status.code(),
        Some(2),
        "an existing script was overwritten without --force"
    );
    let out = run_bounded(hbwatch(&["report", r, "--fix-script", s, "--force"]), None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&script).expect("read script");
    assert!(text.starts_with("#!/bin/sh\n"), "{text}");
}

#[test]
fn each_subcommand_help_lists_only_its_options() {
    let help = |sub: &str| {
        let out = run_bounded(hbwatch(&[sub, "--help"]), None);
        assert!(out.status.success(), "{sub} --help");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    for sub in ["record", "live", "serve"] {
        let h = help(sub);
        for flag in ["--gap ", "--fix-script"] {
            assert!(
                !h.contains(flag),
                "{sub} --help lists {flag}, which only report reads:\n{h}"
            );
        }
        assert!(h.contains("--heartbeat"), "{sub} --help lacks --heartbeat");
    }
    let h = help("report");
    assert!(
        h.contains("--gap ") && h.contains("--fix-script") && h.contains("--force"),
        "{h}"
    );
    let h = help("export");
    assert!(
        h.contains("--all-stacks") && h.contains("standard output"),
        "{h}"
    );
}

#[test]
fn check_accepts_loopback() {
    let out = run_bounded(
        hbwatch(&["check", "--iface", "lo", "--format", "json"]),
        None,
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "check --iface lo: {err}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("check JSON");
    assert_eq!(v["iface"], "lo", "{v}");
}

#[test]
fn export_all_stacks_draws_the_stacks_outside_softirq() {
    let dir = tempdir();
    let rec = dir.path().join("r.hbw");
    recording(
        &rec,
        Some(vec![FoldedStack {
            context: StackContext::Other,
            folded: "do_idle;default_idle".into(),
            count: 996,
        }]),
    );
    let r = rec.to_str().expect("utf8");
    let out = run_bounded(hbwatch(&["export", r, "--folded", "-"]), None);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("0 of 996 samples ran in softirq context")
            && err.contains("export --all-stacks"),
        "{err}"
    );
    let out = run_bounded(
        hbwatch(&["export", r, "--all-stacks", "--folded", "-"]),
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "do_idle;default_idle 996\n"
    );
}
