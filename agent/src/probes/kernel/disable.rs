//! `--disable-probe NAME`: makes the loader treat a tracepoint as missing from the kernel, so the
//! "tracepoint missing" path (collector unavailable, the rest running) can be tested on any host.

use std::cell::RefCell;

use crate::probes::error::ProbeError;

thread_local! {
    // Scoped to one `Probes::load` call on this thread; keeps every attach signature unchanged.
    static DISABLED: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

/// Tracepoints hbwatch attaches, the names `--disable-probe` accepts.
pub const TRACEPOINTS: &[&str] = &[
    "softirq_raise",
    "softirq_entry",
    "softirq_exit",
    "napi_poll",
    "kfree_skb",
    "udp_fail_queue_rcv_skb",
    "sock_rcvqueue_full",
    "irq_handler_entry",
    "irq_handler_exit",
    "sched_wakeup",
    "sched_wakeup_new",
    "sched_switch",
    "netif_receive_skb",
    "sk_data_ready",
    "sock_recv_length",
    "skb_copy_datagram_iovec",
    "consume_skb",
    "sock_send_length",
    "net_dev_queue",
    "net_dev_start_xmit",
    "net_dev_xmit",
];

/// clap value parser: a tracepoint name hbwatch knows.
pub fn parse_probe_name(s: &str) -> Result<String, String> {
    if TRACEPOINTS.contains(&s) {
        Ok(s.to_owned())
    } else {
        Err(format!(
            "unknown tracepoint {s:?}; one of: {}",
            TRACEPOINTS.join(", ")
        ))
    }
}

/// While alive, [`check`] reports the given tracepoints as missing on this thread.
pub struct Scope(());

impl Scope {
    pub fn new(names: &[String]) -> Scope {
        DISABLED.with(|d| *d.borrow_mut() = names.to_vec());
        Scope(())
    }
}

impl Drop for Scope {
    fn drop(&mut self) {
        DISABLED.with(|d| d.borrow_mut().clear());
    }
}

/// `Err` with the reason when `tracepoint` is disabled, as a missing tracepoint would fail.
pub fn check(tracepoint: &str) -> Result<(), ProbeError> {
    let off = DISABLED.with(|d| d.borrow().iter().any(|n| n == tracepoint));
    if off {
        Err(ProbeError::Disabled {
            tracepoint: tracepoint.to_owned(),
        })
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disabled_only_while_the_scope_lives() {
        assert!(check("napi_poll").is_ok());
        {
            let _s = Scope::new(&["napi_poll".to_owned()]);
            let e = check("napi_poll").expect_err("disabled").to_string();
            assert!(
                e.contains("napi_poll") && e.contains("--disable-probe"),
                "{e}"
            );
            assert!(check("kfree_skb").is_ok());
        }
        assert!(check("napi_poll").is_ok());
        assert!(parse_probe_name("napi_poll").is_ok());
        assert!(
            parse_probe_name("nosuch")
                .expect_err("unknown")
                .contains("napi_poll")
        );
    }
}
