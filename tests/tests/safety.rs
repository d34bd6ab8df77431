//! Safety end to end: recordings are private (0600), a symlink at the output is never followed,
//! a missing capability is named, and a recording writes nowhere but its output path.

use std::{
    os::unix::fs::PermissionsExt as _,
    process::{Command, Output},
};

use hbwatch_tests::{hbwatch_bin, require_root, tempdir};

fn mode(p: &std::path::Path) -> u32 {
    std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777
}

fn record(args: &[&str], cwd: &std::path::Path) -> Output {
    Command::new(hbwatch_bin())
        .arg("record")
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("run hbwatch record")
}

#[test]
fn recordings_are_0600_even_with_umask_0_and_over_a_world_readable_file() {
    if !require_root("recordings_are_0600") {
        return;
    }
    let dir = tempdir();
    let fresh = dir.path().join("fresh.hbw");
    let forced = dir.path().join("forced.hbw");
    std::fs::write(&forced, "old").expect("write");
    std::fs::set_permissions(&forced, std::fs::Permissions::from_mode(0o666)).expect("chmod");
    for (path, force) in [(&fresh, false), (&forced, true)] {
        let mut c = Command::new("sh");
        c.arg("-c")
            .arg("umask 0 && exec \"$@\"")
            .arg("sh")
            .arg(hbwatch_bin())
            .args(["record", "-d", "1s", "-o"])
            .arg(path);
        if force {
            c.arg("--force");
        }
        let out = c.output().expect("run");
        assert!(out.status.success(), "{out:?}");
        assert_eq!(mode(path), 0o600, "{}", path.display());
    }
}

#[test]
fn a_symlink_at_the_output_is_never_followed() {
    let dir = tempdir();
    let victim = dir.path().join("victim");
    std::fs::write(&victim, "precious").expect("write");
    let link = dir.path().join("r.hbw");
    std::os::unix::fs::symlink(&victim, &link).expect("symlink");
    for force in [false, true] {
        let mut args = vec!["-d", "1s", "-o", link.to_str().expect("utf8")];
        if force {
            args.push("--force");
        }
        let out = record(&args, dir.path());
        assert_eq!(out.status.code(), Some(2), "{out:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("symbolic link"));
        assert_eq!(std::fs::read_to_string(&victim).expect("read"), "precious");
        assert!(
            std::fs::symlink_metadata(&link)
                .expect("link")
                .file_type()
                .is_symlink()
        );
    }
}

/// Runs `record` under setpriv with `setpriv_args`; returns its stderr and status.
fn record_with_setpriv(setpriv_args: &[&str]) -> (Option<i32>, String) {
    let dir = tempdir();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let out = Command::new("setpriv")
        .args(setpriv_args)
        .arg(hbwatch_bin())
        .args(["record", "-d", "1s", "-o"])
        .arg(dir.path().join("r.hbw"))
        .output()
        .expect("setpriv");
    assert!(
        !dir.path().join("r.hbw").exists(),
        "no recording without privileges"
    );
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_missing_capability_is_named() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("SKIP the_missing_capability_is_named: needs root to drop capabilities");
        return;
    }
    // Still uid 0, but without CAP_SYS_ADMIN and CAP_BPF: only CAP_BPF is missing.
    let (code, err) = record_with_setpriv(&["--bounding-set=-sys_admin,-bpf", "--inh-caps=-all"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("missing CAP_BPF.") && !err.contains("CAP_PERFMON and"),
        "{err}"
    );
    let (code, err) =
        record_with_setpriv(&["--bounding-set=-sys_admin,-perfmon", "--inh-caps=-all"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("missing CAP_PERFMON."), "{err}");
    // An unprivileged user misses both.
    let (code, err) = record_with_setpriv(&[
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "--inh-caps=-all",
    ]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("missing CAP_BPF and CAP_PERFMON"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn an_unwritable_folder_is_reported_before_privileges() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!(
            "SKIP an_unwritable_folder_is_reported_before_privileges: needs root for setpriv"
        );
        return;
    }
    let dir = tempdir();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o555)).expect("chmod");
    let out = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
        ])
        .arg(hbwatch_bin())
        .args(["record", "-d", "1s", "-o"])
        .arg(dir.path().join("r.hbw"))
        .output()
        .expect("setpriv");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("cannot create files in folder"), "{err}");
}

/// Every path a traced process opened for writing, created, renamed, linked or removed, from an
/// `strace -f` log (lines look like `PID name(args) = result`).
fn written_paths(log: &str) -> Vec<String> {
    const CHANGES: &[&str] = &[
        "mkdir",
        "mkdirat",
        "rename",
        "renameat",
        "renameat2",
        "link",
        "linkat",
        "symlink",
        "symlinkat",
        "unlink",
        "unlinkat",
        "rmdir",
        "creat",
        "truncate",
        "mknod",
        "mknodat",
    ];
    log.lines()
        .filter(|l| !l.contains("= -1"))
        .filter_map(|l| {
            let call = l.split_once(' ').map_or(l, |(_, rest)| rest).trim_start();
            let name = call.split('(').next()?;
            let writes = match name {
                "open" | "openat" | "openat2" => {
                    call.contains("O_WRONLY") || call.contains("O_RDWR") || call.contains("O_CREAT")
                }
                n => CHANGES.contains(&n),
            };
            writes.then(|| call.split('"').nth(1).map(str::to_owned))?
        })
        .collect()
}

#[test]
fn record_writes_only_its_output() {
    if !require_root("record_writes_only_its_output")
        || Command::new("strace").arg("-V").output().is_err()
    {
        return;
    }
    let cwd = tempdir();
    let out_dir = tempdir();
    let path = out_dir.path().join("r.hbw");
    let log = out_dir.path().join("strace.log");
    let out = Command::new("strace")
        .args(["-f", "-qq", "-e", "trace=%file", "-o"])
        .arg(&log)
        .arg(hbwatch_bin())
        .args(["record", "-d", "2s", "-o"])
        .arg(&path)
        .current_dir(cwd.path())
        .output()
        .expect("strace hbwatch");
    assert!(out.status.success(), "{out:?}");
    let log = std::fs::read_to_string(&log).expect("strace log");
    let path_s = path.to_str().expect("utf8");
    // The kernel side: perf/tracefs handles are opened read-write but create nothing.
    let allowed = |p: &str| {
        p == path_s
            || p.starts_with("/sys/kernel/tracing/")
            || p.starts_with("/sys/kernel/debug/tracing/")
            || p == "/dev/null"
    };
    let written = written_paths(&log);
    assert!(
        written.iter().any(|p| p == path_s),
        "the strace log does not show the output being created: {written:?}"
    );
    let unexpected: Vec<String> = written.into_iter().filter(|p| !allowed(p)).collect();
    assert!(
        unexpected.is_empty(),
        "wrote outside its output: {unexpected:?}"
    );
    let in_cwd: Vec<_> = std::fs::read_dir(cwd.path()).expect("read cwd").collect();
    assert!(in_cwd.is_empty(), "files appeared in the cwd: {in_cwd:?}");
    let beside: Vec<String> = std::fs::read_dir(out_dir.path())
        .expect("read out dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != "r.hbw" && n != "strace.log")
        .collect();
    assert!(
        beside.is_empty(),
        "files appeared beside the output: {beside:?}"
    );
}
