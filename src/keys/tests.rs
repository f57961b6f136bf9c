use std::path::Path;

use super::*;

#[test]
fn the_decision_table() {
    use Decision::*;
    use Refusal::*;
    // The recorded key: used.
    assert_eq!(decide(Some("a"), Some("a"), 5, false), Use);
    // First use, or data from before fingerprints: recorded.
    assert_eq!(decide(Some("a"), None, 0, false), Record);
    assert_eq!(decide(Some("a"), None, 5, false), Record);
    // No key, nothing to protect: a new one.
    assert_eq!(decide(None, None, 0, false), Create);
    // The recorded key protects nothing any more: replaced quietly.
    assert_eq!(decide(None, Some("a"), 0, false), Replace);
    assert_eq!(decide(Some("b"), Some("a"), 0, false), Replace);
    // Protected data and no right key: refused, unless the operator says so.
    assert_eq!(decide(None, Some("a"), 5, false), Refuse(Missing));
    assert_eq!(decide(Some("b"), Some("a"), 5, false), Refuse(Different));
    assert_eq!(decide(None, None, 5, false), Refuse(MissingUnrecorded));
    assert_eq!(decide(None, Some("a"), 5, true), Replace);
    assert_eq!(decide(Some("b"), Some("a"), 5, true), Replace);
    assert_eq!(decide(None, None, 5, true), Replace);
}

#[test]
fn fingerprints_name_a_key_per_purpose() {
    let a = fingerprint(NUMBER_SEAL, &[1; 32]);
    assert_eq!(a.len(), 32);
    assert_eq!(a, fingerprint(NUMBER_SEAL, &[1; 32]));
    assert_ne!(a, fingerprint(NUMBER_SEAL, &[2; 32]));
    assert_ne!(a, fingerprint(CALLER_HASH, &[1; 32]));
    assert!(!a.contains(&hex::encode([1u8; 32])[..8]));
}

fn privacy(dir: &Path) -> PrivacyConfig {
    PrivacyConfig {
        caller_hash_key: None,
        caller_hash_key_file: dir.join("senim.secret"),
        number_key: None,
        number_key_file: dir.join("senim.numbers.key"),
    }
}

struct Db {
    store: Store,
    raw: sqlx::SqlitePool,
}

async fn db(dir: &Path) -> Db {
    let url = format!("sqlite://{}", dir.join("senim.db").display());
    let store = Store::open(&url).await.unwrap();
    let raw = sqlx::SqlitePool::connect(&url).await.unwrap();
    Db { store, raw }
}

impl Db {
    async fn add_callback(&self, id: &str, sealed: &str) {
        sqlx::query(
            "INSERT INTO follow_ups (id, kind, created_at, number_sealed) VALUES ($1, 'callback', 1, $2)",
        )
        .bind(id)
        .bind(sealed)
        .execute(&self.raw)
        .await
        .unwrap();
    }

    async fn sealed(&self, id: &str) -> String {
        sqlx::query_scalar("SELECT number_sealed FROM follow_ups WHERE id = $1")
            .bind(id)
            .fetch_one(&self.raw)
            .await
            .unwrap()
    }

    async fn audit_actions(&self) -> Vec<String> {
        sqlx::query_scalar("SELECT action FROM audit_log ORDER BY id")
            .fetch_all(&self.raw)
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn keys_are_made_once_recorded_and_reused() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = privacy(tmp.path());
    let db = db(tmp.path()).await;
    let first = open(&db.store, &cfg, false, 1).await.unwrap();
    #[cfg(unix)]
    for file in [&cfg.caller_hash_key_file, &cfg.number_key_file] {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{}", file.display());
    }
    let records = crate::store::keys::all(&db.store).await.unwrap();
    assert_eq!(records.len(), 2);
    assert!(records.iter().all(|r| r.retired_at.is_none()));
    let again = open(&db.store, &cfg, false, 2).await.unwrap();
    assert_eq!(
        first.hasher.hash("+77011234567"),
        again.hasher.hash("+77011234567")
    );
    assert_eq!(first.sealer.key_id(), again.sealer.key_id());
    assert_eq!(crate::store::keys::all(&db.store).await.unwrap().len(), 2);
}

#[tokio::test]
async fn a_missing_number_key_with_sealed_numbers_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = privacy(tmp.path());
    let db = db(tmp.path()).await;
    let keys = open(&db.store, &cfg, false, 1).await.unwrap();
    db.add_callback("f1", &keys.sealer.seal("+77011234567"))
        .await;
    std::fs::remove_file(&cfg.number_key_file).unwrap();
    let err = open(&db.store, &cfg, false, 2)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("the number-seal key is missing"), "{err}");
    assert!(err.contains("--new-keys"), "{err}");
    assert!(err.contains("docs/operations.md"), "{err}");
    assert!(!cfg.number_key_file.exists(), "no new key was made");
    // Another key in its place is refused too.
    std::fs::write(&cfg.number_key_file, hex::encode([9u8; 32])).unwrap();
    let err = open(&db.store, &cfg, false, 3)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("is not the one"), "{err}");
    std::fs::remove_file(&cfg.number_key_file).unwrap();
    // The operator gives the numbers up: a new key, audited.
    let replaced = open(&db.store, &cfg, true, 4).await.unwrap();
    assert_ne!(replaced.sealer.key_id(), keys.sealer.key_id());
    assert_eq!(replaced.sealer.open(&db.sealed("f1").await), None);
    assert_eq!(db.audit_actions().await, vec!["replace-key"]);
    let records = crate::store::keys::all(&db.store).await.unwrap();
    let retired: Vec<_> = records.iter().filter(|r| r.retired_at.is_some()).collect();
    assert_eq!(retired.len(), 1);
    assert_eq!(retired[0].retired_why.as_deref(), Some("replaced"));
    // From now on the new key is the recorded one.
    assert!(open(&db.store, &cfg, false, 5).await.is_ok());
}

#[tokio::test]
async fn a_missing_hash_key_with_hashed_calls_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = privacy(tmp.path());
    let db = db(tmp.path()).await;
    let keys = open(&db.store, &cfg, false, 1).await.unwrap();
    db.add_callback("f1", &keys.sealer.seal("+77011234567"))
        .await;
    sqlx::query("UPDATE follow_ups SET caller_hash = $1")
        .bind(keys.hasher.hash("+77011234567"))
        .execute(&db.raw)
        .await
        .unwrap();
    std::fs::remove_file(&cfg.caller_hash_key_file).unwrap();
    let err = open(&db.store, &cfg, false, 2)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("caller-hash key is missing"), "{err}");
}

#[tokio::test]
async fn rotation_keeps_every_number_readable() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = privacy(tmp.path());
    let db = db(tmp.path()).await;
    let keys = open(&db.store, &cfg, false, 1).await.unwrap();
    let numbers = ["+77011234567", "+77771112233", "+77232000000"];
    for (i, n) in numbers.iter().enumerate() {
        db.add_callback(&format!("f{i}"), &keys.sealer.seal(n))
            .await;
    }
    // One number sealed with a key given up before: left as it is.
    let lost = NumberSealer::new(&[7; 32]).unwrap();
    db.add_callback("lost", &lost.seal("+77010000000")).await;
    let rotation = rotate(&db.store, &cfg, 2).await.unwrap();
    assert_eq!(rotation.resealed, 3);
    assert_eq!(rotation.unreadable, 1);
    assert_ne!(rotation.old, rotation.new);
    assert!(rotation.retired_file.exists());
    assert!(!pending_file(&cfg.number_key_file).exists());
    let after = open(&db.store, &cfg, false, 3).await.unwrap();
    assert_eq!(
        fingerprint(
            NUMBER_SEAL,
            &read_key_file(&cfg.number_key_file, 32).unwrap().unwrap()
        ),
        rotation.new
    );
    for (i, n) in numbers.iter().enumerate() {
        let sealed = db.sealed(&format!("f{i}")).await;
        assert_eq!(sealed_key_id_of(&sealed), after.sealer.key_id());
        assert_eq!(after.sealer.open(&sealed).as_deref(), Some(*n));
        assert_eq!(keys.sealer.open(&sealed), None, "the old key opens nothing");
    }
    assert_eq!(db.audit_actions().await, vec!["rotate-key"]);
    let records = crate::store::keys::all(&db.store).await.unwrap();
    assert!(records
        .iter()
        .any(|r| r.fingerprint == rotation.old && r.retired_why.as_deref() == Some("rotated")));
}

fn sealed_key_id_of(sealed: &str) -> &str {
    crate::privacy::sealed_key_id(sealed).unwrap_or("")
}

#[tokio::test]
async fn a_rotation_stopped_after_its_commit_is_finished_at_start() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = privacy(tmp.path());
    let db = db(tmp.path()).await;
    let keys = open(&db.store, &cfg, false, 1).await.unwrap();
    db.add_callback("f1", &keys.sealer.seal("+77011234567"))
        .await;
    // As `rotate` does, stopped before the renames.
    let pending = pending_file(&cfg.number_key_file);
    let new_key = write_new_key(&pending).unwrap();
    let new = NumberSealer::new(&new_key).unwrap();
    crate::store::keys::rotate_numbers(
        &db.store,
        NUMBER_SEAL,
        &fingerprint(NUMBER_SEAL, &new_key),
        2,
        |s| keys.sealer.open(s).map(|n| new.seal(&n)),
    )
    .await
    .unwrap();
    let after = open(&db.store, &cfg, false, 3).await.unwrap();
    assert_eq!(
        after.sealer.open(&db.sealed("f1").await).as_deref(),
        Some("+77011234567")
    );
    assert!(!pending.exists());
    // A leftover of a rotation that never committed is removed.
    write_new_key(&pending).unwrap();
    let again = open(&db.store, &cfg, false, 4).await.unwrap();
    assert_eq!(again.sealer.key_id(), after.sealer.key_id());
    assert!(!pending.exists());
}

#[tokio::test]
async fn a_configured_number_key_is_not_rotated() {
    let tmp = tempfile::tempdir().unwrap();
    let mut cfg = privacy(tmp.path());
    cfg.number_key = Some(hex::encode([3u8; 32]));
    let db = db(tmp.path()).await;
    open(&db.store, &cfg, false, 1).await.unwrap();
    let err = rotate(&db.store, &cfg, 2).await.unwrap_err().to_string();
    assert!(err.contains("number_key_file"), "{err}");
}

#[test]
fn a_bad_key_file_is_an_error_not_a_new_key() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("k");
    std::fs::write(&path, "zz").unwrap();
    assert!(read_key_file(&path, 16).is_err());
    std::fs::write(&path, "00ff").unwrap();
    assert!(read_key_file(&path, 16).is_err());
    assert!(read_key_file(&tmp.path().join("none"), 16)
        .unwrap()
        .is_none());
}
