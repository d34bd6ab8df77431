//! `cargo xtask kernels`: the kernel matrix. Boots each pinned Debian kernel under QEMU with the
//! release binary, runs `check`, the demo's three faults (rcvbuf flood, receiver SIGSTOP, nft
//! drop) and a classic-tracepoint recording inside the guest, and prints kernel × probe family ×
//! scenario cause. The host's own kernel runs the same steps natively.

mod guest;
mod verdict;

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};
use serde::Deserialize;

#[cfg(test)]
pub use guest::Section;
pub use guest::{Boot, Initramfs, Kernel, QemuOptions, boot, fetch};
use verdict::{Outcome, Row};

/// The steps every guest runs (sourced by xtask/guest/init.sh; `section NAME CMD…`).
const STEPS: &str = include_str!("../../guest/matrix-steps.sh");

/// Modules the steps need (veth for the demo's namespaces, nf_tables for its drop rule).
const MODULES: &[&str] = &["veth", "nf_tables"];

#[derive(Deserialize)]
struct Pins {
    kernel: Vec<Pin>,
}

#[derive(Deserialize, Clone)]
pub struct Pin {
    pub name: String,
    pub package: String,
    pub version: String,
}

pub struct Options {
    /// Only these kernels (names from kernels.toml, or "host").
    pub only: Vec<String>,
    /// Time allowed for one guest, boot to power-off.
    pub timeout: Duration,
    /// Also fail when a kernel could not be fetched.
    pub strict: bool,
}

pub fn pins(root: &Path) -> Result<Vec<Pin>> {
    let path = root.join("xtask/kernels.toml");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let pins: Pins =
        toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    Ok(pins.kernel)
}

pub fn run(root: &Path, o: &Options) -> Result<()> {
    let bin = root.join("target/release/hbwatch");
    if !bin.exists() {
        bail!("{} is missing: build it first", bin.display());
    }
    let started = Instant::now();
    let work = root.join("target/kernels");
    std::fs::create_dir_all(&work)?;
    let wanted = |name: &str| o.only.is_empty() || o.only.iter().any(|n| n == name);
    let mut rows = Vec::new();
    if wanted("host") {
        eprintln!("xtask: kernels: host (native)");
        rows.push(host_row(&bin, &work));
    }
    for pin in pins(root)?.into_iter().filter(|p| wanted(&p.name)) {
        eprintln!(
            "xtask: kernels: {} ({}={})",
            pin.name, pin.package, pin.version
        );
        rows.push(guest_row(&pin, &bin, &work, o.timeout));
    }
    let table = verdict::table(&rows);
    println!("{table}");
    std::fs::write(work.join("matrix.txt"), &table)?;
    let failed: Vec<&str> = rows
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Failed(_)))
        .map(|r| r.name.as_str())
        .collect();
    let not_run: Vec<&str> = rows
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::NotRun(_)))
        .map(|r| r.name.as_str())
        .collect();
    eprintln!(
        "xtask: kernels: {} passed, {} failed, {} not run in {:.0} s",
        rows.len() - failed.len() - not_run.len(),
        failed.len(),
        not_run.len(),
        started.elapsed().as_secs_f64()
    );
    if !failed.is_empty() {
        bail!("kernel matrix failed on: {}", failed.join(", "));
    }
    if rows.len() == not_run.len() {
        bail!("kernel matrix ran on no kernel");
    }
    if o.strict && !not_run.is_empty() {
        bail!("kernel matrix did not run on: {}", not_run.join(", "));
    }
    Ok(())
}

fn guest_row(pin: &Pin, bin: &Path, work: &Path, timeout: Duration) -> Row {
    let kernel = match fetch(&pin.package, &pin.version) {
        Ok(k) => k,
        Err(e) => return Row::not_run(&pin.name, format!("{e:#}")),
    };
    match boot_matrix(&kernel, bin, &work.join(&pin.name), timeout) {
        Ok(b) => verdict::judge(&pin.name, &kernel.release, &b),
        Err(e) => Row::failed(&pin.name, &kernel.release, format!("{e:#}")),
    }
}

fn boot_matrix(kernel: &Kernel, bin: &Path, dir: &Path, timeout: Duration) -> Result<Boot> {
    std::fs::create_dir_all(dir)?;
    let fs = Initramfs::new(kernel, STEPS, &[("/bin/hbwatch", bin)], MODULES)?;
    let initrd = dir.join("initrd.cpio");
    fs.write(&initrd, &dir.join("root"))?;
    boot(
        kernel,
        &initrd,
        dir,
        &QemuOptions {
            cpus: 2,
            memory_mb: 2048,
            timeout,
            extra: Vec::new(),
            launcher: Vec::new(),
        },
    )
}

/// The same steps on the host's own kernel, run natively by the same script's `section` helper.
fn host_row(bin: &Path, work: &Path) -> Row {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap_or_default()
        .trim()
        .to_owned();
    let dir = work.join("host");
    let _ = std::fs::create_dir_all(&dir);
    let out = dir.join("results.log");
    let script = format!(
        "OUT={out}\nPATH={bindir}:$PATH\n{helpers}\n{STEPS}\n",
        out = out.display(),
        bindir = bin
            .parent()
            .map(PathBuf::from)
            .unwrap_or_default()
            .display(),
        helpers = section_helper(),
    );
    let _ = std::fs::remove_file(&out);
    let start = Instant::now();
    let status = Command::new("sh").arg("-c").arg(&script).status();
    let text = std::fs::read_to_string(&out).unwrap_or_default();
    let (sections, _) = guest::parse_results(&text);
    let boot = Boot {
        sections,
        finished: status.is_ok(),
        timed_out: false,
        seconds: start.elapsed().as_secs_f64(),
        console_tail: String::new(),
    };
    verdict::judge("host", &release, &boot)
}

/// The `section` function of init.sh, for running the steps outside a guest.
fn section_helper() -> String {
    let init = include_str!("../../guest/init.sh");
    let start = init.find("section() {").unwrap_or(0);
    let end = init[start..]
        .find("\n}\n")
        .map_or(init.len(), |e| start + e + 3);
    init[start..end].to_owned()
}
