//! One instance among several sharing a PostgreSQL database: it says it is
//! alive every few seconds, closes the calls of an instance that stopped
//! saying so (killed, or its machine gone) as interrupted, and hears at once
//! when another instance lets a specialist go (`LISTEN
//! senim_specialist_free`), so that a caller queued here is offered them.
//! The claims themselves are the router driver's ([`super::router`]).

use std::time::Duration;

use tokio::task::JoinHandle;

use super::router::{RouterHandle, ToRouter};
use crate::store::{instances, Store};

/// How often the instance says it is alive ([`instances::GONE_AFTER_MS`]
/// is four of these).
const HEARTBEAT: Duration = Duration::from_secs(5);

/// The instance's tasks; [`Cluster::leave`] ends them.
pub struct Cluster {
    store: Store,
    tasks: Vec<JoinHandle<()>>,
}

/// Start the heartbeat, the sweep of stopped instances' calls and the
/// listener (`url`: the database's URL).
pub fn join(store: Store, url: String, router: RouterHandle) -> Cluster {
    let heartbeat = tokio::spawn(heartbeat(store.clone()));
    let listener = tokio::spawn(listen(url, store.instance().to_string(), router));
    Cluster {
        store,
        tasks: vec![heartbeat, listener],
    }
}

impl Cluster {
    /// Stop the tasks and say that this instance has stopped (its claims
    /// go), so that no other waits for its heartbeat to lapse.
    pub async fn leave(self) {
        for t in &self.tasks {
            t.abort();
        }
        if let Err(e) = instances::leave(&self.store).await {
            tracing::warn!(error = %e, "could not tell the shared database that this instance stops");
        }
    }
}

async fn heartbeat(store: Store) {
    let started = chrono::Utc::now().timestamp_millis();
    let mut tick = tokio::time::interval(HEARTBEAT);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        tick.tick().await;
        let now = chrono::Utc::now().timestamp_millis();
        match instances::heartbeat(&store, started, now).await {
            Ok(()) => {
                if std::mem::take(&mut failing) {
                    tracing::info!("the shared database hears this instance again");
                }
            }
            Err(e) => {
                if !std::mem::replace(&mut failing, true) {
                    tracing::warn!(error = %e, "the shared database does not take this instance's heartbeat");
                }
                continue;
            }
        }
        match instances::close_calls_of_gone(&store, now).await {
            Ok(closed) if closed.calls + closed.callbacks > 0 => tracing::warn!(
                calls = closed.calls,
                callbacks = closed.callbacks,
                "calls of an instance that stopped are closed as interrupted"
            ),
            Ok(_) => {}
            Err(e) => {
                tracing::debug!(error = %e, "the calls of stopped instances were not looked at")
            }
        }
    }
}

/// Hear the specialists other instances let go, and tell the router.
async fn listen(url: String, me: String, router: RouterHandle) {
    use sqlx::postgres::PgListener;
    let mut logged = false;
    loop {
        let connected = async {
            let mut l = PgListener::connect(&url).await?;
            l.listen("senim_specialist_free").await?;
            Ok::<_, sqlx::Error>(l)
        }
        .await;
        match connected {
            Ok(mut l) => {
                logged = false;
                loop {
                    match l.recv().await {
                        Ok(n) => match n.payload().split_once(' ') {
                            Some((from, id)) if from != me => {
                                router.send(ToRouter::FreedElsewhere { id: id.to_string() })
                            }
                            _ => {}
                        },
                        Err(e) => {
                            tracing::warn!(error = %e, "lost the shared database's notifications; reconnecting");
                            break;
                        }
                    }
                }
            }
            Err(e) => {
                if !std::mem::replace(&mut logged, true) {
                    tracing::warn!(error = %e, "cannot listen to the shared database; trying again");
                }
            }
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}
