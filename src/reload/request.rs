//! `senim reload`: ask the running Senim to read its configuration again
//! and say what it answered. The running Senim is the process that holds
//! the data folder (its lock file, `senim.lock`, names the pid); it is sent
//! SIGHUP, and its answer is read from [`answer::ANSWER_FILE`] in the data
//! folder.
//! Needs the same user as Senim (or root), like any signal.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::answer::{self, AnswerFileError, ConfigReload};
use crate::data_dir::{self, DataDirError};
use crate::util::time::now_ms;

/// How often the answer file is looked at while waiting.
const POLL: Duration = Duration::from_millis(100);

/// Why the running Senim could not be asked, or did not answer.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// No process holds the data folder.
    #[error(
        "no Senim is running with the data folder {dir} (from [data] dir, SENIM_DATA_DIR, \
         STATE_DIRECTORY, XDG_DATA_HOME or HOME): run this as Senim's user with its \
         configuration and environment (under systemd: systemctl reload senim)"
    )]
    NotRunning { dir: PathBuf },
    /// The folder is held by something that is not `senim serve`.
    #[error("the data folder {dir} is held by {holder}, not by a running senim serve")]
    NotServing { dir: PathBuf, holder: String },
    /// The lock file could not be read.
    #[error(transparent)]
    DataDir(#[from] DataDirError),
    /// SIGHUP could not be sent.
    #[error("cannot signal Senim (pid {pid}): {source}; run this as Senim's user or as root")]
    Signal { pid: u32, source: std::io::Error },
    /// Senim ended while the answer was awaited.
    #[error("Senim (pid {pid}) stopped before it answered")]
    Stopped { pid: u32 },
    /// No answer in time.
    #[error(
        "Senim (pid {pid}) did not answer within {} s: see its log (\"configuration reload\")",
        .waited.as_secs()
    )]
    NoAnswer { pid: u32, waited: Duration },
    /// The answer file could not be read.
    #[error(transparent)]
    Answer(#[from] AnswerFileError),
}

/// Ask the Senim holding `data_dir` to reload its configuration; wait at
/// most `wait` for its answer.
pub fn request(data_dir: &Path, wait: Duration) -> Result<ConfigReload, RequestError> {
    let holder = data_dir::holder(data_dir)?.ok_or_else(|| RequestError::NotRunning {
        dir: data_dir.to_path_buf(),
    })?;
    let pid = match holder.pid {
        // Never 0 or 1: those would signal a whole group, or init.
        Some(pid) if holder.is_serving() && pid > 1 => pid,
        _ => {
            return Err(RequestError::NotServing {
                dir: data_dir.to_path_buf(),
                holder: holder.who,
            })
        }
    };
    let before = answer::read(data_dir).ok().flatten();
    let sent_at_ms = now_ms();
    signal(pid, libc::SIGHUP).map_err(|source| RequestError::Signal { pid, source })?;
    let deadline = Instant::now() + wait;
    loop {
        // A damaged or half-replaced file is read again on the next turn.
        if let Ok(Some(a)) = answer::read(data_dir) {
            if is_answer_to(&a, before.as_ref(), pid, sent_at_ms) {
                return Ok(a);
            }
        }
        if signal(pid, 0).is_err() {
            return Err(RequestError::Stopped { pid });
        }
        if Instant::now() >= deadline {
            return Err(RequestError::NoAnswer { pid, waited: wait });
        }
        std::thread::sleep(POLL);
    }
}

/// Is `a` the answer to a signal sent to `pid` at `sent_at_ms`, given the
/// answer that was there `before`? It must come from that process, be
/// another reload than `before`, and have begun after the signal (a reload
/// already under way read the file before the change).
pub fn is_answer_to(
    a: &ConfigReload,
    before: Option<&ConfigReload>,
    pid: u32,
    sent_at_ms: i64,
) -> bool {
    let newer = before.is_none_or(|b| b.pid != a.pid || b.seq < a.seq);
    a.pid == pid && newer && a.started_at_ms >= sent_at_ms
}

/// `kill(pid, sig)`; sig 0 only asks whether the process is there.
fn signal(pid: u32, sig: libc::c_int) -> std::io::Result<()> {
    let pid = libc::pid_t::try_from(pid)
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
    // SAFETY: kill(2) with a positive pid (checked > 1 by the caller) has
    // no memory effects; it signals that one process or fails.
    let rc = unsafe { libc::kill(pid, sig) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(pid: u32, seq: u64, started_at_ms: i64) -> ConfigReload {
        ConfigReload {
            pid,
            seq,
            trigger: "SIGHUP".into(),
            origin: "senim.toml".into(),
            started_at_ms,
            finished_at_ms: started_at_ms + 5,
            accepted: true,
            applied: Vec::new(),
            restart: Vec::new(),
            errors: Vec::new(),
            warnings: Vec::new(),
        }
    }

    #[test]
    fn only_a_new_reload_of_that_process_begun_after_the_signal_is_the_answer() {
        let before = answer(100, 3, 1_000);
        // The old answer itself.
        assert!(!is_answer_to(&before, Some(&before), 100, 2_000));
        // A reload that was already under way when the signal went.
        assert!(!is_answer_to(
            &answer(100, 4, 1_500),
            Some(&before),
            100,
            2_000
        ));
        // The reload the signal asked for.
        assert!(is_answer_to(
            &answer(100, 4, 2_000),
            Some(&before),
            100,
            2_000
        ));
        // Another process's answer (a Senim that stopped since).
        assert!(!is_answer_to(
            &answer(99, 9, 3_000),
            Some(&before),
            100,
            2_000
        ));
        // A Senim started since counts from 1 again.
        assert!(is_answer_to(
            &answer(100, 1, 3_000),
            Some(&answer(7, 5, 1)),
            100,
            2_000
        ));
        // The first answer in the folder.
        assert!(is_answer_to(&answer(100, 1, 2_001), None, 100, 2_000));
    }

    #[test]
    fn a_folder_nobody_holds_is_not_signalled() {
        let tmp = tempfile::tempdir().expect("tempdir");
        assert!(matches!(
            request(tmp.path(), Duration::from_millis(10)),
            Err(RequestError::NotRunning { .. })
        ));
        let _rotate = data_dir::lock(tmp.path(), "senim keys rotate").expect("lock");
        assert!(matches!(
            request(tmp.path(), Duration::from_millis(10)),
            Err(RequestError::NotServing { .. })
        ));
    }
}
