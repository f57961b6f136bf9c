//! The keys that protect callers' data: the hash key (the keyed hashes of
//! callers' numbers) and the number key (the numbers kept, sealed, for
//! callbacks). Each is a file in the data folder, or hex in the
//! configuration.
//!
//! A key's fingerprint is recorded in the database at first use. At start a
//! missing or different key while the database holds data it protects is a
//! refusal with what to do, never a silent new key: a new key would make
//! every sealed number unreadable and erasure by number would find nothing.
//! The operator may give the old key up with `senim serve --new-keys`
//! (logged and audited). `senim keys rotate` seals every stored number again
//! with a new number key in one transaction and retires the old key.
//!
//! The decision is [`decide`], a pure function; [`open`] and [`rotate`] do
//! the files and the database around it.

use std::io::Write;
use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::config::PrivacyConfig;
use crate::privacy::{CallerHasher, NumberSealer};
use crate::store::audit::{self, AuditEntry};
use crate::store::keys::{self as recorded, Protected};
use crate::store::{Store, StoreError};

/// The hash key's purpose, as recorded.
pub const CALLER_HASH: &str = "caller-hash";
/// The number key's purpose, as recorded.
pub const NUMBER_SEAL: &str = "number-seal";

/// Why the keys could not be had.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The key file (or configured key) cannot be read or is not hex of the
    /// right length.
    #[error("{path}: {message}")]
    BadFile { path: String, message: String },
    /// A key file could not be written or renamed.
    #[error("{path}: cannot write the key: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    /// The key does not match the data; the message says what to do.
    #[error("{0}")]
    Refused(String),
    /// The database could not be read or written.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The fingerprint of a key: hex of the first 16 bytes of
/// HMAC-SHA-256(key, label). It names the key without revealing it.
pub fn fingerprint(purpose: &str, key: &[u8]) -> String {
    match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(b"senim key fingerprint: ");
            mac.update(purpose.as_bytes());
            hex::encode(&mac.finalize().into_bytes()[..16])
        }
        // HMAC accepts keys of any length; this branch cannot be taken.
        Err(_) => String::new(),
    }
}

/// What to do with a key at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The key is the recorded one.
    Use,
    /// No key recorded yet: record this one (first use, or data from
    /// before fingerprints were kept).
    Record,
    /// No key and nothing it would protect: make one and record it.
    Create,
    /// Use this key, or a new one when there is none, and retire the
    /// recorded one: nothing it protects is left, or the operator said
    /// `--new-keys`.
    Replace,
    /// Stop: the data the recorded key protects would be lost.
    Refuse(Refusal),
}

/// Why a start is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No key file, and the database holds data sealed or hashed with a
    /// recorded key.
    Missing,
    /// A key that is not the recorded one.
    Different,
    /// No key file and no recorded key, but protected data: a database from
    /// before fingerprints whose key file is gone.
    MissingUnrecorded,
}

/// Decide from the present key's fingerprint, the recorded one, how many
/// values the key protects and whether the operator gave the old key up.
pub fn decide(
    present: Option<&str>,
    recorded: Option<&str>,
    protected: i64,
    new_keys: bool,
) -> Decision {
    match (present, recorded) {
        (Some(p), Some(r)) if p == r => Decision::Use,
        (Some(_), None) => Decision::Record,
        (None, None) if protected == 0 => Decision::Create,
        _ if protected == 0 || new_keys => Decision::Replace,
        (Some(_), Some(_)) => Decision::Refuse(Refusal::Different),
        (None, Some(_)) => Decision::Refuse(Refusal::Missing),
        (None, None) => Decision::Refuse(Refusal::MissingUnrecorded),
    }
}

/// Where one key comes from and what it protects.
struct Source<'a> {
    purpose: &'static str,
    config_key: &'static str,
    configured: Option<&'a str>,
    file: &'a Path,
    min_len: usize,
    protects: Protected,
    /// For messages: what is lost without the key.
    loss: &'static str,
}

impl<'a> Source<'a> {
    fn hash(cfg: &'a PrivacyConfig) -> Self {
        Source {
            purpose: CALLER_HASH,
            config_key: "privacy.caller_hash_key",
            configured: cfg.caller_hash_key.as_deref(),
            file: &cfg.caller_hash_key_file,
            min_len: 16,
            protects: Protected::CallerHashes,
            loss: "caller hashes: repeat callers would not be recognised and erasure by \
                   number would find nothing",
        }
    }

    fn number(cfg: &'a PrivacyConfig) -> Self {
        Source {
            purpose: NUMBER_SEAL,
            config_key: "privacy.number_key",
            configured: cfg.number_key.as_deref(),
            file: &cfg.number_key_file,
            min_len: 32,
            protects: Protected::SealedNumbers,
            loss: "numbers sealed for callbacks: they could never be read again",
        }
    }

    /// Where the key is, for messages.
    fn shown(&self) -> String {
        match self.configured {
            Some(_) => self.config_key.to_string(),
            None => self.file.display().to_string(),
        }
    }

    /// The key, or None when its file does not exist.
    fn read(&self) -> Result<Option<Vec<u8>>, KeyError> {
        if let Some(hex_key) = self.configured {
            return decode(hex_key, self.min_len)
                .map(Some)
                .map_err(|message| KeyError::BadFile {
                    path: self.config_key.into(),
                    message,
                });
        }
        read_key_file(self.file, self.min_len)
    }

    fn refusal(
        &self,
        why: Refusal,
        present: Option<&str>,
        recorded: Option<&str>,
        n: i64,
    ) -> String {
        let what = self.purpose;
        let place = self.shown();
        let lead = match why {
            Refusal::Missing => format!(
                "{place}: the {what} key is missing, but the database holds {n} values it \
                 protects (key fingerprint {})",
                recorded.unwrap_or("?")
            ),
            Refusal::Different => format!(
                "{place}: this {what} key (fingerprint {}) is not the one the database's {n} \
                 values were made with (fingerprint {}); another working folder, another \
                 [data] dir, or a restore without its key?",
                present.unwrap_or("?"),
                recorded.unwrap_or("?")
            ),
            Refusal::MissingUnrecorded => format!(
                "{place}: the {what} key is missing, but the database holds {n} values made \
                 with a key"
            ),
        };
        format!(
            "{lead}. Senim will not start with a new key: it would lose the {}. Put the right \
             key file back (from the backup; `senim keys show` prints the fingerprint of the \
             files and of the recorded keys), or, if the key is lost for good, start once with \
             `senim serve --new-keys` to give those values up. See docs/operations.md, \
             \"When a key is lost\".",
            self.loss
        )
    }
}

fn decode(text: &str, min_len: usize) -> Result<Vec<u8>, String> {
    match hex::decode(text.trim()) {
        Ok(k) if k.len() >= min_len => Ok(k),
        Ok(_) => Err(format!("shorter than {min_len} bytes")),
        Err(_) => Err(format!("not a hex key of at least {min_len} bytes")),
    }
}

/// A key file's key, or None when there is no file.
fn read_key_file(path: &Path, min_len: usize) -> Result<Option<Vec<u8>>, KeyError> {
    let shown = || path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => decode(&text, min_len)
            .map(Some)
            .map_err(|message| KeyError::BadFile {
                path: shown(),
                message,
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(KeyError::BadFile {
            path: shown(),
            message: e.to_string(),
        }),
    }
}

/// Write a new random 32-byte key to `path` (mode 0600, never over an
/// existing file), synced to disk with its folder entry.
fn write_new_key(path: &Path) -> Result<Vec<u8>, KeyError> {
    let key: [u8; 32] = rand::random();
    let err = |source| KeyError::Write {
        path: path.display().to_string(),
        source,
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(err)?;
    file.write_all(hex::encode(key).as_bytes())
        .and_then(|()| file.write_all(b"\n"))
        .and_then(|()| file.sync_all())
        .map_err(err)?;
    sync_folder(path).map_err(err)?;
    Ok(key.to_vec())
}

/// Make a rename or a new file in `path`'s folder durable.
fn sync_folder(path: &Path) -> std::io::Result<()> {
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::File::open(folder)?.sync_all()
}

fn rename(from: &Path, to: &Path) -> Result<(), KeyError> {
    std::fs::rename(from, to)
        .and_then(|()| sync_folder(to))
        .map_err(|source| KeyError::Write {
            path: to.display().to_string(),
            source,
        })
}

/// `<file>.new`: a rotation's new key before the rotation is done.
fn pending_file(file: &Path) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(".new");
    PathBuf::from(name)
}

/// `<file>.retired-<key id>`: a rotated key, kept for older backups.
fn retired_file(file: &Path, fingerprint: &str) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(format!(
        ".retired-{}",
        fingerprint.get(..16).unwrap_or(fingerprint)
    ));
    PathBuf::from(name)
}

/// The keys Senim runs with.
#[derive(Debug, Clone)]
pub struct Keys {
    pub hasher: CallerHasher,
    pub sealer: NumberSealer,
}

/// Who is recorded in the audit log for what the command line does.
const OPERATOR: &str = "operator";

/// Load both keys and check them against the recorded fingerprints (see
/// the module's text). `new_keys`: the operator gives up keys that are
/// missing or different (logged at `warn` and audited).
pub async fn open(
    store: &Store,
    cfg: &PrivacyConfig,
    new_keys: bool,
    now_ms: i64,
) -> Result<Keys, KeyError> {
    let hash_key = open_one(store, &Source::hash(cfg), new_keys, now_ms).await?;
    let number = Source::number(cfg);
    if number.configured.is_none() {
        let current = recorded::current(store, NUMBER_SEAL).await?;
        finish_rotation(number.file, current.as_deref())?;
    }
    let number_key = open_one(store, &number, new_keys, now_ms).await?;
    let sealer = NumberSealer::new(&number_key).ok_or_else(|| KeyError::BadFile {
        path: number.shown(),
        message: "not a 32-byte key".into(),
    })?;
    Ok(Keys {
        hasher: CallerHasher::new(hash_key),
        sealer,
    })
}

async fn open_one(
    store: &Store,
    source: &Source<'_>,
    new_keys: bool,
    now_ms: i64,
) -> Result<Vec<u8>, KeyError> {
    let key = source.read()?;
    let present = key.as_deref().map(|k| fingerprint(source.purpose, k));
    let current = recorded::current(store, source.purpose).await?;
    let protected = match (&present, &current) {
        (Some(p), Some(r)) if p == r => 0,
        _ => recorded::protected_values(store, source.protects).await?,
    };
    let decision = decide(present.as_deref(), current.as_deref(), protected, new_keys);
    let purpose = source.purpose;
    match decision {
        Decision::Use => key.ok_or_else(|| KeyError::Refused(format!("{purpose}: no key"))),
        Decision::Record => {
            let (key, fp) = key
                .zip(present)
                .ok_or_else(|| KeyError::Refused(format!("{purpose}: no key")))?;
            recorded::record(store, purpose, &fp, now_ms, "replaced").await?;
            tracing::info!(%purpose, fingerprint = %fp, "recorded the key's fingerprint");
            Ok(key)
        }
        Decision::Create | Decision::Replace => {
            let key = match key {
                Some(k) => k,
                None => {
                    let k = write_new_key(source.file)?;
                    tracing::info!(%purpose, path = %source.file.display(), "created a new key");
                    k
                }
            };
            let fp = fingerprint(purpose, &key);
            recorded::record(store, purpose, &fp, now_ms, "replaced").await?;
            if decision == Decision::Replace && protected > 0 {
                tracing::warn!(
                    %purpose,
                    old = current.as_deref().unwrap_or("none recorded"),
                    new = %fp,
                    values_given_up = protected,
                    "started with --new-keys: the values made with the old key cannot be read or matched any more"
                );
                audit::write(
                    store,
                    &AuditEntry {
                        at_ms: now_ms,
                        token_name: "senim serve --new-keys",
                        role: OPERATOR,
                        action: "replace-key",
                        target: Some(purpose),
                        detail: Some(
                            serde_json::json!({
                                "old": current,
                                "new": fp,
                                "values_given_up": protected,
                            })
                            .to_string(),
                        ),
                    },
                )
                .await?;
            } else if decision == Decision::Replace {
                tracing::info!(%purpose, new = %fp, "a new key: nothing was protected by the recorded one");
            }
            Ok(key)
        }
        Decision::Refuse(why) => Err(KeyError::Refused(source.refusal(
            why,
            present.as_deref(),
            current.as_deref(),
            protected,
        ))),
    }
}

/// A rotation stopped between its database commit and the renaming of the
/// key files leaves `<file>.new` holding the key in use: put it in place.
/// A `.new` file that is not the recorded key is from a rotation that never
/// committed: remove it.
fn finish_rotation(file: &Path, current: Option<&str>) -> Result<(), KeyError> {
    let pending = pending_file(file);
    let Some(new_key) = read_key_file(&pending, 32)? else {
        return Ok(());
    };
    let new_fp = fingerprint(NUMBER_SEAL, &new_key);
    if Some(new_fp.as_str()) == current {
        if let Some(old) = read_key_file(file, 32)? {
            rename(file, &retired_file(file, &fingerprint(NUMBER_SEAL, &old)))?;
        }
        rename(&pending, file)?;
        tracing::warn!(path = %file.display(), "finished a key rotation that was stopped before its key file was in place");
    } else {
        std::fs::remove_file(&pending).map_err(|source| KeyError::Write {
            path: pending.display().to_string(),
            source,
        })?;
        tracing::info!(path = %pending.display(), "removed the key of a rotation that did not complete");
    }
    Ok(())
}

/// What a rotation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotation {
    pub old: String,
    pub new: String,
    pub resealed: u64,
    /// Numbers the old key could not open (from a key given up before).
    pub unreadable: u64,
    /// Where the old key is kept (for backups made before the rotation).
    pub retired_file: PathBuf,
}

/// Seal every stored number with a new number key and retire the old one.
/// Senim must not be running (the caller holds the data folder's lock).
/// Crash-safe: the new key is written to `<file>.new` first, the numbers
/// and the recorded fingerprint change in one transaction, then the files
/// are renamed; [`open`] finishes a rotation stopped after its commit.
pub async fn rotate(store: &Store, cfg: &PrivacyConfig, now_ms: i64) -> Result<Rotation, KeyError> {
    let source = Source::number(cfg);
    if source.configured.is_some() {
        return Err(KeyError::Refused(
            "privacy.number_key: the number key is given in the configuration, so Senim cannot \
             replace it; move it to a key file (privacy.number_key_file) to rotate it"
                .into(),
        ));
    }
    let old_key = open_one(store, &source, false, now_ms).await?;
    let old = NumberSealer::new(&old_key).ok_or_else(|| KeyError::BadFile {
        path: source.shown(),
        message: "not a 32-byte key".into(),
    })?;
    let old_fp = fingerprint(NUMBER_SEAL, &old_key);
    let pending = pending_file(source.file);
    if pending.exists() {
        std::fs::remove_file(&pending).map_err(|source| KeyError::Write {
            path: pending.display().to_string(),
            source,
        })?;
    }
    let new_key = write_new_key(&pending)?;
    let new = NumberSealer::new(&new_key).ok_or_else(|| KeyError::BadFile {
        path: pending.display().to_string(),
        message: "not a 32-byte key".into(),
    })?;
    let new_fp = fingerprint(NUMBER_SEAL, &new_key);
    let done = recorded::rotate_numbers(store, NUMBER_SEAL, &new_fp, now_ms, |sealed| {
        old.open(sealed).map(|number| new.seal(&number))
    })
    .await?;
    let retired = retired_file(source.file, &old_fp);
    rename(source.file, &retired)?;
    rename(&pending, source.file)?;
    audit::write(
        store,
        &AuditEntry {
            at_ms: now_ms,
            token_name: "senim keys rotate",
            role: OPERATOR,
            action: "rotate-key",
            target: Some(NUMBER_SEAL),
            detail: Some(
                serde_json::json!({
                    "old": old_fp,
                    "new": new_fp,
                    "resealed": done.resealed,
                    "unreadable": done.unreadable,
                })
                .to_string(),
            ),
        },
    )
    .await?;
    tracing::info!(old = %old_fp, new = %new_fp, resealed = done.resealed, "rotated the number key");
    Ok(Rotation {
        old: old_fp,
        new: new_fp,
        resealed: done.resealed,
        unreadable: done.unreadable,
        retired_file: retired,
    })
}

/// The fingerprints of the key files (or configured keys) as they are now,
/// for `senim keys show`: (purpose, where, fingerprint or why not).
pub fn present(cfg: &PrivacyConfig) -> Vec<(&'static str, String, String)> {
    [Source::hash(cfg), Source::number(cfg)]
        .iter()
        .map(|s| {
            let fp = match s.read() {
                Ok(Some(k)) => fingerprint(s.purpose, &k),
                Ok(None) => "missing".into(),
                Err(e) => e.to_string(),
            };
            (s.purpose, s.shown(), fp)
        })
        .collect()
}

#[cfg(test)]
mod tests;
