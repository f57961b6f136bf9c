//! Callers remembered with consent (migration 0015): found by the keyed hash
//! of their number only. Written by the record writer (`RecordOp::Remember`,
//! `RememberedSeen`, `Forget`); read once when a call starts; purged by
//! retention (`[retention] remembered`) and erased with the caller's data.

use senim_call::memory::Remembered;
use sqlx::Row;

use super::{Store, StoreError};

/// The memory of the caller with this keyed hash, if they are remembered.
pub async fn lookup(store: &Store, caller_hash: &str) -> Result<Option<Remembered>, StoreError> {
    let row = sqlx::query(
        "SELECT language, specialist, service FROM remembered_callers WHERE caller_hash = $1",
    )
    .bind(caller_hash)
    .fetch_optional(store.pool())
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    Ok(Some(Remembered {
        language: row.try_get("language")?,
        specialist: row.try_get("specialist")?,
        service: row.try_get("service")?,
    }))
}

/// Forget the caller with this keyed hash; whether they were remembered.
pub async fn forget(store: &Store, caller_hash: &str) -> Result<bool, StoreError> {
    let r = sqlx::query("DELETE FROM remembered_callers WHERE caller_hash = $1")
        .bind(caller_hash)
        .execute(store.pool())
        .await?;
    Ok(r.rows_affected() > 0)
}

/// How many callers are remembered (for the data list and tests; no identities).
pub async fn count(store: &Store) -> Result<i64, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT COUNT(*) FROM remembered_callers")
            .fetch_one(store.pool())
            .await?,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::RecordOp;

    async fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::open_for_test(dir.path()).await;
        (dir, store)
    }

    #[tokio::test]
    async fn consent_updates_and_forgetting() {
        let (_dir, s) = store().await;
        assert_eq!(lookup(&s, "h1").await.unwrap(), None);
        // Seen before consent: nothing is kept.
        s.apply(&RecordOp::RememberedSeen {
            caller_hash: "h1".into(),
            at: 1,
            specialist: Some("asel".into()),
            service: Some("legal".into()),
        })
        .await
        .unwrap();
        assert_eq!(count(&s).await.unwrap(), 0);
        s.apply(&RecordOp::Remember {
            caller_hash: "h1".into(),
            at: 10,
            language: "ru".into(),
            specialist: "asel".into(),
            service: Some("legal".into()),
        })
        .await
        .unwrap();
        assert_eq!(
            lookup(&s, "h1").await.unwrap(),
            Some(Remembered {
                language: "ru".into(),
                specialist: Some("asel".into()),
                service: Some("legal".into()),
            })
        );
        // Seen again without a specialist: the last one stays.
        s.apply(&RecordOp::RememberedSeen {
            caller_hash: "h1".into(),
            at: 20,
            specialist: None,
            service: None,
        })
        .await
        .unwrap();
        assert_eq!(
            lookup(&s, "h1")
                .await
                .unwrap()
                .unwrap()
                .specialist
                .as_deref(),
            Some("asel")
        );
        // ...and with one: the new one.
        s.apply(&RecordOp::RememberedSeen {
            caller_hash: "h1".into(),
            at: 30,
            specialist: Some("bota".into()),
            service: Some("psychology".into()),
        })
        .await
        .unwrap();
        let r = lookup(&s, "h1").await.unwrap().unwrap();
        assert_eq!(r.specialist.as_deref(), Some("bota"));
        assert_eq!(r.service.as_deref(), Some("psychology"));
        let seen: i64 = sqlx::query_scalar(
            "SELECT last_seen_at FROM remembered_callers WHERE caller_hash = 'h1'",
        )
        .fetch_one(s.pool())
        .await
        .unwrap();
        assert_eq!(seen, 30);
        s.apply(&RecordOp::Forget {
            caller_hash: "h1".into(),
        })
        .await
        .unwrap();
        assert_eq!(lookup(&s, "h1").await.unwrap(), None);
        assert!(!forget(&s, "h1").await.unwrap());
    }
}
