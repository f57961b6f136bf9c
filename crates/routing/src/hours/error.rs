//! Why a schedule or the holiday file was refused ([`HoursError`]).

use std::path::PathBuf;

use crate::data_file::DataFileError;

/// Errors from schedules and the holiday file.
#[derive(Debug, thiserror::Error)]
pub enum HoursError {
    /// The holiday file could not be read.
    #[error("{}: cannot read the file: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// The text is not valid TOML (the message carries line and column).
    #[error("{}: {message}", path.display())]
    Toml {
        /// The file.
        path: PathBuf,
        /// The TOML parser's message.
        message: String,
    },
    /// A schedule value is wrong. `key` is the dotted key, e.g. `centre.mon`.
    #[error("schedule `{key}`: {message}")]
    Schedule {
        /// The dotted key of the bad value.
        key: String,
        /// What is wrong with it.
        message: String,
    },
    /// An entry of the holiday file is wrong.
    #[error("{}{}: {entry}: {message}", path.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
    Holiday {
        /// The file.
        path: PathBuf,
        /// The line of the entry, when it could be found.
        line: Option<usize>,
        /// The entry and key, e.g. ``year 2026, days_off #3 (2026-03-21), key `kk` ``.
        entry: String,
        /// What is wrong with it.
        message: String,
    },
}

impl From<DataFileError> for HoursError {
    fn from(e: DataFileError) -> Self {
        match e {
            DataFileError::Io { path, source } => HoursError::Io { path, source },
            DataFileError::Toml { path, message } => HoursError::Toml { path, message },
        }
    }
}

/// A [`HoursError::Schedule`] for the dotted key `key`.
pub(super) fn schedule_err(key: impl Into<String>, message: impl Into<String>) -> HoursError {
    HoursError::Schedule {
        key: key.into(),
        message: message.into(),
    }
}
