//! Real cluster daemons (corosync, keepalived, serf, etcd, redis sentinel, haproxy) in namespaces
//! the test makes, recorded by `hbwatch record` while faults are injected one at a time.
//!
//! A test writes the daemons' configs, starts them with [`Cluster::spawn`] (foreground, logging to
//! files in the test's folder, killed by PID on drop), waits for the cluster to form, then runs a
//! [`Plan`]: a healthy stretch followed by faults, each in its own window. [`Run`] holds what
//! happened; its checks compare the daemon's own log with the preset ([`Run::unmatched`]) and the
//! report with the incident contract of issue 14 ([`contract`]).

pub mod contract;
mod faults;

pub use faults::{Action, Fault};

use std::{
    fs::File,
    io::{BufRead as _, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use hbwatch::{
    clock::mono_ns,
    protocol::{matcher::LineMatcher, presets, timestamp::TsContext},
};
use regex::Regex;
use serde_json::Value;

use crate::{hbwatch_bin, netns::NetnsPair, scenario::report_json, tempdir};

/// Whether the daemon binaries are installed. When not, the test is skipped with a message, or
/// fails when `HBWATCH_REQUIRE_EBPF=1` (CI installs them through `cargo xtask setup`).
pub fn require_bins(test: &str, bins: &[&str]) -> bool {
    let missing: Vec<&str> = bins
        .iter()
        .copied()
        .filter(|b| {
            !Command::new("sh")
                .args(["-c", &format!("command -v {b}")])
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
        .collect();
    if missing.is_empty() {
        return true;
    }
    let msg = format!(
        "{test}: {} not installed (`cargo xtask setup` installs them)",
        missing.join(", ")
    );
    assert!(
        std::env::var("HBWATCH_REQUIRE_EBPF").as_deref() != Ok("1"),
        "{msg}, and HBWATCH_REQUIRE_EBPF=1"
    );
    eprintln!("SKIP {msg}");
    false
}

fn signal(pid: u32, sig: libc::c_int) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: kill has no memory preconditions; callers pass PIDs of processes this test started.
    unsafe { libc::kill(pid, sig) == 0 }
}

/// Field `n` (1-based, after the command) of /proc/PID/stat: 3 is the state, 4 the parent.
fn stat_field(pid: u32, n: usize) -> Option<String> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    rest.split(' ').nth(n - 3).map(str::to_owned)
}

/// One daemon in a namespace. `ip netns exec` (and the `sh` that makes its private mounts)
/// exec the daemon, so the child's PID is the daemon's.
pub struct Daemon {
    child: Child,
    pub name: String,
    /// The process faults stop: the daemon, or the child doing the heartbeats (keepalived VRRP).
    pub worker: u32,
}

impl Daemon {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Makes the process whose PID is written in `pidfile` (a child of this daemon) the one
    /// faults stop; waits up to 10 s for the file.
    pub fn worker_from(&mut self, pidfile: &Path) {
        let t0 = Instant::now();
        loop {
            let pid = std::fs::read_to_string(pidfile)
                .ok()
                .and_then(|s| s.trim().parse::<u32>().ok());
            if let Some(pid) = pid
                && stat_field(pid, 4).as_deref() == Some(&self.pid().to_string())
            {
                self.worker = pid;
                return;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "{}: no child PID in {}",
                self.name,
                pidfile.display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let main = self.pid();
        if self.worker != main && stat_field(self.worker, 4) == Some(main.to_string()) {
            signal(self.worker, libc::SIGCONT);
            signal(self.worker, libc::SIGKILL);
        }
        signal(main, libc::SIGCONT);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Two nodes in namespaces `<tag>-a` (the peer, 10.199.N.1) and `<tag>-b` (the local node that
/// hbwatch watches, 10.199.N.2), their daemons and the test's folder.
pub struct Cluster {
    // Field order is drop order: daemons before their namespaces.
    pub daemons: Vec<Daemon>,
    pub pair: NetnsPair,
    pub dir: tempfile::TempDir,
    /// Index in `daemons` of the peer and of the local daemon, for the stop faults.
    pub peer: usize,
    pub local: usize,
    /// Daemon tests run one at a time, and not beside the scenario tests (their floods and stalls
    /// would blur each other's evidence).
    _serial: crate::GlobalLock,
}

impl Cluster {
    pub fn new(tag: &str, n: u8) -> Cluster {
        let serial = crate::global_lock("scenarios");
        Cluster {
            daemons: Vec::new(),
            pair: NetnsPair::new(tag, n),
            dir: tempdir(),
            peer: 0,
            local: 1,
            _serial: serial,
        }
    }

    /// A path in the test's folder.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes a file into the test's folder and returns its path.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, text).unwrap_or_else(|e| panic!("writing {}: {e}", p.display()));
        p
    }

    /// Starts `argv` in namespace `ns` in the foreground. Its stdout and stderr go to `output` in
    /// the test's folder; each `(dir, mountpoint)` in `binds` is bind-mounted first, privately
    /// (for daemons with fixed pid-file or state paths).
    pub fn spawn(
        &mut self,
        ns: &str,
        name: &str,
        argv: &[&str],
        output: &str,
        binds: &[(&Path, &str)],
    ) -> usize {
        let out = File::options()
            .create(true)
            .append(true)
            .open(self.path(output))
            .unwrap_or_else(|e| panic!("{name}: opening {output}: {e}"));
        let err = out.try_clone().expect("dup the output file");
        let mut c = NetnsPair::exec(ns, "sh");
        // `ip netns exec` runs the command in its own mount namespace, so these mounts are seen by
        // this daemon only.
        c.args([
            "-c",
            r#"while [ "$1" != -- ]; do mount --bind "$1" "$2" || exit 97; shift 2; done; shift; exec "$@""#,
            "sh",
        ]);
        for (dir, at) in binds {
            std::fs::create_dir_all(dir).expect("bind source");
            c.arg(dir).arg(at);
        }
        c.arg("--")
            .args(argv)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        let child = c.spawn().unwrap_or_else(|e| panic!("starting {name}: {e}"));
        let worker = child.id();
        self.daemons.push(Daemon {
            child,
            name: name.to_owned(),
            worker,
        });
        self.daemons.len() - 1
    }

    /// Waits until `file` (in the test's folder) has a line matching `re`; panics after
    /// `within`, showing the file's end and which daemons exited.
    pub fn wait_for(&mut self, file: &str, re: &str, within: Duration) {
        let re = Regex::new(re).expect("wait pattern");
        let path = self.path(file);
        let t0 = Instant::now();
        loop {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            if text.lines().any(|l| re.is_match(l)) {
                eprintln!("{file}: `{re}` after {:.1} s", t0.elapsed().as_secs_f64());
                return;
            }
            let dead: Vec<String> = self
                .daemons
                .iter_mut()
                .filter_map(|d| (!d.alive()).then(|| d.name.clone()))
                .collect();
            if !dead.is_empty() || t0.elapsed() > within {
                let tail: Vec<&str> = text.lines().rev().take(30).collect();
                panic!(
                    "{file}: no line matching `{re}` within {within:?} (exited: {dead:?}); last lines:\n{}",
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// What the test records: the sources (`--heartbeat` specs), the local daemon's log (in the
/// test's folder), its preset, which of its lines are WARN or above about a peer or its own
/// scheduling, the healthy stretch and the faults.
pub struct Plan {
    pub heartbeats: Vec<String>,
    pub log: String,
    pub preset: &'static str,
    pub warn: fn(&str) -> bool,
    pub healthy: Duration,
    /// How long before a fault its gap may start: one heartbeat interval (the silence begins at
    /// the last beat heard) plus the resolution of the daemon's log stamps.
    pub onset_slack: Duration,
    pub faults: Vec<Fault>,
}

/// One fault as it happened: its CLOCK_MONOTONIC window (injection to the next injection or the
/// end of the recording) and the local log's lines written in it.
pub struct Window {
    pub name: &'static str,
    pub action: Action,
    pub cause: &'static str,
    pub start_ns: u64,
    pub end_ns: u64,
    pub lines: Vec<String>,
    /// What proves the fault happened (drop counter, process state, the line it showed).
    pub proof: Result<String, String>,
}

pub struct Run {
    pub healthy_end_ns: u64,
    pub onset_slack: Duration,
    pub windows: Vec<Window>,
    pub report: Value,
    pub preset: &'static str,
    pub warn: fn(&str) -> bool,
    pub took: Duration,
}

/// The lines appended to `path` since byte `from`.
fn read_from(path: &Path, from: u64) -> Vec<String> {
    let text = std::fs::read(path).unwrap_or_default();
    let from = usize::try_from(from).unwrap_or(usize::MAX).min(text.len());
    String::from_utf8_lossy(&text[from..])
        .lines()
        .map(str::to_owned)
        .collect()
}

/// A running `hbwatch record`, interrupted on drop if the test fails before it ends.
struct Recorder(Child);

impl Drop for Recorder {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            signal(self.0.id(), libc::SIGKILL);
            let _ = self.0.wait();
        }
    }
}

impl Cluster {
    /// Records the plan with `hbwatch record` inside the local namespace, injecting each fault in
    /// turn, then reads the JSON report.
    pub fn run(&mut self, plan: Plan) -> Run {
        let t0 = Instant::now();
        let rec_path = self.path("daemon.hbw");
        let log = self.path(&plan.log);
        let total: Duration = plan.healthy
            + plan
                .faults
                .iter()
                .map(|f| f.hold + f.settle)
                .sum::<Duration>()
            + Duration::from_secs(60);
        let mut cmd = NetnsPair::exec(&self.pair.b, &hbwatch_bin().to_string_lossy());
        cmd.args([
            "record",
            "--force",
            "-d",
            &format!("{}s", total.as_secs()),
            "-o",
        ])
        .arg(&rec_path);
        for h in &plan.heartbeats {
            cmd.args(["--heartbeat", h]);
        }
        let mut child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn hbwatch record");
        let stderr = child.stderr.take().expect("stderr");
        let mut rec = Recorder(child);
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[record] {line}");
                let _ = tx.send(line);
            }
        });
        loop {
            match rx.recv_timeout(Duration::from_secs(60)) {
                Ok(l) if l.contains("recording to") => break,
                Ok(_) => {}
                Err(e) => panic!("hbwatch record did not start: {e}"),
            }
        }
        eprintln!("recording started; healthy stretch {:?}", plan.healthy);
        std::thread::sleep(plan.healthy);
        let healthy_end_ns = mono_ns();
        let mut windows = Vec::new();
        for f in &plan.faults {
            let offset = std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0);
            let start_ns = mono_ns();
            eprintln!(
                "fault {} at {:+.2} s",
                f.name,
                (start_ns as f64 - healthy_end_ns as f64) / 1e9
            );
            let proof = self.inject(f);
            windows.push(Window {
                name: f.name,
                action: f.action,
                cause: f.cause,
                start_ns,
                end_ns: 0,
                lines: Vec::new(),
                proof,
            });
            let w = windows.last_mut().expect("just pushed");
            std::thread::sleep(f.settle);
            w.end_ns = mono_ns();
            w.lines = read_from(&log, offset);
            if let (Ok(p), Some(re)) = (&w.proof, f.shows) {
                let re = Regex::new(re).expect("shows pattern");
                w.proof = match w.lines.iter().find(|l| re.is_match(l)) {
                    Some(l) => Ok(format!("{p}; printed `{l}`")),
                    None => Err(format!("the local log printed nothing matching `{re}`")),
                };
            }
            for d in &mut self.daemons {
                assert!(d.alive(), "{} exited during fault {}", d.name, f.name);
            }
        }
        signal(rec.0.id(), libc::SIGINT);
        let stop = Instant::now();
        let status = loop {
            if let Some(s) = rec.0.try_wait().expect("try_wait") {
                break s;
            }
            assert!(
                stop.elapsed() < Duration::from_secs(30),
                "hbwatch record did not stop"
            );
            std::thread::sleep(Duration::from_millis(100));
        };
        assert!(status.success(), "hbwatch record failed: {status}");
        // For a look at a failing run: `HBWATCH_KEEP_RECORDING=DIR` keeps a copy of it.
        if let Some(dir) = std::env::var_os("HBWATCH_KEEP_RECORDING") {
            let to = Path::new(&dir).join(format!("{}.hbw", self.pair.b));
            match std::fs::copy(&rec_path, &to) {
                Ok(_) => eprintln!("recording kept as {}", to.display()),
                Err(e) => eprintln!("keeping the recording as {}: {e}", to.display()),
            }
        }
        Run {
            healthy_end_ns,
            onset_slack: plan.onset_slack,
            windows,
            report: report_json(&rec_path),
            preset: plan.preset,
            warn: plan.warn,
            took: t0.elapsed(),
        }
    }
}

impl Run {
    /// The lines printed in each window that the test counts as WARN or above about a peer or
    /// the daemon's scheduling, each with whether the preset matched it.
    pub fn warn_lines(&self) -> Vec<(&'static str, String, bool)> {
        let p = presets::find(self.preset).unwrap_or_else(|| panic!("no preset {}", self.preset));
        let mut m = LineMatcher::preset(
            p,
            TsContext::new(jiff::tz::TimeZone::system(), hbwatch::clock::realtime_ns()),
        );
        let mut out = Vec::new();
        for w in &self.windows {
            for l in w.lines.iter().filter(|l| (self.warn)(l)) {
                out.push((w.name, l.clone(), m.match_line(l).is_some()));
            }
        }
        out
    }

    /// Prints each window's proof and WARN+ lines; panics when a fault did not happen or a WARN+
    /// line is not matched by the preset, listing them.
    pub fn check_daemon_side(&self) {
        eprintln!("test took {:.1} s", self.took.as_secs_f64());
        let mut failures = Vec::new();
        for w in &self.windows {
            match &w.proof {
                Ok(p) => eprintln!("fault {}: {p}", w.name),
                Err(e) => failures.push(format!("fault {} did not happen: {e}", w.name)),
            }
        }
        for (fault, line, matched) in self.warn_lines() {
            eprintln!(
                "fault {fault}: {} {line}",
                if matched { "matched  " } else { "UNMATCHED" }
            );
            if !matched {
                failures.push(format!(
                    "{fault}: preset {} does not match: {line}",
                    self.preset
                ));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    /// The report against the incident contract (see [`contract`]); panics listing every miss.
    pub fn check_report(&self) {
        let failures = contract::check(
            &self.report,
            self.healthy_end_ns,
            self.onset_slack.as_nanos() as u64,
            &self.windows,
        );
        assert!(
            failures.is_empty(),
            "the report does not hold:\n{}",
            failures.join("\n")
        );
    }
}
