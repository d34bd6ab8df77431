//! A Debian kernel booted under QEMU (software emulation) with a busybox initramfs that holds the
//! hbwatch binary, the host's `ip` and `nft` with their libraries, and the modules the guest
//! script loads. Results come back over the guest's second serial port as `@@BEGIN name` …
//! `@@END name rc` blocks.

use std::{
    collections::BTreeMap,
    fs,
    io::Write as _,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};

/// What the guest's init runs (xtask/guest/init.sh), then the steps file it sources.
const INIT: &str = include_str!("../../guest/init.sh");

/// Host programs copied into every guest, with the shared libraries `ldd` names for them.
const HOST_PROGRAMS: &[&str] = &["/usr/sbin/ip", "/usr/sbin/nft"];

/// busybox applets the guest script uses.
const APPLETS: &[&str] = &[
    "sh", "mount", "mkdir", "ln", "cat", "echo", "sleep", "poweroff", "insmod", "uname", "sync",
    "kill", "ls", "grep", "sed", "cp", "rm", "ps", "chmod", "dmesg", "timeout", "pidof", "taskset",
    "chrt", "head", "tail", "wc", "tr", "seq", "true", "false", "test", "[", "env", "nproc",
    "mktemp",
];

/// A kernel package unpacked into the cache.
pub struct Kernel {
    pub root: PathBuf,
    pub release: String,
}

impl Kernel {
    pub fn vmlinuz(&self) -> PathBuf {
        self.root.join(format!("boot/vmlinuz-{}", self.release))
    }
}

pub fn cache_dir() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/root"))
        .join(".cache/hbwatch/kernels")
}

/// Downloads `package=version` with `apt-get download` into the cache (once) and unpacks it.
/// The error says why it could not be had, for the matrix's "not run" row.
pub fn fetch(package: &str, version: &str) -> Result<Kernel> {
    let cache = cache_dir();
    fs::create_dir_all(&cache).with_context(|| format!("creating {}", cache.display()))?;
    let deb = cache.join(format!(
        "{package}_{}_amd64.deb",
        version.replace(':', "%3a")
    ));
    if !deb.exists() {
        let mut last = String::new();
        for refresh in [false, true] {
            if refresh {
                let _ = Command::new("apt-get").args(["update", "-q"]).output();
            }
            let out = Command::new("apt-get")
                .args(["download", "-q", &format!("{package}={version}")])
                .current_dir(&cache)
                .output()
                .context("running apt-get download")?;
            if out.status.success() && deb.exists() {
                break;
            }
            last = String::from_utf8_lossy(&out.stderr).trim().to_owned();
        }
        if !deb.exists() {
            bail!("apt-get download {package}={version} failed: {last}");
        }
    }
    let root = cache.join(format!("{package}_{version}"));
    if !root.join("boot").exists() {
        let tmp = cache.join(format!(".unpack-{package}"));
        let _ = fs::remove_dir_all(&tmp);
        run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&tmp))?;
        fs::rename(&tmp, &root).with_context(|| format!("moving {}", tmp.display()))?;
    }
    let release = fs::read_dir(root.join("lib/modules"))
        .with_context(|| format!("{}: no lib/modules", root.display()))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .next()
        .with_context(|| format!("{}: no kernel release under lib/modules", root.display()))?;
    Ok(Kernel { root, release })
}

fn run(cmd: &mut Command) -> Result<String> {
    let out = cmd.output().with_context(|| format!("starting {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Files of an initramfs: destination path in the guest → source on the host (or contents).
#[derive(Default)]
pub struct Initramfs {
    files: BTreeMap<PathBuf, Source>,
}

enum Source {
    Copy(PathBuf),
    Bytes(Vec<u8>, u32),
    Symlink(String),
}

impl Initramfs {
    /// busybox, the init script, `steps` (sourced by init), the host programs and `extra`
    /// binaries (guest path, host path), and `modules` of `kernel` with their dependencies.
    pub fn new(
        kernel: &Kernel,
        steps: &str,
        binaries: &[(&str, &Path)],
        modules: &[&str],
    ) -> Result<Initramfs> {
        let mut fs_ = Initramfs::default();
        fs_.copy("/bin/busybox", Path::new("/bin/busybox"));
        for a in APPLETS {
            fs_.files.insert(
                PathBuf::from(format!("/bin/{a}")),
                Source::Symlink("busybox".into()),
            );
        }
        fs_.bytes("/init", INIT.as_bytes().to_vec(), 0o755);
        fs_.bytes("/etc/hbwatch-steps", steps.as_bytes().to_vec(), 0o644);
        let mut programs: Vec<(String, PathBuf)> = HOST_PROGRAMS
            .iter()
            .map(|p| {
                let name = Path::new(p)
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned());
                (
                    format!("/bin/{}", name.unwrap_or_default()),
                    PathBuf::from(p),
                )
            })
            .collect();
        programs.extend(
            binaries
                .iter()
                .map(|(g, h)| ((*g).to_owned(), h.to_path_buf())),
        );
        for (guest, host) in &programs {
            if !host.exists() {
                bail!("{} is missing on this host", host.display());
            }
            fs_.copy(guest, host);
            for lib in shared_libraries(host)? {
                fs_.copy(&lib.to_string_lossy(), &lib);
            }
        }
        let list = fs_.modules(kernel, modules)?;
        fs_.bytes("/etc/hbwatch-modules", list.into_bytes(), 0o644);
        Ok(fs_)
    }

    fn copy(&mut self, guest: &str, host: &Path) {
        self.files
            .insert(PathBuf::from(guest), Source::Copy(host.to_owned()));
    }

    /// More busybox applets than the matrix's (the lab's awk, date, cut).
    pub fn applets(&mut self, names: &[&str]) {
        for a in names {
            self.files.insert(
                PathBuf::from(format!("/bin/{a}")),
                Source::Symlink("busybox".into()),
            );
        }
    }

    pub fn bytes(&mut self, guest: &str, data: Vec<u8>, mode: u32) {
        self.files
            .insert(PathBuf::from(guest), Source::Bytes(data, mode));
    }

    /// Decompressed modules under /mods in load order (dependencies first); returns the list.
    fn modules(&mut self, kernel: &Kernel, names: &[&str]) -> Result<String> {
        if names.is_empty() {
            return Ok(String::new());
        }
        run(Command::new("depmod")
            .arg("-b")
            .arg(&kernel.root)
            .arg(&kernel.release))?;
        let mut order = Vec::new();
        for name in names {
            let deps = run(Command::new("modprobe").arg("-d").arg(&kernel.root).args([
                "-S",
                &kernel.release,
                "--show-depends",
                name,
            ]))?;
            for line in deps.lines() {
                // "insmod /path/to/x.ko.xz" ("builtin x" lines need nothing).
                let Some(path) = line.strip_prefix("insmod ") else {
                    continue;
                };
                let path = PathBuf::from(path.split_whitespace().next().unwrap_or_default());
                let file = path
                    .file_name()
                    .map(|f| f.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let file = file
                    .trim_end_matches(".xz")
                    .trim_end_matches(".zst")
                    .to_owned();
                let guest = format!("/mods/{file}");
                if order.contains(&guest) {
                    continue;
                }
                let data = decompress(&path)?;
                self.bytes(&guest, data, 0o644);
                order.push(guest);
            }
        }
        Ok(order.join("\n") + "\n")
    }

    /// Writes the archive (cpio newc, uncompressed: the kernel unpacks it fastest).
    pub fn write(&self, out: &Path, scratch: &Path) -> Result<()> {
        let _ = fs::remove_dir_all(scratch);
        fs::create_dir_all(scratch)?;
        for dir in [
            "proc", "sys", "dev", "tmp", "run", "mods", "etc", "bin", "var",
        ] {
            fs::create_dir_all(scratch.join(dir))?;
        }
        for (guest, src) in &self.files {
            let dst = scratch.join(guest.strip_prefix("/").unwrap_or(guest));
            if let Some(parent) = dst.parent() {
                fs::create_dir_all(parent)?;
            }
            match src {
                Source::Copy(host) => {
                    fs::copy(host, &dst).with_context(|| {
                        format!("copying {} into the initramfs", host.display())
                    })?;
                }
                Source::Bytes(data, mode) => {
                    fs::write(&dst, data)?;
                    use std::os::unix::fs::PermissionsExt as _;
                    fs::set_permissions(&dst, fs::Permissions::from_mode(*mode))?;
                }
                Source::Symlink(target) => {
                    let _ = fs::remove_file(&dst);
                    std::os::unix::fs::symlink(target, &dst)?;
                }
            }
        }
        let list = run(Command::new("find").arg(".").current_dir(scratch))?;
        let archive =
            fs::File::create(out).with_context(|| format!("creating {}", out.display()))?;
        let mut cpio = Command::new("cpio")
            .args(["-o", "-H", "newc", "--quiet"])
            .current_dir(scratch)
            .stdin(Stdio::piped())
            .stdout(archive)
            .spawn()
            .context("starting cpio")?;
        cpio.stdin
            .take()
            .context("cpio stdin")?
            .write_all(list.as_bytes())?;
        let status = cpio.wait()?;
        if !status.success() {
            bail!("cpio failed ({status})");
        }
        fs::remove_dir_all(scratch)?;
        Ok(())
    }
}

fn decompress(path: &Path) -> Result<Vec<u8>> {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    let tool = match ext {
        "xz" => "xz",
        "zst" => "zstd",
        _ => return fs::read(path).with_context(|| format!("reading {}", path.display())),
    };
    let out = Command::new(tool)
        .arg("-dc")
        .arg(path)
        .output()
        .with_context(|| format!("running {tool}"))?;
    if !out.status.success() {
        bail!("{tool} -dc {} failed", path.display());
    }
    Ok(out.stdout)
}

/// The shared libraries (and the dynamic loader) a host program needs, from `ldd`.
fn shared_libraries(bin: &Path) -> Result<Vec<PathBuf>> {
    let out = Command::new("ldd")
        .arg(bin)
        .output()
        .context("running ldd")?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut libs = Vec::new();
    for line in text.lines() {
        // "libx.so.1 => /lib/x86_64-linux-gnu/libx.so.1 (0x…)" or "/lib64/ld-linux-x86-64.so.2 (0x…)"
        let path = match line.split_once("=>") {
            Some((_, rest)) => rest.split_whitespace().next(),
            None => line.split_whitespace().next(),
        };
        if let Some(p) = path.filter(|p| p.starts_with('/')) {
            libs.push(PathBuf::from(p));
        }
    }
    Ok(libs)
}

/// How a boot ended, with everything the guest wrote on its result port.
pub struct Boot {
    pub sections: BTreeMap<String, Section>,
    /// The guest reached the end of its script ("@@DONE").
    pub finished: bool,
    pub timed_out: bool,
    pub seconds: f64,
    /// The last lines of the console, for a failure message.
    pub console_tail: String,
}

pub struct Section {
    pub rc: Option<i32>,
    pub text: String,
}

pub struct QemuOptions {
    pub cpus: u32,
    pub memory_mb: u32,
    pub timeout: Duration,
    /// Extra QEMU arguments (devices for the lab).
    pub extra: Vec<String>,
    /// A command QEMU runs under (the lab's `ip netns exec NS`), which must exec it.
    pub launcher: Vec<String>,
}

/// Boots `kernel` with `initrd` and waits until the guest powers off or `timeout` passes.
pub fn boot(kernel: &Kernel, initrd: &Path, work: &Path, o: &QemuOptions) -> Result<Boot> {
    let console = work.join("console.log");
    let results = work.join("results.log");
    let _ = fs::remove_file(&console);
    let _ = fs::remove_file(&results);
    let start = Instant::now();
    let mut cmd = match o.launcher.split_first() {
        Some((first, rest)) => {
            let mut c = Command::new(first);
            c.args(rest).arg("qemu-system-x86_64");
            c
        }
        None => Command::new("qemu-system-x86_64"),
    };
    let mut child = cmd
        .args(["-accel", "tcg", "-cpu", "max", "-nographic", "-no-reboot"])
        .args(["-smp", &o.cpus.to_string(), "-m", &o.memory_mb.to_string()])
        .arg("-kernel")
        .arg(kernel.vmlinuz())
        .arg("-initrd")
        .arg(initrd)
        .args([
            "-append",
            "console=ttyS0 panic=-1 quiet loglevel=3 rdinit=/init",
        ])
        .args(["-monitor", "none"])
        .arg("-serial")
        .arg(format!("file:{}", console.display()))
        .arg("-serial")
        .arg(format!("file:{}", results.display()))
        .args(&o.extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting qemu-system-x86_64 (Debian package qemu-system-x86)")?;
    let mut timed_out = false;
    loop {
        if child.try_wait()?.is_some() {
            break;
        }
        if start.elapsed() > o.timeout {
            timed_out = true;
            let _ = child.kill();
            let _ = child.wait();
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let seconds = start.elapsed().as_secs_f64();
    let text = fs::read(&results)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let console_text = fs::read(&console)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let tail: Vec<&str> = console_text.lines().rev().take(15).collect();
    let (sections, finished) = parse_results(&text);
    Ok(Boot {
        sections,
        finished,
        timed_out,
        seconds,
        console_tail: tail.into_iter().rev().collect::<Vec<_>>().join("\n"),
    })
}

/// Splits the result port's text into sections; a section without its END line (the guest died
/// inside it) keeps its text with no exit code.
pub fn parse_results(text: &str) -> (BTreeMap<String, Section>, bool) {
    let mut sections = BTreeMap::new();
    let mut current: Option<(String, String)> = None;
    let mut finished = false;
    for raw in text.lines() {
        let line = raw.trim_end_matches('\r');
        if let Some(name) = line.strip_prefix("@@BEGIN ") {
            if let Some((n, t)) = current.take() {
                sections.insert(n, Section { rc: None, text: t });
            }
            current = Some((name.trim().to_owned(), String::new()));
        } else if let Some(rest) = line.strip_prefix("@@END ") {
            let mut it = rest.split_whitespace();
            let name = it.next().unwrap_or_default();
            let rc = it.next().and_then(|r| r.parse().ok());
            if let Some((n, t)) = current.take() {
                if n == name {
                    sections.insert(n, Section { rc, text: t });
                } else {
                    sections.insert(n, Section { rc: None, text: t });
                }
            }
        } else if line == "@@DONE" {
            finished = true;
        } else if let Some((_, t)) = current.as_mut() {
            t.push_str(line);
            t.push('\n');
        }
    }
    if let Some((n, t)) = current {
        sections.insert(n, Section { rc: None, text: t });
    }
    (sections, finished)
}

#[cfg(test)]
mod tests {
    use super::parse_results;

    #[test]
    fn sections_and_a_cut_off_one() {
        let text = "@@BEGIN a\nx\ny\n@@END a 0\n@@BEGIN b\r\npartial\n";
        let (s, done) = parse_results(text);
        assert!(!done);
        assert_eq!(s["a"].rc, Some(0));
        assert_eq!(s["a"].text, "x\ny\n");
        assert_eq!(s["b"].rc, None);
        assert_eq!(s["b"].text, "partial\n");
        let (_, done) = parse_results("@@BEGIN a\n@@END a 3\n@@DONE\n");
        assert!(done);
    }
}
