//! Reports end to end: the real binary takes a known mix of calls (the test
//! caller from `common::caller`, SIPp as the specialists' phones and the
//! crisis partner), and `GET /api/v1/reports` must count exactly that mix,
//! as JSON and as CSV, for the admin and coordinator roles only.
//!
//! The mix, one Senim, in order:
//!   A  Kazakh psychology, answered by erlan (SIPp accepts); stays on the line
//!   B  Kazakh psychology while erlan talks to A: queued, hangs up (abandoned in the queue)
//!   C  Russian mediation, answered by dana, who hangs up first; C rates the call 4
//!   D  hangs up during the greeting (abandoned in the menu)
//!   E  Kazakh, the emergency key 0: the crisis partner answers (SIPp)
//!   F  Russian legal: nobody takes legal calls, so a callback request

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::caller::Caller;
use common::phone::Phone;
use common::{http_with, make_token, port_block, wait_until, Senim};
use serde_json::Value;
use sqlx::Row;

const OFFER: &str = "0 8 101";
const RTPMAPS: &str = "a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n";

/// The CSV header after the group's column.
const COLUMNS: &str = "offered,answered,abandoned_menu,abandoned_queue,routed,answered_within_20s,service_level_pct,wait_avg_s,wait_p90_s,transfers_to_partners,callbacks_requested,callbacks_completed,callback_avg_h,callback_p90_h,survey_avg,survey_count";

fn specialist(id: &str, skills: &str, port: u16) -> String {
    format!(
        "[[specialist]]\nid = \"{id}\"\nname = \"{id}\"\nskills = {skills}\nlanguages = [\"kk\", \"ru\"]\nuri = \"sip:{id}@127.0.0.1:{port}\"\nwrap_up = \"1s\"\n\n"
    )
}

fn partners(dir: &Path, port: u16) -> PathBuf {
    let text = format!(
        r#"source = "test"
verified = false
updated = "2026-11-25"

[[partner]]
id = "ulba-crisis-centre"
name = {{ kk = "Дағдарыс орталығы", ru = "Кризисный центр" }}
uri = "sip:crisis@127.0.0.1:{port}"
languages = ["kk", "ru"]
hours = "24/7"
services = ["crisis"]
source = "test"
verified = false
"#
    );
    let path = dir.join("partners.toml");
    std::fs::write(&path, text).expect("write partners");
    path
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Run a query on Senim's database (read-only).
fn query<T>(senim: &Senim, f: impl AsyncFnOnce(sqlx::AnyPool) -> T) -> T {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let pool = senim.db().await;
        f(pool).await
    })
}

/// (call id, step, result) of every routing step, oldest call first.
fn routing(senim: &Senim) -> Vec<(String, String, Option<String>)> {
    query(senim, async |pool| {
        sqlx::query(
            "SELECT r.call_id, r.step, r.result FROM call_routing r
             JOIN calls c ON c.id = r.call_id ORDER BY c.arrived_at, r.seq",
        )
        .fetch_all(&pool)
        .await
        .map(|rows| {
            rows.into_iter()
                .map(|r| (r.get("call_id"), r.get("step"), r.get("result")))
                .collect()
        })
        .unwrap_or_default()
    })
}

fn has_step(senim: &Senim, step: &str, result: Option<&str>) -> usize {
    routing(senim)
        .iter()
        .filter(|(_, s, r)| s == step && (result.is_none() || r.as_deref() == result))
        .count()
}

fn wait_for(senim: &Senim, what: &str, f: impl Fn() -> bool) {
    assert!(
        wait_until(Duration::from_secs(40), f),
        "waited in vain for {what}:\n{:#?}\n{}",
        routing(senim),
        senim.log()
    );
}

fn steps(senim: &Senim) -> Vec<String> {
    query(senim, async |pool| {
        sqlx::query("SELECT what FROM call_steps ORDER BY at, seq")
            .fetch_all(&pool)
            .await
            .map(|rows| rows.into_iter().map(|r| r.get("what")).collect())
            .unwrap_or_default()
    })
}

/// Call and press `keys` by INFO, 800 ms apart.
fn caller(senim: &Senim, keys: &str) -> Caller {
    let mut c = Caller::new(senim.sip);
    let offer = c.offer(OFFER, RTPMAPS);
    c.call(Some(&offer), None);
    for k in keys.chars() {
        std::thread::sleep(Duration::from_millis(800));
        assert_eq!(c.press_info(k), Some(200), "INFO {k}");
    }
    c
}

fn get(senim: &Senim, path: &str, token: Option<&str>) -> (u16, Vec<(String, String)>, String) {
    let auth = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth
        .as_deref()
        .map(|a| vec![("Authorization", a)])
        .unwrap_or_default();
    http_with(senim.http, "GET", path, &headers, "")
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn round(v: f64, places: i32) -> f64 {
    let f = 10f64.powi(places);
    (v * f).round() / f
}

fn secs(ms: f64) -> String {
    format!("{:.1}", round(ms / 1000.0, 1))
}

/// A JSON row as a CSV line (integers as they are, the averages with their
/// decimals, null empty), to compare both answers with one expectation.
fn json_line(key: &str, m: &Value) -> String {
    let mut out = key.to_string();
    for c in COLUMNS.split(',') {
        let v = &m[c];
        let cell = match c {
            "survey_avg" => v.as_f64().map(|x| format!("{x:.2}")),
            "service_level_pct" | "wait_avg_s" | "wait_p90_s" | "callback_avg_h"
            | "callback_p90_h" => v.as_f64().map(|x| format!("{x:.1}")),
            _ => Some(
                v.as_u64()
                    .unwrap_or_else(|| panic!("{c} is a count: {m}"))
                    .to_string(),
            ),
        };
        out.push(',');
        out.push_str(&cell.unwrap_or_default());
    }
    out
}

fn json_lines(report: &Value) -> Vec<String> {
    let mut lines: Vec<String> = report["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| json_line(r["key"].as_str().expect("key"), r))
        .collect();
    lines.push(json_line("total", &report["total"]));
    lines
}

fn csv_text(by: &str, lines: &[String]) -> String {
    let mut out = format!("{by},{COLUMNS}\r\n");
    for l in lines {
        out.push_str(l);
        out.push_str("\r\n");
    }
    out
}

#[test]
fn the_report_counts_a_known_mix_of_calls() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (p_erlan, p_dana, p_partner) = (port_block(), port_block(), port_block());
    let (coordinator, coord_entry) = make_token("coordinator", "coordinator", None);
    let (admin, admin_entry) = make_token("admin", "admin", None);
    let (erlan_token, erlan_entry) = make_token("erlan", "specialist", Some("erlan"));
    // The wrap-up menu (tests/e2e_wrap_up.rs) would keep the SIPp phones
    // connected after the caller hangs up; this test is not about it.
    let config = format!(
        "[hours.centre]\nalways = true\nholidays = \"open\"\n\n[wrap_up]\nmenu = false\n\n[data]\npartners = \"{}\"\n\n{}{}{coord_entry}\n{admin_entry}\n{erlan_entry}\n",
        partners(dir.path(), p_partner).display(),
        specialist("erlan", r#"["psychology"]"#, p_erlan),
        specialist("dana", r#"["mediation"]"#, p_dana),
    );
    let senim = Senim::start_with(Some(&config), &[]);
    let from = now_ms() - 60_000;
    let mut erlan = Phone::start(dir.path(), "specialist_accept.xml", p_erlan, senim.sip);
    let mut dana = Phone::start(
        dir.path(),
        "specialist_accept_then_hangup.xml",
        p_dana,
        senim.sip,
    );
    let mut partner = Phone::start(dir.path(), "partner_answer.xml", p_partner, senim.sip);
    std::thread::sleep(Duration::from_millis(300));

    // A: Kazakh psychology, erlan accepts.
    let mut a = caller(&senim, "12");
    wait_for(&senim, "A connected", || {
        has_step(&senim, "finished", Some("connected")) == 1
    });
    // B: the same while erlan talks to A: queued, then hangs up.
    let mut b = caller(&senim, "12");
    wait_for(&senim, "B queued", || has_step(&senim, "queued", None) == 1);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(b.bye(), Some(200));
    wait_for(&senim, "B abandoned", || {
        has_step(&senim, "finished", Some("abandoned")) == 1
    });
    assert_eq!(a.bye(), Some(200));
    erlan.assert_ok(Duration::from_secs(20), &senim);

    // C: Russian mediation; dana accepts, talks, hangs up; C rates it 4.
    let mut c = caller(&senim, "23");
    wait_for(&senim, "C connected", || {
        has_step(&senim, "finished", Some("connected")) == 2
    });
    dana.assert_ok(Duration::from_secs(30), &senim);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(c.press_info('4'), Some(200));
    assert!(c.wait_bye(Duration::from_secs(30)), "C: goodbye, then BYE");

    // D: hangs up during the greeting.
    let mut d = caller(&senim, "");
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(d.bye(), Some(200));

    // E: Kazakh, then the emergency key: the crisis partner answers.
    let mut e = caller(&senim, "10");
    wait_for(&senim, "E transferred", || {
        has_step(&senim, "transfer-ended", Some("answered")) == 1
    });
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(e.bye(), Some(200));
    partner.assert_ok(Duration::from_secs(20), &senim);

    // F: Russian legal, nobody takes legal calls: a callback request
    // (1: the caller's own number; 2: this evening; 2: no message; 1: the
    // centre's name may be said).
    let mut f = caller(&senim, "21");
    assert!(
        wait_until(Duration::from_secs(30), || steps(&senim)
            .iter()
            .any(|s| s.ends_with("callback: start"))),
        "F: no callback questions: {:#?}\n{}",
        steps(&senim),
        senim.log()
    );
    for k in "1221".chars() {
        std::thread::sleep(Duration::from_millis(700));
        assert_eq!(f.press_info(k), Some(200), "F: INFO {k}");
    }
    assert!(f.wait_bye(Duration::from_secs(30)), "F: goodbye, then BYE");

    let calls = senim.ended_calls(6).await_blocking();
    assert_eq!(calls.len(), 6, "{calls:#?}");
    let follow_up: (String, i64) = {
        let mut found = None;
        wait_until(Duration::from_secs(10), || {
            found = query(&senim, async |pool| {
                sqlx::query("SELECT id, created_at FROM follow_ups WHERE kind = 'callback'")
                    .fetch_optional(&pool)
                    .await
                    .ok()
                    .flatten()
                    .map(|r| (r.get("id"), r.get("created_at")))
            });
            found.is_some()
        });
        found.expect("F's callback request")
    };
    let to = now_ms() + 60_000;

    // The waits of A and C as recorded (from the route request to the bridge).
    let waits: Vec<i64> = query(&senim, async |pool| {
        sqlx::query(
            "SELECT r.wait_ms FROM call_routing r JOIN calls c ON c.id = r.call_id
             WHERE r.step = 'finished' AND r.result = 'connected' ORDER BY c.arrived_at",
        )
        .fetch_all(&pool)
        .await
        .expect("waits")
        .into_iter()
        .map(|r| r.get("wait_ms"))
        .collect()
    });
    assert_eq!(waits.len(), 2, "{waits:?}");
    let (wa, wc) = (waits[0], waits[1]);
    assert!(
        waits.iter().all(|w| (0..20_000).contains(w)),
        "both answered within 20 s: {waits:?}"
    );
    let avg = secs((wa + wc) as f64 / 2.0);
    let p90 = secs(wa.max(wc) as f64);
    let (wa, wc) = (secs(wa as f64), secs(wc as f64));

    // Who may read reports.
    let path = format!("/api/v1/reports?from={from}&to={to}&by=service");
    assert_eq!(get(&senim, &path, None).0, 401);
    assert_eq!(get(&senim, &path, Some("0000")).0, 401);
    assert_eq!(get(&senim, &path, Some(&erlan_token)).0, 403);
    assert_eq!(get(&senim, &path, Some(&admin)).0, 200);
    let (code, _, body) = get(
        &senim,
        &format!("/api/v1/reports?from={to}&to={from}"),
        Some(&coordinator),
    );
    assert_eq!(code, 400, "{body}");
    let (code, _, body) = get(
        &senim,
        &format!("/api/v1/reports?from={from}&to={to}&by=year"),
        Some(&coordinator),
    );
    assert_eq!(code, 400, "{body}");

    // By service: JSON and CSV both exactly the mix.
    let expected: Vec<String> = vec![
        "legal,1,0,0,0,1,0,0.0,,,0,1,0,,,,0".into(),
        format!("psychology,2,1,0,1,2,1,50.0,{wa},{wa},0,0,0,,,,0"),
        format!("mediation,1,1,0,0,1,1,100.0,{wc},{wc},0,0,0,,,4.00,1"),
        "none,2,0,1,0,0,0,,,,1,0,0,,,,0".into(),
        format!("total,6,2,1,1,4,2,50.0,{avg},{p90},1,1,0,,,4.00,1"),
    ];
    let (code, h, body) = get(&senim, &path, Some(&coordinator));
    assert_eq!(code, 200, "{body}");
    assert!(header(&h, "content-type").is_some_and(|v| v.starts_with("application/json")));
    let json: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(json["by"], "service");
    assert_eq!(json["time_zone"], "Asia/Almaty");
    assert_eq!(json["from_ms"], from);
    assert_eq!(json["to_ms"], to);
    assert_eq!(json_lines(&json), expected, "{body}");

    let (code, h, body) = get(&senim, &format!("{path}&format=csv"), Some(&coordinator));
    assert_eq!(code, 200, "{body}");
    assert_eq!(header(&h, "content-type"), Some("text/csv; charset=utf-8"));
    let disposition = header(&h, "content-disposition").unwrap_or_default();
    assert!(
        disposition.starts_with("attachment; filename=\"senim-report-service-")
            && disposition.ends_with(".csv\""),
        "{disposition}"
    );
    assert_eq!(body, csv_text("service", &expected));

    // By language, after the callback is done 90 minutes after it was asked for.
    tokio::runtime::Runtime::new()
        .expect("runtime")
        .block_on(async {
            let pool = senim.db_rw().await;
            sqlx::query("UPDATE follow_ups SET status = 'done', completed_at = $2 WHERE id = $1")
                .bind(&follow_up.0)
                .bind(follow_up.1 + 90 * 60_000)
                .execute(&pool)
                .await
                .expect("mark done");
        });
    let expected: Vec<String> = vec![
        format!("kk,3,1,0,1,2,1,50.0,{wa},{wa},1,0,0,,,,0"),
        format!("ru,2,1,0,0,2,1,50.0,{wc},{wc},0,1,1,1.5,1.5,4.00,1"),
        "none,1,0,1,0,0,0,,,,0,0,0,,,,0".into(),
        format!("total,6,2,1,1,4,2,50.0,{avg},{p90},1,1,1,1.5,1.5,4.00,1"),
    ];
    let path = format!("/api/v1/reports?from={from}&to={to}&by=language");
    let (code, _, body) = get(&senim, &path, Some(&admin));
    assert_eq!(code, 200, "{body}");
    let json: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(json_lines(&json), expected, "{body}");
    let (code, _, body) = get(&senim, &format!("{path}&format=csv"), Some(&admin));
    assert_eq!(code, 200);
    assert_eq!(body, csv_text("language", &expected));

    // By hour and by day: the same totals, and the rows add up to them.
    for by in ["hour", "day", "week", "month"] {
        let (code, _, body) = get(
            &senim,
            &format!("/api/v1/reports?from={from}&to={to}&by={by}"),
            Some(&coordinator),
        );
        assert_eq!(code, 200, "{by}: {body}");
        let json: Value = serde_json::from_str(&body).expect("JSON");
        let lines = json_lines(&json);
        assert_eq!(lines.last(), expected.last(), "{by}: {body}");
        let offered: u64 = json["rows"]
            .as_array()
            .expect("rows")
            .iter()
            .map(|r| r["offered"].as_u64().unwrap_or(0))
            .sum();
        assert_eq!(offered, 6, "{by}: {body}");
    }
}

/// `Senim::ended_calls` is async; the test is not.
trait Blocking {
    type Out;
    fn await_blocking(self) -> Self::Out;
}

impl<F: std::future::Future> Blocking for F {
    type Out = F::Output;
    fn await_blocking(self) -> F::Output {
        tokio::runtime::Runtime::new()
            .expect("runtime")
            .block_on(self)
    }
}
