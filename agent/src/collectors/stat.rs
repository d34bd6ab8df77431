//! /proc/stat per-CPU time (irq, softirq, steal) and /proc/pressure/cpu.

/// USER_HZ: /proc/stat counts in these ticks on every Linux architecture.
const NS_PER_TICK: u64 = 10_000_000;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CpuTimes {
    pub cpu: u32,
    pub irq_ns: u64,
    pub softirq_ns: u64,
    pub steal_ns: u64,
    pub total_ns: u64,
}

/// Per-CPU lines ("cpu3 ..."); the aggregate "cpu" line is skipped. Older kernels print fewer
/// columns (no steal before 2.6.11, no guest before 2.6.24): missing ones count as zero.
pub fn parse_stat(text: &str) -> Vec<CpuTimes> {
    let mut out = Vec::new();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        let Some(cpu) = words
            .next()
            .and_then(|w| w.strip_prefix("cpu"))
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let v: Vec<u64> = words.map_while(|w| w.parse().ok()).collect();
        let col = |i: usize| v.get(i).copied().unwrap_or(0) * NS_PER_TICK;
        // user nice system idle iowait irq softirq steal [guest guest_nice]; guest time is
        // already counted in user and nice.
        let total = (0..8).map(col).sum();
        out.push(CpuTimes {
            cpu,
            irq_ns: col(5),
            softirq_ns: col(6),
            steal_ns: col(7),
            total_ns: total,
        });
    }
    out
}

/// `some` and `full` totals (µs) from /proc/pressure/cpu; `full` is absent before 5.13.
pub fn parse_psi(text: &str) -> (Option<u64>, Option<u64>) {
    let total = |kind: &str| {
        text.lines()
            .find(|l| l.starts_with(kind))?
            .split_whitespace()
            .find_map(|w| w.strip_prefix("total="))?
            .parse()
            .ok()
    };
    (total("some"), total("full"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_cpu_times() {
        let text = "cpu  100 0 50 1000 3 7 9 11 0 0\ncpu0 60 0 30 500 1 4 5 6 0 0\ncpu1 40 0 20 500 2 3 4 5 0 0\nintr 12345 0\nctxt 99\n";
        let t = parse_stat(text);
        assert_eq!(t.len(), 2);
        assert_eq!(t[1].cpu, 1);
        assert_eq!(t[1].steal_ns, 5 * NS_PER_TICK);
        assert_eq!(t[0].total_ns, (60 + 30 + 500 + 1 + 4 + 5 + 6) * NS_PER_TICK);
    }

    #[test]
    fn old_kernel_without_steal() {
        let t = parse_stat("cpu0 1 2 3 4 5 6 7\n");
        assert_eq!(t[0].steal_ns, 0);
        assert_eq!(t[0].softirq_ns, 7 * NS_PER_TICK);
    }

    #[test]
    fn psi() {
        let vm = "some avg10=95.79 avg60=61.62 avg300=19.61 total=98720924\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n";
        assert_eq!(parse_psi(vm), (Some(98720924), Some(0)));
        assert_eq!(
            parse_psi("some avg10=0.00 avg60=0.00 avg300=0.00 total=5\n"),
            (Some(5), None)
        );
    }
}
