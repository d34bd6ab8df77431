//! What `bpftool` says is loaded: programs and links, with the PIDs holding them, so tests can
//! prove a process left nothing attached behind.

use std::process::Command;

/// One program or link as `bpftool … show -j` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BpfObject {
    pub id: u64,
    /// Program name (the kernel keeps 15 bytes); empty for links.
    pub name: String,
    pub pids: Vec<u32>,
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
        .map(|a| a.iter().map(parse).collect())
        .unwrap_or_default()
}

fn parse(o: &serde_json::Value) -> BpfObject {
    BpfObject {
        id: o["id"].as_u64().unwrap_or(0),
        name: o["name"].as_str().unwrap_or("").to_owned(),
        pids: o["pids"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|p| p["pid"].as_u64().map(|x| x as u32))
                    .collect()
            })
            .unwrap_or_default(),
    }
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
            .any(|p| p.starts_with(name) && (name.len() == p.len() || name.len() == 15))
}

/// Programs and links that `pid` holds.
pub fn held_by(pid: u32) -> (Vec<BpfObject>, Vec<BpfObject>) {
    let mine = |v: Vec<BpfObject>| -> Vec<BpfObject> {
        v.into_iter().filter(|o| o.pids.contains(&pid)).collect()
    };
    (mine(programs()), mine(links()))
}

/// Waits up to two seconds (the kernel frees programs after an RCU grace period) until none of
/// `ids` is listed as a program or link any more; returns those still there.
pub fn wait_gone(prog_ids: &[u64], link_ids: &[u64]) -> Vec<BpfObject> {
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

/// hbwatch programs that nobody holds open (pinned or leaked): none may exist after hbwatch exits.
pub fn orphaned_hbwatch_programs() -> Vec<BpfObject> {
    programs()
        .into_iter()
        .filter(|o| is_hbwatch_program(&o.name) && o.pids.is_empty())
        .collect()
}
