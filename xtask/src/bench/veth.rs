//! A namespace pair joined by veth, made for the bench and removed on drop, and iperf3 UDP runs
//! across it.

use std::process::{Child, Command, Stdio};

use anyhow::{Context as _, Result};

use super::run_ok;

pub struct Veth {
    pub a: String,
    pub b: String,
    pub b_ip: String,
    server: Option<Child>,
}

impl Veth {
    pub fn new() -> Result<Veth> {
        let (a, b) = ("hbw-bench-a".to_owned(), "hbw-bench-b".to_owned());
        for ns in [&a, &b] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
        let mut v = Veth {
            a,
            b,
            b_ip: "10.199.250.2".into(),
            server: None,
        };
        let ip = |args: &[&str]| run_ok(Command::new("ip").args(args));
        ip(&["netns", "add", &v.a])?;
        ip(&["netns", "add", &v.b])?;
        ip(&[
            "-n", &v.a, "link", "add", "veth-a", "type", "veth", "peer", "name", "veth-b", "netns",
            &v.b,
        ])?;
        ip(&[
            "-n",
            &v.a,
            "addr",
            "add",
            "10.199.250.1/24",
            "dev",
            "veth-a",
        ])?;
        ip(&[
            "-n",
            &v.b,
            "addr",
            "add",
            "10.199.250.2/24",
            "dev",
            "veth-b",
        ])?;
        for (ns, dev) in [(&v.a, "veth-a"), (&v.b, "veth-b")] {
            ip(&["-n", ns, "link", "set", dev, "up"])?;
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
        }
        v.server = Some(
            Command::new("ip")
                .args(["netns", "exec", &v.b, "iperf3", "-s", "-p", "5299"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .context("starting iperf3 -s")?,
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
        Ok(v)
    }

    /// UDP packets per second received in `b`, over `secs` seconds of 64-byte datagrams at the
    /// highest rate the sender manages.
    pub fn udp_pps(&self, secs: u32) -> Result<f64> {
        let out = run_ok(Command::new("ip").args([
            "netns",
            "exec",
            &self.a,
            "iperf3",
            "-c",
            &self.b_ip,
            "-p",
            "5299",
            "-u",
            "-b",
            "0",
            "-l",
            "64",
            "-J",
            "-t",
            &secs.to_string(),
        ]))?;
        let j: serde_json::Value =
            serde_json::from_slice(&out.stdout).context("parsing iperf3's JSON")?;
        let sum = &j["end"]["sum"];
        let packets = sum["packets"].as_f64().context("iperf3: no packet count")?;
        let lost = sum["lost_packets"].as_f64().unwrap_or(0.0);
        let seconds = sum["seconds"].as_f64().context("iperf3: no duration")?;
        Ok((packets - lost) / seconds)
    }
}

impl Drop for Veth {
    fn drop(&mut self) {
        if let Some(mut s) = self.server.take() {
            let _ = s.kill();
            let _ = s.wait();
        }
        for ns in [&self.a, &self.b] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}
