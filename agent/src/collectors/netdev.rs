//! /proc/net/dev: per-interface packet, byte, error and drop counters.

use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NetdevRow {
    pub rx_bytes: u64,
    pub rx_packets: u64,
    pub rx_errs: u64,
    pub rx_drop: u64,
    pub rx_fifo: u64,
    pub tx_bytes: u64,
    pub tx_packets: u64,
    pub tx_errs: u64,
    pub tx_drop: u64,
}

pub fn parse(text: &str) -> BTreeMap<String, NetdevRow> {
    let mut out = BTreeMap::new();
    for line in text.lines().skip(2) {
        let Some((name, rest)) = line.split_once(':') else {
            continue;
        };
        let v: Vec<u64> = rest
            .split_whitespace()
            .map_while(|w| w.parse().ok())
            .collect();
        if v.len() < 12 {
            continue;
        }
        out.insert(
            name.trim().to_owned(),
            NetdevRow {
                rx_bytes: v[0],
                rx_packets: v[1],
                rx_errs: v[2],
                rx_drop: v[3],
                rx_fifo: v[4],
                tx_bytes: v[8],
                tx_packets: v[9],
                tx_errs: v[10],
                tx_drop: v[11],
            },
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows() {
        let text = "Inter-|   Receive                                                |  Transmit\n face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    lo:  123456     789    0    0    0     0          0         0   123456     789    0    0    0     0       0          0\n  eth0:12345678901 9876543 1 22 3 0 0 5 555 444 0 7 0 0 0 0\n";
        let m = parse(text);
        assert_eq!(m["eth0"].rx_bytes, 12345678901);
        assert_eq!(m["eth0"].rx_drop, 22);
        assert_eq!(m["eth0"].tx_drop, 7);
        assert_eq!(m["lo"].rx_packets, 789);
    }
}
