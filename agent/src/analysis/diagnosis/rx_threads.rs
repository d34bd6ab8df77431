//! Receive delay in the threaded models (threaded NAPI, PREEMPT_RT): the heartbeats wait for a
//! receive thread (`napi/DEV-N`, ksoftirqd, an RT kernel's `irq/N-…`) to be scheduled, which no
//! NET_RX softirq wait shows. Judged as `softirq_delay`; the fix is that thread's priority or
//! what competes with it on its CPU.

use super::{cause::Cause, evidence::GapEvidence, rules::Finding};
use crate::{
    analysis::recommendation::{Recommendation, Severity},
    units::ns,
};

/// The receive thread that waited longest to run in a gap's window.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RxThreadDelay {
    pub pid: u32,
    pub comm: String,
    /// Longest runnable → running wait in the window.
    pub runq_max_ns: u64,
    /// The host ran receive work in threads (threaded NAPI or PREEMPT_RT), so this wait is the
    /// heartbeats' receive delay rather than a side effect.
    pub model: &'static str,
}

/// The finding when a receive thread's wait is long enough to matter and covers the gap.
pub fn finding(e: &GapEvidence) -> Option<Finding> {
    let t = e.rx_thread_delay.as_ref()?;
    let d = t.runq_max_ns;
    if d < 1_000_000 || !super::rules::covers(d, e.gap_ns) {
        return None;
    }
    let confidence = if d * 2 >= e.gap_ns {
        0.85
    } else if d >= e.expected_interval_ns {
        0.65
    } else {
        0.35
    };
    let model = match t.model {
        "preempt_rt" => "on this PREEMPT_RT kernel softirqs and IRQ handlers run in threads",
        _ => "with threaded NAPI the device is polled by a kthread",
    };
    Some(Finding {
        cause: Cause::SoftirqDelay,
        confidence,
        evidence: vec![
            format!(
                "receive thread {} (PID {}) waited up to {} to run",
                t.comm,
                t.pid,
                ns(d)
            ),
            format!("{model}: its wake-up to run time is the heartbeats' receive delay"),
        ],
    })
}

/// Raise the receive thread's priority (`chrt`), for the threaded models only.
pub fn recommend(e: &GapEvidence, why: &str) -> Option<Recommendation> {
    let t = e.rx_thread_delay.as_ref()?;
    // Kernel threads are recreated with new PIDs: persist by name.
    let pattern = t
        .comm
        .rsplit_once('-')
        .map_or(t.comm.as_str(), |(p, _)| p)
        .to_owned();
    Some(
        Recommendation::new(
            "rx-thread-priority",
            Severity::Warning,
            &t.comm,
            format!(
                "Give receive thread {} (PID {}) a real-time priority above what starves it",
                t.comm, t.pid
            ),
            "In a threaded receive model the heartbeats wait until the scheduler runs the receive thread; a busy or real-time task on its CPU delays it. Moving IRQs or RPS does not help while the thread itself waits.".into(),
        )
        .evidence("gap evidence", why)
        .evidence("receive model", t.model)
        .apply(format!("chrt -p {}   # its policy and priority now", t.pid))
        .apply(format!("chrt -f -p 50 {}   # SCHED_FIFO 50; keep it above the RT task that competes, below critical ones", t.pid))
        .persist(
            "systemd unit",
            None,
            format!("a oneshot unit with ExecStart=/bin/sh -c 'for p in $(pgrep \"^{pattern}\"); do chrt -f -p 50 $p; done' (PIDs change on reboot), or tuna --threads='{pattern}*' --priority=FIFO:50"),
        )
        .cost("A receive thread at FIFO 50 preempts every lower-priority task on its CPU while packets arrive: a flood takes that CPU. Isolating the CPU (isolcpus/nohz_full) for the receive path is the stronger fix on RT hosts.")
        .verify(format!("chrt -p {}   # SCHED_FIFO priority 50", t.pid))
        .verify("hbwatch record --duration 10m ... && hbwatch report   # the receive thread's runq wait drops")
        .undo(format!("chrt -o -p 0 {}   # back to SCHED_OTHER (as chrt -p showed before, if it was something else)", t.pid)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::diagnosis::evidence::SourceKind;

    fn evidence(runq_ns: u64, gap_ns: u64) -> GapEvidence {
        let mut e = GapEvidence::empty(SourceKind::Port, gap_ns, 100_000_000);
        e.rx_thread_delay = Some(RxThreadDelay {
            pid: 300,
            comm: "napi/eth0-8193".into(),
            runq_max_ns: runq_ns,
            model: "threaded_napi",
        });
        e
    }

    #[test]
    fn a_receive_thread_that_waited_most_of_the_gap_explains_it() {
        let f = finding(&evidence(900_000_000, 1_200_000_000)).expect("finding");
        assert_eq!(f.cause, Cause::SoftirqDelay);
        assert!(f.confidence >= 0.8, "{f:?}");
        assert!(f.evidence[0].contains("napi/eth0-8193"), "{f:?}");
        let r = recommend(&evidence(900_000_000, 1_200_000_000), "why").expect("advice");
        assert_eq!(r.id, "rx-thread-priority");
        assert!(
            r.apply.iter().any(|a| a.contains("chrt -f -p 50 300")),
            "{r:?}"
        );
        assert!(
            r.undo.iter().any(|a| a.contains("chrt -o -p 0 300")),
            "{r:?}"
        );
    }

    #[test]
    fn a_short_wait_does_not_explain_a_long_gap() {
        // 2 ms against a 3 s gap: not covered.
        assert!(finding(&evidence(2_000_000, 3_000_000_000)).is_none());
        // Under a millisecond is normal scheduling.
        assert!(finding(&evidence(500_000, 1_000_000)).is_none());
    }
}
