//! What was measured around one heartbeat gap: the evidence window (from shortly before the
//! estimated onset to the gap's end) set against a baseline from the rest of the recording.
//! Built from recorded data by `build.rs`; judged by `rules.rs`.

use serde::Serialize;

/// A counter's change in the window and its normal rate outside it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Counter {
    pub window: u64,
    pub baseline_per_s: f64,
}

impl Counter {
    /// How much the window exceeds what the baseline rate predicts for `window_s` seconds.
    pub fn excess(&self, window_s: f64) -> f64 {
        (self.window as f64 - self.baseline_per_s * window_s).max(0.0)
    }
}

/// How the heartbeats of the gap's source reach this host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// Packets on a watched port: the kernel tells the fate of each one.
    Port,
    /// A log line saying a peer went silent.
    LogPeerSilence,
    /// A log line saying this process itself ran late.
    LogSelfStall,
    /// An active probe from this host.
    Probe,
}

/// What happened to the heartbeat flow's packets during the gap (watched ports only).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FlowFate {
    pub seen_at_device: u64,
    pub queued_to_socket: u64,
    pub read_by_app: u64,
    /// Drops of the flow's packets by kernel drop reason name (e.g. "NETFILTER_DROP").
    pub dropped: Vec<(String, u64)>,
    /// A TCP port: the peer's kernel acknowledges what this host sends, so segments reach the
    /// device while the peer sends no data.
    #[serde(skip)]
    pub tcp: bool,
}

impl FlowFate {
    pub fn dropped_total(&self) -> u64 {
        self.dropped.iter().map(|(_, n)| n).sum()
    }
    pub fn dropped_with(&self, pred: impl Fn(&str) -> bool) -> u64 {
        self.dropped
            .iter()
            .filter(|(r, _)| pred(r))
            .map(|(_, n)| n)
            .sum()
    }
}

/// NET_RX softirq on one CPU, window against baseline.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CpuSoftirq {
    pub cpu: u32,
    /// This CPU takes the heartbeat flow's RX queue interrupts or RPS work.
    pub handles_heartbeat_rx: bool,
    pub window_wait_max_ns: u64,
    pub window_wait_p99_ns: u64,
    pub baseline_wait_p99_ns: u64,
    pub window_run_max_ns: u64,
    pub ksoftirqd: Counter,
}

/// Drops by kernel reason, host-wide.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ReasonDrops {
    pub reason: String,
    pub count: Counter,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SelfStall {
    pub at_mono_ns: u64,
    pub measured_ns: Option<u64>,
    pub line: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GapEvidence {
    pub source: SourceKind,
    pub gap_ns: u64,
    pub expected_interval_ns: u64,
    pub window_ns: u64,
    pub flow: Option<FlowFate>,
    pub net_rx: Vec<CpuSoftirq>,
    pub napi_budget_exhausted: Counter,
    pub time_squeeze: Counter,
    /// softnet_stat `dropped` (backlog full), all CPUs.
    pub softnet_dropped: Counter,
    /// NIC-level misses: ethtool rx_missed/rx_no_buffer/rx_out_of_buffer/…, netdev rx_missed/fifo.
    pub nic_missed: Counter,
    /// /proc/net/snmp Udp RcvbufErrors.
    pub udp_rcvbuf_errors: Counter,
    pub drops: Vec<ReasonDrops>,
    /// Longest scheduling delay (runnable → running) of the heartbeat process in the window.
    pub app_sched_delay_max_ns: Option<u64>,
    /// The heartbeat process's threads were stopped (e.g. SIGSTOP) or off-CPU the whole window.
    pub app_off_cpu_max_ns: Option<u64>,
    /// The least any thread of the heartbeat process that showed up in the window was off CPU at
    /// a stretch: long only when every thread was stopped at once (SIGSTOP, a frozen cgroup).
    pub app_all_threads_off_ns: Option<u64>,
    pub self_stalls: Vec<SelfStall>,
    /// Steal time in the window, summed per CPU; the largest CPU's sum.
    pub steal_max_ns: u64,
    pub clock_steps_ns: Vec<i64>,
    /// Events lost in the window (ring buffer full, unreadable lines): evidence may be missing.
    pub lost_events: u64,
    /// Collectors that were unavailable: what could not be measured.
    pub unavailable: Vec<String>,
    /// The top CPU users on the CPUs that handle the heartbeat flow; `None`: not measured (stack
    /// sampling off or unavailable).
    pub nic_cpu_users: Option<Vec<crate::analysis::cpu_tasks::NicCpuUsers>>,
    /// Threaded receive models: the receive thread that waited longest to run in the window.
    pub rx_thread_delay: Option<super::rx_threads::RxThreadDelay>,
}

impl GapEvidence {
    /// Evidence with nothing measured: every rule stays silent on it.
    pub fn empty(source: SourceKind, gap_ns: u64, expected_interval_ns: u64) -> Self {
        GapEvidence {
            source,
            gap_ns,
            expected_interval_ns,
            window_ns: gap_ns,
            flow: None,
            net_rx: Vec::new(),
            napi_budget_exhausted: Counter::default(),
            time_squeeze: Counter::default(),
            softnet_dropped: Counter::default(),
            nic_missed: Counter::default(),
            udp_rcvbuf_errors: Counter::default(),
            drops: Vec::new(),
            app_sched_delay_max_ns: None,
            app_off_cpu_max_ns: None,
            app_all_threads_off_ns: None,
            self_stalls: Vec::new(),
            steal_max_ns: 0,
            clock_steps_ns: Vec::new(),
            lost_events: 0,
            unavailable: Vec::new(),
            nic_cpu_users: None,
            rx_thread_delay: None,
        }
    }

    /// A movable (non-kernel) process that held a heartbeat CPU for most of the window: the CPU
    /// and the process, the largest share first.
    pub fn dominant_user(&self) -> Option<(u32, &crate::analysis::cpu_tasks::CpuUser)> {
        self.nic_cpu_users
            .iter()
            .flatten()
            .filter_map(|c| c.dominant().map(|u| (c.cpu, u)))
            .filter(|(_, u)| !u.kernel_thread)
            .max_by(|a, b| a.1.window_share.total_cmp(&b.1.window_share))
    }

    pub fn window_s(&self) -> f64 {
        self.window_ns as f64 / 1e9
    }

    /// Host-wide drops in the window beyond baseline for reasons matching `pred`.
    pub fn drop_excess(&self, pred: impl Fn(&str) -> bool) -> f64 {
        self.drops
            .iter()
            .filter(|d| pred(&d.reason))
            .map(|d| d.count.excess(self.window_s()))
            .sum()
    }
}
