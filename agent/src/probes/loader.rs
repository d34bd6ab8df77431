//! Loads the embedded eBPF object with the globals this host needs, and attaches each probe
//! family, tp_btf first and classic tracepoints as the fallback. Dropping [`Probes`] detaches
//! everything (aya links are owned by the programs, which are owned by `Ebpf`).

use std::path::Path;

use agent_common::{names, sched::TaskOffsets, softirq::MAX_CPUS};
use aya::{Btf, EbpfLoader};

use super::{
    error::{LoadError, ProbeError},
    extras::{KernelLayout, attach_extras},
    family::Family,
    kernel::{
        btf::{BtfError, KernelBtf, VMLINUX},
        classic::ClassicFields,
        disable,
        object::Object,
        privileges, tracefs,
    },
    options::{AttachMode, ProbeOptions},
    packet::{PacketBtf, PacketProbes},
    sched::{self, SchedProbe},
    softirq::SoftirqProbe,
    softirq_events::SoftirqEventsProbe,
    stacks::StackProbe,
};
use crate::{
    clock,
    collectors::host::HostRoot,
    recording::records::{CollectorState, CollectorStatus, ProgramRejection, Record},
};

/// The eBPF object built by agent/build.rs.
static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/hbwatch"));

/// The embedded eBPF object (empty when built with AYA_BUILD_SKIP), for tests that check its
/// program and map names without loading it.
pub fn object_bytes() -> &'static [u8] {
    OBJECT
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

    pub fn load(host: &HostRoot, opts: &ProbeOptions) -> Result<Probes, LoadError> {
        let r = Self::load_inner(host, opts);
        release_freed_heap();
        r
    }

    fn load_inner(host: &HostRoot, opts: &ProbeOptions) -> Result<Probes, LoadError> {
        if let Some(caps) = privileges::effective_caps() {
            let missing = privileges::missing_for_tracing(caps);
            if !missing.is_empty() {
                return Err(LoadError::Privilege(missing.join(" and ")));
            }
        }
        if OBJECT.is_empty() {
            return Err(LoadError::NotBuilt);
        }
        raise_memlock_limit();
        let _disabled = disable::Scope::new(&opts.disabled);

        let use_btf = !opts.no_btf && Path::new(VMLINUX).exists();
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
            return Err(LoadError::NothingAttached(format!(
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
    ) -> Result<Probes, LoadError> {
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
        let ports_watched = u32::from(!opts.watch_ports.is_empty());
        // A scoped recording keeps one namespace's drops: every drop's device must be read.
        let drop_detail = if opts.netns.is_some() {
            0
        } else {
            opts.drop_detail_per_tick
        };
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
            .override_global(
                names::GLOBAL_SOFTIRQ_TIMED_PER_TICK,
                &opts.softirq_timed_per_tick,
                true,
            )
            .override_global(names::GLOBAL_DROP_DETAIL_PER_TICK, &drop_detail, true)
            .override_global(names::GLOBAL_PORTS_WATCHED, &ports_watched, true)
            .override_global(names::GLOBAL_ALL_STACKS, &all_stacks, true)
            .override_global(names::GLOBAL_TASK_OFFSETS, &task_offsets, true)
            .load(OBJECT)
            .map_err(LoadError::Load)?;
        let mut object = Object::new(ebpf, classic_fields.is_some());
        let mut statuses = vec![];
        let softirq = match SoftirqProbe::attach(&mut object, btf, host) {
            Ok(p) => {
                statuses.push(p.status(notes));
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
            return Err(LoadError::NothingAttached(why.join("; ")));
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

    /// One tick of the optional families: threshold events, lost counts, scheduling delay and
    /// stacks. A failed read becomes a Degraded status record instead of stopping the recording.
    pub fn read_extras(&mut self, now_mono_ns: u64) -> Vec<Record> {
        let families: [Option<&mut dyn Family>; 3] = [
            self.softirq_events.as_mut().map(|p| p as &mut dyn Family),
            self.sched.as_mut().map(|p| p as &mut dyn Family),
            self.stacks.as_mut().map(|p| p as &mut dyn Family),
        ];
        let mut out = Vec::new();
        for f in families.into_iter().flatten() {
            let name = f.name();
            out.extend(f.read(now_mono_ns).into_iter().map(|r| {
                r.unwrap_or_else(|e| {
                    Record::Collector(CollectorStatus {
                        at_mono_ns: clock::mono_ns(),
                        collector: name.into(),
                        state: CollectorState::Degraded,
                        detail: format!("read failed: {e}"),
                    })
                })
            }));
        }
        out
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
    fields: Result<(u32, ClassicFields), ProbeError>,
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
    packet: Option<Result<PacketBtf, BtfError>>,
    task: Option<Result<TaskOffsets, BtfError>>,
}

impl BtfFacts {
    fn read(watching: bool) -> BtfFacts {
        match KernelBtf::load() {
            Ok(k) => BtfFacts {
                packet: Some(Ok(PacketBtf::from_kernel(&k))),
                task: watching.then(|| sched::task_offsets_from(&k)),
            },
            Err(e) => BtfFacts {
                task: watching.then(|| Err(e.clone())),
                packet: Some(Err(e)),
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
