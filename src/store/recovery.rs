//! What the start does after a crash, kill or power loss: calls that were
//! in progress get an end (`interrupted`), callbacks of follow-ups that never
//! got an outcome are closed as `interrupted` (so they no longer block a new
//! callback), and a voice message completed from its partial file gets its
//! row, marked `cut`, with the call and the follow-up it needs.

use super::{Store, StoreError};

/// The outcome given to calls and callbacks a restart found without an end.
pub const INTERRUPTED: &str = "interrupted";

/// An instance sharing the database that has not said it is alive for this
/// long (ms) is taken for stopped: its calls are closed as interrupted and
/// its claims on specialists may be taken over (`store::instances`).
pub const GONE_AFTER_MS: i64 = 20_000;

/// What [`close_interrupted`] changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Interrupted {
    pub calls: u64,
    pub callbacks: u64,
}

/// Close every call and callback attempt left without an end by this
/// instance (or by an instance that is no longer alive, or from before
/// instances were named). `at` is the start's time (epoch ms); a call keeps
/// its last known time when later. Run at start, before calls are taken:
/// none of this instance's is in progress then. The calls of other
/// instances that are alive are theirs.
pub async fn close_interrupted(store: &Store, at: i64) -> Result<Interrupted, StoreError> {
    close_open(store, at, Whose::OwnAndGone).await
}

/// Whose open calls [`close_open`] closes.
pub(in crate::store) enum Whose {
    /// This instance's, those of instances gone silent, and those from
    /// before instances were named (at start).
    OwnAndGone,
    /// Only those of other instances gone silent (while running).
    GoneOthers,
}

/// Close the calls and callback attempts without an end that are `whose`,
/// as interrupted at `at` (epoch ms; a call keeps its last known time when
/// later). An instance is gone when its heartbeat is older than
/// [`GONE_AFTER_MS`] at `at`.
pub(in crate::store) async fn close_open(
    store: &Store,
    at: i64,
    whose: Whose,
) -> Result<Interrupted, StoreError> {
    let owner = |table: &str| {
        let gone = format!(
            "NOT EXISTS (SELECT 1 FROM instances i
                          WHERE i.id = {table}.instance AND i.seen_at >= $1 - $4)"
        );
        match whose {
            Whose::OwnAndGone => format!("(instance IS NULL OR instance = $3 OR {gone})"),
            Whose::GoneOthers => format!("(instance IS NOT NULL AND instance <> $3 AND {gone})"),
        }
    };
    let mut closed = [0; 2];
    for (n, (table, start, open)) in [
        ("calls", "arrived_at", "ended_at IS NULL"),
        ("follow_up_calls", "started_at", "outcome IS NULL"),
    ]
    .into_iter()
    .enumerate()
    {
        closed[n] = sqlx::query(super::sql(format!(
            "UPDATE {table} SET ended_at = CASE WHEN {start} > $1 THEN {start} ELSE $1 END,
                                outcome = $2
              WHERE {open} AND {}",
            owner(table)
        )))
        .bind(at)
        .bind(INTERRUPTED)
        .bind(store.instance())
        .bind(GONE_AFTER_MS)
        .execute(store.pool())
        .await?
        .rows_affected();
    }
    Ok(Interrupted {
        calls: closed[0],
        callbacks: closed[1],
    })
}

/// A recovered message: its call (created when the crash came before the
/// call's first row was written), its `voicemails` row marked `cut`, a step
/// in its timeline, and its follow-up. Idempotent.
pub async fn recovered_voicemail(
    store: &Store,
    call: &str,
    at: i64,
    path: &str,
    duration_ms: i64,
) -> Result<(), StoreError> {
    let mut tx = store.pool().begin().await?;
    sqlx::query(
        "INSERT INTO calls (id, sip_call_id, arrived_at, ended_at, transport, outcome)
         VALUES ($1, '', $2, $2, 'unknown', $3) ON CONFLICT (id) DO NOTHING",
    )
    .bind(call)
    .bind(at)
    .bind(INTERRUPTED)
    .execute(&mut *tx)
    .await?;
    let added = sqlx::query(
        "INSERT INTO voicemails (call_id, at, path, duration_ms, ended_by, cut)
         VALUES ($1, $2, $3, $4, 'restart', 1) ON CONFLICT (call_id) DO NOTHING",
    )
    .bind(call)
    .bind(at)
    .bind(path)
    .bind(duration_ms)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if added == 1 {
        sqlx::query(
            "INSERT INTO call_steps (call_id, seq, at, menu, what)
             SELECT $1, COALESCE(MAX(seq), 0) + 1, $2, 'voicemail',
                    'voicemail cut short (Senim stopped while recording); completed at start: ' || $3 || ' ms'
               FROM call_steps WHERE call_id = $1",
        )
        .bind(call)
        .bind(at)
        .bind(duration_ms)
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query(
        "INSERT INTO follow_ups (id, call_id, kind, created_at, caller_hash, language, service)
         SELECT 'voicemail-' || id, id, 'voicemail', $2, caller_hash, language, service
         FROM calls WHERE id = $1
         ON CONFLICT DO NOTHING",
    )
    .bind(call)
    .bind(at)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn store() -> (tempfile::TempDir, Store) {
        let tmp = tempfile::tempdir().unwrap();
        let store = crate::store::open_for_test(tmp.path()).await;
        (tmp, store)
    }

    #[tokio::test]
    async fn calls_and_callbacks_without_an_end_are_closed_as_interrupted() {
        let (_tmp, store) = store().await;
        let pool = store.pool();
        for (id, ended) in [("a", None), ("b", Some(5))] {
            sqlx::query(
                "INSERT INTO calls (id, sip_call_id, arrived_at, ended_at, transport, outcome)
                 VALUES ($1, 's', 1, $2, 'udp', CASE WHEN $2 IS NULL THEN NULL ELSE 'completed' END)",
            )
            .bind(id)
            .bind(ended)
            .execute(pool)
            .await
            .unwrap();
        }
        sqlx::query(
            "INSERT INTO follow_ups (id, call_id, kind, created_at) VALUES ('f', 'b', 'callback', 2)",
        )
        .execute(pool)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO follow_up_calls (id, follow_up_id, specialist, started_at)
             VALUES ('fc', 'f', 'aliya', 3)",
        )
        .execute(pool)
        .await
        .unwrap();
        let n = close_interrupted(&store, 100).await.unwrap();
        assert_eq!(
            n,
            Interrupted {
                calls: 1,
                callbacks: 1
            }
        );
        let rows: Vec<(String, Option<i64>, Option<String>)> =
            sqlx::query_as("SELECT id, ended_at, outcome FROM calls ORDER BY id")
                .fetch_all(pool)
                .await
                .unwrap();
        assert_eq!(
            rows,
            [
                ("a".into(), Some(100), Some("interrupted".into())),
                ("b".into(), Some(5), Some("completed".into()))
            ]
        );
        let cb: (Option<i64>, Option<String>) =
            sqlx::query_as("SELECT ended_at, outcome FROM follow_up_calls")
                .fetch_one(pool)
                .await
                .unwrap();
        assert_eq!(cb, (Some(100), Some("interrupted".into())));
        // A new callback of that follow-up is no longer blocked.
        assert!(
            crate::store::follow_ups::begin_call(&store, "fc2", "f", "aliya", 200, 0)
                .await
                .unwrap()
        );
        assert_eq!(close_interrupted(&store, 300).await.unwrap().calls, 0);
    }

    #[tokio::test]
    async fn a_recovered_message_shows_with_its_call_and_follow_up() {
        let (_tmp, store) = store().await;
        let id = "0b6f7a3e-2f47-4a51-9a2e-5d1c2e9b8f10";
        for _ in 0..2 {
            recovered_voicemail(&store, id, 1000, "/v/x.wav", 10_020)
                .await
                .unwrap();
        }
        let pool = store.pool();
        let v: (i64, i64, String) =
            sqlx::query_as("SELECT duration_ms, cut, ended_by FROM voicemails WHERE call_id = $1")
                .bind(id)
                .fetch_one(pool)
                .await
                .unwrap();
        assert_eq!(v, (10_020, 1, "restart".into()));
        let f: (String,) = sqlx::query_as("SELECT kind FROM follow_ups WHERE call_id = $1")
            .bind(id)
            .fetch_one(pool)
            .await
            .unwrap();
        assert_eq!(f.0, "voicemail");
        let steps: Vec<(i64,)> = sqlx::query_as("SELECT seq FROM call_steps WHERE call_id = $1")
            .bind(id)
            .fetch_all(pool)
            .await
            .unwrap();
        assert_eq!(steps, [(1,)]);
    }
}
