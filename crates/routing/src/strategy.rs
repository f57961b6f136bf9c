//! Who to ring, in which order: pure functions over the [`Roster`].
//!
//! Candidates are the *available* specialists with the requested skill, in
//! two tiers: those who speak the caller's language first, then (only when
//! the route allows it) those who do not. Within a tier the order follows
//! the route's [`Strategy`]:
//!
//! * `longest-idle` (the default): the one idle longest first (ties: config order);
//! * `sequential`: configuration order;
//! * `round-robin`: configuration order, starting after the specialist rung
//!   last for this service (the router keeps that per service);
//! * `ring-all`: the whole tier at once, as one wave.

use std::fmt;
use std::time::{Duration, Instant};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::availability::{Availability, Now, Roster};
use crate::hours::{Calendar, Schedules};
use crate::specialists::{Skill, Specialist, SpecialistId};

/// The default ring timeout per specialist.
pub const DEFAULT_RING_TIMEOUT: Duration = Duration::from_secs(20);
/// The default longest wait in the queue.
pub const DEFAULT_MAX_WAIT: Duration = Duration::from_secs(180);

/// How a route rings its specialists.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Strategy {
    /// The specialist idle longest first (`longest-idle`).
    #[default]
    LongestIdle,
    /// Everyone at once; the first to accept takes the call (`ring-all`).
    RingAll,
    /// In configuration order (`sequential`).
    Sequential,
    /// In configuration order, starting after the one rung last (`round-robin`).
    RoundRobin,
}

impl Strategy {
    /// The name used in the dialplan.
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::LongestIdle => "longest-idle",
            Strategy::RingAll => "ring-all",
            Strategy::Sequential => "sequential",
            Strategy::RoundRobin => "round-robin",
        }
    }

    /// Parses `longest-idle`, `ring-all`, `sequential` or `round-robin`.
    pub fn parse(s: &str) -> Option<Strategy> {
        Some(match s.trim() {
            "longest-idle" => Strategy::LongestIdle,
            "ring-all" => Strategy::RingAll,
            "sequential" => Strategy::Sequential,
            "round-robin" => Strategy::RoundRobin,
            _ => return None,
        })
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Strategy {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Strategy {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Strategy::parse(&s).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "unknown strategy `{s}` (longest-idle, ring-all, sequential or round-robin)"
            ))
        })
    }
}

/// What a caller asks routing for (from the dialplan's `<route>`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteRequest {
    /// The service.
    pub service: Skill,
    /// The caller's language (`kk`, `ru`).
    pub caller_language: String,
    /// May a specialist who does not speak the caller's language take the
    /// call (after all who do)?
    pub other_language_allowed: bool,
    /// How to ring.
    pub strategy: Strategy,
    /// How long one ring lasts before it counts as no answer.
    pub ring_timeout: Duration,
    /// The longest wait in the queue before overflow.
    pub max_wait: Duration,
    /// A schedule id that must be open for the route (e.g. `centre`);
    /// `None`: the dialplan checks hours itself.
    pub schedule: Option<String>,
    /// A specialist to ring first, alone, when they are available and may
    /// take the call (a remembered caller's last specialist); otherwise the
    /// strategy goes on at once, as if none were named.
    pub preferred: Option<SpecialistId>,
}

impl RouteRequest {
    /// A request with the defaults: longest-idle, caller's language only,
    /// 20 s ring timeout, 3 min maximum wait, no schedule check.
    pub fn new(service: Skill, caller_language: &str) -> RouteRequest {
        RouteRequest {
            service,
            caller_language: caller_language.to_string(),
            other_language_allowed: false,
            strategy: Strategy::default(),
            ring_timeout: DEFAULT_RING_TIMEOUT,
            max_wait: DEFAULT_MAX_WAIT,
            schedule: None,
            preferred: None,
        }
    }

    /// Ring this specialist first when they are available.
    pub fn prefer(mut self, id: SpecialistId) -> RouteRequest {
        self.preferred = Some(id);
        self
    }

    /// The ring for an ordered, non-empty list of this request's
    /// candidates: the preferred specialist alone when they head it (see
    /// [`candidates`]), else as the strategy rings ([`wave_of`]).
    pub fn wave(&self, list: &[SpecialistId]) -> Vec<SpecialistId> {
        match (&self.preferred, list.first()) {
            (Some(p), Some(first)) if p == first => vec![p.clone()],
            _ => wave_of(self.strategy, list),
        }
    }

    /// With this strategy.
    pub fn strategy(mut self, s: Strategy) -> RouteRequest {
        self.strategy = s;
        self
    }

    /// Allow (or not) specialists who do not speak the caller's language.
    pub fn other_language(mut self, allowed: bool) -> RouteRequest {
        self.other_language_allowed = allowed;
        self
    }

    /// With this ring timeout.
    pub fn ring_timeout(mut self, d: Duration) -> RouteRequest {
        self.ring_timeout = d;
        self
    }

    /// With this maximum wait.
    pub fn max_wait(mut self, d: Duration) -> RouteRequest {
        self.max_wait = d;
        self
    }

    /// Closed unless this schedule is open.
    pub fn schedule(mut self, id: &str) -> RouteRequest {
        self.schedule = Some(id.to_string());
        self
    }

    /// Which tier `s` belongs to for this request, or `None` when they may
    /// not take the call at all (no skill, or another language not allowed).
    pub fn tier_of(&self, s: &Specialist) -> Option<Tier> {
        if !s.has_skill(self.service) {
            None
        } else if s.speaks(&self.caller_language) {
            Some(Tier::CallerLanguage)
        } else if self.other_language_allowed {
            Some(Tier::OtherLanguage)
        } else {
            None
        }
    }
}

/// The language tier of a candidate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Tier {
    /// Speaks the caller's language.
    CallerLanguage,
    /// Does not; allowed by the route.
    OtherLanguage,
}

impl Tier {
    /// `caller-language` or `other-language`.
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::CallerLanguage => "caller-language",
            Tier::OtherLanguage => "other-language",
        }
    }
}

impl Serialize for Tier {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Available candidates, ordered, in their two tiers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Candidates {
    /// Available and speaking the caller's language, in strategy order.
    pub caller_language: Vec<SpecialistId>,
    /// Available, not speaking it, allowed by the route, in strategy order.
    pub other_language: Vec<SpecialistId>,
}

impl Candidates {
    /// No candidate at all?
    pub fn is_empty(&self) -> bool {
        self.caller_language.is_empty() && self.other_language.is_empty()
    }

    /// One list: the caller's language first.
    pub fn all(&self) -> Vec<SpecialistId> {
        self.caller_language
            .iter()
            .chain(self.other_language.iter())
            .cloned()
            .collect()
    }

    /// The tier's list.
    pub fn tier(&self, t: Tier) -> &[SpecialistId] {
        match t {
            Tier::CallerLanguage => &self.caller_language,
            Tier::OtherLanguage => &self.other_language,
        }
    }

    /// The next ring per strategy: for `ring-all` the whole first non-empty
    /// tier, otherwise the first candidate. `None` when empty.
    pub fn next_wave(&self, strategy: Strategy) -> Option<(Tier, Vec<SpecialistId>)> {
        for t in [Tier::CallerLanguage, Tier::OtherLanguage] {
            let list = self.tier(t);
            if !list.is_empty() {
                return Some((t, wave_of(strategy, list)));
            }
        }
        None
    }
}

/// The ring a strategy makes from an ordered, non-empty list: all of it for
/// `ring-all`, the first otherwise.
pub fn wave_of(strategy: Strategy, list: &[SpecialistId]) -> Vec<SpecialistId> {
    match strategy {
        Strategy::RingAll => list.to_vec(),
        _ => list.iter().take(1).cloned().collect(),
    }
}

/// The facts candidate selection needs besides the roster.
#[derive(Clone, Copy)]
pub struct Facts<'a> {
    /// The two clocks.
    pub now: Now,
    /// Asia/Almaty and the holidays.
    pub calendar: &'a Calendar,
    /// Named schedules.
    pub schedules: &'a Schedules,
}

/// The available candidates for `request`, ordered by its strategy; the
/// request's preferred specialist, when available, heads their tier.
///
/// `skip` leaves out specialists this call should not ring now (already
/// rung in this round). `rotation` is the specialist rung last for this
/// service (round-robin starts after them).
pub fn candidates(
    request: &RouteRequest,
    roster: &Roster,
    facts: Facts<'_>,
    skip: &dyn Fn(&SpecialistId) -> bool,
    rotation: Option<&SpecialistId>,
) -> Candidates {
    let n = roster.specialists().len().max(1);
    let after = rotation.and_then(|id| roster.specialists().position(id.as_str()));
    let mut tiers: [Vec<(usize, Instant, SpecialistId)>; 2] = [Vec::new(), Vec::new()];
    for (pos, s) in roster.specialists().iter().enumerate() {
        let Some(tier) = request.tier_of(s) else {
            continue;
        };
        if skip(&s.id) {
            continue;
        }
        let avail = roster.is_available(
            s.id.as_str(),
            facts.now.instant,
            facts.now.utc,
            facts.calendar,
            facts.schedules,
        );
        if avail != Some(Availability::Available) {
            continue;
        }
        let idle = roster
            .idle_since(s.id.as_str())
            .unwrap_or(facts.now.instant);
        let i = match tier {
            Tier::CallerLanguage => 0,
            Tier::OtherLanguage => 1,
        };
        if let Some(v) = tiers.get_mut(i) {
            v.push((pos, idle, s.id.clone()));
        }
    }
    let [mut first, mut other] = tiers;
    order(request.strategy, &mut first, after, n);
    order(request.strategy, &mut other, after, n);
    if let Some(p) = &request.preferred {
        for list in [&mut first, &mut other] {
            if let Some(i) = list.iter().position(|e| &e.2 == p) {
                let e = list.remove(i);
                list.insert(0, e);
            }
        }
    }
    Candidates {
        caller_language: first.into_iter().map(|(_, _, id)| id).collect(),
        other_language: other.into_iter().map(|(_, _, id)| id).collect(),
    }
}

/// Orders `(config position, idle since, id)` entries in place.
///
/// `rotation_after` is the configuration position of the specialist rung
/// last (round-robin), `n` the number of specialists configured.
pub fn order(
    strategy: Strategy,
    list: &mut [(usize, Instant, SpecialistId)],
    rotation_after: Option<usize>,
    n: usize,
) {
    match strategy {
        Strategy::LongestIdle => list.sort_by(|a, b| a.1.cmp(&b.1).then(a.0.cmp(&b.0))),
        Strategy::Sequential | Strategy::RingAll => list.sort_by_key(|e| e.0),
        Strategy::RoundRobin => {
            let n = n.max(1);
            let start = rotation_after.map(|p| (p + 1) % n).unwrap_or(0);
            list.sort_by_key(|e| (e.0 + n - start % n) % n);
        }
    }
}

/// How the specialists who could take a request stand right now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Survey {
    /// With the skill (and an allowed language), whatever their state.
    pub with_skill: usize,
    /// Available now.
    pub available: usize,
    /// Busy, ringing or wrapping up: expected back soon.
    pub transient: usize,
    /// Outside their own working hours.
    pub off_schedule: usize,
    /// Offline or paused.
    pub away: usize,
}

impl Survey {
    /// Nobody with the skill is within their hours (and some exist).
    pub fn all_off_schedule(&self) -> bool {
        self.with_skill > 0 && self.off_schedule == self.with_skill
    }
}

/// Counts the specialists who could take `request`, by state.
pub fn survey(request: &RouteRequest, roster: &Roster, facts: Facts<'_>) -> Survey {
    let mut out = Survey::default();
    for s in roster.specialists().iter() {
        if request.tier_of(s).is_none() {
            continue;
        }
        out.with_skill += 1;
        match roster.is_available(
            s.id.as_str(),
            facts.now.instant,
            facts.now.utc,
            facts.calendar,
            facts.schedules,
        ) {
            Some(Availability::Available) => out.available += 1,
            Some(a) if a.is_transient() => out.transient += 1,
            Some(Availability::OffSchedule) => out.off_schedule += 1,
            _ => out.away += 1,
        }
    }
    out
}
