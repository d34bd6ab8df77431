//! The live view's view-model: everything the screen shows, computed once a second from analysis
//! values so that drawing only lays it out.
//!
//! Feeds: [`LiveState::update_from_summary`] and [`LiveState::update_from_records`] (softirq,
//! collectors, lost events, header), [`LiveState::update_from_heartbeats`] (lanes),
//! [`LiveState::update_from_drops`] and [`LiveState::update_from_napi`] (drops panel),
//! [`LiveState::update_verdict`] (verdict line).

use std::collections::VecDeque;

use crate::{
    analysis::{
        RecordingSummary, SoftirqAgg,
        aggregates::{
            drops::{DropRates, DropSample},
            napi::{NapiRates, NapiSample},
            softirq::{SoftirqSpan, cpu_list, net_rx_vector},
            sources::{Standing, standing},
        },
    },
    recording::records::{CollectorState, Record},
};

/// Seconds of history in the softirq sparklines.
pub const SPARK_SECONDS: usize = 60;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct LiveState {
    pub header: HeaderView,
    pub collectors: Vec<CollectorView>,
    pub softirq: SoftirqView,
    /// One lane per heartbeat source; empty until a heartbeat feed exists.
    pub lanes: Vec<HeartbeatLane>,
    /// Whether any heartbeat feed has reported (an empty list then means "no sources").
    pub lanes_fed: bool,
    pub drops: DropRates,
    pub napi: NapiRates,
    pub verdict: Option<Verdict>,
    /// Show wall-clock times in UTC instead of the system time zone (for logs kept in UTC, and
    /// for tests that must not depend on the machine's zone).
    pub utc_times: bool,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct HeaderView {
    pub host: String,
    pub kernel: String,
    pub cpus: u32,
    pub nics: Vec<NicView>,
    pub elapsed_ns: u64,
    pub recording: RecordingView,
    /// Lost events per stream, only streams with losses.
    pub lost: Vec<(String, u64)>,
    pub lost_total: u64,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct NicView {
    pub name: String,
    pub rx_queues: u32,
    pub tx_queues: u32,
}

/// Where the recording underneath the view goes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RecordingView {
    pub path: String,
    /// False when no `-o` was given: the file is temporary and removed on exit.
    pub kept: bool,
    pub bytes: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CollectorView {
    pub name: String,
    pub state: CollectorState,
    pub detail: String,
}

/// p99 and maximum of softirq wait and run time, in nanoseconds; `count` 0 means no data.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct WaitRun {
    pub count: u64,
    pub wait_p99_ns: u64,
    pub wait_max_ns: u64,
    pub run_p99_ns: u64,
    pub run_max_ns: u64,
}

impl WaitRun {
    fn of(agg: &SoftirqAgg) -> WaitRun {
        let (w, r) = (agg.wait.distribution(), agg.run.distribution());
        WaitRun {
            count: agg.entries,
            wait_p99_ns: w.p99_ns,
            wait_max_ns: w.max_ns,
            run_p99_ns: r.p99_ns,
            run_max_ns: r.max_ns,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct SoftirqView {
    /// Whether any softirq interval has arrived yet.
    pub has_data: bool,
    /// NET_RX per CPU.
    pub cpus: Vec<CpuNetRx>,
    /// Every vector summed over CPUs (shown when the panel is expanded).
    pub vectors: Vec<VectorRow>,
    /// Largest value in any CPU's sparkline: one scale for all CPUs, so heights compare.
    pub spark_max_ns: u64,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct CpuNetRx {
    pub cpu: u32,
    pub last: WaitRun,
    pub total: WaitRun,
    /// NET_RX runs deferred to ksoftirqd: in the last second and since start.
    pub ksoftirqd_last: u64,
    pub ksoftirqd_total: u64,
    /// Maximum NET_RX wait of each of the last [`SPARK_SECONDS`] seconds, oldest first.
    pub spark_wait_max_ns: VecDeque<u64>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct VectorRow {
    pub name: String,
    pub last: WaitRun,
    pub total: WaitRun,
}

/// Input for one heartbeat source, as the heartbeat analysis knows it now.
#[derive(Debug, Clone, PartialEq)]
pub struct HeartbeatSourceSnapshot {
    pub name: String,
    /// Short description: "udp :5405 from 10.0.0.2", "log /var/log/corosync.log".
    pub detail: String,
    /// `None` while the interval is still being learned.
    pub expected_interval_ns: Option<u64>,
    /// Silence that makes a gap (the expected interval × the gap factor); `None` while learning.
    pub gap_threshold_ns: Option<u64>,
    pub last_arrival_mono_ns: Option<u64>,
    /// The gap detector says a gap is open now (it decides even below the threshold, e.g. when
    /// it measures silence from an estimated onset).
    pub gap_open: bool,
    pub gaps: u64,
    /// The verdict of the latest finished gap, one line.
    pub latest_verdict: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HeartbeatLane {
    pub name: String,
    pub detail: String,
    pub status: Standing,
    /// Wall-clock time of the last arrival, "HH:MM:SS.mmm" local time.
    pub last_arrival: Option<String>,
    pub silence_ns: u64,
    pub expected_interval_ns: Option<u64>,
    pub gap_threshold_ns: Option<u64>,
    /// Silence as a fraction of the gap threshold, 0..=1 (the bar's fill).
    pub fill: f64,
    pub gaps: u64,
    pub latest_verdict: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

/// The current top finding and what to do about it.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub severity: Severity,
    pub finding: String,
    pub recommendation: String,
}

impl LiveState {
    /// The state before the first tick: header and collectors from the session's summary.
    pub fn new(summary: &RecordingSummary, recording: RecordingView) -> LiveState {
        let h = &summary.header;
        let mut s = LiveState {
            header: HeaderView {
                host: h.host.clone(),
                kernel: h.kernel_release.clone(),
                cpus: h.online_cpus.len().max(1) as u32,
                nics: h
                    .nics
                    .iter()
                    .map(|n| NicView {
                        name: n.name.clone(),
                        rx_queues: n.rx_queues,
                        tx_queues: n.tx_queues,
                    })
                    .collect(),
                recording,
                ..HeaderView::default()
            },
            ..LiveState::default()
        };
        s.update_from_summary(summary, summary.header.anchor.mono_ns);
        s
    }

    /// Since-start figures, collector states, lost events and elapsed time.
    pub fn update_from_summary(&mut self, summary: &RecordingSummary, now_mono_ns: u64) {
        self.header.elapsed_ns = now_mono_ns.saturating_sub(summary.header.anchor.mono_ns);
        self.header.lost = summary
            .lost
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(k, n)| (k.clone(), *n))
            .collect();
        self.header.lost_total = summary.total_lost();
        self.collectors = summary
            .collectors
            .values()
            .map(|c| CollectorView {
                name: c.collector.clone(),
                state: c.state,
                detail: c.detail.clone(),
            })
            .collect();
        let net_rx = net_rx_vector(summary);
        let cpus = cpu_list(summary);
        let empty = SoftirqAgg::default();
        self.softirq.has_data |= summary.latency.intervals > 0;
        for cpu in cpus {
            let total = summary.latency.cells.get(&(cpu, net_rx)).unwrap_or(&empty);
            let row = self.cpu_row(cpu);
            row.total = WaitRun::of(total);
            row.ksoftirqd_total = total.ksoftirqd_entries;
        }
        let mut by_vector = summary.latency.by_vector();
        let mut rows = Vec::new();
        for (v, agg) in by_vector.iter_mut() {
            let name = summary.vector_name(*v);
            let last = self
                .softirq
                .vectors
                .iter()
                .find(|r| r.name == name)
                .map(|r| r.last)
                .unwrap_or_default();
            rows.push(VectorRow {
                name,
                last,
                total: WaitRun::of(agg),
            });
        }
        self.softirq.vectors = rows;
    }

    /// Last-second figures from the records one session tick appended; call once per tick, after
    /// [`LiveState::update_from_summary`] (it also advances the sparklines).
    pub fn update_from_records(&mut self, summary: &RecordingSummary, records: &[Record]) {
        let Some(SoftirqSpan {
            mut net_rx_by_cpu,
            by_vector,
        }) = SoftirqSpan::of(summary, records)
        else {
            return;
        };
        self.softirq.has_data = true;
        for cpu in cpu_list(summary) {
            let agg = net_rx_by_cpu.remove(&cpu).unwrap_or_default();
            let row = self.cpu_row(cpu);
            row.last = WaitRun::of(&agg);
            row.ksoftirqd_last = agg.ksoftirqd_entries;
            push_spark(&mut row.spark_wait_max_ns, row.last.wait_max_ns);
        }
        self.softirq.spark_max_ns = self
            .softirq
            .cpus
            .iter()
            .flat_map(|c| c.spark_wait_max_ns.iter().copied())
            .max()
            .unwrap_or(0);
        for row in &mut self.softirq.vectors {
            row.last = WaitRun::default();
        }
        for (v, agg) in by_vector {
            let name = summary.vector_name(v);
            let last = WaitRun::of(&agg);
            match self.softirq.vectors.iter_mut().find(|r| r.name == name) {
                Some(r) => r.last = last,
                None => self.softirq.vectors.push(VectorRow {
                    name,
                    last,
                    total: WaitRun::default(),
                }),
            }
        }
    }

    /// Size of the recording so far.
    pub fn update_recording_bytes(&mut self, bytes: u64) {
        self.header.recording.bytes = bytes;
    }

    /// Heartbeat lanes from the heartbeat analysis: one snapshot per source at `now_mono_ns`.
    /// `anchor` turns monotonic arrivals into wall-clock times for display.
    pub fn update_from_heartbeats(
        &mut self,
        now_mono_ns: u64,
        anchor: &crate::recording::records::ClockAnchor,
        sources: &[HeartbeatSourceSnapshot],
    ) {
        self.lanes_fed = true;
        let utc = self.utc_times;
        self.lanes = sources
            .iter()
            .map(|s| {
                let (silence_ns, status) = standing(
                    now_mono_ns,
                    s.last_arrival_mono_ns,
                    s.expected_interval_ns,
                    s.gap_threshold_ns,
                    s.gap_open,
                );
                let fill = match s.gap_threshold_ns {
                    Some(t) if t > 0 => (silence_ns as f64 / t as f64).clamp(0.0, 1.0),
                    _ => 0.0,
                };
                HeartbeatLane {
                    name: s.name.clone(),
                    detail: s.detail.clone(),
                    status,
                    last_arrival: s
                        .last_arrival_mono_ns
                        .map(|t| wall_time(anchor.realtime_of(t), utc)),
                    silence_ns,
                    expected_interval_ns: s.expected_interval_ns,
                    gap_threshold_ns: s.gap_threshold_ns,
                    fill,
                    gaps: s.gaps,
                    latest_verdict: s.latest_verdict.clone(),
                }
            })
            .collect();
    }

    /// Drop rates from one interval of `interval_ns`; `heartbeat_ports` are highlighted.
    pub fn update_from_drops(
        &mut self,
        interval_ns: u64,
        samples: &[DropSample],
        heartbeat_ports: &[u16],
    ) {
        self.drops.update(interval_ns, samples, heartbeat_ports);
    }

    /// NAPI budget exhaustion per device from one interval of `interval_ns`.
    pub fn update_from_napi(&mut self, interval_ns: u64, samples: &[NapiSample]) {
        self.napi.update(interval_ns, samples);
    }

    /// The diagnosis's current top finding (`None`: nothing to report).
    pub fn update_verdict(&mut self, verdict: Option<Verdict>) {
        self.verdict = verdict;
    }

    fn cpu_row(&mut self, cpu: u32) -> &mut CpuNetRx {
        let rows = &mut self.softirq.cpus;
        let i = match rows.binary_search_by_key(&cpu, |r| r.cpu) {
            Ok(i) => i,
            Err(i) => {
                rows.insert(
                    i,
                    CpuNetRx {
                        cpu,
                        ..CpuNetRx::default()
                    },
                );
                i
            }
        };
        &mut rows[i]
    }
}

fn push_spark(spark: &mut VecDeque<u64>, v: u64) {
    if spark.len() == SPARK_SECONDS {
        spark.pop_front();
    }
    spark.push_back(v);
}

/// "HH:MM:SS.mmm" in the system time zone, or UTC.
fn wall_time(realtime_ns: i64, utc: bool) -> String {
    let tz = if utc {
        jiff::tz::TimeZone::UTC
    } else {
        jiff::tz::TimeZone::system()
    };
    jiff::Timestamp::from_nanosecond(realtime_ns as i128)
        .map(|t| t.to_zoned(tz).strftime("%H:%M:%S%.3f").to_string())
        .unwrap_or_else(|_| "?".to_owned())
}
