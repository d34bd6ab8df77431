//! Idempotent installation of the eBPF toolchain and test tools. Prints each step it takes.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context as _, Result, bail};

/// bpf-linker's minor version that works with aya-build 0.2.
const BPF_LINKER_VERSION: &str = "0.13";

/// Debian packages the tests use (namespaces, traffic, firewall, tmux for the TUI, bpftool for
/// leftover checks, prometheus for the scrape test, libbpf-tools for comparison benchmarks, and
/// the cluster daemons the `daemon_*` tests run: corosync, keepalived, serf, etcd, redis
/// sentinel, haproxy).
const TEST_PACKAGES: &[&str] = &[
    "iproute2",
    "iperf3",
    "socat",
    "ethtool",
    "nftables",
    "tmux",
    "bpftool",
    "prometheus",
    "libbpf-tools",
    "corosync",
    "keepalived",
    "serf",
    "etcd-server",
    "redis-server",
    "redis-sentinel",
    "haproxy",
];
/// What `run` needs beyond the toolchain (the demo makes namespaces).
const RUN_PACKAGES: &[&str] = &["iproute2"];
/// What the kernel matrix needs: QEMU, a static busybox for the guest, cpio for its initramfs,
/// kmod to resolve module dependencies, and the host's `ip` and `nft` copied into the guest
/// (the lab also copies `ethtool` and util-linux's `chrt`).
const KERNEL_PACKAGES: &[&str] = &[
    "qemu-system-x86",
    "busybox-static",
    "cpio",
    "kmod",
    "xz-utils",
    "zstd",
    "iproute2",
    "nftables",
    "ethtool",
    "util-linux",
];

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    Run,
    Tests,
    Kernels,
}

pub fn all(needs: Needs) -> Result<()> {
    nightly_rust_src()?;
    bpf_linker()?;
    debian_packages(match needs {
        Needs::Tests => TEST_PACKAGES,
        Needs::Run => RUN_PACKAGES,
        Needs::Kernels => KERNEL_PACKAGES,
    })
}

fn output(cmd: &mut Command) -> Option<String> {
    let out = cmd.output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn step(what: &str, cmd: &mut Command) -> Result<()> {
    eprintln!("xtask: {what}: {cmd:?}");
    let status = cmd
        .status()
        .with_context(|| format!("{what}: starting {cmd:?}"))?;
    if !status.success() {
        bail!("{what} failed ({status})");
    }
    Ok(())
}

fn nightly_rust_src() -> Result<()> {
    let installed = output(Command::new("rustup").args(["toolchain", "list"])).unwrap_or_default();
    if !installed.lines().any(|l| l.starts_with("nightly")) {
        step(
            "installing the nightly toolchain for the eBPF programs",
            Command::new("rustup").args([
                "toolchain",
                "install",
                "nightly",
                "--profile",
                "minimal",
                "--component",
                "rust-src",
            ]),
        )?;
    }
    let comps = output(Command::new("rustup").args([
        "component",
        "list",
        "--toolchain",
        "nightly",
        "--installed",
    ]))
    .unwrap_or_default();
    if !comps.lines().any(|l| l.starts_with("rust-src")) {
        step(
            "adding rust-src to nightly (eBPF builds core from source)",
            Command::new("rustup").args(["component", "add", "rust-src", "--toolchain", "nightly"]),
        )?;
    }
    Ok(())
}

fn cargo_bin_dir() -> PathBuf {
    std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .unwrap_or_else(|| PathBuf::from("/root/.cargo"))
        .join("bin")
}

fn bpf_linker() -> Result<()> {
    // bpf-linker must use the same LLVM as the nightly rustc that emits the bitcode: it links the
    // nightly's own libLLVM, which is found at run time the way cargo runs it, from the sysroot.
    let sysroot = output(Command::new("rustc").args(["+nightly", "--print", "sysroot"]))
        .context("finding the nightly sysroot (is the nightly toolchain installed?)")?;
    let lib = Path::new(sysroot.trim()).join("lib");
    let bin = cargo_bin_dir().join("bpf-linker");
    let have = output(
        Command::new(&bin)
            .arg("--version")
            .env("LD_LIBRARY_PATH", &lib),
    )
    .unwrap_or_default();
    if have.contains(&format!("bpf-linker {BPF_LINKER_VERSION}")) {
        return Ok(());
    }
    let (so, major) = find_libllvm(&lib)?;
    let prefix = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/root"))
        .join(".cache/hbwatch/llvm");
    std::fs::create_dir_all(prefix.join("lib")).context("creating the LLVM prefix")?;
    let link = prefix.join("lib/libLLVM.so");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(&so, &link).with_context(|| format!("linking {}", so.display()))?;
    eprintln!(
        "xtask: building bpf-linker {BPF_LINKER_VERSION} against the nightly's LLVM {major} (takes a few minutes)"
    );
    step(
        "installing bpf-linker",
        Command::new("cargo")
            .args([
                "install",
                "bpf-linker",
                "--version",
                &format!("^{BPF_LINKER_VERSION}"),
                "--force",
            ])
            .args([
                "--no-default-features",
                "--features",
                &format!("llvm-{major}"),
            ])
            .env("LLVM_PREFIX", &prefix),
    )
}

/// The nightly's `libLLVM.so.<major>.<minor>-rust-…-nightly` and its major version.
fn find_libllvm(lib: &Path) -> Result<(PathBuf, u32)> {
    for e in std::fs::read_dir(lib).with_context(|| format!("reading {}", lib.display()))? {
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(rest) = name.strip_prefix("libLLVM.so.")
            && name.contains("-rust-")
            && let Some(major) = rest.split('.').next().and_then(|m| m.parse().ok())
        {
            return Ok((e.path(), major));
        }
    }
    bail!(
        "no libLLVM.so.*-rust-* in {}: the nightly toolchain looks incomplete",
        lib.display()
    )
}

fn debian_packages(pkgs: &[&str]) -> Result<()> {
    let missing: Vec<&str> = pkgs
        .iter()
        .copied()
        .filter(|p| {
            !output(Command::new("dpkg-query").args(["-W", "-f=${Status}", p]))
                .is_some_and(|s| s.contains("install ok installed"))
        })
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    if Command::new("apt-get").arg("--version").output().is_err() {
        eprintln!(
            "xtask: warning: no apt-get; install these yourself: {}",
            missing.join(" ")
        );
        return Ok(());
    }
    step(
        "refreshing the package lists",
        Command::new("apt-get").args(["update", "-q"]),
    )?;
    step(
        &format!("installing {}", missing.join(" ")),
        Command::new("apt-get")
            .args(["install", "-y", "-q", "--no-install-recommends"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )?;
    // Debian's prometheus and daemon packages may start system services; tests start their own
    // instances, in their own namespaces.
    for unit in [
        "prometheus",
        "corosync",
        "keepalived",
        "etcd",
        "redis-server",
        "redis-sentinel",
        "haproxy",
    ] {
        let _ = Command::new("systemctl")
            .args(["disable", "--now", unit])
            .output();
    }
    Ok(())
}
