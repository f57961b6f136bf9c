//! Reading a routing data file (the holiday table, the partner directory,
//! the specialists, the schedules): the file's text from disk and its TOML
//! table, with the TOML parser's line-and-column message on a syntax error.
//! Each file's own error type takes a [`DataFileError`] through `From`.

use std::path::{Path, PathBuf};

use toml::Table;

/// Why a data file could not be read as a TOML table.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DataFileError {
    /// The file could not be read.
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
}

/// Reads the file at `path` and hands its text (and the path, for messages)
/// to `check`.
pub(crate) fn load<T, E>(
    path: &Path,
    check: impl FnOnce(&str, &Path) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<DataFileError>,
{
    let text = std::fs::read_to_string(path).map_err(|source| DataFileError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    check(&text, path)
}

/// Parses `text` as a TOML table; `path` names the file in the error.
pub(crate) fn parse_table(text: &str, path: &Path) -> Result<Table, DataFileError> {
    toml::from_str(text).map_err(|e| DataFileError::Toml {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}
