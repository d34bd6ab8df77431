//! The three focusable panels: heartbeat lanes, softirq and drops. Pure layout of `LiveState`.

use ratatui::{
    Frame,
    layout::{Constraint, Layout, Rect},
    style::{Color, Modifier, Style},
    text::{Line, Span},
    widgets::{Block, BorderType, Paragraph, Sparkline},
};

use super::{
    app::Panel,
    draw::{BAD, DIM, GOOD, WARN},
    state::{HeartbeatLane, LiveState, WaitRun},
};
use crate::{
    analysis::aggregates::{drops::RateRow, sources::Standing},
    units,
};

#[expect(
    clippy::too_many_arguments,
    reason = "each flag is a separate layout decision made by the caller"
)]
pub fn draw_panel(
    f: &mut Frame,
    area: Rect,
    s: &LiveState,
    panel: Panel,
    focused: bool,
    expanded: bool,
    wide: bool,
    sparks: bool,
) {
    let block = panel_block(panel, focused);
    let inner = block.inner(area);
    f.render_widget(block, area);
    match panel {
        Panel::Lanes => lanes(f, inner, s, expanded),
        Panel::Softirq => softirq(f, inner, s, expanded, wide, sparks),
        Panel::Drops => drops(f, inner, s, expanded),
    }
}

fn panel_block(panel: Panel, focused: bool) -> Block<'static> {
    let b = Block::bordered().title(format!(" {} ", panel.title()));
    if focused {
        b.border_type(BorderType::Thick)
            .border_style(Style::new().fg(Color::Cyan))
    } else {
        b.border_style(Style::new().fg(DIM))
    }
}

fn note(f: &mut Frame, area: Rect, text: &str) {
    f.render_widget(
        Paragraph::new(Span::styled(text.to_owned(), Style::new().fg(DIM))),
        area,
    );
}

fn lanes(f: &mut Frame, area: Rect, s: &LiveState, expanded: bool) {
    if s.lanes.is_empty() {
        note(f, area, "no heartbeat sources are being watched");
        return;
    }
    let mut lines = Vec::new();
    for lane in &s.lanes {
        lines.push(lane_line(lane, area.width));
        if expanded {
            lines.push(Line::styled(
                format!(
                    "   {} · expected every {} · gap after {} · latest gap: {}",
                    lane.detail,
                    lane.expected_interval_ns
                        .map_or("(learning)".to_owned(), units::ns),
                    lane.gap_threshold_ns
                        .map_or("(learning)".to_owned(), units::ns),
                    lane.latest_verdict.as_deref().unwrap_or("none")
                ),
                Style::new().fg(DIM),
            ));
        }
    }
    f.render_widget(Paragraph::new(lines), area);
}

/// `name  STATUS  last 12:00:01.234  [████░░░░] 1.20s/3.00s  gaps 2  verdict…`
fn lane_line(lane: &HeartbeatLane, width: u16) -> Line<'static> {
    let (status, colour) = match lane.status {
        Standing::Waiting => ("wait", DIM),
        Standing::Learning => ("lrn", DIM),
        Standing::Ok => ("ok", GOOD),
        Standing::Late => ("late", WARN),
        Standing::Gap => ("GAP", BAD),
    };
    let fixed = 12 + 5 + 18 + 16 + 8;
    let bar_w = (width as usize).saturating_sub(fixed).clamp(4, 30);
    let filled = ((lane.fill * bar_w as f64).round() as usize).min(bar_w);
    let style = Style::new().fg(colour);
    let mut spans = vec![
        Span::raw(format!("{:<11.11} ", lane.name)),
        Span::styled(format!("{status:<4} "), style.add_modifier(Modifier::BOLD)),
        Span::raw(format!(
            "last {:<12} ",
            lane.last_arrival.as_deref().unwrap_or("never")
        )),
        Span::styled("█".repeat(filled), style),
        Span::styled("░".repeat(bar_w - filled), Style::new().fg(DIM)),
        Span::raw(format!(
            " {:>6}/{:<6}",
            units::ns(lane.silence_ns),
            lane.gap_threshold_ns.map_or("?".to_owned(), units::ns)
        )),
        Span::raw(format!(" gaps {}", lane.gaps)),
    ];
    if let Some(v) = &lane.latest_verdict {
        spans.push(Span::styled(format!("  {v}"), Style::new().fg(DIM)));
    }
    Line::from(spans)
}

/// "12.3µs/40.1µs", or "–" without data.
fn pm(count: u64, p99: u64, max: u64) -> String {
    if count == 0 {
        "–".to_owned()
    } else {
        format!("{}/{}", units::ns(p99), units::ns(max))
    }
}

fn wait(w: &WaitRun) -> String {
    pm(w.count, w.wait_p99_ns, w.wait_max_ns)
}

fn run(w: &WaitRun) -> String {
    pm(w.count, w.run_p99_ns, w.run_max_ns)
}

fn softirq(f: &mut Frame, area: Rect, s: &LiveState, expanded: bool, wide: bool, sparks: bool) {
    if !s.softirq.has_data {
        note(
            f,
            area,
            "NET_RX per CPU: waiting for the first second of data…",
        );
        return;
    }
    let head = Style::new().fg(Color::Cyan);
    let inline = wide && sparks;
    // The sparklines share one scale; its top is printed so an empty line reads as "low".
    let top = units::ns(s.softirq.spark_max_ns);
    let mut lines = vec![Line::styled(
        format!(
            "{:<4} {:<15} {:<15} {:<15} {:<15} {:<9} {}",
            "CPU",
            "wait 1s",
            "wait total",
            "run 1s",
            "run total",
            "ksoftirqd",
            if inline {
                format!("wait max, 60 s (top {top})")
            } else {
                String::new()
            }
        ),
        head,
    )];
    let row_w = 4 + 4 * 16 + 10;
    let mut spark_rows = Vec::new();
    for c in &s.softirq.cpus {
        let ksd = Span::styled(
            format!(" {}/{}", c.ksoftirqd_last, c.ksoftirqd_total),
            if c.ksoftirqd_last > 0 {
                Style::new().fg(WARN)
            } else {
                Style::new()
            },
        );
        let wait_style = if c.last.wait_max_ns >= 1_000_000 {
            Style::new().fg(WARN)
        } else {
            Style::new()
        };
        lines.push(Line::from(vec![
            Span::raw(format!("cpu{:<2}", c.cpu)),
            Span::styled(format!("{:<15} ", wait(&c.last)), wait_style),
            Span::raw(format!(
                "{:<15} {:<15} {:<15}",
                wait(&c.total),
                run(&c.last),
                run(&c.total)
            )),
            ksd,
        ]));
        if sparks {
            let y = if inline {
                lines.len() - 1
            } else {
                lines.push(Line::styled(
                    format!("     60 s, top {top:>7}:"),
                    Style::new().fg(DIM),
                ));
                lines.len() - 1
            };
            spark_rows.push((y, c));
        }
    }
    if expanded {
        lines.push(Line::raw(""));
        lines.push(Line::styled(
            format!(
                "{:<7} {:>5} {:<15} {:<15} {:<15} {:<15}",
                "vector", "1s", "wait 1s", "wait total", "run 1s", "run total"
            ),
            head,
        ));
        for v in &s.softirq.vectors {
            lines.push(Line::raw(format!(
                "{:<7} {:>5} {:<15} {:<15} {:<15} {:<15}",
                v.name,
                units::count(v.last.count),
                wait(&v.last),
                wait(&v.total),
                run(&v.last),
                run(&v.total)
            )));
        }
    }
    f.render_widget(Paragraph::new(lines), area);
    // Sparklines go where their label row left room: beside the figures, or after the label.
    let x_off = if inline { row_w as u16 + 1 } else { 24 };
    for (y, c) in spark_rows {
        let y = area.y + y as u16;
        if y >= area.y + area.height || area.width <= x_off + 2 {
            continue;
        }
        let w = (area.width - x_off).min(crate::output::live::state::SPARK_SECONDS as u16);
        let data: Vec<u64> = c.spark_wait_max_ns.iter().copied().collect();
        let from = data.len().saturating_sub(w as usize);
        f.render_widget(
            Sparkline::default()
                .data(&data[from..])
                .max(s.softirq.spark_max_ns.max(1))
                .style(Style::new().fg(Color::Magenta)),
            Rect::new(area.x + x_off, y, w, 1),
        );
    }
}

fn drops(f: &mut Frame, area: Rect, s: &LiveState, expanded: bool) {
    let (d, napi_rates) = (&s.drops, &s.napi);
    if !d.fed && !napi_rates.fed {
        note(
            f,
            area,
            "no drop data: the drop and NAPI collectors are not running",
        );
        return;
    }
    let [cols, napi] = Layout::vertical([Constraint::Min(1), Constraint::Length(1)]).areas(area);
    let parts = Layout::horizontal([Constraint::Ratio(1, 4); 4]).split(cols);
    let lists: [(&str, &[RateRow]); 4] = [
        ("reason", &d.by_reason),
        ("device/queue", &d.by_device),
        ("CPU", &d.by_cpu),
        ("port (* heartbeat)", &d.by_port),
    ];
    for ((title, rows), rect) in lists.into_iter().zip(parts.iter()) {
        rate_column(f, *rect, title, rows, expanded);
    }
    let mut spans = vec![Span::styled(
        "NAPI budget exhausted: ",
        Style::new().fg(Color::Cyan),
    )];
    if !napi_rates.fed {
        spans.push(Span::styled("not collected", Style::new().fg(DIM)));
    } else if napi_rates.rows.is_empty() {
        spans.push(Span::raw("none"));
    }
    for n in &napi_rates.rows {
        let style = if n.exhausted_per_s > 0.0 {
            Style::new().fg(WARN)
        } else {
            Style::new()
        };
        spans.push(Span::styled(
            format!(
                "{} {:.0}/s ({:.0}% of polls, {} total)  ",
                n.device,
                n.exhausted_per_s,
                n.exhausted_share * 100.0,
                n.exhausted_total
            ),
            style,
        ));
    }
    f.render_widget(Paragraph::new(Line::from(spans)), napi);
}

fn rate_column(f: &mut Frame, area: Rect, title: &str, rows: &[RateRow], expanded: bool) {
    let w = area.width.saturating_sub(1) as usize;
    let mut lines = vec![Line::styled(
        format!("{title:<w$.w$}"),
        Style::new().fg(Color::Cyan),
    )];
    if rows.is_empty() {
        lines.push(Line::styled("none", Style::new().fg(DIM)));
    }
    for r in rows {
        let figure = if expanded {
            format!("{:.0}/s {}", r.per_s, units::count(r.total))
        } else {
            format!("{:.0}/s", r.per_s)
        };
        let mark = if r.heartbeat { "*" } else { "" };
        let label_w = w.saturating_sub(figure.len() + 1);
        let label = format!("{mark}{}", r.label);
        let style = if r.heartbeat {
            Style::new().fg(BAD).add_modifier(Modifier::BOLD)
        } else if r.per_s > 0.0 {
            Style::new().fg(WARN)
        } else {
            Style::new()
        };
        lines.push(Line::styled(
            format!("{label:<label_w$.label_w$} {figure}"),
            style,
        ));
    }
    f.render_widget(Paragraph::new(lines), area);
}
