//! Issue 13: what kernels before 6.3 and 6.5 lack, simulated on this host with `--disable-probe`.
//! Without sock:sock_recv_length (6.3) reads come from consume_skb (UDP); without
//! sock:sk_data_ready (6.5) "queued" is inferred from seen minus dropped. A stalled receiver is
//! still an app stall, and the heartbeats still arrive as reads.

use std::time::Duration;

use hbwatch_tests::{
    require_root,
    scenario::{Scenario, causes, gaps},
};

#[test]
fn reads_and_app_stalls_without_sock_recv_length_and_sk_data_ready() {
    if !require_root("reads_and_app_stalls_without_sock_recv_length_and_sk_data_ready") {
        return;
    }
    const PORT: u16 = 41_341;
    let mut sc = Scenario::start("hbw-old-kern", 192, PORT, &[]);
    let j = sc.record(
        8,
        &[
            "--disable-probe",
            "sock_recv_length",
            "--disable-probe",
            "sk_data_ready",
        ],
        |sc| {
            sc.recv.stop().expect("SIGSTOP receiver");
            std::thread::sleep(Duration::from_millis(1500));
            sc.recv.resume().expect("SIGCONT receiver");
        },
    );
    let collectors = j["collectors"].as_array().expect("collectors");
    let read = collectors
        .iter()
        .find(|c| c["name"] == "portwatch:sock_recv_length")
        .expect("portwatch:sock_recv_length status");
    assert_eq!(read["state"], "running", "{read}");
    assert!(
        read["detail"].as_str().is_some_and(|d| d.contains("consume_skb")),
        "{read}"
    );
    let events = &j["packet"]["port_events"];
    eprintln!("port events: {events}");
    let g = gaps(&j);
    assert_eq!(g.len(), 1, "one gap, the receiver stall: {g:?}");
    assert!((1.2..2.5).contains(&g[0].1), "gap length {} s", g[0].1);
    let c = causes(&j);
    assert_eq!(c[0][0], "app_stall", "causes {c:?}");
}
