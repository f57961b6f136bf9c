//! The router task: one for the whole service. It owns the sans-IO
//! [`Router`] (every call looking for a specialist, the queue and the
//! roster), feeds it what calls, the registrar and the HTTP API report, with
//! the time, and hands each call the actions meant for it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use senim_call::io::RouterRequest;
use senim_routing::availability::{Alert, Now, RosterSnapshot};
use senim_routing::hours::{Calendar, Schedules};
use senim_routing::limits::AlertKind;
use senim_routing::router::{Action, CallId, Router, RouterSettings, RouterSnapshot};
use senim_routing::specialists::{Skill, Specialists};
use tokio::sync::{mpsc, oneshot};

/// What the rest of Senim tells the router.
#[derive(Debug)]
pub enum ToRouter {
    /// What a call tells the router; with `Start`, `actions` is where the
    /// router's actions for the call go.
    FromCall {
        request: RouterRequest,
        actions: Option<mpsc::UnboundedSender<Action>>,
    },
    /// A softphone's registered contacts changed.
    Registered { username: String, bindings: u32 },
    /// Pause or resume a specialist; the answer is false for an unknown id.
    SetPaused {
        id: String,
        paused: bool,
        reason: String,
        reply: oneshot::Sender<bool>,
    },
    /// A wrap-up code given later (the specialist's page or the API) for
    /// the specialist's last call; the answer is false for an unknown
    /// specialist or kind.
    WrapUp {
        specialist: String,
        kind: String,
        reply: oneshot::Sender<bool>,
    },
    /// The ids of the wrap-up kinds in service, in menu order.
    WrapUpKinds { reply: oneshot::Sender<Vec<String>> },
    /// The live status of every specialist.
    Snapshot {
        reply: oneshot::Sender<RosterSnapshot>,
    },
    /// The specialists and the calls being routed, for the board.
    Board {
        reply: oneshot::Sender<RouterSnapshot>,
    },
    /// How many callers wait, per service.
    QueueLengths {
        reply: oneshot::Sender<Vec<(Skill, usize)>>,
    },
    /// The configuration was reloaded: the specialists, schedules, holidays
    /// and settings from now on (see [`Router::reload`]).
    Reload {
        specialists: Specialists,
        schedules: Schedules,
        calendar: Calendar,
        /// Boxed: the wrap-up kinds and limits make it the largest part.
        settings: Box<RouterSettings>,
    },
}

/// Alerts about specialists raised since start, by kind (for metrics:
/// counts only, no ids).
#[derive(Debug, Default)]
pub struct AlertCounts {
    long_call: AtomicU64,
    crisis_cap: AtomicU64,
    daily_cap: AtomicU64,
}

impl AlertCounts {
    fn counter(&self, kind: AlertKind) -> &AtomicU64 {
        match kind {
            AlertKind::LongCall => &self.long_call,
            AlertKind::CrisisCap => &self.crisis_cap,
            AlertKind::DailyCap => &self.daily_cap,
        }
    }

    /// Alerts of this kind since start.
    pub fn get(&self, kind: AlertKind) -> u64 {
        self.counter(kind).load(Ordering::Relaxed)
    }

    fn add(&self, kind: AlertKind) {
        self.counter(kind).fetch_add(1, Ordering::Relaxed);
    }
}

/// A cheap handle to the router task.
#[derive(Clone, Debug)]
pub struct RouterHandle {
    tx: mpsc::UnboundedSender<ToRouter>,
    alerts: Arc<AlertCounts>,
}

impl RouterHandle {
    /// Alerts about specialists raised since start, by kind.
    pub fn alerts(&self) -> &AlertCounts {
        &self.alerts
    }

    /// Send a message; if the router has stopped (shutdown) it is dropped.
    pub fn send(&self, msg: ToRouter) {
        let _ = self.tx.send(msg);
    }

    /// The specialists and the calls being routed (None while stopping).
    pub async fn board(&self) -> Option<RouterSnapshot> {
        let (reply, rx) = oneshot::channel();
        self.send(ToRouter::Board { reply });
        rx.await.ok()
    }

    /// The live status of every specialist (None while stopping).
    pub async fn snapshot(&self) -> Option<RosterSnapshot> {
        let (reply, rx) = oneshot::channel();
        self.send(ToRouter::Snapshot { reply });
        rx.await.ok()
    }

    /// How many callers wait per service (None while stopping).
    pub async fn queue_lengths(&self) -> Option<Vec<(Skill, usize)>> {
        let (reply, rx) = oneshot::channel();
        self.send(ToRouter::QueueLengths { reply });
        rx.await.ok()
    }

    /// A wrap-up code for the specialist's last call, given after it (their
    /// page, the API): the router applies the kind's rest and crisis count.
    /// None while stopping; Some(false) for an unknown specialist or kind.
    pub async fn wrap_up(&self, specialist: &str, kind: &str) -> Option<bool> {
        let (reply, rx) = oneshot::channel();
        self.send(ToRouter::WrapUp {
            specialist: specialist.to_string(),
            kind: kind.to_string(),
            reply,
        });
        rx.await.ok()
    }

    /// The ids of the wrap-up kinds in service, in menu order (None while
    /// stopping).
    pub async fn wrap_up_kinds(&self) -> Option<Vec<String>> {
        let (reply, rx) = oneshot::channel();
        self.send(ToRouter::WrapUpKinds { reply });
        rx.await.ok()
    }

    /// Pause or resume; None while stopping, Some(false) for an unknown id.
    pub async fn set_paused(&self, id: &str, paused: bool, reason: &str) -> Option<bool> {
        let (reply, rx) = oneshot::channel();
        self.send(ToRouter::SetPaused {
            id: id.to_string(),
            paused,
            reason: reason.to_string(),
            reply,
        });
        rx.await.ok()
    }
}

/// Start the router task.
pub fn spawn(
    specialists: Specialists,
    schedules: Schedules,
    calendar: Calendar,
    settings: RouterSettings,
) -> RouterHandle {
    let (tx, rx) = mpsc::unbounded_channel();
    let router = Router::new(
        specialists,
        schedules.clone(),
        calendar.clone(),
        settings,
        Instant::now(),
    );
    let alerts = Arc::new(AlertCounts::default());
    tokio::spawn(run(router, schedules, calendar, rx, alerts.clone()));
    RouterHandle { tx, alerts }
}

fn now() -> Now {
    Now::new(Instant::now(), chrono::Utc::now())
}

async fn run(
    mut router: Router,
    mut schedules: Schedules,
    mut calendar: Calendar,
    mut rx: mpsc::UnboundedReceiver<ToRouter>,
    alerts: Arc<AlertCounts>,
) {
    let mut calls: HashMap<CallId, mpsc::UnboundedSender<Action>> = HashMap::new();
    loop {
        let wake = router.poll_timeout();
        tokio::select! {
            msg = rx.recv() => match msg {
                Some(ToRouter::Reload { specialists, schedules: s, calendar: c, settings }) => {
                    router.reload(specialists, s.clone(), c.clone(), *settings, now());
                    schedules = s;
                    calendar = c;
                    tracing::info!(
                        specialists = router.roster().specialists().len(),
                        "router: the reloaded specialists, hours and holidays serve new rings"
                    );
                }
                Some(m) => handle(&mut router, &mut calls, &schedules, &calendar, m),
                None => break,
            },
            _ = sleep_until(wake) => router.handle_timeout(now()),
        }
        while let Some(out) = router.poll_output() {
            if let Some(tx) = calls.get(&out.call) {
                if tx.send(out.action).is_err() {
                    // The call's task is gone without saying so: treat as a hang-up.
                    calls.remove(&out.call);
                    router.caller_hung_up(&out.call, now());
                }
            }
        }
        calls.retain(|call, _| router.is_active(call));
        while let Some(alert) = router.poll_alert() {
            raise(&alerts, &alert);
        }
    }
}

/// An alert about a specialist: a warning in the log (the specialist's id,
/// never a caller's number) and a count for metrics. The board shows the
/// conditions from the router's snapshot.
fn raise(counts: &AlertCounts, alert: &Alert) {
    counts.add(alert.kind);
    let what = match alert.kind {
        AlertKind::LongCall => "a call has run longer than the alert threshold",
        AlertKind::CrisisCap => {
            "crisis or long calls in a row reached the cap: an automatic break started"
        }
        AlertKind::DailyCap => "the day's cap of answered calls is reached: not rung again today",
    };
    tracing::warn!(specialist = %alert.specialist, alert = alert.kind.as_str(), "{what}");
}

fn handle(
    router: &mut Router,
    calls: &mut HashMap<CallId, mpsc::UnboundedSender<Action>>,
    schedules: &Schedules,
    calendar: &Calendar,
    msg: ToRouter,
) {
    let now = now();
    match msg {
        ToRouter::FromCall { request, actions } => match request {
            RouterRequest::Start { call, request } => {
                if let Some(actions) = actions {
                    calls.insert(call.clone(), actions);
                }
                if let Err(e) = router.start(call, request, now) {
                    tracing::warn!(error = %e, "route request refused");
                }
            }
            RouterRequest::LegPickedUp { call, specialist } => {
                router.leg_picked_up(&call, &specialist, now)
            }
            RouterRequest::LegResult {
                call,
                specialist,
                result,
            } => router.leg_result(&call, &specialist, result, now),
            RouterRequest::CallerPressed { call, digit } => {
                router.caller_pressed(&call, digit, now)
            }
            RouterRequest::CallerHungUp { call } => router.caller_hung_up(&call, now),
            RouterRequest::CallEnded { call } => router.call_ended(&call, now),
            RouterRequest::WrapUp {
                call: _,
                specialist,
                kind,
            } => {
                if !router.wrap_up_coded(&specialist, kind.as_deref(), now) {
                    tracing::info!(specialist = %specialist, "wrap-up code for an unknown specialist or kind");
                }
            }
        },
        ToRouter::Registered { username, bindings } => {
            if !router.registered_username(&username, bindings, now) {
                tracing::debug!(%username, "registration for a user who is not a specialist");
            }
        }
        ToRouter::SetPaused {
            id,
            paused,
            reason,
            reply,
        } => {
            let _ = reply.send(router.set_paused(&id, paused, &reason, now));
        }
        ToRouter::WrapUp {
            specialist,
            kind,
            reply,
        } => {
            let ok = router.wrap_up_coded(
                &senim_routing::specialists::SpecialistId::from(specialist),
                Some(&kind),
                now,
            );
            let _ = reply.send(ok);
        }
        ToRouter::WrapUpKinds { reply } => {
            let kinds = router.roster().policy().kinds.iter();
            let _ = reply.send(kinds.map(|k| k.id.clone()).collect());
        }
        ToRouter::QueueLengths { reply } => {
            let lengths = Skill::ALL
                .iter()
                .map(|s| (*s, router.queue_len(*s)))
                .collect();
            let _ = reply.send(lengths);
        }
        ToRouter::Board { reply } => {
            let _ = reply.send(router.snapshot(now));
        }
        // Taken by `run`, which keeps the schedules and holidays.
        ToRouter::Reload { .. } => {}
        ToRouter::Snapshot { reply } => {
            let snap = router
                .roster()
                .snapshot(now.instant, now.utc, calendar, schedules);
            let _ = reply.send(snap);
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(t) => tokio::time::sleep_until(t.into()).await,
        None => std::future::pending().await,
    }
}
