//! The single writer of call records. Calls hand changes to a channel and go
//! on; the writer applies them in order. When the database fails, the
//! changes go to the spool file next to it ([`super::spool`], fsync'd), and
//! are replayed from it, in order, once the database takes writes again (and
//! at the next start, should Senim stop first). Changes that arrive while the
//! spool is not empty go behind it, so the order holds across memory and
//! disk. A full or unwritable spool keeps changes in memory up to
//! [`MEMORY_MAX`]; past that a change is dropped. Both are logged at `error`
//! and counted in [`RecordBacklog`] (`/metrics`, `/healthz`): never silent.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::change::Change;
use super::spool::{Spool, SpoolError};
use super::{Store, StoreError};

pub use senim_call::record::RecordOp;

/// Changes held in memory at most while neither the database nor the spool
/// takes them (about 50 MB at the largest changes).
pub const MEMORY_MAX: usize = 100_000;
/// Changes read from the spool per replay step.
const REPLAY_BATCH: usize = 500;

/// Where the writer stands, for `/metrics` and `/healthz`.
#[derive(Debug, Default)]
pub struct RecordBacklog {
    /// Changes waiting in the spool file.
    pub spooled: AtomicU64,
    /// The spool file's size in bytes.
    pub spool_bytes: AtomicU64,
    /// Changes waiting in memory (the spool full, unwritable or absent).
    pub held: AtomicU64,
    /// Changes lost: past [`MEMORY_MAX`], or unreadable lines of the spool.
    pub dropped: AtomicU64,
    /// Changes that went to the spool since start.
    pub spooled_total: AtomicU64,
    /// The database refuses writes at the moment.
    pub database_failing: AtomicBool,
    /// The spool is full (or cannot be written) at the moment.
    pub spool_full: AtomicBool,
}

/// Where calls send their record changes. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Recorder {
    tx: mpsc::UnboundedSender<RecordOp>,
    backlog: Arc<RecordBacklog>,
}

impl Recorder {
    /// Queue a change; never blocks the call.
    pub fn record(&self, op: RecordOp) {
        if self.tx.send(op).is_err() {
            self.backlog.dropped.fetch_add(1, Ordering::Relaxed);
            tracing::error!("call record writer has stopped; a record change is lost");
        }
    }

    /// The writer's backlog.
    pub fn backlog(&self) -> &RecordBacklog {
        &self.backlog
    }
}

/// Start the writer with the spool (`None` for an in-memory database). It
/// ends when every `Recorder` is dropped and the queue is written, or, while
/// the database stays down, once every change is in the spool (or after
/// about a minute of retries if the spool cannot take them).
pub fn spawn_writer(store: Store, spool: Option<Spool>) -> (Recorder, JoinHandle<()>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let backlog = Arc::new(RecordBacklog::default());
    let writer = Writer {
        store,
        spool,
        memory: VecDeque::new(),
        backlog: backlog.clone(),
    };
    if let Some(s) = &writer.spool {
        backlog.spooled.store(s.waiting(), Ordering::Relaxed);
        backlog.spool_bytes.store(s.bytes(), Ordering::Relaxed);
    }
    let handle = tokio::spawn(writer.run(rx));
    (Recorder { tx, backlog }, handle)
}

/// Replay what a previous run left in the spool (at start, before calls are
/// taken). Returns how many changes were written; on a database error the
/// rest stays in the spool for the writer.
pub async fn replay_spool(store: &Store, spool: &mut Spool) -> Result<u64, StoreError> {
    let mut written = 0;
    let result = replay(store, spool, &mut written, None).await;
    if written > 0 {
        tracing::info!(changes = written, path = %spool.path().display(), "record spool replayed");
    }
    result.map(|()| written)
}

/// Apply the spool's changes in order; empty it when all are in.
async fn replay(
    store: &Store,
    spool: &mut Spool,
    written: &mut u64,
    backlog: Option<&RecordBacklog>,
) -> Result<(), StoreError> {
    loop {
        let batch = match spool.read(REPLAY_BATCH) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, "record spool cannot be read; its changes wait");
                return Err(StoreError::Spool(e));
            }
        };
        if let Some(b) = backlog {
            b.dropped.fetch_add(batch.unreadable, Ordering::Relaxed);
        }
        if batch.changes.is_empty() {
            if spool.is_empty() {
                if let Err(e) = spool.clear_if_done() {
                    tracing::warn!(error = %e, "record spool could not be emptied");
                }
                return Ok(());
            }
            continue;
        }
        for (end, change) in &batch.changes {
            match store.apply_change(change).await {
                Ok(()) => {}
                Err(e) if refused_for_good(&e) => {
                    refused(&e, change, backlog);
                }
                Err(e) => return Err(e),
            }
            spool.consumed(*end);
            *written += 1;
            if let Some(b) = backlog {
                b.spooled.store(spool.waiting(), Ordering::Relaxed);
            }
        }
    }
}

/// The database refuses this change whatever the retries (a constraint: a
/// step of a call erased meanwhile, say). Retrying it would hold up every
/// change behind it for ever.
fn refused_for_good(e: &StoreError) -> bool {
    use sqlx::error::ErrorKind;
    match e {
        StoreError::Query(sqlx::Error::Database(db)) => matches!(
            db.kind(),
            ErrorKind::ForeignKeyViolation
                | ErrorKind::UniqueViolation
                | ErrorKind::NotNullViolation
                | ErrorKind::CheckViolation
        ),
        _ => false,
    }
}

/// Report a change the database refuses for good; it is counted as dropped.
fn refused(e: &StoreError, change: &Change, backlog: Option<&RecordBacklog>) {
    let what = serde_json::to_value(change)
        .ok()
        .and_then(|v| v.get("op").and_then(|o| o.as_str()).map(str::to_string))
        .unwrap_or_default();
    tracing::error!(error = %e, change = %what, "the database refuses a call record change; it is dropped");
    if let Some(b) = backlog {
        b.dropped.fetch_add(1, Ordering::Relaxed);
    }
}

struct Writer {
    store: Store,
    spool: Option<Spool>,
    /// Changes not yet in the database nor in the spool, oldest first; all
    /// newer than those in the spool.
    memory: VecDeque<Change>,
    backlog: Arc<RecordBacklog>,
}

impl Writer {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<RecordOp>) {
        let mut backoff = Duration::from_millis(50);
        let mut open = true;
        // After the last sender is gone, a database and spool that both stay
        // down are retried this many times.
        let mut closing_budget = 20u32;
        loop {
            if self.memory.is_empty() && self.spool_empty() {
                if !open {
                    return;
                }
                match rx.recv().await {
                    Some(op) => self.hold(op.into()),
                    None => return,
                }
            }
            while let Ok(op) = rx.try_recv() {
                self.hold(op.into());
            }
            match self.write_all().await {
                Ok(()) => {
                    if self.backlog.database_failing.swap(false, Ordering::Relaxed) {
                        tracing::info!("database takes call record changes again");
                    }
                    backoff = Duration::from_millis(50);
                    continue;
                }
                Err(e) => {
                    if !self.backlog.database_failing.swap(true, Ordering::Relaxed) {
                        tracing::warn!(error = %e, "call record write failed; changes go to the spool until the database takes them");
                    }
                }
            }
            self.spill();
            if !open && self.memory.is_empty() {
                tracing::warn!(
                    spooled = self.backlog.spooled.load(Ordering::Relaxed),
                    "database still failing at shutdown; the spooled changes are written at the next start"
                );
                return;
            }
            // The database is failing: wait, still taking new changes (to the
            // spool at once), then retry.
            let sleep = tokio::time::sleep(backoff);
            tokio::pin!(sleep);
            loop {
                tokio::select! {
                    _ = &mut sleep => break,
                    op = rx.recv(), if open => match op {
                        Some(op) => {
                            self.hold(op.into());
                            while let Ok(op) = rx.try_recv() {
                                self.hold(op.into());
                            }
                            self.spill();
                        }
                        None => open = false,
                    },
                }
            }
            backoff = (backoff * 2).min(Duration::from_secs(5));
            if !open {
                closing_budget = closing_budget.saturating_sub(1);
                if closing_budget == 0 {
                    tracing::error!(
                        lost = self.memory.len(),
                        "database and record spool still failing at shutdown; unwritten call record changes are lost"
                    );
                    return;
                }
            }
        }
    }

    fn spool_empty(&self) -> bool {
        self.spool.as_ref().is_none_or(Spool::is_empty)
    }

    /// Keep a change in memory, within [`MEMORY_MAX`].
    fn hold(&mut self, change: Change) {
        if self.memory.len() >= MEMORY_MAX {
            let n = self.backlog.dropped.fetch_add(1, Ordering::Relaxed);
            if n.is_power_of_two() || n == 0 {
                tracing::error!(
                    dropped = n + 1,
                    "call record changes are dropped: the database, the spool and the memory queue are full"
                );
            }
            return;
        }
        self.memory.push_back(change);
        self.backlog
            .held
            .store(self.memory.len() as u64, Ordering::Relaxed);
    }

    /// The spool's changes, then memory's, in order, into the database.
    async fn write_all(&mut self) -> Result<(), StoreError> {
        if let Some(spool) = self.spool.as_mut() {
            if !spool.is_empty() {
                let mut written = 0;
                let result = replay(&self.store, spool, &mut written, Some(&self.backlog)).await;
                self.note_spool();
                if written > 0 && result.is_ok() {
                    tracing::info!(changes = written, "record spool replayed");
                }
                result?;
            }
        }
        while let Some(change) = self.memory.front() {
            match self.store.apply_change(change).await {
                Ok(()) => {}
                Err(e) if refused_for_good(&e) => refused(&e, change, Some(&self.backlog)),
                Err(e) => return Err(e),
            }
            self.memory.pop_front();
            self.backlog
                .held
                .store(self.memory.len() as u64, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Move what memory holds to the spool, as far as it takes it.
    fn spill(&mut self) {
        let Some(spool) = self.spool.as_mut() else {
            return;
        };
        if self.memory.is_empty() {
            return;
        }
        let changes: Vec<Change> = self.memory.iter().cloned().collect();
        let (taken, error) = match spool.append(&changes) {
            Ok(n) => (n, None),
            Err((n, e)) => (n, Some(e)),
        };
        self.memory.drain(..taken);
        self.backlog
            .spooled_total
            .fetch_add(taken as u64, Ordering::Relaxed);
        match error {
            None => {
                if self.backlog.spool_full.swap(false, Ordering::Relaxed) {
                    tracing::info!("record spool takes changes again");
                }
            }
            Some(e) => {
                if !self.backlog.spool_full.swap(true, Ordering::Relaxed) {
                    match e {
                        SpoolError::Full { .. } => {
                            tracing::error!(error = %e, held = self.memory.len(), "record spool is full; call record changes are held in memory")
                        }
                        SpoolError::Io { .. } => {
                            tracing::error!(error = %e, held = self.memory.len(), "record spool cannot be written; call record changes are held in memory")
                        }
                    }
                }
            }
        }
        self.backlog
            .held
            .store(self.memory.len() as u64, Ordering::Relaxed);
        self.note_spool();
    }

    fn note_spool(&self) {
        if let Some(s) = &self.spool {
            self.backlog.spooled.store(s.waiting(), Ordering::Relaxed);
            self.backlog.spool_bytes.store(s.bytes(), Ordering::Relaxed);
        }
    }
}

impl Store {
    /// Apply one change to the call record.
    pub async fn apply(&self, op: &RecordOp) -> Result<(), StoreError> {
        self.apply_change(&Change::from(op.clone())).await
    }

    /// Apply one change to the call record (as the writer and the spool hold it).
    pub(in crate::store) async fn apply_change(&self, change: &Change) -> Result<(), StoreError> {
        match change {
            Change::Arrived {
                call,
                sip_call_id,
                at,
                caller_hash,
                transport,
                trunk,
                line,
            } => {
                sqlx::query(
                    "INSERT INTO calls (id, sip_call_id, arrived_at, caller_hash, transport, trunk, line,
                                        instance)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING",
                )
                .bind(call)
                .bind(sip_call_id)
                .bind(at)
                .bind(caller_hash)
                .bind(transport)
                .bind(trunk)
                .bind(line)
                .bind(self.instance())
                .execute(self.pool())
                .await?;
            }
            Change::Answered {
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
            Change::Language { call, language } => {
                sqlx::query("UPDATE calls SET language = $2 WHERE id = $1")
                    .bind(call)
                    .bind(language)
                    .execute(self.pool())
                    .await?;
            }
            Change::Digit {
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
            Change::Step {
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
            Change::Service { call, service } => {
                sqlx::query("UPDATE calls SET service = $2 WHERE id = $1")
                    .bind(call)
                    .bind(service)
                    .execute(self.pool())
                    .await?;
            }
            Change::Voicemail {
                call,
                at,
                path,
                duration_ms,
                ended_by,
                cut,
            } => {
                sqlx::query(
                    "INSERT INTO voicemails (call_id, at, path, duration_ms, ended_by, cut)
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (call_id) DO NOTHING",
                )
                .bind(call)
                .bind(at)
                .bind(path)
                .bind(duration_ms)
                .bind(ended_by)
                .bind(i64::from(*cut))
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
            Change::FollowUpCallEnded {
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
                .bind(outcome)
                .execute(self.pool())
                .await?;
            }
            Change::Survey { call, score } => {
                sqlx::query("UPDATE calls SET survey_score = $2 WHERE id = $1")
                    .bind(call)
                    .bind(i64::from(*score))
                    .execute(self.pool())
                    .await?;
            }
            Change::WrapUp { call, kind } => {
                sqlx::query("UPDATE calls SET wrap_up = $2 WHERE id = $1")
                    .bind(call)
                    .bind(kind)
                    .execute(self.pool())
                    .await?;
            }
            Change::CallbackRequest {
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
                .bind(i64::from(*leave_message))
                .bind(i64::from(*say_centre_name))
                .bind(language)
                .bind(service)
                .execute(self.pool())
                .await?;
            }
            Change::Routing {
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
            Change::Ended {
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
            Change::Remember {
                caller_hash,
                at,
                language,
                specialist,
                service,
            } => {
                sqlx::query(
                    "INSERT INTO remembered_callers
                       (caller_hash, language, specialist, service, consented_at, last_seen_at)
                     VALUES ($1, $2, $3, $4, $5, $5)
                     ON CONFLICT (caller_hash) DO UPDATE SET
                       language = excluded.language, specialist = excluded.specialist,
                       service = excluded.service, consented_at = excluded.consented_at,
                       last_seen_at = excluded.last_seen_at",
                )
                .bind(caller_hash)
                .bind(language)
                .bind(specialist)
                .bind(service)
                .bind(at)
                .execute(self.pool())
                .await?;
            }
            Change::RememberedSeen {
                caller_hash,
                at,
                specialist,
                service,
            } => {
                // Only a caller who is remembered (consent given, not forgotten).
                sqlx::query(
                    "UPDATE remembered_callers
                       SET last_seen_at = CASE WHEN last_seen_at > $2 THEN last_seen_at ELSE $2 END,
                       specialist = COALESCE($3, specialist),
                       service = CASE WHEN $3 IS NULL THEN service ELSE $4 END
                     WHERE caller_hash = $1",
                )
                .bind(caller_hash)
                .bind(at)
                .bind(specialist)
                .bind(service)
                .execute(self.pool())
                .await?;
            }
            Change::Forget { caller_hash } => {
                sqlx::query("DELETE FROM remembered_callers WHERE caller_hash = $1")
                    .bind(caller_hash)
                    .execute(self.pool())
                    .await?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CALL: &str = "0b6f7a3e-2f47-4a51-9a2e-5d1c2e9b8f10";

    fn step(seq: i64) -> RecordOp {
        RecordOp::Step {
            call: CALL.into(),
            seq,
            at: 1000 + seq,
            menu: "main".into(),
            what: format!("step {seq}"),
        }
    }

    #[tokio::test]
    async fn what_a_previous_run_spooled_goes_first_then_the_new_changes() {
        let tmp = tempfile::tempdir().unwrap();
        let db = tmp.path().join("senim.db");
        let store = Store::open(&format!("sqlite://{}", db.display()))
            .await
            .unwrap();
        let path = tmp.path().join("senim.db.spool");
        let mut spool = Spool::open(&path, 1 << 20).unwrap();
        // Left by a run that stopped while the database refused writes.
        let arrived = RecordOp::Arrived {
            call: CALL.into(),
            sip_call_id: "a@b".into(),
            at: 1000,
            caller_hash: None,
            transport: "udp",
            trunk: None,
            line: None,
        };
        let old: Vec<Change> = [arrived, step(1)].into_iter().map(Change::from).collect();
        spool.append(&old).unwrap();
        let (recorder, writer) = spawn_writer(store.clone(), Some(spool));
        // A step needs its call (a foreign key): it must come after the
        // spooled arrival, or it fails.
        recorder.record(step(2));
        recorder.record(RecordOp::Ended {
            call: CALL.into(),
            at: 2000,
            outcome: "completed".into(),
            hangup_by: Some("caller"),
        });
        let backlog = recorder.backlog.clone();
        drop(recorder);
        writer.await.unwrap();
        let steps: Vec<(i64,)> =
            sqlx::query_as("SELECT seq FROM call_steps WHERE call_id = $1 ORDER BY seq")
                .bind(CALL)
                .fetch_all(store.pool())
                .await
                .unwrap();
        assert_eq!(steps, [(1,), (2,)]);
        let ended: (Option<String>,) = sqlx::query_as("SELECT outcome FROM calls WHERE id = $1")
            .bind(CALL)
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(ended.0.as_deref(), Some("completed"));
        assert_eq!(
            std::fs::metadata(&path).unwrap().len(),
            0,
            "the spool is emptied"
        );
        assert_eq!(backlog.spooled.load(Ordering::Relaxed), 0);
        assert_eq!(backlog.dropped.load(Ordering::Relaxed), 0);
    }

    #[tokio::test]
    async fn a_replay_at_start_writes_the_spool_in_order() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(&format!("sqlite://{}", tmp.path().join("s.db").display()))
            .await
            .unwrap();
        let path = tmp.path().join("s.db.spool");
        let mut spool = Spool::open(&path, 1 << 20).unwrap();
        let arrived = Change::from(RecordOp::Arrived {
            call: CALL.into(),
            sip_call_id: "x".into(),
            at: 1,
            caller_hash: None,
            transport: "tcp",
            trunk: None,
            line: None,
        });
        let mut changes = vec![arrived];
        changes.extend((1..=700).map(|s| Change::from(step(s))));
        spool.append(&changes).unwrap();
        // Twice: a second replay (after a crash mid-replay) changes nothing.
        assert_eq!(replay_spool(&store, &mut spool).await.unwrap(), 701);
        assert!(spool.is_empty());
        let mut again = Spool::open(&path, 1 << 20).unwrap();
        assert!(again.is_empty());
        again.append(&changes[..10]).unwrap();
        assert_eq!(replay_spool(&store, &mut again).await.unwrap(), 10);
        let n: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM call_steps")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(n.0, 700);
    }

    #[tokio::test]
    async fn a_change_the_database_refuses_for_good_does_not_hold_up_the_rest() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(&format!("sqlite://{}", tmp.path().join("s.db").display()))
            .await
            .unwrap();
        let (recorder, writer) = spawn_writer(store.clone(), None);
        // A step of a call that is not there (erased meanwhile): a foreign key.
        recorder.record(step(1));
        recorder.record(RecordOp::Arrived {
            call: CALL.into(),
            sip_call_id: "x".into(),
            at: 1,
            caller_hash: None,
            transport: "udp",
            trunk: None,
            line: None,
        });
        recorder.record(step(2));
        let backlog = recorder.backlog.clone();
        drop(recorder);
        tokio::time::timeout(Duration::from_secs(10), writer)
            .await
            .expect("the writer is not stuck")
            .unwrap();
        let steps: Vec<(i64,)> = sqlx::query_as("SELECT seq FROM call_steps ORDER BY seq")
            .fetch_all(store.pool())
            .await
            .unwrap();
        assert_eq!(steps, [(2,)]);
        assert_eq!(backlog.dropped.load(Ordering::Relaxed), 1);
    }
}
