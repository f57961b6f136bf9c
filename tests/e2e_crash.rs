//! Nothing lost on a crash, against the real binary:
//!
//! * a caller leaving a voice message (the test caller of `common::caller`,
//!   a 400 Hz tone as PCMU) while Senim is killed with SIGKILL after ten
//!   seconds of it: after the restart the message is there with about ten
//!   seconds of audio, and the API shows it as cut;
//! * call records made while another connection holds the database locked
//!   (longer than the busy timeout, so the writes really fail) go to the
//!   spool and appear, complete and in order, once the lock is gone.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::caller::Caller;
use common::walks::{call_choosing, OFFER, RTPMAPS};
use common::{http_with, make_token, repo_root, wait_until, Senim};
use serde_json::Value;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection, Row};

const OPEN: &str = "[hours.centre]\nalways = true\nholidays = \"open\"\n";

fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Runtime::new().expect("runtime").block_on(f)
}

/// Senim on the default plan with the routes overflowing to the voicemail,
/// and `tokens` (`[[api.token]]` entries).
fn start_voicemail(tokens: &str) -> (Senim, tempfile::TempDir) {
    let text = std::fs::read_to_string(repo_root().join("dialplans/centre.xml"))
        .expect("dialplans/centre.xml");
    let text = text.replace(
        r#"overflow="offer-callback""#,
        r#"overflow="leave-message""#,
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let plan = dir.path().join("voicemail-plan.xml");
    std::fs::write(&plan, text).expect("write plan");
    let config = format!(
        "{OPEN}\n[dialplan]\nfile = \"{}\"\nwatch = false\n\n{tokens}\n",
        plan.display()
    );
    (Senim::start_with(Some(&config), &[]), dir)
}

fn get_json(senim: &Senim, path: &str, token: &str) -> Value {
    let auth = format!("Bearer {token}");
    let (code, _, body) = http_with(senim.http, "GET", path, &[("Authorization", &auth)], "");
    assert_eq!(code, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
}

fn get_text(senim: &Senim, path: &str) -> String {
    http_with(senim.http, "GET", path, &[], "").2
}

fn partial_files(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.to_string_lossy().ends_with(".wav.part"))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_message_cut_by_a_kill_is_there_after_the_restart_and_shows_as_cut() {
    let (coordinator, entry) = make_token("coordinator Dana", "coordinator", None);
    let (senim, _plan) = start_voicemail(&entry);
    let mut c: Caller = call_choosing(&senim, OFFER, RTPMAPS, '2', '2');
    assert!(
        wait_until(Duration::from_secs(30), || common::call_steps(&senim)
            .iter()
            .any(|s| s == "leave-message: voicemail recording")),
        "the recording did not start: {:#?}\n{}",
        common::call_steps(&senim),
        senim.log()
    );
    c.send_tone_pcmu(400.0, Duration::from_secs(10));
    // The message is on disk as it is recorded: nine seconds at least
    // (a second at a time) before anything ends it.
    let vm_dir = senim.dir.path().join("voicemail");
    let parts = partial_files(&vm_dir);
    assert_eq!(parts.len(), 1, "{parts:?}");
    let on_disk = || std::fs::metadata(&parts[0]).map(|m| m.len()).unwrap_or(0);
    assert!(
        wait_until(Duration::from_secs(3), || on_disk() >= 44 + 9 * 16_000),
        "{} bytes on disk",
        on_disk()
    );

    // SIGKILL: no chance to finish anything. Then a start in the same folder.
    let senim = senim.restart();

    // Completed at start: the file in place, no partial file left.
    let vm_dir = senim.dir.path().join("voicemail");
    assert!(partial_files(&vm_dir).is_empty());
    let row = block_on(async {
        let pool = senim.db().await;
        sqlx::query("SELECT call_id, path, duration_ms, cut, ended_by FROM voicemails")
            .fetch_all(&pool)
            .await
            .expect("voicemails")
    });
    assert_eq!(row.len(), 1);
    let call_id: String = row[0].get("call_id");
    let path: String = row[0].get("path");
    let duration_ms: i64 = row[0].get("duration_ms");
    assert_eq!(row[0].get::<i64, _>("cut"), 1);
    assert_eq!(row[0].get::<String, _>("ended_by"), "restart");
    assert!(
        (9_000..=10_600).contains(&duration_ms),
        "about 10 s: {duration_ms} ms"
    );
    let mut wav = hound::WavReader::open(&path).expect("the completed WAV");
    assert_eq!(wav.spec().sample_rate, 8000);
    let samples: Vec<i16> = wav.samples::<i16>().map(|s| s.expect("sample")).collect();
    let file_ms = samples.len() as i64 * 1000 / 8000;
    assert!(
        (file_ms - duration_ms).abs() <= 1,
        "{file_ms} vs {duration_ms}"
    );
    // It is the caller's tone: 400 Hz, about 800 zero crossings a second.
    let mid = &samples[samples.len() / 2 - 4000..samples.len() / 2 + 4000];
    let crossings = mid.windows(2).filter(|w| (w[0] < 0) != (w[1] < 0)).count();
    assert!((760..=840).contains(&crossings), "{crossings} crossings");
    assert!(senim.log().contains("cut short by a stop was completed"));

    // The API: the follow-up and the call record show it as cut.
    let list = get_json(&senim, "/api/v1/follow-ups?kind=voicemail", &coordinator);
    let items = list["follow_ups"].as_array().expect("follow_ups");
    assert_eq!(items.len(), 1, "{list}");
    assert_eq!(items[0]["call_id"], call_id.as_str());
    assert_eq!(items[0]["cut"], true, "{list}");
    assert_eq!(items[0]["duration_ms"], duration_ms);
    let call = get_json(&senim, &format!("/api/v1/calls/{call_id}"), &coordinator);
    assert_eq!(call["voicemail"], "cut", "{call}");
    assert_eq!(call["outcome"], "interrupted", "{call}");
    let timeline = call["timeline"].to_string();
    assert!(timeline.contains("voicemail cut short"), "{timeline}");
}

/// Metrics of the record writer, by name.
fn metric(senim: &Senim, name: &str) -> u64 {
    get_text(senim, "/metrics")
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no metric {name}"))
}

/// Call, choose a language and leave by BYE after a few keys.
fn short_call(senim: &Senim, language: char) -> Caller {
    let mut c = Caller::new(senim.sip);
    let offer = c.offer(OFFER, RTPMAPS);
    c.call(Some(&offer), None);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(c.press_info(language), Some(200));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(c.press_info('*'), Some(200));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(c.bye(), Some(200));
    c
}

#[test]
fn call_records_made_while_the_database_is_locked_appear_in_order_when_it_is_free() {
    // The test plan: greeting, main menu, goodbye.
    let senim = Senim::start(&[]);
    let spool = PathBuf::from(format!("{}.spool", senim.db_path.display()));
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    // Another program holds the database: an exclusive transaction, kept
    // well past Senim's busy timeout (5 s), so its writes fail.
    let mut lock = rt.block_on(async {
        let mut conn = SqliteConnectOptions::new()
            .filename(&senim.db_path)
            .connect()
            .await
            .expect("connect");
        sqlx::query("BEGIN EXCLUSIVE")
            .execute(&mut conn)
            .await
            .expect("lock");
        conn
    });
    let calls = 3;
    for i in 0..calls {
        short_call(&senim, if i % 2 == 0 { '1' } else { '2' });
    }
    // The changes are on disk in the spool, not in the database.
    assert!(
        wait_until(Duration::from_secs(20), || metric(
            &senim,
            "senim_record_spool_changes"
        ) > 0
            && std::fs::metadata(&spool).map(|m| m.len()).unwrap_or(0) > 0),
        "nothing went to the spool; log:\n{}",
        senim.log()
    );
    let health: Value = serde_json::from_str(&get_text(&senim, "/healthz")).expect("health");
    assert_eq!(health["status"], "degraded", "{health}");
    assert_eq!(health["call_records"]["state"], "spooling", "{health}");
    let stored: i64 = rt.block_on(async {
        sqlx::query_scalar("SELECT COUNT(*) FROM calls")
            .fetch_one(&mut lock)
            .await
            .expect("count")
    });
    assert_eq!(stored, 0, "the database took nothing while locked");
    // Give the last call's end time to reach the spool too.
    std::thread::sleep(Duration::from_secs(1));
    rt.block_on(async {
        sqlx::query("ROLLBACK")
            .execute(&mut lock)
            .await
            .expect("unlock");
        lock.close().await.expect("close");
    });
    drop(rt);

    // Once free, every call is there, complete: arrival, answer, keys,
    // steps and end (an end applied before its arrival would be lost).
    let records = block_on(senim.ended_calls(calls));
    assert_eq!(records.len(), calls, "{records:#?}");
    for (i, r) in records.iter().enumerate() {
        assert!(r.answered, "{r:#?}");
        assert_eq!(r.outcome.as_deref(), Some("caller-hangup"), "{r:#?}");
        assert_eq!(r.hangup_by.as_deref(), Some("caller"), "{r:#?}");
        let language = if i % 2 == 0 { "kk" } else { "ru" };
        assert_eq!(r.language.as_deref(), Some(language), "{r:#?}");
        let keys: Vec<&str> = r.digits.iter().map(|(d, _)| d.as_str()).collect();
        assert_eq!(keys, [if i % 2 == 0 { "1" } else { "2" }, "*"], "{r:#?}");
        assert!(!r.steps.is_empty(), "{r:#?}");
    }
    let gaps: Vec<(String, i64, i64)> = block_on(async {
        let pool = senim.db().await;
        sqlx::query_as("SELECT call_id, COUNT(*), MAX(seq) FROM call_steps GROUP BY call_id")
            .fetch_all(&pool)
            .await
            .expect("steps")
    });
    for (call, n, max) in &gaps {
        assert_eq!(n, max, "call {call}: steps missing ({n} of {max})");
    }
    // The spool is emptied, the health back to ok.
    assert!(
        wait_until(Duration::from_secs(10), || metric(
            &senim,
            "senim_record_spool_changes"
        ) == 0),
        "the spool was not emptied"
    );
    assert_eq!(std::fs::metadata(&spool).map(|m| m.len()).unwrap_or(0), 0);
    assert!(metric(&senim, "senim_record_changes_spooled_total") > 0);
    assert_eq!(metric(&senim, "senim_record_changes_dropped_total"), 0);
    let health: Value = serde_json::from_str(&get_text(&senim, "/healthz")).expect("health");
    assert_eq!(health["status"], "ok", "{health}");
}
