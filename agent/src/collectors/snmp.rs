//! /proc/net/snmp and /proc/net/netstat: pairs of "Proto: names" / "Proto: values" lines.

use std::collections::BTreeMap;

/// Counters the audit and the recording keep ("Udp.RcvbufErrors"); the rest is noise here.
pub const KEPT: &[&str] = &[
    "Udp.InDatagrams",
    "Udp.InErrors",
    "Udp.RcvbufErrors",
    "Udp.SndbufErrors",
    "Udp.NoPorts",
    "Udp.InCsumErrors",
    "Udp.MemErrors",
    "Udp6.InErrors",
    "Udp6.RcvbufErrors",
    "Udp6.MemErrors",
    "Udp6.NoPorts",
    "UdpLite.InErrors",
    "Ip.InDiscards",
    "Tcp.InErrs",
    "Tcp.RetransSegs",
    "TcpExt.TCPBacklogDrop",
    "TcpExt.ListenDrops",
    "TcpExt.ListenOverflows",
    "TcpExt.PruneCalled",
    "TcpExt.RcvPruned",
    "TcpExt.TCPRcvQDrop",
    "TcpExt.TCPZeroWindowDrop",
    "TcpExt.TCPMinTTLDrop",
    "TcpExt.TCPOFODrop",
    "TcpExt.TCPTimeouts",
];

/// "Proto.Name" → value for every counter in the file (values may be negative in snmp, e.g.
/// Tcp.MaxConn = -1; those are skipped).
pub fn parse(text: &str) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    let lines: Vec<&str> = text.lines().collect();
    for pair in lines.chunks(2) {
        let [names, values] = pair else { continue };
        let (Some((p1, names)), Some((p2, values))) =
            (names.split_once(':'), values.split_once(':'))
        else {
            continue;
        };
        if p1 != p2 {
            continue;
        }
        for (n, v) in names.split_whitespace().zip(values.split_whitespace()) {
            if let Ok(v) = v.parse::<u64>() {
                out.insert(format!("{p1}.{n}"), v);
            }
        }
    }
    out
}

/// /proc/net/snmp6 is "Name value" per line ("Udp6InErrors 0"); renamed to "Udp6.InErrors".
pub fn parse_snmp6(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|l| {
            let (n, v) = l.split_once(char::is_whitespace)?;
            let v = v.trim().parse().ok()?;
            let rest = n.strip_prefix("Udp6")?;
            Some((format!("Udp6.{rest}"), v))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snmp_pairs() {
        let text = "Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens\nTcp: 1 200 120000 -1 42\nUdp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors InCsumErrors IgnoredMulti MemErrors\nUdp: 1000 3 17 900 12 0 0 0 0\n";
        let m = parse(text);
        assert_eq!(m["Udp.RcvbufErrors"], 12);
        assert_eq!(m["Udp.InErrors"], 17);
        assert_eq!(m["Tcp.ActiveOpens"], 42);
        assert!(!m.contains_key("Tcp.MaxConn"));
    }

    #[test]
    fn netstat_and_odd_trailing_line() {
        let text = "TcpExt: SyncookiesSent TCPBacklogDrop\nTcpExt: 0 4\nIpExt: InNoRoutes\n";
        let m = parse(text);
        assert_eq!(m["TcpExt.TCPBacklogDrop"], 4);
        assert_eq!(m.len(), 2);
    }

    #[test]
    fn snmp6() {
        let m =
            parse_snmp6("Ip6InReceives 5\nUdp6InErrors                    3\nUdp6RcvbufErrors 2\n");
        assert_eq!(m["Udp6.InErrors"], 3);
        assert_eq!(m["Udp6.RcvbufErrors"], 2);
        assert_eq!(m.len(), 2);
    }
}
