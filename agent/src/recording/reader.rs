//! Reads a recording back, tolerating what crashes leave behind: a torn last frame is counted as
//! truncated, a corrupt middle frame is skipped (the reader resyncs on the next valid frame), and
//! records of kinds this version does not know are skipped and counted.

use std::{
    collections::VecDeque,
    path::{Path, PathBuf},
};

use serde::Serialize;

use super::{
    format::{
        FRAME_HEAD_LEN, FRAME_SYNC, MAGIC, MAJOR, MAX_SECTION_LEN, PREAMBLE_LEN, RecordingError,
    },
    records::{Header, Record},
};

/// What reading skipped or could not understand; shown in every report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReadStats {
    pub frames: u64,
    pub records: u64,
    /// Frames in the middle of the file that failed their checksum or did not decode.
    pub corrupt_frames: u64,
    /// Bytes passed over while resynchronising after corrupt frames.
    pub skipped_bytes: u64,
    /// Bytes of an incomplete last frame (the recorder was killed mid-write).
    pub truncated_tail_bytes: u64,
    /// Records of a kind this hbwatch does not know (written by a newer minor version).
    pub unknown_records: u64,
}

pub struct RecordingReader {
    data: Vec<u8>,
    header: Header,
    version: (u16, u16),
    pos: usize,
    stats: ReadStats,
    queue: VecDeque<Record>,
}

fn le_u16(b: &[u8]) -> u16 {
    u16::from_le_bytes([b[0], b[1]])
}
fn le_u32(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

impl RecordingReader {
    pub fn open(path: &Path) -> Result<Self, RecordingError> {
        let data = std::fs::read(path).map_err(|source| RecordingError::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::from_bytes(path, data)
    }

    /// `path` only names the data in errors.
    pub fn from_bytes(path: &Path, data: Vec<u8>) -> Result<Self, RecordingError> {
        let path: PathBuf = path.to_owned();
        if data.len() < MAGIC.len() || &data[..MAGIC.len()] != MAGIC {
            return Err(RecordingError::NotARecording { path });
        }
        let corrupt = |why: &str| RecordingError::CorruptHeader {
            path: path.clone(),
            why: why.into(),
        };
        if data.len() < PREAMBLE_LEN {
            return Err(corrupt("file ends inside the preamble"));
        }
        let major = le_u16(&data[8..]);
        let minor = le_u16(&data[10..]);
        if major > MAJOR {
            return Err(RecordingError::NewerVersion { path, major, minor });
        }
        let len = le_u32(&data[12..]) as usize;
        let crc = le_u32(&data[16..]);
        if len as u64 > MAX_SECTION_LEN as u64 || PREAMBLE_LEN + len > data.len() {
            return Err(corrupt("header length runs past the end of the file"));
        }
        let body = &data[PREAMBLE_LEN..PREAMBLE_LEN + len];
        if crc32fast::hash(body) != crc {
            return Err(corrupt("header checksum mismatch"));
        }
        let header: Header = postcard::from_bytes(body)
            .map_err(|e| corrupt(&format!("header does not decode: {e}")))?;
        Ok(RecordingReader {
            data,
            header,
            version: (major, minor),
            pos: PREAMBLE_LEN + len,
            stats: ReadStats::default(),
            queue: VecDeque::new(),
        })
    }

    pub fn header(&self) -> &Header {
        &self.header
    }
    pub fn version(&self) -> (u16, u16) {
        self.version
    }
    /// Counts so far; complete once the iterator is exhausted.
    pub fn stats(&self) -> &ReadStats {
        &self.stats
    }

    /// Decodes the next valid frame into the queue; false at the end of the data.
    fn read_frame(&mut self) -> bool {
        loop {
            let rest = &self.data[self.pos..];
            if rest.is_empty() {
                return false;
            }
            if rest.len() < FRAME_HEAD_LEN || &rest[..4] != FRAME_SYNC {
                if rest.len() < FRAME_HEAD_LEN && FRAME_SYNC.starts_with(&rest[..rest.len().min(4)])
                {
                    self.stats.truncated_tail_bytes += rest.len() as u64;
                    self.pos = self.data.len();
                    return false;
                }
                self.resync(1);
                continue;
            }
            let len = le_u32(&rest[4..]) as usize;
            let crc = le_u32(&rest[8..]);
            let end = FRAME_HEAD_LEN + len;
            if len as u64 > MAX_SECTION_LEN as u64 || end > rest.len() {
                // Incomplete: the torn tail, unless a valid-looking frame follows.
                if self.next_sync(self.pos + 1).is_none() {
                    self.stats.truncated_tail_bytes += rest.len() as u64;
                    self.pos = self.data.len();
                    return false;
                }
                self.resync(1);
                continue;
            }
            let payload = &rest[FRAME_HEAD_LEN..end];
            if crc32fast::hash(payload) != crc {
                self.resync(1);
                continue;
            }
            // The writer stores each frame's decompressed size; allocating that, not the 64 MB
            // limit, keeps a report (and a fuzzer) from reserving the limit once per frame.
            let capacity = zstd::zstd_safe::get_frame_content_size(payload)
                .ok()
                .flatten()
                .filter(|&n| n <= MAX_SECTION_LEN as u64)
                .unwrap_or(MAX_SECTION_LEN as u64) as usize;
            let Ok(raw) = zstd::bulk::decompress(payload, capacity) else {
                self.resync(1);
                continue;
            };
            self.pos += end;
            self.stats.frames += 1;
            self.decode_records(&raw);
            return true;
        }
    }

    fn decode_records(&mut self, mut raw: &[u8]) {
        while raw.len() >= 4 {
            let len = le_u32(raw) as usize;
            if 4 + len > raw.len() {
                self.stats.unknown_records += 1;
                return;
            }
            match postcard::from_bytes::<Record>(&raw[4..4 + len]) {
                Ok(r) => {
                    self.stats.records += 1;
                    self.queue.push_back(r);
                }
                Err(_) => self.stats.unknown_records += 1,
            }
            raw = &raw[4 + len..];
        }
    }

    fn next_sync(&self, from: usize) -> Option<usize> {
        let hay = self.data.get(from..)?;
        hay.windows(4)
            .position(|w| w == FRAME_SYNC)
            .map(|p| from + p)
    }

    /// Counts one corrupt frame and moves to the next frame marker after `pos + skip`.
    fn resync(&mut self, skip: usize) {
        self.stats.corrupt_frames += 1;
        let target = self.next_sync(self.pos + skip).unwrap_or(self.data.len());
        self.stats.skipped_bytes += (target - self.pos) as u64;
        self.pos = target;
    }
}

impl Iterator for RecordingReader {
    type Item = Record;
    fn next(&mut self) -> Option<Record> {
        loop {
            if let Some(r) = self.queue.pop_front() {
                return Some(r);
            }
            if !self.read_frame() {
                return None;
            }
        }
    }
}
