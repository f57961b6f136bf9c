//! Retention end to end, with the real binary and the test caller from
//! `common::caller` (keys by SIP INFO):
//! - erasure of one caller's data on request: a callback request, then
//!   `POST /api/v1/callers/erase` with the number written another way; the
//!   SQLite record checked; a voice message file that cannot be deleted is
//!   reported, its rows kept, and the same request finishes the job later;
//! - the purge after the retention period: a callback request, a voice
//!   message and notes, the data then made 400 days old, Senim started again
//!   on the same files; the raw database, its write-ahead log and the data
//!   folder hold none of the test's numbers, SIP Call-IDs, tags, hashes,
//!   sealed numbers or notes.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use common::caller::Caller;
use common::walks::{call_choosing, press, reach_callback};
use common::{http_with, make_token, repo_root, wait_until, Senim};
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

const OPEN: &str = "[hours.centre]\nalways = true\nholidays = \"open\"\n";
const DAY: Duration = Duration::from_secs(86_400);

/// The default plan where nobody is on duty: psychology offers a callback,
/// legal and mediation take a voice message. Returns the plan's path.
fn plan(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(repo_root().join("dialplans/centre.xml"))
        .expect("dialplans/centre.xml");
    let mut out = String::new();
    for element in text.split_inclusive("/>") {
        if element.contains(r#"<route id="route-legal""#)
            || element.contains(r#"<route id="route-mediation""#)
        {
            assert!(
                element.contains(r#"overflow="offer-callback""#),
                "{element}"
            );
            out.push_str(&element.replace(
                r#"overflow="offer-callback""#,
                r#"overflow="leave-message""#,
            ));
        } else {
            out.push_str(element);
        }
    }
    let path = dir.join("retention-plan.xml");
    std::fs::write(&path, out).expect("write plan");
    path
}

fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Runtime::new().expect("runtime").block_on(f)
}

fn strings(senim: &Senim, sql: &'static str) -> Vec<String> {
    strings_in(&senim.db_path, sql)
}

/// The first column of `sql` on the database file `db`, opened read-only.
fn strings_in(db: &Path, sql: &'static str) -> Vec<String> {
    block_on(async {
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect(&format!("sqlite://{}?mode=ro", db.display()))
            .await
            .expect("open db");
        sqlx::query_scalar::<_, String>(sql)
            .fetch_all(&pool)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    })
}

/// A voice message: Russian, legal, 3 s of a tone, then `#`.
fn leave_message(senim: &Senim) -> Caller {
    let mut c = call_choosing(senim, OFFER, RTPMAPS, '2', '1');
    assert!(
        wait_until(Duration::from_secs(30), || steps(senim)
            .iter()
            .any(|s| s.ends_with("voicemail recording"))),
        "the recording did not start: {:#?}\n{}",
        steps(senim),
        senim.log()
    );
    c.send_tone_pcmu(400.0, Duration::from_secs(3));
    assert_eq!(c.press_info('#'), Some(200));
    assert!(c.wait_bye(Duration::from_secs(30)), "Senim hangs up");
    c
}

/// A callback request to the caller's own number: Kazakh, psychology; the
/// number is right, evening, no message, the name may be said.
fn ask_callback(senim: &Senim) -> Caller {
    let mut c = reach_callback(senim);
    press(&mut c, "1221");
    assert!(c.wait_bye(Duration::from_secs(30)), "Senim hangs up");
    c
}

/// Every file under `dir` (recursively), with its bytes.
fn files_under(dir: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            let bytes = std::fs::read(&path).unwrap_or_default();
            out.push((path, bytes));
        }
    }
}

/// Which of `needles` occur in `files` (in a name or in the bytes).
fn found(files: &[(PathBuf, Vec<u8>)], needles: &[String]) -> Vec<String> {
    let mut hits = Vec::new();
    for (path, bytes) in files {
        for n in needles {
            let in_name = path.display().to_string().contains(n.as_str());
            let in_bytes = bytes.windows(n.len()).any(|w| w == n.as_bytes());
            if in_name || in_bytes {
                hits.push(format!("{n:?} in {}", path.display()));
            }
        }
    }
    hits
}

#[test]
fn after_the_retention_period_nothing_of_an_old_call_is_left() {
    let (admin, admin_entry) = make_token("office admin", "admin", None);
    let first_dir = tempfile::tempdir().expect("tempdir");
    let plan = plan(first_dir.path());
    let config = format!(
        "{OPEN}\n{admin_entry}\n[dialplan]\nfile = \"{}\"\nwatch = false\n",
        plan.display()
    );
    let mut senim = Senim::start_with(Some(&config), &[]);
    let data = senim.dir.path().to_path_buf();
    let voicemail = data.join("voicemail");

    let callback = ask_callback(&senim);
    let message = leave_message(&senim);
    assert!(
        wait_until(Duration::from_secs(15), || strings(
            &senim,
            "SELECT id FROM follow_ups"
        )
        .len()
            == 2
            && strings(&senim, "SELECT call_id FROM voicemails").len() == 1),
        "{}",
        senim.log()
    );
    // Notes on both follow-ups.
    let note = "Aigerim asked to call after 19:00 NOTE-7f3c";
    let auth = format!("Bearer {admin}");
    for id in strings(&senim, "SELECT id FROM follow_ups") {
        let (code, _, body) = http_with(
            senim.http,
            "POST",
            &format!("/api/v1/follow-ups/{id}/notes"),
            &[
                ("Authorization", &auth),
                ("Content-Type", "application/json"),
            ],
            &format!(r#"{{"text":"{note}"}}"#),
        );
        assert_eq!(code, 200, "{body}");
    }
    assert!(
        wait_until(Duration::from_secs(10), || strings(
            &senim,
            "SELECT id FROM calls WHERE ended_at IS NOT NULL"
        )
        .len()
            == 2),
        "{}",
        senim.log()
    );

    // What must be gone after the purge: the caller's number in every form,
    // the SIP Call-IDs and tags, the caller hashes, the sealed number, the
    // notes, the voice message's name.
    let call_ids = strings(&senim, "SELECT id FROM calls");
    let mut needles: Vec<String> = vec!["7011234567".into(), "NOTE-7f3c".into()];
    needles.extend(strings(&senim, "SELECT sip_call_id FROM calls"));
    needles.extend(strings(
        &senim,
        "SELECT caller_hash FROM calls WHERE caller_hash IS NOT NULL",
    ));
    needles.extend(strings(
        &senim,
        "SELECT number_sealed FROM follow_ups WHERE number_sealed IS NOT NULL",
    ));
    needles.extend(strings(&senim, "SELECT path FROM voicemails"));
    for c in [&callback, &message] {
        needles.push(c.call_id.clone());
        needles.push(c.from_tag.clone());
    }
    assert_eq!(needles.len(), 2 + 2 + 2 + 1 + 1 + 4, "{needles:?}");
    // Before: the SIP Call-IDs, hashes, sealed number and notes are there.
    let db = senim.db_path.clone();
    let db_files = |db: &Path| {
        let mut out = Vec::new();
        for suffix in ["", "-wal", "-shm"] {
            let mut name = db.as_os_str().to_owned();
            name.push(suffix);
            let path = PathBuf::from(name);
            if let Ok(bytes) = std::fs::read(&path) {
                out.push((path, bytes));
            }
        }
        out
    };
    let before = found(&db_files(&db), &needles);
    assert!(
        before.iter().any(|h| h.contains("NOTE-7f3c")),
        "the scan finds what is there: {before:?}"
    );

    // A message saved without its row, two days old. (A partial file left by
    // a crash is completed at the next start, tests/e2e_crash.rs; the sweep of
    // partial files that could not be completed has its unit test.)
    let wav = PathBuf::from(&strings(&senim, "SELECT path FROM voicemails")[0]);
    let orphan = voicemail.join("0b6f7a3e-2f47-4a51-9a2e-5d1c2e9b8f10.wav");
    let two_days_ago = SystemTime::now() - 2 * DAY;
    std::fs::copy(&wav, &orphan).expect("copy message");
    std::fs::File::options()
        .write(true)
        .open(&orphan)
        .and_then(|f| f.set_modified(two_days_ago))
        .expect("mtime");
    needles.push("0b6f7a3e-2f47-4a51-9a2e-5d1c2e9b8f10".into());

    // 400 days pass: every time in the record moves back.
    senim.stop();
    block_on(async {
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect(&format!("sqlite://{}", db.display()))
            .await
            .expect("open db");
        // Moving the times must not leave copies of the rows behind either.
        sqlx::query("PRAGMA secure_delete = ON")
            .execute(&pool)
            .await
            .expect("secure_delete");
        let back = 400 * DAY.as_millis() as i64;
        for sql in [
            "UPDATE calls SET arrived_at = arrived_at - $1, answered_at = answered_at - $1,
                              ended_at = ended_at - $1",
            "UPDATE follow_ups SET created_at = created_at - $1",
            "UPDATE voicemails SET at = at - $1",
        ] {
            sqlx::query(sql).bind(back).execute(&pool).await.expect(sql);
        }
        pool.close().await;
    });

    // Senim starts again on the same files; the purge runs at start.
    let env = [
        ("SENIM_DATABASE_URL", format!("sqlite://{}", db.display())),
        (
            "SENIM_CALLER_HASH_KEY_FILE",
            data.join("senim.secret").display().to_string(),
        ),
        (
            "SENIM_NUMBER_KEY_FILE",
            data.join("senim.numbers.key").display().to_string(),
        ),
        ("SENIM_VOICEMAIL_DIR", voicemail.display().to_string()),
    ];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut again = Senim::start_with(Some(OPEN), &env);
    assert!(
        wait_until(Duration::from_secs(20), || again
            .log()
            .contains("retention purge done")),
        "{}",
        again.log()
    );
    let purge_line = again
        .log()
        .lines()
        .find(|l| l.contains("retention purge done"))
        .unwrap_or_default()
        .to_string();
    eprintln!("{purge_line}");
    for want in [
        "numbers=1",
        "notes=2",
        "recordings=1",
        "timelines=2",
        "orphan_files=1",
    ] {
        assert!(purge_line.contains(want), "{want} in {purge_line}");
    }

    // Scanned while Senim runs (the write-ahead log in use) and after it stops.
    let mut data_files = Vec::new();
    files_under(&voicemail, &mut data_files);
    assert!(data_files.is_empty(), "{data_files:?}");
    let hits = found(&db_files(&db), &needles);
    assert!(hits.is_empty(), "left on disk while running: {hits:?}");
    again.stop();
    let mut all = db_files(&db);
    files_under(&data, &mut all);
    // The log is the system's (journald's retention), not Senim's data.
    all.retain(|(p, _)| p.extension().is_none_or(|e| e != "log"));
    let hits = found(&all, &needles);
    assert!(hits.is_empty(), "left on disk: {hits:?}");
    // The calls stay for the reports, under Senim's own ids, without a
    // SIP Call-ID; the follow-ups without number and notes.
    let mut left = strings_in(&db, "SELECT id FROM calls WHERE sip_call_id = ''");
    left.sort();
    let mut ids = call_ids;
    ids.sort();
    assert_eq!(left, ids);
    assert_eq!(
        strings_in(
            &db,
            "SELECT id FROM follow_ups WHERE number_sealed IS NULL AND notes IS NULL
               AND caller_hash IS NULL"
        )
        .len(),
        2
    );
}

#[test]
fn an_erasure_that_cannot_delete_a_file_says_so_and_finishes_when_asked_again() {
    let (admin, admin_entry) = make_token("office admin", "admin", None);
    let plan_dir = tempfile::tempdir().expect("tempdir");
    let plan = plan(plan_dir.path());
    let config = format!(
        "{OPEN}\n{admin_entry}\n[dialplan]\nfile = \"{}\"\nwatch = false\n",
        plan.display()
    );
    let senim = Senim::start_with(Some(&config), &[]);
    let _message = leave_message(&senim);
    assert!(
        wait_until(Duration::from_secs(15), || strings(
            &senim,
            "SELECT id FROM follow_ups"
        )
        .len()
            == 1),
        "{}",
        senim.log()
    );
    // The message file cannot be deleted: its path is a folder that is not
    // empty (the tests may run as root, whom file modes do not stop).
    let wav = PathBuf::from(&strings(&senim, "SELECT path FROM voicemails")[0]);
    std::fs::remove_file(&wav).expect("remove the message");
    std::fs::create_dir(&wav).expect("a folder in its place");
    std::fs::write(wav.join("x"), b"x").expect("not empty");

    let body = format!(r#"{{"number":"{CALLER_NATIONAL}"}}"#);
    let (code, text) = erase(&senim, Some(&admin), &body);
    assert_eq!(code, 200, "{text}");
    let v: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(v["complete"], false, "{v}");
    assert_eq!(v["voicemail_files_failed"], 1, "{v}");
    assert_eq!(
        v["not_deleted"][0]["path"],
        wav.display().to_string(),
        "{v}"
    );
    assert!(v["not_deleted"][0]["error"].is_string(), "{v}");
    assert_eq!(
        (v["follow_ups"].as_u64(), v["calls"].as_u64()),
        (Some(0), Some(0)),
        "{v}"
    );
    // Everything of that call is kept, still found by the number.
    assert_eq!(strings(&senim, "SELECT call_id FROM voicemails").len(), 1);
    assert_eq!(strings(&senim, "SELECT id FROM follow_ups").len(), 1);
    let f = facts(&senim);
    assert_eq!(f.calls_with_hash, 1, "{f:?}");

    // Fixed, asked again: done.
    std::fs::remove_dir_all(&wav).expect("remove the folder");
    let (code, text) = erase(&senim, Some(&admin), &body);
    assert_eq!(code, 200, "{text}");
    let v: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(v["complete"], true, "{v}");
    assert_eq!(v["not_deleted"], Value::Array(vec![]), "{v}");
    assert_eq!(
        (
            v["follow_ups"].as_u64(),
            v["voicemails"].as_u64(),
            v["calls"].as_u64()
        ),
        (Some(1), Some(1), Some(1)),
        "{v}"
    );
    let f = facts(&senim);
    assert_eq!(
        (f.follow_ups, f.calls_with_hash, f.timeline_rows),
        (0, 0, 0)
    );
    assert!(strings(&senim, "SELECT call_id FROM voicemails").is_empty());
    let details = strings(
        &senim,
        "SELECT detail FROM audit_log WHERE action = 'erase-caller' ORDER BY id",
    );
    assert_eq!(details.len(), 2, "{details:?}");
    assert!(details[0].contains(r#""complete":false"#), "{details:?}");
    assert!(details[1].contains(r#""complete":true"#), "{details:?}");
    assert!(
        senim.log().contains("cannot delete a voice message file"),
        "the failure is logged"
    );
    // By follow-up: the one erased is not found any more.
    let auth = format!("Bearer {admin}");
    let headers = [("Authorization", auth.as_str())];
    let (code, _, text) = http_with(
        senim.http,
        "POST",
        &format!(
            "/api/v1/follow-ups/voicemail-{}/erase",
            strings(&senim, "SELECT id FROM calls")[0]
        ),
        &headers,
        "",
    );
    assert_eq!(code, 404, "{text}");
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

#[test]
fn files_with_personal_data_are_private_reported_by_check_and_fixed_at_start() {
    let mut senim = Senim::start_with(Some(OPEN), &[]);
    let data = senim.dir.path().to_path_buf();
    let db = senim.db_path.clone();
    let voicemail = data.join("voicemail");
    let secret = data.join("senim.secret");
    let numbers = data.join("senim.numbers.key");
    // As Senim creates them: its user's only.
    assert_eq!(mode(&db), 0o600);
    for suffix in ["-wal", "-shm"] {
        let mut name = db.as_os_str().to_owned();
        name.push(suffix);
        assert_eq!(mode(Path::new(&name)), 0o600, "{suffix}");
    }
    assert_eq!(mode(&secret), 0o600);
    assert_eq!(mode(&numbers), 0o600);
    assert_eq!(mode(&voicemail), 0o700);
    senim.stop();

    // Opened up by a careless copy or restore.
    set_mode(&db, 0o644);
    set_mode(&numbers, 0o640);
    set_mode(&voicemail, 0o755);
    let message = voicemail.join("0b6f7a3e-2f47-4a51-9a2e-5d1c2e9b8f10.wav");
    std::fs::write(&message, b"RIFF").expect("message");
    set_mode(&message, 0o644);
    let env = [
        ("SENIM_DATABASE_URL", format!("sqlite://{}", db.display())),
        ("SENIM_CALLER_HASH_KEY_FILE", secret.display().to_string()),
        ("SENIM_NUMBER_KEY_FILE", numbers.display().to_string()),
        ("SENIM_VOICEMAIL_DIR", voicemail.display().to_string()),
    ];
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_senim"))
        .arg("check")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .current_dir(&data)
        .output()
        .expect("senim check");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for (path, m) in [
        (&db, "644"),
        (&numbers, "640"),
        (&voicemail, "755"),
        (&message, "644"),
    ] {
        let want = format!("{} has mode {m}", path.display());
        assert!(
            text.lines()
                .any(|l| l.starts_with("warning:") && l.contains(&want)),
            "{want:?} in {text}"
        );
    }
    assert!(!text.contains("senim.secret"), "{text}");

    // Started, Senim makes them private and says so.
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let again = Senim::start_with(Some(OPEN), &env);
    assert_eq!(mode(&db), 0o600);
    assert_eq!(mode(&numbers), 0o600);
    assert_eq!(mode(&voicemail), 0o700);
    assert_eq!(mode(&message), 0o600);
    for suffix in ["-wal", "-shm"] {
        let mut name = db.as_os_str().to_owned();
        name.push(suffix);
        assert_eq!(mode(Path::new(&name)), 0o600, "{suffix}");
    }
    let log = again.log();
    let changes = log
        .lines()
        .filter(|l| l.contains(" WARN ") && l.contains("readable by others"))
        .count();
    assert_eq!(changes, 4, "{log}");
    assert!(
        log.contains(&db.display().to_string()) && log.contains(r#"mode="644""#),
        "{log}"
    );
}
