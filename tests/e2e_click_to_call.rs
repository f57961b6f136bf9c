//! Click-to-call against the real binary: a caller leaves a callback
//! request with a number they type; the specialist claims it and asks
//! Senim to call back. Senim rings the specialist's phone (SIPp) first,
//! then, once they press 1, the number through the trunk (another SIPp),
//! and bridges the two. Both legs show the centre's number, never each
//! other's; the attempt and its outcome are on the follow-up, and the use
//! of the number is in the audit log.

mod common;

use std::time::Duration;

use common::phone::Phone;
use common::walks::{callback_id, press, reach_callback};
use common::{http_with, make_token, port_block, wait_until, Senim};
use serde_json::Value;

/// The centre's public number: From and P-Asserted-Identity of every leg.
const CENTRE_NUMBER: &str = "+77232000000";
/// The number the caller types for the callback (a test caller's number:
/// `specialist_accept.xml` fails if it shows up in what the specialist sees).
const TYPED: &str = "87051234567";

fn config(p_specialist: u16, p_trunk: u16, tokens: &str) -> String {
    format!(
        "[centre]\nname = \"Senim\"\nnumber = \"{CENTRE_NUMBER}\"\n\n\
         [hours.centre]\nalways = true\nholidays = \"open\"\n\n\
         [[specialist]]\nid = \"erlan\"\nname = \"Erlan\"\nskills = [\"legal\"]\nlanguages = [\"ru\"]\nuri = \"sip:erlan@127.0.0.1:{p_specialist}\"\n\n\
         [[specialist]]\nid = \"aigerim\"\nname = \"Aigerim\"\nskills = [\"legal\"]\nlanguages = [\"ru\"]\nuri = \"sip:aigerim@127.0.0.1:9\"\n\n\
         [[trunk]]\nid = \"out\"\naddress = \"127.0.0.1:{p_trunk}\"\n\n{tokens}\n"
    )
}

fn request(senim: &Senim, method: &str, path: &str, token: &str) -> (u16, Value) {
    let auth = format!("Bearer {token}");
    let (code, _, body) = http_with(
        senim.http,
        method,
        path,
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        "",
    );
    let v = serde_json::from_str(&body).unwrap_or(Value::Null);
    (code, v)
}

/// Kazakh, psychology (nobody takes it), then the callback questions:
/// 2 another number, the number and #, 1 it is right, 1 soon, 2 no
/// message, 2 the centre's name must not be said. The follow-up's id.
fn leave_request_with_typed_number(senim: &Senim) -> String {
    let mut c = reach_callback(senim);
    press(&mut c, "2");
    press(&mut c, &format!("{TYPED}#"));
    press(&mut c, "1122");
    assert!(c.wait_bye(Duration::from_secs(40)), "Senim hangs up");
    callback_id(senim)
}

/// The header line `name:` of the first INVITE in a SIPp message log.
fn invite_header(messages: &str, name: &str) -> String {
    let invite = messages
        .split("INVITE sip:")
        .nth(1)
        .unwrap_or_else(|| panic!("no INVITE in:\n{messages}"));
    invite
        .lines()
        .find(|l| {
            l.to_ascii_lowercase()
                .starts_with(&format!("{}:", name.to_ascii_lowercase()))
        })
        .unwrap_or_else(|| panic!("no {name} in the INVITE:\n{invite}"))
        .to_string()
}

#[test]
fn click_to_call_rings_the_specialist_then_the_caller_with_the_centres_number() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (p_specialist, p_trunk) = (port_block(), port_block());
    let (erlan, e) = make_token("Erlan", "specialist", Some("erlan"));
    let (aigerim, g) = make_token("Aigerim", "specialist", Some("aigerim"));
    let (admin, a) = make_token("office admin", "admin", None);
    let senim = Senim::start_with(
        Some(&config(p_specialist, p_trunk, &format!("{e}\n{g}\n{a}"))),
        &[],
    );
    let id = leave_request_with_typed_number(&senim);
    let path = format!("/api/v1/follow-ups/{id}/call");

    // Not claimed yet: nobody to ring.
    let (code, body) = request(&senim, "POST", &path, &erlan);
    assert_eq!(code, 409, "{body}");
    let (code, body) = request(
        &senim,
        "POST",
        &format!("/api/v1/follow-ups/{id}/claim"),
        &erlan,
    );
    assert_eq!(code, 200, "{body}");
    // Another specialist cannot see it, let alone call it.
    let (code, _) = request(&senim, "POST", &path, &aigerim);
    assert_eq!(code, 404);

    let mut specialist = Phone::start(dir.path(), "specialist_accept.xml", p_specialist, senim.sip);
    let mut callee = Phone::start(
        dir.path(),
        "callee_answer_then_hangup.xml",
        p_trunk,
        senim.sip,
    );
    std::thread::sleep(Duration::from_millis(300));
    let (code, body) = request(&senim, "POST", &path, &erlan);
    assert_eq!(code, 202, "{body}");
    assert_eq!(body["specialist"], "erlan");
    assert_eq!(body["state"], "ringing-specialist");
    assert!(
        !body.to_string().contains(TYPED),
        "the number is never returned: {body}"
    );
    // A second click while the first callback is under way calls nobody.
    let (code, again) = request(&senim, "POST", &path, &erlan);
    assert_eq!(code, 409, "{again}");

    callee.assert_ok(Duration::from_secs(60), &senim);
    specialist.assert_ok(Duration::from_secs(30), &senim);

    // The specialist's phone shows the centre, never the number called back.
    let to_specialist = specialist.messages();
    assert!(!to_specialist.contains(&TYPED[1..]), "{to_specialist}");
    for h in ["From", "P-Asserted-Identity"] {
        let line = invite_header(&to_specialist, h);
        assert!(line.contains(CENTRE_NUMBER), "specialist's {line}");
    }
    // The person called back sees the centre's number, and not its name
    // (they asked); nothing of the specialist.
    let to_callee = callee.messages();
    // Written as the trunk wants numbers (E.164 by default), whatever was typed.
    let e164 = format!("+7{}", &TYPED[1..]);
    assert!(
        to_callee.contains(&format!("INVITE sip:{e164}@127.0.0.1:{p_trunk}")),
        "the typed number at the trunk, in E.164:\n{to_callee}"
    );
    for h in ["From", "P-Asserted-Identity"] {
        let line = invite_header(&to_callee, h);
        assert!(line.contains(CENTRE_NUMBER), "callee's {line}");
    }
    let from = invite_header(&to_callee, "From");
    assert!(
        !from.contains("Senim"),
        "the centre's name is left out: {from}"
    );
    assert!(!to_callee.contains("erlan"), "{to_callee}");
    assert!(
        !to_callee.contains(&format!(":{p_specialist}")),
        "{to_callee}"
    );

    // The attempt and how it ended are on the follow-up.
    let detail_path = format!("/api/v1/follow-ups/{id}");
    let mut detail = Value::Null;
    assert!(
        wait_until(Duration::from_secs(10), || {
            detail = request(&senim, "GET", &detail_path, &erlan).1;
            detail["calls"][0]["outcome"] == "talked"
        }),
        "{detail}\n{}",
        senim.log()
    );
    let call = &detail["calls"][0];
    assert_eq!(call["specialist"], "erlan");
    assert!(call["answered_at"].is_string(), "{call}");
    assert!(call["ended_at"].is_string(), "{call}");

    // The use of the number is in the audit log.
    let (code, audit) = request(&senim, "GET", "/api/v1/audit?limit=100", &admin);
    assert_eq!(code, 200, "{audit}");
    let calls: Vec<&Value> = audit["entries"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|e| e["action"] == "call-follow-up")
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(calls.len(), 1, "{audit}");
    assert_eq!(calls[0]["target"], id.as_str(), "{audit}");
    // Senim's log never has the number in clear.
    assert!(
        !senim.log().contains(&TYPED[1..]),
        "the log holds the number"
    );
}

/// A callback request kept with `number` (as one kept before the IVR
/// checked numbers would be), sealed with the running Senim's number key;
/// its id.
async fn insert_request(senim: &Senim, id: &str, number: &str) {
    let key = std::fs::read_to_string(senim.dir.path().join("senim.numbers.key"))
        .expect("number key file");
    let key: Vec<u8> = (0..key.trim().len() / 2)
        .filter_map(|i| u8::from_str_radix(key.trim().get(2 * i..2 * i + 2)?, 16).ok())
        .collect();
    let sealed = senim::privacy::NumberSealer::new(&key)
        .expect("key")
        .seal(number);
    let pool = senim.db_rw().await;
    // Made now: a request from long ago would have its number purged by the
    // retention run that starts with Senim, racing this test.
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    sqlx::query(
        "INSERT INTO follow_ups (id, kind, created_at, number_sealed, number_source,
                                 call_window, leave_message, say_centre_name, language, service)
         VALUES ($1, 'callback', $3, $2, 'typed', 'soon', 0, 0, 'ru', 'legal')",
    )
    .bind(id)
    .bind(sealed)
    .bind(now_ms)
    .execute(&pool)
    .await
    .expect("insert follow-up");
    pool.close().await;
}

#[test]
fn click_to_call_refuses_a_number_outside_kazakhstan_and_rings_nobody() {
    let (p_specialist, p_trunk) = (port_block(), port_block());
    let (erlan, e) = make_token("Erlan", "specialist", Some("erlan"));
    let (admin, a) = make_token("office admin", "admin", None);
    let senim = Senim::start_with(
        Some(&config(p_specialist, p_trunk, &format!("{e}\n{a}"))),
        &[],
    );
    // Listen where the specialist's phone and the trunk would be rung.
    let listen = |port: u16| {
        let s = std::net::UdpSocket::bind(("127.0.0.1", port)).expect("bind");
        s.set_read_timeout(Some(Duration::from_millis(1500))).ok();
        s
    };
    let (specialist, trunk) = (listen(p_specialist), listen(p_trunk));
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    // A Russian mobile (+7, outside 6xx/7xx) and an international form.
    let cases = [
        ("fu-russia", "+79161234567", "not a number in Kazakhstan"),
        ("fu-abroad", "8 10 49 30 1234567", "international numbers"),
    ];
    for (id, number, why) in cases {
        rt.block_on(insert_request(&senim, id, number));
        let (code, body) = request(
            &senim,
            "POST",
            &format!("/api/v1/follow-ups/{id}/claim"),
            &erlan,
        );
        assert_eq!(code, 200, "{body}");
        let (code, body) = request(
            &senim,
            "POST",
            &format!("/api/v1/follow-ups/{id}/call"),
            &erlan,
        );
        assert_eq!(code, 422, "{body}\n{}", senim.log());
        let error = body["error"].as_str().unwrap_or_default();
        assert!(error.contains(why), "{body}");
        assert!(!body.to_string().contains("9161234567"), "{body}");
        assert!(!body.to_string().contains("301234567"), "{body}");
        // No attempt is left on the follow-up.
        let (_, detail) = request(&senim, "GET", &format!("/api/v1/follow-ups/{id}"), &erlan);
        assert_eq!(
            detail["calls"].as_array().map_or(0, Vec::len),
            0,
            "{detail}"
        );
    }
    let mut buf = [0u8; 2048];
    assert!(
        specialist.recv_from(&mut buf).is_err(),
        "the specialist was rung"
    );
    assert!(trunk.recv_from(&mut buf).is_err(), "the number was dialled");
    // The attempts are audited (the number was opened to be checked).
    let (code, audit) = request(&senim, "GET", "/api/v1/audit?limit=100", &admin);
    assert_eq!(code, 200, "{audit}");
    let attempts = audit["entries"]
        .as_array()
        .map(|a| a.iter().filter(|e| e["action"] == "call-follow-up").count());
    assert_eq!(attempts, Some(2), "{audit}");
    assert!(
        !senim.log().contains("9161234567"),
        "the log holds the number"
    );
}
