//! The bytes a reader walks: a whole buffer (tests, fuzzing) or a file read through a sliding window.

use std::{fs::File, io, os::unix::fs::FileExt as _};

/// How much of a file one refill reads; frames are one second of records, far smaller.
pub(super) const WINDOW: usize = 1 << 20;

enum Backing {
    Bytes,
    File(File),
}

/// Random access to a recording's bytes that keeps at most one window (or one frame) in memory
/// when backed by a file. The length is fixed when opened: bytes appended later are not read.
pub struct Source {
    backing: Backing,
    len: u64,
    /// Bytes `start..start + buf.len()` of the recording.
    buf: Vec<u8>,
    start: u64,
}

impl Source {
    pub fn from_bytes(data: Vec<u8>) -> Self {
        Source {
            backing: Backing::Bytes,
            len: data.len() as u64,
            buf: data,
            start: 0,
        }
    }

    pub fn from_file(file: File) -> io::Result<Self> {
        let len = file.metadata()?.len();
        Ok(Source {
            backing: Backing::File(file),
            len,
            buf: Vec::new(),
            start: 0,
        })
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    /// Up to `n` bytes from `pos` (fewer only at the end of the recording).
    pub fn get(&mut self, pos: u64, n: usize) -> io::Result<&[u8]> {
        let pos = pos.min(self.len);
        let end = pos.saturating_add(n as u64).min(self.len);
        let covered = pos >= self.start && end <= self.start + self.buf.len() as u64;
        if !covered {
            let Backing::File(file) = &self.backing else {
                // A byte-backed source holds everything; asking past it is a reader bug.
                return Err(io::Error::other("read outside an in-memory recording"));
            };
            let want = (end - pos).max(WINDOW as u64).min(self.len - pos) as usize;
            self.buf.clear();
            self.buf.resize(want, 0);
            if let Err(e) = file.read_exact_at(&mut self.buf, pos) {
                self.buf.clear();
                return Err(e);
            }
            // A large frame needed a large window; do not keep it for the rest of the file.
            if self.buf.capacity() > 2 * WINDOW && want <= WINDOW {
                self.buf.shrink_to(WINDOW);
            }
            self.start = pos;
        }
        let from = (pos - self.start) as usize;
        Ok(&self.buf[from..from + (end - pos) as usize])
    }

    /// Offset of the first occurrence of `needle` at or after `from`.
    pub fn find(&mut self, from: u64, needle: &[u8]) -> io::Result<Option<u64>> {
        let mut at = from;
        while at < self.len {
            let chunk = self.get(at, WINDOW)?;
            if let Some(p) = memchr::memmem::find(chunk, needle) {
                return Ok(Some(at + p as u64));
            }
            let got = chunk.len() as u64;
            if at + got >= self.len {
                return Ok(None);
            }
            // Overlap so a needle straddling two windows is still found.
            at += got.saturating_sub(needle.len() as u64 - 1).max(1);
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_needle_straddling_two_windows_and_reads_across_them() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("s");
        let mut data = vec![0u8; WINDOW * 2 + 10];
        data[WINDOW - 2..WINDOW + 2].copy_from_slice(b"HBWF");
        std::fs::write(&path, &data).expect("write");
        let mut s = Source::from_file(File::open(&path).expect("open")).expect("source");
        assert_eq!(s.find(0, b"HBWF").expect("find"), Some(WINDOW as u64 - 2));
        assert_eq!(s.find(WINDOW as u64, b"HBWF").expect("find"), None);
        let across = s.get(WINDOW as u64 - 2, 4).expect("get").to_vec();
        assert_eq!(across, b"HBWF");
        // Near the end fewer bytes come back, never an error.
        assert_eq!(s.get(s.len() - 3, 100).expect("tail").len(), 3);
        let mut m = Source::from_bytes(data);
        assert_eq!(m.find(1, b"HBWF").expect("find"), Some(WINDOW as u64 - 2));
    }
}
