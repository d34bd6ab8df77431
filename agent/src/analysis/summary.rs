//! Folds a whole recording into the values every output needs: run metadata, collector states,
//! lost events, wall-clock steps and the softirq latency table.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{ksched::KschedSummary, latency::LatencyTable, packet::PacketSummary};
use crate::recording::{
    ReadStats,
    records::{
        ClockAnchor, CollectorStatus, Header, HostConfig, NetnsScope, ProgramRejection, Record,
        RxModel, StopInfo, SystemSample,
    },
};

/// A wall-clock step smaller than this is NTP slewing or read jitter, not a step.
pub const CLOCK_STEP_THRESHOLD_NS: i64 = 50_000_000;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClockStep {
    pub at_mono_ns: u64,
    /// Positive: the wall clock jumped forward.
    pub step_ns: i64,
}

#[derive(Debug, Clone)]
pub struct RecordingSummary {
    pub header: Header,
    pub format_version: (u16, u16),
    pub read: ReadStats,
    pub first_mono_ns: u64,
    pub last_mono_ns: u64,
    pub latency: LatencyTable,
    /// Latest status of each collector, by name.
    pub collectors: BTreeMap<String, CollectorStatus>,
    /// Programs the kernel refused (each once, with the verifier's log).
    pub rejections: Vec<ProgramRejection>,
    /// How the kernel ran receive work (None: recorded before hbwatch recorded it).
    pub rx_model: Option<RxModel>,
    /// `record --netns`: the one network namespace this recording kept.
    pub scope: Option<NetnsScope>,
    pub lost: BTreeMap<String, u64>,
    pub clock_steps: Vec<ClockStep>,
    pub stop: Option<StopInfo>,
    /// Softirq threshold events, scheduling delay of watched threads, kernel stacks.
    pub ksched: KschedSummary,
    /// Drops, NAPI, hard IRQs and watched-port events.
    pub packet: PacketSummary,
    /// The latest host configuration and how many times it changed after the first.
    pub host_config: Option<HostConfig>,
    pub host_config_changes: u32,
    /// Kernel counter deltas summed over the whole recording.
    pub system: SystemSample,
    /// Heartbeat sources, their events and gap detection.
    pub heartbeats: super::HeartbeatSummary,
    /// Samples per (CPU, process) and the affinity of watched processes.
    pub cpu_tasks: super::cpu_tasks::CpuTaskSummary,
    last_anchor: Option<ClockAnchor>,
}

impl RecordingSummary {
    /// Whether `pid` is a receive thread hbwatch watched on its own (threaded receive models).
    pub fn is_rx_thread(&self, pid: u32) -> bool {
        self.rx_model
            .as_ref()
            .is_some_and(|m| m.is_threaded() && m.threads.iter().any(|t| t.pid == pid))
    }

    pub fn new(header: Header, format_version: (u16, u16)) -> Self {
        let start = header.anchor.mono_ns;
        RecordingSummary {
            header,
            format_version,
            read: ReadStats::default(),
            first_mono_ns: start,
            last_mono_ns: start,
            latency: LatencyTable::default(),
            collectors: BTreeMap::new(),
            rejections: Vec::new(),
            rx_model: None,
            scope: None,
            lost: BTreeMap::new(),
            clock_steps: Vec::new(),
            stop: None,
            ksched: KschedSummary::default(),
            packet: PacketSummary::default(),
            host_config: None,
            host_config_changes: 0,
            system: SystemSample::default(),
            heartbeats: super::HeartbeatSummary::default(),
            cpu_tasks: super::cpu_tasks::CpuTaskSummary::default(),
            last_anchor: None,
        }
    }

    /// Folds a recording read from start to end.
    pub fn from_records(
        header: Header,
        version: (u16, u16),
        records: impl IntoIterator<Item = Record>,
    ) -> Self {
        let mut s = Self::new(header, version);
        for r in records {
            s.add(&r);
        }
        s
    }

    pub fn add(&mut self, r: &Record) {
        match r {
            Record::Clock(a) => {
                self.check_clock(a);
                self.seen(a.mono_ns);
            }
            Record::Softirq(iv) => {
                self.latency.add_interval(iv);
                self.seen(iv.end_mono_ns);
            }
            Record::Collector(c) => {
                self.collectors.insert(c.collector.clone(), c.clone());
            }
            Record::RxModel(m) => self.rx_model = Some(m.clone()),
            Record::ProgramRejected(r) => {
                // A rotated file repeats the rejections of its run: keep each program once.
                if !self
                    .rejections
                    .iter()
                    .any(|x| x.program == r.program && x.attach == r.attach)
                {
                    self.rejections.push(r.clone());
                }
            }
            Record::Lost(l) => *self.lost.entry(l.stream.clone()).or_default() += l.count,
            Record::Stop(s) => {
                self.seen(s.at_mono_ns);
                self.stop = Some(s.clone());
            }
            Record::SoftirqEvents(e) => self.ksched.add_events(e),
            Record::Sched(iv) => {
                self.ksched.add_sched(iv);
                self.seen(iv.end_mono_ns);
            }
            Record::Stacks(s) => {
                self.ksched.add_stacks(s);
                self.seen(s.end_mono_ns);
            }
            Record::PacketTables(t) => {
                self.packet.add_tables(t);
                self.heartbeats.set_host_netns(t.host_netns);
            }
            Record::HostAddresses(a) => self.heartbeats.set_own_addresses(&a.addresses),
            Record::Drops(iv) => {
                self.packet.add_drops(iv);
                self.seen(iv.end_mono_ns);
            }
            Record::Napi(iv) => {
                self.packet.add_napi(iv);
                self.seen(iv.end_mono_ns);
            }
            Record::Hardirq(iv) => {
                self.packet.add_hardirq(iv);
                self.seen(iv.end_mono_ns);
            }
            Record::PortPacket(e) => {
                self.packet.add_port_event(e);
                self.heartbeats.port_packet(e);
                self.seen(e.mono_ns);
            }
            Record::PortFlows(iv) => {
                self.packet.add_port_flows(iv);
                self.seen(iv.end_mono_ns);
            }
            Record::Wire(e) => {
                self.packet.add_wire(e);
                self.seen(e.mono_ns);
            }
            Record::WireFlows(iv) => {
                self.packet.add_wire_flows(iv);
                self.seen(iv.end_mono_ns);
            }
            Record::NetnsScope(n) => self.scope = Some(n.clone()),
            Record::HostConfig(c) => {
                if self.host_config.is_some() {
                    self.host_config_changes += 1;
                }
                self.host_config = Some(c.clone());
            }
            Record::System(s) => {
                super::system::accumulate(&mut self.system, s);
                self.seen(s.end_mono_ns);
            }
            Record::HeartbeatSource(_)
            | Record::Heartbeat(_)
            | Record::Probe(_)
            | Record::SourceWarning(_)
            | Record::SourceTiming(_)
            | Record::HeartbeatLines(_) => self.heartbeats.add(r),
            Record::CpuTasks(iv) => {
                self.cpu_tasks.add(iv);
                self.seen(iv.end_mono_ns);
            }
            Record::TaskAffinity(a) => self.cpu_tasks.add_affinity(a),
        }
    }

    fn seen(&mut self, mono: u64) {
        self.last_mono_ns = self.last_mono_ns.max(mono);
    }

    fn check_clock(&mut self, a: &ClockAnchor) {
        let prev = self.last_anchor.unwrap_or(self.header.anchor);
        let step = a.offset_ns() - prev.offset_ns();
        if step.abs() >= CLOCK_STEP_THRESHOLD_NS {
            self.clock_steps.push(ClockStep {
                at_mono_ns: a.mono_ns,
                step_ns: step,
            });
            self.heartbeats.clock_step(a.mono_ns, step);
        }
        self.last_anchor = Some(*a);
    }

    pub fn duration_ns(&self) -> u64 {
        self.last_mono_ns.saturating_sub(self.first_mono_ns)
    }

    pub fn total_lost(&self) -> u64 {
        self.lost.values().sum()
    }

    /// Name of softirq vector `v` ("NET_RX"), or its number when the header lacks names.
    pub fn vector_name(&self, v: u8) -> String {
        self.header
            .softirq_vectors
            .get(v as usize)
            .cloned()
            .unwrap_or_else(|| format!("vec{v}"))
    }

    /// Wall-clock time of a monotonic instant, by the start anchor.
    pub fn realtime_of(&self, mono_ns: u64) -> i64 {
        self.header.anchor.realtime_of(mono_ns)
    }
}
