//! /proc/net/udp and /proc/net/udp6: per-socket receive queue and drops.

use std::net::{Ipv4Addr, Ipv6Addr};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UdpSocket {
    pub local: String,
    pub inode: u64,
    pub rx_queue: u64,
    pub tx_queue: u64,
    pub drops: u64,
}

/// Parses either file; addresses are hex in host byte order per 32-bit word.
pub fn parse(text: &str) -> Vec<UdpSocket> {
    let mut out = Vec::new();
    for line in text.lines().skip(1) {
        let w: Vec<&str> = line.split_whitespace().collect();
        // sl local rem st tx:rx tr tm->when retrnsmt uid timeout inode ref pointer drops
        if w.len() < 13 {
            continue;
        }
        let Some(local) = decode_addr(w[1]) else {
            continue;
        };
        let (tx, rx) = w[4].split_once(':').unwrap_or(("0", "0"));
        out.push(UdpSocket {
            local,
            tx_queue: u64::from_str_radix(tx, 16).unwrap_or(0),
            rx_queue: u64::from_str_radix(rx, 16).unwrap_or(0),
            inode: w[9].parse().unwrap_or(0),
            drops: w.get(12).and_then(|d| d.parse().ok()).unwrap_or(0),
        });
    }
    out
}

fn decode_addr(s: &str) -> Option<String> {
    let (ip, port) = s.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    match ip.len() {
        8 => {
            let v = u32::from_str_radix(ip, 16).ok()?;
            Some(format!("{}:{port}", Ipv4Addr::from(v.swap_bytes())))
        }
        32 => {
            let mut bytes = [0u8; 16];
            for i in 0..4 {
                let word = u32::from_str_radix(&ip[i * 8..i * 8 + 8], 16).ok()?;
                bytes[i * 4..i * 4 + 4].copy_from_slice(&word.to_le_bytes());
            }
            Some(format!("[{}]:{port}", Ipv6Addr::from(bytes)))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v4_and_v6() {
        let v4 = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops            \n  123: 0100007F:151D 00000000:0000 07 00000000:00000A00 00:00000000 00000000     0        0 44321 2 0000000000000000 17       \n";
        let s = parse(v4);
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].local, "127.0.0.1:5405");
        assert_eq!(s[0].rx_queue, 0xa00);
        assert_eq!(s[0].drops, 17);
        assert_eq!(s[0].inode, 44321);
        let v6 = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n  512: 00000000000000000000000000000000:0202 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 9999 2 0000000000000000 0\n  513: 00000000000000000000000001000000:0203 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 9998 2 0000000000000000 4\n";
        let s = parse(v6);
        assert_eq!(s[0].local, "[::]:514");
        assert_eq!(s[1].local, "[::1]:515");
        assert_eq!(s[1].drops, 4);
    }

    #[test]
    fn short_lines_are_skipped() {
        assert!(parse("header\n 1: 0100007F:151D\n").is_empty());
    }
}
