//! Test helper: takes the terminal the way `hbwatch live` does, then panics, so a test can check
//! that the panic hook and the Drop guard give the terminal back with the message readable.

use hbwatch::output::live::terminal::TerminalGuard;

fn main() {
    let guard = TerminalGuard::enter().expect("entering the terminal (run me on a TTY)");
    std::thread::sleep(std::time::Duration::from_millis(300));
    let _keep = &guard;
    panic!("deliberate panic while the live view owns the terminal");
}
