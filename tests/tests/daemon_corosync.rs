//! corosync 3 with knet, two nodes in namespaces, recorded with the corosync preset and the knet
//! port while the heartbeat port is dropped, everything is dropped, and each side is stopped.

use std::time::Duration;

use hbwatch_tests::{
    daemons::{Action, Cluster, Fault, Plan},
    require_root,
};

fn config(c: &Cluster, node: u8) -> String {
    let ip = |n: u8| format!("10.199.{}.{n}", 31);
    let log = c.path(&format!("corosync-{node}.log"));
    format!(
        "totem {{\n  version: 2\n  cluster_name: hbd\n  transport: knet\n  crypto_cipher: none\n  crypto_hash: none\n}}\n\
         nodelist {{\n  node {{\n    nodeid: 1\n    name: n1\n    ring0_addr: {}\n  }}\n  node {{\n    nodeid: 2\n    name: n2\n    ring0_addr: {}\n  }}\n}}\n\
         quorum {{\n  provider: corosync_votequorum\n  two_node: 1\n}}\n\
         logging {{\n  to_logfile: yes\n  logfile: {}\n  to_syslog: no\n  to_stderr: no\n  timestamp: hires\n}}\n",
        ip(1),
        ip(2),
        log.display()
    )
}

/// corosync's `warning` and `error` lines (its levels are words after the process name).
fn warn(line: &str) -> bool {
    [" warning ", " error ", " crit ", " alert ", " emerg "]
        .iter()
        .any(|l| line.contains(l))
}

#[test]
fn corosync_knet_faults() {
    if !require_root("corosync_knet_faults")
        || !hbwatch_tests::daemons::require_bins("corosync_knet_faults", &["corosync"])
    {
        return;
    }
    let mut c = Cluster::new("hbd-coro", 31);
    for (node, ns) in [(1u8, c.pair.a.clone()), (2, c.pair.b.clone())] {
        let conf = c.write(&format!("corosync-{node}.conf"), &config(&c, node));
        // corosync's pid file and state folder are fixed paths: each node gets its own.
        let run = c.path(&format!("run-{node}"));
        let lib = c.path(&format!("lib-{node}"));
        c.spawn(
            &ns,
            &format!("corosync n{node}"),
            &["corosync", "-f", "-c", &conf.to_string_lossy()],
            &format!("corosync-{node}.out"),
            &[(&run, "/run"), (&lib, "/var/lib/corosync")],
        );
    }
    c.wait_for(
        "corosync-2.log",
        r"\[QUORUM\] Members\[2\]: 1 2",
        Duration::from_secs(20),
    );
    let log = c.path("corosync-2.log");
    let run = c.run(Plan {
        heartbeats: vec![format!("log:{}:corosync", log.display()), "udp:5405".into()],
        log: "corosync-2.log".into(),
        preset: "corosync",
        warn,
        healthy: Duration::from_secs(8),
        // knet pings every 750 ms; stamps to the millisecond.
        onset_slack: Duration::from_millis(800),
        // corosync's defaults: token 3000 ms ("Token has not been received" at 2250 ms, "A
        // processor failed" at 3000 ms), a stall reported past 2400 ms.
        faults: vec![
            Fault::new(
                "udp 5405 dropped",
                Action::Drop(&["udp dport 5405"]),
                (4, 7),
            )
            .shows("has no active links|Token has not been received"),
            Fault::new("all dropped", Action::Drop(&[r#"iifname != "lo""#]), (4, 7))
                .shows("has no active links|Token has not been received"),
            Fault::new("peer stopped", Action::StopPeer, (4, 7))
                .shows("Token has not been received|A processor failed"),
            Fault::new("local stopped", Action::StopLocal, (4, 7))
                .shows("main process was not scheduled"),
        ],
    });
    run.check_daemon_side();
    run.check_report();
}
