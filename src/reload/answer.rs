//! The answer to a reload of the configuration ([`ConfigReload`]): what was
//! applied, what takes effect after a restart, or why the new configuration
//! was refused. A running Senim logs it, returns it over HTTP and writes it
//! to [`ANSWER_FILE`] in its data folder, where `senim reload` reads it.
//! [`Reloads`] is how HTTP asks for a reload without knowing the wiring.

use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// The last reload's answer, in the data folder (mode 0600).
pub const ANSWER_FILE: &str = "senim.reload.json";

/// The outcome of one reload of the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigReload {
    /// The process that reloaded.
    pub pid: u32,
    /// Reloads this process attempted, this one included.
    pub seq: u64,
    /// What asked for it: `SIGHUP` or `HTTP`.
    pub trigger: String,
    /// The configuration file, or `built-in defaults`.
    pub origin: String,
    /// When the files began to be read (epoch ms).
    pub started_at_ms: i64,
    pub finished_at_ms: i64,
    /// True: the new configuration serves, except what `restart` names.
    /// False: it was refused and the running configuration serves in full.
    pub accepted: bool,
    /// What is in service now that was not before, a line each.
    pub applied: Vec<String>,
    /// Changed keys that take effect after a restart, a line each.
    pub restart: Vec<String>,
    /// Why it was refused (`file:line:column: message` where there is one).
    pub errors: Vec<String>,
    /// Worth knowing; not a reason to refuse.
    pub warnings: Vec<String>,
}

impl ConfigReload {
    /// The answer as lines for people: `senim reload` prints them.
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.accepted {
            out.push(format!(
                "reloaded {} ({}, reload {} of pid {})",
                self.origin, self.trigger, self.seq, self.pid
            ));
            for a in &self.applied {
                out.push(format!("applied: {a}"));
            }
            if self.applied.is_empty() {
                out.push("applied: nothing changed".into());
            }
            for r in &self.restart {
                out.push(format!("needs a restart: {r}"));
            }
        } else {
            out.push(format!(
                "refused {} ({}, reload {} of pid {}); the running configuration is kept",
                self.origin, self.trigger, self.seq, self.pid
            ));
            for e in &self.errors {
                out.push(e.clone());
            }
        }
        for w in &self.warnings {
            // The dialplan's warnings say so already (`file:line:column: warning: ...`).
            if w.contains("warning: ") {
                out.push(w.clone());
            } else {
                out.push(format!("warning: {w}"));
            }
        }
        out
    }
}

/// Reloads of a running Senim, as HTTP asks for them. Both block while the
/// files are read: call them off the async workers.
pub trait Reloads: Send + Sync {
    /// Read the whole configuration again and apply what can be applied.
    fn reload_config(&self, trigger: &str) -> ConfigReload;
    /// Read the dialplan file again (checked against the configuration in
    /// service).
    fn reload_dialplan(&self, trigger: &str) -> crate::plan::Reload;
    /// Configuration reloads since start, for `/metrics` and `senim status`.
    fn config_reloads(&self) -> ReloadCounts;
}

/// Configuration reloads since start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReloadCounts {
    /// Reloads that put a new configuration in service.
    pub accepted: u64,
    /// Reloads refused (the running configuration was kept in full).
    pub refused: u64,
    /// False when the last reload was refused; true before any.
    pub last_ok: bool,
}

/// Why the answer could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum AnswerFileError {
    /// The file could not be written, renamed or read.
    #[error("{path}: {source}")]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    /// The file is not an answer (another version of Senim, or damaged).
    #[error("{path}: not a reload answer: {source}")]
    Format {
        path: std::path::PathBuf,
        source: serde_json::Error,
    },
}

/// Write `answer` to [`ANSWER_FILE`] in `dir` in one step (a reader sees the
/// old answer or the new one, never half of one).
pub fn write(dir: &Path, answer: &ConfigReload) -> Result<(), AnswerFileError> {
    let path = dir.join(ANSWER_FILE);
    let part = dir.join(format!(".{ANSWER_FILE}.part"));
    let io = |p: &Path| {
        let p = p.to_path_buf();
        move |source| AnswerFileError::Io { path: p, source }
    };
    let text = serde_json::to_vec_pretty(answer).map_err(|source| AnswerFileError::Format {
        path: path.clone(),
        source,
    })?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&part).map_err(io(&part))?;
    file.write_all(&text).map_err(io(&part))?;
    file.write_all(b"\n").map_err(io(&part))?;
    drop(file);
    std::fs::rename(&part, &path).map_err(io(&path))
}

/// The answer in `dir`, if there is one.
pub fn read(dir: &Path) -> Result<Option<ConfigReload>, AnswerFileError> {
    let path = dir.join(ANSWER_FILE);
    let text = match std::fs::read(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(AnswerFileError::Io { path, source }),
    };
    serde_json::from_slice(&text)
        .map(Some)
        .map_err(|source| AnswerFileError::Format { path, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(accepted: bool) -> ConfigReload {
        ConfigReload {
            pid: 42,
            seq: 3,
            trigger: "SIGHUP".into(),
            origin: "/etc/senim/senim.toml".into(),
            started_at_ms: 1,
            finished_at_ms: 2,
            accepted,
            applied: vec!["specialists: dana added".into()],
            restart: vec!["sip.listen changed: takes effect after a restart".into()],
            errors: if accepted {
                Vec::new()
            } else {
                vec!["/etc/senim/senim.toml:3:1: unknown field `colour`".into()]
            },
            warnings: Vec::new(),
        }
    }

    #[test]
    fn the_answer_is_written_whole_and_read_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(read(dir.path()).expect("no file").is_none());
        write(dir.path(), &answer(true)).expect("written");
        assert_eq!(read(dir.path()).expect("read"), Some(answer(true)));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(ANSWER_FILE))
                .expect("file")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(dir.path().join(ANSWER_FILE), "{").expect("damage");
        assert!(matches!(
            read(dir.path()),
            Err(AnswerFileError::Format { .. })
        ));
    }

    #[test]
    fn lines_say_what_was_applied_what_needs_a_restart_or_why_refused() {
        let lines = answer(true).lines();
        assert_eq!(
            lines,
            [
                "reloaded /etc/senim/senim.toml (SIGHUP, reload 3 of pid 42)",
                "applied: specialists: dana added",
                "needs a restart: sip.listen changed: takes effect after a restart",
            ]
        );
        let lines = answer(false).lines();
        assert!(lines[0].starts_with("refused /etc/senim/senim.toml"));
        assert!(lines[0].ends_with("the running configuration is kept"));
        assert_eq!(
            lines[1],
            "/etc/senim/senim.toml:3:1: unknown field `colour`"
        );
    }
}
