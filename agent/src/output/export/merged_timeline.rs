//! The timeline of several hosts' recordings on one time axis (host 0's clock, aligned as the
//! merged report says): per paired flow, the sender's packets as they left and the receiver's as
//! its device saw them, lost ones in the colour of their leg, each receiver gap shaded in its
//! leg's colour across both lanes. Renders [`Merged`]; computes nothing.

use std::io::Write;

use plotters::prelude::*;

use super::timeline::{LEGEND_WIDTH, MIN_GAP_PX, TimelineError, gap_span, time_unit};
use crate::analysis::merge::{Leg, Merged};

const WIDTH: u32 = 1400;
/// Height per flow panel.
const PANEL: u32 = 220;

fn leg_color(l: Leg) -> RGBColor {
    match l {
        Leg::NotSent => RGBColor(150, 80, 200),
        Leg::SenderStack | Leg::SenderDriver => RGBColor(230, 120, 0),
        Leg::BetweenHosts => RGBColor(200, 0, 0),
        Leg::ReceiverDrop => RGBColor(0, 120, 200),
        Leg::ReceiverSoftirq => RGBColor(0, 160, 120),
        Leg::ReceiverApp => RGBColor(120, 120, 0),
        Leg::Unknown => RGBColor(120, 120, 120),
    }
}

fn err<E: std::fmt::Debug>(e: E) -> TimelineError {
    TimelineError::from(format!("{e:?}"))
}

pub fn write_svg(m: &Merged, mut w: impl Write) -> Result<(), TimelineError> {
    let panels = m.flows.len().max(1) as u32;
    let height = 60 + panels * PANEL;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let (head, body) = root.split_vertically(60);
        let hosts: Vec<String> = m
            .hosts
            .iter()
            .enumerate()
            .map(|(i, h)| format!("[{}] {}", i + 1, h.label))
            .collect();
        head.draw_text(
            &format!(
                "hbwatch merged timeline · {} · times on [1]'s clock",
                hosts.join(", ")
            ),
            &("sans-serif", 18).into_font().color(&BLACK),
            (10, 15),
        )
        .map_err(err)?;
        if m.flows.is_empty() {
            body.draw_text(
                "no heartbeat flow paired between these recordings (watch the heartbeat port on both ends)",
                &("sans-serif", 15).into_font().color(&BLACK),
                (20, 40),
            )
            .map_err(err)?;
        }
        let t0 = m.ref_start_mono_ns as i64;
        let end = m
            .packets
            .iter()
            .map(|p| p.seen_ref_ns.unwrap_or(p.sent_ref_ns))
            .chain(
                m.findings
                    .iter()
                    .map(|f| f.start_ref_ns + f.length_ns as i64),
            )
            .max()
            .unwrap_or(t0 + 1_000_000_000);
        let span_ns = (end - t0).max(1_000_000) as f64;
        let (div, unit) = time_unit(span_ns);
        let span = span_ns / div;
        let x = |ref_ns: i64| (ref_ns - t0) as f64 / div;
        for (fi, (flow, area)) in m
            .flows
            .iter()
            .zip(body.split_evenly((panels as usize, 1)))
            .enumerate()
        {
            let (plot, side) = area.split_horizontally(WIDTH - LEGEND_WIDTH);
            let mut c = ChartBuilder::on(&plot)
                .caption(
                    format!(
                        "{} {} → {}: sent {}, reached {}",
                        flow.proto, flow.source, flow.destination, flow.sent, flow.delivered
                    ),
                    ("sans-serif", 15),
                )
                .margin(8)
                .x_label_area_size(30)
                .y_label_area_size(120)
                .build_cartesian_2d(0f64..span, -0.5f64..1.5f64)
                .map_err(err)?;
            let sender = format!("[{}] sent", flow.sender + 1);
            let receiver = format!("[{}] seen", flow.receiver + 1);
            c.configure_mesh()
                .x_desc(format!("{unit} from [1]'s start"))
                .y_labels(2)
                .y_label_formatter(&|y| {
                    if *y > 0.5 {
                        sender.clone()
                    } else {
                        receiver.clone()
                    }
                })
                .light_line_style(WHITE.mix(0.0))
                .draw()
                .map_err(err)?;
            let px = (WIDTH - LEGEND_WIDTH - 140) as f64;
            for f in m
                .findings
                .iter()
                .filter(|f| f.receiver == flow.receiver && f.peer.as_deref() == Some(&flow.source))
            {
                let (a, b) = gap_span(
                    x(f.start_ref_ns),
                    x(f.start_ref_ns + f.length_ns as i64),
                    span,
                    px,
                );
                c.draw_series([Rectangle::new(
                    [(a, -0.45), (b.max(a + span * MIN_GAP_PX / px), 1.45)],
                    leg_color(f.leg).mix(0.25).filled(),
                )])
                .map_err(err)?;
            }
            let marks = m.packets.iter().filter(|p| p.flow == fi);
            c.draw_series(marks.clone().map(|p| {
                let color = p.lost.map_or(RGBColor(90, 90, 90), leg_color);
                Circle::new((x(p.sent_ref_ns), 1.0), 2, color.filled())
            }))
            .map_err(err)?;
            c.draw_series(
                marks
                    .filter_map(|p| p.seen_ref_ns)
                    .map(|t| Circle::new((x(t), 0.0), 2, RGBColor(90, 90, 90).filled())),
            )
            .map_err(err)?;
            let font = ("sans-serif", 13).into_font().color(&BLACK);
            for (i, l) in [
                Leg::NotSent,
                Leg::SenderStack,
                Leg::BetweenHosts,
                Leg::ReceiverDrop,
                Leg::ReceiverSoftirq,
                Leg::ReceiverApp,
            ]
            .into_iter()
            .enumerate()
            {
                let y = 40 + i as i32 * 18;
                side.draw(&Rectangle::new(
                    [(4, y - 6), (20, y + 6)],
                    leg_color(l).mix(0.5).filled(),
                ))
                .map_err(err)?;
                side.draw_text(l.as_str(), &font, (26, y - 7))
                    .map_err(err)?;
            }
        }
        root.present().map_err(err)?;
    }
    w.write_all(svg.as_bytes()).map_err(err)
}
