//! The follow-up queue under `/api/v1/follow-ups`: callback requests and
//! voicemails listed, read, claimed, noted and completed. The use-cases
//! (who sees what, the audit log, the sealed number) are in the service
//! `crate::follow_ups`; this module parses requests, calls it and shapes
//! the answers.
//!
//! The number to call back is shown only in the detail of one follow-up,
//! and the recording only at its own route, and only to staff and to the
//! specialist who claimed it; both reads are written to the audit log
//! before anything is returned (503 and no data when that fails). A
//! specialist sees other follow-ups as a [`SummaryView`].

use std::sync::Arc;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};

use super::auth::Caller;
use super::error::ApiError;
use super::personal::{file_body, no_store, requester};
use super::query::{checked, limit, pairs, DEFAULT_LIMIT};
use super::state::HttpState;
use crate::follow_ups::{Shown, Summary};
use crate::store::follow_ups::{FollowUp, FollowUpCall, FollowUpFilter};
use crate::util::time::{now_ms, rfc3339};

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
            "status" => return Err(ApiError::bad("`status` must be open, claimed or done")),
            "kind" if ["callback", "voicemail"].contains(&v) => filter.kind = Some(v.to_string()),
            "kind" => return Err(ApiError::bad("`kind` must be callback or voicemail")),
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
    /// Voicemails only: the message was cut short (Senim stopped while it
    /// was recorded; the audio up to then was kept).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cut: Option<bool>,
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
            cut: if f.kind == "voicemail" {
                Some(f.cut.unwrap_or(false))
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

/// A follow-up a specialist has not claimed: kind, service, language,
/// time window and age; the same shape whatever it holds.
#[derive(Debug, Serialize)]
pub struct SummaryView {
    pub id: String,
    pub kind: String,
    pub status: String,
    pub service: Option<String>,
    pub language: Option<String>,
    pub call_window: Option<String>,
    /// Whole minutes since the request or the message.
    pub age_minutes: i64,
}

impl SummaryView {
    fn new(s: Summary, now_ms: i64) -> SummaryView {
        SummaryView {
            age_minutes: (now_ms - s.created_at).max(0) / 60_000,
            id: s.id,
            kind: s.kind,
            status: s.status,
            service: s.service,
            language: s.language,
            call_window: s.call_window,
        }
    }
}

/// A follow-up as the requester may see it.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum ShownView {
    Full(FollowUpView),
    Summary(SummaryView),
}

impl ShownView {
    fn new(shown: Shown, now_ms: i64) -> ShownView {
        match shown {
            Shown::Full(f) => ShownView::Full(f.into()),
            Shown::Summary(s) => ShownView::Summary(SummaryView::new(s, now_ms)),
        }
    }
}

#[derive(Serialize)]
pub struct FollowUpList {
    follow_ups: Vec<ShownView>,
}

/// One follow-up with what is needed to act on it.
#[derive(Serialize)]
pub struct FollowUpDetail {
    #[serde(flatten)]
    follow_up: ShownView,
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

impl From<FollowUpCall> for CallbackView {
    fn from(c: FollowUpCall) -> Self {
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

pub async fn list(
    State(state): State<Arc<HttpState>>,
    Extension(caller): Extension<Caller>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, ApiError> {
    let pairs = pairs(query)?;
    let filter = parse_list_query(&pairs)?;
    let rows = state.follow_ups.list(&requester(&caller), &filter).await?;
    let now = now_ms();
    let follow_ups = rows.into_iter().map(|s| ShownView::new(s, now)).collect();
    Ok(no_store(Json(FollowUpList { follow_ups }).into_response()))
}

pub async fn get_one(
    State(state): State<Arc<HttpState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let d = state.follow_ups.detail(&requester(&caller), &id).await?;
    let detail = FollowUpDetail {
        follow_up: ShownView::new(d.follow_up, now_ms()),
        number: d.number,
        recording: d
            .has_recording
            .then(|| format!("/api/v1/follow-ups/{id}/recording")),
        calls: d.calls.into_iter().map(CallbackView::from).collect(),
    };
    Ok(no_store(Json(detail).into_response()))
}

pub async fn recording(
    State(state): State<Arc<HttpState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let r = state.follow_ups.recording(&requester(&caller), &id).await?;
    let body = file_body(r.file);
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("audio/wav"));
    if let Some(len) = r.len {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    }
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{id}.wav\"")) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(no_store(response))
}

/// A changed follow-up as the answer.
fn changed(f: Shown) -> Response {
    no_store(Json(ShownView::new(f, now_ms())).into_response())
}

fn json_body<T>(body: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    body.map(|Json(b)| b)
        .map_err(|e| ApiError::bad(format!("bad JSON body: {}", e.body_text())))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ClaimBody {
    #[serde(default)]
    specialist: Option<String>,
}

pub async fn claim(
    State(state): State<Arc<HttpState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    // The body is optional: a specialist claims with none.
    let body: ClaimBody = if body.iter().all(u8::is_ascii_whitespace) {
        ClaimBody::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| ApiError::bad(format!("bad JSON body: {e}")))?
    };
    let f = state
        .follow_ups
        .claim(&requester(&caller), &id, body.specialist)
        .await?;
    Ok(changed(f))
}

pub async fn release(
    State(state): State<Arc<HttpState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let f = state.follow_ups.release(&requester(&caller), &id).await?;
    Ok(changed(f))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoteBody {
    text: String,
}

pub async fn notes(
    State(state): State<Arc<HttpState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    body: Result<Json<NoteBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let body = json_body(body)?;
    let f = state
        .follow_ups
        .add_note(&requester(&caller), &id, &body.text)
        .await?;
    Ok(changed(f))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompleteBody {
    result: String,
    #[serde(default)]
    notes: Option<String>,
}

pub async fn complete(
    State(state): State<Arc<HttpState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    body: Result<Json<CompleteBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let body = json_body(body)?;
    let f = state
        .follow_ups
        .complete(
            &requester(&caller),
            &id,
            &body.result,
            body.notes.as_deref(),
        )
        .await?;
    Ok(changed(f))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

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
            cut: Some(true),
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
        assert_eq!(v["cut"], true);
    }

    #[test]
    fn a_summary_has_kind_service_language_window_and_age_only() {
        let s = Summary {
            id: "a".into(),
            kind: "voicemail".into(),
            status: "open".into(),
            service: Some("legal".into()),
            language: Some("kk".into()),
            call_window: None,
            created_at: 1_000,
        };
        let v = serde_json::to_value(ShownView::new(Shown::Summary(s), 1_000 + 125_000)).unwrap();
        let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "age_minutes",
                "call_window",
                "id",
                "kind",
                "language",
                "service",
                "status"
            ]
        );
        assert_eq!(v["age_minutes"], 2);
    }
}
