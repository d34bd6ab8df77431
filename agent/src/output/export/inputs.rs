//! Fills the exporters' analysis inputs (heartbeat arrivals, gaps, probe latencies, drops per
//! second) from a folded [`RecordingSummary`] and the records it was folded from.

use std::collections::BTreeMap;

use super::{DropsSecond, GapInput, HeartbeatSeries, ProbeLatency, adapt::AnalysisInputs};
use crate::{
    analysis::{
        RecordingSummary, StackFilter,
        diagnosis::{Cause, Diagnosis, Finding},
        folded_stacks,
    },
    recording::records::Record,
};

/// Everything but the stack fold (which borrows the records; see [`stack_kind`]).
pub fn analysis_inputs<'a>(summary: &RecordingSummary, records: &[Record]) -> AnalysisInputs<'a> {
    AnalysisInputs {
        heartbeats: heartbeat_series(summary, records),
        gaps: gap_inputs(summary),
        probes: probe_latencies(summary, records),
        drops: drops_per_second(summary, records),
        stacks: None,
    }
}

/// Arrivals per declared source, by the rules the gap detector uses.
pub fn heartbeat_series(summary: &RecordingSummary, records: &[Record]) -> Vec<HeartbeatSeries> {
    let hb = &summary.heartbeats;
    let mut by: BTreeMap<u32, Vec<u64>> = hb.sources.keys().map(|&id| (id, Vec::new())).collect();
    for a in records.iter().filter_map(|r| hb.arrival_of(r)) {
        by.entry(a.source).or_default().push(a.at_mono_ns);
    }
    by.into_iter()
        .map(|(id, mut arrivals_mono_ns)| {
            arrivals_mono_ns.sort_unstable();
            HeartbeatSeries {
                source: hb.source_name(id),
                arrivals_mono_ns,
            }
        })
        .collect()
}

/// The gaps numbered as `report` numbers them (1-based, by start), open ones without an end.
pub fn gap_inputs(summary: &RecordingSummary) -> Vec<GapInput> {
    let hb = &summary.heartbeats;
    hb.gaps(summary.last_mono_ns)
        .gaps
        .iter()
        .enumerate()
        .map(|(i, g)| GapInput {
            number: i as u32 + 1,
            source: hb.source_name(g.source),
            last_arrival_mono_ns: g.start_mono_ns,
            next_arrival_mono_ns: (!g.open).then_some(g.end_mono_ns),
            onset_mono_ns: g.onset_estimate_mono_ns,
            detected_mono_ns: Some(g.detected_mono_ns),
            verdict: None,
            cause: None,
        })
        .collect()
}

/// Sets each gap's verdict and cause from the diagnosis (matched by gap number): its
/// incident's, which weighs every source that saw it, as the report does.
pub fn add_verdicts(gaps: &mut [GapInput], diagnosis: &Diagnosis) {
    for g in gaps {
        let Some(d) = diagnosis.gaps.iter().find(|d| d.number == g.number) else {
            continue;
        };
        let incident = diagnosis.incident_of(d).map(|i| &i.findings);
        let Some(f) = incident.unwrap_or(&d.findings).first() else {
            continue;
        };
        g.verdict = Some(verdict_line(f));
        g.cause = Some(f.cause.as_str().to_owned());
    }
}

/// "the heartbeat socket's receive buffer was full … (80 %)": the cause's phrase and confidence
/// (none for `unknown`, whose confidence is in having no answer).
pub fn verdict_line(f: &Finding) -> String {
    if f.cause == Cause::Unknown {
        return f.cause.phrase().to_owned();
    }
    format!("{} ({:.0} %)", f.cause.phrase(), f.confidence * 100.0)
}

/// Successful probe round trips per probing source, as (sent at, latency).
pub fn probe_latencies(summary: &RecordingSummary, records: &[Record]) -> Vec<ProbeLatency> {
    let mut by: BTreeMap<u32, Vec<(u64, u64)>> = BTreeMap::new();
    for r in records {
        if let Record::Probe(p) = r
            && p.error.is_none()
        {
            by.entry(p.source)
                .or_default()
                .push((p.start_mono_ns, p.latency_ns));
        }
    }
    by.into_iter()
        .map(|(id, samples)| ProbeLatency {
            probe: summary.heartbeats.source_name(id),
            samples,
        })
        .collect()
}

/// One entry per recorded drop interval (about a second each), by reason name. Per-port counts
/// are left out: they repeat the per-device drops.
pub fn drops_per_second(summary: &RecordingSummary, records: &[Record]) -> Vec<DropsSecond> {
    records
        .iter()
        .filter_map(|r| match r {
            Record::Drops(iv) => Some(iv),
            _ => None,
        })
        .map(|iv| {
            let mut by_reason: BTreeMap<String, u64> = BTreeMap::new();
            for c in &iv.cells {
                *by_reason
                    .entry(summary.packet.reason_name(c.reason))
                    .or_default() += c.count;
            }
            DropsSecond {
                start_mono_ns: iv.start_mono_ns,
                total: by_reason.values().sum(),
                by_reason,
            }
        })
        .collect()
}

/// What an export of the recording's stacks draws, for titles; `None` when it sampled nothing.
pub fn stack_kind(summary: &RecordingSummary, filter: StackFilter) -> Option<String> {
    let st = &summary.ksched.stacks;
    if st.intervals == 0 {
        return None;
    }
    let what = if st.all_stacks && filter == StackFilter::All {
        "softirq and other kernel stacks"
    } else {
        "softirq kernel stacks"
    };
    Some(format!("{what} at {} Hz", st.rate_hz))
}

/// The stack fold exports use: the window's stacks that `filter` keeps.
pub fn fold_stacks(
    records: &[Record],
    start_mono_ns: u64,
    end_mono_ns: u64,
    filter: StackFilter,
) -> BTreeMap<String, u64> {
    folded_stacks(records, start_mono_ns, end_mono_ns, filter)
}

/// Why a window has no stack to draw, said as what is true of it: no samples at all, samples
/// but none in softirq context (and whether the others were kept), or none in the kernel.
pub fn why_no_stacks(
    records: &[Record],
    start_mono_ns: u64,
    end_mono_ns: u64,
    filter: StackFilter,
) -> String {
    let (mut taken, mut kept_others) = (0u64, false);
    for r in records {
        if let Record::Stacks(s) = r
            && s.end_mono_ns > start_mono_ns
            && s.start_mono_ns < end_mono_ns
        {
            taken += s.samples;
            kept_others |= s.all_stacks;
        }
    }
    match (taken, filter, kept_others) {
        (0, _, _) => "no kernel stacks were sampled; flamegraphs need a recording made with stack sampling (record --stack-rate above 0)".to_owned(),
        (n, StackFilter::Softirq, true) => format!(
            "0 of {n} samples ran in softirq context; export --all-stacks draws the other kernel stacks this recording kept"
        ),
        (n, StackFilter::Softirq, false) => format!(
            "0 of {n} samples ran in softirq context, and this recording kept only softirq stacks; record with --all-stacks, then export --all-stacks"
        ),
        (n, StackFilter::All, true) => format!(
            "none of {n} samples caught a kernel stack (the CPUs ran user code or idled)"
        ),
        (n, StackFilter::All, false) => format!(
            "0 of {n} samples ran in softirq context, and this recording kept only softirq stacks; record with --all-stacks to keep the others"
        ),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn no_softirq_stacks_is_said_as_it_is() {
        use crate::recording::records::{FoldedStack, StackContext, StackSamples};
        let recs = |all_stacks, stacks: Vec<FoldedStack>| {
            vec![Record::Stacks(StackSamples {
                start_mono_ns: 10,
                end_mono_ns: 20,
                rate_hz: 99,
                all_stacks,
                samples: 996,
                dropped: 0,
                stacks,
            })]
        };
        let other = FoldedStack {
            context: StackContext::Other,
            folded: "do_idle;cpu_idle".into(),
            count: 996,
        };
        let kept = recs(true, vec![other]);
        assert!(fold_stacks(&kept, 0, 30, StackFilter::Softirq).is_empty());
        assert_eq!(
            fold_stacks(&kept, 0, 30, StackFilter::All).len(),
            1,
            "--all-stacks draws them"
        );
        let m = why_no_stacks(&kept, 0, 30, StackFilter::Softirq);
        assert!(
            m.starts_with("0 of 996 samples ran in softirq context")
                && m.contains("export --all-stacks"),
            "{m}"
        );
        let m = why_no_stacks(&recs(false, vec![]), 0, 30, StackFilter::Softirq);
        assert!(
            m.starts_with("0 of 996 samples ran in softirq context")
                && m.contains("record with --all-stacks"),
            "{m}"
        );
        assert!(why_no_stacks(&kept, 30, 40, StackFilter::All).starts_with("no kernel stacks"));
    }

    use super::*;
    use crate::recording::records::{
        DropCell, DropInterval, EventKind, HeartbeatEvent, PacketTables, ProbeAttempt,
        SourceDeclared, SourceKind,
    };

    const MS: u64 = 1_000_000;

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

    #[test]
    fn arrivals_gaps_probes_and_drops_from_records() {
        let header = crate::output::export::synthetic::header();
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
        // Beats every 100 ms with one 1 s silence after the tenth.
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
        let inputs = analysis_inputs(&s, &recs);
        assert!(
            why_no_stacks(&recs, 0, u64::MAX, StackFilter::Softirq).starts_with("no kernel stacks")
        );
        assert_eq!(inputs.heartbeats.len(), 1);
        let hb = &inputs.heartbeats[0];
        assert_eq!(hb.source, "log:/var/log/app.log@100ms");
        // 20 beats plus the successful probe reply.
        assert_eq!(hb.arrivals_mono_ns.len(), 21);
        assert!(hb.arrivals_mono_ns.is_sorted());
        assert_eq!(inputs.gaps.len(), 1);
        let g = &inputs.gaps[0];
        assert_eq!(g.number, 1);
        assert_eq!(g.last_arrival_mono_ns, t0 + 900 * MS);
        assert_eq!(g.next_arrival_mono_ns, Some(t0 + 1_900 * MS));
        assert_eq!(g.detected_mono_ns, Some(t0 + 1_200 * MS));
        assert_eq!(inputs.probes[0].samples, vec![(t0 + 50 * MS, 2 * MS)]);
        assert_eq!(inputs.drops.len(), 1);
        assert_eq!(inputs.drops[0].by_reason.get("NO_SOCKET"), Some(&7));
        assert_eq!(inputs.drops[0].total, 7);
        assert_eq!(stack_kind(&s, StackFilter::Softirq), None);
        let mut gaps = inputs.gaps.clone();
        add_verdicts(&mut gaps, &crate::analysis::diagnosis::diagnose(&s, &recs));
        let cause = gaps[0].cause.as_deref().expect("a cause");
        let verdict = gaps[0].verdict.as_deref().expect("a verdict");
        assert!(!cause.is_empty());
        assert!(
            cause == "unknown" || verdict.ends_with(" %)"),
            "{cause}: {verdict}"
        );
    }
}
