//! The single writer of call records. Calls hand changes to a channel and go
//! on; the writer applies them in order and, when the database fails, keeps
//! them in memory and retries with back-off instead of dropping them.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::{Store, StoreError};

pub use senim_call::record::RecordOp;

/// Where calls send their record changes. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Recorder {
    tx: mpsc::UnboundedSender<RecordOp>,
}

impl Recorder {
    /// Queue a change; never blocks the call.
    pub fn record(&self, op: RecordOp) {
        if self.tx.send(op).is_err() {
            tracing::error!("call record writer has stopped; a record change is lost");
        }
    }
}

/// Start the writer. It ends when every `Recorder` is dropped and the queue is written
/// (or, while the database stays down, after `drain_deadline` past the last sender).
pub fn spawn_writer(store: Store) -> (Recorder, JoinHandle<()>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let handle = tokio::spawn(run(store, rx));
    (Recorder { tx }, handle)
}

async fn run(store: Store, mut rx: mpsc::UnboundedReceiver<RecordOp>) {
    let mut pending: VecDeque<RecordOp> = VecDeque::new();
    let mut backoff = Duration::from_millis(50);
    let mut open = true;
    // After the last sender is gone, a database that stays down is retried this long.
    let mut closing_budget = 20u32;
    loop {
        if pending.is_empty() {
            if !open {
                return;
            }
            match rx.recv().await {
                Some(op) => pending.push_back(op),
                None => return,
            }
        }
        while let Ok(op) = rx.try_recv() {
            pending.push_back(op);
        }
        while let Some(op) = pending.front() {
            match store.apply(op).await {
                Ok(()) => {
                    pending.pop_front();
                    backoff = Duration::from_millis(50);
                }
                Err(e) => {
                    tracing::warn!(error = %e, queued = pending.len(), "call record write failed; will retry");
                    break;
                }
            }
        }
        if pending.is_empty() {
            continue;
        }
        // The database is failing: wait, still accepting new changes, then retry.
        let sleep = tokio::time::sleep(backoff);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                _ = &mut sleep => break,
                op = rx.recv(), if open => match op {
                    Some(op) => pending.push_back(op),
                    None => open = false,
                },
            }
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
        if !open {
            closing_budget = closing_budget.saturating_sub(1);
            if closing_budget == 0 {
                tracing::error!(
                    lost = pending.len(),
                    "database still failing at shutdown; unwritten call record changes"
                );
                return;
            }
        }
    }
}

impl Store {
    /// Apply one change to the call record.
    pub async fn apply(&self, op: &RecordOp) -> Result<(), StoreError> {
        match op {
            RecordOp::Arrived {
                call,
                sip_call_id,
                at,
                caller_hash,
                transport,
                trunk,
                line,
            } => {
                sqlx::query(
                    "INSERT INTO calls (id, sip_call_id, arrived_at, caller_hash, transport, trunk, line)
                     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING",
                )
                .bind(call)
                .bind(sip_call_id)
                .bind(at)
                .bind(caller_hash)
                .bind(transport)
                .bind(trunk)
                .bind(line)
                .execute(self.pool())
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
                .execute(self.pool())
                .await?;
            }
            RecordOp::Language { call, language } => {
                sqlx::query("UPDATE calls SET language = $2 WHERE id = $1")
                    .bind(call)
                    .bind(language)
                    .execute(self.pool())
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
                .execute(self.pool())
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
                .execute(self.pool())
                .await?;
            }
            RecordOp::Service { call, service } => {
                sqlx::query("UPDATE calls SET service = $2 WHERE id = $1")
                    .bind(call)
                    .bind(service)
                    .execute(self.pool())
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
                .execute(self.pool())
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
                .execute(self.pool())
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
                .execute(self.pool())
                .await?;
            }
            RecordOp::Survey { call, score } => {
                sqlx::query("UPDATE calls SET survey_score = $2 WHERE id = $1")
                    .bind(call)
                    .bind(i64::from(*score))
                    .execute(self.pool())
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
                .execute(self.pool())
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
                .execute(self.pool())
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
                .execute(self.pool())
                .await?;
            }
        }
        Ok(())
    }
}
