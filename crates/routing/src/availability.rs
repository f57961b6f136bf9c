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

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use crate::hours::{Calendar, Schedules};
use crate::limits::{AlertKind, Limits, WrapUpPolicy};
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
    /// On an automatic break after crisis or long calls in a row, until
    /// this instant (it ends by itself).
    Break {
        /// When the break ends.
        until: Instant,
    },
    /// Reached the day's cap of answered calls: not rung again today.
    DailyCap,
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
            Availability::Break { .. } => "break",
            Availability::DailyCap => "daily-cap",
        }
    }

    /// Free to take a call now?
    pub fn is_available(&self) -> bool {
        matches!(self, Availability::Available)
    }

    /// Busy, ringing or wrapping up: on duty and expected back soon, so a
    /// caller may wait for this person in the queue. A break or the day's
    /// cap is not: nobody waits in the queue for a specialist who must
    /// rest (the route's overflow takes the caller instead).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Availability::Busy | Availability::Ringing | Availability::WrapUp { .. }
        )
    }
}

/// An alert about one specialist (never about a caller).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Alert {
    /// Whom.
    pub specialist: SpecialistId,
    /// What.
    pub kind: AlertKind,
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
    /// The wrap-up kind given for the last call, once coded.
    last_kind: Option<String>,
    /// Crisis or long calls in a row (towards the automatic break).
    crisis_in_a_row: u32,
    /// The last call already counts in `crisis_in_a_row` (it was long).
    last_counted: bool,
    /// The wrap-up menu may still be on the phone: not rung before then
    /// unless the code (or word that none came) arrives first.
    menu_until: Option<Instant>,
    /// On an automatic break until then.
    break_until: Option<Instant>,
    /// The local day `today` counts, and the calls answered on it.
    day: Option<NaiveDate>,
    today: u32,
    /// Since when the specialist has been on a call (the first of them).
    call_since: Option<Instant>,
    /// The long-call alert for the call in progress was raised.
    long_alerted: bool,
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
            last_kind: None,
            crisis_in_a_row: 0,
            last_counted: false,
            menu_until: None,
            break_until: None,
            day: None,
            today: 0,
            call_since: None,
            long_alerted: false,
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
    policy: WrapUpPolicy,
    alerts: Vec<Alert>,
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
            policy: WrapUpPolicy::default(),
            alerts: Vec::new(),
        }
    }

    /// The wrap-up kinds and the centre's limits (default:
    /// [`WrapUpPolicy::default`]). A wrap-up or break under way keeps its end.
    pub fn set_policy(&mut self, policy: WrapUpPolicy) {
        self.policy = policy;
    }

    /// The wrap-up kinds and the centre's limits.
    pub fn policy(&self) -> &WrapUpPolicy {
        &self.policy
    }

    /// The limits of `id`: the centre's with the specialist's own changes.
    pub fn limits(&self, id: &str) -> Option<Limits> {
        self.specialists
            .get(id)
            .map(|s| s.limits.over(&self.policy.limits))
    }

    /// Alerts raised since the last call, oldest first.
    pub fn take_alerts(&mut self) -> Vec<Alert> {
        std::mem::take(&mut self.alerts)
    }

    /// The rest after the last call of `s`: the coded kind's time (the
    /// specialist's own for that kind, else the kind's), else `wrap_up`.
    fn wrap_up_of(&self, s: &Specialist, l: &Live) -> Duration {
        l.last_kind
            .as_deref()
            .and_then(|k| {
                s.limits
                    .wrap_up_by_kind
                    .get(k)
                    .or_else(|| self.policy.limits.wrap_up_by_kind.get(k))
                    .copied()
                    .or_else(|| self.policy.kind(k).and_then(|kind| kind.wrap_up))
            })
            .unwrap_or(s.wrap_up)
    }

    /// The local (Asia/Almaty) day of `utc`.
    fn day_of(calendar: &Calendar, utc: DateTime<Utc>) -> NaiveDate {
        calendar.local_time(utc).date_naive()
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
        if let Some(until) = l.break_until.filter(|t| now < *t) {
            return Some(Availability::Break { until });
        }
        let cap = s
            .limits
            .daily_calls
            .unwrap_or(self.policy.limits.daily_calls);
        if cap > 0 && l.today >= cap && l.day == Some(Roster::day_of(calendar, utc)) {
            return Some(Availability::DailyCap);
        }
        if let Some(end) = l.last_call_end {
            let until = later(end, self.wrap_up_of(s, l));
            let until = l.menu_until.map_or(until, |m| m.max(until));
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
            // A resume also ends an automatic break early: the coordinator
            // decides.
            l.paused = None;
            l.missed_in_a_row = 0;
            l.break_until = None;
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
                if l.calls == 0 {
                    l.call_since = Some(now);
                    l.long_alerted = false;
                }
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

    /// Another instance sharing the database let `id` go: the busy
    /// back-off (which a claim refused by that instance started) ends.
    /// Returns false for an unknown id.
    pub fn freed_elsewhere(&mut self, id: &str) -> bool {
        match self.live.get_mut(id) {
            Some(l) => {
                l.busy_until = None;
                true
            }
            None => false,
        }
    }

    /// Is `id` engaged by this router: rung, on a call, or in the wrap-up
    /// after one (the time or the menu)? Another instance sharing the
    /// database must not ring them meanwhile.
    pub fn engaged(&self, id: &str, now: Instant) -> bool {
        let (Some(s), Some(l)) = (self.specialists.get(id), self.live.get(id)) else {
            return false;
        };
        if l.ringing > 0 || l.calls > 0 {
            return true;
        }
        l.last_call_end.is_some_and(|end| {
            let until = later(end, self.wrap_up_of(s, l));
            now < l.menu_until.map_or(until, |m| m.max(until))
        })
    }

    /// A call of `id` started outside the router (e.g. a callback the
    /// specialist makes through the centre).
    pub fn call_started(&mut self, id: &str, now: Instant) -> bool {
        match self.live.get_mut(id) {
            Some(l) => {
                if l.calls == 0 {
                    l.call_since = Some(now);
                    l.long_alerted = false;
                }
                l.calls = l.calls.saturating_add(1);
                true
            }
            None => false,
        }
    }

    /// A routed call of `id` was answered on the local day `day` (Asia/Almaty):
    /// it counts towards the daily cap; reaching the cap raises an alert.
    pub fn answered_on(&mut self, id: &str, day: NaiveDate) {
        let Some(cap) = self.limits(id).map(|l| l.daily_calls) else {
            return;
        };
        let Some(l) = self.live.get_mut(id) else {
            return;
        };
        if l.day != Some(day) {
            l.day = Some(day);
            l.today = 0;
        }
        l.today = l.today.saturating_add(1);
        if cap > 0 && l.today == cap {
            self.alerts.push(Alert {
                specialist: SpecialistId::from(id),
                kind: AlertKind::DailyCap,
            });
        }
    }

    /// A call of `id` ended: the wrap-up starts now (the specialist's
    /// `wrap_up` until a wrap-up code says the kind), and `now` is the start
    /// of the specialist's idle time. A call of `long_call` or more counts
    /// towards the crisis cap at once.
    pub fn call_ended(&mut self, id: &str, now: Instant) -> bool {
        let Some(limits) = self.limits(id) else {
            return false;
        };
        let Some(l) = self.live.get_mut(id) else {
            return false;
        };
        l.calls = l.calls.saturating_sub(1);
        l.last_call_end = Some(now);
        l.last_kind = None;
        let hold = self.policy.menu_hold;
        l.menu_until = (!hold.is_zero()).then(|| later(now, hold));
        let long = !limits.long_call.is_zero()
            && l.call_since
                .is_some_and(|t| now.saturating_duration_since(t) >= limits.long_call);
        if l.calls == 0 {
            l.call_since = None;
            l.long_alerted = false;
        }
        l.last_counted = false;
        if long {
            self.count_crisis(id, &limits, now);
        }
        true
    }

    /// The wrap-up menu of `id`'s last call is over without a code: the
    /// specialist's own `wrap_up` applies. False for an unknown id.
    pub fn wrap_up_menu_over(&mut self, id: &str) -> bool {
        match self.live.get_mut(id) {
            Some(l) => {
                l.menu_until = None;
                true
            }
            None => false,
        }
    }

    /// The specialist gave the wrap-up code `kind` for their last call:
    /// its rest applies from the end of that call, and a crisis kind counts
    /// towards the crisis cap. False for an unknown specialist or kind.
    pub fn wrap_up_coded(&mut self, id: &str, kind: &str, now: Instant) -> bool {
        let Some(crisis) = self.policy.kind(kind).map(|k| k.crisis) else {
            return false;
        };
        let Some(limits) = self.limits(id) else {
            return false;
        };
        let Some(l) = self.live.get_mut(id) else {
            return false;
        };
        l.last_kind = Some(kind.to_string());
        l.menu_until = None;
        if l.last_counted {
            return true;
        }
        if crisis {
            let end = l.last_call_end.unwrap_or(now);
            self.count_crisis(id, &limits, end);
        } else {
            // Neither a crisis nor long: the run of hard calls is over.
            l.crisis_in_a_row = 0;
        }
        true
    }

    /// One more crisis or long call in a row for `id`, whose last call
    /// ended at `end`: at the cap, an automatic break from then.
    fn count_crisis(&mut self, id: &str, limits: &Limits, end: Instant) {
        let Some(l) = self.live.get_mut(id) else {
            return;
        };
        l.last_counted = true;
        l.crisis_in_a_row = l.crisis_in_a_row.saturating_add(1);
        if limits.crisis_in_a_row > 0 && l.crisis_in_a_row >= limits.crisis_in_a_row {
            l.crisis_in_a_row = 0;
            l.break_until = Some(later(end, limits.break_for));
            self.alerts.push(Alert {
                specialist: SpecialistId::from(id),
                kind: AlertKind::CrisisCap,
            });
        }
    }

    /// The instants after `now` at which a call in progress becomes long
    /// enough for its alert.
    pub fn alert_times(&self, now: Instant) -> impl Iterator<Item = Instant> + '_ {
        self.live.iter().filter_map(move |(id, l)| {
            if l.long_alerted {
                return None;
            }
            let since = l.call_since?;
            let after = self.limits(id.as_str())?.alert_after;
            let at = later(since, after);
            (!after.is_zero() && at > now).then_some(at)
        })
    }

    /// Raise the long-call alerts due at `now` (once per call).
    pub fn fire_alerts(&mut self, now: Instant) {
        let due: Vec<SpecialistId> = self
            .live
            .iter()
            .filter(|(_, l)| !l.long_alerted)
            .filter_map(|(id, l)| {
                let since = l.call_since?;
                let after = self.limits(id.as_str())?.alert_after;
                (!after.is_zero() && now >= later(since, after)).then(|| id.clone())
            })
            .collect();
        for id in due {
            if let Some(l) = self.live.get_mut(&id) {
                l.long_alerted = true;
            }
            self.alerts.push(Alert {
                specialist: id,
                kind: AlertKind::LongCall,
            });
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
                .and_then(|s| l.last_call_end.map(|e| later(e, self.wrap_up_of(s, l))));
            [wrap, l.busy_until, l.break_until, l.menu_until]
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
                    break_left_secs: l
                        .break_until
                        .filter(|t| now < *t)
                        .map(|t| t.saturating_duration_since(now).as_secs()),
                    calls_today: if l.day == Some(Roster::day_of(calendar, utc)) {
                        l.today
                    } else {
                        0
                    },
                    crisis_in_a_row: l.crisis_in_a_row,
                    last_wrap_up: l.last_kind.clone(),
                    alerts: self.alerts_now(s, l, now, utc, calendar),
                })
            })
            .collect();
        RosterSnapshot { specialists }
    }

    /// The conditions the board shows as alerts for `s` now: a call longer
    /// than `alert_after`, an automatic break, the day's cap reached.
    fn alerts_now(
        &self,
        s: &Specialist,
        l: &Live,
        now: Instant,
        utc: DateTime<Utc>,
        calendar: &Calendar,
    ) -> Vec<AlertKind> {
        let limits = s.limits.over(&self.policy.limits);
        let mut out = Vec::new();
        if let Some(since) = l.call_since {
            if !limits.alert_after.is_zero() && now >= later(since, limits.alert_after) {
                out.push(AlertKind::LongCall);
            }
        }
        if l.break_until.is_some_and(|t| now < t) {
            out.push(AlertKind::CrisisCap);
        }
        if limits.daily_calls > 0
            && l.today >= limits.daily_calls
            && l.day == Some(Roster::day_of(calendar, utc))
        {
            out.push(AlertKind::DailyCap);
        }
        out
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
    /// Seconds left of an automatic break.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub break_left_secs: Option<u64>,
    /// Calls answered today (Asia/Almaty).
    pub calls_today: u32,
    /// Crisis or long calls in a row since the last break.
    pub crisis_in_a_row: u32,
    /// The wrap-up kind given for the last call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_wrap_up: Option<String>,
    /// What needs the coordinator's eye now: `long-call`, `crisis-cap`
    /// (on an automatic break), `daily-cap`.
    pub alerts: Vec<AlertKind>,
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
