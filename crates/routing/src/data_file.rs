//! Reading a routing data file (the holiday table, the partner directory,
//! the specialists, the schedules): the file's text from disk and its TOML
//! table, with the TOML parser's line-and-column message on a syntax error,
//! and the line of an entry for later messages. Each file's own error type
//! takes a [`DataFileError`] through `From`.

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

/// The 1-based line of the first line of `text` that contains `needle`, for
/// pointing at an entry in an error message.
pub(crate) fn line_of(text: &str, needle: &str) -> Option<usize> {
    if needle.is_empty() {
        return None;
    }
    text.lines()
        .position(|l| {
            let code = l.split('#').next().unwrap_or("");
            code.contains(needle)
        })
        .map(|i| i + 1)
}

/// The 1-based line where `key = <value>` is written (`value` as it appears,
/// e.g. `"ulba"` or `2026-03-23`), else the first line containing `value`.
pub(crate) fn line_of_key(text: &str, key: &str, value: &str) -> Option<usize> {
    lines_of_key(text, key, value)
        .next()
        .or_else(|| line_of(text, value))
}

/// Every 1-based line where `key = <value>` is written.
pub(crate) fn lines_of_key<'a>(
    text: &'a str,
    key: &'a str,
    value: &'a str,
) -> impl Iterator<Item = usize> + 'a {
    text.lines().enumerate().filter_map(move |(n, l)| {
        if value.is_empty() {
            return None;
        }
        let code = l.split('#').next().unwrap_or("");
        let hit = code.match_indices(value).any(|(i, _)| {
            let before = code[..i].trim_end().trim_end_matches('"').trim_end();
            before
                .strip_suffix('=')
                .map(|b| b.trim_end().ends_with(key))
                .unwrap_or(false)
        });
        hit.then_some(n + 1)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines() {
        let t = "a = 1\nmoved_from = 2026-03-08\n{ date = 2026-03-08 }\nid = \"x\" # \"y\"\n";
        assert_eq!(line_of_key(t, "date", "2026-03-08"), Some(3));
        assert_eq!(line_of_key(t, "id", "\"x\""), Some(4));
        assert_eq!(line_of_key(t, "id", "\"y\""), None);
        assert_eq!(line_of_key(t, "id", "a = 1"), Some(1));
        assert_eq!(line_of(t, ""), None);
    }
}
