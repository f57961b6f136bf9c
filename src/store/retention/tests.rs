//! The purge and the erasure against a real SQLite database (the
//! migrations applied by `Store::open`) with a fixed clock: old data goes,
//! new data stays, the reports and the call list give the same numbers
//! before and after, WAV files are deleted from disk.

use std::path::{Path, PathBuf};

use sqlx::{AnyPool, Row};

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
        let store = crate::store::open_for_test(dir.path()).await;
        Db { dir, store }
    }

    fn pool(&self) -> &AnyPool {
        self.store.pool()
    }

    /// A caller remembered with consent, last seen at `at`.
    async fn remember(&self, hash: &str, at: i64) {
        self.store
            .apply(&crate::store::RecordOp::Remember {
                caller_hash: hash.into(),
                at,
                language: "kk".into(),
                specialist: "asel".into(),
                service: Some("legal".into()),
            })
            .await
            .expect("remember");
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

    let counts = purge(&db.store, NOW, &periods(), db.dir.path())
        .await
        .expect("purge");
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
            ..PurgeCounts::default()
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
    let again = purge(&db.store, NOW, &periods(), db.dir.path())
        .await
        .expect("purge");
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
    let c = purge(&db.store, NOW, &periods(), db.dir.path())
        .await
        .unwrap();
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
    // Both agreed to be remembered.
    db.remember(&h, NOW - 5 * DAY_MS).await;
    db.remember(&other, NOW - 2 * DAY_MS).await;
    let before = report(&db.store, NOW - 30 * DAY_MS, NOW, Grouping::Month)
        .await
        .unwrap();

    let counts = erase_caller(&db.store, &hasher.hash("87051234567"), NOW, db.dir.path())
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
            remembered: 1,
            complete: true,
            not_deleted: vec![],
        }
    );
    let remembered: Vec<String> = sqlx::query_scalar("SELECT caller_hash FROM remembered_callers")
        .fetch_all(db.pool())
        .await
        .unwrap();
    assert_eq!(remembered, vec![other.clone()]);
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
    let again = erase_caller(&db.store, &h, NOW, db.dir.path())
        .await
        .unwrap();
    assert_eq!(
        again,
        EraseCounts {
            complete: true,
            ..EraseCounts::default()
        }
    );
}

/// Call ids as Senim makes them (UUIDs): the voicemail folder's names.
const A: &str = "0b6f7a3e-2f47-4a51-9a2e-5d1c2e9b8f10";
const B: &str = "1c7a8b4f-3a58-4b62-8b3f-6e2d3fac9021";
const C: &str = "2d8b9c50-4b69-4c73-9c40-7f3e40bd0132";
const D: &str = "3e9cad61-5c7a-4d84-8d51-804f51ce1243";
const E: &str = "4fadbe72-6d8b-4e95-9e62-91506adf2354";
const F: &str = "50becf83-7e9c-4fa6-8f73-a2617be03465";

/// Write `path` with its modification time `at` (epoch ms).
fn file_at(path: &Path, at: i64) {
    std::fs::write(path, b"RIFF....WAVE").expect("write file");
    let when = std::time::UNIX_EPOCH + Duration::from_millis(at as u64);
    std::fs::File::options()
        .write(true)
        .open(path)
        .and_then(|f| f.set_modified(when))
        .expect("set mtime");
}

fn voicemail_dir(db: &Db) -> PathBuf {
    let dir = db.dir.path().join("voicemail");
    std::fs::create_dir_all(&dir).expect("voicemail dir");
    dir
}

#[tokio::test]
async fn purge_clears_notes_sip_call_ids_and_orphaned_files() {
    let db = Db::open().await;
    let vm = voicemail_dir(&db);
    db.call(A, NOW - 400 * DAY_MS, "h-a").await;
    db.call(D, NOW - 10 * DAY_MS, "h-d").await;
    db.follow_up("f-old", Some(A), "callback", NOW - 100 * DAY_MS, "h-a")
        .await;
    db.follow_up("f-new", Some(D), "callback", NOW - 10 * DAY_MS, "h-d")
        .await;
    sqlx::query("UPDATE follow_ups SET notes = 'asked for Aigerim at 19:00'")
        .execute(db.pool())
        .await
        .unwrap();
    // D's message, with its row: kept (its period is not over).
    let with_row = vm.join(format!("{D}.wav"));
    file_at(&with_row, NOW - 10 * DAY_MS);
    sqlx::query(
        "INSERT INTO voicemails (call_id, at, path, duration_ms, ended_by)
         VALUES ($1, $2, $3, 5000, 'key')",
    )
    .bind(D)
    .bind(NOW - 10 * DAY_MS)
    .bind(with_row.display().to_string())
    .execute(db.pool())
    .await
    .unwrap();
    // Messages without a row: one old enough to go, one still being saved.
    let orphan_old = vm.join(format!("{B}.wav"));
    file_at(&orphan_old, NOW - 2 * DAY_MS);
    let orphan_new = vm.join(format!("{C}.wav"));
    file_at(&orphan_new, NOW - 3_600_000);
    // Partial files: one left by a crash long ago, one being written.
    let part_old = vm.join(format!(".{E}.wav.part"));
    file_at(&part_old, NOW - 2 * DAY_MS);
    let part_new = vm.join(format!(".{F}.wav.part"));
    file_at(&part_new, NOW - 600_000);
    // Not Senim's: left alone.
    let other = vm.join("README.txt");
    file_at(&other, NOW - 400 * DAY_MS);

    let counts = purge(&db.store, NOW, &periods(), &vm).await.expect("purge");
    assert_eq!(counts.notes, 1, "{counts:?}");
    assert_eq!(counts.orphan_files, 1, "{counts:?}");
    assert_eq!(counts.partial_files, 1, "{counts:?}");
    assert_eq!(counts.orphan_files_failed, 0, "{counts:?}");
    assert_eq!(counts.timelines, 1, "{counts:?}");
    assert!(!orphan_old.exists());
    assert!(!part_old.exists());
    for kept in [&with_row, &orphan_new, &part_new, &other] {
        assert!(kept.exists(), "{}", kept.display());
    }
    let notes: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT id, notes FROM follow_ups ORDER BY id")
            .fetch_all(db.pool())
            .await
            .unwrap();
    assert_eq!(
        notes,
        vec![
            (
                "f-new".to_string(),
                Some("asked for Aigerim at 19:00".into())
            ),
            ("f-old".to_string(), None),
        ]
    );
    let sip: Vec<(String, String)> =
        sqlx::query_as("SELECT id, sip_call_id FROM calls ORDER BY arrived_at")
            .fetch_all(db.pool())
            .await
            .unwrap();
    assert_eq!(
        sip,
        vec![
            (A.to_string(), String::new()),
            (D.to_string(), format!("{D}@test"))
        ]
    );
    let again = purge(&db.store, NOW, &periods(), &vm).await.expect("purge");
    assert_eq!(again, PurgeCounts::default());
}

#[tokio::test]
async fn erasure_keeps_the_rows_of_a_file_it_cannot_delete_and_finishes_when_asked_again() {
    let db = Db::open().await;
    let vm = voicemail_dir(&db);
    let hasher = CallerHasher::new(vec![9; 32]);
    let h = hasher.hash("+7 705 123 45 67");
    // Their voice message, whose file cannot be deleted: its path is a
    // folder that is not empty (root may delete any file, not this).
    db.call(A, NOW - 5 * DAY_MS, &h).await;
    let stuck = vm.join(format!("{A}.wav"));
    std::fs::create_dir(&stuck).unwrap();
    std::fs::write(stuck.join("x"), b"x").unwrap();
    sqlx::query(
        "INSERT INTO voicemails (call_id, at, path, duration_ms, ended_by)
         VALUES ($1, $2, $3, 5000, 'key')",
    )
    .bind(A)
    .bind(NOW - 5 * DAY_MS)
    .bind(stuck.display().to_string())
    .execute(db.pool())
    .await
    .unwrap();
    db.follow_up(
        &format!("voicemail-{A}"),
        Some(A),
        "voicemail",
        NOW - 5 * DAY_MS,
        &h,
    )
    .await;
    // Their callback request from another call, which left a partial file.
    db.call(B, NOW - 3 * DAY_MS, &h).await;
    db.follow_up("cb", Some(B), "callback", NOW - 3 * DAY_MS, &h)
        .await;
    let part = vm.join(format!(".{B}.wav.part"));
    file_at(&part, NOW - 3 * DAY_MS);

    let first = erase_caller(&db.store, &h, NOW, &vm).await.expect("erase");
    assert!(!first.complete, "{first:?}");
    assert_eq!(first.voicemail_files_failed, 1, "{first:?}");
    assert_eq!(first.not_deleted.len(), 1, "{first:?}");
    assert_eq!(first.not_deleted[0].call_id, A);
    assert_eq!(first.not_deleted[0].path, stuck.display().to_string());
    assert_eq!((first.follow_ups, first.calls, first.voicemails), (1, 1, 0));
    assert!(!part.exists(), "the partial file of B's call is gone");
    // A's rows are all kept, and still found by the number.
    assert_eq!(
        db.count("SELECT COUNT(*) FROM voicemails").await,
        1,
        "the row of the file left"
    );
    let left: Vec<String> = sqlx::query_scalar("SELECT id FROM follow_ups")
        .fetch_all(db.pool())
        .await
        .unwrap();
    assert_eq!(left, vec![format!("voicemail-{A}")]);
    assert_eq!(db.caller_hash(A).await, Some(h.clone()));
    assert_eq!(db.timeline_rows(A).await, 5);
    assert_eq!(db.caller_hash(B).await, None);
    assert_eq!(db.timeline_rows(B).await, 0);

    // Fixed: the same request finishes the job.
    std::fs::remove_dir_all(&stuck).unwrap();
    let second = erase_caller(&db.store, &h, NOW, &vm).await.expect("erase");
    assert!(second.complete, "{second:?}");
    assert!(second.not_deleted.is_empty());
    assert_eq!(
        (second.follow_ups, second.calls, second.voicemails),
        (1, 1, 1)
    );
    assert_eq!(db.count("SELECT COUNT(*) FROM voicemails").await, 0);
    assert_eq!(db.count("SELECT COUNT(*) FROM follow_ups").await, 0);
    assert_eq!(db.caller_hash(A).await, None);
    assert_eq!(db.timeline_rows(A).await, 0);
    assert_eq!(
        db.count("SELECT COUNT(*) FROM calls WHERE sip_call_id != ''")
            .await,
        0
    );
    let third = erase_caller(&db.store, &h, NOW, &vm).await.expect("erase");
    assert_eq!(
        third,
        EraseCounts {
            complete: true,
            ..EraseCounts::default()
        }
    );
}

#[tokio::test]
async fn a_follow_up_is_erased_with_its_calls_data_when_there_is_no_number() {
    let db = Db::open().await;
    let vm = voicemail_dir(&db);
    // A voice message from a withheld number: no caller hash anywhere.
    db.call(A, NOW - 5 * DAY_MS, "").await;
    sqlx::query("UPDATE calls SET caller_hash = NULL")
        .execute(db.pool())
        .await
        .unwrap();
    let wav = vm.join(format!("{A}.wav"));
    file_at(&wav, NOW - 5 * DAY_MS);
    sqlx::query(
        "INSERT INTO voicemails (call_id, at, path, duration_ms, ended_by)
         VALUES ($1, $2, $3, 5000, 'key')",
    )
    .bind(A)
    .bind(NOW - 5 * DAY_MS)
    .bind(wav.display().to_string())
    .execute(db.pool())
    .await
    .unwrap();
    let id = format!("voicemail-{A}");
    db.follow_up(&id, Some(A), "voicemail", NOW - 5 * DAY_MS, "")
        .await;
    // Somebody else's, untouched.
    db.call(B, NOW - 4 * DAY_MS, "h-b").await;
    db.follow_up("cb", Some(B), "callback", NOW - 4 * DAY_MS, "h-b")
        .await;

    assert_eq!(
        erase_follow_up(&db.store, "no-such", NOW, &vm)
            .await
            .unwrap(),
        None
    );
    // The file cannot go: nothing does.
    std::fs::remove_file(&wav).unwrap();
    std::fs::create_dir(&wav).unwrap();
    std::fs::write(wav.join("x"), b"x").unwrap();
    let first = erase_follow_up(&db.store, &id, NOW, &vm)
        .await
        .unwrap()
        .expect("found");
    assert!(!first.complete);
    assert_eq!((first.follow_ups, first.calls), (0, 0));
    assert_eq!(db.count("SELECT COUNT(*) FROM follow_ups").await, 2);
    assert_eq!(db.timeline_rows(A).await, 5);
    std::fs::remove_dir_all(&wav).unwrap();
    let second = erase_follow_up(&db.store, &id, NOW, &vm)
        .await
        .unwrap()
        .expect("found");
    assert!(second.complete, "{second:?}");
    assert_eq!(
        (second.follow_ups, second.calls, second.voicemails),
        (1, 1, 1)
    );
    let left: Vec<String> = sqlx::query_scalar("SELECT id FROM follow_ups")
        .fetch_all(db.pool())
        .await
        .unwrap();
    assert_eq!(left, vec!["cb".to_string()]);
    assert_eq!(db.timeline_rows(A).await, 0);
    assert_eq!(db.timeline_rows(B).await, 5);
    assert_eq!(db.count("SELECT COUNT(*) FROM voicemails").await, 0);
    assert_eq!(
        erase_follow_up(&db.store, &id, NOW, &vm).await.unwrap(),
        None,
        "gone"
    );
}

#[test]
fn voicemail_folder_names_are_told_apart() {
    assert_eq!(
        voicemail_file(&format!("{A}.wav")),
        Some(VoicemailFile::Message(A))
    );
    assert_eq!(
        voicemail_file(&format!(".{A}.wav.part")),
        Some(VoicemailFile::Partial(A))
    );
    for other in [
        "x.wav",
        ".x.wav.part",
        "README.txt",
        &format!("{A}.wav.bak"),
        "",
    ] {
        assert_eq!(voicemail_file(other), None, "{other}");
    }
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

#[tokio::test]
async fn remembered_callers_not_seen_for_the_period_are_forgotten() {
    let db = Db::open().await;
    db.remember("h-gone", NOW - 181 * DAY_MS).await;
    db.remember("h-stays", NOW - 179 * DAY_MS).await;
    // Consent long ago, but a call last week: kept.
    db.remember("h-seen", NOW - 400 * DAY_MS).await;
    db.store
        .apply(&crate::store::RecordOp::RememberedSeen {
            caller_hash: "h-seen".into(),
            at: NOW - 7 * DAY_MS,
            specialist: None,
            service: None,
        })
        .await
        .unwrap();
    let counts = purge(&db.store, NOW, &periods(), db.dir.path())
        .await
        .unwrap();
    assert_eq!(counts.remembered, 1);
    let mut left: Vec<String> = sqlx::query_scalar("SELECT caller_hash FROM remembered_callers")
        .fetch_all(db.pool())
        .await
        .unwrap();
    left.sort();
    assert_eq!(left, vec!["h-seen".to_string(), "h-stays".to_string()]);
}

#[tokio::test]
async fn erasing_a_callers_follow_up_forgets_the_caller() {
    let db = Db::open().await;
    db.call(A, NOW - 5 * DAY_MS, "h-a").await;
    db.follow_up("cb", Some(A), "callback", NOW - 5 * DAY_MS, "h-a")
        .await;
    db.remember("h-a", NOW - 5 * DAY_MS).await;
    db.remember("h-b", NOW - 5 * DAY_MS).await;
    let counts = erase_follow_up(&db.store, "cb", NOW, db.dir.path())
        .await
        .unwrap()
        .expect("found");
    assert_eq!(counts.remembered, 1);
    assert!(counts.complete);
    let left: Vec<String> = sqlx::query_scalar("SELECT caller_hash FROM remembered_callers")
        .fetch_all(db.pool())
        .await
        .unwrap();
    assert_eq!(left, vec!["h-b".to_string()]);
}
