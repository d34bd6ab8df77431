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
    source::Source,
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

/// Streams records frame by frame: only the current frame (and a read window) is in memory, so
/// folding a long recording costs what its summary costs, not what the file weighs.
pub struct RecordingReader {
    src: Source,
    path: PathBuf,
    header: Header,
    version: (u16, u16),
    /// Where the first frame starts (for [`RecordingReader::rewind`]).
    frames_at: u64,
    pos: u64,
    stats: ReadStats,
    queue: VecDeque<Record>,
    /// One zstd context for every frame: making one per frame cost a tenth of a report's time.
    dctx: Option<zstd::bulk::Decompressor<'static>>,
    /// Encoded records this returns true for are passed over undecoded (a second pass that needs
    /// only some of them).
    skip: Option<SkipFn>,
}

/// A predicate over a record's encoded bytes.
type SkipFn = Box<dyn Fn(&[u8]) -> bool>;

/// Postcard's position of [`Record::Softirq`] in the enum (checked by a test).
const SOFTIRQ_TAG: u32 = 1;

/// The interval of an encoded [`Record::Softirq`] without decoding its cells; None for any other
/// record. Postcard writes the variant, then the struct's fields in order.
pub fn softirq_times(raw: &[u8]) -> Option<(u64, u64)> {
    let ((tag, start, end), _) = postcard::take_from_bytes::<(u32, u64, u64)>(raw).ok()?;
    (tag == SOFTIRQ_TAG).then_some((start, end))
}

fn le_u16(b: &[u8]) -> u16 {
    u16::from_le_bytes([b[0], b[1]])
}
fn le_u32(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

impl RecordingReader {
    /// Opens a recording file; frames are read as the iterator advances. Bytes appended after
    /// this call (a recording still being written) are not read.
    /// `-` reads standard input (see [`super::input::spool_stdin`]); any other path must be a
    /// regular file: a FIFO or device is refused at once, never read (it could block or never end).
    pub fn open(path: &Path) -> Result<Self, RecordingError> {
        if super::input::is_stdio(path) {
            let file = super::input::spool_stdin()?;
            let name = Path::new(super::input::STDIN_NAME);
            let src = Source::from_file(file).map_err(|source| RecordingError::Io {
                path: name.to_owned(),
                source,
            })?;
            return Self::with_source(name, src);
        }
        let file = super::input::open_regular(path)?;
        let src = Source::from_file(file).map_err(|source| RecordingError::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::with_source(path, src)
    }

    /// `path` only names the data in errors.
    pub fn from_bytes(path: &Path, data: Vec<u8>) -> Result<Self, RecordingError> {
        Self::with_source(path, Source::from_bytes(data))
    }

    fn with_source(path: &Path, mut src: Source) -> Result<Self, RecordingError> {
        let path: PathBuf = path.to_owned();
        let io = |source| RecordingError::Io {
            path: path.clone(),
            source,
        };
        let total = src.len();
        let pre = src.get(0, PREAMBLE_LEN).map_err(io)?;
        if pre.len() < MAGIC.len() || &pre[..MAGIC.len()] != MAGIC {
            return Err(RecordingError::NotARecording { path });
        }
        let corrupt = |why: &str| RecordingError::CorruptHeader {
            path: path.clone(),
            why: why.into(),
        };
        if pre.len() < PREAMBLE_LEN {
            return Err(corrupt("file ends inside the preamble"));
        }
        let major = le_u16(&pre[8..]);
        let minor = le_u16(&pre[10..]);
        if major > MAJOR {
            return Err(RecordingError::NewerVersion { path, major, minor });
        }
        let len = le_u32(&pre[12..]) as usize;
        let crc = le_u32(&pre[16..]);
        if len as u64 > MAX_SECTION_LEN as u64 || (PREAMBLE_LEN + len) as u64 > total {
            return Err(corrupt("header length runs past the end of the file"));
        }
        let body = src.get(PREAMBLE_LEN as u64, len).map_err(io)?;
        if crc32fast::hash(body) != crc {
            return Err(corrupt("header checksum mismatch"));
        }
        let header: Header = postcard::from_bytes(body)
            .map_err(|e| corrupt(&format!("header does not decode: {e}")))?;
        let frames_at = (PREAMBLE_LEN + len) as u64;
        Ok(RecordingReader {
            src,
            path,
            header,
            version: (major, minor),
            frames_at,
            pos: frames_at,
            stats: ReadStats::default(),
            queue: VecDeque::new(),
            dctx: None,
            skip: None,
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

    /// From now on, records whose encoded bytes `skip` returns true for are not decoded (nor
    /// counted in [`ReadStats::records`]).
    pub fn skip_records(&mut self, skip: impl Fn(&[u8]) -> bool + 'static) {
        self.skip = Some(Box::new(skip));
    }

    /// Starts again at the first frame with fresh counts, for a second pass over the records.
    pub fn rewind(&mut self) {
        self.pos = self.frames_at;
        self.stats = ReadStats::default();
        self.queue.clear();
    }

    /// Decodes the next valid frame into the queue; false at the end of the data.
    fn read_frame(&mut self) -> bool {
        match self.try_read_frame() {
            Ok(more) => more,
            Err(e) => {
                // The file became unreadable mid-way: what follows cannot be read, so it counts
                // as a lost tail, and the report still shows everything before it.
                log::warn!(
                    "{}: read error at byte {}: {e}",
                    self.path.display(),
                    self.pos
                );
                self.stats.truncated_tail_bytes += self.src.len() - self.pos;
                self.pos = self.src.len();
                false
            }
        }
    }

    fn try_read_frame(&mut self) -> std::io::Result<bool> {
        loop {
            let remaining = self.src.len() - self.pos;
            if remaining == 0 {
                return Ok(false);
            }
            let head = self.src.get(self.pos, FRAME_HEAD_LEN)?;
            if head.len() < FRAME_HEAD_LEN || &head[..4] != FRAME_SYNC {
                if head.len() < FRAME_HEAD_LEN && FRAME_SYNC.starts_with(&head[..head.len().min(4)])
                {
                    self.stats.truncated_tail_bytes += remaining;
                    self.pos = self.src.len();
                    return Ok(false);
                }
                self.resync()?;
                continue;
            }
            let len = le_u32(&head[4..]) as usize;
            let crc = le_u32(&head[8..]);
            let end = (FRAME_HEAD_LEN + len) as u64;
            if len as u64 > MAX_SECTION_LEN as u64 || end > remaining {
                // Incomplete: the torn tail, unless a valid-looking frame follows.
                if self.src.find(self.pos + 1, FRAME_SYNC)?.is_none() {
                    self.stats.truncated_tail_bytes += remaining;
                    self.pos = self.src.len();
                    return Ok(false);
                }
                self.resync()?;
                continue;
            }
            let frame = self.src.get(self.pos, end as usize)?;
            let payload = &frame[FRAME_HEAD_LEN..];
            if crc32fast::hash(payload) != crc {
                self.resync()?;
                continue;
            }
            // The writer stores each frame's decompressed size; allocating that, not the 64 MB
            // limit, keeps a report (and a fuzzer) from reserving the limit once per frame.
            let capacity = zstd::zstd_safe::get_frame_content_size(payload)
                .ok()
                .flatten()
                .filter(|&n| n <= MAX_SECTION_LEN as u64)
                .unwrap_or(MAX_SECTION_LEN as u64) as usize;
            if self.dctx.is_none() {
                self.dctx = Some(zstd::bulk::Decompressor::new()?);
            }
            let decoded = match self.dctx.as_mut() {
                Some(d) => d.decompress(payload, capacity),
                None => zstd::bulk::decompress(payload, capacity),
            };
            let Ok(raw) = decoded else {
                self.resync()?;
                continue;
            };
            self.pos += end;
            self.stats.frames += 1;
            self.decode_records(&raw);
            return Ok(true);
        }
    }

    fn decode_records(&mut self, mut raw: &[u8]) {
        while raw.len() >= 4 {
            let len = le_u32(raw) as usize;
            if 4 + len > raw.len() {
                self.stats.unknown_records += 1;
                return;
            }
            let bytes = &raw[4..4 + len];
            raw = &raw[4 + len..];
            if self.skip.as_ref().is_some_and(|f| f(bytes)) {
                continue;
            }
            match postcard::from_bytes::<Record>(bytes) {
                Ok(r) => {
                    self.stats.records += 1;
                    self.queue.push_back(r);
                }
                Err(_) => self.stats.unknown_records += 1,
            }
        }
    }

    /// Counts one corrupt frame and moves to the next frame marker after the current byte.
    fn resync(&mut self) -> std::io::Result<()> {
        self.stats.corrupt_frames += 1;
        let target = self
            .src
            .find(self.pos + 1, FRAME_SYNC)?
            .unwrap_or(self.src.len());
        self.stats.skipped_bytes += target - self.pos;
        self.pos = target;
        Ok(())
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

#[cfg(test)]
mod stream_tests {
    use super::*;
    use crate::recording::synth::{self, SynthHost};

    /// A recording larger than several read windows, damaged in the middle and torn at the end:
    /// streaming it from the file must give exactly what reading it from memory gives.
    #[test]
    fn file_stream_matches_in_memory_read_on_a_damaged_recording() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("big.hbw");
        let h = SynthHost {
            cpus: 64,
            queues: 8,
            seconds: 300,
            seed: 3,
        };
        synth::write(&path, &h).expect("write");
        let mut bytes = std::fs::read(&path).expect("read");
        assert!(
            bytes.len() > 3 * super::super::source::WINDOW,
            "spans several windows"
        );
        // Flip a byte inside a frame a little past the first window, and tear the tail.
        let mid = super::super::source::WINDOW + 4321;
        bytes[mid] ^= 0x5a;
        bytes.truncate(bytes.len() - 7);
        std::fs::write(&path, &bytes).expect("rewrite");

        let mut mem = RecordingReader::from_bytes(&path, bytes).expect("open bytes");
        let mut file = RecordingReader::open(&path).expect("open file");
        let a: Vec<Record> = mem.by_ref().collect();
        let b: Vec<Record> = file.by_ref().collect();
        assert_eq!(a.len(), b.len());
        assert!(
            a.iter()
                .zip(&b)
                .all(|(x, y)| format!("{x:?}") == format!("{y:?}"))
        );
        assert_eq!(mem.stats(), file.stats());
        assert_eq!(file.stats().corrupt_frames, 1);
        assert!(file.stats().truncated_tail_bytes > 0);

        // A second pass (the diagnosis may need one) sees the same again.
        let first = file.stats().clone();
        file.rewind();
        assert_eq!(file.by_ref().count(), b.len());
        assert_eq!(file.stats(), &first);
    }
}
