//! What the classic-tracepoint fallback (kernels without BTF) reads from tracefs before the
//! object is loaded: each record field's offset from its tracepoint's `format` file, drop reason
//! names from `kfree_skb`'s print format, and the `prev_state` bits that mean "asleep" from
//! `sched_switch`'s. A missing field is `NO_OFFSET` and a note says what goes unmeasured.

use std::path::Path;

use agent_common::{drops::NO_OFFSET, tracepoints::TracepointOffsets};

use super::tracefs;

pub struct ClassicFields {
    pub offsets: TracepointOffsets,
    pub drop_reasons: Vec<(u32, String)>,
    /// Fields this kernel's records lack (each names what goes unmeasured).
    pub notes: Vec<String>,
}

impl ClassicFields {
    pub fn read(tfs: &Path) -> ClassicFields {
        Self::from_formats(|cat, tp| tracefs::format(tfs, cat, tp).ok())
    }

    /// `format(category, name)` gives a tracepoint's format file, None when it is absent.
    pub fn from_formats(format: impl Fn(&str, &str) -> Option<String>) -> ClassicFields {
        let mut o = TracepointOffsets::UNKNOWN;
        let mut notes = Vec::new();
        let mut offset = |fmt: &Option<String>, names: &[&str], note: &str| -> u32 {
            let off = fmt
                .as_deref()
                .and_then(|f| names.iter().find_map(|n| tracefs::parse_field_offset(f, n)));
            if off.is_none() && !note.is_empty() {
                notes.push(note.to_owned());
            }
            off.unwrap_or(NO_OFFSET)
        };
        let kfree = format("skb", "kfree_skb");
        o.kfree_reason = offset(
            &kfree,
            &["reason"],
            "kfree_skb has no drop reason (kernel before 5.17)",
        );
        o.kfree_protocol = offset(&kfree, &["protocol"], "");
        let udp = format("udp", "udp_fail_queue_rcv_skb");
        o.udp_rc = offset(&udp, &["rc"], "");
        // 6.x records the packet's ports (the local one is `dport`); older kernels `lport`.
        o.udp_lport = offset(
            &udp,
            &["dport", "lport"],
            "udp_fail_queue_rcv_skb has no local port",
        );
        o.udp_family = offset(&udp, &["family"], "");
        let napi = format("napi", "napi_poll");
        o.napi_dev_name = offset(&napi, &["dev_name"], "napi_poll has no dev_name");
        o.napi_work = offset(&napi, &["work"], "");
        o.napi_budget = offset(&napi, &["budget"], "");
        o.irq_entry_irq = offset(&format("irq", "irq_handler_entry"), &["irq"], "");
        o.irq_exit_irq = offset(&format("irq", "irq_handler_exit"), &["irq"], "");
        o.sched_wakeup_pid = offset(&format("sched", "sched_wakeup"), &["pid"], "");
        let switch = format("sched", "sched_switch");
        o.sched_prev_pid = offset(&switch, &["prev_pid"], "");
        o.sched_prev_state = offset(&switch, &["prev_state"], "");
        o.sched_next_pid = offset(&switch, &["next_pid"], "");
        if let Some(f) = &switch {
            o.sched_prev_state_size = tracefs::parse_field_size(f, "prev_state").unwrap_or(0);
            // The flags printed for a sleeping task; none of them set reads "R" (runnable).
            let top = tracefs::print_flags(f, "prev_state")
                .iter()
                .map(|(v, _)| *v)
                .max()
                .unwrap_or(0);
            o.sched_sleep_mask = top.checked_mul(2).map_or(u32::MAX, |m| m.saturating_sub(1));
        }
        let drop_reasons = kfree
            .as_deref()
            .map(|f| tracefs::print_symbolic(f, "reason"))
            .unwrap_or_default();
        ClassicFields {
            offsets: o,
            drop_reasons,
            notes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_of_this_kernels_formats() {
        let switch = "\tfield:pid_t prev_pid;\toffset:24;\tsize:4;\tsigned:1;\n\tfield:long prev_state;\toffset:32;\tsize:8;\tsigned:1;\n\tfield:pid_t next_pid;\toffset:56;\tsize:4;\tsigned:1;\nprint fmt: \"x\", (REC->prev_state & 0xff) ? __print_flags(REC->prev_state & ((((0x00000000 | 0x00000001) + 1) << 1) - 1), \"|\", { 0x00000001, \"S\" }, { 0x00000080, \"I\" }) : \"R\"\n";
        let kfree = "\tfield:unsigned short protocol;\toffset:32;\tsize:2;\tsigned:0;\n\tfield:enum skb_drop_reason reason;\toffset:36;\tsize:4;\tsigned:0;\nprint fmt: \"r\", __print_symbolic(REC->reason, { 2, \"NOT_SPECIFIED\" }, { 6, \"SOCKET_RCVBUFF\" })\n";
        let c = ClassicFields::from_formats(|cat, tp| match (cat, tp) {
            ("sched", "sched_switch") => Some(switch.to_owned()),
            ("skb", "kfree_skb") => Some(kfree.to_owned()),
            _ => None,
        });
        let o = c.offsets;
        assert_eq!(
            (o.sched_prev_pid, o.sched_prev_state, o.sched_next_pid),
            (24, 32, 56)
        );
        assert_eq!(o.sched_prev_state_size, 8);
        assert_eq!(o.sched_sleep_mask, 0xff);
        assert_eq!((o.kfree_reason, o.kfree_protocol), (36, 32));
        assert_eq!(c.drop_reasons[1], (6, "SOCKET_RCVBUFF".to_owned()));
        // Absent tracepoints: unknown offsets, and a note for what that leaves unmeasured.
        assert_eq!(o.napi_dev_name, NO_OFFSET);
        assert!(
            c.notes.iter().any(|n| n.contains("dev_name")),
            "{:?}",
            c.notes
        );
    }
}
