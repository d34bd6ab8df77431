//! Softirq probe: attaches the three softirq programs and turns the cumulative per-CPU kernel
//! aggregates into per-interval [`SoftirqInterval`] records (deltas, sparse).

use agent_common::{
    hist::BUCKETS,
    names,
    softirq::{MAX_VECTORS, SoftirqStats},
};
use aya::{
    Btf,
    maps::{MapData, PerCpuArray},
};

use super::{
    error::ProbeError,
    family::Family,
    kernel::{
        maps::take_typed,
        object::{Object, Via, attach_either},
    },
};
use crate::{
    clock,
    collectors::host::HostRoot,
    recording::records::{
        CollectorState, CollectorStatus, Record, SoftirqCell, SoftirqInterval, SparseHist, TimedMax,
    },
};

pub struct SoftirqProbe {
    stats: PerCpuArray<MapData, SoftirqStats>,
    vectors: u32,
    /// Previous cumulative values, [vector][cpu].
    prev: Vec<Vec<SoftirqStats>>,
    prev_mono_ns: u64,
    /// Why softirq_raise is not attached (counts and run time still measured, wait is not).
    pub missing_raise: Option<ProbeError>,
    /// How each attached program got in (tp_btf, or its classic twin).
    pub via: Vec<(&'static str, Via)>,
}

const PROGRAMS: [(&str, &str, &str); 3] = [
    (
        names::PROG_SOFTIRQ_RAISE,
        names::PROG_SOFTIRQ_RAISE_TP,
        names::TP_SOFTIRQ_RAISE,
    ),
    (
        names::PROG_SOFTIRQ_ENTRY,
        names::PROG_SOFTIRQ_ENTRY_TP,
        names::TP_SOFTIRQ_ENTRY,
    ),
    (
        names::PROG_SOFTIRQ_EXIT,
        names::PROG_SOFTIRQ_EXIT_TP,
        names::TP_SOFTIRQ_EXIT,
    ),
];

impl SoftirqProbe {
    /// Each program on its own: tp_btf where `btf` is given, falling back to its classic twin
    /// when the kernel refuses it; the probe runs when entry and exit are attached either way.
    pub fn attach(
        ebpf: &mut Object,
        btf: Option<&Btf>,
        host: &HostRoot,
    ) -> Result<Self, ProbeError> {
        let mut missing_raise = None;
        let mut via = Vec::new();
        for (btf_name, tp_name, tracepoint) in PROGRAMS {
            match attach_either(ebpf, btf, (btf_name, tp_name), "irq", tracepoint) {
                Ok(v) => via.push((tracepoint, v)),
                // Without raise the wait cannot be timed, but entry/exit still count and time runs.
                Err(why) if tracepoint == names::TP_SOFTIRQ_RAISE => missing_raise = Some(why),
                Err(why) => {
                    return Err(ProbeError::Tracepoint {
                        tracepoint,
                        source: Box::new(why),
                    });
                }
            }
        }
        let stats = take_typed(ebpf, names::MAP_SOFTIRQ_STATS)?;
        let vectors = (host.softirq_vectors().len().clamp(1, MAX_VECTORS)) as u32;
        let mut probe = SoftirqProbe {
            stats,
            vectors,
            prev: Vec::new(),
            prev_mono_ns: clock::mono_ns(),
            missing_raise,
            via,
        };
        probe.prev = probe.read_all()?;
        Ok(probe)
    }

    /// The softirq status: how each program got in, and what a missing raise leaves unmeasured
    /// (`notes`: why tp_btf was not used).
    pub fn status(&self, notes: &[String]) -> CollectorStatus {
        let btf: Vec<&str> = self
            .via
            .iter()
            .filter(|(_, v)| *v == Via::Btf)
            .map(|(t, _)| *t)
            .collect();
        let classic: Vec<&str> = self
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
        if let Some(why) = &self.missing_raise {
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

    fn read_all(&self) -> Result<Vec<Vec<SoftirqStats>>, ProbeError> {
        (0..self.vectors)
            .map(|v| {
                self.stats
                    .get(&v, 0)
                    .map(|per_cpu| per_cpu.to_vec())
                    .map_err(|e| ProbeError::read(names::MAP_SOFTIRQ_STATS, Some(v), true, e))
            })
            .collect()
    }

    /// Activity since the previous call (or since attach).
    pub fn read_interval(&mut self, now_mono_ns: u64) -> Result<SoftirqInterval, ProbeError> {
        let cur = self.read_all()?;
        let mut cells = Vec::new();
        for (v, (cur_v, prev_v)) in cur.iter().zip(&self.prev).enumerate() {
            for (cpu, (c, p)) in cur_v.iter().zip(prev_v).enumerate() {
                if let Some(cell) = delta(cpu as u32, v as u8, c, p, self.prev_mono_ns) {
                    cells.push(cell);
                }
            }
        }
        let interval = SoftirqInterval {
            start_mono_ns: self.prev_mono_ns,
            end_mono_ns: now_mono_ns,
            cells,
        };
        self.prev = cur;
        self.prev_mono_ns = now_mono_ns;
        Ok(interval)
    }
}

impl Family for SoftirqProbe {
    fn name(&self) -> &'static str {
        "softirq"
    }

    /// The session reads softirq itself, as a failed read there also counts a lost interval.
    fn read(&mut self, now_mono_ns: u64) -> Vec<Result<Record, ProbeError>> {
        vec![self.read_interval(now_mono_ns).map(Record::Softirq)]
    }
}

/// One cell's change between two cumulative readings, or None when nothing happened.
pub fn delta(
    cpu: u32,
    vector: u8,
    c: &SoftirqStats,
    p: &SoftirqStats,
    since_mono_ns: u64,
) -> Option<SoftirqCell> {
    if c.entries == p.entries && c.raises == p.raises {
        return None;
    }
    let max = |v: u64, at: u64| {
        (at > since_mono_ns && v > 0).then_some(TimedMax {
            value_ns: v,
            at_mono_ns: at,
        })
    };
    Some(SoftirqCell {
        cpu,
        vector,
        entries: c.entries.wrapping_sub(p.entries),
        ksoftirqd_entries: c.ksoftirqd_entries.wrapping_sub(p.ksoftirqd_entries),
        raises: c.raises.wrapping_sub(p.raises),
        wait_unknown: c.wait_unknown.wrapping_sub(p.wait_unknown),
        wait_sum_ns: c.wait_sum_ns.wrapping_sub(p.wait_sum_ns),
        run_sum_ns: c.run_sum_ns.wrapping_sub(p.run_sum_ns),
        wait_max: max(c.wait_max_ns, c.wait_max_at_ns),
        run_max: max(c.run_max_ns, c.run_max_at_ns),
        wait_hist: sparse_delta(&c.wait_hist, &p.wait_hist),
        run_hist: sparse_delta(&c.run_hist, &p.run_hist),
    })
}

fn sparse_delta(c: &[u64; BUCKETS], p: &[u64; BUCKETS]) -> SparseHist {
    SparseHist(
        c.iter()
            .zip(p)
            .enumerate()
            .filter(|(_, (c, p))| c != p)
            .map(|(i, (c, p))| (i as u16, c.wrapping_sub(*p)))
            .collect(),
    )
}
