//! Builds each gap's [`GapEvidence`] from the recorded records in one pass: everything inside the
//! gap's evidence window is summed per gap, everything outside it forms that gap's baseline.

use std::collections::{BTreeMap, BTreeSet};

use super::{
    evidence::{Counter, CpuSoftirq, FlowFate, GapEvidence, ReasonDrops, SelfStall, SourceKind},
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
    recording::records::{
        CollectorState, EventKind, PortFlowInterval, PortPacketEvent, PortStage, Record,
        UDP_RC_RCVBUF,
    },
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

/// The address of a peer string ("10.0.0.2:5405" → 10.0.0.2).
fn peer_ip(peer: &str) -> Option<std::net::IpAddr> {
    peer.parse::<std::net::SocketAddr>()
        .map(|a| a.ip())
        .ok()
        .or_else(|| peer.parse().ok())
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
    napi_full: u64,
    squeeze: u64,
    softnet_dropped: u64,
    nic_missed: u64,
    rcvbuf: u64,
    drops: BTreeMap<u32, u64>,
    covered_ns: u64,
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
    napi_full: u64,
    squeeze: u64,
    softnet_dropped: u64,
    nic_missed: u64,
    rcvbuf: u64,
    drops: BTreeMap<u32, u64>,
    covered_ns: u64,
    /// Scheduling intervals (start, end, whether a thread of the heartbeat process ran).
    sched_spans: Vec<(u64, u64, bool)>,
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
        }
    }

    pub fn add(&mut self, s: &RecordingSummary, r: &Record) {
        self.rx.add(r);
        fold(r, s, self.net_rx, &mut self.t, &mut self.accs, &self.gaps);
        if let Record::CpuTasks(iv) = r {
            fold_cpu_tasks(iv, &mut self.accs);
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
        let t = self.t;
        let ev = self
            .gaps
            .iter()
            .zip(self.accs)
            .map(|(g, a)| finish(s, g, a, &t, &heartbeat_cpus, &unavailable, self.net_rx))
            .collect();
        (ev, heartbeat_cpus)
    }
}

fn flow_event(a: &mut Acc, gap: &Gap, e: &PortPacketEvent, s: &RecordingSummary) {
    let Some(p) = a.port else { return };
    if p.proto != e.proto || p.port != e.local_port {
        return;
    }
    // Another namespace's socket on the same port (the peer's own, on one machine) is not ours.
    if a.netns != 0 && e.netns != 0 && e.netns != a.netns {
        return;
    }
    // A gap is one peer's: other peers' packets say nothing of it.
    if let (Some(want), Some(got)) = (
        gap.peer.as_deref().and_then(peer_ip),
        e.peer.as_deref().and_then(peer_ip),
    ) && want != got
    {
        return;
    }
    a.flow.any = true;
    // A failed read (-errno: interrupted by the stop, nothing to read) read no packet.
    if e.stage == PortStage::Read && e.len < 0 {
        return;
    }
    // Strictly inside the gap: the read that ends it (and the one that started it) are arrivals.
    if e.mono_ns <= gap.start_mono_ns || e.mono_ns >= gap.end_mono_ns {
        return;
    }
    if e.mono_ns < fate_end(gap, e.stage) {
        add_fate(a, e.stage, e.code, 1, s);
    }
}

/// Where packets of `stage` stop counting for the gap. Packets seen or queued just before the
/// end were read by the arrival that closed the gap: they are late deliveries, not packets that
/// arrived during the silence.
fn fate_end(gap: &Gap, stage: PortStage) -> u64 {
    match stage {
        PortStage::Seen | PortStage::Queued => {
            let interval = gap.expected_interval_ns.unwrap_or(DEFAULT_INTERVAL_NS);
            gap.end_mono_ns
                .saturating_sub(interval.min(gap.length_ns / 2))
        }
        _ => gap.end_mono_ns,
    }
}

fn add_fate(a: &mut Acc, stage: PortStage, code: i32, n: u64, s: &RecordingSummary) {
    match stage {
        PortStage::Seen => a.flow.seen += n,
        PortStage::Queued => a.flow.queued += n,
        PortStage::Read => a.flow.read += n,
        PortStage::Dropped => {
            *a.flow
                .dropped
                .entry(s.packet.reason_name(code as u32))
                .or_default() += n
        }
        PortStage::QueueFailed => {
            let name = if code == UDP_RC_RCVBUF {
                "SOCKET_RCVBUFF".to_owned()
            } else {
                format!("UDP_QUEUE_FAILED({code})")
            };
            *a.flow.dropped.entry(name).or_default() += n
        }
    }
}

/// Packets counted without an event (over their flow's budget, e.g. a flood on the port): taken
/// as spread evenly between the first and the latest of them, and shared with the gap by overlap.
fn flow_counts(a: &mut Acc, gap: &Gap, iv: &PortFlowInterval, s: &RecordingSummary) {
    let Some(p) = a.port else { return };
    for c in iv
        .cells
        .iter()
        .filter(|c| c.suppressed > 0 && c.proto == p.proto && c.local_port == p.port)
    {
        a.flow.any = true;
        let first = match c.first_suppressed_mono_ns {
            0 => iv.start_mono_ns,
            t => t,
        };
        let last = c.last_suppressed_mono_ns.max(first);
        let (from, to) = (gap.start_mono_ns, fate_end(gap, c.stage));
        let n = match last - first {
            0 => u64::from(last > from && last < to) * c.suppressed,
            span => {
                let overlap = last.min(to).saturating_sub(first.max(from));
                (c.suppressed as u128 * overlap as u128 / span as u128) as u64
            }
        };
        if n > 0 {
            add_fate(a, c.stage, c.code, n, s);
        }
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
            let full: u64 = iv.cells.iter().map(|c| c.full_budget).sum();
            t.napi_full += full;
            for a in accs
                .iter_mut()
                .filter(|a| a.overlaps(iv.start_mono_ns, iv.end_mono_ns))
            {
                a.napi_full += full;
            }
        }
        Record::System(x) => {
            let squeeze: u64 = x.softnet.iter().map(|d| d.time_squeeze).sum();
            let dropped: u64 = x.softnet.iter().map(|d| d.dropped).sum();
            let missed = nic_missed(x);
            let rcvbuf = x.snmp("Udp.RcvbufErrors") + x.snmp("Udp6.RcvbufErrors");
            t.squeeze += squeeze;
            t.softnet_dropped += dropped;
            t.nic_missed += missed;
            t.rcvbuf += rcvbuf;
            t.covered_ns += x.duration_ns();
            for a in accs
                .iter_mut()
                .filter(|a| a.overlaps(x.start_mono_ns, x.end_mono_ns))
            {
                a.squeeze += squeeze;
                a.softnet_dropped += dropped;
                a.nic_missed += missed;
                a.rcvbuf += rcvbuf;
                a.covered_ns += x.duration_ns();
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
            let mut by: BTreeMap<u32, u64> = BTreeMap::new();
            for c in iv.cells.iter().filter(|c| {
                host == 0 || c.netns == 0 || c.netns == host || heard.contains(&c.netns)
            }) {
                *by.entry(c.reason).or_default() += c.count;
            }
            for (r, n) in &by {
                *t.drops.entry(*r).or_default() += n;
            }
            for a in accs
                .iter_mut()
                .filter(|a| a.overlaps(iv.start_mono_ns, iv.end_mono_ns))
            {
                for (r, n) in &by {
                    *a.drops.entry(*r).or_default() += n;
                }
            }
        }
        Record::PortPacket(e) => {
            for (a, g) in accs.iter_mut().zip(gaps) {
                flow_event(a, g, e, s);
            }
        }
        Record::PortFlows(iv) => {
            for (a, g) in accs.iter_mut().zip(gaps) {
                flow_counts(a, g, iv, s);
            }
        }
        Record::Sched(iv) => {
            // Only the heartbeat process's threads: the advice names that process, so it cites
            // its numbers (the sched table's row), not another watched process's.
            let app = super::heartbeat_process(s).map(|(_, tgid)| tgid);
            for a in accs
                .iter_mut()
                .filter(|a| a.overlaps(iv.start_mono_ns, iv.end_mono_ns))
            {
                for task in iv.tasks.iter().filter(|t| s.is_rx_thread(t.tgid)) {
                    if let Some(m) = task.runq_max
                        && a.rx_thread_max.as_ref().is_none_or(|x| m.value_ns > x.0)
                    {
                        a.rx_thread_max = Some((m.value_ns, task.tgid, task.comm.clone()));
                    }
                }
                for task in iv.tasks.iter().filter(|t| app.is_none_or(|g| t.tgid == g)) {
                    if let Some(m) = task.runq_max {
                        a.sched_max = Some(a.sched_max.unwrap_or(0).max(m.value_ns));
                    }
                    if let Some(m) = task.offcpu_max {
                        a.offcpu_max = Some(a.offcpu_max.unwrap_or(0).max(m.value_ns));
                    }
                    let off = task.offcpu_max.map_or(0, |m| m.value_ns);
                    let t = a.offcpu_by_thread.entry(task.tid).or_insert(0);
                    *t = (*t).max(off);
                }
            }
            if let Some(g) = app {
                let busy = iv.tasks.iter().any(|t| t.tgid == g);
                t.sched_spans.push((iv.start_mono_ns, iv.end_mono_ns, busy));
            }
            for a in accs.iter_mut() {
                for task in iv.tasks.iter().filter(|t| app.is_some_and(|g| t.tgid == g)) {
                    let Some(m) = task.offcpu_max else { continue };
                    let from = m.at_mono_ns.saturating_sub(m.value_ns);
                    if from < a.to && m.at_mono_ns > a.from {
                        a.app_episodes.push((from, m.at_mono_ns));
                    }
                }
            }
            // An off-CPU stretch is measured when the thread runs again: one that began inside
            // a window and ended after it (a stopped process resumed) belongs to that window.
            for a in accs.iter_mut().filter(|a| iv.start_mono_ns >= a.to) {
                for task in iv.tasks.iter().filter(|t| app.is_some_and(|g| t.tgid == g)) {
                    let Some(m) = task.offcpu_max else { continue };
                    if m.at_mono_ns.saturating_sub(m.value_ns) >= a.to {
                        continue;
                    }
                    a.offcpu_max = Some(a.offcpu_max.unwrap_or(0).max(m.value_ns));
                    let t = a.offcpu_by_thread.entry(task.tid).or_insert(0);
                    *t = (*t).max(m.value_ns);
                }
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

/// The port watch ran, so silence on the port means no packet came.
fn portwatch_running(s: &RecordingSummary) -> bool {
    s.collectors
        .get("portwatch")
        .is_some_and(|c| c.state != CollectorState::Unavailable)
}

/// Whether queued packets were seen (sock:sk_data_ready, 6.5+) rather than to be inferred: only a
/// recording that says the tracepoint was unavailable lacks them.
fn queue_stage_measured(s: &RecordingSummary) -> bool {
    !s.collectors
        .get("portwatch:sk_data_ready")
        .is_some_and(|c| c.state == CollectorState::Unavailable)
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
    let sys_base_ns = t.covered_ns.saturating_sub(a.covered_ns).min(base_ns);
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
    e.napi_budget_exhausted = counter(a.napi_full, t.napi_full, base_ns);
    e.time_squeeze = counter(a.squeeze, t.squeeze, sys_base_ns);
    e.softnet_dropped = counter(a.softnet_dropped, t.softnet_dropped, sys_base_ns);
    e.nic_missed = counter(a.nic_missed, t.nic_missed, sys_base_ns);
    e.udp_rcvbuf_errors = counter(a.rcvbuf, t.rcvbuf, sys_base_ns);
    e.drops = t
        .drops
        .iter()
        .map(|(r, total)| ReasonDrops {
            reason: s.packet.reason_name(*r),
            count: counter(a.drops.get(r).copied().unwrap_or(0), *total, base_ns),
        })
        .filter(|d| d.count.window > 0)
        .collect();
    e.flow = (a.port.is_some() && (a.flow.any || portwatch_running(s))).then(|| FlowFate {
        seen_at_device: a.flow.seen,
        // Kernels before 6.5 have no sk_data_ready: what reached the device and was not
        // dropped reached the socket.
        queued_to_socket: if queue_stage_measured(s) {
            a.flow.queued
        } else {
            a.flow
                .seen
                .saturating_sub(a.flow.dropped.values().sum::<u64>())
        },
        read_by_app: a.flow.read,
        dropped: a.flow.dropped.into_iter().collect(),
        tcp: a.port.is_some_and(|p| p.proto == libc::IPPROTO_TCP as u8),
    });
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
        .max(quiet_stretch(&a.app_episodes, &t.sched_spans));
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

/// The longest off-CPU stretch of one of the process's threads that holds a whole scheduling
/// interval, in none of which any thread of the process ran: all of them were off CPU (a stopped
/// process). Threads whose stretch began before the probe saw them have no measured stretch, so
/// the per-thread minimum alone cannot say it for a process of many threads (a Go runtime's).
/// A stretch shorter than an interval proves nothing of the other threads: an idle runtime
/// thread sleeps for a second while the others tick every 100 ms.
pub(super) fn quiet_stretch(episodes: &[(u64, u64)], spans: &[(u64, u64, bool)]) -> Option<u64> {
    episodes
        .iter()
        .filter(|(from, to)| {
            let busy: Vec<bool> = spans
                .iter()
                .filter(|(s, e, _)| s >= from && e <= to)
                .map(|&(_, _, busy)| busy)
                .collect();
            !busy.is_empty() && !busy.contains(&true)
        })
        .map(|(from, to)| to - from)
        .max()
}
