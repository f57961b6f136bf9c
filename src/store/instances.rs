//! Several instances on one database: each says it is alive (a heartbeat
//! in `instances`), the calls of one that stopped saying so are closed as
//! interrupted by another, and a specialist being rung or talking on one
//! instance is claimed by it (`specialist_claims`) so that no other rings
//! them at the same time. A claim of an instance that is no longer alive
//! can be taken over.

pub use super::recovery::GONE_AFTER_MS;
use super::recovery::{close_open, Interrupted, Whose};
use super::{Store, StoreError};

/// Say that this instance is alive (`started_at` and now, epoch ms).
pub async fn heartbeat(store: &Store, started_at: i64, now_ms: i64) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO instances (id, started_at, seen_at) VALUES ($1, $2, $3)
         ON CONFLICT (id) DO UPDATE SET started_at = excluded.started_at, seen_at = excluded.seen_at",
    )
    .bind(store.instance())
    .bind(started_at)
    .bind(now_ms)
    .execute(store.pool())
    .await?;
    Ok(())
}

/// The instance says it has stopped: its claims go and it is no longer
/// counted as alive.
pub async fn leave(store: &Store) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM specialist_claims WHERE instance = $1")
        .bind(store.instance())
        .execute(store.pool())
        .await?;
    sqlx::query("DELETE FROM instances WHERE id = $1")
        .bind(store.instance())
        .execute(store.pool())
        .await?;
    Ok(())
}

/// Close the calls and callback attempts of other instances that are no
/// longer alive, as interrupted (`now_ms`: now, epoch ms).
pub async fn close_calls_of_gone(store: &Store, now_ms: i64) -> Result<Interrupted, StoreError> {
    close_open(store, now_ms, Whose::GoneOthers).await
}

/// The condition "the instance named by column `column` is not alive at
/// `$1`" (a heartbeat no older than [`GONE_AFTER_MS`] before it).
fn gone(column: &str) -> String {
    format!(
        "NOT EXISTS (SELECT 1 FROM instances i
                      WHERE i.id = {column} AND i.seen_at >= $1 - {GONE_AFTER_MS})"
    )
}

/// Claim `specialist` for a ring of `call` on this instance. True when the
/// claim is this instance's now: it was free, already this instance's, or
/// held by an instance that is no longer alive.
pub async fn claim(
    store: &Store,
    specialist: &str,
    call: &str,
    now_ms: i64,
) -> Result<bool, StoreError> {
    let taken = sqlx::query(super::sql(format!(
        "INSERT INTO specialist_claims (specialist, instance, call_id, since)
         VALUES ($2, $3, $4, $1)
         ON CONFLICT (specialist) DO UPDATE
            SET instance = excluded.instance, call_id = excluded.call_id, since = excluded.since
          WHERE specialist_claims.instance = excluded.instance OR {}",
        gone("specialist_claims.instance")
    )))
    .bind(now_ms)
    .bind(specialist)
    .bind(store.instance())
    .bind(call)
    .execute(store.pool())
    .await?
    .rows_affected();
    Ok(taken > 0)
}

/// Give up this instance's claim on `specialist` (no-op if it has none).
/// On PostgreSQL the other instances hear of it at once
/// (`NOTIFY senim_specialist_free, '<instance> <specialist>'`).
pub async fn release(store: &Store, specialist: &str) -> Result<(), StoreError> {
    let gone = sqlx::query("DELETE FROM specialist_claims WHERE specialist = $1 AND instance = $2")
        .bind(specialist)
        .bind(store.instance())
        .execute(store.pool())
        .await?
        .rows_affected();
    if gone > 0 && store.dialect() == super::Dialect::Postgres {
        sqlx::query("SELECT pg_notify('senim_specialist_free', $1)")
            .bind(format!("{} {specialist}", store.instance()))
            .execute(store.pool())
            .await?;
    }
    Ok(())
}

/// The specialists this instance holds a claim on.
pub async fn claimed_here(store: &Store) -> Result<Vec<String>, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT specialist FROM specialist_claims WHERE instance = $1")
            .bind(store.instance())
            .fetch_all(store.pool())
            .await?,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn two() -> (tempfile::TempDir, Store, Store) {
        let dir = tempfile::tempdir().unwrap();
        let a = crate::store::open_for_test(dir.path())
            .await
            .for_instance("a");
        let b = a.clone().for_instance("b");
        (dir, a, b)
    }

    #[tokio::test]
    async fn a_specialist_is_claimed_by_one_instance_at_a_time() {
        let (_dir, a, b) = two().await;
        heartbeat(&a, 0, 1_000).await.unwrap();
        heartbeat(&b, 0, 1_000).await.unwrap();
        assert!(claim(&a, "asel", "c1", 1_000).await.unwrap());
        assert!(!claim(&b, "asel", "c2", 1_001).await.unwrap());
        // Again by its holder, for the next call.
        assert!(claim(&a, "asel", "c3", 1_002).await.unwrap());
        assert!(claim(&b, "bota", "c2", 1_003).await.unwrap());
        assert_eq!(claimed_here(&a).await.unwrap(), vec!["asel".to_string()]);
        release(&a, "asel").await.unwrap();
        assert!(claim(&b, "asel", "c4", 1_004).await.unwrap());
        // Releasing what another holds does nothing.
        release(&a, "asel").await.unwrap();
        assert!(!claim(&a, "asel", "c5", 1_005).await.unwrap());
    }

    #[tokio::test]
    async fn the_claims_and_calls_of_a_gone_instance_are_taken_over() {
        let (_dir, a, b) = two().await;
        heartbeat(&a, 0, 1_000).await.unwrap();
        heartbeat(&b, 0, 1_000).await.unwrap();
        assert!(claim(&a, "asel", "c1", 1_000).await.unwrap());
        for (store, id) in [(&a, "call-a"), (&b, "call-b")] {
            store
                .apply(&crate::store::RecordOp::Arrived {
                    call: id.into(),
                    sip_call_id: format!("{id}@test"),
                    at: 1_000,
                    caller_hash: None,
                    transport: "udp",
                    trunk: None,
                    line: None,
                })
                .await
                .unwrap();
        }
        // `a` stops saying it is alive; `b` goes on.
        let later = 1_000 + GONE_AFTER_MS + 1;
        heartbeat(&b, 0, later).await.unwrap();
        assert!(!claim(&b, "asel", "c2", 1_000 + GONE_AFTER_MS)
            .await
            .unwrap());
        let closed = close_calls_of_gone(&b, later).await.unwrap();
        assert_eq!(closed.calls, 1);
        let open: Vec<String> =
            sqlx::query_scalar("SELECT id FROM calls WHERE ended_at IS NULL ORDER BY id")
                .fetch_all(b.pool())
                .await
                .unwrap();
        assert_eq!(open, vec!["call-b".to_string()]);
        assert!(claim(&b, "asel", "c2", later).await.unwrap());
        // A stopped instance leaves nothing behind.
        leave(&b).await.unwrap();
        assert!(claimed_here(&b).await.unwrap().is_empty());
    }
}
