//! End to end: `hbwatch live` in a detached tmux session of a fixed size shows the header and
//! the softirq panel, quits on `q` with the terminal restored, the recording finished and its
//! programs unloaded; and it refuses to start without a TTY.

use std::{
    collections::BTreeSet,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use agent_common::names;
use hbwatch::recording::{RecordingReader, records::Record};
use hbwatch_tests::{hbwatch_bin, require_root, tempdir};

fn tmux(args: &[&str]) -> String {
    let out = Command::new("tmux")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running tmux {args:?}: {e} (apt-get install -y tmux)"));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Kills the tmux session this test made, even when the test fails.
struct Session(String);

impl Drop for Session {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.0])
            .status();
    }
}

/// Ids of loaded programs that carry one of hbwatch's program names.
fn hbwatch_programs() -> BTreeSet<u32> {
    let ours = [
        names::PROG_SOFTIRQ_RAISE,
        names::PROG_SOFTIRQ_ENTRY,
        names::PROG_SOFTIRQ_EXIT,
        names::PROG_SOFTIRQ_RAISE_TP,
        names::PROG_SOFTIRQ_ENTRY_TP,
        names::PROG_SOFTIRQ_EXIT_TP,
    ];
    aya::programs::loaded_programs()
        .filter_map(Result::ok)
        .filter(|p| p.name_as_str().is_some_and(|n| ours.contains(&n)))
        .map(|p| p.id())
        .collect()
}

fn wait_for(what: &str, timeout: Duration, mut probe: impl FnMut() -> Option<String>) -> String {
    let t0 = Instant::now();
    loop {
        if let Some(s) = probe() {
            return s;
        }
        assert!(t0.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn live_view_in_tmux_shows_softirq_and_quits_cleanly() {
    if !require_root("live_view_in_tmux_shows_softirq_and_quits_cleanly") {
        return;
    }
    let dir = tempdir();
    let rec = dir.path().join("live.hbw");
    let name = format!("hbw-e2e-live-{}", std::process::id());
    let before = hbwatch_programs();
    // The shell prints the exit status and stays, so the pane can be read after hbwatch exits.
    let cmd = format!(
        "{} live -o {}; echo HBW-EXIT=$?; sleep 120",
        hbwatch_bin().display(),
        rec.display()
    );
    tmux(&[
        "new-session",
        "-d",
        "-s",
        &name,
        "-x",
        "80",
        "-y",
        "24",
        &cmd,
    ]);
    let _session = Session(name.clone());
    let pane = || tmux(&["capture-pane", "-p", "-t", &name]);

    let screen = wait_for(
        "the softirq panel with data",
        Duration::from_secs(15),
        || {
            let s = pane();
            (s.contains("Softirq NET_RX per CPU") && s.contains("cpu0 ") && s.contains("00:00:0"))
                .then_some(s)
        },
    );
    assert!(screen.contains("hbwatch live"), "header missing:\n{screen}");
    assert!(
        screen.contains(&rec.display().to_string()),
        "recording path missing:\n{screen}"
    );
    assert!(screen.contains("lost 0"), "lost counter missing:\n{screen}");
    assert_eq!(
        tmux(&["display", "-p", "-t", &name, "#{alternate_on}"]).trim(),
        "1",
        "the view runs on the alternate screen"
    );
    let loaded: BTreeSet<u32> = hbwatch_programs().difference(&before).copied().collect();
    assert!(
        loaded.len() >= 3,
        "live loaded no softirq programs: {loaded:?}"
    );

    // `p` freezes the display: the clock in the header stops.
    tmux(&["send-keys", "-t", &name, "p"]);
    let paused = wait_for("PAUSED", Duration::from_secs(5), || {
        let s = pane();
        s.contains("PAUSED").then_some(s)
    });
    std::thread::sleep(Duration::from_millis(2200));
    let still = pane();
    let clock = |s: &str| s.lines().next().unwrap_or_default().to_owned();
    assert_eq!(clock(&paused), clock(&still), "paused display changed");
    tmux(&["send-keys", "-t", &name, "p"]);

    tmux(&["send-keys", "-t", &name, "q"]);
    let after = wait_for("hbwatch to exit", Duration::from_secs(10), || {
        let s = pane();
        s.contains("HBW-EXIT=").then_some(s)
    });
    assert!(after.contains("HBW-EXIT=0"), "exit status:\n{after}");
    assert!(
        after.contains("stopped: quit from the live view"),
        "summary missing:\n{after}"
    );
    assert_eq!(
        tmux(&["display", "-p", "-t", &name, "#{alternate_on}"]).trim(),
        "0",
        "the terminal is back on the normal screen"
    );
    let left: Vec<u32> = hbwatch_programs().intersection(&loaded).copied().collect();
    assert!(
        left.is_empty(),
        "programs still loaded after exit: {left:?}"
    );

    let reader = RecordingReader::open(&rec).expect("the recording opens");
    let records: Vec<Record> = reader.collect();
    let stop = records.iter().find_map(|r| match r {
        Record::Stop(s) => Some(s.reason.clone()),
        _ => None,
    });
    assert_eq!(stop.as_deref(), Some("quit from the live view"));
    assert!(
        records
            .iter()
            .filter(|r| matches!(r, Record::Softirq(_)))
            .count()
            >= 2,
        "too few softirq intervals"
    );
}

#[test]
fn live_without_a_tty_refuses_and_points_to_record() {
    let out = Command::new(hbwatch_bin())
        .args(["live", "-d", "1s"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("running hbwatch live");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("needs a terminal") && err.contains("hbwatch record"),
        "{err}"
    );
}
