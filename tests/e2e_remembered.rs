//! A caller remembered with consent, end to end: the real binary with its
//! SQLite database, the test caller from `common::caller` (its number in
//! From), and SIPp playing the specialists' phones.
//!
//! A caller who agreed at the end of a call is recognised the next time by
//! the keyed hash of their number: no language menu, and the specialist they
//! spoke to is rung first (here the strategy alone would ring another). The
//! forget key ends that; hidden and unusable numbers are never remembered.

mod common;

use std::time::Duration;

use common::caller::Caller;
use common::phone::Phone;
use common::{port_block, wait_until, Senim};
use sqlx::Row;

const OFFER: &str = "0 8 101";
const RTPMAPS: &str = "a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n";
/// The centre open around the clock, holidays included.
const OPEN: &str = "[hours.centre]\nalways = true\nholidays = \"open\"\n";

fn specialist(id: &str, port: u16) -> String {
    format!(
        "[[specialist]]\nid = \"{id}\"\nname = \"{id}\"\nskills = [\"psychology\"]\nlanguages = [\"kk\"]\nuri = \"sip:{id}@127.0.0.1:{port}\"\nwrap_up = \"1s\"\n\n"
    )
}

/// Call from `from_user`, then press `keys` by INFO, 800 ms apart.
fn call(senim: &Senim, from_user: &str, keys: &str) -> Caller {
    let mut c = Caller::new(senim.sip);
    c.from_user = from_user.to_string();
    let offer = c.offer(OFFER, RTPMAPS);
    c.call(Some(&offer), None);
    for k in keys.chars() {
        std::thread::sleep(Duration::from_millis(800));
        assert_eq!(c.press_info(k), Some(200), "INFO {k}");
    }
    c
}

fn query<T>(senim: &Senim, f: impl AsyncFnOnce(sqlx::AnyPool) -> T) -> T {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let pool = senim.db().await;
        f(pool).await
    })
}

/// The calls' ids, oldest first.
fn calls(senim: &Senim) -> Vec<String> {
    query(senim, async |pool| {
        sqlx::query_scalar("SELECT id FROM calls ORDER BY arrived_at")
            .fetch_all(&pool)
            .await
            .expect("calls")
    })
}

/// The menu steps of the `n`th call, as "node: what".
fn steps(senim: &Senim, n: usize) -> Vec<String> {
    let Some(id) = calls(senim).get(n).cloned() else {
        return Vec::new();
    };
    query(senim, async |pool| {
        sqlx::query("SELECT menu, what FROM call_steps WHERE call_id = $1 ORDER BY seq")
            .bind(id)
            .fetch_all(&pool)
            .await
            .expect("steps")
            .into_iter()
            .map(|r| {
                format!(
                    "{}: {}",
                    r.get::<String, _>("menu"),
                    r.get::<String, _>("what")
                )
            })
            .collect()
    })
}

fn has_step(senim: &Senim, n: usize, step: &str) -> bool {
    steps(senim, n).iter().any(|s| s == step)
}

/// Wait for a step of the `n`th call; else fail with its steps and the log.
fn wait_step(senim: &Senim, n: usize, step: &str, limit: Duration) {
    assert!(
        wait_until(limit, || has_step(senim, n, step)),
        "call {n}: no step {step:?}: {:#?}\n{}",
        steps(senim, n),
        senim.log()
    );
}

/// The specialists rung for the `n`th call, in order.
fn rung(senim: &Senim, n: usize) -> Vec<String> {
    let Some(id) = calls(senim).get(n).cloned() else {
        return Vec::new();
    };
    query(senim, async |pool| {
        sqlx::query_scalar(
            "SELECT specialist FROM call_routing
              WHERE call_id = $1 AND step = 'rang' AND specialist IS NOT NULL ORDER BY seq",
        )
        .bind(id)
        .fetch_all(&pool)
        .await
        .expect("routing")
    })
}

/// The remembered callers: (caller hash, language, specialist, service).
fn memory(senim: &Senim) -> Vec<(String, String, Option<String>, Option<String>)> {
    query(senim, async |pool| {
        sqlx::query("SELECT caller_hash, language, specialist, service FROM remembered_callers")
            .fetch_all(&pool)
            .await
            .expect("remembered_callers")
            .into_iter()
            .map(|r| {
                (
                    r.get("caller_hash"),
                    r.get("language"),
                    r.get("specialist"),
                    r.get("service"),
                )
            })
            .collect()
    })
}

/// A caller talks to a specialist (whose phone accepts, talks and hangs
/// up), rates the call and answers the consent question with `consent`
/// (none: no key). `keys` lead to the route.
fn talk_rate_and_answer(
    senim: &Senim,
    dir: &std::path::Path,
    port: u16,
    from_user: &str,
    keys: &str,
    consent: Option<char>,
) {
    let mut phone = Phone::start(dir, "specialist_accept_then_hangup.xml", port, senim.sip);
    std::thread::sleep(Duration::from_millis(300));
    let n = calls(senim).len();
    let mut c = call(senim, from_user, keys);
    phone.assert_ok(Duration::from_secs(40), senim);
    wait_step(senim, n, "survey: enter survey", Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(c.press_info('5'), Some(200), "survey");
    if let Some(k) = consent {
        wait_step(senim, n, "consent: enter remember", Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(800));
        assert_eq!(c.press_info(k), Some(200), "consent key");
    }
    assert!(
        c.wait_bye(Duration::from_secs(40)),
        "goodbye, then BYE\n{}",
        senim.log()
    );
}

#[test]
fn a_caller_who_agreed_is_recognised_offered_the_same_specialist_and_can_be_forgotten() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (p_bota, p_asel) = (port_block(), port_block());
    // Config order: bota first, so the first call (a tie of idle times) goes
    // to bota. After it, asel has been idle longest: longest-idle alone
    // would ring asel next.
    let config = format!(
        "{OPEN}\n{}{}",
        specialist("bota", p_bota),
        specialist("asel", p_asel)
    );
    let senim = Senim::start_with(Some(&config), &[]);

    // 1. Kazakh, psychology: bota; the survey; 1: remember me.
    talk_rate_and_answer(&senim, dir.path(), p_bota, "+77011234567", "12", Some('1'));
    assert_eq!(rung(&senim, 0), ["bota"]);
    assert!(
        has_step(&senim, 0, "consent: remembered"),
        "{:#?}",
        steps(&senim, 0)
    );
    assert!(
        wait_until(Duration::from_secs(10), || memory(&senim).len() == 1),
        "not remembered: {:#?}",
        steps(&senim, 0)
    );
    let (hash, language, specialist, service) = memory(&senim).remove(0);
    let call_hash: Option<String> = query(&senim, async |pool| {
        sqlx::query_scalar("SELECT caller_hash FROM calls ORDER BY arrived_at LIMIT 1")
            .fetch_one(&pool)
            .await
            .expect("call")
    });
    // Only the keyed hash of the number, never the number.
    assert_eq!(Some(hash.clone()), call_hash);
    assert!(!hash.contains("7011234567"));
    assert_eq!(
        (language.as_str(), specialist.as_deref(), service.as_deref()),
        ("kk", Some("bota"), Some("psychology"))
    );

    // 2. The same number again: no language menu, the welcome-back menu in
    // Kazakh; 1: the same specialist, rung first although longest-idle
    // would ring asel.
    std::thread::sleep(Duration::from_millis(1500)); // bota's wrap-up
    talk_rate_and_answer(&senim, dir.path(), p_bota, "+77011234567", "1", None);
    let second = steps(&senim, 1);
    assert!(
        second.contains(&"recognise: recognised".to_string()),
        "{second:#?}"
    );
    assert!(
        second.contains(&"welcome-back: enter menu".to_string()),
        "{second:#?}"
    );
    assert!(
        !second.iter().any(|s| s.starts_with("greeting:")),
        "{second:#?}"
    );
    // A remembered caller is not asked again.
    assert!(
        !second.iter().any(|s| s.starts_with("consent:")),
        "{second:#?}"
    );
    assert_eq!(rung(&senim, 1), ["bota"]);
    let language: Option<String> = query(&senim, async |pool| {
        sqlx::query_scalar("SELECT language FROM calls ORDER BY arrived_at LIMIT 1 OFFSET 1")
            .fetch_one(&pool)
            .await
            .expect("call")
    });
    assert_eq!(language.as_deref(), Some("kk"));

    // 3. Again, and 9: forget me; the main menu follows.
    let mut c = call(&senim, "+77011234567", "");
    wait_step(
        &senim,
        2,
        "welcome-back: enter menu",
        Duration::from_secs(10),
    );
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(c.press_info('9'), Some(200));
    wait_step(&senim, 2, "forget: forgotten", Duration::from_secs(10));
    wait_step(&senim, 2, "main: enter menu", Duration::from_secs(15));
    assert!(
        wait_until(Duration::from_secs(10), || memory(&senim).is_empty()),
        "still remembered"
    );
    assert_eq!(c.bye(), Some(200));

    // 4. A fourth call is a new caller's: the language menu again.
    let mut c = call(&senim, "+77011234567", "");
    wait_step(&senim, 3, "greeting: enter menu", Duration::from_secs(10));
    assert!(has_step(&senim, 3, "recognise: not recognised"));
    assert_eq!(c.bye(), Some(200));

    let (code, _, metrics) = common::http_with(senim.http, "GET", "/metrics", &[], "");
    assert_eq!(code, 200);
    for (event, n) in [("recognised", 2), ("remembered", 1), ("forgotten", 1)] {
        let line = format!("senim_callers_memory_total{{event=\"{event}\"}} {n}");
        assert!(metrics.contains(&line), "{line}\n{metrics}");
    }
}

#[test]
fn hidden_and_unusable_numbers_are_never_remembered_and_the_coordinator_can_forget_a_number() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p_erlan = port_block();
    let (coordinator, entry) = common::make_token("coordinator", "coordinator", None);
    let config = format!("{OPEN}\n{}\n{entry}\n", specialist("erlan", p_erlan));
    let senim = Senim::start_with(Some(&config), &[]);
    // All three press the consent key; only the shown, usable number is kept.
    for (n, from) in ["anonymous", "caller", "+77019998877"].iter().enumerate() {
        if n > 0 {
            std::thread::sleep(Duration::from_millis(1500)); // erlan's wrap-up
        }
        talk_rate_and_answer(&senim, dir.path(), p_erlan, from, "12", Some('1'));
        let expected = if n < 2 {
            "consent: not remembered: no usable number"
        } else {
            "consent: remembered"
        };
        assert!(
            has_step(&senim, n, expected),
            "{from}: {:#?}",
            steps(&senim, n)
        );
    }
    assert!(
        wait_until(Duration::from_secs(10), || memory(&senim).len() == 1),
        "{:#?}",
        memory(&senim)
    );
    let hash_of_the_third: Option<String> = query(&senim, async |pool| {
        sqlx::query_scalar("SELECT caller_hash FROM calls ORDER BY arrived_at LIMIT 1 OFFSET 2")
            .fetch_one(&pool)
            .await
            .expect("call")
    });
    assert_eq!(Some(memory(&senim).remove(0).0), hash_of_the_third);

    // The coordinator forgets the number (written another way) through the API.
    let auth = format!("Bearer {coordinator}");
    let forget = || {
        common::http_with(
            senim.http,
            "POST",
            "/api/v1/callers/forget",
            &[
                ("Authorization", &auth),
                ("Content-Type", "application/json"),
            ],
            r#"{"number": "8 701 999 88 77"}"#,
        )
    };
    let (code, _, body) = forget();
    assert_eq!(code, 200, "{body}");
    assert_eq!(body, r#"{"forgotten":true}"#);
    assert!(memory(&senim).is_empty());
    let (code, _, body) = forget();
    assert_eq!((code, body.as_str()), (200, r#"{"forgotten":false}"#));
    let audit: Vec<(String, String)> = query(&senim, async |pool| {
        sqlx::query_as(
            "SELECT action, coalesce(detail, '') FROM audit_log WHERE action = 'forget-caller' ORDER BY id",
        )
        .fetch_all(&pool)
        .await
        .expect("audit")
    });
    assert_eq!(audit.len(), 2, "{audit:?}");
    assert!(
        audit.iter().all(|(_, d)| !d.contains("9998877")),
        "{audit:?}"
    );

    // Calling again from a hidden number: a new caller.
    let mut c = call(&senim, "anonymous", "");
    wait_step(&senim, 3, "greeting: enter menu", Duration::from_secs(10));
    assert!(has_step(&senim, 3, "recognise: not recognised"));
    assert_eq!(c.bye(), Some(200));
}
