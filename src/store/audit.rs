//! The audit log: who read or changed what over the API, and when.
//!
//! Entries are written on the shared pool directly (not through the record
//! writer): an entry must be written before the data it describes is
//! returned.

use super::{Store, StoreError};

/// An audit log entry to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry<'a> {
    pub at_ms: i64,
    pub token_name: &'a str,
    pub role: &'a str,
    pub action: &'a str,
    pub target: Option<&'a str>,
    /// JSON.
    pub detail: Option<String>,
}

/// Write an audit entry; returns its id.
pub async fn write(store: &Store, e: &AuditEntry<'_>) -> Result<i64, StoreError> {
    let pool = store.pool();
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO audit_log (at, token_name, role, action, target, detail)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(e.at_ms)
    .bind(e.token_name)
    .bind(e.role)
    .bind(e.action)
    .bind(e.target)
    .bind(e.detail.as_deref())
    .fetch_one(pool)
    .await?;
    Ok(id)
}

/// Which audit entries to read (newest first).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    pub limit: u32,
    /// Only entries with a smaller id.
    pub before_id: Option<i64>,
}

/// One audit log row.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AuditRow {
    pub id: i64,
    pub at: i64,
    pub token_name: String,
    pub role: String,
    pub action: String,
    pub target: Option<String>,
    pub detail: Option<String>,
}

/// Audit entries matching `filter`, newest first.
pub async fn read(store: &Store, filter: &AuditFilter) -> Result<Vec<AuditRow>, StoreError> {
    let pool = store.pool();
    sqlx::query_as::<_, AuditRow>(
        "SELECT id, at, token_name, role, action, target, detail FROM audit_log
          WHERE ($1 IS NULL OR at >= $1) AND ($2 IS NULL OR at < $2) AND ($3 IS NULL OR id < $3)
          ORDER BY id DESC LIMIT $4",
    )
    .bind(filter.from_ms)
    .bind(filter.to_ms)
    .bind(filter.before_id)
    .bind(i64::from(filter.limit))
    .fetch_all(pool)
    .await
    .map_err(StoreError::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn entries_round_trip_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let s = crate::store::open_for_test(dir.path()).await;
        let db = &s;
        let id = write(
            db,
            &AuditEntry {
                at_ms: 5,
                token_name: "boss",
                role: "admin",
                action: "read-call",
                target: Some("a"),
                detail: None,
            },
        )
        .await
        .unwrap();
        let rows = read(
            db,
            &AuditFilter {
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].id, id);
        assert_eq!(rows[0].target.as_deref(), Some("a"));
        let none = read(
            db,
            &AuditFilter {
                limit: 10,
                before_id: Some(id),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert!(none.is_empty());
    }
}
