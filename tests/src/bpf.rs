//! Which eBPF programs and links exist (`bpftool`) and which process holds them (`/proc/PID/fdinfo`,
//! since Debian's bpftool is built without PID support), so tests can prove a process left nothing
//! attached behind.

use std::{collections::BTreeSet, process::Command};

/// One program or link as `bpftool … show -j` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BpfObject {
    pub id: u64,
    /// Program name (the kernel keeps 15 bytes); the attached program's id for links.
    pub name: String,
}

fn list(kind: &str) -> Vec<BpfObject> {
    let out = Command::new("bpftool")
        .args([kind, "show", "-j"])
        .output()
        .unwrap_or_else(|e| panic!("bpftool {kind} show: {e}"));
    assert!(
        out.status.success(),
        "bpftool {kind} show: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("bpftool JSON");
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|o| BpfObject {
                    id: o["id"].as_u64().unwrap_or(0),
                    name: o["name"]
                        .as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| o["prog_id"].to_string()),
                })
                .collect()
        })
        .unwrap_or_default()
}

pub fn programs() -> Vec<BpfObject> {
    list("prog")
}

pub fn links() -> Vec<BpfObject> {
    list("link")
}

/// Whether `name` (as the kernel shows it, cut to 15 bytes) is one of hbwatch's programs.
pub fn is_hbwatch_program(name: &str) -> bool {
    !name.is_empty()
        && agent_common::names::ALL_PROGRAMS
            .iter()
            .any(|p| *p == name || (name.len() == 15 && p.starts_with(name)))
}

/// Ids of the programs and links whose fds `pid` holds (a link fd names its program too).
pub fn held_by(pid: u32) -> (BTreeSet<u64>, BTreeSet<u64>) {
    let (mut progs, mut links) = (BTreeSet::new(), BTreeSet::new());
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fdinfo")) else {
        return (progs, links);
    };
    for e in dir.flatten() {
        let info = std::fs::read_to_string(e.path()).unwrap_or_default();
        for l in info.lines() {
            let num = |k: &str| l.strip_prefix(k).and_then(|v| v.trim().parse::<u64>().ok());
            if let Some(id) = num("prog_id:") {
                progs.insert(id);
            }
            if let Some(id) = num("link_id:") {
                links.insert(id);
            }
        }
    }
    (progs, links)
}

/// Programs held by any process on the machine.
fn held_by_anyone() -> BTreeSet<u64> {
    let mut all = BTreeSet::new();
    for e in std::fs::read_dir("/proc").expect("/proc").flatten() {
        if let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) {
            all.extend(held_by(pid).0);
        }
    }
    all
}

/// Waits up to two seconds (the kernel frees programs after an RCU grace period) until none of
/// `ids` is listed as a program or link any more; returns those still there.
pub fn wait_gone(prog_ids: &BTreeSet<u64>, link_ids: &BTreeSet<u64>) -> Vec<BpfObject> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    loop {
        let left: Vec<BpfObject> = programs()
            .into_iter()
            .filter(|o| prog_ids.contains(&o.id))
            .chain(links().into_iter().filter(|o| link_ids.contains(&o.id)))
            .collect();
        if left.is_empty() || std::time::Instant::now() > deadline {
            return left;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// hbwatch programs newer than `after_id` that no process holds (pinned or leaked), after
/// waiting up to two seconds for the kernel to free closed ones.
pub fn orphaned_hbwatch_programs(after_id: u64) -> Vec<BpfObject> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    loop {
        let held = held_by_anyone();
        let orphans: Vec<BpfObject> = programs()
            .into_iter()
            .filter(|o| o.id > after_id && is_hbwatch_program(&o.name) && !held.contains(&o.id))
            .collect();
        if orphans.is_empty() || std::time::Instant::now() > deadline {
            return orphans;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// The highest program id now loaded.
pub fn last_program_id() -> u64 {
    programs().iter().map(|o| o.id).max().unwrap_or(0)
}
