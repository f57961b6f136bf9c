//! `GET /api/v1/calls` and `GET /api/v1/calls/{id}`: the call records,
//! filtered and paged, and one call with its timeline. Never the caller's
//! number (Senim has none); the caller hash only for an admin who asks, and
//! that listing, like every read of one call, is written to the audit log.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::{Extension, Json};
use serde::Serialize;

use super::audit::write_audit;
use super::auth::{Caller, Role};
use super::error::ApiError;
use super::query::{limit, one, pairs, query_object, time, word, Pairs, DEFAULT_LIMIT};
use super::state::HttpState;
use crate::store::calls::{self as q, CallFilter, CallRow, TimelineEntry};
use crate::util::time::rfc3339;

/// The listing cursor: where the last page ended (arrival ms and call id).
fn cursor(row: &CallRow) -> String {
    format!("{}.{}", row.arrived_at, row.id)
}

fn parse_cursor(value: &str) -> Option<(i64, String)> {
    let (ms, id) = value.split_once('.')?;
    Some((ms.parse().ok()?, id.to_string())).filter(|(_, id)| word(id))
}

/// Parse `GET /api/v1/calls` parameters. Returns the filter and whether
/// caller hashes are asked for (`include=caller_hash`, admin only).
pub fn parse_call_query(pairs: &Pairs, role: Role) -> Result<(CallFilter, bool), ApiError> {
    let mut filter = CallFilter {
        limit: DEFAULT_LIMIT,
        ..Default::default()
    };
    let mut with_hash = false;
    let params = one(
        pairs,
        &[
            "from", "to", "service", "language", "outcome", "limit", "before", "include",
        ],
    )?;
    for (k, v) in params {
        match k {
            "from" => filter.from_ms = Some(time(k, v)?),
            "to" => filter.to_ms = Some(time(k, v)?),
            "service" => {
                if senim_routing::specialists::Skill::parse(v).is_none() {
                    return Err(ApiError::bad(
                        "`service` must be legal, psychology or mediation",
                    ));
                }
                filter.service = Some(v.to_string());
            }
            "language" | "outcome" => {
                if !word(v) {
                    return Err(ApiError::bad(format!("`{k}`: {v:?} is not a valid value")));
                }
                let slot = if k == "language" {
                    &mut filter.language
                } else {
                    &mut filter.outcome
                };
                *slot = Some(v.to_string());
            }
            "limit" => filter.limit = limit(v)?,
            "before" => {
                filter.before = Some(parse_cursor(v).ok_or_else(|| {
                    ApiError::bad("`before` must be the `next` value of a previous page")
                })?)
            }
            "include" => with_hash = include_caller_hash(v, role)?,
            _ => {}
        }
    }
    if let (Some(a), Some(b)) = (filter.from_ms, filter.to_ms) {
        if a >= b {
            return Err(ApiError::bad("`from` must be before `to`"));
        }
    }
    Ok((filter, with_hash))
}

fn include_caller_hash(value: &str, role: Role) -> Result<bool, ApiError> {
    match value {
        "" => Ok(false),
        "caller_hash" if role == Role::Admin => Ok(true),
        "caller_hash" => Err(ApiError::forbidden(
            "caller hashes are for the admin role only",
        )),
        other => Err(ApiError::bad(format!(
            "`include`: {other:?} is unknown (only caller_hash)"
        ))),
    }
}

/// A call as the API shows it. Never the caller's number (Senim has none);
/// the caller hash only for an admin who asked for it.
#[derive(Debug, Serialize)]
pub struct CallView {
    pub id: String,
    pub arrived: String,
    pub answered: Option<String>,
    pub ended: Option<String>,
    pub language: Option<String>,
    pub service: Option<String>,
    pub outcome: Option<String>,
    pub hangup_by: Option<String>,
    pub transport: String,
    pub codec: Option<String>,
    pub dtmf_mode: Option<String>,
    /// The trunk the call came in through (its configured id).
    pub trunk: Option<String>,
    /// The line dialled (`[[line]]`, its number normalised), if any.
    pub line: Option<String>,
    /// From the start of routing to its end, ms.
    pub wait_ms: Option<i64>,
    /// Time in the queue, ms.
    pub queue_wait_ms: Option<i64>,
    /// How routing finished.
    pub routing_result: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caller_hash: Option<String>,
}

impl CallView {
    fn new(row: CallRow, with_hash: bool) -> CallView {
        CallView {
            arrived: rfc3339(row.arrived_at),
            answered: row.answered_at.map(rfc3339),
            ended: row.ended_at.map(rfc3339),
            id: row.id,
            language: row.language,
            service: row.service,
            outcome: row.outcome,
            hangup_by: row.hangup_by,
            transport: row.transport,
            codec: row.codec,
            dtmf_mode: row.dtmf_mode,
            trunk: row.trunk,
            line: row.line,
            wait_ms: row.wait_ms,
            queue_wait_ms: row.queue_wait_ms,
            routing_result: row.routing_result,
            caller_hash: if with_hash { row.caller_hash } else { None },
        }
    }
}

#[derive(Serialize)]
pub struct CallList {
    calls: Vec<CallView>,
    /// Pass as `before` for the next page; null on the last page.
    next: Option<String>,
}

#[derive(Serialize)]
pub struct TimelineView {
    at: String,
    #[serde(flatten)]
    entry: TimelineEntry,
}

#[derive(Serialize)]
pub struct CallDetail {
    #[serde(flatten)]
    call: CallView,
    /// The caller's voice message: `saved` or `cut` (Senim stopped while it
    /// was recorded; the audio up to then was kept); absent without one.
    #[serde(skip_serializing_if = "Option::is_none")]
    voicemail: Option<String>,
    timeline: Vec<TimelineView>,
}

pub async fn list_calls(
    State(state): State<Arc<HttpState>>,
    Extension(caller): Extension<Caller>,
    query: Result<Query<Pairs>, QueryRejection>,
) -> Result<Json<CallList>, ApiError> {
    let pairs = pairs(query)?;
    let (filter, with_hash) = parse_call_query(&pairs, caller.role)?;
    let rows = q::list_calls(&state.api.store, &filter)
        .await
        .map_err(ApiError::store)?;
    if with_hash {
        let detail = serde_json::json!({ "query": query_object(&pairs), "calls": rows.len() });
        write_audit(
            &state.api.store,
            &caller,
            "list-calls-with-caller-hash",
            None,
            detail,
        )
        .await
        .map_err(ApiError::audit)?;
    }
    let next = (rows.len() == filter.limit as usize)
        .then(|| rows.last().map(cursor))
        .flatten();
    let calls = rows
        .into_iter()
        .map(|r| CallView::new(r, with_hash))
        .collect();
    Ok(Json(CallList { calls, next }))
}

pub async fn get_call(
    State(state): State<Arc<HttpState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    query: Result<Query<Pairs>, QueryRejection>,
) -> Result<Json<CallDetail>, ApiError> {
    let pairs = pairs(query)?;
    let mut with_hash = false;
    for (k, v) in one(&pairs, &["include"])? {
        if k == "include" {
            with_hash = include_caller_hash(v, caller.role)?;
        }
    }
    if !word(&id) {
        return Err(ApiError::not_found());
    }
    let store = &state.api.store;
    let row = q::call(store, &id).await.map_err(ApiError::store)?;
    let detail = serde_json::json!({ "found": row.is_some(), "caller_hash": with_hash });
    write_audit(&state.api.store, &caller, "read-call", Some(&id), detail)
        .await
        .map_err(ApiError::audit)?;
    let row = row.ok_or_else(ApiError::not_found)?;
    let timeline = q::timeline(store, &id)
        .await
        .map_err(ApiError::store)?
        .into_iter()
        .map(|entry| TimelineView {
            at: rfc3339(entry.at_ms),
            entry,
        })
        .collect();
    let voicemail = q::voicemail_state(store, &id)
        .await
        .map_err(ApiError::store)?;
    Ok(Json(CallDetail {
        call: CallView::new(row, with_hash),
        voicemail,
        timeline,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    fn p(list: &[(&str, &str)]) -> Pairs {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn call_query_defaults_limits_and_filters() {
        let (f, hash) = parse_call_query(&p(&[]), Role::Coordinator).unwrap();
        assert_eq!(f.limit, DEFAULT_LIMIT);
        assert!(!hash);
        let (f, _) = parse_call_query(
            &p(&[
                ("from", "2024-03-04T00:00:00Z"),
                ("to", "1709596800000"),
                ("service", "legal"),
                ("language", "kk"),
                ("outcome", "caller-hangup"),
                ("limit", "1000"),
                ("before", "1709510400000.7d9f-aa"),
            ]),
            Role::Coordinator,
        )
        .unwrap();
        assert_eq!(f.from_ms, Some(1_709_510_400_000));
        assert_eq!(f.to_ms, Some(1_709_596_800_000));
        assert_eq!(f.service.as_deref(), Some("legal"));
        assert_eq!(f.outcome.as_deref(), Some("caller-hangup"));
        assert_eq!(f.limit, 1000);
        assert_eq!(f.before, Some((1_709_510_400_000, "7d9f-aa".into())));

        let bad =
            |list: &[(&str, &str)]| parse_call_query(&p(list), Role::Admin).unwrap_err().status;
        assert_eq!(bad(&[("limit", "1001")]), StatusCode::BAD_REQUEST);
        assert_eq!(bad(&[("limit", "0")]), StatusCode::BAD_REQUEST);
        assert_eq!(bad(&[("service", "law")]), StatusCode::BAD_REQUEST);
        assert_eq!(bad(&[("from", "soon")]), StatusCode::BAD_REQUEST);
        assert_eq!(bad(&[("from", "2"), ("to", "1")]), StatusCode::BAD_REQUEST);
        assert_eq!(bad(&[("language", "kk'--")]), StatusCode::BAD_REQUEST);
        assert_eq!(bad(&[("before", "x")]), StatusCode::BAD_REQUEST);
        assert_eq!(bad(&[("caller", "1")]), StatusCode::BAD_REQUEST);
        assert_eq!(
            bad(&[("limit", "1"), ("limit", "2")]),
            StatusCode::BAD_REQUEST
        );
    }

    #[test]
    fn caller_hashes_only_for_an_admin_who_asks() {
        let ask = p(&[("include", "caller_hash")]);
        assert!(parse_call_query(&ask, Role::Admin).unwrap().1);
        assert_eq!(
            parse_call_query(&ask, Role::Coordinator)
                .unwrap_err()
                .status,
            StatusCode::FORBIDDEN
        );
        assert!(!parse_call_query(&p(&[]), Role::Admin).unwrap().1);
        let row = CallRow {
            id: "a".into(),
            arrived_at: 0,
            answered_at: None,
            ended_at: None,
            language: None,
            service: None,
            outcome: None,
            hangup_by: None,
            transport: "udp".into(),
            codec: None,
            dtmf_mode: None,
            caller_hash: Some("h".into()),
            trunk: None,
            line: None,
            wait_ms: None,
            queue_wait_ms: None,
            routing_result: None,
        };
        let without = serde_json::to_value(CallView::new(row.clone(), false)).unwrap();
        assert!(without.get("caller_hash").is_none());
        let with = serde_json::to_value(CallView::new(row, true)).unwrap();
        assert_eq!(with["caller_hash"], "h");
    }
}
