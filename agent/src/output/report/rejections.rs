//! The verifier logs of programs the kernel refused, under the report's "Not measured": the
//! end of each log, where the verifier says why (the whole log is in the JSON report).

use std::io::{Result, Write};

use crate::analysis::RecordingSummary;

/// Lines of each log shown in the text report.
const TAIL_LINES: usize = 12;

pub fn render_text(s: &RecordingSummary, out: &mut dyn Write) -> Result<()> {
    for r in &s.rejections {
        let lines: Vec<&str> = r.log.lines().filter(|l| !l.trim().is_empty()).collect();
        let shown = &lines[lines.len().saturating_sub(TAIL_LINES)..];
        writeln!(
            out,
            "  verifier log of {} ({} {}), last {} of {} lines:",
            r.program,
            r.attach,
            r.tracepoint,
            shown.len(),
            lines.len()
        )?;
        for l in shown {
            writeln!(out, "      {}", l.trim_end())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recording::records::ProgramRejection;

    #[test]
    fn shows_the_end_of_each_log() {
        let mut s = RecordingSummary::new(crate::output::export::synthetic::header(), (1, 3));
        let log: Vec<String> = (0..30).map(|i| format!("{i}: insn")).collect();
        s.rejections.push(ProgramRejection {
            at_mono_ns: 1,
            program: "softirq_entry".into(),
            attach: "tp_btf".into(),
            tracepoint: "softirq_entry".into(),
            log: log.join("\n") + "\nR1 unbounded memory access\n",
        });
        let mut out = Vec::new();
        render_text(&s, &mut out).expect("render");
        let text = String::from_utf8(out).expect("utf8");
        assert!(
            text.contains(
                "verifier log of softirq_entry (tp_btf softirq_entry), last 12 of 31 lines"
            ),
            "{text}"
        );
        assert!(text.contains("R1 unbounded memory access"), "{text}");
        assert!(!text.contains(" 18: insn"), "{text}");
        assert!(text.contains("19: insn"), "{text}");
    }
}
