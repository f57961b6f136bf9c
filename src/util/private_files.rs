//! Files only Senim's user may read: the database with its `-wal` and
//! `-shm`, the key files, the voicemail folder (0700) and the messages in
//! it (0600). At start the service makes them private ([`make_private`],
//! each change logged with the path and the old mode); `senim check`
//! reports the ones that are not ([`exposed`]).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The mode of a private file.
pub const FILE_MODE: u32 = 0o600;
/// The mode of a private folder.
pub const DIR_MODE: u32 = 0o700;

/// A path that must be private, and what it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Private {
    pub path: PathBuf,
    /// What it is, for messages: "database", "number key", "voicemail folder", ...
    pub what: &'static str,
}

impl Private {
    pub fn new(path: impl Into<PathBuf>, what: &'static str) -> Private {
        Private {
            path: path.into(),
            what,
        }
    }
}

/// A private path others can reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exposed {
    pub path: PathBuf,
    pub what: &'static str,
    /// Its permission bits (`0o644`).
    pub mode: u32,
    pub is_dir: bool,
}

impl Exposed {
    /// The mode it should have.
    pub fn wanted(&self) -> u32 {
        if self.is_dir {
            DIR_MODE
        } else {
            FILE_MODE
        }
    }
}

/// The database file's companions that hold its data too.
pub fn database_files(db: &Path) -> Vec<Private> {
    let mut out = vec![Private::new(db, "database")];
    for suffix in ["-wal", "-shm", "-journal"] {
        let mut name = db.as_os_str().to_owned();
        name.push(suffix);
        out.push(Private::new(PathBuf::from(name), "database"));
    }
    out
}

/// The voicemail folder and every file in it (messages, partial files).
/// A folder that does not exist yet gives only itself.
pub fn voicemail_files(dir: &Path) -> Vec<Private> {
    let mut out = vec![Private::new(dir, "voicemail folder")];
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            out.push(Private::new(entry.path(), "voice message"));
        }
    }
    out
}

/// Of `paths`, those that exist and that a group or others may read, write
/// or enter. Missing paths are skipped (nothing to protect yet); symbolic
/// links are judged by what they point to.
pub fn exposed(paths: &[Private]) -> Vec<Exposed> {
    paths
        .iter()
        .filter_map(|p| {
            let meta = std::fs::metadata(&p.path).ok()?;
            let mode = meta.permissions().mode() & 0o777;
            (mode & 0o077 != 0).then(|| Exposed {
                path: p.path.clone(),
                what: p.what,
                mode,
                is_dir: meta.is_dir(),
            })
        })
        .collect()
}

/// Why a path could not be made private.
#[derive(Debug, thiserror::Error)]
#[error("cannot make {what} {} private (mode {mode:o}): {source}", path.display())]
pub struct ModeError {
    pub path: PathBuf,
    pub what: &'static str,
    pub mode: u32,
    pub source: std::io::Error,
}

/// Make every exposed path of `paths` private (0600, folders 0700), each
/// change logged at warn with the path and the mode it had. Returns what
/// was changed.
pub fn make_private(paths: &[Private]) -> Result<Vec<Exposed>, ModeError> {
    let found = exposed(paths);
    for e in &found {
        std::fs::set_permissions(&e.path, std::fs::Permissions::from_mode(e.wanted())).map_err(
            |source| ModeError {
                path: e.path.clone(),
                what: e.what,
                mode: e.mode,
                source,
            },
        )?;
        tracing::warn!(
            path = %e.path.display(),
            what = e.what,
            mode = format!("{:o}", e.mode),
            now = format!("{:o}", e.wanted()),
            "a file with personal data was readable by others; made private"
        );
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn open_files_and_folders_are_found_and_made_private() {
        let tmp = tempfile::tempdir().unwrap();
        let db = tmp.path().join("senim.db");
        std::fs::write(&db, b"x").unwrap();
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
        let wal = tmp.path().join("senim.db-wal");
        std::fs::write(&wal, b"x").unwrap();
        std::fs::set_permissions(&wal, std::fs::Permissions::from_mode(0o600)).unwrap();
        let vm = tmp.path().join("voicemail");
        std::fs::create_dir(&vm).unwrap();
        std::fs::set_permissions(&vm, std::fs::Permissions::from_mode(0o755)).unwrap();
        let msg = vm.join("0b6f7a3e-2f47-4a51-9a2e-5d1c2e9b8f10.wav");
        std::fs::write(&msg, b"RIFF").unwrap();
        std::fs::set_permissions(&msg, std::fs::Permissions::from_mode(0o640)).unwrap();

        let mut paths = database_files(&db);
        paths.extend(voicemail_files(&vm));
        paths.push(Private::new(tmp.path().join("missing.key"), "number key"));
        let found = exposed(&paths);
        let summary: Vec<(PathBuf, u32, bool)> = found
            .iter()
            .map(|e| (e.path.clone(), e.mode, e.is_dir))
            .collect();
        assert_eq!(
            summary,
            vec![
                (db.clone(), 0o644, false),
                (vm.clone(), 0o755, true),
                (msg.clone(), 0o640, false),
            ]
        );
        let changed = make_private(&paths).unwrap();
        assert_eq!(changed, found);
        assert_eq!(mode(&db), 0o600);
        assert_eq!(mode(&wal), 0o600);
        assert_eq!(mode(&vm), 0o700);
        assert_eq!(mode(&msg), 0o600);
        assert!(exposed(&paths).is_empty());
    }
}
