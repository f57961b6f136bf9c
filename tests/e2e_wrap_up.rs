//! Wrap-up codes and the limits that protect specialists, end to end: the
//! real binary, SIPp playing the specialists' phones, the test caller from
//! `common::caller`. After the caller hangs up, the phone stays connected,
//! hears the wrap-up menu and presses 3 (crisis intervention) by RFC 4733;
//! the kind is stored on the call and counted by the reports (JSON and
//! CSV); a specialist in the crisis kind's wrap-up is not rung, and one who
//! reached the cap of crisis calls in a row is skipped for their break. The
//! expiry of wrap-ups and breaks is tested with a virtual clock in
//! `crates/routing/tests/router.rs`.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::caller::Caller;
use common::phone::Phone;
use common::{port_block, repo_root, Senim};
use sqlx::Row;

/// The centre open around the clock, holidays included.
const OPEN: &str = "[hours.centre]\nalways = true\nholidays = \"open\"\n";
const OFFER: &str = "0 8 101";
const RTPMAPS: &str = "a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n";

/// The default plan, as a file of the test's own.
fn plan(dir: &std::path::Path) -> PathBuf {
    let text = std::fs::read_to_string(repo_root().join("dialplans/centre.xml"))
        .expect("dialplans/centre.xml");
    let path = dir.join("plan.xml");
    std::fs::write(&path, text).expect("write plan");
    path
}

/// A Kazakh-speaking psychologist at a SIPp phone on `port`, with `more` keys.
fn specialist(id: &str, port: u16, more: &str) -> String {
    specialist_for(id, "psychology", port, more)
}

/// A Kazakh-speaking specialist of `skill` at a SIPp phone on `port`.
fn specialist_for(id: &str, skill: &str, port: u16, more: &str) -> String {
    format!(
        "[[specialist]]\nid = \"{id}\"\nname = \"{id}\"\nskills = [\"{skill}\"]\n\
         languages = [\"kk\"]\nuri = \"sip:{id}@127.0.0.1:{port}\"\nwrap_up = \"1s\"\n{more}\n\n"
    )
}

/// Call, choose Kazakh (1) and psychology (2) by INFO.
fn caller_for_psychology(senim: &Senim) -> Caller {
    caller_for(senim, '2')
}

/// Call, choose Kazakh (1) and a service (1 legal, 2 psychology) by INFO.
fn caller_for(senim: &Senim, service: char) -> Caller {
    let mut c = Caller::new(senim.sip);
    let offer = c.offer(OFFER, RTPMAPS);
    c.call(Some(&offer), None);
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(c.press_info('1'), Some(200), "INFO 1");
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(c.press_info(service), Some(200), "INFO service");
    c
}

/// `(call, step, specialist, result)` of every routing row, calls in order
/// of arrival.
fn routing(senim: &Senim) -> Vec<(String, String, Option<String>, Option<String>)> {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let pool = senim.db().await;
        sqlx::query(
            "SELECT r.call_id, r.step, r.specialist, r.result FROM call_routing r
             JOIN calls c ON c.id = r.call_id ORDER BY c.arrived_at, r.seq",
        )
        .fetch_all(&pool)
        .await
        .expect("call_routing")
        .into_iter()
        .map(|r| {
            (
                r.get("call_id"),
                r.get("step"),
                r.get("specialist"),
                r.get("result"),
            )
        })
        .collect()
    })
}

/// The calls, in order of arrival, with their wrap-up kind.
fn wrap_ups(senim: &Senim) -> Vec<(String, Option<String>)> {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let pool = senim.db().await;
        sqlx::query("SELECT id, wrap_up FROM calls ORDER BY arrived_at")
            .fetch_all(&pool)
            .await
            .expect("calls")
            .into_iter()
            .map(|r| (r.get("id"), r.get("wrap_up")))
            .collect()
    })
}

/// Who was rung for the `n`-th call (0: the first).
fn rang_for(senim: &Senim, n: usize) -> Vec<String> {
    let rows = routing(senim);
    let mut calls: Vec<&String> = Vec::new();
    for r in &rows {
        if !calls.contains(&&r.0) {
            calls.push(&r.0);
        }
    }
    let Some(call) = calls.get(n) else {
        return Vec::new();
    };
    rows.iter()
        .filter(|r| &r.0 == *call && r.1 == "rang")
        .filter_map(|r| r.2.clone())
        .collect()
}

/// A specialist's `live.state` in the `GET /specialists` answer.
fn state_of(senim: &Senim, id: &str) -> String {
    let (_, response) = common::http(senim.http, "GET", "/specialists");
    let body = response.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    let list: serde_json::Value = serde_json::from_str(body).expect("JSON list");
    list.as_array()
        .and_then(|l| l.iter().find(|s| s["id"] == id))
        .and_then(|s| s["live"]["state"].as_str())
        .unwrap_or_default()
        .to_string()
}

/// One routed call to the phone on `port` that codes it as a crisis
/// intervention: the caller hangs up once bridged, the phone presses 3 in
/// the wrap-up menu, and the code is stored on the `n`-th call.
fn crisis_call(senim: &Senim, dir: &std::path::Path, port: u16, n: usize) {
    let mut phone = Phone::start(dir, "specialist_wrap_up_crisis.xml", port, senim.sip);
    std::thread::sleep(Duration::from_millis(300));
    let mut caller = caller_for_psychology(senim);
    let connected = common::wait_until(Duration::from_secs(40), || {
        routing(senim).iter().filter(|r| r.1 == "finished").count() > n
    });
    assert!(connected, "{}", senim.log());
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(caller.bye(), Some(200), "the caller hangs up");
    phone.assert_ok(Duration::from_secs(45), senim);
    let coded = common::wait_until(Duration::from_secs(10), || {
        wrap_ups(senim)
            .get(n)
            .is_some_and(|(_, k)| k.as_deref() == Some("crisis-intervention"))
    });
    assert!(coded, "{:?}\n{}", wrap_ups(senim), senim.log());
}

#[test]
fn a_crisis_code_on_the_phone_is_reported_and_protects_the_specialist() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (p_erlan, p_asel, p_dana) = (port_block(), port_block(), port_block());
    let plan = plan(dir.path());
    // erlan rests the default ten minutes after a crisis intervention;
    // asel may take the next call at once, but has a break after two
    // crisis calls in a row.
    let specialists = [
        specialist("erlan", p_erlan, ""),
        specialist(
            "asel",
            p_asel,
            "wrap_up_by_kind = { crisis-intervention = \"0s\" }\ncrisis_in_a_row = 2",
        ),
        specialist_for("dana", "legal", p_dana, ""),
    ]
    .concat();
    let (coordinator, entry) = common::make_token("coordinator", "coordinator", None);
    let config = format!(
        "{OPEN}\n[dialplan]\nfile = \"{}\"\nwatch = false\n\n[routing]\naccept_timeout = \"4s\"\n\n\
         {specialists}\n{entry}\n",
        plan.display()
    );
    let senim = Senim::start_with(Some(&config), &[]);

    // 1: erlan (first in the configuration) takes the call and codes it.
    crisis_call(&senim, dir.path(), p_erlan, 0);
    assert_eq!(rang_for(&senim, 0), ["erlan"]);
    assert_eq!(state_of(&senim, "erlan"), "wrap-up");

    // 2 and 3: erlan is in the crisis kind's wrap-up and is not rung; asel
    // takes both and codes both as crisis interventions.
    crisis_call(&senim, dir.path(), p_asel, 1);
    assert_eq!(rang_for(&senim, 1), ["asel"]);
    crisis_call(&senim, dir.path(), p_asel, 2);
    assert_eq!(rang_for(&senim, 2), ["asel"]);
    assert_eq!(state_of(&senim, "asel"), "break");
    assert_eq!(state_of(&senim, "erlan"), "wrap-up");

    // 4: nobody is rung: erlan rests, asel is on her break.
    let mut caller = caller_for_psychology(&senim);
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(caller.bye(), Some(200));
    let four = common::wait_until(Duration::from_secs(10), || wrap_ups(&senim).len() == 4);
    assert!(four, "{}", senim.log());
    assert!(rang_for(&senim, 3).is_empty(), "{:?}", routing(&senim));

    // The alert of the cap: logged with the specialist's id, counted.
    assert!(
        senim.log().contains("alert=\"crisis-cap\"") || senim.log().contains("alert=crisis-cap"),
        "{}",
        senim.log()
    );
    let (_, metrics) = common::http(senim.http, "GET", "/metrics");
    assert!(
        metrics.contains("senim_specialist_alerts_total{kind=\"crisis-cap\"} 1"),
        "{metrics}"
    );

    // The reports count the calls by kind: three crisis interventions and
    // one call without a code.
    let now_ms = chrono::Utc::now().timestamp_millis();
    let (from, to) = (now_ms - 86_400_000, now_ms + 86_400_000);
    let path = format!("/api/v1/reports?from={from}&to={to}&by=kind");
    let (code, body) = common::http_as(senim.http, "GET", &path, &coordinator);
    assert_eq!(code, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).expect("report JSON");
    let offered = |key: &str| {
        json["rows"]
            .as_array()
            .and_then(|rows| rows.iter().find(|r| r["key"] == key))
            .and_then(|r| r["offered"].as_u64())
    };
    assert_eq!(offered("crisis-intervention"), Some(3), "{json}");
    assert_eq!(offered("consultation"), Some(0), "{json}");
    assert_eq!(offered("none"), Some(1), "{json}");
    let (code, csv) = common::http_as(
        senim.http,
        "GET",
        &format!("{path}&format=csv"),
        &coordinator,
    );
    assert_eq!(code, 200, "{csv}");
    assert!(csv.starts_with("kind,offered,"), "{csv}");
    assert!(csv.contains("\r\ncrisis-intervention,3,3,"), "{csv}");

    // A kind given later over the API, for a last call without a code:
    // dana (legal help) hangs up first, so her phone has no menu.
    let mut phone = Phone::start(
        dir.path(),
        "specialist_accept_then_hangup.xml",
        p_dana,
        senim.sip,
    );
    std::thread::sleep(Duration::from_millis(300));
    let mut caller = caller_for(&senim, '1');
    phone.assert_ok(Duration::from_secs(40), &senim);
    std::thread::sleep(Duration::from_millis(500));
    let _ = caller.bye();
    let dana_call = rang_for(&senim, 4);
    assert_eq!(dana_call, ["dana"], "{:?}", routing(&senim));
    let uncoded = wrap_ups(&senim).get(4).cloned().expect("the fifth call");
    assert_eq!(
        uncoded.1, None,
        "no menu when the specialist hangs up first"
    );
    let path = "/api/v1/specialists/dana/wrap-up";
    let (code, body) = common::http_with(
        senim.http,
        "POST",
        path,
        &[
            ("Authorization", &format!("Bearer {coordinator}")),
            ("Content-Type", "application/json"),
        ],
        r#"{"kind":"tea"}"#,
    )
    .map_code_body();
    assert_eq!(code, 400, "{body}");
    let (code, body) = common::http_with(
        senim.http,
        "POST",
        path,
        &[
            ("Authorization", &format!("Bearer {coordinator}")),
            ("Content-Type", "application/json"),
        ],
        r#"{"kind":"information"}"#,
    )
    .map_code_body();
    assert_eq!(code, 200, "{body}");
    assert!(body.contains(&uncoded.0), "{body}");
    assert_eq!(
        wrap_ups(&senim)
            .into_iter()
            .find(|(id, _)| *id == uncoded.0)
            .and_then(|(_, k)| k)
            .as_deref(),
        Some("information")
    );
    let (code, _) = common::http_with(
        senim.http,
        "POST",
        path,
        &[
            ("Authorization", &format!("Bearer {coordinator}")),
            ("Content-Type", "application/json"),
        ],
        r#"{"kind":"referral"}"#,
    )
    .map_code_body();
    assert_eq!(code, 409, "set once");
}

trait CodeBody {
    fn map_code_body(self) -> (u16, String);
}

impl<H> CodeBody for (u16, H, String) {
    fn map_code_body(self) -> (u16, String) {
        (self.0, self.2)
    }
}
