//! The fix script `report --fix-script` writes, run for real: in a network namespace this test
//! makes, `apply` changes a per-namespace sysctl, an RPS mask on the namespace's veth, a real IRQ's
//! affinity and a process's CPU affinity; `undo` puts every original value back exactly.
//!
//! The IRQ is one the host never uses: a virtio `-config` interrupt (device configuration
//! changes) whose counts are all zero, so moving it for a second disturbs nothing; a guard writes
//! its original affinity back even if the test fails half-way.

use std::{
    os::unix::fs::PermissionsExt as _,
    path::{Path, PathBuf},
    process::{Child, Command, Output},
};

use hbwatch::{
    analysis::recommendation::{Recommendation, Severity},
    output::report::fix_script,
};
use hbwatch_tests::{netns::NetnsPair, require_root, tempdir};

const DEV: &str = "veth-b";

fn rps_path() -> String {
    format!("/sys/class/net/{DEV}/queues/rx-0/rps_cpus")
}

/// Reads a file inside namespace `ns` (its /sys and /proc/sys/net are the namespace's).
fn read_in(ns: &str, path: &str) -> String {
    let out = NetnsPair::exec(ns, "cat").arg(path).output().expect("cat");
    assert!(
        out.status.success(),
        "cat {path} in {ns}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn script_in(ns: &str, script: &Path, args: &[&str]) -> Output {
    NetnsPair::exec(ns, "sh")
        .arg(script)
        .args(args)
        .env("HBWATCH_FIX_STATE", script.with_extension("state"))
        .output()
        .expect("run the fix script")
}

fn ok(o: &Output, what: &str) -> String {
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "{what} failed ({}): {err}", o.status);
    err
}

/// An IRQ nothing uses: all counts zero, a `-config` name, a writable affinity.
fn idle_irq() -> Option<(u32, String)> {
    let text = std::fs::read_to_string("/proc/interrupts").ok()?;
    text.lines().skip(1).find_map(|l| {
        let (num, rest) = l.trim_start().split_once(':')?;
        let irq: u32 = num.parse().ok()?;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let name = fields.last()?;
        let counts: Vec<u64> = fields.iter().map_while(|f| f.parse().ok()).collect();
        if !name.ends_with("-config") || counts.is_empty() || counts.iter().any(|&c| c > 0) {
            return None;
        }
        let path = format!("/proc/irq/{irq}/smp_affinity_list");
        let orig = std::fs::read_to_string(&path).ok()?;
        // Kernel-managed IRQs refuse a new affinity: writing the same value back tells.
        std::fs::write(&path, orig.trim()).ok()?;
        Some((irq, orig))
    })
}

/// Writes an IRQ's original affinity back when dropped.
struct IrqGuard(u32, String);

impl Drop for IrqGuard {
    fn drop(&mut self) {
        let _ = std::fs::write(
            format!("/proc/irq/{}/smp_affinity_list", self.0),
            self.1.trim(),
        );
    }
}

/// A child process this test started, killed by its PID when dropped.
struct Sleeper(Child);

impl Drop for Sleeper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn cpus_allowed(pid: u32) -> String {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    s.lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .expect("Cpus_allowed_list")
        .trim()
        .to_owned()
}

fn rec(id: &str, subject: &str) -> Recommendation {
    Recommendation::new(
        id,
        Severity::Warning,
        subject,
        format!("test {id}"),
        "test".into(),
    )
}

#[test]
fn apply_then_undo_restores_sysctl_rps_irq_and_affinity_exactly() {
    if !require_root("apply_then_undo_restores_sysctl_rps_irq_and_affinity_exactly") {
        return;
    }
    let online = std::fs::read_to_string("/sys/devices/system/cpu/online").expect("online CPUs");
    let online = online.trim().to_owned();
    if online == "0" {
        eprintln!("SKIP: one CPU; affinity changes cannot be seen");
        return;
    }
    let Some((irq, irq_orig)) = idle_irq() else {
        eprintln!("SKIP: no idle virtio -config IRQ with a writable affinity on this host");
        return;
    };
    let _irq_guard = IrqGuard(irq, irq_orig.clone());
    let irq_path = format!("/proc/irq/{irq}/smp_affinity_list");
    let pair = NetnsPair::new("hbe-fix", 231);
    let ns = pair.b.clone();
    let sleeper = Sleeper(
        Command::new("sleep")
            .arg("60")
            .spawn()
            .expect("spawn sleep"),
    );
    let pid = sleeper.0.id();

    let somaxconn_orig = read_in(&ns, "/proc/sys/net/core/somaxconn");
    let somaxconn_new = somaxconn_orig.trim().parse::<u32>().expect("somaxconn") + 7;
    let rps_orig = read_in(&ns, &rps_path());
    let affinity_orig = cpus_allowed(pid);
    let recs = vec![
        rec("sysctl", "host")
            .apply(format!("sysctl -w net.core.somaxconn={somaxconn_new}"))
            .undo(format!(
                "sysctl -w net.core.somaxconn={}",
                somaxconn_orig.trim()
            )),
        rec("rps", DEV)
            .apply(format!("echo 1 > {}", rps_path()))
            .undo(format!("echo 0 > {}", rps_path())),
        // The recorded-value undo names another value on purpose: undo must use the saved one.
        rec("irq", "eth0")
            .apply(format!("echo 0 > {irq_path}"))
            .undo(format!("echo 1 > {irq_path}")),
        rec("pin", "sleep")
            .apply(format!(
                "taskset -apc 0 {pid}   # every thread of sleep to CPU 0"
            ))
            .undo(format!("taskset -apc {online} {pid}")),
    ];
    let dir = tempdir();
    let script: PathBuf = dir.path().join("fixes.sh");
    fix_script::write(&script, &recs, "test.hbw", false).expect("write the script");

    let list = Command::new("sh")
        .arg(&script)
        .arg("list")
        .output()
        .expect("list");
    ok(&list, "list");
    let listed = String::from_utf8_lossy(&list.stdout);
    assert_eq!(listed.lines().count(), 4, "{listed}");
    assert!(
        listed
            .lines()
            .nth(2)
            .is_some_and(|l| l.trim_start().starts_with("3 ") && l.contains("(irq)")),
        "{listed}"
    );

    // Dry run: says what it would do, changes nothing.
    let dry = script_in(&ns, &script, &["--dry-run", "apply", "1", "2", "3", "4"]);
    let said = ok(&dry, "dry run");
    assert!(
        said.contains("would run: sysctl -w net.core.somaxconn="),
        "{said}"
    );
    assert_eq!(read_in(&ns, "/proc/sys/net/core/somaxconn"), somaxconn_orig);
    assert_eq!(std::fs::read_to_string(&irq_path).expect("irq"), irq_orig);
    assert!(
        !script.with_extension("state").exists(),
        "a dry run saved state"
    );

    // Unknown blocks are refused before anything runs.
    let bad = script_in(&ns, &script, &["apply", "1", "5"]);
    assert_eq!(
        bad.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
    assert_eq!(read_in(&ns, "/proc/sys/net/core/somaxconn"), somaxconn_orig);

    ok(
        &script_in(&ns, &script, &["apply", "1", "2", "3", "4"]),
        "apply",
    );
    assert_eq!(
        read_in(&ns, "/proc/sys/net/core/somaxconn").trim(),
        somaxconn_new.to_string()
    );
    let mask = read_in(&ns, &rps_path()).trim().replace(',', "");
    assert_eq!(
        u64::from_str_radix(&mask, 16).expect("hex mask"),
        1,
        "rps_cpus {mask}"
    );
    assert_eq!(std::fs::read_to_string(&irq_path).expect("irq").trim(), "0");
    assert_eq!(cpus_allowed(pid), "0");

    ok(
        &script_in(&ns, &script, &["undo", "4", "3", "2", "1"]),
        "undo",
    );
    assert_eq!(read_in(&ns, "/proc/sys/net/core/somaxconn"), somaxconn_orig);
    assert_eq!(read_in(&ns, &rps_path()), rps_orig);
    assert_eq!(
        std::fs::read_to_string(&irq_path).expect("irq"),
        irq_orig,
        "IRQ {irq} affinity"
    );
    assert_eq!(cpus_allowed(pid), affinity_orig);
    assert!(
        !script.with_extension("state").join("3").exists(),
        "undo left saved state"
    );
    // Undo with nothing saved falls back to the recorded values, and saves nothing itself.
    ok(
        &script_in(&ns, &script, &["undo", "1"]),
        "undo without saved values",
    );
    assert_eq!(read_in(&ns, "/proc/sys/net/core/somaxconn"), somaxconn_orig);
    assert!(
        !script.with_extension("state").join("1").exists(),
        "a fallback undo saved state"
    );
}

#[test]
fn a_pid_that_now_runs_another_command_is_left_alone() {
    if !require_root("a_pid_that_now_runs_another_command_is_left_alone") {
        return;
    }
    let sleeper = Sleeper(
        Command::new("sleep")
            .arg("60")
            .spawn()
            .expect("spawn sleep"),
    );
    let pid = sleeper.0.id();
    let before = cpus_allowed(pid);
    // Recorded as corosync; the PID now runs sleep.
    let recs = vec![rec("pin", "corosync").apply(format!("taskset -apc 0 {pid}"))];
    let dir = tempdir();
    let script = dir.path().join("fixes.sh");
    fix_script::write(&script, &recs, "test.hbw", false).expect("write the script");
    let out = Command::new("sh")
        .arg(&script)
        .args(["apply", "1"])
        .env("HBWATCH_FIX_STATE", dir.path().join("state"))
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("PID {pid} now runs 'sleep', not 'corosync'")),
        "{err}"
    );
    assert_eq!(cpus_allowed(pid), before, "the affinity changed");

    // Without root, apply stops before doing anything (and says how to look instead).
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "sh"])
        .arg(&script)
        .args(["apply", "1"])
        .output()
        .expect("setpriv");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("needs root (add --dry-run"), "{err}");
}
