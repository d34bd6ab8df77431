//! Attaches the optional probe families (softirq threshold events, scheduling delay, kernel
//! stacks) after the softirq core. Each one that fails is reported and left off; the rest run.

use agent_common::{drops::NO_OFFSET, names, sched::TaskOffsets, tracepoints::TracepointOffsets};
use aya::Btf;

use super::{
    kernel::{btf::BtfError, kallsyms::Kallsyms, object::Object},
    options::ProbeOptions,
    sched::SchedProbe,
    softirq_events::SoftirqEventsProbe,
    stacks::StackProbe,
};
use crate::{
    clock,
    collectors::host::HostRoot,
    recording::records::{CollectorState, CollectorStatus},
};

type Extras = (
    Option<SoftirqEventsProbe>,
    Option<SchedProbe>,
    Option<StackProbe>,
);

fn status(collector: &str, state: CollectorState, detail: String) -> CollectorStatus {
    CollectorStatus {
        at_mono_ns: clock::mono_ns(),
        collector: collector.into(),
        state,
        detail,
    }
}

/// What the loader learned about this kernel that the optional families need.
pub(super) struct KernelLayout<'a> {
    /// Kernel BTF (None: classic tracepoints only).
    pub btf: Option<&'a Btf>,
    /// `task_struct` field offsets from BTF (None when not read: classic mode or nothing watched).
    pub task_offsets: Option<Result<TaskOffsets, BtfError>>,
    /// Classic tracepoint record fields (unknown where tracefs could not be read).
    pub tp_offsets: &'a TracepointOffsets,
}

pub(super) fn attach_extras(
    ebpf: &mut Object,
    host: &HostRoot,
    layout: KernelLayout<'_>,
    opts: &ProbeOptions,
    statuses: &mut Vec<CollectorStatus>,
) -> Extras {
    let events = match SoftirqEventsProbe::open(ebpf, opts.softirq_threshold_ns) {
        Ok(p) => {
            statuses.push(status(
                "softirq-events",
                CollectorState::Running,
                format!(
                    "softirqs waiting or running over {} µs go to a ring buffer",
                    opts.softirq_threshold_ns / 1000
                ),
            ));
            Some(p)
        }
        Err(e) => {
            statuses.push(status(
                "softirq-events",
                CollectorState::Unavailable,
                e.to_string(),
            ));
            None
        }
    };
    let sched = attach_sched(ebpf, host, layout, opts, statuses);
    let stacks = match opts.stacks {
        None => None,
        Some(so) => {
            let syms = Kallsyms::load(host);
            let cpus = host.online_cpus();
            match StackProbe::attach(ebpf, so, &cpus, syms, host.clone()) {
                Ok(p) => {
                    let what = if so.all_stacks {
                        "all kernel stacks"
                    } else {
                        "kernel stacks in softirq context"
                    };
                    let what = format!("{what} and samples per process");
                    let syms = if p.symbols_available() {
                        "symbols from /proc/kallsyms"
                    } else {
                        "no symbols (/proc/kallsyms addresses hidden): raw addresses"
                    };
                    statuses.push(status(
                        "stacks",
                        CollectorState::Running,
                        format!(
                            "perf cpu-clock at {} Hz on {} CPUs, {what}; {syms}",
                            so.rate_hz,
                            cpus.len()
                        ),
                    ));
                    Some(p)
                }
                Err(e) => {
                    statuses.push(status("stacks", CollectorState::Unavailable, e.to_string()));
                    None
                }
            }
        }
    };
    (events, sched, stacks)
}

fn attach_sched(
    ebpf: &mut Object,
    host: &HostRoot,
    layout: KernelLayout<'_>,
    opts: &ProbeOptions,
    statuses: &mut Vec<CollectorStatus>,
) -> Option<SchedProbe> {
    if opts.watch.is_empty() {
        return None;
    }
    let unavailable = |statuses: &mut Vec<CollectorStatus>, why: String| {
        statuses.push(status("sched", CollectorState::Unavailable, why));
        None
    };
    let running = |statuses: &mut Vec<CollectorStatus>, p: SchedProbe, how: &str| {
        statuses.push(status(
            "sched",
            CollectorState::Running,
            format!(
                "{how} sched_{{wakeup,wakeup_new,switch}} watching PIDs {:?} and commands {:?}",
                opts.watch.pids, opts.watch.comms
            ),
        ));
        Some(p)
    };
    // tp_btf first; where the kernel refuses it (or BTF lacks the task layout), the classic
    // twins, after unloading whatever half of the tp_btf set got in.
    let btf_failed = match (layout.btf, layout.task_offsets) {
        (Some(btf), Some(Ok(_))) => {
            match SchedProbe::attach(ebpf, Some(btf), opts.watch.clone(), host.clone()) {
                Ok(p) => return running(statuses, p, "tp_btf"),
                Err(e) => {
                    ebpf.unload(&SCHED_BTF_PROGRAMS);
                    Some(e.to_string())
                }
            }
        }
        (Some(_), Some(Err(e))) => Some(format!("task_struct layout: {e}")),
        (Some(_), None) => Some("task_struct layout not read".to_owned()),
        (None, _) => None,
    };
    if !classic_sched_fields(layout.tp_offsets) {
        let why = "scheduling delay needs tp_btf (kernel BTF) or the sched_switch/sched_wakeup \
                   record fields; not measured";
        return unavailable(
            statuses,
            match btf_failed {
                Some(e) => format!("{why} (tp_btf: {e})"),
                None => why.to_owned(),
            },
        );
    }
    let how = match &btf_failed {
        Some(e) => format!("classic tracepoints (tp_btf: {e}):"),
        None => "classic tracepoints (no kernel BTF):".to_owned(),
    };
    match SchedProbe::attach(ebpf, None, opts.watch.clone(), host.clone()) {
        Ok(p) => running(statuses, p, &how),
        Err(e) => unavailable(statuses, e.to_string()),
    }
}

/// The tp_btf sched programs, unloaded before the classic twins take over.
const SCHED_BTF_PROGRAMS: [&str; 3] = [
    names::PROG_SCHED_WAKEUP,
    names::PROG_SCHED_WAKEUP_NEW,
    names::PROG_SCHED_SWITCH,
];

/// The classic sched programs need thread ids and the switched-out task's state.
fn classic_sched_fields(o: &TracepointOffsets) -> bool {
    [
        o.sched_wakeup_pid,
        o.sched_prev_pid,
        o.sched_prev_state,
        o.sched_next_pid,
    ]
    .iter()
    .all(|&f| f != NO_OFFSET)
        && o.sched_sleep_mask != 0
        && matches!(o.sched_prev_state_size, 4 | 8)
}

#[cfg(test)]
mod tests {
    use agent_common::names;

    /// Needs no root: every program and map of these families is in the built ELF's symbol
    /// table (a renamed static on one side would otherwise only fail at load time).
    #[test]
    fn programs_and_maps_are_in_the_elf() {
        let elf = super::super::loader::object_bytes();
        if elf.is_empty() {
            eprintln!("skipped: built with AYA_BUILD_SKIP, no eBPF object embedded");
            return;
        }
        let has = |name: &str| {
            let mut needle = name.as_bytes().to_vec();
            needle.push(0); // a whole NUL-terminated string-table entry
            elf.windows(needle.len() + 1)
                .any(|w| w[0] == 0 && w[1..] == needle[..])
        };
        let globals = [
            names::GLOBAL_SOFTIRQ_THRESHOLD_NS,
            names::GLOBAL_TASK_OFFSETS,
            names::GLOBAL_ALL_STACKS,
        ];
        for n in names::SCHED_STACK_PROGRAMS
            .iter()
            .chain(names::SCHED_STACK_MAPS)
            .chain(names::CPU_TASK_MAPS)
            .chain(&globals)
        {
            assert!(has(n), "{n} missing from the eBPF object");
        }
        assert!(!has("NO_SUCH_MAP_NAME"));
    }
}
