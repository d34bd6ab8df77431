//! The host audit behind `hbwatch check`: pure rules over a [`HostConfig`] and counter deltas,
//! each returning [`Recommendation`]s. The diagnosis engine runs the same rules on a recording.

pub(crate) mod drops;
mod queues;
mod tuning;

use crate::{
    analysis::recommendation::Recommendation,
    recording::records::{HostConfig, NicConfig, SystemSample},
};

/// What the rules look at.
#[derive(Debug, Clone, Copy)]
pub struct AuditInput<'a> {
    pub config: &'a HostConfig,
    /// Totals since boot (a delta against zero), when known.
    pub since_boot: Option<&'a SystemSample>,
    /// Deltas over the window just observed (about 1 s for `check`, the whole run for a recording).
    pub recent: Option<&'a SystemSample>,
    /// Limit NIC findings to this interface.
    pub iface: Option<&'a str>,
    /// The heartbeat application and the CPUs it may run on (its `Cpus_allowed_list`), when
    /// known: RPS masks leave a pinned application's CPUs out.
    pub app: Option<AppCpus<'a>>,
}

/// A process and the CPUs it is allowed on.
#[derive(Debug, Clone, Copy)]
pub struct AppCpus<'a> {
    pub comm: &'a str,
    pub tgid: u32,
    pub cpus_allowed: &'a [u32],
}

impl<'a> AuditInput<'a> {
    /// Physical NICs in scope (virtual devices have no queues or IRQs of their own to tune).
    pub fn nics(&self) -> impl Iterator<Item = &'a NicConfig> + 'a {
        let iface = self.iface;
        self.config
            .nics
            .iter()
            .filter(move |n| !n.is_virtual && iface.is_none_or(|i| i == n.name))
    }
    pub fn online(&self) -> usize {
        self.config.cpus.online.len().max(1)
    }
    /// Per second over the recent window.
    pub fn rate(&self, delta: u64) -> f64 {
        let secs = self.recent.map_or(0.0, |r| r.duration_ns() as f64 / 1e9);
        if secs > 0.0 { delta as f64 / secs } else { 0.0 }
    }
}

/// Every finding, most severe first, then by id and subject.
pub fn audit(input: &AuditInput<'_>) -> Vec<Recommendation> {
    let mut out = Vec::new();
    out.extend(queues::rss_underused(input));
    let one_cpu = queues::irqs_one_cpu(input);
    let covered: Vec<String> = one_cpu.iter().map(|r| r.subject.clone()).collect();
    out.extend(one_cpu);
    out.extend(queues::single_queue_rps_off(input));
    out.extend(queues::rps_without_rfs(input));
    out.extend(queues::irqbalance(input, &covered));
    out.extend(drops::softnet_backlog(input));
    out.extend(drops::softnet_squeeze(input));
    out.extend(drops::udp_rcvbuf(input));
    out.extend(drops::rings(input));
    out.extend(tuning::offload_coalesce(input));
    out.extend(tuning::cpu_steal(input));
    // Rules describe both windows; drop the lines about a window the caller did not give.
    for r in &mut out {
        r.evidence.retain(|e| {
            !e.value.is_empty()
                && (input.since_boot.is_some() || !e.what.contains("since boot"))
                && (input.recent.is_some() || !e.what.contains("last window"))
        });
    }
    out.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| a.id.cmp(&b.id))
            .then_with(|| a.subject.cmp(&b.subject))
    });
    out
}

/// The audit over a recording: its latest host configuration, with the counters summed over the
/// whole run as the window (so "now" means "during the recording"). Empty when the recording has
/// no host configuration (older recorders).
pub fn audit_recording(
    summary: &crate::analysis::RecordingSummary,
    iface: Option<&str>,
) -> Vec<Recommendation> {
    let Some(config) = &summary.host_config else {
        return Vec::new();
    };
    audit(&AuditInput {
        config,
        since_boot: None,
        recent: Some(&summary.system),
        iface,
        app: app_cpus(summary),
    })
}

/// The heartbeat process's recorded affinity: the watched process scheduled most often, else the
/// only process whose affinity was recorded.
pub fn app_cpus(s: &crate::analysis::RecordingSummary) -> Option<AppCpus<'_>> {
    let aff = &s.cpu_tasks.affinity;
    let busiest = s
        .ksched
        .sched
        .values()
        .filter(|t| aff.contains_key(&t.tgid))
        .max_by_key(|t| t.runq.count)
        .map(|t| t.tgid);
    let a = match busiest {
        Some(tgid) => aff.get(&tgid)?,
        None if aff.len() == 1 => aff.values().next()?,
        None => return None,
    };
    Some(AppCpus {
        comm: &a.comm,
        tgid: a.tgid,
        cpus_allowed: &a.cpus_allowed,
    })
}

/// "0-3,8" for a CPU list.
pub fn cpulist(cpus: &[u32]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < cpus.len() {
        let start = cpus[i];
        let mut end = start;
        while i + 1 < cpus.len() && cpus[i + 1] == end + 1 {
            i += 1;
            end = cpus[i];
        }
        out.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
        i += 1;
    }
    if out.is_empty() {
        "none".into()
    } else {
        out.join(",")
    }
}

/// The persistent sysctl file every sysctl recommendation writes to.
pub const SYSCTL_FILE: &str = "/etc/sysctl.d/90-hbwatch.conf";

#[cfg(test)]
mod tests;
