//! Classic tracepoints need tracefs: find it (mounting it where absent) and read field offsets
//! from a tracepoint's `format` file, so no record layout is hard-coded.

use std::path::{Path, PathBuf};

const CANDIDATES: &[&str] = &["/sys/kernel/tracing", "/sys/kernel/debug/tracing"];

/// The tracefs mount, mounting it at /sys/kernel/tracing when nothing is mounted.
pub fn ensure_mounted() -> Result<PathBuf, String> {
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
        return Err(format!(
            "tracefs is not mounted and mounting it failed ({}); run `mount -t tracefs tracefs /sys/kernel/tracing`",
            std::io::Error::last_os_error()
        ));
    }
    Ok(PathBuf::from("/sys/kernel/tracing"))
}

/// Offset of `field` in the record of tracepoint `category/name`.
pub fn field_offset(
    tracefs: &Path,
    category: &str,
    name: &str,
    field: &str,
) -> Result<u32, String> {
    let path = tracefs
        .join("events")
        .join(category)
        .join(name)
        .join("format");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    parse_field_offset(&text, field)
        .ok_or_else(|| format!("{}: no field `{field}`", path.display()))
}

/// Parses `field:unsigned int vec;\toffset:8;\tsize:4;` lines of a format file.
pub fn parse_field_offset(format: &str, field: &str) -> Option<u32> {
    format.lines().find_map(|line| {
        let decl = line.trim().strip_prefix("field:")?;
        let (decl, rest) = decl.split_once(';')?;
        let ident = decl.rsplit([' ', '*']).next()?.split('[').next()?;
        if ident != field {
            return None;
        }
        rest.split(';')
            .find_map(|kv| kv.trim().strip_prefix("offset:")?.parse().ok())
    })
}

#[cfg(test)]
mod tests {
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
