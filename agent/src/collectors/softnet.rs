//! /proc/net/softnet_stat: per-CPU backlog processing, drops and budget squeezes.
//!
//! One line per *online* CPU, hex columns. Since 5.10-ish the 13th column is the CPU id; older
//! kernels print 10 or 11 columns and the line number is only the CPU id when no CPU is offline,
//! so callers pass the online list to map lines to CPUs.

/// One line of softnet_stat, cumulative since boot (32-bit counters in the kernel).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SoftnetRow {
    pub cpu: u32,
    pub processed: u64,
    pub dropped: u64,
    pub time_squeeze: u64,
    pub received_rps: u64,
    pub flow_limit_count: u64,
}

/// Parses softnet_stat; `online` maps line numbers to CPU ids when the file has no CPU column.
pub fn parse(text: &str, online: &[u32]) -> Vec<SoftnetRow> {
    let mut rows = Vec::new();
    for (line_no, line) in text.lines().enumerate() {
        let cols: Vec<u64> = line
            .split_whitespace()
            .map_while(|c| u64::from_str_radix(c, 16).ok())
            .collect();
        if cols.len() < 3 {
            continue;
        }
        let col = |i: usize| cols.get(i).copied().unwrap_or(0);
        let cpu = if cols.len() >= 13 {
            col(12) as u32
        } else {
            online.get(line_no).copied().unwrap_or(line_no as u32)
        };
        rows.push(SoftnetRow {
            cpu,
            processed: col(0),
            dropped: col(1),
            time_squeeze: col(2),
            received_rps: col(9),
            flow_limit_count: col(10),
        });
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Copied from this VM (kernel 6.18, 15 columns, CPU id in column 13).
    const VM: &str = "0004336f 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000\n0003ff74 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000001 00000000 00000000\n";

    #[test]
    fn modern_kernel_uses_cpu_column() {
        let rows = parse(VM, &[0, 1]);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].processed, 0x4336f);
        assert_eq!(rows[1].cpu, 1);
    }

    #[test]
    fn cpu_column_wins_over_line_number_when_cpus_are_offline() {
        // CPU 1 offline: the second line is CPU 2 and says so.
        let text = "00000010 00000001 00000002 00000000 00000000 00000000 00000000 00000000 00000000 00000005 00000000 00000000 00000000\n00000020 00000000 00000007 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000003 00000000 00000002\n";
        let rows = parse(text, &[]);
        assert_eq!(rows[1].cpu, 2);
        assert_eq!(rows[1].time_squeeze, 7);
        assert_eq!(rows[1].flow_limit_count, 3);
        assert_eq!(rows[0].received_rps, 5);
    }

    #[test]
    fn old_kernels_map_lines_through_the_online_list() {
        // 3.10-era: 10 columns, no flow_limit, no CPU id; CPUs 0 and 3 online.
        let text = "0000a000 00000002 00000001 00000000 00000000 00000000 00000000 00000000 00000000 00000004\n0000b000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000\n";
        let rows = parse(text, &[0, 3]);
        assert_eq!(rows[0].cpu, 0);
        assert_eq!(rows[1].cpu, 3);
        assert_eq!(rows[0].dropped, 2);
        assert_eq!(rows[0].received_rps, 4);
        assert_eq!(rows[0].flow_limit_count, 0);
    }

    #[test]
    fn garbage_lines_are_skipped() {
        assert!(parse("\nzz yy\n", &[0]).is_empty());
    }
}
