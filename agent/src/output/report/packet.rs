//! The packet-path sections of the report (drops, NAPI, hard IRQs, watched ports), as text and
//! as the `packet` object of the JSON report.

use std::io::Write;

use serde::Serialize;

use crate::{
    analysis::{PacketSummary, packet::STAGE_NAMES},
    output::units,
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
    }
}

fn avg(sum: u64, n: u64) -> String {
    sum.checked_div(n).map_or_else(|| "-".to_owned(), units::ns)
}

pub fn render(p: &PacketSummary, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(out)?;
    let reasons = p.drops_by_reason();
    if reasons.is_empty() {
        writeln!(out, "Packet drops: none")?;
    } else {
        writeln!(out, "Packet drops by reason")?;
        for (r, n) in &reasons {
            writeln!(out, "  {r:<28} {:>10}", units::count(*n))?;
        }
        writeln!(out, "By device, RX queue and CPU")?;
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
        let what = if rc == crate::recording::records::UDP_RC_RCVBUF {
            "receive buffer full"
        } else {
            "queueing failed"
        };
        writeln!(
            out,
            "  udp:{port:<6} {what} (rc {rc}) {:>10}",
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
            let nic = match line.and_then(|l| l.nic.as_deref()) {
                Some(n) => format!(
                    " [{n} q{}]",
                    line.and_then(|l| l.queue)
                        .map_or("-".into(), |q| q.to_string())
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
            writeln!(
                out,
                "  {:?} at mono {} from {} code {} ({})",
                e.stage,
                e.mono_ns,
                e.peer.as_deref().unwrap_or("?"),
                e.code,
                if e.stage == crate::recording::records::PortStage::Dropped {
                    p.reason_name(e.code as u32)
                } else {
                    "udp rc".to_owned()
                }
            )?;
        }
    }
    Ok(())
}
