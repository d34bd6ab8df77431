//! Classic tracepoints need tracefs: find it (mounting it where absent) and read field offsets
//! from a tracepoint's `format` file, so no record layout is hard-coded.

use std::path::{Path, PathBuf};

use crate::probes::error::ProbeError;

const CANDIDATES: &[&str] = &["/sys/kernel/tracing", "/sys/kernel/debug/tracing"];

/// The tracefs mount, mounting it at /sys/kernel/tracing when nothing is mounted.
pub fn ensure_mounted() -> Result<PathBuf, ProbeError> {
    if let Some(p) = CANDIDATES
        .iter()
        .map(Path::new)
        .find(|p| p.join("events").is_dir())
    {
        return Ok(p.to_owned());
    }
    let target = c"/sys/kernel/tracing";
    // SAFETY: constant NUL-terminated strings; no data argument.
    let rc = unsafe {
        libc::mount(
            c"tracefs".as_ptr(),
            target.as_ptr(),
            c"tracefs".as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        return Err(ProbeError::TracefsUnavailable {
            source: std::io::Error::last_os_error(),
        });
    }
    Ok(PathBuf::from("/sys/kernel/tracing"))
}

/// Offset of `field` in the record of tracepoint `category/name`.
pub fn field_offset(
    tracefs: &Path,
    category: &str,
    name: &str,
    field: &str,
) -> Result<u32, ProbeError> {
    let path = format_path(tracefs, category, name);
    let text = read(&path)?;
    parse_field_offset(&text, field).ok_or_else(|| ProbeError::FieldMissing {
        path,
        field: field.to_owned(),
    })
}

/// The `format` file of tracepoint `category/name`.
pub fn format(tracefs: &Path, category: &str, name: &str) -> Result<String, ProbeError> {
    read(&format_path(tracefs, category, name))
}

fn format_path(tracefs: &Path, category: &str, name: &str) -> PathBuf {
    tracefs
        .join("events")
        .join(category)
        .join(name)
        .join("format")
}

fn read(path: &Path) -> Result<String, ProbeError> {
    std::fs::read_to_string(path).map_err(|source| ProbeError::TracefsRead {
        path: path.to_owned(),
        source,
    })
}

/// The value names a format file's print fmt gives `field`:
/// `__print_symbolic(REC->reason, { 2, "NOT_SPECIFIED" }, { 3, "NO_SOCKET" }, …)`. This is how
/// classic tracepoints name enum values (e.g. drop reasons) where no BTF is available.
pub fn print_symbolic(format: &str, field: &str) -> Vec<(u32, String)> {
    let needle = format!("__print_symbolic(REC->{field},");
    match format.find(&needle) {
        Some(start) => entries(&format[start + needle.len()..]),
        None => Vec::new(),
    }
}

/// The flag names of `__print_flags(REC->field …, "|", { 0x1, "S" }, …)` (the flag list starts
/// at the first brace; the mask expression before it has parentheses only).
pub fn print_flags(format: &str, field: &str) -> Vec<(u32, String)> {
    let needle = format!("__print_flags(REC->{field}");
    let Some(start) = format.find(&needle) else {
        return Vec::new();
    };
    let rest = &format[start + needle.len()..];
    match rest.find('{') {
        Some(brace) => entries(&rest[brace..]),
        None => Vec::new(),
    }
}

/// `{ number, "NAME" }` entries up to the first `)` outside an entry.
fn entries(mut rest: &str) -> Vec<(u32, String)> {
    let mut out = Vec::new();
    while let Some(open) = rest.find(['{', ')']) {
        if rest.as_bytes()[open] == b')' {
            break;
        }
        let Some(close) = rest[open..].find('}') else {
            break;
        };
        let entry = &rest[open + 1..open + close];
        if let Some((num, name)) = entry.split_once(',') {
            let num = num.trim();
            let value = match num.strip_prefix("0x") {
                Some(hex) => u32::from_str_radix(hex, 16).ok(),
                None => num.parse().ok(),
            };
            if let Some(v) = value {
                out.push((v, name.trim().trim_matches('"').to_owned()));
            }
        }
        rest = &rest[open + close + 1..];
    }
    out
}

/// Size in bytes of `field` in a format file's `field:` lines.
pub fn parse_field_size(format: &str, field: &str) -> Option<u32> {
    field_attr(format, field, "size:")
}

/// Parses `field:unsigned int vec;\toffset:8;\tsize:4;` lines of a format file.
pub fn parse_field_offset(format: &str, field: &str) -> Option<u32> {
    field_attr(format, field, "offset:")
}

/// One `key:value` attribute (`offset:`, `size:`) of `field`'s line in a format file.
fn field_attr(format: &str, field: &str, key: &str) -> Option<u32> {
    format.lines().find_map(|line| {
        let decl = line.trim().strip_prefix("field:")?;
        let (decl, rest) = decl.split_once(';')?;
        let ident = decl.rsplit([' ', '*']).next()?.split('[').next()?;
        if ident != field {
            return None;
        }
        rest.split(';')
            .find_map(|kv| kv.trim().strip_prefix(key)?.parse().ok())
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_symbolic_names_from_a_print_fmt() {
        let fmt = "print fmt: \"skbaddr=%p rx_sk=%p protocol=%u location=%pS reason: %s\", REC->skbaddr, REC->rx_sk, REC->protocol, REC->location, __print_symbolic(REC->reason, { 2, \"NOT_SPECIFIED\" }, { 3, \"NO_SOCKET\" }, { 0x1c, \"CPU_BACKLOG\" })\n";
        assert_eq!(
            super::print_symbolic(fmt, "reason"),
            vec![
                (2, "NOT_SPECIFIED".to_owned()),
                (3, "NO_SOCKET".to_owned()),
                (28, "CPU_BACKLOG".to_owned())
            ]
        );
        assert!(super::print_symbolic(fmt, "protocol").is_empty());
        assert!(super::print_symbolic("print fmt: \"x\"", "reason").is_empty());
    }

    #[test]
    fn reads_flag_names_after_a_mask_expression() {
        let fmt = "print fmt: \"prev_state=%s%s\", (REC->prev_state & ((((0x00000000 | 0x00000001) + 1) << 1) - 1)) ? __print_flags(REC->prev_state & ((((0x00000000 | 0x00000001 | 0x00000002) + 1) << 1) - 1), \"|\", { 0x00000001, \"S\" }, { 0x00000002, \"D\" }, { 0x00000080, \"I\" }) : \"R\", REC->next_pid";
        let flags = super::print_flags(fmt, "prev_state");
        assert_eq!(flags.len(), 3);
        assert_eq!(flags.iter().map(|f| f.0).max(), Some(0x80));
        assert!(super::print_flags(fmt, "next_pid").is_empty());
    }

    #[test]
    fn reads_offsets_from_a_real_format_file() {
        let fmt = "name: softirq_entry\nID: 140\nformat:\n\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;\n\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;\n\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;\n\n\tfield:unsigned int vec;\toffset:8;\tsize:4;\tsigned:0;\n\nprint fmt: \"vec=%u\"\n";
        assert_eq!(super::parse_field_offset(fmt, "vec"), Some(8));
        assert_eq!(super::parse_field_offset(fmt, "common_pid"), Some(4));
        assert_eq!(super::parse_field_offset(fmt, "nope"), None);
        let arr = "\tfield:char name[16];\toffset:12;\tsize:16;\tsigned:0;\n";
        assert_eq!(super::parse_field_offset(arr, "name"), Some(12));
    }
}
