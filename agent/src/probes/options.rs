//! What the probes are asked to do: the plain settings `cli/` builds from flags. Imports no
//! probe family, so the loader and every family can use them.

use crate::collectors::netns::NetnsTarget;

/// How the programs got in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttachMode {
    /// BTF-typed raw tracepoints: typed arguments, cheapest, no tracefs.
    BtfTracepoint,
    /// Classic tracepoints through tracefs (kernels without BTF).
    Classic,
}

/// Everything [`super::Probes::load`] needs to know.
#[derive(Debug, Clone)]
pub struct ProbeOptions {
    /// Never use BTF (tests the fallback; also for kernels with broken BTF).
    pub no_btf: bool,
    /// Softirqs whose wait or run time exceeds this become single events (default 1 ms).
    pub softirq_threshold_ns: u64,
    /// Softirqs timed per tick, CPU and vector (0: all); the rest are counted, not timed.
    pub softirq_timed_per_tick: u32,
    /// kfree_skb drops per tick and CPU counted with device, queue and ports (0: all); the rest
    /// by reason and protocol. Drops on watched ports are always counted in detail, and every
    /// drop of a recording scoped to a namespace (`netns`).
    pub drop_detail_per_tick: u32,
    /// Processes whose scheduling delay is measured (none: the sched probe stays off).
    pub watch: WatchList,
    /// Kernel stack sampling; `None` turns it off.
    pub stacks: Option<StackOptions>,
    /// Heartbeat ports whose packets are reported one by one (`udp:PORT`, `tcp:PORT`).
    pub watch_ports: Vec<WatchPort>,
    /// Tracepoints treated as missing (`--disable-probe`, for testing the degraded paths).
    pub disabled: Vec<String>,
    /// `--netns`: keep only what belongs to this network namespace (see `Session::start`).
    pub netns: Option<NetnsTarget>,
}

impl Default for ProbeOptions {
    fn default() -> Self {
        ProbeOptions {
            no_btf: false,
            softirq_threshold_ns: 1_000_000,
            softirq_timed_per_tick: agent_common::softirq::TIMED_PER_TICK,
            drop_detail_per_tick: agent_common::drops::DROP_DETAIL_PER_TICK,
            watch: WatchList::default(),
            stacks: Some(StackOptions::default()),
            watch_ports: Vec::new(),
            disabled: Vec::new(),
            netns: None,
        }
    }
}

/// Which processes to watch (`--watch-pid`, `--watch-comm`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WatchList {
    pub pids: Vec<u32>,
    /// Process names as in /proc/PID/comm (at most 15 bytes; longer names are cut to match).
    pub comms: Vec<String>,
}

impl WatchList {
    pub fn is_empty(&self) -> bool {
        self.pids.is_empty() && self.comms.is_empty()
    }
}

/// Settings of the sampler (`--stack-rate`, `--all-stacks`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StackOptions {
    pub rate_hz: u32,
    pub all_stacks: bool,
}

impl Default for StackOptions {
    fn default() -> Self {
        StackOptions {
            rate_hz: 99,
            all_stacks: false,
        }
    }
}

/// A port to watch: protocol (17 UDP, 6 TCP) and local port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchPort {
    pub proto: u8,
    pub port: u16,
}
