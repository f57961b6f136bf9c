//! Erasure of one caller's data on request, end to end: the real binary, a
//! callback request made by the test caller from `common::caller` (keys by
//! SIP INFO), then `POST /api/v1/callers/erase` with the number written
//! another way; the SQLite record checked.

mod common;

use std::time::Duration;

use common::caller::Caller;
use common::{http_with, make_token, wait_until, Senim};
use serde_json::Value;
use sqlx::Row;

const OFFER: &str = "0 101";
const RTPMAPS: &str =
    "a=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n";
/// The test caller's number (From of `common::caller`) in the national format.
const CALLER_NATIONAL: &str = "87011234567";

fn erase(senim: &Senim, token: Option<&str>, body: &str) -> (u16, String) {
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut headers = vec![("Content-Type", "application/json")];
    if let Some(a) = &auth {
        headers.push(("Authorization", a));
    }
    let (code, _, body) = http_with(senim.http, "POST", "/api/v1/callers/erase", &headers, body);
    (code, body)
}

/// What the database holds about calls and follow-ups.
#[derive(Debug)]
struct Facts {
    calls: i64,
    calls_with_hash: i64,
    timeline_rows: i64,
    follow_ups: i64,
    erase_audits: Vec<(String, Option<String>, Option<String>)>,
    ended: bool,
}

fn facts(senim: &Senim) -> Facts {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let pool = senim.db().await;
        let count = |sql: &'static str| {
            let pool = pool.clone();
            async move {
                sqlx::query_scalar::<_, i64>(sql)
                    .fetch_one(&pool)
                    .await
                    .unwrap_or_else(|e| panic!("{sql}: {e}"))
            }
        };
        let erase_audits = sqlx::query(
            "SELECT token_name, target, detail FROM audit_log WHERE action = 'erase-caller'",
        )
        .fetch_all(&pool)
        .await
        .expect("audit")
        .into_iter()
        .map(|r| (r.get("token_name"), r.get("target"), r.get("detail")))
        .collect();
        Facts {
            calls: count("SELECT COUNT(*) FROM calls").await,
            calls_with_hash: count("SELECT COUNT(*) FROM calls WHERE caller_hash IS NOT NULL")
                .await,
            timeline_rows: count(
                "SELECT (SELECT COUNT(*) FROM call_digits) + (SELECT COUNT(*) FROM call_steps)
                      + (SELECT COUNT(*) FROM call_routing)",
            )
            .await,
            follow_ups: count("SELECT COUNT(*) FROM follow_ups").await,
            erase_audits,
            ended: count("SELECT COUNT(*) FROM calls WHERE ended_at IS NOT NULL").await == 1,
        }
    })
}

fn steps(senim: &Senim) -> Vec<String> {
    common::call_steps(senim)
}

#[test]
fn an_admin_erases_a_callers_data_found_by_their_number() {
    let (admin, admin_entry) = make_token("office admin", "admin", None);
    let (coordinator, coord_entry) = make_token("coordinator Dana", "coordinator", None);
    let config = format!(
        "[hours.centre]\nalways = true\nholidays = \"open\"\n\n{admin_entry}\n{coord_entry}\n"
    );
    let senim = Senim::start_with(Some(&config), &[]);

    // A callback request: Kazakh, psychology; nobody is on duty, so the
    // callback questions; 1 the number is right, 2 evening, 2 no message, 1 the name.
    let mut c = Caller::new(senim.sip);
    let offer = c.offer(OFFER, RTPMAPS);
    c.call(Some(&offer), None);
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(c.press_info('1'), Some(200));
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(c.press_info('2'), Some(200));
    assert!(
        wait_until(Duration::from_secs(30), || steps(&senim)
            .iter()
            .any(|s| s.ends_with("callback: start"))),
        "the callback questions did not start: {:#?}\n{}",
        steps(&senim),
        senim.log()
    );
    for k in "1221".chars() {
        std::thread::sleep(Duration::from_millis(700));
        assert_eq!(c.press_info(k), Some(200), "INFO {k}");
    }
    assert!(c.wait_bye(Duration::from_secs(30)), "Senim hangs up");
    assert!(
        wait_until(Duration::from_secs(10), || {
            let f = facts(&senim);
            f.follow_ups == 1 && f.ended
        }),
        "{:?}",
        facts(&senim)
    );
    let before = facts(&senim);
    assert_eq!(before.calls_with_hash, 1);
    assert!(before.timeline_rows > 0, "{before:?}");

    // Only an admin may erase.
    let body = format!(r#"{{"number":"{CALLER_NATIONAL}"}}"#);
    let (code, text) = erase(&senim, None, &body);
    assert_eq!(code, 401, "{text}");
    let (code, text) = erase(&senim, Some(&coordinator), &body);
    assert_eq!(code, 403, "{text}");
    let (code, text) = erase(&senim, Some(&admin), r#"{"number":"call me"}"#);
    assert_eq!(code, 400, "{text}");
    let (code, text) = erase(&senim, Some(&admin), r#"{"phone":"87011234567"}"#);
    assert_eq!(code, 400, "{text}");
    assert_eq!(facts(&senim).follow_ups, 1, "nothing erased yet");

    // The number in the national format finds the caller the trunk gave as +7...
    let (code, text) = erase(&senim, Some(&admin), &body);
    assert_eq!(code, 200, "{text}");
    let v: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(v["follow_ups"], 1, "{v}");
    assert_eq!(v["calls"], 1, "{v}");
    assert_eq!(v["timeline_rows"], before.timeline_rows, "{v}");

    let after = facts(&senim);
    assert_eq!(after.follow_ups, 0, "{after:?}");
    assert_eq!(after.timeline_rows, 0, "{after:?}");
    assert_eq!(after.calls, 1, "the call row stays");
    assert_eq!(after.calls_with_hash, 0, "without its caller hash");
    assert_eq!(after.erase_audits.len(), 1, "{after:?}");
    let (token_name, target, detail) = &after.erase_audits[0];
    assert_eq!(token_name, "office admin");
    assert_eq!(target, &None);
    let detail = detail.as_deref().unwrap_or_default();
    assert!(!detail.contains("1234567"), "{detail}");
    assert!(!senim.log().contains("1234567"), "the log names the number");

    // The call is still listed, with its outcome, and without a timeline.
    let auth = format!("Bearer {admin}");
    let (code, _, list) = http_with(
        senim.http,
        "GET",
        "/api/v1/calls?include=caller_hash",
        &[("Authorization", &auth)],
        "",
    );
    assert_eq!(code, 200, "{list}");
    let list: Value = serde_json::from_str(&list).unwrap();
    let call = &list["calls"][0];
    assert!(call["outcome"].is_string(), "{call}");
    assert!(call.get("caller_hash").is_none_or(Value::is_null), "{call}");

    // Again: nothing left to find.
    let (code, text) = erase(&senim, Some(&admin), r#"{"number":"+7 701 123 45 67"}"#);
    assert_eq!(code, 200, "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["follow_ups"], 0, "{v}");
    assert_eq!(v["calls"], 0, "{v}");
    assert!(
        senim.log().contains("retention purge done"),
        "the purge runs at start"
    );
}
