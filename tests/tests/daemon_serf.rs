//! serf agents (hashicorp memberlist: UDP probes on 7946, TCP fallback), two nodes in
//! namespaces, recorded with the memberlist preset and the probe port while UDP 7946 is dropped,
//! everything is dropped, and each agent is stopped, and its receive buffer is flooded.

use std::time::Duration;

use hbwatch_tests::{
    daemons::{Action, Cluster, Fault, Plan, require_bins},
    require_root,
};

const NET: u8 = 33;

/// memberlist's `[WARN]` and `[ERR]` lines, without the one it prints for each datagram of the
/// flood (`msg type (104) not supported from=…`: not memberlist's, so not a heartbeat).
fn warn(line: &str) -> bool {
    (line.contains("[WARN]") || line.contains("[ERR]")) && !line.contains("not supported from=")
}

#[test]
fn serf_memberlist_faults() {
    if !require_root("serf_memberlist_faults") || !require_bins("serf_memberlist_faults", &["serf"])
    {
        return;
    }
    let mut c = Cluster::new("hbd-serf", NET);
    for (node, ns) in [(1u8, c.pair.a.clone()), (2, c.pair.b.clone())] {
        let bind = format!("-bind=10.199.{NET}.{node}:7946");
        let join = format!("-join=10.199.{NET}.1:7946");
        let mut argv = vec![
            "serf",
            "agent",
            if node == 1 { "-node=n1" } else { "-node=n2" },
            &bind,
            "-rpc-addr=127.0.0.1:7373",
        ];
        if node == 2 {
            argv.push(&join);
        }
        c.spawn(
            &ns,
            &format!("serf n{node}"),
            &argv,
            &format!("serf-{node}.log"),
            &[],
        );
        c.wait_for(
            &format!("serf-{node}.log"),
            "Serf agent running",
            Duration::from_secs(20),
        );
    }
    c.wait_for(
        "serf-1.log",
        r"EventMemberJoin: n2",
        Duration::from_secs(20),
    );
    let log = c.path("serf-2.log");
    let run = c.run(Plan {
        heartbeats: vec![
            format!("log:{}:memberlist", log.display()),
            "udp:7946".into(),
        ],
        log: "serf-2.log".into(),
        preset: "memberlist",
        warn,
        healthy: Duration::from_secs(8),
        // A probe every second; stamps to the second.
        onset_slack: Duration::from_secs(2),
        // Faults short of the suspicion timeout (about 4 s after a suspect): a peer marked
        // failed is not probed again until serf reconnects it (30 s), which would hide the next
        // fault. The drop of everything, which does get the peer marked failed, comes last.
        faults: vec![
            Fault::new(
                "udp 7946 dropped",
                Action::Drop(&["udp dport 7946"]),
                (3, 5),
            )
            .shows("other probes failed|no acks received"),
            Fault::new("peer stopped", Action::StopPeer, (3, 6))
                .shows("no acks received|Failed fallback ping"),
            Fault::new("local stopped", Action::StopLocal, (3, 6)),
            // 5 s: memberlist reads fast, and in a 3 s flood an ack sometimes always found room
            // (no probe lost, nothing to see); a failed UDP probe falls back to TCP, which the
            // flood leaves alone, so the peer is not suspected.
            Fault::new("receive buffer flooded", Action::Flood(7946), (5, 6))
                .shows("other probes failed|no acks received"),
            Fault::new("all dropped", Action::Drop(&[r#"iifname != "lo""#]), (3, 6))
                .shows("no acks received"),
        ],
    });
    run.check_daemon_side();
    run.check_report();
}
