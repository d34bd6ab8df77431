//! Report sections for softirq threshold events, scheduling delay of watched threads and kernel
//! stacks, in text and JSON.

use std::io::Write;

use serde::Serialize;

use crate::{
    analysis::{Distribution, RecordingSummary, ksched::event_worst_ns},
    units,
};

/// Leaf functions listed in the text report.
const TOP_FUNCTIONS: usize = 10;

pub fn render_text(s: &RecordingSummary, out: &mut dyn Write) -> std::io::Result<()> {
    let k = &s.ksched;
    if let Some(thr) = k.event_threshold_ns {
        writeln!(out)?;
        writeln!(
            out,
            "Softirqs over {} (wait or run): {} event(s); worst first",
            units::ns(thr),
            units::count(k.event_count)
        )?;
        writeln!(
            out,
            "{:>9} {:>3} {:<8} {:>9} {:>9}  interrupted task",
            "at", "cpu", "vector", "wait", "run"
        )?;
        for e in &k.worst_events {
            writeln!(
                out,
                "{:>8.3}s {:>3} {:<8} {:>9} {:>9}  {} ({}){}",
                e.at_mono_ns.saturating_sub(s.first_mono_ns) as f64 / 1e9,
                e.cpu,
                s.vector_name(e.vector),
                e.wait_ns.map_or("?".to_owned(), units::ns),
                units::ns(e.run_ns),
                e.comm,
                e.pid,
                if e.ksoftirqd { " · in ksoftirqd" } else { "" }
            )?;
        }
    }
    if !k.sched.is_empty() {
        writeln!(out)?;
        writeln!(
            out,
            "Scheduling delay of watched threads (runq = runnable → running; off = off-CPU)"
        )?;
        writeln!(
            out,
            "{:<24} {:>8} {:>9} {:>9} {:>9} │ {:>8} {:>9} {:>9}",
            "thread (tid/pid)", "runq n", "p50", "p99", "max", "off n", "p99", "max"
        )?;
        for (tid, a) in &k.sched {
            let (r, o) = (a.runq.distribution(), a.offcpu.distribution());
            writeln!(
                out,
                "{:<24} {:>8} {:>9} {:>9} {:>9} │ {:>8} {:>9} {:>9}",
                format!("{} ({tid}/{})", a.comm, a.tgid),
                units::count(r.count),
                units::ns(r.p50_ns),
                units::ns(r.p99_ns),
                max(&r),
                units::count(o.count),
                units::ns(o.p99_ns),
                max(&o)
            )?;
        }
    }
    let st = &k.stacks;
    if st.intervals > 0 {
        writeln!(out)?;
        writeln!(
            out,
            "Kernel stacks: {} samples at {} Hz per CPU, {} in softirq context, {} not captured{}",
            units::count(st.samples),
            st.rate_hz,
            units::count(st.softirq_samples()),
            units::count(st.dropped),
            if st.all_stacks {
                format!(", {} other kernel", units::count(st.other.values().sum()))
            } else {
                String::new()
            }
        )?;
        for (f, n) in st.top_leaf_functions(TOP_FUNCTIONS) {
            writeln!(out, "  {:>8}  {f}", units::count(n))?;
        }
    }
    Ok(())
}

fn max(d: &Distribution) -> String {
    if d.max_exact {
        units::ns(d.max_ns)
    } else {
        format!("≤{}", units::ns(d.max_ns))
    }
}

#[derive(Serialize)]
pub struct SoftirqEventsJson {
    pub threshold_ns: Option<u64>,
    pub count: u64,
    pub worst: Vec<EventJson>,
}

#[derive(Serialize)]
pub struct EventJson {
    pub at_mono_ns: u64,
    pub cpu: u32,
    pub vector: String,
    pub wait_ns: Option<u64>,
    pub run_ns: u64,
    pub worst_ns: u64,
    pub pid: u32,
    pub comm: String,
    pub ksoftirqd: bool,
}

#[derive(Serialize)]
pub struct SchedJson {
    pub tid: u32,
    pub pid: u32,
    pub comm: String,
    pub runq_ns: Distribution,
    pub offcpu_ns: Distribution,
}

#[derive(Serialize)]
pub struct StacksJson {
    pub rate_hz: u32,
    pub all_stacks: bool,
    pub samples: u64,
    pub not_captured: u64,
    pub softirq_samples: u64,
    pub top_softirq_functions: Vec<(String, u64)>,
}

pub fn events_json(s: &RecordingSummary) -> SoftirqEventsJson {
    let k = &s.ksched;
    SoftirqEventsJson {
        threshold_ns: k.event_threshold_ns,
        count: k.event_count,
        worst: k
            .worst_events
            .iter()
            .map(|e| EventJson {
                at_mono_ns: e.at_mono_ns,
                cpu: e.cpu,
                vector: s.vector_name(e.vector),
                wait_ns: e.wait_ns,
                run_ns: e.run_ns,
                worst_ns: event_worst_ns(e),
                pid: e.pid,
                comm: e.comm.clone(),
                ksoftirqd: e.ksoftirqd,
            })
            .collect(),
    }
}

pub fn sched_json(s: &RecordingSummary) -> Vec<SchedJson> {
    s.ksched
        .sched
        .iter()
        .map(|(tid, a)| SchedJson {
            tid: *tid,
            pid: a.tgid,
            comm: a.comm.clone(),
            runq_ns: a.runq.distribution(),
            offcpu_ns: a.offcpu.distribution(),
        })
        .collect()
}

pub fn stacks_json(s: &RecordingSummary) -> Option<StacksJson> {
    let st = &s.ksched.stacks;
    (st.intervals > 0).then(|| StacksJson {
        rate_hz: st.rate_hz,
        all_stacks: st.all_stacks,
        samples: st.samples,
        not_captured: st.dropped,
        softirq_samples: st.softirq_samples(),
        top_softirq_functions: st.top_leaf_functions(TOP_FUNCTIONS),
    })
}
