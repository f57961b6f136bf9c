//! The live state of each specialist and the question "may this person be
//! rung now?".
//!
//! The [`Roster`] holds, per specialist: registrations of the softphone
//! (set by the driver from registrar events), calls in progress, rings in
//! progress, a pause (with reason and since when), the end of the last call
//! (for wrap-up and longest-idle), and counters for the status view. It
//! never reads the clock: every method that depends on time takes `now`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::hours::{Calendar, Schedules};
use crate::specialists::{Skill, Specialist, SpecialistId, Specialists};

/// The two clocks every routing event carries: a monotonic instant for
/// timers and waits, and the wall-clock time for schedules and the record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Now {
    /// Monotonic time (timers, waits, wrap-up).
    pub instant: Instant,
    /// Wall-clock time (schedules in Asia/Almaty, record timestamps).
    pub utc: DateTime<Utc>,
}

impl Now {
    /// Both clocks.
    pub fn new(instant: Instant, utc: DateTime<Utc>) -> Now {
        Now { instant, utc }
    }

    /// Both clocks moved on by `d` (for tests and simulations).
    pub fn after(self, d: Duration) -> Now {
        let utc = chrono::Duration::from_std(d)
            .ok()
            .and_then(|cd| self.utc.checked_add_signed(cd))
            .unwrap_or(self.utc);
        Now {
            instant: later(self.instant, d),
            utc,
        }
    }

    /// The wall-clock time as UTC milliseconds since the epoch (the call
    /// record's convention).
    pub fn utc_ms(&self) -> i64 {
        self.utc.timestamp_millis()
    }
}

/// `t + d`, or `t` itself in the (practically impossible) case that the sum
/// cannot be represented. Never panics.
pub(crate) fn later(t: Instant, d: Duration) -> Instant {
    t.checked_add(d).unwrap_or(t)
}

/// Whether a specialist may be rung now, and if not, why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Availability {
    /// Free: may be rung.
    Available,
    /// The softphone has no registration.
    Offline,
    /// On as many calls as allowed (or reported busy by the phone a moment ago).
    Busy,
    /// Being rung for a caller right now.
    Ringing,
    /// Paused by the coordinator, the specialist, or after missed calls.
    Paused,
    /// Resting after a call until this instant.
    WrapUp {
        /// When the wrap-up ends.
        until: Instant,
    },
    /// Outside the specialist's own working hours.
    OffSchedule,
}

impl Availability {
    /// The state's name in the status view: `available`, `offline`, `busy`,
    /// `ringing`, `paused`, `wrap-up`, `off-schedule`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Availability::Available => "available",
            Availability::Offline => "offline",
            Availability::Busy => "busy",
            Availability::Ringing => "ringing",
            Availability::Paused => "paused",
            Availability::WrapUp { .. } => "wrap-up",
            Availability::OffSchedule => "off-schedule",
        }
    }

    /// Free to take a call now?
    pub fn is_available(&self) -> bool {
        matches!(self, Availability::Available)
    }

    /// Busy, ringing or wrapping up: on duty and expected back soon, so a
    /// caller may wait for this person in the queue.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Availability::Busy | Availability::Ringing | Availability::WrapUp { .. }
        )
    }
}

/// A pause.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pause {
    /// Why (free text from the coordinator, or "missed 3 calls in a row").
    pub reason: String,
    /// Since when.
    pub since: Instant,
    /// Set by the router after missed calls, not by a person.
    pub automatic: bool,
}

/// How a ring of one specialist's phone ended, as far as the roster cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RingEnd {
    /// Accepted: a call starts.
    Answered,
    /// Not answered in time (or picked up by voicemail without the accept key).
    NoAnswer,
    /// Declined by the specialist.
    Declined,
    /// The phone said busy.
    Busy,
    /// The leg failed (unreachable, error response).
    Failed,
    /// Cancelled by Senim (another phone won, or the caller left).
    Cancelled,
}

#[derive(Clone, Debug)]
struct Live {
    bindings: u32,
    calls: u32,
    ringing: u32,
    paused: Option<Pause>,
    last_call_end: Option<Instant>,
    /// When the specialist was first seen (start or reload), for longest-idle
    /// before their first call.
    known_since: Instant,
    /// Reported busy by the phone: not rung again until then.
    busy_until: Option<Instant>,
    missed_in_a_row: u32,
    answered: u64,
    missed: u64,
}

impl Live {
    fn new(now: Instant) -> Live {
        Live {
            bindings: 0,
            calls: 0,
            ringing: 0,
            paused: None,
            last_call_end: None,
            known_since: now,
            busy_until: None,
            missed_in_a_row: 0,
            answered: 0,
            missed: 0,
        }
    }
}

/// What [`Roster::ring_ended`] did beyond the counters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RingEffect {
    /// Nothing more.
    None,
    /// The specialist was paused after this many missed calls in a row.
    AutoPaused {
        /// Missed calls in a row.
        missed: u32,
    },
}

/// The default for [`Roster::set_autopause_after`].
pub const DEFAULT_AUTOPAUSE_AFTER: u32 = 3;
/// The default for [`Roster::set_busy_backoff`].
pub const DEFAULT_BUSY_BACKOFF: Duration = Duration::from_secs(60);

/// Every specialist's live state.
#[derive(Clone, Debug)]
pub struct Roster {
    specialists: Specialists,
    live: BTreeMap<SpecialistId, Live>,
    autopause_after: Option<u32>,
    busy_backoff: Duration,
}

impl Roster {
    /// A roster where everybody is idle since `now`, with no softphone
    /// registered yet.
    pub fn new(specialists: Specialists, now: Instant) -> Roster {
        let live = specialists
            .iter()
            .map(|s| (s.id.clone(), Live::new(now)))
            .collect();
        Roster {
            specialists,
            live,
            autopause_after: Some(DEFAULT_AUTOPAUSE_AFTER),
            busy_backoff: DEFAULT_BUSY_BACKOFF,
        }
    }

    /// Pause a specialist automatically after this many calls in a row
    /// rang out, were declined or failed (`None`: never). Default 3.
    pub fn set_autopause_after(&mut self, n: Option<u32>) {
        self.autopause_after = n.filter(|&n| n > 0);
    }

    /// How long a phone that answered "busy" is left alone. Default 60 s.
    pub fn set_busy_backoff(&mut self, d: Duration) {
        self.busy_backoff = d;
    }

    /// Replaces the configuration (a reload): the live state of specialists
    /// that remain is kept; new ones start idle at `now`; removed ones are
    /// forgotten (calls they are on continue in the driver).
    pub fn replace(&mut self, specialists: Specialists, now: Instant) {
        let mut live = BTreeMap::new();
        for s in specialists.iter() {
            let l = self.live.remove(&s.id).unwrap_or_else(|| Live::new(now));
            live.insert(s.id.clone(), l);
        }
        self.live = live;
        self.specialists = specialists;
    }

    /// The configuration.
    pub fn specialists(&self) -> &Specialists {
        &self.specialists
    }

    /// One specialist's configuration.
    pub fn get(&self, id: &str) -> Option<&Specialist> {
        self.specialists.get(id)
    }

    /// Is the specialist within their own working hours at `utc`? Without a
    /// schedule: yes. With an unknown schedule id: no (refused at load).
    pub fn on_schedule(
        &self,
        id: &str,
        utc: DateTime<Utc>,
        calendar: &Calendar,
        schedules: &Schedules,
    ) -> bool {
        let Some(s) = self.specialists.get(id) else {
            return false;
        };
        match &s.schedule {
            None => true,
            Some(r) => r
                .resolve(schedules)
                .is_some_and(|ws| calendar.is_open_as_configured(ws, utc)),
        }
    }

    /// May this specialist be rung now? `None` for an unknown id.
    ///
    /// The order of the checks gives the most useful answer for the status
    /// view: paused, off schedule, offline, ringing, busy, wrap-up.
    pub fn is_available(
        &self,
        id: &str,
        now: Instant,
        utc: DateTime<Utc>,
        calendar: &Calendar,
        schedules: &Schedules,
    ) -> Option<Availability> {
        let s = self.specialists.get(id)?;
        let l = self.live.get(id)?;
        if l.paused.is_some() {
            return Some(Availability::Paused);
        }
        if !self.on_schedule(id, utc, calendar, schedules) {
            return Some(Availability::OffSchedule);
        }
        if s.contact.needs_registration() && l.bindings == 0 {
            return Some(Availability::Offline);
        }
        if l.ringing > 0 {
            return Some(Availability::Ringing);
        }
        if l.calls >= s.max_calls || l.busy_until.is_some_and(|t| now < t) {
            return Some(Availability::Busy);
        }
        if let Some(end) = l.last_call_end {
            let until = later(end, s.wrap_up);
            if now < until {
                return Some(Availability::WrapUp { until });
            }
        }
        Some(Availability::Available)
    }

    /// The softphone of `id` now has `bindings` registrations (0: offline).
    /// Returns false for an unknown id.
    pub fn registered(&mut self, id: &str, bindings: u32) -> bool {
        match self.live.get_mut(id) {
            Some(l) => {
                l.bindings = bindings;
                true
            }
            None => false,
        }
    }

    /// Pauses or resumes a specialist. Resuming also clears the count of
    /// missed calls. Returns false for an unknown id.
    pub fn set_paused(&mut self, id: &str, paused: bool, reason: &str, now: Instant) -> bool {
        let Some(l) = self.live.get_mut(id) else {
            return false;
        };
        if paused {
            if l.paused.is_none() {
                l.paused = Some(Pause {
                    reason: reason.trim().to_string(),
                    since: now,
                    automatic: false,
                });
            } else if let Some(p) = l.paused.as_mut() {
                p.reason = reason.trim().to_string();
                p.automatic = false;
            }
        } else {
            l.paused = None;
            l.missed_in_a_row = 0;
        }
        true
    }

    /// The pause of `id`, if paused.
    pub fn pause(&self, id: &str) -> Option<&Pause> {
        self.live.get(id).and_then(|l| l.paused.as_ref())
    }

    /// A ring of `id`'s phone started: the specialist counts as ringing and
    /// is offered to nobody else.
    pub fn ring_started(&mut self, id: &str) {
        if let Some(l) = self.live.get_mut(id) {
            l.ringing = l.ringing.saturating_add(1);
        }
    }

    /// A ring of `id`'s phone ended. `Answered` also starts a call
    /// ([`Roster::call_started`]). No answer, decline and failure count as
    /// missed; enough of them in a row pause the specialist automatically.
    /// Busy leaves the phone alone for the busy back-off.
    pub fn ring_ended(&mut self, id: &str, end: RingEnd, now: Instant) -> RingEffect {
        let backoff = self.busy_backoff;
        let autopause = self.autopause_after;
        let Some(l) = self.live.get_mut(id) else {
            return RingEffect::None;
        };
        l.ringing = l.ringing.saturating_sub(1);
        match end {
            RingEnd::Answered => {
                l.missed_in_a_row = 0;
                l.answered = l.answered.saturating_add(1);
                l.calls = l.calls.saturating_add(1);
                RingEffect::None
            }
            RingEnd::Cancelled => RingEffect::None,
            RingEnd::Busy => {
                l.busy_until = Some(later(now, backoff));
                RingEffect::None
            }
            RingEnd::NoAnswer | RingEnd::Declined | RingEnd::Failed => {
                l.missed = l.missed.saturating_add(1);
                l.missed_in_a_row = l.missed_in_a_row.saturating_add(1);
                match autopause {
                    Some(n) if l.missed_in_a_row >= n && l.paused.is_none() => {
                        l.paused = Some(Pause {
                            reason: format!("missed {} calls in a row", l.missed_in_a_row),
                            since: now,
                            automatic: true,
                        });
                        RingEffect::AutoPaused {
                            missed: l.missed_in_a_row,
                        }
                    }
                    _ => RingEffect::None,
                }
            }
        }
    }

    /// A call of `id` started outside the router (e.g. a callback the
    /// specialist makes through the centre).
    pub fn call_started(&mut self, id: &str, _now: Instant) -> bool {
        match self.live.get_mut(id) {
            Some(l) => {
                l.calls = l.calls.saturating_add(1);
                true
            }
            None => false,
        }
    }

    /// A call of `id` ended: the wrap-up starts now, and `now` is the start
    /// of the specialist's idle time.
    pub fn call_ended(&mut self, id: &str, now: Instant) -> bool {
        match self.live.get_mut(id) {
            Some(l) => {
                l.calls = l.calls.saturating_sub(1);
                l.last_call_end = Some(now);
                true
            }
            None => false,
        }
    }

    /// Since when `id` has been idle: the end of the last call, or when the
    /// roster first saw them if they have had no call since.
    pub fn idle_since(&self, id: &str) -> Option<Instant> {
        self.live
            .get(id)
            .map(|l| l.last_call_end.unwrap_or(l.known_since))
    }

    /// Calls in progress for `id`.
    pub fn calls(&self, id: &str) -> u32 {
        self.live.get(id).map(|l| l.calls).unwrap_or(0)
    }

    /// Rings in progress for `id`.
    pub fn ringing(&self, id: &str) -> u32 {
        self.live.get(id).map(|l| l.ringing).unwrap_or(0)
    }

    /// Registrations of `id`'s softphone.
    pub fn bindings(&self, id: &str) -> u32 {
        self.live.get(id).map(|l| l.bindings).unwrap_or(0)
    }

    /// The instants after `now` at which someone's wrap-up or busy back-off
    /// ends (when the router should look at its queue again).
    pub fn wake_times(&self, now: Instant) -> impl Iterator<Item = Instant> + '_ {
        self.live.iter().flat_map(move |(id, l)| {
            let wrap = self
                .specialists
                .get(id.as_str())
                .and_then(|s| l.last_call_end.map(|e| later(e, s.wrap_up)));
            [wrap, l.busy_until]
                .into_iter()
                .flatten()
                .filter(move |t| *t > now)
        })
    }

    /// The status of every specialist, in configuration order, for the HTTP
    /// status view. Contact addresses and passwords are left out.
    pub fn snapshot(
        &self,
        now: Instant,
        utc: DateTime<Utc>,
        calendar: &Calendar,
        schedules: &Schedules,
    ) -> RosterSnapshot {
        let specialists = self
            .specialists
            .iter()
            .filter_map(|s| {
                let l = self.live.get(&s.id)?;
                let state = self.is_available(s.id.as_str(), now, utc, calendar, schedules)?;
                let idle = l.calls == 0 && l.ringing == 0;
                Some(SpecialistStatus {
                    id: s.id.clone(),
                    name: s.name.clone(),
                    skills: s.skills.iter().copied().collect(),
                    languages: s.languages.clone(),
                    contact: s.contact.kind(),
                    state: state.as_str(),
                    on_schedule: self.on_schedule(s.id.as_str(), utc, calendar, schedules),
                    registrations: l.bindings,
                    calls: l.calls,
                    max_calls: s.max_calls,
                    ringing: l.ringing > 0,
                    paused: l.paused.as_ref().map(|p| PauseStatus {
                        reason: p.reason.clone(),
                        for_secs: now.saturating_duration_since(p.since).as_secs(),
                        automatic: p.automatic,
                    }),
                    wrap_up_left_secs: match state {
                        Availability::WrapUp { until } => {
                            Some(until.saturating_duration_since(now).as_secs())
                        }
                        _ => None,
                    },
                    idle_for_secs: idle.then(|| {
                        now.saturating_duration_since(l.last_call_end.unwrap_or(l.known_since))
                            .as_secs()
                    }),
                    answered: l.answered,
                    missed: l.missed,
                    missed_in_a_row: l.missed_in_a_row,
                })
            })
            .collect();
        RosterSnapshot { specialists }
    }

    /// Ids of everyone with `skill`, in configuration order.
    pub fn with_skill(&self, skill: Skill) -> impl Iterator<Item = &SpecialistId> {
        self.specialists.with_skill(skill).map(|s| &s.id)
    }
}

/// The status view of all specialists.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RosterSnapshot {
    /// In configuration order.
    pub specialists: Vec<SpecialistStatus>,
}

/// One specialist in the status view.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SpecialistStatus {
    /// The id.
    pub id: SpecialistId,
    /// The name.
    pub name: String,
    /// Skills.
    pub skills: Vec<Skill>,
    /// Languages.
    pub languages: Vec<String>,
    /// `sip-uri`, `softphone` or `number` (never the address itself).
    pub contact: &'static str,
    /// `available`, `offline`, `busy`, `ringing`, `paused`, `wrap-up`, `off-schedule`.
    pub state: &'static str,
    /// Within their working hours?
    pub on_schedule: bool,
    /// Softphone registrations.
    pub registrations: u32,
    /// Calls in progress.
    pub calls: u32,
    /// Calls at a time allowed.
    pub max_calls: u32,
    /// Being rung now?
    pub ringing: bool,
    /// The pause, if paused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paused: Option<PauseStatus>,
    /// Seconds of wrap-up left.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wrap_up_left_secs: Option<u64>,
    /// Seconds since the last call ended (or since start), when not on a call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idle_for_secs: Option<u64>,
    /// Rings answered since start.
    pub answered: u64,
    /// Rings missed (no answer, declined, failed) since start.
    pub missed: u64,
    /// Missed in a row (reset by an answer or a resume).
    pub missed_in_a_row: u32,
}

/// A pause in the status view.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PauseStatus {
    /// Why.
    pub reason: String,
    /// For how long so far, in seconds.
    pub for_secs: u64,
    /// Set by the router after missed calls.
    pub automatic: bool,
}
