//! Senim's data folder (`[data] dir`): created private (mode 0700), and
//! held by one process at a time through a lock file, so that a second
//! Senim or a key rotation never works on the same data as a running one.

use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// Why the data folder cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    /// The folder or its lock file could not be made.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Another process holds the folder.
    #[error(
        "{path}: another Senim is running with this data folder ({holder}); stop it first, \
         or give this one its own [data] dir"
    )]
    Busy { path: PathBuf, holder: String },
}

/// The lock file's name in the data folder.
pub const LOCK_FILE: &str = "senim.lock";

/// Create the folder (and its parents) when missing, mode 0700.
pub fn prepare(dir: &Path) -> Result<(), DataDirError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(|source| DataDirError::Io {
        path: dir.to_path_buf(),
        source,
    })
}

/// The data folder, held: released when dropped or when the process ends.
#[derive(Debug)]
pub struct DataLock {
    _file: std::fs::File,
}

/// Take the data folder's lock without waiting; `who` is written into the
/// lock file for the message another process gets.
pub fn lock(dir: &Path, who: &str) -> Result<DataLock, DataDirError> {
    let path = dir.join(LOCK_FILE);
    let io = |source| DataDirError::Io {
        path: path.clone(),
        source,
    };
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&path).map_err(io)?;
    // SAFETY: flock on a descriptor this function owns and keeps open in
    // the returned guard.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
            let holder = std::fs::read_to_string(&path)
                .ok()
                .map(|t| t.trim().to_string())
                .filter(|t| !t.is_empty())
                .unwrap_or_else(|| "unknown process".into());
            return Err(DataDirError::Busy { path, holder });
        }
        return Err(io(err));
    }
    file.set_len(0)
        .and_then(|()| writeln!(file, "{who}, pid {}", std::process::id()))
        .map_err(io)?;
    Ok(DataLock { _file: file })
}

/// Who holds a data folder: the text its lock file holds (`senim serve,
/// pid 1234`) and the pid in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub who: String,
    pub pid: Option<u32>,
}

impl Holder {
    /// Is it a running `senim serve` (not, say, `senim keys rotate`)?
    pub fn is_serving(&self) -> bool {
        self.who.starts_with("senim serve,")
    }
}

/// Who holds the folder's lock now; `None` when nobody does (no Senim runs
/// with this folder). The lock is tried shared for an instant: a Senim
/// starting in that very instant is refused as if another ran.
pub fn holder(dir: &Path) -> Result<Option<Holder>, DataDirError> {
    let path = dir.join(LOCK_FILE);
    let file = match std::fs::File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(DataDirError::Io { path, source }),
    };
    // SAFETY: flock on a descriptor this function owns; closing it (at the
    // end of this function) releases a lock it took.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) };
    if rc == 0 {
        return Ok(None);
    }
    let err = std::io::Error::last_os_error();
    if err.raw_os_error() != Some(libc::EWOULDBLOCK) {
        return Err(DataDirError::Io { path, source: err });
    }
    let who = std::fs::read_to_string(&path)
        .map_err(|source| DataDirError::Io {
            path: path.clone(),
            source,
        })?
        .trim()
        .to_string();
    let pid = who
        .rsplit_once("pid ")
        .and_then(|(_, n)| n.trim().parse().ok());
    Ok(Some(Holder { who, pid }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_at_a_time() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b");
        prepare(&dir).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o700);
        }
        let held = lock(&dir, "senim serve").unwrap();
        match lock(&dir, "senim keys rotate") {
            Err(DataDirError::Busy { holder, .. }) => {
                assert!(holder.starts_with("senim serve, pid "), "{holder}")
            }
            other => panic!("expected Busy, got {other:?}"),
        }
        drop(held);
        assert!(lock(&dir, "senim keys rotate").is_ok());
    }

    #[test]
    fn the_holder_is_named_with_its_pid_and_a_free_folder_has_none() {
        let tmp = tempfile::tempdir().unwrap();
        assert_eq!(holder(tmp.path()).unwrap(), None);
        let held = lock(tmp.path(), "senim serve").unwrap();
        let h = holder(tmp.path()).unwrap().expect("held");
        assert!(h.is_serving(), "{h:?}");
        assert_eq!(h.pid, Some(std::process::id()));
        drop(held);
        assert_eq!(holder(tmp.path()).unwrap(), None);
        // Asking did not keep the lock.
        let rotate = lock(tmp.path(), "senim keys rotate").unwrap();
        assert!(!holder(tmp.path()).unwrap().expect("held").is_serving());
        drop(rotate);
    }
}
