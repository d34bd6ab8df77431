//! The demo's moving parts as guards: peer processes inside a namespace (killed and reaped on
//! drop, resumed first if stopped) and an nftables drop rule (deleted on drop).

use std::{
    io,
    path::Path,
    process::{Child, Command, Stdio},
};

use super::netns::{NetnsPair, run};

/// A `hbwatch demo-peer …` process in a namespace. `ip netns exec` execs the program, so the
/// child's PID is the peer itself and SIGSTOP stops the peer, not a wrapper.
pub struct Peer {
    child: Child,
    pub what: String,
}

impl Peer {
    /// Starts `<bin> demo-peer <args…>` inside `ns`, with its output discarded.
    pub fn spawn(bin: &Path, ns: &str, args: &[&str], what: &str) -> io::Result<Peer> {
        let mut c = NetnsPair::exec(ns, &bin.to_string_lossy());
        c.arg("demo-peer")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        Ok(Peer {
            child: c.spawn()?,
            what: what.to_owned(),
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops the peer (SIGSTOP), as a stalled application would be.
    pub fn stop(&self) -> io::Result<()> {
        self.signal(libc::SIGSTOP)
    }

    /// Resumes a stopped peer (SIGCONT).
    pub fn resume(&self) -> io::Result<()> {
        self.signal(libc::SIGCONT)
    }

    /// Whether the peer is still running (it exits early when, say, its port is taken).
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    fn signal(&self, sig: libc::c_int) -> io::Result<()> {
        let pid = libc::pid_t::try_from(self.child.id()).map_err(io::Error::other)?;
        // SAFETY: kill has no memory preconditions; pid is our own unreaped child, so it cannot
        // have been reused by another process.
        if unsafe { libc::kill(pid, sig) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        // A stopped process still dies of SIGKILL, but resume it so nothing is left half-way.
        let _ = self.resume();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An nftables table in namespace `ns` dropping UDP datagrams to `port` on input.
pub struct NftDrop {
    ns: String,
    table: String,
}

impl NftDrop {
    pub fn add(ns: &str, table: &str, port: u16) -> io::Result<NftDrop> {
        let port = port.to_string();
        let nft = |args: &[&str]| -> io::Result<()> {
            let mut c = vec!["ip", "netns", "exec", ns, "nft"];
            c.extend_from_slice(args);
            run(&c).map(|_| ())
        };
        nft(&["add", "table", "inet", table])?;
        let guard = NftDrop {
            ns: ns.to_owned(),
            table: table.to_owned(),
        };
        nft(&[
            "add",
            "chain",
            "inet",
            table,
            "input",
            "{ type filter hook input priority 0; policy accept; }",
        ])?;
        nft(&[
            "add", "rule", "inet", table, "input", "udp", "dport", &port, "drop",
        ])?;
        Ok(guard)
    }
}

impl Drop for NftDrop {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.ns,
                "nft",
                "delete",
                "table",
                "inet",
                &self.table,
            ])
            .output();
    }
}
