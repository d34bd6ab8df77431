//! Draws one frame from a [`LiveState`] and the UI state: layout, header, verdict line, footer
//! and help. Reads only; no I/O, no locks, nothing computed beyond layout.

use ratatui::{
    Frame,
    layout::{Constraint, Layout, Rect},
    style::{Color, Modifier, Style},
    text::{Line, Span},
    widgets::{Block, Clear, Paragraph, Wrap},
};

use super::{
    app::{Panel, UiState},
    panels,
    state::{LiveState, Severity},
};
use crate::{recording::records::CollectorState, units};

/// Below this the view shows only a note asking for a bigger terminal.
pub const MIN_WIDTH: u16 = 40;
pub const MIN_HEIGHT: u16 = 8;
/// From this width the sparklines sit beside the softirq figures instead of under them.
const WIDE: u16 = 110;

pub const WARN: Color = Color::Yellow;
pub const BAD: Color = Color::Red;
pub const GOOD: Color = Color::Green;
pub const DIM: Color = Color::DarkGray;

pub fn draw(f: &mut Frame, s: &LiveState, ui: &UiState) {
    let area = f.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        too_small(f, area);
        return;
    }
    let header_h = if area.height >= 20 { 2 } else { 1 };
    let [header, body, verdict, footer] = Layout::vertical([
        Constraint::Length(header_h),
        Constraint::Min(0),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area);
    draw_header(f, header, s, ui);
    let hidden = draw_body(f, body, s, ui);
    draw_verdict(f, verdict, s);
    draw_footer(f, footer, ui, &hidden);
    if ui.help {
        draw_help(f, area);
    }
}

/// Lays the panels out; returns the panels that did not fit.
fn draw_body(f: &mut Frame, body: Rect, s: &LiveState, ui: &UiState) -> Vec<Panel> {
    let wide = body.width >= WIDE;
    if ui.expanded {
        panels::draw_panel(f, body, s, ui.focus, true, true, wide, true);
        return Vec::new();
    }
    let ncpu = s.softirq.cpus.len().max(1) as u16;
    let lanes_h = s.lanes.len().max(1) as u16 + 2;
    // Border, column headings, one row per CPU, and (when narrow) one sparkline row per CPU.
    let soft_compact = 3 + ncpu;
    let soft_full = if wide { soft_compact } else { 3 + 2 * ncpu };
    const DROPS_MIN: u16 = 6;
    let h = body.height;
    let (lanes, soft, drops, sparks) = if h >= lanes_h + soft_full + DROPS_MIN {
        (lanes_h, soft_full, h - lanes_h - soft_full, true)
    } else if h >= lanes_h + soft_compact + DROPS_MIN {
        (lanes_h, soft_compact, h - lanes_h - soft_compact, false)
    } else if h >= lanes_h + soft_full {
        (lanes_h, h - lanes_h, 0, true)
    } else if h >= lanes_h + soft_compact {
        (lanes_h, h - lanes_h, 0, false)
    } else {
        let lanes = lanes_h.min((h / 2).max(3)).min(h);
        (lanes, h - lanes, 0, false)
    };
    let [a, b, c] = Layout::vertical([
        Constraint::Length(lanes),
        Constraint::Length(soft),
        Constraint::Length(drops),
    ])
    .areas(body);
    let mut hidden = Vec::new();
    for (panel, rect) in [(Panel::Lanes, a), (Panel::Softirq, b), (Panel::Drops, c)] {
        if rect.height < 3 {
            hidden.push(panel);
            continue;
        }
        panels::draw_panel(f, rect, s, panel, ui.focus == panel, false, wide, sparks);
    }
    hidden
}

fn too_small(f: &mut Frame, area: Rect) {
    let text = format!(
        "hbwatch live: the terminal is {}×{}; it needs at least {MIN_WIDTH}×{MIN_HEIGHT}. Recording continues. q quits.",
        area.width, area.height
    );
    f.render_widget(
        Paragraph::new(text)
            .style(Style::new().fg(WARN))
            .wrap(Wrap { trim: true }),
        area,
    );
}

fn sep() -> Span<'static> {
    Span::styled(" │ ", Style::new().fg(DIM))
}

fn draw_header(f: &mut Frame, area: Rect, s: &LiveState, ui: &UiState) {
    let h = &s.header;
    let bold = Style::new().add_modifier(Modifier::BOLD);
    let mut first = vec![
        Span::styled(" hbwatch live", bold.fg(Color::Cyan)),
        sep(),
        Span::styled(h.host.clone(), bold),
        sep(),
        Span::raw(elapsed(h.elapsed_ns)),
    ];
    if ui.paused {
        first.push(sep());
        first.push(Span::styled(
            "PAUSED",
            Style::new().fg(Color::Black).bg(WARN),
        ));
    }
    first.push(sep());
    first.push(lost_span(s));
    if area.height < 2 {
        f.render_widget(Paragraph::new(Line::from(first)), area);
        return;
    }
    first.push(sep());
    first.push(Span::raw(format!("{} CPUs", h.cpus)));
    for n in &h.nics {
        first.push(sep());
        first.push(Span::raw(format!(
            "{} {}rx/{}tx",
            n.name, n.rx_queues, n.tx_queues
        )));
    }
    let r = &h.recording;
    let mut second = vec![
        Span::raw(format!(" kernel {}", h.kernel)),
        sep(),
        Span::raw("rec "),
    ];
    if r.kept {
        second.push(Span::raw(format!("{} ({})", r.path, units::bytes(r.bytes))));
    } else {
        second.push(Span::styled(
            format!(
                "temporary, removed on exit ({}; -o keeps it)",
                units::bytes(r.bytes)
            ),
            Style::new().fg(DIM),
        ));
    }
    for c in &s.collectors {
        second.push(sep());
        let (mark, colour) = match c.state {
            CollectorState::Running => ("●", GOOD),
            CollectorState::Degraded => ("◐", WARN),
            CollectorState::Unavailable => ("○", BAD),
        };
        second.push(Span::styled(
            format!("{mark} {}", c.name),
            Style::new().fg(colour),
        ));
    }
    f.render_widget(
        Paragraph::new(vec![Line::from(first), Line::from(second)]),
        area,
    );
}

fn lost_span(s: &LiveState) -> Span<'static> {
    let h = &s.header;
    if h.lost_total == 0 {
        return Span::raw("lost 0");
    }
    let streams: Vec<String> = h.lost.iter().map(|(k, n)| format!("{k} {n}")).collect();
    Span::styled(
        format!(
            "LOST {} ({})",
            units::count(h.lost_total),
            streams.join(", ")
        ),
        Style::new().fg(WARN).add_modifier(Modifier::BOLD),
    )
}

/// "00:01:23", "1d 02:03:04".
fn elapsed(ns: u64) -> String {
    let t = ns / 1_000_000_000;
    let (d, h, m, sec) = (t / 86_400, t / 3600 % 24, t / 60 % 60, t % 60);
    if d > 0 {
        format!("{d}d {h:02}:{m:02}:{sec:02}")
    } else {
        format!("{h:02}:{m:02}:{sec:02}")
    }
}

fn draw_verdict(f: &mut Frame, area: Rect, s: &LiveState) {
    let line = match &s.verdict {
        None => Line::from(Span::styled(
            " verdict: no finding yet",
            Style::new().fg(DIM),
        )),
        Some(v) => {
            let colour = match v.severity {
                Severity::Info => GOOD,
                Severity::Warning => WARN,
                Severity::Critical => BAD,
            };
            Line::from(vec![
                Span::styled(
                    format!(" ▶ {}", v.finding),
                    Style::new().fg(colour).add_modifier(Modifier::BOLD),
                ),
                Span::styled(" → ", Style::new().fg(DIM)),
                Span::raw(v.recommendation.clone()),
            ])
        }
    };
    f.render_widget(Paragraph::new(line), area);
}

fn draw_footer(f: &mut Frame, area: Rect, ui: &UiState, hidden: &[Panel]) {
    let key = Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD);
    let mut spans = Vec::new();
    // First, so that a narrow terminal still says what it left out.
    if !hidden.is_empty() {
        let names: Vec<&str> = hidden.iter().map(|p| p.title()).collect();
        spans.push(Span::styled(
            format!(" hidden: {} │", names.join(", ")),
            Style::new().fg(WARN),
        ));
    }
    spans.extend([
        Span::styled(" q", key),
        Span::raw(" quit  "),
        Span::styled("Tab", key),
        Span::raw(" focus  "),
        Span::styled("Enter", key),
        Span::raw(if ui.expanded { " back  " } else { " expand  " }),
        Span::styled("p", key),
        Span::raw(if ui.paused { " resume  " } else { " pause  " }),
        Span::styled("?", key),
        Span::raw(" help"),
    ]);
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

const HELP: &[(&str, &str)] = &[
    ("q, Ctrl-C", "quit: detach, finish and flush the recording"),
    ("Tab, →, ↓", "focus the next panel"),
    ("Shift-Tab, ←, ↑", "focus the previous panel"),
    ("Enter", "expand the focused panel; Enter or Esc: back"),
    ("p", "pause the display; recording goes on"),
    ("?", "this help (Esc closes)"),
];

fn draw_help(f: &mut Frame, area: Rect) {
    let w = area.width.min(64);
    let h = (HELP.len() as u16 + 7).min(area.height);
    let rect = Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    );
    let key = Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD);
    let mut lines: Vec<Line> = HELP
        .iter()
        .map(|(k, what)| {
            Line::from(vec![
                Span::styled(format!("{k:>16} "), key),
                Span::raw(*what),
            ])
        })
        .collect();
    lines.push(Line::raw(""));
    lines.push(Line::raw("Lanes: silence against the gap threshold."));
    lines.push(Line::raw(
        "Softirq: NET_RX wait/run p99/max, 1 s and total.",
    ));
    lines.push(Line::raw(
        "Drops: rates by reason, device, CPU, port (* = heartbeat).",
    ));
    f.render_widget(Clear, rect);
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(Block::bordered().title(" Help ")),
        rect,
    );
}
