//! Sums [`SystemSample`] deltas over a window (a recording, or the two reads of `check`).

use std::collections::BTreeMap;

use crate::recording::records::{
    CpuTimeDelta, NetdevDelta, SoftnetDelta, SystemSample, UdpSocketDelta,
};

/// Adds `s` into `total`, keeping the result sparse and sorted. Levels (UDP rx_queue) keep the
/// highest value seen.
pub fn accumulate(total: &mut SystemSample, s: &SystemSample) {
    if total.end_mono_ns == 0 {
        total.start_mono_ns = s.start_mono_ns;
    }
    total.start_mono_ns = total.start_mono_ns.min(s.start_mono_ns);
    total.end_mono_ns = total.end_mono_ns.max(s.end_mono_ns);

    let mut softnet: BTreeMap<u32, SoftnetDelta> =
        total.softnet.iter().map(|x| (x.cpu, *x)).collect();
    for x in &s.softnet {
        let e = softnet.entry(x.cpu).or_insert(SoftnetDelta {
            cpu: x.cpu,
            ..Default::default()
        });
        e.processed += x.processed;
        e.dropped += x.dropped;
        e.time_squeeze += x.time_squeeze;
        e.received_rps += x.received_rps;
        e.flow_limit_count += x.flow_limit_count;
    }
    total.softnet = softnet.into_values().collect();

    total.softirqs = add_triples(&total.softirqs, &s.softirqs);
    total.interrupts = add_triples(&total.interrupts, &s.interrupts);

    let mut cpu: BTreeMap<u32, CpuTimeDelta> = total.cpu_time.iter().map(|x| (x.cpu, *x)).collect();
    for x in &s.cpu_time {
        let e = cpu.entry(x.cpu).or_insert(CpuTimeDelta {
            cpu: x.cpu,
            ..Default::default()
        });
        e.irq_ns += x.irq_ns;
        e.softirq_ns += x.softirq_ns;
        e.steal_ns += x.steal_ns;
        e.total_ns += x.total_ns;
    }
    total.cpu_time = cpu.into_values().collect();

    let add_opt = |a: Option<u64>, b: Option<u64>| match (a, b) {
        (None, None) => None,
        (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
    };
    total.psi_cpu_some_us = add_opt(total.psi_cpu_some_us, s.psi_cpu_some_us);
    total.psi_cpu_full_us = add_opt(total.psi_cpu_full_us, s.psi_cpu_full_us);

    let mut snmp: BTreeMap<String, u64> = total.snmp.iter().cloned().collect();
    for (k, v) in &s.snmp {
        *snmp.entry(k.clone()).or_default() += v;
    }
    total.snmp = snmp.into_iter().collect();

    let mut udp: BTreeMap<(String, u64), UdpSocketDelta> = total
        .udp_sockets
        .iter()
        .map(|u| ((u.local.clone(), u.inode), u.clone()))
        .collect();
    for u in &s.udp_sockets {
        let e = udp
            .entry((u.local.clone(), u.inode))
            .or_insert_with(|| UdpSocketDelta {
                local: u.local.clone(),
                inode: u.inode,
                ..Default::default()
            });
        e.drops += u.drops;
        e.rx_queue = e.rx_queue.max(u.rx_queue);
    }
    total.udp_sockets = udp.into_values().collect();

    let mut nd: BTreeMap<String, NetdevDelta> = total
        .netdev
        .iter()
        .map(|n| (n.iface.clone(), n.clone()))
        .collect();
    for n in &s.netdev {
        let e = nd.entry(n.iface.clone()).or_insert_with(|| NetdevDelta {
            iface: n.iface.clone(),
            ..Default::default()
        });
        e.rx_packets += n.rx_packets;
        e.rx_bytes += n.rx_bytes;
        e.rx_errs += n.rx_errs;
        e.rx_drop += n.rx_drop;
        e.rx_fifo += n.rx_fifo;
        e.tx_packets += n.tx_packets;
        e.tx_bytes += n.tx_bytes;
        e.tx_errs += n.tx_errs;
        e.tx_drop += n.tx_drop;
    }
    total.netdev = nd.into_values().collect();

    let mut et: BTreeMap<(String, String), u64> = total
        .ethtool
        .iter()
        .map(|(i, n, v)| ((i.clone(), n.clone()), *v))
        .collect();
    for (i, n, v) in &s.ethtool {
        *et.entry((i.clone(), n.clone())).or_default() += v;
    }
    total.ethtool = et.into_iter().map(|((i, n), v)| (i, n, v)).collect();
}

fn add_triples<A: Ord + Copy, B: Ord + Copy>(
    a: &[(A, B, u64)],
    b: &[(A, B, u64)],
) -> Vec<(A, B, u64)> {
    let mut m: BTreeMap<(A, B), u64> = a.iter().map(|&(x, y, v)| ((x, y), v)).collect();
    for &(x, y, v) in b {
        *m.entry((x, y)).or_default() += v;
    }
    m.into_iter().map(|((x, y), v)| (x, y, v)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_stay_sparse_and_sorted() {
        let a = SystemSample {
            start_mono_ns: 10,
            end_mono_ns: 20,
            softnet: vec![SoftnetDelta {
                cpu: 1,
                dropped: 2,
                ..Default::default()
            }],
            interrupts: vec![(40, 1, 5)],
            snmp: vec![("Udp.RcvbufErrors".into(), 3)],
            ..Default::default()
        };
        let b = SystemSample {
            start_mono_ns: 20,
            end_mono_ns: 30,
            softnet: vec![
                SoftnetDelta {
                    cpu: 0,
                    time_squeeze: 1,
                    ..Default::default()
                },
                SoftnetDelta {
                    cpu: 1,
                    dropped: 4,
                    ..Default::default()
                },
            ],
            interrupts: vec![(40, 1, 1), (39, 0, 2)],
            snmp: vec![("Udp.RcvbufErrors".into(), 1)],
            ..Default::default()
        };
        let mut t = SystemSample::default();
        accumulate(&mut t, &a);
        accumulate(&mut t, &b);
        assert_eq!((t.start_mono_ns, t.end_mono_ns), (10, 30));
        assert_eq!(t.softnet.len(), 2);
        assert_eq!(t.softnet[1].dropped, 6);
        assert_eq!(t.interrupts, vec![(39, 0, 2), (40, 1, 6)]);
        assert_eq!(t.snmp("Udp.RcvbufErrors"), 4);
    }
}
