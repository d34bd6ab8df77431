//! Appends records to a recording: buffered in memory, written as one checksummed frame per
//! flush, and synced to disk so that a crash loses at most the records since the last flush.

use std::{
    fs::{File, OpenOptions},
    io::Write,
    os::unix::fs::{OpenOptionsExt, PermissionsExt},
    path::{Path, PathBuf},
};

use super::{
    format::{FRAME_SYNC, MAGIC, MAJOR, MINOR, RecordingError, ZSTD_LEVEL},
    records::{Header, Record},
};

pub struct RecordingWriter {
    file: File,
    path: PathBuf,
    /// Encoded records waiting for the next frame: (u32 length, bytes)*.
    pending: Vec<u8>,
    pending_records: u64,
    bytes_written: u64,
    frames_written: u64,
    records_written: u64,
}

/// Checks, without creating anything, that `path` can become a new recording: not a symlink,
/// not a directory, not an existing file unless `force`, in a folder that exists.
pub fn check_output_path(path: &Path, force: bool) -> Result<(), RecordingError> {
    let io = |source| RecordingError::Io {
        path: path.to_owned(),
        source,
    };
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => {
            return Err(RecordingError::Symlink {
                path: path.to_owned(),
            });
        }
        Ok(m) if m.is_dir() => {
            return Err(io(std::io::Error::new(
                std::io::ErrorKind::IsADirectory,
                "is a directory, expected a file path",
            )));
        }
        Ok(m) if !m.is_file() => {
            // Writing into a FIFO blocks until someone reads it; into a device, who knows.
            return Err(RecordingError::NotAFile {
                path: path.to_owned(),
                kind: super::input::kind_of(m.file_type()),
            });
        }
        Ok(_) if !force => {
            return Err(RecordingError::Exists {
                path: path.to_owned(),
            });
        }
        _ => {}
    }
    if path.as_os_str().is_empty() || path.file_name().is_none() {
        return Err(io(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a file path (empty, or ends in `/` or `..`)",
        )));
    }
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if parent.exists() && !parent.is_dir() {
        return Err(io(std::io::Error::new(
            std::io::ErrorKind::NotADirectory,
            format!("{} is not a folder", parent.display()),
        )));
    }
    if !parent.is_dir() {
        return Err(io(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("folder {} does not exist", parent.display()),
        )));
    }
    writable_folder(parent).map_err(io)
}

/// Whether this process may create files in `dir` (permissions and read-only mounts), asked
/// before any probe is attached so the user hears about the path first.
fn writable_folder(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt as _;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).map_err(|_| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, "path holds a NUL byte")
    })?;
    // SAFETY: `c` is a valid NUL-terminated string that outlives the call.
    if unsafe { libc::access(c.as_ptr(), libc::W_OK | libc::X_OK) } != 0 {
        let e = std::io::Error::last_os_error();
        return Err(std::io::Error::new(
            e.kind(),
            format!("cannot create files in folder {}: {e}", dir.display()),
        ));
    }
    Ok(())
}

/// Creates `path` with mode 0600 without following a symlink there; an existing file is an error
/// unless `force`.
pub fn create_output(path: &Path, force: bool) -> Result<File, RecordingError> {
    let io = |source| RecordingError::Io {
        path: path.to_owned(),
        source,
    };
    check_output_path(path, force)?;
    let mut opts = OpenOptions::new();
    opts.write(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC);
    if force {
        opts.create(true).truncate(true);
    } else {
        opts.create_new(true);
    }
    let file = opts.open(path).map_err(|e| match e.raw_os_error() {
        Some(libc::ELOOP) => RecordingError::Symlink {
            path: path.to_owned(),
        },
        Some(libc::EEXIST) => RecordingError::Exists {
            path: path.to_owned(),
        },
        _ => io(e),
    })?;
    // A forced overwrite keeps the old file's mode; recordings are private whatever it was.
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
        .map_err(io)?;
    Ok(file)
}

impl RecordingWriter {
    /// Creates the file and writes the preamble and header, synced.
    pub fn create(path: &Path, force: bool, header: &Header) -> Result<Self, RecordingError> {
        let file = create_output(path, force)?;
        let mut w = RecordingWriter {
            file,
            path: path.to_owned(),
            pending: Vec::new(),
            pending_records: 0,
            bytes_written: 0,
            frames_written: 0,
            records_written: 0,
        };
        let body = postcard::to_stdvec(header)?;
        let mut pre = Vec::with_capacity(20 + body.len());
        pre.extend_from_slice(MAGIC);
        pre.extend_from_slice(&MAJOR.to_le_bytes());
        pre.extend_from_slice(&MINOR.to_le_bytes());
        pre.extend_from_slice(&(body.len() as u32).to_le_bytes());
        pre.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
        pre.extend_from_slice(&body);
        w.write_synced(&pre)?;
        Ok(w)
    }

    /// Queues a record for the next flush.
    pub fn push(&mut self, record: &Record) -> Result<(), RecordingError> {
        let bytes = postcard::to_stdvec(record)?;
        self.pending
            .extend_from_slice(&(bytes.len() as u32).to_le_bytes());
        self.pending.extend_from_slice(&bytes);
        self.pending_records += 1;
        Ok(())
    }

    /// Writes the queued records as one frame and syncs. On error the records stay queued and
    /// everything flushed before remains readable.
    pub fn flush(&mut self) -> Result<(), RecordingError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let payload = zstd::bulk::compress(&self.pending, ZSTD_LEVEL).map_err(|source| {
            RecordingError::Io {
                path: self.path.clone(),
                source,
            }
        })?;
        let mut frame = Vec::with_capacity(12 + payload.len());
        frame.extend_from_slice(FRAME_SYNC);
        frame.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        frame.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        frame.extend_from_slice(&payload);
        self.write_synced(&frame)?;
        self.frames_written += 1;
        self.records_written += self.pending_records;
        self.pending.clear();
        self.pending_records = 0;
        Ok(())
    }

    fn write_synced(&mut self, bytes: &[u8]) -> Result<(), RecordingError> {
        let io = |source| RecordingError::Io {
            path: self.path.clone(),
            source,
        };
        self.file.write_all(bytes).map_err(io)?;
        self.file.sync_data().map_err(io)?;
        self.bytes_written += bytes.len() as u64;
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
    pub fn bytes_written(&self) -> u64 {
        self.bytes_written
    }
    pub fn frames_written(&self) -> u64 {
        self.frames_written
    }
    pub fn records_written(&self) -> u64 {
        self.records_written
    }
}
