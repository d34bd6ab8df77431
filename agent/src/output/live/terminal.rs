//! The terminal while the live view runs: raw mode and the alternate screen, restored by a Drop
//! guard and by a panic hook; and a thread that turns terminal input into channel messages.

use std::{
    io::{self, Stdout},
    sync::{
        Arc, Once,
        atomic::{AtomicBool, Ordering},
    },
    thread::JoinHandle,
    time::Duration,
};

use ratatui::{
    Terminal,
    backend::CrosstermBackend,
    crossterm::{
        cursor::Show,
        event::{self, Event, KeyEvent},
        execute,
        terminal::{EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode},
    },
};
use tokio::sync::mpsc::UnboundedSender;

pub type Term = Terminal<CrosstermBackend<Stdout>>;

/// Owns the terminal in raw mode on the alternate screen; dropping it puts the terminal back.
pub struct TerminalGuard {
    pub terminal: Term,
}

impl TerminalGuard {
    pub fn enter() -> io::Result<TerminalGuard> {
        install_panic_hook();
        enable_raw_mode()?;
        ACTIVE.store(true, Ordering::SeqCst);
        let entered = execute!(io::stdout(), EnterAlternateScreen)
            .and_then(|()| Terminal::new(CrosstermBackend::new(io::stdout())));
        match entered {
            Ok(mut terminal) => {
                terminal.hide_cursor()?;
                terminal.clear()?;
                Ok(TerminalGuard { terminal })
            }
            Err(e) => {
                restore();
                Err(e)
            }
        }
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore();
    }
}

/// Whether the terminal is ours (raw, alternate screen) and still has to be given back.
static ACTIVE: AtomicBool = AtomicBool::new(false);

/// Leaves raw mode and the alternate screen and shows the cursor, once: the panic hook and then
/// the Drop guard both call it, and leaving the alternate screen twice would move the cursor
/// back over the panic message.
fn restore() {
    if !ACTIVE.swap(false, Ordering::SeqCst) {
        return;
    }
    let _ = disable_raw_mode();
    let _ = execute!(io::stdout(), LeaveAlternateScreen, Show);
}

/// A panic prints onto a usable terminal: restore first, then the previous hook reports it.
fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            previous(info);
        }));
    });
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputEvent {
    Key(KeyEvent),
    Resize,
}

/// Reads terminal events on its own thread so the capture loop never blocks on the keyboard.
/// Dropping it stops the thread.
pub struct InputThread {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl InputThread {
    pub fn spawn(tx: UnboundedSender<InputEvent>) -> io::Result<InputThread> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::Builder::new()
            .name("hbwatch-input".into())
            .spawn(move || {
                // Polling with a timeout lets the thread notice `stop` and end.
                while !flag.load(Ordering::Relaxed) {
                    let ev = match event::poll(Duration::from_millis(100)) {
                        Ok(false) => continue,
                        Ok(true) => event::read(),
                        Err(e) => Err(e),
                    };
                    let msg = match ev {
                        Ok(Event::Key(k)) => InputEvent::Key(k),
                        Ok(Event::Resize(..)) => InputEvent::Resize,
                        Ok(_) => continue,
                        // The terminal is gone; the loop then records on without input.
                        Err(_) => break,
                    };
                    if tx.send(msg).is_err() {
                        break;
                    }
                }
            })?;
        Ok(InputThread {
            stop,
            handle: Some(handle),
        })
    }
}

impl Drop for InputThread {
    /// Joins the thread when it ends promptly. After a hangup crossterm's read can keep the
    /// thread busy forever; it is then left behind, and the process exit ends it.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let Some(h) = self.handle.take() else { return };
        let deadline = std::time::Instant::now() + Duration::from_millis(500);
        while !h.is_finished() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        if h.is_finished() {
            let _ = h.join();
        }
    }
}
