//! What each preset's heartbeats look like on the wire and in time: the protocol and ports its
//! packets use, the protocol's heartbeat period, and the silence a loss line implies when it
//! gives no duration (keepalived's advertisement timeout, corosync's token timeout). Kept apart
//! from the line patterns in `presets.rs`; read from the daemon's own config where it can be.

use std::path::Path;

/// The IP protocol of a preset's heartbeat packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireProto {
    Udp,
    Tcp,
    /// A raw IP protocol number (VRRP is 112); no port.
    Ip(u8),
}

/// One kind of heartbeat packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packets {
    pub proto: WireProto,
    /// 0 for raw IP protocols.
    pub port: u16,
}

impl Packets {
    /// (IP protocol number, port) as the port watch keys them; `None` for raw protocols.
    pub fn watchable(&self) -> Option<(u8, u16)> {
        match self.proto {
            WireProto::Udp => Some((libc::IPPROTO_UDP as u8, self.port)),
            WireProto::Tcp => Some((libc::IPPROTO_TCP as u8, self.port)),
            WireProto::Ip(_) => None,
        }
    }
}

/// Reads the heartbeat period (ns) out of a daemon's config text.
type ConfigReader = fn(&str) -> Option<u64>;

#[derive(Debug)]
pub struct Wire {
    pub preset: &'static str,
    pub packets: &'static [Packets],
    /// The protocol's heartbeat period by default, in ms: a peer is normally never silent longer.
    pub period_ms: u64,
    /// What the period is, for the report ("knet ping every 750 ms").
    pub period_what: &'static str,
    /// A loss line without a duration means this many periods of silence.
    pub loss_periods: f64,
    pub loss_what: &'static str,
    /// Loss lines that imply another silence than `loss_periods`: (pattern, periods, what). A
    /// pattern's first group, when it has one, is the silence in ms as the line states it.
    pub lines: &'static [(&'static str, f64, &'static str)],
    /// The daemon's config file and how to read the period from it.
    pub config: Option<(&'static str, ConfigReader)>,
    /// The daemon's process name and the options that name its config file (`corosync -c F`).
    pub process: Option<(&'static str, &'static [&'static str])>,
}

const fn udp(port: u16) -> Packets {
    Packets {
        proto: WireProto::Udp,
        port,
    }
}
const fn tcp(port: u16) -> Packets {
    Packets {
        proto: WireProto::Tcp,
        port,
    }
}

/// corosync's loss lines: a link is declared down after the knet ping timeout (token / 2), and
/// "A processor failed … token timed out (1000ms)" says the token timeout itself.
const COROSYNC_LINES: &[(&str, f64, &str)] = &[
    (
        r"token timed out \((\d+)ms\)",
        4.0,
        "corosync: the token timeout the line states",
    ),
    (
        r"is down|has no active links",
        2.0,
        "corosync: the knet ping timeout (token / knet_pong_count 2)",
    ),
];

pub static WIRES: &[Wire] = &[
    Wire {
        preset: "corosync",
        packets: &[udp(5405), udp(5404)],
        period_ms: 750,
        period_what: "knet ping every token / (2 × knet_pong_count) = 3000 ms / 4",
        loss_periods: 4.0,
        loss_what: "the token timeout (4 knet ping intervals)",
        config: Some(("/etc/corosync/corosync.conf", corosync_period)),
        lines: COROSYNC_LINES,
        process: Some(("corosync", &["-c"])),
    },
    Wire {
        preset: "pacemaker",
        packets: &[udp(5405), udp(5404)],
        period_ms: 750,
        period_what: "corosync's knet ping every 750 ms",
        loss_periods: 4.0,
        loss_what: "corosync's token timeout (4 knet ping intervals)",
        config: Some(("/etc/corosync/corosync.conf", corosync_period)),
        lines: COROSYNC_LINES,
        process: Some(("corosync", &["-c"])),
    },
    Wire {
        preset: "keepalived",
        packets: &[Packets {
            proto: WireProto::Ip(112),
            port: 0,
        }],
        period_ms: 1000,
        period_what: "VRRP advertisement every advert_int (1 s)",
        // 3 × advert_int + skew, skew = (256 − priority) / 256 × advert_int at priority 100.
        loss_periods: 3.61,
        loss_what: "the advertisement timeout: 3 × advert_int + skew ((256 − 100) / 256 × advert_int)",
        config: Some(("/etc/keepalived/keepalived.conf", keepalived_period)),
        lines: &[],
        process: Some(("keepalived", &["-f", "--use-file"])),
    },
    Wire {
        preset: "etcd",
        packets: &[tcp(2380)],
        period_ms: 100,
        period_what: "raft heartbeat-interval 100 ms",
        loss_periods: 10.0,
        loss_what: "the election timeout (10 heartbeat intervals)",
        config: None,
        lines: &[],
        process: None,
    },
    Wire {
        preset: "memberlist",
        packets: &[udp(7946), tcp(7946)],
        period_ms: 1000,
        period_what: "memberlist probe every ProbeInterval (1 s)",
        loss_periods: 1.0,
        loss_what: "one failed probe (ProbeInterval)",
        config: None,
        lines: &[],
        process: None,
    },
    Wire {
        preset: "zookeeper",
        packets: &[tcp(2181)],
        period_ms: 2000,
        period_what: "client ping every tickTime (2 s)",
        loss_periods: 3.0,
        loss_what: "3 ticks",
        config: None,
        lines: &[],
        process: None,
    },
    Wire {
        preset: "kafka",
        packets: &[tcp(9092)],
        period_ms: 3000,
        period_what: "consumer heartbeat.interval.ms 3000",
        loss_periods: 15.0,
        loss_what: "session.timeout.ms 45000 (15 heartbeats)",
        config: None,
        lines: &[],
        process: None,
    },
    Wire {
        preset: "elasticsearch",
        packets: &[tcp(9300)],
        period_ms: 1000,
        period_what: "follower check every 1 s",
        loss_periods: 3.0,
        loss_what: "3 failed follower checks",
        config: None,
        lines: &[],
        process: None,
    },
    Wire {
        preset: "redis-sentinel",
        packets: &[tcp(26379), tcp(6379)],
        period_ms: 1000,
        period_what: "sentinel PING every 1 s",
        loss_periods: 30.0,
        loss_what: "down-after-milliseconds 30000",
        config: None,
        lines: &[],
        process: None,
    },
    Wire {
        preset: "haproxy",
        packets: &[],
        period_ms: 2000,
        period_what: "health check every inter 2 s",
        loss_periods: 3.0,
        loss_what: "fall 3 failed checks",
        config: None,
        lines: &[],
        process: None,
    },
    Wire {
        preset: "kubelet",
        packets: &[tcp(6443)],
        period_ms: 10_000,
        period_what: "node status update every 10 s",
        loss_periods: 1.0,
        loss_what: "one missed node status update",
        config: None,
        lines: &[],
        process: None,
    },
    Wire {
        preset: "cassandra",
        packets: &[tcp(7000)],
        period_ms: 1000,
        period_what: "gossip round every 1 s",
        loss_periods: 8.0,
        loss_what: "about 8 gossip rounds (phi_convict_threshold 8)",
        config: None,
        lines: &[],
        process: None,
    },
    Wire {
        preset: "patroni",
        packets: &[tcp(8008)],
        period_ms: 10_000,
        period_what: "loop_wait 10 s",
        loss_periods: 1.0,
        loss_what: "one loop (loop_wait)",
        config: None,
        lines: &[],
        process: None,
    },
    Wire {
        preset: "cisco-cvp",
        packets: &[],
        period_ms: 5000,
        period_what: "VRU PIM heartbeat every 5 s",
        loss_periods: 1.0,
        loss_what: "one heartbeat",
        config: None,
        lines: &[],
        process: None,
    },
    Wire {
        preset: "flexlm",
        packets: &[tcp(27000)],
        period_ms: 120_000,
        period_what: "lmgrd heartbeat every 120 s",
        loss_periods: 1.0,
        loss_what: "one heartbeat",
        config: None,
        lines: &[],
        process: None,
    },
    Wire {
        preset: "go-global",
        packets: &[],
        period_ms: 120_000,
        period_what: "license heartbeat every 120 s",
        loss_periods: 1.0,
        loss_what: "one heartbeat",
        config: None,
        lines: &[],
        process: None,
    },
];

/// The wire of a preset, by its name.
pub fn of(preset: &str) -> Option<&'static Wire> {
    WIRES.iter().find(|w| w.preset == preset)
}

impl Wire {
    /// The heartbeat period: from the daemon's config under `root` when readable, else the
    /// default; with where it came from.
    pub fn period_ns(&self, root: &Path) -> (u64, String) {
        if let (Some((_, read)), Some(file)) = (self.config, self.running_config(root))
            && let Some(p) = std::fs::read_to_string(&file)
                .ok()
                .as_deref()
                .and_then(read)
        {
            return (p, format!("from {}", file.display()));
        }
        if let Some((path, read)) = self.config {
            let file = root.join(path.trim_start_matches('/'));
            if let Some(p) = std::fs::read_to_string(&file)
                .ok()
                .as_deref()
                .and_then(read)
            {
                return (p, format!("from {path}"));
            }
        }
        (self.period_ms * 1_000_000, "default".to_owned())
    }

    /// The silence a loss line without a duration implies at heartbeat period `period_ns`.
    pub fn loss_ns(&self, period_ns: u64) -> u64 {
        (period_ns as f64 * self.loss_periods) as u64
    }

    /// The silence `line` implies when one of [`Wire::lines`] matches it, and what it is.
    pub fn line_loss_ns(&self, line: &str, period_ns: u64) -> Option<(u64, &'static str)> {
        self.lines.iter().find_map(|(re, periods, what)| {
            // Fixed patterns checked by the unit tests.
            let c = regex::Regex::new(re).ok()?.captures(line)?;
            let stated = c
                .get(1)
                .and_then(|m| m.as_str().parse::<u64>().ok())
                .map(|ms| ms * 1_000_000);
            Some((stated.unwrap_or((period_ns as f64 * periods) as u64), *what))
        })
    }

    /// The config file the running daemon was started with (`corosync -c F`), preferring a
    /// process in hbwatch's own network namespace.
    fn running_config(&self, root: &Path) -> Option<std::path::PathBuf> {
        let (name, flags) = self.process?;
        let proc = root.join("proc");
        let own_ns = std::fs::read_link(proc.join("self/ns/net")).ok();
        let mut found: Option<(bool, std::path::PathBuf)> = None;
        for entry in std::fs::read_dir(&proc).ok()?.flatten() {
            let dir = entry.path();
            let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
            if comm.trim_end() != name {
                continue;
            }
            let cmdline = std::fs::read(dir.join("cmdline")).unwrap_or_default();
            let args: Vec<String> = cmdline
                .split(|b| *b == 0)
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            let file = args.iter().enumerate().find_map(|(i, a)| {
                flags.iter().find_map(|f| {
                    if a == f {
                        args.get(i + 1).cloned()
                    } else {
                        a.strip_prefix(&format!("{f}=")).map(str::to_owned)
                    }
                })
            });
            let Some(file) = file else { continue };
            let same_ns = own_ns.is_some() && std::fs::read_link(dir.join("ns/net")).ok() == own_ns;
            if found.as_ref().is_none_or(|(s, _)| !s && same_ns) {
                found = Some((same_ns, std::path::PathBuf::from(file)));
            }
        }
        found.map(|(_, f)| f)
    }
}

/// First number after `key` on a line of `text`, comments (`#`, `!`) ignored.
fn config_number(text: &str, key: &str) -> Option<f64> {
    text.lines()
        .map(|l| l.split(['#', '!']).next().unwrap_or(""))
        .filter_map(|l| l.trim().strip_prefix(key))
        .filter_map(|rest| {
            rest.trim_start_matches([':', ' ', '\t', '='])
                .split_whitespace()
                .next()?
                .parse::<f64>()
                .ok()
        })
        .find(|v| v.is_finite() && *v > 0.0)
}

/// corosync.conf `token: 3000` (ms): the knet ping interval is token / 4.
fn corosync_period(text: &str) -> Option<u64> {
    let token_ms = config_number(text, "token:")?;
    Some((token_ms * 1e6 / 4.0) as u64)
}

/// keepalived.conf `advert_int 1` (seconds, fractions allowed).
fn keepalived_period(text: &str) -> Option<u64> {
    Some((config_number(text, "advert_int")? * 1e9) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_wire_names_a_preset_and_a_period() {
        for w in WIRES {
            assert!(
                super::super::presets::find(w.preset).is_some(),
                "{} has no preset",
                w.preset
            );
            assert!(w.period_ms > 0 && w.loss_periods > 0.0, "{}", w.preset);
        }
    }

    #[test]
    fn periods_come_from_the_daemons_config() {
        let conf = "totem {\n  version: 2\n  # token: 99\n  token: 2000\n}\n";
        assert_eq!(corosync_period(conf), Some(500_000_000));
        let ka = "vrrp_instance VI_1 {\n    advert_int 2 # seconds\n}\n";
        assert_eq!(keepalived_period(ka), Some(2_000_000_000));
        assert_eq!(keepalived_period("vrrp_instance VI_1 {}"), None);
        let k = of("keepalived").expect("keepalived wire");
        assert_eq!(k.loss_ns(1_000_000_000), 3_610_000_000);
        let tmp = std::env::temp_dir().join(format!("hbcl-wire-{}", std::process::id()));
        std::fs::create_dir_all(tmp.join("etc/keepalived")).expect("mkdir");
        std::fs::write(tmp.join("etc/keepalived/keepalived.conf"), ka).expect("write");
        assert_eq!(k.period_ns(&tmp).0, 2_000_000_000);
        assert_eq!(k.period_ns(Path::new("/nonexistent-hbcl")).0, 1_000_000_000);
        std::fs::remove_dir_all(&tmp).expect("cleanup");
    }

    #[test]
    fn corosync_loss_lines_imply_their_own_silence() {
        let w = of("corosync").expect("corosync wire");
        let period = 250_000_000;
        let down = "vm corosync warning [KNET  ] host: host: 1 has no active links";
        assert_eq!(w.line_loss_ns(down, period).map(|x| x.0), Some(500_000_000));
        let failed =
            "A processor failed, forming new configuration: token timed out (1000ms), waiting";
        assert_eq!(
            w.line_loss_ns(failed, period).map(|x| x.0),
            Some(1_000_000_000)
        );
        assert_eq!(w.line_loss_ns("Token has not been received", period), None);
        for wire in WIRES {
            for (re, _, _) in wire.lines {
                assert!(regex::Regex::new(re).is_ok(), "{re}");
            }
        }
    }
}
