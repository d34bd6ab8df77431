//! Issue 13: what kernels before 6.5 and 6.3 lack, simulated on this host with `--disable-probe`.
//! Without sock:sk_data_ready (6.5) "queued" is inferred from seen minus dropped, so a stalled
//! receiver is still an app stall. Without sock:sock_recv_length (6.3) reads come from
//! consume_skb (UDP) and skb_copy_datagram_iovec (TCP); that they count the reads is checked on a
//! real 6.1 kernel by `cargo xtask kernels` (this host's UDP frees read datagrams later, on
//! another path), here only that they attach in its place.

use std::time::Duration;

use hbwatch_tests::{
    require_root,
    scenario::{Scenario, causes, gaps},
};

fn collector<'a>(j: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    j["collectors"]
        .as_array()
        .expect("collectors")
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no {name} status in {}", j["collectors"]))
}

#[test]
fn app_stall_without_sk_data_ready_and_reads_without_sock_recv_length() {
    if !require_root("app_stall_without_sk_data_ready_and_reads_without_sock_recv_length") {
        return;
    }
    const PORT: u16 = 41_341;
    let mut sc = Scenario::start("hbw-old-kern", 192, PORT, &[]);
    let j = sc.record(8, &["--disable-probe", "sk_data_ready"], |sc| {
        sc.recv.stop().expect("SIGSTOP receiver");
        std::thread::sleep(Duration::from_millis(1500));
        sc.recv.resume().expect("SIGCONT receiver");
    });
    assert_eq!(
        collector(&j, "portwatch:sk_data_ready")["state"],
        "unavailable"
    );
    let g = gaps(&j);
    assert_eq!(g.len(), 1, "one gap, the receiver stall: {g:?}");
    assert!((1.2..2.5).contains(&g[0].1), "gap length {} s", g[0].1);
    let c = causes(&j);
    assert_eq!(c[0][0], "app_stall", "causes {c:?}");
    let flow = &j["diagnosis"]["gaps"][0]["flow"];
    assert!(
        flow["queued_to_socket"].as_u64().unwrap_or(0) >= 10,
        "queued inferred from seen and not dropped: {flow}"
    );

    let j = sc.record(3, &["--disable-probe", "sock_recv_length"], |_| {});
    let read = collector(&j, "portwatch:sock_recv_length");
    assert_eq!(read["state"], "running", "{read}");
    let detail = read["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("consume_skb") && detail.contains("skb_copy_datagram_iovec"),
        "{read}"
    );
}
