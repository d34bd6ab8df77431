//! Turns the analysis values of one tick (the running summary and the records the tick appended)
//! into the inputs of the live view's feeds: heartbeat lanes, drop and NAPI samples.

use std::collections::BTreeMap;

use super::state::{DropSample, HeartbeatSourceSnapshot, NapiSample, Severity, Verdict};
use crate::{
    analysis::{RecordingSummary, diagnosis::Diagnosis},
    output::export::inputs::verdict_line,
    recording::records::{DropInterval, NapiInterval, Record},
};

/// One snapshot per declared heartbeat source at `now_mono_ns`, from the gap detector, with the
/// cause of each source's latest judged gap.
pub fn heartbeat_snapshots(
    summary: &RecordingSummary,
    now_mono_ns: u64,
    diagnosis: Option<&Diagnosis>,
) -> Vec<HeartbeatSourceSnapshot> {
    let hb = &summary.heartbeats;
    let open = hb.detector.open_silences(now_mono_ns);
    hb.sources
        .iter()
        .map(|(&id, stats)| {
            let now = hb.detector.source_now(id);
            let gap_open = open.iter().any(|&(s, _)| s == id);
            let detail = stats.declared.as_ref().map_or_else(String::new, |d| {
                let kind = words(&d.kind);
                match &d.preset {
                    Some(p) => format!("{kind}, preset {p}"),
                    None => kind,
                }
            });
            HeartbeatSourceSnapshot {
                name: hb.source_name(id),
                detail,
                expected_interval_ns: now.and_then(|n| n.expected_interval_ns),
                gap_threshold_ns: now.and_then(|n| n.gap_threshold_ns),
                last_arrival_mono_ns: now.and_then(|n| n.last_arrival_mono_ns),
                gap_open,
                // A running silence is a gap the operator sees now: count it.
                gaps: now.map_or(0, |n| n.gaps) + u64::from(gap_open),
                latest_verdict: diagnosis.and_then(|d| {
                    let g = d
                        .gaps
                        .iter()
                        .filter(|g| g.gap.source == id)
                        .max_by_key(|g| g.gap.start_mono_ns)?;
                    Some(format!("gap {}: {}", g.number, g.verdict().cause))
                }),
            }
        })
        .collect()
}

/// The verdict line for the latest incident: its cause over every source that saw it, and its
/// first recommendation; `None` before the first gap.
pub fn verdict(d: &Diagnosis) -> Option<Verdict> {
    let i = d.incidents.iter().max_by_key(|i| i.start_mono_ns)?;
    let gaps = if i.gaps.len() == 1 {
        format!("gap {}", i.gaps[0])
    } else {
        format!("{} gaps", i.gaps.len())
    };
    Some(Verdict {
        severity: if i.open {
            Severity::Critical
        } else {
            Severity::Warning
        },
        finding: format!(
            "incident {} ({gaps}) on {}: {}",
            i.number,
            i.sources.join(", "),
            verdict_line(i.cause())
        ),
        recommendation: i
            .recommendations
            .first()
            .and_then(|id| d.recommendations.iter().find(|r| &r.id == id))
            .map_or_else(|| "no change suggested".to_owned(), |r| r.title.clone()),
    })
}

/// "passive_udp" → "passive udp".
fn words(kind: &str) -> String {
    kind.replace('_', " ")
}

/// Length covered by a tick's intervals (they follow one another); 0 when there are none.
fn span_ns(intervals: impl Iterator<Item = (u64, u64)>) -> u64 {
    intervals.map(|(s, e)| e.saturating_sub(s)).sum()
}

/// The tick's intervals of one record kind (`pick` selects it), `None` when there are none: that
/// probe is off, which the view shows differently from a quiet second.
fn intervals_of<'a, T>(
    records: &'a [Record],
    pick: impl Fn(&'a Record) -> Option<&'a T>,
) -> Option<Vec<&'a T>> {
    let ivs: Vec<&T> = records.iter().filter_map(pick).collect();
    (!ivs.is_empty()).then_some(ivs)
}

/// Drop samples of the tick's `Drops` records and the time they cover; `None` without any (the
/// drop probes are off). Per-port counts come as port-only samples (see [`DropSample`]).
pub fn drop_samples(
    summary: &RecordingSummary,
    records: &[Record],
) -> Option<(u64, Vec<DropSample>)> {
    let ivs: Vec<&DropInterval> = intervals_of(records, |r| match r {
        Record::Drops(iv) => Some(iv),
        _ => None,
    })?;
    let p = &summary.packet;
    let mut out = Vec::new();
    for iv in &ivs {
        out.extend(iv.cells.iter().map(|c| DropSample {
            reason: p.reason_name(c.reason),
            device: Some(p.ifname(c.ifindex, c.netns)),
            queue: c.rx_queue,
            cpu: Some(c.cpu),
            port: None,
            count: c.count,
        }));
        out.extend(iv.ports.iter().map(|c| DropSample {
            reason: p.reason_name(c.reason),
            device: None,
            queue: None,
            cpu: None,
            port: Some(c.port),
            count: c.count,
        }));
    }
    let span = span_ns(ivs.iter().map(|iv| (iv.start_mono_ns, iv.end_mono_ns)));
    Some((span, out))
}

/// NAPI polls and budget exhaustion per device over the tick's `Napi` records; `None` without any.
pub fn napi_samples(
    summary: &RecordingSummary,
    records: &[Record],
) -> Option<(u64, Vec<NapiSample>)> {
    let ivs: Vec<&NapiInterval> = intervals_of(records, |r| match r {
        Record::Napi(iv) => Some(iv),
        _ => None,
    })?;
    let mut by_device: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for c in ivs.iter().flat_map(|iv| &iv.cells) {
        let device = summary.packet.napi_device(c.ifindex, c.netns);
        let e = by_device.entry(device).or_default();
        e.0 += c.polls;
        e.1 += c.full_budget;
    }
    let samples = by_device
        .into_iter()
        .map(|(device, (polls, budget_exhausted))| NapiSample {
            device,
            polls,
            budget_exhausted,
        })
        .collect();
    let span = span_ns(ivs.iter().map(|iv| (iv.start_mono_ns, iv.end_mono_ns)));
    Some((span, samples))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recording::records::{
        DropCell, HeartbeatEvent, NapiCell, PacketTables, PortDropCell, SourceDeclared,
    };

    const SEC: u64 = 1_000_000_000;

    fn summary() -> RecordingSummary {
        let mut s = RecordingSummary::new(crate::output::export::synthetic::header(), (1, 0));
        s.add(&Record::PacketTables(PacketTables {
            drop_reasons: vec![(3, "NO_SOCKET".into())],
            interfaces: vec![(2, "eth0".into())],
            host_netns: 7,
            irq_lines: Vec::new(),
        }));
        s
    }

    #[test]
    fn lanes_follow_the_gap_detector() {
        let mut s = summary();
        let start = s.header.anchor.mono_ns;
        s.add(&Record::HeartbeatSource(SourceDeclared {
            at_mono_ns: start,
            source: 1,
            spec: "udp:5405@100ms".into(),
            kind: crate::recording::records::SourceKind::PassiveUdp,
            preset: None,
            expected_interval_ns: Some(SEC / 10),
            gap_factor: 3.0,
            preset_interval_ns: None,
        }));
        for i in 0..10 {
            s.add(&Record::Heartbeat(HeartbeatEvent {
                source: 1,
                kind: crate::recording::records::EventKind::Arrival,
                read_mono_ns: start + i * SEC / 10,
                read_realtime_ns: 0,
                stamped_realtime_ns: None,
                peer: None,
                count: None,
                measured_ns: None,
                line: String::new(),
            }));
        }
        let last = start + 9 * SEC / 10;
        let ok = heartbeat_snapshots(&s, last + SEC / 10, None);
        assert_eq!(ok.len(), 1);
        let l = &ok[0];
        assert_eq!(
            (l.name.as_str(), l.detail.as_str()),
            ("udp:5405@100ms", "passive udp")
        );
        assert_eq!(l.last_arrival_mono_ns, Some(last));
        assert_eq!(l.gap_threshold_ns, Some(300_000_000));
        assert!(!l.gap_open);
        assert_eq!(l.gaps, 0);
        let silent = heartbeat_snapshots(&s, last + SEC, None);
        assert!(silent[0].gap_open);
        assert_eq!(silent[0].gaps, 1, "the running silence counts");
        // Judged: the lane carries the cause, the verdict line the finding.
        s.add(&Record::Heartbeat(HeartbeatEvent {
            source: 1,
            kind: crate::recording::records::EventKind::Arrival,
            read_mono_ns: last + 2 * SEC,
            read_realtime_ns: 0,
            stamped_realtime_ns: None,
            peer: None,
            count: None,
            measured_ns: None,
            line: String::new(),
        }));
        let d = crate::analysis::diagnosis::diagnose(&s, &[]);
        let lanes = heartbeat_snapshots(&s, last + 2 * SEC, Some(&d));
        let cause = d.gaps[0].verdict().cause.as_str();
        assert_eq!(
            lanes[0].latest_verdict.as_deref(),
            Some(format!("gap 1: {cause}").as_str())
        );
        let v = verdict(&d).expect("an incident");
        assert_eq!(v.severity, Severity::Warning);
        assert!(
            v.finding
                .starts_with("incident 1 (gap 1) on udp:5405@100ms: "),
            "{}",
            v.finding
        );
    }

    #[test]
    fn drops_and_napi_are_named_and_timed() {
        let s = summary();
        let recs = vec![
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
                    polls: 100,
                    full_budget: 5,
                    ..NapiCell::default()
                }],
            }),
        ];
        let (span, d) = drop_samples(&s, &recs).expect("drops");
        assert_eq!(span, SEC);
        assert_eq!(d.len(), 2);
        assert_eq!(
            (d[0].reason.as_str(), d[0].device.as_deref()),
            ("NO_SOCKET", Some("eth0"))
        );
        assert_eq!((d[1].port, d[1].device.as_deref()), (Some(5405), None));
        let (_, n) = napi_samples(&s, &recs).expect("napi");
        assert_eq!(
            n,
            vec![NapiSample {
                device: "eth0".into(),
                polls: 100,
                budget_exhausted: 5
            }]
        );
        assert!(drop_samples(&s, &[]).is_none());
        // Port-only samples do not count their drops a second time by reason.
        let mut view = super::super::drops::DropsView::default();
        view.update(span, &d, &[5405]);
        assert_eq!(view.total_per_s, 40.0);
        assert!(view.by_port[0].heartbeat);
    }
}
