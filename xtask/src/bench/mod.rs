//! `cargo xtask bench`: measures what hbwatch costs (probe time, packet rate, agent CPU and
//! memory), how big its recordings grow, and how fast a report reads one. Prints tables.

mod empty;
mod overhead;
mod procstat;
mod rate;
mod recording;
mod report;
mod veth;

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context as _, Result, bail};

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Which {
    /// Packet rate, program cost, agent CPU and memory.
    Overhead,
    /// Only the packet-rate part of `overhead`.
    Rate,
    /// Only the program-cost part of `overhead` (bpf_stats).
    Cost,
    Recording,
    Report,
    All,
}

/// Built artefacts and a scratch folder shared by the benches.
pub struct Env {
    pub hbwatch: PathBuf,
    pub synth: PathBuf,
    pub scratch: PathBuf,
}

pub fn run(root: &Path, which: Which) -> Result<()> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 && which != Which::Report && which != Which::Recording {
        bail!("the overhead bench loads eBPF and makes network namespaces: run it as root");
    }
    let env = build(root)?;
    print_machine();
    let all = which == Which::All;
    match which {
        Which::All | Which::Overhead => overhead::run(&env)?,
        Which::Rate => overhead::rate_only(&env)?,
        Which::Cost => overhead::cost_only(&env)?,
        Which::Recording | Which::Report => {}
    }
    if all || which == Which::Recording {
        recording::run(&env)?;
    }
    if all || which == Which::Report {
        report::run(&env)?;
    }
    let _ = std::fs::remove_dir_all(&env.scratch);
    Ok(())
}

fn build(root: &Path) -> Result<Env> {
    super::cargo(&[
        "build",
        "--release",
        "-p",
        "hbwatch",
        "--bin",
        "hbwatch",
        "--example",
        "synth_recording",
    ])?;
    let scratch = std::env::temp_dir().join(format!("hbwatch-bench-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).context("creating the scratch folder")?;
    Ok(Env {
        hbwatch: root.join("target/release/hbwatch"),
        synth: root.join("target/release/examples/synth_recording"),
        scratch,
    })
}

fn print_machine() {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let model = read("/proc/cpuinfo")
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_default();
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let load = read("/proc/loadavg");
    println!(
        "machine: {model}, {cpus} CPUs, kernel {}, load average {}",
        read("/proc/sys/kernel/osrelease").trim(),
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
}

/// Prints a table: a header row, then rows, columns padded to their widest cell.
pub fn table(title: &str, header: &[&str], rows: &[Vec<String>]) {
    let mut w: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.len());
        }
    }
    println!("\n{title}");
    let line = |cells: Vec<&str>| {
        let s: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if i == 0 {
                    format!("{c:<w$}", w = w[i])
                } else {
                    format!("{c:>w$}", w = w[i])
                }
            })
            .collect();
        println!("  {}", s.join("  "));
    };
    line(header.to_vec());
    line(
        w.iter()
            .map(|n| "-".repeat(*n))
            .collect::<Vec<_>>()
            .iter()
            .map(String::as_str)
            .collect(),
    );
    for r in rows {
        line(r.iter().map(String::as_str).collect());
    }
}

pub fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Runs a command to completion, failing with its stderr.
pub fn run_ok(cmd: &mut Command) -> Result<std::process::Output> {
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(out)
}

pub fn mb(bytes: f64) -> String {
    format!("{:.1} MB", bytes / 1e6)
}
