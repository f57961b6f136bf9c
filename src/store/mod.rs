//! The call record store: SQLite through sqlx, written by one task that
//! keeps every change in order and retries through database hiccups, so a
//! call never waits on the disk and a record is never dropped.

pub mod api;
pub mod follow_ups;
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

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Apply one change to the call record.
    pub async fn apply(&self, op: &RecordOp) -> Result<(), StoreError> {
        match op {
            RecordOp::Arrived {
                call,
                sip_call_id,
                at,
                caller_hash,
                transport,
            } => {
                sqlx::query(
                    "INSERT INTO calls (id, sip_call_id, arrived_at, caller_hash, transport)
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING",
                )
                .bind(call)
                .bind(sip_call_id)
                .bind(at)
                .bind(caller_hash)
                .bind(transport)
                .execute(&self.pool)
                .await?;
            }
            RecordOp::Answered {
                call,
                at,
                codec,
                dtmf_mode,
            } => {
                sqlx::query(
                    "UPDATE calls SET answered_at = $2, codec = $3, dtmf_mode = $4 WHERE id = $1",
                )
                .bind(call)
                .bind(at)
                .bind(codec)
                .bind(dtmf_mode)
                .execute(&self.pool)
                .await?;
            }
            RecordOp::Language { call, language } => {
                sqlx::query("UPDATE calls SET language = $2 WHERE id = $1")
                    .bind(call)
                    .bind(language)
                    .execute(&self.pool)
                    .await?;
            }
            RecordOp::Digit {
                call,
                seq,
                at,
                digit,
                source,
                menu,
            } => {
                sqlx::query(
                    "INSERT INTO call_digits (call_id, seq, at, digit, source, menu)
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
                )
                .bind(call)
                .bind(seq)
                .bind(at)
                .bind(digit)
                .bind(source)
                .bind(menu)
                .execute(&self.pool)
                .await?;
            }
            RecordOp::Step {
                call,
                seq,
                at,
                menu,
                what,
            } => {
                sqlx::query(
                    "INSERT INTO call_steps (call_id, seq, at, menu, what)
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                )
                .bind(call)
                .bind(seq)
                .bind(at)
                .bind(menu)
                .bind(what)
                .execute(&self.pool)
                .await?;
            }
            RecordOp::Service { call, service } => {
                sqlx::query("UPDATE calls SET service = $2 WHERE id = $1")
                    .bind(call)
                    .bind(service)
                    .execute(&self.pool)
                    .await?;
            }
            RecordOp::Voicemail {
                call,
                at,
                path,
                duration_ms,
                ended_by,
            } => {
                sqlx::query(
                    "INSERT INTO voicemails (call_id, at, path, duration_ms, ended_by)
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (call_id) DO NOTHING",
                )
                .bind(call)
                .bind(at)
                .bind(path)
                .bind(duration_ms)
                .bind(ended_by)
                .execute(&self.pool)
                .await?;
                // A message is a follow-up for the specialists too (idempotent:
                // one per call, so a retried write adds nothing).
                sqlx::query(
                    "INSERT INTO follow_ups (id, call_id, kind, created_at, caller_hash, language, service)
                     SELECT 'voicemail-' || id, id, 'voicemail', $2, caller_hash, language, service
                     FROM calls WHERE id = $1
                     ON CONFLICT DO NOTHING",
                )
                .bind(call)
                .bind(at)
                .execute(&self.pool)
                .await?;
            }
            RecordOp::FollowUpCallEnded {
                id,
                at,
                answered_at,
                outcome,
            } => {
                sqlx::query(
                    "UPDATE follow_up_calls SET ended_at = $2, answered_at = $3, outcome = $4
                      WHERE id = $1",
                )
                .bind(id)
                .bind(at)
                .bind(answered_at)
                .bind(*outcome)
                .execute(&self.pool)
                .await?;
            }
            RecordOp::Survey { call, score } => {
                sqlx::query("UPDATE calls SET survey_score = $2 WHERE id = $1")
                    .bind(call)
                    .bind(i64::from(*score))
                    .execute(&self.pool)
                    .await?;
            }
            RecordOp::CallbackRequest {
                id,
                call,
                at,
                caller_hash,
                number_sealed,
                number_source,
                window,
                leave_message,
                say_centre_name,
                language,
                service,
            } => {
                sqlx::query(
                    "INSERT INTO follow_ups
                       (id, call_id, kind, created_at, caller_hash, number_sealed, number_source,
                        call_window, leave_message, say_centre_name, language, service)
                     VALUES ($1, $2, 'callback', $3, $4, $5, $6, $7, $8, $9, $10, $11)
                     ON CONFLICT DO NOTHING",
                )
                .bind(id)
                .bind(call)
                .bind(at)
                .bind(caller_hash)
                .bind(number_sealed)
                .bind(number_source)
                .bind(window)
                .bind(leave_message)
                .bind(say_centre_name)
                .bind(language)
                .bind(service)
                .execute(&self.pool)
                .await?;
            }
            RecordOp::Routing {
                call,
                seq,
                at,
                step,
                specialist,
                partner,
                result,
                wait_ms,
                detail,
            } => {
                sqlx::query(
                    "INSERT INTO call_routing
                       (call_id, seq, at, step, specialist, partner, result, wait_ms, detail)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING",
                )
                .bind(call)
                .bind(seq)
                .bind(at)
                .bind(step)
                .bind(specialist)
                .bind(partner)
                .bind(result)
                .bind(wait_ms)
                .bind(detail)
                .execute(&self.pool)
                .await?;
            }
            RecordOp::Ended {
                call,
                at,
                outcome,
                hangup_by,
            } => {
                sqlx::query(
                    "UPDATE calls SET ended_at = $2, outcome = $3, hangup_by = $4 WHERE id = $1",
                )
                .bind(call)
                .bind(at)
                .bind(outcome)
                .bind(hangup_by)
                .execute(&self.pool)
                .await?;
            }
        }
        Ok(())
    }
}
