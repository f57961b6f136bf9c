//! Retention: personal data goes when its period is over, and on a
//! caller's request.
//!
//! - `numbers`: the sealed callback numbers and the specialists' notes of
//!   follow-ups created longer ago than the period are cleared (the
//!   follow-up itself stays).
//! - `recordings`: voice messages older than the period: the WAV file is
//!   deleted, then its row. Files in the voicemail folder that no row
//!   names (`<call id>.wav`) and leftover partial files
//!   (`.<call id>.wav.part`) go once they are older than [`FILE_GRACE`].
//! - `timelines`: calls that arrived longer ago than the period lose their
//!   keys, menu steps and routing steps, their caller hash and their SIP
//!   Call-ID; follow-ups that old lose their caller hash. What the reports
//!   and the call list read from the timeline is folded into the call's row
//!   first (the `kept_*` columns of migration 0007), so the aggregates stay.
//! - `audit`: audit entries older than the period.
//! - `remembered`: callers remembered with consent (migration 0015) not
//!   seen for longer than the period are forgotten.
//!
//! [`erase_caller`] removes one caller's data on request, found by the keyed
//! hash of their number: files first, rows only once their files are gone,
//! so a file that cannot be deleted is reported and the request can be made
//! again. Everything here takes the time as an argument so it can be tested
//! with a fixed clock; [`run`] feeds it the wall clock.
//!
//! The database deletes with `secure_delete` on, and a purge or erasure that
//! removed something empties the write-ahead log, so removed content is not
//! left readable in free pages or old log frames.
//!
//! Work is done in batches of [`BATCH`] rows per statement, and at most
//! [`MAX_BATCHES`] batches per kind and run: a large backlog is worked off
//! over several runs without holding the database for long.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::{sql, Store, StoreError};

use crate::util::duration::parse_duration;

/// Rows per statement.
pub const BATCH: usize = 1000;
/// Batches per kind of data and run.
pub const MAX_BATCHES: usize = 1000;
/// How old a voice message file without its row, or a partial file, must be
/// before the purge removes it: a message being recorded or saved (the file
/// is written before its row) is never touched.
pub const FILE_GRACE: Duration = DAY;

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
    /// Callers remembered with consent, counted from their last call.
    pub remembered: String,
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
            remembered: "180d".into(),
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
    pub remembered: Duration,
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
            remembered: DAY * 180,
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
            remembered: period("retention.remembered", &self.remembered)?,
            every,
        })
    }
}

/// What one purge removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PurgeCounts {
    /// Follow-ups whose sealed number was cleared.
    pub numbers: u64,
    /// Follow-ups whose notes were cleared.
    pub notes: u64,
    /// Voice messages removed (file and row).
    pub recordings: u64,
    /// Of those, files that were already gone.
    pub recording_files_missing: u64,
    /// Voice messages kept because their file could not be deleted (logged).
    pub recording_files_failed: u64,
    /// Calls whose timeline, caller hash and SIP Call-ID were removed.
    pub timelines: u64,
    /// Timeline rows (keys, steps, routing steps) deleted.
    pub timeline_rows: u64,
    /// Voice message files no row names, deleted.
    pub orphan_files: u64,
    /// Leftover partial voice message files, deleted.
    pub partial_files: u64,
    /// Orphaned or partial files that could not be deleted (logged).
    pub orphan_files_failed: u64,
    /// Follow-ups whose caller hash was cleared.
    pub follow_up_hashes: u64,
    /// Audit entries deleted.
    pub audit: u64,
    /// Remembered callers forgotten (not seen for `remembered`).
    pub remembered: u64,
}

/// What an erasure removed, and what it could not.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct EraseCounts {
    /// Follow-ups deleted (callback requests with their sealed number and
    /// notes, voice messages).
    pub follow_ups: u64,
    /// Voice messages deleted (file and row).
    pub voicemails: u64,
    /// Voice messages whose file could not be deleted (the row is kept).
    pub voicemail_files_failed: u64,
    /// Calls whose timeline, caller hash and SIP Call-ID were removed.
    pub calls: u64,
    /// Timeline rows deleted.
    pub timeline_rows: u64,
    /// Whether the caller was remembered (with consent) and is forgotten now.
    pub remembered: u64,
    /// True when everything found was erased; false when a file could not
    /// be deleted: its call and follow-ups are kept (still found by the
    /// number), and the same request, made again once the cause is fixed,
    /// finishes the job.
    pub complete: bool,
    /// The files that could not be deleted.
    pub not_deleted: Vec<NotDeleted>,
}

/// A file an erasure could not delete.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NotDeleted {
    /// The call whose file it is (Senim's id).
    pub call_id: String,
    pub path: String,
    /// Why (the system's message).
    pub error: String,
}

fn cutoff(now_ms: i64, period: Duration) -> i64 {
    now_ms.saturating_sub(i64::try_from(period.as_millis()).unwrap_or(i64::MAX))
}

/// Run one purge at `now_ms` (epoch ms, UTC); `voicemail_dir` is the
/// folder whose orphaned and partial files go.
pub async fn purge(
    store: &Store,
    now_ms: i64,
    periods: &Retention,
    voicemail_dir: &Path,
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
    // The specialists' notes go with the number.
    counts.notes = repeat("notes", || async {
        sqlx::query(
            "UPDATE follow_ups SET notes = NULL WHERE id IN
               (SELECT id FROM follow_ups
                 WHERE notes IS NOT NULL AND created_at < $1 LIMIT $2)",
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
        let gone = delete_voicemails(store, &found).await?;
        counts.recordings += gone.deleted;
        counts.recording_files_missing += gone.missing;
        counts.recording_files_failed += gone.failed.len() as u64;
    }
    let swept = sweep_voicemail_dir(store, voicemail_dir, now_ms).await?;
    counts.orphan_files = swept.orphans;
    counts.partial_files = swept.partials;
    counts.orphan_files_failed = swept.failed;

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
        let (calls, rows) = remove_timelines(store, &ids, now_ms).await?;
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
    // Remembered callers not seen for the period.
    let remembered_before = cutoff(now_ms, periods.remembered);
    counts.remembered = repeat("remembered callers", || async {
        sqlx::query(
            "DELETE FROM remembered_callers WHERE caller_hash IN
               (SELECT caller_hash FROM remembered_callers WHERE last_seen_at < $1 LIMIT $2)",
        )
        .bind(remembered_before)
        .bind(batch)
        .execute(pool)
        .await
        .map(|r| r.rows_affected())
    })
    .await?;
    if counts != PurgeCounts::default() {
        store.truncate_wal().await?;
    }
    Ok(counts)
}

/// What sweeping the voicemail folder did.
#[derive(Debug, Default)]
struct Swept {
    orphans: u64,
    partials: u64,
    failed: u64,
}

/// A file of the voicemail folder, by its name.
#[derive(Debug, PartialEq, Eq)]
enum VoicemailFile<'a> {
    /// `<call id>.wav`: a message.
    Message(&'a str),
    /// `.<call id>.wav.part`: a message being written, or left by a crash.
    Partial(&'a str),
}

/// What a name in the voicemail folder is (the names of
/// `call::voicemail_file`); `None` for anything else, which is left alone.
fn voicemail_file(name: &str) -> Option<VoicemailFile<'_>> {
    let is_call_id =
        |id: &str| id.len() == 36 && id.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
    if let Some(id) = name
        .strip_prefix('.')
        .and_then(|n| n.strip_suffix(".wav.part"))
    {
        return is_call_id(id).then_some(VoicemailFile::Partial(id));
    }
    name.strip_suffix(".wav")
        .filter(|id| is_call_id(id))
        .map(VoicemailFile::Message)
}

/// Delete the voicemail folder's files older than [`FILE_GRACE`] that no
/// `voicemails` row names, and its partial files that old.
async fn sweep_voicemail_dir(store: &Store, dir: &Path, now_ms: i64) -> Result<Swept, sqlx::Error> {
    let mut swept = Swept::default();
    let mut entries = match tokio::fs::read_dir(dir).await {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(swept),
        Err(e) => {
            tracing::warn!(dir = %dir.display(), error = %e,
                "retention: cannot read the voicemail folder");
            return Ok(swept);
        }
    };
    let old_before = cutoff(now_ms, FILE_GRACE);
    let mut messages: Vec<(String, PathBuf)> = Vec::new();
    let mut partials: Vec<PathBuf> = Vec::new();
    loop {
        let entry = match entries.next_entry().await {
            Ok(Some(e)) => e,
            Ok(None) => break,
            Err(e) => {
                tracing::warn!(dir = %dir.display(), error = %e,
                    "retention: cannot read the voicemail folder");
                break;
            }
        };
        let name = entry.file_name();
        let Some(kind) = name.to_str().and_then(voicemail_file) else {
            continue;
        };
        let modified_ms = match entry.metadata().await.and_then(|m| m.modified()) {
            Ok(t) => t
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
            Err(_) => continue,
        };
        if modified_ms >= old_before {
            continue;
        }
        match kind {
            VoicemailFile::Message(id) => messages.push((id.to_string(), entry.path())),
            VoicemailFile::Partial(_) => partials.push(entry.path()),
        }
    }
    for chunk in messages.chunks(BATCH) {
        let ids: Vec<&str> = chunk.iter().map(|(id, _)| id.as_str()).collect();
        let ids = serde_json::to_string(&ids).unwrap_or_else(|_| "[]".into());
        let known: HashSet<String> = sqlx::query_scalar(sql(format!(
            "SELECT call_id FROM voicemails WHERE call_id IN ({})",
            store.dialect().json_list("$1")
        )))
        .bind(ids)
        .fetch_all(store.pool())
        .await?
        .into_iter()
        .collect();
        for (id, path) in chunk.iter().filter(|(id, _)| !known.contains(id)) {
            match remove_file(path).await {
                Ok(_) => swept.orphans += 1,
                Err(e) => {
                    swept.failed += 1;
                    tracing::warn!(call = %id, path = %path.display(), error = %e,
                        "retention: cannot delete a voice message file without a record");
                }
            }
        }
    }
    for path in &partials {
        match remove_file(path).await {
            Ok(_) => swept.partials += 1,
            Err(e) => {
                swept.failed += 1;
                tracing::warn!(path = %path.display(), error = %e,
                    "retention: cannot delete a leftover partial voice message file");
            }
        }
    }
    Ok(swept)
}

/// Delete a file; `Ok(false)` when it was already gone.
async fn remove_file(path: &Path) -> std::io::Result<bool> {
    match tokio::fs::remove_file(path).await {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
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
/// call rows, then delete the timeline rows, the caller hash and the SIP
/// Call-ID, in one transaction. Returns (calls changed, timeline rows
/// deleted).
async fn remove_timelines(
    store: &Store,
    ids: &[String],
    now_ms: i64,
) -> Result<(u64, u64), sqlx::Error> {
    let ids = serde_json::to_string(ids).unwrap_or_else(|_| "[]".into());
    let d = store.dialect();
    let mut tx = store.pool().begin().await?;
    let list = d.json_list("$1");
    // The same definitions as `store::reports` (CALLS_SQL) and
    // `store::calls` (call_columns!), which read these columns once set.
    let calls = sqlx::query(sql(format!(
        "UPDATE calls SET
           service = COALESCE(service,
             (SELECT {service} FROM call_routing r
               WHERE r.call_id = calls.id AND r.step = 'requested' ORDER BY r.seq LIMIT 1)),
           kept_any_routing = CASE WHEN EXISTS (SELECT 1 FROM call_routing r
             WHERE r.call_id = calls.id) THEN 1 ELSE 0 END,
           kept_routed = CASE WHEN EXISTS (SELECT 1 FROM call_routing r
             WHERE r.call_id = calls.id AND r.step = 'requested') THEN 1 ELSE 0 END,
           kept_connected = CASE WHEN EXISTS (SELECT 1 FROM call_routing r
             WHERE r.call_id = calls.id AND r.step = 'finished' AND r.result = 'connected')
             THEN 1 ELSE 0 END,
           kept_connected_wait_ms = (SELECT r.wait_ms FROM call_routing r
             WHERE r.call_id = calls.id AND r.step = 'finished' AND r.result = 'connected'
             ORDER BY r.seq LIMIT 1),
           kept_abandoned_queue = CASE WHEN EXISTS (SELECT 1 FROM call_routing r
             WHERE r.call_id = calls.id AND r.step = 'finished' AND r.result = 'abandoned')
             THEN 1 ELSE 0 END,
           kept_transferred = CASE WHEN EXISTS (SELECT 1 FROM call_routing r
             WHERE r.call_id = calls.id AND r.step = 'transfer-ended'
               AND r.result IN ('answered', 'handed-over')) THEN 1 ELSE 0 END,
           kept_follow_up = CASE WHEN EXISTS (SELECT 1 FROM follow_ups f
             WHERE f.call_id = calls.id) THEN 1 ELSE 0 END,
           kept_wait_ms = (SELECT r.wait_ms FROM call_routing r
             WHERE r.call_id = calls.id AND r.step = 'finished' ORDER BY r.seq DESC LIMIT 1),
           kept_queue_wait_ms = (SELECT {queue_wait} FROM call_routing r
             WHERE r.call_id = calls.id AND r.step = 'finished' ORDER BY r.seq DESC LIMIT 1),
           kept_routing_result = (SELECT r.result FROM call_routing r
             WHERE r.call_id = calls.id AND r.step = 'finished' ORDER BY r.seq DESC LIMIT 1),
           timeline_removed_at = $2
         WHERE id IN ({list}) AND timeline_removed_at IS NULL",
        service = d.json_text("r.detail", "service"),
        queue_wait = d.json_int("r.detail", "queue_wait_ms"),
    )))
    .bind(&ids)
    .bind(now_ms)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    // The SIP Call-ID is emptied, not hashed: with the provider's records
    // it would name the caller again, and nothing reads it once the
    // timeline is gone (the column is NOT NULL, hence '').
    sqlx::query(sql(format!(
        "UPDATE calls SET caller_hash = NULL, sip_call_id = '' WHERE id IN ({list})"
    )))
    .bind(&ids)
    .execute(&mut *tx)
    .await?;
    let mut rows = 0;
    for table in ["call_digits", "call_steps", "call_routing"] {
        rows += sqlx::query(sql(format!(
            "DELETE FROM {table} WHERE call_id IN ({list})"
        )))
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
    failed: Vec<NotDeleted>,
}

/// Delete the WAV files of `(call id, path)`, then the rows of those whose
/// file is gone (deleted now or already missing). A file that cannot be
/// deleted is logged and its row kept, to be tried again.
async fn delete_voicemails(store: &Store, found: &[(String, String)]) -> Result<Gone, sqlx::Error> {
    let mut gone = Gone::default();
    let mut ids = Vec::with_capacity(found.len());
    for (call, path) in found {
        match remove_file(Path::new(path)).await {
            Ok(true) => ids.push(call.clone()),
            Ok(false) => {
                gone.missing += 1;
                ids.push(call.clone());
            }
            Err(e) => {
                tracing::warn!(call = %call, path = %path, error = %e,
                    "retention: cannot delete a voice message file; its record is kept");
                gone.failed.push(NotDeleted {
                    call_id: call.clone(),
                    path: path.clone(),
                    error: e.to_string(),
                });
            }
        }
    }
    if !ids.is_empty() {
        let ids = serde_json::to_string(&ids).unwrap_or_else(|_| "[]".into());
        gone.deleted = sqlx::query(sql(format!(
            "DELETE FROM voicemails WHERE call_id IN ({})",
            store.dialect().json_list("$1")
        )))
        .bind(ids)
        .execute(store.pool())
        .await?
        .rows_affected();
    }
    Ok(gone)
}

/// Erase one caller's data, found by `caller_hash` (the keyed hash of their
/// number): the voice messages (files and rows) and timelines of their
/// calls and of the calls that made their follow-ups, those calls' caller
/// hash and SIP Call-ID, and the follow-ups themselves (sealed numbers and
/// notes). The calls' aggregate columns stay (folded as for the timeline
/// retention).
///
/// Files go first: each message file named by a row, and any `<call
/// id>.wav` or `.<call id>.wav.part` of those calls in `voicemail_dir`. A
/// call whose file cannot be deleted keeps its rows (its follow-ups, its
/// timeline, its caller hash, so the same request finds it again), and the
/// file is listed in [`EraseCounts::not_deleted`].
pub async fn erase_caller(
    store: &Store,
    caller_hash: &str,
    now_ms: i64,
    voicemail_dir: &Path,
) -> Result<EraseCounts, StoreError> {
    let pool = store.pool();
    let calls: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM calls WHERE caller_hash = $1
         UNION
         SELECT call_id FROM follow_ups WHERE caller_hash = $1 AND call_id IS NOT NULL",
    )
    .bind(caller_hash)
    .fetch_all(pool)
    .await?;
    let mut counts = erase_calls(store, &calls, now_ms, voicemail_dir).await?;
    let kept = kept_calls(&counts);
    counts.follow_ups = sqlx::query(sql(format!(
        "DELETE FROM follow_ups WHERE caller_hash = $1
           AND (call_id IS NULL OR call_id NOT IN ({}))",
        store.dialect().json_list("$2")
    )))
    .bind(caller_hash)
    .bind(kept)
    .execute(pool)
    .await?
    .rows_affected();
    counts.remembered = forget_callers(store, &[caller_hash.to_string()]).await?;
    finish_erasure(store, counts).await
}

/// Forget these callers (by keyed hash) if they were remembered.
async fn forget_callers(store: &Store, hashes: &[String]) -> Result<u64, sqlx::Error> {
    let hashes = serde_json::to_string(hashes).unwrap_or_else(|_| "[]".into());
    Ok(sqlx::query(sql(format!(
        "DELETE FROM remembered_callers WHERE caller_hash IN ({})",
        store.dialect().json_list("$1")
    )))
    .bind(hashes)
    .execute(store.pool())
    .await?
    .rows_affected())
}

/// Erase one follow-up and the data of the call that made it, for a caller
/// who cannot be found by number (a voice message from a withheld number
/// has no caller hash): the same as [`erase_caller`] for that call, and the
/// follow-ups of that call. `None` when there is no such follow-up.
pub async fn erase_follow_up(
    store: &Store,
    follow_up: &str,
    now_ms: i64,
    voicemail_dir: &Path,
) -> Result<Option<EraseCounts>, StoreError> {
    let pool = store.pool();
    let found: Option<Option<String>> =
        sqlx::query_scalar("SELECT call_id FROM follow_ups WHERE id = $1")
            .bind(follow_up)
            .fetch_optional(pool)
            .await?;
    let Some(call) = found else {
        return Ok(None);
    };
    let calls: Vec<String> = call.iter().cloned().collect();
    // The caller, when their number is known by its hash, is no longer
    // remembered either (found before the rows that name the hash go).
    let hashes: Vec<String> = sqlx::query_scalar(
        "SELECT caller_hash FROM follow_ups WHERE id = $1 AND caller_hash IS NOT NULL
         UNION
         SELECT caller_hash FROM calls WHERE id = $2 AND caller_hash IS NOT NULL",
    )
    .bind(follow_up)
    .bind(&call)
    .fetch_all(pool)
    .await?;
    let mut counts = erase_calls(store, &calls, now_ms, voicemail_dir).await?;
    counts.remembered = forget_callers(store, &hashes).await?;
    if counts.not_deleted.is_empty() {
        counts.follow_ups = sqlx::query(
            "DELETE FROM follow_ups WHERE id = $1 OR (call_id IS NOT NULL AND call_id = $2)",
        )
        .bind(follow_up)
        .bind(call)
        .execute(pool)
        .await?
        .rows_affected();
    }
    finish_erasure(store, counts).await.map(Some)
}

/// The calls an erasure kept because a file of theirs is left, as JSON.
fn kept_calls(counts: &EraseCounts) -> String {
    let kept: Vec<&str> = counts
        .not_deleted
        .iter()
        .map(|n| n.call_id.as_str())
        .collect();
    serde_json::to_string(&kept).unwrap_or_else(|_| "[]".into())
}

/// Mark an erasure complete or not, and empty the write-ahead log when it
/// removed something.
async fn finish_erasure(store: &Store, mut counts: EraseCounts) -> Result<EraseCounts, StoreError> {
    counts.complete = counts.not_deleted.is_empty();
    if counts.follow_ups + counts.calls + counts.voicemails + counts.remembered > 0 {
        store.truncate_wal().await?;
    }
    Ok(counts)
}

/// The files first, then the timelines, caller hashes and SIP Call-IDs of
/// `calls`, leaving out (and listing) the calls whose files could not all
/// be deleted. The follow-ups are the caller's business.
async fn erase_calls(
    store: &Store,
    calls: &[String],
    now_ms: i64,
    voicemail_dir: &Path,
) -> Result<EraseCounts, sqlx::Error> {
    let mut counts = EraseCounts::default();
    for chunk in calls.chunks(BATCH) {
        let ids = serde_json::to_string(chunk).unwrap_or_else(|_| "[]".into());
        let rows = sqlx::query(sql(format!(
            "SELECT call_id, path FROM voicemails WHERE call_id IN ({})",
            store.dialect().json_list("$1")
        )))
        .bind(&ids)
        .fetch_all(store.pool())
        .await?;
        let found = rows
            .iter()
            .map(|r| Ok((r.try_get("call_id")?, r.try_get("path")?)))
            .collect::<Result<Vec<(String, String)>, sqlx::Error>>()?;
        let gone = delete_voicemails(store, &found).await?;
        counts.voicemails += gone.deleted;
        counts.voicemail_files_failed += gone.failed.len() as u64;
        counts.not_deleted.extend(gone.failed);
        // Files of these calls that no row names: a message saved without
        // its row, a partial file.
        for call in chunk {
            for name in [format!("{call}.wav"), format!(".{call}.wav.part")] {
                if voicemail_file(&name).is_none() {
                    continue;
                }
                let path = voicemail_dir.join(&name);
                if found.iter().any(|(_, p)| Path::new(p) == path) {
                    continue;
                }
                if let Err(e) = remove_file(&path).await {
                    tracing::warn!(call = %call, path = %path.display(), error = %e,
                        "erasure: cannot delete a voice message file");
                    counts.not_deleted.push(NotDeleted {
                        call_id: call.clone(),
                        path: path.display().to_string(),
                        error: e.to_string(),
                    });
                }
            }
        }
        // Before the follow-ups go, so that `kept_follow_up` is still right.
        let done: Vec<String> = chunk
            .iter()
            .filter(|c| !counts.not_deleted.iter().any(|n| &n.call_id == *c))
            .cloned()
            .collect();
        let (_, rows) = remove_timelines(store, &done, now_ms).await?;
        counts.calls += done.len() as u64;
        counts.timeline_rows += rows;
    }
    Ok(counts)
}

/// The purge at start and every `every`, with counts logged at info.
pub async fn run(store: Store, periods: Retention, voicemail_dir: PathBuf) {
    let mut tick = tokio::time::interval(periods.every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tick.tick().await;
        let now_ms = chrono::Utc::now().timestamp_millis();
        match purge(&store, now_ms, &periods, &voicemail_dir).await {
            Ok(c) => tracing::info!(
                numbers = c.numbers,
                notes = c.notes,
                recordings = c.recordings,
                recording_files_missing = c.recording_files_missing,
                recording_files_failed = c.recording_files_failed,
                timelines = c.timelines,
                timeline_rows = c.timeline_rows,
                orphan_files = c.orphan_files,
                partial_files = c.partial_files,
                orphan_files_failed = c.orphan_files_failed,
                follow_up_hashes = c.follow_up_hashes,
                audit = c.audit,
                remembered = c.remembered,
                "retention purge done"
            ),
            Err(e) => tracing::error!(error = %e, "retention purge failed; it runs again later"),
        }
    }
}

#[cfg(test)]
mod tests;
