//! The timeline picture (SVG, drawn with plotters): heartbeat arrivals and gaps on top, NET_RX
//! wait p99 per CPU and drops per second below, one shared time axis, gaps shaded across all
//! panels, onset and detection marked, each panel's legend in a column beside it.

use std::io::Write;

use plotters::{coord::Shift, prelude::*};

use super::{ExportInput, series};

const WIDTH: u32 = 1400;
const HEIGHT: u32 = 900;
/// Right-hand column of every panel that holds its legend, outside the plot.
pub const LEGEND_WIDTH: u32 = 190;
/// A gap is drawn at least this wide, so a 50 ms gap still shows in an hour-long window.
pub const MIN_GAP_PX: f64 = 6.0;
/// Outline of a gap's span, so a narrow one stands out from the lines drawn over it.
const GAP_EDGE: RGBColor = RGBColor(230, 140, 140);
const GAP_FILL: RGBColor = RGBColor(255, 214, 214);
const ONSET: RGBColor = RGBColor(230, 120, 0);
const DETECTED: RGBColor = RGBColor(200, 0, 0);

#[derive(Debug, thiserror::Error)]
#[error("drawing the timeline: {0}")]
pub struct TimelineError(String);

impl From<String> for TimelineError {
    fn from(s: String) -> Self {
        TimelineError(s)
    }
}

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

type Area<'b> = DrawingArea<SVGBackend<'b>, Shift>;

fn chart<'a, 'b>(
    area: &'a Area<'b>,
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

/// How a legend entry is drawn: like the series it names.
#[derive(Clone, Copy)]
enum Swatch {
    Dot,
    Line,
    Block,
}

/// Legend entries in the column beside the plot, so they never cover data.
fn legend(side: &Area<'_>, entries: &[(String, RGBAColor, Swatch)]) -> Result<(), TimelineError> {
    let font = ("sans-serif", 13).into_font().color(&BLACK);
    let (_, h) = side.dim_in_pixel();
    let rows = ((h as i32 - 40) / 18).max(1) as usize;
    for (i, (label, color, swatch)) in entries.iter().take(rows).enumerate() {
        let y = 40 + i as i32 * 18;
        match swatch {
            Swatch::Dot => side.draw(&Circle::new((12, y), 4, color.filled())),
            Swatch::Line => side.draw(&PathElement::new([(4, y), (20, y)], color.stroke_width(2))),
            Swatch::Block => side.draw(&Rectangle::new([(4, y - 6), (20, y + 6)], color.filled())),
        }
        .map_err(err)?;
        side.draw_text(label, &font, (26, y - 7)).map_err(err)?;
    }
    if entries.len() > rows {
        side.draw_text(
            &format!("… {} more", entries.len() - rows),
            &font,
            (26, 40 + rows as i32 * 18 - 7),
        )
        .map_err(err)?;
    }
    Ok(())
}

/// The unit a time axis reads in: µs, ms or s, whichever keeps `max_ns` below 1000 of it.
pub fn time_unit(max_ns: f64) -> (f64, &'static str) {
    if max_ns < 1e6 {
        (1e3, "µs")
    } else if max_ns < 1e9 {
        (1e6, "ms")
    } else {
        (1e9, "s")
    }
}

/// Step lines of `(start_s, end_s, value)` intervals, broken where an interval does not start
/// where the previous one ended: an empty second is a hole, not a slope across it.
pub fn step_segments(steps: &[(f64, f64, f64)]) -> Vec<Vec<(f64, f64)>> {
    let mut out: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut last_end: Option<f64> = None;
    for &(x0, x1, v) in steps {
        let joined = last_end.is_some_and(|e| (x0 - e).abs() < 1e-6);
        if !joined {
            out.push(Vec::new());
        }
        if let Some(seg) = out.last_mut() {
            seg.push((x0, v));
            seg.push((x1, v));
        }
        last_end = Some(x1);
    }
    out
}

/// `[x0, x1]` of a gap in seconds, cut to the window and widened to [`MIN_GAP_PX`] pixels of a
/// plot `plot_px` wide.
pub fn gap_span(x0: f64, x1: f64, span: f64, plot_px: f64) -> (f64, f64) {
    let (a, b) = (x0.clamp(0.0, span), x1.clamp(0.0, span));
    let min = span * MIN_GAP_PX / plot_px.max(1.0);
    if b - a >= min {
        return (a, b);
    }
    let mid = (a + b) / 2.0;
    let a = (mid - min / 2.0).clamp(0.0, (span - min).max(0.0));
    (a, a + min)
}

/// Gap shading and onset/detection lines, drawn first so data stays on top.
fn shade_gaps(input: &ExportInput, c: &mut Chart<'_, '_>, y_max: f64) -> Result<(), TimelineError> {
    let span = c.x_range().end;
    let plot_px = c.plotting_area().dim_in_pixel().0 as f64;
    for g in &input.gaps {
        let (x0, x1) = gap_span(
            input.offset_s(g.last_arrival_mono_ns),
            input.offset_s(g.end_mono_ns(input.window.end_mono_ns)),
            span,
            plot_px,
        );
        c.draw_series([
            Rectangle::new([(x0, 0.0), (x1, y_max)], GAP_FILL.filled()),
            Rectangle::new([(x0, 0.0), (x1, y_max)], GAP_EDGE.stroke_width(1)),
        ])
        .map_err(err)?;
        // Thin marks on a narrow span, so they do not hide it.
        let narrow = (x1 - x0) * plot_px / span.max(1e-9) < 4.0 * MIN_GAP_PX;
        let width = if narrow { 1 } else { 2 };
        for (t, color) in [(g.onset_mono_ns, ONSET), (g.detected_mono_ns, DETECTED)] {
            if let Some(t) = t {
                let x = input.offset_s(t);
                if !(0.0..=span).contains(&x) {
                    continue;
                }
                c.draw_series(LineSeries::new(
                    [(x, 0.0), (x, y_max)],
                    color.stroke_width(width),
                ))
                .map_err(err)?;
            }
        }
    }
    Ok(())
}

fn note(area: &Area<'_>, text: &str) -> Result<(), TimelineError> {
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

/// A panel's plot and, beside it, its legend column.
fn panel<'b>(area: &Area<'b>) -> (Area<'b>, Area<'b>) {
    let (w, _) = area.dim_in_pixel();
    area.split_horizontally(w.saturating_sub(LEGEND_WIDTH))
}

fn heartbeats(input: &ExportInput, area: &Area<'_>, span: f64) -> Result<(), TimelineError> {
    let (plot, side) = panel(area);
    let n = input.heartbeats.len().max(1) as f64;
    let mut c = chart(
        &plot,
        "Heartbeat arrivals (one row per source); gaps shaded, onset orange, detection red",
        span,
        n,
        "source",
        0,
    )?;
    shade_gaps(input, &mut c, n)?;
    let mut entries = Vec::new();
    for (i, h) in input.heartbeats.iter().enumerate() {
        let y = i as f64 + 0.5;
        let color = Palette99::pick(i).to_rgba();
        c.draw_series(
            h.arrivals_mono_ns
                .iter()
                .map(|&t| Circle::new((input.offset_s(t), y), 3, color.filled())),
        )
        .map_err(err)?;
        entries.push((h.source.clone(), color, Swatch::Dot));
    }
    if input.heartbeats.is_empty() {
        note(&plot, "no heartbeat sources in this recording")?;
    }
    if !input.gaps.is_empty() {
        entries.push(("gap (silence)".into(), GAP_FILL.to_rgba(), Swatch::Block));
        entries.push(("onset".into(), ONSET.to_rgba(), Swatch::Line));
        entries.push(("detected".into(), DETECTED.to_rgba(), Swatch::Line));
    }
    legend(&side, &entries)
}

fn net_rx(input: &ExportInput, area: &Area<'_>, span: f64) -> Result<(), TimelineError> {
    let (plot, side) = panel(area);
    let rows = series::seconds(input);
    let mut steps: std::collections::BTreeMap<u32, Vec<(f64, f64, f64)>> = Default::default();
    for s in &rows {
        for cell in s.softirq.iter().filter(|c| c.vector == "NET_RX") {
            // A value holds for its whole interval: draw steps, not slopes.
            steps.entry(cell.cpu).or_default().push((
                s.t_s,
                input.offset_s(s.end_mono_ns),
                cell.wait_p99_ns as f64,
            ));
        }
    }
    let max_ns = steps.values().flatten().map(|p| p.2).fold(0.0f64, f64::max);
    let (div, unit) = time_unit(max_ns);
    let y_max = (max_ns / div).max(1.0) * 1.1;
    let mut c = chart(
        &plot,
        &format!("NET_RX softirq wait p99 per CPU ({unit})"),
        span,
        y_max,
        unit,
        8,
    )?;
    shade_gaps(input, &mut c, y_max)?;
    let mut entries = Vec::new();
    for (i, (cpu, pts)) in steps.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let scaled: Vec<(f64, f64, f64)> = pts.iter().map(|&(a, b, v)| (a, b, v / div)).collect();
        for seg in step_segments(&scaled) {
            c.draw_series(LineSeries::new(seg, color.stroke_width(2)))
                .map_err(err)?;
        }
        entries.push((format!("CPU {cpu}"), color, Swatch::Line));
    }
    if steps.is_empty() {
        note(&plot, "no NET_RX softirqs in this window")?;
    }
    legend(&side, &entries)
}

fn drops(input: &ExportInput, area: &Area<'_>, span: f64) -> Result<(), TimelineError> {
    let (plot, side) = panel(area);
    let steps: Vec<(f64, f64, f64)> = input
        .drops
        .iter()
        .map(|d| {
            let x = input.offset_s(d.start_mono_ns);
            (x, x + 1.0, d.total as f64)
        })
        .collect();
    let y_max = steps.iter().map(|p| p.2).fold(1.0f64, f64::max) * 1.1;
    let mut c = chart(&plot, "Packet drops per second", span, y_max, "drops/s", 8)?;
    shade_gaps(input, &mut c, y_max)?;
    if steps.is_empty() {
        note(&plot, "no drop analysis in this recording")?;
        return Ok(());
    }
    for seg in step_segments(&steps) {
        c.draw_series(LineSeries::new(seg, RED.stroke_width(2)))
            .map_err(err)?;
    }
    legend(&side, &[("drops".into(), RED.to_rgba(), Swatch::Line)])
}
