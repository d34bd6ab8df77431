//! The record families of a synthetic host besides softirq intervals, as the real recorder writes
//! them each second: a UDP heartbeat on a watched port (with gaps), drops, NAPI, hard IRQs, kernel
//! counters, scheduling delay of the heartbeat daemon, kernel stacks and CPU users.

use super::{Rng, START_MONO_NS, SynthHost};
use crate::recording::records::{
    CollectorState, CollectorStatus, CpuTaskSamples, CpuTasks, CpuTimeDelta, DropCell,
    DropInterval, FoldedStack, HardirqCell, HardirqInterval, NapiCell, NapiInterval, NetdevDelta,
    PacketTables, PortPacketEvent, PortStage, Record, SchedInterval, SchedTask, SoftnetDelta,
    SourceDeclared, SourceKind, SparseHist, StackContext, StackSamples, SystemSample, TaskSamples,
    TimedMax,
};

const SEC: u64 = 1_000_000_000;
/// The heartbeat: UDP port 5405 (corosync's), one packet a second, handled on CPU 0.
const PORT: u16 = 5405;
const UDP: u8 = 17;
/// A heartbeat gap of `GAP_LEN_S` seconds every `GAP_EVERY_S` seconds: NET_RX on CPU 0 falls
/// behind a batch job and the backlog overflows.
pub const GAP_EVERY_S: u64 = 600;
pub const GAP_LEN_S: u64 = 5;
const R_NO_SOCKET: u32 = 2;
const R_BACKLOG: u32 = 61;
const FIRST_IRQ: u32 = 100;

/// Whether second `s` falls in a heartbeat gap.
pub fn in_gap(s: u64) -> bool {
    s % GAP_EVERY_S >= GAP_EVERY_S - GAP_LEN_S - 10 && s % GAP_EVERY_S < GAP_EVERY_S - 10
}

/// Written once at the start: collector states, name tables, the heartbeat source.
pub fn preamble() -> Vec<Record> {
    let mut v: Vec<Record> = [
        "softirq",
        "portwatch",
        "drops",
        "napi",
        "hardirq",
        "sched",
        "stacks",
        "system",
    ]
    .iter()
    .map(|c| {
        Record::Collector(CollectorStatus {
            at_mono_ns: START_MONO_NS,
            collector: (*c).into(),
            state: CollectorState::Running,
            detail: "synthetic".into(),
        })
    })
    .collect();
    v.push(Record::PacketTables(PacketTables {
        drop_reasons: vec![
            (R_NO_SOCKET, "NO_SOCKET".into()),
            (R_BACKLOG, "CPU_BACKLOG".into()),
        ],
        interfaces: vec![(1, "lo".into()), (2, "eth0".into())],
        host_netns: 0,
        irq_lines: Vec::new(),
    }));
    v.push(Record::HeartbeatSource(SourceDeclared {
        at_mono_ns: START_MONO_NS,
        source: 0,
        spec: format!("udp:{PORT}@1s"),
        kind: SourceKind::PassiveUdp,
        preset: None,
        expected_interval_ns: Some(SEC),
        gap_factor: 2.0,
        preset_interval_ns: None,
    }));
    v
}

fn port(t: u64, stage: PortStage, code: i32) -> Record {
    Record::PortPacket(PortPacketEvent {
        mono_ns: t,
        stage,
        cpu: 0,
        proto: UDP,
        local_port: PORT,
        peer: Some("10.0.0.2:5405".into()),
        ifindex: 2,
        netns: 0,
        len: 120,
        code,
    })
}

fn queue_cpus(h: &SynthHost) -> Vec<u32> {
    let q = h.queues.max(1);
    (0..q).map(|i| i * h.cpus / q).collect()
}

/// Everything but the softirq interval for second `s`.
pub fn second(h: &SynthHost, rng: &mut Rng, s: u64) -> Vec<Record> {
    let t0 = START_MONO_NS + s * SEC;
    let (t1, gap) = (t0 + SEC, in_gap(s));
    let hb = t0 + rng.range(400, 600) * 1_000_000;
    let mut v = if gap {
        vec![
            port(hb, PortStage::Seen, 0),
            port(hb + 8_000, PortStage::Dropped, R_BACKLOG as i32),
        ]
    } else {
        vec![
            port(hb, PortStage::Seen, 0),
            port(hb + 20_000, PortStage::Queued, 0),
            port(hb + rng.range(40_000, 200_000), PortStage::Read, 0),
        ]
    };
    let qcpus = queue_cpus(h);
    let mut drops = vec![DropCell {
        reason: R_NO_SOCKET,
        ifindex: 2,
        netns: 0,
        rx_queue: Some(0),
        protocol: 0x0800,
        cpu: qcpus[rng.range(0, qcpus.len() as u64) as usize],
        count: rng.range(1, 20),
    }];
    if gap {
        drops.push(DropCell {
            reason: R_BACKLOG,
            cpu: 0,
            count: rng.range(200, 2_000),
            ..drops[0].clone()
        });
    }
    v.push(Record::Drops(DropInterval {
        start_mono_ns: t0,
        end_mono_ns: t1,
        cells: drops,
        ..DropInterval::default()
    }));
    v.push(Record::Napi(NapiInterval {
        start_mono_ns: t0,
        end_mono_ns: t1,
        cells: qcpus
            .iter()
            .enumerate()
            .map(|(q, &cpu)| {
                let polls = rng.range(500, 5_000);
                NapiCell {
                    ifindex: 2,
                    netns: 0,
                    napi_id: 8192 + q as u32,
                    cpu,
                    polls,
                    work: polls * rng.range(1, 8),
                    full_budget: if gap && cpu == 0 {
                        rng.range(50, 500)
                    } else {
                        rng.range(0, 3)
                    },
                    timed_polls: polls,
                    time_sum_ns: polls * rng.range(2_000, 20_000),
                    time_max: Some(TimedMax {
                        value_ns: rng.range(50_000, 500_000),
                        at_mono_ns: t0 + rng.range(0, SEC),
                    }),
                }
            })
            .collect(),
    }));
    v.push(Record::Hardirq(HardirqInterval {
        start_mono_ns: t0,
        end_mono_ns: t1,
        cells: qcpus
            .iter()
            .enumerate()
            .map(|(q, &cpu)| {
                let count = rng.range(500, 5_000);
                HardirqCell {
                    irq: FIRST_IRQ + q as u32,
                    cpu,
                    count,
                    time_sum_ns: count * rng.range(1_000, 4_000),
                    time_max: Some(TimedMax {
                        value_ns: rng.range(5_000, 50_000),
                        at_mono_ns: t0 + rng.range(0, SEC),
                    }),
                }
            })
            .collect(),
    }));
    v.push(system(h, rng, t0, gap, &qcpus));
    v.push(sched(rng, t0));
    v.push(stacks(rng, t0, gap));
    // The batch job starts a few seconds before the heartbeats are lost.
    v.push(cpu_tasks(h, rng, t0, gap || in_gap(s + 3)));
    v
}

fn system(h: &SynthHost, rng: &mut Rng, t0: u64, gap: bool, qcpus: &[u32]) -> Record {
    let rx: u64 = rng.range(20_000, 200_000);
    Record::System(SystemSample {
        start_mono_ns: t0,
        end_mono_ns: t0 + SEC,
        softnet: qcpus
            .iter()
            .map(|&cpu| SoftnetDelta {
                cpu,
                processed: rng.range(2_000, 30_000),
                dropped: if gap && cpu == 0 {
                    rng.range(200, 2_000)
                } else {
                    0
                },
                time_squeeze: if gap && cpu == 0 {
                    rng.range(10, 100)
                } else {
                    0
                },
                ..SoftnetDelta::default()
            })
            .collect(),
        softirqs: Vec::new(),
        interrupts: qcpus
            .iter()
            .enumerate()
            .map(|(q, &cpu)| (FIRST_IRQ + q as u32, cpu, rng.range(500, 5_000)))
            .collect(),
        cpu_time: (0..h.cpus)
            .map(|cpu| CpuTimeDelta {
                cpu,
                irq_ns: rng.range(0, 5_000_000),
                softirq_ns: rng.range(0, 50_000_000),
                steal_ns: 0,
                total_ns: SEC,
            })
            .collect(),
        psi_cpu_some_us: Some(rng.range(0, 20_000)),
        psi_cpu_full_us: Some(0),
        snmp: vec![
            ("Udp.InDatagrams".into(), rng.range(1_000, 10_000)),
            ("Udp.OutDatagrams".into(), rng.range(1_000, 10_000)),
        ],
        udp_sockets: Vec::new(),
        netdev: vec![NetdevDelta {
            iface: "eth0".into(),
            rx_packets: rx,
            rx_bytes: rx * 800,
            tx_packets: rx / 2,
            tx_bytes: rx * 300,
            ..NetdevDelta::default()
        }],
        ethtool: Vec::new(),
    })
}

fn sched(rng: &mut Rng, t0: u64) -> Record {
    let hist = |rng: &mut Rng| SparseHist(vec![(20, rng.range(1, 10)), (24, rng.range(0, 3))]);
    Record::Sched(SchedInterval {
        start_mono_ns: t0,
        end_mono_ns: t0 + SEC,
        tasks: vec![SchedTask {
            tid: 4242,
            tgid: 4242,
            comm: "corosync".into(),
            runq_count: rng.range(4, 12),
            runq_sum_ns: rng.range(20_000, 200_000),
            runq_max: Some(TimedMax {
                value_ns: rng.range(5_000, 80_000),
                at_mono_ns: t0 + rng.range(0, SEC),
            }),
            runq_hist: hist(rng),
            offcpu_count: rng.range(4, 12),
            offcpu_sum_ns: rng.range(800_000_000, 990_000_000),
            offcpu_max: Some(TimedMax {
                value_ns: rng.range(200_000_000, 400_000_000),
                at_mono_ns: t0 + rng.range(0, SEC),
            }),
            offcpu_hist: hist(rng),
        }],
    })
}

/// Kernel stacks in softirq context: a handful of receive paths.
fn stacks(rng: &mut Rng, t0: u64, gap: bool) -> Record {
    const FRAMES: [&str; 5] = [
        "net_rx_action;__napi_poll;mlx5e_napi_poll;mlx5e_poll_rx_cq;napi_gro_receive",
        "net_rx_action;__napi_poll;mlx5e_napi_poll;napi_complete_done;netif_receive_skb_list_internal",
        "net_rx_action;__napi_poll;process_backlog;__netif_receive_skb;ip_rcv;udp_rcv",
        "run_timer_softirq;call_timer_fn;tcp_delack_timer",
        "rcu_core;rcu_do_batch;kmem_cache_free",
    ];
    let prefix =
        "ret_from_fork_asm;ret_from_fork;kthread;smpboot_thread_fn;run_ksoftirqd;handle_softirqs;";
    let mut stacks = Vec::new();
    for f in FRAMES {
        if !rng.next().is_multiple_of(3) {
            stacks.push(FoldedStack {
                context: StackContext::Softirq,
                folded: format!("{prefix}{f}"),
                count: rng.range(1, if gap { 60 } else { 6 }),
            });
        }
    }
    Record::Stacks(StackSamples {
        start_mono_ns: t0,
        end_mono_ns: t0 + SEC,
        rate_hz: 99,
        all_stacks: false,
        samples: 99 * 64,
        dropped: 0,
        stacks,
    })
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

/// Top CPU users per CPU: an application spread over the CPUs, a batch job that takes CPU 0
/// around gaps, kernel threads now and then; idle CPUs are left out as the recorder does.
fn cpu_tasks(h: &SynthHost, rng: &mut Rng, t0: u64, batch: bool) -> Record {
    let mut cpus = Vec::new();
    for cpu in 0..h.cpus {
        let busy = rng.range(0, 99);
        if busy == 0 {
            continue;
        }
        let mut top = vec![task(3000 + cpu % 16, "java", false, busy * 6 / 10, 0)];
        if rng.next().is_multiple_of(3) {
            top.push(task(
                10 + cpu * 8,
                &format!("ksoftirqd/{cpu}"),
                true,
                busy / 10,
                busy / 10,
            ));
        }
        if cpu == 0 {
            top.push(task(4242, "corosync", false, 2, 0));
        }
        let mut idle = 99 - busy;
        if batch && cpu == 0 {
            // The batch job takes the CPU from the idle task and from the application.
            top.insert(0, task(7777, "backup", false, 80, 6));
            top[1].samples = top[1].samples.min(busy.saturating_sub(80).max(5));
            idle = 99u64.saturating_sub(top.iter().map(|t| t.samples).sum::<u64>());
        }
        let samples = 99;
        top.truncate(crate::recording::records::TOP_TASKS_PER_CPU);
        let shown: u64 = top.iter().map(|t| t.samples).sum();
        cpus.push(CpuTasks {
            cpu,
            samples,
            idle,
            others: samples.saturating_sub(idle + shown),
            others_softirq: 0,
            top,
        });
    }
    Record::CpuTasks(CpuTaskSamples {
        start_mono_ns: t0,
        end_mono_ns: t0 + SEC,
        rate_hz: 99,
        cpus,
        uncounted: 0,
    })
}

#[cfg(test)]
mod tests {
    use crate::{
        analysis::{RecordingSummary, diagnosis::DiagnosisFold},
        recording::{RecordingReader, synth},
    };

    /// The synthetic hour exercises the diagnosis as a real one would: a gap every ten minutes,
    /// judged from the drops, with the CPU users of the heartbeat CPU measured.
    #[test]
    fn synthetic_gaps_are_found_and_judged_in_two_passes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("s.hbw");
        let h = synth::SynthHost {
            cpus: 4,
            queues: 2,
            seconds: 2 * super::GAP_EVERY_S,
            seed: 3,
        };
        synth::write(&path, &h).expect("write");
        let mut r = RecordingReader::open(&path).expect("open");
        let mut s = RecordingSummary::new(r.header().clone(), r.version());
        for x in r.by_ref() {
            s.add(&x);
        }
        r.rewind();
        let mut f = DiagnosisFold::new(&s);
        for x in r {
            f.add(&x);
        }
        let d = f.finish();
        assert_eq!(d.gaps.len(), 2, "{:?}", d.gaps);
        assert_eq!(d.rx_cpus, vec![0]);
        for g in &d.gaps {
            assert_eq!(
                g.verdict().cause,
                crate::analysis::diagnosis::Cause::CpuBacklogOverflow
            );
            let users = g.evidence.nic_cpu_users.as_ref().expect("measured");
            assert_eq!(users[0].top[0].comm, "backup", "{users:?}");
            assert!(
                g.recommendations
                    .iter()
                    .any(|r| r.id == "move-task-off-nic-cpus" && r.subject == "backup"),
                "{:?}",
                g.recommendations.iter().map(|r| &r.id).collect::<Vec<_>>()
            );
        }
    }
}
