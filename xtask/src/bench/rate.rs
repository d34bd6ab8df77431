//! Packet rate under a UDP flood across veth with no tracer, hbwatch and libbpf-tools `softirqs`
//! (runs alternated, medians and paired ratios), in two delivery cases, and what each tracer adds
//! per packet and per softirq, derived from CPU time with run-time statistics off.

use anyhow::Result;

use super::{
    Env, median,
    overhead::{Tracer, secs_from_env, start},
    table,
    veth::{UdpRun, Veth, sender_cpu},
};

/// How the flood reaches the receiver.
#[derive(Clone, Copy)]
enum Case {
    /// veth's own path: one NET_RX softirq per datagram on the sending CPU (the worst case).
    OnePerPacket,
    /// Steered (RPS) to the receiver's CPU, whose backlog NAPI polls several datagrams a
    /// softirq, as a NIC with interrupt coalescing does.
    Batched,
}

impl Case {
    fn short(self) -> &'static str {
        match self {
            Case::OnePerPacket => "veth",
            Case::Batched => "batched",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Case::OnePerPacket => "one softirq per packet (veth, sender's CPU)",
            Case::Batched => "NAPI batches (RPS to the receiver's CPU)",
        }
    }

    /// CPUs whose interrupt time is the path's: the sender's, and with RPS also CPU 0's.
    fn irq_cpus(self) -> Vec<usize> {
        match self {
            Case::OnePerPacket => vec![sender_cpu()],
            Case::Batched => {
                let mut v = vec![0, sender_cpu()];
                v.dedup();
                v
            }
        }
    }
}

/// The tracers of a round: untraced, hbwatch and `softirqs` first (the paired figures index
/// them), then the dispatch control when `HBWATCH_BENCH_DISPATCH=1`, and hbwatch with
/// `HBWATCH_BENCH_RECORD_ARGS_B` when that is set.
fn tracers() -> Vec<Tracer> {
    let mut v = vec![Tracer::None, Tracer::Hbwatch, Tracer::Softirqs];
    if std::env::var("HBWATCH_BENCH_DISPATCH").is_ok_and(|v| !v.trim().is_empty()) {
        v.push(Tracer::SoftirqsDispatch);
    }
    if std::env::var("HBWATCH_BENCH_PERF").is_ok_and(|v| v == "1") {
        v.push(Tracer::SoftirqsPerf);
    }
    if std::env::var("HBWATCH_BENCH_RECORD_ARGS_B").is_ok_and(|v| !v.trim().is_empty()) {
        v.push(Tracer::HbwatchB);
    }
    v
}

pub fn run(env: &Env, veth: &Veth) -> Result<()> {
    let rounds = secs_from_env("HBWATCH_BENCH_ROUNDS", 7) as usize;
    let secs = secs_from_env("HBWATCH_BENCH_RATE_SECS", 5) as u32;
    // HBWATCH_BENCH_CASES: "veth", "batched" or both (default), comma-separated.
    let cases = std::env::var("HBWATCH_BENCH_CASES").unwrap_or_default();
    let want = |name: &str| cases.is_empty() || cases.split(',').any(|c| c.trim() == name);
    for case in [Case::OnePerPacket, Case::Batched] {
        if !want(case.short()) {
            continue;
        }
        veth.steer_to_cpu0(matches!(case, Case::Batched))?;
        let order = tracers();
        let runs = rounds_of(env, veth, case, &order, rounds, secs);
        veth.steer_to_cpu0(false)?;
        print_case(case, &order, &runs?, secs);
    }
    Ok(())
}

/// `runs[tracer][round]`, A B C, B C A, C A B, …: drift in the machine's load hits every tracer
/// alike, and no tracer always runs right after the same other one (a tracer's exit frees its
/// memory and maps, which the next run may meet).
fn rounds_of(
    env: &Env,
    veth: &Veth,
    case: Case,
    order: &[Tracer],
    rounds: usize,
    secs: u32,
) -> Result<Vec<Vec<UdpRun>>> {
    let mut runs: Vec<Vec<UdpRun>> = order.iter().map(|_| Vec::new()).collect();
    for round in 0..rounds {
        for k in 0..order.len() {
            let i = (k + round) % order.len();
            let t = order[i];
            let _tracer = start(env, t)?;
            let r = veth.udp_run(secs, &case.irq_cpus())?;
            eprintln!(
                "bench: {} round {} {:<22} {:>9.0} packets/s {:>9.0} per CPU-second \
                 {:.2} softirqs per sent packet",
                case.short(),
                round + 1,
                t.label(),
                r.pps,
                r.per_cpu_second,
                r.softirqs_per_sent
            );
            runs[i].push(r);
        }
    }
    Ok(runs)
}

fn print_case(case: Case, order: &[Tracer], runs: &[Vec<UdpRun>], secs: u32) {
    let rounds = runs[0].len();
    let mut paired = Vec::new();
    for (what, get) in [
        (
            "packets/s (wall clock)",
            (|r: &UdpRun| r.pps) as fn(&UdpRun) -> f64,
        ),
        ("packets per path CPU-second", |r: &UdpRun| r.per_cpu_second),
    ] {
        let series: Vec<Vec<f64>> = runs.iter().map(|v| v.iter().map(get).collect()).collect();
        let base = median(series[0].clone());
        let mut rows = Vec::new();
        let mut ratios = Vec::new();
        for (t, v) in order.iter().zip(&series) {
            let m = median(v.clone());
            // Each run against the untraced run of the same round: robust to slow drift.
            let p = median(v.iter().zip(&series[0]).map(|(x, b)| x / b).collect());
            ratios.push(p);
            rows.push(vec![
                t.label().to_owned(),
                format!("{m:.0}"),
                format!("{:.1} %", 100.0 * m / base),
                format!("{:.1} %", 100.0 * p),
                v.iter()
                    .map(|x| format!("{x:.0}"))
                    .collect::<Vec<_>>()
                    .join(" "),
            ]);
        }
        // hbwatch against softirqs of the same round: the direct comparison, and less exposed to
        // an untraced run that happened to meet a quiet (or busy) moment. Against the dispatch
        // control, if it ran: what hbwatch costs beyond two more empty programs; against args B:
        // what the default costs beyond that configuration.
        for (t, other) in order.iter().zip(&series).skip(2) {
            let each: Vec<f64> = series[1].iter().zip(other).map(|(h, s)| h / s).collect();
            rows.push(vec![
                format!("hbwatch / {}, same round", t.short()),
                String::new(),
                String::new(),
                format!("{:.1} %", 100.0 * median(each.clone())),
                each.iter()
                    .map(|x| format!("{x:.2}"))
                    .collect::<Vec<_>>()
                    .join(" "),
            ]);
        }
        paired.push((what, ratios));
        table(
            &format!(
                "UDP 64-byte {what}, {}: median of {rounds} alternated {secs} s runs \
                 (bpf_stats off)",
                case.label()
            ),
            &["tracer", "median", "of untraced", "paired ratio", "runs"],
            &rows,
        );
    }
    cost_table(case, order, runs);
    let rows: Vec<Vec<String>> = paired
        .iter()
        .map(|(what, r)| {
            vec![
                format!("paired {what}: hbwatch >= softirqs"),
                format!("{:.1} % vs {:.1} %", 100.0 * r[1], 100.0 * r[2]),
                if r[1] >= r[2] { "met" } else { "not met" }.to_owned(),
            ]
        })
        .collect();
    table(
        &format!("Against issue 16 ({})", case.label()),
        &["target", "measured", "verdict"],
        &rows,
    );
}

/// CPU time of the path per datagram sent (received or dropped), and what a tracer adds to the
/// untraced run of the same round, per datagram and per softirq executed: the tracer's whole
/// in-kernel cost, without bpf_stats' own clock reads.
fn cost_table(case: Case, order: &[Tracer], runs: &[Vec<UdpRun>]) {
    let rows: Vec<Vec<String>> = order
        .iter()
        .zip(runs)
        .map(|(t, v)| {
            let added: Vec<f64> = v
                .iter()
                .zip(&runs[0])
                .map(|(x, b)| x.cpu_ns_per_sent - b.cpu_ns_per_sent)
                .collect();
            let per_softirq: Vec<f64> = v
                .iter()
                .zip(&added)
                .map(|(x, a)| a / x.softirqs_per_sent.max(1e-9))
                .collect();
            vec![
                t.label().to_owned(),
                format!(
                    "{:.0}",
                    median(v.iter().map(|r| r.cpu_ns_per_sent).collect())
                ),
                format!(
                    "{:.2}",
                    median(v.iter().map(|r| r.softirqs_per_sent).collect())
                ),
                format!("{:+.0}", median(added)),
                format!("{:+.0}", median(per_softirq)),
            ]
        })
        .collect();
    table(
        &format!(
            "Cost from CPU time, {} (per datagram sent; added: against the untraced run of the \
             same round; medians)",
            case.label()
        ),
        &[
            "tracer",
            "CPU ns per packet",
            "softirqs per packet",
            "added ns per packet",
            "added ns per softirq",
        ],
        &rows,
    );
}
