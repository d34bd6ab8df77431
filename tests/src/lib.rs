//! Helpers for hbwatch's integration and end-to-end tests: root gating, network namespaces joined
//! by a veth pair, running code inside a namespace, and the built `hbwatch` binary.
//!
//! Every namespace a test makes is named after the test and removed on drop, so tests can run
//! side by side and leave nothing behind even when they fail.

pub mod bpf;
pub mod daemons;
pub mod http;
pub mod load;
pub mod netns;
pub mod scenario;

use std::path::PathBuf;

/// Whether this process may load eBPF programs. When it may not, the test is skipped with a
/// message, unless `HBWATCH_REQUIRE_EBPF=1` (as in CI), where that is a failure.
pub fn require_root(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if root {
        return true;
    }
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    if std::env::var("HBWATCH_REQUIRE_EBPF").as_deref() == Ok("1") {
        panic!(
            "{test}: needs root to load eBPF (kernel {}), and HBWATCH_REQUIRE_EBPF=1",
            kernel.trim()
        );
    }
    eprintln!(
        "SKIP {test}: needs root to load eBPF (kernel {})",
        kernel.trim()
    );
    false
}

/// The `hbwatch` binary built alongside the tests (cargo builds it for integration tests of the
/// workspace through the `hbwatch` dependency's bin target when asked by xtask; fall back to the
/// target folder layout).
pub fn hbwatch_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("HBWATCH_BIN") {
        return PathBuf::from(p);
    }
    // tests/…/target/<profile>/deps/<test-binary> → target/<profile>/hbwatch
    let exe = std::env::current_exe().expect("current_exe");
    let profile_dir = exe
        .parent()
        .and_then(|d| d.parent())
        .expect("target/<profile>");
    let bin = profile_dir.join("hbwatch");
    assert!(
        bin.exists(),
        "{} not built: run `cargo build -p hbwatch` first (cargo xtask test does)",
        bin.display()
    );
    bin
}

/// A fresh temporary folder for a test's files.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("hbwatch-test-")
        .tempdir()
        .expect("tempdir")
}

/// Waits until `hbwatch record`/`live` has created its recording, which happens only once every
/// probe is attached (seconds on a loaded machine); panics after 30 s.
pub fn wait_for_recording(path: &std::path::Path) {
    let t0 = std::time::Instant::now();
    while !path.exists() {
        assert!(
            t0.elapsed() < std::time::Duration::from_secs(30),
            "{} did not appear within 30 s",
            path.display()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Holds an exclusive lock on `/tmp/hbwatch-test-<name>.lock` while alive, so test binaries that
/// change the same global setting (a sysctl) never run those tests at the same time.
pub struct GlobalLock(#[expect(dead_code, reason = "held for its lock")] std::fs::File);

pub fn global_lock(name: &str) -> GlobalLock {
    use std::os::fd::AsRawFd as _;
    let f = std::fs::File::create(format!("/tmp/hbwatch-test-{name}.lock")).expect("lock file");
    // SAFETY: a valid open fd; flock blocks until the lock is ours and is released on close.
    let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) };
    assert_eq!(rc, 0, "flock: {}", std::io::Error::last_os_error());
    GlobalLock(f)
}
