//! What a recording holds. Times named `*_mono_ns` are CLOCK_MONOTONIC (the clock of
//! `bpf_ktime_get_ns`); wall-clock time appears only in clock anchors.
//!
//! One file per domain holds that domain's record types; this file holds the header, the
//! [`Record`] enum that lists them all, and the records about the run itself.
//!
//! Compatibility: postcard encodes an enum variant by its position, so new [`Record`] variants
//! are only ever appended (and [`super::format::MINOR`] bumped); existing ones never change shape.

use serde::{Deserialize, Serialize};

mod cputasks;
mod heartbeat;
mod ksched;
mod packet;
mod softirq;
mod system;
pub use cputasks::*;
pub use heartbeat::*;
pub use ksched::*;
pub use packet::*;
pub use softirq::*;
pub use system::*;

/// Describes the host and the run; written once at the start of the file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    pub hbwatch_version: String,
    pub host: String,
    pub kernel_release: String,
    /// Number of possible CPUs (per-CPU maps are this long).
    pub cpus: u32,
    pub online_cpus: Vec<u32>,
    pub nics: Vec<NicSummary>,
    pub boot_id: String,
    /// The pairing of clocks taken when recording started.
    pub anchor: ClockAnchor,
    /// Softirq vector names by number, from /proc/softirqs ("HI", "TIMER", "NET_TX", ...).
    pub softirq_vectors: Vec<String>,
    /// The command line that made the recording.
    pub command: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NicSummary {
    pub name: String,
    pub driver: Option<String>,
    pub rx_queues: u32,
    pub tx_queues: u32,
}

pub use crate::clock::ClockAnchor;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Record {
    /// Taken every flush; consecutive anchors expose wall-clock steps.
    Clock(ClockAnchor),
    /// One interval of softirq aggregates.
    Softirq(SoftirqInterval),
    /// A collector started, could not start, or degraded.
    Collector(CollectorStatus),
    /// Events that could not be delivered or read, per stream, since the previous record.
    Lost(LostEvents),
    /// The recorder stopped cleanly.
    Stop(StopInfo),
    /// Softirqs over the threshold, one by one.
    SoftirqEvents(SoftirqEvents),
    /// One interval of scheduling delay of watched threads.
    Sched(SchedInterval),
    /// One interval of sampled kernel stacks.
    Stacks(StackSamples),
    /// Names for drop reasons, interfaces and IRQ lines; once per recording.
    PacketTables(PacketTables),
    /// One interval of packet drop counts.
    Drops(DropInterval),
    /// One interval of NAPI poll statistics.
    Napi(NapiInterval),
    /// One interval of hard IRQ handler times.
    Hardirq(HardirqInterval),
    /// One packet event on a watched heartbeat port.
    PortPacket(PortPacketEvent),
    /// The NIC/IRQ/RPS/sysctl/CPU picture: at start and whenever it changes.
    HostConfig(HostConfig),
    /// Kernel counter deltas for one interval (only counters that moved).
    System(SystemSample),
    /// A heartbeat source started.
    HeartbeatSource(SourceDeclared),
    /// A heartbeat line or arrival.
    Heartbeat(HeartbeatEvent),
    /// One active probe attempt.
    Probe(ProbeAttempt),
    /// A heartbeat source could not read, vanished, rotated or recovered.
    SourceWarning(SourceWarning),
    /// Line accounting of a log or journal source.
    HeartbeatLines(LineCounts),
    /// One interval of samples per (CPU, process): the top CPU users.
    CpuTasks(CpuTaskSamples),
    /// The CPUs a watched process may run on.
    TaskAffinity(TaskAffinity),
    /// A program the kernel refused, with the verifier's whole log.
    ProgramRejected(ProgramRejection),
    /// How this kernel runs receive work (softirq, threaded NAPI, PREEMPT_RT); once per run.
    RxModel(RxModel),
    /// One interval of watched-port flow fate counts, with what was counted but not sent.
    PortFlows(PortFlowInterval),
    /// One packet of a watched flow with its identity across hosts: received at the device, or
    /// on its way out.
    Wire(WirePacketEvent),
    /// One interval of send-side flow fate counts.
    WireFlows(WireFlowInterval),
    /// The recording is scoped to one network namespace (`record --netns`); once per run.
    NetnsScope(NetnsScope),
    /// The timing a heartbeat source's daemon config sets (period, loss silence).
    SourceTiming(SourceTiming),
    /// The IP addresses of hbwatch's own network namespace.
    HostAddresses(HostAddresses),
}

/// The network namespace a recording is scoped to. Devices, sockets, drops, NAPI and watched
/// flows are kept only for it; softirq, CPU and scheduling evidence is host-wide (shared).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetnsScope {
    pub at_mono_ns: u64,
    /// As given (`NAME`, a path or a PID).
    pub spec: String,
    pub path: String,
    /// nsfs inode: the `netns` of records.
    pub inode: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CollectorStatus {
    pub at_mono_ns: u64,
    /// Stable name, e.g. "softirq".
    pub collector: String,
    pub state: CollectorState,
    /// Human detail: how it attached, or why it is unavailable and what to do.
    pub detail: String,
}

/// A program the kernel refused to load; its family fell back (classic twin) or degraded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgramRejection {
    pub at_mono_ns: u64,
    /// Program name in the object, e.g. "softirq_entry".
    pub program: String,
    /// "tp_btf" or "classic".
    pub attach: String,
    pub tracepoint: String,
    /// The load error with the verifier's whole log.
    pub log: String,
}

/// How the kernel runs packet receive work, read when recording starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RxModel {
    pub at_mono_ns: u64,
    /// /sys/kernel/realtime = 1: softirqs and IRQ handlers run in threads.
    pub preempt_rt: bool,
    /// Interfaces of hbwatch's namespace with /sys/class/net/DEV/threaded = 1.
    pub threaded_devices: Vec<String>,
    /// The threads that do receive work (ksoftirqd, napi/…, and on RT irq/…).
    pub threads: Vec<RxThread>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RxThread {
    pub pid: u32,
    pub comm: String,
    pub kind: RxThreadKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RxThreadKind {
    Ksoftirqd,
    Napi,
    IrqThread,
}

impl RxModel {
    /// Receive work runs in threads the scheduler places (threaded NAPI anywhere, or RT).
    pub fn is_threaded(&self) -> bool {
        self.preempt_rt || self.threads.iter().any(|t| t.kind == RxThreadKind::Napi)
    }

    /// Stable short name: `softirq`, `threaded_napi`, `preempt_rt`.
    pub fn name(&self) -> &'static str {
        if self.preempt_rt {
            "preempt_rt"
        } else if self.threads.iter().any(|t| t.kind == RxThreadKind::Napi) {
            "threaded_napi"
        } else {
            "softirq"
        }
    }

    /// One sentence for the report header.
    pub fn describe(&self) -> String {
        let napi: Vec<&str> = self
            .threads
            .iter()
            .filter(|t| t.kind == RxThreadKind::Napi)
            .map(|t| t.comm.as_str())
            .collect();
        let napi_text = if napi.is_empty() {
            String::new()
        } else {
            format!("; threaded NAPI: {}", napi.join(", "))
        };
        if self.preempt_rt {
            format!(
                "PREEMPT_RT: softirqs and IRQ handlers run in threads (ksoftirqd, irq/…){napi_text}; \
                 the receive delay is those threads' wake-up to run time"
            )
        } else if !napi.is_empty() {
            format!(
                "NET_RX in softirq context, except threaded NAPI ({}): those devices are polled \
                 by kthreads whose wake-up to run time is their receive delay",
                napi.join(", ")
            )
        } else {
            "NET_RX in softirq context (raise to entry is the receive delay)".to_owned()
        }
    }
}

impl ProgramRejection {
    /// The verifier's reason in one line.
    pub fn verdict(&self) -> String {
        verifier_verdict(&self.log)
    }
}

/// The line of a verifier log that says why: the last meaningful line before the statistics.
pub fn verifier_verdict(log: &str) -> String {
    log.lines()
        .map(str::trim)
        .rfind(|l| {
            !l.is_empty()
                && !l.starts_with("verification time")
                && !l.starts_with("processed ")
                && !l.starts_with("stack depth")
                && !l.starts_with("-- END PROG LOAD LOG --")
                && *l != ")"
        })
        .unwrap_or_default()
        .to_owned()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CollectorState {
    Running,
    Degraded,
    Unavailable,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LostEvents {
    pub at_mono_ns: u64,
    pub stream: String,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StopInfo {
    pub at_mono_ns: u64,
    pub reason: String,
}
