//! Where a recording is read from and exports are written to: regular files, or `-` for the
//! standard streams. FIFOs and devices are refused before a byte is read, since either can block
//! forever or never end (`report /dev/zero`).

use std::{
    fs::File,
    io::{Read as _, Write as _},
    os::unix::fs::{FileTypeExt as _, MetadataExt as _, OpenOptionsExt as _},
    path::Path,
};

use super::format::{MAGIC, RecordingError};

/// How errors name standard input.
pub const STDIN_NAME: &str = "standard input";

/// Whether `path` is `-`, the standard stream.
pub fn is_stdio(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// What a file that is not regular is, for messages.
pub fn kind_of(ft: std::fs::FileType) -> &'static str {
    if ft.is_dir() {
        "a directory"
    } else if ft.is_fifo() {
        "a FIFO (named pipe)"
    } else if ft.is_char_device() {
        "a character device"
    } else if ft.is_block_device() {
        "a block device"
    } else if ft.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}

/// Opens `path` for reading if it is a regular file. O_NONBLOCK makes opening a FIFO return at
/// once (instead of waiting for a writer) so it can be refused; it changes nothing for files.
pub fn open_regular(path: &Path) -> Result<File, RecordingError> {
    let io = |source| RecordingError::Io {
        path: path.to_owned(),
        source,
    };
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(io)?;
    let ft = file.metadata().map_err(io)?.file_type();
    if !ft.is_file() {
        return Err(RecordingError::NotAFile {
            path: path.to_owned(),
            kind: kind_of(ft),
        });
    }
    Ok(file)
}

/// Standard input, checked for the recording magic, then copied into an unnamed temporary file
/// so the reader can walk it (twice, for the report) holding one window in memory, whatever its
/// size. Anything that is not a recording is refused after its first eight bytes.
pub fn spool_stdin() -> Result<File, RecordingError> {
    let io = |source| RecordingError::Io {
        path: STDIN_NAME.into(),
        source,
    };
    let mut stdin = std::io::stdin().lock();
    let mut magic = Vec::with_capacity(MAGIC.len());
    (&mut stdin)
        .take(MAGIC.len() as u64)
        .read_to_end(&mut magic)
        .map_err(io)?;
    if magic != MAGIC {
        return Err(RecordingError::NotARecording {
            path: STDIN_NAME.into(),
        });
    }
    let mut spool = tempfile::tempfile().map_err(io)?;
    spool.write_all(&magic).map_err(io)?;
    std::io::copy(&mut stdin, &mut spool).map_err(io)?;
    spool.flush().map_err(io)?;
    Ok(spool)
}

/// The file identity (device, inode) of the recording `input` names, when it has one.
pub fn identity_of_input(input: &Path) -> Option<(u64, u64)> {
    if is_stdio(input) {
        // SAFETY: an all-zero stat is a valid value; fstat on fd 0 writes only into it.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        let rc = unsafe { libc::fstat(0, &mut st) };
        return (rc == 0).then_some((st.st_dev, st.st_ino));
    }
    let m = std::fs::metadata(input).ok()?;
    Some((m.dev(), m.ino()))
}

/// The identity of an output path: (device, inode) when it exists, and always its folder's
/// canonical path joined with its file name, so two spellings of one path compare equal.
#[derive(Debug, PartialEq, Eq)]
pub struct OutputIdentity {
    pub inode: Option<(u64, u64)>,
    pub canonical: Option<std::path::PathBuf>,
}

pub fn identity_of_output(path: &Path) -> OutputIdentity {
    let inode = std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()));
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let canonical = match (std::fs::canonicalize(parent), path.file_name()) {
        (Ok(dir), Some(name)) => Some(dir.join(name)),
        _ => None,
    };
    OutputIdentity { inode, canonical }
}

impl OutputIdentity {
    pub fn same_as(&self, other: &OutputIdentity) -> bool {
        (self.inode.is_some() && self.inode == other.inode)
            || (self.canonical.is_some() && self.canonical == other.canonical)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fifo_is_refused_without_blocking() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fifo = dir.path().join("pipe");
        let c = std::ffi::CString::new(fifo.to_str().expect("utf8")).expect("cstring");
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
        let e = open_regular(&fifo).expect_err("a FIFO was opened as a recording");
        assert!(e.to_string().contains("FIFO"), "{e}");
        let e = open_regular(Path::new("/dev/zero")).expect_err("/dev/zero was opened");
        assert!(e.to_string().contains("character device"), "{e}");
    }

    #[test]
    fn two_spellings_of_one_output_are_the_same() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = dir.path().join("a.json");
        let b = dir.path().join(".").join("a.json");
        assert!(identity_of_output(&a).same_as(&identity_of_output(&b)));
        std::fs::write(&a, "x").expect("write");
        std::fs::hard_link(&a, dir.path().join("b.json")).expect("link");
        assert!(identity_of_output(&a).same_as(&identity_of_output(&dir.path().join("b.json"))));
        assert!(!identity_of_output(&a).same_as(&identity_of_output(&dir.path().join("c.json"))));
    }
}
