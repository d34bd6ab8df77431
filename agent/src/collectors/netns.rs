//! `record --netns NAME|PATH|PID`: the network namespace a recording is scoped to. Resolved to
//! its nsfs inode (the number the eBPF programs read as `net->ns.inum`); a thread parked inside
//! it makes its `proc/net/*` readable as `/proc/TID/net/*`, and names its interfaces.

use std::{
    fs::File,
    os::{fd::AsRawFd as _, unix::fs::MetadataExt as _},
    path::PathBuf,
    sync::mpsc,
};

use crate::recording::records::NetnsScope;

/// A namespace given on the command line, checked: it exists and is a network namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetnsTarget {
    /// As given.
    pub spec: String,
    pub path: PathBuf,
    pub inode: u32,
}

/// Why a `--netns` value is refused (exit 2).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NetnsError {
    #[error(
        "--netns {spec}: {path} does not exist ({why}); give a name from `ip netns list`, a path such as /proc/PID/ns/net, or a PID"
    )]
    Missing {
        spec: String,
        path: String,
        why: String,
    },
    #[error("--netns {spec}: {path} is not a network namespace")]
    NotNetns { spec: String, path: String },
    #[error("--netns {spec}: cannot enter {path}: {why}")]
    Enter {
        spec: String,
        path: String,
        why: String,
    },
}

/// `NAME` (/run/netns/NAME), a path, or a PID (/proc/PID/ns/net).
pub fn resolve(spec: &str) -> Result<NetnsTarget, NetnsError> {
    let path = if !spec.is_empty() && spec.bytes().all(|b| b.is_ascii_digit()) {
        PathBuf::from(format!("/proc/{spec}/ns/net"))
    } else if spec.contains('/') {
        PathBuf::from(spec)
    } else {
        PathBuf::from(format!("/run/netns/{spec}"))
    };
    let shown = path.display().to_string();
    let meta = std::fs::metadata(&path).map_err(|e| NetnsError::Missing {
        spec: spec.to_owned(),
        path: shown.clone(),
        why: e.to_string(),
    })?;
    // nsfs files: opening one and asking setns for a network namespace is the real check, done
    // by `enter`; here the cheap part: not a directory or a regular file of some size.
    if meta.is_dir() || (meta.is_file() && meta.len() > 0) {
        return Err(NetnsError::NotNetns {
            spec: spec.to_owned(),
            path: shown,
        });
    }
    Ok(NetnsTarget {
        spec: spec.to_owned(),
        path,
        inode: meta.ino() as u32,
    })
}

/// A thread that lives in the target namespace until dropped.
pub struct NetnsThread {
    tid: i32,
    stop: Option<mpsc::Sender<()>>,
    handle: Option<std::thread::JoinHandle<()>>,
    /// (ifindex, name) of the namespace's interfaces, read inside it.
    pub interfaces: Vec<(u32, String)>,
}

impl NetnsThread {
    pub fn enter(t: &NetnsTarget) -> Result<NetnsThread, NetnsError> {
        let err = |why: String| NetnsError::Enter {
            spec: t.spec.clone(),
            path: t.path.display().to_string(),
            why,
        };
        let file = File::open(&t.path).map_err(|e| err(e.to_string()))?;
        let (ready_tx, ready_rx) = mpsc::channel();
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let handle = std::thread::Builder::new()
            .name("hbwatch-netns".into())
            .spawn(move || {
                // SAFETY: setns on a file descriptor we own; it moves only this thread.
                let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
                if rc != 0 {
                    let _ = ready_tx.send(Err(std::io::Error::last_os_error().to_string()));
                    return;
                }
                // SAFETY: gettid has no arguments and cannot fail.
                let tid = unsafe { libc::gettid() };
                let _ = ready_tx.send(Ok((tid, interfaces_here())));
                let _ = stop_rx.recv();
            })
            .map_err(|e| err(e.to_string()))?;
        let (tid, interfaces) = ready_rx
            .recv()
            .map_err(|e| err(e.to_string()))?
            .map_err(|e| {
                err(if e.contains("Invalid argument") {
                    format!("{e}: not a network namespace")
                } else {
                    e
                })
            })?;
        Ok(NetnsThread {
            tid,
            stop: Some(stop_tx),
            handle: Some(handle),
            interfaces,
        })
    }

    /// The namespace's `proc/net`, through this thread.
    pub fn net_dir(&self) -> PathBuf {
        PathBuf::from(format!("/proc/{}/net", self.tid))
    }
}

impl Drop for NetnsThread {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// (ifindex, name) of the calling thread's namespace's interfaces.
fn interfaces_here() -> Vec<(u32, String)> {
    let Ok(text) = std::fs::read_to_string("/proc/thread-self/net/dev") else {
        return Vec::new();
    };
    let mut out: Vec<(u32, String)> = text
        .lines()
        .skip(2)
        .filter_map(|l| l.split_once(':').map(|(n, _)| n.trim().to_owned()))
        .filter_map(|name| {
            let c = std::ffi::CString::new(name.clone()).ok()?;
            // SAFETY: a NUL-terminated name; the index comes from this thread's namespace.
            let i = unsafe { libc::if_nametoindex(c.as_ptr()) };
            (i != 0).then_some((i, name))
        })
        .collect();
    out.sort();
    out
}

/// The record of a scope, for the recording.
pub fn scope_record(t: &NetnsTarget, at_mono_ns: u64) -> NetnsScope {
    NetnsScope {
        at_mono_ns,
        spec: t.spec.clone(),
        path: t.path.display().to_string(),
        inode: t.inode,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_paths_and_pids() {
        let me = resolve(&std::process::id().to_string()).expect("own pid");
        assert_eq!(
            me.path,
            PathBuf::from(format!("/proc/{}/ns/net", std::process::id()))
        );
        assert_ne!(me.inode, 0);
        let by_path = resolve("/proc/self/ns/net").expect("path");
        assert_eq!(by_path.inode, me.inode);
        assert!(matches!(
            resolve("hbwatch-no-such-namespace"),
            Err(NetnsError::Missing { .. })
        ));
        assert!(matches!(
            resolve("/proc/self"),
            Err(NetnsError::NotNetns { .. })
        ));
        assert!(matches!(
            resolve("/etc/hostname"),
            Err(NetnsError::NotNetns { .. })
        ));
    }

    #[test]
    fn own_namespace_is_entered_and_named() {
        // SAFETY: no arguments.
        if unsafe { libc::geteuid() } != 0 {
            return; // setns needs CAP_SYS_ADMIN
        }
        let t = resolve("/proc/self/ns/net").expect("own");
        let th = NetnsThread::enter(&t).expect("enter own namespace");
        assert!(
            th.interfaces.iter().any(|(_, n)| n == "lo"),
            "{:?}",
            th.interfaces
        );
        assert!(th.net_dir().join("snmp").exists());
    }
}
