//! The call record store: SQLite (one centre, the default) or PostgreSQL
//! (several instances sharing one database) through sqlx's `Any` driver,
//! written by one task that keeps every change in order and retries through
//! database hiccups, so a call never waits on the disk and a record is never
//! dropped. The queries are written once, in the SQL both engines share;
//! the few places where they differ go through [`Dialect`].

pub mod audit;
pub mod backup;
pub mod calls;
mod change;
pub mod follow_ups;
pub mod instances;
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

use sqlx::any::AnyPoolOptions;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::AnyPool;
use sqlx::Executor;

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
    /// What was asked is done by the database's own tools on this engine.
    #[error("{0}")]
    Unsupported(&'static str),
}

/// The instance name of a store opened without one (commands such as
/// `senim backup`, tests).
pub const DEFAULT_INSTANCE: &str = "senim";

/// Which database engine a store talks to, for the few statements whose
/// SQL differs between them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// The engine a database URL names: `postgres://` or `postgresql://` is
    /// PostgreSQL, anything else SQLite.
    pub fn of(url: &str) -> Dialect {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Dialect::Postgres
        } else {
            Dialect::Sqlite
        }
    }

    /// The text at `key` of the JSON object in the text column `column`.
    pub(in crate::store) fn json_text(self, column: &str, key: &str) -> String {
        match self {
            Dialect::Sqlite => format!("json_extract({column}, '$.{key}')"),
            Dialect::Postgres => format!("(({column})::jsonb ->> '{key}')"),
        }
    }

    /// The integer at `key` of the JSON object in the text column `column`.
    pub(in crate::store) fn json_int(self, column: &str, key: &str) -> String {
        match self {
            Dialect::Sqlite => format!("json_extract({column}, '$.{key}')"),
            Dialect::Postgres => format!("((({column})::jsonb ->> '{key}')::bigint)"),
        }
    }

    /// A sub-select of the strings of the JSON array bound at `param`
    /// (`$1`), for `x IN (...)`: one statement for a whole batch of ids.
    pub(in crate::store) fn json_list(self, param: &str) -> String {
        match self {
            Dialect::Sqlite => format!("SELECT value FROM json_each({param})"),
            Dialect::Postgres => format!("SELECT jsonb_array_elements_text(({param})::jsonb)"),
        }
    }
}

/// A statement built at run time from fixed text and [`Dialect`]'s
/// fragments (never from input: every value is bound).
pub(in crate::store) fn sql(text: String) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(text)
}

/// A handle on the database.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    dialect: Dialect,
    /// This instance's name among those sharing the database
    /// (`[database] instance`), written on the calls it carries.
    instance: std::sync::Arc<str>,
}

impl Store {
    /// Open (creating when missing) and migrate the database. A new
    /// database file is created with mode 0600 (SQLite gives its `-wal` and
    /// `-shm` the same mode). Deleted content is overwritten
    /// (`secure_delete`), so what a purge removes does not linger in free
    /// pages.
    ///
    /// A `postgres://` URL opens PostgreSQL instead: the database must
    /// exist; its tables are created by the migrations of
    /// `migrations/postgres`. Several Senim instances may share it.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let dialect = Dialect::of(url);
        let open_error = |source| StoreError::Open {
            url: redact(url),
            source,
        };
        let pool = match dialect {
            Dialect::Sqlite => {
                let options =
                    SqliteConnectOptions::from_str(url).map_err(|source| StoreError::Url {
                        url: redact(url),
                        source,
                    })?;
                if let Some(path) = Store::file_of(url) {
                    create_private(&path).map_err(|source| StoreError::Create { path, source })?;
                }
                // Every pooled connection must open the same database: an
                // in-memory one is named and shared.
                let in_memory = options
                    .get_filename()
                    .to_str()
                    .is_some_and(|f| f.starts_with("file:sqlx-in-memory"));
                let url = if in_memory {
                    format!(
                        "sqlite:file:senim-{}?mode=memory&cache=shared",
                        uuid::Uuid::new_v4()
                    )
                } else {
                    let file = options.get_filename().display().to_string();
                    let file = file
                        .replace('%', "%25")
                        .replace('?', "%3F")
                        .replace('#', "%23");
                    format!("sqlite://{file}?mode=rwc")
                };
                AnyPoolOptions::new()
                    .max_connections(4)
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            conn.execute(
                                "PRAGMA busy_timeout = 5000; PRAGMA secure_delete = ON; \
                                 PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                                 PRAGMA foreign_keys = ON;",
                            )
                            .await?;
                            Ok(())
                        })
                    })
                    .connect(&url)
                    .await
                    .map_err(open_error)?
            }
            Dialect::Postgres => AnyPoolOptions::new()
                .max_connections(8)
                .acquire_timeout(Duration::from_secs(5))
                .connect(url)
                .await
                .map_err(open_error)?,
        };
        match dialect {
            Dialect::Sqlite => sqlx::migrate!("./migrations/sqlite").run(&pool).await?,
            Dialect::Postgres => sqlx::migrate!("./migrations/postgres").run(&pool).await?,
        }
        Ok(Store {
            pool,
            dialect,
            instance: DEFAULT_INSTANCE.into(),
        })
    }

    /// The same store, for the instance named `instance`.
    pub fn for_instance(mut self, instance: &str) -> Store {
        self.instance = instance.into();
        self
    }

    /// This instance's name.
    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// The engine this store talks to.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// The database file a URL names; `None` for an in-memory database or
    /// a URL that is not SQLite's.
    pub fn file_of(url: &str) -> Option<PathBuf> {
        if Dialect::of(url) != Dialect::Sqlite {
            return None;
        }
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
    /// PostgreSQL keeps no such log in files of Senim's: nothing to do.
    pub async fn truncate_wal(&self) -> Result<(), StoreError> {
        if self.dialect != Dialect::Sqlite {
            return Ok(());
        }
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
    pub(in crate::store) fn pool(&self) -> &AnyPool {
        &self.pool
    }
}

/// A yes/no column as a bool: both engines keep it as 0 or 1 (SQLite has
/// no boolean type, and one query must read both).
pub(in crate::store) fn flag(
    row: &sqlx::any::AnyRow,
    column: &str,
) -> Result<Option<bool>, sqlx::Error> {
    use sqlx::Row;
    Ok(row.try_get::<Option<i64>, _>(column)?.map(|v| v != 0))
}

/// A database URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

/// A fresh, empty store for a test: a SQLite file in `dir`, or, when
/// `SENIM_TEST_POSTGRES` names a PostgreSQL server (`postgres://user@host:port/db`),
/// a new database of its own there.
#[cfg(test)]
pub(crate) async fn open_for_test(dir: &Path) -> Store {
    match std::env::var("SENIM_TEST_POSTGRES") {
        Ok(server) if !server.is_empty() => {
            let url = testing::new_postgres_database(&server)
                .await
                .unwrap_or_else(|e| panic!("a test database on {}: {e}", redact(&server)));
            Store::open(&url).await.unwrap_or_else(|e| panic!("{e}"))
        }
        _ => Store::open(&format!("sqlite://{}", dir.join("test.db").display()))
            .await
            .unwrap_or_else(|e| panic!("{e}")),
    }
}

/// Throwaway PostgreSQL databases for tests (the unit tests and the
/// end-to-end harness).
#[doc(hidden)]
pub mod testing {
    /// Create a new empty database on the server `server` names (a URL of
    /// one database there to connect to) and return its URL.
    pub async fn new_postgres_database(server: &str) -> Result<String, sqlx::Error> {
        use sqlx::Connection;
        let mut url = url::Url::parse(server).map_err(|e| sqlx::Error::Configuration(e.into()))?;
        let name = format!("senim_test_{}", uuid::Uuid::new_v4().simple());
        let mut conn = sqlx::PgConnection::connect(server).await?;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await?;
        conn.close().await?;
        url.set_path(&format!("/{name}"));
        Ok(url.to_string())
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

    #[tokio::test]
    async fn an_in_memory_database_is_one_database_for_every_pooled_connection() {
        let store = Store::open("sqlite::memory:").await.unwrap();
        let mut first = store.pool().acquire().await.unwrap();
        let mut second = store.pool().acquire().await.unwrap();
        sqlx::query("INSERT INTO instances (id, started_at, seen_at) VALUES ('x', 1, 1)")
            .execute(&mut *first)
            .await
            .unwrap();
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM instances")
            .fetch_one(&mut *second)
            .await
            .unwrap();
        assert_eq!(n, 1);
        assert!(!std::path::Path::new("file:sqlx-in-memory-0").exists());
    }
}
