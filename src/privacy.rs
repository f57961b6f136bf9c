//! Caller privacy: numbers are never stored, only a keyed hash (HMAC-SHA-256)
//! that lets the centre recognise a repeat caller without knowing who it is.

use std::io::Write;
use std::path::Path;

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Why the hash key could not be had.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The key file exists but cannot be read or is not hex of 16+ bytes.
    #[error("{path}: {message}")]
    BadFile { path: String, message: String },
    /// A new key could not be written.
    #[error("{path}: cannot create the caller hash key: {source}")]
    Create {
        path: String,
        source: std::io::Error,
    },
}

/// The keyed hash of caller numbers.
#[derive(Clone)]
pub struct CallerHasher {
    key: Vec<u8>,
}

impl std::fmt::Debug for CallerHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CallerHasher(..)")
    }
}

impl CallerHasher {
    pub fn new(key: Vec<u8>) -> Self {
        CallerHasher { key }
    }

    /// Use the configured key, or the one in `path`, or create `path` with a new
    /// random key readable by the service only (mode 0600).
    pub fn load_or_create(configured: Option<&str>, path: &Path) -> Result<Self, KeyError> {
        if let Some(hex_key) = configured {
            return hex::decode(hex_key.trim())
                .map(Self::new)
                .map_err(|e| KeyError::BadFile {
                    path: "privacy.caller_hash_key".into(),
                    message: e.to_string(),
                });
        }
        let shown = path.display().to_string();
        match std::fs::read_to_string(path) {
            Ok(text) => match hex::decode(text.trim()) {
                Ok(key) if key.len() >= 16 => Ok(Self::new(key)),
                _ => Err(KeyError::BadFile {
                    path: shown,
                    message: "not a hex key of at least 16 bytes".into(),
                }),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key: [u8; 32] = rand::random();
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                {
                    use std::os::unix::fs::OpenOptionsExt;
                    options.mode(0o600);
                }
                let mut file = options.open(path).map_err(|source| KeyError::Create {
                    path: shown.clone(),
                    source,
                })?;
                file.write_all(hex::encode(key).as_bytes())
                    .and_then(|_| file.write_all(b"\n"))
                    .map_err(|source| KeyError::Create {
                        path: shown.clone(),
                        source,
                    })?;
                tracing::info!(path = %shown, "created a new caller hash key");
                Ok(Self::new(key.to_vec()))
            }
            Err(e) => Err(KeyError::BadFile {
                path: shown,
                message: e.to_string(),
            }),
        }
    }

    /// Hash a caller's number. The number is normalised first (digits and a
    /// leading `+` only; Kazakh `8` trunk prefix as `+7`) so that the same
    /// phone gives the same hash whichever way the trunk writes it.
    pub fn hash(&self, number: &str) -> String {
        let normalised = normalise_number(number);
        let mut mac = match Hmac::<Sha256>::new_from_slice(&self.key) {
            Ok(m) => m,
            // HMAC accepts keys of any length; this branch cannot be taken.
            Err(_) => return String::new(),
        };
        mac.update(normalised.as_bytes());
        hex::encode(&mac.finalize().into_bytes()[..16])
    }
}

/// Digits of a number, with `8XXXXXXXXXX` (11 digits, national format) as `+7XXXXXXXXXX`.
pub fn normalise_number(number: &str) -> String {
    let digits: String = number.chars().filter(|c| c.is_ascii_digit()).collect();
    if digits.len() == 11 && digits.starts_with('8') {
        format!("+7{}", &digits[1..])
    } else if (digits.len() == 11 && digits.starts_with('7'))
        || number.trim_start().starts_with('+')
    {
        format!("+{digits}")
    } else {
        digits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_phone_same_hash_whatever_the_format() {
        let h = CallerHasher::new(vec![7; 32]);
        assert_eq!(h.hash("+7 701 707 24 38"), h.hash("87017072438"));
        assert_eq!(h.hash("77017072438"), h.hash("+77017072438"));
        assert_ne!(h.hash("87017072438"), h.hash("87017072439"));
        assert_eq!(h.hash("1").len(), 32);
    }

    #[test]
    fn different_key_different_hash() {
        let a = CallerHasher::new(vec![1; 32]);
        let b = CallerHasher::new(vec![2; 32]);
        assert_ne!(a.hash("100"), b.hash("100"));
    }

    #[test]
    fn key_file_is_created_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("senim.secret");
        let a = CallerHasher::load_or_create(None, &path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let b = CallerHasher::load_or_create(None, &path).unwrap();
        assert_eq!(a.hash("123"), b.hash("123"));
        std::fs::write(&path, "zz").unwrap();
        assert!(CallerHasher::load_or_create(None, &path).is_err());
    }
}
