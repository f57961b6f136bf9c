//! The call record store: SQLite through sqlx, written by one task that
//! keeps every change in order and retries through database hiccups, so a
//! call never waits on the disk and a record is never dropped.

pub mod audit;
pub mod backup;
pub mod calls;
pub mod follow_ups;
pub mod keys;
pub mod reports;
pub mod retention;
mod writer;

pub use writer::{spawn_writer, RecordOp, Recorder};

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
    /// A query failed.
    #[error("database query failed: {0}")]
    Query(#[from] sqlx::Error),
}

/// A handle on the database.
#[derive(Clone, Debug)]
pub struct Store {
    pool: SqlitePool,
}

impl Store {
    /// Open (creating when missing) and migrate the database.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|source| StoreError::Url {
                url: url.to_string(),
                source,
            })?
            .create_if_missing(true)
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

    /// The pool, for the queries of this module's files only: nothing
    /// outside the store sees sqlx.
    pub(in crate::store) fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}
