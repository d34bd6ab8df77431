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

/// CLOCK_MONOTONIC and CLOCK_REALTIME read back to back. A change in their difference between two
/// anchors is a wall-clock step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockAnchor {
    pub mono_ns: u64,
    pub realtime_ns: i64,
}

impl ClockAnchor {
    /// Wall-clock time of a monotonic instant, assuming no step since this anchor.
    pub fn realtime_of(&self, mono_ns: u64) -> i64 {
        self.realtime_ns + (mono_ns as i64 - self.mono_ns as i64)
    }

    /// realtime − monotonic: constant while the wall clock does not step.
    pub fn offset_ns(&self) -> i64 {
        self.realtime_ns - self.mono_ns as i64
    }
}

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
