//! Receive/transmit packet steering: per-queue rps_cpus, rps_flow_cnt and xps_cpus, and the global
//! rps_sock_flow_entries (RFS).

use super::host::HostRoot;
use crate::recording::records::{RxQueue, TxQueue};
use crate::units::parse_cpumask;

pub fn rx_queues(root: &HostRoot, iface: &str) -> Vec<RxQueue> {
    let mut qs: Vec<RxQueue> = root
        .list(&format!("sys/class/net/{iface}/queues"))
        .iter()
        .filter_map(|q| q.strip_prefix("rx-")?.parse::<u32>().ok())
        .map(|index| {
            let base = format!("sys/class/net/{iface}/queues/rx-{index}");
            RxQueue {
                index,
                rps_cpus: root
                    .read(&format!("{base}/rps_cpus"))
                    .map(|s| parse_cpumask(&s))
                    .unwrap_or_default(),
                rps_flow_cnt: root
                    .read_trim(&format!("{base}/rps_flow_cnt"))
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0),
            }
        })
        .collect();
    qs.sort_by_key(|q| q.index);
    qs
}

pub fn tx_queues(root: &HostRoot, iface: &str) -> Vec<TxQueue> {
    let mut qs: Vec<TxQueue> = root
        .list(&format!("sys/class/net/{iface}/queues"))
        .iter()
        .filter_map(|q| q.strip_prefix("tx-")?.parse::<u32>().ok())
        .map(|index| TxQueue {
            index,
            xps_cpus: root
                .read(&format!("sys/class/net/{iface}/queues/tx-{index}/xps_cpus"))
                .map(|s| parse_cpumask(&s))
                .unwrap_or_default(),
        })
        .collect();
    qs.sort_by_key(|q| q.index);
    qs
}
