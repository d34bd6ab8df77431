//! /proc/softirqs and /proc/interrupts: per-CPU tables with a "CPUn" header and one row per source.
//!
//! Both print columns for online CPUs only, so the header (not the column position) names the CPU.

/// A per-CPU counter table: `cpus[i]` is the CPU of column i.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CpuTable {
    pub cpus: Vec<u32>,
    pub rows: Vec<CpuRow>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CpuRow {
    /// "NET_RX", "38", "LOC".
    pub key: String,
    /// Count per column; rows with fewer columns (ERR, MIS) are padded with zeros.
    pub counts: Vec<u64>,
    /// Whatever follows the counts: chip, hwirq, type and action names for /proc/interrupts.
    pub desc: String,
}

impl CpuRow {
    /// The last word of the description: the action name for device interrupts.
    pub fn action(&self) -> &str {
        self.desc.split_whitespace().next_back().unwrap_or("")
    }
    /// (cpu, count) for non-zero counts.
    pub fn per_cpu<'a>(&'a self, cpus: &'a [u32]) -> impl Iterator<Item = (u32, u64)> + 'a {
        cpus.iter()
            .zip(&self.counts)
            .filter(|(_, n)| **n > 0)
            .map(|(c, n)| (*c, *n))
    }
}

/// Parses /proc/softirqs or /proc/interrupts.
pub fn parse(text: &str) -> CpuTable {
    let mut lines = text.lines();
    let cpus: Vec<u32> = lines
        .next()
        .unwrap_or("")
        .split_whitespace()
        .filter_map(|c| c.strip_prefix("CPU")?.parse().ok())
        .collect();
    let mut rows = Vec::new();
    for line in lines {
        let Some((key, rest)) = line.split_once(':') else {
            continue;
        };
        let mut counts = Vec::with_capacity(cpus.len());
        let mut rest = rest.trim_start();
        while counts.len() < cpus.len() {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            let Ok(n) = rest[..end].parse::<u64>() else {
                break;
            };
            counts.push(n);
            rest = rest[end..].trim_start();
        }
        counts.resize(cpus.len(), 0);
        rows.push(CpuRow {
            key: key.trim().to_owned(),
            counts,
            desc: rest.trim().to_owned(),
        });
    }
    CpuTable { cpus, rows }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// From this VM.
    const INTERRUPTS: &str = "           CPU0       CPU1       \n 28:          0          0 PCI-MSIX-0000:00:01.0   0-edge      virtio0-config\n 38:          0       7133 PCI-MSIX-0000:00:03.0   1-edge      virtio2-input.0\n 39:       4741          0 PCI-MSIX-0000:00:03.0   2-edge      virtio2-output.0\nNMI:          0          0   Non-maskable interrupts\nERR:          0\nMIS:          0\n";

    #[test]
    fn interrupts_rows_and_actions() {
        let t = parse(INTERRUPTS);
        assert_eq!(t.cpus, vec![0, 1]);
        let r = t.rows.iter().find(|r| r.key == "38").expect("irq 38");
        assert_eq!(r.counts, vec![0, 7133]);
        assert_eq!(r.action(), "virtio2-input.0");
        assert_eq!(r.per_cpu(&t.cpus).collect::<Vec<_>>(), vec![(1, 7133)]);
        let err = t.rows.iter().find(|r| r.key == "ERR").expect("ERR");
        assert_eq!(err.counts, vec![0, 0]);
    }

    #[test]
    fn offline_cpus_are_named_by_the_header() {
        let t = parse("      CPU0   CPU2   CPU3\n  NET_RX:   5   6   7\n");
        assert_eq!(t.cpus, vec![0, 2, 3]);
        assert_eq!(t.rows[0].per_cpu(&t.cpus).nth(1), Some((2, 6)));
    }

    #[test]
    fn many_cpus() {
        let n = 256;
        let header: String = (0..n).map(|c| format!(" CPU{c}")).collect();
        let row: String = (0..n).map(|c| format!(" {}", c * 10)).collect();
        let t = parse(&format!(
            "{header}\n      NET_RX:{row}\n 120:{row} IR-PCI-MSI 1-edge eth0-TxRx-0\n"
        ));
        assert_eq!(t.cpus.len(), n);
        assert_eq!(t.rows[0].counts[255], 2550);
        assert_eq!(t.rows[1].action(), "eth0-TxRx-0");
    }
}
