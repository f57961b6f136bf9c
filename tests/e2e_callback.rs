//! Safe callback requests end to end: the real binary, the test caller from
//! `common::caller` pressing keys by SIP INFO, the SQLite record checked.
//! Nobody is on duty, so the route overflows to the plan's callback node.

mod common;

use std::time::Duration;

use common::walks::{call_choosing, press, reach_callback, OFFER, RTPMAPS};
use common::{wait_until, Senim};
use senim::privacy::NumberSealer;
use senim_media::{Codec, Language};
use sqlx::Row;

const OPEN: &str = "[hours.centre]\nalways = true\nholidays = \"open\"\n";
/// The test caller's number (From of `common::caller`).
const CALLER: &str = "+77011234567";

#[derive(Debug)]
struct FollowUp {
    kind: String,
    number_sealed: String,
    number_source: String,
    window: String,
    leave_message: bool,
    say_centre_name: bool,
    language: Option<String>,
    service: Option<String>,
    status: String,
    caller_hash: Option<String>,
}

fn follow_ups(senim: &Senim) -> Vec<FollowUp> {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let pool = senim.db().await;
        sqlx::query(
            "SELECT kind, number_sealed, number_source, call_window, leave_message,
                    say_centre_name, language, service, status, caller_hash
             FROM follow_ups ORDER BY created_at",
        )
        .fetch_all(&pool)
        .await
        .expect("query follow_ups")
        .into_iter()
        .map(|r| FollowUp {
            kind: r.get("kind"),
            number_sealed: r.get("number_sealed"),
            number_source: r.get("number_source"),
            window: r.get("call_window"),
            leave_message: r.get::<i64, _>("leave_message") != 0,
            say_centre_name: r.get::<i64, _>("say_centre_name") != 0,
            language: r.get("language"),
            service: r.get("service"),
            status: r.get("status"),
            caller_hash: r.get("caller_hash"),
        })
        .collect()
    })
}

fn steps(senim: &Senim) -> Vec<String> {
    common::call_steps(senim)
}

/// Every key recorded, in order, as one string.
fn digits(senim: &Senim) -> String {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let pool = senim.db().await;
        sqlx::query("SELECT digit FROM call_digits ORDER BY at, seq")
            .fetch_all(&pool)
            .await
            .map(|rows| {
                rows.into_iter()
                    .map(|r| r.get::<String, _>("digit"))
                    .collect()
            })
            .unwrap_or_default()
    })
}

fn sealer(senim: &Senim) -> NumberSealer {
    let key = std::fs::read_to_string(senim.dir.path().join("senim.numbers.key"))
        .expect("number key file");
    NumberSealer::new(&hex_decode(key.trim())).expect("key")
}

fn hex_decode(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .filter_map(|i| u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok())
        .collect()
}

/// The database files must not hold the number in clear anywhere.
fn assert_number_not_in_clear(senim: &Senim, number: &str) {
    let digits = number.trim_start_matches('+');
    for suffix in ["", "-wal"] {
        let path = format!("{}{suffix}", senim.db_path.display());
        if let Ok(bytes) = std::fs::read(&path) {
            let text = String::from_utf8_lossy(&bytes);
            assert!(!text.contains(digits), "{path} holds the number in clear");
        }
    }
}

#[test]
fn caller_confirms_their_number_and_chooses_when_and_how() {
    let senim = Senim::start_with(Some(OPEN), &[]);
    let mut c = reach_callback(&senim);
    // 1: the number ending in 4567 is right; 2: this evening; 2: no message; 1: the name may be said.
    press(&mut c, "1221");
    assert!(
        c.wait_bye(Duration::from_secs(30)),
        "Senim says goodbye and hangs up"
    );
    assert!(wait_until(Duration::from_secs(10), || !follow_ups(&senim).is_empty()));
    let f = follow_ups(&senim);
    assert_eq!(f.len(), 1, "{f:#?}");
    let f = &f[0];
    assert_eq!(f.kind, "callback");
    assert_eq!(f.status, "open");
    assert_eq!(f.number_source, "caller-id");
    assert_eq!(f.window, "evening");
    assert!(!f.leave_message);
    assert!(f.say_centre_name);
    assert_eq!(f.language.as_deref(), Some("kk"));
    assert_eq!(f.service.as_deref(), Some("psychology"));
    assert!(f.caller_hash.as_deref().is_some_and(|h| h.len() == 32));
    assert!(f.number_sealed.starts_with("v2:"));
    assert_eq!(
        sealer(&senim).open(&f.number_sealed).as_deref(),
        Some(CALLER)
    );
    assert_number_not_in_clear(&senim, CALLER);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(senim.dir.path().join("senim.numbers.key"))
            .expect("key file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[test]
fn caller_types_another_number_which_is_read_back() {
    let senim = Senim::start_with(Some(OPEN), &[]);
    let mut c = reach_callback(&senim);
    // 2: another number; the number and #; 1: the read-back is right; 1: soon; 1: message; 2: no name.
    press(&mut c, "2");
    press(&mut c, "87019998877#");
    press(&mut c, "1112");
    assert!(c.wait_bye(Duration::from_secs(30)));
    assert!(wait_until(Duration::from_secs(10), || !follow_ups(&senim).is_empty()));
    let f = follow_ups(&senim);
    let f = &f[0];
    assert_eq!(f.number_source, "typed");
    assert_eq!(f.window, "soon");
    assert!(f.leave_message);
    assert!(!f.say_centre_name);
    // Kept in E.164, whichever way it was typed.
    assert_eq!(
        sealer(&senim).open(&f.number_sealed).as_deref(),
        Some("+77019998877")
    );
    assert_number_not_in_clear(&senim, "87019998877");
    // The steps and the recorded keys name no number either.
    assert!(steps(&senim).iter().all(|s| !s.contains("9998877")));
    let keys = digits(&senim);
    assert!(!keys.contains("9998877"), "keys recorded: {keys}");
    assert!(!senim.log().contains("9998877"), "the log holds the number");
}

#[test]
fn a_caller_who_hangs_up_after_confirming_still_gets_a_safe_callback() {
    let senim = Senim::start_with(Some(OPEN), &[]);
    let mut c = reach_callback(&senim);
    press(&mut c, "1");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(c.bye(), Some(200));
    assert!(wait_until(Duration::from_secs(10), || !follow_ups(&senim).is_empty()));
    let f = follow_ups(&senim);
    assert_eq!(f[0].window, "soon");
    assert!(!f[0].leave_message, "safe default");
    assert!(!f[0].say_centre_name, "safe default");
}

/// One second of prompt `id` in Kazakh as Senim sends it (PCMU), from its
/// tenth frame on (past the fade-in).
fn prompt_pcmu(id: &str) -> Vec<u8> {
    let library = senim::bundled::prompts().expect("the bundled prompts");
    let prompt = library
        .get(id, Language::Kk)
        .unwrap_or_else(|| panic!("no prompt {id}"));
    let frames: Vec<u8> = (10..60)
        .filter_map(|i| prompt.frame(Codec::Pcmu, i))
        .flatten()
        .copied()
        .collect();
    assert_eq!(frames.len(), 50 * 160, "{id} is long enough");
    frames
}

/// Is prompt `id` in the audio the caller received?
fn heard(audio: &[u8], id: &str) -> bool {
    let needle = prompt_pcmu(id);
    audio.windows(needle.len()).any(|w| w == needle.as_slice())
}

#[test]
fn a_number_outside_kazakhstan_is_refused_with_a_prompt_and_another_is_taken() {
    let senim = Senim::start_with(Some(OPEN), &[]);
    let mut c = reach_callback(&senim);
    press(&mut c, "2");
    // A Russian mobile in the national form: +7, but outside 6xx and 7xx.
    press(&mut c, "89161234567");
    c.drain_rtp();
    press(&mut c, "#");
    let audio = c.listen_pcmu(Duration::from_secs(4));
    assert!(
        heard(&audio, "callback-number-refused"),
        "the caller hears that the number cannot be accepted ({} bytes heard); steps: {:#?}",
        audio.len(),
        steps(&senim)
    );
    assert!(
        !heard(&audio, "callback-you-entered"),
        "a refused number is not read back"
    );
    // The caller types a number in Kazakhstan instead: 1 right, 1 soon, 1 message, 2 no name.
    press(&mut c, "87019998877#");
    press(&mut c, "1112");
    assert!(c.wait_bye(Duration::from_secs(30)), "Senim says goodbye");
    assert!(wait_until(Duration::from_secs(10), || !follow_ups(&senim).is_empty()));
    let f = follow_ups(&senim);
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(
        sealer(&senim).open(&f[0].number_sealed).as_deref(),
        Some("+77019998877")
    );
    let steps = steps(&senim);
    assert!(
        steps
            .iter()
            .any(|s| s.ends_with("callback: number refused (not-kazakh)")),
        "{steps:#?}"
    );
    // Neither number is in the record or the log.
    for digits in ["9161234567", "9998877"] {
        assert!(steps.iter().all(|s| !s.contains(digits)), "{steps:#?}");
        assert!(!senim.log().contains(digits), "the log holds {digits}");
        assert_number_not_in_clear(&senim, digits);
    }
}

#[test]
fn a_caller_over_the_days_limit_hears_so_and_may_still_leave_a_message() {
    let config = format!("{OPEN}\n[callback]\nmax_per_day = 1\n");
    let senim = Senim::start_with(Some(&config), &[]);
    // The first request of the day is taken.
    let mut c = reach_callback(&senim);
    press(&mut c, "1221");
    assert!(c.wait_bye(Duration::from_secs(30)));
    assert!(wait_until(Duration::from_secs(10), || !follow_ups(&senim).is_empty()));

    // The same caller again: told the day's requests are taken, and the
    // call goes on to the plan's failed branch (a voice message).
    let limited = |s: &String| s.ends_with("callback: the day's limit is reached");
    let message = |s: &String| s.starts_with("leave-message:");
    let mut c = call_choosing(&senim, OFFER, RTPMAPS, '1', '2');
    // Listen through the limit prompt until the voicemail node has played
    // its prompt for a while.
    let mut audio = Vec::new();
    let mut after = 0;
    for _ in 0..60 {
        audio.extend(c.listen_pcmu(Duration::from_secs(1)));
        if steps(&senim).iter().any(message) {
            after += 1;
            if after > 3 {
                break;
            }
        }
    }
    let steps = steps(&senim);
    assert!(steps.iter().any(limited), "{steps:#?}\n{}", senim.log());
    assert!(
        heard(&audio, "callback-limit-reached"),
        "the caller hears that no more requests are taken today; steps: {steps:#?}"
    );
    assert!(
        heard(&audio, "voicemail"),
        "then the voicemail prompt: the call goes on; steps: {steps:#?}"
    );
    assert_eq!(c.bye(), Some(200), "the caller was still connected");
    std::thread::sleep(Duration::from_millis(500));
    let f = follow_ups(&senim);
    assert_eq!(
        f.iter().filter(|f| f.kind == "callback").count(),
        1,
        "no second callback request: {f:#?}"
    );
}
