//! Rule edge cases on hand-built configurations.

use super::*;
use crate::{
    analysis::recommendation::Severity,
    recording::records::{
        Channels, CpuConfig, CpuTimeDelta, EthtoolConfig, IrqKind, NicIrq, RxQueue, SoftnetDelta,
    },
};

fn host(online: &[u32], isolated: &[u32], nics: Vec<NicConfig>) -> HostConfig {
    HostConfig {
        cpus: CpuConfig {
            possible: online.iter().max().map_or(1, |m| m + 1),
            online: online.to_vec(),
            isolated: isolated.to_vec(),
            nohz_full: Vec::new(),
        },
        nics,
        ..HostConfig::default()
    }
}

fn single_queue(name: &str, rps: &[u32]) -> NicConfig {
    NicConfig {
        name: name.into(),
        driver: Some("virtio_net".into()),
        rx_queues: vec![RxQueue {
            index: 0,
            rps_cpus: rps.to_vec(),
            rps_flow_cnt: 0,
        }],
        irqs: vec![NicIrq {
            irq: 38,
            name: "virtio2-input.0".into(),
            kind: IrqKind::Rx,
            affinity: vec![0, 1],
            effective: vec![1],
            taken: Vec::new(),
        }],
        ..NicConfig::default()
    }
}

fn ids(
    cfg: &HostConfig,
    boot: Option<&SystemSample>,
    recent: Option<&SystemSample>,
) -> Vec<String> {
    audit(&AuditInput {
        config: cfg,
        since_boot: boot,
        recent,
        iface: None,
        app: None,
    })
    .into_iter()
    .map(|r| r.id)
    .collect()
}

#[test]
fn rps_mask_leaves_out_isolated_cpus() {
    let cfg = host(&[0, 1, 2, 3], &[2, 3], vec![single_queue("eth0", &[])]);
    let r = audit(&AuditInput {
        config: &cfg,
        since_boot: None,
        recent: None,
        iface: None,
        app: None,
    });
    assert_eq!(r.len(), 1);
    assert_eq!(
        r[0].apply[0],
        "echo 3 > /sys/class/net/eth0/queues/rx-0/rps_cpus"
    );
}

#[test]
fn one_cpu_or_rps_already_on_means_no_single_queue_finding() {
    assert!(
        ids(
            &host(&[0], &[], vec![single_queue("eth0", &[])]),
            None,
            None
        )
        .is_empty()
    );
    let cfg = host(&[0, 1], &[], vec![single_queue("eth0", &[0, 1])]);
    // RPS on without flow entries: the RFS finding instead.
    assert_eq!(ids(&cfg, None, None), vec!["rps-without-rfs"]);
}

#[test]
fn virtual_nics_and_other_ifaces_are_ignored() {
    let mut v = single_queue("veth0", &[]);
    v.is_virtual = true;
    let cfg = host(&[0, 1], &[], vec![v, single_queue("eth1", &[])]);
    let r = audit(&AuditInput {
        config: &cfg,
        since_boot: None,
        recent: None,
        iface: Some("veth0"),
        app: None,
    });
    assert!(r.is_empty(), "{r:?}");
}

#[test]
fn rss_needs_spare_channels() {
    let mut n = single_queue("eth0", &[0, 1, 2, 3]);
    n.ethtool = EthtoolConfig {
        source: "netlink".into(),
        channels: Some(Channels {
            combined: 2,
            combined_max: 2,
            ..Channels::default()
        }),
        ..EthtoolConfig::default()
    };
    n.rx_queues[0].rps_flow_cnt = 4096;
    let mut cfg = host(&[0, 1, 2, 3], &[], vec![n]);
    cfg.sysctls
        .insert("net.core.rps_sock_flow_entries".into(), "32768".into());
    assert!(ids(&cfg, None, None).is_empty());
    if let Some(c) = cfg.nics[0].ethtool.channels.as_mut() {
        c.combined_max = 16;
    }
    let r = audit(&AuditInput {
        config: &cfg,
        since_boot: None,
        recent: None,
        iface: None,
        app: None,
    });
    assert_eq!(r[0].id, "rss-underused");
    assert_eq!(r[0].apply, vec!["ethtool -L eth0 combined 4"]);
}

#[test]
fn drops_counting_now_are_critical_and_old_ones_history() {
    let cfg = host(&[0, 1], &[], Vec::new());
    let boot = SystemSample {
        softnet: vec![SoftnetDelta {
            cpu: 1,
            dropped: 10,
            ..SoftnetDelta::default()
        }],
        ..SystemSample::default()
    };
    let quiet = SystemSample {
        start_mono_ns: 0,
        end_mono_ns: 1_000_000_000,
        ..SystemSample::default()
    };
    let busy = SystemSample {
        softnet: boot.softnet.clone(),
        ..quiet.clone()
    };
    let first = |recent: &SystemSample| {
        audit(&AuditInput {
            config: &cfg,
            since_boot: Some(&boot),
            recent: Some(recent),
            iface: None,
            app: None,
        })
        .remove(0)
    };
    // Drops that did not move while hbwatch watched are history: not a warning about now.
    let old = first(&quiet);
    assert_eq!(old.severity, Severity::Info, "{old:?}");
    assert!(
        old.title
            .ends_with("all before this run (none in the 1.0 s it watched)"),
        "{}",
        old.title
    );
    let now = first(&busy);
    assert_eq!(now.severity, Severity::Critical);
    assert!(!now.title.contains("before"), "{}", now.title);
}

#[test]
fn steal_thresholds() {
    let cfg = host(&[0, 1], &[], Vec::new());
    let steal = |pct: u64| SystemSample {
        start_mono_ns: 0,
        end_mono_ns: 1_000_000_000,
        cpu_time: vec![CpuTimeDelta {
            cpu: 1,
            steal_ns: pct * 10_000_000,
            total_ns: 1_000_000_000,
            ..CpuTimeDelta::default()
        }],
        ..SystemSample::default()
    };
    assert!(ids(&cfg, Some(&steal(1)), Some(&steal(4))).is_empty());
    let r = audit(&AuditInput {
        config: &cfg,
        since_boot: Some(&steal(1)),
        recent: Some(&steal(12)),
        iface: None,
        app: None,
    });
    assert_eq!(
        (r[0].id.as_str(), r[0].severity),
        ("cpu-steal", Severity::Warning)
    );
    assert!(r[0].title.contains("12.0% of CPU 1"), "{}", r[0].title);
    let r = ids(&cfg, Some(&steal(3)), None);
    assert_eq!(r, vec!["cpu-steal"]);
}

#[test]
fn irqbalance_with_bans_does_not_fight() {
    let irqs = (0..4)
        .map(|k| NicIrq {
            irq: 100 + k,
            name: format!("eth0-TxRx-{k}"),
            kind: IrqKind::Rx,
            affinity: vec![k],
            effective: vec![k],
            taken: Vec::new(),
        })
        .collect();
    let nic = NicConfig {
        name: "eth0".into(),
        irqs,
        ..NicConfig::default()
    };
    let mut cfg = host(&[0, 1, 2, 3], &[], vec![nic]);
    cfg.irqbalance.running = true;
    assert_eq!(ids(&cfg, None, None), vec!["irqbalance-fighting"]);
    cfg.irqbalance
        .config
        .insert("IRQBALANCE_ARGS".into(), "--banirq=100 --banirq=101".into());
    assert!(ids(&cfg, None, None).is_empty());
    cfg.irqbalance.config.clear();
    cfg.irqbalance
        .config
        .insert("IRQBALANCE_BANNED_CPULIST".into(), "0-3".into());
    assert!(ids(&cfg, None, None).is_empty());
    // Not running, pinned by hand: nothing to say either.
    cfg.irqbalance.running = false;
    assert!(ids(&cfg, None, None).is_empty());
}

#[test]
fn cpulists_are_compact() {
    assert_eq!(cpulist(&[0, 1, 2, 3, 6, 7, 9]), "0-3,6-7,9");
    assert_eq!(cpulist(&[]), "none");
}

#[test]
fn without_effective_affinity_the_busiest_cpu_counts() {
    let irqs = (0..3)
        .map(|k| NicIrq {
            irq: 60 + k,
            name: format!("eth0-rx-{k}"),
            kind: IrqKind::Rx,
            affinity: vec![0, 1, 2, 3],
            effective: Vec::new(),
            taken: vec![(0, 10), (2, 90_000)],
        })
        .collect();
    let nic = NicConfig {
        name: "eth0".into(),
        irqs,
        ..NicConfig::default()
    };
    let cfg = host(&[0, 1, 2, 3], &[], vec![nic]);
    let r = audit(&AuditInput {
        config: &cfg,
        since_boot: None,
        recent: None,
        iface: None,
        app: None,
    });
    assert_eq!(r[0].id, "irqs-one-cpu");
    assert!(r[0].title.ends_with("land on CPU 2"), "{}", r[0].title);
}

#[test]
fn irq_spread_skips_isolated_cpus() {
    let irqs = (0..3)
        .map(|k| NicIrq {
            irq: 70 + k,
            name: format!("eth0-TxRx-{k}"),
            kind: IrqKind::Rx,
            affinity: vec![0],
            effective: vec![0],
            taken: Vec::new(),
        })
        .collect();
    let nic = NicConfig {
        name: "eth0".into(),
        irqs,
        ..NicConfig::default()
    };
    let cfg = host(&[0, 1, 2, 3], &[1, 2], vec![nic]);
    let r = audit(&AuditInput {
        config: &cfg,
        since_boot: None,
        recent: None,
        iface: None,
        app: None,
    });
    assert_eq!(
        r[0].apply,
        vec![
            "echo 0 > /proc/irq/70/smp_affinity_list",
            "echo 3 > /proc/irq/71/smp_affinity_list",
            "echo 0 > /proc/irq/72/smp_affinity_list",
        ]
    );
}

fn rps_with_app(online: &[u32], isolated: &[u32], allowed: &[u32]) -> Recommendation {
    let cfg = host(online, isolated, vec![single_queue("eth0", &[])]);
    let r = audit(&AuditInput {
        config: &cfg,
        since_boot: None,
        recent: None,
        iface: None,
        app: Some(AppCpus {
            comm: "corosync",
            tgid: 812,
            cpus_allowed: allowed,
        }),
    });
    assert_eq!(r.len(), 1, "{r:?}");
    r.into_iter().next().expect("one finding")
}

#[test]
fn rps_mask_leaves_out_a_pinned_application() {
    let r = rps_with_app(&[0, 1, 2, 3], &[], &[2, 3]);
    assert_eq!(
        r.apply[0],
        "echo 3 > /sys/class/net/eth0/queues/rx-0/rps_cpus"
    );
    let e = r
        .evidence
        .iter()
        .find(|e| e.what.contains("corosync (PID 812) is pinned to CPU 2-3"))
        .expect("the pinning is stated");
    assert_eq!(e.value, "left out of the RPS mask");
    // With isolated CPUs too: 0-7, isolated 6-7, app on 0-1 → 2-5 = 0x3c.
    let r = rps_with_app(&[0, 1, 2, 3, 4, 5, 6, 7], &[6, 7], &[0, 1]);
    assert_eq!(
        r.apply[0],
        "echo 3c > /sys/class/net/eth0/queues/rx-0/rps_cpus"
    );
}

#[test]
fn unpinned_application_keeps_the_full_mask() {
    let r = rps_with_app(&[0, 1, 2, 3], &[], &[0, 1, 2, 3]);
    assert_eq!(
        r.apply[0],
        "echo f > /sys/class/net/eth0/queues/rx-0/rps_cpus"
    );
    assert!(r.evidence.iter().all(|e| !e.what.contains("pinned")));
}

#[test]
fn application_on_every_rps_cpu_is_said_not_hidden() {
    // RPS may use 0-1 (2-3 isolated); the application runs on 0-2: nothing left to avoid it.
    let r = rps_with_app(&[0, 1, 2, 3], &[2, 3], &[0, 1, 2]);
    assert_eq!(
        r.apply[0],
        "echo 3 > /sys/class/net/eth0/queues/rx-0/rps_cpus"
    );
    let e = r
        .evidence
        .iter()
        .find(|e| e.what.contains("pinned"))
        .expect("the pinning is stated");
    assert!(e.value.contains("cannot avoid"), "{}", e.value);
}

/// `check` (the audit) and `report` (the diagnosis' so-rcvbuf advice) suggest one rmem_max.
#[test]
fn one_rmem_max_suggestion_with_its_reason() {
    for cur in [212_992u64, 4 << 20, 16 << 20, 64 << 20] {
        let mut cfg = host(&[0, 1], &[], Vec::new());
        cfg.sysctls
            .insert("net.core.rmem_max".into(), cur.to_string());
        let drops = SystemSample {
            snmp: vec![("Udp.RcvbufErrors".into(), 5)],
            end_mono_ns: 1_000_000_000,
            ..SystemSample::default()
        };
        let r = audit(&AuditInput {
            config: &cfg,
            since_boot: None,
            recent: Some(&drops),
            iface: None,
            app: None,
        })
        .into_iter()
        .find(|r| r.id == "udp-rcvbuf-errors")
        .expect("udp-rcvbuf-errors");
        let want = drops::rmem_max_suggestion(cur);
        assert!(want > cur, "{cur} → {want}");
        assert!(
            r.apply
                .iter()
                .any(|a| a.contains(&format!("net.core.rmem_max={want}"))),
            "{:?}",
            r.apply
        );
        assert!(
            r.evidence
                .iter()
                .any(|e| e.what == "suggested net.core.rmem_max" && e.value.contains("SO_RCVBUF")),
            "{:?}",
            r.evidence
        );
    }
}
