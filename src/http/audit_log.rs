//! `GET /api/v1/audit` (admin): the audit log, newest first, paged by
//! entry id. Reading it is logged too: it names who read which call.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::{Extension, Json};
use serde::Serialize;

use super::audit::write_audit;
use super::auth::Caller;
use super::error::ApiError;
use super::query::{limit, one, pairs, query_object, time, Pairs, DEFAULT_LIMIT};
use super::state::HttpState;
use crate::store::audit::{self, AuditFilter};
use crate::util::time::rfc3339;

#[derive(Serialize)]
pub struct AuditView {
    id: i64,
    at: String,
    token_name: String,
    role: String,
    action: String,
    target: Option<String>,
    detail: Option<serde_json::Value>,
}

#[derive(Serialize)]
pub struct AuditList {
    entries: Vec<AuditView>,
    /// Pass as `before` for the next page; null on the last page.
    next: Option<i64>,
}

/// Parse `GET /api/v1/audit` parameters.
pub fn parse_audit_query(pairs: &Pairs) -> Result<AuditFilter, ApiError> {
    let mut filter = AuditFilter {
        limit: DEFAULT_LIMIT,
        ..Default::default()
    };
    for (k, v) in one(pairs, &["from", "to", "limit", "before"])? {
        match k {
            "from" => filter.from_ms = Some(time(k, v)?),
            "to" => filter.to_ms = Some(time(k, v)?),
            "limit" => filter.limit = limit(v)?,
            "before" => {
                filter.before_id = Some(
                    v.parse()
                        .map_err(|_| ApiError::bad("`before` must be an entry id"))?,
                )
            }
            _ => {}
        }
    }
    Ok(filter)
}

pub async fn audit_log(
    State(state): State<Arc<HttpState>>,
    Extension(caller): Extension<Caller>,
    query: Result<Query<Pairs>, QueryRejection>,
) -> Result<Json<AuditList>, ApiError> {
    let pairs = pairs(query)?;
    let filter = parse_audit_query(&pairs)?;
    // The audit log names who read which call: reading it is logged too.
    let detail = serde_json::json!({ "query": query_object(&pairs) });
    write_audit(&state.api.store, &caller, "read-audit", None, detail)
        .await
        .map_err(ApiError::audit)?;
    let rows = audit::read(&state.api.store, &filter)
        .await
        .map_err(ApiError::store)?;
    let next = (rows.len() == filter.limit as usize)
        .then(|| rows.last().map(|r| r.id))
        .flatten();
    let entries = rows
        .into_iter()
        .map(|r| AuditView {
            id: r.id,
            at: rfc3339(r.at),
            token_name: r.token_name,
            role: r.role,
            action: r.action,
            target: r.target,
            detail: r
                .detail
                .map(|d| serde_json::from_str(&d).unwrap_or(serde_json::Value::String(d))),
        })
        .collect();
    Ok(Json(AuditList { entries, next }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(list: &[(&str, &str)]) -> Pairs {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn audit_query() {
        let f = parse_audit_query(&p(&[("limit", "5"), ("before", "42")])).unwrap();
        assert_eq!((f.limit, f.before_id), (5, Some(42)));
        assert!(parse_audit_query(&p(&[("before", "x")])).is_err());
    }
}
