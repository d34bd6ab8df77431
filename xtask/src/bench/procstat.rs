//! Per-process CPU time and peak memory from /proc, and the run time the kernel charges to each
//! eBPF program (bpf_stats), enabled for as long as this process lives.

use std::{collections::BTreeMap, os::fd::OwnedFd, process::Command};

use anyhow::{Context as _, Result, bail};

/// utime + stime of `pid` in seconds.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised comm, which may contain spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let (utime, stime): (f64, f64) = (f.get(11)?.parse().ok()?, f.get(12)?.parse().ok()?);
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Some((utime + stime) / hz)
}

/// Peak resident memory (VmHWM) of `pid` in bytes.
pub fn peak_rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// Keeps kernel.bpf_stats_enabled on while alive, through BPF_ENABLE_STATS: the kernel counts
/// the fd, so the setting returns to what it was on every exit path, even SIGKILL, and the
/// sysctl file is never written.
pub struct BpfStats {
    _fd: OwnedFd,
}

const BPF_ENABLE_STATS: libc::c_long = 32;
const BPF_STATS_RUN_TIME: u32 = 0;

impl BpfStats {
    pub fn enable() -> Result<BpfStats> {
        // union bpf_attr, enable_stats member: { __u32 type; }, padded for the kernel's size check.
        let mut attr = [0u8; 16];
        attr[..4].copy_from_slice(&BPF_STATS_RUN_TIME.to_ne_bytes());
        // SAFETY: bpf(2) reads `attr.len()` bytes from a live buffer; the result is an fd or -1.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_bpf,
                BPF_ENABLE_STATS,
                attr.as_mut_ptr(),
                attr.len() as u32,
            )
        };
        if fd < 0 {
            bail!("BPF_ENABLE_STATS: {}", std::io::Error::last_os_error());
        }
        // SAFETY: the kernel returned a new fd that nothing else owns.
        Ok(BpfStats {
            _fd: unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd as i32) },
        })
    }
}

/// run_time_ns and run_cnt per program id, over the programs `pid` holds open, from
/// /proc/PID/fdinfo.
pub fn prog_fds(pid: u32) -> BTreeMap<u64, (u64, u64)> {
    let mut by_id = BTreeMap::new();
    if let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fdinfo")) {
        for e in dir.flatten() {
            let info = std::fs::read_to_string(e.path()).unwrap_or_default();
            let field = |k: &str| {
                info.lines()
                    .find_map(|l| l.strip_prefix(k))
                    .and_then(|v| v.trim().parse::<u64>().ok())
            };
            // Program fds carry run statistics; link fds name a program but carry none.
            if let (Some(id), Some(ns), Some(n)) =
                (field("prog_id:"), field("run_time_ns:"), field("run_cnt:"))
            {
                by_id.insert(id, (ns, n));
            }
        }
    }
    by_id
}

/// run_time_ns and run_cnt per program name, over the programs `pid` holds open ([`prog_fds`];
/// Debian's bpftool cannot tell which process holds a program); names come from
/// `bpftool prog show`.
pub fn prog_stats(pid: u32) -> Result<BTreeMap<String, (u64, u64)>> {
    let by_id = prog_fds(pid);
    if by_id.is_empty() {
        return Ok(BTreeMap::new());
    }
    let out = Command::new("bpftool")
        .args(["prog", "show", "-j"])
        .output()
        .context("running bpftool")?;
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).context("parsing bpftool's JSON")?;
    let mut m = BTreeMap::new();
    for p in v.as_array().into_iter().flatten() {
        if let Some(&(ns, n)) = p["id"].as_u64().and_then(|id| by_id.get(&id)) {
            let e = m
                .entry(p["name"].as_str().unwrap_or("?").to_owned())
                .or_insert((0, 0));
            e.0 += ns;
            e.1 += n;
        }
    }
    Ok(m)
}

/// Total softirqs executed on all CPUs so far, from /proc/softirqs.
pub fn softirqs_total() -> u64 {
    std::fs::read_to_string("/proc/softirqs")
        .unwrap_or_default()
        .lines()
        .skip(1)
        .flat_map(|l| {
            l.split_whitespace()
                .skip(1)
                .filter_map(|n| n.parse::<u64>().ok())
                .collect::<Vec<_>>()
        })
        .sum()
}
