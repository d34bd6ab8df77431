//! The timeline picture (SVG, drawn with plotters): heartbeat arrivals and gaps on top, NET_RX
//! wait p99 per CPU and drops per second below, one shared time axis, gaps shaded across all
//! panels, onset and detection marked.

use std::io::Write;

use plotters::{coord::Shift, prelude::*};

use super::{ExportInput, series};

const WIDTH: u32 = 1400;
const HEIGHT: u32 = 900;
const GAP_FILL: RGBColor = RGBColor(255, 214, 214);
const ONSET: RGBColor = RGBColor(230, 120, 0);
const DETECTED: RGBColor = RGBColor(200, 0, 0);

#[derive(Debug, thiserror::Error)]
#[error("drawing the timeline: {0}")]
pub struct TimelineError(String);

fn err<E: std::fmt::Debug>(e: E) -> TimelineError {
    TimelineError(format!("{e:?}"))
}

/// Writes the SVG. Empty panels say what is missing instead of staying blank.
pub fn write_svg(input: &ExportInput, mut w: impl Write) -> Result<(), TimelineError> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        draw(input, &root)?;
        root.present().map_err(err)?;
    }
    w.write_all(svg.as_bytes()).map_err(err)
}

fn draw(
    input: &ExportInput,
    root: &DrawingArea<SVGBackend<'_>, Shift>,
) -> Result<(), TimelineError> {
    root.fill(&WHITE).map_err(err)?;
    let (head, body) = root.split_vertically(50);
    head.draw_text(
        &format!("hbwatch timeline · {}", input.title_context()),
        &("sans-serif", 18).into_font().color(&BLACK),
        (10, 15),
    )
    .map_err(err)?;
    let panels = body.split_evenly((3, 1));
    let span = (input.window.duration_ns() as f64 / 1e9).max(1e-3);
    heartbeats(input, &panels[0], span)?;
    net_rx(input, &panels[1], span)?;
    drops(input, &panels[2], span)?;
    Ok(())
}

type Chart<'a, 'b> = ChartContext<
    'a,
    SVGBackend<'b>,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

fn chart<'a, 'b>(
    area: &'a DrawingArea<SVGBackend<'b>, Shift>,
    caption: &str,
    span: f64,
    y_max: f64,
    y_desc: &str,
    y_labels: usize,
) -> Result<Chart<'a, 'b>, TimelineError> {
    let mut c = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 15))
        .margin(8)
        .margin_right(24)
        .x_label_area_size(30)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..span, 0f64..y_max)
        .map_err(err)?;
    c.configure_mesh()
        .x_desc("seconds from window start")
        .y_desc(y_desc)
        .y_labels(y_labels)
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(err)?;
    Ok(c)
}

/// Gap shading and onset/detection lines, drawn first so data stays on top.
fn shade_gaps(input: &ExportInput, c: &mut Chart<'_, '_>, y_max: f64) -> Result<(), TimelineError> {
    for g in &input.gaps {
        let x0 = input.offset_s(g.last_arrival_mono_ns);
        let x1 = input.offset_s(g.end_mono_ns(input.window.end_mono_ns));
        c.draw_series(std::iter::once(Rectangle::new(
            [(x0, 0.0), (x1, y_max)],
            GAP_FILL.filled(),
        )))
        .map_err(err)?;
        for (t, color) in [(g.onset_mono_ns, ONSET), (g.detected_mono_ns, DETECTED)] {
            if let Some(t) = t {
                let x = input.offset_s(t);
                c.draw_series(LineSeries::new(
                    [(x, 0.0), (x, y_max)],
                    color.stroke_width(2),
                ))
                .map_err(err)?;
            }
        }
    }
    Ok(())
}

fn note(area: &DrawingArea<SVGBackend<'_>, Shift>, text: &str) -> Result<(), TimelineError> {
    let (w, h) = area.dim_in_pixel();
    area.draw_text(
        text,
        &("sans-serif", 14)
            .into_font()
            .color(&RGBColor(120, 120, 120)),
        (w as i32 / 3, h as i32 / 2),
    )
    .map_err(err)
}

fn heartbeats(
    input: &ExportInput,
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    span: f64,
) -> Result<(), TimelineError> {
    let n = input.heartbeats.len().max(1) as f64;
    let mut c = chart(
        area,
        "Heartbeat arrivals (one row per source); gaps shaded, onset orange, detection red",
        span,
        n,
        "source",
        0,
    )?;
    shade_gaps(input, &mut c, n)?;
    for (i, h) in input.heartbeats.iter().enumerate() {
        let y = i as f64 + 0.5;
        let color = Palette99::pick(i).to_rgba();
        c.draw_series(
            h.arrivals_mono_ns
                .iter()
                .map(|&t| Circle::new((input.offset_s(t), y), 3, color.filled())),
        )
        .map_err(err)?
        .label(h.source.clone())
        .legend(move |(x, y)| Circle::new((x + 8, y), 4, color.filled()));
    }
    if input.heartbeats.is_empty() {
        note(area, "no heartbeat sources in this recording")?;
    } else {
        c.configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(err)?;
    }
    Ok(())
}

fn net_rx(
    input: &ExportInput,
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    span: f64,
) -> Result<(), TimelineError> {
    let rows = series::seconds(input);
    let mut lines: std::collections::BTreeMap<u32, Vec<(f64, f64)>> = Default::default();
    for s in &rows {
        for cell in s.softirq.iter().filter(|c| c.vector == "NET_RX") {
            // A value holds for its whole interval: draw steps, not slopes.
            let v = cell.wait_p99_ns as f64 / 1e3;
            let line = lines.entry(cell.cpu).or_default();
            line.push((s.t_s, v));
            line.push((input.offset_s(s.end_mono_ns), v));
        }
    }
    let y_max = lines.values().flatten().map(|p| p.1).fold(1.0f64, f64::max) * 1.1;
    let mut c = chart(
        area,
        "NET_RX softirq wait p99 per CPU (µs)",
        span,
        y_max,
        "µs",
        8,
    )?;
    shade_gaps(input, &mut c, y_max)?;
    for (i, (cpu, pts)) in lines.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        c.draw_series(LineSeries::new(pts.iter().copied(), color.stroke_width(2)))
            .map_err(err)?
            .label(format!("CPU {cpu}"))
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], color.stroke_width(2)));
    }
    if lines.is_empty() {
        note(area, "no NET_RX softirqs in this window")?;
    } else {
        c.configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(err)?;
    }
    Ok(())
}

fn drops(
    input: &ExportInput,
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    span: f64,
) -> Result<(), TimelineError> {
    let pts: Vec<(f64, f64)> = input
        .drops
        .iter()
        .flat_map(|d| {
            let (x, v) = (input.offset_s(d.start_mono_ns), d.total as f64);
            [(x, v), (x + 1.0, v)]
        })
        .collect();
    let y_max = pts.iter().map(|p| p.1).fold(1.0f64, f64::max) * 1.1;
    let mut c = chart(area, "Packet drops per second", span, y_max, "drops/s", 8)?;
    shade_gaps(input, &mut c, y_max)?;
    if pts.is_empty() {
        note(area, "no drop analysis in this recording")?;
    } else {
        c.draw_series(LineSeries::new(pts, RED.stroke_width(2)))
            .map_err(err)?;
    }
    Ok(())
}
