//! `senim backup` while Senim takes calls: the backup's database opens, passes
//! SQLite's integrity check and holds every call that had ended; the keys
//! and the manifest are beside it, readable by their owner only.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::caller::Caller;
use common::walks::{OFFER, RTPMAPS};
use common::{wait_until, Senim};

fn ended_calls(senim: &Senim) -> Vec<String> {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let pool = senim.db().await;
        sqlx::query_scalar("SELECT id FROM calls WHERE ended_at IS NOT NULL ORDER BY id")
            .fetch_all(&pool)
            .await
            .unwrap_or_default()
    })
}

fn calls_in(db: &Path) -> (String, Vec<String>) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        use sqlx::{ConnectOptions, Connection};
        let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(db)
            .read_only(true)
            .connect()
            .await
            .expect("the backup opens");
        let check: String = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_one(&mut conn)
            .await
            .expect("integrity check");
        let ids = sqlx::query_scalar("SELECT id FROM calls WHERE ended_at IS NOT NULL ORDER BY id")
            .fetch_all(&mut conn)
            .await
            .expect("calls");
        conn.close().await.ok();
        (check, ids)
    })
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o777
}

fn call(senim: &Senim) -> Caller {
    let mut c = Caller::new(senim.sip);
    let offer = c.offer(OFFER, RTPMAPS);
    c.call(Some(&offer), None);
    c
}

#[test]
fn a_backup_while_calls_go_on_holds_every_finished_call() {
    let senim = Senim::start(&[]);
    // Three calls that end, two that go on during the backup.
    for _ in 0..3 {
        let mut c = call(&senim);
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(c.bye(), Some(200));
    }
    assert!(wait_until(Duration::from_secs(10), || ended_calls(&senim)
        .len()
        == 3));
    let finished = ended_calls(&senim);
    let mut ongoing = vec![call(&senim), call(&senim)];
    std::thread::sleep(Duration::from_millis(500));

    let target = tempfile::tempdir().expect("tempdir");
    let out = Command::new(env!("CARGO_BIN_EXE_senim"))
        .args(["backup", "--to"])
        .arg(target.path())
        .env("SENIM_DATA_DIR", senim.dir.path())
        .output()
        .expect("run senim backup");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for c in &mut ongoing {
        assert_eq!(c.bye(), Some(200));
    }

    let folders: Vec<PathBuf> = std::fs::read_dir(target.path())
        .expect("backup folder")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    assert_eq!(folders.len(), 1, "{folders:?}");
    let folder = &folders[0];
    assert!(folder
        .file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with("senim-")));
    let (check, ids) = calls_in(&folder.join("senim.db"));
    assert_eq!(check, "ok");
    for id in &finished {
        assert!(ids.contains(id), "finished call {id} is not in the backup");
    }
    assert!(text.contains("calls"), "{text}");
    for key in ["senim.secret", "senim.numbers.key"] {
        let file = folder.join("keys").join(key);
        assert_eq!(
            std::fs::read(&file).expect("key in the backup"),
            std::fs::read(senim.dir.path().join(key)).expect("key")
        );
        assert_eq!(mode(&file), 0o600);
    }
    let manifest = std::fs::read_to_string(folder.join("MANIFEST.txt")).expect("manifest");
    assert!(manifest.contains("number-seal: "), "{manifest}");
    assert_eq!(mode(folder), 0o700);
    assert_eq!(mode(&folder.join("senim.db")), 0o600);
}
