//! The Debian package `cargo xtask dist` builds (the same code, included from xtask), installed
//! with `dpkg --root` into a throwaway folder, never into the host's own root: its files are
//! where Debian puts them, and the installed binary runs `--version`, `check` and a 2 s `record`.

#[path = "../../xtask/src/dist.rs"]
mod dist;

use std::{path::Path, process::Command};

use hbwatch_tests::{hbwatch_bin, require_root, tempdir};

fn run_ok(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_deb_installs_into_a_throwaway_root_and_runs() {
    if !require_root("the_deb_installs_into_a_throwaway_root_and_runs") {
        return;
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace folder");
    let out = tempdir();
    let d = dist::build(&hbwatch_bin(), workspace, out.path()).expect("dist builds the package");
    assert!(d.container.join("Containerfile").is_file() && d.container.join("hbwatch").is_file());

    let listing = run_ok(Command::new("dpkg-deb").arg("--contents").arg(&d.deb));
    for want in [
        "./usr/bin/hbwatch",
        "./lib/systemd/system/hbwatch.service",
        "./usr/share/man/man1/hbwatch.1.gz",
        "./usr/share/man/man1/hbwatch-record.1.gz",
        "./usr/share/man/man1/hbwatch-report.1.gz",
        "./usr/share/bash-completion/completions/hbwatch",
        "./usr/share/zsh/vendor-completions/_hbwatch",
        "./usr/share/fish/vendor_completions.d/hbwatch.fish",
        "./usr/share/doc/hbwatch/copyright",
    ] {
        assert!(
            listing.contains(want),
            "the package lacks {want}:\n{listing}"
        );
    }
    assert!(
        !listing.contains("demo-peer"),
        "a hidden command got a man page:\n{listing}"
    );

    // A throwaway root with an empty dpkg database; libc6 is the host's, so --force-depends.
    let root = tempdir();
    let admin = root.path().join("var/lib/dpkg");
    for sub in ["info", "updates"] {
        std::fs::create_dir_all(admin.join(sub)).expect("mkdir dpkg admin");
    }
    std::fs::write(admin.join("status"), "").expect("dpkg status");
    run_ok(
        Command::new("dpkg")
            .arg(format!("--root={}", root.path().display()))
            .args(["--force-depends", "-i"])
            .arg(&d.deb),
    );
    let status = run_ok(
        Command::new("dpkg")
            .arg(format!("--root={}", root.path().display()))
            .args(["-s", "hbwatch"]),
    );
    assert!(status.contains("Status: install ok installed"), "{status}");
    let unit = std::fs::read_to_string(root.path().join("lib/systemd/system/hbwatch.service"))
        .expect("the unit is installed");
    assert!(unit.contains("ExecStart=/usr/bin/hbwatch serve"), "{unit}");

    let bin = root.path().join("usr/bin/hbwatch");
    let v = run_ok(Command::new(&bin).arg("--version"));
    assert!(v.starts_with("hbwatch "), "{v}");
    let check = run_ok(Command::new(&bin).args(["check", "--format", "json"]));
    let _: serde_json::Value = serde_json::from_str(&check).expect("check prints JSON");
    let rec = out.path().join("installed.hbw");
    run_ok(
        Command::new(&bin)
            .args(["record", "-d", "2s", "-o"])
            .arg(&rec),
    );
    let report = run_ok(Command::new(&bin).arg("report").arg(&rec));
    assert!(report.contains("hbwatch report"), "{report}");
}
