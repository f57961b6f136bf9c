//! The single writer of call records. Calls hand changes to a channel and go
//! on; the writer applies them in order and, when the database fails, keeps
//! them in memory and retries with back-off instead of dropping them.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::Store;

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
