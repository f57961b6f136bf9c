//! The router task: one for the whole service. It owns the sans-IO
//! [`Router`] (every call looking for a specialist, the queue and the
//! roster), feeds it what calls, the registrar and the HTTP API report, with
//! the time, and hands each call the actions meant for it.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use senim_call::io::RouterRequest;
use senim_routing::availability::{Alert, Now, RosterSnapshot};
use senim_routing::hours::{Calendar, Schedules};
use senim_routing::limits::AlertKind;
use senim_routing::router::LegResult;
use senim_routing::router::{Action, CallId, Router, RouterSettings, RouterSnapshot};
use senim_routing::specialists::{Skill, SpecialistId, Specialists};

use crate::store::{instances, Store};
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
    /// The claims for a ring were asked of the shared database: ring those
    /// this instance holds now; the others are held by another instance.
    Claimed {
        call: CallId,
        ring: Action,
        refused: Vec<SpecialistId>,
    },
    /// Another instance sharing the database let this specialist go.
    FreedElsewhere { id: String },
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
/// Start the router. With `shared`, a database other instances share
/// (PostgreSQL), each specialist is claimed there before this instance
/// rings them and let go when they are free here again, so that no two
/// instances ring one specialist at once.
pub fn spawn(
    specialists: Specialists,
    schedules: Schedules,
    calendar: Calendar,
    settings: RouterSettings,
    shared: Option<Store>,
) -> RouterHandle {
    let (tx, rx) = mpsc::unbounded_channel();
    let claims = shared.map(|store| {
        let (ops, queue) = mpsc::unbounded_channel();
        tokio::spawn(claim_worker(store, queue, tx.clone()));
        Claims {
            ops,
            pending: HashMap::new(),
            held: HashSet::new(),
        }
    });
    let router = Router::new(
        specialists,
        schedules.clone(),
        calendar.clone(),
        settings,
        Instant::now(),
    );
    let alerts = Arc::new(AlertCounts::default());
    tokio::spawn(run(router, schedules, calendar, rx, alerts.clone(), claims));
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
    mut claims: Option<Claims>,
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
                Some(ToRouter::Claimed { call, ring, refused }) => {
                    let now = now();
                    let mut gone = Vec::new();
                    if let Some(c) = claims.as_mut() {
                        c.claimed(call.clone(), ring, &refused, &calls, &mut gone);
                    }
                    for s in &refused {
                        router.leg_result(&call, s, LegResult::Busy, now);
                    }
                    for call in gone {
                        calls.remove(&call);
                        router.caller_hung_up(&call, now);
                    }
                }
                Some(ToRouter::FreedElsewhere { id }) => router.freed_elsewhere(&id, now()),
                Some(m) => handle(&mut router, &mut calls, &schedules, &calendar, m),
                None => break,
            },
            _ = sleep_until(wake) => router.handle_timeout(now()),
        }
        while let Some(out) = router.poll_output() {
            let sent = match claims.as_mut() {
                Some(c) => c.deliver(out.call.clone(), out.action, &calls),
                None => send(&calls, &out.call, out.action),
            };
            if !sent {
                // The call's task is gone without saying so: treat as a hang-up.
                calls.remove(&out.call);
                router.caller_hung_up(&out.call, now());
            }
        }
        calls.retain(|call, _| router.is_active(call));
        if let Some(c) = claims.as_mut() {
            c.pending.retain(|call, _| calls.contains_key(call));
            c.let_go_of_the_free(&router);
        }
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
        // Taken by `run`, which keeps the schedules, the holidays and the claims.
        ToRouter::Reload { .. } | ToRouter::Claimed { .. } | ToRouter::FreedElsewhere { .. } => {}
        ToRouter::Snapshot { reply } => {
            let snap = router
                .roster()
                .snapshot(now.instant, now.utc, calendar, schedules);
            let _ = reply.send(snap);
        }
    }
}

/// Send an action to a call's task; false when the task is gone.
fn send(
    calls: &HashMap<CallId, mpsc::UnboundedSender<Action>>,
    call: &CallId,
    action: Action,
) -> bool {
    match calls.get(call) {
        Some(tx) => tx.send(action).is_ok(),
        // Not (or no longer) a call of the router's: nothing to tell.
        None => true,
    }
}

/// The claims this instance holds in a database shared with other
/// instances (see [`spawn`]). A ring waits for its claims; the call's later
/// actions wait behind it, so that they reach the call in order.
struct Claims {
    /// To the one task that claims and lets go, in order.
    ops: mpsc::UnboundedSender<ClaimOp>,
    /// Calls whose ring waits for its claims, with their later actions.
    pending: HashMap<CallId, Vec<Action>>,
    /// The specialists this instance holds.
    held: HashSet<SpecialistId>,
}

impl Claims {
    /// Pass an action on to its call, a ring after its claims. False when
    /// the call's task is gone.
    fn deliver(
        &mut self,
        call: CallId,
        action: Action,
        calls: &HashMap<CallId, mpsc::UnboundedSender<Action>>,
    ) -> bool {
        if let Some(waiting) = self.pending.get_mut(&call) {
            waiting.push(action);
            return true;
        }
        let Action::Ring { specialists, .. } = &action else {
            return send(calls, &call, action);
        };
        let wanted = specialists.clone();
        self.pending.insert(call.clone(), Vec::new());
        let op = ClaimOp::Claim {
            call,
            wanted,
            ring: action,
        };
        // The worker is gone (stopping): ring without a claim.
        if let Err(mpsc::error::SendError(ClaimOp::Claim { call, ring, .. })) = self.ops.send(op) {
            self.pending.remove(&call);
            return send(calls, &call, ring);
        }
        true
    }

    /// The claims of a ring came back: ring those held (if any), then what
    /// waited behind it. Calls whose task is gone are added to `gone`.
    fn claimed(
        &mut self,
        call: CallId,
        ring: Action,
        refused: &[SpecialistId],
        calls: &HashMap<CallId, mpsc::UnboundedSender<Action>>,
        gone: &mut Vec<CallId>,
    ) {
        let waiting = self.pending.remove(&call).unwrap_or_default();
        if let Action::Ring {
            specialists,
            contacts,
            timeout,
        } = ring
        {
            let (specialists, contacts): (Vec<_>, Vec<_>) = specialists
                .into_iter()
                .zip(contacts)
                .filter(|(s, _)| !refused.contains(s))
                .unzip();
            if !refused.is_empty() {
                tracing::info!(call = %call, held = ?refused, "specialists held by another instance are not rung");
            }
            self.held.extend(specialists.iter().cloned());
            if !specialists.is_empty() {
                let ring = Action::Ring {
                    specialists,
                    contacts,
                    timeout,
                };
                if !send(calls, &call, ring) {
                    gone.push(call.clone());
                }
            }
        }
        for action in waiting {
            if !self.deliver(call.clone(), action, calls) {
                gone.push(call.clone());
            }
        }
    }

    /// Let go of the specialists no longer rung, on a call or in wrap-up here.
    fn let_go_of_the_free(&mut self, router: &Router) {
        let now = Instant::now();
        let free: Vec<SpecialistId> = self
            .held
            .iter()
            .filter(|s| !router.roster().engaged(s.as_str(), now))
            .cloned()
            .collect();
        for s in free {
            self.held.remove(&s);
            let _ = self.ops.send(ClaimOp::Release(s));
        }
    }
}

/// What the claim worker does, in the order asked (a release and the next
/// claim of the same specialist must not overtake each other).
enum ClaimOp {
    Claim {
        call: CallId,
        wanted: Vec<SpecialistId>,
        ring: Action,
    },
    Release(SpecialistId),
}

/// Claims and releases in the shared database, one after the other; the
/// answers of claims go back to the router's loop.
async fn claim_worker(
    store: Store,
    mut queue: mpsc::UnboundedReceiver<ClaimOp>,
    back: mpsc::UnboundedSender<ToRouter>,
) {
    while let Some(op) = queue.recv().await {
        match op {
            ClaimOp::Claim { call, wanted, ring } => {
                let mut refused = Vec::new();
                let at = chrono::Utc::now().timestamp_millis();
                for s in wanted {
                    match instances::claim(&store, s.as_str(), call.as_str(), at).await {
                        Ok(true) => {}
                        Ok(false) => refused.push(s),
                        // A crisis line rings rather than waits on its
                        // database: at worst two instances ring one phone.
                        Err(e) => tracing::warn!(
                            specialist = %s, error = %e,
                            "the shared database did not answer a claim; ringing anyway"
                        ),
                    }
                }
                let _ = back.send(ToRouter::Claimed {
                    call,
                    ring,
                    refused,
                });
            }
            ClaimOp::Release(s) => {
                if let Err(e) = instances::release(&store, s.as_str()).await {
                    tracing::warn!(specialist = %s, error = %e,
                        "the shared database did not take a claim's release; it lapses when this instance stops");
                }
            }
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(t) => tokio::time::sleep_until(t.into()).await,
        None => std::future::pending().await,
    }
}
