//! etcd 3.4, two members in namespaces, recorded with the etcd preset and the peer port (raft
//! heartbeats every 100 ms over TCP 2380) while TCP 2380 is dropped, everything is dropped, and
//! each member is stopped.

use std::time::Duration;

use hbwatch_tests::{
    daemons::{Action, Cluster, Fault, Plan, require_bins},
    require_root,
};

const NET: u8 = 34;

/// etcd 3.4's `W`/`E`/`C` lines and raft's `WARN:`/`ERROR:` ones, without the recovery and
/// start-up warnings that say nothing about a lost heartbeat.
fn warn(line: &str) -> bool {
    let level = [" W | ", " E | ", " C | ", " WARN: ", " ERROR: "]
        .iter()
        .any(|l| line.contains(l));
    level && !line.contains("strongly discouraged")
}

#[test]
fn etcd_raft_faults() {
    if !require_root("etcd_raft_faults") || !require_bins("etcd_raft_faults", &["etcd"]) {
        return;
    }
    let mut c = Cluster::new("hbd-etcd", NET);
    let cluster = format!("n1=http://10.199.{NET}.1:2380,n2=http://10.199.{NET}.2:2380");
    for (node, ns) in [(1u8, c.pair.a.clone()), (2, c.pair.b.clone())] {
        let peer = format!("http://10.199.{NET}.{node}:2380");
        let client = format!("http://10.199.{NET}.{node}:2379");
        let data = c.path(&format!("etcd-{node}"));
        let name = format!("n{node}");
        c.spawn(
            &ns,
            &format!("etcd n{node}"),
            &[
                "etcd",
                "--name",
                &name,
                "--data-dir",
                &data.to_string_lossy(),
                "--listen-peer-urls",
                &peer,
                "--initial-advertise-peer-urls",
                &peer,
                "--listen-client-urls",
                &client,
                "--advertise-client-urls",
                &client,
                "--initial-cluster",
                &cluster,
                "--initial-cluster-state",
                "new",
                "--initial-cluster-token",
                "hbd",
            ],
            &format!("etcd-{node}.log"),
            &[],
        );
    }
    c.wait_for(
        "etcd-2.log",
        r"elected leader [0-9a-f]+ at term",
        Duration::from_secs(20),
    );
    let log = c.path("etcd-2.log");
    let run = c.run(Plan {
        heartbeats: vec![format!("log:{}:etcd", log.display()), "tcp:2380".into()],
        log: "etcd-2.log".into(),
        preset: "etcd",
        warn,
        healthy: Duration::from_secs(8),
        // The port source's heartbeats are the peer's prober requests, pausing up to 4 s (its
        // learned interval, which the contract allows a port's silence on its own); raft's own
        // lines are stamped to the second.
        onset_slack: Duration::from_secs(3),
        // What reaches this node's port 2380 is the peer's prober (a few requests every 4 s)
        // and new streams, not the raft heartbeats (those come on the connections this node
        // dialed to the peer's 2380). A fault's silence there begins up to a probe period
        // before the fault and ends up to one after it, so faults are 9 s apart after recovery:
        // the next fault's silence then starts more than the incident join window (2 s) after
        // the last one's ends.
        faults: vec![
            Fault::new(
                "tcp 2380 dropped",
                Action::Drop(&["tcp dport 2380", "tcp sport 2380"]),
                (4, 9),
            )
            .shows("lost leader|starting a new election|quorum is not active"),
            Fault::new("all dropped", Action::Drop(&[r#"iifname != "lo""#]), (4, 9))
                .shows("lost leader|starting a new election|quorum is not active"),
            // Stops last 7 s: near the port's gap threshold (twice its 3–4 s prober pause) and
            // longer than rafthttp's 5 s read timeout, so each side's streams time out and say so.
            Fault::new("peer stopped", Action::StopPeer, (7, 9))
                .shows("lost leader|starting a new election|quorum is not active"),
            Fault::new("local stopped", Action::StopLocal, (7, 9)),
        ],
    });
    run.check_daemon_side();
    run.check_report();
}
