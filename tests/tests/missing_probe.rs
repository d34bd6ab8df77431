//! Root: a tracepoint missing from the kernel (simulated with the hidden `--disable-probe`) makes
//! its collector unavailable (or degraded) with the reason in the report, and the rest still runs.

use std::{net::UdpSocket, process::Command};

use hbwatch_tests::{hbwatch_bin, require_root, tempdir};
use serde_json::Value;

const PORT: u16 = 40_377;

fn collector<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["collectors"]
        .as_array()
        .expect("collectors")
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no collector {name} in {}", report["collectors"]))
}

#[test]
fn disabled_tracepoints_are_reported_unavailable_and_the_rest_runs() {
    if !require_root("disabled_tracepoints_are_reported_unavailable_and_the_rest_runs") {
        return;
    }
    let dir = tempdir();
    let path = dir.path().join("missing.hbw");
    let mut child = Command::new(hbwatch_bin())
        .args(["record", "-d", "3s", "--stack-rate", "0"])
        .args([
            "--disable-probe",
            "napi_poll",
            "--disable-probe",
            "kfree_skb",
        ])
        .args(["--disable-probe", "softirq_raise"])
        .arg("-o")
        .arg(&path)
        .spawn()
        .expect("start hbwatch record");
    hbwatch_tests::wait_for_recording(&path);
    // Loopback traffic: NET_RX softirqs that must still be counted.
    let sink = UdpSocket::bind(("127.0.0.1", PORT)).expect("bind sink");
    let src = UdpSocket::bind("127.0.0.1:0").expect("bind source");
    for _ in 0..2000 {
        let _ = src.send_to(&[0u8; 64], ("127.0.0.1", PORT));
    }
    let status = child.wait().expect("wait for hbwatch record");
    drop(sink);
    assert!(status.success(), "hbwatch record: {status}");

    let out = Command::new(hbwatch_bin())
        .args(["report", "--format", "json"])
        .arg(&path)
        .output()
        .expect("run report");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j: Value = serde_json::from_slice(&out.stdout).expect("report json");

    for (name, tp) in [("napi", "napi_poll"), ("drops:kfree_skb", "kfree_skb")] {
        let c = collector(&j, name);
        assert_eq!(c["state"], "unavailable", "{name}: {c}");
        let detail = c["detail"].as_str().expect("detail");
        assert!(
            detail.contains(tp) && detail.contains("not available"),
            "{name}: {detail}"
        );
    }
    // The other drop tracepoints and the hard IRQ probe are untouched.
    assert_eq!(
        collector(&j, "drops:udp_fail_queue_rcv_skb")["state"],
        "running"
    );
    assert_eq!(collector(&j, "hardirq")["state"], "running");
    // Softirq without raise: degraded, says why, and still counts runs.
    let s = collector(&j, "softirq");
    assert_eq!(s["state"], "degraded", "{s}");
    assert!(
        s["detail"]
            .as_str()
            .expect("detail")
            .contains("softirq_raise"),
        "{s}"
    );
    let net_rx = j["softirq"]["by_vector"]
        .as_array()
        .expect("by_vector")
        .iter()
        .find(|v| v["vector"] == "NET_RX")
        .expect("NET_RX row");
    assert!(net_rx["count"].as_u64().expect("count") > 0, "{net_rx}");
    assert_eq!(net_rx["raises"].as_u64().expect("raises"), 0, "{net_rx}");
}

#[test]
fn unknown_probe_name_is_a_usage_error() {
    let out = Command::new(hbwatch_bin())
        .args([
            "record",
            "--disable-probe",
            "nosuch",
            "-d",
            "1s",
            "-o",
            "/nonexistent/x.hbw",
        ])
        .output()
        .expect("run hbwatch");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unknown tracepoint") && err.contains("napi_poll"),
        "{err}"
    );
}
