//! The nodes of a caller remembered with consent: `<recognise>`,
//! `<remember>`, `<forget>` and a route's `prefer="last-specialist"`.

use std::path::Path;
use std::sync::Arc;

use senim_dialplan::{load_str, Action, AnyPrompt, Event, Interpreter, Plan, RouteOutcome};

const PLAN: &str = r#"<dialplan version="1" start="recognise" languages="kk ru" default-language="kk" emergency="crisis">
  <recognise id="recognise" known="welcome-back" new="greeting"/>
  <menu id="welcome-back" prompt="welcome-back" on-fail="main">
    <choice digit="1" goto="route-same"/>
    <choice digit="2" goto="main"/>
    <choice digit="9" goto="forget"/>
  </menu>
  <forget id="forget" next="main"/>
  <menu id="greeting" prompt="greeting" on-fail="main">
    <choice digit="1" language="kk" goto="main"/>
    <choice digit="2" language="ru" goto="main"/>
  </menu>
  <menu id="main" prompt="main-menu" on-fail="route">
    <choice digit="1" goto="route"/>
  </menu>
  <route id="route-same" service="legal" prefer="last-specialist" overflow="crisis" after="survey"/>
  <route id="route" service="legal" overflow="crisis" after="survey"/>
  <survey id="survey" prompt="survey" next="consent"/>
  <remember id="consent" prompt="remember-offer" digit="1" timeout="5s" next="goodbye"/>
  <transfer id="crisis" partner="ulba-crisis-centre" fallback="goodbye"/>
  <play id="goodbye" prompt="goodbye" next="end"/>
  <hangup id="end"/>
</dialplan>"#;

fn plan(xml: &str) -> Arc<Plan> {
    match load_str(xml, Path::new("t.xml"), &AnyPrompt) {
        Ok((p, _)) => Arc::new(p),
        Err(d) => panic!("{d:#?}"),
    }
}

fn errors(xml: &str) -> Vec<String> {
    match load_str(xml, Path::new("t.xml"), &AnyPrompt) {
        Ok(_) => panic!("loaded"),
        Err(d) => d.iter().map(|d| d.to_string()).collect(),
    }
}

fn first_play(actions: &[Action]) -> Option<(String, String)> {
    actions.iter().find_map(|a| match a {
        Action::Play { prompts, language } => Some((prompts.join(" "), language.clone())),
        _ => None,
    })
}

#[test]
fn a_new_caller_hears_the_greeting() {
    let mut i = Interpreter::new(plan(PLAN));
    let a = i.handle(Event::Started);
    assert_eq!(first_play(&a), Some(("greeting".into(), "kk".into())));
    assert!(a.iter().any(
        |a| matches!(a, Action::Record { node, what } if node == "recognise" && what == "not recognised")
    ));
}

#[test]
fn a_remembered_caller_skips_the_language_menu_and_is_offered_the_same_specialist() {
    let mut i = Interpreter::new(plan(PLAN));
    i.set_remembered("ru");
    let a = i.handle(Event::Started);
    assert!(a.contains(&Action::SetLanguage("ru".into())));
    assert_eq!(first_play(&a), Some(("welcome-back".into(), "ru".into())));
    i.handle(Event::PromptFinished);
    let a = i.handle(Event::Digit('1'));
    assert!(a.iter().any(|a| matches!(
        a,
        Action::Route { node, prefer_last: true, .. } if node == "route-same"
    )));
}

#[test]
fn nine_forgets_and_leads_to_the_main_menu() {
    let mut i = Interpreter::new(plan(PLAN));
    i.set_remembered("kk");
    i.handle(Event::Started);
    let a = i.handle(Event::Digit('9'));
    assert!(a
        .iter()
        .any(|a| matches!(a, Action::Forget { node } if node == "forget")));
    assert_eq!(first_play(&a), Some(("main-menu".into(), "kk".into())));
    assert!(!i.is_remembered());
}

/// A new caller through a route, the survey, then the consent question.
fn to_consent() -> Interpreter {
    let mut i = Interpreter::new(plan(PLAN));
    i.handle(Event::Started);
    i.handle(Event::Digit('2'));
    let a = i.handle(Event::Digit('1'));
    assert!(a.iter().any(|a| matches!(
        a,
        Action::Route {
            prefer_last: false,
            ..
        }
    )));
    i.handle(Event::RouteResult(RouteOutcome::Connected));
    let a = i.handle(Event::PeerHungUp);
    assert_eq!(first_play(&a), Some(("survey".into(), "ru".into())));
    let a = i.handle(Event::Digit('5'));
    assert_eq!(first_play(&a), Some(("remember-offer".into(), "ru".into())));
    i
}

#[test]
fn the_consent_key_asks_to_remember_the_caller() {
    let mut i = to_consent();
    i.handle(Event::PromptFinished);
    let a = i.handle(Event::Digit('1'));
    assert!(a
        .iter()
        .any(|a| matches!(a, Action::Remember { node } if node == "consent")));
    assert_eq!(first_play(&a), Some(("goodbye".into(), "ru".into())));
}

#[test]
fn another_key_silence_or_the_emergency_key_remember_nobody() {
    let mut i = to_consent();
    let a = i.handle(Event::Digit('2'));
    assert!(!a.iter().any(|a| matches!(a, Action::Remember { .. })));
    assert_eq!(first_play(&a), Some(("goodbye".into(), "ru".into())));

    let mut i = to_consent();
    let a = i.handle(Event::PromptFinished);
    assert!(a.iter().any(|a| matches!(a, Action::StartTimer(_))));
    let a = i.handle(Event::Timeout);
    assert!(!a.iter().any(|a| matches!(a, Action::Remember { .. })));
    assert_eq!(first_play(&a), Some(("goodbye".into(), "ru".into())));

    let mut i = to_consent();
    let a = i.handle(Event::Digit('0'));
    assert!(!a.iter().any(|a| matches!(a, Action::Remember { .. })));
    assert!(a
        .iter()
        .any(|a| matches!(a, Action::Transfer { partner, .. } if partner == "ulba-crisis-centre")));
}

#[test]
fn the_consent_key_may_not_be_the_emergency_or_repeat_key() {
    let xml = PLAN.replace(r#"digit="1" timeout="5s""#, r#"digit="0" timeout="5s""#);
    let e = errors(&xml);
    assert!(
        e.iter()
            .any(|e| e.contains("t.xml:19:50") && e.contains("emergency digit")),
        "{e:?}"
    );
    let xml = PLAN.replace(r#"digit="1" timeout="5s""#, r#"digit="*" timeout="5s""#);
    assert!(errors(&xml).iter().any(|e| e.contains("repeat digit")));
}

#[test]
fn the_new_elements_are_checked_like_the_others() {
    let xml = PLAN.replace(r#"new="greeting""#, r#"new="greting""#);
    let e = errors(&xml);
    assert!(
        e.iter()
            .any(|e| e.contains("t.xml:2:") && e.contains("new target \"greting\" does not exist")),
        "{e:?}"
    );
    let xml = PLAN.replace(r#"prefer="last-specialist""#, r#"prefer="same""#);
    let e = errors(&xml);
    assert!(e.iter().any(|e| e.contains("`prefer` must be")), "{e:?}");
    let xml = PLAN.replace(
        r#"<forget id="forget" next="main"/>"#,
        r#"<forget id="forget"/>"#,
    );
    let e = errors(&xml);
    assert!(
        e.iter()
            .any(|e| e.contains("<forget> needs the attribute `next`")),
        "{e:?}"
    );
    let xml = PLAN.replace(r#"digit="1" timeout="5s""#, r#"digit="12" timeout="5s""#);
    assert!(errors(&xml)
        .iter()
        .any(|e| e.contains("`digit` must be one key")));
}

/// A remembered caller arrives at `known` in any language: its prompts
/// must exist in every language of the plan.
#[test]
fn the_welcome_back_prompt_is_needed_in_every_language() {
    struct KkOnlyWelcome;
    impl senim_dialplan::PromptCatalog for KkOnlyWelcome {
        fn has(&self, id: &str, language: &str) -> bool {
            id != "welcome-back" || language == "kk"
        }
    }
    let e = match load_str(PLAN, Path::new("t.xml"), &KkOnlyWelcome) {
        Ok(_) => panic!("loaded"),
        Err(d) => d.iter().map(|d| d.to_string()).collect::<Vec<_>>(),
    };
    assert!(
        e.iter()
            .any(|e| e.contains("\"welcome-back\" has no recording in \"ru\"")),
        "{e:?}"
    );
}
