//! Real heartbeat scenarios: a UDP heartbeat every 100 ms between two namespaces, recorded by
//! `hbwatch record --heartbeat udp:PORT@100ms` while a test injects one fault, then the JSON report.

use std::{
    io::{BufRead as _, BufReader},
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use hbwatch::demo::lab::Peer;
use serde_json::Value;

use crate::{hbwatch_bin, netns::NetnsPair, tempdir};

/// Namespaces, a receiver in `b` and a heartbeat sender in `a`; all removed on drop.
pub struct Scenario {
    // Field order is drop order: processes before their namespaces.
    pub send: Peer,
    pub recv: Peer,
    pub extra: Vec<Peer>,
    pub pair: NetnsPair,
    pub port: u16,
    /// The heartbeat interval (`100ms` unless started with [`Scenario::start_every`]).
    pub every: String,
    dir: tempfile::TempDir,
    /// Scenarios run one at a time (floods and stalls would blur each other's evidence).
    _serial: crate::GlobalLock,
}

/// A running `hbwatch record`, terminated on drop if the test fails before it ends.
struct Recorder(Child);

impl Drop for Recorder {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            // SAFETY: kill has no memory preconditions; the pid is our unreaped child.
            unsafe { libc::kill(self.0.id() as libc::pid_t, libc::SIGTERM) };
            let t0 = Instant::now();
            while matches!(self.0.try_wait(), Ok(None)) && t0.elapsed() < Duration::from_secs(5) {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

impl Scenario {
    /// Namespaces `<tag>-a/-b` on 10.199.<n>.0/24; a receiver on `port` in b started with
    /// `recv_args` (e.g. `--rcvbuf 2048`), then the 100 ms heartbeat from a.
    pub fn start(tag: &str, n: u8, port: u16, recv_args: &[&str]) -> Scenario {
        Scenario::start_every(tag, n, port, recv_args, "100ms")
    }

    /// [`Scenario::start`] with a heartbeat every `every` (e.g. `5ms`).
    pub fn start_every(tag: &str, n: u8, port: u16, recv_args: &[&str], every: &str) -> Scenario {
        let serial = crate::global_lock("scenarios");
        let pair = NetnsPair::new(tag, n);
        let bin = hbwatch_bin();
        let p = port.to_string();
        let mut args = vec!["recv", p.as_str()];
        args.extend_from_slice(recv_args);
        let recv = Peer::spawn(&bin, &pair.b, &args, "receiver").expect("start receiver");
        std::thread::sleep(Duration::from_millis(200));
        let to = format!("{}:{port}", pair.b_ip);
        let send = Peer::spawn(&bin, &pair.a, &["send", &to, "--every", every], "sender")
            .expect("start sender");
        Scenario {
            send,
            recv,
            extra: Vec::new(),
            pair,
            port,
            every: every.to_owned(),
            dir: tempdir(),
            _serial: serial,
        }
    }

    /// A flood sender from a to the heartbeat port for `for_`, one datagram every `every`
    /// (`0s`: as fast as it can).
    pub fn flood(&mut self, for_: Duration, every: &str) {
        let to = format!("{}:{}", self.pair.b_ip, self.port);
        let f = format!("{}ms", for_.as_millis());
        let p = Peer::spawn(
            &hbwatch_bin(),
            &self.pair.a,
            &["send", &to, "--every", every, "--for", &f],
            "flood",
        )
        .expect("start flood");
        self.extra.push(p);
    }

    /// Records for `secs` seconds; `inject` runs 2 s after hbwatch has attached (it should take
    /// under `secs` − 4 s). Returns the JSON report and prints its heartbeat part.
    pub fn record(
        &mut self,
        secs: u32,
        extra_args: &[&str],
        inject: impl FnOnce(&mut Self),
    ) -> Value {
        let path: PathBuf = self.dir.path().join("scenario.hbw");
        let mut child = Command::new(hbwatch_bin())
            .args(["record", "--force", "-d", &format!("{secs}s"), "-o"])
            .arg(&path)
            .args(["--heartbeat", &format!("udp:{}@{}", self.port, self.every)])
            .args(extra_args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn hbwatch record");
        let stderr = child.stderr.take().expect("stderr");
        let rec = Recorder(child);
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[record] {line}");
                let _ = tx.send(line);
            }
        });
        // Session::start has attached every probe when it says where it records.
        loop {
            match rx.recv_timeout(Duration::from_secs(60)) {
                Ok(l) if l.contains("recording to") => break,
                Ok(_) => {}
                Err(e) => panic!("hbwatch record did not start: {e}"),
            }
        }
        assert!(
            self.recv.alive(),
            "the receiver exited (port {} taken?)",
            self.port
        );
        std::thread::sleep(Duration::from_secs(2));
        inject(self);
        let mut rec = rec;
        let t0 = Instant::now();
        let status = loop {
            if let Some(s) = rec.0.try_wait().expect("try_wait") {
                break s;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(u64::from(secs) + 30),
                "hbwatch record did not stop"
            );
            std::thread::sleep(Duration::from_millis(100));
        };
        assert!(status.success(), "hbwatch record failed: {status}");
        let j = report_json(&path);
        eprintln!("heartbeat gaps: {:#}", j["heartbeats"]["gaps"]);
        eprintln!("port drops: {}", j["packet"]["port_drops"]);
        eprintln!("port events: {}", j["packet"]["port_events"]);
        if let Some(d) = j.get("diagnosis") {
            for g in d["gaps"].as_array().into_iter().flatten() {
                eprintln!(
                    "diagnosis gap {} len {} ns: findings {:#} flow {}",
                    g["number"], g["length_ns"], g["findings"], g["flow"]
                );
            }
        }
        j
    }
}

/// `hbwatch report --format json PATH`.
pub fn report_json(path: &std::path::Path) -> Value {
    let out = Command::new(hbwatch_bin())
        .args(["report", "--format", "json"])
        .arg(path)
        .output()
        .expect("run hbwatch report");
    assert!(
        out.status.success(),
        "report failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("report JSON")
}

/// The closed gaps of the report, as (start s, length s) from the recording start.
pub fn gaps(j: &Value) -> Vec<(f64, f64)> {
    j["heartbeats"]["gaps"]
        .as_array()
        .expect("heartbeats.gaps")
        .iter()
        .filter(|g| g["open"] == false)
        .map(|g| {
            (
                g["start_s"].as_f64().expect("start_s"),
                g["length_ns"].as_u64().expect("length_ns") as f64 / 1e9,
            )
        })
        .collect()
}

/// Drops on the heartbeat port with this kernel reason (whole recording).
pub fn port_drops(j: &Value, port: u16, reason: &str) -> u64 {
    j["packet"]["port_drops"]
        .as_array()
        .expect("packet.port_drops")
        .iter()
        .filter(|r| r["port"] == port && r["reason"] == reason)
        .map(|r| r["count"].as_u64().unwrap_or(0))
        .sum()
}

/// The ranked causes of each diagnosed gap (`diagnosis.gaps[i].findings[*].cause`).
pub fn causes(j: &Value) -> Vec<Vec<String>> {
    j["diagnosis"]["gaps"]
        .as_array()
        .expect("diagnosis.gaps")
        .iter()
        .map(|g| {
            g["findings"]
                .as_array()
                .expect("findings")
                .iter()
                .map(|f| f["cause"].as_str().expect("cause").to_owned())
                .collect()
        })
        .collect()
}
