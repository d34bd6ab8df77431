//! Fills the exporters' analysis inputs from the aggregates of a folded [`RecordingSummary`]
//! and the records it was folded from, and words what the exports show of them: gap verdicts,
//! what the stacks are, why a window has none.

use std::collections::BTreeMap;

use super::{GapInput, adapt::AnalysisInputs};
use crate::{
    analysis::{
        RecordingSummary, StackFilter,
        aggregates::{
            drops::drops_per_second,
            sources::{gap_finding, gap_inputs, heartbeat_series, probe_latencies},
            stacks::stack_coverage,
        },
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
        drops: drops_per_second(&summary.packet, records),
        stacks: None,
    }
}

/// Sets each gap's verdict and cause from the diagnosis (matched by gap number): its
/// incident's, which weighs every source that saw it, as the report does.
pub fn add_verdicts(gaps: &mut [GapInput], diagnosis: &Diagnosis) {
    for g in gaps {
        let Some(f) = gap_finding(diagnosis, g.number) else {
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
    let c = stack_coverage(records, start_mono_ns, end_mono_ns);
    match (c.taken, filter, c.kept_others) {
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

    #[test]
    fn inputs_gather_the_aggregates_and_gaps_get_worded_verdicts() {
        let (s, recs) = crate::analysis::aggregates::tests::beats_probe_and_drops();
        let inputs = analysis_inputs(&s, &recs);
        assert!(
            why_no_stacks(&recs, 0, u64::MAX, StackFilter::Softirq).starts_with("no kernel stacks")
        );
        assert_eq!(inputs.heartbeats.len(), 1);
        assert_eq!(inputs.gaps.len(), 1);
        assert_eq!(inputs.probes.len(), 1);
        assert_eq!(inputs.drops.len(), 1);
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
