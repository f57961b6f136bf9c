//! The purge and the erasure against a real SQLite database (the
//! migrations applied by `Store::open`) with a fixed clock: old data goes,
//! new data stays, the reports and the call list give the same numbers
//! before and after, WAV files are deleted from disk.

use std::path::{Path, PathBuf};

use sqlx::{Row, SqlitePool};

use super::*;
use crate::privacy::CallerHasher;
use crate::store::reports::{report, Grouping};
use crate::store::{audit, calls as q, Store};

const DAY_MS: i64 = 86_400_000;
/// 2026-06-01T00:00:00Z.
const NOW: i64 = 1_780_272_000_000;

struct Db {
    dir: tempfile::TempDir,
    store: Store,
}

impl Db {
    async fn open() -> Db {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("retention.db").display());
        let store = Store::open(&url).await.expect("open and migrate");
        Db { dir, store }
    }

    fn pool(&self) -> &SqlitePool {
        self.store.pool()
    }

    async fn count(&self, sql: &'static str) -> i64 {
        sqlx::query_scalar(sql)
            .fetch_one(self.pool())
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// A routed, connected call with keys, steps and routing steps, as the
    /// writer leaves it (the service only in the routing request).
    async fn call(&self, id: &str, at: i64, hash: &str) {
        sqlx::query(
            "INSERT INTO calls (id, sip_call_id, arrived_at, answered_at, ended_at, caller_hash,
                                language, transport, outcome, hangup_by, survey_score)
             VALUES ($1, $1 || '@test', $2, $2 + 1000, $2 + 90000, $3, 'kk', 'udp',
                     'completed', 'caller', 4)",
        )
        .bind(id)
        .bind(at)
        .bind(hash)
        .execute(self.pool())
        .await
        .expect("insert call");
        for (seq, digit) in ["1", "2"].iter().enumerate() {
            sqlx::query(
                "INSERT INTO call_digits (call_id, seq, at, digit, source, menu)
                 VALUES ($1, $2, $3, $4, 'rfc4733', 'main')",
            )
            .bind(id)
            .bind(seq as i64)
            .bind(at + 2000 + seq as i64)
            .bind(digit)
            .execute(self.pool())
            .await
            .expect("insert digit");
        }
        sqlx::query(
            "INSERT INTO call_steps (call_id, seq, at, menu, what)
             VALUES ($1, 0, $2, 'main', 'enter route legal')",
        )
        .bind(id)
        .bind(at + 3000)
        .execute(self.pool())
        .await
        .expect("insert step");
        let routing = [
            (
                "requested",
                None,
                None,
                r#"{"step":"requested","service":"legal"}"#,
            ),
            (
                "finished",
                Some("connected"),
                Some(12_000),
                r#"{"step":"finished","queue_wait_ms":3000}"#,
            ),
        ];
        for (seq, (step, result, wait, detail)) in routing.iter().enumerate() {
            sqlx::query(
                "INSERT INTO call_routing (call_id, seq, at, step, result, wait_ms, detail)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(id)
            .bind(seq as i64)
            .bind(at + 4000 + seq as i64)
            .bind(step)
            .bind(result)
            .bind(wait)
            .bind(detail)
            .execute(self.pool())
            .await
            .expect("insert routing");
        }
    }

    /// A voice message of `call` recorded at `at`; the WAV file is written
    /// unless `file` is false. Returns the path.
    async fn voicemail(&self, call: &str, at: i64, file: bool) -> PathBuf {
        let path = self.dir.path().join(format!("{call}.wav"));
        if file {
            std::fs::write(&path, b"RIFF....WAVE").expect("write wav");
        }
        sqlx::query(
            "INSERT INTO voicemails (call_id, at, path, duration_ms, ended_by)
             VALUES ($1, $2, $3, 5000, 'key')",
        )
        .bind(call)
        .bind(at)
        .bind(path.display().to_string())
        .execute(self.pool())
        .await
        .expect("insert voicemail");
        path
    }

    async fn follow_up(&self, id: &str, call: Option<&str>, kind: &str, at: i64, hash: &str) {
        sqlx::query(
            "INSERT INTO follow_ups (id, call_id, kind, created_at, caller_hash, number_sealed,
                                     number_source, language, service)
             VALUES ($1, $2, $3, $4, $5, CASE WHEN $3 = 'callback' THEN 'v1:00aa' END,
                     'caller-id', 'kk', 'legal')",
        )
        .bind(id)
        .bind(call)
        .bind(kind)
        .bind(at)
        .bind(hash)
        .execute(self.pool())
        .await
        .expect("insert follow-up");
    }

    async fn audit(&self, at: i64) {
        audit::write(
            &self.store,
            &audit::AuditEntry {
                at_ms: at,
                token_name: "office admin",
                role: "admin",
                action: "read-call",
                target: Some("x"),
                detail: None,
            },
        )
        .await
        .expect("insert audit");
    }

    async fn timeline_rows(&self, call: &str) -> i64 {
        let mut n = 0;
        for sql in [
            "SELECT COUNT(*) FROM call_digits WHERE call_id = $1",
            "SELECT COUNT(*) FROM call_steps WHERE call_id = $1",
            "SELECT COUNT(*) FROM call_routing WHERE call_id = $1",
        ] {
            n += sqlx::query_scalar::<_, i64>(sql)
                .bind(call)
                .fetch_one(self.pool())
                .await
                .expect("count timeline");
        }
        n
    }

    async fn caller_hash(&self, call: &str) -> Option<String> {
        sqlx::query("SELECT caller_hash FROM calls WHERE id = $1")
            .bind(call)
            .fetch_one(self.pool())
            .await
            .expect("call row")
            .get("caller_hash")
    }

    /// The day report over the whole test range and the listed calls, with
    /// the caller hash left out: what must not change when timelines go.
    async fn aggregates(&self) -> (crate::store::reports::Report, Vec<q::CallRow>) {
        let r = report(&self.store, NOW - 800 * DAY_MS, NOW, Grouping::Month)
            .await
            .expect("report");
        let filter = q::CallFilter {
            limit: 100,
            ..Default::default()
        };
        let calls = q::list_calls(&self.store, &filter)
            .await
            .expect("list")
            .into_iter()
            .map(|mut c| {
                c.caller_hash = None;
                c
            })
            .collect();
        (r, calls)
    }
}

fn periods() -> Retention {
    RetentionConfig::default().parse().expect("defaults parse")
}

#[tokio::test]
async fn purge_removes_what_is_past_its_period_and_keeps_the_aggregates() {
    let db = Db::open().await;
    db.call("old", NOW - 400 * DAY_MS, "h-old").await;
    db.call("mid", NOW - 100 * DAY_MS, "h-mid").await;
    db.call("new", NOW - 10 * DAY_MS, "h-new").await;
    let old_wav = db.voicemail("old", NOW - 400 * DAY_MS, true).await;
    let _missing = db.voicemail("mid", NOW - 100 * DAY_MS, false).await;
    let new_wav = db.voicemail("new", NOW - 10 * DAY_MS, true).await;
    db.follow_up(
        "f-old",
        Some("old"),
        "callback",
        NOW - 400 * DAY_MS,
        "h-old",
    )
    .await;
    db.follow_up(
        "f-mid",
        Some("mid"),
        "callback",
        NOW - 100 * DAY_MS,
        "h-mid",
    )
    .await;
    db.follow_up("f-new", Some("new"), "callback", NOW - 10 * DAY_MS, "h-new")
        .await;
    db.audit(NOW - 800 * DAY_MS).await;
    db.audit(NOW - DAY_MS).await;
    let before = db.aggregates().await;
    assert_eq!(before.0.total.offered, 3);
    assert_eq!(before.1.len(), 3);

    let counts = purge(&db.store, NOW, &periods()).await.expect("purge");
    assert_eq!(
        counts,
        PurgeCounts {
            numbers: 2,
            recordings: 2,
            recording_files_missing: 1,
            recording_files_failed: 0,
            timelines: 1,
            timeline_rows: 5,
            follow_up_hashes: 1,
            audit: 1,
        }
    );
    // Timelines and hashes: only the call older than 365 days.
    assert_eq!(db.timeline_rows("old").await, 0);
    assert_eq!(db.timeline_rows("mid").await, 5);
    assert_eq!(db.timeline_rows("new").await, 5);
    assert_eq!(db.caller_hash("old").await, None);
    assert_eq!(db.caller_hash("mid").await.as_deref(), Some("h-mid"));
    // Recordings: files older than 90 days deleted with their rows.
    assert!(!Path::new(&old_wav).exists());
    assert!(Path::new(&new_wav).exists());
    assert_eq!(
        db.count("SELECT COUNT(*) FROM voicemails WHERE call_id = 'new'")
            .await,
        1
    );
    assert_eq!(db.count("SELECT COUNT(*) FROM voicemails").await, 1);
    // Numbers: cleared past 90 days, the follow-ups themselves stay.
    assert_eq!(
        db.count("SELECT COUNT(*) FROM follow_ups WHERE number_sealed IS NOT NULL")
            .await,
        1
    );
    assert_eq!(
        db.count(
            "SELECT COUNT(*) FROM follow_ups WHERE id = 'f-new' AND number_sealed IS NOT NULL"
        )
        .await,
        1
    );
    assert_eq!(db.count("SELECT COUNT(*) FROM follow_ups").await, 3);
    assert_eq!(
        db.count("SELECT COUNT(*) FROM follow_ups WHERE caller_hash IS NULL")
            .await,
        1
    );
    assert_eq!(db.count("SELECT COUNT(*) FROM audit_log").await, 1);
    // The calls stay with their aggregates; reports and the list agree.
    assert_eq!(db.count("SELECT COUNT(*) FROM calls").await, 3);
    assert_eq!(db.aggregates().await, before);
    let old = q::call(&db.store, "old").await.unwrap().expect("old call");
    assert_eq!(old.service.as_deref(), Some("legal"));
    assert_eq!(old.wait_ms, Some(12_000));
    assert_eq!(old.queue_wait_ms, Some(3000));
    assert_eq!(old.routing_result.as_deref(), Some("connected"));
    // The old call's month in a report that reaches it still counts it.
    let r = report(&db.store, NOW - 410 * DAY_MS, NOW, Grouping::Service)
        .await
        .unwrap();
    assert_eq!(r.total.offered, 3);
    assert_eq!(r.total.answered, 3);
    assert_eq!(r.total.survey_count, 3);
    let legal = r.rows.iter().find(|row| row.key == "legal").unwrap();
    assert_eq!(legal.metrics.offered, 3);

    // A second run at the same time has nothing left to do.
    let again = purge(&db.store, NOW, &periods()).await.expect("purge");
    assert_eq!(again, PurgeCounts::default());
}

#[tokio::test]
async fn purge_works_in_batches() {
    let db = Db::open().await;
    let n = BATCH + 7;
    for i in 0..n {
        sqlx::query(
            "INSERT INTO calls (id, sip_call_id, arrived_at, caller_hash, transport)
             VALUES ('c' || $1, 's' || $1, $2, 'h', 'udp')",
        )
        .bind(i as i64)
        .bind(NOW - 400 * DAY_MS + i as i64)
        .execute(db.pool())
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO audit_log (at, token_name, role, action) VALUES ($1, 't', 'admin', 'a')",
        )
        .bind(NOW - 800 * DAY_MS)
        .execute(db.pool())
        .await
        .unwrap();
    }
    let c = purge(&db.store, NOW, &periods()).await.unwrap();
    assert_eq!(c.timelines, n as u64);
    assert_eq!(c.audit, n as u64);
    assert_eq!(
        db.count("SELECT COUNT(*) FROM calls WHERE caller_hash IS NOT NULL")
            .await,
        0
    );
}

#[tokio::test]
async fn erase_removes_one_callers_data_found_by_number() {
    let db = Db::open().await;
    let hasher = CallerHasher::new(vec![9; 32]);
    let h = hasher.hash("+7 705 123 45 67");
    let other = hasher.hash("+77019998877");
    // Their call, with a voice message and its follow-up.
    db.call("theirs", NOW - 5 * DAY_MS, &h).await;
    let wav = db.voicemail("theirs", NOW - 5 * DAY_MS, true).await;
    db.follow_up(
        "voicemail-theirs",
        Some("theirs"),
        "voicemail",
        NOW - 5 * DAY_MS,
        &h,
    )
    .await;
    // A call from another phone that asked for a callback to their number.
    db.call("typed", NOW - 3 * DAY_MS, &other).await;
    db.follow_up("cb", Some("typed"), "callback", NOW - 3 * DAY_MS, &h)
        .await;
    // Somebody else, untouched.
    db.call("someone", NOW - 2 * DAY_MS, &other).await;
    db.follow_up("cb2", Some("someone"), "callback", NOW - 2 * DAY_MS, &other)
        .await;
    let before = report(&db.store, NOW - 30 * DAY_MS, NOW, Grouping::Month)
        .await
        .unwrap();

    let counts = erase_caller(&db.store, &hasher.hash("87051234567"), NOW)
        .await
        .expect("erase");
    assert_eq!(
        counts,
        EraseCounts {
            follow_ups: 2,
            voicemails: 1,
            voicemail_files_failed: 0,
            calls: 2,
            timeline_rows: 10,
        }
    );
    assert!(!wav.exists());
    assert_eq!(db.count("SELECT COUNT(*) FROM voicemails").await, 0);
    for call in ["theirs", "typed"] {
        assert_eq!(db.timeline_rows(call).await, 0, "{call}");
        assert_eq!(db.caller_hash(call).await, None, "{call}");
    }
    assert_eq!(db.timeline_rows("someone").await, 5);
    assert_eq!(db.caller_hash("someone").await, Some(other.clone()));
    let left: Vec<String> = sqlx::query_scalar("SELECT id FROM follow_ups")
        .fetch_all(db.pool())
        .await
        .unwrap();
    assert_eq!(left, vec!["cb2".to_string()]);
    assert_eq!(db.count("SELECT COUNT(*) FROM calls").await, 3);
    // The calls still count the same; the erased callback request does not.
    let after = report(&db.store, NOW - 30 * DAY_MS, NOW, Grouping::Month)
        .await
        .unwrap();
    let mut expected = before.total.clone();
    expected.callbacks_requested -= 1;
    assert_eq!(after.total, expected);
    // Asking again finds nothing.
    let again = erase_caller(&db.store, &h, NOW).await.unwrap();
    assert_eq!(again, EraseCounts::default());
}

#[test]
fn periods_are_checked_with_the_key_named() {
    let p = periods();
    assert_eq!(p.numbers, Duration::from_secs(90 * 86_400));
    assert_eq!(p.timelines, Duration::from_secs(365 * 86_400));
    assert_eq!(p.audit, Duration::from_secs(730 * 86_400));
    assert_eq!(p.every, Duration::from_secs(3600));
    assert_eq!(Retention::default(), p);
    let with = |f: fn(&mut RetentionConfig)| {
        let mut c = RetentionConfig::default();
        f(&mut c);
        c.parse()
    };
    assert_eq!(
        with(|c| c.every = "12h".into()).unwrap().every.as_secs(),
        43_200
    );
    assert_eq!(
        with(|c| c.numbers = "90s".into()).unwrap_err().0,
        "retention.numbers"
    );
    assert_eq!(
        with(|c| c.recordings = "x".into()).unwrap_err().0,
        "retention.recordings"
    );
    assert_eq!(
        with(|c| c.timelines = "0d".into()).unwrap_err().0,
        "retention.timelines"
    );
    assert_eq!(
        with(|c| c.audit = "".into()).unwrap_err().0,
        "retention.audit"
    );
    assert_eq!(
        with(|c| c.every = "5s".into()).unwrap_err().0,
        "retention.every"
    );
}
