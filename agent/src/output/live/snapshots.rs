//! Golden-text snapshots of the live view drawn on ratatui's TestBackend. `HBWATCH_BLESS=1`
//! rewrites the files under `snapshots/`.

use std::path::PathBuf;

use ratatui::{Terminal, backend::TestBackend, buffer::Buffer, style::Color};

use super::{
    app::{Panel, UiState},
    draw::draw,
    fixtures,
    state::{LiveState, RecordingView},
};

fn render(state: &LiveState, ui: &UiState, w: u16, h: u16) -> Buffer {
    let mut t = Terminal::new(TestBackend::new(w, h)).expect("test terminal");
    t.draw(|f| draw(f, state, ui)).expect("draw");
    t.backend().buffer().clone()
}

fn text(buf: &Buffer) -> String {
    let mut out = String::new();
    for y in 0..buf.area.height {
        let line: String = (0..buf.area.width).map(|x| buf[(x, y)].symbol()).collect();
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn check(name: &str, buf: &Buffer) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("src/output/live/snapshots")
        .join(format!("{name}.txt"));
    let got = text(buf);
    if std::env::var_os("HBWATCH_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("snapshot folder");
        std::fs::write(&path, &got).expect("writing snapshot");
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run with HBWATCH_BLESS=1 to create it",
            path.display()
        )
    });
    assert!(
        got == want,
        "snapshot {name} differs (HBWATCH_BLESS=1 rewrites it)\n--- want\n{want}\n--- got\n{got}"
    );
}

/// Where `needle` starts on screen, as (x, y).
fn find(buf: &Buffer, needle: &str) -> (u16, u16) {
    let t = text(buf);
    for (y, line) in t.lines().enumerate() {
        if let Some(i) = line.find(needle) {
            let x = line[..i].chars().count();
            return (x as u16, y as u16);
        }
    }
    panic!("{needle:?} not on screen:\n{t}")
}

#[test]
fn empty_state() {
    let state = LiveState::new(
        &fixtures::summary(),
        RecordingView {
            path: "/tmp/hbwatch-live-x/live.hbw".into(),
            kept: false,
            bytes: 0,
        },
    );
    let buf = render(&state, &UiState::default(), 80, 24);
    check("empty", &buf);
    let t = text(&buf);
    assert!(t.contains("waiting for the first second"), "{t}");
    assert!(t.contains("no heartbeat sources"), "{t}");
}

#[test]
fn normal_state() {
    let state = fixtures::normal();
    let buf = render(&state, &UiState::default(), 80, 24);
    check("normal", &buf);
    // The heartbeat port is highlighted in red, other ports are not.
    let (x, y) = find(&buf, "*:5405");
    assert_eq!(buf[(x, y)].fg, Color::Red);
    let (x, y) = find(&buf, ":8080");
    assert_ne!(buf[(x, y)].fg, Color::Red);
}

#[test]
fn gap_in_progress() {
    let state = fixtures::gap_in_progress();
    let buf = render(&state, &UiState::default(), 80, 24);
    check("gap", &buf);
    let (x, y) = find(&buf, "GAP");
    assert_eq!(buf[(x, y)].fg, Color::Red, "gap status in red");
    let (x, y) = find(&buf, "▶ corosync silent");
    assert_eq!(buf[(x, y)].fg, Color::Red, "critical verdict in red");
}

#[test]
fn lost_events_warn() {
    let state = fixtures::with_lost();
    let buf = render(&state, &UiState::default(), 80, 24);
    check("lost", &buf);
    let (x, y) = find(&buf, "LOST 1203");
    assert_eq!(buf[(x, y)].fg, Color::Yellow);
}

#[test]
fn tiny_terminals_degrade() {
    let state = fixtures::gap_in_progress();
    let ui = UiState::default();
    let buf = render(&state, &ui, 50, 12);
    check("small-50x12", &buf);
    let t = text(&buf);
    assert!(t.contains("hidden: Drops"), "{t}");
    assert!(t.contains("GAP"), "the lanes survive: {t}");
    check("tiny-30x6", &render(&state, &ui, 30, 6));
}

#[test]
fn expanded_paused_and_help() {
    let state = fixtures::normal();
    let ui = UiState {
        focus: Panel::Softirq,
        expanded: true,
        paused: true,
        help: false,
    };
    let buf = render(&state, &ui, 80, 24);
    check("expanded-softirq", &buf);
    let t = text(&buf);
    assert!(t.contains("PAUSED") && t.contains("TIMER"), "{t}");
    let ui = UiState { help: true, ..ui };
    check("help", &render(&state, &ui, 80, 24));
}

#[test]
fn resize_redraws_at_every_size() {
    let state = fixtures::gap_in_progress();
    for (w, h) in [(1, 1), (40, 8), (80, 24), (132, 43), (200, 60)] {
        let buf = render(&state, &UiState::default(), w, h);
        assert_eq!(buf.area.width, w);
    }
    check("wide-132x30", &render(&state, &UiState::default(), 132, 30));
}
