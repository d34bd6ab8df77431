//! Issue 4's root test: a 100 ms UDP heartbeat across a veth pair, recorded passively with
//! `--heartbeat udp:PORT@100ms`; a stopped sender and an nftables drop each make one gap.

use std::time::Duration;

use hbwatch::demo::lab::NftDrop;
use hbwatch_tests::{
    require_root,
    scenario::{Scenario, gaps, port_drops},
};

#[test]
fn udp_heartbeat_gaps_from_a_stopped_sender_and_a_firewall() {
    if !require_root("udp_heartbeat_gaps_from_a_stopped_sender_and_a_firewall") {
        return;
    }
    const PORT: u16 = 41_301;
    let mut sc = Scenario::start("hbw-hb-udp", 187, PORT, &[]);
    let j = sc.record(9, &[], |sc| {
        sc.send.stop().expect("SIGSTOP sender");
        std::thread::sleep(Duration::from_secs(1));
        sc.send.resume().expect("SIGCONT sender");
        std::thread::sleep(Duration::from_secs(2));
        let rule = NftDrop::add(&sc.pair.b, "hbw_hb_udp", PORT).expect("nft rule");
        std::thread::sleep(Duration::from_secs(1));
        drop(rule);
    });
    let g = gaps(&j);
    assert_eq!(g.len(), 2, "one gap per fault: {g:?}");
    for (start, len) in &g {
        assert!((0.9..1.5).contains(len), "gap at +{start} s lasts {len} s");
    }
    // The second gap's heartbeats arrived and were dropped by netfilter.
    let drops = port_drops(&j, PORT, "NETFILTER_DROP");
    assert!(
        (8..=11).contains(&drops),
        "NETFILTER_DROP on the port: {drops}"
    );
    let flow = &j["diagnosis"]["gaps"][1]["flow"];
    assert!(
        flow["seen_at_device"].as_u64().expect("seen") >= 8,
        "{flow}"
    );
    let netfilter = |flow: &serde_json::Value| -> u64 {
        flow["dropped"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|d| d[0] == "NETFILTER_DROP")
            .map(|d| d[1].as_u64().unwrap_or(0))
            .sum()
    };
    assert!(netfilter(flow) >= 8, "{flow}");
    // The first gap: the sender was stopped, nothing was dropped here.
    let first = &j["diagnosis"]["gaps"][0]["flow"];
    assert_eq!(netfilter(first), 0, "{first}");
}
