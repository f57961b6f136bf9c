//! The single writer of call records. Calls hand changes to a channel and go
//! on; the writer applies them in order and, when the database fails, keeps
//! them in memory and retries with back-off instead of dropping them.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::Store;

/// One change to a call record. Times are epoch milliseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordOp {
    Arrived {
        call: String,
        sip_call_id: String,
        at: i64,
        caller_hash: Option<String>,
        transport: &'static str,
    },
    Answered {
        call: String,
        at: i64,
        codec: &'static str,
        dtmf_mode: &'static str,
    },
    Language {
        call: String,
        language: &'static str,
    },
    Digit {
        call: String,
        seq: i64,
        at: i64,
        digit: String,
        source: &'static str,
        menu: Option<String>,
    },
    Step {
        call: String,
        seq: i64,
        at: i64,
        menu: String,
        what: String,
    },
    /// The service the call was routed to.
    Service { call: String, service: String },
    /// A voice message saved (migrations/sqlite/0004_voicemail.sql).
    Voicemail {
        call: String,
        at: i64,
        /// The WAV file (absolute).
        path: String,
        duration_ms: i64,
        /// key, max-length, silence, hangup, call-ended
        ended_by: &'static str,
    },
    /// The caller's survey score (1-5).
    Survey { call: String, score: u8 },
    /// A callback request became a follow-up (migrations/sqlite/0005_follow_ups.sql).
    CallbackRequest {
        id: String,
        call: String,
        at: i64,
        caller_hash: String,
        number_sealed: String,
        number_source: &'static str,
        window: &'static str,
        leave_message: bool,
        say_centre_name: bool,
        language: Option<String>,
        service: Option<String>,
    },
    /// How a callback of a follow-up ended (migrations/sqlite/0008_follow_up_calls.sql).
    FollowUpCallEnded {
        id: String,
        at: i64,
        answered_at: Option<i64>,
        outcome: &'static str,
    },
    /// A routing or transfer step (see migrations/sqlite/0002_routing.sql).
    Routing {
        call: String,
        seq: i64,
        at: i64,
        step: String,
        specialist: Option<String>,
        partner: Option<String>,
        result: Option<String>,
        wait_ms: Option<i64>,
        detail: String,
    },
    Ended {
        call: String,
        at: i64,
        outcome: String,
        hangup_by: Option<&'static str>,
    },
}

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
