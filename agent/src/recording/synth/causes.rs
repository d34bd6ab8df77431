//! Deterministic synthetic recordings with heartbeat gaps of a chosen cause, as the recorder would
//! write them: a 1 s UDP heartbeat on a watched port, softirq, NAPI, drop, system and scheduling
//! and per-process CPU sample records every second, and inside each gap the traces its cause leaves. Used by the diagnosis
//! tests, the report golden files and the report timing.

use std::path::Path;

use agent_common::hist::bucket_index;

use crate::recording::{
    RecordingWriter,
    records::{
        CollectorState, CollectorStatus, CpuTaskSamples, CpuTasks, CpuTimeDelta, DropCell,
        DropInterval, NapiCell, NapiInterval, PacketTables, PortPacketEvent, PortStage, Record,
        SchedInterval, SchedTask, SoftirqCell, SoftirqInterval, SoftnetDelta, SourceDeclared,
        SourceKind, SparseHist, StopInfo, SystemSample, TaskSamples, TimedMax, UDP_RC_RCVBUF,
    },
};

pub const SEC: u64 = 1_000_000_000;
pub const MS: u64 = 1_000_000;
pub const START: u64 = super::one_gap::START_MONO_NS;
pub const PORT: u16 = 5405;
const UDP: u8 = 17;
const NET_RX: u8 = 3;
/// Drop reason numbers in the synthetic name table.
pub const R_NETFILTER: u32 = 3;
pub const R_BACKLOG: u32 = 61;
pub const R_NO_SOCKET: u32 = 2;

/// What happens to the heartbeats during a gap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// The socket buffer is full: packets are refused by UDP (-ENOMEM).
    RcvbufOverflow,
    /// The per-CPU backlog is full: packets dropped with CPU_BACKLOG.
    BacklogOverflow,
    /// NET_RX runs seconds late on CPU 0, then delivers the held packets at once.
    SoftirqDelay,
    /// The NIC misses frames: nothing reaches the kernel, ethtool rx_missed_errors grows.
    NicRing,
    /// A netfilter rule drops them.
    Netfilter,
    /// The receiver is stopped: packets queue, nobody reads, then all are read at once.
    AppStall,
    /// The VM is paused: nothing happens, steal time covers the gap.
    VmPause,
    /// The peer stops sending: nothing arrives and nothing here is wrong.
    PeerStopped,
    /// The receiver stalls while another, unrelated socket overflows on the host.
    AppStallWithHostNoise,
}

/// One gap of `len_s` seconds starting `at_s` seconds into the recording.
#[derive(Debug, Clone, Copy)]
pub struct GapSpec {
    pub at_s: u64,
    pub len_s: u64,
    pub scenario: Scenario,
}

fn hist(values: &[u64]) -> (SparseHist, u64) {
    let mut m = std::collections::BTreeMap::<u16, u64>::new();
    for &v in values {
        *m.entry(bucket_index(v) as u16).or_default() += 1;
    }
    (SparseHist(m.into_iter().collect()), values.iter().sum())
}

fn port(t: u64, stage: PortStage, code: i32) -> Record {
    Record::PortPacket(PortPacketEvent {
        mono_ns: t,
        stage,
        cpu: 0,
        proto: UDP,
        local_port: PORT,
        peer: Some("10.0.0.2:40000".into()),
        ifindex: 2,
        netns: 0,
        len: 64,
        code,
    })
}

fn head() -> Vec<Record> {
    let mut v: Vec<Record> = ["softirq", "portwatch", "drops", "napi", "sched", "system"]
        .iter()
        .map(|c| {
            Record::Collector(CollectorStatus {
                at_mono_ns: START,
                collector: (*c).into(),
                state: CollectorState::Running,
                detail: "synthetic".into(),
            })
        })
        .collect();
    v.push(Record::PacketTables(PacketTables {
        drop_reasons: vec![
            (R_NO_SOCKET, "NO_SOCKET".into()),
            (R_NETFILTER, "NETFILTER_DROP".into()),
            (R_BACKLOG, "CPU_BACKLOG".into()),
        ],
        interfaces: vec![(1, "lo".into()), (2, "eth0".into())],
        host_netns: 0,
        irq_lines: Vec::new(),
    }));
    v.push(Record::HeartbeatSource(SourceDeclared {
        at_mono_ns: START,
        source: 0,
        spec: format!("udp:{PORT}"),
        kind: SourceKind::PassiveUdp,
        preset: None,
        expected_interval_ns: Some(SEC),
        gap_factor: 2.0,
        preset_interval_ns: None,
    }));
    v
}

/// The records of a recording `seconds` long with `gaps`.
pub fn records(seconds: u64, gaps: &[GapSpec]) -> Vec<Record> {
    let mut v = head();
    let gap_at = |s: u64| gaps.iter().find(|g| s >= g.at_s && s < g.at_s + g.len_s);
    for s in 0..seconds {
        let t0 = START + s * SEC;
        let g = gap_at(s);
        let sc = g.map(|g| g.scenario);
        let last_of_gap = g.is_some_and(|g| s + 1 == g.at_s + g.len_s);
        second(&mut v, t0, sc, last_of_gap, g.map_or(0, |g| g.len_s));
    }
    v.push(Record::Stop(StopInfo {
        at_mono_ns: START + seconds * SEC,
        reason: "duration reached".into(),
    }));
    v
}

/// One second of records starting at `t0`.
fn second(v: &mut Vec<Record>, t0: u64, sc: Option<Scenario>, last: bool, len_s: u64) {
    use Scenario::*;
    let hb = t0 + 500 * MS;
    // The heartbeat packet of this second.
    match sc {
        None => {
            v.push(port(hb, PortStage::Seen, 0));
            v.push(port(hb + 20_000, PortStage::Queued, 0));
            v.push(port(hb + 60_000, PortStage::Read, 0));
        }
        Some(RcvbufOverflow) => {
            v.push(port(hb, PortStage::Seen, 0));
            v.push(port(hb + 20_000, PortStage::QueueFailed, UDP_RC_RCVBUF));
        }
        Some(BacklogOverflow) => {
            v.push(port(hb, PortStage::Seen, 0));
            v.push(port(hb + 10_000, PortStage::Dropped, R_BACKLOG as i32));
        }
        Some(Netfilter) => {
            v.push(port(hb, PortStage::Seen, 0));
            v.push(port(hb + 30_000, PortStage::Dropped, R_NETFILTER as i32));
        }
        Some(AppStall | AppStallWithHostNoise) => {
            v.push(port(hb, PortStage::Seen, 0));
            v.push(port(hb + 20_000, PortStage::Queued, 0));
        }
        Some(SoftirqDelay) if last => {
            // The held packets are delivered together when NET_RX finally runs.
            for k in 0..len_s {
                v.push(port(hb + k * 1000, PortStage::Seen, 0));
                v.push(port(hb + k * 1000 + 200, PortStage::Queued, 0));
                v.push(port(hb + k * 1000 + 400, PortStage::Read, 0));
            }
        }
        Some(SoftirqDelay | NicRing | VmPause | PeerStopped) => {}
    }
    // NET_RX softirq on both CPUs.
    let delayed = sc == Some(SoftirqDelay);
    for cpu in 0..2u32 {
        let mut waits = vec![8_000u64, 12_000, 15_000, 20_000, 25_000];
        let mut ksoft = 0;
        if delayed && cpu == 0 {
            waits.push(if last { 900 * MS } else { 1_000 * MS });
            ksoft = 40;
        }
        let (wait_hist, wait_sum) = hist(&waits);
        // One run per entry, as the recorder times them (fewer would read as sampled).
        let runs: Vec<u64> = [5_000, 6_000, 7_000, 8_000, 30_000]
            .into_iter()
            .cycle()
            .take(waits.len())
            .collect();
        let (run_hist, run_sum) = hist(&runs);
        let wmax = *waits.iter().max().unwrap_or(&0);
        v.push(Record::Softirq(SoftirqInterval {
            start_mono_ns: t0,
            end_mono_ns: t0 + SEC,
            cells: vec![SoftirqCell {
                cpu,
                vector: NET_RX,
                entries: waits.len() as u64,
                ksoftirqd_entries: ksoft,
                raises: waits.len() as u64,
                wait_unknown: 0,
                wait_sum_ns: wait_sum,
                run_sum_ns: run_sum,
                wait_max: Some(TimedMax {
                    value_ns: wmax,
                    at_mono_ns: t0 + 400 * MS,
                }),
                run_max: Some(TimedMax {
                    value_ns: 30_000,
                    at_mono_ns: t0 + 300 * MS,
                }),
                wait_hist,
                run_hist,
            }],
        }));
    }
    v.push(Record::Napi(NapiInterval {
        start_mono_ns: t0,
        end_mono_ns: t0 + SEC,
        cells: vec![NapiCell {
            ifindex: 2,
            netns: 0,
            napi_id: 8193,
            cpu: 0,
            polls: 10,
            work: 12,
            full_budget: if delayed { 30 } else { 0 },
            timed_polls: 10,
            time_sum_ns: 100_000,
            time_max: None,
        }],
    }));
    let mut drops = DropInterval {
        start_mono_ns: t0,
        end_mono_ns: t0 + SEC,
        // Background noise: a stray packet to a closed port now and then.
        cells: vec![drop_cell(R_NO_SOCKET, 1)],
        ..DropInterval::default()
    };
    match sc {
        Some(BacklogOverflow) => drops.cells.push(drop_cell(R_BACKLOG, 250)),
        Some(Netfilter) => drops.cells.push(drop_cell(R_NETFILTER, 1)),
        _ => {}
    }
    v.push(Record::Drops(drops));
    let mut sys = SystemSample {
        start_mono_ns: t0,
        end_mono_ns: t0 + SEC,
        softnet: vec![SoftnetDelta {
            cpu: 0,
            processed: 40,
            ..SoftnetDelta::default()
        }],
        cpu_time: (0..2)
            .map(|cpu| CpuTimeDelta {
                cpu,
                total_ns: SEC,
                steal_ns: if sc == Some(VmPause) { 950 * MS } else { 0 },
                ..CpuTimeDelta::default()
            })
            .collect(),
        ..SystemSample::default()
    };
    match sc {
        Some(RcvbufOverflow) => sys.snmp.push(("Udp.RcvbufErrors".into(), 1)),
        Some(AppStallWithHostNoise) => sys.snmp.push(("Udp.RcvbufErrors".into(), 3)),
        Some(BacklogOverflow) => sys.softnet[0].dropped = 250,
        Some(SoftirqDelay) => sys.softnet[0].time_squeeze = 12,
        Some(NicRing) => sys
            .ethtool
            .push(("eth0".into(), "rx_missed_errors".into(), 500)),
        _ => {}
    }
    v.push(Record::System(sys));
    let stalled = matches!(
        sc,
        Some(Scenario::AppStall | Scenario::AppStallWithHostNoise)
    );
    // Counts, sums, maxima and histograms from the same samples, as the kernel side keeps them.
    let runq = [5_000, 8_000, 12_000, 15_000];
    let off = [
        if stalled { SEC } else { 300 * MS },
        250 * MS,
        200 * MS,
        150 * MS,
    ];
    let (runq_hist, runq_sum_ns) = hist(&runq);
    let (offcpu_hist, offcpu_sum_ns) = hist(&off);
    v.push(Record::Sched(SchedInterval {
        start_mono_ns: t0,
        end_mono_ns: t0 + SEC,
        tasks: vec![SchedTask {
            tid: 4242,
            tgid: 4242,
            comm: "corosync".into(),
            runq_count: runq.len() as u64,
            runq_sum_ns,
            runq_max: Some(TimedMax {
                value_ns: 15_000,
                at_mono_ns: t0 + 100 * MS,
            }),
            runq_hist,
            offcpu_count: off.len() as u64,
            offcpu_sum_ns,
            offcpu_max: Some(TimedMax {
                value_ns: off[0],
                at_mono_ns: t0 + 200 * MS,
            }),
            offcpu_hist,
        }],
    }));
    v.push(cpu_tasks(t0, sc));
}

fn task(tgid: u32, comm: &str, kernel_thread: bool, samples: u64, softirq: u64) -> TaskSamples {
    TaskSamples {
        tgid,
        comm: comm.into(),
        kernel_thread,
        samples,
        softirq,
    }
}

/// Who ran on each CPU (99 samples per CPU per second): mostly idle; during a softirq delay a
/// batch job holds CPU 0, during a backlog overflow ksoftirqd does.
fn cpu_tasks(t0: u64, sc: Option<Scenario>) -> Record {
    let cpu0 = match sc {
        Some(Scenario::SoftirqDelay) => CpuTasks {
            cpu: 0,
            samples: 99,
            idle: 0,
            top: vec![
                task(7777, "backup", false, 90, 6),
                task(4242, "corosync", false, 5, 0),
                task(15, "ksoftirqd/0", true, 3, 3),
            ],
            others: 1,
            others_softirq: 0,
        },
        Some(Scenario::BacklogOverflow) => CpuTasks {
            cpu: 0,
            samples: 99,
            idle: 9,
            top: vec![
                task(15, "ksoftirqd/0", true, 85, 85),
                task(4242, "corosync", false, 5, 0),
            ],
            others: 0,
            others_softirq: 0,
        },
        _ => CpuTasks {
            cpu: 0,
            samples: 99,
            idle: 90,
            top: vec![task(4242, "corosync", false, 5, 0)],
            others: 4,
            others_softirq: 1,
        },
    };
    let cpu1 = CpuTasks {
        cpu: 1,
        samples: 99,
        idle: 95,
        top: vec![task(1, "systemd", false, 2, 0)],
        others: 2,
        others_softirq: 0,
    };
    Record::CpuTasks(CpuTaskSamples {
        start_mono_ns: t0,
        end_mono_ns: t0 + SEC,
        rate_hz: 99,
        cpus: vec![cpu0, cpu1],
        uncounted: 0,
    })
}

fn drop_cell(reason: u32, count: u64) -> DropCell {
    DropCell {
        reason,
        ifindex: 2,
        netns: 0,
        rx_queue: Some(0),
        protocol: 0x0800,
        cpu: 0,
        count,
    }
}

/// Writes a recording with `gaps` to `path` through the real writer.
pub fn write(path: &Path, seconds: u64, gaps: &[GapSpec]) -> anyhow::Result<()> {
    let mut w = RecordingWriter::create(path, false, &super::one_gap::header())?;
    for r in records(seconds, gaps) {
        w.push(&r)?;
    }
    w.flush()?;
    Ok(())
}
