//! The spool: call record changes the database could not take, kept on disk
//! next to it (`<database file>.spool`, mode 0600) until it can, so a crash
//! while the database is down loses nothing. One JSON [`Change`] a line,
//! appended in order and flushed to disk (fsync) before the writer goes on;
//! read back from the start in the same order. The file is bounded
//! (`[database] spool_max_mb`): a change that does not fit is refused
//! ([`SpoolError::Full`]) and the writer reports it.
//!
//! A line cut short by a power loss (no newline at the end) is dropped when
//! the spool is opened; a line that does not parse is skipped and counted.
//! Replaying a change twice is harmless (every change is idempotent), so the
//! read position is kept in memory only: after a crash during a replay the
//! replay starts again from the first line.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::change::Change;

/// Why the spool could not take or give back changes.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    /// The spool file could not be opened, read, written or flushed.
    #[error("record spool {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The spool has reached its size limit.
    #[error("record spool {path} is full ({max} bytes)")]
    Full { path: PathBuf, max: u64 },
}

/// What one read of the spool gave back.
#[derive(Debug, Default)]
pub struct Batch {
    /// The changes, in order, each with the file offset just past its line.
    pub changes: Vec<(u64, Change)>,
    /// Lines that did not parse (skipped).
    pub unreadable: u64,
}

/// The spool file (see the module documentation).
#[derive(Debug)]
pub struct Spool {
    path: PathBuf,
    file: File,
    max_bytes: u64,
    /// The file's length.
    len: u64,
    /// Where the next read starts (lines before it are in the database).
    read_at: u64,
    /// Changes in the file from `read_at` on.
    waiting: u64,
}

impl Spool {
    /// Open the spool at `path` (created when missing, mode 0600), holding
    /// at most `max_bytes`. A torn last line is cut off.
    pub fn open(path: &Path, max_bytes: u64) -> Result<Spool, SpoolError> {
        let io = |source| SpoolError::Io {
            path: path.to_path_buf(),
            source,
        };
        let existed = path.exists();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)
            .map_err(io)?;
        if !existed {
            // Make the new file's name durable too.
            let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
            if let Ok(d) = File::open(dir.unwrap_or(Path::new("."))) {
                let _ = d.sync_all();
            }
        }
        let mode = file.metadata().map_err(io)?.permissions().mode();
        if mode & 0o077 != 0 {
            file.set_permissions(std::fs::Permissions::from_mode(0o600))
                .map_err(io)?;
        }
        let mut spool = Spool {
            path: path.to_path_buf(),
            file,
            max_bytes,
            len: 0,
            read_at: 0,
            waiting: 0,
        };
        let (whole, lines) = spool.scan().map_err(io)?;
        let len = spool.file.metadata().map_err(io)?.len();
        if whole < len {
            tracing::warn!(
                path = %path.display(),
                bytes = len - whole,
                "record spool: a change cut short by a crash is dropped"
            );
            spool.file.set_len(whole).map_err(io)?;
            spool.file.sync_all().map_err(io)?;
        }
        spool.len = whole;
        spool.waiting = lines;
        Ok(spool)
    }

    /// The length up to the last newline, and the number of lines.
    fn scan(&mut self) -> std::io::Result<(u64, u64)> {
        self.file.seek(SeekFrom::Start(0))?;
        let mut reader = BufReader::new(&self.file);
        let (mut whole, mut lines) = (0u64, 0u64);
        let mut line = Vec::new();
        loop {
            line.clear();
            let n = reader.read_until(b'\n', &mut line)?;
            if n == 0 || line.last() != Some(&b'\n') {
                return Ok((whole, lines));
            }
            whole += n as u64;
            lines += 1;
        }
    }

    /// The spool's file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// True when no change waits in the spool.
    pub fn is_empty(&self) -> bool {
        self.waiting == 0
    }

    /// Changes waiting in the spool.
    pub fn waiting(&self) -> u64 {
        self.waiting
    }

    /// The file's size in bytes.
    pub fn bytes(&self) -> u64 {
        self.len
    }

    /// Append `changes` in order and flush them to disk. Returns how many
    /// were taken: all, or (with [`SpoolError::Full`]) those that fitted
    /// before the limit, as `Err((taken, error))`.
    pub fn append(&mut self, changes: &[Change]) -> Result<usize, (usize, SpoolError)> {
        let mut buf = Vec::new();
        let mut taken = 0;
        let mut full = false;
        for change in changes {
            let Ok(mut line) = serde_json::to_vec(change) else {
                // Plain data: serialising cannot fail; should it, the
                // change stays with the writer.
                break;
            };
            line.push(b'\n');
            if self.len + (buf.len() + line.len()) as u64 > self.max_bytes {
                full = true;
                break;
            }
            buf.extend_from_slice(&line);
            taken += 1;
        }
        if !buf.is_empty() {
            let io = |source| {
                (
                    0,
                    SpoolError::Io {
                        path: self.path.clone(),
                        source,
                    },
                )
            };
            self.file.seek(SeekFrom::Start(self.len)).map_err(io)?;
            if let Err(e) = self
                .file
                .write_all(&buf)
                .and_then(|()| self.file.sync_data())
            {
                // Whatever part was written is cut off again: the changes stay
                // with the writer, and the file never holds half a line.
                let _ = self.file.set_len(self.len);
                return Err(io(e));
            }
            self.len += buf.len() as u64;
            self.waiting += taken as u64;
        }
        if full {
            return Err((
                taken,
                SpoolError::Full {
                    path: self.path.clone(),
                    max: self.max_bytes,
                },
            ));
        }
        Ok(taken)
    }

    /// Read up to `most` changes from the read position on, in order.
    pub fn read(&mut self, most: usize) -> Result<Batch, SpoolError> {
        let path = self.path.clone();
        let io = |source| SpoolError::Io {
            path: path.clone(),
            source,
        };
        self.file.seek(SeekFrom::Start(self.read_at)).map_err(io)?;
        let mut reader = BufReader::new(&self.file);
        let mut batch = Batch::default();
        let mut at = self.read_at;
        let mut skipped = None;
        let mut line = Vec::new();
        while batch.changes.len() < most && at < self.len {
            line.clear();
            let n = reader.read_until(b'\n', &mut line).map_err(io)?;
            if n == 0 {
                break;
            }
            let start = at;
            at += n as u64;
            match serde_json::from_slice::<Change>(&line) {
                Ok(change) => batch.changes.push((at, change)),
                // The changes before it go first; it is dealt with next time.
                Err(_) if !batch.changes.is_empty() => break,
                Err(e) => {
                    tracing::error!(
                        path = %path.display(),
                        offset = start,
                        error = %e,
                        "record spool: a line that is not a call record change is skipped"
                    );
                    batch.unreadable += 1;
                    skipped = Some(at);
                    break;
                }
            }
        }
        drop(reader);
        if let Some(at) = skipped {
            self.consumed(at);
        }
        Ok(batch)
    }

    /// The changes up to `offset` (as [`Spool::read`] gave it) are in the
    /// database. When every change is, the file is emptied.
    pub fn consumed(&mut self, offset: u64) {
        if offset <= self.read_at {
            return;
        }
        self.read_at = offset.min(self.len);
        self.waiting = self.waiting.saturating_sub(1);
    }

    /// Empty the file once every change in it is in the database.
    pub fn clear_if_done(&mut self) -> Result<bool, SpoolError> {
        if self.read_at < self.len {
            return Ok(false);
        }
        let io = |source| SpoolError::Io {
            path: self.path.clone(),
            source,
        };
        self.file.set_len(0).map_err(io)?;
        self.file.sync_all().map_err(io)?;
        self.len = 0;
        self.read_at = 0;
        self.waiting = 0;
        Ok(true)
    }
}

/// The spool's path for a database URL (`sqlite://path?opts`): the database
/// file's path with `.spool` added. `None` for an in-memory database. For
/// PostgreSQL, which is on another machine or may be, the spool is
/// `records.spool` in this instance's data folder.
pub fn path_for(url: &str, data_dir: &std::path::Path) -> Option<PathBuf> {
    if super::Dialect::of(url) == super::Dialect::Postgres {
        return Some(data_dir.join("records.spool"));
    }
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let file = rest.split('?').next().unwrap_or_default();
    if file.is_empty() || file.contains(":memory:") || url.contains("mode=memory") {
        return None;
    }
    Some(PathBuf::from(format!("{file}.spool")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(seq: i64) -> Change {
        Change::Step {
            call: "0b6f7a3e-2f47-4a51-9a2e-5d1c2e9b8f10".into(),
            seq,
            at: 1_700_000_000_000 + seq,
            menu: "main".into(),
            what: format!("step {seq}"),
        }
    }

    fn seqs(batch: &Batch) -> Vec<i64> {
        batch
            .changes
            .iter()
            .map(|(_, c)| match c {
                Change::Step { seq, .. } => *seq,
                _ => -1,
            })
            .collect()
    }

    #[test]
    fn changes_come_back_in_order_and_survive_a_reopen() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("senim.db.spool");
        let mut spool = Spool::open(&path, 1 << 20).unwrap();
        assert!(spool.is_empty());
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(spool.append(&[step(1), step(2)]).unwrap(), 2);
        assert_eq!(spool.append(&[step(3)]).unwrap(), 1);
        drop(spool);
        // A restart: the same changes, in the same order.
        let mut spool = Spool::open(&path, 1 << 20).unwrap();
        assert_eq!(spool.waiting(), 3);
        let batch = spool.read(2).unwrap();
        assert_eq!(seqs(&batch), [1, 2]);
        for (end, _) in &batch.changes {
            spool.consumed(*end);
        }
        assert!(!spool.clear_if_done().unwrap());
        // Appended while replaying: behind what was there.
        spool.append(&[step(4)]).unwrap();
        let batch = spool.read(10).unwrap();
        assert_eq!(seqs(&batch), [3, 4]);
        for (end, _) in &batch.changes {
            spool.consumed(*end);
        }
        assert!(spool.is_empty());
        assert!(spool.clear_if_done().unwrap());
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
    }

    #[test]
    fn a_full_spool_refuses_what_does_not_fit() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("s.spool");
        let one = serde_json::to_vec(&step(1)).unwrap().len() as u64 + 1;
        let mut spool = Spool::open(&path, one * 3 + one / 2).unwrap();
        let all: Vec<Change> = (1..=5).map(step).collect();
        match spool.append(&all) {
            Err((3, SpoolError::Full { .. })) => {}
            other => panic!("expected 3 taken and full, got {other:?}"),
        }
        assert_eq!(spool.waiting(), 3);
        assert!(matches!(
            spool.append(&[step(6)]),
            Err((0, SpoolError::Full { .. }))
        ));
        assert!(std::fs::metadata(&path).unwrap().len() <= one * 3 + one / 2);
        let batch = spool.read(10).unwrap();
        assert_eq!(seqs(&batch), [1, 2, 3]);
    }

    #[test]
    fn a_torn_last_line_is_dropped_and_a_bad_line_skipped() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("s.spool");
        let mut spool = Spool::open(&path, 1 << 20).unwrap();
        spool.append(&[step(1)]).unwrap();
        drop(spool);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"not json\n").unwrap();
        f.write_all(&serde_json::to_vec(&step(2)).unwrap()).unwrap();
        f.write_all(b"\n{\"op\":\"step\",\"call\":\"x").unwrap();
        drop(f);
        let mut spool = Spool::open(&path, 1 << 20).unwrap();
        assert_eq!(spool.waiting(), 3);
        let batch = spool.read(10).unwrap();
        assert_eq!(seqs(&batch), [1]);
        assert_eq!(batch.unreadable, 0);
        spool.consumed(batch.changes[0].0);
        let batch = spool.read(10).unwrap();
        assert!(batch.changes.is_empty());
        assert_eq!(batch.unreadable, 1);
        let batch = spool.read(10).unwrap();
        assert_eq!(seqs(&batch), [2]);
        spool.consumed(batch.changes[0].0);
        assert!(spool.is_empty());
        // New changes start on a line of their own.
        spool.append(&[step(3)]).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.ends_with("\"what\":\"step 3\"}\n"), "{text}");
    }

    #[test]
    fn the_spool_lies_next_to_the_database() {
        assert_eq!(
            path_for("sqlite:///var/lib/senim/senim.db?mode=rwc", Path::new("/d")),
            Some(PathBuf::from("/var/lib/senim/senim.db.spool"))
        );
        assert_eq!(
            path_for("sqlite://senim.db", Path::new("/d")),
            Some(PathBuf::from("senim.db.spool"))
        );
        assert_eq!(path_for("sqlite::memory:", Path::new("/d")), None);
        assert_eq!(
            path_for("postgres://senim@db.example/senim", Path::new("/d")),
            Some(PathBuf::from("/d/records.spool"))
        );
    }
}
