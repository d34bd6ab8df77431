//! A namespace pair joined by veth, made for the bench and removed on drop, and iperf3 UDP runs
//! across it.

use std::{
    io::Read as _,
    process::{Child, Command, Stdio},
};

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
                .args([
                    "netns", "exec", &v.b, "iperf3", "-s", "-p", "5299", "-A", "0",
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .context("starting iperf3 -s")?,
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
        Ok(v)
    }

    /// Receive Packet Steering of `b`'s only queue to CPU 0 (the receiver's), or off. With it the
    /// sender's CPU queues each datagram to CPU 0's backlog, whose NAPI poll takes many per
    /// softirq (as a NIC's interrupt coalescing does); without it veth runs one NET_RX softirq
    /// per datagram on the sending CPU.
    pub fn steer_to_cpu0(&self, on: bool) -> Result<()> {
        let mask = if on { "1" } else { "0" };
        run_ok(Command::new("ip").args([
            "netns",
            "exec",
            &self.b,
            "sh",
            "-c",
            &format!("echo {mask} > /sys/class/net/veth-b/queues/rx-0/rps_cpus"),
        ]))?;
        Ok(())
    }

    /// UDP packets received in `b` over `secs` seconds of 64-byte datagrams at the highest rate
    /// the sender manages: per second, and per CPU-second the sending side used (its task time,
    /// plus the hard and soft interrupt time of the CPUs in `irq_cpus`).
    pub fn udp_run(&self, secs: u32, irq_cpus: &[usize]) -> Result<UdpRun> {
        // The sender (and the softirqs it runs: veth delivers on the sending CPU) on the last
        // CPU, the receiver on CPU 0.
        let cpu = sender_cpu();
        let t0: u64 = irq_cpus
            .iter()
            .map(|c| cpu_irq_ticks(*c))
            .sum::<Result<_>>()?;
        let q0 = super::procstat::softirqs_total();
        let mut child = Command::new("ip")
            .args([
                "netns", "exec", &self.a, "iperf3", "-c", &self.b_ip, "-p", "5299",
            ])
            .args(["-u", "-b", "0", "-l", "64", "-J", "-A", &cpu.to_string()])
            .args(["-t", &secs.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .context("starting iperf3 -c")?;
        let mut stdout = Vec::new();
        child
            .stdout
            .take()
            .context("iperf3 stdout")?
            .read_to_end(&mut stdout)
            .context("reading iperf3's output")?;
        // `ip netns exec` execs iperf3 in place, so wait4's rusage is iperf3's own CPU time.
        let (ok, task_cpu_s) = wait_with_rusage(child.id())?;
        let t1: u64 = irq_cpus
            .iter()
            .map(|c| cpu_irq_ticks(*c))
            .sum::<Result<_>>()?;
        let q1 = super::procstat::softirqs_total();
        if !ok {
            anyhow::bail!("iperf3 -c failed");
        }
        let j: serde_json::Value =
            serde_json::from_slice(&stdout).context("parsing iperf3's JSON")?;
        let sum = &j["end"]["sum"];
        let packets = sum["packets"].as_f64().context("iperf3: no packet count")?;
        let lost = sum["lost_packets"].as_f64().unwrap_or(0.0);
        let seconds = sum["seconds"].as_f64().context("iperf3: no duration")?;
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
        let cpu_s = task_cpu_s + (t1 - t0) as f64 / hz;
        Ok(UdpRun {
            pps: (packets - lost) / seconds,
            per_cpu_second: (packets - lost) / cpu_s.max(1e-3),
            cpu_ns_per_sent: cpu_s * 1e9 / packets.max(1.0),
            softirqs_per_sent: (q1 - q0) as f64 / packets.max(1.0),
        })
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

/// One iperf3 UDP run.
pub struct UdpRun {
    /// Packets received per second of wall time.
    pub pps: f64,
    /// Packets received per CPU-second of the sending side (its task time plus the hard and
    /// soft interrupt time of its CPU): unlike `pps`, this does not move when other processes
    /// take turns on that CPU, so it compares tracers on a busy machine.
    pub per_cpu_second: f64,
    /// CPU time of the path (as in `per_cpu_second`) per datagram sent, received or dropped.
    pub cpu_ns_per_sent: f64,
    /// Softirqs executed on all CPUs (/proc/softirqs) per datagram sent, over the run (iperf3's
    /// start-up and end included).
    pub softirqs_per_sent: f64,
}

pub fn sender_cpu() -> usize {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) }.max(1) as usize;
    n - 1
}

/// irq + softirq ticks of one CPU from /proc/stat (the kernel charges softirqs run on behalf of a
/// task there, not to the task, when it samples them).
fn cpu_irq_ticks(cpu: usize) -> Result<u64> {
    let stat = std::fs::read_to_string("/proc/stat").context("reading /proc/stat")?;
    let name = format!("cpu{cpu}");
    let line = stat
        .lines()
        .find(|l| l.split_whitespace().next() == Some(name.as_str()))
        .with_context(|| format!("/proc/stat has no {name}"))?;
    let f: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    // user nice system idle iowait irq softirq …
    Ok(f.get(5).copied().unwrap_or(0) + f.get(6).copied().unwrap_or(0))
}

/// Reaps `pid` and returns (exited with 0, its user+system CPU seconds).
fn wait_with_rusage(pid: u32) -> Result<(bool, f64)> {
    let mut status = 0;
    // SAFETY: a zeroed rusage is valid output space.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: our own child's pid and valid pointers.
    let r = unsafe { libc::wait4(pid as i32, &mut status, 0, &mut ru) };
    if r < 0 {
        anyhow::bail!("wait4: {}", std::io::Error::last_os_error());
    }
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    let ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    Ok((ok, secs(ru.ru_utime) + secs(ru.ru_stime)))
}
