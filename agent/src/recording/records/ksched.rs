//! Records of the softirq threshold events, scheduling-delay and kernel-stack probes.

use serde::{Deserialize, Serialize};

use super::{SparseHist, TimedMax};

/// Softirqs over the threshold read from the ring buffer during one tick, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SoftirqEvents {
    /// The threshold in force (`--softirq-threshold`): wait or run above it made an event.
    pub threshold_ns: u64,
    pub events: Vec<SoftirqEvent>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SoftirqEvent {
    /// Softirq exit, CLOCK_MONOTONIC.
    pub at_mono_ns: u64,
    pub cpu: u32,
    pub vector: u8,
    /// Raise→entry; None when the raise happened before hbwatch attached.
    pub wait_ns: Option<u64>,
    pub run_ns: u64,
    /// The task the softirq interrupted (thread id and name); ksoftirqd when deferred.
    pub pid: u32,
    pub comm: String,
    pub ksoftirqd: bool,
}

/// Scheduling delay of watched threads over `[start_mono_ns, end_mono_ns)`; only threads that
/// were switched in during the interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SchedInterval {
    pub start_mono_ns: u64,
    pub end_mono_ns: u64,
    pub tasks: Vec<SchedTask>,
}

/// One watched thread over one interval.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SchedTask {
    pub tid: u32,
    pub tgid: u32,
    /// Thread name from /proc when the interval was read (empty if it had exited).
    pub comm: String,
    /// Runqueue latency: became runnable (woken, or preempted) → switched in.
    pub runq_count: u64,
    pub runq_sum_ns: u64,
    pub runq_max: Option<TimedMax>,
    pub runq_hist: SparseHist,
    /// Off-CPU time: switched out → switched in.
    pub offcpu_count: u64,
    pub offcpu_sum_ns: u64,
    pub offcpu_max: Option<TimedMax>,
    pub offcpu_hist: SparseHist,
}

/// Where a sampled CPU was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum StackContext {
    /// Serving a softirq (known from hbwatch's softirq probe).
    Softirq,
    /// Anything else in the kernel (kept only with `--all-stacks`).
    Other,
}

/// Kernel stacks sampled over `[start_mono_ns, end_mono_ns)` on every CPU.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StackSamples {
    pub start_mono_ns: u64,
    pub end_mono_ns: u64,
    /// Samples per second per CPU.
    pub rate_hz: u32,
    /// Whether stacks outside softirq context were kept.
    pub all_stacks: bool,
    /// Samples taken (all contexts, user mode included).
    pub samples: u64,
    /// Samples whose kernel stack could not be captured or counted (user mode with
    /// `--all-stacks`, or a full stack map).
    pub dropped: u64,
    pub stacks: Vec<FoldedStack>,
}

/// One distinct kernel stack, outermost frame first, frames joined by `;` (the folded format
/// flamegraph tools read), with how often it was sampled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FoldedStack {
    pub context: StackContext,
    pub folded: String,
    pub count: u64,
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::{
        analysis::{RecordingSummary, StackFilter, folded_stacks},
        output::report::{ReportFormat, render},
        recording::{
            reader::RecordingReader, records::Record, tests::sample_header, writer::RecordingWriter,
        },
    };

    fn records() -> Vec<Record> {
        vec![
            Record::SoftirqEvents(SoftirqEvents {
                threshold_ns: 1_000_000,
                events: vec![SoftirqEvent {
                    at_mono_ns: 2_000,
                    cpu: 1,
                    vector: 3,
                    wait_ns: Some(1_500_000),
                    run_ns: 40_000,
                    pid: 4242,
                    comm: "corosync".into(),
                    ksoftirqd: false,
                }],
            }),
            Record::Sched(SchedInterval {
                start_mono_ns: 1_000,
                end_mono_ns: 1_000_000_000,
                tasks: vec![SchedTask {
                    tid: 4243,
                    tgid: 4242,
                    comm: "hb-sender".into(),
                    runq_count: 2,
                    runq_sum_ns: 3_000,
                    runq_max: Some(TimedMax {
                        value_ns: 2_000,
                        at_mono_ns: 5_000,
                    }),
                    runq_hist: SparseHist(vec![(60, 2)]),
                    ..SchedTask::default()
                }],
            }),
            Record::Stacks(StackSamples {
                start_mono_ns: 1_000,
                end_mono_ns: 1_000_000_000,
                rate_hz: 99,
                all_stacks: false,
                samples: 198,
                dropped: 0,
                stacks: vec![FoldedStack {
                    context: StackContext::Softirq,
                    folded: "ret_from_fork;handle_softirqs;net_rx_action;virtnet_poll".into(),
                    count: 7,
                }],
            }),
        ]
    }

    #[test]
    fn round_trip_summary_and_reports() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("k.hbw");
        let mut w = RecordingWriter::create(&path, false, &sample_header()).expect("create");
        for r in records() {
            w.push(&r).expect("push");
        }
        w.flush().expect("flush");
        let bytes = std::fs::read(&path).expect("read back");
        let mut rd = RecordingReader::from_bytes(Path::new("k.hbw"), bytes).expect("open");
        let back: Vec<Record> = rd.by_ref().collect();
        assert_eq!(back, records());

        let f = folded_stacks(&back, 0, u64::MAX, StackFilter::Softirq);
        assert_eq!(
            f.get("ret_from_fork;handle_softirqs;net_rx_action;virtnet_poll"),
            Some(&7)
        );
        let s = RecordingSummary::from_records(sample_header(), (1, 1), back);
        assert_eq!(s.ksched.event_count, 1);
        assert_eq!(s.ksched.sched[&4243].runq.count, 2);

        let mut text = Vec::new();
        render(&s, "k.hbw", ReportFormat::Text, &mut text).expect("text");
        let text = String::from_utf8(text).expect("utf8");
        for want in [
            "corosync (4242)",
            "NET_RX",
            "hb-sender (4243/4242)",
            "virtnet_poll",
        ] {
            assert!(text.contains(want), "text report lacks {want:?}:\n{text}");
        }
        let mut json = Vec::new();
        render(&s, "k.hbw", ReportFormat::Json, &mut json).expect("json");
        let v: serde_json::Value = serde_json::from_slice(&json).expect("valid JSON");
        assert_eq!(v["softirq_events"]["count"], 1);
        assert_eq!(v["sched_delay"][0]["tid"], 4243);
        assert_eq!(v["kernel_stacks"]["softirq_samples"], 7);
    }
}
