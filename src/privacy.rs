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
        load_or_create_key(configured, "privacy.caller_hash_key", path, 16).map(Self::new)
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

/// A key given in the configuration (hex), or read from `path`, or a new
/// random 32-byte key written to `path` (mode 0600, never overwritten).
fn load_or_create_key(
    configured: Option<&str>,
    config_key: &str,
    path: &Path,
    min_len: usize,
) -> Result<Vec<u8>, KeyError> {
    if let Some(hex_key) = configured {
        return match hex::decode(hex_key.trim()) {
            Ok(k) if k.len() >= min_len => Ok(k),
            Ok(_) => Err(KeyError::BadFile {
                path: config_key.into(),
                message: format!("shorter than {min_len} bytes"),
            }),
            Err(e) => Err(KeyError::BadFile {
                path: config_key.into(),
                message: e.to_string(),
            }),
        };
    }
    let shown = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => match hex::decode(text.trim()) {
            Ok(key) if key.len() >= min_len => Ok(key),
            _ => Err(KeyError::BadFile {
                path: shown,
                message: format!("not a hex key of at least {min_len} bytes"),
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
            tracing::info!(path = %shown, "created a new key");
            Ok(key.to_vec())
        }
        Err(e) => Err(KeyError::BadFile {
            path: shown,
            message: e.to_string(),
        }),
    }
}

/// Encryption of the numbers kept for callbacks (XChaCha20-Poly1305): a
/// caller's number is stored only with a callback request, and only sealed.
#[derive(Clone)]
pub struct NumberSealer {
    cipher: chacha20poly1305::XChaCha20Poly1305,
}

impl std::fmt::Debug for NumberSealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NumberSealer(..)")
    }
}

impl NumberSealer {
    /// From a 32-byte key (longer keys are cut to 32 bytes).
    pub fn new(key: &[u8]) -> Option<NumberSealer> {
        use chacha20poly1305::KeyInit;
        let key = key.get(..32)?;
        chacha20poly1305::XChaCha20Poly1305::new_from_slice(key)
            .ok()
            .map(|cipher| NumberSealer { cipher })
    }

    /// The configured key (hex), or the key file, created when missing.
    pub fn load_or_create(configured: Option<&str>, path: &Path) -> Result<Self, KeyError> {
        let key = load_or_create_key(configured, "privacy.number_key", path, 32)?;
        Self::new(&key).ok_or_else(|| KeyError::BadFile {
            path: path.display().to_string(),
            message: "not a 32-byte key".into(),
        })
    }

    /// `v1:` and hex of a random nonce and the ciphertext.
    pub fn seal(&self, number: &str) -> String {
        use chacha20poly1305::aead::Aead;
        let nonce: [u8; 24] = rand::random();
        match self.cipher.encrypt(
            chacha20poly1305::XNonce::from_slice(&nonce),
            number.as_bytes(),
        ) {
            Ok(ct) => format!("v1:{}{}", hex::encode(nonce), hex::encode(ct)),
            // Encryption of a short message cannot fail; store nothing if it does.
            Err(_) => String::new(),
        }
    }

    /// The number back, or None for anything not sealed with this key.
    pub fn open(&self, sealed: &str) -> Option<String> {
        use chacha20poly1305::aead::Aead;
        let bytes = hex::decode(sealed.strip_prefix("v1:")?).ok()?;
        if bytes.len() < 24 {
            return None;
        }
        let (nonce, ct) = bytes.split_at(24);
        let plain = self
            .cipher
            .decrypt(chacha20poly1305::XNonce::from_slice(nonce), ct)
            .ok()?;
        String::from_utf8(plain).ok()
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
    fn numbers_are_sealed_and_opened_only_with_the_key() {
        let a = NumberSealer::new(&[3; 32]).unwrap();
        let b = NumberSealer::new(&[4; 32]).unwrap();
        let s1 = a.seal("+77051234567");
        let s2 = a.seal("+77051234567");
        assert!(s1.starts_with("v1:"));
        assert!(!s1.contains("7051234567"));
        assert_ne!(s1, s2, "a fresh nonce every time");
        assert_eq!(a.open(&s1).as_deref(), Some("+77051234567"));
        assert_eq!(b.open(&s1), None);
        assert_eq!(a.open("v1:00"), None);
        assert_eq!(a.open("garbage"), None);
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
