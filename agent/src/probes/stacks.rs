//! Kernel stack sampling: attaches the perf_event program to every online CPU (cpu-clock at the
//! requested rate) and turns the cumulative in-kernel counts into per-interval folded stacks and
//! per-(CPU, process) samples.

use std::collections::{BTreeMap, HashMap};

use agent_common::{
    names,
    stacks::{CTX_SOFTIRQ, StackKey, StackSampleStats, TaskCpuSamples},
};
use aya::{
    maps::{MapData, PerCpuArray, PerCpuHashMap, StackTraceMap},
    programs::{
        PerfEvent,
        perf_event::{PerfEventConfig, PerfEventScope, SamplePolicy, SoftwareEvent},
    },
};

pub use super::options::StackOptions;
use super::{
    cpu_tasks::{self, TaskCell, TaskFold},
    error::{LoadSite, ProbeError},
    family::Family,
    kernel::{kallsyms::Kallsyms, maps::take_typed, object::Object},
};
use crate::{
    collectors::host::HostRoot,
    recording::records::{
        CpuTaskSamples, FoldedStack, LostEvents, Record, StackContext, StackSamples,
    },
};

pub struct StackProbe {
    counts: PerCpuHashMap<MapData, StackKey, u64>,
    stacks: StackTraceMap<MapData>,
    samples: PerCpuArray<MapData, StackSampleStats>,
    tasks: PerCpuHashMap<MapData, u32, TaskCpuSamples>,
    task_fold: TaskFold,
    prev_task_mono_ns: u64,
    prev_task_failed: u64,
    host: HostRoot,
    syms: Kallsyms,
    /// Folded text of each stack id seen (ids are stable: entries are never removed).
    folded: HashMap<u32, String>,
    prev: HashMap<StackKey, u64>,
    prev_stats: StackSampleStats,
    prev_mono_ns: u64,
    opts: StackOptions,
}

impl StackProbe {
    pub fn attach(
        ebpf: &mut Object,
        opts: StackOptions,
        cpus: &[u32],
        syms: Kallsyms,
        host: HostRoot,
    ) -> Result<Self, ProbeError> {
        let name = names::PROG_STACK_SAMPLE;
        let p: &mut PerfEvent = ebpf
            .program_mut(name)
            .ok_or_else(|| ProbeError::ProgramMissing {
                program: name.to_owned(),
            })?
            .try_into()
            .map_err(|source| ProbeError::ProgramType {
                program: name.to_owned(),
                source,
            })?;
        // The whole error, verifier log included: unlike the tracepoint families, this one
        // always said it in full.
        p.load().map_err(|source| ProbeError::LoadFailed {
            site: LoadSite::Program(name.to_owned()),
            source,
        })?;
        for &cpu in cpus {
            p.attach(
                PerfEventConfig::Software(SoftwareEvent::CpuClock),
                PerfEventScope::AllProcessesOneCpu { cpu },
                SamplePolicy::Frequency(u64::from(opts.rate_hz)),
                false,
            )
            .map_err(|source| ProbeError::PerfAttach { cpu, source })?;
        }
        let counts = take_typed(ebpf, names::MAP_STACK_COUNTS)?;
        let stacks = take_typed(ebpf, names::MAP_STACKS)?;
        let samples = take_typed(ebpf, names::MAP_STACK_SAMPLES)?;
        let tasks = take_typed(ebpf, names::MAP_CPU_TASKS)?;
        Ok(StackProbe {
            counts,
            stacks,
            samples,
            tasks,
            task_fold: TaskFold::default(),
            prev_task_mono_ns: crate::clock::mono_ns(),
            prev_task_failed: 0,
            host,
            syms,
            folded: HashMap::new(),
            prev: HashMap::new(),
            prev_stats: StackSampleStats::default(),
            prev_mono_ns: crate::clock::mono_ns(),
            opts,
        })
    }

    pub fn symbols_available(&self) -> bool {
        !self.syms.is_empty()
    }

    fn totals(&self) -> Result<StackSampleStats, ProbeError> {
        let per_cpu = self
            .samples
            .get(&0, 0)
            .map_err(|e| ProbeError::read(names::MAP_STACK_SAMPLES, None, true, e))?;
        let mut t = StackSampleStats::default();
        for s in per_cpu.iter() {
            t.samples += s.samples;
            t.kept += s.kept;
            t.stack_failed += s.stack_failed;
            t.count_failed += s.count_failed;
            t.task_failed += s.task_failed;
        }
        Ok(t)
    }

    /// Stacks sampled since the previous call (or since attach).
    pub fn read_interval(&mut self, now_mono_ns: u64) -> Result<StackSamples, ProbeError> {
        let mut cur = HashMap::new();
        for item in self.counts.iter() {
            let (key, per_cpu) =
                item.map_err(|e| ProbeError::read(names::MAP_STACK_COUNTS, None, true, e))?;
            cur.insert(key, per_cpu.iter().sum::<u64>());
        }
        let mut merged: BTreeMap<(StackContext, String), u64> = BTreeMap::new();
        for (key, &n) in &cur {
            let d = n.saturating_sub(self.prev.get(key).copied().unwrap_or(0));
            if d == 0 {
                continue;
            }
            let folded = self.fold(key.stack_id);
            let ctx = if key.context == CTX_SOFTIRQ {
                StackContext::Softirq
            } else {
                StackContext::Other
            };
            *merged.entry((ctx, folded)).or_default() += d;
        }
        let t = self.totals()?;
        let p = self.prev_stats;
        let out = StackSamples {
            start_mono_ns: self.prev_mono_ns,
            end_mono_ns: now_mono_ns,
            rate_hz: self.opts.rate_hz,
            all_stacks: self.opts.all_stacks,
            samples: t.samples.saturating_sub(p.samples),
            dropped: (t.stack_failed + t.count_failed)
                .saturating_sub(p.stack_failed + p.count_failed),
            stacks: merged
                .into_iter()
                .map(|((context, folded), count)| FoldedStack {
                    context,
                    folded,
                    count,
                })
                .collect(),
        };
        self.prev = cur;
        self.prev_stats = t;
        self.prev_mono_ns = now_mono_ns;
        Ok(out)
    }

    /// Samples per (CPU, process) since the previous call. Processes that did not run are removed
    /// from the kernel map so exited ones never fill it; a sample landing between the read and the
    /// removal of such an entry is the only one that can go uncounted.
    pub fn read_tasks(&mut self, now_mono_ns: u64) -> Result<CpuTaskSamples, ProbeError> {
        let mut cur: BTreeMap<u32, Vec<TaskCell>> = BTreeMap::new();
        for item in self.tasks.iter() {
            let (tgid, per_cpu) =
                item.map_err(|e| ProbeError::read(names::MAP_CPU_TASKS, None, true, e))?;
            let cells = per_cpu
                .iter()
                .enumerate()
                .filter(|(_, v)| v.samples > 0)
                .map(|(cpu, v)| TaskCell {
                    cpu: cpu as u32,
                    samples: v.samples,
                    softirq: v.softirq,
                    comm: cpu_tasks::comm_text(&v.comm),
                })
                .collect();
            cur.insert(tgid, cells);
        }
        let host = &self.host;
        let folded = self
            .task_fold
            .fold(&cur, |tgid| cpu_tasks::is_kernel_thread(host, tgid));
        for tgid in &folded.idle_tgids {
            // Already gone (a race with nothing else: only this reader removes entries).
            let _ = self.tasks.remove(tgid);
        }
        let t = self.totals()?;
        let uncounted = t.task_failed.saturating_sub(self.prev_task_failed);
        self.prev_task_failed = t.task_failed;
        let out = cpu_tasks::interval(
            folded,
            self.prev_task_mono_ns,
            now_mono_ns,
            self.opts.rate_hz,
            uncounted,
        );
        self.prev_task_mono_ns = now_mono_ns;
        Ok(out)
    }

    fn fold(&mut self, id: u32) -> String {
        if let Some(f) = self.folded.get(&id) {
            return f.clone();
        }
        let f = match self.stacks.get(&id, 0) {
            Ok(st) => {
                let ips: Vec<u64> = st.frames().iter().map(|f| f.ip).collect();
                self.syms.fold(&ips)
            }
            Err(_) => format!("[stack {id} unavailable]"),
        };
        self.folded.insert(id, f.clone());
        f
    }
}

impl Family for StackProbe {
    fn name(&self) -> &'static str {
        "stacks"
    }

    /// The folded stacks, then the samples per (CPU, process).
    fn read(&mut self, now_mono_ns: u64) -> Vec<Result<Record, ProbeError>> {
        let mut out = vec![self.read_interval(now_mono_ns).map(Record::Stacks)];
        match self.read_tasks(now_mono_ns) {
            Ok(iv) => {
                // Samples a full table could not attribute are lost events too, so the
                // report's accounting shows them.
                if iv.uncounted > 0 {
                    out.push(Ok(Record::Lost(LostEvents {
                        at_mono_ns: now_mono_ns,
                        stream: "cpu-tasks".into(),
                        count: iv.uncounted,
                    })));
                }
                out.push(Ok(Record::CpuTasks(iv)));
            }
            Err(e) => out.push(Err(e)),
        }
        out
    }
}
