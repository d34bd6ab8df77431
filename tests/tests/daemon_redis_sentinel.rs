//! A redis master in one namespace and a sentinel watching it from the other (PING every second
//! over TCP 6379, down after 1 s), recorded with the redis-sentinel preset while the master's
//! replies are dropped, everything is dropped, the master is stopped and the sentinel is stopped.

use std::time::Duration;

use hbwatch_tests::{
    daemons::{Action, Cluster, Fault, Plan, require_bins},
    require_root,
};

const NET: u8 = 35;

/// redis's warning level (`#`), without the recovery lines (`-sdown`, `-odown`, `-tilt`).
fn warn(line: &str) -> bool {
    let mut words = line.split(' ');
    let level = words.nth(5) == Some("#");
    level
        && !["-sdown", "-odown", "-tilt"]
            .iter()
            .any(|r| line.contains(r))
}

#[test]
fn redis_sentinel_faults() {
    if !require_root("redis_sentinel_faults")
        || !require_bins("redis_sentinel_faults", &["redis-server", "redis-sentinel"])
    {
        return;
    }
    let mut c = Cluster::new("hbd-redis", NET);
    let dir = c.dir.path().to_string_lossy().into_owned();
    let master = c.write(
        "redis.conf",
        &format!(
            "bind 10.199.{NET}.1\nport 6379\ndaemonize no\nsave \"\"\nappendonly no\ndir {dir}\n\
             logfile {dir}/redis.log\nprotected-mode no\n"
        ),
    );
    // Quorum 2 with one sentinel: it marks the master down but starts no failover (with no
    // replica there is nothing to fail over to).
    let sentinel = c.write(
        "sentinel.conf",
        &format!(
            "bind 10.199.{NET}.2\nport 26379\ndaemonize no\ndir {dir}\nlogfile {dir}/sentinel.log\n\
             protected-mode no\nsentinel monitor mymaster 10.199.{NET}.1 6379 2\n\
             sentinel down-after-milliseconds mymaster 1000\n"
        ),
    );
    let a = c.pair.a.clone();
    let b = c.pair.b.clone();
    c.peer = c.spawn(
        &a,
        "redis master",
        &["redis-server", &master.to_string_lossy()],
        "redis.out",
        &[],
    );
    c.wait_for(
        "redis.log",
        "Ready to accept connections",
        Duration::from_secs(20),
    );
    c.local = c.spawn(
        &b,
        "sentinel",
        &["redis-sentinel", &sentinel.to_string_lossy()],
        "sentinel.out",
        &[],
    );
    c.wait_for(
        "sentinel.log",
        r"\+monitor master mymaster",
        Duration::from_secs(20),
    );
    let log = c.path("sentinel.log");
    let run = c.run(Plan {
        heartbeats: vec![
            format!("log:{}:redis-sentinel", log.display()),
            "tcp:6379".into(),
        ],
        log: "sentinel.log".into(),
        preset: "redis-sentinel",
        warn,
        healthy: Duration::from_secs(8),
        // A PING every second; stamps to the millisecond.
        onset_slack: Duration::from_secs(1),
        faults: vec![
            Fault::new(
                "tcp 6379 dropped",
                Action::Drop(&["tcp sport 6379"]),
                (3, 5),
            )
            .shows(r"\+sdown master"),
            Fault::new("all dropped", Action::Drop(&[r#"iifname != "lo""#]), (3, 5))
                .shows(r"\+sdown master"),
            Fault::new("peer stopped", Action::StopPeer, (3, 5)).shows(r"\+sdown master"),
            Fault::new("local stopped", Action::StopLocal, (4, 5)).shows(r"\+tilt"),
        ],
    });
    run.check_daemon_side();
    run.check_report();
}
