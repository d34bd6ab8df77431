//! Receive/transmit packet steering: per-queue rps_cpus, rps_flow_cnt and xps_cpus, and the global
//! rps_sock_flow_entries (RFS).

use super::host::HostRoot;
use crate::recording::records::{RxQueue, TxQueue};

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

/// Parses a kernel hex CPU mask ("00000000,0000ff0f"): comma-separated 32-bit words, most
/// significant first.
pub fn parse_cpumask(s: &str) -> Vec<u32> {
    let mut cpus = Vec::new();
    for (word_no, word) in s.trim().rsplit(',').enumerate() {
        let Ok(bits) = u32::from_str_radix(word.trim(), 16) else {
            continue;
        };
        for b in 0..32 {
            if bits & (1 << b) != 0 {
                cpus.push(word_no as u32 * 32 + b);
            }
        }
    }
    cpus.sort_unstable();
    cpus
}

/// The hex mask the kernel accepts for these CPUs ("3", "ff,ffffffff").
pub fn format_cpumask(cpus: &[u32]) -> String {
    let words = cpus.iter().max().map_or(1, |m| *m as usize / 32 + 1);
    let mut w = vec![0u32; words];
    for c in cpus {
        w[*c as usize / 32] |= 1 << (c % 32);
    }
    let mut parts: Vec<String> = w.iter().rev().map(|x| format!("{x:08x}")).collect();
    // The first word needs no leading zeros.
    if let Some(first) = parts.first_mut() {
        *first = format!("{:x}", w[words - 1]);
    }
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks() {
        assert_eq!(parse_cpumask("0\n"), Vec::<u32>::new());
        assert_eq!(parse_cpumask("3\n"), vec![0, 1]);
        assert_eq!(parse_cpumask("00000001,00000100\n"), vec![8, 32]);
        assert_eq!(format_cpumask(&[0, 1]), "3");
        assert_eq!(format_cpumask(&[8, 32]), "1,00000100");
        let many: Vec<u32> = (0..72).collect();
        assert_eq!(parse_cpumask(&format_cpumask(&many)), many);
    }
}
