//! A small HTTP server (tiny_http, one thread) answering `GET /metrics` with the OpenMetrics
//! exposition; everything else gets 404. Stops when dropped.

use std::{net::SocketAddr, sync::Arc, thread::JoinHandle};

use super::Metrics;

const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Debug, thiserror::Error)]
#[error("cannot listen for metrics on {addr}: {why}")]
pub struct BindError {
    pub addr: SocketAddr,
    pub why: String,
}

pub struct MetricsServer {
    server: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
    addr: SocketAddr,
}

impl MetricsServer {
    /// Binds now (so a busy port fails at start) and serves on a background thread.
    pub fn start(addr: SocketAddr, metrics: Arc<Metrics>) -> Result<Self, BindError> {
        let server = tiny_http::Server::http(addr).map_err(|e| BindError {
            addr,
            why: e.to_string(),
        })?;
        let bound = server.server_addr().to_ip().unwrap_or(addr);
        let server = Arc::new(server);
        let s = server.clone();
        let thread = std::thread::Builder::new()
            .name("hbwatch-metrics".into())
            .spawn(move || serve(&s, &metrics))
            .map_err(|e| BindError {
                addr,
                why: e.to_string(),
            })?;
        Ok(MetricsServer {
            server,
            thread: Some(thread),
            addr: bound,
        })
    }

    /// The bound address (the real port when started on port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

fn serve(server: &tiny_http::Server, metrics: &Metrics) {
    for req in server.incoming_requests() {
        let ok_path = req.url() == "/metrics" || req.url().starts_with("/metrics?");
        let resp = if *req.method() != tiny_http::Method::Get || !ok_path {
            tiny_http::Response::from_string("not found; metrics are at /metrics\n")
                .with_status_code(404)
        } else {
            match metrics.encode() {
                Ok(body) => {
                    let mut r = tiny_http::Response::from_string(body);
                    if let Ok(h) = tiny_http::Header::from_bytes("Content-Type", CONTENT_TYPE) {
                        r = r.with_header(h);
                    }
                    r
                }
                Err(_) => tiny_http::Response::from_string("encoding metrics failed\n")
                    .with_status_code(500),
            }
        };
        // A scraper that hung up is not our problem; the next scrape gets a fresh answer.
        let _ = req.respond(resp);
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read as _, Write as _};

    use super::*;

    fn get(addr: SocketAddr, path: &str) -> String {
        let mut s = std::net::TcpStream::connect(addr).expect("connect");
        write!(s, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").expect("send");
        let mut out = String::new();
        s.read_to_string(&mut out).expect("read");
        out
    }

    #[test]
    fn serves_metrics_and_404() {
        let m = Arc::new(Metrics::new());
        let srv = MetricsServer::start("127.0.0.1:0".parse().expect("addr"), m).expect("start");
        let ok = get(srv.addr(), "/metrics");
        assert!(ok.starts_with("HTTP/1.0 200"), "{ok}");
        assert!(ok.contains("application/openmetrics-text") && ok.contains("# EOF"));
        assert!(get(srv.addr(), "/").starts_with("HTTP/1.0 404"));
        let busy = MetricsServer::start(srv.addr(), Arc::new(Metrics::new()));
        assert!(busy.is_err(), "second bind on the same port succeeded");
    }
}
