//! Builds each gap's [`GapEvidence`] from the recorded records in one pass: everything inside the
//! gap's evidence window is summed per gap, everything outside it forms that gap's baseline.

mod flow;
mod sched;

use std::collections::{BTreeMap, BTreeSet};

use super::{
    evidence::{Counter, CpuSoftirq, GapEvidence, ReasonDrops, SelfStall, SourceKind},
    rx_cpus::RxCpus,
};
use crate::{
    analysis::{
        RecordingSummary,
        audit::drops::MISSED_STATS,
        cpu_tasks::{self, CpuTotals},
        gaps::Gap,
        gaps::GapKind,
        latency::HistAgg,
    },
    protocol::spec::{self, Proto, Source},
    recording::records::{CollectorState, EventKind, Record},
};

/// The window opens at least this long before the estimated onset.
const MIN_LEAD_NS: u64 = 1_000_000_000;
/// Stand-in interval when a source has none.
const DEFAULT_INTERVAL_NS: u64 = 1_000_000_000;

/// What the gap's source watches, for flow and process evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Port {
    pub proto: u8,
    pub port: u16,
}

/// The evidence window of `gap`: [onset − max(interval, 1 s), end].
pub fn window(gap: &Gap) -> (u64, u64) {
    let onset = gap.onset_estimate_mono_ns.unwrap_or(gap.start_mono_ns);
    let lead = gap
        .expected_interval_ns
        .unwrap_or(DEFAULT_INTERVAL_NS)
        .max(MIN_LEAD_NS);
    (onset.saturating_sub(lead), gap.end_mono_ns.max(onset))
}

/// The port whose packets a source's heartbeats travel on: the passive port it watches, or for
/// a preset log or journal source its protocol's first port (corosync's UDP 5405), so a log
/// source is judged by the fate of its own packets as a port source is.
pub fn source_port(s: &RecordingSummary, source: u32) -> Option<Port> {
    let spec_text = &s.heartbeats.sources.get(&source)?.declared.as_ref()?.spec;
    let parsed = spec::parse(spec_text).ok()?;
    match parsed.source {
        Source::Passive { proto, port, .. } => Some(Port {
            proto: match proto {
                Proto::Udp => libc::IPPROTO_UDP as u8,
                Proto::Tcp => libc::IPPROTO_TCP as u8,
            },
            port,
        }),
        Source::Log { .. } | Source::Journal { .. } => {
            let wire = crate::protocol::wire::of(parsed.preset()?.name)?;
            let (proto, port) = wire.packets.iter().find_map(|p| p.watchable())?;
            // A port source on the same port speaks for the packets, per peer and namespace
            // (its gap is in the same incident); the log gap borrows the flow only without one,
            // and only when the port watch followed it (a recording made before may not have).
            (s.heartbeats.passive_source(proto, port).is_none()
                && s.packet.port_events_on(proto, port))
            .then_some(Port { proto, port })
        }
        Source::Probe(_) => None,
    }
}

fn source_kind(s: &RecordingSummary, gap: &Gap) -> SourceKind {
    let kind = s
        .heartbeats
        .sources
        .get(&gap.source)
        .and_then(|st| st.declared.as_ref())
        .map(|d| d.kind.as_str());
    match (kind, gap.kind) {
        (Some("passive_udp" | "passive_tcp"), _) => SourceKind::Port,
        (Some("probe_tcp" | "probe_http" | "probe_udp"), _) => SourceKind::Probe,
        (_, GapKind::SelfStall) => SourceKind::LogSelfStall,
        _ => SourceKind::LogPeerSilence,
    }
}

/// Per-gap sums while walking the records.
#[derive(Default)]
struct Acc {
    from: u64,
    to: u64,
    port: Option<Port>,
    /// Only this namespace's packets are the gap's (0: any).
    netns: u32,
    wait_win: BTreeMap<u32, HistAgg>,
    wait_max: BTreeMap<u32, u64>,
    run_max: BTreeMap<u32, u64>,
    ksoftirqd: BTreeMap<u32, u64>,
    /// Counters over the window.
    c: Counters,
    /// Steal time per CPU, summed over the window.
    steal: BTreeMap<u32, u64>,
    sched_max: Option<u64>,
    offcpu_max: Option<u64>,
    /// Per thread of the heartbeat process seen in the window: its longest off-CPU stretch.
    offcpu_by_thread: BTreeMap<u32, u64>,
    /// Off-CPU stretches (start, end) of the heartbeat process's threads that overlap the window.
    app_episodes: Vec<(u64, u64)>,
    /// (runq max, pid, comm) of the receive thread that waited longest (threaded models).
    rx_thread_max: Option<(u64, u32, String)>,
    self_stalls: Vec<SelfStall>,
    lost: u64,
    flow: FlowCounts,
    /// Samples per process per CPU, inside the window.
    cpu_users: BTreeMap<u32, CpuTotals>,
}

#[derive(Default)]
struct FlowCounts {
    any: bool,
    seen: u64,
    queued: u64,
    read: u64,
    dropped: BTreeMap<String, u64>,
}

/// Whole-recording totals for baselines.
#[derive(Default)]
struct Totals {
    c: Counters,
    /// Scheduling intervals (start, end, whether a thread of the heartbeat process ran).
    sched_spans: Vec<(u64, u64, bool)>,
    /// CPU-sample intervals (start, end) in which the heartbeat process was sampled on a CPU:
    /// a thread that runs without ever switching shows in no scheduling interval, only here.
    sampled_spans: Vec<(u64, u64)>,
}

/// Counter sums kept alike for a gap's window and for the whole recording (its baseline).
#[derive(Default)]
struct Counters {
    napi_full: u64,
    squeeze: u64,
    softnet_dropped: u64,
    nic_missed: u64,
    rcvbuf: u64,
    /// By drop reason.
    drops: BTreeMap<u32, u64>,
    /// Time the system samples cover (counters only exist where samples were taken).
    covered_ns: u64,
}

impl Counters {
    /// Adds one record's share (what it does not carry is zero).
    fn add(&mut self, x: &Counters) {
        self.napi_full += x.napi_full;
        self.squeeze += x.squeeze;
        self.softnet_dropped += x.softnet_dropped;
        self.nic_missed += x.nic_missed;
        self.rcvbuf += x.rcvbuf;
        for (r, n) in &x.drops {
            *self.drops.entry(*r).or_default() += n;
        }
        self.covered_ns += x.covered_ns;
    }
}

impl Acc {
    fn overlaps(&self, start: u64, end: u64) -> bool {
        start < self.to && end > self.from
    }
    fn contains(&self, t: u64) -> bool {
        t >= self.from && t <= self.to
    }
}

fn nic_missed(sample: &crate::recording::records::SystemSample) -> u64 {
    let eth: u64 = sample
        .ethtool
        .iter()
        .filter(|(_, stat, _)| MISSED_STATS.contains(&stat.as_str()))
        .map(|(_, _, v)| v)
        .sum();
    let dev: u64 = sample.netdev.iter().map(|d| d.rx_fifo).sum();
    eth.max(dev)
}

/// The CPUs that take the heartbeat flow first (see [`RxCpus`]).
pub fn rx_cpus(s: &RecordingSummary, records: &[Record], ports: &[Port]) -> BTreeSet<u32> {
    let mut f = RxCpus::new(s, ports.to_vec());
    for r in records {
        f.add(r);
    }
    f.finish()
}

/// The evidence for each gap, in the order given.
pub fn build(s: &RecordingSummary, records: &[Record], gaps: &[Gap]) -> Vec<GapEvidence> {
    let mut f = EvidenceFold::new(s, gaps);
    for r in records {
        f.add(s, r);
    }
    f.finish(s).0
}

/// Every gap's evidence, folded one record at a time (so a report can stream the file): the
/// per-gap window sums, the whole-recording totals for baselines, and the heartbeat CPUs.
pub struct EvidenceFold {
    gaps: Vec<Gap>,
    net_rx: u8,
    accs: Vec<Acc>,
    t: Totals,
    rx: RxCpus,
    /// The heartbeat process (tgid), whose scheduling the evidence cites.
    app: Option<u32>,
}

impl EvidenceFold {
    pub fn new(s: &RecordingSummary, gaps: &[Gap]) -> Self {
        let net_rx = s
            .header
            .softirq_vectors
            .iter()
            .position(|v| v == "NET_RX")
            .unwrap_or(3) as u8;
        let accs: Vec<Acc> = gaps
            .iter()
            .map(|g| {
                let (from, to) = window(g);
                let port = source_port(s, g.source);
                let netns = match (g.netns, port) {
                    (0, Some(p)) => s.heartbeats.local_netns(p.proto, p.port),
                    (n, _) => n,
                };
                Acc {
                    from,
                    to,
                    port,
                    netns,
                    ..Acc::default()
                }
            })
            .collect();
        let ports: Vec<Port> = accs.iter().filter_map(|a| a.port).collect();
        EvidenceFold {
            gaps: gaps.to_vec(),
            net_rx,
            accs,
            t: Totals::default(),
            rx: RxCpus::new(s, ports),
            app: super::heartbeat_process(s).map(|(_, tgid)| tgid),
        }
    }

    pub fn add(&mut self, s: &RecordingSummary, r: &Record) {
        self.rx.add(r);
        fold(r, s, self.net_rx, &mut self.t, &mut self.accs, &self.gaps);
        match r {
            Record::Sched(iv) => sched::fold(iv, s, self.app, &mut self.t, &mut self.accs),
            Record::CpuTasks(iv) => {
                fold_cpu_tasks(iv, &mut self.accs);
                sched::fold_samples(iv, self.app, &mut self.t);
            }
            _ => {}
        }
    }

    /// The evidence per gap, and the CPUs that take the heartbeat flow.
    pub fn finish(self, s: &RecordingSummary) -> (Vec<GapEvidence>, BTreeSet<u32>) {
        let heartbeat_cpus = self.rx.finish();
        let unavailable: Vec<String> = s
            .collectors
            .values()
            .filter(|c| c.state == CollectorState::Unavailable)
            .map(|c| format!("{} ({})", c.collector, c.detail))
            .collect();
        let mut t = self.t;
        sched::mark_sampled(&mut t.sched_spans, &mut t.sampled_spans);
        let ev = self
            .gaps
            .iter()
            .zip(self.accs)
            .map(|(g, a)| finish(s, g, a, &t, &heartbeat_cpus, &unavailable, self.net_rx))
            .collect();
        (ev, heartbeat_cpus)
    }
}

fn fold(
    r: &Record,
    s: &RecordingSummary,
    net_rx: u8,
    t: &mut Totals,
    accs: &mut [Acc],
    gaps: &[Gap],
) {
    match r {
        // Only intervals inside a window: baselines come from the summary's latency table, so a
        // streaming reader may skip the others undecoded (see `DiagnosisFold::windows`).
        Record::Softirq(iv) => {
            for c in iv.cells.iter().filter(|c| c.vector == net_rx) {
                for a in accs
                    .iter_mut()
                    .filter(|a| a.overlaps(iv.start_mono_ns, iv.end_mono_ns))
                {
                    a.wait_win.entry(c.cpu).or_default().add(
                        &c.wait_hist,
                        c.wait_sum_ns,
                        c.wait_max,
                    );
                    *a.ksoftirqd.entry(c.cpu).or_default() += c.ksoftirqd_entries;
                    let w = a.wait_max.entry(c.cpu).or_default();
                    *w = (*w).max(c.wait_max.map_or(0, |m| m.value_ns));
                    let rm = a.run_max.entry(c.cpu).or_default();
                    *rm = (*rm).max(c.run_max.map_or(0, |m| m.value_ns));
                }
            }
        }
        Record::Napi(iv) => {
            let share = Counters {
                napi_full: iv.cells.iter().map(|c| c.full_budget).sum(),
                ..Counters::default()
            };
            t.c.add(&share);
            for a in accs
                .iter_mut()
                .filter(|a| a.overlaps(iv.start_mono_ns, iv.end_mono_ns))
            {
                a.c.add(&share);
            }
        }
        Record::System(x) => {
            let share = Counters {
                squeeze: x.softnet.iter().map(|d| d.time_squeeze).sum(),
                softnet_dropped: x.softnet.iter().map(|d| d.dropped).sum(),
                nic_missed: nic_missed(x),
                rcvbuf: x.snmp("Udp.RcvbufErrors") + x.snmp("Udp6.RcvbufErrors"),
                covered_ns: x.duration_ns(),
                ..Counters::default()
            };
            t.c.add(&share);
            for a in accs
                .iter_mut()
                .filter(|a| a.overlaps(x.start_mono_ns, x.end_mono_ns))
            {
                a.c.add(&share);
                for c in &x.cpu_time {
                    *a.steal.entry(c.cpu).or_default() += c.steal_ns;
                }
            }
        }
        Record::Drops(iv) => {
            // The drop probe sees every namespace of the kernel: drops count in hbwatch's own
            // and in those whose sockets heard the heartbeats, not in unrelated ones (a flood
            // between two other namespaces).
            let host = s.packet.tables.host_netns;
            let heard = s.heartbeats.heartbeat_netns();
            let mut share = Counters::default();
            for c in iv.cells.iter().filter(|c| {
                host == 0 || c.netns == 0 || c.netns == host || heard.contains(&c.netns)
            }) {
                *share.drops.entry(c.reason).or_default() += c.count;
            }
            t.c.add(&share);
            for a in accs
                .iter_mut()
                .filter(|a| a.overlaps(iv.start_mono_ns, iv.end_mono_ns))
            {
                a.c.add(&share);
            }
        }
        Record::PortPacket(e) => {
            for (a, g) in accs.iter_mut().zip(gaps) {
                flow::event(a, g, e, s);
            }
        }
        Record::PortFlows(iv) => {
            for (a, g) in accs.iter_mut().zip(gaps) {
                flow::counts(a, g, iv, s);
            }
        }
        Record::Heartbeat(h) if h.kind == EventKind::SelfStall => {
            for (a, g) in accs.iter_mut().zip(gaps) {
                // A self-stall line speaks for the process itself, whatever source logged it.
                let near = a.contains(h.read_mono_ns)
                    || (h.read_mono_ns >= g.start_mono_ns
                        && h.read_mono_ns <= g.end_mono_ns + DEFAULT_INTERVAL_NS);
                if near {
                    a.self_stalls.push(SelfStall {
                        at_mono_ns: h.read_mono_ns,
                        measured_ns: h.measured_ns,
                        line: h.line.clone(),
                    });
                }
            }
        }
        Record::Lost(l) => {
            for a in accs.iter_mut().filter(|a| a.contains(l.at_mono_ns)) {
                a.lost += l.count;
            }
        }
        _ => {}
    }
}

/// Samples per process on every CPU (the heartbeat CPUs are known only at the end) for every
/// window the interval overlaps.
fn fold_cpu_tasks(iv: &crate::recording::records::CpuTaskSamples, accs: &mut [Acc]) {
    for a in accs
        .iter_mut()
        .filter(|a| a.overlaps(iv.start_mono_ns, iv.end_mono_ns))
    {
        for c in &iv.cpus {
            a.cpu_users.entry(c.cpu).or_default().add(c);
        }
    }
}

/// The top CPU users of each heartbeat CPU in the window; `None` when nothing sampled them.
fn nic_cpu_users(
    s: &RecordingSummary,
    a: &Acc,
    hb_cpus: &BTreeSet<u32>,
) -> Option<Vec<cpu_tasks::NicCpuUsers>> {
    // Recorded every tick while the sampler runs (empty when every CPU idled).
    if s.cpu_tasks.intervals == 0 {
        return None;
    }
    let empty = CpuTotals::default();
    Some(
        hb_cpus
            .iter()
            .map(|cpu| {
                cpu_tasks::users(
                    *cpu,
                    a.cpu_users.get(cpu).unwrap_or(&empty),
                    s.cpu_tasks.totals.get(cpu).unwrap_or(&empty),
                )
            })
            .collect(),
    )
}

fn counter(window: u64, total: u64, baseline_ns: u64) -> Counter {
    let rest = total.saturating_sub(window);
    Counter {
        window,
        baseline_per_s: if baseline_ns > 0 {
            rest as f64 / (baseline_ns as f64 / 1e9)
        } else {
            0.0
        },
    }
}

fn finish(
    s: &RecordingSummary,
    g: &Gap,
    a: Acc,
    t: &Totals,
    hb_cpus: &BTreeSet<u32>,
    unavailable: &[String],
    net_rx: u8,
) -> GapEvidence {
    let interval = g.expected_interval_ns.unwrap_or(DEFAULT_INTERVAL_NS);
    let mut e = GapEvidence::empty(source_kind(s, g), g.length_ns, interval);
    e.window_ns = a.to.saturating_sub(a.from).max(1);
    e.nic_cpu_users = nic_cpu_users(s, &a, hb_cpus);
    // Baseline time: the rest of the recording (counters only exist where samples were taken).
    let base_ns = s.duration_ns().saturating_sub(e.window_ns);
    // Window and whole-recording counters.
    let (w, all) = (&a.c, &t.c);
    let sys_base_ns = all.covered_ns.saturating_sub(w.covered_ns).min(base_ns);
    let whole = |cpu: u32| s.latency.cells.get(&(cpu, net_rx));
    e.net_rx = a
        .wait_win
        .iter()
        .map(|(cpu, w)| {
            let d = w.distribution();
            let base = whole(*cpu).map(|t| {
                t.wait
                    .minus(w, |m| m.at_mono_ns < a.from || m.at_mono_ns > a.to)
                    .distribution()
            });
            CpuSoftirq {
                cpu: *cpu,
                handles_heartbeat_rx: hb_cpus.contains(cpu),
                window_wait_max_ns: a.wait_max.get(cpu).copied().unwrap_or(0).max(d.max_ns),
                window_wait_p99_ns: d.p99_ns,
                baseline_wait_p99_ns: base.map_or(0, |b| b.p99_ns),
                window_run_max_ns: a.run_max.get(cpu).copied().unwrap_or(0),
                ksoftirqd: counter(
                    a.ksoftirqd.get(cpu).copied().unwrap_or(0),
                    whole(*cpu).map_or(0, |t| t.ksoftirqd_entries),
                    base_ns,
                ),
            }
        })
        .collect();
    e.napi_budget_exhausted = counter(w.napi_full, all.napi_full, base_ns);
    e.time_squeeze = counter(w.squeeze, all.squeeze, sys_base_ns);
    e.softnet_dropped = counter(w.softnet_dropped, all.softnet_dropped, sys_base_ns);
    e.nic_missed = counter(w.nic_missed, all.nic_missed, sys_base_ns);
    e.udp_rcvbuf_errors = counter(w.rcvbuf, all.rcvbuf, sys_base_ns);
    e.drops = all
        .drops
        .iter()
        .map(|(r, total)| ReasonDrops {
            reason: s.packet.reason_name(*r),
            count: counter(w.drops.get(r).copied().unwrap_or(0), *total, base_ns),
        })
        .filter(|d| d.count.window > 0)
        .collect();
    e.flow = flow::fate(a.port, a.flow, s);
    e.rx_thread_delay = s
        .rx_model
        .as_ref()
        .filter(|m| m.is_threaded())
        .and_then(|m| {
            a.rx_thread_max
                .clone()
                .map(|(ns, pid, comm)| super::rx_threads::RxThreadDelay {
                    pid,
                    comm,
                    runq_max_ns: ns,
                    model: m.name(),
                })
        });
    e.app_sched_delay_max_ns = a.sched_max;
    e.app_off_cpu_max_ns = a.offcpu_max;
    e.app_all_threads_off_ns = a
        .offcpu_by_thread
        .values()
        .min()
        .copied()
        .max(sched::quiet_stretch(&a.app_episodes, &t.sched_spans));
    e.self_stalls = a.self_stalls;
    e.steal_max_ns = a.steal.values().copied().max().unwrap_or(0);
    e.clock_steps_ns = s
        .clock_steps
        .iter()
        .filter(|c| c.at_mono_ns >= a.from && c.at_mono_ns <= a.to + MIN_LEAD_NS)
        .map(|c| c.step_ns)
        .collect();
    e.lost_events = a.lost;
    e.unavailable = unavailable.to_vec();
    e
}
