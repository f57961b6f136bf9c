//! The [`Router`] state machine: events in (`start`, `leg_result`,
//! `caller_pressed`, `handle_timeout`, ...), [`Output`]s and the next
//! wake-up out.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use super::action::{Action, Output};
use super::call_id::CallId;
use super::call_state::{Call, Leg, Phase, Queue};
use super::error::RouterError;
use super::outcome::{hopeless_outcome, Outcome, OverflowReason};
use super::record::{Record, Step};
use super::ring_result::{LegResult, RingResult};
use super::settings::RouterSettings;
use super::snapshot::{CallStatus, RouterSnapshot};
use crate::availability::{later, Alert, Now, RingEffect, Roster};
use crate::hours::{Calendar, Schedules};
use crate::specialists::{Skill, SpecialistContact, SpecialistId, Specialists};
use crate::strategy::{candidates, survey, Facts, RouteRequest, Tier};

/// All calls being routed, the queue and the roster.
#[derive(Debug)]
pub struct Router {
    roster: Roster,
    calendar: Calendar,
    schedules: Schedules,
    settings: RouterSettings,
    calls: BTreeMap<CallId, Call>,
    /// The specialist rung last per service (round-robin).
    rotation: BTreeMap<Skill, SpecialistId>,
    out: VecDeque<Output>,
    alerts: VecDeque<Alert>,
    seq: u64,
    last: Instant,
    recheck_at: Option<Instant>,
}

impl Router {
    /// A router with everyone idle since `now` and no softphone registered.
    pub fn new(
        specialists: Specialists,
        schedules: Schedules,
        calendar: Calendar,
        settings: RouterSettings,
        now: Instant,
    ) -> Router {
        let mut roster = Roster::new(specialists, now);
        roster.set_policy(settings.wrap_up.clone());
        Router {
            roster,
            calendar,
            schedules,
            settings,
            calls: BTreeMap::new(),
            rotation: BTreeMap::new(),
            out: VecDeque::new(),
            alerts: VecDeque::new(),
            seq: 0,
            last: now,
            recheck_at: None,
        }
    }

    /// The roster (read only).
    pub fn roster(&self) -> &Roster {
        &self.roster
    }

    /// The roster, to change settings or state directly. Call
    /// [`Router::specialist_available`] afterwards so waiting callers see it.
    pub fn roster_mut(&mut self) -> &mut Roster {
        &mut self.roster
    }

    /// The settings.
    pub fn settings(&self) -> &RouterSettings {
        &self.settings
    }

    /// Replaces the configuration (a reload). Live state of specialists who
    /// remain is kept (registrations, pauses, calls, wrap-ups); new ones
    /// start idle; removed ones are offered no new call, and a call one of
    /// them is on goes on until it ends. Rings and waits already under way
    /// keep their deadlines; the new settings apply from here on.
    pub fn reload(
        &mut self,
        specialists: Specialists,
        schedules: Schedules,
        calendar: Calendar,
        settings: RouterSettings,
        now: Now,
    ) {
        self.touch(now);
        self.roster.replace(specialists, now.instant);
        self.roster.set_policy(settings.wrap_up.clone());
        self.schedules = schedules;
        self.calendar = calendar;
        self.settings = settings;
        self.settle(now);
    }

    // -- events ----------------------------------------------------------

    /// A caller asks for a specialist.
    pub fn start(
        &mut self,
        call: CallId,
        request: RouteRequest,
        now: Now,
    ) -> Result<(), RouterError> {
        if self.calls.contains_key(&call) {
            return Err(RouterError::CallExists(call));
        }
        self.touch(now);
        self.seq = self.seq.wrapping_add(1);
        self.record(
            &call,
            now,
            Step::Requested {
                service: request.service,
                language: request.caller_language.clone(),
                strategy: request.strategy,
                other_language_allowed: request.other_language_allowed,
            },
        );
        let closed = request.schedule.as_deref().is_some_and(|id| {
            !self
                .schedules
                .get(id)
                .is_some_and(|s| self.calendar.is_open_as_configured(s, now.utc))
        });
        self.calls.insert(
            call.clone(),
            Call {
                request,
                seq: self.seq,
                started: now.instant,
                queued_at: None,
                phase: Phase::Hunting,
                legs: Vec::new(),
                tried: BTreeMap::new(),
            },
        );
        if closed {
            self.finish(&call, Outcome::Closed, now);
        }
        // `settle` rings the first candidate, after callers who wait longer.
        self.settle(now);
        Ok(())
    }

    /// A specialist's phone was picked up and the whisper plays: the ring
    /// timeout of that leg is replaced by the accept timeout.
    pub fn leg_picked_up(&mut self, call: &CallId, specialist: &SpecialistId, now: Now) {
        self.touch(now);
        let accept = self.settings.accept_timeout;
        let found = self.calls.get_mut(call).and_then(|c| {
            c.legs
                .iter_mut()
                .find(|l| &l.specialist == specialist)
                .map(|l| l.deadline = later(now.instant, accept))
        });
        if found.is_some() {
            self.record(
                call,
                now,
                Step::PickedUp {
                    specialist: specialist.clone(),
                },
            );
        }
        self.settle(now);
    }

    /// A ring ended. Results for legs the router no longer knows (timed out
    /// or cancelled already) are ignored.
    pub fn leg_result(
        &mut self,
        call: &CallId,
        specialist: &SpecialistId,
        result: LegResult,
        now: Now,
    ) {
        self.touch(now);
        let known = self
            .calls
            .get(call)
            .is_some_and(|c| c.legs.iter().any(|l| &l.specialist == specialist));
        if known {
            if result == LegResult::Answered {
                self.end_leg(call, specialist, RingResult::Answered, now);
                self.cancel_legs(call, now);
                if let Some(c) = self.calls.get_mut(call) {
                    c.phase = Phase::Connected {
                        specialist: specialist.clone(),
                    };
                }
                self.emit(
                    call,
                    Action::Bridge {
                        specialist: specialist.clone(),
                    },
                );
                self.record_finished(
                    call,
                    Outcome::Connected {
                        specialist: specialist.clone(),
                    },
                    now,
                );
            } else {
                self.end_leg(call, specialist, result.into(), now);
                self.after_ring(call, now);
            }
        }
        self.settle(now);
    }

    /// The caller pressed a key while being routed. The callback key counts
    /// in the queue once the offer was made; the emergency key at any time
    /// before a specialist is connected. Other keys are ignored.
    pub fn caller_pressed(&mut self, call: &CallId, digit: char, now: Now) {
        self.touch(now);
        let (connected, offered) = match self.calls.get(call) {
            None => (true, false),
            Some(c) => match &c.phase {
                Phase::Connected { .. } => (true, false),
                Phase::Queued(q) => (false, q.offered),
                Phase::Hunting => (false, false),
            },
        };
        if !connected {
            if Some(digit) == self.settings.emergency_digit {
                self.finish(call, Outcome::Emergency, now);
            } else if digit == self.settings.callback_digit && offered {
                self.finish(call, Outcome::CallbackRequested, now);
            }
        }
        self.settle(now);
    }

    /// The caller hung up. Before a specialist: recorded as abandoned, with
    /// the wait; the ringing legs are cancelled. After: as [`Router::call_ended`].
    pub fn caller_hung_up(&mut self, call: &CallId, now: Now) {
        self.touch(now);
        match self.calls.get(call).map(|c| &c.phase) {
            Some(Phase::Connected { .. }) => self.end_conversation(call, now),
            Some(_) => self.finish(call, Outcome::Abandoned, now),
            None => {}
        }
        self.settle(now);
    }

    /// The conversation of a bridged call ended (either side hung up): the
    /// specialist's wrap-up starts.
    pub fn call_ended(&mut self, call: &CallId, now: Now) {
        self.touch(now);
        match self.calls.get(call).map(|c| &c.phase) {
            Some(Phase::Connected { .. }) => self.end_conversation(call, now),
            Some(_) => self.finish(call, Outcome::Abandoned, now),
            None => {}
        }
        self.settle(now);
    }

    /// The specialist gave a wrap-up code for their last call (after the
    /// caller hung up, from the wrap-up menu on their phone, or later from
    /// their page): the kind's rest applies from the end of that call, and
    /// a crisis kind counts towards the automatic break. False for an
    /// unknown specialist or kind. `None`: the menu ended without a code
    /// (the specialist's own `wrap_up` applies).
    pub fn wrap_up_coded(
        &mut self,
        specialist: &SpecialistId,
        kind: Option<&str>,
        now: Now,
    ) -> bool {
        self.touch(now);
        let ok = match kind {
            Some(kind) => self
                .roster
                .wrap_up_coded(specialist.as_str(), kind, now.instant),
            None => self.roster.wrap_up_menu_over(specialist.as_str()),
        };
        self.settle(now);
        ok
    }

    /// A softphone's registrations changed (from the registrar). Returns
    /// false for an unknown specialist.
    pub fn registered(&mut self, id: &str, bindings: u32, now: Now) -> bool {
        self.touch(now);
        let ok = self.roster.registered(id, bindings);
        self.settle(now);
        ok
    }

    /// As [`Router::registered`], by the softphone's username (as the
    /// registrar reports it). Returns false when no specialist has it.
    pub fn registered_username(&mut self, username: &str, bindings: u32, now: Now) -> bool {
        let id = self
            .roster
            .specialists()
            .by_username(username)
            .map(|s| s.id.clone());
        match id {
            Some(id) => self.registered(id.as_str(), bindings, now),
            None => false,
        }
    }

    /// Pause or resume a specialist (from the HTTP API). Returns false for
    /// an unknown specialist.
    pub fn set_paused(&mut self, id: &str, paused: bool, reason: &str, now: Now) -> bool {
        self.touch(now);
        let ok = self.roster.set_paused(id, paused, reason, now.instant);
        self.settle(now);
        ok
    }

    /// Another instance sharing the database let `id` go (see
    /// [`Roster::freed_elsewhere`]): look at the queue again.
    /// The calls that found them held ("busy") may ring them again at once.
    pub fn freed_elsewhere(&mut self, id: &str, now: Now) {
        self.touch(now);
        if self.roster.freed_elsewhere(id) {
            for c in self.calls.values_mut() {
                c.tried.remove(id);
            }
            self.settle(now);
        }
    }

    /// Something about a specialist may have changed (or `id` is empty):
    /// look at the queue again.
    pub fn specialist_available(&mut self, _id: &str, now: Now) {
        self.touch(now);
        self.settle(now);
    }

    /// Timers: ring timeouts, queue announcements, maximum waits, wrap-ups
    /// ending. Safe to call at any time, early or late.
    pub fn handle_timeout(&mut self, now: Now) {
        self.touch(now);
        self.settle(now);
    }

    // -- outputs ---------------------------------------------------------

    /// The next action, in order.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// The next alert about a specialist (a long call, a cap reached), in
    /// order. The driver logs it, counts it and shows it on the board.
    pub fn poll_alert(&mut self) -> Option<Alert> {
        self.alerts.pop_front()
    }

    /// All pending actions, in order.
    pub fn drain_outputs(&mut self) -> Vec<Output> {
        self.out.drain(..).collect()
    }

    /// When [`Router::handle_timeout`] should be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut best: Option<Instant> = None;
        let mut take = |t: Instant| {
            if best.is_none_or(|b| t < b) {
                best = Some(t);
            }
        };
        for t in self.roster.alert_times(self.last) {
            take(t);
        }
        let mut queued = false;
        for c in self.calls.values() {
            for l in &c.legs {
                take(l.deadline);
            }
            if let Phase::Queued(q) = &c.phase {
                queued = true;
                if !q.expired {
                    take(q.deadline);
                }
                if let Some(t) = q.next_announce {
                    take(t);
                }
                if let Some(t) = q.next_offer {
                    take(t);
                }
                for t in c.tried.values() {
                    let t = later(*t, self.settings.retry_after);
                    if t > self.last {
                        take(t);
                    }
                }
            }
        }
        if queued {
            for t in self.roster.wake_times(self.last) {
                take(t);
            }
            if let Some(t) = self.recheck_at {
                take(t);
            }
        }
        best
    }

    // -- queries ---------------------------------------------------------

    /// Is this call known to the router (routing, or bridged and not ended)?
    pub fn is_active(&self, call: &CallId) -> bool {
        self.calls.contains_key(call)
    }

    /// The caller's position in the queue of their service (1: next).
    pub fn queue_position(&self, call: &CallId) -> Option<usize> {
        let c = self.calls.get(call)?;
        if !matches!(c.phase, Phase::Queued(_)) {
            return None;
        }
        Some(self.position_of(c))
    }

    /// How many callers wait for this service.
    pub fn queue_len(&self, service: Skill) -> usize {
        self.calls
            .values()
            .filter(|c| matches!(c.phase, Phase::Queued(_)) && c.request.service == service)
            .count()
    }

    /// The status view: specialists and calls being routed.
    pub fn snapshot(&self, now: Now) -> RouterSnapshot {
        let mut calls: Vec<(&CallId, &Call)> = self.calls.iter().collect();
        calls.sort_by_key(|(_, c)| c.seq);
        RouterSnapshot {
            specialists: self.roster.snapshot(
                now.instant,
                now.utc,
                &self.calendar,
                &self.schedules,
            ),
            calls: calls
                .into_iter()
                .map(|(id, c)| CallStatus {
                    call: id.clone(),
                    service: c.request.service,
                    language: c.request.caller_language.clone(),
                    state: match c.phase {
                        Phase::Hunting => "ringing",
                        Phase::Queued(_) => "queued",
                        Phase::Connected { .. } => "connected",
                    },
                    position: match c.phase {
                        Phase::Queued(_) => Some(self.position_of(c)),
                        _ => None,
                    },
                    waiting_secs: now.instant.saturating_duration_since(c.started).as_secs(),
                    ringing: c.legs.iter().map(|l| l.specialist.clone()).collect(),
                    specialist: match &c.phase {
                        Phase::Connected { specialist } => Some(specialist.clone()),
                        _ => None,
                    },
                })
                .collect(),
        }
    }

    // -- internals -------------------------------------------------------

    fn touch(&mut self, now: Now) {
        if now.instant > self.last {
            self.last = now.instant;
        }
    }

    fn facts(&self, now: Now) -> Facts<'_> {
        Facts {
            now,
            calendar: &self.calendar,
            schedules: &self.schedules,
        }
    }

    fn emit(&mut self, call: &CallId, action: Action) {
        self.out.push_back(Output {
            call: call.clone(),
            action,
        });
    }

    fn record(&mut self, call: &CallId, now: Now, step: Step) {
        self.emit(
            call,
            Action::Record(Record {
                at_ms: now.utc_ms(),
                step,
            }),
        );
    }

    fn record_finished(&mut self, call: &CallId, outcome: Outcome, now: Now) {
        let Some(c) = self.calls.get(call) else {
            return;
        };
        let waited_ms = ms(now.instant.saturating_duration_since(c.started));
        let queue_wait_ms = c
            .queued_at
            .map(|q| ms(now.instant.saturating_duration_since(q)));
        self.record(
            call,
            now,
            Step::Finished {
                outcome,
                waited_ms,
                queue_wait_ms,
            },
        );
    }

    /// Position among queued callers of the same service, by arrival.
    fn position_of(&self, call: &Call) -> usize {
        1 + self
            .calls
            .values()
            .filter(|o| {
                matches!(o.phase, Phase::Queued(_))
                    && o.request.service == call.request.service
                    && o.seq < call.seq
            })
            .count()
    }

    /// Rings `wave` for `call`: marks each specialist ringing.
    fn ring(&mut self, call: &CallId, tier: Tier, wave: Vec<SpecialistId>, now: Now) {
        let Some(c) = self.calls.get_mut(call) else {
            return;
        };
        let timeout = c.request.ring_timeout;
        let service = c.request.service;
        let in_queue = matches!(c.phase, Phase::Queued(_));
        for s in &wave {
            c.legs.push(Leg {
                specialist: s.clone(),
                started: now.instant,
                deadline: later(now.instant, timeout),
            });
        }
        for s in &wave {
            self.roster.ring_started(s.as_str());
        }
        if let Some(last) = wave.last() {
            self.rotation.insert(service, last.clone());
        }
        // Every candidate comes from the roster, so each has its contact.
        let (specialists, contacts): (Vec<SpecialistId>, Vec<SpecialistContact>) = wave
            .iter()
            .filter_map(|s| {
                self.roster
                    .get(s.as_str())
                    .map(|entry| (s.clone(), entry.contact.clone()))
            })
            .unzip();
        self.emit(
            call,
            Action::Ring {
                specialists,
                contacts,
                timeout,
            },
        );
        self.record(
            call,
            now,
            Step::Rang {
                specialists: wave,
                tier,
                timeout_ms: ms(timeout),
                in_queue,
            },
        );
    }

    /// Removes one leg, updates the roster and records the result.
    fn end_leg(&mut self, call: &CallId, specialist: &SpecialistId, result: RingResult, now: Now) {
        let Some(c) = self.calls.get_mut(call) else {
            return;
        };
        let Some(i) = c.legs.iter().position(|l| &l.specialist == specialist) else {
            return;
        };
        let leg = c.legs.remove(i);
        if !matches!(result, RingResult::Answered | RingResult::Cancelled) {
            c.tried.insert(specialist.clone(), now.instant);
        }
        let effect = self
            .roster
            .ring_ended(specialist.as_str(), result.into(), now.instant);
        if result == RingResult::Answered {
            let day = self.calendar.local_time(now.utc).date_naive();
            self.roster.answered_on(specialist.as_str(), day);
        }
        self.record(
            call,
            now,
            Step::RingEnded {
                specialist: specialist.clone(),
                result,
                ring_ms: ms(now.instant.saturating_duration_since(leg.started)),
            },
        );
        if let RingEffect::AutoPaused { missed } = effect {
            self.record(
                call,
                now,
                Step::AutoPaused {
                    specialist: specialist.clone(),
                    missed,
                },
            );
        }
    }

    /// Cancels every leg of `call` still ringing.
    fn cancel_legs(&mut self, call: &CallId, now: Now) {
        let Some(c) = self.calls.get(call) else {
            return;
        };
        let losers: Vec<SpecialistId> = c.legs.iter().map(|l| l.specialist.clone()).collect();
        if losers.is_empty() {
            return;
        }
        self.emit(
            call,
            Action::Cancel {
                specialists: losers.clone(),
            },
        );
        for s in &losers {
            self.end_leg(call, s, RingResult::Cancelled, now);
        }
    }

    /// Ends routing without a specialist: cancels legs, emits the final
    /// action and the record, forgets the call.
    fn finish(&mut self, call: &CallId, outcome: Outcome, now: Now) {
        if !self.calls.contains_key(call) {
            return;
        }
        self.cancel_legs(call, now);
        let action = match &outcome {
            Outcome::Closed => Some(Action::Closed),
            Outcome::Overflow { reason } => Some(Action::Overflow { reason: *reason }),
            Outcome::CallbackRequested => Some(Action::CallbackRequested),
            Outcome::Emergency => Some(Action::Emergency),
            Outcome::Abandoned | Outcome::Connected { .. } => None,
        };
        if let Some(a) = action {
            self.emit(call, a);
        }
        self.record_finished(call, outcome, now);
        self.calls.remove(call);
    }

    fn end_conversation(&mut self, call: &CallId, now: Now) {
        if let Some(c) = self.calls.remove(call) {
            if let Phase::Connected { specialist } = c.phase {
                self.roster.call_ended(specialist.as_str(), now.instant);
            }
        }
    }

    /// A ring (or a whole wave) ended without an answer.
    fn after_ring(&mut self, call: &CallId, now: Now) {
        let Some(c) = self.calls.get(call) else {
            return;
        };
        if !c.legs.is_empty() {
            return;
        }
        match &c.phase {
            Phase::Queued(q) if q.expired => self.finish(
                call,
                Outcome::Overflow {
                    reason: OverflowReason::MaxWait,
                },
                now,
            ),
            // `settle` offers the next free specialist (or queues, or overflows).
            Phase::Hunting | Phase::Queued(_) | Phase::Connected { .. } => {}
        }
    }

    fn enter_queue(&mut self, call: &CallId, now: Now) {
        let st = self.settings.clone();
        let every = |d: Duration| (!d.is_zero()).then(|| later(now.instant, d));
        let Some(c) = self.calls.get_mut(call) else {
            return;
        };
        c.queued_at = Some(now.instant);
        c.phase = Phase::Queued(Queue {
            deadline: later(now.instant, c.request.max_wait),
            expired: false,
            next_announce: every(st.announce_every),
            next_offer: every(st.offer_callback_every),
            offered: st.offer_callback_on_entry,
        });
        let position = self
            .calls
            .get(call)
            .map(|c| self.position_of(c))
            .unwrap_or(1);
        self.emit(call, Action::EnterQueue);
        self.record(call, now, Step::Queued { position });
        self.emit(call, Action::AnnouncePosition { position });
        if st.offer_callback_on_entry {
            self.emit(call, Action::OfferCallback);
            self.record(call, now, Step::CallbackOffered);
        }
        self.emit(call, Action::PlayHold);
    }

    /// Fires due timers, then serves the queue. Runs after every event.
    fn settle(&mut self, now: Now) {
        self.fire_due(now);
        self.dispatch(now);
        self.roster.fire_alerts(now.instant);
        self.alerts.extend(self.roster.take_alerts());
    }

    fn fire_due(&mut self, now: Now) {
        let ids: Vec<CallId> = self.calls.keys().cloned().collect();
        for id in ids {
            // Ring timeouts.
            let expired: Vec<SpecialistId> = self
                .calls
                .get(&id)
                .map(|c| {
                    c.legs
                        .iter()
                        .filter(|l| l.deadline <= now.instant)
                        .map(|l| l.specialist.clone())
                        .collect()
                })
                .unwrap_or_default();
            if !expired.is_empty() {
                self.emit(
                    &id,
                    Action::Cancel {
                        specialists: expired.clone(),
                    },
                );
                for s in &expired {
                    self.end_leg(&id, s, RingResult::NoAnswer, now);
                }
                self.after_ring(&id, now);
            }
            self.queue_timers(&id, now);
        }
    }

    fn queue_timers(&mut self, id: &CallId, now: Now) {
        let st = self.settings.clone();
        let Some(c) = self.calls.get_mut(id) else {
            return;
        };
        let ringing = !c.legs.is_empty();
        let Phase::Queued(q) = &mut c.phase else {
            return;
        };
        c.tried
            .retain(|_, t| now.instant < later(*t, st.retry_after));
        if !q.expired && now.instant >= q.deadline {
            q.expired = true;
            q.next_announce = None;
            q.next_offer = None;
            if !ringing {
                self.finish(
                    id,
                    Outcome::Overflow {
                        reason: OverflowReason::MaxWait,
                    },
                    now,
                );
            }
            return;
        }
        if q.expired {
            return;
        }
        let mut announce = false;
        let mut offer = false;
        if q.next_announce.is_some_and(|t| now.instant >= t) {
            announce = true;
            q.next_announce = Some(later(now.instant, st.announce_every));
        }
        if q.next_offer.is_some_and(|t| now.instant >= t) {
            offer = true;
            q.next_offer = Some(later(now.instant, st.offer_callback_every));
        }
        if ringing {
            // A phone rings for this caller: no announcement now.
            return;
        }
        if offer {
            q.offered = true;
        }
        if announce {
            let position = self.calls.get(id).map(|c| self.position_of(c)).unwrap_or(1);
            self.emit(id, Action::AnnouncePosition { position });
            self.record(id, now, Step::PositionAnnounced { position });
        }
        if offer {
            self.emit(id, Action::OfferCallback);
            self.record(id, now, Step::CallbackOffered);
        }
        if announce || offer {
            self.emit(id, Action::PlayHold);
        }
    }

    /// Offers free specialists to callers: every caller without a ringing
    /// phone, queued or still in the first round, in order of arrival. A
    /// free specialist goes to the longest-waiting caller they can serve in
    /// the caller's own language; then to the longest-waiting caller who
    /// accepted another language. Then callers of the first round who found
    /// nobody enter the queue (someone is busy) or leave (nobody can come),
    /// and so do queued callers nobody can come to any more.
    fn dispatch(&mut self, now: Now) {
        let retry = self.settings.retry_after;
        loop {
            let waiting = self.waiting();
            let mut chosen: Option<(CallId, Tier, Vec<SpecialistId>)> = None;
            'tiers: for tier in [Tier::CallerLanguage, Tier::OtherLanguage] {
                for id in &waiting {
                    let Some(c) = self.calls.get(id) else {
                        continue;
                    };
                    let hunting = matches!(c.phase, Phase::Hunting);
                    // In the first round, nobody is rung twice; in the queue,
                    // not again before `retry_after`.
                    let skip = |s: &SpecialistId| {
                        c.tried
                            .get(s)
                            .is_some_and(|t| hunting || now.instant < later(*t, retry))
                    };
                    let cands = candidates(
                        &c.request,
                        &self.roster,
                        self.facts(now),
                        &skip,
                        self.rotation.get(&c.request.service),
                    );
                    let list = cands.tier(tier);
                    if !list.is_empty() {
                        chosen = Some((id.clone(), tier, c.request.wave(list)));
                        break 'tiers;
                    }
                }
            }
            match chosen {
                Some((id, tier, wave)) => self.ring(&id, tier, wave, now),
                None => break,
            }
        }

        // Callers nobody was found for.
        for id in self.waiting() {
            let Some(c) = self.calls.get(&id) else {
                continue;
            };
            let sv = survey(&c.request, &self.roster, self.facts(now));
            let hunting = matches!(c.phase, Phase::Hunting);
            if sv.with_skill > 0 && sv.transient > 0 {
                if hunting {
                    self.enter_queue(&id, now);
                }
                continue;
            }
            let outcome =
                hopeless_outcome(sv.with_skill, sv.all_off_schedule(), !c.tried.is_empty());
            self.finish(&id, outcome, now);
        }

        let queued = self
            .calls
            .values()
            .any(|c| matches!(c.phase, Phase::Queued(_)));
        self.recheck_at = (queued && !self.settings.recheck_every.is_zero())
            .then(|| later(now.instant, self.settings.recheck_every));
    }

    /// Callers without a ringing phone who still look for a specialist
    /// (first round, or queued and not past the maximum wait), by arrival.
    fn waiting(&self) -> Vec<CallId> {
        let mut v: Vec<(u64, CallId)> = self
            .calls
            .iter()
            .filter(|(_, c)| {
                c.legs.is_empty()
                    && match &c.phase {
                        Phase::Hunting => true,
                        Phase::Queued(q) => !q.expired,
                        Phase::Connected { .. } => false,
                    }
            })
            .map(|(id, c)| (c.seq, id.clone()))
            .collect();
        v.sort();
        v.into_iter().map(|(_, id)| id).collect()
    }
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
