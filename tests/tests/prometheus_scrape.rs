//! Debian's real `prometheus` scrapes hbwatch's OpenMetrics endpoint on loopback, and the values
//! come back through Prometheus's HTTP API. No root needed: the endpoint serves the fold of a
//! synthetic recording (softirq, drops, NAPI and a judged heartbeat gap), the same code path
//! `record --metrics-addr` and `serve` publish through.

use std::{
    net::SocketAddr,
    process::{Child, Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use hbwatch::{
    analysis::{RecordingSummary, diagnosis::diagnose},
    output::{
        export::synthetic,
        metrics::{Metrics, server::MetricsServer},
    },
};
use hbwatch_tests::http::{free_port, get_ok};

/// Kills the Prometheus this test started (by its PID only) when the test ends.
struct Guard(Child);
impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn encode(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The single value of an instant query, if Prometheus has it yet.
fn query(prom: SocketAddr, q: &str) -> Option<f64> {
    let body = get_ok(prom, &format!("/api/v1/query?query={}", encode(q)))?;
    let v: serde_json::Value = serde_json::from_str(&body).ok()?;
    let result = v["data"]["result"].as_array()?;
    result.first()?["value"][1].as_str()?.parse().ok()
}

#[test]
fn prometheus_scrapes_and_returns_values() {
    let Ok(bin) = which_prometheus() else {
        panic!(
            "Debian's prometheus is not installed: apt-get install -y prometheus (cargo xtask lists it)"
        );
    };
    let mut records = synthetic::records(40);
    records.extend(synthetic::evidence_records(40));
    let summary = RecordingSummary::from_records(synthetic::header(), (1, 0), records.clone());
    let metrics = Arc::new(Metrics::new());
    // As `record` publishes after a tick: the gap is judged, its cause becomes the label.
    metrics.publish_tick(&summary, &records, summary.last_mono_ns);
    let diagnosis = diagnose(&summary, &records);
    assert_eq!(
        diagnosis.gaps.len(),
        1,
        "the synthetic recording has one gap"
    );
    let cause = diagnosis.gaps[0].verdict().cause.as_str();
    eprintln!("synthetic gap judged: {cause}");
    let gap_series =
        format!("hbwatch_heartbeat_gaps_total{{source=\"udp:5405@300ms\",cause=\"{cause}\"}}");
    let server =
        MetricsServer::start("127.0.0.1:0".parse().expect("addr"), metrics).expect("serve");

    let dir = hbwatch_tests::tempdir();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: hbwatch\n    static_configs:\n      - targets: ['{}']\n",
            server.addr()
        ),
    )
    .expect("write config");
    let prom: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
    let log = std::fs::File::create(dir.path().join("prometheus.log")).expect("log");
    let child = Command::new(bin)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address={prom}"))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start prometheus");
    let _guard = Guard(child);

    let wanted = [
        (
            "hbwatch_softirq_wait_seconds_count{cpu=\"1\",vector=\"NET_RX\"}",
            6750.0,
        ),
        (
            "hbwatch_softirq_entries_total{cpu=\"0\",vector=\"TIMER\"}",
            1600.0,
        ),
        (
            "hbwatch_lost_events_total{stream=\"softirq-interval\"}",
            3.0,
        ),
        (
            "hbwatch_collector_state{collector=\"softirq\",state=\"running\"}",
            1.0,
        ),
        ("up{job=\"hbwatch\"}", 1.0),
        (
            "hbwatch_drops_total{reason=\"SOCKET_RCVBUFF\",device=\"eth0\",port=\"\"}",
            75.0,
        ),
        (
            "hbwatch_drops_total{reason=\"SOCKET_RCVBUFF\",device=\"\",port=\"5405\"}",
            75.0,
        ),
        (
            "hbwatch_napi_budget_exhausted_total{cpu=\"1\",device=\"eth0\"}",
            80.0,
        ),
        (gap_series.as_str(), 1.0),
    ];
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got: Vec<Option<f64>> = wanted.iter().map(|(q, _)| query(prom, q)).collect();
        if wanted.iter().zip(&got).all(|((_, w), g)| *g == Some(*w)) {
            break;
        }
        if Instant::now() > deadline {
            let log =
                std::fs::read_to_string(dir.path().join("prometheus.log")).unwrap_or_default();
            let tail: String = log.lines().rev().take(15).collect::<Vec<_>>().join("\n");
            panic!("Prometheus did not return the values within 60 s: {got:?}\nlog tail:\n{tail}");
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    // A histogram quantile over the scraped buckets: the CPU 1 stall puts NET_RX p99 in ms.
    let p99 = query(
        prom,
        "histogram_quantile(0.99, hbwatch_softirq_wait_seconds_bucket{cpu=\"1\",vector=\"NET_RX\"})",
    )
    .expect("p99 query");
    assert!((0.001..0.01).contains(&p99), "NET_RX p99 on CPU 1 = {p99}s");
}

fn which_prometheus() -> Result<std::path::PathBuf, ()> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join("prometheus"))
        .find(|p| p.is_file())
        .ok_or(())
}

/// The deployment examples are valid for the real tools.
#[test]
fn deploy_examples_pass_promtool() {
    let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/deploy");
    for args in [
        ["check", "rules", "alerts.yml"],
        ["check", "config", "prometheus.yml"],
    ] {
        let o = Command::new("promtool")
            .args(args)
            .current_dir(&docs)
            .output()
            .expect("promtool (Debian's prometheus package) is installed");
        assert!(
            o.status.success(),
            "promtool {args:?}: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    }
}
