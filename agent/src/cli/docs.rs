//! What `hbwatch completions SHELL` and `hbwatch man` print: generated from the clap definitions, so they
//! never drift from the real options. Hidden commands and options stay hidden in both.

use clap::CommandFactory as _;

use super::Cli;

/// The completion script for `shell`, of the visible commands and options.
pub fn completions(shell: clap_complete::Shell, out: &mut dyn std::io::Write) {
    let mut cmd = visible(Cli::command());
    clap_complete::generate(shell, &mut cmd, "hbwatch", out);
}

/// `cmd` without its hidden subcommands and options (clap_complete offers hidden ones).
pub fn visible(cmd: clap::Command) -> clap::Command {
    let mut out = clap::Command::new(cmd.get_name().to_owned())
        .args(cmd.get_arguments().filter(|a| !a.is_hide_set()).cloned())
        .subcommands(
            cmd.get_subcommands()
                .filter(|s| !s.is_hide_set())
                .cloned()
                .map(visible),
        );
    if let Some(a) = cmd.get_about() {
        out = out.about(a.clone());
    }
    if let Some(v) = cmd.get_version() {
        out = out.version(v.to_owned());
    }
    out
}

/// hbwatch.1 (whose SUBCOMMANDS section names the other pages) and hbwatch-SUB.1 for every
/// visible subcommand, so each page it refers to exists.
pub fn write_pages(dir: &std::path::Path) -> std::io::Result<()> {
    clap_mangen::generate_to(Cli::command(), dir)
}

/// The single page: the top-level options, then each visible subcommand's options as a section
/// of the same page (it names no other page, since `hbwatch man > hbwatch.1` installs only one).
pub fn render_man(out: &mut dyn std::io::Write) -> std::io::Result<()> {
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    let man = clap_mangen::Man::new(cmd.clone());
    man.render_title(out)?;
    man.render_name_section(out)?;
    man.render_synopsis_section(out)?;
    man.render_description_section(out)?;
    man.render_options_section(out)?;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        writeln!(out, ".SH \"HBWATCH {}\"", sub.get_name().to_uppercase())?;
        if let Some(about) = sub.get_about() {
            writeln!(out, "{}", about.to_string().replace('\\', "\\\\"))?;
        }
        let has_options = sub
            .get_arguments()
            .any(|a| !a.is_hide_set() && !matches!(a.get_id().as_str(), "help" | "version"));
        if has_options {
            clap_mangen::Man::new(sub.clone()).render_options_section(out)?;
        }
    }
    man.render_version_section(out)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    fn page() -> String {
        let mut v = Vec::new();
        super::render_man(&mut v).expect("render");
        String::from_utf8(v).expect("utf8")
    }

    #[test]
    fn man_page_lists_export_options() {
        let s = page();
        assert!(s.starts_with(".ie") || s.contains(".TH"), "not roff");
        assert!(s.contains("flamegraph") && s.contains("metrics") && s.contains("rotate"));
    }

    #[test]
    fn man_page_hides_hidden_commands_and_names_no_other_page() {
        let s = page();
        for hidden in [
            "DEMO-PEER",
            "demo-peer",
            "disable\\-probe",
            "no\\-btf",
            "\\-\\-root",
        ] {
            assert!(!s.contains(hidden), "the man page shows hidden {hidden}");
        }
        assert!(
            !s.contains("hbwatch-record(1)") && !s.contains("hbwatch\\-record(1)"),
            "the single page points to pages it does not install"
        );
        assert!(s.contains("HBWATCH RECORD") && s.contains("HBWATCH REPORT"));
    }

    #[test]
    fn man_pages_in_a_folder_refer_only_to_pages_written() {
        let dir = tempfile::tempdir().expect("tempdir");
        super::write_pages(dir.path()).expect("write pages");
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .expect("read dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        assert!(names.contains(&"hbwatch.1".to_owned()), "{names:?}");
        assert!(names.contains(&"hbwatch-record.1".to_owned()), "{names:?}");
        assert!(!names.iter().any(|n| n.contains("demo-peer")), "{names:?}");
        let re = regex::Regex::new(r"(hbwatch(?:\\?-[a-z]+)*)\(1\)").expect("regex");
        for n in &names {
            let text = std::fs::read_to_string(dir.path().join(n)).expect("read page");
            for c in re.captures_iter(&text) {
                let page = format!("{}.1", c[1].replace("\\-", "-"));
                assert!(
                    names.contains(&page),
                    "{n} refers to {page}, which is not written"
                );
            }
        }
    }

    #[test]
    fn completions_offer_no_hidden_command_or_option() {
        use clap::CommandFactory as _;
        let mut cmd = super::visible(crate::cli::Cli::command());
        let mut v = Vec::new();
        clap_complete::generate(clap_complete::Shell::Bash, &mut cmd, "hbwatch", &mut v);
        let s = String::from_utf8(v).expect("utf8");
        for hidden in ["demo-peer", "--root", "--disable-probe", "--no-btf"] {
            assert!(
                !s.contains(hidden),
                "bash completion offers hidden {hidden}"
            );
        }
        for shown in ["record", "--watch-port", "--fix-script", "--iface"] {
            assert!(s.contains(shown), "bash completion lacks {shown}");
        }
    }
}
