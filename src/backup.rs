//! `senim backup --to FOLDER`: a backup made while Senim runs, in one new
//! folder `senim-<UTC time>`: the keys first (`keys/`), then a consistent
//! copy of the database (`senim.db`, by `VACUUM INTO`), then the finished
//! voice messages (`voicemail/`), and `MANIFEST.txt` saying what is in it.
//! The database copy is opened and checked before the backup is reported
//! done. Everything is created readable by its owner only.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::config::Settings;
use crate::store::backup::{self as db_copy, Contents};
use crate::store::{Store, StoreError};

/// Why a backup failed.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// A file or folder could not be read or written.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The database could not be read or copied.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The copy did not pass SQLite's integrity check.
    #[error("{path}: the copy failed its integrity check: {message}")]
    Verify { path: PathBuf, message: String },
}

/// What a backup holds.
#[derive(Debug, Clone)]
pub struct Report {
    pub folder: PathBuf,
    pub contents: Contents,
    /// The key files copied (names in `keys/`).
    pub keys: Vec<String>,
    /// Keys given in the configuration, not in files: the configuration
    /// itself must be kept safe.
    pub keys_in_config: Vec<&'static str>,
    pub voice_messages: usize,
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> BackupError + '_ {
    move |source| BackupError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn private_dir(path: &Path) -> Result<(), BackupError> {
    let mut builder = std::fs::DirBuilder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(path).map_err(io(path))
}

/// Copy `from` to `to` (a new file, mode 0600).
fn private_copy(from: &Path, to: &Path) -> Result<(), BackupError> {
    let mut source = std::fs::File::open(from).map_err(io(from))?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut target = options.open(to).map_err(io(to))?;
    std::io::copy(&mut source, &mut target).map_err(io(to))?;
    target.sync_all().map_err(io(to))
}

/// The folder name for a backup made at `now_ms`.
pub fn folder_name(now_ms: i64) -> String {
    let at = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(now_ms).unwrap_or_default();
    format!("senim-{}", at.format("%Y%m%d-%H%M%SZ"))
}

/// Make a backup of the running (or stopped) Senim of `settings` in a new
/// folder under `to`.
pub async fn run(settings: &Settings, to: &Path, now_ms: i64) -> Result<Report, BackupError> {
    let cfg = &settings.config;
    std::fs::create_dir_all(to).map_err(io(to))?;
    let folder = to.join(folder_name(now_ms));
    private_dir(&folder)?;

    // 1. The keys: without them the sealed numbers in the copy are noise.
    let keys_dir = folder.join("keys");
    private_dir(&keys_dir)?;
    let mut keys = Vec::new();
    let mut keys_in_config = Vec::new();
    let mut key_files = Vec::new();
    match cfg.privacy.caller_hash_key {
        Some(_) => keys_in_config.push("privacy.caller_hash_key"),
        None => key_files.push(cfg.privacy.caller_hash_key_file.clone()),
    }
    match cfg.privacy.number_key {
        Some(_) => keys_in_config.push("privacy.number_key"),
        None => {
            let file = &cfg.privacy.number_key_file;
            key_files.push(file.clone());
            // Retired number keys, which older backups need.
            if let (Some(folder), Some(name)) = (file.parent(), file.file_name()) {
                let prefix = format!("{}.retired-", name.to_string_lossy());
                let folder = if folder.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    folder
                };
                if let Ok(entries) = std::fs::read_dir(folder) {
                    for entry in entries.flatten() {
                        if entry.file_name().to_string_lossy().starts_with(&prefix) {
                            key_files.push(entry.path());
                        }
                    }
                }
            }
        }
    }
    for file in key_files {
        let Some(name) = file.file_name() else {
            continue;
        };
        if !file.exists() {
            continue;
        }
        private_copy(&file, &keys_dir.join(name))?;
        keys.push(name.to_string_lossy().to_string());
    }

    // 2. The database, one consistent snapshot, checked.
    let store = Store::open(&cfg.database.url).await?;
    let db = folder.join("senim.db");
    db_copy::copy_into(&store, &db).await?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o600)).map_err(io(&db))?;
    }
    let contents = match db_copy::verify(&db).await? {
        Ok(c) => c,
        Err(message) => return Err(BackupError::Verify { path: db, message }),
    };

    // 3. The finished voice messages (not the `.part` of one being left).
    let messages = folder.join("voicemail");
    private_dir(&messages)?;
    let mut voice_messages = 0;
    let source = &cfg.voicemail.dir;
    match std::fs::read_dir(source) {
        Ok(entries) => {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().to_string();
                if name.starts_with('.') || !name.ends_with(".wav") {
                    continue;
                }
                match private_copy(&entry.path(), &messages.join(&name)) {
                    Ok(()) => voice_messages += 1,
                    // Purged by retention while the backup ran: not an error.
                    Err(BackupError::Io { source, .. })
                        if source.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(source)(e)),
    }

    let report = Report {
        folder,
        contents,
        keys,
        keys_in_config,
        voice_messages,
    };
    write_manifest(settings, &report, now_ms)?;
    Ok(report)
}

fn write_manifest(settings: &Settings, r: &Report, now_ms: i64) -> Result<(), BackupError> {
    let path = r.folder.join("MANIFEST.txt");
    let fingerprints: Vec<String> = crate::keys::present(&settings.config.privacy)
        .into_iter()
        .map(|(purpose, place, fp)| format!("  {purpose}: {fp} ({place})"))
        .collect();
    let text = format!(
        "Senim backup\n\
         made: {}\n\
         senim: {}\n\
         database schema: {}\n\
         calls: {}\n\
         follow-ups: {}\n\
         voice messages: {}\n\
         key files: {}\n\
         keys in the configuration (back it up too): {}\n\
         key fingerprints:\n{}\n\
         \n\
         Restore: docs/operations.md, \"Restore\". This folder holds personal data:\n\
         keep it no longer than the retention periods.\n",
        crate::util::time::rfc3339(now_ms),
        env!("CARGO_PKG_VERSION"),
        r.contents.schema,
        r.contents.calls,
        r.contents.follow_ups,
        r.voice_messages,
        if r.keys.is_empty() {
            "none".into()
        } else {
            r.keys.join(", ")
        },
        if r.keys_in_config.is_empty() {
            "none".into()
        } else {
            r.keys_in_config.join(", ")
        },
        fingerprints.join("\n"),
    );
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&path).map_err(io(&path))?;
    file.write_all(text.as_bytes()).map_err(io(&path))?;
    file.sync_all().map_err(io(&path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_are_named_by_utc_time() {
        assert_eq!(folder_name(0), "senim-19700101-000000Z");
        assert_eq!(folder_name(1_796_000_000_000), "senim-20261130-005320Z");
    }
}
