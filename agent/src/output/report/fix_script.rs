//! `report --fix-script PATH`: the recommendations as a reviewable shell script of numbered
//! blocks, each with its apply and undo side by side. hbwatch never runs it; the operator lists
//! the blocks, then applies or undoes the ones chosen (`sh PATH list`, `apply N`, `undo N`,
//! `--dry-run`).
//!
//! Before a block writes a file (`echo V > /sys/...`, `sysctl -w k=v`) the script saves the value
//! it overwrites, and undo writes that back exactly; without a saved value, undo runs the
//! recommendation's own undo commands (the values read when recording). Before a command acts on
//! a PID, the script checks that the PID still runs the command it was recorded with.

use std::{fmt::Write as _, sync::LazyLock};

use regex::Regex;

use crate::analysis::recommendation::Recommendation;

/// Shell helpers every script starts with; `sh` (dash, busybox) runs them.
const PRELUDE: &str = r#"set -eu

DRY_RUN=0
STATE=${HBWATCH_FIX_STATE:-$0.state}

say() { printf '%s\n' "$*" >&2; }

# run CMD: the command as written below (or, with --dry-run, what it would be).
run() {
    if [ "$DRY_RUN" = 1 ]; then say "  would run: $1"; return 0; fi
    say "  + $1"
    if ! eval "$1"; then say "failed: $1 (blocks before this one stay applied)"; exit 1; fi
}

# save N FILE: keeps FILE's value before block N first changes it (a second apply keeps the first).
save() {
    if [ "$DRY_RUN" = 1 ]; then say "  would save $2 (now: $(cat "$2" 2>&1))"; return 0; fi
    d="$STATE/$1"
    key=$(printf '%s' "$2" | tr '/' '%')
    mkdir -p "$d"
    chmod 700 "$STATE" "$d"
    [ -e "$d/$key" ] && return 0
    if ! cat "$2" > "$d/$key.tmp"; then say "cannot read $2; nothing changed"; exit 1; fi
    mv "$d/$key.tmp" "$d/$key"
}

# restore N: writes back every value block N saved; false when it saved none.
restore() {
    d="$STATE/$1"
    [ -d "$d" ] || return 1
    for f in "$d"/%*; do
        [ -e "$f" ] || continue
        path=$(printf '%s' "${f##*/}" | tr '%' '/')
        if [ "$DRY_RUN" = 1 ]; then say "  would restore $path to $(cat "$f")"; continue; fi
        say "  restore $path to $(cat "$f")"
        if ! cat "$f" > "$path"; then say "failed to restore $path (saved value kept in $f)"; exit 1; fi
        rm -f "$f"
    done
    [ "$DRY_RUN" = 1 ] || rmdir "$d"
}

# same_process PID COMM: refuses to act on a PID that now runs something else.
same_process() {
    now=$(cat "/proc/$1/comm" 2>/dev/null || true)
    [ "$now" = "$2" ] && return 0
    if [ "$DRY_RUN" = 1 ]; then say "  would stop: PID $1 now runs '${now:-nothing}', not '$2'"; return 0; fi
    say "PID $1 now runs '${now:-nothing}', not '$2': not touching it (record and report again)"
    exit 1
}
"#;

/// How a script line treats one recommended command.
#[derive(Debug, PartialEq)]
enum Line {
    /// A note or an inspection hint: a comment.
    Note(String),
    /// hbwatch could not complete it (a `<placeholder>`): commented, to edit first.
    EditFirst(String),
    /// Command substitution from recorded names: never run.
    Refused(String),
    Live(String),
}

fn classify(cmd: &str) -> Line {
    let t = cmd.trim();
    if t.starts_with('#') {
        Line::Note(comment(t))
    } else if t.contains('`') || t.contains("$(") || t.contains('\n') {
        // hbwatch never writes these; a name read from the recording could.
        Line::Refused(comment(t))
    } else if t.contains('<') && t.contains('>') && !t.contains("<<") {
        Line::EditFirst(comment(t))
    } else {
        Line::Live(t.to_owned())
    }
}

/// Shell-safe as a comment: one line, no terminal escapes.
fn comment(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// `s` as one single-quoted shell word.
fn quote(s: &str) -> String {
    format!("'{}'", comment(s).replace('\'', r"'\''"))
}

static ECHO_TO_FILE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^echo\s+\S+\s*>\s*(/[^\s;|&<>]+)\s*(#.*)?$").expect("static regex")
});
static SYSCTL_W: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^sysctl\s+-w((?:\s+[A-Za-z0-9_./-]+=\S+)+)\s*(#.*)?$").expect("static regex")
});
static PID_CMD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:taskset|chrt|renice|kill)\s[^#]*?\s(\d+)\s*(?:#.*)?$").expect("static regex")
});
static PROC_PID: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"/proc/(\d+)/").expect("static regex"));

/// The files a live command overwrites, so the script can save them first.
fn files_written(cmd: &str) -> Vec<String> {
    if let Some(c) = ECHO_TO_FILE.captures(cmd) {
        return vec![c[1].to_owned()];
    }
    if let Some(c) = SYSCTL_W.captures(cmd) {
        return c[1]
            .split_whitespace()
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, _)| format!("/proc/sys/{}", sysctl_path(k)))
            .collect();
    }
    Vec::new()
}

/// sysctl's name → its /proc/sys path: dots are folders, and a `/` in a name stands for a dot.
fn sysctl_path(key: &str) -> String {
    key.chars()
        .map(|c| match c {
            '.' => '/',
            '/' => '.',
            c => c,
        })
        .collect()
}

/// The PIDs a live command acts on.
fn pids_in(cmd: &str) -> Vec<u32> {
    let mut pids: Vec<u32> = PID_CMD
        .captures(cmd)
        .into_iter()
        .chain(PROC_PID.captures_iter(cmd))
        .filter_map(|c| c[1].parse().ok())
        .collect();
    pids.dedup();
    pids
}

/// One block's function body: for each command its PID checks and (when `save_first`, as apply
/// does) the saves of what it overwrites, then the command.
fn body(s: &mut String, n: usize, cmds: &[String], comm: &str, save_first: bool) {
    s.push_str("    :\n");
    for c in cmds {
        match classify(c) {
            Line::Note(t) => {
                let _ = writeln!(s, "    {t}");
            }
            Line::EditFirst(t) => {
                let _ = writeln!(s, "    # EDIT FIRST (fill in the <...> part): {t}");
            }
            Line::Refused(t) => {
                let _ = writeln!(
                    s,
                    "    # REFUSED (command substitution from recorded names): {t}"
                );
            }
            Line::Live(t) => {
                for p in pids_in(&t) {
                    let _ = writeln!(s, "    same_process {p} {}", quote(comm));
                }
                if save_first {
                    for f in files_written(&t) {
                        let _ = writeln!(s, "    save {n} {}", quote(&f));
                    }
                }
                let _ = writeln!(s, "    run {}", quote(&t));
            }
        }
    }
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
    s.push_str(
        "# Review every block before running it. hbwatch applied nothing.\n\
         #   sh THIS_FILE list                   # the numbered blocks\n\
         #   sh THIS_FILE apply N [N ...]        # apply these blocks now (lost at reboot; needs root)\n\
         #   sh THIS_FILE undo N [N ...]         # put back what they changed\n\
         #   sh THIS_FILE --dry-run apply N ...  # print what it would do; changes nothing\n\
         # apply saves each value it overwrites in THIS_FILE.state/ (or $HBWATCH_FIX_STATE), and\n\
         # undo writes those back exactly; without them, undo uses the values read when recording.\n\
         # Persisting a change is described in comments; copy what you keep by hand.\n",
    );
    s.push_str(PRELUDE);
    for (i, r) in recs.iter().enumerate() {
        let n = i + 1;
        let _ = writeln!(s, "\n# [{n}] {} ({})", comment(&r.title), r.id);
        let _ = writeln!(s, "# why: {}", comment(&r.risk));
        for e in &r.evidence {
            let _ = writeln!(s, "#   {}: {}", comment(&e.what), comment(&e.value));
        }
        if !r.cost.is_empty() {
            let _ = writeln!(s, "# risk: {}", comment(&r.cost));
        }
        for p in &r.persist {
            let where_ = p
                .file
                .as_deref()
                .map(|f| format!(" ({f})"))
                .unwrap_or_default();
            let _ = writeln!(
                s,
                "# persist via {}{}:",
                comment(&p.mechanism),
                comment(&where_)
            );
            for l in p.content.lines() {
                let _ = writeln!(s, "#   {}", comment(l));
            }
        }
        for v in &r.verify {
            let _ = writeln!(s, "# verify: {}", comment(v));
        }
        let _ = writeln!(s, "apply_{n}() {{");
        body(&mut s, n, &r.apply, &r.subject, true);
        let _ = writeln!(s, "}}\nundo_{n}() {{");
        let _ = writeln!(s, "    restore {n} && return 0");
        if r.undo.is_empty() {
            s.push_str("    say \"  nothing to undo: this block only inspects or needs a manual change\"\n");
        }
        body(&mut s, n, &r.undo, &r.subject, false);
        s.push_str("}\n");
    }
    let _ = writeln!(s, "\nBLOCKS={}\n\nlist() {{", recs.len());
    if recs.is_empty() {
        s.push_str("    say \"no recommendations: nothing to apply\"\n");
    }
    for (i, r) in recs.iter().enumerate() {
        let line = format!(
            "{:>3}  {:<8} {} ({})",
            i + 1,
            r.severity.label(),
            r.title,
            r.id
        );
        let _ = writeln!(s, "    printf '%s\\n' {}", quote(&line));
    }
    s.push_str(DISPATCH);
    s
}

/// Argument handling: block numbers are checked before anything runs.
const DISPATCH: &str = r#"}

usage() { say "usage: sh $0 list | [--dry-run] apply N [N ...] | [--dry-run] undo N [N ...]"; exit 2; }

if [ "${1:-}" = "--dry-run" ] || [ "${1:-}" = "-n" ]; then DRY_RUN=1; shift; fi
cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
    list) list ;;
    apply|undo)
        [ $# -gt 0 ] || { say "$cmd which blocks? (sh $0 list shows them)"; usage; }
        for n in "$@"; do
            case "$n" in
                ''|*[!0-9]*) say "not a block number: $n"; exit 2 ;;
            esac
            if [ "$n" -lt 1 ] || [ "$n" -gt "$BLOCKS" ]; then
                say "no block $n (this script has $BLOCKS; sh $0 list)"; exit 2
            fi
        done
        if [ "$DRY_RUN" = 0 ] && [ "$(id -u)" != 0 ]; then
            say "$cmd needs root (add --dry-run to see what it would do)"; exit 1
        fi
        for n in "$@"; do
            say "[$n] $cmd"
            "${cmd}_$n"
        done ;;
    *) usage ;;
esac
"#;

/// Writes the script to `path`: mode 0600, never through a symlink, over an existing file only
/// with `force`.
pub fn write(
    path: &std::path::Path,
    recs: &[Recommendation],
    source: &str,
    force: bool,
) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut f = crate::recording::writer::create_output(path, force)?;
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
            "corosync",
            "Title".into(),
            "Risk\nline".into(),
        )
        .apply("sysctl -w net.core.netdev_max_backlog=4096   # note")
        .apply("taskset -apc <CPUs> 42")
        .apply("ethtool -G $(reboot) rx 4096")
        .apply("taskset -apc 1 4242   # every thread")
        .apply("echo 3 > /sys/class/net/eth0/queues/rx-0/rps_cpus")
        .persist(
            "sysctl.d",
            Some("/etc/sysctl.d/90-hbwatch.conf"),
            "a = 1\nb = 2",
        )
        .undo("sysctl -w net.core.netdev_max_backlog=1000")
    }

    /// Lines the shell would run (not comments, not blank).
    fn live(s: &str) -> Vec<&str> {
        s.lines()
            .map(str::trim)
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .collect()
    }

    #[test]
    fn placeholders_and_substitutions_are_never_live_commands() {
        let s = script(&[rec()], "r.hbw");
        let live = live(&s);
        assert!(live.contains(&"run 'sysctl -w net.core.netdev_max_backlog=4096   # note'"));
        assert!(live.contains(&"run 'sysctl -w net.core.netdev_max_backlog=1000'"));
        assert!(
            !live
                .iter()
                .any(|l| l.contains("<CPUs>") || l.contains("$(reboot)")),
            "{s}"
        );
        assert!(s.contains("# EDIT FIRST") && s.contains("# REFUSED"));
        // Multi-line text stays inside comments.
        assert!(s.contains("#   b = 2\n"), "{s}");
        assert!(s.contains("# why: Risk line"), "{s}");
    }

    #[test]
    fn each_block_saves_what_it_overwrites_and_checks_its_pids() {
        let s = script(&[rec()], "r.hbw");
        let apply =
            &s[s.find("apply_1() {").expect("apply_1")..s.find("undo_1() {").expect("undo_1")];
        let lines = live(apply);
        let at = |l: &str| {
            lines
                .iter()
                .position(|x| *x == l)
                .unwrap_or_else(|| panic!("{l} missing: {apply}"))
        };
        assert!(
            at("save 1 '/proc/sys/net/core/netdev_max_backlog'")
                < at("run 'sysctl -w net.core.netdev_max_backlog=4096   # note'")
        );
        assert!(
            at("same_process 4242 'corosync'") < at("run 'taskset -apc 1 4242   # every thread'")
        );
        assert!(
            at("save 1 '/sys/class/net/eth0/queues/rx-0/rps_cpus'")
                < at("run 'echo 3 > /sys/class/net/eth0/queues/rx-0/rps_cpus'")
        );
        let undo = &s[s.find("undo_1() {").expect("undo_1")..];
        assert!(undo.contains("restore 1 && return 0"), "{undo}");
        // Undo without saved values runs the recorded ones and saves nothing itself.
        assert!(!undo.contains("save 1"), "{undo}");
        assert!(s.starts_with("#!/bin/sh\n") && s.contains("\nset -eu\n"));
        assert!(s.contains("BLOCKS=1") && s.contains("id -u"));
    }

    #[test]
    fn quoting_survives_single_quotes() {
        assert_eq!(quote("grep -E 'a|b'"), r"'grep -E '\''a|b'\'''");
        assert_eq!(
            sysctl_path("net.ipv4.conf.eth0/100.rp_filter"),
            "net/ipv4/conf/eth0.100/rp_filter"
        );
        assert_eq!(
            pids_in("cat /proc/77/status | grep x; cat /proc/77/stack"),
            vec![77]
        );
        assert_eq!(pids_in("chrt -o -p 0 4242"), vec![4242]);
        assert!(files_written("ethtool -G eth0 rx 4096").is_empty());
    }
}
