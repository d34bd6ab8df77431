//! Metrics of the kernel and heartbeat evidence: drops by reason/device/port, NAPI budget
//! exhaustion per CPU and device, heartbeat gaps by source and cause, incidents by cause, as
//! [`EvidenceCounts`](crate::analysis::aggregates::evidence::EvidenceCounts) has them.

use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeMetric as _},
    metrics::{MetricType, counter::ConstCounter, gauge::ConstGauge},
};

use super::Shared;

#[derive(Debug)]
pub struct EvidenceCollector(pub(super) Shared);

impl Collector for EvidenceCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let snap = self.0.lock();
        let e = &snap.evidence;
        // A family appears once its probe or analysis has data, so an absent probe is not a zero.
        if !e.drops.is_empty() {
            let mut m = encoder.encode_descriptor(
                "drops",
                "Packets the kernel dropped, by reason and device (port empty) or by reason and watched destination port (device empty).",
                None,
                MetricType::Counter,
            )?;
            for ((reason, device, port), n) in &e.drops {
                let labels = [("reason", reason), ("device", device), ("port", port)];
                ConstCounter::new(*n).encode(m.encode_family(&labels)?)?;
            }
        }
        if !e.napi_exhausted.is_empty() {
            let mut m = encoder.encode_descriptor(
                "napi_budget_exhausted",
                "NAPI polls that used their whole budget (work left for ksoftirqd), per CPU and device.",
                None,
                MetricType::Counter,
            )?;
            for ((cpu, device), n) in &e.napi_exhausted {
                let labels = [("cpu", cpu.to_string()), ("device", device.clone())];
                ConstCounter::new(*n).encode(m.encode_family(&labels)?)?;
            }
        }
        if !e.gaps.is_empty() {
            let mut m = encoder.encode_descriptor(
                "heartbeat_gaps",
                "Heartbeat gaps found, per source and cause (unknown until diagnosed).",
                None,
                MetricType::Counter,
            )?;
            for ((source, cause), n) in &e.gaps {
                let labels = [("source", source), ("cause", cause)];
                ConstCounter::new(*n).encode(m.encode_family(&labels)?)?;
            }
        }
        if !e.peer_gaps.is_empty() {
            let mut m = encoder.encode_descriptor(
                "heartbeat_peer_gaps",
                "Heartbeat gaps found, per source and peer address (a passive source follows every peer).",
                None,
                MetricType::Counter,
            )?;
            for ((source, peer), n) in &e.peer_gaps {
                let labels = [("source", source), ("peer", peer)];
                ConstCounter::new(*n).encode(m.encode_family(&labels)?)?;
            }
            let mut m = encoder.encode_descriptor(
                "heartbeat_peer_silence_seconds",
                "Seconds since the last heartbeat from this peer, as of the latest tick.",
                None,
                MetricType::Gauge,
            )?;
            for ((source, peer), v) in &e.peer_silence_s {
                let labels = [("source", source), ("peer", peer)];
                ConstGauge::new(*v).encode(m.encode_family(&labels)?)?;
            }
        }
        if !e.incidents.is_empty() {
            let mut m = encoder.encode_descriptor(
                "heartbeat_incidents",
                "Heartbeat incidents (gaps of all sources close in time), per cause (unknown until diagnosed).",
                None,
                MetricType::Counter,
            )?;
            for (cause, n) in &e.incidents {
                ConstCounter::new(*n).encode(m.encode_family(&[("cause", cause)])?)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::super::Metrics;
    use crate::{
        analysis::RecordingSummary,
        output::export::synthetic,
        recording::records::{
            DropCell, DropInterval, EventKind, HeartbeatEvent, NapiCell, NapiInterval,
            PacketTables, PortDropCell, Record, SourceDeclared, SourceKind,
        },
    };

    const MS: u64 = 1_000_000;

    #[test]
    fn drops_napi_and_gaps_are_exposed() {
        let mut s = RecordingSummary::new(synthetic::header(), (1, 0));
        let t0 = s.header.anchor.mono_ns;
        let mut recs = vec![
            Record::PacketTables(PacketTables {
                drop_reasons: vec![(6, "SOCKET_RCVBUFF".into())],
                interfaces: vec![(2, "eth0".into())],
                host_netns: 9,
                irq_lines: Vec::new(),
            }),
            Record::Drops(DropInterval {
                start_mono_ns: t0,
                end_mono_ns: t0 + 1_000 * MS,
                cells: vec![DropCell {
                    reason: 6,
                    ifindex: 2,
                    netns: 9,
                    rx_queue: Some(0),
                    protocol: 0x0800,
                    cpu: 1,
                    count: 11,
                }],
                ports: vec![PortDropCell {
                    reason: 6,
                    proto: 17,
                    port: 5405,
                    count: 11,
                }],
                ..DropInterval::default()
            }),
            Record::Napi(NapiInterval {
                start_mono_ns: t0,
                end_mono_ns: t0 + 1_000 * MS,
                cells: vec![NapiCell {
                    ifindex: 2,
                    netns: 9,
                    cpu: 1,
                    polls: 50,
                    full_budget: 4,
                    ..NapiCell::default()
                }],
            }),
            Record::HeartbeatSource(SourceDeclared {
                at_mono_ns: t0,
                source: 1,
                spec: "udp:5405@100ms".into(),
                kind: SourceKind::PassiveUdp,
                preset: None,
                expected_interval_ns: Some(100 * MS),
                gap_factor: 3.0,
                preset_interval_ns: None,
            }),
        ];
        let beat = |at: u64| {
            Record::Heartbeat(HeartbeatEvent {
                source: 1,
                kind: EventKind::Arrival,
                read_mono_ns: at,
                read_realtime_ns: 0,
                stamped_realtime_ns: None,
                peer: Some("10.0.0.2:41000".into()),
                count: None,
                measured_ns: None,
                line: String::new(),
            })
        };
        // Two silences of 1 s.
        for t in [0, 100, 200, 1_200, 1_300, 2_300] {
            recs.push(beat(t0 + t * MS));
        }
        for r in &recs {
            s.add(r);
        }
        let m = Metrics::new();
        let before = m.encode().expect("encode");
        assert!(
            !before.contains("hbwatch_drops_total"),
            "no data, no family: {before}"
        );
        m.publish(&s);
        let text = m.encode().expect("encode");
        let judged = Metrics::new();
        judged.publish_tick(&s, &recs, t0 + 2_400 * MS);
        let d = crate::analysis::diagnosis::diagnose(&s, &recs);
        let judged_text = judged.encode().expect("encode");
        let mut by_cause: BTreeMap<&str, u64> = BTreeMap::new();
        for g in &d.gaps {
            let cause = d.incident_of(g).expect("incident").cause().cause;
            *by_cause.entry(cause.as_str()).or_default() += 1;
        }
        // Both 1 s silences are 100 ms apart: one incident.
        let incident = format!(
            "hbwatch_heartbeat_incidents_total{{cause=\"{}\"}} 1",
            d.incidents[0].cause().cause
        );
        assert!(judged_text.contains(&incident), "{judged_text}");
        // Per peer: its gaps, and its silence as of the last record (the beat at 2.3 s).
        for line in [
            "hbwatch_heartbeat_peer_gaps_total{source=\"udp:5405@100ms\",peer=\"10.0.0.2\"} 2",
            "hbwatch_heartbeat_peer_silence_seconds{source=\"udp:5405@100ms\",peer=\"10.0.0.2\"} 0.0",
        ] {
            assert!(text.contains(line), "missing {line} in:\n{text}");
        }
        for (cause, n) in by_cause {
            let line = format!(
                "hbwatch_heartbeat_gaps_total{{source=\"udp:5405@100ms\",cause=\"{cause}\"}} {n}"
            );
            assert!(
                judged_text.contains(&line),
                "missing {line} in:\n{judged_text}"
            );
        }
        for line in [
            "hbwatch_drops_total{reason=\"SOCKET_RCVBUFF\",device=\"eth0\",port=\"\"} 11",
            "hbwatch_drops_total{reason=\"SOCKET_RCVBUFF\",device=\"\",port=\"5405\"} 11",
            "hbwatch_napi_budget_exhausted_total{cpu=\"1\",device=\"eth0\"} 4",
            "hbwatch_heartbeat_gaps_total{source=\"udp:5405@100ms\",cause=\"unknown\"} 2",
            "hbwatch_heartbeat_incidents_total{cause=\"unknown\"} 1",
        ] {
            assert!(text.contains(line), "missing {line} in:\n{text}");
        }
    }
}
