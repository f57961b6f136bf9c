//! SIPp callers walk every branch of the default dialplan
//! (`dialplans/centre.xml`): both languages, every service, open and closed,
//! the emergency key from every menu, repeat, invalid key, timeout and the
//! silent caller. Each call record must show the path taken.

mod common;

use std::time::Duration;

use common::{info_keys_scenario, repo_root, sipp_file, CallRecord, Senim};

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
    // Wait for the whole Kazakh main menu and its 6 s timeout, then choose.
    let menu = prompt_secs("kk", "emergency-notice") + prompt_secs("kk", "main-menu");
    let wait = ((menu + 6.0 + 1.5) * 1000.0) as u64;
    let keys = [&[(1000, '1'), (wait, '3')][..], &CALLBACK_KEYS[..]].concat();
    let call = walk(OPEN, &keys, Duration::from_secs(40)).await;
    assert_path(
        &call,
        &["main: enter menu", "main: timeout (1/3)", "main: choice 3"],
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn silent_caller_is_taken_to_a_psychologist_in_russian() {
    // Never hung up on: three greetings, the Russian main menu three times,
    // then the psychology route (and, with nobody free, the callback).
    let greeting = prompt_secs("ru", "greeting-bilingual") + 6.0;
    let main = prompt_secs("ru", "emergency-notice") + prompt_secs("ru", "main-menu") + 6.0;
    // The callback questions go unanswered three times (no number: the
    // voicemail, which ends on silence), then goodbye.
    let total = 3.0 * greeting + 3.0 * main + 150.0;
    let call = walk(OPEN, &[], Duration::from_secs(total as u64)).await;
    assert_eq!(call.language.as_deref(), Some("ru"));
    assert!(call.digits.is_empty());
    assert_path(
        &call,
        &[
            "greeting: timeout (1/3)",
            "greeting: timeout (2/3)",
            "main: timeout (1/3)",
            "main: timeout (2/3)",
            "psychology: hours open",
            "route-psychology: no specialist available for psychology",
        ],
    );
    assert_eq!(call.outcome.as_deref(), Some("completed"));
}
