//! The demo's heartbeat peers, run as `hbwatch demo-peer …` (hidden) inside a namespace so that
//! each is its own process: the receiver can be stopped with SIGSTOP like a stalled application.

use std::{
    net::{SocketAddr, UdpSocket},
    os::fd::AsRawFd as _,
    time::{Duration, Instant},
};

/// Sends a small numbered datagram to `to` every `every` (or as fast as possible with `every` 0)
/// for `for_` (forever when None).
pub fn send(to: SocketAddr, every: Duration, for_: Option<Duration>) -> std::io::Result<()> {
    let s = UdpSocket::bind("0.0.0.0:0")?;
    let t0 = Instant::now();
    let mut seq: u64 = 0;
    let mut next = Instant::now();
    loop {
        if for_.is_some_and(|d| t0.elapsed() >= d) {
            return Ok(());
        }
        let msg = format!("hbwatch-demo heartbeat {seq}");
        // A refused or dropped datagram is the point of the demo, not an error of the sender.
        let _ = s.send_to(msg.as_bytes(), to);
        seq += 1;
        if !every.is_zero() {
            next += every;
            if let Some(wait) = next.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }
    }
}

/// Receives on `port` forever with a receive buffer of `rcvbuf` bytes (0: system default),
/// pausing `read_delay` after each datagram (a slow reader).
pub fn recv(port: u16, rcvbuf: usize, read_delay: Duration) -> std::io::Result<()> {
    let s = UdpSocket::bind(("0.0.0.0", port))?;
    if rcvbuf > 0 {
        let v = rcvbuf as libc::c_int;
        // SAFETY: valid socket fd and a pointer to an int of the stated size.
        let rc = unsafe {
            libc::setsockopt(
                s.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVBUF,
                (&v as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    let mut buf = [0u8; 2048];
    loop {
        s.recv_from(&mut buf)?;
        if !read_delay.is_zero() {
            std::thread::sleep(read_delay);
        }
    }
}
