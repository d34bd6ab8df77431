//! End to end: `hbwatch live` in a detached tmux session of a fixed size shows the header and
//! the softirq panel, pauses, follows resizes, quits on `q`, Ctrl-C or SIGTERM with the terminal
//! restored, the recording finished and its programs unloaded; and it refuses without a TTY.
//! With a UDP heartbeat source across a veth pair, the lane shows a gap while the sender is
//! stopped.

use std::{
    collections::BTreeSet,
    path::PathBuf,
    process::{Command, Stdio},
    sync::{Mutex, MutexGuard},
    time::{Duration, Instant},
};

use agent_common::names;
use hbwatch::recording::{RecordingReader, records::Record};
use hbwatch_tests::{
    hbwatch_bin,
    netns::{NetnsPair, run},
    require_root, tempdir,
};

fn tmux(args: &[&str]) -> String {
    let out = Command::new("tmux")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running tmux {args:?}: {e} (apt-get install -y tmux)"));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The tmux tests compare loaded program ids before and after, so they run one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// Kills the tmux session this test made, even when the test fails.
struct Session(String);

impl Session {
    /// Starts `hbwatch live ARGS` in a detached 80×24 session; the shell then prints the exit
    /// status and stays, so the pane can be read after hbwatch exits.
    fn start(tag: &str, args: &str) -> Session {
        let name = format!("hbw-e2e-{tag}-{}", std::process::id());
        let cmd = format!(
            "{} live {args}; echo HBW-EXIT=$?; sleep 120",
            hbwatch_bin().display()
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
        Session(name)
    }

    fn pane(&self) -> String {
        tmux(&["capture-pane", "-p", "-t", &self.0])
    }

    fn keys(&self, keys: &str) {
        tmux(&["send-keys", "-t", &self.0, keys]);
    }

    fn alternate_screen(&self) -> bool {
        tmux(&["display", "-p", "-t", &self.0, "#{alternate_on}"]).trim() == "1"
    }

    fn wait_screen(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        wait_for(what, Duration::from_secs(15), || {
            let s = self.pane();
            pred(&s).then_some(s)
        })
    }

    /// Waits for the softirq panel to show a second of data.
    fn wait_running(&self) -> String {
        self.wait_screen("the softirq panel with data", |s| {
            s.contains("Softirq NET_RX per CPU") && s.contains("cpu0 ")
        })
    }

    fn wait_exit(&self) -> String {
        self.wait_screen("hbwatch to exit", |s| s.contains("HBW-EXIT="))
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // Quiet: the session may already be gone (the hangup test closes it itself).
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.0])
            .stderr(Stdio::null())
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
        names::PROG_NETIF_RECEIVE_SKB,
        names::PROG_SK_DATA_READY,
        names::PROG_SOCK_RECV_LENGTH,
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
    let _serial = serial();
    let dir = tempdir();
    let rec = dir.path().join("live.hbw");
    let before = hbwatch_programs();
    let tmux_session = Session::start("live-q", &format!("-o {}", rec.display()));
    let name = tmux_session.0.clone();
    let pane = || tmux_session.pane();
    let screen = tmux_session.wait_running();
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
    let after = tmux_session.wait_exit();
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

/// Reads the stop reason of a finished recording.
fn stop_reason(path: &std::path::Path) -> Option<String> {
    RecordingReader::open(path)
        .expect("the recording opens")
        .find_map(|r| match r {
            Record::Stop(s) => Some(s.reason),
            _ => None,
        })
}

#[test]
fn live_follows_resizes_and_ctrl_c_removes_the_temporary_recording() {
    if !require_root("live_follows_resizes_and_ctrl_c_removes_the_temporary_recording") {
        return;
    }
    let _serial = serial();
    let s = Session::start("live-cc", "");
    let screen = s.wait_running();
    assert!(screen.contains("temporary, removed on exit"), "{screen}");
    tmux(&["resize-window", "-t", &s.0, "-x", "50", "-y", "12"]);
    s.wait_screen("the small layout", |p| p.contains("hidden: Drops"));
    tmux(&["resize-window", "-t", &s.0, "-x", "30", "-y", "6"]);
    s.wait_screen("the too-small note", |p| p.contains("needs at least"));
    tmux(&["resize-window", "-t", &s.0, "-x", "100", "-y", "30"]);
    s.wait_screen("the full layout", |p| {
        p.contains("Drops") && !p.contains("hidden")
    });
    s.keys("C-c");
    let after = s.wait_exit();
    assert!(after.contains("HBW-EXIT=0"), "{after}");
    assert!(!s.alternate_screen(), "terminal not restored:\n{after}");
    // "… the temporary recording /tmp/hbwatch-live-XXXX/live.hbw was removed; …"
    let joined = after.replace('\n', "");
    let path = joined
        .split("temporary recording ")
        .nth(1)
        .and_then(|t| t.split(" was removed").next())
        .map(PathBuf::from)
        .unwrap_or_else(|| panic!("no removal message:\n{after}"));
    assert!(path.to_string_lossy().contains("hbwatch-live-"), "{path:?}");
    assert!(!path.exists(), "{} still exists", path.display());
    assert!(
        path.parent().is_some_and(|d| !d.exists()),
        "temporary folder left behind"
    );
}

#[test]
fn live_stops_cleanly_on_sigterm() {
    if !require_root("live_stops_cleanly_on_sigterm") {
        return;
    }
    let _serial = serial();
    let dir = tempdir();
    let rec = dir.path().join("term.hbw");
    let s = Session::start("live-term", &format!("-o {}", rec.display()));
    s.wait_running();
    // The pane's shell started hbwatch: signal that child only.
    let shell = tmux(&["display", "-p", "-t", &s.0, "#{pane_pid}"]);
    let out = Command::new("pgrep")
        .args(["-P", shell.trim(), "-x", "hbwatch"])
        .output()
        .expect("pgrep");
    let pid: i32 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("hbwatch pid under shell {shell}: {e}"));
    // SAFETY: kill has no memory preconditions; pid is the hbwatch this test started.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let after = s.wait_exit();
    assert!(after.contains("HBW-EXIT=0"), "{after}");
    assert!(!s.alternate_screen(), "terminal not restored:\n{after}");
    assert_eq!(stop_reason(&rec).as_deref(), Some("terminated (SIGTERM)"));
}

#[test]
fn live_finishes_the_recording_when_its_terminal_closes() {
    if !require_root("live_finishes_the_recording_when_its_terminal_closes") {
        return;
    }
    let _serial = serial();
    let dir = tempdir();
    let rec = dir.path().join("hup.hbw");
    let s = Session::start("live-hup", &format!("-o {}", rec.display()));
    s.wait_running();
    let shell = tmux(&["display", "-p", "-t", &s.0, "#{pane_pid}"]);
    let out = Command::new("pgrep")
        .args(["-P", shell.trim(), "-x", "hbwatch"])
        .output()
        .expect("pgrep");
    let pid = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(!pid.is_empty(), "no hbwatch under shell {shell}");
    // Closing the session hangs up the terminal (SIGHUP).
    tmux(&["kill-session", "-t", &s.0]);
    let proc_dir = PathBuf::from(format!("/proc/{pid}"));
    wait_for(
        "hbwatch to exit after the hangup",
        Duration::from_secs(10),
        || (!proc_dir.exists()).then(String::new),
    );
    assert_eq!(stop_reason(&rec).as_deref(), Some("hangup (SIGHUP)"));
}

#[test]
fn a_panic_gives_the_terminal_back() {
    let _serial = serial();
    let name = format!("hbw-e2e-live-panic-{}", std::process::id());
    // After the helper panics, the shell reports whether the terminal is still in raw mode.
    let cmd = format!(
        "{}; echo HBW-EXIT=$?; stty -a | tr ' ;' '\\n\\n' | grep -x -- '-\\?icanon'; sleep 120",
        env!("CARGO_BIN_EXE_live_panic")
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
    let s = Session(name);
    let after = s.wait_screen("the helper to panic and exit", |p| {
        p.contains("HBW-EXIT=") && p.contains("icanon")
    });
    assert!(after.contains("HBW-EXIT=101"), "{after}");
    assert!(
        after.contains("deliberate panic while the live view owns the terminal"),
        "the panic message is lost (printed on the alternate screen?):\n{after}"
    );
    assert!(
        !s.alternate_screen(),
        "still on the alternate screen:\n{after}"
    );
    assert!(
        after.lines().any(|l| l.trim() == "icanon"),
        "the terminal is still in raw mode:\n{after}"
    );
}

/// A process this test started; killed (by its own id) and reaped on drop.
struct Peer(std::process::Child);

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Sends `signal` to a process this test started.
fn signal(p: &Peer, signal: &str) {
    run(&["kill", &format!("-{signal}"), &p.0.id().to_string()]);
}

/// The pid of `hbwatch live` running in the session's pane (the shell's child).
fn live_pid(session: &str) -> u32 {
    let shell = tmux(&["display", "-p", "-t", session, "#{pane_pid}"]);
    let shell = shell.trim();
    let children =
        std::fs::read_to_string(format!("/proc/{shell}/task/{shell}/children")).unwrap_or_default();
    children
        .split_whitespace()
        .filter_map(|p| p.parse::<u32>().ok())
        .find(|p| {
            std::fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c.trim() == "hbwatch")
        })
        .unwrap_or_else(|| panic!("no hbwatch under the pane's shell {shell}"))
}

/// Ids of the BPF programs a process holds open (other hbwatch runs on the machine do not count).
fn programs_of(pid: u32) -> BTreeSet<u32> {
    let dir = format!("/proc/{pid}/fdinfo");
    std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .filter_map(Result::ok)
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .filter_map(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("prog_id:"))
                .and_then(|v| v.trim().parse().ok())
        })
        .collect()
}

/// The "gaps N" count of a lane line.
fn gaps_in(line: &str) -> Option<u64> {
    line.split("gaps ")
        .nth(1)?
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// The lane line of `source` on the screen, if shown.
fn lane<'a>(screen: &'a str, source: &str) -> Option<&'a str> {
    screen.lines().find(|l| l.contains(source))
}

#[test]
fn live_lane_shows_a_gap_while_the_sender_is_stopped() {
    if !require_root("live_lane_shows_a_gap_while_the_sender_is_stopped") {
        return;
    }
    let _serial = serial();
    const PORT: u16 = 41_207;
    let pair = NetnsPair::new("hbw-wire-live", 181);
    let peer = |ns: &str, args: &[&str]| {
        Peer(
            NetnsPair::exec(ns, &hbwatch_bin().display().to_string())
                .arg("demo-peer")
                .args(args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("starting a demo peer"),
        )
    };
    let _receiver = peer(&pair.b, &["recv", &PORT.to_string()]);
    let to = format!("{}:{PORT}", pair.b_ip);
    let sender = peer(&pair.a, &["send", &to, "--every", "100ms"]);
    // The lane name is cut to 11 characters: "udp:41207@1".
    let name = "udp:41207@1";
    // A gap is silence over 500 ms: other tests flooding the machine delay some beats.
    let s = Session::start(
        "live-gap",
        &format!("--heartbeat udp:{PORT}@100ms --gap-factor 5"),
    );
    let flowing = |l: &str| l.contains(" ok ") || l.contains(" late ");
    let ok = s.wait_screen("the heartbeat lane receiving", |p| {
        lane(p, name).is_some_and(|l| flowing(l) && gaps_in(l).is_some())
    });
    let before = lane(&ok, name).and_then(gaps_in).unwrap_or_default();
    let pid = live_pid(&s.0);
    let loaded = programs_of(pid);
    assert!(loaded.len() >= 4, "live holds too few programs: {loaded:?}");

    signal(&sender, "STOP");
    let gap = s.wait_screen("the lane in a gap", |p| {
        lane(p, name).is_some_and(|l| l.contains("GAP") && gaps_in(l) > Some(before))
    });
    eprintln!("{}", lane(&gap, name).unwrap_or_default());
    signal(&sender, "CONT");
    let back = s.wait_screen("the lane receiving again", |p| {
        lane(p, name).is_some_and(|l| flowing(l) && gaps_in(l) > Some(before))
    });
    eprintln!("{back}");
    // The verdict line carries the diagnosis of the gap.
    s.wait_screen("the gap's verdict", |p| p.contains("on udp:41207@100ms: "));

    s.keys("q");
    let after = s.wait_exit();
    assert!(after.contains("HBW-EXIT=0"), "exit status:\n{after}");
    assert!(!s.alternate_screen(), "terminal not restored:\n{after}");
    // The summary line wraps at 80 columns.
    let joined = after.replace('\n', "");
    assert!(
        joined.contains("temporary recording") && joined.contains("was removed"),
        "{after}"
    );
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "hbwatch {pid} is still there"
    );
    let still: BTreeSet<u32> = aya::programs::loaded_programs()
        .filter_map(Result::ok)
        .map(|p| p.id())
        .collect();
    let left: Vec<u32> = loaded.intersection(&still).copied().collect();
    assert!(
        left.is_empty(),
        "programs still loaded after exit: {left:?}"
    );
}
