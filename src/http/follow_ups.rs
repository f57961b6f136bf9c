//! The follow-up queue under `/api/v1/follow-ups`: callback requests and
//! voicemails listed, claimed, noted and completed. Who sees and changes
//! what is decided in `store::follow_ups`; this module parses requests,
//! writes the audit log and opens the sealed number.
//!
//! The number to call back is shown only in the detail of one follow-up,
//! and the recording only at its own route; both reads are written to the
//! audit log before anything is returned (503 and no data when that fails).

use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};

use super::api::{checked, limit, rfc3339, write_audit, ApiError, DEFAULT_LIMIT};
use super::auth::{Caller, Role};
use super::HttpState;
use crate::store::follow_ups::{self as fu, Actor, Change, FollowUp, FollowUpFilter};

fn bad(message: impl Into<String>) -> ApiError {
    ApiError {
        status: StatusCode::BAD_REQUEST,
        message: message.into(),
    }
}

pub(super) fn not_found() -> ApiError {
    ApiError {
        status: StatusCode::NOT_FOUND,
        message: "not found".into(),
    }
}

pub(super) fn store_error(e: sqlx::Error) -> ApiError {
    tracing::error!(error = %e, "API: follow-up query failed");
    ApiError {
        status: StatusCode::SERVICE_UNAVAILABLE,
        message: "the database is not available".into(),
    }
}

pub(super) fn audit_error(e: sqlx::Error) -> ApiError {
    tracing::error!(error = %e, "API: cannot write the audit log; the read is refused");
    ApiError {
        status: StatusCode::SERVICE_UNAVAILABLE,
        message: "the audit log cannot be written; try again later".into(),
    }
}

/// The caller as the store sees them. A specialist token always names its
/// specialist (checked at start); one without is refused.
pub(super) fn actor(caller: &Caller) -> Result<Actor<'_>, ApiError> {
    match caller.role {
        Role::Admin | Role::Coordinator => Ok(Actor::Staff),
        Role::Specialist => caller
            .specialist
            .as_deref()
            .map(Actor::Specialist)
            .ok_or_else(|| ApiError {
                status: StatusCode::FORBIDDEN,
                message: "this token names no specialist".into(),
            }),
    }
}

/// Follow-up ids: UUIDs, or `voicemail-` and a call id.
fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Parse `GET /api/v1/follow-ups` parameters: `status`, `kind`, `limit`.
pub fn parse_list_query(pairs: &[(String, String)]) -> Result<FollowUpFilter, ApiError> {
    const KNOWN: [&str; 3] = ["status", "kind", "limit"];
    let mut filter = FollowUpFilter {
        limit: DEFAULT_LIMIT,
        ..Default::default()
    };
    for param in checked(pairs, &KNOWN) {
        let (k, v) = param?;
        match k {
            "status" if ["open", "claimed", "done"].contains(&v) => {
                filter.status = Some(v.to_string())
            }
            "status" => return Err(bad("`status` must be open, claimed or done")),
            "kind" if ["callback", "voicemail"].contains(&v) => filter.kind = Some(v.to_string()),
            "kind" => return Err(bad("`kind` must be callback or voicemail")),
            _ => filter.limit = limit(v)?,
        }
    }
    Ok(filter)
}

/// A follow-up as the API shows it: never the number.
#[derive(Debug, Serialize)]
pub struct FollowUpView {
    pub id: String,
    pub kind: String,
    pub created_at: String,
    pub language: Option<String>,
    pub service: Option<String>,
    pub call_window: Option<String>,
    pub leave_message: Option<bool>,
    pub say_centre_name: Option<bool>,
    pub status: String,
    pub claimed_by: Option<String>,
    pub claimed_at: Option<String>,
    pub completed_at: Option<String>,
    pub result: Option<String>,
    pub notes: Option<String>,
    pub call_id: Option<String>,
    /// Voicemails only: the length of the message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<i64>,
}

impl From<FollowUp> for FollowUpView {
    fn from(f: FollowUp) -> FollowUpView {
        FollowUpView {
            created_at: rfc3339(f.created_at),
            claimed_at: f.claimed_at.map(rfc3339),
            completed_at: f.completed_at.map(rfc3339),
            duration_ms: if f.kind == "voicemail" {
                f.duration_ms
            } else {
                None
            },
            id: f.id,
            kind: f.kind,
            language: f.language,
            service: f.service,
            call_window: f.call_window,
            leave_message: f.leave_message,
            say_centre_name: f.say_centre_name,
            status: f.status,
            claimed_by: f.claimed_by,
            result: f.result,
            notes: f.notes,
            call_id: f.call_id,
        }
    }
}

#[derive(Serialize)]
pub struct FollowUpList {
    follow_ups: Vec<FollowUpView>,
}

/// One follow-up with what is needed to act on it.
#[derive(Serialize)]
pub struct FollowUpDetail {
    #[serde(flatten)]
    follow_up: FollowUpView,
    /// Callbacks: the number to call (null when it cannot be opened).
    #[serde(skip_serializing_if = "Option::is_none")]
    number: Option<Option<String>>,
    /// Voicemails: where to fetch the audio, when the file is there.
    #[serde(skip_serializing_if = "Option::is_none")]
    recording: Option<String>,
    /// Callbacks: the calls Senim placed for it (click-to-call), oldest first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    calls: Vec<CallbackView>,
}

/// One click-to-call of a follow-up, as the API shows it.
#[derive(Serialize)]
pub struct CallbackView {
    id: String,
    specialist: String,
    started_at: String,
    answered_at: Option<String>,
    ended_at: Option<String>,
    outcome: Option<String>,
}

impl From<fu::FollowUpCall> for CallbackView {
    fn from(c: fu::FollowUpCall) -> Self {
        CallbackView {
            id: c.id,
            specialist: c.specialist,
            started_at: rfc3339(c.started_at),
            answered_at: c.answered_at.map(rfc3339),
            ended_at: c.ended_at.map(rfc3339),
            outcome: c.outcome,
        }
    }
}

/// Answers must not be kept by browsers or proxies: they hold personal data.
pub(super) fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

pub(super) async fn list(
    State(state): State<Arc<HttpState>>,
    Extension(caller): Extension<Caller>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(pairs) = query.map_err(|e| bad(format!("bad query string: {e}")))?;
    let filter = parse_list_query(&pairs)?;
    let rows = fu::list(state.api.store.pool(), actor(&caller)?, &filter)
        .await
        .map_err(store_error)?;
    let follow_ups = rows.into_iter().map(FollowUpView::from).collect();
    Ok(no_store(Json(FollowUpList { follow_ups }).into_response()))
}

/// The follow-up `id` if `caller` may see it.
pub(super) async fn visible(
    state: &HttpState,
    caller: &Caller,
    id: &str,
) -> Result<FollowUp, ApiError> {
    if !valid_id(id) {
        return Err(not_found());
    }
    let f = fu::get(state.api.store.pool(), id)
        .await
        .map_err(store_error)?;
    f.filter(|f| actor(caller).is_ok_and(|a| a.sees(f)))
        .ok_or_else(not_found)
}

/// The recording's file of a voicemail follow-up, when it is on disk.
async fn recording_file(state: &HttpState, id: &str) -> Result<Option<PathBuf>, ApiError> {
    let sealed = fu::sealed(state.api.store.pool(), id)
        .await
        .map_err(store_error)?;
    let Some(path) = sealed.and_then(|s| s.recording_path).map(PathBuf::from) else {
        return Ok(None);
    };
    Ok(tokio::fs::metadata(&path)
        .await
        .is_ok_and(|m| m.is_file())
        .then_some(path))
}

pub(super) async fn get_one(
    State(state): State<Arc<HttpState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let f = match visible(&state, &caller, &id).await {
        Ok(f) => f,
        Err(e) if e.status == StatusCode::NOT_FOUND && valid_id(&id) => {
            // A look at an id one may not see is worth knowing about.
            let detail = serde_json::json!({ "found": false });
            write_audit(&state, &caller, "read-follow-up", Some(&id), detail)
                .await
                .map_err(audit_error)?;
            return Err(e);
        }
        Err(e) => return Err(e),
    };
    let mut number = None;
    let mut recording = None;
    if f.kind == "callback" {
        let sealed = fu::sealed(state.api.store.pool(), &id)
            .await
            .map_err(store_error)?
            .and_then(|s| s.number_sealed)
            .filter(|s| !s.is_empty());
        // The read is logged before the number is opened or returned.
        let detail = serde_json::json!({ "kind": "callback", "number": sealed.is_some() });
        write_audit(&state, &caller, "read-number", Some(&id), detail)
            .await
            .map_err(audit_error)?;
        let opened = sealed.as_deref().and_then(|s| state.calls.sealer.open(s));
        if sealed.is_some() && opened.is_none() {
            tracing::error!(
                follow_up = %id,
                "the callback number cannot be opened with the configured number key"
            );
        }
        number = Some(opened);
    } else {
        let detail = serde_json::json!({ "kind": f.kind });
        write_audit(&state, &caller, "read-follow-up", Some(&id), detail)
            .await
            .map_err(audit_error)?;
        if f.kind == "voicemail" && recording_file(&state, &id).await?.is_some() {
            recording = Some(format!("/api/v1/follow-ups/{id}/recording"));
        }
    }
    let calls = if f.kind == "callback" {
        fu::calls(state.api.store.pool(), &id)
            .await
            .map_err(store_error)?
            .into_iter()
            .map(CallbackView::from)
            .collect()
    } else {
        Vec::new()
    };
    let detail = FollowUpDetail {
        follow_up: f.into(),
        number,
        recording,
        calls,
    };
    Ok(no_store(Json(detail).into_response()))
}

/// A file sent in chunks as it is read.
struct FileChunks {
    file: tokio::fs::File,
    buf: Box<[u8]>,
}

impl futures_core::Stream for FileChunks {
    type Item = std::io::Result<bytes::Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        use tokio::io::AsyncRead;
        let this = &mut *self;
        let mut read = tokio::io::ReadBuf::new(&mut this.buf);
        match Pin::new(&mut this.file).poll_read(cx, &mut read) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(e)) => Poll::Ready(Some(Err(e))),
            Poll::Ready(Ok(())) if read.filled().is_empty() => Poll::Ready(None),
            Poll::Ready(Ok(())) => {
                Poll::Ready(Some(Ok(bytes::Bytes::copy_from_slice(read.filled()))))
            }
        }
    }
}

pub(super) async fn recording(
    State(state): State<Arc<HttpState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let f = visible(&state, &caller, &id).await?;
    if f.kind != "voicemail" {
        return Err(not_found());
    }
    let path = recording_file(&state, &id).await?.ok_or_else(not_found)?;
    let file = tokio::fs::File::open(&path).await.map_err(|e| {
        tracing::error!(error = %e, follow_up = %id, "cannot open the voicemail file");
        not_found()
    })?;
    let len = file.metadata().await.map(|m| m.len()).ok();
    let detail = serde_json::json!({ "kind": "voicemail", "duration_ms": f.duration_ms });
    write_audit(&state, &caller, "read-recording", Some(&id), detail)
        .await
        .map_err(audit_error)?;
    let body = Body::from_stream(FileChunks {
        file,
        buf: vec![0; 32 * 1024].into_boxed_slice(),
    });
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("audio/wav"));
    if let Some(len) = len {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    }
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{id}.wav\"")) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(no_store(response))
}

/// Turn the store's answer into a response, and log the change (after it
/// is made: a failed audit write is logged, not turned into an error).
async fn answer(
    state: &HttpState,
    caller: &Caller,
    action: &str,
    id: &str,
    change: Result<Change, sqlx::Error>,
    detail: serde_json::Value,
) -> Result<Response, ApiError> {
    let change = change.map_err(store_error)?;
    let status = match &change {
        Change::Made(_) => StatusCode::OK,
        Change::NotFound => StatusCode::NOT_FOUND,
        Change::Conflict(_) => StatusCode::CONFLICT,
    };
    if status != StatusCode::NOT_FOUND {
        let mut detail = detail;
        detail["status"] = status.as_u16().into();
        if let Err(e) = write_audit(state, caller, action, Some(id), detail).await {
            tracing::error!(error = %e, action, "API: cannot write the audit log");
        }
    }
    match change {
        Change::Made(f) => Ok(no_store(Json(FollowUpView::from(*f)).into_response())),
        Change::NotFound => Err(not_found()),
        Change::Conflict(why) => Err(ApiError {
            status: StatusCode::CONFLICT,
            message: why.into(),
        }),
    }
}

fn json_body<T>(body: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    body.map(|Json(b)| b)
        .map_err(|e| bad(format!("bad JSON body: {}", e.body_text())))
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct ClaimBody {
    #[serde(default)]
    specialist: Option<String>,
}

pub(super) async fn claim(
    State(state): State<Arc<HttpState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    // The body is optional: a specialist claims with none.
    let body: ClaimBody = if body.iter().all(u8::is_ascii_whitespace) {
        ClaimBody::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| bad(format!("bad JSON body: {e}")))?
    };
    if !valid_id(&id) {
        return Err(not_found());
    }
    let who = actor(&caller)?;
    let specialist = match (who, body.specialist) {
        (Actor::Specialist(me), None) => me.to_string(),
        (Actor::Specialist(me), Some(other)) if other == me => other,
        (Actor::Specialist(_), Some(_)) => {
            return Err(ApiError {
                status: StatusCode::FORBIDDEN,
                message: "a specialist claims follow-ups only for themselves".into(),
            })
        }
        (Actor::Staff, None) => {
            return Err(bad(
                "pass {\"specialist\": \"id\"}: who takes the follow-up",
            ))
        }
        (Actor::Staff, Some(s)) if state.calls.specialists.get(&s).is_none() => {
            return Err(bad(format!("no specialist with id {s:?}")))
        }
        (Actor::Staff, Some(s)) => s,
    };
    let change = fu::claim(state.api.store.pool(), who, &id, &specialist, now_ms()).await;
    let detail = serde_json::json!({ "specialist": specialist });
    answer(&state, &caller, "claim-follow-up", &id, change, detail).await
}

pub(super) async fn release(
    State(state): State<Arc<HttpState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    if !valid_id(&id) {
        return Err(not_found());
    }
    let change = fu::release(state.api.store.pool(), actor(&caller)?, &id).await;
    let detail = serde_json::json!({});
    answer(&state, &caller, "release-follow-up", &id, change, detail).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NoteBody {
    text: String,
}

fn note(text: &str) -> Result<String, ApiError> {
    fu::clean_note(text).ok_or_else(|| {
        bad(format!(
            "`text` must hold 1 to {} characters",
            fu::MAX_NOTE_CHARS
        ))
    })
}

pub(super) async fn notes(
    State(state): State<Arc<HttpState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    body: Result<Json<NoteBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let text = note(&json_body(body)?.text)?;
    if !valid_id(&id) {
        return Err(not_found());
    }
    let at = rfc3339(now_ms());
    let change = fu::add_note(
        state.api.store.pool(),
        actor(&caller)?,
        &id,
        &at,
        &caller.name,
        &text,
    )
    .await;
    // The note itself may name people: the log keeps only its length.
    let detail = serde_json::json!({ "chars": text.chars().count() });
    answer(&state, &caller, "note-follow-up", &id, change, detail).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CompleteBody {
    result: String,
    #[serde(default)]
    notes: Option<String>,
}

pub(super) async fn complete(
    State(state): State<Arc<HttpState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    body: Result<Json<CompleteBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let body = json_body(body)?;
    if !fu::RESULTS.contains(&body.result.as_str()) {
        return Err(bad(format!(
            "`result` must be one of {}",
            fu::RESULTS.join(", ")
        )));
    }
    let text = match body.notes.as_deref() {
        Some(t) if !t.trim().is_empty() => Some(note(t)?),
        _ => None,
    };
    if !valid_id(&id) {
        return Err(not_found());
    }
    let at = rfc3339(now_ms());
    let change = fu::complete(
        state.api.store.pool(),
        actor(&caller)?,
        &id,
        &body.result,
        text.as_deref()
            .map(|t| (at.as_str(), caller.name.as_str(), t)),
        now_ms(),
    )
    .await;
    let detail = serde_json::json!({ "result": body.result });
    answer(&state, &caller, "complete-follow-up", &id, change, detail).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn list_query() {
        let f = parse_list_query(&p(&[])).unwrap();
        assert_eq!((f.status, f.kind, f.limit), (None, None, DEFAULT_LIMIT));
        let f = parse_list_query(&p(&[
            ("status", "claimed"),
            ("kind", "voicemail"),
            ("limit", "5"),
        ]))
        .unwrap();
        assert_eq!(f.status.as_deref(), Some("claimed"));
        assert_eq!(f.kind.as_deref(), Some("voicemail"));
        assert_eq!(f.limit, 5);
        for bad in [
            &[("status", "closed")][..],
            &[("kind", "sms")],
            &[("limit", "0")],
            &[("limit", "1001")],
            &[("number", "1")],
            &[("kind", "callback"), ("kind", "callback")],
        ] {
            assert_eq!(
                parse_list_query(&p(bad)).unwrap_err().status,
                StatusCode::BAD_REQUEST,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn the_view_never_has_a_number_and_duration_only_for_voicemails() {
        let f = FollowUp {
            id: "a".into(),
            kind: "callback".into(),
            created_at: 0,
            language: Some("kk".into()),
            service: None,
            call_window: Some("soon".into()),
            leave_message: Some(false),
            say_centre_name: Some(true),
            status: "open".into(),
            claimed_by: None,
            claimed_at: None,
            completed_at: None,
            result: None,
            notes: None,
            call_id: None,
            duration_ms: Some(1),
        };
        let v = serde_json::to_value(FollowUpView::from(f.clone())).unwrap();
        assert!(v.get("number").is_none());
        assert!(v.get("duration_ms").is_none());
        assert_eq!(v["created_at"], "1970-01-01T00:00:00.000Z");
        let vm = FollowUp {
            kind: "voicemail".into(),
            ..f
        };
        let v = serde_json::to_value(FollowUpView::from(vm)).unwrap();
        assert_eq!(v["duration_ms"], 1);
        assert!(valid_id("voicemail-3f2c-aa"));
        assert!(!valid_id("../x"));
        assert!(!valid_id(""));
    }
}
