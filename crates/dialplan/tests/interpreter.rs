//! The interpreter, branch by branch: no sockets, no clock. Timers are
//! "fired" by feeding `Event::Timeout`.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::{repo, Manifest};
use senim_dialplan::{
    load, load_str, load_unchecked, Action, AnyPrompt, Event, Interpreter, Plan, RouteOutcome,
    TransferOutcome,
};

fn centre() -> Arc<Plan> {
    let (plan, _) =
        load(&repo().join("dialplans/centre.xml"), &Manifest::load()).expect("centre.xml loads");
    Arc::new(plan)
}

fn plan(xml: &str) -> Arc<Plan> {
    match load_str(xml, Path::new("test.xml"), &AnyPrompt) {
        Ok((p, _)) => Arc::new(p),
        Err(d) => panic!("{d:#?}"),
    }
}

fn plays(actions: &[Action]) -> Vec<(Vec<&str>, &str)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Play { prompts, language } => Some((
                prompts.iter().map(String::as_str).collect(),
                language.as_str(),
            )),
            _ => None,
        })
        .collect()
}

fn records(actions: &[Action]) -> Vec<String> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Record { node, what } => Some(format!("{node}: {what}")),
            _ => None,
        })
        .collect()
}

fn has_record(actions: &[Action], node: &str, what: &str) -> bool {
    actions
        .iter()
        .any(|a| matches!(a, Action::Record { node: n, what: w } if n == node && w == what))
}

fn route_service(actions: &[Action]) -> Option<&str> {
    actions.iter().find_map(|a| match a {
        Action::Route { service, .. } => Some(service.as_str()),
        _ => None,
    })
}

fn transfer_partner(actions: &[Action]) -> Option<&str> {
    actions.iter().find_map(|a| match a {
        Action::Transfer { partner, .. } => Some(partner.as_str()),
        _ => None,
    })
}

fn hangup(actions: &[Action]) -> Option<&str> {
    actions.iter().find_map(|a| match a {
        Action::Hangup { outcome } => Some(outcome.as_str()),
        _ => None,
    })
}

/// The main menu's prompt, as a repeat, a timeout or a retry plays it.
const MAIN: [&str; 2] = ["emergency-notice", "main-menu"];
/// The main menu on entering it: its intro (what the centre offers) first.
const MAIN_FIRST: [&str; 3] = ["about-centre", "emergency-notice", "main-menu"];

/// Centre plan: started, language chosen with `digit`, main menu played to the end.
fn in_main_menu(digit: char) -> Interpreter {
    let mut i = Interpreter::new(centre());
    i.handle(Event::Started);
    i.handle(Event::Digit(digit));
    assert_eq!(i.node(), "main");
    let a = i.handle(Event::PromptFinished);
    assert_eq!(a, vec![Action::StartTimer(Duration::from_secs(6))]);
    i
}

/// The outside world's answers for an automatic run.
#[derive(Clone, Copy)]
struct World {
    hours_open: bool,
    route: RouteOutcome,
    transfer: TransferOutcome,
    callback: bool,
}

/// Drive a caller who never presses a key: every prompt finishes, every
/// timer fires, the driver answers as `world` says. Returns every action.
fn silent_run(i: &mut Interpreter, world: World) -> Vec<Action> {
    let mut all = Vec::new();
    let mut pending = vec![Event::Started];
    for _ in 0..1000 {
        let Some(ev) = pending.pop() else { break };
        let actions = i.handle(ev);
        for a in &actions {
            match a {
                Action::Play { .. } => pending.push(Event::PromptFinished),
                Action::StartTimer(_) => pending.push(Event::Timeout),
                Action::CheckHours { .. } => pending.push(Event::HoursResult {
                    open: world.hours_open,
                }),
                Action::Route { .. } => {
                    pending.push(Event::RouteResult(world.route));
                    if world.route == RouteOutcome::Connected {
                        pending.insert(0, Event::PeerHungUp);
                    }
                }
                Action::Transfer { .. } => pending.push(Event::TransferResult(world.transfer)),
                Action::Callback { .. } => pending.push(Event::CallbackResult {
                    recorded: world.callback,
                }),
                Action::Voicemail { .. } => pending.push(Event::VoicemailResult { recorded: true }),
                _ => {}
            }
        }
        all.extend(actions);
        if i.is_done() {
            break;
        }
    }
    all
}

#[test]
fn kazakh_caller_legal_connected_survey_goodbye() {
    let mut i = Interpreter::new(centre());
    assert_eq!(i.language(), "ru");
    assert_eq!(i.node(), "");
    let a = i.handle(Event::Started);
    assert_eq!(plays(&a), vec![(vec!["greeting-short"], "ru")]);
    assert!(has_record(&a, "greeting", "enter menu"));
    // Barge-in: the key stops the greeting.
    let a = i.handle(Event::Digit('1'));
    assert_eq!(a.first(), Some(&Action::StopPrompt));
    assert!(a.contains(&Action::SetLanguage("kk".into())));
    assert!(has_record(&a, "greeting", "choice 1"));
    assert_eq!(plays(&a), vec![(MAIN_FIRST.to_vec(), "kk")]);
    assert_eq!(i.language(), "kk");
    let a = i.handle(Event::PromptFinished);
    assert_eq!(a, vec![Action::StartTimer(Duration::from_secs(6))]);
    let a = i.handle(Event::Digit('1'));
    assert!(a.contains(&Action::CancelTimer));
    assert!(a.contains(&Action::CheckHours {
        schedule: "centre".into()
    }));
    assert_eq!(i.node(), "legal");
    let a = i.handle(Event::HoursResult { open: true });
    assert!(has_record(&a, "legal", "hours open"));
    assert_eq!(plays(&a), vec![(vec!["connecting"], "kk")]);
    let a = i.handle(Event::PromptFinished);
    assert_eq!(
        a,
        vec![Action::Route {
            node: "route-legal".into(),
            service: "legal".into(),
            strategy: "longest-idle".into(),
            ring: Duration::from_secs(20),
            max_wait: Duration::from_secs(180),
            other_language: true,
            prefer_last: false,
        }]
    );
    let a = i.handle(Event::RouteResult(RouteOutcome::Connected));
    assert!(has_record(&a, "route-legal", "route connected"));
    assert!(plays(&a).is_empty());
    // A key during the conversation is not the interpreter's business.
    assert!(i.handle(Event::Digit('3')).is_empty());
    let a = i.handle(Event::PeerHungUp);
    assert_eq!(plays(&a), vec![(vec!["survey"], "kk")]);
    let a = i.handle(Event::PromptFinished);
    assert_eq!(a, vec![Action::StartTimer(Duration::from_secs(8))]);
    let a = i.handle(Event::Digit('5'));
    assert!(has_record(&a, "survey", "survey score 5"));
    assert!(a.contains(&Action::SurveyScore {
        node: "survey".into(),
        score: 5
    }));
    // A caller not remembered yet is asked whether they may be; no key is a no.
    assert_eq!(plays(&a), vec![(vec!["remember-offer"], "kk")]);
    let a = i.handle(Event::PromptFinished);
    assert_eq!(a, vec![Action::StartTimer(Duration::from_secs(6))]);
    let a = i.handle(Event::Timeout);
    assert!(has_record(&a, "consent", "remember: no answer"));
    assert_eq!(plays(&a), vec![(vec!["goodbye"], "kk")]);
    let a = i.handle(Event::PromptFinished);
    assert_eq!(hangup(&a), Some("completed"));
    assert!(i.is_done());
    assert_eq!(i.outcome(), Some("completed"));
    assert!(i.handle(Event::Started).is_empty());
}

#[test]
fn every_service_in_both_languages() {
    for (lang_digit, lang) in [('1', "kk"), ('2', "ru")] {
        for (digit, service) in [('1', "legal"), ('2', "psychology"), ('3', "mediation")] {
            let mut i = in_main_menu(lang_digit);
            let a = i.handle(Event::Digit(digit));
            assert!(has_record(&a, "main", &format!("choice {digit}")));
            assert_eq!(i.node(), service);
            i.handle(Event::HoursResult { open: true });
            let a = i.handle(Event::PromptFinished);
            assert_eq!(route_service(&a), Some(service));
            assert_eq!(i.language(), lang);
        }
    }
}

#[test]
fn emergency_digit_works_in_every_menu_and_the_survey() {
    let crisis = |a: &[Action]| transfer_partner(a) == Some("ulba-crisis-centre");
    // Greeting, before any language is chosen.
    let mut i = Interpreter::new(centre());
    i.handle(Event::Started);
    let a = i.handle(Event::Digit('0'));
    assert!(has_record(&a, "greeting", "emergency 0"));
    assert!(crisis(&a), "{a:?}");
    assert_eq!(i.node(), "crisis");
    assert_eq!(i.language(), "ru");
    // Main menu, during the prompt and after it.
    let mut i = Interpreter::new(centre());
    i.handle(Event::Started);
    i.handle(Event::Digit('1'));
    let a = i.handle(Event::Digit('0'));
    assert_eq!(a.first(), Some(&Action::StopPrompt));
    assert!(crisis(&a));
    let mut i = in_main_menu('2');
    assert!(crisis(&i.handle(Event::Digit('0'))));
    // Survey.
    let mut i = in_main_menu('2');
    i.handle(Event::Digit('2'));
    i.handle(Event::HoursResult { open: true });
    i.handle(Event::PromptFinished);
    i.handle(Event::RouteResult(RouteOutcome::Connected));
    i.handle(Event::PeerHungUp);
    assert_eq!(i.node(), "survey");
    assert!(crisis(&i.handle(Event::Digit('0'))));
}

#[test]
fn a_menu_intro_is_heard_once_on_entering_the_menu_and_not_on_repeats() {
    let xml = r#"<dialplan version="1" start="m" languages="ru" emergency="help">
      <menu id="m" intro="hello about" prompt="menu" invalid-prompt="invalid" max-tries="3" on-fail="help">
        <choice digit="1" goto="m"/>
      </menu>
      <transfer id="help" partner="crisis" fallback="bye"/>
      <hangup id="bye" allow-silent="true"/>
    </dialplan>"#;
    let mut i = Interpreter::new(plan(xml));
    let a = i.handle(Event::Started);
    assert_eq!(plays(&a), vec![(vec!["hello", "about", "menu"], "ru")]);
    // The emergency key works while the intro plays.
    let mut j = Interpreter::new(plan(xml));
    j.handle(Event::Started);
    assert_eq!(
        transfer_partner(&j.handle(Event::Digit('0'))),
        Some("crisis")
    );
    // Repeat, timeout and an invalid key: the prompt without the intro.
    let a = i.handle(Event::Digit('*'));
    assert_eq!(plays(&a), vec![(vec!["menu"], "ru")]);
    i.handle(Event::PromptFinished);
    let a = i.handle(Event::Timeout);
    assert_eq!(plays(&a), vec![(vec!["menu"], "ru")]);
    i.handle(Event::PromptFinished);
    let a = i.handle(Event::Digit('7'));
    assert_eq!(plays(&a), vec![(vec!["invalid", "menu"], "ru")]);
    i.handle(Event::PromptFinished);
    // A choice that leads into the menu again enters it again: the intro too.
    let a = i.handle(Event::Digit('1'));
    assert_eq!(plays(&a), vec![(vec!["hello", "about", "menu"], "ru")]);
}

#[test]
fn star_repeats_the_menu_without_counting_a_try() {
    let mut i = in_main_menu('2');
    for _ in 0..5 {
        let a = i.handle(Event::Digit('*'));
        assert!(has_record(&a, "main", "repeat"));
        assert_eq!(plays(&a), vec![(MAIN.to_vec(), "ru")]);
        i.handle(Event::PromptFinished);
    }
    // Still three tries left: two timeouts replay, the third goes on.
    for _ in 0..2 {
        let a = i.handle(Event::Timeout);
        assert_eq!(plays(&a), vec![(MAIN.to_vec(), "ru")]);
        i.handle(Event::PromptFinished);
    }
    let a = i.handle(Event::Timeout);
    assert!(has_record(&a, "main", "no input"));
    assert_eq!(i.node(), "psychology");
}

#[test]
fn invalid_digit_plays_invalid_then_the_menu_and_counts() {
    let mut i = in_main_menu('1');
    let a = i.handle(Event::Digit('9'));
    assert!(has_record(&a, "main", "invalid 9 (1/3)"));
    assert_eq!(
        plays(&a),
        vec![(vec!["invalid", "emergency-notice", "main-menu"], "kk")]
    );
    // One PromptFinished after the whole sequence, then the timer.
    let a = i.handle(Event::PromptFinished);
    assert_eq!(a, vec![Action::StartTimer(Duration::from_secs(6))]);
    i.handle(Event::Digit('#'));
    i.handle(Event::PromptFinished);
    let a = i.handle(Event::Digit('7'));
    assert!(has_record(&a, "main", "invalid 7 (3/3)"));
    assert!(has_record(&a, "main", "no valid choice"));
    assert_eq!(i.node(), "psychology");
    assert!(a.contains(&Action::CheckHours {
        schedule: "centre".into()
    }));
}

#[test]
fn timeouts_replay_the_main_menu_three_times_then_psychology() {
    let mut i = in_main_menu('2');
    for n in 1..=2 {
        let a = i.handle(Event::Timeout);
        assert!(has_record(&a, "main", &format!("timeout ({n}/3)")));
        assert_eq!(plays(&a), vec![(MAIN.to_vec(), "ru")]);
        // A timeout while the prompt plays is stale.
        assert!(i.handle(Event::Timeout).is_empty());
        i.handle(Event::PromptFinished);
    }
    let a = i.handle(Event::Timeout);
    assert!(hangup(&a).is_none());
    assert_eq!(i.node(), "psychology");
}

#[test]
fn silent_caller_greeting_falls_back_to_russian_main_menu() {
    let mut i = Interpreter::new(centre());
    i.handle(Event::Started);
    for _ in 0..2 {
        i.handle(Event::PromptFinished);
        let a = i.handle(Event::Timeout);
        assert_eq!(plays(&a), vec![(vec!["greeting-short"], "ru")]);
    }
    i.handle(Event::PromptFinished);
    let a = i.handle(Event::Timeout);
    assert!(a.contains(&Action::SetLanguage("ru".into())));
    assert!(has_record(&a, "main-ru", "enter language ru"));
    assert_eq!(plays(&a), vec![(MAIN_FIRST.to_vec(), "ru")]);
}

#[test]
fn silent_caller_always_reaches_a_human_before_any_hangup() {
    let routes = [
        RouteOutcome::Connected,
        RouteOutcome::Closed,
        RouteOutcome::NoAnswer,
        RouteOutcome::Failed,
    ];
    for hours_open in [true, false] {
        for route in routes {
            for transfer in [TransferOutcome::Transferred, TransferOutcome::Failed] {
                for callback in [true, false] {
                    let world = World {
                        hours_open,
                        route,
                        transfer,
                        callback,
                    };
                    let mut i = Interpreter::new(centre());
                    let all = silent_run(&mut i, world);
                    assert!(i.is_done(), "not done: {:?}", records(&all));
                    let human = all
                        .iter()
                        .position(|a| matches!(a, Action::Route { .. } | Action::Transfer { .. }));
                    let end = all.iter().position(|a| matches!(a, Action::Hangup { .. }));
                    assert!(human.is_some(), "{:?}", records(&all));
                    if let (Some(h), Some(e)) = (human, end) {
                        assert!(h < e);
                    }
                    // The silent caller is served in Russian throughout.
                    assert!(plays(&all).iter().skip(3).all(|(_, l)| *l == "ru"));
                    if !hours_open {
                        assert_eq!(transfer_partner(&all), Some("ulba-crisis-centre"));
                        assert!(plays(&all).iter().any(|(p, _)| p == &vec!["after-hours"]));
                    }
                    if hours_open && route == RouteOutcome::Connected {
                        assert_eq!(route_service(&all), Some("psychology"));
                        assert!(has_record(&all, "survey", "survey no score (timeout)"));
                        assert_eq!(i.outcome(), Some("completed"));
                    }
                }
            }
        }
    }
}

#[test]
fn route_outcomes_lead_where_the_plan_says() {
    let go = |o: RouteOutcome| {
        let mut i = in_main_menu('2');
        i.handle(Event::Digit('3'));
        i.handle(Event::HoursResult { open: true });
        i.handle(Event::PromptFinished);
        let a = i.handle(Event::RouteResult(o));
        (i, a)
    };
    let (i, a) = go(RouteOutcome::Closed);
    assert!(has_record(&a, "route-mediation", "route closed"));
    assert_eq!(i.node(), "closed");
    assert_eq!(plays(&a), vec![(vec!["after-hours"], "ru")]);
    for o in [RouteOutcome::NoAnswer, RouteOutcome::Failed] {
        let (i, a) = go(o);
        assert_eq!(i.node(), "offer-callback");
        assert!(a.contains(&Action::Callback {
            node: "offer-callback".into()
        }));
    }
    let (mut i, _) = go(RouteOutcome::Connected);
    // A second result is stale.
    assert!(i
        .handle(Event::RouteResult(RouteOutcome::Failed))
        .is_empty());
    assert_eq!(i.node(), "route-mediation");
}

#[test]
fn hours_closed_plays_after_hours_then_the_crisis_partner() {
    let mut i = in_main_menu('1');
    i.handle(Event::Digit('1'));
    let a = i.handle(Event::HoursResult { open: false });
    assert!(has_record(&a, "legal", "hours closed"));
    assert_eq!(plays(&a), vec![(vec!["after-hours"], "kk")]);
    let a = i.handle(Event::PromptFinished);
    assert_eq!(
        a,
        vec![
            Action::Record {
                node: "crisis".into(),
                what: "enter transfer ulba-crisis-centre".into()
            },
            Action::Transfer {
                node: "crisis".into(),
                partner: "ulba-crisis-centre".into()
            }
        ]
    );
    let a = i.handle(Event::TransferResult(TransferOutcome::Transferred));
    assert!(has_record(&a, "crisis", "transferred"));
    assert!(hangup(&a).is_none(), "the partner has the call: no hangup");
    assert!(i.is_done());
    assert_eq!(i.outcome(), Some("transferred"));
}

#[test]
fn transfer_handed_over_is_done_without_claiming_an_answer() {
    let mut i = in_main_menu('2');
    i.handle(Event::Digit('0'));
    let a = i.handle(Event::TransferResult(TransferOutcome::HandedOver));
    assert!(has_record(&a, "crisis", "handed over"));
    assert!(hangup(&a).is_none(), "the upstream has the call: no hangup");
    assert!(i.is_done());
    assert_eq!(i.outcome(), Some("handed-over"));
}

#[test]
fn transfer_failed_falls_back_to_callback_then_voicemail() {
    let mut i = in_main_menu('2');
    i.handle(Event::Digit('0'));
    let a = i.handle(Event::TransferResult(TransferOutcome::Failed));
    assert!(has_record(&a, "crisis", "transfer failed"));
    assert_eq!(i.node(), "offer-callback");
    let a = i.handle(Event::CallbackResult { recorded: false });
    assert!(has_record(&a, "offer-callback", "callback not recorded"));
    assert_eq!(i.node(), "leave-message");
    assert_eq!(plays(&a), vec![(vec!["voicemail"], "ru")]);
    let a = i.handle(Event::PromptFinished);
    assert_eq!(
        a,
        vec![Action::Voicemail {
            node: "leave-message".into(),
            max_length: Duration::from_secs(120)
        }]
    );
    let a = i.handle(Event::VoicemailResult { recorded: true });
    assert!(has_record(&a, "leave-message", "voicemail recorded"));
    assert_eq!(plays(&a), vec![(vec!["goodbye"], "ru")]);
}

#[test]
fn callback_recorded_confirms_then_goodbye() {
    let mut i = in_main_menu('1');
    i.handle(Event::Digit('0'));
    i.handle(Event::TransferResult(TransferOutcome::Failed));
    let a = i.handle(Event::CallbackResult { recorded: true });
    assert_eq!(plays(&a), vec![(vec!["callback-confirm"], "kk")]);
    let a = i.handle(Event::PromptFinished);
    assert_eq!(plays(&a), vec![(vec!["goodbye"], "kk")]);
    let a = i.handle(Event::PromptFinished);
    assert_eq!(hangup(&a), Some("completed"));
}

fn survey_call() -> Interpreter {
    let mut i = in_main_menu('2');
    i.handle(Event::Digit('1'));
    i.handle(Event::HoursResult { open: true });
    i.handle(Event::PromptFinished);
    i.handle(Event::RouteResult(RouteOutcome::Connected));
    i.handle(Event::PeerHungUp);
    i
}

#[test]
fn survey_scores_timeouts_and_invalid_keys() {
    // A score.
    let mut i = survey_call();
    let a = i.handle(Event::Digit('3'));
    assert_eq!(a.first(), Some(&Action::StopPrompt));
    assert!(has_record(&a, "survey", "survey score 3"));
    assert_eq!(i.node(), "consent");
    // Timeout: no score.
    let mut i = survey_call();
    i.handle(Event::PromptFinished);
    let a = i.handle(Event::Timeout);
    assert!(has_record(&a, "survey", "survey no score (timeout)"));
    assert_eq!(i.node(), "consent");
    // One invalid key repeats the question once; a score then counts.
    let mut i = survey_call();
    let a = i.handle(Event::Digit('8'));
    assert_eq!(plays(&a), vec![(vec!["invalid", "survey"], "ru")]);
    let a = i.handle(Event::Digit('4'));
    assert!(has_record(&a, "survey", "survey score 4"));
    // Two invalid keys: no score.
    let mut i = survey_call();
    i.handle(Event::Digit('9'));
    let a = i.handle(Event::Digit('#'));
    assert!(has_record(&a, "survey", "survey no score"));
    assert_eq!(i.node(), "consent");
}

const MULTI: &str = r#"<dialplan version="1" start="codes" languages="ru" emergency="help">
  <menu id="codes" prompt="main-menu" max-digits="3" inter-digit-timeout="2s" timeout="5s"
        invalid-prompt="invalid" on-fail="help">
    <choice digit="1" goto="one"/>
    <choice digit="12" goto="twelve"/>
    <choice digit="123" goto="one-two-three"/>
    <choice digit="45" goto="forty-five"/>
  </menu>
  <transfer id="one" partner="p1" fallback="help"/>
  <transfer id="twelve" partner="p12" fallback="help"/>
  <transfer id="one-two-three" partner="p123" fallback="help"/>
  <transfer id="forty-five" partner="p45" fallback="help"/>
  <transfer id="help" partner="crisis" fallback="bye"/>
  <play id="bye" prompt="goodbye" next="end"/>
  <hangup id="end"/>
</dialplan>"#;

fn multi() -> Interpreter {
    let mut i = Interpreter::new(plan(MULTI));
    i.handle(Event::Started);
    i.handle(Event::PromptFinished);
    i
}

#[test]
fn multi_digit_input_with_inter_digit_timeout_and_hash() {
    let two = Action::StartTimer(Duration::from_secs(2));
    // "1" is a choice but also a prefix: wait for the inter-digit timeout.
    let mut i = multi();
    let a = i.handle(Event::Digit('1'));
    assert_eq!(a, vec![Action::CancelTimer, two.clone()]);
    let a = i.handle(Event::Timeout);
    assert_eq!(transfer_partner(&a), Some("p1"));
    assert!(has_record(&a, "codes", "choice 1"));
    // "12#": the terminator ends input early.
    let mut i = multi();
    i.handle(Event::Digit('1'));
    assert_eq!(
        i.handle(Event::Digit('2')),
        vec![Action::CancelTimer, two.clone()]
    );
    let a = i.handle(Event::Digit('#'));
    assert_eq!(transfer_partner(&a), Some("p12"));
    // "123": max-digits reached, no wait.
    let mut i = multi();
    i.handle(Event::Digit('1'));
    i.handle(Event::Digit('2'));
    assert_eq!(transfer_partner(&i.handle(Event::Digit('3'))), Some("p123"));
    // "45": no longer choice starts with it, no wait.
    let mut i = multi();
    i.handle(Event::Digit('4'));
    assert_eq!(transfer_partner(&i.handle(Event::Digit('5'))), Some("p45"));
    // "4" then silence: invalid, counted, menu again.
    let mut i = multi();
    i.handle(Event::Digit('4'));
    let a = i.handle(Event::Timeout);
    assert!(has_record(&a, "codes", "invalid 4 (1/3)"));
    assert_eq!(plays(&a), vec![(vec!["invalid", "main-menu"], "ru")]);
    // "9": nothing starts with it, invalid at once.
    let mut i = multi();
    let a = i.handle(Event::Digit('9'));
    assert!(has_record(&a, "codes", "invalid 9 (1/3)"));
    // The emergency digit only counts as the first key.
    let mut i = multi();
    let a = i.handle(Event::Digit('0'));
    assert_eq!(transfer_partner(&a), Some("crisis"));
    // "#" alone is an invalid key.
    let mut i = multi();
    let a = i.handle(Event::Digit('#'));
    assert!(has_record(&a, "codes", "invalid # (1/3)"));
    // Keys that are not DTMF are ignored.
    let mut i = multi();
    assert!(i.handle(Event::Digit('x')).is_empty());
}

#[test]
fn stale_and_misplaced_events_are_ignored() {
    let mut i = Interpreter::new(centre());
    // Nothing has started.
    for ev in [
        Event::Digit('1'),
        Event::PromptFinished,
        Event::Timeout,
        Event::PeerHungUp,
        Event::HoursResult { open: true },
        Event::RouteResult(RouteOutcome::Connected),
        Event::TransferResult(TransferOutcome::Failed),
        Event::CallbackResult { recorded: true },
        Event::VoicemailResult { recorded: true },
    ] {
        assert!(i.handle(ev).is_empty());
    }
    i.handle(Event::Started);
    assert!(i.handle(Event::Started).is_empty());
    // Timeout while the greeting plays; results nobody asked for.
    assert!(i.handle(Event::Timeout).is_empty());
    assert!(i.handle(Event::HoursResult { open: false }).is_empty());
    assert!(i
        .handle(Event::RouteResult(RouteOutcome::Closed))
        .is_empty());
    assert!(i.handle(Event::PeerHungUp).is_empty());
    i.handle(Event::Digit('2'));
    // A PromptFinished for the stopped greeting arrives late: the main menu
    // prompt counts as finished (the driver sends one per Play), but a
    // second one is stale.
    i.handle(Event::PromptFinished);
    assert!(i.handle(Event::PromptFinished).is_empty());
    i.handle(Event::Digit('1'));
    // Waiting for the schedule: keys and prompts are ignored.
    assert!(i.handle(Event::Digit('5')).is_empty());
    assert!(i.handle(Event::PromptFinished).is_empty());
    assert!(i.handle(Event::Timeout).is_empty());
    assert_eq!(i.node(), "legal");
}

#[test]
fn runtime_loop_guard_goes_to_emergency_once_then_hangs_up() {
    let xml = r#"<dialplan version="1" start="a" languages="ru" emergency="help">
      <goto id="a" target="b"/>
      <goto id="b" target="a"/>
      <transfer id="help" partner="crisis" fallback="a"/>
    </dialplan>"#;
    let plan = Arc::new(load_unchecked(xml, Path::new("loop.xml"), &AnyPrompt).unwrap());
    let mut i = Interpreter::new(plan);
    let a = i.handle(Event::Started);
    assert!(has_record(&a, "b", "dialplan-loop") || has_record(&a, "a", "dialplan-loop"));
    assert_eq!(transfer_partner(&a), Some("crisis"));
    assert!(!i.is_done());
    let a = i.handle(Event::TransferResult(TransferOutcome::Failed));
    assert_eq!(hangup(&a), Some("dialplan-loop"));
    assert_eq!(i.outcome(), Some("dialplan-loop"));
}

#[test]
fn runtime_loop_guard_catches_a_loop_of_plays() {
    let xml = r#"<dialplan version="1" start="a" languages="ru" emergency-digit="none">
      <play id="a" prompt="goodbye" next="b"/>
      <play id="b" prompt="goodbye" next="a"/>
    </dialplan>"#;
    let plan = Arc::new(load_unchecked(xml, Path::new("loop.xml"), &AnyPrompt).unwrap());
    let mut i = Interpreter::new(plan);
    i.handle(Event::Started);
    let mut n = 0;
    while !i.is_done() && n < 1000 {
        i.handle(Event::PromptFinished);
        n += 1;
    }
    assert_eq!(i.outcome(), Some("dialplan-loop"));
    assert!(
        n <= senim_dialplan::interpreter::MAX_STEPS as usize + 1,
        "{n}"
    );
}

#[test]
fn dangling_reference_at_run_time_goes_to_emergency() {
    let xml = r#"<dialplan version="1" start="a" languages="ru" emergency="help">
      <play id="a" prompt="goodbye" next="nowhere"/>
      <transfer id="help" partner="crisis" fallback="a"/>
    </dialplan>"#;
    let plan = Arc::new(load_unchecked(xml, Path::new("x.xml"), &AnyPrompt).unwrap());
    let mut i = Interpreter::new(plan);
    i.handle(Event::Started);
    let a = i.handle(Event::PromptFinished);
    assert!(has_record(&a, "a", "dialplan-error: no node \"nowhere\""));
    assert_eq!(transfer_partner(&a), Some("crisis"));
    i.handle(Event::TransferResult(TransferOutcome::Failed));
    let a = i.handle(Event::PromptFinished);
    assert_eq!(hangup(&a), Some("dialplan-error"));
}

#[test]
fn prompts_fall_back_through_the_language_order() {
    // "welcome" exists only in ru; a kk caller hears it in ru; a sequence
    // is played in the first language that has all of it.
    struct Cat;
    impl senim_dialplan::PromptCatalog for Cat {
        fn has(&self, id: &str, language: &str) -> bool {
            id != "welcome" || language == "ru"
        }
    }
    let xml = r#"<dialplan version="1" start="m" languages="kk ru" default-language="kk" emergency-digit="none">
      <menu id="m" prompt="welcome main-menu" on-fail="x"/>
      <play id="x" prompt="main-menu" next="e"/>
      <hangup id="e"/>
    </dialplan>"#;
    let plan = Arc::new(load_unchecked(xml, Path::new("x.xml"), &Cat).unwrap());
    assert_eq!(plan.resolve_language(&["main-menu".into()], "kk"), "kk");
    assert_eq!(plan.resolve_language(&["welcome".into()], "kk"), "ru");
    let mut i = Interpreter::new(plan);
    let a = i.handle(Event::Started);
    assert_eq!(plays(&a), vec![(vec!["welcome", "main-menu"], "ru")]);
    // The validator refuses the same plan: welcome is missing in kk.
    let errs = load_str(xml, Path::new("x.xml"), &Cat).unwrap_err();
    assert!(
        errs.iter()
            .any(|d| d.is_error() && d.message.contains("\"welcome\" has no recording in \"kk\"")),
        "{errs:?}"
    );
}

#[test]
fn a_reload_does_not_change_a_call_in_progress() {
    let old = centre();
    let mut i = Interpreter::new(Arc::clone(&old));
    i.handle(Event::Started);
    // The driver swaps in a new plan for new calls; this call keeps its own.
    let new = plan(
        r#"<dialplan version="1" start="x" languages="ru" emergency-digit="none">
      <play id="x" prompt="goodbye" next="y"/><hangup id="y" allow-silent="true"/></dialplan>"#,
    );
    let mut j = Interpreter::new(new);
    assert_eq!(
        plays(&j.handle(Event::Started)),
        vec![(vec!["goodbye"], "ru")]
    );
    let a = i.handle(Event::Digit('1'));
    assert_eq!(plays(&a), vec![(MAIN_FIRST.to_vec(), "kk")]);
    assert!(Arc::ptr_eq(i.plan(), &old));
    fn send<T: Send + Sync>() {}
    send::<Interpreter>();
}

#[test]
fn emergency_key_while_waiting_for_a_specialist_goes_to_the_emergency_node() {
    let mut i = in_main_menu('1');
    i.handle(Event::Digit('2'));
    i.handle(Event::HoursResult { open: true });
    let a = i.handle(Event::PromptFinished);
    assert_eq!(route_service(&a), Some("psychology"));
    let a = i.handle(Event::RouteResult(RouteOutcome::Emergency));
    assert_eq!(transfer_partner(&a), Some("ulba-crisis-centre"));
    assert!(has_record(&a, "route-psychology", "route emergency"));
}

#[test]
fn a_call_can_start_at_another_node() {
    // The centre's plan from its main menu (a line whose callers skip the
    // language choice): the default language, the menu's prompt, its keys.
    let mut i = Interpreter::starting_at(centre(), "main").expect("main exists");
    assert_eq!(i.node(), "");
    let a = i.handle(Event::Started);
    assert_eq!(i.node(), "main");
    assert_eq!(plays(&a), vec![(MAIN_FIRST.to_vec(), "ru")]);
    assert!(has_record(&a, "main", "enter menu"), "{a:?}");
    i.handle(Event::PromptFinished);
    let a = i.handle(Event::Digit('1'));
    assert!(has_record(&a, "main", "choice 1"), "{a:?}");
    // A second Started changes nothing.
    assert!(i.handle(Event::Started).is_empty());
    // The emergency digit works as from the start.
    let mut i = Interpreter::starting_at(centre(), "main").unwrap();
    i.handle(Event::Started);
    let a = i.handle(Event::Digit('0'));
    assert_eq!(transfer_partner(&a), Some("ulba-crisis-centre"), "{a:?}");
    // No such node: no interpreter (the caller starts at the plan's start instead).
    assert!(Interpreter::starting_at(centre(), "nowhere").is_none());
    let mut i = Interpreter::new(centre());
    i.handle(Event::Started);
    assert_eq!(i.node(), "greeting");
}
