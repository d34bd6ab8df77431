//! keepalived 2 VRRP with unicast peers, two nodes in namespaces: the local node is the backup
//! that hears the master's adverts, recorded with the keepalived preset while VRRP is dropped,
//! everything is dropped, and each side's VRRP process is stopped.

use std::time::Duration;

use hbwatch_tests::{
    daemons::{Action, Cluster, Fault, Plan, require_bins},
    require_root,
};

const NET: u8 = 32;

fn config(node: u8) -> String {
    let (dev, prio) = if node == 1 {
        ("veth-a", 150)
    } else {
        ("veth-b", 100)
    };
    format!(
        "global_defs {{\n  router_id n{node}\n}}\n\
         vrrp_instance VI_1 {{\n  state BACKUP\n  interface {dev}\n  virtual_router_id 51\n  priority {prio}\n  advert_int 1\n\
         \x20 unicast_src_ip 10.199.{NET}.{node}\n  unicast_peer {{\n    10.199.{NET}.{}\n  }}\n\
         \x20 virtual_ipaddress {{\n    10.199.{NET}.100/24\n  }}\n}}\n",
        3 - node
    )
}

/// keepalived prints no levels: these are its lines about a lost advert, a takeover, a fault
/// state or its own lateness (not the recovery that follows: "received advert … higher priority",
/// "Entering BACKUP STATE").
fn warn(line: &str) -> bool {
    [
        "timeout",
        "timer expired",
        "Entering MASTER STATE",
        "Entering FAULT STATE",
    ]
    .iter()
    .any(|w| line.contains(w))
}

#[test]
fn keepalived_vrrp_faults() {
    if !require_root("keepalived_vrrp_faults")
        || !require_bins("keepalived_vrrp_faults", &["keepalived"])
    {
        return;
    }
    let mut c = Cluster::new("hbd-ka", NET);
    for (node, ns) in [(1u8, c.pair.a.clone()), (2, c.pair.b.clone())] {
        let conf = c.write(&format!("keepalived-{node}.conf"), &config(node));
        let pid = c.path(&format!("keepalived-{node}.pid"));
        let vrrp = c.path(&format!("vrrp-{node}.pid"));
        // -n: foreground; -l -G: log to the console only; -P: VRRP only.
        let i = c.spawn(
            &ns,
            &format!("keepalived n{node}"),
            &[
                "keepalived",
                "-n",
                "-l",
                "-G",
                "-D",
                "-P",
                "-f",
                &conf.to_string_lossy(),
                "-p",
                &pid.to_string_lossy(),
                "-r",
                &vrrp.to_string_lossy(),
            ],
            &format!("keepalived-{node}.log"),
            &[],
        );
        // The VRRP child sends and hears the adverts: the stop faults stop it.
        c.daemons[i].worker_from(&vrrp);
    }
    c.wait_for(
        "keepalived-1.log",
        r"\(VI_1\) Entering MASTER STATE",
        Duration::from_secs(20),
    );
    let log = c.path("keepalived-2.log");
    // The backup takes over after 3 adverts and its skew (3.6 s): faults last longer.
    let run = c.run(Plan {
        heartbeats: vec![format!("log:{}:keepalived", log.display())],
        log: "keepalived-2.log".into(),
        preset: "keepalived",
        warn,
        healthy: Duration::from_secs(6),
        // An advert every second; stamps to the second.
        onset_slack: Duration::from_secs(2),
        faults: vec![
            Fault::new("vrrp dropped", Action::Drop(&["meta l4proto vrrp"]), (5, 4))
                .shows("Receive advertisement timeout"),
            Fault::new("all dropped", Action::Drop(&[r#"iifname != "lo""#]), (5, 4))
                .shows("Receive advertisement timeout"),
            Fault::new("peer stopped", Action::StopPeer, (5, 4))
                .shows("Receive advertisement timeout"),
            Fault::new("local stopped", Action::StopLocal, (6, 4)).shows("A thread timer expired"),
        ],
    });
    run.check_daemon_side();
    run.check_report();
}
