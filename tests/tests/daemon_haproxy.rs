//! haproxy health checks (HTTP every 500 ms, down after 2 failures) from the local namespace
//! against a backend in the other (a second haproxy answering 200), recorded with the haproxy
//! preset and the backend port while its replies are dropped, everything is dropped and the
//! backend is stopped.

use std::time::Duration;

use hbwatch_tests::{
    daemons::{Action, Cluster, Fault, Plan, require_bins},
    require_root,
};

const NET: u8 = 36;

/// haproxy's `[WARNING]`/`[ALERT]` lines without the recovery ones (check succeeded, server
/// UP). The same messages are logged again with an ISO stamp (`log stderr format iso`).
fn warn(line: &str) -> bool {
    (line.starts_with("[WARNING]") || line.starts_with("[ALERT]"))
        && !line.contains("succeeded")
        && !line.contains(" is UP")
}

#[test]
fn haproxy_health_check_faults() {
    if !require_root("haproxy_health_check_faults")
        || !require_bins("haproxy_health_check_faults", &["haproxy"])
    {
        return;
    }
    let mut c = Cluster::new("hbd-hap", NET);
    let backend = c.write(
        "backend.cfg",
        &format!(
            "global\n  log stderr format iso local0\ndefaults\n  mode http\n  timeout connect 1s\n\
             \x20 timeout client 5s\n  timeout server 5s\nfrontend web\n  bind 10.199.{NET}.1:8080\n\
             \x20 http-request return status 200 content-type text/plain string ok\n"
        ),
    );
    let checker = c.write(
        "haproxy.cfg",
        &format!(
            "global\n  log stderr format iso local0\ndefaults\n  mode http\n  log global\n\
             \x20 option log-health-checks\n  timeout connect 1s\n  timeout client 5s\n  timeout server 5s\n\
             \x20 timeout check 400ms\nbackend be\n  option httpchk GET /\n\
             \x20 server s1 10.199.{NET}.1:8080 check inter 500 fall 2 rise 2\n\
             frontend fe\n  bind 127.0.0.1:18080\n  default_backend be\n"
        ),
    );
    let a = c.pair.a.clone();
    let b = c.pair.b.clone();
    // -db: foreground, no master process.
    c.peer = c.spawn(
        &a,
        "backend haproxy",
        &["haproxy", "-db", "-f", &backend.to_string_lossy()],
        "backend.log",
        &[],
    );
    c.local = c.spawn(
        &b,
        "checking haproxy",
        &["haproxy", "-db", "-f", &checker.to_string_lossy()],
        "haproxy.log",
        &[],
    );
    c.wait_for(
        "haproxy.log",
        r"Health check for server be/s1 succeeded",
        Duration::from_secs(20),
    );
    let log = c.path("haproxy.log");
    let run = c.run(Plan {
        heartbeats: vec![format!("log:{}:haproxy", log.display()), "tcp:8080".into()],
        log: "haproxy.log".into(),
        preset: "haproxy",
        warn,
        healthy: Duration::from_secs(8),
        // A check every 500 ms; the `[WARNING]` copies carry no stamp (read time).
        onset_slack: Duration::from_millis(600),
        faults: vec![
            Fault::new(
                "tcp 8080 dropped",
                Action::Drop(&["tcp sport 8080"]),
                (3, 4),
            )
            .shows("Server be/s1 is DOWN"),
            Fault::new("all dropped", Action::Drop(&[r#"iifname != "lo""#]), (3, 4))
                .shows("Server be/s1 is DOWN"),
            Fault::new("peer stopped", Action::StopPeer, (3, 4)).shows("Server be/s1 is DOWN"),
            // No "local stopped": a stop of the checking haproxy leaves nothing on its host to
            // time. haproxy logs nothing of its own scheduling (its late checks then succeed),
            // and as the checker it owns no heartbeat port: its checks' silence is heard only by
            // the backend's socket, which on two hosts hbwatch does not see (on this one kernel
            // the analysis leaves that socket's gaps out as the peer's).
        ],
    });
    run.check_daemon_side();
    run.check_report();
}
