//! The reports against a real SQLite database (the migrations applied by
//! `Store::open`), filled with a known mix of calls, routing steps and
//! follow-ups; every metric and the CSV checked exactly.

use chrono::{FixedOffset, TimeZone};
use sqlx::AnyPool;

use super::*;
use crate::store::Store;

/// Epoch ms of a local time at +05:00 (Asia/Almaty since 2024-03-01),
/// computed without chrono-tz so the zone in the reports is checked.
fn at(month: u32, day: u32, hour: u32, minute: u32, second: u32) -> i64 {
    FixedOffset::east_opt(5 * 3600)
        .and_then(|z| {
            z.with_ymd_and_hms(2026, month, day, hour, minute, second)
                .single()
        })
        .map(|t| t.timestamp_millis())
        .expect("valid time")
}

const HOUR_MS: i64 = 3_600_000;

struct Db {
    _dir: tempfile::TempDir,
    store: Store,
}

impl Db {
    async fn open() -> Db {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = crate::store::open_for_test(dir.path()).await;
        Db { _dir: dir, store }
    }

    fn pool(&self) -> &AnyPool {
        self.store.pool()
    }

    async fn call(&self, c: Call<'_>) {
        sqlx::query(
            "INSERT INTO calls (id, sip_call_id, arrived_at, ended_at, language, transport,
                                outcome, hangup_by, service, survey_score)
             VALUES ($1, $2, $3, $4, $5, 'udp', 'completed', $6, $7, $8)",
        )
        .bind(c.id)
        .bind(format!("{}@test", c.id))
        .bind(c.at)
        .bind(c.at + 60_000)
        .bind(c.language)
        .bind(c.hangup_by)
        .bind(c.service)
        .bind(c.survey)
        .execute(self.pool())
        .await
        .expect("insert call");
    }

    /// Routing steps of a call, in order: (step, result, wait_ms, detail).
    async fn routing(
        &self,
        call: &str,
        at: i64,
        steps: &[(&str, Option<&str>, Option<i64>, &str)],
    ) {
        for (seq, (step, result, wait_ms, detail)) in steps.iter().enumerate() {
            let partner = step.starts_with("transfer").then_some("ulba-crisis-centre");
            sqlx::query(
                "INSERT INTO call_routing (call_id, seq, at, step, partner, result, wait_ms, detail)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(call)
            .bind(seq as i64 + 1)
            .bind(at + 1000 * seq as i64)
            .bind(step)
            .bind(partner)
            .bind(result)
            .bind(wait_ms)
            .bind(detail)
            .execute(self.pool())
            .await
            .expect("insert routing step");
        }
    }

    async fn follow_up(&self, f: FollowUp<'_>) {
        sqlx::query(
            "INSERT INTO follow_ups (id, call_id, kind, created_at, language, service, status,
                                     completed_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(f.id)
        .bind(f.call)
        .bind(f.kind)
        .bind(f.at)
        .bind(f.language)
        .bind(f.service)
        .bind(f.status)
        .bind(f.completed_at)
        .execute(self.pool())
        .await
        .expect("insert follow-up");
    }
}

#[derive(Clone, Copy)]
struct Call<'a> {
    id: &'a str,
    at: i64,
    language: Option<&'a str>,
    service: Option<&'a str>,
    hangup_by: Option<&'a str>,
    survey: Option<i64>,
}

#[derive(Clone, Copy)]
struct FollowUp<'a> {
    id: &'a str,
    call: Option<&'a str>,
    kind: &'a str,
    at: i64,
    language: Option<&'a str>,
    service: Option<&'a str>,
    status: &'a str,
    completed_at: Option<i64>,
}

const REQ_LEGAL: &str = r#"{"step":"requested","service":"legal"}"#;
const REQ_PSY: &str = r#"{"step":"requested","service":"psychology"}"#;
const REQ_MED: &str = r#"{"step":"requested","service":"mediation"}"#;

/// The range of the mix: 1 to 15 March 2026, local days.
fn from() -> i64 {
    at(3, 1, 0, 0, 0)
}
fn to() -> i64 {
    at(3, 16, 0, 0, 0)
}

/// The known mix. Inside 1-15 March: ten calls, four callback requests,
/// one voice message; outside: c0 (February) and c10 (the range's end).
async fn fill(db: &Db) {
    let ru = Some("ru");
    let kk = Some("kk");
    let caller = Some("caller");
    let senim = Some("senim");
    #[rustfmt::skip]
    let calls = [
        // c0: the last minute of February (outside), answered after 3 s.
        Call { id: "c0", at: at(2, 28, 23, 59, 0), language: ru, service: Some("legal"), hangup_by: caller, survey: None },
        // c1: Monday 2 March 09:10, Kazakh legal, answered after 5 s, rated 5.
        Call { id: "c1", at: at(3, 2, 9, 10, 0), language: kk, service: Some("legal"), hangup_by: caller, survey: Some(5) },
        // c2: 09:40, Russian; the service only in its routing request
        // (psychology); queued, answered after 25 s, rated 3.
        Call { id: "c2", at: at(3, 2, 9, 40, 0), language: ru, service: None, hangup_by: senim, survey: Some(3) },
        // c3: Tuesday 3 March 00:30 local (still the 2nd in UTC): hung up in the menu.
        Call { id: "c3", at: at(3, 3, 0, 30, 0), language: ru, service: None, hangup_by: caller, survey: None },
        // c4: 10:05, Kazakh psychology, hung up in the queue after 40 s.
        Call { id: "c4", at: at(3, 3, 10, 5, 0), language: kk, service: Some("psychology"), hangup_by: caller, survey: None },
        // c5: 10:20, Russian, the emergency key: the crisis partner answered.
        Call { id: "c5", at: at(3, 3, 10, 20, 0), language: ru, service: None, hangup_by: caller, survey: None },
        // c6: Sunday 8 March 14:00, Kazakh mediation: nobody free, overflow
        // to a callback request (f6), done two hours later.
        Call { id: "c6", at: at(3, 8, 14, 0, 0), language: kk, service: Some("mediation"), hangup_by: senim, survey: None },
        // c7: Monday 9 March 09:15, Russian legal, answered after exactly 20 s, rated 4.
        Call { id: "c7", at: at(3, 9, 9, 15, 0), language: ru, service: Some("legal"), hangup_by: caller, survey: Some(4) },
        // c8: 11:00, Kazakh legal: pressed 1 in the queue for a callback (f8).
        Call { id: "c8", at: at(3, 9, 11, 0, 0), language: kk, service: Some("legal"), hangup_by: caller, survey: None },
        // c9: 12:00, no language chosen, Senim hung up: not abandoned.
        Call { id: "c9", at: at(3, 9, 12, 0, 0), language: None, service: None, hangup_by: senim, survey: None },
        // c11: Tuesday 10 March 18:00, Russian, left a voice message (v11)
        // and hung up: not abandoned in the menu, not a callback request.
        Call { id: "c11", at: at(3, 10, 18, 0, 0), language: ru, service: None, hangup_by: caller, survey: None },
        // c10: 16 March 00:00 exactly, the end of the range (excluded).
        Call { id: "c10", at: at(3, 16, 0, 0, 0), language: kk, service: Some("legal"), hangup_by: caller, survey: None },
    ];
    for c in calls {
        db.call(c).await;
    }

    let connected = |ms| ("finished", Some("connected"), Some(ms), "{}");
    let requested = |detail| ("requested", None, None, detail);
    let step = |name| (name, None, None, "{}");
    #[rustfmt::skip]
    let routing = [
        ("c0", at(2, 28, 23, 59, 30), vec![requested(REQ_LEGAL), connected(3000)]),
        ("c1", at(3, 2, 9, 10, 30), vec![
            requested(REQ_LEGAL), step("rang"),
            ("ring-ended", Some("answered"), Some(4000), "{}"),
            connected(5000),
        ]),
        ("c2", at(3, 2, 9, 40, 30), vec![requested(REQ_PSY), step("queued"), connected(25_000)]),
        ("c4", at(3, 3, 10, 5, 30), vec![
            requested(REQ_PSY), step("queued"),
            ("finished", Some("abandoned"), Some(40_000), "{}"),
        ]),
        ("c5", at(3, 3, 10, 20, 30), vec![
            ("transfer-attempt", None, None, r#"{"how":"bridged"}"#),
            ("transfer-ended", Some("answered"), None, r#"{"how":"bridged"}"#),
        ]),
        ("c6", at(3, 8, 14, 0, 30), vec![
            requested(REQ_MED), step("queued"),
            ("finished", Some("overflow"), Some(180_000), "{}"),
        ]),
        ("c7", at(3, 9, 9, 15, 30), vec![requested(REQ_LEGAL), connected(20_000)]),
        ("c8", at(3, 9, 11, 0, 10), vec![
            requested(REQ_LEGAL), step("callback-offered"),
            ("finished", Some("callback-requested"), Some(60_000), "{}"),
        ]),
        ("c10", at(3, 16, 0, 0, 10), vec![requested(REQ_LEGAL), connected(1000)]),
    ];
    for (call, at, steps) in routing {
        db.routing(call, at, &steps).await;
    }

    let (f3, f6) = (at(3, 1, 0, 5, 0), at(3, 8, 14, 3, 30));
    #[rustfmt::skip]
    let follow_ups = [
        // c0's callback request, made on 1 March 00:05 (inside), Russian
        // psychology, done five hours later.
        FollowUp { id: "f3", call: Some("c0"), kind: "callback", at: f3, language: ru, service: Some("psychology"), status: "done", completed_at: Some(f3 + 5 * HOUR_MS) },
        FollowUp { id: "f6", call: Some("c6"), kind: "callback", at: f6, language: kk, service: Some("mediation"), status: "done", completed_at: Some(f6 + 2 * HOUR_MS) },
        // Without language or service: its call's are used. Still open.
        FollowUp { id: "f8", call: Some("c8"), kind: "callback", at: at(3, 9, 11, 1, 0), language: None, service: None, status: "open", completed_at: None },
        FollowUp { id: "v11", call: Some("c11"), kind: "voicemail", at: at(3, 10, 18, 1, 0), language: ru, service: None, status: "open", completed_at: None },
        // Its call is gone (purged); claimed, not done.
        FollowUp { id: "f4", call: None, kind: "callback", at: at(3, 12, 9, 0, 0), language: None, service: None, status: "claimed", completed_at: None },
    ];
    for f in follow_ups {
        db.follow_up(f).await;
    }
}

const HEADER: &str = "offered,answered,abandoned_menu,abandoned_queue,routed,answered_within_20s,service_level_pct,wait_avg_s,wait_p90_s,transfers_to_partners,callbacks_requested,callbacks_completed,callback_avg_h,callback_p90_h,survey_avg,survey_count";
const EMPTY: &str = "0,0,0,0,0,0,,,,0,0,0,,,,0";
/// The whole of 1-15 March.
const TOTAL: &str = "total,10,3,1,1,6,2,33.3,16.7,25.0,1,4,2,3.5,5.0,4.00,3";

fn csv(by: &str, lines: &[&str]) -> String {
    let mut out = format!("{by},{HEADER}\r\n");
    for l in lines {
        out.push_str(l);
        out.push_str("\r\n");
    }
    out
}

async fn made(db: &Db, by: Grouping) -> Report {
    report(&db.store, from(), to(), by).await.expect("report")
}

#[tokio::test]
async fn totals_of_the_mix() {
    let db = Db::open().await;
    fill(&db).await;
    let r = made(&db, Grouping::Day).await;
    assert_eq!(
        r.total,
        Metrics {
            offered: 10,
            answered: 3,
            abandoned_menu: 1,
            abandoned_queue: 1,
            routed: 6,
            answered_within_20s: 2,
            service_level_pct: Some(33.3),
            wait_avg_s: Some(16.7),
            wait_p90_s: Some(25.0),
            transfers_to_partners: 1,
            callbacks_requested: 4,
            callbacks_completed: 2,
            callback_avg_h: Some(3.5),
            callback_p90_h: Some(5.0),
            survey_avg: Some(4.0),
            survey_count: 3,
        }
    );
    // Every grouping adds up to the same totals.
    for by in Grouping::ALL {
        assert_eq!(made(&db, by).await.total, r.total, "{by:?}");
    }
}

#[tokio::test]
async fn by_local_day_with_empty_days_listed() {
    let db = Db::open().await;
    fill(&db).await;
    let r = made(&db, Grouping::Day).await;
    let e = |d: u32| format!("2026-03-{d:02},{EMPTY}");
    let (d4, d5, d6, d7, d11, d13, d14, d15) = (e(4), e(5), e(6), e(7), e(11), e(13), e(14), e(15));
    let expected = csv(
        "day",
        &[
            "2026-03-01,0,0,0,0,0,0,,,,0,1,1,5.0,5.0,,0",
            "2026-03-02,2,2,0,0,2,1,50.0,15.0,25.0,0,0,0,,,4.00,2",
            // c3 at 00:30 local belongs to the 3rd although it is the 2nd in UTC.
            "2026-03-03,3,0,1,1,1,0,0.0,,,1,0,0,,,,0",
            &d4,
            &d5,
            &d6,
            &d7,
            "2026-03-08,1,0,0,0,1,0,0.0,,,0,1,1,2.0,2.0,,0",
            "2026-03-09,3,1,0,0,2,1,50.0,20.0,20.0,0,1,0,,,4.00,1",
            "2026-03-10,1,0,0,0,0,0,,,,0,0,0,,,,0",
            &d11,
            "2026-03-12,0,0,0,0,0,0,,,,0,1,0,,,,0",
            &d13,
            &d14,
            &d15,
            TOTAL,
        ],
    );
    assert_eq!(to_csv(&r), expected);
    assert_eq!(r.rows.len(), 15);
    assert_eq!(r.by, Grouping::Day);
    assert_eq!(r.time_zone, "Asia/Almaty");
}

#[tokio::test]
async fn by_iso_week_monday_to_sunday() {
    let db = Db::open().await;
    fill(&db).await;
    // 1 March 2026 is a Sunday: the end of week 9.
    let expected = csv(
        "week",
        &[
            "2026-W09,0,0,0,0,0,0,,,,0,1,1,5.0,5.0,,0",
            "2026-W10,6,2,1,1,4,1,25.0,15.0,25.0,1,1,1,2.0,2.0,4.00,2",
            "2026-W11,4,1,0,0,2,1,50.0,20.0,20.0,0,2,0,,,4.00,1",
            TOTAL,
        ],
    );
    assert_eq!(to_csv(&made(&db, Grouping::Week).await), expected);
}

#[tokio::test]
async fn by_month_over_a_wider_range() {
    let db = Db::open().await;
    fill(&db).await;
    let r = report(
        &db.store,
        at(2, 1, 0, 0, 0),
        at(4, 1, 0, 0, 0),
        Grouping::Month,
    )
    .await
    .expect("report");
    // February: c0. March adds c10 (16 March), answered after 1 s:
    // waits 1, 5, 20, 25 s; 12.75 rounds to 12.8.
    let expected = csv(
        "month",
        &[
            "2026-02,1,1,0,0,1,1,100.0,3.0,3.0,0,0,0,,,,0",
            "2026-03,11,4,1,1,7,3,42.9,12.8,25.0,1,4,2,3.5,5.0,4.00,3",
            "total,12,5,1,1,8,4,50.0,10.8,25.0,1,4,2,3.5,5.0,4.00,3",
        ],
    );
    assert_eq!(to_csv(&r), expected);
}

#[tokio::test]
async fn by_service_language_and_hour() {
    let db = Db::open().await;
    fill(&db).await;
    let expected = csv(
        "service",
        &[
            "legal,3,2,0,0,3,2,66.7,12.5,20.0,0,1,0,,,4.50,2",
            "psychology,2,1,0,1,2,0,0.0,25.0,25.0,0,1,1,5.0,5.0,3.00,1",
            "mediation,1,0,0,0,1,0,0.0,,,0,1,1,2.0,2.0,,0",
            "none,4,0,1,0,0,0,,,,1,1,0,,,,0",
            TOTAL,
        ],
    );
    assert_eq!(to_csv(&made(&db, Grouping::Service).await), expected);

    let expected = csv(
        "language",
        &[
            "kk,4,1,0,1,4,1,25.0,5.0,5.0,0,2,1,2.0,2.0,5.00,1",
            "ru,5,2,1,0,2,1,50.0,22.5,25.0,1,1,1,5.0,5.0,3.50,2",
            "none,1,0,0,0,0,0,,,,0,1,0,,,,0",
            TOTAL,
        ],
    );
    assert_eq!(to_csv(&made(&db, Grouping::Language).await), expected);

    let hours: Vec<String> = (0..24)
        .map(|h| match h {
            0 => "00,1,0,1,0,0,0,,,,0,1,1,5.0,5.0,,0".to_string(),
            9 => "09,3,3,0,0,3,2,66.7,16.7,25.0,0,1,0,,,4.00,3".to_string(),
            10 => "10,2,0,0,1,1,0,0.0,,,1,0,0,,,,0".to_string(),
            11 => "11,1,0,0,0,1,0,0.0,,,0,1,0,,,,0".to_string(),
            12 => "12,1,0,0,0,0,0,,,,0,0,0,,,,0".to_string(),
            14 => "14,1,0,0,0,1,0,0.0,,,0,1,1,2.0,2.0,,0".to_string(),
            18 => "18,1,0,0,0,0,0,,,,0,0,0,,,,0".to_string(),
            h => format!("{h:02},{EMPTY}"),
        })
        .collect();
    let mut lines: Vec<&str> = hours.iter().map(String::as_str).collect();
    lines.push(TOTAL);
    assert_eq!(
        to_csv(&made(&db, Grouping::Hour).await),
        csv("hour", &lines)
    );
}

#[tokio::test]
async fn json_shape() {
    let db = Db::open().await;
    fill(&db).await;
    let r = made(&db, Grouping::Service).await;
    let v = serde_json::to_value(&r).expect("json");
    assert_eq!(v["by"], "service");
    assert_eq!(v["time_zone"], "Asia/Almaty");
    assert_eq!(v["from_ms"], from());
    assert_eq!(v["rows"][0]["key"], "legal");
    assert_eq!(v["rows"][0]["offered"], 3);
    assert_eq!(v["rows"][0]["service_level_pct"], 66.7);
    assert_eq!(v["rows"][0]["survey_avg"], 4.5);
    assert!(v["rows"][2]["wait_avg_s"].is_null());
    assert_eq!(v["total"]["callbacks_requested"], 4);
    // The columns of the JSON rows are the CSV's.
    let row = v["rows"][0].as_object().expect("row");
    let mut keys: Vec<&str> = row.keys().map(String::as_str).collect();
    keys.sort_unstable();
    let mut columns: Vec<&str> = CSV_COLUMNS.to_vec();
    columns.push("key");
    columns.sort_unstable();
    assert_eq!(keys, columns);
}

#[tokio::test]
async fn an_empty_database_gives_zero_rows_not_errors() {
    let db = Db::open().await;
    let r = report(&db.store, from(), at(3, 3, 0, 0, 0), Grouping::Day)
        .await
        .expect("report");
    assert_eq!(
        to_csv(&r),
        csv(
            "day",
            &[
                &format!("2026-03-01,{EMPTY}"),
                &format!("2026-03-02,{EMPTY}"),
                &format!("total,{EMPTY}"),
            ]
        )
    );
    let r = report(&db.store, from(), to(), Grouping::Service)
        .await
        .expect("report");
    let keys: Vec<&str> = r.rows.iter().map(|r| r.key.as_str()).collect();
    assert_eq!(keys, ["legal", "psychology", "mediation"]);
}

#[tokio::test]
async fn a_transfer_handed_over_by_refer_counts_and_a_failed_one_does_not() {
    let db = Db::open().await;
    let caller = Some("caller");
    let refer = r#"{"how":"refer"}"#;
    for (id, minute, result) in [("h1", 0, "handed-over"), ("h2", 10, "failed")] {
        let at = at(3, 2, 12, minute, 0);
        db.call(Call {
            id,
            at,
            language: Some("ru"),
            service: None,
            hangup_by: caller,
            survey: None,
        })
        .await;
        db.routing(
            id,
            at + 30_000,
            &[
                ("transfer-attempt", None, None, refer),
                ("transfer-ended", Some(result), None, refer),
            ],
        )
        .await;
    }
    let r = made(&db, Grouping::Day).await;
    assert_eq!(r.total.offered, 2);
    assert_eq!(r.total.transfers_to_partners, 1);
    assert_eq!(r.total.answered, 0, "a REFER is not a specialist's answer");
    assert_eq!(
        r.total.abandoned_menu, 0,
        "a transfer was tried: not abandoned in the menu"
    );
}

#[tokio::test]
async fn bad_ranges_are_refused() {
    let db = Db::open().await;
    let store = &db.store;
    assert!(matches!(
        report(store, to(), from(), Grouping::Day).await,
        Err(ReportError::EmptyRange)
    ));
    assert!(matches!(
        report(store, from(), from(), Grouping::Day).await,
        Err(ReportError::EmptyRange)
    ));
    assert!(matches!(
        report(store, 0, (MAX_SPAN_DAYS + 1) * 86_400_000, Grouping::Day).await,
        Err(ReportError::TooLong)
    ));
    assert!(matches!(
        report(store, i64::MAX - 10, i64::MAX, Grouping::Day).await,
        Err(ReportError::OutOfRange)
    ));
    // The longest range allowed, by day: one row per day, no more.
    let r = report(
        store,
        from(),
        from() + MAX_SPAN_DAYS * 86_400_000,
        Grouping::Day,
    )
    .await
    .expect("report");
    assert_eq!(r.rows.len(), MAX_SPAN_DAYS as usize);
}

#[test]
fn p90_is_nearest_rank() {
    assert_eq!(p90(&mut []), None);
    assert_eq!(p90(&mut [7]), Some(7));
    assert_eq!(p90(&mut [2, 1]), Some(2));
    // Ten values: rank 9.
    let mut v: Vec<i64> = (1..=10).rev().collect();
    assert_eq!(p90(&mut v), Some(9));
    // Eleven: rank ceil(9.9) = 10.
    let mut v: Vec<i64> = (1..=11).collect();
    assert_eq!(p90(&mut v), Some(10));
    let mut v: Vec<i64> = (1..=20).collect();
    assert_eq!(p90(&mut v), Some(18));
}

#[test]
fn days_are_in_asia_almaty() {
    // UTC+5 since 2024-03-01: 19:30 UTC on 4 March 2024 is 00:30 on the 5th.
    let t = chrono::Utc
        .with_ymd_and_hms(2024, 3, 4, 19, 30, 0)
        .single()
        .expect("time")
        .timestamp_millis();
    assert_eq!(key(Grouping::Day, t, None, None, None), "2024-03-05");
    assert_eq!(key(Grouping::Hour, t, None, None, None), "00");
    // Before, East Kazakhstan was UTC+6: 18:30 UTC on 15 January 2024 was
    // already 00:30 on the 16th.
    let t = chrono::Utc
        .with_ymd_and_hms(2024, 1, 15, 18, 30, 0)
        .single()
        .expect("time")
        .timestamp_millis();
    assert_eq!(key(Grouping::Day, t, None, None, None), "2024-01-16");
    // ISO weeks: 29 December 2025 (a Monday) starts 2026-W01; 3 January
    // 2027 (a Sunday) ends 2026-W53.
    let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).expect("date");
    assert_eq!(week_key(d(2025, 12, 28)), "2025-W52");
    assert_eq!(week_key(d(2025, 12, 29)), "2026-W01");
    assert_eq!(week_key(d(2027, 1, 3)), "2026-W53");
    assert_eq!(week_key(d(2027, 1, 4)), "2027-W01");
}

#[test]
fn groupings_by_name() {
    for g in Grouping::ALL {
        assert_eq!(Grouping::parse(g.as_str()), Some(g));
    }
    assert_eq!(Grouping::parse("Day"), None);
    assert_eq!(Grouping::parse("year"), None);
}

#[test]
fn csv_fields_are_quoted_as_rfc_4180_says() {
    assert_eq!(csv_field("legal"), "legal");
    assert_eq!(csv_field("a,b"), "\"a,b\"");
    assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
    assert_eq!(csv_field("two\r\nlines"), "\"two\r\nlines\"");
    assert_eq!(csv_field("line\n"), "\"line\n\"");
    // Not run as a formula by a spreadsheet.
    assert_eq!(csv_field("=1+1"), "'=1+1");
    assert_eq!(csv_field("@SUM(A1)"), "'@SUM(A1)");
    assert_eq!(csv_field("-2,3"), "\"'-2,3\"");
    assert_eq!(csv_field(""), "");
}

#[test]
fn an_unknown_service_gets_its_own_row_after_the_known_ones() {
    let c = |service: Option<&str>| CallFacts {
        arrived_at: from(),
        language: Some("ru".into()),
        service: service.map(str::to_string),
        wrap_up: None,
        hangup_by_caller: false,
        survey_score: None,
        any_routing: false,
        routed: false,
        connected: false,
        connected_wait_ms: None,
        abandoned_queue: false,
        transferred: false,
        follow_up: false,
    };
    let calls = [
        c(None),
        c(Some("family")),
        c(Some("legal")),
        c(Some("")),
        c(Some("debt")),
    ];
    let r = build(from(), to(), Grouping::Service, &calls, &[]).expect("report");
    let rows: Vec<(&str, u64)> = r
        .rows
        .iter()
        .map(|r| (r.key.as_str(), r.metrics.offered))
        .collect();
    assert_eq!(
        rows,
        [
            ("legal", 1),
            ("psychology", 0),
            ("mediation", 0),
            ("debt", 1),
            ("family", 1),
            ("none", 2)
        ]
    );
}

#[tokio::test]
async fn by_the_kind_of_help_from_the_wrap_up_codes() {
    let db = Db::open().await;
    fill(&db).await;
    for (call, kind) in [
        ("c1", "crisis-intervention"),
        ("c2", "consultation"),
        ("c7", "legal-aid"),
    ] {
        sqlx::query("UPDATE calls SET wrap_up = $2 WHERE id = $1")
            .bind(call)
            .bind(kind)
            .execute(db.pool())
            .await
            .expect("wrap-up");
    }
    let r = made(&db, Grouping::Kind).await;
    let rows: Vec<(&str, u64, u64)> = r
        .rows
        .iter()
        .map(|row| (row.key.as_str(), row.metrics.offered, row.metrics.answered))
        .collect();
    assert_eq!(
        rows,
        [
            ("consultation", 1, 1),
            ("referral", 0, 0),
            ("crisis-intervention", 1, 1),
            ("information", 0, 0),
            ("legal-aid", 1, 1),
            ("none", 7, 0),
        ]
    );
    let csv = to_csv(&r);
    assert!(csv.starts_with("kind,"), "{csv}");
    assert!(csv.contains("\r\ncrisis-intervention,1,1,"), "{csv}");
    assert!(csv.contains("\r\nnone,7,0,"), "{csv}");
}

#[test]
fn a_report_of_nothing_checks_the_range_and_lists_every_day() {
    // 2026-03-01 to 2026-03-04, midnight to midnight in Almaty (+05:00).
    let from = 1_772_305_200_000;
    let r = report_of_nothing(from, from + 3 * 86_400_000, Grouping::Day).unwrap();
    let keys: Vec<&str> = r.rows.iter().map(|row| row.key.as_str()).collect();
    assert_eq!(keys, ["2026-03-01", "2026-03-02", "2026-03-03"]);
    assert_eq!(r.total.offered, 0);
    assert!(matches!(
        report_of_nothing(from, from, Grouping::Day),
        Err(ReportError::EmptyRange)
    ));
    assert!(matches!(
        report_of_nothing(i64::MIN, from, Grouping::Week),
        Err(ReportError::OutOfRange)
    ));
}
