//! `journal:UNIT`: follows the systemd journal through `journalctl -f -o json`, using each
//! entry's own realtime stamp.

use std::process::Stdio;

use tokio::{
    io::{AsyncBufReadExt as _, BufReader},
    process::Command,
};

/// One journal entry: its message and `__REALTIME_TIMESTAMP` in nanoseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub message: String,
    pub realtime_ns: Option<i64>,
}

/// Parses one line of `journalctl -o json`. `MESSAGE` may be a string or, for non-UTF-8 text, an
/// array of bytes.
pub fn parse_entry(line: &str) -> Option<Entry> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    let message = match v.get("MESSAGE")? {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Array(bytes) => {
            let b: Vec<u8> = bytes
                .iter()
                .filter_map(|x| x.as_u64())
                .map(|x| x as u8)
                .collect();
            String::from_utf8_lossy(&b).into_owned()
        }
        _ => return None,
    };
    let realtime_ns = v
        .get("__REALTIME_TIMESTAMP")
        .and_then(|t| t.as_str())
        .and_then(|t| t.parse::<i64>().ok())
        .map(|us| us * 1000);
    Some(Entry {
        message,
        realtime_ns,
    })
}

/// Whether this host runs journald.
pub fn available() -> bool {
    std::path::Path::new("/run/systemd/journal").exists()
}

/// Starts `journalctl` for `unit`; yields entries until it exits.
pub struct JournalStream {
    child: tokio::process::Child,
    lines: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
}

impl JournalStream {
    pub fn spawn(unit: &str) -> std::io::Result<Self> {
        let mut child = Command::new("journalctl")
            .args(["--follow", "--lines=0", "--output=json", "--unit", unit])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()?;
        let out = child
            .stdout
            .take()
            .ok_or_else(|| std::io::Error::other("journalctl without stdout"))?;
        Ok(JournalStream {
            child,
            lines: BufReader::new(out).lines(),
        })
    }

    /// The next entry; `None` when journalctl ended.
    pub async fn next(&mut self) -> Option<Entry> {
        loop {
            match self.lines.next_line().await {
                Ok(Some(l)) => {
                    if let Some(e) = parse_entry(&l) {
                        return Some(e);
                    }
                }
                _ => {
                    let _ = self.child.wait().await;
                    return None;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_journal_json() {
        let l = r#"{"__REALTIME_TIMESTAMP":"1795327907147000","_SYSTEMD_UNIT":"corosync.service","MESSAGE":"[TOTEM ] Token has not been received in 750 ms"}"#;
        let e = parse_entry(l).expect("entry");
        assert_eq!(e.realtime_ns, Some(1_795_327_907_147_000_000));
        assert!(e.message.starts_with("[TOTEM ]"));
        let b = r#"{"MESSAGE":[104,105,255]}"#;
        assert_eq!(parse_entry(b).expect("bytes").message, "hi\u{fffd}");
        assert_eq!(parse_entry("not json"), None);
    }
}
