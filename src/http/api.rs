//! The coordinator's API under `/api/v1/`: call records, specialists, the
//! audit log. Every route is in [`ROUTES`], which builds the router and is
//! checked against the OpenAPI document (`openapi.json`) by a test, so the
//! two cannot drift apart.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{on, MethodFilter, MethodRouter};
use axum::{middleware, Extension, Json, Router};
use serde::Serialize;

use super::auth::{guard, Caller, Denied, Guard, Role, TokenTable};
use super::HttpState;
use crate::store::api::{self as q, AuditFilter, CallFilter, CallRow, TimelineEntry};
use crate::store::Store;

/// What the API handlers share.
pub struct ApiState {
    pub tokens: TokenTable,
    pub store: Store,
    /// Requests refused with 401.
    pub unauthenticated: AtomicU64,
    /// Requests refused with 403.
    pub forbidden: AtomicU64,
}

impl ApiState {
    pub fn new(tokens: TokenTable, store: Store) -> ApiState {
        ApiState {
            tokens,
            store,
            unauthenticated: AtomicU64::new(0),
            forbidden: AtomicU64::new(0),
        }
    }

    pub(crate) fn count_denied(&self, denied: Denied) {
        let counter = match denied {
            Denied::Missing | Denied::Invalid => &self.unauthenticated,
            Denied::Forbidden => &self.forbidden,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// Which handler a route runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    ListCalls,
    GetCall,
    Specialists,
    PauseSpecialist,
    ResumeSpecialist,
    Audit,
    /// `src/http/reports.rs`
    Reports,
    /// `src/http/follow_ups.rs`
    ListFollowUps,
    GetFollowUp,
    FollowUpRecording,
    ClaimFollowUp,
    ReleaseFollowUp,
    FollowUpNotes,
    CompleteFollowUp,
    /// `src/http/click_to_call.rs`
    CallFollowUp,
    /// `src/http/retention.rs`
    EraseCaller,
    OpenApi,
}

/// One route of the API.
#[derive(Debug, Clone, Copy)]
pub struct ApiRoute {
    /// `GET` or `POST`.
    pub method: &'static str,
    /// The path, in axum's and OpenAPI's common `{param}` syntax.
    pub path: &'static str,
    /// Roles allowed; empty: no token needed.
    pub roles: &'static [Role],
    pub endpoint: Endpoint,
}

const STAFF: &[Role] = &[Role::Admin, Role::Coordinator];
const EVERYONE: &[Role] = &[Role::Admin, Role::Coordinator, Role::Specialist];
const ADMIN: &[Role] = &[Role::Admin];

/// Every route of the API (and nothing else is routed under `/api/v1/`).
pub const ROUTES: &[ApiRoute] = &[
    ApiRoute {
        method: "GET",
        path: "/api/v1/calls",
        roles: STAFF,
        endpoint: Endpoint::ListCalls,
    },
    ApiRoute {
        method: "GET",
        path: "/api/v1/calls/{id}",
        roles: STAFF,
        endpoint: Endpoint::GetCall,
    },
    ApiRoute {
        method: "GET",
        path: "/api/v1/specialists",
        roles: EVERYONE,
        endpoint: Endpoint::Specialists,
    },
    ApiRoute {
        method: "POST",
        path: "/api/v1/specialists/{id}/pause",
        roles: EVERYONE,
        endpoint: Endpoint::PauseSpecialist,
    },
    ApiRoute {
        method: "POST",
        path: "/api/v1/specialists/{id}/resume",
        roles: EVERYONE,
        endpoint: Endpoint::ResumeSpecialist,
    },
    ApiRoute {
        method: "GET",
        path: "/api/v1/audit",
        roles: ADMIN,
        endpoint: Endpoint::Audit,
    },
    ApiRoute {
        method: "GET",
        path: "/api/v1/reports",
        roles: STAFF,
        endpoint: Endpoint::Reports,
    },
    ApiRoute {
        method: "GET",
        path: "/api/v1/follow-ups",
        roles: EVERYONE,
        endpoint: Endpoint::ListFollowUps,
    },
    ApiRoute {
        method: "GET",
        path: "/api/v1/follow-ups/{id}",
        roles: EVERYONE,
        endpoint: Endpoint::GetFollowUp,
    },
    ApiRoute {
        method: "GET",
        path: "/api/v1/follow-ups/{id}/recording",
        roles: EVERYONE,
        endpoint: Endpoint::FollowUpRecording,
    },
    ApiRoute {
        method: "POST",
        path: "/api/v1/follow-ups/{id}/claim",
        roles: EVERYONE,
        endpoint: Endpoint::ClaimFollowUp,
    },
    ApiRoute {
        method: "POST",
        path: "/api/v1/follow-ups/{id}/release",
        roles: EVERYONE,
        endpoint: Endpoint::ReleaseFollowUp,
    },
    ApiRoute {
        method: "POST",
        path: "/api/v1/follow-ups/{id}/notes",
        roles: EVERYONE,
        endpoint: Endpoint::FollowUpNotes,
    },
    ApiRoute {
        method: "POST",
        path: "/api/v1/follow-ups/{id}/complete",
        roles: EVERYONE,
        endpoint: Endpoint::CompleteFollowUp,
    },
    ApiRoute {
        method: "POST",
        path: "/api/v1/follow-ups/{id}/call",
        roles: EVERYONE,
        endpoint: Endpoint::CallFollowUp,
    },
    ApiRoute {
        method: "POST",
        path: "/api/v1/callers/erase",
        roles: ADMIN,
        endpoint: Endpoint::EraseCaller,
    },
    ApiRoute {
        method: "GET",
        path: "/api/v1/openapi.json",
        roles: &[],
        endpoint: Endpoint::OpenApi,
    },
];

/// The OpenAPI 3.1 document of [`ROUTES`], written by hand.
pub const OPENAPI: &str = include_str!("openapi.json");

/// Default and largest page sizes.
pub const DEFAULT_LIMIT: u32 = 100;
pub const MAX_LIMIT: u32 = 1000;

/// The API's routes, each behind the guard of its roles.
pub fn router(state: Arc<HttpState>) -> Router<Arc<HttpState>> {
    let mut router = Router::new();
    for route in ROUTES {
        let filter = match route.method {
            "POST" => MethodFilter::POST,
            _ => MethodFilter::GET,
        };
        let mut handler: MethodRouter<Arc<HttpState>> = match route.endpoint {
            Endpoint::ListCalls => on(filter, list_calls),
            Endpoint::GetCall => on(filter, get_call),
            Endpoint::Specialists => on(filter, specialists),
            Endpoint::PauseSpecialist => on(filter, pause),
            Endpoint::ResumeSpecialist => on(filter, resume),
            Endpoint::Audit => on(filter, audit),
            Endpoint::Reports => on(filter, super::reports::get_report),
            Endpoint::ListFollowUps => on(filter, super::follow_ups::list),
            Endpoint::GetFollowUp => on(filter, super::follow_ups::get_one),
            Endpoint::FollowUpRecording => on(filter, super::follow_ups::recording),
            Endpoint::ClaimFollowUp => on(filter, super::follow_ups::claim),
            Endpoint::ReleaseFollowUp => on(filter, super::follow_ups::release),
            Endpoint::FollowUpNotes => on(filter, super::follow_ups::notes),
            Endpoint::CompleteFollowUp => on(filter, super::follow_ups::complete),
            Endpoint::CallFollowUp => on(filter, super::click_to_call::call),
            Endpoint::EraseCaller => on(filter, super::retention::erase_caller),
            Endpoint::OpenApi => on(filter, openapi),
        };
        if !route.roles.is_empty() {
            handler = handler.route_layer(middleware::from_fn_with_state(
                Guard {
                    state: state.clone(),
                    roles: route.roles,
                },
                guard,
            ));
        }
        router = router.route(route.path, handler);
    }
    router
}

// -- errors ---------------------------------------------------------------

/// An error answer: a status and `{"error": "..."}`.
#[derive(Debug, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    fn bad(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }

    fn not_found() -> ApiError {
        ApiError {
            status: StatusCode::NOT_FOUND,
            message: "not found".into(),
        }
    }

    fn forbidden(message: &str) -> ApiError {
        ApiError {
            status: StatusCode::FORBIDDEN,
            message: message.into(),
        }
    }

    fn store(e: sqlx::Error) -> ApiError {
        tracing::error!(error = %e, "API: database query failed");
        ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            message: "the database is not available".into(),
        }
    }

    fn audit(e: sqlx::Error) -> ApiError {
        tracing::error!(error = %e, "API: cannot write the audit log; the read is refused");
        ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            message: "the audit log cannot be written; try again later".into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(serde_json::json!({ "error": self.message })),
        )
            .into_response()
    }
}

// -- query parameters -------------------------------------------------------

type Pairs = Vec<(String, String)>;

fn pairs(query: Result<Query<Pairs>, QueryRejection>) -> Result<Pairs, ApiError> {
    query
        .map(|Query(p)| p)
        .map_err(|e| ApiError::bad(format!("bad query string: {e}")))
}

/// Epoch milliseconds from RFC 3339 (`2026-03-08T09:00:00+05:00`) or from
/// digits (epoch milliseconds). A `+` that arrived unencoded (read as a
/// space) is taken as `+`.
pub fn parse_time(value: &str) -> Option<i64> {
    let v = value.trim();
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        return v.parse().ok();
    }
    chrono::DateTime::parse_from_rfc3339(v)
        .or_else(|_| chrono::DateTime::parse_from_rfc3339(&v.replace(' ', "+")))
        .ok()
        .map(|t| t.timestamp_millis())
}

/// RFC 3339 in UTC with milliseconds.
pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

/// A short word of letters, digits and `-` (language codes, outcomes, ids).
fn word(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 64
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The query's parameters in order, each checked as it comes: an unknown
/// name or one given twice is an error (in its place, so an earlier
/// parameter's own error is still reported first by a caller that reads
/// the values as it goes).
pub(crate) fn checked<'a>(
    pairs: &'a [(String, String)],
    allowed: &'a [&'a str],
) -> impl Iterator<Item = Result<(&'a str, &'a str), ApiError>> + 'a {
    let mut seen: Vec<&'a str> = Vec::new();
    pairs.iter().map(move |(k, v)| {
        let k = k.as_str();
        if !allowed.contains(&k) {
            return Err(ApiError::bad(format!(
                "unknown parameter `{k}` (known: {})",
                allowed.join(", ")
            )));
        }
        if seen.contains(&k) {
            return Err(ApiError::bad(format!("parameter `{k}` given twice")));
        }
        seen.push(k);
        Ok((k, v.as_str()))
    })
}

fn one<'a>(
    pairs: &'a [(String, String)],
    allowed: &'a [&'a str],
) -> Result<Vec<(&'a str, &'a str)>, ApiError> {
    checked(pairs, allowed).collect()
}

/// `limit`: 1 to [`MAX_LIMIT`].
pub(crate) fn limit(value: &str) -> Result<u32, ApiError> {
    value
        .parse::<u32>()
        .ok()
        .filter(|n| (1..=MAX_LIMIT).contains(n))
        .ok_or_else(|| ApiError::bad(format!("`limit` must be 1 to {MAX_LIMIT}")))
}

fn time(name: &str, value: &str) -> Result<i64, ApiError> {
    parse_time(value).ok_or_else(|| {
        ApiError::bad(format!(
            "`{name}` must be RFC 3339 (2026-03-08T09:00:00+05:00) or epoch milliseconds"
        ))
    })
}

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

// -- views ------------------------------------------------------------------

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
            wait_ms: row.wait_ms,
            queue_wait_ms: row.queue_wait_ms,
            routing_result: row.routing_result,
            caller_hash: if with_hash { row.caller_hash } else { None },
        }
    }
}

#[derive(Serialize)]
struct CallList {
    calls: Vec<CallView>,
    /// Pass as `before` for the next page; null on the last page.
    next: Option<String>,
}

#[derive(Serialize)]
struct TimelineView {
    at: String,
    #[serde(flatten)]
    entry: TimelineEntry,
}

#[derive(Serialize)]
struct CallDetail {
    #[serde(flatten)]
    call: CallView,
    timeline: Vec<TimelineView>,
}

// -- handlers -----------------------------------------------------------------

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Write an audit entry; the caller refuses the request if this fails.
pub(super) async fn write_audit(
    state: &HttpState,
    caller: &Caller,
    action: &str,
    target: Option<&str>,
    detail: serde_json::Value,
) -> Result<(), sqlx::Error> {
    q::audit(
        state.api.store.pool(),
        &q::AuditEntry {
            at_ms: now_ms(),
            token_name: &caller.name,
            role: caller.role.as_str(),
            action,
            target,
            detail: Some(detail.to_string()),
        },
    )
    .await
    .map(|_| ())
}

async fn list_calls(
    State(state): State<Arc<HttpState>>,
    Extension(caller): Extension<Caller>,
    query: Result<Query<Pairs>, QueryRejection>,
) -> Result<Json<CallList>, ApiError> {
    let pairs = pairs(query)?;
    let (filter, with_hash) = parse_call_query(&pairs, caller.role)?;
    let rows = q::list_calls(state.api.store.pool(), &filter)
        .await
        .map_err(ApiError::store)?;
    if with_hash {
        let detail = serde_json::json!({ "query": query_object(&pairs), "calls": rows.len() });
        write_audit(&state, &caller, "list-calls-with-caller-hash", None, detail)
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

fn query_object(pairs: &Pairs) -> serde_json::Value {
    pairs
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

async fn get_call(
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
    let pool = state.api.store.pool();
    let row = q::call(pool, &id).await.map_err(ApiError::store)?;
    let detail = serde_json::json!({ "found": row.is_some(), "caller_hash": with_hash });
    write_audit(&state, &caller, "read-call", Some(&id), detail)
        .await
        .map_err(ApiError::audit)?;
    let row = row.ok_or_else(ApiError::not_found)?;
    let timeline = q::timeline(pool, &id)
        .await
        .map_err(ApiError::store)?
        .into_iter()
        .map(|entry| TimelineView {
            at: rfc3339(entry.at_ms),
            entry,
        })
        .collect();
    Ok(Json(CallDetail {
        call: CallView::new(row, with_hash),
        timeline,
    }))
}

async fn specialists(State(state): State<Arc<HttpState>>) -> Json<Vec<super::SpecialistView>> {
    Json(super::specialist_views(&state).await)
}

async fn pause(
    State(state): State<Arc<HttpState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    body: Option<Json<super::PauseBody>>,
) -> Response {
    let reason = super::clean_reason(
        body.and_then(|Json(b)| b.reason)
            .unwrap_or_else(|| "paused over the API".into()),
    );
    change_pause(&state, &caller, id, true, &reason).await
}

async fn resume(
    State(state): State<Arc<HttpState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Response {
    change_pause(&state, &caller, id, false, "resumed over the API").await
}

async fn change_pause(
    state: &HttpState,
    caller: &Caller,
    id: String,
    paused: bool,
    reason: &str,
) -> Response {
    if !caller.may_pause(&id) {
        state.api.count_denied(Denied::Forbidden);
        return ApiError::forbidden("a specialist may pause or resume only themselves")
            .into_response();
    }
    let (status, body) = super::set_paused(state, id.clone(), paused, reason).await;
    let action = if paused {
        "pause-specialist"
    } else {
        "resume-specialist"
    };
    let detail = serde_json::json!({ "reason": reason, "status": status.as_u16() });
    // The change is made: an audit failure is logged, not turned into an error.
    if let Err(e) = write_audit(state, caller, action, Some(&id), detail).await {
        tracing::error!(error = %e, action, "API: cannot write the audit log");
    }
    (status, body).into_response()
}

#[derive(Serialize)]
struct AuditView {
    id: i64,
    at: String,
    token_name: String,
    role: String,
    action: String,
    target: Option<String>,
    detail: Option<serde_json::Value>,
}

#[derive(Serialize)]
struct AuditList {
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

async fn audit(
    State(state): State<Arc<HttpState>>,
    Extension(caller): Extension<Caller>,
    query: Result<Query<Pairs>, QueryRejection>,
) -> Result<Json<AuditList>, ApiError> {
    let pairs = pairs(query)?;
    let filter = parse_audit_query(&pairs)?;
    // The audit log names who read which call: reading it is logged too.
    let detail = serde_json::json!({ "query": query_object(&pairs) });
    write_audit(&state, &caller, "read-audit", None, detail)
        .await
        .map_err(ApiError::audit)?;
    let rows = q::audit_log(state.api.store.pool(), &filter)
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

async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn p(list: &[(&str, &str)]) -> Pairs {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn times_in_rfc3339_or_epoch_ms() {
        assert_eq!(parse_time("1700000000000"), Some(1_700_000_000_000));
        assert_eq!(
            parse_time("2024-03-04T05:00:00+05:00"),
            Some(1_709_510_400_000)
        );
        assert_eq!(parse_time("2024-03-04T00:00:00Z"), Some(1_709_510_400_000));
        // `+` decoded as a space from an unencoded query string
        assert_eq!(
            parse_time("2024-03-04T05:00:00 05:00"),
            Some(1_709_510_400_000)
        );
        assert_eq!(parse_time("yesterday"), None);
        assert_eq!(parse_time(""), None);
        assert_eq!(rfc3339(1_709_510_400_123), "2024-03-04T00:00:00.123Z");
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
            wait_ms: None,
            queue_wait_ms: None,
            routing_result: None,
        };
        let without = serde_json::to_value(CallView::new(row.clone(), false)).unwrap();
        assert!(without.get("caller_hash").is_none());
        let with = serde_json::to_value(CallView::new(row, true)).unwrap();
        assert_eq!(with["caller_hash"], "h");
    }

    #[test]
    fn audit_query() {
        let f = parse_audit_query(&p(&[("limit", "5"), ("before", "42")])).unwrap();
        assert_eq!((f.limit, f.before_id), (5, Some(42)));
        assert!(parse_audit_query(&p(&[("before", "x")])).is_err());
    }

    /// Every route in ROUTES is in the OpenAPI document and the other way round,
    /// with the same roles (`x-roles`) and no security on public routes.
    #[test]
    fn openapi_document_matches_the_routes() {
        let doc: serde_json::Value = serde_json::from_str(OPENAPI).expect("openapi.json is JSON");
        assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
        let mut documented = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for (method, op) in item.as_object().unwrap() {
                if !["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                    continue;
                }
                let mut roles: Vec<String> = op["x-roles"]
                    .as_array()
                    .unwrap_or_else(|| panic!("{method} {path}: no x-roles"))
                    .iter()
                    .map(|r| r.as_str().unwrap().to_string())
                    .collect();
                roles.sort();
                documented.insert((method.to_uppercase(), path.clone(), roles));
            }
        }
        let routed: BTreeSet<_> = ROUTES
            .iter()
            .map(|r| {
                let mut roles: Vec<String> =
                    r.roles.iter().map(|x| x.as_str().to_string()).collect();
                roles.sort();
                (r.method.to_string(), r.path.to_string(), roles)
            })
            .collect();
        assert_eq!(routed, documented);
        for r in ROUTES {
            let op = &doc["paths"][r.path][r.method.to_lowercase()];
            let public = op["security"].as_array().is_some_and(|s| s.is_empty());
            assert_eq!(public, r.roles.is_empty(), "{} {}", r.method, r.path);
        }
    }
}
