//! Retention: personal data goes when its period is over, and on a
//! caller's request.
//!
//! - `numbers`: the sealed callback numbers of follow-ups created longer
//!   ago than the period are cleared (the follow-up itself stays).
//! - `recordings`: voice messages older than the period: the WAV file is
//!   deleted, then its row.
//! - `timelines`: calls that arrived longer ago than the period lose their
//!   keys, menu steps and routing steps and their caller hash; follow-ups
//!   that old lose their caller hash. What the reports and the call list
//!   read from the timeline is folded into the call's row first (the
//!   `kept_*` columns of migration 0007), so the aggregates stay.
//! - `audit`: audit entries older than the period.
//!
//! [`erase_caller`] removes one caller's data on request, found by the keyed
//! hash of their number. Everything here takes the time as an argument so it
//! can be tested with a fixed clock; [`run`] feeds it the wall clock.
//!
//! Work is done in batches of [`BATCH`] rows per statement, and at most
//! [`MAX_BATCHES`] batches per kind and run: a large backlog is worked off
//! over several runs without holding the database for long.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use sqlx::{Row, SqlitePool};

use super::{Store, StoreError};

use crate::util::duration::parse_duration;

/// Rows per statement.
pub const BATCH: usize = 1000;
/// Batches per kind of data and run.
pub const MAX_BATCHES: usize = 1000;

/// `[retention]` as written in the configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// Sealed callback numbers, counted from the request ("90d").
    pub numbers: String,
    /// Voice messages (WAV files), counted from the recording.
    pub recordings: String,
    /// Call timelines and caller hashes, counted from the call's arrival.
    pub timelines: String,
    /// The audit log.
    pub audit: String,
    /// How often the purge runs ("1h"); it also runs at start.
    pub every: String,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            numbers: "90d".into(),
            recordings: "90d".into(),
            timelines: "365d".into(),
            audit: "730d".into(),
            every: "1h".into(),
        }
    }
}

/// The retention periods, checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    pub numbers: Duration,
    pub recordings: Duration,
    pub timelines: Duration,
    pub audit: Duration,
    pub every: Duration,
}

impl Default for Retention {
    fn default() -> Self {
        // The defaults parse: checked by a test.
        RetentionConfig::default().parse().unwrap_or(Retention {
            numbers: DAY * 90,
            recordings: DAY * 90,
            timelines: DAY * 365,
            audit: DAY * 730,
            every: Duration::from_secs(3600),
        })
    }
}

const DAY: Duration = Duration::from_secs(86_400);

impl RetentionConfig {
    /// Check the values: a period is at least one day (a unit typed wrong,
    /// "90s" for "90d", must not wipe the data), `every` from one minute
    /// to one day. The error names the key.
    pub fn parse(&self) -> Result<Retention, (&'static str, String)> {
        let period = |key: &'static str, text: &str| {
            parse_duration(text)
                .filter(|d| *d >= DAY && d.as_secs() <= 100 * 365 * 86_400)
                .ok_or_else(|| {
                    (
                        key,
                        format!("{text:?} is not a period like \"90d\" (1d to 36500d)"),
                    )
                })
        };
        let every = parse_duration(&self.every)
            .filter(|d| *d >= Duration::from_secs(60) && *d <= DAY)
            .ok_or_else(|| {
                (
                    "retention.every",
                    format!("{:?} is not a duration like \"1h\" (1m to 1d)", self.every),
                )
            })?;
        Ok(Retention {
            numbers: period("retention.numbers", &self.numbers)?,
            recordings: period("retention.recordings", &self.recordings)?,
            timelines: period("retention.timelines", &self.timelines)?,
            audit: period("retention.audit", &self.audit)?,
            every,
        })
    }
}

/// What one purge removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PurgeCounts {
    /// Follow-ups whose sealed number was cleared.
    pub numbers: u64,
    /// Voice messages removed (file and row).
    pub recordings: u64,
    /// Of those, files that were already gone.
    pub recording_files_missing: u64,
    /// Voice messages kept because their file could not be deleted (logged).
    pub recording_files_failed: u64,
    /// Calls whose timeline and caller hash were removed.
    pub timelines: u64,
    /// Timeline rows (keys, steps, routing steps) deleted.
    pub timeline_rows: u64,
    /// Follow-ups whose caller hash was cleared.
    pub follow_up_hashes: u64,
    /// Audit entries deleted.
    pub audit: u64,
}

/// What an erasure removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct EraseCounts {
    /// Follow-ups deleted (callback requests with their sealed number, voice messages).
    pub follow_ups: u64,
    /// Voice messages deleted (file and row).
    pub voicemails: u64,
    /// Voice messages whose file could not be deleted (logged; the row is kept).
    pub voicemail_files_failed: u64,
    /// Calls whose timeline and caller hash were removed.
    pub calls: u64,
    /// Timeline rows deleted.
    pub timeline_rows: u64,
}

fn cutoff(now_ms: i64, period: Duration) -> i64 {
    now_ms.saturating_sub(i64::try_from(period.as_millis()).unwrap_or(i64::MAX))
}

/// Run one purge at `now_ms` (epoch ms, UTC).
pub async fn purge(
    store: &Store,
    now_ms: i64,
    periods: &Retention,
) -> Result<PurgeCounts, StoreError> {
    let pool = store.pool();
    let mut counts = PurgeCounts::default();
    let batch = BATCH as i64;

    // Sealed numbers.
    let numbers_before = cutoff(now_ms, periods.numbers);
    counts.numbers = repeat("numbers", || async {
        sqlx::query(
            "UPDATE follow_ups SET number_sealed = NULL WHERE id IN
               (SELECT id FROM follow_ups
                 WHERE number_sealed IS NOT NULL AND created_at < $1 LIMIT $2)",
        )
        .bind(numbers_before)
        .bind(batch)
        .execute(pool)
        .await
        .map(|r| r.rows_affected())
    })
    .await?;

    // Voice messages: the file first, then the row.
    let recordings_before = cutoff(now_ms, periods.recordings);
    let mut after: (i64, String) = (i64::MIN, String::new());
    for _ in 0..MAX_BATCHES {
        let rows = sqlx::query(
            "SELECT call_id, path, at FROM voicemails
              WHERE at < $1 AND (at > $2 OR (at = $2 AND call_id > $3))
              ORDER BY at, call_id LIMIT $4",
        )
        .bind(recordings_before)
        .bind(after.0)
        .bind(&after.1)
        .bind(batch)
        .fetch_all(pool)
        .await?;
        let Some(last) = rows.last() else { break };
        after = (last.try_get("at")?, last.try_get("call_id")?);
        let found = rows
            .iter()
            .map(|r| Ok((r.try_get("call_id")?, r.try_get("path")?)))
            .collect::<Result<Vec<(String, String)>, sqlx::Error>>()?;
        let gone = delete_voicemails(pool, &found).await?;
        counts.recordings += gone.deleted;
        counts.recording_files_missing += gone.missing;
        counts.recording_files_failed += gone.failed;
    }

    // Timelines and caller hashes of calls.
    let timelines_before = cutoff(now_ms, periods.timelines);
    for n in 0..=MAX_BATCHES {
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT id FROM calls WHERE timeline_removed_at IS NULL AND arrived_at < $1
              ORDER BY arrived_at LIMIT $2",
        )
        .bind(timelines_before)
        .bind(batch)
        .fetch_all(pool)
        .await?;
        if ids.is_empty() {
            break;
        }
        if n == MAX_BATCHES {
            tracing::info!("retention: more call timelines to remove at the next run");
            break;
        }
        let (calls, rows) = remove_timelines(pool, &ids, now_ms).await?;
        counts.timelines += calls;
        counts.timeline_rows += rows;
    }
    counts.follow_up_hashes = repeat("follow-up caller hashes", || async {
        sqlx::query(
            "UPDATE follow_ups SET caller_hash = NULL WHERE id IN
               (SELECT id FROM follow_ups
                 WHERE caller_hash IS NOT NULL AND created_at < $1 LIMIT $2)",
        )
        .bind(timelines_before)
        .bind(batch)
        .execute(pool)
        .await
        .map(|r| r.rows_affected())
    })
    .await?;

    // The audit log.
    let audit_before = cutoff(now_ms, periods.audit);
    counts.audit = repeat("audit entries", || async {
        sqlx::query(
            "DELETE FROM audit_log WHERE id IN
               (SELECT id FROM audit_log WHERE at < $1 ORDER BY id LIMIT $2)",
        )
        .bind(audit_before)
        .bind(batch)
        .execute(pool)
        .await
        .map(|r| r.rows_affected())
    })
    .await?;
    Ok(counts)
}

/// Run a batch statement until it changes nothing (at most [`MAX_BATCHES`]
/// times); the rows changed in all.
async fn repeat<F, Fut>(what: &str, mut batch: F) -> Result<u64, sqlx::Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<u64, sqlx::Error>>,
{
    let mut total = 0;
    for _ in 0..MAX_BATCHES {
        let n = batch().await?;
        total += n;
        if n < BATCH as u64 {
            return Ok(total);
        }
    }
    tracing::info!(what, "retention: more to remove at the next run");
    Ok(total)
}

/// Fold what the reports and the call list read from the timeline into the
/// call rows, then delete the timeline rows and the caller hash, in one
/// transaction. Returns (calls changed, timeline rows deleted).
async fn remove_timelines(
    pool: &SqlitePool,
    ids: &[String],
    now_ms: i64,
) -> Result<(u64, u64), sqlx::Error> {
    let ids = serde_json::to_string(ids).unwrap_or_else(|_| "[]".into());
    let mut tx = pool.begin().await?;
    // The same definitions as `store::reports` (CALLS_SQL) and
    // `store::calls` (call_columns!), which read these columns once set.
    let calls = sqlx::query(
        "UPDATE calls SET
           service = COALESCE(service,
             (SELECT json_extract(r.detail, '$.service') FROM call_routing r
               WHERE r.call_id = calls.id AND r.step = 'requested' ORDER BY r.seq LIMIT 1)),
           kept_any_routing = EXISTS (SELECT 1 FROM call_routing r WHERE r.call_id = calls.id),
           kept_routed = EXISTS (SELECT 1 FROM call_routing r
             WHERE r.call_id = calls.id AND r.step = 'requested'),
           kept_connected = EXISTS (SELECT 1 FROM call_routing r
             WHERE r.call_id = calls.id AND r.step = 'finished' AND r.result = 'connected'),
           kept_connected_wait_ms = (SELECT r.wait_ms FROM call_routing r
             WHERE r.call_id = calls.id AND r.step = 'finished' AND r.result = 'connected'
             ORDER BY r.seq LIMIT 1),
           kept_abandoned_queue = EXISTS (SELECT 1 FROM call_routing r
             WHERE r.call_id = calls.id AND r.step = 'finished' AND r.result = 'abandoned'),
           kept_transferred = EXISTS (SELECT 1 FROM call_routing r
             WHERE r.call_id = calls.id AND r.step = 'transfer-ended'
               AND r.result IN ('answered', 'handed-over')),
           kept_follow_up = EXISTS (SELECT 1 FROM follow_ups f WHERE f.call_id = calls.id),
           kept_wait_ms = (SELECT r.wait_ms FROM call_routing r
             WHERE r.call_id = calls.id AND r.step = 'finished' ORDER BY r.seq DESC LIMIT 1),
           kept_queue_wait_ms = (SELECT json_extract(r.detail, '$.queue_wait_ms') FROM call_routing r
             WHERE r.call_id = calls.id AND r.step = 'finished' ORDER BY r.seq DESC LIMIT 1),
           kept_routing_result = (SELECT r.result FROM call_routing r
             WHERE r.call_id = calls.id AND r.step = 'finished' ORDER BY r.seq DESC LIMIT 1),
           timeline_removed_at = $2
         WHERE id IN (SELECT value FROM json_each($1)) AND timeline_removed_at IS NULL",
    )
    .bind(&ids)
    .bind(now_ms)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    sqlx::query(
        "UPDATE calls SET caller_hash = NULL WHERE id IN (SELECT value FROM json_each($1))",
    )
    .bind(&ids)
    .execute(&mut *tx)
    .await?;
    let mut rows = 0;
    for sql in [
        "DELETE FROM call_digits WHERE call_id IN (SELECT value FROM json_each($1))",
        "DELETE FROM call_steps WHERE call_id IN (SELECT value FROM json_each($1))",
        "DELETE FROM call_routing WHERE call_id IN (SELECT value FROM json_each($1))",
    ] {
        rows += sqlx::query(sql)
            .bind(&ids)
            .execute(&mut *tx)
            .await?
            .rows_affected();
    }
    tx.commit().await?;
    Ok((calls, rows))
}

/// What deleting some voice messages did.
#[derive(Debug, Default)]
struct Gone {
    deleted: u64,
    missing: u64,
    failed: u64,
}

/// Delete the WAV files of `(call id, path)`, then the rows of those whose
/// file is gone (deleted now or already missing). A file that cannot be
/// deleted is logged and its row kept, to be tried again.
async fn delete_voicemails(
    pool: &SqlitePool,
    found: &[(String, String)],
) -> Result<Gone, sqlx::Error> {
    let mut gone = Gone::default();
    let mut ids = Vec::with_capacity(found.len());
    for (call, path) in found {
        match tokio::fs::remove_file(path).await {
            Ok(()) => ids.push(call.clone()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                gone.missing += 1;
                ids.push(call.clone());
            }
            Err(e) => {
                gone.failed += 1;
                tracing::warn!(call = %call, path = %path, error = %e,
                    "retention: cannot delete a voice message file; its record is kept");
            }
        }
    }
    if !ids.is_empty() {
        let ids = serde_json::to_string(&ids).unwrap_or_else(|_| "[]".into());
        gone.deleted = sqlx::query(
            "DELETE FROM voicemails WHERE call_id IN (SELECT value FROM json_each($1))",
        )
        .bind(ids)
        .execute(pool)
        .await?
        .rows_affected();
    }
    Ok(gone)
}

/// Erase one caller's data, found by `caller_hash` (the keyed hash of their
/// number): the voice messages (files and rows) and timelines of their
/// calls and of the calls that made their follow-ups, the caller hash of
/// those calls, and the follow-ups themselves. The calls' aggregate
/// columns stay (folded as for the timeline retention).
pub async fn erase_caller(
    store: &Store,
    caller_hash: &str,
    now_ms: i64,
) -> Result<EraseCounts, StoreError> {
    let pool = store.pool();
    let mut counts = EraseCounts::default();
    let calls: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM calls WHERE caller_hash = $1
         UNION
         SELECT call_id FROM follow_ups WHERE caller_hash = $1 AND call_id IS NOT NULL",
    )
    .bind(caller_hash)
    .fetch_all(pool)
    .await?;
    for chunk in calls.chunks(BATCH) {
        let ids = serde_json::to_string(chunk).unwrap_or_else(|_| "[]".into());
        let rows = sqlx::query(
            "SELECT call_id, path FROM voicemails WHERE call_id IN (SELECT value FROM json_each($1))",
        )
        .bind(&ids)
        .fetch_all(pool)
        .await?;
        let found = rows
            .iter()
            .map(|r| Ok((r.try_get("call_id")?, r.try_get("path")?)))
            .collect::<Result<Vec<(String, String)>, sqlx::Error>>()?;
        let gone = delete_voicemails(pool, &found).await?;
        counts.voicemails += gone.deleted;
        counts.voicemail_files_failed += gone.failed;
        // Before the follow-ups go, so that `kept_follow_up` is still right.
        let (_, rows) = remove_timelines(pool, chunk, now_ms).await?;
        counts.timeline_rows += rows;
    }
    counts.calls = calls.len() as u64;
    counts.follow_ups = sqlx::query("DELETE FROM follow_ups WHERE caller_hash = $1")
        .bind(caller_hash)
        .execute(pool)
        .await?
        .rows_affected();
    Ok(counts)
}

/// The purge at start and every `every`, with counts logged at info.
pub async fn run(store: Store, periods: Retention) {
    let mut tick = tokio::time::interval(periods.every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tick.tick().await;
        let now_ms = chrono::Utc::now().timestamp_millis();
        match purge(&store, now_ms, &periods).await {
            Ok(c) => tracing::info!(
                numbers = c.numbers,
                recordings = c.recordings,
                recording_files_missing = c.recording_files_missing,
                recording_files_failed = c.recording_files_failed,
                timelines = c.timelines,
                timeline_rows = c.timeline_rows,
                follow_up_hashes = c.follow_up_hashes,
                audit = c.audit,
                "retention purge done"
            ),
            Err(e) => tracing::error!(error = %e, "retention purge failed; it runs again later"),
        }
    }
}

#[cfg(test)]
mod tests;
