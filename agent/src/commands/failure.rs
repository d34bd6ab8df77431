//! How a command failed decides the exit status: bad input (2) or a failure while running (1).

/// Exit status for bad input: options, paths, recordings, missing privileges.
pub const EXIT_USAGE: u8 = 2;
/// Exit status for failures while running (I/O errors mid-recording and the like).
pub const EXIT_RUNTIME: u8 = 1;

pub enum Failure {
    /// The user can fix it: an option, a path, a file, privileges.
    Usage(anyhow::Error),
    /// Something broke while running.
    Runtime(anyhow::Error),
}

impl Failure {
    pub fn error(&self) -> &anyhow::Error {
        match self {
            Failure::Usage(e) | Failure::Runtime(e) => e,
        }
    }
    pub fn code(&self) -> u8 {
        match self {
            Failure::Usage(_) => EXIT_USAGE,
            Failure::Runtime(_) => EXIT_RUNTIME,
        }
    }
}

/// `.usage()?` / `.runtime()?` classify an error where it happens.
pub trait ResultExt<T> {
    fn usage(self) -> Result<T, Failure>;
    fn runtime(self) -> Result<T, Failure>;
}

impl<T, E: Into<anyhow::Error>> ResultExt<T> for Result<T, E> {
    fn usage(self) -> Result<T, Failure> {
        self.map_err(|e| Failure::Usage(e.into()))
    }
    fn runtime(self) -> Result<T, Failure> {
        self.map_err(|e| Failure::Runtime(e.into()))
    }
}

/// The error and its causes on one line, leaving out a cause whose text the line already ends
/// with (errors that print their source themselves, such as `{path}: {source}`).
pub fn one_line(e: &anyhow::Error) -> String {
    let mut line = e.to_string();
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !line.ends_with(&c) {
            line.push_str(": ");
            line.push_str(&c);
        }
    }
    line.replace('\n', " ")
}

#[cfg(test)]
mod one_line_tests {
    #[test]
    fn a_cause_printed_by_its_parent_is_not_repeated() {
        let io = std::io::Error::other("is a directory");
        let e = anyhow::Error::new(crate::recording::format::RecordingError::Io {
            path: "out".into(),
            source: io,
        })
        .context("writing the export");
        assert_eq!(
            super::one_line(&e),
            "writing the export: out: is a directory"
        );
        let plain = anyhow::anyhow!("inner").context("outer");
        assert_eq!(super::one_line(&plain), "outer: inner");
    }
}
