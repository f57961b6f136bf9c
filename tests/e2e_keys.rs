//! The keys that protect callers' data, end to end: a real caller leaves a
//! callback request (its number sealed with the number key); Senim started
//! without its key file refuses and says what to do; `senim keys rotate`
//! seals the number with a new key, refused while Senim runs; Senim starts
//! again with the rotated key and the number still reads.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::walks::{press, reach_callback};
use common::{wait_until, Senim};
use senim::privacy::NumberSealer;

const OPEN: &str = "[hours.centre]\nalways = true\nholidays = \"open\"\n";
/// The test caller's number (From of `common::caller`).
const CALLER: &str = "+77011234567";

fn sealed_numbers(senim: &Senim) -> Vec<String> {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let pool = senim.db().await;
        sqlx::query_scalar("SELECT number_sealed FROM follow_ups WHERE number_sealed IS NOT NULL")
            .fetch_all(&pool)
            .await
            .unwrap_or_default()
    })
}

fn sealer(key_file: &Path) -> NumberSealer {
    let text = std::fs::read_to_string(key_file).expect("number key file");
    NumberSealer::new(&hex::decode(text.trim()).expect("hex key")).expect("key")
}

/// Run `senim ARGS` on the test's data folder; killed after 30 s.
fn senim_command(dir: &Path, args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_senim"))
        .args(args)
        .arg("--config")
        .arg(dir.join("senim.toml"))
        .current_dir(dir)
        .env("SENIM_DATA_DIR", dir)
        .env("SENIM_SIP_LISTEN", "127.0.0.1:0")
        .env("SENIM_HTTP_LISTEN", "127.0.0.1:0")
        .env("SENIM_RTP_PORTS", "33000-33098")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run senim");
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    child.wait_with_output().expect("senim output")
}

#[test]
fn a_lost_number_key_is_refused_and_rotation_keeps_every_number_readable() {
    let senim = Senim::start_with(Some(OPEN), &[]);
    let dir = senim.dir.path().to_path_buf();
    let key_file = dir.join("senim.numbers.key");
    let mut c = reach_callback(&senim);
    // 1: the number is right; 2: this evening; 2: no message; 1: the name may be said.
    press(&mut c, "1221");
    assert!(c.wait_bye(Duration::from_secs(30)), "Senim says goodbye");
    assert!(wait_until(Duration::from_secs(10), || {
        !sealed_numbers(&senim).is_empty()
    }));
    let before = sealed_numbers(&senim);
    assert_eq!(sealer(&key_file).open(&before[0]).as_deref(), Some(CALLER));

    // No rotation while Senim runs.
    let out = senim_command(&dir, &["keys", "rotate"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "rotation ran beside a running Senim");
    assert!(err.contains("another Senim is running"), "{err}");

    let mut senim = senim;
    senim.stop();

    // The key file is misplaced: Senim refuses and says what to do.
    let aside = dir.join("numbers.key.aside");
    std::fs::rename(&key_file, &aside).expect("move the key away");
    let out = senim_command(&dir, &["serve"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "Senim started without its key: {err}"
    );
    assert!(err.contains("number-seal key is missing"), "{err}");
    assert!(err.contains("senim serve --new-keys"), "{err}");
    assert!(err.contains("docs/operations.md"), "{err}");
    assert!(!key_file.exists(), "no new key was made in its place");

    // Put back, the key is rotated.
    std::fs::rename(&aside, &key_file).expect("put the key back");
    let old = sealer(&key_file);
    let out = senim_command(&dir, &["keys", "rotate"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("1 numbers sealed again"), "{text}");
    let new = sealer(&key_file);
    assert_ne!(old.key_id(), new.key_id());
    assert!(std::fs::read_dir(&dir)
        .expect("data folder")
        .filter_map(Result::ok)
        .any(|e| e
            .file_name()
            .to_string_lossy()
            .starts_with("senim.numbers.key.retired-")));

    // Senim starts with the new key, and the number reads with it only.
    let senim = senim.restart();
    let after = sealed_numbers(&senim);
    assert_eq!(after.len(), 1);
    assert_ne!(after, before);
    assert_eq!(new.open(&after[0]).as_deref(), Some(CALLER));
    assert_eq!(old.open(&after[0]), None);
    let shown = senim_command(&dir, &["keys", "show"]);
    let shown = String::from_utf8_lossy(&shown.stdout);
    assert!(
        shown.contains("retired") && shown.contains("rotated"),
        "{shown}"
    );
    assert!(shown.contains("in use"), "{shown}");
}
