//! The packet-path sections of the report (drops, NAPI, hard IRQs, watched ports), as text and
//! as the `packet` object of the JSON report.

use std::io::Write;

use serde::Serialize;

use crate::{
    analysis::{PacketSummary, packet::STAGE_NAMES},
    recording::records::{PortPacketEvent, PortStage},
    units,
};

#[derive(Serialize)]
pub struct PacketJson {
    pub drops_by_reason: Vec<ReasonRow>,
    pub drops: Vec<DropRow>,
    pub port_drops: Vec<PortDropRow>,
    pub udp_queue_failures: Vec<UdpFailRow>,
    pub sock_rcvqueue_full: u64,
    pub napi: Vec<NapiRow>,
    pub hardirq: Vec<IrqRow>,
    pub port_events: Vec<PortEventRow>,
    pub sent: Vec<SentRow>,
}

/// The send side of one watched flow.
#[derive(Serialize)]
pub struct SentRow {
    pub proto: &'static str,
    pub source_port: u16,
    pub destination: String,
    pub sent: u64,
    pub dev_queued: u64,
    pub xmit: u64,
    pub xmit_failed: u64,
    pub devices: Vec<String>,
    pub tx_queues: Vec<i32>,
}

#[derive(Serialize)]
pub struct ReasonRow {
    pub reason: String,
    pub count: u64,
}
#[derive(Serialize)]
pub struct DropRow {
    pub reason: String,
    pub device: String,
    pub rx_queue: Option<u32>,
    pub cpu: u32,
    pub count: u64,
}
#[derive(Serialize)]
pub struct PortDropRow {
    pub proto: &'static str,
    pub port: u16,
    pub reason: String,
    pub count: u64,
}
#[derive(Serialize)]
pub struct UdpFailRow {
    pub port: u16,
    pub rc: i32,
    /// true for -ENOMEM: a full receive buffer (`Udp: RcvbufErrors`).
    pub rcvbuf_full: bool,
    pub count: u64,
}
#[derive(Serialize)]
pub struct NapiRow {
    pub device: String,
    pub napi_id: u32,
    pub cpu: u32,
    pub polls: u64,
    pub packets: u64,
    pub full_budget_polls: u64,
    pub timed_polls: u64,
    pub poll_time_sum_ns: u64,
    pub poll_time_max_ns: Option<u64>,
}
#[derive(Serialize)]
pub struct IrqRow {
    pub irq: u32,
    pub name: Option<String>,
    pub nic: Option<String>,
    pub queue: Option<u32>,
    /// "rx", "tx", "rxtx" or "other" for NIC lines.
    pub role: Option<String>,
    pub cpu: u32,
    pub count: u64,
    pub time_sum_ns: u64,
    pub time_max_ns: Option<u64>,
}
#[derive(Serialize)]
pub struct PortEventRow {
    pub proto: &'static str,
    pub port: u16,
    pub stage: &'static str,
    pub count: u64,
}

fn proto(p: u8) -> &'static str {
    match p {
        17 => "udp",
        6 => "tcp",
        _ => "ip",
    }
}

pub fn json(p: &PacketSummary) -> PacketJson {
    PacketJson {
        drops_by_reason: p
            .drops_by_reason()
            .into_iter()
            .map(|(reason, count)| ReasonRow { reason, count })
            .collect(),
        drops: p
            .drops
            .iter()
            .map(|(&(r, ns, ifx, q, cpu), &count)| DropRow {
                reason: p.reason_name(r),
                device: p.ifname(ifx, ns),
                rx_queue: q,
                cpu,
                count,
            })
            .collect(),
        port_drops: p
            .port_drops
            .iter()
            .map(|(&(pr, port, r), &count)| PortDropRow {
                proto: proto(pr),
                port,
                reason: p.reason_name(r),
                count,
            })
            .collect(),
        udp_queue_failures: p
            .udp_fail
            .iter()
            .map(|(&(port, rc), &count)| UdpFailRow {
                port,
                rc,
                rcvbuf_full: rc == crate::recording::records::UDP_RC_RCVBUF,
                count,
            })
            .collect(),
        sock_rcvqueue_full: p.rcvqueue_full,
        napi: p
            .napi
            .iter()
            .map(|(&(ns, ifx, id, cpu), a)| NapiRow {
                device: p.napi_device(ifx, ns),
                napi_id: id,
                cpu,
                polls: a.polls,
                packets: a.work,
                full_budget_polls: a.full_budget,
                timed_polls: a.timed_polls,
                poll_time_sum_ns: a.time_sum_ns,
                poll_time_max_ns: a.time_max.map(|m| m.value_ns),
            })
            .collect(),
        hardirq: p
            .hardirq
            .iter()
            .map(|(&(irq, cpu), a)| {
                let line = p.irq_line(irq);
                IrqRow {
                    irq,
                    name: line.map(|l| l.name.clone()),
                    nic: line.and_then(|l| l.nic.clone()),
                    queue: line.and_then(|l| l.queue),
                    role: line.and_then(|l| l.role.clone()),
                    cpu,
                    count: a.count,
                    time_sum_ns: a.time_sum_ns,
                    time_max_ns: a.time_max.map(|m| m.value_ns),
                }
            })
            .collect(),
        port_events: p
            .port_events
            .iter()
            .map(|(&(pr, port, st), &count)| PortEventRow {
                proto: proto(pr),
                port,
                stage: STAGE_NAMES.get(st as usize).copied().unwrap_or("?"),
                count,
            })
            .collect(),
        sent: p
            .sent
            .iter()
            .map(|((pr, port, dst), a)| SentRow {
                proto: proto(*pr),
                source_port: *port,
                destination: dst.clone(),
                sent: a.sent,
                dev_queued: a.dev_queued,
                xmit: a.xmit,
                xmit_failed: a.xmit_failed,
                devices: a.devices.iter().map(|&(ns, i)| p.ifname(i, ns)).collect(),
                tx_queues: a.tx_queues.iter().copied().collect(),
            })
            .collect(),
    }
}

fn avg(sum: u64, n: u64) -> String {
    sum.checked_div(n).map_or_else(|| "-".to_owned(), units::ns)
}

/// "dropped at +12.3s (2026-…) from 10.0.0.2:5405: NETFILTER_DROP" for one watched-port drop;
/// `at` turns a monotonic instant into that "+offset (wall clock)" text.
pub fn port_drop_line(
    p: &PacketSummary,
    e: &PortPacketEvent,
    at: &dyn Fn(u64) -> String,
) -> String {
    let (what, why) = match e.stage {
        PortStage::Dropped => ("dropped", p.reason_name(e.code as u32)),
        _ => ("refused by the UDP socket", errno_text(e.code)),
    };
    format!(
        "{what} at {} from {}: {why}",
        at(e.mono_ns),
        e.peer.as_deref().unwrap_or("?")
    )
}

/// "ENOMEM (receive buffer full)" for rc -12; the errno name of any other negative rc.
pub fn errno_text(rc: i32) -> String {
    let name = format!("{:?}", nix::errno::Errno::from_raw(rc.saturating_neg()));
    let name = if name == "UnknownErrno" {
        format!("rc {rc}")
    } else {
        name
    };
    if rc == crate::recording::records::UDP_RC_RCVBUF {
        format!("{name} (receive buffer full)")
    } else {
        name
    }
}

/// The packet sections; `at` shows a monotonic instant as "+12.3s (wall clock)".
pub fn render(
    p: &PacketSummary,
    at: &dyn Fn(u64) -> String,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    writeln!(out)?;
    let reasons = p.drops_by_reason();
    if reasons.is_empty() {
        writeln!(out, "Packet drops: none")?;
    } else {
        writeln!(out, "Packet drops by reason")?;
        for (r, n) in &reasons {
            writeln!(out, "  {r:<28} {:>10}", units::count(*n))?;
        }
        writeln!(
            out,
            "By device, RX queue and CPU (device \"-\": none, or over the per-tick detail budget)"
        )?;
        for (&(r, ns, ifx, q, cpu), &n) in &p.drops {
            let q = q.map_or_else(|| "-".to_owned(), |q| q.to_string());
            writeln!(
                out,
                "  {:<28} {:<24} rxq {q:>3} cpu {cpu:>3} {:>10}",
                p.reason_name(r),
                p.ifname(ifx, ns),
                units::count(n)
            )?;
        }
    }
    for (&(pr, port, r), &n) in &p.port_drops {
        writeln!(
            out,
            "  {}:{port:<6} {:<28} {:>10}",
            proto(pr),
            p.reason_name(r),
            units::count(n)
        )?;
    }
    for (&(port, rc), &n) in &p.udp_fail {
        writeln!(
            out,
            "  udp:{port:<6} refused: {:<28} {:>10}",
            errno_text(rc),
            units::count(n)
        )?;
    }
    if p.rcvqueue_full > 0 {
        writeln!(
            out,
            "  sock_rcvqueue_full: {}",
            units::count(p.rcvqueue_full)
        )?;
    }
    if !p.napi.is_empty() {
        writeln!(out)?;
        writeln!(out, "NAPI polls (ranked by poll time)")?;
        writeln!(
            out,
            "device     napi   cpu      polls    packets  full-budget  avg poll   max poll   total"
        )?;
        let mut rows: Vec<_> = p.napi.iter().collect();
        rows.sort_by_key(|r| std::cmp::Reverse(r.1.time_sum_ns));
        for (&(ns, ifx, id, cpu), a) in rows {
            let dev = p.napi_device(ifx, ns);
            writeln!(
                out,
                "{dev:<10} {id:>5} {cpu:>5} {:>10} {:>10} {:>12} {:>9} {:>10} {:>7}",
                units::count(a.polls),
                units::count(a.work),
                units::count(a.full_budget),
                avg(a.time_sum_ns, a.timed_polls),
                a.time_max
                    .map_or_else(|| "-".to_owned(), |m| units::ns(m.value_ns)),
                units::ns(a.time_sum_ns),
            )?;
        }
    }
    if !p.hardirq.is_empty() {
        writeln!(out)?;
        writeln!(out, "Hard IRQ handlers (ranked by total time)")?;
        let mut rows: Vec<_> = p.hardirq.iter().collect();
        rows.sort_by_key(|r| std::cmp::Reverse(r.1.time_sum_ns));
        for (&(irq, cpu), a) in rows.into_iter().take(20) {
            let line = p.irq_line(irq);
            let name = line.map_or("?", |l| l.name.as_str());
            // Only lines that serve an interface are labelled (see collectors::irq_names).
            let nic = match line.and_then(|l| l.nic.as_deref()) {
                Some(n) => format!(
                    " [{n}{}{}]",
                    line.and_then(|l| l.queue)
                        .map_or(String::new(), |q| format!(" q{q}")),
                    line.and_then(|l| l.role.as_deref())
                        .map_or(String::new(), |r| format!(" {r}"))
                ),
                None => String::new(),
            };
            writeln!(
                out,
                "  irq {irq:>4} cpu {cpu:>3} {name:<24}{nic} count {:>9} avg {:>8} max {:>8} total {:>8}",
                units::count(a.count),
                avg(a.time_sum_ns, a.count),
                a.time_max
                    .map_or_else(|| "-".to_owned(), |m| units::ns(m.value_ns)),
                units::ns(a.time_sum_ns)
            )?;
        }
    }
    if !p.port_events.is_empty() {
        writeln!(out)?;
        writeln!(out, "Watched ports (packet events)")?;
        for (&(pr, port, st), &n) in &p.port_events {
            let stage = STAGE_NAMES.get(st as usize).copied().unwrap_or("?");
            writeln!(
                out,
                "  {}:{port:<6} {stage:<13} {:>10}",
                proto(pr),
                units::count(n)
            )?;
        }
        for e in &p.recent_port_drops {
            writeln!(out, "  {}", port_drop_line(p, e, at))?;
        }
    }
    if !p.sent.is_empty() {
        writeln!(out)?;
        writeln!(
            out,
            "Watched flows sent from this host (application → qdisc → driver; drops on the way out are above, by reason)"
        )?;
        for ((pr, port, dst), a) in &p.sent {
            let devs: Vec<String> = a.devices.iter().map(|&(ns, i)| p.ifname(i, ns)).collect();
            let queues: Vec<String> = a.tx_queues.iter().map(|q| q.to_string()).collect();
            writeln!(
                out,
                "  {}:{port:<6} → {dst:<22} sent {:>8} queued {:>8} to driver {:>8} driver refused {:>6}  {} tx queue {}",
                proto(*pr),
                units::count(a.sent),
                units::count(a.dev_queued),
                units::count(a.xmit),
                units::count(a.xmit_failed),
                if devs.is_empty() {
                    "-".to_owned()
                } else {
                    devs.join(",")
                },
                if queues.is_empty() {
                    "-".to_owned()
                } else {
                    queues.join(",")
                },
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(stage: PortStage, code: i32) -> PortPacketEvent {
        PortPacketEvent {
            mono_ns: 1_000_512_300_000_000,
            stage,
            cpu: 0,
            proto: 17,
            local_port: 5405,
            peer: Some("10.0.0.2:5405".into()),
            ifindex: 0,
            netns: 0,
            len: 0,
            code,
        }
    }

    #[test]
    fn port_drops_show_offset_wall_clock_and_errno_name() {
        let mut p = PacketSummary::default();
        p.tables.drop_reasons.push((3, "NO_SOCKET".into()));
        let at = |t: u64| format!("+{:.1}s (wall)", (t - 1_000_500_000_000_000) as f64 / 1e9);
        let line = port_drop_line(&p, &event(PortStage::QueueFailed, -12), &at);
        assert_eq!(
            line,
            "refused by the UDP socket at +12.3s (wall) from 10.0.0.2:5405: ENOMEM (receive buffer full)"
        );
        let line = port_drop_line(&p, &event(PortStage::Dropped, 3), &at);
        assert!(line.ends_with(": NO_SOCKET"), "{line}");
        assert_eq!(errno_text(-105), "ENOBUFS");
        assert_eq!(errno_text(-4242), "rc -4242");
    }
}
