//! A consistent copy of the database while Senim runs: `VACUUM INTO` reads
//! one snapshot (WAL included) and writes a compact single file, so a
//! backup never holds a torn page or needs its `-wal`.

use std::path::Path;

use super::{Store, StoreError};

/// What a database copy holds, read back from the copy itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Contents {
    pub calls: i64,
    pub follow_ups: i64,
    /// The newest schema migration applied.
    pub schema: i64,
}

/// Write a copy of the database to `to` (which must not exist).
pub async fn copy_into(store: &Store, to: &Path) -> Result<(), StoreError> {
    if store.dialect() != super::Dialect::Sqlite {
        return Err(StoreError::Unsupported(
            "senim backup copies a SQLite database; back up PostgreSQL with pg_dump \
             (docs/scaling.md), and the keys and voice messages with senim backup's \
             folder copy or your own",
        ));
    }
    let target = to.to_string_lossy().to_string();
    sqlx::query("VACUUM INTO $1")
        .bind(target)
        .execute(store.pool())
        .await?;
    Ok(())
}

/// Open a copy read-only, check it page by page and count what it holds.
pub async fn verify(copy: &Path) -> Result<Result<Contents, String>, StoreError> {
    use sqlx::sqlite::SqliteConnectOptions;
    use sqlx::{ConnectOptions, Connection};
    let mut conn = SqliteConnectOptions::new()
        .filename(copy)
        .read_only(true)
        .connect()
        .await?;
    let check: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&mut conn)
        .await?;
    if check != "ok" {
        conn.close().await?;
        return Ok(Err(check));
    }
    let calls = sqlx::query_scalar("SELECT COUNT(*) FROM calls")
        .fetch_one(&mut conn)
        .await?;
    let follow_ups = sqlx::query_scalar("SELECT COUNT(*) FROM follow_ups")
        .fetch_one(&mut conn)
        .await?;
    let schema = sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations")
        .fetch_one(&mut conn)
        .await?;
    conn.close().await?;
    Ok(Ok(Contents {
        calls,
        follow_ups,
        schema,
    }))
}
