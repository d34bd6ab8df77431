//! `cargo xtask dist`: the Debian package (binary, systemd unit, man pages, shell completions)
//! built with dpkg-deb, and the container build context for the DaemonSet.
//!
//! Uses only std and anyhow, so the package test (tests/tests/package.rs) includes this file and
//! builds the same package from the debug binary.

use std::{
    fs,
    os::unix::fs::PermissionsExt as _,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context as _, Result, bail};

/// What `dist` made.
pub struct Dist {
    pub deb: PathBuf,
    /// `podman build` / `docker build` this folder (Containerfile plus the binary).
    pub container: PathBuf,
}

/// Builds `hbwatch_<version>_<arch>.deb` and the container context into `out` from the binary
/// `bin`; `workspace` is the source tree (for docs/deploy and the README).
pub fn build(bin: &Path, workspace: &Path, out: &Path) -> Result<Dist> {
    let version = version(bin)?;
    let arch = output(Command::new("dpkg").arg("--print-architecture"))?;
    let stage = out.join(format!("hbwatch_{version}_{arch}"));
    if stage.exists() {
        fs::remove_dir_all(&stage).with_context(|| format!("clearing {}", stage.display()))?;
    }
    let dir = |rel: &str| -> Result<PathBuf> {
        let d = stage.join(rel);
        fs::create_dir_all(&d).with_context(|| format!("creating {}", d.display()))?;
        Ok(d)
    };
    let usr_bin = dir("usr/bin")?.join("hbwatch");
    install(bin, &usr_bin, 0o755)?;
    // The release profile keeps line tables for backtraces; the package does not need them.
    let _ = Command::new("strip")
        .arg("--strip-debug")
        .arg(&usr_bin)
        .status();

    let unit = fs::read_to_string(workspace.join("docs/deploy/hbwatch.service"))
        .context("reading docs/deploy/hbwatch.service")?;
    write(
        &dir("lib/systemd/system")?.join("hbwatch.service"),
        &packaged_unit(&unit),
        0o644,
    )?;

    let man = dir("usr/share/man/man1")?;
    run(Command::new(&usr_bin).args(["man", "--dir"]).arg(&man))?;
    for e in fs::read_dir(&man)? {
        let p = e?.path();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o644))?;
        run(Command::new("gzip").args(["-9n"]).arg(&p))?;
    }
    for (shell, rel, name) in [
        ("bash", "usr/share/bash-completion/completions", "hbwatch"),
        ("zsh", "usr/share/zsh/vendor-completions", "_hbwatch"),
        (
            "fish",
            "usr/share/fish/vendor_completions.d",
            "hbwatch.fish",
        ),
    ] {
        let text = output(Command::new(&usr_bin).args(["completions", shell]))?;
        write(&dir(rel)?.join(name), &(text + "\n"), 0o644)?;
    }
    let doc = dir("usr/share/doc/hbwatch")?;
    write(&doc.join("copyright"), COPYRIGHT, 0o644)?;
    install(&workspace.join("README.md"), &doc.join("README.md"), 0o644)?;
    for f in [
        "alerts.yml",
        "daemonset.yaml",
        "prometheus.yml",
        "prometheus-k8s.yml",
    ] {
        install(&workspace.join("docs/deploy").join(f), &doc.join(f), 0o644)?;
    }

    let size_kib = du_kib(&stage)?;
    write(
        &dir("DEBIAN")?.join("control"),
        &control(&version, &arch, size_kib),
        0o644,
    )?;
    let deb = out.join(format!("hbwatch_{version}_{arch}.deb"));
    run(Command::new("dpkg-deb")
        .args(["--build", "--root-owner-group", "-Zxz"])
        .arg(&stage)
        .arg(&deb))?;

    let container = out.join("container");
    fs::create_dir_all(&container)?;
    let image_bin = container.join("hbwatch");
    install(bin, &image_bin, 0o755)?;
    let _ = Command::new("strip")
        .arg("--strip-debug")
        .arg(&image_bin)
        .status();
    install(
        &workspace.join("docs/deploy/Containerfile"),
        &container.join("Containerfile"),
        0o644,
    )?;
    Ok(Dist { deb, container })
}

/// The unit as docs/deploy has it, with the packaged binary's path and a header that says how
/// to turn it on (the package does not enable it).
fn packaged_unit(unit: &str) -> String {
    let body: Vec<String> = unit
        .lines()
        .skip_while(|l| l.starts_with('#'))
        .map(|l| l.replace("/usr/local/bin/hbwatch", "/usr/bin/hbwatch"))
        .collect();
    format!(
        "# hbwatch as a long-running fleet agent: OpenMetrics on 127.0.0.1:9464 and rotating\n\
         # recordings in /var/lib/hbwatch. Installed by the hbwatch package, not enabled:\n\
         #   systemctl enable --now hbwatch\n{}\n",
        body.join("\n")
    )
}

fn control(version: &str, arch: &str, size_kib: u64) -> String {
    format!(
        "Package: hbwatch\n\
         Version: {version}\n\
         Architecture: {arch}\n\
         Maintainer: hbwatch developers <hbwatch@example.invalid>\n\
         Installed-Size: {size_kib}\n\
         Depends: libc6 (>= 2.34)\n\
         Recommends: ethtool\n\
         Section: admin\n\
         Priority: optional\n\
         Homepage: https://example.invalid/hbwatch\n\
         Description: explains lost cluster heartbeats\n \
         hbwatch records softirq latency, packet drops with their reasons, NAPI and\n \
         hard-IRQ work and application stalls with eBPF on tracepoints, finds every\n \
         heartbeat gap and ranks its likely causes with fixes to apply and undo.\n \
         .\n \
         The systemd unit (hbwatch.service, not enabled on install) runs\n \
         `hbwatch serve` with OpenMetrics on 127.0.0.1:9464.\n"
    )
}

const COPYRIGHT: &str = "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\
Upstream-Name: hbwatch\n\
Source: https://example.invalid/hbwatch\n\
\n\
Files: *\n\
Copyright: hbwatch developers\n\
License: MIT or Apache-2.0\n \
On Debian systems the Apache License 2.0 is in /usr/share/common-licenses/Apache-2.0.\n";

/// `hbwatch --version` prints "hbwatch 0.1.0".
fn version(bin: &Path) -> Result<String> {
    let v = output(Command::new(bin).arg("--version"))?;
    match v.split_whitespace().nth(1) {
        Some(v) if v.chars().next().is_some_and(|c| c.is_ascii_digit()) => Ok(v.to_owned()),
        _ => bail!("{} --version printed {v:?}", bin.display()),
    }
}

fn du_kib(dir: &Path) -> Result<u64> {
    fn walk(p: &Path) -> Result<u64> {
        let m = fs::symlink_metadata(p)?;
        if !m.is_dir() {
            return Ok(m.len().div_ceil(1024));
        }
        let mut n = 0;
        for e in fs::read_dir(p)? {
            n += walk(&e?.path())?;
        }
        Ok(n)
    }
    walk(dir)
}

fn install(from: &Path, to: &Path, mode: u32) -> Result<()> {
    fs::copy(from, to)
        .with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
    fs::set_permissions(to, fs::Permissions::from_mode(mode))?;
    Ok(())
}

fn write(to: &Path, text: &str, mode: u32) -> Result<()> {
    fs::write(to, text).with_context(|| format!("writing {}", to.display()))?;
    fs::set_permissions(to, fs::Permissions::from_mode(mode))?;
    Ok(())
}

fn run(cmd: &mut Command) -> Result<()> {
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

fn output(cmd: &mut Command) -> Result<String> {
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}
