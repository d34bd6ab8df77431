//! The live view's UI state (focus, expansion, pause, help) and how actions change it; plus the
//! frozen copy of the view-model shown while paused.

use super::{keys::Action, state::LiveState};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Panel {
    Lanes,
    Softirq,
    Drops,
}

impl Panel {
    const ORDER: [Panel; 3] = [Panel::Lanes, Panel::Softirq, Panel::Drops];

    pub fn title(self) -> &'static str {
        match self {
            Panel::Lanes => "Heartbeats",
            Panel::Softirq => "Softirq NET_RX per CPU (p99/max)",
            Panel::Drops => "Drops",
        }
    }

    fn step(self, by: isize) -> Panel {
        let n = Self::ORDER.len() as isize;
        let i = Self::ORDER.iter().position(|p| *p == self).unwrap_or(0) as isize;
        Self::ORDER[(i + by).rem_euclid(n) as usize]
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UiState {
    pub focus: Panel,
    pub expanded: bool,
    pub paused: bool,
    pub help: bool,
}

impl Default for UiState {
    fn default() -> Self {
        UiState {
            focus: Panel::Lanes,
            expanded: false,
            paused: false,
            help: false,
        }
    }
}

/// What the caller does after an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum After {
    Redraw,
    Quit,
}

/// The live view-model, the copy on screen while paused, and the UI state.
pub struct App {
    pub live: LiveState,
    frozen: Option<LiveState>,
    pub ui: UiState,
}

impl App {
    pub fn new(live: LiveState) -> App {
        App {
            live,
            frozen: None,
            ui: UiState::default(),
        }
    }

    /// What to draw: the frozen copy while paused, else the live state.
    pub fn shown(&self) -> &LiveState {
        self.frozen.as_ref().unwrap_or(&self.live)
    }

    pub fn apply(&mut self, a: Action) -> After {
        let ui = &mut self.ui;
        match a {
            Action::Quit => return After::Quit,
            Action::FocusNext => ui.focus = ui.focus.step(1),
            Action::FocusPrev => ui.focus = ui.focus.step(-1),
            Action::ToggleExpand => ui.expanded = !ui.expanded,
            Action::Back if ui.help => ui.help = false,
            Action::Back => ui.expanded = false,
            Action::ToggleHelp => ui.help = !ui.help,
            Action::TogglePause => {
                ui.paused = !ui.paused;
                // Pausing freezes what is on screen; the live state keeps following the recording.
                self.frozen = ui.paused.then(|| self.live.clone());
            }
        }
        After::Redraw
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn focus_cycles_and_pause_freezes() {
        let mut app = App::new(LiveState::default());
        assert_eq!(app.ui.focus, Panel::Lanes);
        app.apply(Action::FocusPrev);
        assert_eq!(app.ui.focus, Panel::Drops);
        app.apply(Action::FocusNext);
        app.apply(Action::FocusNext);
        assert_eq!(app.ui.focus, Panel::Softirq);
        app.apply(Action::ToggleExpand);
        assert!(app.ui.expanded);
        app.apply(Action::ToggleHelp);
        app.apply(Action::Back);
        assert!(!app.ui.help && app.ui.expanded, "Esc closes help first");
        app.apply(Action::Back);
        assert!(!app.ui.expanded);

        app.apply(Action::TogglePause);
        app.live.header.elapsed_ns = 5_000_000_000;
        assert_eq!(app.shown().header.elapsed_ns, 0, "paused view stays frozen");
        app.apply(Action::TogglePause);
        assert_eq!(app.shown().header.elapsed_ns, 5_000_000_000);
        assert_eq!(app.apply(Action::Quit), After::Quit);
    }
}
