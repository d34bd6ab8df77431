//! `cargo xtask lab`: the classic failure end to end. A TCG guest (Debian's 6.1 kernel) with two
//! 4-queue virtio-net NICs on `multi_queue` taps receives a UDP heartbeat and two bulk flows from
//! a throwaway host namespace, and runs hbwatch through four phases: baseline (IRQs spread),
//! fault (every RX IRQ on CPU 0, which an RT busy loop starves), fix (hbwatch's own fix script,
//! its top recommendation) and re-measure (the fault again with the fix in place). The host
//! judges the guest's results (judge.rs).

mod judge;
mod net;
pub mod udp;

use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};

use crate::kernels::{self, Boot, Initramfs, QemuOptions};

/// The guest's steps (sourced by xtask/guest/init.sh after the settings below).
const STEPS: &str = include_str!("../../guest/lab-steps.sh");
/// The busy loop the fault runs as SCHED_FIFO: its name is what the report must name.
/// It sets its own policy and CPU (no exec chain, whose first name the samples would keep).
const HOG: &str = "#!/bin/sh\n# The lab's RT busy loop on CPU $1; `timeout` ends it.\n\
chrt -f -p 50 $$ > /dev/null || exit 1\ntaskset -p -c \"$1\" $$ > /dev/null || exit 1\n\
while :; do :; done\n";
/// The kernel of xtask/kernels.toml the lab boots.
const KERNEL: &str = "6.1";
/// virtio-net and its PCI transport are modules in Debian's kernel.
const MODULES: &[&str] = &["virtio_pci", "virtio_net"];
/// busybox applets beyond the matrix's.
const APPLETS: &[&str] = &["awk", "date", "cut", "sort", "xargs", "printf"];

#[derive(Clone, Copy)]
pub struct Options {
    pub cpus: u32,
    /// Time allowed for one boot; a guest still running then is killed and tried once more (as is
    /// a re-measure whose only fault is a host stall, judge.rs).
    pub timeout: Duration,
    pub hb_per_s: u32,
    pub bulk_per_s: u32,
    /// How long each phase receives, and when and for how long the fault's busy loop runs.
    pub phase_s: u32,
    pub hog_at_s: u32,
    pub hog_for_s: u32,
    /// Also run the fault with RPS to a free CPU (IRQs left on the starved one).
    pub rps_phase: bool,
}

pub fn run(root: &Path, o: &Options) -> Result<()> {
    let bin = root.join("target/release/hbwatch");
    if !bin.exists() {
        bail!("{} is missing: build it first", bin.display());
    }
    if o.cpus < 2 {
        bail!("the lab needs at least 2 guest CPUs (one starved, one free)");
    }
    // This very binary, even when cargo has rebuilt it since (then current_exe is "deleted").
    let tool = PathBuf::from(format!("/proc/{}/exe", std::process::id()));
    let pin = kernels::pins(root)?
        .into_iter()
        .find(|p| p.name == KERNEL)
        .with_context(|| format!("xtask/kernels.toml has no kernel {KERNEL}"))?;
    let kernel = kernels::fetch(&pin.package, &pin.version)?;
    let work = root.join("target/lab");
    std::fs::create_dir_all(&work)?;
    let started = Instant::now();
    let mut last_err = None;
    let mut load = *o;
    for attempt in 1..=2 {
        let o = &load;
        let dir = work.join(format!("attempt-{attempt}"));
        eprintln!(
            "xtask: lab: attempt {attempt}: {} ({}), -smp {}, {} heartbeats/s, bulk {} packets/s to NIC 0 and {} to NIC 1",
            pin.name,
            kernel.release,
            o.cpus,
            o.hb_per_s,
            o.bulk_per_s,
            o.bulk_per_s / 4
        );
        match attempt_once(&kernel, &bin, &tool, &dir, o) {
            Ok(Attempt::Done(boot, drops)) => {
                let verdict = judge::judge(&boot, &drops);
                println!("{}", verdict.table);
                std::fs::write(work.join("figures.md"), &verdict.table)?;
                eprintln!(
                    "xtask: lab: {} in {:.0} s (guest {:.0} s); console and results in {}",
                    if verdict.failures.is_empty() {
                        "passed"
                    } else {
                        "FAILED"
                    },
                    started.elapsed().as_secs_f64(),
                    boot.seconds,
                    dir.display()
                );
                if verdict.failures.is_empty() {
                    return Ok(());
                }
                let why = verdict.failures.join("\n  ");
                if attempt == 2 || !(verdict.host_noise || verdict.not_reproduced) {
                    bail!("lab failed:\n  {why}");
                }
                if verdict.not_reproduced {
                    // More packets per softirq run: ksoftirqd is woken when a run overstays.
                    load.bulk_per_s = o.bulk_per_s * 3 / 2;
                    eprintln!(
                        "xtask: lab: attempt {attempt}: {why}\n  (the busy loop starved nothing: trying once more with {} bulk packets/s)",
                        load.bulk_per_s
                    );
                } else {
                    eprintln!(
                        "xtask: lab: attempt {attempt}: {why}\n  (no softirq delay behind it: a host stall; trying once more)"
                    );
                }
                last_err = Some(why);
            }
            Ok(Attempt::Hung(why)) => {
                eprintln!("xtask: lab: attempt {attempt} hung: {why}");
                last_err = Some(why);
            }
            Err(e) => return Err(e),
        }
    }
    bail!(
        "lab failed twice (hung, host stalls or no starvation); last time:\n{}",
        last_err.unwrap_or_default()
    )
}

enum Attempt {
    /// The guest finished its steps; the host taps' tx_dropped per phase.
    Done(Boot, Vec<(String, u64)>),
    /// The guest did not finish in time (or died): why, with the console's tail.
    Hung(String),
}

fn attempt_once(
    kernel: &kernels::Kernel,
    bin: &Path,
    tool: &Path,
    dir: &Path,
    o: &Options,
) -> Result<Attempt> {
    std::fs::create_dir_all(dir)?;
    let links = net::links();
    let settings = format!(
        "LAB_MAC0={m0}\nLAB_IP0={ip0}\nLAB_MAC1={m1}\nLAB_IP1={ip1}\nLAB_PORT={port}\n\
         LAB_BULK_PORTS='{b0} {b1}'\nLAB_QUEUES={q}\nLAB_SECS={secs}\nLAB_HOG_AT={at}\n\
         LAB_HOG_FOR={hog}\nLAB_HB_MS={hb}\nLAB_RPS={rps}\n",
        m0 = links[0].mac,
        ip0 = guest_ip(&links[0]),
        m1 = links[1].mac,
        ip1 = guest_ip(&links[1]),
        port = net::HB_PORT,
        b0 = net::BULK_PORTS[0],
        b1 = net::BULK_PORTS[1],
        q = net::QUEUES,
        secs = o.phase_s,
        at = o.hog_at_s,
        hog = o.hog_for_s,
        hb = 1000 / o.hb_per_s.max(1),
        rps = u8::from(o.rps_phase),
    );
    let mut fs = Initramfs::new(
        kernel,
        &format!("{settings}{STEPS}"),
        &[
            ("/bin/hbwatch", bin),
            ("/bin/labudp", tool),
            ("/bin/ethtool", Path::new("/usr/sbin/ethtool")),
            // Debian's busybox has no chrt applet.
            ("/bin/chrt", Path::new("/usr/bin/chrt")),
        ],
        MODULES,
    )?;
    fs.applets(APPLETS);
    fs.bytes("/bin/rt-hog", HOG.as_bytes().to_vec(), 0o755);
    let initrd = dir.join("initrd.cpio");
    fs.write(&initrd, &dir.join("root"))?;

    // The tap watch reads this file as it grows: not a previous attempt's.
    let _ = std::fs::remove_file(dir.join("results.log"));
    let ns = net::Netns::create().context("making the lab's network namespace")?;
    let traffic = net::Traffic::start(&ns, o.hb_per_s, o.bulk_per_s);
    let watch = net::TapWatch::start(&ns, dir.join("results.log"), judge::PHASES);
    let boot = kernels::boot(
        kernel,
        &initrd,
        dir,
        &QemuOptions {
            cpus: o.cpus,
            memory_mb: 1536,
            timeout: o.timeout,
            extra: ns.qemu_args(),
            launcher: ns.launcher(),
        },
    );
    let sent = traffic.stop();
    let drops = watch.stop();
    drop(ns);
    let boot = boot?;
    eprintln!(
        "xtask: lab: host sent {} (heartbeats first, then bulk); taps' tx_dropped by phase {:?}",
        sent.iter()
            .map(|s| s
                .as_ref()
                .map_or_else(|e| format!("error: {e:#}"), u64::to_string))
            .collect::<Vec<_>>()
            .join(", "),
        drops
    );
    if boot.timed_out || !boot.finished {
        let why = format!(
            "{} after {:.0} s; sections done: {}; console tail:\n{}",
            if boot.timed_out {
                "killed at the deadline"
            } else {
                "the guest stopped before its last step"
            },
            boot.seconds,
            boot.sections.keys().cloned().collect::<Vec<_>>().join(" "),
            boot.console_tail
        );
        return Ok(Attempt::Hung(why));
    }
    Ok(Attempt::Done(boot, drops))
}

fn guest_ip(l: &net::Link) -> String {
    let g = l.guest;
    format!("{}.{}.{}.{}", g[0], g[1], g[2], g[3])
}
