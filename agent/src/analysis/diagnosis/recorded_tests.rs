//! Synthetic recordings (records as the recorder writes them) through the evidence builder and
//! the rules: one per cause and mixed ones, each with its expected verdict.

use super::{Cause, diagnose};
use crate::{
    analysis::RecordingSummary,
    recording::synth::causes::{self as fixtures, GapSpec, Scenario, records},
};

fn diagnosed(gaps: &[GapSpec]) -> super::Diagnosis {
    let recs = records(60, gaps);
    let s = RecordingSummary::from_records(
        crate::recording::synth::one_gap::header(),
        (1, 1),
        recs.clone(),
    );
    diagnose(&s, &recs)
}

fn verdicts(sc: Scenario) -> Vec<Cause> {
    let d = diagnosed(&[GapSpec {
        at_s: 20,
        len_s: 4,
        scenario: sc,
    }]);
    d.gaps.iter().map(|g| g.findings[0].cause).collect()
}

#[test]
fn each_cause_is_the_verdict_of_its_recording() {
    for (sc, want) in [
        (Scenario::RcvbufOverflow, Cause::SocketRcvbufOverflow),
        (Scenario::BacklogOverflow, Cause::CpuBacklogOverflow),
        (Scenario::SoftirqDelay, Cause::SoftirqDelay),
        (Scenario::NicRing, Cause::NicRingOverflow),
        (Scenario::Netfilter, Cause::NetfilterDrop),
        (Scenario::AppStall, Cause::AppStall),
        (Scenario::VmPause, Cause::VmPause),
        (Scenario::PeerStopped, Cause::PeerOrUpstream),
        (Scenario::AppStallWithHostNoise, Cause::AppStall),
    ] {
        assert_eq!(verdicts(sc), vec![want], "{sc:?}");
    }
}

#[test]
fn mixed_recording_judges_each_gap_on_its_own_window() {
    let d = diagnosed(&[
        GapSpec {
            at_s: 10,
            len_s: 3,
            scenario: Scenario::Netfilter,
        },
        GapSpec {
            at_s: 30,
            len_s: 5,
            scenario: Scenario::AppStall,
        },
        GapSpec {
            at_s: 45,
            len_s: 4,
            scenario: Scenario::RcvbufOverflow,
        },
    ]);
    let got: Vec<(u32, Cause)> = d
        .gaps
        .iter()
        .map(|g| (g.number, g.findings[0].cause))
        .collect();
    assert_eq!(
        got,
        vec![
            (1, Cause::NetfilterDrop),
            (2, Cause::AppStall),
            (3, Cause::SocketRcvbufOverflow)
        ]
    );
    // The stall is never blamed on the network, nor the drops on the application.
    let stall = &d.gaps[1];
    assert!(
        stall
            .findings
            .iter()
            .all(|f| !f.cause.is_network() || f.confidence < 0.4)
    );
    let nf = &d.gaps[0];
    assert!(
        nf.findings
            .iter()
            .all(|f| f.cause != Cause::AppStall || f.confidence < 0.4)
    );
    assert_eq!(
        nf.evidence.flow.as_ref().map(|f| f.dropped_total()),
        Some(3)
    );
    assert!(
        nf.recommendations
            .iter()
            .any(|r| r.id == "netfilter-inspect")
    );
    assert!(stall.recommendations.iter().any(|r| r.id == "app-stall"));
}

#[test]
fn baseline_and_window_are_separated() {
    let d = diagnosed(&[GapSpec {
        at_s: 20,
        len_s: 4,
        scenario: Scenario::SoftirqDelay,
    }]);
    let e = &d.gaps[0].evidence;
    let cpu0 = e.net_rx.iter().find(|c| c.cpu == 0).expect("cpu 0");
    assert!(cpu0.handles_heartbeat_rx);
    assert!(cpu0.window_wait_max_ns >= 900_000_000, "{cpu0:?}");
    assert!(cpu0.baseline_wait_p99_ns < 100_000, "{cpu0:?}");
    assert!(e.time_squeeze.window > 0 && e.time_squeeze.baseline_per_s == 0.0);
    assert_eq!(d.rx_cpus, vec![0]);
}

#[test]
fn quiet_recording_has_no_gaps_and_says_so() {
    let d = diagnosed(&[]);
    assert!(d.gaps.is_empty());
    assert_eq!(d.timeout_advice.len(), 1);
    assert!(
        d.timeout_advice[0].1.text.contains("no change needed"),
        "{:?}",
        d.timeout_advice
    );
}

#[test]
fn without_port_events_rx_cpus_come_from_queue_interrupts() {
    use crate::recording::records::{
        HostConfig, IrqKind, NicConfig, NicIrq, Record, RxQueue, SystemSample,
    };
    let recs = vec![
        Record::HostConfig(HostConfig {
            nics: vec![NicConfig {
                name: "eth0".into(),
                rx_queues: vec![RxQueue {
                    index: 0,
                    rps_cpus: Vec::new(),
                    rps_flow_cnt: 0,
                }],
                irqs: vec![
                    NicIrq {
                        irq: 30,
                        name: "virtio0-input.0".into(),
                        kind: IrqKind::Rx,
                        ..NicIrq::default()
                    },
                    NicIrq {
                        irq: 31,
                        name: "virtio0-config".into(),
                        kind: IrqKind::Other,
                        ..NicIrq::default()
                    },
                ],
                ..NicConfig::default()
            }],
            ..HostConfig::default()
        }),
        Record::System(SystemSample {
            interrupts: vec![(30, 1, 500), (31, 0, 3), (30, 0, 0)],
            ..SystemSample::default()
        }),
    ];
    let s = RecordingSummary::from_records(
        crate::recording::synth::one_gap::header(),
        (1, 1),
        recs.clone(),
    );
    let cpus: Vec<u32> = super::build::rx_cpus(&s, &recs, &[]).into_iter().collect();
    assert_eq!(cpus, vec![1]);
}

#[test]
fn a_user_task_holding_the_nic_cpu_is_named_and_moved() {
    let d = diagnosed(&[GapSpec {
        at_s: 20,
        len_s: 4,
        scenario: Scenario::SoftirqDelay,
    }]);
    let g = &d.gaps[0];
    let users = g.evidence.nic_cpu_users.as_ref().expect("measured");
    // The heartbeat packets are seen on CPU 0 only.
    assert_eq!(users.iter().map(|u| u.cpu).collect::<Vec<_>>(), vec![0]);
    let top = &users[0].top[0];
    assert_eq!((top.comm.as_str(), top.tgid), ("backup", 7777));
    assert!(top.window_share > 0.6, "{}", top.window_share);
    assert!(top.baseline_share < 0.05, "{}", top.baseline_share);
    assert!(
        g.findings[0]
            .evidence
            .iter()
            .any(|e| e.contains("held by backup (PID 7777)")),
        "{:?}",
        g.findings[0].evidence
    );
    let r = g
        .recommendations
        .iter()
        .find(|r| r.id == "move-task-off-nic-cpus")
        .expect("the task is moved");
    assert_eq!(r.subject, "backup");
    assert_eq!(
        r.apply[0],
        "taskset -apc 1 7777   # every thread of backup to CPU 1"
    );
    assert!(
        r.persist[0].content.starts_with("CPUAffinity=1 "),
        "{:?}",
        r.persist
    );
    assert!(g.recommendations.iter().all(|r| r.id != "app-off-nic-cpus"));
}

#[test]
fn a_kernel_thread_on_the_nic_cpu_is_shown_but_not_moved() {
    let d = diagnosed(&[GapSpec {
        at_s: 20,
        len_s: 4,
        scenario: Scenario::BacklogOverflow,
    }]);
    let g = &d.gaps[0];
    assert_eq!(g.findings[0].cause, Cause::CpuBacklogOverflow);
    let users = g.evidence.nic_cpu_users.as_ref().expect("measured");
    assert!(users[0].top[0].kernel_thread);
    assert!(g.evidence.dominant_user().is_none());
    assert!(
        g.recommendations
            .iter()
            .all(|r| r.id != "move-task-off-nic-cpus")
    );
}

#[test]
fn without_per_process_samples_cpu_users_are_not_measured() {
    let recs: Vec<_> = records(
        60,
        &[GapSpec {
            at_s: 20,
            len_s: 4,
            scenario: Scenario::SoftirqDelay,
        }],
    )
    .into_iter()
    .filter(|r| !matches!(r, crate::recording::records::Record::CpuTasks(_)))
    .collect();
    let s = RecordingSummary::from_records(
        crate::recording::synth::one_gap::header(),
        (1, 1),
        recs.clone(),
    );
    let d = diagnose(&s, &recs);
    let g = &d.gaps[0];
    assert!(g.evidence.nic_cpu_users.is_none());
    assert_eq!(
        crate::output::report::cpu_users::lines(&g.evidence),
        vec![crate::output::report::cpu_users::NOT_MEASURED.to_owned()]
    );
    // The generic advice stays.
    assert!(g.recommendations.iter().any(|r| r.id == "app-off-nic-cpus"));
}

#[test]
fn the_busy_task_is_not_moved_onto_a_pinned_heartbeat_process() {
    use crate::recording::records::{Record, TaskAffinity};
    let mut recs = records(
        60,
        &[GapSpec {
            at_s: 20,
            len_s: 4,
            scenario: Scenario::SoftirqDelay,
        }],
    );
    recs.push(Record::TaskAffinity(TaskAffinity {
        at_mono_ns: fixtures::START,
        tgid: 4242,
        comm: "corosync".into(),
        cpus_allowed: vec![1],
    }));
    let mut s = RecordingSummary::from_records(
        crate::recording::synth::one_gap::header(),
        (1, 2),
        recs.clone(),
    );
    s.header.online_cpus = vec![0, 1, 2, 3];
    let d = diagnose(&s, &recs);
    let r = d.gaps[0]
        .recommendations
        .iter()
        .find(|r| r.id == "move-task-off-nic-cpus")
        .expect("the task is moved");
    assert_eq!(
        r.apply[0],
        "taskset -apc 2-3 7777   # every thread of backup to CPU 2-3"
    );
    assert!(
        r.evidence.iter().any(|e| e.what
            == "heartbeat process corosync (PID 4242) pinned to CPU 1"
            && e.value == "left out of the target CPUs"),
        "{:?}",
        r.evidence
    );
}

/// The sched table (the summary's per-thread distribution) and the app-stall recommendation read
/// the same records and must cite the same longest off-CPU stretch.
#[test]
fn sched_table_and_app_stall_advice_agree() {
    let gaps = [GapSpec {
        at_s: 20,
        len_s: 4,
        scenario: Scenario::AppStall,
    }];
    let recs = records(60, &gaps);
    let s = RecordingSummary::from_records(
        crate::recording::synth::one_gap::header(),
        (1, 1),
        recs.clone(),
    );
    let d = diagnose(&s, &recs);
    let cited = d.gaps[0]
        .evidence
        .app_off_cpu_max_ns
        .expect("the app-stall gap cites an off-CPU stretch");
    let table = s
        .ksched
        .sched
        .values()
        .find(|t| t.comm == "corosync")
        .expect("corosync in the sched table")
        .offcpu
        .distribution();
    assert!(
        table.count > 0,
        "the table counts the off-CPU stretches: {table:?}"
    );
    assert_eq!(table.max_ns, cited, "table {table:?} vs cited {cited}");
    assert!(table.max_exact, "{table:?}");
}

/// Another watched process's long off-CPU stretch is not cited as the heartbeat process's.
#[test]
fn app_stall_cites_the_heartbeat_process_only() {
    use crate::recording::records::{Record, SchedInterval, SchedTask, TimedMax};
    let gaps = [GapSpec {
        at_s: 20,
        len_s: 4,
        scenario: Scenario::AppStall,
    }];
    let mut recs = records(60, &gaps);
    let start = crate::recording::synth::one_gap::header().anchor.mono_ns;
    recs.push(Record::Sched(SchedInterval {
        start_mono_ns: start + 21_000_000_000,
        end_mono_ns: start + 22_000_000_000,
        tasks: vec![SchedTask {
            tid: 9000,
            tgid: 9000,
            comm: "backup".into(),
            offcpu_count: 1,
            offcpu_sum_ns: 7_000_000_000,
            offcpu_max: Some(TimedMax {
                value_ns: 7_000_000_000,
                at_mono_ns: start + 21_500_000_000,
            }),
            ..SchedTask::default()
        }],
    }));
    let s = RecordingSummary::from_records(
        crate::recording::synth::one_gap::header(),
        (1, 1),
        recs.clone(),
    );
    let d = diagnose(&s, &recs);
    let cited = d.gaps[0].evidence.app_off_cpu_max_ns;
    assert_eq!(
        cited,
        Some(1_000_000_000),
        "cited backup's stretch: {cited:?}"
    );
}

/// `report`'s so-rcvbuf advice and `check`'s udp-rcvbuf-errors finding suggest one rmem_max,
/// and both say why.
#[test]
fn report_and_check_suggest_one_rmem_max() {
    use crate::{
        analysis::audit::{AuditInput, audit, drops::rmem_max_suggestion},
        recording::records::{HostConfig, SystemSample},
    };
    let d = diagnosed(&[GapSpec {
        at_s: 20,
        len_s: 4,
        scenario: Scenario::RcvbufOverflow,
    }]);
    let value = |r: &crate::analysis::recommendation::Recommendation| -> Option<u64> {
        r.apply.iter().find_map(|a| {
            let rest = a.split("net.core.rmem_max=").nth(1)?;
            rest.split_whitespace().next()?.parse().ok()
        })
    };
    let report = d
        .gaps
        .iter()
        .flat_map(|g| &g.recommendations)
        .find(|r| r.id == "so-rcvbuf")
        .expect("so-rcvbuf advice");
    let drops = SystemSample {
        snmp: vec![("Udp.RcvbufErrors".into(), 3)],
        end_mono_ns: 1_000_000_000,
        ..SystemSample::default()
    };
    let cfg = HostConfig::default();
    let check = audit(&AuditInput {
        config: &cfg,
        since_boot: None,
        recent: Some(&drops),
        iface: None,
        app: None,
    })
    .into_iter()
    .find(|r| r.id == "udp-rcvbuf-errors")
    .expect("udp-rcvbuf-errors finding");
    assert_eq!(
        value(report),
        Some(rmem_max_suggestion(212_992)),
        "{:?}",
        report.apply
    );
    assert_eq!(
        value(report),
        value(&check),
        "report {:?} vs check {:?}",
        report.apply,
        check.apply
    );
    for r in [report, &check] {
        assert!(
            r.evidence
                .iter()
                .any(|e| e.what == "suggested net.core.rmem_max"),
            "{}: {:?}",
            r.id,
            r.evidence
        );
    }
}

/// Packets counted in the kernel without an event (`PortFlows`, a flood over the flows' event
/// budget) are judged as the same packets sent one by one: the verdict and the flow's fate agree.
#[test]
fn packets_counted_without_events_give_the_same_verdict() {
    use crate::recording::records::{PortFlowCell, PortFlowInterval, Record};
    for sc in [
        Scenario::RcvbufOverflow,
        Scenario::BacklogOverflow,
        Scenario::Netfilter,
        Scenario::AppStall,
    ] {
        let gap = GapSpec {
            at_s: 20,
            len_s: 4,
            scenario: sc,
        };
        let recs = records(60, &[gap]);
        // Every event but the reads (the arrivals) becomes a count of its second.
        let mut counted: Vec<Record> = Vec::new();
        let mut cells: std::collections::BTreeMap<u64, Vec<PortFlowCell>> = Default::default();
        for r in &recs {
            match r {
                Record::PortPacket(e) if e.stage != crate::recording::records::PortStage::Read => {
                    cells
                        .entry(e.mono_ns / 1_000_000_000)
                        .or_default()
                        .push(PortFlowCell {
                            proto: e.proto,
                            local_port: e.local_port,
                            peer: e.peer.clone(),
                            stage: e.stage,
                            code: e.code,
                            count: 1,
                            suppressed: 1,
                            last_suppressed_mono_ns: e.mono_ns,
                            first_suppressed_mono_ns: e.mono_ns,
                        });
                }
                r => counted.push(r.clone()),
            }
        }
        counted.extend(cells.into_iter().map(|(s, cells)| {
            Record::PortFlows(PortFlowInterval {
                start_mono_ns: s * 1_000_000_000,
                end_mono_ns: (s + 1) * 1_000_000_000,
                cells,
            })
        }));
        let judge = |recs: Vec<Record>| {
            let s = RecordingSummary::from_records(
                crate::recording::synth::one_gap::header(),
                (1, 1),
                recs.clone(),
            );
            let d = diagnose(&s, &recs);
            assert_eq!(d.gaps.len(), 1, "{sc:?}: gaps {:?}", d.gaps.len());
            let g = &d.gaps[0];
            let flow = g.evidence.flow.clone().expect("flow fate");
            let dropped: u64 = flow.dropped.iter().map(|(_, n)| n).sum();
            (g.findings[0].cause, flow.seen_at_device > 0, dropped > 0)
        };
        assert_eq!(judge(counted), judge(recs), "{sc:?}");
    }
}
