//! `hbwatch completions SHELL` and `hbwatch man`: generated from the clap definitions, so they
//! never drift from the real options.

use anyhow::Context as _;
use clap::CommandFactory as _;

use crate::cli::{Cli, Failure, ResultExt as _};

pub fn completions(shell: clap_complete::Shell) -> Result<(), Failure> {
    let mut cmd = Cli::command();
    clap_complete::generate(shell, &mut cmd, "hbwatch", &mut std::io::stdout());
    Ok(())
}

/// The man page for hbwatch, with each subcommand's options in its own section.
pub fn man() -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    render_man(&mut out)
        .context("writing the man page")
        .runtime()
}

pub fn render_man(out: &mut dyn std::io::Write) -> std::io::Result<()> {
    let cmd = Cli::command();
    clap_mangen::Man::new(cmd.clone()).render(out)?;
    for sub in cmd.get_subcommands() {
        // Each subcommand's own options, as a section of the one page.
        writeln!(out, ".SH \"HBWATCH {}\"", sub.get_name().to_uppercase())?;
        if let Some(about) = sub.get_about() {
            writeln!(out, "{}", about.to_string().replace('\\', "\\\\"))?;
        }
        clap_mangen::Man::new(sub.clone()).render_options_section(out)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn man_page_lists_export_options() {
        let mut v = Vec::new();
        super::render_man(&mut v).expect("render");
        let s = String::from_utf8(v).expect("utf8");
        assert!(s.starts_with(".ie") || s.contains(".TH"), "not roff");
        assert!(s.contains("flamegraph") && s.contains("metrics") && s.contains("rotate"));
    }
}
