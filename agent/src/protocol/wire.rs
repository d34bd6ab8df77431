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

/// Reads the heartbeat timing out of a daemon's config text.
pub type ConfigReader = fn(&str) -> Option<ConfigTiming>;

/// What a daemon's config sets: its heartbeat period and, when the config says it, the silence
/// a loss line without a duration implies (haproxy's checks before DOWN, sentinel's
/// `down-after-milliseconds`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigTiming {
    pub period_ns: u64,
    pub loss_ns: Option<u64>,
    /// The settings read, in words ("inter 500 ms, fall 2").
    pub what: String,
}

/// How to find the config file a running daemon was started with.
#[derive(Debug)]
pub struct Process {
    /// Its process names (`comm`).
    pub comm: &'static [&'static str],
    /// Options that name the config file (`corosync -c F`, `haproxy -f F`).
    pub flags: &'static [&'static str],
    /// Or its first argument that is not an option (`redis-sentinel FILE`).
    pub positional: bool,
    /// Or this file in its working directory: redis rewrites its command line into a process
    /// title, and changes to its `dir`, where sentinel keeps the config it rewrites.
    pub in_cwd: Option<&'static str>,
}

/// A loss line that implies its own silence (before the source's general loss silence).
#[derive(Debug)]
pub struct LossLine {
    /// Group `ms`: the silence as the line states it. Group `plus_ms`: a duration the line
    /// states (a failed check's), added to `periods` × the period.
    pub re: &'static str,
    pub periods: f64,
    /// A fixed silence instead of periods (sentinel's 2 s tilt trigger).
    pub fixed_ms: Option<u64>,
    pub what: &'static str,
}

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
    /// Loss lines that imply another silence than `loss_periods`.
    pub lines: &'static [LossLine],
    /// The daemon's default config file and how to read the timing from it.
    pub config: Option<(&'static str, ConfigReader)>,
    /// How to find the running daemon's own config file.
    pub process: Option<Process>,
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
const COROSYNC_LINES: &[LossLine] = &[
    LossLine {
        re: r"token timed out \((?<ms>\d+)ms\)",
        periods: 4.0,
        fixed_ms: None,
        what: "corosync: the token timeout the line states",
    },
    LossLine {
        re: r"is down|has no active links",
        periods: 2.0,
        fixed_ms: None,
        what: "corosync: the knet ping timeout (token / knet_pong_count 2)",
    },
];

const COROSYNC: Process = Process {
    comm: &["corosync"],
    flags: &["-c"],
    positional: false,
    in_cwd: None,
};

pub static WIRES: &[Wire] = &[
    Wire {
        preset: "corosync",
        packets: &[udp(5405), udp(5404)],
        period_ms: 750,
        period_what: "knet ping every token / (2 × knet_pong_count) = 3000 ms / 4",
        loss_periods: 4.0,
        loss_what: "the token timeout (4 knet ping intervals)",
        config: Some((
            "/etc/corosync/corosync.conf",
            super::daemon_conf::corosync_timing,
        )),
        lines: COROSYNC_LINES,
        process: Some(COROSYNC),
    },
    Wire {
        preset: "pacemaker",
        packets: &[udp(5405), udp(5404)],
        period_ms: 750,
        period_what: "corosync's knet ping every 750 ms",
        loss_periods: 4.0,
        loss_what: "corosync's token timeout (4 knet ping intervals)",
        config: Some((
            "/etc/corosync/corosync.conf",
            super::daemon_conf::corosync_timing,
        )),
        lines: COROSYNC_LINES,
        process: Some(COROSYNC),
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
        config: Some((
            "/etc/keepalived/keepalived.conf",
            super::daemon_conf::keepalived_timing,
        )),
        lines: &[],
        process: Some(Process {
            comm: &["keepalived"],
            flags: &["-f", "--use-file"],
            positional: false,
            in_cwd: None,
        }),
    },
    Wire {
        preset: "etcd",
        packets: &[tcp(2380)],
        period_ms: 100,
        period_what: "raft heartbeat-interval 100 ms",
        loss_periods: 10.0,
        loss_what: "the election timeout (10 heartbeat intervals)",
        config: None,
        // rafthttp reads its streams with a 5 s deadline (ConnReadTimeout): a read that timed
        // out heard nothing for 5 s.
        lines: &[LossLine {
            re: r"failed to read [0-9a-f]+ on stream .*i/o timeout",
            periods: 0.0,
            fixed_ms: Some(5000),
            what: "etcd: rafthttp's stream read timeout (5 s without a message)",
        }],
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
        // A suspect is declared failed after the suspicion timeout: SuspicionMult 4 ×
        // max(1, log10(members)) probe intervals, after the probe that failed.
        lines: &[LossLine {
            re: r"memberlist: Marking \S+ as failed|EventMemberFailed",
            periods: 5.0,
            fixed_ms: None,
            what: "memberlist: the failed probe and the suspicion timeout (4 probe intervals)",
        }],
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
        config: Some((
            "/etc/redis/sentinel.conf",
            super::daemon_conf::sentinel_timing,
        )),
        lines: &[LossLine {
            re: r"\+tilt #tilt mode entered",
            periods: 0.0,
            fixed_ms: Some(2000),
            what: "sentinel: its timer ran over the 2 s tilt trigger late",
        }],
        process: Some(Process {
            comm: &["redis-sentinel", "redis-server"],
            flags: &[],
            positional: true,
            in_cwd: Some("sentinel.conf"),
        }),
    },
    Wire {
        preset: "haproxy",
        packets: &[],
        period_ms: 2000,
        period_what: "health check every inter 2 s",
        loss_periods: 3.0,
        loss_what: "fall 3 failed checks",
        config: Some((
            "/etc/haproxy/haproxy.cfg",
            super::daemon_conf::haproxy_timing,
        )),
        // A failed check began an interval after the check before and took the duration it
        // states.
        lines: &[LossLine {
            re: r"Health check for (?:backup )?server \S+ failed.*check duration: (?<plus_ms>\d+)ms",
            periods: 1.0,
            fixed_ms: None,
            what: "haproxy: one failed check (inter, then the check duration the line states)",
        }],
        process: Some(Process {
            comm: &["haproxy"],
            flags: &["-f"],
            positional: false,
            in_cwd: None,
        }),
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
    /// The heartbeat timing from the config of the running daemon (found under `root`'s
    /// /proc), else from its default config file; with where it came from. `None`: the
    /// protocol's defaults apply.
    pub fn config_timing(&self, root: &Path) -> Option<(ConfigTiming, String)> {
        let (default, read) = self.config?;
        // A candidate whose config says nothing of this protocol (a redis master's, beside
        // its sentinel's) is passed over.
        let running = self
            .process
            .as_ref()
            .map_or_else(Vec::new, |p| super::daemon_conf::running_configs(p, root));
        for (file, shown) in running {
            if let Some(t) = super::daemon_conf::read_config(&file)
                .as_deref()
                .and_then(read)
            {
                return Some((t, shown));
            }
        }
        let file = root.join(default.trim_start_matches('/'));
        let t = super::daemon_conf::read_config(&file)
            .as_deref()
            .and_then(read)?;
        Some((t, default.to_owned()))
    }

    /// The heartbeat period: from the daemon's config under `root` when readable, else the
    /// default; with where it came from.
    pub fn period_ns(&self, root: &Path) -> (u64, String) {
        match self.config_timing(root) {
            Some((t, from)) => (t.period_ns, format!("from {from}")),
            None => (self.period_ms * 1_000_000, "default".to_owned()),
        }
    }

    /// The silence a loss line without a duration implies at heartbeat period `period_ns`.
    pub fn loss_ns(&self, period_ns: u64) -> u64 {
        (period_ns as f64 * self.loss_periods) as u64
    }

    /// The silence `line` implies when one of [`Wire::lines`] matches it, and what it is.
    pub fn line_loss_ns(&self, line: &str, period_ns: u64) -> Option<(u64, &'static str)> {
        self.lines.iter().find_map(|l| {
            // Fixed patterns checked by the unit tests.
            let c = regex::Regex::new(l.re).ok()?.captures(line)?;
            let ms = |name| {
                c.name(name)
                    .and_then(|m| m.as_str().parse::<u64>().ok())
                    .map(|ms| ms * 1_000_000)
            };
            let periods = match l.fixed_ms {
                Some(f) => f * 1_000_000,
                None => (period_ns as f64 * l.periods) as u64,
            };
            let silence = ms("ms").unwrap_or(periods + ms("plus_ms").unwrap_or(0));
            Some((silence, l.what))
        })
    }
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
        let ka = "vrrp_instance VI_1 {\n    advert_int 2 # seconds\n}\n";
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
        let ml = of("memberlist").expect("memberlist wire");
        let failed = "[INFO] memberlist: Marking n2 as failed, suspect timeout reached (0 peer confirmations)";
        assert_eq!(
            ml.line_loss_ns(failed, 1_000_000_000).map(|x| x.0),
            Some(5_000_000_000)
        );
        let etcd = of("etcd").expect("etcd wire");
        let timeout = "E | rafthttp: failed to read 24603cf507989c65 on stream Message (read tcp \
                       10.199.34.2:39548->10.199.34.1:2380: i/o timeout)";
        assert_eq!(
            etcd.line_loss_ns(timeout, 100_000_000).map(|x| x.0),
            Some(5_000_000_000)
        );
        for wire in WIRES {
            for l in wire.lines {
                assert!(regex::Regex::new(l.re).is_ok(), "{}", l.re);
            }
        }
    }
}
