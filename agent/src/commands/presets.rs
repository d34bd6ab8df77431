//! `hbwatch presets`: the log presets, what each reports, and an example line.

use std::io::Write as _;

use anyhow::Context as _;

use crate::{
    commands::{Failure, ResultExt as _},
    protocol::presets::PRESETS,
};

pub fn run() -> Result<(), Failure> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    render(&mut out)
        .and_then(|()| out.flush())
        .context("writing the preset list")
        .runtime()
}

pub fn render(out: &mut dyn std::io::Write) -> std::io::Result<()> {
    writeln!(
        out,
        "Presets for --heartbeat log:PATH:PRESET and journal:UNIT:PRESET\n\
         peer-silence: this node stopped hearing a peer · self-stall: this process itself ran late\n"
    )?;
    for p in PRESETS {
        let interval = p
            .interval_ms
            .map(|ms| {
                format!(
                    " · usual interval {}",
                    humantime::format_duration(std::time::Duration::from_millis(ms))
                )
            })
            .unwrap_or_default();
        writeln!(
            out,
            "{:<15} {} — {}{}",
            p.name,
            p.families().join(", "),
            p.system,
            interval
        )?;
        writeln!(out, "                e.g. {}", p.example.trim_end())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn lists_every_preset_with_an_example() {
        let mut out = Vec::new();
        super::render(&mut out).expect("render");
        let text = String::from_utf8(out).expect("utf8");
        for p in crate::protocol::presets::PRESETS {
            assert!(
                text.contains(p.name) && text.contains(p.example.trim_end()),
                "{}",
                p.name
            );
        }
        assert!(text.contains("self-stall") && text.contains("clock-jump"));
    }
}
