//! Command line: the clap definitions and their validation, the only place that knows clap.
//! `main` → [`crate::commands::main`] → [`parse`] → a command's `run`.

pub mod args;
pub mod docs;

use clap::Parser as _;

pub use args::{Cli, Command};

/// How parsing the command line ended when it gave no [`Cli`].
pub enum ParseEnd {
    /// `--help` or `--version`: printed on stdout; exit 0.
    Shown,
    /// Bad options, as one line naming the subcommand's `--help`.
    Usage(String),
}

/// The command line, parsed and validated.
pub fn parse(argv: &[std::ffi::OsString]) -> Result<Cli, ParseEnd> {
    match Cli::try_parse_from(argv) {
        Ok(c) => Ok(c),
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            Err(ParseEnd::Shown)
        }
        Err(e) => Err(ParseEnd::Usage(one_line_clap_error(
            &e,
            subcommand_of(argv).as_deref(),
        ))),
    }
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
