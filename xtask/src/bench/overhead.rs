//! What tracing costs: kernel time per program run and per softirq (hbwatch vs libbpf-tools
//! `softirqs`), UDP packet rate across a veth pair with no tracer / hbwatch / softirqs (runs
//! alternated, medians quoted), and hbwatch's own CPU and peak memory while recording under load.

use std::{
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};

use super::{
    Env, median,
    procstat::{self, BpfStats},
    table,
    veth::Veth,
};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Tracer {
    None,
    Hbwatch,
    Softirqs,
}

impl Tracer {
    fn label(self) -> &'static str {
        match self {
            Tracer::None => "no tracing",
            Tracer::Hbwatch => "hbwatch record",
            Tracer::Softirqs => "libbpf-tools softirqs",
        }
    }
}

/// A running tracer, stopped with SIGINT on drop.
struct Running {
    child: Option<Child>,
}

const SOFTIRQS: &str = "/usr/sbin/softirqs";

fn start(env: &Env, t: Tracer) -> Result<Running> {
    let child = match t {
        Tracer::None => return Ok(Running { child: None }),
        Tracer::Hbwatch => Command::new(&env.hbwatch)
            .args(["record", "--force", "-o"])
            .arg(env.scratch.join("overhead.hbw"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting hbwatch record")?,
        Tracer::Softirqs => Command::new(SOFTIRQS)
            .args(["-d", "1", "100000"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting softirqs (apt-get install libbpf-tools)")?,
    };
    let pid = child.id();
    let r = Running { child: Some(child) };
    // Attached once the kernel lists programs held by the process.
    let deadline = Instant::now() + Duration::from_secs(15);
    while procstat::prog_stats(pid)?.is_empty() {
        if Instant::now() > deadline {
            bail!("{} attached no program within 15 s", t.label());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(r)
}

impl Running {
    fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SAFETY: signalling a child this process started, by its PID.
            unsafe { libc::kill(c.id() as i32, libc::SIGINT) };
            let deadline = Instant::now() + Duration::from_secs(10);
            while matches!(c.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Figures from one tracer running under a UDP flood.
struct Loaded {
    progs: Vec<(String, f64, u64)>,
    ns_per_softirq: f64,
    cpu_pct: f64,
    peak_rss: u64,
}

fn loaded_run(env: &Env, veth: &Veth, t: Tracer, secs: u64) -> Result<Loaded> {
    let tracer = start(env, t)?;
    let pid = tracer.pid().context("a tracer")?;
    let mut flood = Command::new("ip")
        .args([
            "netns", "exec", &veth.a, "iperf3", "-c", &veth.b_ip, "-p", "5299", "-u",
        ])
        .args(["-b", "0", "-l", "64", "-t", &(secs + 3).to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting the iperf3 flood")?;
    std::thread::sleep(Duration::from_secs(1));
    let (s0, q0, c0, t0) = (
        procstat::prog_stats(pid)?,
        procstat::softirqs_total(),
        procstat::cpu_seconds(pid).unwrap_or(0.0),
        Instant::now(),
    );
    std::thread::sleep(Duration::from_secs(secs));
    let (s1, q1, c1, wall) = (
        procstat::prog_stats(pid)?,
        procstat::softirqs_total(),
        procstat::cpu_seconds(pid).unwrap_or(0.0),
        t0.elapsed().as_secs_f64(),
    );
    let peak_rss = procstat::peak_rss(pid).unwrap_or(0);
    drop(tracer);
    let _ = flood.wait();
    let mut progs = Vec::new();
    let mut total_ns = 0u64;
    for (name, (ns1, n1)) in &s1 {
        let (ns0, n0) = s0.get(name).copied().unwrap_or((0, 0));
        let (ns, n) = (ns1 - ns0, n1 - n0);
        total_ns += ns;
        progs.push((
            name.clone(),
            if n > 0 { ns as f64 / n as f64 } else { 0.0 },
            n,
        ));
    }
    Ok(Loaded {
        progs,
        ns_per_softirq: total_ns as f64 / (q1 - q0).max(1) as f64,
        cpu_pct: 100.0 * (c1 - c0) / wall,
        peak_rss,
    })
}

fn secs_from_env(var: &str, default: u64) -> u64 {
    std::env::var(var)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

pub fn run(env: &Env) -> Result<()> {
    let _stats = BpfStats::enable()?;
    let veth = Veth::new()?;

    // Packet rate: A B C A B C …, so drift in the machine's load hits every setting alike.
    let (rounds, secs) = (secs_from_env("HBWATCH_BENCH_ROUNDS", 5), 5);
    let order = [Tracer::None, Tracer::Hbwatch, Tracer::Softirqs];
    let mut pps: Vec<Vec<f64>> = vec![Vec::new(); order.len()];
    for round in 0..rounds {
        for (i, t) in order.iter().enumerate() {
            let _tracer = start(env, *t)?;
            let r = veth.udp_pps(secs)?;
            eprintln!(
                "bench: round {} {:<22} {r:>10.0} packets/s",
                round + 1,
                t.label()
            );
            pps[i].push(r);
        }
    }
    let base = median(pps[0].clone());
    let rows: Vec<Vec<String>> = order
        .iter()
        .zip(&pps)
        .map(|(t, v)| {
            let m = median(v.clone());
            // Each run against the untraced run of the same round: robust to slow drift in load.
            let paired = median(v.iter().zip(&pps[0]).map(|(x, b)| x / b).collect());
            vec![
                t.label().to_owned(),
                format!("{m:.0}"),
                format!("{:.1} %", 100.0 * m / base),
                format!("{:.1} %", 100.0 * paired),
                v.iter()
                    .map(|x| format!("{x:.0}"))
                    .collect::<Vec<_>>()
                    .join(" "),
            ]
        })
        .collect();
    table(
        &format!("UDP 64-byte packets/s across veth, median of {rounds} alternated {secs} s runs"),
        &[
            "tracer",
            "median pps",
            "of untraced",
            "paired ratio",
            "runs",
        ],
        &rows,
    );

    let load_secs = secs_from_env("HBWATCH_BENCH_LOAD_SECS", 60);
    let hb = loaded_run(env, &veth, Tracer::Hbwatch, load_secs)?;
    let si = loaded_run(env, &veth, Tracer::Softirqs, load_secs.min(20))?;
    let mut rows = Vec::new();
    for (who, l) in [("hbwatch", &hb), ("softirqs", &si)] {
        for (name, ns, n) in &l.progs {
            rows.push(vec![
                who.to_owned(),
                name.clone(),
                format!("{ns:.0}"),
                n.to_string(),
            ]);
        }
    }
    table(
        "eBPF program cost under a UDP flood (bpf_stats)",
        &["tool", "program", "ns/run", "runs"],
        &rows,
    );
    table(
        "Total eBPF time per softirq executed",
        &["tool", "ns per softirq"],
        &[
            vec!["hbwatch".into(), format!("{:.0}", hb.ns_per_softirq)],
            vec!["softirqs".into(), format!("{:.0}", si.ns_per_softirq)],
        ],
    );
    let lost = lost_events(env)?;
    table(
        &format!("hbwatch record under a UDP flood for {load_secs} s"),
        &[
            "agent CPU (% of one core)",
            "peak RSS (VmHWM)",
            "lost events",
        ],
        &[vec![
            format!("{:.2} %", hb.cpu_pct),
            super::mb(hb.peak_rss as f64),
            lost.to_string(),
        ]],
    );
    Ok(())
}

/// Lost events in the recording the loaded run left.
fn lost_events(env: &Env) -> Result<u64> {
    let out = super::run_ok(
        Command::new(&env.hbwatch)
            .args(["report", "--format", "json"])
            .arg(env.scratch.join("overhead.hbw")),
    )?;
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).context("report JSON")?;
    Ok(j["lost_events"].as_object().map_or(0, |m| {
        m.values().filter_map(serde_json::Value::as_u64).sum()
    }))
}
