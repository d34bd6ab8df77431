//! Maps key presses to view actions.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Quit,
    FocusNext,
    FocusPrev,
    /// Enter: expand the focused panel, or go back when one is expanded.
    ToggleExpand,
    /// Esc: close help, else leave the expanded panel.
    Back,
    TogglePause,
    ToggleHelp,
}

pub fn action(k: KeyEvent) -> Option<Action> {
    // Terminals that report releases would otherwise toggle twice.
    if k.kind == KeyEventKind::Release {
        return None;
    }
    let a = match k.code {
        KeyCode::Char('c') if k.modifiers.contains(KeyModifiers::CONTROL) => Action::Quit,
        KeyCode::Char('q' | 'Q') => Action::Quit,
        KeyCode::Tab | KeyCode::Right | KeyCode::Down => Action::FocusNext,
        KeyCode::BackTab | KeyCode::Left | KeyCode::Up => Action::FocusPrev,
        KeyCode::Enter => Action::ToggleExpand,
        KeyCode::Esc => Action::Back,
        KeyCode::Char('p' | 'P') => Action::TogglePause,
        KeyCode::Char('?') => Action::ToggleHelp,
        _ => return None,
    };
    Some(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode, m: KeyModifiers) -> KeyEvent {
        KeyEvent::new(code, m)
    }

    #[test]
    fn keys_map_to_actions() {
        let none = KeyModifiers::NONE;
        assert_eq!(action(key(KeyCode::Char('q'), none)), Some(Action::Quit));
        assert_eq!(
            action(key(KeyCode::Char('c'), KeyModifiers::CONTROL)),
            Some(Action::Quit)
        );
        assert_eq!(action(key(KeyCode::Char('c'), none)), None);
        assert_eq!(action(key(KeyCode::Tab, none)), Some(Action::FocusNext));
        assert_eq!(
            action(key(KeyCode::BackTab, KeyModifiers::SHIFT)),
            Some(Action::FocusPrev)
        );
        assert_eq!(action(key(KeyCode::Left, none)), Some(Action::FocusPrev));
        assert_eq!(
            action(key(KeyCode::Enter, none)),
            Some(Action::ToggleExpand)
        );
        assert_eq!(
            action(key(KeyCode::Char('p'), none)),
            Some(Action::TogglePause)
        );
        assert_eq!(
            action(key(KeyCode::Char('?'), none)),
            Some(Action::ToggleHelp)
        );
        let mut release = key(KeyCode::Char('q'), none);
        release.kind = KeyEventKind::Release;
        assert_eq!(action(release), None);
    }
}
