//! The router, branch by branch, with a fake clock.
#![allow(clippy::disallowed_methods)] // a test needs one base instant

use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use senim_routing::availability::{Availability, Now};
use senim_routing::hours::{Calendar, Holidays, Schedules, WeeklySchedule};
use senim_routing::router::{
    Action, CallId, LegResult, Outcome, Output, OverflowReason, RingResult, Router, RouterError,
    RouterSettings, Step,
};
use senim_routing::specialists::{
    ScheduleRef, Skill, Specialist, SpecialistContact, SpecialistId, Specialists,
};
use senim_routing::strategy::{RouteRequest, Strategy, Tier};

use Skill::{Legal, Mediation, Psychology};

// ---------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------

/// Wednesday 25 November 2026, 11:00 in Oskemen (UTC+5): a working day.
fn base_utc() -> DateTime<Utc> {
    chrono_tz::Asia::Almaty
        .with_ymd_and_hms(2026, 11, 25, 11, 0, 0)
        .single()
        .unwrap()
        .with_timezone(&Utc)
}

fn spec(id: &str, skills: &[Skill], langs: &[&str]) -> Specialist {
    let mut s = Specialist::new(
        id,
        id,
        skills,
        langs,
        SpecialistContact::Uri(format!("sip:{id}@127.0.0.1:26001")),
    );
    s.wrap_up = Duration::ZERO;
    s
}

fn wrap(mut s: Specialist, secs: u64) -> Specialist {
    s.wrap_up = Duration::from_secs(secs);
    s
}

struct H {
    r: Router,
    t0: Instant,
    u0: DateTime<Utc>,
    el: Duration,
}

impl H {
    fn new(list: Vec<Specialist>) -> H {
        H::with(list, RouterSettings::default())
    }

    fn with(list: Vec<Specialist>, settings: RouterSettings) -> H {
        H::at_time(list, settings, base_utc())
    }

    fn at_time(list: Vec<Specialist>, settings: RouterSettings, u0: DateTime<Utc>) -> H {
        let t0 = Instant::now();
        let r = Router::new(
            Specialists::from_list(list).unwrap(),
            Schedules::default_centre(),
            Calendar::almaty(Holidays::bundled().unwrap()),
            settings,
            t0,
        );
        H {
            r,
            t0,
            u0,
            el: Duration::ZERO,
        }
    }

    fn now(&self) -> Now {
        Now::new(self.t0, self.u0).after(self.el)
    }

    /// Moves the clock to `secs` after the start, firing every timer due on
    /// the way at its own instant. Returns everything emitted.
    fn run_to(&mut self, secs: f64) -> Vec<Output> {
        let target = Duration::from_secs_f64(secs);
        let mut out = self.r.drain_outputs();
        while let Some(t) = self.r.poll_timeout() {
            let due = t.saturating_duration_since(self.t0);
            if due > target {
                break;
            }
            self.el = self.el.max(due);
            let n = self.now();
            self.r.handle_timeout(n);
            out.extend(self.r.drain_outputs());
        }
        self.el = self.el.max(target);
        let n = self.now();
        self.r.handle_timeout(n);
        out.extend(self.r.drain_outputs());
        out
    }

    fn start(&mut self, call: &str, req: RouteRequest) -> Vec<Output> {
        let n = self.now();
        self.r.start(CallId::from(call), req, n).unwrap();
        self.r.drain_outputs()
    }

    fn result(&mut self, call: &str, who: &str, res: LegResult) -> Vec<Output> {
        let n = self.now();
        self.r
            .leg_result(&CallId::from(call), &SpecialistId::from(who), res, n);
        self.r.drain_outputs()
    }

    fn ended(&mut self, call: &str) -> Vec<Output> {
        let n = self.now();
        self.r.call_ended(&CallId::from(call), n);
        self.r.drain_outputs()
    }

    fn press(&mut self, call: &str, d: char) -> Vec<Output> {
        let n = self.now();
        self.r.caller_pressed(&CallId::from(call), d, n);
        self.r.drain_outputs()
    }

    fn hangup(&mut self, call: &str) -> Vec<Output> {
        let n = self.now();
        self.r.caller_hung_up(&CallId::from(call), n);
        self.r.drain_outputs()
    }

    fn avail(&self, id: &str) -> Availability {
        let n = self.now();
        self.r
            .roster()
            .is_available(
                id,
                n.instant,
                n.utc,
                &Calendar::almaty(Holidays::bundled().unwrap()),
                &Schedules::default_centre(),
            )
            .unwrap()
    }

    /// Connects `call` to `who`: start, expect a ring of `who`, answer.
    fn connect(&mut self, call: &str, req: RouteRequest, who: &str) {
        let out = self.start(call, req);
        assert_eq!(rings(&out, call), vec![ids(&[who])], "{out:#?}");
        let out = self.result(call, who, LegResult::Answered);
        assert!(
            acts(&out, call).contains(&Action::Bridge {
                specialist: who.into()
            }),
            "{out:#?}"
        );
    }
}

fn ids(list: &[&str]) -> Vec<SpecialistId> {
    list.iter().map(|s| SpecialistId::from(*s)).collect()
}

/// A ring of `list` (made by [`spec`]) for `secs` seconds.
fn ring_of(list: &[&str], secs: u64) -> Action {
    Action::Ring {
        specialists: ids(list),
        contacts: list
            .iter()
            .map(|id| SpecialistContact::Uri(format!("sip:{id}@127.0.0.1:26001")))
            .collect(),
        timeout: Duration::from_secs(secs),
    }
}

/// The actions for `call`, records left out.
fn acts(out: &[Output], call: &str) -> Vec<Action> {
    out.iter()
        .filter(|o| o.call.as_str() == call && !matches!(o.action, Action::Record(_)))
        .map(|o| o.action.clone())
        .collect()
}

/// The record steps for `call`.
fn steps(out: &[Output], call: &str) -> Vec<Step> {
    out.iter()
        .filter(|o| o.call.as_str() == call)
        .filter_map(|o| match &o.action {
            Action::Record(r) => Some(r.step.clone()),
            _ => None,
        })
        .collect()
}

/// The rings made for `call`, in order.
fn rings(out: &[Output], call: &str) -> Vec<Vec<SpecialistId>> {
    acts(out, call)
        .into_iter()
        .filter_map(|a| match a {
            Action::Ring { specialists, .. } => Some(specialists),
            _ => None,
        })
        .collect()
}

fn finished(out: &[Output], call: &str) -> Option<(Outcome, u64, Option<u64>)> {
    steps(out, call).into_iter().find_map(|s| match s {
        Step::Finished {
            outcome,
            waited_ms,
            queue_wait_ms,
        } => Some((outcome, waited_ms, queue_wait_ms)),
        _ => None,
    })
}

fn psych(lang: &str) -> RouteRequest {
    RouteRequest::new(Psychology, lang)
}

fn overflow(reason: OverflowReason) -> Action {
    Action::Overflow { reason }
}

// ---------------------------------------------------------------------------
// Candidates and strategies
// ---------------------------------------------------------------------------

#[test]
fn kazakh_psychology_caller_rings_the_idle_kazakh_speaking_psychologist_first() {
    // vera (Russian only) has been idle longest; bota speaks Kazakh but is on a call.
    let mut h = H::new(vec![
        spec("vera", &[Psychology], &["ru"]),
        spec("bota", &[Psychology], &["kk", "ru"]),
        spec("asel", &[Psychology], &["kk"]),
        spec("dana", &[Legal], &["kk"]),
    ]);
    h.connect("c0", psych("ru").strategy(Strategy::Sequential), "vera");
    h.el = Duration::from_secs(1);
    h.connect("c1", psych("kk"), "bota");
    h.ended("c0"); // vera free again, idle since 1 s
    h.el = Duration::from_secs(5);
    let out = h.start("c2", psych("kk").other_language(true));
    assert_eq!(rings(&out, "c2"), vec![ids(&["asel"])]);
    assert!(steps(&out, "c2").contains(&Step::Rang {
        specialists: ids(&["asel"]),
        tier: Tier::CallerLanguage,
        timeout_ms: 20_000,
        in_queue: false,
    }));
}

#[test]
fn the_other_language_only_when_the_plan_allows_it() {
    let team = || {
        vec![
            spec("vera", &[Psychology], &["ru"]),
            spec("asel", &[Psychology], &["kk"]),
        ]
    };
    // Not allowed: the Russian-speaking psychologist is never rung for a Kazakh caller.
    let mut h = H::new(team());
    let n = h.now();
    h.r.set_paused("asel", true, "lunch", n);
    let out = h.start("c1", psych("kk"));
    assert!(rings(&out, "c1").is_empty());
    assert_eq!(
        acts(&out, "c1"),
        vec![overflow(OverflowReason::NobodyAvailable)]
    );

    // Allowed: the caller's language first...
    let mut h = H::new(team());
    let out = h.start("c1", psych("kk").other_language(true));
    assert_eq!(rings(&out, "c1"), vec![ids(&["asel"])]);
    // ...then the other language when nobody who speaks Kazakh answers.
    let out = h.result("c1", "asel", LegResult::NoAnswer);
    assert_eq!(rings(&out, "c1"), vec![ids(&["vera"])]);
    assert!(steps(&out, "c1").contains(&Step::Rang {
        specialists: ids(&["vera"]),
        tier: Tier::OtherLanguage,
        timeout_ms: 20_000,
        in_queue: false,
    }));
}

#[test]
fn with_no_specialist_of_the_skill_at_all_overflow_at_once() {
    let mut h = H::new(vec![
        spec("asel", &[Psychology], &["kk"]),
        spec("dana", &[Legal], &["kk", "ru"]),
    ]);
    let out = h.start(
        "c1",
        RouteRequest::new(Mediation, "kk").other_language(true),
    );
    assert_eq!(
        acts(&out, "c1"),
        vec![overflow(OverflowReason::NoSpecialist)]
    );
    let (outcome, waited, queued) = finished(&out, "c1").unwrap();
    assert_eq!(
        outcome,
        Outcome::Overflow {
            reason: OverflowReason::NoSpecialist
        }
    );
    assert_eq!((waited, queued), (0, None));
    assert!(!h.r.is_active(&CallId::from("c1")));
    // A skill held only by someone who does not speak the language, not allowed: the same.
    let out = h.start("c2", RouteRequest::new(Legal, "en"));
    assert_eq!(
        acts(&out, "c2"),
        vec![overflow(OverflowReason::NoSpecialist)]
    );
}

#[test]
fn longest_idle_rings_who_has_waited_longest_for_a_call() {
    let mut h = H::new(vec![
        spec("asel", &[Psychology], &["kk"]),
        spec("bota", &[Psychology], &["kk"]),
        spec("gulnara", &[Psychology], &["kk"]),
    ]);
    // Nobody has had a call: configuration order.
    h.connect("c1", psych("kk"), "asel");
    h.connect("c2", psych("kk"), "bota");
    h.connect("c3", psych("kk"), "gulnara");
    h.el = Duration::from_secs(50);
    h.ended("c2"); // bota idle since 50
    h.el = Duration::from_secs(70);
    h.ended("c3"); // gulnara idle since 70
    h.el = Duration::from_secs(100);
    h.ended("c1"); // asel idle since 100
    h.el = Duration::from_secs(200);
    let out = h.start("c4", psych("kk"));
    assert_eq!(rings(&out, "c4"), vec![ids(&["bota"])]);
    let out = h.result("c4", "bota", LegResult::NoAnswer);
    assert_eq!(rings(&out, "c4"), vec![ids(&["gulnara"])]);
    let out = h.result("c4", "gulnara", LegResult::Declined);
    assert_eq!(rings(&out, "c4"), vec![ids(&["asel"])]);
}

#[test]
fn round_robin_rotates_the_start_per_service() {
    let mut h = H::new(vec![
        spec("a", &[Psychology, Legal], &["kk"]),
        spec("b", &[Psychology], &["kk"]),
        spec("c", &[Psychology, Legal], &["kk"]),
    ]);
    let rr = || psych("kk").strategy(Strategy::RoundRobin);
    let mut order = Vec::new();
    for i in 0..5 {
        let call = format!("p{i}");
        let out = h.start(&call, rr());
        let r = rings(&out, &call);
        let who = r[0][0].clone();
        order.push(who.as_str().to_string());
        h.result(&call, who.as_str(), LegResult::Answered);
        h.ended(&call);
    }
    assert_eq!(order, ["a", "b", "c", "a", "b"]);
    // The legal service has its own rotation: it starts at the beginning.
    let out = h.start(
        "l1",
        RouteRequest::new(Legal, "kk").strategy(Strategy::RoundRobin),
    );
    assert_eq!(rings(&out, "l1"), vec![ids(&["a"])]);
    h.result("l1", "a", LegResult::Answered);
    h.ended("l1");
    let out = h.start(
        "l2",
        RouteRequest::new(Legal, "kk").strategy(Strategy::RoundRobin),
    );
    assert_eq!(rings(&out, "l2"), vec![ids(&["c"])]);
    // Psychology continues after b: c is next; a busy specialist is skipped.
    h.result("l2", "c", LegResult::Answered);
    let out = h.start("p9", rr());
    assert_eq!(rings(&out, "p9"), vec![ids(&["a"])]);
}

#[test]
fn sequential_rings_in_configuration_order_every_time() {
    let mut h = H::new(vec![
        spec("a", &[Psychology], &["kk"]),
        spec("b", &[Psychology], &["kk"]),
        spec("c", &[Psychology], &["kk"]),
    ]);
    let seq = || psych("kk").strategy(Strategy::Sequential);
    h.connect("c1", seq(), "a");
    h.ended("c1");
    h.connect("c2", seq(), "a");
    // a is on a call: b, then c.
    let out = h.start("c3", seq());
    assert_eq!(rings(&out, "c3"), vec![ids(&["b"])]);
    let out = h.result("c3", "b", LegResult::NoAnswer);
    assert_eq!(rings(&out, "c3"), vec![ids(&["c"])]);
}

#[test]
fn ring_all_rings_one_wave_and_cancels_the_losers() {
    let mut h = H::new(vec![
        spec("a", &[Psychology], &["kk"]),
        spec("b", &[Psychology], &["kk", "ru"]),
        spec("c", &[Psychology], &["kk"]),
        spec("v", &[Psychology], &["ru"]),
    ]);
    let out = h.start(
        "c1",
        psych("kk").strategy(Strategy::RingAll).other_language(true),
    );
    // One wave of the caller's language; the Russian speaker waits for a second wave.
    assert_eq!(acts(&out, "c1"), vec![ring_of(&["a", "b", "c"], 20)]);
    for who in ["a", "b", "c"] {
        assert_eq!(h.avail(who), Availability::Ringing);
    }
    h.el = Duration::from_secs(4);
    let out = h.result("c1", "b", LegResult::Answered);
    assert_eq!(
        acts(&out, "c1"),
        vec![
            Action::Cancel {
                specialists: ids(&["a", "c"])
            },
            Action::Bridge {
                specialist: "b".into()
            }
        ]
    );
    let s = steps(&out, "c1");
    assert!(s.contains(&Step::RingEnded {
        specialist: "b".into(),
        result: RingResult::Answered,
        ring_ms: 4000
    }));
    assert!(s.contains(&Step::RingEnded {
        specialist: "a".into(),
        result: RingResult::Cancelled,
        ring_ms: 4000
    }));
    assert_eq!(h.avail("a"), Availability::Available);
    assert_eq!(h.avail("b"), Availability::Busy);
    // A late answer from a cancelled leg is ignored.
    let out = h.result("c1", "a", LegResult::Answered);
    assert!(out.is_empty());
    assert_eq!(h.avail("a"), Availability::Available);
}

#[test]
fn ring_all_moves_to_the_other_language_wave_when_nobody_answers() {
    let mut h = H::new(vec![
        spec("a", &[Psychology], &["kk"]),
        spec("c", &[Psychology], &["kk"]),
        spec("v", &[Psychology], &["ru"]),
        spec("w", &[Psychology], &["ru"]),
    ]);
    let out = h.start(
        "c1",
        psych("kk").strategy(Strategy::RingAll).other_language(true),
    );
    assert_eq!(rings(&out, "c1"), vec![ids(&["a", "c"])]);
    let out = h.run_to(20.0);
    assert_eq!(
        acts(&out, "c1"),
        vec![
            Action::Cancel {
                specialists: ids(&["a", "c"])
            },
            ring_of(&["v", "w"], 20)
        ]
    );
}

// ---------------------------------------------------------------------------
// No answer, busy, failures
// ---------------------------------------------------------------------------

#[test]
fn no_answer_within_the_ring_timeout_moves_to_the_next() {
    let mut h = H::new(vec![
        spec("a", &[Psychology], &["kk"]),
        spec("b", &[Psychology], &["kk"]),
        spec("c", &[Psychology], &["kk"]),
    ]);
    let req = psych("kk")
        .strategy(Strategy::Sequential)
        .ring_timeout(Duration::from_secs(15));
    let out = h.start("c1", req);
    assert_eq!(rings(&out, "c1"), vec![ids(&["a"])]);
    assert_eq!(
        h.r.poll_timeout().map(|t| t - h.t0),
        Some(Duration::from_secs(15))
    );
    // The router times the ring out itself and cancels it.
    let out = h.run_to(15.0);
    assert_eq!(
        acts(&out, "c1"),
        vec![
            Action::Cancel {
                specialists: ids(&["a"])
            },
            ring_of(&["b"], 15)
        ]
    );
    assert!(steps(&out, "c1").contains(&Step::RingEnded {
        specialist: "a".into(),
        result: RingResult::NoAnswer,
        ring_ms: 15_000
    }));
    // The driver reports a failure (or voicemail without the accept key): next.
    h.el = Duration::from_secs(17);
    let out = h.result("c1", "b", LegResult::Failed);
    assert_eq!(rings(&out, "c1"), vec![ids(&["c"])]);
    // The last one declines and nobody is busy: overflow, no queue.
    h.el = Duration::from_secs(20);
    let out = h.result("c1", "c", LegResult::Declined);
    assert_eq!(acts(&out, "c1"), vec![overflow(OverflowReason::NoAnswer)]);
    let (_, waited, queued) = finished(&out, "c1").unwrap();
    assert_eq!((waited, queued), (20_000, None));
    // Every phone is free again.
    for who in ["a", "b", "c"] {
        assert_eq!(h.avail(who), Availability::Available);
    }
}

#[test]
fn a_phone_that_says_busy_is_left_alone_for_a_while() {
    let mut h = H::new(vec![
        spec("a", &[Psychology], &["kk"]),
        spec("b", &[Psychology], &["kk"]),
    ]);
    h.start("c1", psych("kk").strategy(Strategy::Sequential));
    let out = h.result("c1", "a", LegResult::Busy);
    assert_eq!(rings(&out, "c1"), vec![ids(&["b"])]);
    assert_eq!(h.avail("a"), Availability::Busy);
    h.result("c1", "b", LegResult::Answered);
    // Another caller: a is still left alone, b is on the call: queue, since a comes back.
    let out = h.start("c2", psych("kk").strategy(Strategy::Sequential));
    assert!(acts(&out, "c2").contains(&Action::EnterQueue));
    // After the busy back-off (60 s) a is offered to the waiting caller.
    let out = h.run_to(60.0);
    assert_eq!(rings(&out, "c2"), vec![ids(&["a"])]);
}

#[test]
fn a_specialist_another_instance_holds_is_tried_again_as_soon_as_it_lets_them_go() {
    // Another instance sharing the database has `a`: the claim is refused,
    // which the driver reports as busy.
    let mut h = H::new(vec![spec("a", &[Psychology], &["kk"])]);
    let out = h.start("c1", psych("kk"));
    assert_eq!(rings(&out, "c1"), vec![ids(&["a"])]);
    let out = h.result("c1", "a", LegResult::Busy);
    assert!(acts(&out, "c1").contains(&Action::EnterQueue));
    assert_eq!(h.avail("a"), Availability::Busy);
    assert!(!h.r.roster().engaged("a", h.now().instant));
    // It lets them go after 5 s: rung at once, not after the back-off.
    h.el = Duration::from_secs(5);
    let n = h.now();
    h.r.freed_elsewhere("a", n);
    let out = h.r.drain_outputs();
    assert_eq!(rings(&out, "c1"), vec![ids(&["a"])]);
    // Rung here now: engaged, so this instance holds them.
    assert!(h.r.roster().engaged("a", h.now().instant));
    // An unknown id changes nothing.
    h.r.freed_elsewhere("nobody", n);
    assert!(h.r.drain_outputs().is_empty());
}

#[test]
fn a_picked_up_phone_gets_the_accept_timeout_for_the_whisper() {
    let mut h = H::new(vec![spec("a", &[Psychology], &["kk"])]);
    h.start("c1", psych("kk"));
    h.el = Duration::from_secs(18);
    let n = h.now();
    h.r.leg_picked_up(&CallId::from("c1"), &"a".into(), n);
    // The ring timeout (20 s) passes while the whisper plays: no cancel.
    let out = h.run_to(25.0);
    assert!(acts(&out, "c1").is_empty(), "{out:#?}");
    // Accept within 15 s of the pick-up.
    h.el = Duration::from_secs(30);
    let out = h.result("c1", "a", LegResult::Answered);
    assert_eq!(
        acts(&out, "c1"),
        vec![Action::Bridge {
            specialist: "a".into()
        }]
    );
}

#[test]
fn three_missed_calls_in_a_row_pause_a_specialist() {
    let mut h = H::new(vec![
        spec("a", &[Psychology], &["kk"]),
        spec("b", &[Psychology], &["kk"]),
    ]);
    let seq = || psych("kk").strategy(Strategy::Sequential);
    for i in 0..3 {
        let call = format!("c{i}");
        let out = h.start(&call, seq());
        assert_eq!(rings(&out, &call), vec![ids(&["a"])]);
        let out = h.result(&call, "a", LegResult::NoAnswer);
        if i == 2 {
            assert!(steps(&out, &call).contains(&Step::AutoPaused {
                specialist: "a".into(),
                missed: 3
            }));
        }
        h.result(&call, "b", LegResult::Answered);
        h.ended(&call);
    }
    assert_eq!(h.avail("a"), Availability::Paused);
    assert_eq!(
        h.r.roster().pause("a").map(|p| p.reason.as_str()),
        Some("missed 3 calls in a row")
    );
    let out = h.start("c9", seq());
    assert_eq!(rings(&out, "c9"), vec![ids(&["b"])]);
    // Resuming clears the count.
    let n = h.now();
    assert!(h.r.set_paused("a", false, "", n));
    assert_eq!(h.avail("a"), Availability::Available);
}

// ---------------------------------------------------------------------------
// Availability
// ---------------------------------------------------------------------------

#[test]
fn paused_wrap_up_and_off_schedule_specialists_are_skipped() {
    let mut early = spec("early", &[Psychology], &["kk"]);
    early.schedule = Some(ScheduleRef::Inline(
        WeeklySchedule::closed()
            .with_day(chrono::Weekday::Wed, "07:00-10:00")
            .unwrap(),
    ));
    let mut h = H::new(vec![
        spec("paused", &[Psychology], &["kk"]),
        wrap(spec("resting", &[Psychology], &["kk"]), 60),
        early,
        spec("free", &[Psychology], &["kk"]),
    ]);
    let seq = || psych("kk").strategy(Strategy::Sequential);
    let n = h.now();
    h.r.set_paused("paused", true, "supervision", n);
    h.connect("c0", seq(), "resting");
    h.el = Duration::from_secs(10);
    h.ended("c0");
    assert_eq!(h.avail("paused"), Availability::Paused);
    assert_eq!(
        h.avail("resting"),
        Availability::WrapUp {
            until: h.t0 + Duration::from_secs(70)
        }
    );
    assert_eq!(h.avail("early"), Availability::OffSchedule);
    let out = h.start("c1", seq());
    assert_eq!(rings(&out, "c1"), vec![ids(&["free"])]);
    // After the wrap-up, the rested specialist is rung again.
    h.el = Duration::from_secs(70);
    let out = h.result("c1", "free", LegResult::NoAnswer);
    assert_eq!(rings(&out, "c1"), vec![ids(&["resting"])]);
}

#[test]
fn a_reload_offers_new_specialists_and_lets_removed_ones_finish_their_call() {
    let mut h = H::new(vec![spec("a", &[Psychology], &["kk"])]);
    h.connect("c1", psych("kk"), "a");
    // The new configuration: a is gone, b is new.
    let reload = |h: &mut H, list: Vec<Specialist>| {
        let now = h.now();
        h.r.reload(
            Specialists::from_list(list).unwrap(),
            Schedules::default_centre(),
            Calendar::almaty(Holidays::bundled().unwrap()),
            RouterSettings::default(),
            now,
        );
        h.r.drain_outputs()
    };
    h.el = Duration::from_secs(5);
    let out = reload(&mut h, vec![spec("b", &[Psychology], &["kk"])]);
    assert!(acts(&out, "c1").is_empty(), "{out:#?}");
    assert!(h.r.roster().get("a").is_none());
    assert_eq!(h.avail("b"), Availability::Available);
    // The next caller is offered to b, reached as the new entry says.
    h.el = Duration::from_secs(6);
    let out = h.start("c2", psych("kk"));
    assert_eq!(acts(&out, "c2"), vec![ring_of(&["b"], 20)]);
    // a's call goes on and ends as any call does.
    assert!(h.r.is_active(&CallId::from("c1")));
    h.el = Duration::from_secs(10);
    let out = h.ended("c1");
    assert!(!h.r.is_active(&CallId::from("c1")));
    assert!(rings(&out, "c2").is_empty(), "{out:#?}");
    // Who stays keeps their state: b, on a call, is busy after another
    // reload; a, back, is offered the next caller.
    h.result("c2", "b", LegResult::Answered);
    let out = reload(
        &mut h,
        vec![
            spec("b", &[Psychology], &["kk"]),
            spec("a", &[Psychology], &["kk"]),
        ],
    );
    assert!(acts(&out, "c2").is_empty(), "{out:#?}");
    assert_eq!(h.avail("b"), Availability::Busy);
    let out = h.start("c3", psych("kk"));
    assert_eq!(acts(&out, "c3"), vec![ring_of(&["a"], 20)]);
}

#[test]
fn a_softphone_is_offline_until_it_registers() {
    let mut h = H::new(vec![Specialist::new(
        "aigerim",
        "Айгерім",
        &[Psychology],
        &["kk"],
        SpecialistContact::Registered {
            username: "aigerim".into(),
            password: senim_routing::specialists::Password::new("long enough"),
        },
    )]);
    assert_eq!(h.avail("aigerim"), Availability::Offline);
    let out = h.start("c1", psych("kk"));
    assert_eq!(
        acts(&out, "c1"),
        vec![overflow(OverflowReason::NobodyAvailable)]
    );
    let n = h.now();
    assert!(h.r.registered_username("Aigerim", 1, n));
    assert!(!h.r.registered("nobody", 1, n));
    assert!(!h.r.registered_username("nobody", 1, n));
    assert_eq!(h.r.roster().bindings("aigerim"), 1);
    let out = h.start("c2", psych("kk"));
    assert_eq!(rings(&out, "c2"), vec![ids(&["aigerim"])]);
    h.result("c2", "aigerim", LegResult::Answered);
    h.ended("c2");
    // The last registration lapses: offline again.
    let n = h.now();
    h.r.registered("aigerim", 0, n);
    assert_eq!(h.avail("aigerim"), Availability::Offline);
}

#[test]
fn the_route_is_closed_off_schedule_and_when_nobody_is_on_duty() {
    // The centre's schedule: Saturday is closed.
    let saturday = chrono_tz::Asia::Almaty
        .with_ymd_and_hms(2026, 11, 28, 11, 0, 0)
        .single()
        .unwrap()
        .with_timezone(&Utc);
    let mut h = H::at_time(
        vec![spec("a", &[Psychology], &["kk"])],
        RouterSettings::default(),
        saturday,
    );
    let out = h.start("c1", psych("kk").schedule("centre"));
    assert_eq!(acts(&out, "c1"), vec![Action::Closed]);
    assert_eq!(finished(&out, "c1").unwrap().0, Outcome::Closed);
    // An unknown schedule id counts as closed.
    let out = h.start("c2", psych("kk").schedule("nowhere"));
    assert_eq!(acts(&out, "c2"), vec![Action::Closed]);
    // Without a route schedule, a specialist without hours may be rung.
    let out = h.start("c3", psych("kk"));
    assert_eq!(rings(&out, "c3"), vec![ids(&["a"])]);

    // Every psychologist outside their own hours: closed.
    let mut a = spec("a", &[Psychology], &["kk"]);
    a.schedule = Some(ScheduleRef::Named("centre".into()));
    let mut h = H::at_time(vec![a], RouterSettings::default(), saturday);
    let out = h.start("c1", psych("kk"));
    assert_eq!(acts(&out, "c1"), vec![Action::Closed]);
}

// ---------------------------------------------------------------------------
// The queue
// ---------------------------------------------------------------------------

#[test]
fn all_busy_queue_then_a_freed_specialist_is_rung_after_wrap_up() {
    let mut h = H::new(vec![wrap(spec("a", &[Psychology], &["kk"]), 10)]);
    h.connect("c1", psych("kk"), "a");
    h.el = Duration::from_secs(2);
    let out = h.start("c2", psych("kk"));
    assert_eq!(
        acts(&out, "c2"),
        vec![
            Action::EnterQueue,
            Action::AnnouncePosition { position: 1 },
            Action::OfferCallback,
            Action::PlayHold
        ]
    );
    assert!(steps(&out, "c2").contains(&Step::Queued { position: 1 }));
    assert_eq!(h.r.queue_position(&CallId::from("c2")), Some(1));
    h.el = Duration::from_secs(40);
    h.ended("c1");
    assert!(matches!(h.avail("a"), Availability::WrapUp { .. }));
    // The wrap-up end is a wake-up.
    assert_eq!(
        h.r.poll_timeout().map(|t| t - h.t0),
        Some(Duration::from_secs(47)) // the 45 s announcement comes first
    );
    let out = h.run_to(50.0);
    let a = acts(&out, "c2");
    assert_eq!(
        a,
        vec![
            Action::AnnouncePosition { position: 1 },
            Action::PlayHold,
            ring_of(&["a"], 20)
        ]
    );
    // Rung exactly when the wrap-up ended.
    let ring_at = out
        .iter()
        .filter(|o| o.call.as_str() == "c2")
        .find_map(|o| match &o.action {
            Action::Record(r) if matches!(r.step, Step::Rang { .. }) => Some(r.at_ms),
            _ => None,
        })
        .unwrap();
    assert_eq!(ring_at - base_utc().timestamp_millis(), 50_000);
    h.el = Duration::from_secs(53);
    let out = h.result("c2", "a", LegResult::Answered);
    let (outcome, waited, queued) = finished(&out, "c2").unwrap();
    assert_eq!(
        outcome,
        Outcome::Connected {
            specialist: "a".into()
        }
    );
    assert_eq!((waited, queued), (51_000, Some(51_000)));
}

#[test]
fn max_wait_overflows_with_announcements_and_offers_on_the_way() {
    let mut h = H::new(vec![spec("a", &[Psychology], &["kk"])]);
    h.connect("c1", psych("kk"), "a");
    let out = h.start("c2", psych("kk").max_wait(Duration::from_secs(150)));
    assert!(acts(&out, "c2").contains(&Action::EnterQueue));
    let out = h.run_to(200.0);
    assert_eq!(
        acts(&out, "c2"),
        vec![
            Action::AnnouncePosition { position: 1 }, // 45 s
            Action::PlayHold,
            Action::OfferCallback, // 60 s
            Action::PlayHold,
            Action::AnnouncePosition { position: 1 }, // 90 s
            Action::PlayHold,
            Action::OfferCallback, // 120 s
            Action::PlayHold,
            Action::AnnouncePosition { position: 1 }, // 135 s
            Action::PlayHold,
            overflow(OverflowReason::MaxWait), // 150 s
        ]
    );
    let (outcome, waited, queued) = finished(&out, "c2").unwrap();
    assert_eq!(
        outcome,
        Outcome::Overflow {
            reason: OverflowReason::MaxWait
        }
    );
    assert_eq!((waited, queued), (150_000, Some(150_000)));
    assert!(!h.r.is_active(&CallId::from("c2")));
    // c1 is still connected; nothing else is waiting, so only the long-call
    // alert of its specialist (45 minutes into the call) remains.
    assert!(h.r.is_active(&CallId::from("c1")));
    assert_eq!(
        h.r.poll_timeout(),
        Some(h.t0 + Duration::from_secs(45 * 60))
    );
}

#[test]
fn max_wait_during_a_ring_lets_the_ring_finish() {
    let mut h = H::new(vec![
        spec("a", &[Psychology], &["kk"]),
        spec("b", &[Psychology], &["kk"]),
    ]);
    h.connect("c1", psych("kk"), "a");
    h.connect("c2", psych("kk"), "b");
    let out = h.start("c3", psych("kk").max_wait(Duration::from_secs(60)));
    assert!(acts(&out, "c3").contains(&Action::EnterQueue));
    h.el = Duration::from_secs(50);
    let out = h.ended("c1");
    assert_eq!(rings(&out, "c3"), vec![ids(&["a"])]);
    // The maximum wait passes at 60 s while a's phone rings: no overflow yet,
    // no announcement either.
    let out = h.run_to(65.0);
    assert!(acts(&out, "c3").is_empty(), "{out:#?}");
    // a does not answer by 70 s: now overflow.
    let out = h.run_to(70.0);
    assert_eq!(
        acts(&out, "c3"),
        vec![
            Action::Cancel {
                specialists: ids(&["a"])
            },
            overflow(OverflowReason::MaxWait)
        ]
    );
}

#[test]
fn the_callback_key_in_the_queue_requests_a_callback() {
    let settings = RouterSettings {
        offer_callback_on_entry: false,
        ..RouterSettings::default()
    };
    let mut h = H::with(vec![spec("a", &[Psychology], &["kk"])], settings);
    h.connect("c1", psych("kk"), "a");
    let out = h.start("c2", psych("kk"));
    assert!(!acts(&out, "c2").contains(&Action::OfferCallback));
    // Before the offer, 1 means nothing.
    assert!(h.press("c2", '1').is_empty());
    let out = h.run_to(60.0);
    assert!(acts(&out, "c2").contains(&Action::OfferCallback));
    assert!(steps(&out, "c2").contains(&Step::CallbackOffered));
    h.el = Duration::from_secs(64);
    assert!(h.press("c2", '7').is_empty());
    let out = h.press("c2", '1');
    assert_eq!(acts(&out, "c2"), vec![Action::CallbackRequested]);
    let (outcome, _, queued) = finished(&out, "c2").unwrap();
    assert_eq!(outcome, Outcome::CallbackRequested);
    assert_eq!(queued, Some(64_000));
    assert_eq!(h.r.queue_len(Psychology), 0);
}

#[test]
fn the_emergency_key_leaves_routing_at_once() {
    let mut h = H::new(vec![spec("a", &[Psychology], &["kk"])]);
    h.start("c1", psych("kk"));
    let out = h.press("c1", '0');
    assert_eq!(
        acts(&out, "c1"),
        vec![
            Action::Cancel {
                specialists: ids(&["a"])
            },
            Action::Emergency
        ]
    );
    assert_eq!(finished(&out, "c1").unwrap().0, Outcome::Emergency);
    assert_eq!(h.avail("a"), Availability::Available);
}

#[test]
fn an_abandoned_caller_is_recorded_with_the_wait() {
    let mut h = H::new(vec![spec("a", &[Psychology], &["kk"])]);
    h.connect("c1", psych("kk"), "a");
    h.el = Duration::from_secs(5);
    h.start("c2", psych("kk"));
    h.run_to(35.0);
    let out = h.hangup("c2");
    assert!(acts(&out, "c2").is_empty());
    assert_eq!(
        finished(&out, "c2"),
        Some((Outcome::Abandoned, 30_000, Some(30_000)))
    );
    assert!(!h.r.is_active(&CallId::from("c2")));

    // Hanging up while phones ring cancels them.
    h.ended("c1");
    h.el = Duration::from_secs(40);
    h.start("c3", psych("kk"));
    h.el = Duration::from_secs(43);
    let out = h.hangup("c3");
    assert_eq!(
        acts(&out, "c3"),
        vec![Action::Cancel {
            specialists: ids(&["a"])
        }]
    );
    assert_eq!(
        finished(&out, "c3"),
        Some((Outcome::Abandoned, 3_000, None))
    );
    assert_eq!(h.avail("a"), Availability::Available);
}

#[test]
fn queued_callers_are_served_first_come_first_served() {
    let mut h = H::new(vec![spec("a", &[Psychology], &["kk"])]);
    h.connect("c1", psych("kk"), "a");
    h.el = Duration::from_secs(1);
    let out = h.start("c2", psych("kk"));
    assert!(acts(&out, "c2").contains(&Action::AnnouncePosition { position: 1 }));
    h.el = Duration::from_secs(2);
    let out = h.start("c3", psych("kk"));
    assert!(acts(&out, "c3").contains(&Action::AnnouncePosition { position: 2 }));
    h.el = Duration::from_secs(10);
    let out = h.ended("c1");
    assert_eq!(rings(&out, "c2"), vec![ids(&["a"])]);
    assert!(rings(&out, "c3").is_empty());
    let out = h.result("c2", "a", LegResult::Answered);
    assert!(acts(&out, "c2").contains(&Action::Bridge {
        specialist: "a".into()
    }));
    // c3 moves up.
    assert_eq!(h.r.queue_position(&CallId::from("c3")), Some(1));
    let out = h.run_to(47.0);
    assert!(acts(&out, "c3").contains(&Action::AnnouncePosition { position: 1 }));
    h.el = Duration::from_secs(50);
    let out = h.ended("c2");
    assert_eq!(rings(&out, "c3"), vec![ids(&["a"])]);
}

#[test]
fn a_waiting_caller_who_was_not_answered_is_not_rung_by_the_same_phone_at_once() {
    let mut h = H::new(vec![
        spec("a", &[Psychology], &["kk"]),
        spec("b", &[Psychology], &["kk"]),
    ]);
    h.connect("c1", psych("kk"), "a");
    h.connect("c2", psych("kk"), "b");
    let out = h.start("c3", psych("kk"));
    assert!(acts(&out, "c3").contains(&Action::EnterQueue));
    h.el = Duration::from_secs(10);
    let out = h.ended("c2");
    assert_eq!(rings(&out, "c3"), vec![ids(&["b"])]);
    // b does not answer; a is still busy, so c3 keeps waiting.
    h.el = Duration::from_secs(12);
    let out = h.result("c3", "b", LegResult::NoAnswer);
    assert!(rings(&out, "c3").is_empty());
    assert!(h.r.is_active(&CallId::from("c3")));
    // After the retry pause (30 s), b is offered again.
    let out = h.run_to(41.0);
    assert!(rings(&out, "c3").is_empty());
    let out = h.run_to(42.0);
    assert_eq!(rings(&out, "c3"), vec![ids(&["b"])]);
}

#[test]
fn a_waiting_caller_overflows_when_nobody_can_come_any_more() {
    let mut h = H::new(vec![wrap(spec("a", &[Psychology], &["kk"]), 30)]);
    h.connect("c1", psych("kk"), "a");
    h.start("c2", psych("kk"));
    // a ends the call and pauses: nobody left to wait for.
    h.el = Duration::from_secs(20);
    h.ended("c1");
    let n = h.now();
    h.r.set_paused("a", true, "end of shift", n);
    let out = h.r.drain_outputs();
    assert_eq!(
        acts(&out, "c2"),
        vec![overflow(OverflowReason::NobodyAvailable)]
    );
    assert_eq!(finished(&out, "c2").map(|f| f.2), Some(Some(20_000)));
}

#[test]
fn a_free_specialist_goes_to_a_caller_of_their_language_before_an_earlier_other_language_caller() {
    let mut h = H::new(vec![
        spec("kazakh", &[Psychology], &["kk"]),
        spec("russian", &[Psychology], &["ru"]),
    ]);
    h.connect("c0", psych("kk"), "kazakh");
    h.connect("c1", psych("ru"), "russian");
    // A Russian-speaking caller who accepts Kazakh waits first, then a Kazakh caller.
    h.el = Duration::from_secs(1);
    h.start("ru-caller", psych("ru").other_language(true));
    h.el = Duration::from_secs(2);
    h.start("kk-caller", psych("kk"));
    h.el = Duration::from_secs(5);
    let out = h.ended("c0");
    assert_eq!(rings(&out, "kk-caller"), vec![ids(&["kazakh"])]);
    assert!(rings(&out, "ru-caller").is_empty());
    // With no Kazakh caller waiting, the earlier caller gets the other language.
    h.result("kk-caller", "kazakh", LegResult::Answered);
    h.el = Duration::from_secs(8);
    let out = h.ended("kk-caller");
    assert_eq!(rings(&out, "ru-caller"), vec![ids(&["kazakh"])]);
}

#[test]
fn a_specialist_with_two_skills_serves_both_queues() {
    let mut h = H::new(vec![
        spec("erik", &[Legal, Mediation], &["ru"]),
        spec("dana", &[Legal], &["ru"]),
    ]);
    let legal = || RouteRequest::new(Legal, "ru").strategy(Strategy::Sequential);
    let mediation = || RouteRequest::new(Mediation, "ru");
    h.connect("l1", legal(), "erik");
    // erik is on a legal call: the mediation caller waits for him.
    let out = h.start("m1", mediation());
    assert!(acts(&out, "m1").contains(&Action::EnterQueue));
    // A second legal caller gets dana.
    let out = h.start("l2", legal());
    assert_eq!(rings(&out, "l2"), vec![ids(&["dana"])]);
    h.result("l2", "dana", LegResult::Answered);
    h.el = Duration::from_secs(30);
    let out = h.ended("l1");
    assert_eq!(rings(&out, "m1"), vec![ids(&["erik"])]);
    assert_eq!(h.r.queue_len(Mediation), 1);
    assert_eq!(h.r.queue_len(Legal), 0);
}

#[test]
fn a_queued_caller_comes_before_a_later_caller_still_in_the_first_round() {
    let mut h = H::new(vec![
        spec("erik", &[Legal, Mediation], &["ru"]),
        spec("dana", &[Legal], &["ru"]),
    ]);
    let legal = || RouteRequest::new(Legal, "ru").strategy(Strategy::Sequential);
    h.connect("l1", legal(), "erik");
    // m1 waits for erik; l2 (later) rings dana, who does not answer.
    h.start("m1", RouteRequest::new(Mediation, "ru"));
    let out = h.start("l2", legal());
    assert_eq!(rings(&out, "l2"), vec![ids(&["dana"])]);
    // erik hangs up at 30 s, after dana's ring timed out at 20 s unseen:
    // erik goes to m1, who waited longer; l2 now waits for erik too.
    h.el = Duration::from_secs(30);
    let out = h.ended("l1");
    assert_eq!(rings(&out, "m1"), vec![ids(&["erik"])]);
    assert!(rings(&out, "l2").is_empty());
    assert!(acts(&out, "l2").contains(&Action::EnterQueue));
}

#[test]
fn positions_are_counted_per_service() {
    let mut h = H::new(vec![
        spec("p", &[Psychology], &["kk"]),
        spec("l", &[Legal], &["kk"]),
    ]);
    h.connect("c1", psych("kk"), "p");
    h.connect("c2", RouteRequest::new(Legal, "kk"), "l");
    h.start("q1", psych("kk"));
    let out = h.start("q2", RouteRequest::new(Legal, "kk"));
    assert!(acts(&out, "q2").contains(&Action::AnnouncePosition { position: 1 }));
    let out = h.start("q3", psych("kk"));
    assert!(acts(&out, "q3").contains(&Action::AnnouncePosition { position: 2 }));
}

// ---------------------------------------------------------------------------
// Robustness
// ---------------------------------------------------------------------------

#[test]
fn stale_and_unknown_events_are_ignored() {
    let mut h = H::new(vec![spec("a", &[Psychology], &["kk"])]);
    let n = h.now();
    h.r.leg_result(&"nope".into(), &"a".into(), LegResult::Answered, n);
    h.r.caller_pressed(&"nope".into(), '1', n);
    h.r.caller_hung_up(&"nope".into(), n);
    h.r.call_ended(&"nope".into(), n);
    h.r.leg_picked_up(&"nope".into(), &"a".into(), n);
    assert!(!h.r.set_paused("ghost", true, "x", n));
    h.r.specialist_available("ghost", n);
    assert!(h.r.drain_outputs().is_empty());
    h.start("c1", psych("kk"));
    assert_eq!(
        h.r.start("c1".into(), psych("kk"), n),
        Err(RouterError::CallExists("c1".into()))
    );
    // A result for someone not rung for this call.
    h.r.leg_result(&"c1".into(), &"zz".into(), LegResult::Answered, n);
    assert!(h.r.drain_outputs().is_empty());
    // Early and repeated timeouts do nothing.
    h.r.handle_timeout(n);
    h.r.handle_timeout(n);
    assert!(h.r.drain_outputs().is_empty());
}

#[test]
fn records_serialize_for_the_store_and_the_snapshot_for_http() {
    let mut h = H::new(vec![
        spec("a", &[Psychology], &["kk"]),
        spec("b", &[Legal], &["ru"]),
    ]);
    let out = h.start("c1", psych("kk"));
    h.start("c2", RouteRequest::new(Legal, "ru"));
    h.result("c2", "b", LegResult::Answered);
    let record = out
        .iter()
        .find_map(|o| match &o.action {
            Action::Record(r) if matches!(r.step, Step::Rang { .. }) => Some(r.clone()),
            _ => None,
        })
        .unwrap();
    let v = toml::Value::try_from(&record).unwrap();
    assert_eq!(v.get("step").and_then(|s| s.as_str()), Some("rang"));
    assert_eq!(
        v.get("tier").and_then(|s| s.as_str()),
        Some("caller-language")
    );
    assert_eq!(
        v.get("at_ms").and_then(|s| s.as_integer()),
        Some(base_utc().timestamp_millis())
    );
    let n = h.now();
    let snap = h.r.snapshot(n);
    assert_eq!(snap.specialists.specialists.len(), 2);
    assert_eq!(snap.specialists.specialists[0].state, "ringing");
    assert_eq!(snap.specialists.specialists[1].state, "busy");
    assert_eq!(snap.specialists.specialists[1].contact, "sip-uri");
    assert_eq!(snap.calls.len(), 2);
    assert_eq!(snap.calls[0].state, "ringing");
    assert_eq!(snap.calls[1].state, "connected");
    let v = toml::Value::try_from(&snap).unwrap();
    let text = toml::to_string(&v).unwrap();
    assert!(
        !text.contains("127.0.0.1"),
        "contact addresses stay out: {text}"
    );
    // A finished record flattens its outcome.
    let out = h.hangup("c1");
    let fin = out
        .iter()
        .find_map(|o| match &o.action {
            Action::Record(r) if matches!(r.step, Step::Finished { .. }) => Some(r.clone()),
            _ => None,
        })
        .unwrap();
    let v = toml::Value::try_from(&fin).unwrap();
    assert_eq!(v.get("step").and_then(|s| s.as_str()), Some("finished"));
    assert_eq!(v.get("outcome").and_then(|s| s.as_str()), Some("abandoned"));
}

/// A small deterministic generator (no dependency needed).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

#[test]
fn random_event_storms_keep_the_books_straight() {
    for seed in 0..40u64 {
        let mut team = vec![
            spec("a", &[Psychology, Legal], &["kk"]),
            wrap(spec("b", &[Psychology], &["ru", "kk"]), 20),
            spec("c", &[Legal], &["ru"]),
            wrap(spec("d", &[Mediation, Psychology], &["kk"]), 5),
        ];
        team[0].max_calls = 2;
        let mut h = H::new(team);
        let mut rng = Lcg(seed);
        let names = ["a", "b", "c", "d", "x"];
        let strategies = [
            Strategy::LongestIdle,
            Strategy::RingAll,
            Strategy::Sequential,
            Strategy::RoundRobin,
        ];
        let results = [
            LegResult::Answered,
            LegResult::NoAnswer,
            LegResult::Declined,
            LegResult::Busy,
            LegResult::Failed,
        ];
        let mut all: Vec<Output> = Vec::new();
        for step in 0..400u64 {
            h.el += Duration::from_millis(rng.below(8000));
            let n = h.now();
            let call = CallId::from(format!("c{}", rng.below(12)).as_str());
            let who = SpecialistId::from(names[rng.below(5) as usize]);
            match rng.below(10) {
                0 | 1 => {
                    let skill = [Psychology, Legal, Mediation][rng.below(3) as usize];
                    let lang = ["kk", "ru"][rng.below(2) as usize];
                    let req = RouteRequest::new(skill, lang)
                        .strategy(strategies[rng.below(4) as usize])
                        .other_language(rng.below(2) == 0)
                        .max_wait(Duration::from_secs(rng.below(200)));
                    let _ = h.r.start(call, req, n);
                }
                2..=4 => {
                    h.r.leg_result(&call, &who, results[rng.below(5) as usize], n)
                }
                5 => {
                    h.r.caller_pressed(&call, ['0', '1', '5'][rng.below(3) as usize], n)
                }
                6 => h.r.caller_hung_up(&call, n),
                7 => h.r.call_ended(&call, n),
                8 => {
                    h.r.set_paused(who.as_str(), rng.below(3) == 0, "random", n);
                }
                _ => h.r.handle_timeout(n),
            }
            let out = h.r.drain_outputs();
            // Nobody is rung for two callers at once.
            let snap = h.r.snapshot(n);
            let mut ringing: Vec<&SpecialistId> =
                snap.calls.iter().flat_map(|c| c.ringing.iter()).collect();
            let total = ringing.len();
            ringing.sort();
            ringing.dedup();
            assert_eq!(ringing.len(), total, "seed {seed} step {step}");
            all.extend(out);
        }
        // Everyone hangs up: all phones and calls are released.
        for i in 0..12 {
            let n = h.now();
            h.r.caller_hung_up(&CallId::from(format!("c{i}").as_str()), n);
        }
        all.extend(h.r.drain_outputs());
        for who in ["a", "b", "c", "d"] {
            assert_eq!(h.r.roster().ringing(who), 0, "seed {seed}: {who} ringing");
            assert_eq!(h.r.roster().calls(who), 0, "seed {seed}: {who} on a call");
        }
        assert_eq!(h.r.poll_timeout(), None, "seed {seed}");
        // Every call that started finished exactly once in the record.
        let mut started = std::collections::BTreeMap::<String, i32>::new();
        for o in &all {
            if let Action::Record(r) = &o.action {
                match r.step {
                    Step::Requested { .. } => *started.entry(o.call.to_string()).or_default() += 1,
                    Step::Finished { .. } => *started.entry(o.call.to_string()).or_default() -= 1,
                    _ => {}
                }
            }
        }
        assert!(
            started.values().all(|v| *v == 0),
            "seed {seed}: {started:?}"
        );
    }
}

// ---------------------------------------------------------------------------
// A preferred specialist (a remembered caller's last specialist)
// ---------------------------------------------------------------------------

fn prefer(req: RouteRequest, who: &str) -> RouteRequest {
    req.prefer(SpecialistId::from(who))
}

#[test]
fn the_preferred_specialist_is_rung_first_alone_when_available() {
    let team = || {
        vec![
            spec("asel", &[Psychology], &["kk"]),
            spec("bota", &[Psychology], &["kk"]),
            spec("dana", &[Psychology], &["kk"]),
        ]
    };
    // Sequential would ring asel; longest-idle too (config order on a tie).
    for strategy in [
        Strategy::Sequential,
        Strategy::LongestIdle,
        Strategy::RoundRobin,
    ] {
        let mut h = H::new(team());
        let out = h.start("c1", prefer(psych("kk").strategy(strategy), "dana"));
        assert_eq!(rings(&out, "c1"), vec![ids(&["dana"])], "{strategy}");
    }
    // Ring-all rings the preferred one alone first, then everyone else.
    let mut h = H::new(team());
    let out = h.start(
        "c1",
        prefer(psych("kk").strategy(Strategy::RingAll), "bota"),
    );
    assert_eq!(rings(&out, "c1"), vec![ids(&["bota"])]);
    let out = h.result("c1", "bota", LegResult::NoAnswer);
    assert_eq!(rings(&out, "c1"), vec![ids(&["asel", "dana"])]);
}

#[test]
fn a_preferred_specialist_who_does_not_answer_gives_way_to_the_strategy() {
    let mut h = H::new(vec![
        spec("asel", &[Psychology], &["kk"]),
        spec("bota", &[Psychology], &["kk"]),
    ]);
    let out = h.start(
        "c1",
        prefer(psych("kk").strategy(Strategy::Sequential), "bota"),
    );
    assert_eq!(rings(&out, "c1"), vec![ids(&["bota"])]);
    let out = h.run_to(20.0);
    assert_eq!(rings(&out, "c1"), vec![ids(&["asel"])]);
}

#[test]
fn an_unavailable_preferred_specialist_is_not_waited_for() {
    let mut h = H::new(vec![
        spec("asel", &[Psychology], &["kk"]),
        spec("paused", &[Psychology], &["kk"]),
        wrap(spec("resting", &[Psychology], &["kk"]), 60),
        spec("lawyer", &[Legal], &["kk"]),
    ]);
    let n = h.now();
    h.r.set_paused("paused", true, "supervision", n);
    h.connect(
        "c0",
        psych("kk")
            .strategy(Strategy::Sequential)
            .prefer("resting".into()),
        "resting",
    );
    h.el = Duration::from_secs(5);
    h.ended("c0");
    assert!(matches!(h.avail("resting"), Availability::WrapUp { .. }));
    // Paused, wrapping up, or without the skill: the strategy's choice at once.
    for who in ["paused", "resting", "lawyer", "nobody"] {
        let call = format!("c-{who}");
        let out = h.start(
            &call,
            prefer(psych("kk").strategy(Strategy::Sequential), who),
        );
        assert_eq!(rings(&out, &call), vec![ids(&["asel"])], "{who}");
        h.hangup(&call);
    }
    // Busy on another call: the same.
    h.connect("c2", psych("kk").strategy(Strategy::Sequential), "asel");
    let out = h.start(
        "c3",
        prefer(psych("kk").strategy(Strategy::Sequential), "asel"),
    );
    assert!(rings(&out, "c3").is_empty(), "{out:#?}");
    assert!(acts(&out, "c3").contains(&Action::EnterQueue));
}

// ---------------------------------------------------------------------------
// Wrap-up codes and the limits that protect specialists
// ---------------------------------------------------------------------------

mod limits {
    use super::*;
    use senim_routing::limits::{AlertKind, Limits, WrapUpPolicy};

    fn policy(limits: Limits) -> RouterSettings {
        RouterSettings {
            wrap_up: WrapUpPolicy {
                limits,
                ..WrapUpPolicy::default()
            },
            ..RouterSettings::default()
        }
    }

    fn code(h: &mut H, who: &str, kind: &str) -> bool {
        let n = h.now();
        let ok = h.r.wrap_up_coded(&SpecialistId::from(who), Some(kind), n);
        h.r.drain_outputs();
        ok
    }

    fn alerts(h: &mut H) -> Vec<(String, AlertKind)> {
        std::iter::from_fn(|| h.r.poll_alert())
            .map(|a| (a.specialist.as_str().to_string(), a.kind))
            .collect()
    }

    fn at(h: &mut H, secs: u64) {
        h.run_to(secs as f64);
    }

    /// One call of `who` from `start` to `end` seconds, coded `kind`.
    fn call(h: &mut H, name: &str, who: &str, start: u64, end: u64, kind: Option<&str>) {
        at(h, start);
        h.connect(name, psych("kk"), who);
        at(h, end);
        h.ended(name);
        if let Some(k) = kind {
            assert!(code(h, who, k));
        }
    }

    #[test]
    fn a_crisis_code_keeps_the_specialist_from_rings_for_the_kinds_wrap_up() {
        let mut h = H::new(vec![wrap(spec("aru", &[Psychology], &["kk"]), 30)]);
        call(&mut h, "c1", "aru", 0, 100, Some("crisis-intervention"));
        // Ten minutes from the end of the call, not the specialist's 30 s.
        at(&mut h, 131);
        assert!(matches!(h.avail("aru"), Availability::WrapUp { .. }));
        let out = h.start("c2", psych("kk").max_wait(Duration::from_secs(900)));
        assert!(rings(&out, "c2").is_empty(), "{out:#?}");
        // The waiting caller gets aru when the ten minutes are over.
        let out = h.run_to(699.0);
        assert!(rings(&out, "c2").is_empty(), "{out:#?}");
        let out = h.run_to(700.0);
        assert_eq!(rings(&out, "c2"), vec![ids(&["aru"])], "{out:#?}");
    }

    #[test]
    fn an_ordinary_code_keeps_the_specialists_own_wrap_up_and_an_unknown_one_is_refused() {
        let mut h = H::new(vec![wrap(spec("aru", &[Psychology], &["kk"]), 30)]);
        call(&mut h, "c1", "aru", 0, 100, Some("consultation"));
        at(&mut h, 129);
        assert!(matches!(h.avail("aru"), Availability::WrapUp { .. }));
        at(&mut h, 130);
        assert_eq!(h.avail("aru"), Availability::Available);
        assert!(!code(&mut h, "aru", "tea-break"));
        assert!(!code(&mut h, "nobody", "consultation"));
    }

    #[test]
    fn a_specialists_own_wrap_up_for_a_kind_wins_over_the_kinds() {
        let mut s = spec("aru", &[Psychology], &["kk"]);
        s.limits
            .wrap_up_by_kind
            .insert("crisis-intervention".into(), Duration::from_secs(120));
        let mut h = H::new(vec![s]);
        call(&mut h, "c1", "aru", 0, 10, Some("crisis-intervention"));
        at(&mut h, 129);
        assert!(matches!(h.avail("aru"), Availability::WrapUp { .. }));
        at(&mut h, 130);
        assert_eq!(h.avail("aru"), Availability::Available);
    }

    #[test]
    fn three_crisis_calls_in_a_row_start_a_break_that_ends_by_itself() {
        let limits = Limits {
            wrap_up_by_kind: [("crisis-intervention".to_string(), Duration::ZERO)].into(),
            ..Limits::default()
        };
        let mut h = H::with(
            vec![
                spec("aru", &[Psychology], &["kk"]),
                spec("bota", &[Legal], &["kk"]),
            ],
            policy(limits),
        );
        call(&mut h, "c1", "aru", 10, 20, Some("crisis-intervention"));
        call(&mut h, "c2", "aru", 30, 40, Some("crisis-intervention"));
        assert!(alerts(&mut h).is_empty());
        call(&mut h, "c3", "aru", 50, 60, Some("crisis-intervention"));
        assert_eq!(alerts(&mut h), vec![("aru".into(), AlertKind::CrisisCap)]);
        at(&mut h, 61);
        assert!(matches!(h.avail("aru"), Availability::Break { .. }));
        let snap = h.r.snapshot(h.now());
        let aru = &snap.specialists.specialists[0];
        assert_eq!(aru.state, "break");
        assert_eq!(aru.break_left_secs, Some(20 * 60 - 1));
        assert_eq!(aru.alerts, vec![AlertKind::CrisisCap]);
        // A caller now finds nobody to wait for: the break is no short
        // absence, so the route's overflow takes them at once.
        let out = h.start("c4", psych("kk"));
        assert!(rings(&out, "c4").is_empty(), "{out:#?}");
        assert!(
            acts(&out, "c4").contains(&overflow(OverflowReason::NobodyAvailable))
                || acts(&out, "c4")
                    .iter()
                    .any(|a| matches!(a, Action::Overflow { .. })),
            "{out:#?}"
        );
        // The break ends twenty minutes after the third call.
        at(&mut h, 60 + 20 * 60 - 1);
        assert!(matches!(h.avail("aru"), Availability::Break { .. }));
        at(&mut h, 60 + 20 * 60);
        assert_eq!(h.avail("aru"), Availability::Available);
        let out = h.start("c5", psych("kk"));
        assert_eq!(rings(&out, "c5"), vec![ids(&["aru"])], "{out:#?}");
    }

    #[test]
    fn a_queued_caller_is_not_given_a_specialist_on_a_break_and_overflows_at_the_max_wait() {
        let limits = Limits {
            crisis_in_a_row: 1,
            wrap_up_by_kind: [("crisis-intervention".to_string(), Duration::ZERO)].into(),
            ..Limits::default()
        };
        let mut settings = policy(limits);
        settings.wrap_up.menu_hold = Duration::from_secs(60);
        let mut h = H::with(
            vec![
                spec("aru", &[Psychology], &["kk"]),
                spec("bota", &[Psychology], &["kk"]),
            ],
            settings,
        );
        h.connect("b", psych("kk").strategy(Strategy::Sequential), "aru");
        h.connect("a", psych("kk"), "bota");
        // A caller waits: both busy.
        let out = h.start("q", psych("kk").max_wait(Duration::from_secs(300)));
        assert!(acts(&out, "q").contains(&Action::EnterQueue), "{out:#?}");
        // aru ends a crisis call: break at once, not rung for the queue.
        at(&mut h, 10);
        let out = h.ended("b");
        assert!(rings(&out, "q").is_empty(), "{out:#?}");
        assert!(code(&mut h, "aru", "crisis-intervention"));
        let out = h.run_to(299.0);
        assert!(rings(&out, "q").is_empty(), "{out:#?}");
        let out = h.run_to(301.0);
        assert!(
            acts(&out, "q").contains(&overflow(OverflowReason::MaxWait)),
            "{out:#?}"
        );
    }

    #[test]
    fn an_ordinary_call_between_crisis_calls_starts_the_count_again() {
        let limits = Limits {
            wrap_up_by_kind: [("crisis-intervention".to_string(), Duration::ZERO)].into(),
            ..Limits::default()
        };
        let mut h = H::with(vec![spec("aru", &[Psychology], &["kk"])], policy(limits));
        call(&mut h, "c1", "aru", 0, 10, Some("crisis-intervention"));
        call(&mut h, "c2", "aru", 20, 30, Some("crisis-intervention"));
        call(&mut h, "c3", "aru", 40, 50, Some("information"));
        call(&mut h, "c4", "aru", 60, 70, Some("crisis-intervention"));
        call(&mut h, "c5", "aru", 80, 90, Some("crisis-intervention"));
        assert_eq!(h.avail("aru"), Availability::Available);
        assert!(alerts(&mut h).is_empty());
    }

    #[test]
    fn long_calls_count_towards_the_break_and_raise_the_long_call_alert() {
        let limits = Limits {
            long_call: Duration::from_secs(600),
            alert_after: Duration::from_secs(900),
            break_for: Duration::from_secs(300),
            ..Limits::default()
        };
        let mut h = H::with(vec![spec("aru", &[Psychology], &["kk"])], policy(limits));
        // Two long calls without a code, and a third one that runs past the alert.
        call(&mut h, "c1", "aru", 0, 600, None);
        call(&mut h, "c2", "aru", 700, 1300, Some("consultation"));
        at(&mut h, 1400);
        h.connect("c3", psych("kk"), "aru");
        assert!(alerts(&mut h).is_empty());
        h.run_to(1400.0 + 899.0);
        assert!(alerts(&mut h).is_empty());
        h.run_to(1400.0 + 900.0);
        assert_eq!(alerts(&mut h), vec![("aru".into(), AlertKind::LongCall)]);
        let snap = h.r.snapshot(h.now());
        assert_eq!(
            snap.specialists.specialists[0].alerts,
            vec![AlertKind::LongCall]
        );
        // Raised once per call.
        h.run_to(1400.0 + 2000.0);
        assert!(alerts(&mut h).is_empty());
        h.ended("c3");
        assert_eq!(alerts(&mut h), vec![("aru".into(), AlertKind::CrisisCap)]);
        assert!(matches!(h.avail("aru"), Availability::Break { .. }));
        h.run_to(3400.0 + 300.0);
        assert_eq!(h.avail("aru"), Availability::Available);
    }

    #[test]
    fn the_daily_cap_stops_rings_until_the_next_day_in_almaty() {
        let limits = Limits {
            daily_calls: 2,
            ..Limits::default()
        };
        let mut h = H::with(vec![spec("aru", &[Psychology], &["kk"])], policy(limits));
        call(&mut h, "c1", "aru", 0, 10, Some("consultation"));
        assert!(alerts(&mut h).is_empty());
        call(&mut h, "c2", "aru", 20, 30, Some("consultation"));
        assert_eq!(alerts(&mut h), vec![("aru".into(), AlertKind::DailyCap)]);
        assert_eq!(h.avail("aru"), Availability::DailyCap);
        let out = h.start("c3", psych("kk"));
        assert!(rings(&out, "c3").is_empty(), "{out:#?}");
        assert!(
            acts(&out, "c3")
                .iter()
                .any(|a| matches!(a, Action::Overflow { .. })),
            "{out:#?}"
        );
        let snap = h.r.snapshot(h.now());
        assert_eq!(snap.specialists.specialists[0].calls_today, 2);
        // 11:00 + 12 h 59 min is 23:59 in Oskemen: still today.
        at(&mut h, 12 * 3600 + 59 * 60);
        assert_eq!(h.avail("aru"), Availability::DailyCap);
        // Midnight in Asia/Almaty: a new day.
        at(&mut h, 13 * 3600);
        assert_eq!(h.avail("aru"), Availability::Available);
        let out = h.start("c4", psych("kk"));
        assert_eq!(rings(&out, "c4"), vec![ids(&["aru"])], "{out:#?}");
    }

    #[test]
    fn zero_turns_the_caps_off() {
        let limits = Limits {
            daily_calls: 0,
            crisis_in_a_row: 0,
            wrap_up_by_kind: [("crisis-intervention".to_string(), Duration::ZERO)].into(),
            ..Limits::default()
        };
        let mut h = H::with(vec![spec("aru", &[Psychology], &["kk"])], policy(limits));
        for i in 0..30u64 {
            call(
                &mut h,
                &format!("c{i}"),
                "aru",
                i * 20,
                i * 20 + 10,
                Some("crisis-intervention"),
            );
        }
        assert_eq!(h.avail("aru"), Availability::Available);
        assert!(alerts(&mut h).is_empty());
    }

    #[test]
    fn the_wrap_up_menu_holds_the_specialist_until_the_code_or_its_end() {
        let mut settings = RouterSettings::default();
        settings.wrap_up.menu_hold = Duration::from_secs(40);
        let mut h = H::with(vec![spec("aru", &[Psychology], &["kk"])], settings);
        call(&mut h, "c1", "aru", 0, 10, None);
        at(&mut h, 49);
        assert!(matches!(h.avail("aru"), Availability::WrapUp { .. }));
        at(&mut h, 50);
        assert_eq!(h.avail("aru"), Availability::Available);
        // The menu ends without a code: free at once (wrap_up is zero here).
        call(&mut h, "c2", "aru", 60, 70, None);
        assert!(matches!(h.avail("aru"), Availability::WrapUp { .. }));
        let n = h.now();
        assert!(h.r.wrap_up_coded(&SpecialistId::from("aru"), None, n));
        assert_eq!(h.avail("aru"), Availability::Available);
        // A code ends the hold too.
        call(&mut h, "c3", "aru", 80, 90, Some("information"));
        assert_eq!(h.avail("aru"), Availability::Available);
    }

    #[test]
    fn a_resume_by_the_coordinator_ends_a_break_early() {
        let limits = Limits {
            crisis_in_a_row: 1,
            ..Limits::default()
        };
        let mut h = H::with(vec![spec("aru", &[Psychology], &["kk"])], policy(limits));
        call(&mut h, "c1", "aru", 0, 10, Some("crisis-intervention"));
        assert!(matches!(h.avail("aru"), Availability::Break { .. }));
        let n = h.now();
        assert!(h.r.set_paused("aru", false, "", n));
        // The crisis kind's wrap-up still applies.
        assert!(matches!(h.avail("aru"), Availability::WrapUp { .. }));
    }
}
