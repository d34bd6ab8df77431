//! Which process owns the socket on a local port: the socket inode from /proc/net/{udp,tcp}[6],
//! then the `/proc/PID/fd` link that points at `socket:[INODE]`.

use std::collections::BTreeSet;

use crate::collectors::host::HostRoot;
use crate::protocol::spec::Proto;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct SocketOwner {
    pub pid: u32,
    pub comm: String,
    pub inode: u64,
}

/// Inodes of sockets bound to local `port` (TCP: listening or connected on it).
pub fn socket_inodes(host: &HostRoot, proto: Proto, port: u16) -> BTreeSet<u64> {
    let files: &[&str] = match proto {
        Proto::Udp => &["proc/net/udp", "proc/net/udp6"],
        Proto::Tcp => &["proc/net/tcp", "proc/net/tcp6"],
    };
    let mut out = BTreeSet::new();
    for f in files {
        let Ok(text) = host.read(f) else { continue };
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let (Some(local), Some(inode)) = (cols.get(1), cols.get(9)) else {
                continue;
            };
            let Some((_, p)) = local.rsplit_once(':') else {
                continue;
            };
            if u16::from_str_radix(p, 16).ok() == Some(port)
                && let Ok(i) = inode.parse::<u64>()
                && i != 0
            {
                out.insert(i);
            }
        }
    }
    out
}

/// Processes holding a socket on `port`, by scanning every `/proc/PID/fd`.
pub fn find_owners(host: &HostRoot, proto: Proto, port: u16) -> Vec<SocketOwner> {
    let inodes = socket_inodes(host, proto, port);
    if inodes.is_empty() {
        return Vec::new();
    }
    let mut owners = BTreeSet::new();
    let Ok(procs) = std::fs::read_dir(host.path("proc")) else {
        return Vec::new();
    };
    for p in procs.flatten() {
        let Some(pid) = p.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(p.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            let Ok(target) = std::fs::read_link(fd.path()) else {
                continue;
            };
            let t = target.to_string_lossy();
            let Some(i) = t
                .strip_prefix("socket:[")
                .and_then(|s| s.strip_suffix(']'))
                .and_then(|s| s.parse::<u64>().ok())
            else {
                continue;
            };
            if inodes.contains(&i) {
                let comm = std::fs::read_to_string(p.path().join("comm")).unwrap_or_default();
                owners.insert(SocketOwner {
                    pid,
                    comm: comm.trim().to_owned(),
                    inode: i,
                });
            }
        }
    }
    owners.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_owner_in_a_fixture_tree() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        std::fs::create_dir_all(root.join("proc/net")).expect("mkdir");
        std::fs::write(
            root.join("proc/net/udp"),
            "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n\
             \x20 12: 00000000:151D 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 424242 2 0000000000000000 0\n\
             \x20 13: 0100007F:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 111 2 0000000000000000 0\n",
        )
        .expect("udp");
        for (pid, comm, link) in [
            (700, "corosync", "socket:[424242]"),
            (800, "other", "socket:[111]"),
        ] {
            let fd = root.join(format!("proc/{pid}/fd"));
            std::fs::create_dir_all(&fd).expect("fd dir");
            std::os::unix::fs::symlink(link, fd.join("5")).expect("link");
            std::os::unix::fs::symlink("/dev/null", fd.join("0")).expect("link");
            std::fs::write(root.join(format!("proc/{pid}/comm")), format!("{comm}\n"))
                .expect("comm");
        }
        let host = HostRoot::at(root.to_owned());
        assert_eq!(
            find_owners(&host, Proto::Udp, 5405),
            vec![SocketOwner {
                pid: 700,
                comm: "corosync".into(),
                inode: 424242
            }]
        );
        assert!(find_owners(&host, Proto::Tcp, 5405).is_empty());
        assert!(find_owners(&host, Proto::Udp, 9).is_empty());
    }

    #[test]
    fn finds_this_process_on_a_live_host() {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        let port = s.local_addr().expect("addr").port();
        let me = std::process::id();
        let owners = find_owners(&HostRoot::default(), Proto::Udp, port);
        assert!(owners.iter().any(|o| o.pid == me), "{owners:?}");
    }
}
