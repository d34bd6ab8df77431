//! Command line: clap definitions, validation into settings, dispatch and exit codes.
//! `main` → [`main`] → a command's `run` → [`ExitCode`].

pub mod args;
pub mod failure;

use std::process::ExitCode;

use clap::Parser as _;

pub use args::{Cli, Command};
pub use failure::{Failure, ResultExt};

/// Exit status for bad input: options, paths, recordings, missing privileges.
pub const EXIT_USAGE: u8 = 2;
/// Exit status for failures while running (I/O errors mid-recording and the like).
pub const EXIT_RUNTIME: u8 = 1;

pub fn main() -> ExitCode {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let cli = match Cli::try_parse_from(&argv) {
        Ok(c) => c,
        Err(e) if !e.use_stderr() => {
            // --help and --version go to stdout with status 0.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!(
                "hbwatch: error: {}",
                one_line_clap_error(&e, subcommand_of(&argv).as_deref())
            );
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let result = match cli.command {
        Command::Record(a) => crate::commands::record::run(a),
        Command::Report(a) => crate::commands::report::run(a),
        Command::Demo(a) => crate::commands::demo::run(a),
        Command::DemoPeer(a) => demo_peer(a),
        Command::Live(a) => crate::commands::live::run(a),
        Command::Check(a) => crate::commands::check::run(a),
        Command::Presets => crate::commands::presets::run(),
        Command::Export(a) => crate::commands::export::run(a),
        Command::Serve(a) => crate::commands::serve::run(a),
        Command::Completions(a) => crate::commands::docs::completions(a.shell),
        Command::Man(a) => crate::commands::docs::man(a.dir.as_deref()),
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

/// The visible subcommand the command line names, if any: the first word that is one.
fn subcommand_of(argv: &[std::ffi::OsString]) -> Option<String> {
    use clap::CommandFactory as _;
    let cmd = Cli::command();
    argv.iter().skip(1).find_map(|a| {
        let a = a.to_str()?;
        cmd.get_subcommands()
            .find(|s| !s.is_hide_set() && s.get_name() == a)
            .map(|s| s.get_name().to_owned())
    })
}

/// clap's usage error as one line (its first), so every bad-input message has the same shape;
/// the usage block and tips clap adds are replaced by a pointer to the subcommand's `--help`.
fn one_line_clap_error(e: &clap::Error, sub: Option<&str>) -> String {
    use clap::error::ErrorKind;
    if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
        return "no subcommand given (record, report, ...); try `hbwatch --help`".to_owned();
    }
    let text = e.render().to_string();
    // The message runs until the first blank line (a list of missing arguments is indented).
    let message: Vec<&str> = text
        .lines()
        .map(str::trim)
        .skip_while(|l| l.is_empty())
        .take_while(|l| !l.is_empty())
        .collect();
    let message = message.join(" ");
    let message = message.strip_prefix("error: ").unwrap_or(&message);
    match sub {
        Some(sub) => format!("{message}; try `hbwatch {sub} --help`"),
        None => format!("{message}; try `hbwatch --help`"),
    }
}
