//! The "top CPU users on the heartbeat CPUs" lines of a gap, shared by the text and markdown
//! reports.

use crate::analysis::{cpu_tasks::NicCpuUsers, diagnosis::GapEvidence};

/// What a report says when stack sampling did not run.
pub const NOT_MEASURED: &str =
    "top CPU users on the heartbeat CPUs: not measured (stack sampling off or unavailable)";

fn pct(x: f64) -> String {
    format!("{:.0}%", x * 100.0)
}

/// One line per heartbeat CPU: busy share and its top users, window against baseline.
fn cpu_line(c: &NicCpuUsers) -> String {
    let users: Vec<String> = c
        .top
        .iter()
        .map(|u| {
            format!(
                "{}{} (PID {}) {}{} ({} normally)",
                u.comm,
                if u.kernel_thread { " [kernel]" } else { "" },
                u.tgid,
                pct(u.window_share),
                if u.window_softirq_share > 0.0 {
                    format!(", {} under softirq", pct(u.window_softirq_share))
                } else {
                    String::new()
                },
                pct(u.baseline_share)
            )
        })
        .collect();
    if c.window_samples == 0 {
        return format!("CPU {}: idle or not sampled in the window", c.cpu);
    }
    format!(
        "CPU {}: busy {} of the window ({} normally); {}",
        c.cpu,
        pct(c.window_busy_share),
        pct(c.baseline_busy_share),
        if users.is_empty() {
            "no process stood out".to_owned()
        } else {
            users.join(", ")
        }
    )
}

/// The heading line and one line per CPU; one "not measured" line when sampling was off.
pub fn lines(e: &GapEvidence) -> Vec<String> {
    match &e.nic_cpu_users {
        None => vec![NOT_MEASURED.to_owned()],
        Some(cpus) if cpus.is_empty() => {
            vec!["top CPU users on the heartbeat CPUs: the heartbeat CPUs are not known".to_owned()]
        }
        Some(cpus) => std::iter::once("top CPU users on the heartbeat CPUs:".to_owned())
            .chain(cpus.iter().map(cpu_line))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::{cpu_tasks::CpuUser, diagnosis::SourceKind};

    #[test]
    fn not_measured_is_never_none() {
        let mut e = GapEvidence::empty(SourceKind::Port, 5_000_000_000, 1_000_000_000);
        assert_eq!(lines(&e), vec![NOT_MEASURED.to_owned()]);
        e.nic_cpu_users = Some(vec![NicCpuUsers {
            cpu: 0,
            window_samples: 300,
            window_busy_share: 0.97,
            baseline_busy_share: 0.05,
            top: vec![CpuUser {
                tgid: 77,
                comm: "backup".into(),
                kernel_thread: false,
                window_share: 0.8,
                window_softirq_share: 0.1,
                baseline_share: 0.0,
            }],
        }]);
        assert_eq!(
            lines(&e)[1],
            "CPU 0: busy 97% of the window (5% normally); backup (PID 77) 80%, 10% under softirq (0% normally)"
        );
    }
}
