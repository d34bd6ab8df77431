//! Every preset against the real lines in shared/heartbeat-lines.md (and its own example).

use jiff::{Timestamp, tz::TimeZone};

use super::*;
use crate::protocol::presets::{self, PRESETS};
use crate::recording::records::EventKind::{ClockJump, PeerSilence, SelfStall};

fn ns(rfc: &str) -> i64 {
    rfc.parse::<Timestamp>()
        .expect("test stamp")
        .as_nanosecond() as i64
}

fn matcher(name: &str) -> LineMatcher {
    let p = presets::find(name).unwrap_or_else(|| panic!("preset {name}"));
    LineMatcher::preset(p, TsContext::new(TimeZone::UTC, ns("2026-11-22T07:00:00Z")))
}

struct Case {
    preset: &'static str,
    line: &'static str,
    kind: EventKind,
    stamp: Option<&'static str>,
    peer: Option<&'static str>,
    count: Option<u64>,
    measured_ms: Option<f64>,
}

const fn case(preset: &'static str, line: &'static str, kind: EventKind) -> Case {
    Case {
        preset,
        line,
        kind,
        stamp: None,
        peer: None,
        count: None,
        measured_ms: None,
    }
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            stamp: Some("2026-11-22T06:11:44.871Z"),
            measured_ms: Some(750.0),
            ..case(
                "corosync",
                "Nov 22 06:11:44.871 [20774] vm corosync notice  [TOTEM ] Token has not been received in 750 ms ",
                PeerSilence,
            )
        },
        Case {
            peer: Some("2"),
            ..case(
                "corosync",
                "Nov 22 06:11:44.679 [20774] vm corosync warning [KNET  ] host: host: 2 has no active links",
                PeerSilence,
            )
        },
        Case {
            peer: Some("2"),
            ..case(
                "corosync",
                "Nov 22 06:11:44.679 [20774] vm corosync info    [KNET  ] link: host: 2 link: 0 is down",
                PeerSilence,
            )
        },
        case(
            "corosync",
            "Nov 22 06:11:45.123 [20774] vm corosync notice  [TOTEM ] A processor failed, forming new configuration: token timed out (1000ms), waiting 1200ms for consensus.",
            PeerSilence,
        ),
        Case {
            stamp: Some("2026-11-22T06:11:47.147Z"),
            measured_ms: Some(3307.5891),
            ..case(
                "corosync",
                "Nov 22 06:11:47.147 [20775] vm corosync warning [MAIN  ] Corosync main process was not scheduled (@1795327907147) for 3307.5891 ms (threshold is 800.0000 ms). Consider token timeout increase.",
                SelfStall,
            )
        },
        Case {
            stamp: Some("2026-05-07T18:37:11Z"),
            ..case(
                "corosync",
                "May 7 18:37:11 node2 corosync[12718]: [TOTEM ] A processor failed, forming new configuration.",
                PeerSilence,
            )
        },
        Case {
            peer: Some("node2"),
            stamp: Some("2026-02-20T03:27:24Z"),
            ..case(
                "pacemaker",
                "Feb 20 03:27:24 node1 pacemaker-schedulerd[1739]: warning: Cluster node node2 will be fenced: peer is no longer part of the cluster",
                PeerSilence,
            )
        },
        Case {
            peer: Some("node2"),
            ..case("pacemaker", "Node node2 state is now lost", PeerSilence)
        },
        Case {
            peer: Some("VI_1"),
            stamp: Some("2026-11-22T06:12:32Z"),
            ..case(
                "keepalived",
                "Sun Nov 22 06:12:32 2026: (VI_1) Receive advertisement timeout",
                PeerSilence,
            )
        },
        Case {
            peer: Some("VI_1"),
            ..case(
                "keepalived",
                "Sun Nov 22 06:12:32 2026: (VI_1) Entering MASTER STATE",
                PeerSilence,
            )
        },
        Case {
            measured_ms: Some(5235.877),
            stamp: Some("2026-11-22T06:12:34Z"),
            ..case(
                "keepalived",
                "Sun Nov 22 06:12:34 2026: A thread timer expired 5.235877 seconds ago",
                SelfStall,
            )
        },
        Case {
            peer: Some("VI_1"),
            stamp: Some("2026-02-10T16:36:28Z"),
            ..case(
                "keepalived",
                "Feb 10 16:36:28 cfhost Keepalived_vrrp: VRRP_Instance(VI_1) Entering MASTER STATE",
                PeerSilence,
            )
        },
        Case {
            peer: Some("ddd67b312462fd7b"),
            measured_ms: Some(1443.029796),
            stamp: Some("2026-11-22T06:10:15.641906Z"),
            ..case(
                "etcd",
                "2026-11-22 06:10:15.641906 W | etcdserver: failed to send out heartbeat on time (exceeded the 50ms timeout for 1.443029796s, to ddd67b312462fd7b)",
                SelfStall,
            )
        },
        Case {
            measured_ms: Some(1200.0),
            stamp: Some("2025-11-06T04:12:22.04921Z"),
            ..case(
                "etcd",
                r#"{"level":"warn","ts":"2025-11-06T05:12:22.049210+0100","msg":"leader failed to send out heartbeat on time; took too long, leader is overloaded likely from slow disk","to":"...","heartbeat-interval":"100ms","expected-duration":"200ms","exceeded-duration":"1.2s"}"#,
                SelfStall,
            )
        },
        Case {
            peer: Some("n2"),
            stamp: Some("2026-11-22T06:09:42Z"),
            ..case(
                "memberlist",
                "2026/11/22 06:09:42 [INFO] memberlist: Suspect n2 has failed, no acks received",
                PeerSilence,
            )
        },
        Case {
            peer: Some("n2"),
            ..case(
                "memberlist",
                "2026/11/22 06:09:44 [INFO] memberlist: Marking n2 as failed, suspect timeout reached (0 peer confirmations)",
                PeerSilence,
            )
        },
        Case {
            peer: Some("consul-client-01"),
            stamp: Some("2021-08-23T00:27:42.163Z"),
            ..case(
                "consul",
                "2021-08-23T00:27:42.163Z [INFO]  agent.server.serf.lan: serf: EventMemberFailed: consul-client-01 10.128.0.7",
                PeerSilence,
            )
        },
        Case {
            peer: Some("10.160.14.154:2181"),
            measured_ms: Some(21824.0),
            stamp: Some("2011-01-28T08:41:56.478Z"),
            ..case(
                "zookeeper",
                "2011-01-28 08:41:56,478 [resin-23-SendThread(10.160.14.154:2181)] Client session timed out, have not heard from server in 21824ms for sessionid 0x17ddcb5bc628138, closing socket connection and attempting reconnect",
                PeerSilence,
            )
        },
        Case {
            stamp: Some("2020-03-01T02:12:03.532Z"),
            peer: Some("consumer-1-9f"),
            ..case(
                "kafka",
                "[2020-03-01 02:12:03,532] INFO [GroupCoordinator 0]: Member consumer-1-9f in group consumer-1 has failed, removing it from the group (kafka.coordinator.group.GroupCoordinator)",
                PeerSilence,
            )
        },
        Case {
            stamp: Some("2021-10-19T12:07:57.076Z"),
            ..case(
                "elasticsearch",
                "[2021-10-19T12:07:57,076][WARN ][o.e.c.c.ClusterFormationFailureHelper] [n1] master not discovered yet, this node has not previously joined a bootstrapped cluster",
                PeerSilence,
            )
        },
        Case {
            peer: Some("node-2"),
            ..case(
                "elasticsearch",
                "[2021-10-19T12:08:01,000][INFO ][o.e.c.s.MasterService] node-left[{node-2}{abc} reason: followers check retry count exceeded]",
                PeerSilence,
            )
        },
        Case {
            peer: Some("mymaster 127.0.0.1 16379"),
            stamp: Some("2026-11-22T06:13:12.882Z"),
            ..case(
                "redis-sentinel",
                "21393:X 22 Nov 2026 06:13:12.882 # +sdown master mymaster 127.0.0.1 16379",
                PeerSilence,
            )
        },
        Case {
            peer: Some("mymaster 127.0.0.1 16379"),
            ..case(
                "redis-sentinel",
                "21393:X 22 Nov 2026 06:13:13.942 # +odown master mymaster 127.0.0.1 16379 #quorum 3/2",
                PeerSilence,
            )
        },
        Case {
            peer: Some("mymaster 127.0.0.1 7001"),
            stamp: Some("2026-05-22T22:07:23.17Z"),
            ..case(
                "redis-sentinel",
                "[15520] 22 May 22:07:23.170 # +sdown master mymaster 127.0.0.1 7001",
                PeerSilence,
            )
        },
        Case {
            peer: Some("be/s2"),
            ..case(
                "haproxy",
                r#"[WARNING]  (21856) : Health check for server be/s2 failed, reason: Layer4 connection problem, info: "Connection refused", check duration: 0ms, status: 1/2 UP."#,
                PeerSilence,
            )
        },
        Case {
            peer: Some("be/s2"),
            stamp: Some("2026-11-22T06:13:44.982705Z"),
            ..case(
                "haproxy",
                r#"2026-11-22T06:13:44.982705+00:00 Health check for server be/s2 failed, reason: Layer4 connection problem, info: "Connection refused", check duration: 0ms, status: 0/2 DOWN."#,
                PeerSilence,
            )
        },
        Case {
            peer: Some("be/s2"),
            ..case(
                "haproxy",
                "2026-11-22T06:13:44.982737+00:00 Server be/s2 is DOWN. 1 active and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue.",
                PeerSilence,
            )
        },
        Case {
            stamp: Some("2026-09-27T08:59:59.849143Z"),
            ..case(
                "kubelet",
                r#"E0927 08:59:59.849143    1234 kubelet_node_status.go:460] "Error updating node status, will retry" err="x""#,
                PeerSilence,
            )
        },
        Case {
            peer: Some("worker-3"),
            ..case(
                "kubelet",
                "Node worker-3 status is now: NodeNotReady",
                PeerSilence,
            )
        },
        case(
            "kubelet",
            "Kubelet stopped posting node status.",
            PeerSilence,
        ),
        Case {
            peer: Some("10.161.26.248"),
            stamp: Some("2017-03-21T17:11:05.462Z"),
            ..case(
                "cassandra",
                "INFO  [GossipTasks:1] 2017-03-21 17:11:05,462 Gossiper.java:968 - InetAddress /10.161.26.248 is now DOWN",
                PeerSilence,
            )
        },
        Case {
            measured_ms: Some(6352.321315),
            ..case(
                "cassandra",
                "WARN  [GossipTasks:1] 2017-03-21 17:11:06,000 FailureDetector.java:288 - Not marking nodes down due to local pause of 6352321315 > 5000000000",
                SelfStall,
            )
        },
        Case {
            peer: Some("srv2"),
            ..case(
                "patroni",
                "2025-02-25 13:44:30,001 WARNING: Request failed to srv2: GET http://srv2:8008/patroni (timeout)",
                PeerSilence,
            )
        },
        case(
            "patroni",
            "2025-02-25 13:44:32,001 WARNING: Loop time exceeded, rescheduling immediately.",
            SelfStall,
        ),
        Case {
            count: Some(2),
            stamp: Some("2013-03-31T00:36:57.328Z"),
            ..case(
                "cisco-cvp",
                "Mar 30 2013 19:36:57.328 -0500: %CVP_8_5_ICM-6-LOGMSG_ICM_SS_GENERAL_INFO: Missed 2 VRU PIM heartbeats. Closing session and waiting for new connection from PIM. [id:2007]",
                PeerSilence,
            )
        },
        case(
            "cisco-cvp",
            "piml TCP connection to VRU has been broken.",
            PeerSilence,
        ),
        Case {
            peer: Some("INTEL"),
            stamp: Some("2026-11-22T10:22:01Z"),
            ..case(
                "flexlm",
                "10:22:01 (INTEL) Lost connection to lmgrd, heartbeat timeout expired, exiting.",
                PeerSilence,
            )
        },
        Case {
            peer: Some("blm"),
            ..case(
                "flexlm",
                " 8:38:22 (blm) Lost connection to lmgrd, exiting.",
                PeerSilence,
            )
        },
        Case {
            peer: Some("server2"),
            ..case(
                "flexlm",
                "server2: License server machine is down or not responding.",
                PeerSilence,
            )
        },
        Case {
            count: Some(1),
            stamp: Some("2011-01-28T08:41:56.478Z"),
            ..case(
                "go-global",
                "2011-01-28 08:41:56.478 AS: Failed to complete license heartbeat. (1)",
                PeerSilence,
            )
        },
        Case {
            count: Some(2),
            stamp: Some("2011-01-28T08:48:59.178Z"),
            ..case(
                "go-global",
                "2011-01-28 08:48:59.178 AS: Failed to complete license heartbeat. (2)",
                PeerSilence,
            )
        },
        Case {
            stamp: Some("2026-11-22T06:20:01Z"),
            ..case(
                "chrony",
                "Nov 22 06:20:01 vm chronyd[812]: Forward time jump detected!",
                ClockJump,
            )
        },
        case("chrony", "Backward time jump detected!", ClockJump),
    ]
}

/// Lines the daemons printed in the `daemon_*` root tests (Debian bookworm packages on this VM,
/// December 2026), during the faults those tests inject.
fn captured() -> Vec<Case> {
    vec![
        Case {
            peer: Some("n1"),
            stamp: Some("2026-12-02T06:37:25Z"),
            ..case(
                "memberlist",
                "    2026/12/02 06:37:25 [WARN] memberlist: Was able to connect to n1 but other probes failed, network may be misconfigured",
                PeerSilence,
            )
        },
        Case {
            peer: Some("10.199.33.1"),
            stamp: Some("2026-12-02T06:37:32Z"),
            ..case(
                "memberlist",
                "    2026/12/02 06:37:32 [ERR] memberlist: Failed fallback ping: read tcp 10.199.33.2:57824->10.199.33.1:7946: i/o timeout",
                PeerSilence,
            )
        },
        Case {
            peer: Some("n1"),
            ..case(
                "memberlist",
                "    2026/12/02 06:37:42 [WARN] memberlist: Refuting a suspect message (from: n1)",
                PeerSilence,
            )
        },
        Case {
            peer: Some("n1"),
            ..case(
                "memberlist",
                "    2026/12/02 07:08:54 [WARN] memberlist: Refuting a dead message (from: n1)",
                PeerSilence,
            )
        },
        Case {
            peer: Some("n1"),
            stamp: Some("2026-12-02T06:36:28Z"),
            ..case(
                "memberlist",
                "    2026/12/02 06:36:28 [INFO] memberlist: Suspect n1 has failed, no acks received",
                PeerSilence,
            )
        },
        Case {
            stamp: Some("2026-12-02T06:44:54.062281Z"),
            ..case(
                "etcd",
                "2026-12-02 06:44:54.062281 W | etcdserver: server is likely overloaded",
                SelfStall,
            )
        },
        Case {
            peer: Some("24603cf507989c65"),
            measured_ms: Some(3868.613599),
            ..case(
                "etcd",
                "2026-12-02 06:44:54.062265 W | etcdserver: failed to send out heartbeat on time (exceeded the 100ms timeout for 3.868613599s, to 24603cf507989c65)",
                SelfStall,
            )
        },
        Case {
            peer: Some("24603cf507989c65"),
            stamp: Some("2026-12-02T06:44:27.607162Z"),
            ..case(
                "etcd",
                "2026-12-02 06:44:27.607162 W | rafthttp: lost the TCP streaming connection with peer 24603cf507989c65 (stream MsgApp v2 reader)",
                PeerSilence,
            )
        },
        Case {
            peer: Some("24603cf507989c65"),
            ..case(
                "etcd",
                "2026-12-02 06:44:27.607217 E | rafthttp: failed to read 24603cf507989c65 on stream MsgApp v2 (read tcp 10.199.34.2:41020->10.199.34.1:2380: i/o timeout)",
                PeerSilence,
            )
        },
        Case {
            peer: Some("24603cf507989c65"),
            ..case(
                "etcd",
                "2026-12-02 06:44:28.294915 W | rafthttp: closed an existing TCP streaming connection with peer 24603cf507989c65 (stream Message writer)",
                PeerSilence,
            )
        },
        Case {
            stamp: Some("2026-12-02T06:44:24Z"),
            ..case(
                "etcd",
                "raft2026/12/02 06:44:24 WARN: d296636fcac0d30f stepped down to follower since quorum is not active",
                PeerSilence,
            )
        },
        Case {
            stamp: Some("2026-12-02T06:45:42.828Z"),
            ..case(
                "redis-sentinel",
                "4832:X 02 Dec 2026 06:45:42.828 # +tilt #tilt mode entered",
                SelfStall,
            )
        },
        Case {
            peer: Some("mymaster 10.199.35.1 6379"),
            ..case(
                "redis-sentinel",
                "4832:X 02 Dec 2026 06:45:16.210 # +sdown master mymaster 10.199.35.1 6379",
                PeerSilence,
            )
        },
        Case {
            peer: Some("be"),
            ..case(
                "haproxy",
                "[ALERT]    (6591) : backend 'be' has no server available!",
                PeerSilence,
            )
        },
        Case {
            peer: Some("be"),
            stamp: Some("2026-11-22T06:13:44.982886Z"),
            ..case(
                "haproxy",
                "2026-11-22T06:13:44.982886+00:00 backend be has no server available!",
                PeerSilence,
            )
        },
        Case {
            peer: Some("be/s1"),
            ..case(
                "haproxy",
                "[WARNING]  (6591) : Health check for server be/s1 failed, reason: Layer7 timeout, check duration: 500ms, status: 0/2 DOWN.",
                PeerSilence,
            )
        },
        Case {
            peer: Some("VI_1"),
            ..case(
                "keepalived",
                "Wed Dec  2 06:34:51 2026: (VI_1) Receive advertisement timeout",
                PeerSilence,
            )
        },
        Case {
            measured_ms: Some(3390.606),
            ..case(
                "keepalived",
                "Wed Dec  2 06:35:21 2026: A thread timer expired 3.390606 seconds ago",
                SelfStall,
            )
        },
        Case {
            measured_ms: Some(3230.189),
            ..case(
                "corosync",
                "Dec 02 06:33:21.009 [7735] vm corosync warning [MAIN  ] Corosync main process was not scheduled (@1796193201009) for 3230.1890 ms (threshold is 800.0000 ms). Consider token timeout increase.",
                SelfStall,
            )
        },
    ]
}

#[test]
fn presets_match_real_lines() {
    for c in cases().into_iter().chain(captured()) {
        let m = matcher(c.preset)
            .match_line(c.line)
            .unwrap_or_else(|| panic!("{}: no match: {}", c.preset, c.line));
        assert_eq!(m.kind, c.kind, "{}: {}", c.preset, c.line);
        assert_eq!(m.peer.as_deref(), c.peer, "peer: {}", c.line);
        assert_eq!(m.count, c.count, "count: {}", c.line);
        if let Some(want) = c.stamp {
            assert_eq!(m.stamped_ns, Some(ns(want)), "stamp: {}", c.line);
        }
        assert!(!m.bad_timestamp, "bad stamp: {}", c.line);
        match c.measured_ms {
            Some(ms) => {
                let got = m.measured_ns.expect("measured") as f64 / 1e6;
                assert!((got - ms).abs() < 0.01, "measured {got} ≠ {ms}: {}", c.line);
            }
            None => assert_eq!(m.measured_ns, None, "measured: {}", c.line),
        }
    }
}

#[test]
fn every_preset_matches_its_example_and_is_tested() {
    let cases = cases();
    for p in PRESETS {
        let m = LineMatcher::preset(p, TsContext::new(TimeZone::UTC, ns("2026-11-22T07:00:00Z")))
            .match_line(p.example);
        assert!(m.is_some(), "{}: example does not match", p.name);
        assert!(
            cases
                .iter()
                .any(|c| presets::find(c.preset).map(|x| x.name) == Some(p.name)),
            "{} has no real-line case",
            p.name
        );
    }
}

#[test]
fn ordinary_lines_do_not_match() {
    for p in PRESETS {
        let mut m = LineMatcher::preset(p, TsContext::new(TimeZone::UTC, 0));
        for line in [
            "Nov 22 06:11:40.000 [20774] vm corosync notice  [TOTEM ] A new membership (1.d) was formed. Members joined: 2",
            "2025-02-25 13:44:32,001 INFO: no action. I am (saas-uat-pgsql02), the leader with the lock",
            "raft2026/11/22 06:10:14 INFO: 8e9e05c52164694d is starting a new election at term 2",
            "server1: license server UP (MASTER) v10.8",
            // Recoveries the daemon tests saw after each fault.
            "4832:X 02 Dec 2026 06:45:21.484 # -sdown master mymaster 10.199.35.1 6379",
            "4832:X 02 Dec 2026 06:45:47.001 # -tilt #tilt mode exited",
            "[WARNING]  (6591) : Server be/s1 is UP. 1 active and 0 backup servers online. 0 sessions requeued, 0 total in queue.",
            "[WARNING]  (6591) : Health check for server be/s1 succeeded, reason: Layer7 check passed, code: 200, check duration: 0ms, status: 2/2 UP.",
            "Wed Dec  2 06:23:55 2026: (VI_1) Master received advert from 10.199.201.1 with higher priority 150, ours 100",
            "2026-12-02 06:26:12.682302 I | rafthttp: established a TCP streaming connection with peer 53e64692f9d5819 (stream MsgApp v2 reader)",
            "    2026/12/02 06:24:43 [INFO] serf: EventMemberJoin: n2 10.199.201.2",
        ] {
            assert_eq!(m.match_line(line), None, "{} matched {line}", p.name);
        }
    }
}

#[test]
fn flexlm_takes_its_date_from_timestamp_lines() {
    let mut m = matcher("flexlm");
    assert_eq!(m.match_line("10:00:00 (lmgrd) TIMESTAMP 4/8/2019"), None);
    let hit = m
        .match_line(
            "10:22:01 (INTEL) Lost connection to lmgrd, heartbeat timeout expired, exiting.",
        )
        .expect("match");
    assert_eq!(hit.stamped_ns, Some(ns("2019-04-08T10:22:01Z")));
}
