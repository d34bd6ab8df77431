//! Test data for the live view: a header, softirq intervals and feeds for every panel.

use std::collections::BTreeMap;

use agent_common::hist::bucket_index;

use super::state::{HeartbeatSourceSnapshot, LiveState, RecordingView, Severity, Verdict};
use crate::{
    analysis::{
        RecordingSummary,
        aggregates::{drops::DropSample, napi::NapiSample},
    },
    recording::records::{
        ClockAnchor, CollectorState, CollectorStatus, Header, LostEvents, NicSummary, Record,
        SoftirqCell, SoftirqInterval, SparseHist, TimedMax,
    },
};

pub const START: u64 = 1_000_000_000_000;
const SEC: u64 = 1_000_000_000;

pub fn header() -> Header {
    Header {
        hbwatch_version: "0.1.0".into(),
        host: "node-a".into(),
        kernel_release: "6.18.0-test".into(),
        cpus: 2,
        online_cpus: vec![0, 1],
        nics: vec![NicSummary {
            name: "eth0".into(),
            driver: Some("virtio_net".into()),
            rx_queues: 2,
            tx_queues: 2,
        }],
        boot_id: "boot".into(),
        // 2026-01-01T00:00:00Z
        anchor: ClockAnchor {
            mono_ns: START,
            realtime_ns: 1_767_225_600_000_000_000,
        },
        softirq_vectors: ["HI", "TIMER", "NET_TX", "NET_RX", "BLOCK", "IRQ_POLL"]
            .map(String::from)
            .to_vec(),
        command: vec![],
    }
}

pub fn summary() -> RecordingSummary {
    let mut s = RecordingSummary::new(header(), (1, 0));
    s.add(&Record::Collector(CollectorStatus {
        at_mono_ns: START,
        collector: "softirq".into(),
        state: CollectorState::Running,
        detail: "tp_btf".into(),
    }));
    s
}

pub fn hist(values: &[u64]) -> SparseHist {
    let mut m: BTreeMap<u16, u64> = BTreeMap::new();
    for &v in values {
        *m.entry(bucket_index(v) as u16).or_default() += 1;
    }
    SparseHist(m.into_iter().collect())
}

pub fn cell(cpu: u32, vector: u8, wait: &[u64], run: &[u64], at: u64) -> SoftirqCell {
    let max = |v: &[u64]| {
        v.iter().max().map(|&m| TimedMax {
            value_ns: m,
            at_mono_ns: at,
        })
    };
    SoftirqCell {
        cpu,
        vector,
        entries: wait.len() as u64,
        ksoftirqd_entries: if cpu == 1 { 2 } else { 0 },
        raises: wait.len() as u64,
        wait_unknown: 0,
        wait_sum_ns: wait.iter().sum(),
        run_sum_ns: run.iter().sum(),
        wait_max: max(wait),
        run_max: max(run),
        wait_hist: hist(wait),
        run_hist: hist(run),
    }
}

/// Second `i` (0-based) of a busy recording: NET_RX on both CPUs, a rising wait on CPU 0.
pub fn interval(i: u64) -> SoftirqInterval {
    let (start, end) = (START + i * SEC, START + (i + 1) * SEC);
    SoftirqInterval {
        start_mono_ns: start,
        end_mono_ns: end,
        cells: vec![
            cell(
                0,
                3,
                &[2_000, 5_000, 10_000 + i * 500],
                &[20_000, 30_000, 40_000],
                end,
            ),
            cell(1, 3, &[1_000, 3_000], &[15_000, 25_000], end),
            cell(0, 1, &[40_000], &[9_000], end),
        ],
    }
}

/// A state after `secs` seconds of recording, folded the way the live command folds ticks.
pub fn recorded(secs: u64) -> (RecordingSummary, LiveState) {
    let mut summary = summary();
    let mut state = LiveState::new(
        &summary,
        RecordingView {
            path: "/var/tmp/node-a.hbw".into(),
            kept: true,
            bytes: 0,
        },
    );
    state.utc_times = true;
    for i in 0..secs {
        let r = Record::Softirq(interval(i));
        summary.add(&r);
        state.update_from_summary(&summary, START + (i + 1) * SEC);
        state.update_from_records(&summary, &[r]);
        state.update_recording_bytes(2_048 * (i + 1));
    }
    (summary, state)
}

pub fn now(secs: u64) -> u64 {
    START + secs * SEC
}

pub fn sources(now: u64, corosync_silence_ns: u64) -> Vec<HeartbeatSourceSnapshot> {
    vec![
        HeartbeatSourceSnapshot {
            name: "corosync".into(),
            detail: "udp :5405 from 10.0.0.2".into(),
            expected_interval_ns: Some(300_000_000),
            gap_threshold_ns: Some(3 * SEC),
            gap_open: false,
            last_arrival_mono_ns: Some(now - corosync_silence_ns),
            gaps: 0,
            latest_verdict: None,
        },
        HeartbeatSourceSnapshot {
            name: "pacemaker".into(),
            detail: "log /var/log/pacemaker.log".into(),
            expected_interval_ns: Some(SEC),
            gap_threshold_ns: Some(5 * SEC),
            gap_open: false,
            last_arrival_mono_ns: Some(now - 1_800_000_000),
            gaps: 1,
            latest_verdict: Some("NET_RX starved on cpu1".into()),
        },
    ]
}

pub fn feed_drops(state: &mut LiveState) {
    let sample = |reason: &str, q, cpu, port, count| DropSample {
        reason: reason.into(),
        device: Some("eth0".into()),
        queue: Some(q),
        cpu: Some(cpu),
        port: Some(port),
        count,
    };
    state.update_from_drops(
        SEC,
        &[
            sample("SOCKET_RCVBUFF", 1, 1, 8080, 30),
            sample("NETFILTER_DROP", 0, 0, 5405, 12),
        ],
        &[5405],
    );
    state.update_from_napi(
        SEC,
        &[NapiSample {
            device: "eth0".into(),
            polls: 400,
            budget_exhausted: 20,
        }],
    );
}

pub fn normal() -> LiveState {
    let (_, mut state) = recorded(60);
    let anchor = header().anchor;
    state.update_from_heartbeats(now(60), &anchor, &sources(now(60), 120_000_000));
    feed_drops(&mut state);
    state.update_verdict(Some(Verdict {
        severity: Severity::Info,
        finding: "heartbeats on time".into(),
        recommendation: "nothing to do".into(),
    }));
    state
}

pub fn gap_in_progress() -> LiveState {
    let mut state = normal();
    let anchor = header().anchor;
    state.update_from_heartbeats(now(60), &anchor, &sources(now(60), 4_200_000_000));
    state.update_verdict(Some(Verdict {
        severity: Severity::Critical,
        finding: "corosync silent 4.2 s: NET_RX waited 3.9 ms on cpu1".into(),
        recommendation: "move eth0 IRQs off cpu1".into(),
    }));
    state
}

pub fn with_lost() -> LiveState {
    let (mut summary, mut state) = recorded(5);
    for (stream, count) in [("softirq-interval", 3), ("drops-ring", 1200)] {
        summary.add(&Record::Lost(LostEvents {
            at_mono_ns: now(5),
            stream: stream.into(),
            count,
        }));
    }
    state.update_from_summary(&summary, now(5));
    state
}
