//! Presets: the heartbeat-loss lines of real cluster systems, each pattern tagged peer-silence,
//! self-stall or clock-jump, with where the timestamp is and how it is written.

use super::timestamp::TsFormat;
use crate::recording::records::EventKind::{self, ClockJump, PeerSilence, SelfStall};

#[derive(Debug)]
pub struct Preset {
    pub name: &'static str,
    pub system: &'static str,
    /// Message patterns (unanchored) with named groups `peer`, `count`, `ms`, `s`, `ns`, maybe `ts`.
    pub patterns: &'static [(EventKind, &'static str)],
    /// Where the stamp is, for patterns without a `ts` group: a `ts` group anchored at line start.
    pub ts: &'static str,
    pub ts_format: TsFormat,
    /// The system's usual heartbeat interval, for onset estimates from "missed N" (ms).
    pub interval_ms: Option<u64>,
    /// A line that only sets context (FlexLM `TIMESTAMP m/d/y`): group `date`.
    pub context: Option<&'static str>,
    pub example: &'static str,
}

/// Leading stamps shared by several presets.
const SYSLOG_TS: &str = r"^(?<ts>[A-Z][a-z]{2} +\d{1,2} \d\d:\d\d:\d\d(?:\.\d+)?)";
const ISO_TS: &str =
    r"^\[?(?<ts>\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?)";

pub static PRESETS: &[Preset] = &[
    Preset {
        name: "corosync",
        system: "corosync/knet (UDP 5405)",
        patterns: &[
            (PeerSilence, r"Token has not been received in (?<ms>\d+) ms"),
            (
                PeerSilence,
                r"A processor failed, forming new configuration",
            ),
            (
                PeerSilence,
                r"host: (?:host: )?(?<peer>\d+) has no active links",
            ),
            (PeerSilence, r"link: host: (?<peer>\d+) link: \d+ is down"),
            (
                SelfStall,
                r"main process was not scheduled (?:\(@\d+\) )?for (?<ms>[\d.]+) ms",
            ),
        ],
        ts: SYSLOG_TS,
        ts_format: TsFormat::Syslog,
        interval_ms: None,
        context: None,
        example: "Nov 22 06:11:44.871 [20774] vm corosync notice  [TOTEM ] Token has not been received in 750 ms ",
    },
    Preset {
        name: "pacemaker",
        system: "pacemaker",
        patterns: &[
            (PeerSilence, r"Cluster node (?<peer>\S+) will be fenced"),
            (PeerSilence, r"Node (?<peer>\S+) state is now lost"),
        ],
        ts: SYSLOG_TS,
        ts_format: TsFormat::Syslog,
        interval_ms: None,
        context: None,
        example: "Feb 20 03:27:24 node1 pacemaker-schedulerd[1739]: warning: Cluster node node2 will be fenced: peer is no longer part of the cluster",
    },
    Preset {
        name: "keepalived",
        system: "keepalived (VRRP)",
        patterns: &[
            (
                PeerSilence,
                r"\((?<peer>[^)]+)\) Receive advertisement timeout",
            ),
            (
                PeerSilence,
                r"(?:VRRP_Instance)?\((?<peer>[^)]+)\) Entering MASTER STATE",
            ),
            (
                SelfStall,
                r"A thread timer expired (?<s>[\d.]+) seconds ago",
            ),
        ],
        ts: r"^(?<ts>(?:[A-Z][a-z]{2} )?[A-Z][a-z]{2} +\d{1,2} \d\d:\d\d:\d\d(?: \d{4})?)",
        ts_format: TsFormat::Auto,
        interval_ms: Some(1000),
        context: None,
        example: "Sun Nov 22 06:12:32 2026: (VI_1) Receive advertisement timeout",
    },
    Preset {
        name: "etcd",
        system: "etcd 3.4 text and 3.5 JSON (TCP 2380)",
        patterns: &[
            (
                SelfStall,
                r"failed to send out heartbeat on time \(exceeded the \d+ms timeout for (?<s>[\d.]+)s, to (?<peer>[0-9a-f]+)\)",
            ),
            (
                SelfStall,
                r#""ts":"(?<ts>[^"]+)".*failed to send out heartbeat on time.*"exceeded-duration":"(?:(?<ms>[\d.]+)ms|(?<s>[\d.]+)s)""#,
            ),
            // Printed right after the line above.
            (SelfStall, r"etcdserver: server is likely overloaded"),
            (
                PeerSilence,
                r"lost the TCP streaming connection with peer (?<peer>[0-9a-f]+)",
            ),
            (PeerSilence, r"failed to read (?<peer>[0-9a-f]+) on stream"),
            (PeerSilence, r"failed to dial (?<peer>[0-9a-f]+) on stream"),
            // The peer dialled again: its old stream had gone silent.
            (
                PeerSilence,
                r"closed an existing TCP streaming connection with peer (?<peer>[0-9a-f]+)",
            ),
            (
                PeerSilence,
                r"health check for peer (?<peer>[0-9a-f]+) could not connect",
            ),
            (
                PeerSilence,
                r"stepped down to follower since quorum is not active",
            ),
        ],
        // 3.4's raft lines are `raft2026/11/22 06:10:14 WARN: …`.
        ts: r"^(?:raft)?(?<ts>\d{4}[-/]\d\d[-/]\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?)",
        ts_format: TsFormat::Auto,
        interval_ms: Some(100),
        context: None,
        example: "2026-11-22 06:10:15.641906 W | etcdserver: failed to send out heartbeat on time (exceeded the 50ms timeout for 1.443029796s, to ddd67b312462fd7b)",
    },
    Preset {
        name: "memberlist",
        system: "memberlist / serf / consul (UDP 7946)",
        patterns: &[
            (
                PeerSilence,
                r"memberlist: Suspect (?<peer>\S+) has failed, no acks received",
            ),
            (PeerSilence, r"memberlist: Marking (?<peer>\S+) as failed"),
            (PeerSilence, r"EventMemberFailed: (?<peer>\S+)"),
            // The UDP probes fail while the TCP fallback still works (a UDP-only drop).
            (
                PeerSilence,
                r"memberlist: Was able to connect to (?<peer>\S+) but other probes failed",
            ),
            (
                PeerSilence,
                r"memberlist: Failed fallback ping: .*->(?<peer>[^\s:]+):\d+",
            ),
            // A peer suspected this node, or declared it dead: heartbeats between them were lost.
            (
                PeerSilence,
                r"memberlist: Refuting a (?:suspect|dead) message \(from: (?<peer>[^)]+)\)",
            ),
        ],
        // serf indents its lines with four spaces.
        ts: r"^\s*(?<ts>\d{4}[/-]\d\d[/-]\d\d[T ]\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?)",
        ts_format: TsFormat::Auto,
        interval_ms: Some(1000),
        context: None,
        example: "2026/11/22 06:09:42 [INFO] memberlist: Suspect n2 has failed, no acks received",
    },
    Preset {
        name: "zookeeper",
        system: "zookeeper client (TCP 2181)",
        patterns: &[(
            PeerSilence,
            r"(?:SendThread\((?<peer>[^)]+)\)\S*\s+)?Client session timed out, have not heard from server in (?<ms>\d+)ms",
        )],
        ts: ISO_TS,
        ts_format: TsFormat::Iso,
        interval_ms: None,
        context: None,
        example: "2011-01-28 08:41:56,478 [resin-23-SendThread(10.160.14.154:2181)] Client session timed out, have not heard from server in 21824ms for sessionid 0x17ddcb5bc628138, closing socket connection and attempting reconnect",
    },
    Preset {
        name: "kafka",
        system: "kafka group coordinator (TCP 9092)",
        patterns: &[(PeerSilence, r"Member (?<peer>\S+) in group \S+ has failed")],
        ts: ISO_TS,
        ts_format: TsFormat::Iso,
        interval_ms: Some(3000),
        context: None,
        example: "[2020-03-01 02:12:03,532] INFO [GroupCoordinator 0]: Member consumer-1-9f in group consumer-1 has failed, removing it from the group (kafka.coordinator.group.GroupCoordinator)",
    },
    Preset {
        name: "elasticsearch",
        system: "elasticsearch (TCP 9300)",
        patterns: &[
            (PeerSilence, r"master not discovered yet"),
            (
                PeerSilence,
                r"node-left\[\{(?<peer>[^}]+)\}.*followers check retry count exceeded",
            ),
        ],
        ts: ISO_TS,
        ts_format: TsFormat::Iso,
        interval_ms: Some(1000),
        context: None,
        example: "[2021-10-19T12:07:57,076][WARN ][o.e.c.c.ClusterFormationFailureHelper] [node-1] master not discovered yet, this node has not previously joined a bootstrapped cluster",
    },
    Preset {
        name: "redis-sentinel",
        system: "redis sentinel (TCP 26379)",
        patterns: &[
            (
                PeerSilence,
                r"\+[so]down (?:master|slave|sentinel) (?<peer>\S+ \S+ \d+)",
            ),
            // Its timer ran more than 2 s late (the process did not run, or the clock jumped).
            (SelfStall, r"\+tilt #tilt mode entered"),
        ],
        ts: r"^(?:\d+:[A-Z] |\[\d+\] )(?<ts>\d{1,2} [A-Z][a-z]{2} (?:\d{4} )?\d\d:\d\d:\d\d(?:\.\d+)?)",
        ts_format: TsFormat::Redis,
        interval_ms: Some(1000),
        context: None,
        example: "21393:X 22 Nov 2026 06:13:12.882 # +sdown master mymaster 127.0.0.1 16379",
    },
    Preset {
        name: "haproxy",
        system: "haproxy health checks (option log-health-checks)",
        patterns: &[
            (
                PeerSilence,
                r"Health check for (?:backup )?server (?<peer>\S+) failed",
            ),
            (PeerSilence, r"Server (?<peer>\S+) is DOWN"),
            (
                PeerSilence,
                r"backend '?(?<peer>[^' ]+)'? has no server available",
            ),
        ],
        ts: ISO_TS,
        ts_format: TsFormat::Iso,
        interval_ms: Some(2000),
        context: None,
        example: "2026-11-22T06:13:44.982737+00:00 Server be/s2 is DOWN. 1 active and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue.",
    },
    Preset {
        name: "kubelet",
        system: "kubelet / kubernetes node status",
        patterns: &[
            (PeerSilence, r"Error updating node status, will retry"),
            (
                PeerSilence,
                r"Node (?<peer>\S+) status is now: NodeNotReady",
            ),
            (PeerSilence, r"Kubelet stopped posting node status"),
        ],
        ts: r"^(?<ts>[IWEF]\d{4} \d\d:\d\d:\d\d(?:\.\d+)?)",
        ts_format: TsFormat::Klog,
        interval_ms: Some(10_000),
        context: None,
        example: r#"E0927 08:59:59.849143    1234 kubelet_node_status.go:460] "Error updating node status, will retry" err="error getting node""#,
    },
    Preset {
        name: "cassandra",
        system: "cassandra gossip",
        patterns: &[
            (PeerSilence, r"InetAddress /?(?<peer>\S+) is now DOWN"),
            (
                SelfStall,
                r"Not marking nodes down due to local pause of (?<ns>\d+)",
            ),
        ],
        ts: r"^\S+\s+\[[^\]]*\] (?<ts>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:[.,]\d+)?)",
        ts_format: TsFormat::Iso,
        interval_ms: Some(1000),
        context: None,
        example: "INFO  [GossipTasks:1] 2017-03-21 17:11:05,462 Gossiper.java:968 - InetAddress /10.161.26.248 is now DOWN",
    },
    Preset {
        name: "patroni",
        system: "patroni",
        patterns: &[
            (PeerSilence, r"Request failed to (?<peer>[^:\s]+): "),
            (SelfStall, r"Loop time exceeded, rescheduling immediately"),
        ],
        ts: ISO_TS,
        ts_format: TsFormat::Iso,
        interval_ms: Some(10_000),
        context: None,
        example: "2025-02-25 13:44:32,001 WARNING: Request failed to srv2: GET http://srv2:8008/patroni (timeout)",
    },
    Preset {
        name: "cisco-cvp",
        system: "Cisco CVP / ICM VRU PIM",
        patterns: &[
            (PeerSilence, r"Missed (?<count>\d+) VRU PIM heartbeats"),
            (PeerSilence, r"piml TCP connection to VRU has been broken"),
        ],
        ts: r"^(?<ts>[A-Z][a-z]{2} \d{1,2} \d{4} \d\d:\d\d:\d\d(?:\.\d+)? [+-]\d{4})",
        ts_format: TsFormat::Cvp,
        interval_ms: Some(5000),
        context: None,
        example: "Mar 30 2013 19:36:57.328 -0500: %CVP_8_5_ICM-6-LOGMSG_ICM_SS_GENERAL_INFO: Missed 2 VRU PIM heartbeats. Closing session and waiting for new connection from PIM. [id:2007]",
    },
    Preset {
        name: "flexlm",
        system: "FlexLM / FlexNet license servers",
        patterns: &[
            (PeerSilence, r"\((?<peer>[^)]+)\) Lost connection to lmgrd"),
            (
                PeerSilence,
                r"(?<peer>\S+): License server machine is down or not responding",
            ),
        ],
        ts: r"^\s*(?<ts>\d{1,2}:\d\d:\d\d)",
        ts_format: TsFormat::TimeOnly,
        interval_ms: None,
        context: Some(r"TIMESTAMP (?<date>\d{1,2}/\d{1,2}/\d{4})"),
        example: "10:22:01 (INTEL) Lost connection to lmgrd, heartbeat timeout expired, exiting.",
    },
    Preset {
        name: "go-global",
        system: "GO-Global application server license heartbeat",
        patterns: &[(
            PeerSilence,
            r"AS: Failed to complete license heartbeat\. \((?<count>\d+)\)",
        )],
        ts: ISO_TS,
        ts_format: TsFormat::Iso,
        interval_ms: Some(120_000),
        context: None,
        example: "2011-01-28 08:41:56.478 AS: Failed to complete license heartbeat. (1)",
    },
    Preset {
        name: "chrony",
        system: "chrony (wall-clock steps, not heartbeat gaps)",
        patterns: &[
            (ClockJump, r"(?:Forward|Backward) time jump detected"),
            (
                ClockJump,
                r"System clock was stepped by (?<s>-?[\d.]+) seconds",
            ),
        ],
        ts: r"^(?<ts>[A-Z][a-z]{2} +\d{1,2} \d\d:\d\d:\d\d(?:\.\d+)?|\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?)",
        ts_format: TsFormat::Auto,
        interval_ms: None,
        context: None,
        example: "Nov 22 06:20:01 vm chronyd[812]: Forward time jump detected!",
    },
];

pub fn find(name: &str) -> Option<&'static Preset> {
    let name = match name {
        "serf" | "consul" => "memberlist",
        "redis" | "sentinel" => "redis-sentinel",
        "kubernetes" => "kubelet",
        "flexnet" => "flexlm",
        "cvp" => "cisco-cvp",
        "knet" => "corosync",
        n => n,
    };
    PRESETS.iter().find(|p| p.name == name)
}

pub fn names() -> Vec<&'static str> {
    PRESETS.iter().map(|p| p.name).collect()
}

impl Preset {
    /// The families this preset reports, for listings.
    pub fn families(&self) -> Vec<&'static str> {
        let mut f: Vec<&'static str> = self
            .patterns
            .iter()
            .map(|(k, _)| match k {
                PeerSilence => "peer-silence",
                SelfStall => "self-stall",
                ClockJump => "clock-jump",
                EventKind::Arrival => "arrival",
            })
            .collect();
        f.dedup();
        f
    }
}
