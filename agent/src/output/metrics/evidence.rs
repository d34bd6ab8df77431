//! Metrics of the kernel and heartbeat evidence: drops by reason/device/port, NAPI budget
//! exhaustion per CPU and device, heartbeat gaps by source and cause, incidents by cause. A gap's
//! cause is its incident's, as in the report.

use std::collections::BTreeMap;

use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeMetric as _},
    metrics::{MetricType, counter::ConstCounter},
};

use super::Shared;
use crate::analysis::{
    RecordingSummary,
    diagnosis::{Diagnosis, incidents},
};

/// The cause label of a gap whose diagnosis has not been computed.
pub const CAUSE_UNKNOWN: &str = "unknown";

/// (source, gap start) → cause, from a diagnosis.
pub type Causes = BTreeMap<(u32, u64), &'static str>;

/// The cause of each judged gap: its incident's.
pub fn causes(d: &Diagnosis) -> Causes {
    d.gaps
        .iter()
        .map(|g| {
            let cause = d.incident_of(g).map_or(g.verdict(), |i| i.cause()).cause;
            ((g.gap.source, g.gap.start_mono_ns), cause.as_str())
        })
        .collect()
}

/// What these collectors show, named, copied from the summary after every tick.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct EvidenceSnapshot {
    /// (reason, device, port) → drops. The kernel counts drops per device and, separately, per
    /// watched destination port: a series has either `device` or `port` set, never both.
    pub drops: BTreeMap<(String, String, String), u64>,
    /// (cpu, device) → NAPI polls that used their whole budget.
    pub napi_exhausted: BTreeMap<(u32, String), u64>,
    /// (source, cause) → gaps found so far.
    pub gaps: BTreeMap<(String, String), u64>,
    /// cause → incidents found so far (gaps grouped as the report groups them).
    pub incidents: BTreeMap<String, u64>,
}

impl EvidenceSnapshot {
    pub fn of(s: &RecordingSummary, causes: &Causes) -> EvidenceSnapshot {
        let p = &s.packet;
        let mut out = EvidenceSnapshot::default();
        for (&(reason, netns, ifindex, _queue, _cpu), &n) in &p.drops {
            let key = (
                p.reason_name(reason),
                p.ifname(ifindex, netns),
                String::new(),
            );
            *out.drops.entry(key).or_default() += n;
        }
        for (&(_proto, port, reason), &n) in &p.port_drops {
            let key = (p.reason_name(reason), String::new(), port.to_string());
            *out.drops.entry(key).or_default() += n;
        }
        for (&(netns, ifindex, _napi_id, cpu), a) in &p.napi {
            let device = p.napi_device(ifindex, netns);
            *out.napi_exhausted.entry((cpu, device)).or_default() += a.full_budget;
        }
        let hb = &s.heartbeats;
        let gaps = hb.detector.gaps_so_far();
        let cause_of =
            |g: &crate::analysis::gaps::Gap| causes.get(&(g.source, g.start_mono_ns)).copied();
        for g in gaps {
            let key = (
                hb.source_name(g.source),
                cause_of(g).unwrap_or(CAUSE_UNKNOWN).to_owned(),
            );
            *out.gaps.entry(key).or_default() += 1;
        }
        let spans: Vec<(u64, u64)> = gaps
            .iter()
            .map(|g| {
                (
                    g.onset_estimate_mono_ns.unwrap_or(g.start_mono_ns),
                    g.end_mono_ns,
                )
            })
            .collect();
        let of = incidents::group_spans(&spans);
        let mut by: BTreeMap<u32, &'static str> = BTreeMap::new();
        for (g, n) in gaps.iter().zip(&of) {
            let known = cause_of(g);
            let e = by.entry(*n).or_insert(CAUSE_UNKNOWN);
            if *e == CAUSE_UNKNOWN
                && let Some(c) = known
            {
                *e = c;
            }
        }
        for cause in by.into_values() {
            *out.incidents.entry(cause.to_owned()).or_default() += 1;
        }
        out
    }
}

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
                peer: None,
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
