//! Root: both ends of a heartbeat, recorded apart and reported together. Three namespaces made
//! here — a sender, a router ("the wire") and a receiver — with an `hbwatch record --netns` at
//! each end. Faults one at a time: a drop on the router, the sender stopped, a firewall drop at
//! the receiver, the sender's qdisc overflowing under bulk traffic, the receiver stopped, its
//! receive buffer starved by a flood. `report S R` must name the leg of each: between the hosts,
//! not sent, dropped at the receiver, held in the sender's stack, not read by the receiver,
//! dropped at the receiver.

use std::{
    process::{Child, Command, Stdio},
    time::Duration,
};

use hbwatch_tests::{hbwatch_bin, netns::run, require_root, tempdir, wait_for_recording};

const PORT: u16 = 41_217;
const BULK_PORT: u16 = 41_218;

/// sender (10.199.217.1) — router (10.199.217.2 | 10.199.218.2) — receiver (10.199.218.1).
struct Topology {
    names: [String; 3],
}

impl Topology {
    fn new(tag: &str) -> Topology {
        let names = [format!("{tag}-s"), format!("{tag}-m"), format!("{tag}-r")];
        for n in &names {
            let _ = Command::new("ip").args(["netns", "del", n]).output();
            run(&["ip", "netns", "add", n]);
            run(&["ip", "-n", n, "link", "set", "lo", "up"]);
        }
        let [s, m, r] = &names;
        run(&[
            "ip", "-n", s, "link", "add", "veth-s", "type", "veth", "peer", "name", "veth-ms",
            "netns", m,
        ]);
        run(&[
            "ip", "-n", r, "link", "add", "veth-r", "type", "veth", "peer", "name", "veth-mr",
            "netns", m,
        ]);
        for (ns, dev, addr) in [
            (s, "veth-s", "10.199.217.1/24"),
            (m, "veth-ms", "10.199.217.2/24"),
            (m, "veth-mr", "10.199.218.2/24"),
            (r, "veth-r", "10.199.218.1/24"),
        ] {
            run(&["ip", "-n", ns, "addr", "add", addr, "dev", dev]);
            run(&["ip", "-n", ns, "link", "set", dev, "up"]);
        }
        run(&[
            "ip",
            "-n",
            s,
            "route",
            "add",
            "default",
            "via",
            "10.199.217.2",
        ]);
        run(&[
            "ip",
            "-n",
            r,
            "route",
            "add",
            "default",
            "via",
            "10.199.218.2",
        ]);
        run(&[
            "ip",
            "netns",
            "exec",
            m,
            "sysctl",
            "-qw",
            "net.ipv4.ip_forward=1",
        ]);
        Topology { names }
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        for n in &self.names {
            let _ = Command::new("ip").args(["netns", "del", n]).output();
        }
    }
}

/// A child ended on drop (SIGCONT first, in case it is stopped).
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        // Already reaped: its PID may be someone else's by now.
        if !matches!(self.0.try_wait(), Ok(None)) {
            return;
        }
        let pid = self.0.id() as i32;
        // SAFETY: signals to our own child, by PID.
        unsafe {
            libc::kill(pid, libc::SIGCONT);
            libc::kill(pid, libc::SIGKILL);
        }
        let _ = self.0.wait();
    }
}

fn in_ns(ns: &str, args: &[&str]) -> Proc {
    Proc(
        Command::new("ip")
            .args(["netns", "exec", ns])
            .arg(hbwatch_bin())
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn in namespace"),
    )
}

fn nft(ns: &str, script: &str) {
    run(&["ip", "netns", "exec", ns, "nft", script]);
}

fn signal(p: &Proc, sig: libc::c_int) {
    // SAFETY: a signal to our own child, by PID.
    assert_eq!(unsafe { libc::kill(p.0.id() as i32, sig) }, 0);
}

#[test]
fn merged_report_names_the_leg_of_each_fault() {
    if !require_root("merged_report_names_the_leg_of_each_fault")
        || !hbwatch_tests::daemons::require_bins(
            "merged_report_names_the_leg_of_each_fault",
            &["nft", "tc"],
        )
    {
        return;
    }
    let _serial = hbwatch_tests::global_lock("scenarios");
    let t = Topology::new("hbm");
    let [s, m, r] = t.names.clone();
    let dir = tempdir();
    let (sf, rf) = (dir.path().join("s.hbw"), dir.path().join("r.hbw"));
    // A small receive buffer and a slow reader (10 ms a datagram): heartbeats at 10/s pass, a
    // flood fills it.
    let recv = in_ns(
        &r,
        &[
            "demo-peer",
            "recv",
            &PORT.to_string(),
            "--rcvbuf",
            "4096",
            "--read-delay",
            "10ms",
        ],
    );
    let hb = format!("udp:{PORT}@100ms");
    let watch = format!("udp:{PORT}");
    let rec = |ns: &str, out: &std::path::Path, extra: &[&str]| {
        let mut c = Command::new(hbwatch_bin());
        c.args([
            "record",
            "-d",
            "40s",
            "--netns",
            ns,
            "--stack-rate",
            "0",
            "-o",
        ])
        .arg(out)
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
        Proc(c.spawn().expect("spawn record"))
    };
    // As on a kernel before 6.3: sends are seen from the device queue on.
    let mut rec_s = rec(
        &s,
        &sf,
        &[
            "--watch-port",
            &watch,
            "--disable-probe",
            "sock_send_length",
        ],
    );
    let mut rec_r = rec(&r, &rf, &["--heartbeat", &hb]);
    wait_for_recording(&sf);
    wait_for_recording(&rf);
    let to = format!("10.199.218.1:{PORT}");
    let sender = in_ns(&s, &["demo-peer", "send", &to, "--every", "100ms"]);
    let fault = |secs: f64| std::thread::sleep(Duration::from_secs_f64(secs));
    fault(4.0);
    // 1: lost on the wire (the router drops the flow for 1.5 s).
    nft(
        &m,
        &format!(
            "add table inet hbm; add chain inet hbm hbfwd {{ type filter hook forward priority 0; }}; add rule inet hbm hbfwd udp dport {PORT} drop"
        ),
    );
    fault(1.5);
    nft(&m, "delete table inet hbm");
    fault(4.0);
    // 2: the sender's application stopped.
    signal(&sender, libc::SIGSTOP);
    fault(1.5);
    signal(&sender, libc::SIGCONT);
    fault(4.0);
    // 3: the receiver's firewall drops the flow.
    nft(
        &r,
        &format!(
            "add table inet hbm; add chain inet hbm hbin {{ type filter hook input priority 0; }}; add rule inet hbm hbin udp dport {PORT} drop"
        ),
    );
    fault(1.5);
    nft(&r, "delete table inet hbm");
    fault(4.0);
    // 4: the sender's qdisc: a slow token bucket (100 kbit/s), kept full by bulk traffic to another port.
    run(&[
        "tc", "-n", &s, "qdisc", "add", "dev", "veth-s", "root", "tbf", "rate", "100kbit", "burst",
        "4000", "limit", "8000",
    ]);
    let bulk_to = format!("10.199.218.1:{BULK_PORT}");
    let bulk = in_ns(&s, &["demo-peer", "send", &bulk_to, "--every", "0s"]);
    fault(1.5);
    drop(bulk);
    run(&["tc", "-n", &s, "qdisc", "del", "dev", "veth-s", "root"]);
    fault(4.0);
    // 5: the receiver's application stopped: its heartbeats reach its socket, unread.
    signal(&recv, libc::SIGSTOP);
    fault(1.5);
    signal(&recv, libc::SIGCONT);
    fault(4.0);
    // 6: the receiver's socket buffer starved by a flood to the heartbeat port (2,000/s, from
    // another socket of the sender's host).
    let flood = in_ns(&s, &["demo-peer", "send", &to, "--every", "500us"]);
    fault(1.5);
    drop(flood);
    // The recorders stop by themselves at 40 s.
    for p in [&mut rec_s, &mut rec_r] {
        let st = p.0.wait().expect("recorder");
        assert!(st.success(), "record exited with {st}");
    }
    drop(sender);
    let out = Command::new(hbwatch_bin())
        .args(["report", "--format", "json"])
        .arg(&sf)
        .arg(&rf)
        .output()
        .expect("report");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "report: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j: serde_json::Value = serde_json::from_str(&text).expect("json");
    let legs: Vec<(&str, &str, u64)> = j["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            (
                f["leg"].as_str().unwrap_or("?"),
                f["receiver_cause"].as_str().unwrap_or("?"),
                f["length_ns"].as_u64().unwrap_or(0) / 1_000_000,
            )
        })
        .collect();
    eprintln!("legs (leg, receiver's own cause, ms): {legs:?}");
    eprintln!("clocks: {}", j["clocks"]);
    eprintln!("flows: {}", j["flows"]);
    let human = Command::new(hbwatch_bin())
        .arg("report")
        .arg(&sf)
        .arg(&rf)
        .output()
        .expect("report");
    let human = String::from_utf8_lossy(&human.stdout).into_owned();
    eprintln!("{human}");
    if std::env::var_os("HBWATCH_KEEP").is_some() {
        for f in [&sf, &rf] {
            let _ = std::fs::copy(f, std::env::temp_dir().join(f.file_name().expect("name")));
        }
    }
    // One incident per fault (a congested qdisc may let a heartbeat through now and then: its
    // gaps are one incident), in order, each with its leg.
    // The faults' incidents (over 700 ms lost), in order. A loaded machine may add a short stall
    // of its own now and then (a gap just over 200 ms); never more than two.
    let all = j["incidents"].as_array().expect("incidents");
    let (faults, noise): (Vec<&serde_json::Value>, Vec<&serde_json::Value>) = all
        .iter()
        .partition(|i| i["lost_ns"].as_u64().unwrap_or(0) >= 700_000_000);
    let incidents: Vec<&str> = faults
        .iter()
        .map(|i| i["leg"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(
        incidents,
        [
            "between_hosts",
            "not_sent",
            "receiver_drop",
            "sender_stack",
            "receiver_app",
            "receiver_drop"
        ],
        "one incident per fault, in order: {legs:?}"
    );
    assert!(
        noise.len() <= 2
            && noise
                .iter()
                .all(|i| i["lost_ns"].as_u64().unwrap_or(0) < 500_000_000),
        "incidents besides the faults: {noise:?}"
    );
    // One kernel, one monotonic clock: the offset is exact.
    assert_eq!(j["clocks"][0]["error_ns"], 0, "{}", j["clocks"]);
    assert_eq!(j["clocks"][0]["offset_ns"], 0, "{}", j["clocks"]);
    assert!(j["hosts"][1]["netns_scope"].as_u64().is_some());
    // The sender's own report says where its sends are seen from.
    let own = Command::new(hbwatch_bin())
        .args(["report", "--format", "json"])
        .arg(&sf)
        .output()
        .expect("report");
    let own: serde_json::Value = serde_json::from_slice(&own.stdout).expect("json");
    let send = own["collectors"]
        .as_array()
        .expect("collectors")
        .iter()
        .find(|c| c["name"] == "portwatch:sock_send_length")
        .cloned()
        .expect("sock_send_length status");
    assert!(
        send["detail"]
            .as_str()
            .unwrap_or("")
            .contains("net_dev_queue"),
        "{send}"
    );
    // Both hosts on one time axis.
    let svg = dir.path().join("both.svg");
    let out = Command::new(hbwatch_bin())
        .args(["export"])
        .arg(&sf)
        .arg(&rf)
        .arg("--timeline")
        .arg(&svg)
        .output()
        .expect("export");
    assert!(
        out.status.success(),
        "export: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let svg = std::fs::read_to_string(&svg).expect("svg");
    assert!(
        svg.starts_with("<svg") && svg.contains("merged timeline"),
        "{}",
        &svg[..200.min(svg.len())]
    );
    assert!(
        svg.contains(&format!("→ 10.199.218.1:{PORT}")),
        "flow caption missing"
    );
    // Another host's clock: the receiver's recording copied with its wall clock 7 s ahead and
    // another boot. The merge still pairs the packets and finds the offset from them.
    let shifted = dir.path().join("r-other-host.hbw");
    shift_clock(&rf, &shifted, 7_000_000_000);
    let out = Command::new(hbwatch_bin())
        .args(["report", "--format", "json"])
        .arg(&sf)
        .arg(&shifted)
        .output()
        .expect("report");
    let j2: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let c = &j2["clocks"][0];
    eprintln!("shifted clocks: {c}");
    let off = c["offset_ns"].as_i64().expect("offset");
    assert!((off - 7_000_000_000).abs() < 10_000_000, "{c}");
    assert!(
        c["method"].as_str().unwrap_or("").contains("seconds apart"),
        "{c}"
    );
    let legs2: Vec<&str> = j2["incidents"]
        .as_array()
        .expect("incidents")
        .iter()
        .filter(|i| i["lost_ns"].as_u64().unwrap_or(0) >= 700_000_000)
        .map(|i| i["leg"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(legs2, incidents, "the legs do not depend on the clocks");
    assert!(
        human.contains("Verdict") && human.contains("lost between the hosts"),
        "{human}"
    );
}

/// Copies a recording with its wall clock `by_ns` ahead and another boot id, as if another
/// host had recorded it.
fn shift_clock(from: &std::path::Path, to: &std::path::Path, by_ns: i64) {
    use hbwatch::recording::{RecordingReader, RecordingWriter, records::Record};
    let mut r = RecordingReader::open(from).expect("open");
    let mut h = r.header().clone();
    h.anchor.realtime_ns += by_ns;
    h.boot_id = "another-host".into();
    let mut w = RecordingWriter::create(to, false, &h).expect("create");
    for rec in r.by_ref() {
        let rec = match rec {
            Record::Clock(mut a) => {
                a.realtime_ns += by_ns;
                Record::Clock(a)
            }
            x => x,
        };
        w.push(&rec).expect("push");
    }
    w.flush().expect("flush");
}
