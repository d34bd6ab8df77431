//! One module per subcommand; each turns validated arguments into work and a [`Failure`] class.
//! [`main`] parses the command line ([`crate::cli`]) and dispatches.

pub mod check;
pub mod demo;
pub mod export;
pub mod failure;
pub mod live;
pub mod presets;
pub mod record;
pub mod report;
pub mod serve;

use std::process::ExitCode;

use anyhow::Context as _;

pub use failure::{Failure, ResultExt};

use crate::cli::{self, Command, ParseEnd, args};

pub fn main() -> ExitCode {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let cli = match cli::parse(&argv) {
        Ok(c) => c,
        // --help and --version go to stdout with status 0.
        Err(ParseEnd::Shown) => return ExitCode::SUCCESS,
        Err(ParseEnd::Usage(line)) => {
            eprintln!("hbwatch: error: {line}");
            return ExitCode::from(failure::EXIT_USAGE);
        }
    };
    let result = match cli.command {
        Command::Record(a) => record::run(a),
        Command::Report(a) => report::run(a),
        Command::Demo(a) => demo::run(a),
        Command::DemoPeer(a) => demo_peer(a),
        Command::Live(a) => live::run(a),
        Command::Check(a) => check::run(a),
        Command::Presets => presets::run(),
        Command::Export(a) => export::run(a),
        Command::Serve(a) => serve::run(a),
        Command::Completions(a) => {
            cli::docs::completions(a.shell, &mut std::io::stdout());
            Ok(())
        }
        Command::Man(a) => man(a.dir.as_deref()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("hbwatch: error: {}", failure::one_line(f.error()));
            ExitCode::from(f.code())
        }
    }
}

fn demo_peer(a: args::DemoPeerArgs) -> Result<(), Failure> {
    use crate::demo::peer;
    // A peer never outlives the demo or test that started it, even one killed with SIGKILL.
    // SAFETY: prctl(PR_SET_PDEATHSIG) takes a signal number and touches no memory.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
    match a.role {
        args::DemoPeerRole::Send { to, every, for_ } => peer::send(to, every, for_),
        args::DemoPeerRole::Recv {
            port,
            rcvbuf,
            read_delay,
        } => peer::recv(port, rcvbuf, read_delay),
    }
    .runtime()
}

/// One man page on stdout, or one page per subcommand in `dir`.
fn man(dir: Option<&std::path::Path>) -> Result<(), Failure> {
    if let Some(dir) = dir {
        if !dir.is_dir() {
            return Err(anyhow::anyhow!("--dir {}: not a folder", dir.display())).usage();
        }
        return cli::docs::write_pages(dir)
            .with_context(|| format!("writing man pages into {}", dir.display()))
            .runtime();
    }
    let mut out = std::io::stdout().lock();
    cli::docs::render_man(&mut out)
        .context("writing the man page")
        .runtime()
}
