//! Loads the embedded eBPF object with the globals this host needs, and attaches each probe
//! family, tp_btf first and classic tracepoints as the fallback. Dropping [`Probes`] detaches
//! everything (aya links are owned by the programs, which are owned by `Ebpf`).

use std::path::Path;

use agent_common::{names, sched::TaskOffsets, softirq::MAX_CPUS};
use aya::{Btf, EbpfLoader};

use super::{
    classic::ClassicFields,
    extras::{KernelLayout, attach_extras},
    object::{Object, Via},
    packet::{PacketBtf, PacketProbes},
    portwatch::WatchPort,
    privileges,
    sched::{self, SchedProbe, WatchList},
    softirq::SoftirqProbe,
    softirq_events::SoftirqEventsProbe,
    stacks::{StackOptions, StackProbe},
    tracefs,
};
use crate::{
    clock,
    collectors::host::HostRoot,
    recording::records::{CollectorState, CollectorStatus, ProgramRejection},
};

/// The eBPF object built by agent/build.rs.
static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/hbwatch"));

/// The embedded eBPF object (empty when built with AYA_BUILD_SKIP), for tests that check its
/// program and map names without loading it.
pub fn object_bytes() -> &'static [u8] {
    OBJECT
}

/// Why probes could not be loaded at all. Each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error(
        "hbwatch needs root to trace the kernel: missing {0}. Run it with sudo (or grant CAP_BPF and CAP_PERFMON)"
    )]
    Privilege(String),
    #[error(
        "this hbwatch binary was built without its eBPF programs (AYA_BUILD_SKIP); build it with `cargo xtask build`"
    )]
    NotBuilt,
    #[error("the kernel refused the eBPF object: {0}")]
    Load(String),
    #[error("no probe could be attached: {0}")]
    NothingAttached(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttachMode {
    /// BTF-typed raw tracepoints: typed arguments, cheapest, no tracefs.
    BtfTracepoint,
    /// Classic tracepoints through tracefs (kernels without BTF).
    Classic,
}

#[derive(Debug, Clone)]
pub struct ProbeOptions {
    /// Never use BTF (tests the fallback; also for kernels with broken BTF).
    pub no_btf: bool,
    /// Softirqs whose wait or run time exceeds this become single events (default 1 ms).
    pub softirq_threshold_ns: u64,
    /// Processes whose scheduling delay is measured (none: the sched probe stays off).
    pub watch: WatchList,
    /// Kernel stack sampling; `None` turns it off.
    pub stacks: Option<StackOptions>,
    /// Heartbeat ports whose packets are reported one by one (`udp:PORT`, `tcp:PORT`).
    pub watch_ports: Vec<WatchPort>,
    /// Tracepoints treated as missing (`--disable-probe`, for testing the degraded paths).
    pub disabled: Vec<String>,
}

impl Default for ProbeOptions {
    fn default() -> Self {
        ProbeOptions {
            no_btf: false,
            softirq_threshold_ns: 1_000_000,
            watch: WatchList::default(),
            stacks: Some(StackOptions::default()),
            watch_ports: Vec::new(),
            disabled: Vec::new(),
        }
    }
}

pub struct Probes {
    /// Owns the programs and their links; must outlive the map handles below.
    object: Object,
    /// NET_RX and the other vectors' wait and run time (None when the kernel refused both
    /// ways in; every other family still runs).
    pub softirq: Option<SoftirqProbe>,
    /// Softirq threshold events and lost-event counters (None if the ring buffer failed).
    pub softirq_events: Option<SoftirqEventsProbe>,
    /// Scheduling delay of watched processes (None when nothing is watched or unavailable).
    pub sched: Option<SchedProbe>,
    /// Kernel stack sampling (None when off or unavailable).
    pub stacks: Option<StackProbe>,
    /// Drops, NAPI, hard IRQs and watched-port events.
    pub packet: PacketProbes,
    /// tp_btf when kernel BTF was used, else classic (single programs may still have fallen
    /// back to their classic twin: see `statuses` and `rejections`).
    pub mode: AttachMode,
    /// What each probe family did at start (running, degraded, unavailable and why).
    pub statuses: Vec<CollectorStatus>,
    /// Programs the kernel refused, with the verifier's whole log.
    pub rejections: Vec<ProgramRejection>,
}

impl Probes {
    /// Kernel ids of the programs this instance loaded (attached or not), so tests and the
    /// safety checks can verify that nothing is left behind after drop.
    pub fn program_ids(&self) -> Vec<u32> {
        self.object
            .ebpf()
            .programs()
            .filter_map(|(_, p)| p.info().ok())
            .map(|i| i.id())
            .collect()
    }

    pub fn load(host: &HostRoot, opts: &ProbeOptions) -> Result<Probes, ProbeError> {
        let r = Self::load_inner(host, opts);
        release_freed_heap();
        r
    }

    fn load_inner(host: &HostRoot, opts: &ProbeOptions) -> Result<Probes, ProbeError> {
        if let Some(caps) = privileges::effective_caps() {
            let missing = privileges::missing_for_tracing(caps);
            if !missing.is_empty() {
                return Err(ProbeError::Privilege(missing.join(" and ")));
            }
        }
        if OBJECT.is_empty() {
            return Err(ProbeError::NotBuilt);
        }
        raise_memlock_limit();
        let _disabled = super::disable::Scope::new(&opts.disabled);

        let use_btf = !opts.no_btf && Path::new(super::btf::VMLINUX).exists();
        // What the programs need from BTF is read first and the parse dropped before aya parses
        // the same file: the two parses never coexist, which keeps the peak memory to one.
        let facts = use_btf.then(|| BtfFacts::read(!opts.watch.is_empty()));
        let mut notes = Vec::new();
        let btf = if use_btf {
            Btf::from_sys_fs()
                .map_err(|e| notes.push(format!("kernel BTF unreadable: {e}")))
                .ok()
        } else {
            if !opts.no_btf {
                notes.push("no BTF at /sys/kernel/btf/vmlinux".to_owned());
            }
            None
        };
        let facts = if btf.is_some() { facts } else { None };
        // Classic layouts are read in every mode: they are the per-program fallback when the
        // kernel refuses a tp_btf program, and the only way in without BTF.
        let classic = Classic::read();
        if btf.is_none()
            && let Err(e) = &classic.fields
        {
            return Err(ProbeError::NothingAttached(format!(
                "{}; classic tracepoints: {e}",
                notes.join("; ")
            )));
        }
        Self::attach_all(host, btf.as_ref(), facts, classic, opts, &notes)
    }

    fn attach_all(
        host: &HostRoot,
        btf: Option<&Btf>,
        facts: Option<BtfFacts>,
        classic: Classic,
        opts: &ProbeOptions,
        notes: &[String],
    ) -> Result<Probes, ProbeError> {
        let mode = if btf.is_some() {
            AttachMode::BtfTracepoint
        } else {
            AttachMode::Classic
        };
        let BtfFacts {
            packet: pbtf,
            task: task_offsets_read,
        } = facts.unwrap_or_default();
        let cpus = host.possible_cpus() as usize;
        let mut pids = host.ksoftirqd_pids(cpus.min(MAX_CPUS));
        pids.resize(MAX_CPUS, 0);
        let (vec_offset, tp_offsets, classic_fields) = match &classic.fields {
            Ok((vec, c)) => (*vec, c.offsets, Some(c)),
            Err(_) => (
                8,
                agent_common::tracepoints::TracepointOffsets::UNKNOWN,
                None,
            ),
        };
        let all_stacks = u32::from(opts.stacks.is_some_and(|s| s.all_stacks));
        let task_offsets = match &task_offsets_read {
            Some(Ok(o)) => *o,
            _ => TaskOffsets {
                pid: 0,
                tgid: 0,
                state: 0,
                state_size: 0,
            },
        };
        // Packet-path programs read struct members at offsets from this kernel's BTF.
        let offsets = match &pbtf {
            Some(Ok(p)) => p.offsets,
            _ => agent_common::drops::KernelOffsets::UNKNOWN,
        };
        let ebpf = EbpfLoader::new()
            .btf(btf)
            .override_global(names::GLOBAL_KERNEL_OFFSETS, &offsets, true)
            .override_global(names::GLOBAL_TP_OFFSETS, &tp_offsets, true)
            .override_global(names::GLOBAL_KSOFTIRQD_PIDS, pids.as_slice(), true)
            .override_global(names::GLOBAL_TP_VEC_OFFSET, &vec_offset, true)
            .override_global(
                names::GLOBAL_SOFTIRQ_THRESHOLD_NS,
                &opts.softirq_threshold_ns,
                true,
            )
            .override_global(names::GLOBAL_ALL_STACKS, &all_stacks, true)
            .override_global(names::GLOBAL_TASK_OFFSETS, &task_offsets, true)
            .load(OBJECT)
            .map_err(|e| ProbeError::Load(format!("{e:#}")))?;
        let mut object = Object::new(ebpf, classic_fields.is_some());
        let mut statuses = vec![];
        let softirq = match SoftirqProbe::attach(&mut object, btf, host) {
            Ok(p) => {
                statuses.push(softirq_status(&p, notes));
                Some(p)
            }
            Err(e) => {
                statuses.push(CollectorStatus {
                    at_mono_ns: clock::mono_ns(),
                    collector: "softirq".into(),
                    state: CollectorState::Unavailable,
                    detail: format!(
                        "softirq wait and run time not measured: {e}{}",
                        classic_note(&classic)
                    ),
                });
                None
            }
        };
        let now = clock::mono_ns();
        let (packet, packet_statuses) = PacketProbes::attach_any(
            &mut object,
            btf,
            pbtf.as_ref(),
            classic_fields,
            host,
            &opts.watch_ports,
            now,
        );
        statuses.extend(packet_statuses);
        let layout = KernelLayout {
            btf,
            task_offsets: task_offsets_read,
            tp_offsets: &tp_offsets,
        };
        let extra = attach_extras(&mut object, host, layout, opts, &mut statuses);
        let rejections = std::mem::take(&mut object.rejections);
        if softirq.is_none()
            && packet.is_empty()
            && extra.1.is_none()
            && extra.2.is_none()
            && !statuses.is_empty()
        {
            let why: Vec<String> = statuses
                .iter()
                .map(|s| format!("{}: {}", s.collector, s.detail))
                .collect();
            return Err(ProbeError::NothingAttached(why.join("; ")));
        }
        Ok(Probes {
            object,
            softirq,
            softirq_events: extra.0,
            sched: extra.1,
            stacks: extra.2,
            packet,
            mode,
            statuses,
            rejections,
        })
    }
}

/// The softirq status: how each program got in, and what a missing raise leaves unmeasured.
fn softirq_status(p: &SoftirqProbe, notes: &[String]) -> CollectorStatus {
    let btf: Vec<&str> = p
        .via
        .iter()
        .filter(|(_, v)| *v == Via::Btf)
        .map(|(t, _)| *t)
        .collect();
    let classic: Vec<&str> = p
        .via
        .iter()
        .filter(|(_, v)| *v == Via::Classic)
        .map(|(t, _)| *t)
        .collect();
    let mut parts = Vec::new();
    if !btf.is_empty() {
        parts.push(format!("tp_btf irq:{}", btf.join(",")));
    }
    if !classic.is_empty() {
        parts.push(format!("classic tracepoints irq:{}", classic.join(",")));
    }
    let mut detail = parts.join("; ");
    let mut state = CollectorState::Running;
    if let Some(why) = &p.missing_raise {
        state = CollectorState::Degraded;
        detail = format!(
            "{detail}: softirq_raise: {why}; wait (raise to entry) not measured, counts and run time are"
        );
    }
    if !btf.is_empty() && !classic.is_empty() {
        detail.push_str(" (the kernel refused the tp_btf version of the others)");
    } else if btf.is_empty() && !notes.is_empty() {
        detail = format!("{detail} (fell back from tp_btf: {})", notes.join("; "));
    }
    CollectorStatus {
        at_mono_ns: clock::mono_ns(),
        collector: "softirq".into(),
        state,
        detail,
    }
}

fn classic_note(c: &Classic) -> String {
    match &c.fields {
        Ok(_) => String::new(),
        Err(e) => format!(" (classic fallback unavailable: {e})"),
    }
}

/// The classic tracepoints' record layouts, read from tracefs (mounted if absent, as perf and
/// bpftrace do).
struct Classic {
    /// `vec` offset of the softirq records, and every other family's fields.
    fields: Result<(u32, ClassicFields), String>,
}

impl Classic {
    fn read() -> Classic {
        let fields = tracefs::ensure_mounted().and_then(|tfs| {
            tracefs::field_offset(&tfs, "irq", names::TP_SOFTIRQ_ENTRY, "vec")
                .map(|vec| (vec, ClassicFields::read(&tfs)))
        });
        Classic { fields }
    }
}

/// What the tp_btf programs need from the kernel's BTF besides aya's own parse: struct offsets
/// and drop reason names (packet path), `task_struct` offsets (sched, only when watching).
#[derive(Default)]
struct BtfFacts {
    packet: Option<Result<PacketBtf, String>>,
    task: Option<Result<TaskOffsets, String>>,
}

impl BtfFacts {
    fn read(watching: bool) -> BtfFacts {
        match super::btf::KernelBtf::load() {
            Ok(k) => BtfFacts {
                packet: Some(Ok(PacketBtf::from_kernel(&k))),
                task: watching.then(|| sched::task_offsets_from(&k)),
            },
            Err(e) => BtfFacts {
                packet: Some(Err(e.to_string())),
                task: watching.then(|| Err(e.to_string())),
            },
        }
    }
}

/// Loading parses the kernel's BTF (tens of MB, all freed by now); hand the freed heap back to
/// the system so a long recording does not sit on it.
fn release_freed_heap() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only releases free memory at the top and in free chunks.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Kernels before 5.11 charge BPF memory to RLIMIT_MEMLOCK; lift it so maps can be created there.
fn raise_memlock_limit() {
    let lim = libc::rlimit {
        rlim_cur: libc::RLIM_INFINITY,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: plain syscall with a valid pointer; failure only matters on old kernels and then
    // map creation reports it.
    let _ = unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &lim) };
}
