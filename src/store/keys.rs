//! The fingerprints of the keys that protect callers' data, and the
//! re-sealing of every stored number when the number key is rotated.

use sqlx::Row;

use super::{Store, StoreError};

/// One recorded key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    pub purpose: String,
    pub fingerprint: String,
    pub first_used: i64,
    pub retired_at: Option<i64>,
    pub retired_why: Option<String>,
}

/// The fingerprint of the key in use for `purpose`, if one was recorded.
pub async fn current(store: &Store, purpose: &str) -> Result<Option<String>, StoreError> {
    let row = sqlx::query("SELECT fingerprint FROM keys WHERE purpose = $1 AND retired_at IS NULL")
        .bind(purpose)
        .fetch_optional(store.pool())
        .await?;
    Ok(row.map(|r| r.get("fingerprint")))
}

/// Every recorded key, oldest first.
pub async fn all(store: &Store) -> Result<Vec<KeyRecord>, StoreError> {
    let rows = sqlx::query(
        "SELECT purpose, fingerprint, first_used, retired_at, retired_why FROM keys ORDER BY id",
    )
    .fetch_all(store.pool())
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| KeyRecord {
            purpose: r.get("purpose"),
            fingerprint: r.get("fingerprint"),
            first_used: r.get("first_used"),
            retired_at: r.get("retired_at"),
            retired_why: r.get("retired_why"),
        })
        .collect())
}

/// Record `fingerprint` as the key in use for `purpose`; a different key in
/// use is retired first, with `why`.
pub async fn record(
    store: &Store,
    purpose: &str,
    fingerprint: &str,
    now_ms: i64,
    why: &str,
) -> Result<(), StoreError> {
    let mut tx = store.pool().begin().await?;
    sqlx::query(
        "UPDATE keys SET retired_at = $1, retired_why = $2
         WHERE purpose = $3 AND retired_at IS NULL AND fingerprint <> $4",
    )
    .bind(now_ms)
    .bind(why)
    .bind(purpose)
    .bind(fingerprint)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO keys (purpose, fingerprint, first_used)
         SELECT $1, $2, $3
         WHERE NOT EXISTS (SELECT 1 FROM keys WHERE purpose = $1 AND retired_at IS NULL)",
    )
    .bind(purpose)
    .bind(fingerprint)
    .bind(now_ms)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// What a key protects in the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protected {
    /// The numbers kept, sealed, for callbacks.
    SealedNumbers,
    /// The keyed hashes of callers' numbers.
    CallerHashes,
}

/// How many stored values a key protects.
pub async fn protected_values(store: &Store, what: Protected) -> Result<i64, StoreError> {
    let sql = match what {
        Protected::SealedNumbers => {
            "SELECT COUNT(*) FROM follow_ups WHERE number_sealed IS NOT NULL"
        }
        Protected::CallerHashes => {
            "SELECT (SELECT COUNT(*) FROM calls WHERE caller_hash IS NOT NULL)
                  + (SELECT COUNT(*) FROM follow_ups WHERE caller_hash IS NOT NULL)"
        }
    };
    let n: i64 = sqlx::query_scalar(sql).fetch_one(store.pool()).await?;
    Ok(n)
}

/// What a rotation did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Resealed {
    /// Numbers now sealed with the new key.
    pub resealed: u64,
    /// Numbers the old key could not open (sealed with a key given up
    /// before); left as they were.
    pub unreadable: u64,
}

/// Seal every stored number again with `reseal` (None: the old key cannot
/// open it) and record `new_fingerprint` as the number key in use, the old
/// one retired as rotated: all in one transaction, so a crash leaves either
/// the old state or the new one.
pub async fn rotate_numbers(
    store: &Store,
    purpose: &str,
    new_fingerprint: &str,
    now_ms: i64,
    reseal: impl Fn(&str) -> Option<String>,
) -> Result<Resealed, StoreError> {
    let mut tx = store.pool().begin().await?;
    let rows =
        sqlx::query("SELECT id, number_sealed FROM follow_ups WHERE number_sealed IS NOT NULL")
            .fetch_all(&mut *tx)
            .await?;
    let mut done = Resealed::default();
    for row in rows {
        let id: String = row.get("id");
        let sealed: String = row.get("number_sealed");
        match reseal(&sealed) {
            Some(new) => {
                sqlx::query("UPDATE follow_ups SET number_sealed = $1 WHERE id = $2")
                    .bind(new)
                    .bind(&id)
                    .execute(&mut *tx)
                    .await?;
                done.resealed += 1;
            }
            None => done.unreadable += 1,
        }
    }
    sqlx::query(
        "UPDATE keys SET retired_at = $1, retired_why = 'rotated'
         WHERE purpose = $2 AND retired_at IS NULL",
    )
    .bind(now_ms)
    .bind(purpose)
    .execute(&mut *tx)
    .await?;
    sqlx::query("INSERT INTO keys (purpose, fingerprint, first_used) VALUES ($1, $2, $3)")
        .bind(purpose)
        .bind(new_fingerprint)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(done)
}
