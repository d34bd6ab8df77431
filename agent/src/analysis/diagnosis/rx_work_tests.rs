//! rx_work on evidence built by hand and on a synthetic recording with a multi-queue NIC.

use super::*;
use crate::{
    analysis::{
        RecordingSummary,
        cpu_tasks::{CpuUser, NicCpuUsers},
        diagnosis::{
            diagnose,
            evidence::{Counter, CpuSoftirq, FlowFate, SourceKind},
        },
    },
    recording::{
        records::{CpuConfig, Record, RxQueue},
        synth::causes::{GapSpec, MS, SEC, Scenario, records},
    },
};

/// A 4-queue virtio NIC whose queue IRQs 30–33 have the given CPUs.
fn nic(cpus: [u32; 4]) -> NicConfig {
    NicConfig {
        name: "eth0".into(),
        driver: Some("virtio_net".into()),
        rx_queues: (0..4)
            .map(|index| RxQueue {
                index,
                rps_cpus: Vec::new(),
                rps_flow_cnt: 0,
            })
            .collect(),
        irqs: (0..4)
            .map(|q| NicIrq {
                irq: 30 + q,
                name: format!("virtio0-input.{q}"),
                kind: IrqKind::Rx,
                affinity: vec![cpus[q as usize]],
                effective: vec![cpus[q as usize]],
                taken: Vec::new(),
            })
            .chain([NicIrq {
                irq: 40,
                name: "virtio0-config".into(),
                ..NicIrq::default()
            }])
            .collect(),
        ..NicConfig::default()
    }
}

fn config(cpus: [u32; 4]) -> HostConfig {
    HostConfig {
        cpus: CpuConfig {
            possible: 2,
            online: vec![0, 1],
            ..CpuConfig::default()
        },
        nics: vec![nic(cpus)],
        ..HostConfig::default()
    }
}

/// A 1.4 s NET_RX wait on CPU 0 during a 1.5 s gap of a 40 ms heartbeat; `holder` held CPU 0.
fn evidence(holder: Option<(&str, f64)>) -> GapEvidence {
    let mut e = GapEvidence::empty(SourceKind::Port, 1500 * MS, 40 * MS);
    e.window_ns = 2 * SEC;
    e.flow = Some(FlowFate {
        seen_at_device: 2,
        read_by_app: 2,
        queued_to_socket: 2,
        ..FlowFate::default()
    });
    e.net_rx = vec![CpuSoftirq {
        cpu: 0,
        handles_heartbeat_rx: true,
        window_wait_max_ns: 1400 * MS,
        window_wait_p99_ns: 1400 * MS,
        baseline_wait_p99_ns: MS / 10,
        window_run_max_ns: MS,
        ksoftirqd: Counter::default(),
    }];
    e.nic_cpu_users = Some(vec![NicCpuUsers {
        cpu: 0,
        window_samples: 200,
        window_busy_share: holder.map_or(0.1, |h| h.1),
        baseline_busy_share: 0.05,
        top: holder
            .map(|(comm, share)| CpuUser {
                tgid: 812,
                comm: comm.into(),
                kernel_thread: false,
                window_share: share,
                window_softirq_share: 0.0,
                baseline_share: 0.0,
            })
            .into_iter()
            .collect(),
    }]);
    e
}

fn cx<'a>(config: &'a HostConfig) -> Context<'a> {
    Context {
        config: Some(config),
        audit: &[],
        port: None,
        rx_cpus: &[0],
        app: None,
        online: &[0, 1],
        app_cpus: None,
    }
}

#[test]
fn an_rt_loop_on_the_rx_cpu_moves_every_queue_irq_off_it_not_rps() {
    let cfg = config([0, 0, 0, 0]);
    let e = evidence(Some(("rt-hog", 0.95)));
    let h = held(&e).expect("held");
    assert_eq!(h.cpu, 0);
    assert!(
        h.holder
            .as_deref()
            .is_some_and(|x| x.starts_with("rt-hog (PID 812)")),
        "{h:?}"
    );
    let r = recommend(&e, &cx(&cfg), "why");
    // All queues sit on CPU 0: no RSS table can avoid it, only moving the IRQs does.
    assert_eq!(
        r.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        vec![IRQS_OFF]
    );
    let r = &r[0];
    assert_eq!(
        r.apply,
        (0..4)
            .map(|q| format!(
                "echo 1 > /proc/irq/{}/smp_affinity_list   # virtio0-input.{q}",
                30 + q
            ))
            .collect::<Vec<_>>()
    );
    assert_eq!(r.undo[0], "echo 0 > /proc/irq/30/smp_affinity_list");
    assert!(r.risk.contains("RPS alone does not help"), "{}", r.risk);
    assert!(
        r.evidence.iter().any(|x| x.value == "virtio0-input.0–3"),
        "{:?}",
        r.evidence
    );
}

#[test]
fn queues_served_elsewhere_give_an_rss_table_with_its_undo() {
    let cfg = config([0, 1, 0, 1]);
    let r = recommend(&evidence(Some(("rt-hog", 0.95))), &cx(&cfg), "why");
    assert_eq!(r[0].id, IRQS_OFF);
    assert_eq!(r[0].apply.len(), 2, "{:?}", r[0].apply);
    let rss = r.iter().find(|r| r.id == RSS_TABLE).expect("rss table");
    assert!(
        rss.apply
            .contains(&"ethtool -X eth0 weight 0 1 0 1".to_owned()),
        "{:?}",
        rss.apply
    );
    assert_eq!(rss.undo, vec!["ethtool -X eth0 default".to_owned()]);
}

#[test]
fn where_irqbalance_runs_it_is_told_to_ban_the_cpu() {
    let mut cfg = config([0, 0, 0, 0]);
    cfg.irqbalance.running = true;
    let r = &recommend(&evidence(Some(("rt-hog", 0.95))), &cx(&cfg), "why")[0];
    assert!(
        r.apply[0].contains("IRQBALANCE_BANNED_CPULIST=0"),
        "{:?}",
        r.apply
    );
    assert_eq!(r.persist[0].mechanism, "irqbalance");
}

#[test]
fn long_protocol_work_with_nothing_holding_the_cpu_is_rps() {
    let cfg = config([0, 0, 0, 0]);
    let mut e = evidence(None);
    e.net_rx[0].window_run_max_ns = 1200 * MS;
    let r = recommend(&e, &cx(&cfg), "why");
    assert_eq!(
        r.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        vec![RPS_PROTOCOL]
    );
    assert_eq!(
        r[0].apply[0],
        "echo 2 > /sys/class/net/eth0/queues/rx-0/rps_cpus"
    );
    assert_eq!(
        r[0].undo[0],
        "echo 0 > /sys/class/net/eth0/queues/rx-0/rps_cpus"
    );
    // A short run and nothing holding the CPU: nothing of this module's to say.
    assert!(recommend(&evidence(None), &cx(&cfg), "why").is_empty());
}

#[test]
fn a_short_wait_or_no_host_configuration_recommends_nothing() {
    let cfg = config([0, 0, 0, 0]);
    let mut e = evidence(Some(("rt-hog", 0.95)));
    e.net_rx[0].window_wait_max_ns = MS / 2;
    assert!(recommend(&e, &cx(&cfg), "why").is_empty());
    let e = evidence(Some(("rt-hog", 0.95)));
    let mut c = cx(&cfg);
    c.config = None;
    assert!(recommend(&e, &c, "why").is_empty());
}

#[test]
fn the_verdict_names_the_queues_and_says_the_heartbeats_never_reached_the_guest() {
    let cfg = config([0, 0, 0, 0]);
    let e = evidence(Some(("rt-hog", 0.95)));
    let mut f = vec![Finding {
        cause: Cause::SoftirqDelay,
        confidence: 0.85,
        evidence: vec!["NET_RX softirq waited".into()],
    }];
    annotate(&mut f, &e, &cx(&cfg));
    let ev = &f[0].evidence;
    assert!(
        ev.iter().any(
            |l| l.contains("4 RX queue IRQ(s) of eth0 (virtio0-input.0–3) are routed to CPU 0")
        ),
        "{ev:?}"
    );
    assert!(
        ev.iter()
            .any(|l| l.contains("only 2 of about 36 heartbeats") && l.contains("host's tap")),
        "{ev:?}"
    );
    // A drop in this kernel explains the loss: no such line.
    let mut e = e;
    e.softnet_dropped = Counter {
        window: 40,
        baseline_per_s: 0.0,
    };
    let mut f = vec![Finding {
        cause: Cause::SoftirqDelay,
        confidence: 0.85,
        evidence: Vec::new(),
    }];
    annotate(&mut f, &e, &cx(&cfg));
    assert!(
        !f[0].evidence.iter().any(|l| l.contains("lost before")),
        "{:?}",
        f[0].evidence
    );
    // On metal the NIC's own counters tell: no such line either.
    let mut metal = cfg.clone();
    metal.nics[0].driver = Some("ice".into());
    let e = evidence(Some(("rt-hog", 0.95)));
    let mut f = vec![Finding {
        cause: Cause::SoftirqDelay,
        confidence: 0.85,
        evidence: Vec::new(),
    }];
    annotate(&mut f, &e, &cx(&metal));
    assert!(
        !f[0].evidence.iter().any(|l| l.contains("lost before")),
        "{:?}",
        f[0].evidence
    );
}

#[test]
fn a_recorded_softirq_delay_on_a_multi_queue_nic_puts_the_irq_move_first() {
    let mut recs = records(
        60,
        &[GapSpec {
            at_s: 20,
            len_s: 4,
            scenario: Scenario::SoftirqDelay,
        }],
    );
    recs.insert(0, Record::HostConfig(config([0, 0, 0, 0])));
    let s = RecordingSummary::from_records(
        crate::recording::synth::one_gap::header(),
        (1, 1),
        recs.clone(),
    );
    let d = diagnose(&s, &recs);
    let g = &d.gaps[0];
    assert_eq!(g.findings[0].cause, Cause::SoftirqDelay);
    assert!(
        g.findings[0]
            .evidence
            .iter()
            .any(|l| l.contains("virtio0-input.0–3")),
        "{:?}",
        g.findings[0].evidence
    );
    assert_eq!(g.recommendations[0].id, IRQS_OFF, "{:?}", g.recommendations);
    assert!(
        g.recommendations[0]
            .evidence
            .iter()
            .any(|e| e.value.contains("backup (PID 7777)"))
    );
    assert_eq!(d.recommendations[0].id, IRQS_OFF);
}

#[test]
fn an_idle_queue_whose_effective_affinity_lags_its_mask_is_moved_too() {
    let mut cfg = config([0, 0, 0, 0]);
    // x86 moves an IRQ when it next fires: queues 1 and 2 took no interrupt since the mask
    // changed to CPU 0.
    for q in [1, 2] {
        cfg.nics[0].irqs[q].effective = vec![1];
    }
    let r = recommend(&evidence(Some(("rt-hog", 0.95))), &cx(&cfg), "why");
    assert_eq!(r[0].id, IRQS_OFF);
    assert_eq!(r[0].apply.len(), 4, "{:?}", r[0].apply);
    assert!(r.iter().all(|r| r.id != RSS_TABLE), "{r:?}");
}

#[test]
fn with_rps_on_the_cpu_the_queue_interrupts_fire_on_takes_the_receive_work_too() {
    use crate::recording::records::SystemSample;
    // Packets are seen on CPU 0 (the RPS target); the queue's interrupt fires on CPU 1, where
    // the driver's poll runs.
    let mut recs = records(
        60,
        &[GapSpec {
            at_s: 20,
            len_s: 4,
            scenario: Scenario::SoftirqDelay,
        }],
    );
    let mut cfg = config([1, 1, 1, 1]);
    for q in &mut cfg.nics[0].rx_queues {
        q.rps_cpus = vec![0];
    }
    recs.insert(0, Record::HostConfig(cfg.clone()));
    recs.push(Record::System(SystemSample {
        interrupts: vec![(30, 1, 500)],
        ..SystemSample::default()
    }));
    let summary = |recs: &[Record]| {
        RecordingSummary::from_records(
            crate::recording::synth::one_gap::header(),
            (1, 1),
            recs.to_vec(),
        )
    };
    assert_eq!(diagnose(&summary(&recs), &recs).rx_cpus, vec![0, 1]);
    // Without RPS the packets' own CPU is the answer.
    for q in &mut cfg.nics[0].rx_queues {
        q.rps_cpus.clear();
    }
    recs[0] = Record::HostConfig(cfg);
    assert_eq!(diagnose(&summary(&recs), &recs).rx_cpus, vec![0]);
}
