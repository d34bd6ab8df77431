//! `report --fix-script PATH`: the recommendations as a commented, reviewable shell script with
//! an undo section. hbwatch never runs it; the operator reads, edits and runs it.

use std::fmt::Write as _;

use crate::analysis::recommendation::Recommendation;

/// A command hbwatch could not complete (it holds a `<placeholder>`) or a note: commented out.
fn line(cmd: &str) -> String {
    let t = cmd.trim();
    if t.starts_with('#') {
        format!("    {}\n", comment(t))
    } else if t.contains('`') || t.contains("$(") || t.contains('\n') {
        // hbwatch never writes these; a name read from the recording could. Never run them.
        format!(
            "    # REFUSED (command substitution from recorded names): {}\n",
            comment(t)
        )
    } else if t.contains('<') && t.contains('>') && !t.contains("<<") {
        format!("    # EDIT FIRST (fill in the <...> part): {t}\n")
    } else {
        format!("    {t}\n")
    }
}

/// Shell-safe as a comment: one line, no terminal escapes.
fn comment(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// The script text for `recs`, made from the recording at `source`.
pub fn script(recs: &[Recommendation], source: &str) -> String {
    let mut s = String::new();
    s.push_str("#!/bin/sh\n");
    let _ = writeln!(
        s,
        "# hbwatch fix script, from the recording {}",
        comment(source)
    );
    s.push_str("# Review every block before running it. hbwatch applied nothing.\n");
    s.push_str("#   sh THIS_FILE apply   # apply the changes now (lost at reboot)\n");
    s.push_str("#   sh THIS_FILE undo    # restore the values read when recording\n");
    s.push_str("# Persisting a change is described in comments; copy what you keep by hand.\n");
    s.push_str("set -u\n\n");
    s.push_str("apply() {\n    :\n");
    for (i, r) in recs.iter().enumerate() {
        let _ = writeln!(s, "\n    # [{}] {} ({})", i + 1, comment(&r.title), r.id);
        let _ = writeln!(s, "    # why: {}", comment(&r.risk));
        for e in &r.evidence {
            let _ = writeln!(s, "    #   {}: {}", comment(&e.what), comment(&e.value));
        }
        if !r.cost.is_empty() {
            let _ = writeln!(s, "    # risk: {}", comment(&r.cost));
        }
        for c in &r.apply {
            s.push_str(&line(c));
        }
        for p in &r.persist {
            let where_ = p
                .file
                .as_deref()
                .map(|f| format!(" ({f})"))
                .unwrap_or_default();
            let _ = writeln!(
                s,
                "    # persist via {}{}:",
                comment(&p.mechanism),
                comment(&where_)
            );
            for l in p.content.lines() {
                let _ = writeln!(s, "    #   {}", comment(l));
            }
        }
        for v in &r.verify {
            let _ = writeln!(s, "    # verify: {}", comment(v));
        }
    }
    s.push_str("}\n\nundo() {\n    :\n");
    for (i, r) in recs.iter().enumerate().rev() {
        let _ = writeln!(
            s,
            "\n    # undo [{}] {} ({})",
            i + 1,
            comment(&r.title),
            r.id
        );
        if r.undo.is_empty() {
            s.push_str(
                "    # nothing to undo: this block only inspects or needs a manual change\n",
            );
        }
        for c in &r.undo {
            s.push_str(&line(c));
        }
    }
    s.push_str("}\n\ncase \"${1:-}\" in\n    apply) apply ;;\n    undo) undo ;;\n");
    s.push_str(
        "    *) echo \"usage: $0 apply|undo (read the script first)\" >&2; exit 2 ;;\nesac\n",
    );
    s
}

/// Writes the script to `path`: mode 0600, never through a symlink, never over an existing file.
pub fn write(path: &std::path::Path, recs: &[Recommendation], source: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut f = crate::recording::writer::create_output(path, false)?;
    f.write_all(script(recs, source).as_bytes())?;
    f.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::recommendation::Severity;

    fn rec() -> Recommendation {
        Recommendation::new(
            "x",
            Severity::Warning,
            "eth0",
            "Title".into(),
            "Risk\nline".into(),
        )
        .apply("sysctl -w net.core.netdev_max_backlog=4096   # note")
        .apply("taskset -apc <CPUs> 42")
        .apply("ethtool -G $(reboot) rx 4096")
        .persist(
            "sysctl.d",
            Some("/etc/sysctl.d/90-hbwatch.conf"),
            "a = 1\nb = 2",
        )
        .undo("sysctl -w net.core.netdev_max_backlog=1000")
    }

    #[test]
    fn placeholders_and_substitutions_are_never_live_commands() {
        let s = script(&[rec()], "r.hbw");
        let live: Vec<&str> = s
            .lines()
            .map(str::trim)
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .collect();
        assert!(live.contains(&"sysctl -w net.core.netdev_max_backlog=4096   # note"));
        assert!(live.contains(&"sysctl -w net.core.netdev_max_backlog=1000"));
        assert!(
            !live
                .iter()
                .any(|l| l.contains("<CPUs>") || l.contains("$(reboot)")),
            "{s}"
        );
        assert!(s.contains("# EDIT FIRST") && s.contains("# REFUSED"));
        // Multi-line text stays inside comments.
        assert!(s.contains("    #   b = 2\n"), "{s}");
        assert!(s.contains("# why: Risk line"), "{s}");
        let undo = s.find("undo() {").expect("undo section");
        assert!(s[undo..].contains("netdev_max_backlog=1000"));
    }
}
