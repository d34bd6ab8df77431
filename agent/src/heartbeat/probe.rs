//! Active probes: TCP connect, HTTP HEAD (status and time to first byte), UDP request/echo, every
//! interval with a timeout, on the monotonic clock. N consecutive failures declare a stall, in
//! the manner of a process stall monitor.

use std::{net::SocketAddr, time::Duration};

use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::{TcpStream, UdpSocket},
    sync::mpsc::UnboundedSender,
};

use crate::protocol::spec::{ProbeSpec, ProbeTarget};
use crate::{
    clock,
    recording::records::{ProbeAttempt, Record, SourceWarning, WarningKind},
};

/// What one attempt gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub latency_ns: u64,
    pub status: Option<u16>,
    pub error: Option<String>,
}

async fn resolve(host: &str, port: u16) -> std::io::Result<SocketAddr> {
    let hp = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    tokio::net::lookup_host(hp)
        .await?
        .next()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no address"))
}

fn describe(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::ConnectionRefused => "connection refused".into(),
        std::io::ErrorKind::ConnectionReset => "connection reset".into(),
        _ => e.to_string(),
    }
}

/// One attempt: success, or why not; a timeout is an error "timeout after …".
pub async fn attempt(target: &ProbeTarget, timeout: Duration) -> Outcome {
    let start = clock::mono_ns();
    let r = tokio::time::timeout(timeout, attempt_inner(target)).await;
    let latency_ns = clock::mono_ns() - start;
    match r {
        Ok(Ok(status)) => match status {
            Some(s) if s >= 500 => Outcome {
                latency_ns,
                status,
                error: Some(format!("status {s}")),
            },
            _ => Outcome {
                latency_ns,
                status,
                error: None,
            },
        },
        Ok(Err(e)) => Outcome {
            latency_ns,
            status: None,
            error: Some(describe(&e)),
        },
        Err(_) => Outcome {
            latency_ns,
            status: None,
            error: Some(format!(
                "timeout after {}",
                humantime::format_duration(timeout)
            )),
        },
    }
}

async fn attempt_inner(target: &ProbeTarget) -> std::io::Result<Option<u16>> {
    match target {
        ProbeTarget::Tcp { host, port } => {
            TcpStream::connect(resolve(host, *port).await?).await?;
            Ok(None)
        }
        ProbeTarget::Http { host, port, path } => {
            let mut s = TcpStream::connect(resolve(host, *port).await?).await?;
            let req = format!(
                "HEAD {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: hbwatch\r\nConnection: close\r\n\r\n"
            );
            s.write_all(req.as_bytes()).await?;
            let mut buf = [0u8; 64];
            let n = s.read(&mut buf).await?;
            Ok(Some(parse_status(&buf[..n])?))
        }
        ProbeTarget::Udp { host, port } => {
            let addr = resolve(host, *port).await?;
            let local: SocketAddr = if addr.is_ipv4() {
                ([0, 0, 0, 0], 0).into()
            } else {
                ([0u16; 8], 0).into()
            };
            let s = UdpSocket::bind(local).await?;
            s.connect(addr).await?;
            s.send(b"hbwatch-probe").await?;
            let mut buf = [0u8; 1500];
            s.recv(&mut buf).await?;
            Ok(None)
        }
    }
}

/// `HTTP/1.1 200 OK` → 200.
pub fn parse_status(first: &[u8]) -> std::io::Result<u16> {
    let bad = || std::io::Error::new(std::io::ErrorKind::InvalidData, "not an HTTP response");
    let s = std::str::from_utf8(first).map_err(|_| bad())?;
    let mut parts = s.split_whitespace();
    match (parts.next(), parts.next()) {
        (Some(v), Some(code)) if v.starts_with("HTTP/") => code.parse().map_err(|_| bad()),
        _ => Err(bad()),
    }
}

/// Probes forever, sending a record per attempt and warnings on refusal, stall and recovery.
pub async fn run(source: u32, spec: ProbeSpec, tx: UnboundedSender<Record>) {
    let mut tick = tokio::time::interval(spec.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failures = 0u32;
    loop {
        tick.tick().await;
        let start = clock::mono_ns();
        let o = attempt(&spec.target, spec.timeout).await;
        let mut out = Vec::new();
        match &o.error {
            Some(e) => {
                failures += 1;
                if failures == 1 {
                    out.push((WarningKind::Refused, format!("probe failed: {e}")));
                }
                if failures == spec.failures {
                    out.push((
                        WarningKind::Stalled,
                        format!("{failures} consecutive probe failures (last: {e})"),
                    ));
                }
            }
            None => {
                if failures > 0 {
                    out.push((
                        WarningKind::Recovered,
                        format!("probe succeeds again after {failures} failure(s)"),
                    ));
                }
                failures = 0;
            }
        }
        let attempt = Record::Probe(ProbeAttempt {
            source,
            start_mono_ns: start,
            latency_ns: o.latency_ns,
            status: o.status,
            error: o.error,
            consecutive_failures: failures,
        });
        if tx.send(attempt).is_err() {
            return;
        }
        for (kind, detail) in out {
            let w = SourceWarning {
                at_mono_ns: clock::mono_ns(),
                source,
                kind,
                detail,
            };
            if tx.send(Record::SourceWarning(w)).is_err() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
    }

    #[test]
    fn status_lines() {
        assert_eq!(
            parse_status(b"HTTP/1.1 204 No Content\r\n").expect("204"),
            204
        );
        assert!(parse_status(b"SSH-2.0-OpenSSH").is_err());
    }

    #[test]
    fn tcp_http_udp_against_loopback() {
        rt().block_on(async {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            let port = l.local_addr().expect("addr").port();
            tokio::spawn(async move {
                while let Ok((mut s, _)) = l.accept().await {
                    let mut b = [0u8; 512];
                    let _ = s.read(&mut b).await;
                    let _ = s.write_all(b"HTTP/1.1 503 Busy\r\n\r\n").await;
                }
            });
            let t = Duration::from_millis(500);
            let ok = attempt(
                &ProbeTarget::Tcp {
                    host: "127.0.0.1".into(),
                    port,
                },
                t,
            )
            .await;
            assert_eq!(ok.error, None);
            let h = ProbeTarget::Http {
                host: "127.0.0.1".into(),
                port,
                path: "/".into(),
            };
            let o = attempt(&h, t).await;
            assert_eq!(
                (o.status, o.error.as_deref()),
                (Some(503), Some("status 503"))
            );

            let echo = UdpSocket::bind("127.0.0.1:0").await.expect("udp bind");
            let uport = echo.local_addr().expect("addr").port();
            tokio::spawn(async move {
                let mut b = [0u8; 64];
                while let Ok((n, from)) = echo.recv_from(&mut b).await {
                    let _ = echo.send_to(&b[..n], from).await;
                }
            });
            let u = attempt(
                &ProbeTarget::Udp {
                    host: "127.0.0.1".into(),
                    port: uport,
                },
                t,
            )
            .await;
            assert_eq!(u.error, None);
        });
    }

    #[test]
    fn refused_and_timeout_are_failures() {
        rt().block_on(async {
            // Bind then drop: nothing listens on this port now.
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("port")
                .port();
            let t = Duration::from_millis(300);
            let r = attempt(
                &ProbeTarget::Tcp {
                    host: "127.0.0.1".into(),
                    port,
                },
                t,
            )
            .await;
            assert_eq!(r.error.as_deref(), Some("connection refused"));
            let silent = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
            let sport = silent.local_addr().expect("addr").port();
            let u = attempt(
                &ProbeTarget::Udp {
                    host: "127.0.0.1".into(),
                    port: sport,
                },
                t,
            )
            .await;
            assert!(
                u.error.as_deref().is_some_and(|e| e.starts_with("timeout")),
                "{u:?}"
            );
            assert!(u.latency_ns >= 300_000_000);
        });
    }
}
