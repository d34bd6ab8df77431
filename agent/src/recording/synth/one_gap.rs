//! A deterministic synthetic recording with one heartbeat gap, for golden tests, the metrics
//! integration test and export timing. Not random: the same call gives the same bytes.

use std::collections::BTreeMap;

use agent_common::hist::bucket_index;

use crate::recording::records::{
    ClockAnchor, CollectorState, CollectorStatus, DropCell, DropInterval, EventKind, Header,
    HeartbeatEvent, LostEvents, NapiCell, NapiInterval, NicSummary, PacketTables, PortDropCell,
    Record, SoftirqCell, SoftirqInterval, SourceDeclared, SourceKind, SparseHist, StopInfo,
    TimedMax,
};

pub const START_MONO_NS: u64 = 100_000_000_000;
pub const SEC: u64 = 1_000_000_000;
/// The gap: heartbeats stop at +20.1 s and come back at +23.1 s; evidence starts at +20.0 s.
pub const GAP_LAST_ARRIVAL: u64 = START_MONO_NS + 20_100_000_000;
pub const GAP_NEXT_ARRIVAL: u64 = START_MONO_NS + 23_100_000_000;
pub const HEARTBEAT_PERIOD_NS: u64 = 300_000_000;

pub fn header() -> Header {
    Header {
        hbwatch_version: "0.0.0-synthetic".into(),
        host: "node-a".into(),
        kernel_release: "6.18.0".into(),
        cpus: 2,
        online_cpus: vec![0, 1],
        nics: vec![NicSummary {
            name: "eth0".into(),
            driver: Some("virtio_net".into()),
            rx_queues: 1,
            tx_queues: 1,
        }],
        boot_id: "00000000-0000-0000-0000-000000000000".into(),
        anchor: ClockAnchor {
            mono_ns: START_MONO_NS,
            // 2026-11-22T07:00:00Z
            realtime_ns: 1_795_330_800_000_000_000,
        },
        softirq_vectors: [
            "HI", "TIMER", "NET_TX", "NET_RX", "BLOCK", "IRQ_POLL", "TASKLET", "SCHED", "HRTIMER",
            "RCU",
        ]
        .map(String::from)
        .to_vec(),
        command: vec!["hbwatch".into(), "record".into()],
    }
}

pub fn in_gap(t: u64) -> bool {
    (START_MONO_NS + 20 * SEC..START_MONO_NS + 23 * SEC).contains(&t)
}

fn hist(values: impl IntoIterator<Item = u64>) -> (SparseHist, u64) {
    let mut m: BTreeMap<u16, u64> = BTreeMap::new();
    let mut sum = 0;
    for v in values {
        *m.entry(bucket_index(v) as u16).or_default() += 1;
        sum += v;
    }
    (SparseHist(m.into_iter().collect()), sum)
}

fn cell(cpu: u32, vector: u8, n: u64, base_ns: u64, start: u64) -> SoftirqCell {
    let waits = (0..n).map(|i| base_ns + (i * 7919 + cpu as u64 * 131) % (base_ns * 2));
    let (wait_hist, wait_sum_ns) = hist(waits.clone());
    let (run_hist, run_sum_ns) = hist((0..n).map(|i| 2_000 + (i * 3571) % 20_000));
    let wmax = waits.max().unwrap_or(0);
    SoftirqCell {
        cpu,
        vector,
        entries: n,
        ksoftirqd_entries: if base_ns > 1_000_000 { n / 2 } else { 0 },
        raises: n,
        wait_unknown: 0,
        wait_sum_ns,
        run_sum_ns,
        wait_max: Some(TimedMax {
            value_ns: wmax,
            at_mono_ns: start + SEC / 2 + cpu as u64,
        }),
        run_max: None,
        wait_hist,
        run_hist,
    }
}

/// Records of a `seconds`-long run; seconds 20–22 carry the NET_RX stall on CPU 1.
pub fn records(seconds: u64) -> Vec<Record> {
    let mut out = vec![Record::Collector(CollectorStatus {
        at_mono_ns: START_MONO_NS,
        collector: "softirq".into(),
        state: CollectorState::Running,
        detail: "tp_btf".into(),
    })];
    for s in 0..seconds {
        let start = START_MONO_NS + s * SEC;
        let stall = in_gap(start);
        let cells = vec![
            cell(0, 1, 40, 4_000, start),
            cell(1, 1, 40, 4_000, start),
            cell(0, 3, 200, 8_000, start),
            cell(
                1,
                3,
                if stall { 30 } else { 180 },
                if stall { 4_000_000 } else { 9_000 },
                start,
            ),
        ];
        out.push(Record::Softirq(SoftirqInterval {
            start_mono_ns: start,
            end_mono_ns: start + SEC,
            cells,
        }));
        out.push(Record::Clock(ClockAnchor {
            mono_ns: start + SEC,
            realtime_ns: header().anchor.realtime_of(start + SEC),
        }));
        if s == 21 {
            out.push(Record::Lost(LostEvents {
                at_mono_ns: start + SEC / 2,
                stream: "softirq-interval".into(),
                count: 3,
            }));
        }
    }
    out.push(Record::Stop(StopInfo {
        at_mono_ns: START_MONO_NS + seconds * SEC,
        reason: "duration reached".into(),
    }));
    out
}

/// Packet-path and heartbeat records to go with [`records`]: a `udp:5405@300ms` source beating
/// every 300 ms but silent during the gap, receive-buffer drops on eth0 and port 5405 during it,
/// and NAPI polls on eth0 (a few using the whole budget) every second.
pub fn evidence_records(seconds: u64) -> Vec<Record> {
    let mut out = vec![
        Record::PacketTables(PacketTables {
            drop_reasons: vec![(6, "SOCKET_RCVBUFF".into())],
            interfaces: vec![(2, "eth0".into())],
            host_netns: 1,
            irq_lines: Vec::new(),
        }),
        Record::HeartbeatSource(SourceDeclared {
            at_mono_ns: START_MONO_NS,
            source: 0,
            spec: "udp:5405@300ms".into(),
            kind: SourceKind::PassiveUdp,
            preset: None,
            expected_interval_ns: Some(HEARTBEAT_PERIOD_NS),
            gap_factor: 3.0,
            preset_interval_ns: None,
        }),
    ];
    let mut t = START_MONO_NS;
    while t < START_MONO_NS + seconds * SEC {
        if !(GAP_LAST_ARRIVAL + 1..GAP_NEXT_ARRIVAL).contains(&t) {
            out.push(Record::Heartbeat(HeartbeatEvent {
                source: 0,
                kind: EventKind::Arrival,
                read_mono_ns: t,
                read_realtime_ns: header().anchor.realtime_of(t),
                stamped_realtime_ns: None,
                peer: Some("10.0.0.2".into()),
                count: None,
                measured_ns: None,
                line: String::new(),
            }));
        }
        t += HEARTBEAT_PERIOD_NS;
    }
    for s in 0..seconds {
        let start = START_MONO_NS + s * SEC;
        let drops = if in_gap(start) { 25 } else { 0 };
        out.push(Record::Drops(DropInterval {
            start_mono_ns: start,
            end_mono_ns: start + SEC,
            cells: (drops > 0)
                .then_some(DropCell {
                    reason: 6,
                    ifindex: 2,
                    netns: 1,
                    rx_queue: Some(0),
                    protocol: 0x0800,
                    cpu: 1,
                    count: drops,
                })
                .into_iter()
                .collect(),
            ports: (drops > 0)
                .then_some(PortDropCell {
                    reason: 6,
                    proto: 17,
                    port: 5405,
                    count: drops,
                })
                .into_iter()
                .collect(),
            ..DropInterval::default()
        }));
        out.push(Record::Napi(NapiInterval {
            start_mono_ns: start,
            end_mono_ns: start + SEC,
            cells: vec![NapiCell {
                ifindex: 2,
                netns: 1,
                napi_id: 8193,
                cpu: 1,
                polls: 100,
                work: 400,
                full_budget: 2,
                ..NapiCell::default()
            }],
        }));
    }
    out
}
