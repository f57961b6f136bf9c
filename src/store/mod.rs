//! The call record store: SQLite through sqlx, written by one task that
//! keeps every change in order and retries through database hiccups, so a
//! call never waits on the disk and a record is never dropped.

pub mod audit;
pub mod backup;
pub mod calls;
mod change;
pub mod follow_ups;
pub mod keys;
pub mod memory;
pub mod recovery;
pub mod reports;
pub mod retention;
pub mod spool;
mod writer;

pub use writer::{replay_spool, spawn_writer, RecordBacklog, RecordOp, Recorder};

use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

/// Why the store could not be opened or written.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database URL is not one Senim understands.
    #[error("database url {url:?}: {source}")]
    Url { url: String, source: sqlx::Error },
    /// The database could not be opened or created.
    #[error("cannot open database {url:?}: {source}")]
    Open { url: String, source: sqlx::Error },
    /// A schema migration failed.
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The database file could not be created private (mode 0600).
    #[error("cannot create the database file {}: {source}", path.display())]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A query failed.
    #[error("database query failed: {0}")]
    Query(#[from] sqlx::Error),
    /// The spool of call record changes could not be read or written.
    #[error("{0}")]
    Spool(#[from] spool::SpoolError),
}

/// A handle on the database.
#[derive(Clone, Debug)]
pub struct Store {
    pool: SqlitePool,
}

impl Store {
    /// Open (creating when missing) and migrate the database. A new
    /// database file is created with mode 0600 (SQLite gives its `-wal` and
    /// `-shm` the same mode). Deleted content is overwritten
    /// (`secure_delete`), so what a purge removes does not linger in free
    /// pages.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        let options = SqliteConnectOptions::from_str(url).map_err(|source| StoreError::Url {
            url: url.to_string(),
            source,
        })?;
        if let Some(path) = Store::file_of(url) {
            create_private(&path).map_err(|source| StoreError::Create { path, source })?;
        }
        let options = options
            .create_if_missing(true)
            .pragma("secure_delete", "ON")
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .map_err(|source| StoreError::Open {
                url: url.to_string(),
                source,
            })?;
        sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
        Ok(Store { pool })
    }

    /// The database file a URL names; `None` for an in-memory database or
    /// a URL that is not SQLite's.
    pub fn file_of(url: &str) -> Option<PathBuf> {
        let options = SqliteConnectOptions::from_str(url).ok()?;
        let path = options.get_filename();
        let name = path.to_str().unwrap_or_default();
        // sqlx names an in-memory database `file:sqlx-in-memory-N`.
        let in_memory = name.starts_with(":memory:")
            || name.starts_with("file:")
            || url.contains("mode=memory");
        (!name.is_empty() && !in_memory).then(|| path.to_path_buf())
    }

    /// Move what the write-ahead log holds into the database file and empty
    /// the log, so content a purge overwrote is not kept in old log frames.
    /// Busy readers can make it a partial checkpoint: that is logged, and
    /// the next purge tries again.
    pub async fn truncate_wal(&self) -> Result<(), StoreError> {
        let (busy, _, _): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)")
            .fetch_one(&self.pool)
            .await?;
        if busy != 0 {
            tracing::info!("the write-ahead log is in use; it is emptied at the next purge");
        }
        Ok(())
    }

    /// The pool, for the queries of this module's files only: nothing
    /// outside the store sees sqlx.
    pub(in crate::store) fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

/// Create an empty database file with mode 0600 when there is none, so
/// SQLite never creates it with the process's default mode.
fn create_private(path: &Path) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.exists() {
            // SQLite does not create folders either: let it report that.
            return Ok(());
        }
    }
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[tokio::test]
    async fn a_new_database_and_its_log_are_private() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("new.db");
        let url = format!("sqlite://{}", db.display());
        assert_eq!(Store::file_of(&url), Some(db.clone()));
        let store = Store::open(&url).await.unwrap();
        let secure: i64 = sqlx::query_scalar("PRAGMA secure_delete")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(secure, 1);
        for name in ["new.db", "new.db-wal", "new.db-shm"] {
            let mode = std::fs::metadata(dir.path().join(name))
                .unwrap_or_else(|e| panic!("{name}: {e}"))
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{name}");
        }
        store.truncate_wal().await.unwrap();
        assert_eq!(
            std::fs::metadata(dir.path().join("new.db-wal"))
                .unwrap()
                .len(),
            0
        );
        assert_eq!(Store::file_of("sqlite::memory:"), None);
    }
}
