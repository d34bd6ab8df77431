//! Host identity for the recording header: name, kernel, CPUs, NICs, boot id, softirq names.

use std::path::{Path, PathBuf};

use crate::recording::records::NicSummary;

/// Where procfs and sysfs are; `/` on a live host, a fixture tree in tests. `proc/net/*` can be
/// read from another network namespace (`record --netns`) through a thread that lives there.
#[derive(Debug, Clone)]
pub struct HostRoot {
    root: PathBuf,
    net: Option<PathBuf>,
}

impl Default for HostRoot {
    fn default() -> Self {
        HostRoot::at(PathBuf::from("/"))
    }
}

impl HostRoot {
    pub fn at(root: PathBuf) -> Self {
        HostRoot { root, net: None }
    }
    /// The same root with `proc/net/*` read from `dir` (e.g. `/proc/TID/net` of a thread in
    /// another network namespace).
    pub fn with_net_dir(mut self, dir: PathBuf) -> Self {
        self.net = Some(dir);
        self
    }
    pub fn path(&self, rel: &str) -> PathBuf {
        let rel = rel.trim_start_matches('/');
        match (&self.net, rel.strip_prefix("proc/net/")) {
            (Some(net), Some(rest)) => net.join(rest),
            _ => self.root.join(rel),
        }
    }
    pub fn read(&self, rel: &str) -> std::io::Result<String> {
        std::fs::read_to_string(self.path(rel))
    }
    /// True for the real `/`: only then can netlink and ioctls describe the same host.
    pub fn is_live(&self) -> bool {
        self.root == Path::new("/")
    }
    /// Names in a folder, sorted; empty when it cannot be read.
    pub fn list(&self, rel: &str) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.path(rel))
            .map(|es| {
                es.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }
    pub fn read_trim(&self, rel: &str) -> Option<String> {
        self.read(rel).ok().map(|s| s.trim().to_owned())
    }

    pub fn hostname(&self) -> String {
        self.read_trim("proc/sys/kernel/hostname")
            .unwrap_or_else(|| "unknown".into())
    }
    pub fn kernel_release(&self) -> String {
        self.read_trim("proc/sys/kernel/osrelease")
            .unwrap_or_else(|| "unknown".into())
    }
    pub fn boot_id(&self) -> String {
        self.read_trim("proc/sys/kernel/random/boot_id")
            .unwrap_or_default()
    }

    /// CPU ids in a sysfs cpulist file ("0-3,8,10-11").
    pub fn cpulist(&self, rel: &str) -> Vec<u32> {
        self.read(rel)
            .map(|s| parse_cpulist(&s))
            .unwrap_or_default()
    }
    pub fn online_cpus(&self) -> Vec<u32> {
        self.cpulist("sys/devices/system/cpu/online")
    }
    /// Count of possible CPUs: the length of every per-CPU map.
    pub fn possible_cpus(&self) -> u32 {
        self.cpulist("sys/devices/system/cpu/possible")
            .iter()
            .max()
            .map_or(1, |m| m + 1)
    }

    /// Softirq vector names by number, from the first column of /proc/softirqs.
    pub fn softirq_vectors(&self) -> Vec<String> {
        let Ok(text) = self.read("proc/softirqs") else {
            return Vec::new();
        };
        text.lines()
            .skip(1)
            .filter_map(|l| l.split(':').next())
            .map(|n| n.trim().to_owned())
            .filter(|n| !n.is_empty())
            .collect()
    }

    /// Physical and virtual NICs (everything in /sys/class/net but loopback).
    pub fn nics(&self) -> Vec<NicSummary> {
        let dir = self.path("sys/class/net");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Vec::new();
        };
        let mut nics: Vec<NicSummary> = entries
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n != "lo")
            .map(|name| {
                let base = dir.join(&name);
                NicSummary {
                    driver: driver_name(&base.join("device/driver")),
                    rx_queues: count_prefixed(&base.join("queues"), "rx-"),
                    tx_queues: count_prefixed(&base.join("queues"), "tx-"),
                    name,
                }
            })
            .collect();
        nics.sort_by(|a, b| a.name.cmp(&b.name));
        nics
    }

    /// PID of `ksoftirqd/N` for each CPU N (index = CPU), 0 where not found.
    pub fn ksoftirqd_pids(&self, cpus: usize) -> Vec<u32> {
        let mut pids = vec![0u32; cpus];
        let Ok(entries) = std::fs::read_dir(self.path("proc")) else {
            return pids;
        };
        for e in entries.filter_map(|e| e.ok()) {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            let Ok(comm) = std::fs::read_to_string(e.path().join("comm")) else {
                continue;
            };
            if let Some(cpu) = comm
                .trim()
                .strip_prefix("ksoftirqd/")
                .and_then(|c| c.parse::<usize>().ok())
                && cpu < cpus
            {
                pids[cpu] = pid;
            }
        }
        pids
    }
}

fn driver_name(link: &Path) -> Option<String> {
    std::fs::read_link(link)
        .ok()?
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
}

fn count_prefixed(dir: &Path, prefix: &str) -> u32 {
    std::fs::read_dir(dir)
        .map(|es| {
            es.filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
                .count() as u32
        })
        .unwrap_or(0)
}

/// Parses a kernel cpulist ("0-3,8,10-11"); malformed parts are ignored.
pub fn parse_cpulist(s: &str) -> Vec<u32> {
    let mut out = Vec::new();
    for part in s.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.trim().parse::<u32>(), b.trim().parse::<u32>())
                    && a <= b
                    && b - a < 1 << 16
                {
                    out.extend(a..=b);
                }
            }
            None => {
                if let Ok(c) = part.trim().parse() {
                    out.push(c);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpulists() {
        assert_eq!(parse_cpulist("0-3,8,10-11\n"), vec![0, 1, 2, 3, 8, 10, 11]);
        assert_eq!(parse_cpulist("0\n"), vec![0]);
        assert_eq!(parse_cpulist(""), Vec::<u32>::new());
        assert_eq!(parse_cpulist("3-1,x,5"), vec![5]);
    }

    #[test]
    fn softirq_names_from_fixture() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("proc")).expect("mkdir");
        std::fs::write(
            dir.path().join("proc/softirqs"),
            "                    CPU0       CPU1\n          HI:          0          1\n       TIMER:     100     200\n      NET_TX:  1 2\n      NET_RX:  3 4\n",
        )
        .expect("write");
        let root = HostRoot::at(dir.path().to_owned());
        assert_eq!(
            root.softirq_vectors(),
            vec!["HI", "TIMER", "NET_TX", "NET_RX"]
        );
    }
}
