//! Byte-level constants and errors of the recording format.

use std::path::PathBuf;

pub const MAGIC: &[u8; 8] = b"HBWATCH\0";
pub const FRAME_SYNC: &[u8; 4] = b"HBWF";
/// Bumped when old readers cannot read new files.
pub const MAJOR: u16 = 1;
/// Bumped when records are added (old readers skip them and count them).
pub const MINOR: u16 = 5;
pub const PREAMBLE_LEN: usize = 8 + 2 + 2 + 4 + 4;
pub const FRAME_HEAD_LEN: usize = 4 + 4 + 4;
/// A header or frame longer than this is corruption, not data.
pub const MAX_SECTION_LEN: u32 = 64 << 20;
/// zstd level: cheap enough for a once-a-second flush, several times smaller than raw.
pub const ZSTD_LEVEL: i32 = 3;

/// Why a recording could not be opened or written. Callers distinguish "not ours / too new"
/// (user error, exit 2) from I/O failures.
#[derive(Debug, thiserror::Error)]
pub enum RecordingError {
    #[error("{path}: not an hbwatch recording (bad magic)")]
    NotARecording { path: PathBuf },
    #[error(
        "{path}: recording format {major}.{minor} is newer than this hbwatch reads ({MAJOR}.x); upgrade hbwatch"
    )]
    NewerVersion {
        path: PathBuf,
        major: u16,
        minor: u16,
    },
    #[error("{path}: corrupt recording header: {why}")]
    CorruptHeader { path: PathBuf, why: String },
    #[error("{path}: refusing to overwrite an existing file (use --force)")]
    Exists { path: PathBuf },
    #[error("{path}: is a symbolic link; refusing to write through it")]
    Symlink { path: PathBuf },
    #[error(
        "{path}: is {kind}, not a regular file; give `-` to read standard input or write standard output"
    )]
    NotAFile { path: PathBuf, kind: &'static str },
    #[error("{path}: is the recording being read; refusing to write over it (even with --force)")]
    IsTheInput { path: PathBuf },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("encoding a record: {0}")]
    Encode(#[from] postcard::Error),
}
