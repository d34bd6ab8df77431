//! The aggregates on small recordings: named, summed and timed as the outputs show them.

use super::{
    drops::{DropRates, drop_samples, drops_per_second, samples_so_far},
    napi::{NapiSample, exhausted_so_far, napi_samples},
    sources::{gap_finding, gap_inputs, heartbeat_series, probe_latencies},
};
use crate::{
    analysis::RecordingSummary,
    recording::records::{
        DropCell, DropInterval, EventKind, HeartbeatEvent, NapiCell, NapiInterval, PacketTables,
        PortDropCell, ProbeAttempt, Record, SourceDeclared, SourceKind,
    },
};

const MS: u64 = 1_000_000;
const SEC: u64 = 1_000_000_000;

fn beat(source: u32, at: u64) -> Record {
    Record::Heartbeat(HeartbeatEvent {
        source,
        kind: EventKind::Arrival,
        read_mono_ns: at,
        read_realtime_ns: 0,
        stamped_realtime_ns: None,
        peer: None,
        count: None,
        measured_ns: None,
        line: String::new(),
    })
}

/// A log source beating every 100 ms with one 1 s silence after the tenth beat, one probe round
/// trip and one second of drops; folded, and the records it was folded from.
pub(crate) fn beats_probe_and_drops() -> (RecordingSummary, Vec<Record>) {
    let header = crate::recording::synth::one_gap::header();
    let t0 = header.anchor.mono_ns;
    let mut recs = vec![
        Record::PacketTables(PacketTables {
            drop_reasons: vec![(3, "NO_SOCKET".into())],
            ..PacketTables::default()
        }),
        Record::HeartbeatSource(SourceDeclared {
            at_mono_ns: t0,
            source: 1,
            spec: "log:/var/log/app.log@100ms".into(),
            kind: SourceKind::Log,
            preset: None,
            expected_interval_ns: Some(100 * MS),
            gap_factor: 3.0,
            preset_interval_ns: None,
        }),
    ];
    recs.extend((0..10).map(|i| beat(1, t0 + i * 100 * MS)));
    recs.extend((0..10).map(|i| beat(1, t0 + 1_900 * MS + i * 100 * MS)));
    recs.push(Record::Probe(ProbeAttempt {
        source: 1,
        start_mono_ns: t0 + 50 * MS,
        latency_ns: 2 * MS,
        status: None,
        error: None,
        consecutive_failures: 0,
    }));
    recs.push(Record::Drops(DropInterval {
        start_mono_ns: t0,
        end_mono_ns: t0 + 1_000 * MS,
        cells: vec![DropCell {
            reason: 3,
            ifindex: 1,
            netns: 0,
            rx_queue: None,
            protocol: 0x0800,
            cpu: 0,
            count: 7,
        }],
        ..DropInterval::default()
    }));
    let mut s = RecordingSummary::new(header, (1, 0));
    for r in &recs {
        s.add(r);
    }
    (s, recs)
}

#[test]
fn arrivals_gaps_probes_and_drops_from_records() {
    let (s, recs) = beats_probe_and_drops();
    let t0 = s.header.anchor.mono_ns;
    let series = heartbeat_series(&s, &recs);
    assert_eq!(series.len(), 1);
    let hb = &series[0];
    assert_eq!(hb.source, "log:/var/log/app.log@100ms");
    // 20 beats plus the successful probe reply.
    assert_eq!(hb.arrivals_mono_ns.len(), 21);
    assert!(hb.arrivals_mono_ns.is_sorted());
    let gaps = gap_inputs(&s);
    assert_eq!(gaps.len(), 1);
    let g = &gaps[0];
    assert_eq!(g.number, 1);
    assert_eq!(g.last_arrival_mono_ns, t0 + 900 * MS);
    assert_eq!(g.next_arrival_mono_ns, Some(t0 + 1_900 * MS));
    assert_eq!(g.detected_mono_ns, Some(t0 + 1_200 * MS));
    assert_eq!(
        probe_latencies(&s, &recs)[0].samples,
        vec![(t0 + 50 * MS, 2 * MS)]
    );
    let drops = drops_per_second(&s.packet, &recs);
    assert_eq!(drops.len(), 1);
    assert_eq!(drops[0].by_reason.get("NO_SOCKET"), Some(&7));
    assert_eq!(drops[0].total, 7);
    let d = crate::analysis::diagnosis::diagnose(&s, &recs);
    assert!(gap_finding(&d, 1).is_some(), "gap 1 is judged");
    assert!(gap_finding(&d, 2).is_none(), "there is no gap 2");
}

fn tables() -> RecordingSummary {
    let mut s = RecordingSummary::new(crate::recording::synth::one_gap::header(), (1, 0));
    s.add(&Record::PacketTables(PacketTables {
        drop_reasons: vec![(3, "NO_SOCKET".into())],
        interfaces: vec![(2, "eth0".into())],
        host_netns: 7,
        irq_lines: Vec::new(),
    }));
    s
}

fn drops_and_napi() -> Vec<Record> {
    vec![
        Record::Drops(DropInterval {
            start_mono_ns: 0,
            end_mono_ns: SEC,
            cells: vec![DropCell {
                reason: 3,
                ifindex: 2,
                netns: 7,
                rx_queue: Some(1),
                protocol: 0x0800,
                cpu: 1,
                count: 40,
            }],
            ports: vec![PortDropCell {
                reason: 3,
                proto: 17,
                port: 5405,
                count: 40,
            }],
            udp_fail: Vec::new(),
            rcvqueue_full: 0,
        }),
        Record::Napi(NapiInterval {
            start_mono_ns: 0,
            end_mono_ns: SEC,
            cells: vec![NapiCell {
                ifindex: 2,
                netns: 7,
                cpu: 1,
                polls: 100,
                full_budget: 5,
                ..NapiCell::default()
            }],
        }),
    ]
}

#[test]
fn drops_and_napi_are_named_and_timed() {
    let s = tables();
    let recs = drops_and_napi();
    let (span, d) = drop_samples(&s.packet, &recs).expect("drops");
    assert_eq!(span, SEC);
    assert_eq!(d.len(), 2);
    assert_eq!(
        (d[0].reason.as_str(), d[0].device.as_deref()),
        ("NO_SOCKET", Some("eth0"))
    );
    assert_eq!((d[1].port, d[1].device.as_deref()), (Some(5405), None));
    let (_, n) = napi_samples(&s.packet, &recs).expect("napi");
    assert_eq!(
        n,
        vec![NapiSample {
            device: "eth0".into(),
            polls: 100,
            budget_exhausted: 5
        }]
    );
    assert!(drop_samples(&s.packet, &[]).is_none());
    // Port-only samples do not count their drops a second time by reason.
    let mut rates = DropRates::default();
    rates.update(span, &d, &[5405]);
    assert_eq!(rates.total_per_s, 40.0);
    assert!(rates.by_port[0].heartbeat);
    assert_eq!(rates.by_device[0].label, "eth0/q1");
    assert_eq!(rates.by_cpu[0].label, "cpu1");
}

#[test]
fn since_start_matches_the_intervals() {
    let mut s = tables();
    let recs = drops_and_napi();
    for r in &recs {
        s.add(r);
    }
    let (_, per_tick) = drop_samples(&s.packet, &recs).expect("drops");
    let so_far = samples_so_far(&s.packet);
    assert_eq!(so_far, per_tick, "one interval: the same samples");
    let exhausted = exhausted_so_far(&s.packet);
    assert_eq!(exhausted.get(&(1, "eth0".to_owned())), Some(&5));
    let per_second = drops_per_second(&s.packet, &recs);
    assert_eq!(
        per_second[0].total, 40,
        "the port count is not counted again"
    );
}
