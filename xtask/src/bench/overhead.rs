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
    /// (program, run_time_ns delta, run_cnt delta)
    progs: Vec<(String, u64, u64)>,
    softirqs: u64,
    cpu_pct: f64,
    peak_rss: u64,
}

impl Loaded {
    fn ns_per_run(&self, prog: &str) -> Option<f64> {
        self.progs
            .iter()
            .find(|(n, _, _)| n == prog)
            .filter(|(_, _, runs)| *runs > 0)
            .map(|(_, ns, runs)| *ns as f64 / *runs as f64)
    }

    /// Program time per softirq executed, over the programs `keep` accepts.
    fn ns_per_softirq(&self, keep: impl Fn(&str) -> bool) -> f64 {
        let ns: u64 = self
            .progs
            .iter()
            .filter(|(n, _, _)| keep(n))
            .map(|(_, ns, _)| ns)
            .sum();
        ns as f64 / self.softirqs.max(1) as f64
    }
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
    let progs = s1
        .iter()
        .map(|(name, (ns1, n1))| {
            let (ns0, n0) = s0.get(name).copied().unwrap_or((0, 0));
            (name.clone(), ns1 - ns0, n1 - n0)
        })
        .collect();
    Ok(Loaded {
        progs,
        softirqs: q1 - q0,
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

/// hbwatch's three softirq programs (the "wait and run time, three tracepoints").
const HBWATCH_SOFTIRQ: [&str; 3] = ["softirq_raise", "softirq_entry", "softirq_exit"];

pub fn run(env: &Env) -> Result<()> {
    let veth = Veth::new()?;
    packet_rate(env, &veth)?;
    program_cost(env, &veth)?;
    agent_cost(env, &veth)
}

/// Packet rate, A B C A B C …, so drift in the machine's load hits every setting alike. Run-time
/// statistics stay off here: they add a clock read to every program run, and production hosts
/// do not run with them.
fn packet_rate(env: &Env, veth: &Veth) -> Result<()> {
    let (rounds, secs) = (secs_from_env("HBWATCH_BENCH_ROUNDS", 5), 5);
    let order = [Tracer::None, Tracer::Hbwatch, Tracer::Softirqs];
    let mut pps: Vec<Vec<f64>> = vec![Vec::new(); order.len()];
    let mut per_cpu: Vec<Vec<f64>> = vec![Vec::new(); order.len()];
    for round in 0..rounds {
        for (i, t) in order.iter().enumerate() {
            let _tracer = start(env, *t)?;
            let r = veth.udp_run(secs as u32)?;
            eprintln!(
                "bench: round {} {:<22} {:>10.0} packets/s {:>10.0} per CPU-second",
                round + 1,
                t.label(),
                r.pps,
                r.per_cpu_second
            );
            pps[i].push(r.pps);
            per_cpu[i].push(r.per_cpu_second);
        }
    }
    for (what, series) in [
        ("packets/s (wall clock)", &pps),
        ("packets per sender CPU-second", &per_cpu),
    ] {
        let base = median(series[0].clone());
        let rows: Vec<Vec<String>> = order
            .iter()
            .zip(series)
            .map(|(t, v)| {
                let m = median(v.clone());
                // Each run against the untraced run of the same round: robust to slow drift.
                let paired = median(v.iter().zip(&series[0]).map(|(x, b)| x / b).collect());
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
            &format!(
                "UDP 64-byte {what} across veth, median of {rounds} alternated {secs} s runs \
                 (bpf_stats off; target: hbwatch >= 98 % of untraced)"
            ),
            &["tracer", "median", "of untraced", "paired ratio", "runs"],
            &rows,
        );
    }
    Ok(())
}

/// Program cost from bpf_stats: hbwatch and softirqs under the same flood, A B A B, medians.
fn program_cost(env: &Env, veth: &Veth) -> Result<()> {
    let _stats = BpfStats::enable()?;
    let rounds = secs_from_env("HBWATCH_BENCH_COST_ROUNDS", 3);
    let secs = secs_from_env("HBWATCH_BENCH_COST_SECS", 10);
    let (mut hb, mut si) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        hb.push(loaded_run(env, veth, Tracer::Hbwatch, secs)?);
        si.push(loaded_run(env, veth, Tracer::Softirqs, secs)?);
        eprintln!("bench: cost round {} of {rounds} done", round + 1);
    }
    let per_prog = |runs: &[Loaded]| -> Vec<(String, f64, u64)> {
        let mut names: Vec<String> = runs
            .iter()
            .flat_map(|l| l.progs.iter().map(|(n, _, _)| n.clone()))
            .collect();
        names.sort();
        names.dedup();
        names
            .into_iter()
            .filter_map(|n| {
                let v: Vec<f64> = runs.iter().filter_map(|l| l.ns_per_run(&n)).collect();
                let total: u64 = runs
                    .iter()
                    .flat_map(|l| l.progs.iter())
                    .filter(|(p, _, _)| *p == n)
                    .map(|(_, _, r)| r)
                    .sum();
                (!v.is_empty()).then(|| (n, median(v), total / runs.len() as u64))
            })
            .collect()
    };
    let (hb_progs, si_progs) = (per_prog(&hb), per_prog(&si));
    let mut rows = Vec::new();
    for (who, progs) in [("hbwatch", &hb_progs), ("softirqs", &si_progs)] {
        for (name, ns, n) in progs {
            rows.push(vec![
                who.to_owned(),
                name.clone(),
                format!("{ns:.0}"),
                n.to_string(),
            ]);
        }
    }
    table(
        &format!(
            "eBPF program cost under a UDP flood (bpf_stats; median of {rounds} alternated \
             {secs} s runs)"
        ),
        &["tool", "program", "ns/run", "runs per round"],
        &rows,
    );
    let si_avg = median(
        si.iter()
            .map(|l| l.ns_per_softirq(|_| true) / 2.0)
            .collect(),
    );
    let per_softirq = |runs: &[Loaded], keep: &dyn Fn(&str) -> bool| {
        median(runs.iter().map(|l| l.ns_per_softirq(keep)).collect())
    };
    let hb_softirq = per_softirq(&hb, &|n| HBWATCH_SOFTIRQ.contains(&n));
    let hb_all = per_softirq(&hb, &|_| true);
    let si_total = per_softirq(&si, &|_| true);
    table(
        "Total eBPF time per softirq executed (median of rounds)",
        &["tool", "programs", "ns per softirq"],
        &[
            vec![
                "hbwatch".into(),
                "softirq raise+entry+exit".into(),
                format!("{hb_softirq:.0}"),
            ],
            vec![
                "hbwatch".into(),
                "all programs".into(),
                format!("{hb_all:.0}"),
            ],
            vec![
                "softirqs".into(),
                "entry+exit".into(),
                format!("{si_total:.0}"),
            ],
        ],
    );
    let mut targets = Vec::new();
    for p in HBWATCH_SOFTIRQ {
        if let Some((_, ns, _)) = hb_progs.iter().find(|(n, _, _)| n == p) {
            targets.push(vec![
                format!("{p} <= 0.8 x softirqs' average ({:.0} ns)", 0.8 * si_avg),
                format!("{ns:.0} ns"),
                verdict(*ns <= 0.8 * si_avg),
            ]);
        }
    }
    targets.push(vec![
        format!("softirq programs per softirq <= softirqs' total ({si_total:.0} ns)"),
        format!("{hb_softirq:.0} ns"),
        verdict(hb_softirq <= si_total),
    ]);
    table(
        "Against issue 9's targets (bpf_stats)",
        &["target", "measured", "verdict"],
        &targets,
    );
    Ok(())
}

fn verdict(met: bool) -> String {
    if met { "met" } else { "not met" }.to_owned()
}

/// hbwatch's own CPU and memory while recording under load, with bpf_stats off.
fn agent_cost(env: &Env, veth: &Veth) -> Result<()> {
    let load_secs = secs_from_env("HBWATCH_BENCH_LOAD_SECS", 60);
    let hb = loaded_run(env, veth, Tracer::Hbwatch, load_secs)?;
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
