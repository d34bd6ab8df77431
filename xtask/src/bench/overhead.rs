//! What tracing costs: packet rate and cost per packet and softirq (`rate`), kernel time per
//! program run and per softirq from bpf_stats (hbwatch vs libbpf-tools `softirqs`), and hbwatch's
//! own CPU and peak memory while recording under load.

use std::{
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};

use super::{
    Env,
    empty::{Empty, EmptyPerf},
    median,
    procstat::{self, BpfStats},
    table,
    veth::Veth,
};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Tracer {
    None,
    Hbwatch,
    Softirqs,
    /// `softirqs` with empty programs on `softirq_raise` and `napi_poll`: as many tracepoint
    /// programs per NET_RX softirq as hbwatch, with bodies that do nothing. A control, for
    /// telling dispatch from body cost (`HBWATCH_BENCH_DISPATCH=1`, or a comma-separated list
    /// of raw tracepoints to put them on instead).
    SoftirqsDispatch,
    /// hbwatch with `HBWATCH_BENCH_RECORD_ARGS_B` as well: one configuration priced against the
    /// default in the same rounds.
    HbwatchB,
    /// `softirqs` with an empty program on a 99 Hz cpu-clock perf event on every CPU, as
    /// hbwatch's stack sampler opens them (`HBWATCH_BENCH_PERF=1`).
    SoftirqsPerf,
}

impl Tracer {
    /// A name for the same-round rows.
    pub fn short(self) -> &'static str {
        match self {
            Tracer::None => "untraced",
            Tracer::Hbwatch => "hbwatch",
            Tracer::Softirqs => "softirqs",
            Tracer::SoftirqsDispatch => "control",
            Tracer::HbwatchB => "args B",
            Tracer::SoftirqsPerf => "softirqs + perf",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Tracer::None => "no tracing",
            Tracer::Hbwatch => "hbwatch record",
            Tracer::Softirqs => "libbpf-tools softirqs",
            Tracer::SoftirqsDispatch => "softirqs + empty programs",
            Tracer::HbwatchB => "hbwatch record, args B",
            Tracer::SoftirqsPerf => "softirqs + 99 Hz perf event",
        }
    }
}

/// A running tracer, stopped with SIGINT on drop.
pub struct Running {
    child: Option<Child>,
    _empties: Vec<Empty>,
    _perf: Option<EmptyPerf>,
}

const SOFTIRQS: &str = "/usr/sbin/softirqs";

pub fn start(env: &Env, t: Tracer) -> Result<Running> {
    let child = match t {
        Tracer::None => {
            return Ok(Running {
                child: None,
                _empties: Vec::new(),
                _perf: None,
            });
        }
        Tracer::Hbwatch | Tracer::HbwatchB => Command::new(&env.hbwatch)
            .args(["record", "--force", "-o"])
            .arg(env.scratch.join("overhead.hbw"))
            // HBWATCH_BENCH_RECORD_ARGS: more `record` flags, to price one configuration.
            .args(record_args("HBWATCH_BENCH_RECORD_ARGS"))
            .args(if t == Tracer::HbwatchB {
                record_args("HBWATCH_BENCH_RECORD_ARGS_B")
            } else {
                Vec::new()
            })
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting hbwatch record")?,
        Tracer::Softirqs | Tracer::SoftirqsDispatch | Tracer::SoftirqsPerf => {
            Command::new(SOFTIRQS)
                .args(["-d", "1", "100000"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .context("starting softirqs (apt-get install libbpf-tools)")?
        }
    };
    let pid = child.id();
    let mut r = Running {
        child: Some(child),
        _empties: Vec::new(),
        _perf: None,
    };
    // Attached once the kernel lists programs held by the process.
    let deadline = Instant::now() + Duration::from_secs(15);
    while procstat::prog_fds(pid).is_empty() {
        if Instant::now() > deadline {
            bail!("{} attached no program within 15 s", t.label());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    settle(pid);
    if t == Tracer::SoftirqsDispatch {
        for tp in dispatch_tracepoints() {
            r._empties
                .push(Empty::attach(&tp).with_context(|| format!("an empty program on {tp}"))?);
        }
    }
    if t == Tracer::SoftirqsPerf {
        r._perf = Some(EmptyPerf::attach(99).context("an empty program on perf events")?);
    }
    Ok(r)
}

/// Where the dispatch control puts its empty programs.
fn dispatch_tracepoints() -> Vec<String> {
    match std::env::var("HBWATCH_BENCH_DISPATCH")
        .unwrap_or_default()
        .trim()
    {
        "" | "1" => vec!["softirq_raise".into(), "napi_poll".into()],
        list => list.split(',').map(|t| t.trim().to_owned()).collect(),
    }
}

fn record_args(var: &str) -> Vec<String> {
    std::env::var(var)
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

/// Waits until the tracer has finished starting: its program count and CPU time unchanged over
/// three polls 100 ms apart (at most 5 s). The first program is listed while the others are
/// still being verified, so a run started then would pay for the tracer's start-up (about
/// 50 ms of CPU for hbwatch) as if it were tracing cost. Both tracers wait alike.
fn settle(pid: u32) {
    let deadline = Instant::now() + Duration::from_secs(5);
    let sample = || {
        (
            procstat::prog_fds(pid).len(),
            procstat::cpu_seconds(pid).unwrap_or(0.0),
        )
    };
    let mut last = sample();
    let mut still = 0;
    while still < 3 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        let now = sample();
        still = if now == last { still + 1 } else { 0 };
        last = now;
    }
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
    /// ns per run of an empty program beside the tracer (bpf_stats runs only): bpf_stats' own
    /// charge to every run, measured in the same run.
    empty_ns: Option<f64>,
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

    /// The same with the empty program's ns per run taken out of every run: what the programs'
    /// bodies cost, without bpf_stats' own clock reads (and without the dispatch, which bpf_stats
    /// never sees).
    fn body_ns_per_softirq(&self, keep: impl Fn(&str) -> bool) -> Option<f64> {
        let floor = self.empty_ns?;
        let ns: f64 = self
            .progs
            .iter()
            .filter(|(n, _, _)| keep(n))
            .map(|(_, ns, runs)| (*ns as f64 - floor * *runs as f64).max(0.0))
            .sum();
        Some(ns / self.softirqs.max(1) as f64)
    }
}

/// `empty`: also attach the empty program (with bpf_stats on, for its floor).
fn loaded_run(env: &Env, veth: &Veth, t: Tracer, secs: u64, empty: bool) -> Result<Loaded> {
    let tracer = start(env, t)?;
    let pid = tracer.pid().context("a tracer")?;
    let empty = if empty {
        Some(Empty::attach("softirq_entry").context("loading the empty program")?)
    } else {
        None
    };
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
    let e0 = empty.as_ref().map(Empty::stats);
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
    let e1 = empty.as_ref().map(Empty::stats);
    let empty_ns = e0.zip(e1).and_then(|((ns0, n0), (ns1, n1))| {
        (n1 > n0).then(|| (ns1 - ns0) as f64 / (n1 - n0) as f64)
    });
    let peak_rss = procstat::peak_rss(pid).unwrap_or(0);
    drop(empty);
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
        empty_ns,
    })
}

pub fn secs_from_env(var: &str, default: u64) -> u64 {
    std::env::var(var)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// hbwatch's three softirq programs (the "wait and run time, three tracepoints").
const HBWATCH_SOFTIRQ: [&str; 3] = ["softirq_raise", "softirq_entry", "softirq_exit"];

pub fn run(env: &Env) -> Result<()> {
    let veth = Veth::new()?;
    super::rate::run(env, &veth)?;
    program_cost(env, &veth)?;
    agent_cost(env, &veth)
}

pub fn rate_only(env: &Env) -> Result<()> {
    super::rate::run(env, &Veth::new()?)
}

pub fn cost_only(env: &Env) -> Result<()> {
    program_cost(env, &Veth::new()?)
}

/// Program cost from bpf_stats: hbwatch and softirqs under the same flood, A B A B, medians.
fn program_cost(env: &Env, veth: &Veth) -> Result<()> {
    let _stats = BpfStats::enable()?;
    let rounds = secs_from_env("HBWATCH_BENCH_COST_ROUNDS", 3);
    let secs = secs_from_env("HBWATCH_BENCH_COST_SECS", 10);
    let (mut hb, mut si) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        hb.push(loaded_run(env, veth, Tracer::Hbwatch, secs, true)?);
        si.push(loaded_run(env, veth, Tracer::Softirqs, secs, true)?);
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
            // Share of one CPU: what stack sampling at 99 Hz costs, for instance.
            let share = 100.0 * ns * *n as f64 / (secs as f64 * 1e9);
            rows.push(vec![
                who.to_owned(),
                name.clone(),
                format!("{ns:.0}"),
                n.to_string(),
                format!("{share:.3} %"),
            ]);
        }
    }
    table(
        &format!(
            "eBPF program cost under a UDP flood (bpf_stats, which adds its own clock reads to \
             every run; median of {rounds} alternated {secs} s runs)"
        ),
        &["tool", "program", "ns/run", "runs per round", "of one CPU"],
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
    // bpf_stats' own charge per run, from the empty program of each run.
    let floor = median(hb.iter().chain(&si).filter_map(|l| l.empty_ns).collect());
    let body = |runs: &[Loaded], keep: &dyn Fn(&str) -> bool| {
        median(
            runs.iter()
                .filter_map(|l| l.body_ns_per_softirq(keep))
                .collect(),
        )
    };
    let (hb_body, si_body) = (body(&hb, &|_| true), body(&si, &|_| true));
    table(
        &format!(
            "The same without bpf_stats' own cost: an empty program beside each run took              {floor:.0} ns a run (median), taken out of every run"
        ),
        &["tool", "programs", "ns per softirq"],
        &[
            vec![
                "hbwatch".into(),
                "softirq raise+entry+exit".into(),
                format!("{:.0}", body(&hb, &|n| HBWATCH_SOFTIRQ.contains(&n))),
            ],
            vec![
                "hbwatch".into(),
                "all programs".into(),
                format!("{hb_body:.0}"),
            ],
            vec![
                "softirqs".into(),
                "entry+exit".into(),
                format!("{si_body:.0}"),
            ],
        ],
    );
    table(
        "Against issue 16's program target (all hbwatch programs per softirq <= softirqs' entry+exit)",
        &["measured", "hbwatch", "softirqs", "verdict"],
        &[
            vec![
                "bpf_stats as read".into(),
                format!("{hb_all:.0} ns"),
                format!("{si_total:.0} ns"),
                verdict(hb_all <= si_total),
            ],
            vec![
                "bpf_stats' own cost taken out".into(),
                format!("{hb_body:.0} ns"),
                format!("{si_body:.0} ns"),
                verdict(hb_body <= si_body),
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
    let hb = loaded_run(env, veth, Tracer::Hbwatch, load_secs, false)?;
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
