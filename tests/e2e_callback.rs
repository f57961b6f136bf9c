//! Safe callback requests end to end: the real binary, the test caller from
//! `common::caller` pressing keys by SIP INFO, the SQLite record checked.
//! Nobody is on duty, so the route overflows to the plan's callback node.

mod common;

use std::time::Duration;

use common::walks::{press, reach_callback};
use common::{wait_until, Senim};
use senim::privacy::NumberSealer;
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
            leave_message: r.get("leave_message"),
            say_centre_name: r.get("say_centre_name"),
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
    assert!(f.number_sealed.starts_with("v1:"));
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
    assert_eq!(
        sealer(&senim).open(&f.number_sealed).as_deref(),
        Some("87019998877")
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
