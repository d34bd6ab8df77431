//! How a command failed decides the exit status: bad input (2) or a failure while running (1).

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
            Failure::Usage(_) => super::EXIT_USAGE,
            Failure::Runtime(_) => super::EXIT_RUNTIME,
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
