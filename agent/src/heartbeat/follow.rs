//! Follows a log file like `tail -F`: from its end (or start), across rotation by rename and by
//! copytruncate, waiting for a file that does not exist yet; splits lines, keeping a partial last
//! line until it ends, dropping CR before LF, cutting lines over [`MAX_LINE`] and decoding invalid
//! UTF-8 lossily (both counted).

use std::{
    fs::File,
    io::{ErrorKind, Read as _},
    os::unix::fs::{FileExt as _, MetadataExt as _},
    path::{Path, PathBuf},
};

use crate::recording::records::WarningKind;

/// Longer lines are cut to this and counted.
pub const MAX_LINE: usize = 64 * 1024;
/// Bytes before the read position remembered to recognise truncation and the rotated copy.
const FINGERPRINT: usize = 64;
/// At most this much is read per poll, so one busy file cannot starve the others.
const MAX_PER_POLL: u64 = 16 << 20;

/// Line-level counts since the follower started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FollowCounts {
    pub lines: u64,
    pub bytes: u64,
    pub long_lines_cut: u64,
    pub invalid_utf8: u64,
}

/// What a poll has to say besides lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowWarning {
    pub kind: WarningKind,
    pub detail: String,
}

pub struct Follower {
    path: PathBuf,
    file: Option<(File, (u64, u64))>,
    pos: u64,
    /// The bytes just before `pos`.
    tail: Vec<u8>,
    partial: Vec<u8>,
    /// Inside a line already cut at [`MAX_LINE`]: skip to its end.
    discarding: bool,
    started: bool,
    from_start: bool,
    /// The warning last given, so a lasting condition is reported once.
    warned: Option<WarningKind>,
    pub counts: FollowCounts,
    buf: Vec<u8>,
}

impl Follower {
    pub fn new(path: impl Into<PathBuf>, from_start: bool) -> Self {
        Follower {
            path: path.into(),
            file: None,
            pos: 0,
            tail: Vec::new(),
            partial: Vec::new(),
            discarding: false,
            started: false,
            from_start,
            warned: None,
            counts: FollowCounts::default(),
            buf: vec![0; 256 * 1024],
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads whatever is new, calling `line` for each complete line; returns warnings.
    pub fn poll(&mut self, line: &mut dyn FnMut(&str)) -> Vec<FollowWarning> {
        let mut warnings = Vec::new();
        if self.file.is_none() && !self.open(&mut warnings) {
            return warnings;
        }
        if self.truncated() {
            self.recover_copy(line, &mut warnings);
        }
        let eof = self.read_available(line);
        if eof {
            self.check_rename(line, &mut warnings);
        }
        warnings
    }

    fn warn(&mut self, out: &mut Vec<FollowWarning>, kind: WarningKind, detail: String) {
        if self.warned != Some(kind) || kind == WarningKind::Rotated {
            out.push(FollowWarning { kind, detail });
        }
        if kind != WarningKind::Rotated {
            self.warned = Some(kind);
        }
    }

    fn open(&mut self, warnings: &mut Vec<FollowWarning>) -> bool {
        let first = !self.started;
        self.started = true;
        let opened = File::open(&self.path).and_then(|f| {
            let m = f.metadata()?;
            Ok((f, m))
        });
        match opened {
            Ok((f, m)) => {
                if self.warned.take().is_some() {
                    warnings.push(FollowWarning {
                        kind: WarningKind::Recovered,
                        detail: format!("{}: readable", self.path.display()),
                    });
                }
                // A file present at start is followed from its end; one that appears later, whole.
                self.pos = if first && !self.from_start {
                    m.len()
                } else {
                    0
                };
                self.tail.clear();
                if self.pos > 0 {
                    let n = (self.pos as usize).min(FINGERPRINT);
                    let mut t = vec![0; n];
                    if f.read_exact_at(&mut t, self.pos - n as u64).is_ok() {
                        self.tail = t;
                    }
                }
                self.file = Some((f, (m.dev(), m.ino())));
                true
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {
                let d = format!(
                    "{}: does not exist (yet); waiting for it",
                    self.path.display()
                );
                self.warn(warnings, WarningKind::Vanished, d);
                false
            }
            Err(e) => {
                let d = format!("{}: {e}", self.path.display());
                self.warn(warnings, WarningKind::Unreadable, d);
                false
            }
        }
    }

    /// The file is shorter than where we are, or the bytes before our position changed.
    fn truncated(&self) -> bool {
        let Some((f, _)) = &self.file else {
            return false;
        };
        let Ok(m) = f.metadata() else { return false };
        if m.len() < self.pos {
            return true;
        }
        if self.tail.is_empty() {
            return false;
        }
        let mut now = vec![0; self.tail.len()];
        match f.read_exact_at(&mut now, self.pos - self.tail.len() as u64) {
            Ok(()) => now != self.tail,
            Err(_) => true,
        }
    }

    /// After copytruncate, reads what was written between our last read and the copy from the
    /// copy itself (found by the bytes before our position), then starts over at 0.
    fn recover_copy(&mut self, line: &mut dyn FnMut(&str), warnings: &mut Vec<FollowWarning>) {
        let mut how =
            "copytruncate; rotated copy not found, lines written just before may be missed"
                .to_owned();
        if let Some(copy) = self.find_copy() {
            how = format!("copytruncate; rest read from {}", copy.display());
            if let Ok(mut f) = File::open(&copy) {
                let mut rest = Vec::new();
                use std::io::{Seek as _, SeekFrom};
                if f.seek(SeekFrom::Start(self.pos)).is_ok() && f.read_to_end(&mut rest).is_ok() {
                    self.split(&rest, line);
                }
            }
        }
        self.finish_partial(line);
        self.pos = 0;
        self.tail.clear();
        let d = format!("{}: {how}", self.path.display());
        self.warn(warnings, WarningKind::Rotated, d);
    }

    fn find_copy(&self) -> Option<PathBuf> {
        let dir = self.path.parent().filter(|d| !d.as_os_str().is_empty());
        let dir = dir.unwrap_or(Path::new("."));
        let base = self.path.file_name()?.to_str()?;
        let mut best: Option<(std::time::SystemTime, PathBuf)> = None;
        for e in std::fs::read_dir(dir).ok()?.flatten() {
            let name = e.file_name();
            let Some(name) = name.to_str() else { continue };
            if name == base || !name.starts_with(base) {
                continue;
            }
            let p = e.path();
            let (Ok(f), Ok(m)) = (File::open(&p), e.metadata()) else {
                continue;
            };
            if m.len() < self.pos || self.tail.is_empty() {
                continue;
            }
            let mut t = vec![0; self.tail.len()];
            let at = self.pos - t.len() as u64;
            if f.read_exact_at(&mut t, at).is_err() || t != self.tail {
                continue;
            }
            let when = m.modified().unwrap_or(std::time::UNIX_EPOCH);
            if best.as_ref().is_none_or(|(w, _)| when > *w) {
                best = Some((when, p));
            }
        }
        best.map(|(_, p)| p)
    }

    /// Reads to end of file (or the per-poll budget); true at end of file.
    fn read_available(&mut self, line: &mut dyn FnMut(&str)) -> bool {
        let mut budget = MAX_PER_POLL;
        let mut buf = std::mem::take(&mut self.buf);
        let eof = loop {
            let Some((f, _)) = &self.file else { break true };
            let n = match f.read_at(&mut buf, self.pos) {
                Ok(0) => break true,
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => break true,
            };
            self.pos += n as u64;
            let chunk = &buf[..n];
            let keep = chunk.len().min(FINGERPRINT);
            if keep == FINGERPRINT {
                self.tail.clear();
            } else {
                let excess = (self.tail.len() + keep).saturating_sub(FINGERPRINT);
                self.tail.drain(..excess);
            }
            self.tail.extend_from_slice(&chunk[chunk.len() - keep..]);
            self.split(chunk, line);
            budget = budget.saturating_sub(n as u64);
            if budget == 0 {
                break false;
            }
        };
        self.buf = buf;
        eof
    }

    /// Replaced by a new file at the path (rename rotation), or gone.
    fn check_rename(&mut self, line: &mut dyn FnMut(&str), warnings: &mut Vec<FollowWarning>) {
        let Some((_, id)) = &self.file else { return };
        match std::fs::metadata(&self.path) {
            Ok(m) if (m.dev(), m.ino()) != *id => {
                // The writer has moved on: whatever is left in the old file is complete.
                self.read_available(line);
                self.finish_partial(line);
                self.file = None;
                let d = format!("{}: rotated (new file)", self.path.display());
                self.warn(warnings, WarningKind::Rotated, d);
                self.open(warnings);
                self.read_available(line);
            }
            Ok(_) => {
                if self.warned == Some(WarningKind::Vanished) {
                    self.warned = None;
                }
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {
                let d = format!(
                    "{}: vanished; still reading the open file",
                    self.path.display()
                );
                self.warn(warnings, WarningKind::Vanished, d);
            }
            Err(_) => {}
        }
    }

    fn finish_partial(&mut self, line: &mut dyn FnMut(&str)) {
        if !self.partial.is_empty() {
            let p = std::mem::take(&mut self.partial);
            self.emit(&p, line);
        }
        self.discarding = false;
    }

    fn split(&mut self, mut chunk: &[u8], line: &mut dyn FnMut(&str)) {
        while let Some(i) = memchr::memchr(b'\n', chunk) {
            let (head, rest) = (&chunk[..i], &chunk[i + 1..]);
            if self.discarding {
                self.discarding = false;
            } else if self.partial.is_empty() {
                if head.len() > MAX_LINE {
                    self.counts.long_lines_cut += 1;
                    self.emit(&head[..MAX_LINE], line);
                } else {
                    self.emit(head, line);
                }
            } else {
                let room = MAX_LINE.saturating_sub(self.partial.len());
                if head.len() > room {
                    self.counts.long_lines_cut += 1;
                }
                self.partial
                    .extend_from_slice(&head[..head.len().min(room)]);
                let p = std::mem::take(&mut self.partial);
                self.emit(&p, line);
            }
            chunk = rest;
        }
        if self.discarding || chunk.is_empty() {
            return;
        }
        let room = MAX_LINE - self.partial.len();
        if chunk.len() > room {
            self.partial.extend_from_slice(&chunk[..room]);
            self.counts.long_lines_cut += 1;
            let p = std::mem::take(&mut self.partial);
            self.emit(&p, line);
            self.discarding = true;
        } else {
            self.partial.extend_from_slice(chunk);
        }
    }

    fn emit(&mut self, raw: &[u8], line: &mut dyn FnMut(&str)) {
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        self.counts.lines += 1;
        self.counts.bytes += raw.len() as u64 + 1;
        match std::str::from_utf8(raw) {
            Ok(s) => line(s),
            Err(_) => {
                self.counts.invalid_utf8 += 1;
                line(&String::from_utf8_lossy(raw));
            }
        }
    }
}

#[cfg(test)]
#[path = "follow_tests.rs"]
mod tests;
