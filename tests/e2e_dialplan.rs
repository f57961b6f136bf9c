//! SIPp callers walk every branch of the default dialplan
//! (`dialplans/centre.xml`): both languages, every service, open and closed,
//! the emergency key from every menu (and in the first second of a call,
//! to a crisis partner that answers), repeat, invalid key and timeout. Each
//! call record must show the path taken. The silent caller, who only waits
//! on timers, walks the same plan on a virtual clock in the call core's
//! tests (`crates/call/tests/call.rs`).

mod common;

use std::time::Duration;

use common::phone::Phone;
use common::{info_keys_scenario, port_block, repo_root, sipp, sipp_file, CallRecord, Senim};
use senim_media::prompts::Language;

const OPEN: &str = "[hours]\ncentre = \"24/7\"\n";
const CLOSED: &str = "[hours.centre]\nmon = \"closed\"\n";

/// Seconds of a bundled prompt (8 kHz, 16-bit mono WAV).
fn prompt_secs(lang: &str, id: &str) -> f64 {
    let path = repo_root()
        .join("voice-prompts")
        .join(lang)
        .join(format!("{id}.wav"));
    let len = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    len.saturating_sub(44) as f64 / 16000.0
}

/// The callback questions after "connecting" and an empty route: the
/// number is right, as soon as possible, no message, no name.
const CALLBACK_KEYS: [(u64, char); 4] = [(6000, '1'), (1000, '1'), (1000, '2'), (1000, '2')];
/// The same after the after-hours notice and a failed transfer.
const CALLBACK_KEYS_AFTER_CLOSED: [(u64, char); 4] =
    [(12000, '1'), (1000, '1'), (1000, '2'), (1000, '2')];

/// Run one SIPp call pressing `keys` and return its record.
async fn walk(config: &str, keys: &[(u64, char)], bye_within: Duration) -> CallRecord {
    let senim = Senim::start_with(Some(config), &[]);
    let scenario = senim.dir.path().join("walk.xml");
    std::fs::write(&scenario, info_keys_scenario(keys, bye_within)).unwrap();
    let limit = bye_within + Duration::from_secs(30);
    let run = sipp_file(&senim, &scenario, &[], limit);
    assert!(
        run.success,
        "sipp failed:\n{}\n--- senim ---\n{}",
        run.output,
        senim.log()
    );
    let mut calls = senim.ended_calls(1).await;
    calls.remove(0)
}

/// The steps appear in this order (other steps may come between).
fn assert_path(call: &CallRecord, expected: &[&str]) {
    let mut at = 0;
    for want in expected {
        match call.steps[at..].iter().position(|s| s == want) {
            Some(i) => at += i + 1,
            None => panic!(
                "step {want:?} missing (in order) from the path:\n{:#?}",
                call.steps
            ),
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn kazakh_legal_when_open_overflows_to_callback() {
    let keys = [&[(1000, '1'), (1000, '1')][..], &CALLBACK_KEYS[..]].concat();
    let call = walk(OPEN, &keys, Duration::from_secs(40)).await;
    assert_eq!(call.language.as_deref(), Some("kk"));
    assert_path(
        &call,
        &[
            "greeting: choice 1",
            "main: enter menu",
            "main: choice 1",
            "legal: hours open",
            "route-legal: no specialist available for legal",
            "offer-callback: callback: caller id confirmed",
            "offer-callback: callback: recorded (caller-id, soon, message no, name no)",
            "offer-callback: callback recorded",
            "end: enter hangup completed",
        ],
    );
    assert_eq!(call.outcome.as_deref(), Some("completed"));
    assert_eq!(
        call.digits,
        ["1", "1", "1", "1", "2", "2"]
            .iter()
            .map(|d| (d.to_string(), "sip-info".to_string()))
            .collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn russian_psychology_when_open() {
    let keys = [&[(1000, '2'), (1000, '2')][..], &CALLBACK_KEYS[..]].concat();
    let call = walk(OPEN, &keys, Duration::from_secs(40)).await;
    assert_eq!(call.language.as_deref(), Some("ru"));
    assert_path(
        &call,
        &[
            "greeting: choice 2",
            "main: choice 2",
            "psychology: hours open",
            "route-psychology: no specialist available for psychology",
            "offer-callback: callback recorded",
        ],
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn kazakh_mediation_when_closed_goes_to_the_crisis_partner() {
    let keys = [
        &[(1000, '1'), (1000, '3')][..],
        &CALLBACK_KEYS_AFTER_CLOSED[..],
    ]
    .concat();
    let call = walk(CLOSED, &keys, Duration::from_secs(60)).await;
    assert_eq!(call.language.as_deref(), Some("kk"));
    assert_path(
        &call,
        &[
            "main: choice 3",
            "mediation: hours closed",
            "closed: enter play",
            "crisis: enter transfer ulba-crisis-centre",
            "crisis: transfer failed",
            "offer-callback: callback recorded",
        ],
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn emergency_key_in_the_greeting() {
    // The crisis partner cannot be reached without a trunk: the callback follows.
    let keys = [&[(1000, '0')][..], &CALLBACK_KEYS[..]].concat();
    let call = walk(OPEN, &keys, Duration::from_secs(40)).await;
    assert_path(
        &call,
        &[
            "greeting: emergency 0",
            "crisis: enter transfer ulba-crisis-centre",
        ],
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn emergency_key_in_the_main_menu() {
    let keys = [&[(1000, '2'), (1000, '0')][..], &CALLBACK_KEYS[..]].concat();
    let call = walk(OPEN, &keys, Duration::from_secs(40)).await;
    assert_eq!(call.language.as_deref(), Some("ru"));
    assert_path(
        &call,
        &[
            "main: emergency 0",
            "crisis: enter transfer ulba-crisis-centre",
        ],
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn repeat_and_invalid_key_in_the_main_menu() {
    let keys = [
        &[(1000, '1'), (1000, '*'), (1000, '9'), (1500, '1')][..],
        &CALLBACK_KEYS[..],
    ]
    .concat();
    let call = walk(OPEN, &keys, Duration::from_secs(40)).await;
    assert_path(
        &call,
        &[
            "main: repeat",
            "main: invalid 9 (1/3)",
            "main: choice 1",
            "legal: hours open",
        ],
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn timeout_in_the_main_menu_replays_it() {
    // Wait for the whole Kazakh main menu (the first time with its intro,
    // the centre's description) and its 6 s timeout, then choose.
    let menu = prompt_secs("kk", "about-centre")
        + prompt_secs("kk", "emergency-notice")
        + prompt_secs("kk", "main-menu");
    let wait = ((menu + 6.0 + 1.5) * 1000.0) as u64;
    let keys = [&[(1000, '1'), (wait, '3')][..], &CALLBACK_KEYS[..]].concat();
    let call = walk(OPEN, &keys, Duration::from_secs(40)).await;
    assert_path(
        &call,
        &["main: enter menu", "main: timeout (1/3)", "main: choice 3"],
    );
}

/// How long a caller of the default plan listens before the first choice:
/// the prompts of the first menu (its intro and prompt) as Senim loads them
/// from the bundled files, in the longer language, for a new caller and
/// for a caller remembered with consent (the two branches of the plan's
/// `<recognise>` start, or the start menu itself).
fn first_prompts_as_loaded() -> Vec<(String, f64, &'static str)> {
    use senim_dialplan::model::NodeKind;
    let library = senim::bundled::prompts().expect("the bundled prompts");
    let (plan, _) = senim_dialplan::load(
        &repo_root().join("dialplans/centre.xml"),
        &senim::plan::Catalog(&library),
    )
    .expect("the default plan loads");
    let start = plan.node(plan.start()).expect("the start node");
    let firsts: Vec<&str> = match &start.kind {
        NodeKind::Recognise(r) => vec![r.new.target.as_str(), r.known.target.as_str()],
        _ => vec![plan.start()],
    };
    firsts
        .into_iter()
        .map(|id| {
            let node = plan.node(id).expect("a first node");
            let NodeKind::Menu(menu) = &node.kind else {
                panic!(
                    "the default plan's first node {id} is a menu: {:?}",
                    node.kind
                );
            };
            let (secs, lang) = [(Language::Kk, "kk"), (Language::Ru, "ru")]
                .into_iter()
                .map(|(lang, code)| {
                    let secs: f64 = menu
                        .intro
                        .iter()
                        .chain(std::iter::once(&menu.prompt))
                        .flat_map(|p| p.ids.iter())
                        .map(|id| {
                            library
                                .get(id, lang)
                                .unwrap_or_else(|| panic!("{id} in {code}"))
                                .duration()
                                .as_secs_f64()
                        })
                        .sum();
                    (secs, code)
                })
                .fold((0.0, "kk"), |a, b| if b.0 > a.0 { b } else { a });
            (id.to_string(), secs, lang)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_emergency_key_in_the_first_second_reaches_the_crisis_partner() {
    // What a caller hears before the first choice is short: under 8 s.
    // For a new caller (the greeting) and a remembered one (welcome-back).
    let firsts = first_prompts_as_loaded();
    assert_eq!(firsts.len(), 2, "{firsts:?}");
    for (menu, first, lang) in firsts {
        assert!(
            first < 8.0,
            "the prompt before the first choice ({menu}) lasts {first:.2} s (in {lang}), not under 8 s"
        );
    }

    // A crisis partner that answers (SIPp), in a partner directory of one.
    let dir = tempfile::tempdir().expect("tempdir");
    let p_partner = port_block();
    let partners = dir.path().join("partners.toml");
    std::fs::write(
        &partners,
        format!(
            r#"source = "test"
verified = false
updated = "2026-12-02"

[[partner]]
id = "ulba-crisis-centre"
name = {{ kk = "Дағдарыс орталығы", ru = "Кризисный центр" }}
uri = "sip:crisis@127.0.0.1:{p_partner}"
languages = ["kk", "ru"]
hours = "24/7"
services = ["crisis"]
source = "test"
verified = false
"#
        ),
    )
    .expect("write partners");
    let config = format!("{OPEN}\n[data]\npartners = \"{}\"\n", partners.display());
    let senim = Senim::start_with(Some(&config), &[]);
    let mut partner = Phone::start(dir.path(), "partner_answer.xml", p_partner, senim.sip);
    std::thread::sleep(Duration::from_millis(300));

    // The caller presses 0 (RFC 4733) 200 ms after the ACK and hangs up
    // 4 s later, bridged to the partner.
    let run = sipp(
        &senim,
        "caller_emergency_first_second.xml",
        &[],
        Duration::from_secs(40),
    );
    assert!(
        run.success,
        "sipp failed:\n{}\n--- senim ---\n{}",
        run.output,
        senim.log()
    );
    partner.assert_ok(Duration::from_secs(20), &senim);
    let invite = partner.messages();
    assert!(
        invite.contains("INVITE sip:crisis@127.0.0.1"),
        "the crisis partner was called:\n{invite}"
    );

    let call = senim.ended_calls(1).await.remove(0);
    assert_eq!(call.digits, [("0".to_string(), "rfc4733".to_string())]);
    assert_path(
        &call,
        &[
            "greeting: enter menu",
            "greeting: emergency 0",
            "crisis: enter transfer ulba-crisis-centre",
        ],
    );
    assert!(
        !call.steps.iter().any(|s| s.starts_with("greeting: timeout")
            || s.starts_with("main:")
            || s.contains("transfer failed")),
        "straight from the greeting to the partner: {:#?}",
        call.steps
    );
    // The key came within the first second of the answered call.
    let pool = senim.db().await;
    let after_ms: i64 = sqlx::query_scalar(
        "SELECT d.at - c.answered_at FROM call_digits d JOIN calls c ON c.id = d.call_id",
    )
    .fetch_one(&pool)
    .await
    .expect("the digit's time");
    assert!(
        (0..1000).contains(&after_ms),
        "the key was taken {after_ms} ms after the answer"
    );
    let transferred: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM call_routing WHERE step = 'transfer-ended' AND result = 'answered' \
         AND partner = 'ulba-crisis-centre'",
    )
    .fetch_one(&pool)
    .await
    .expect("call_routing");
    assert_eq!(transferred, 1, "the partner answered:\n{}", senim.log());
}
