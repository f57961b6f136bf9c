//! The specialists: who they are, whether their softphones are registered,
//! their live routing state, and pausing or resuming them. The list is
//! served at the operational route `GET /specialists` (no token) and under
//! `/api/v1/`; pausing and resuming always need a token (at
//! `/specialists/{id}/pause` as at `/api/v1/specialists/{id}/pause`) and
//! are written to the audit log.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Serialize;

use super::audit::write_audit;
use super::auth::{Caller, Denied};
use super::error::ApiError;
use super::personal::requester;
use super::state::HttpState;
use crate::wrap_up::WrapUpError;

#[derive(Serialize)]
pub struct SpecialistView {
    id: String,
    name: String,
    skills: Vec<String>,
    languages: Vec<String>,
    /// "softphone", "uri" or "number"; never the address or number itself.
    contact: &'static str,
    /// Registered softphone contacts (softphones only).
    registered: Option<usize>,
    /// Live state from routing: available, busy, ringing, paused, ...
    #[serde(skip_serializing_if = "Option::is_none")]
    live: Option<senim_routing::availability::SpecialistStatus>,
}

#[derive(serde::Deserialize, Default)]
pub struct PauseBody {
    #[serde(default)]
    reason: Option<String>,
}

/// A pause reason as kept: no control characters, at most 200 characters.
fn clean_reason(reason: String) -> String {
    reason
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect()
}

#[derive(Serialize)]
struct PauseAnswer {
    id: String,
    paused: bool,
}

async fn set_paused(
    state: &HttpState,
    id: String,
    paused: bool,
    reason: &str,
) -> (StatusCode, Json<serde_json::Value>) {
    match state.calls.router.set_paused(&id, paused, reason).await {
        Some(true) => (
            StatusCode::OK,
            Json(serde_json::to_value(PauseAnswer { id, paused }).unwrap_or_default()),
        ),
        Some(false) => (
            StatusCode::NOT_FOUND,
            Json(serde_json::json!({ "error": "no such specialist" })),
        ),
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({ "error": "stopping" })),
        ),
    }
}

/// The specialists and whether their softphones are registered.
pub async fn specialists(State(state): State<Arc<HttpState>>) -> Json<Vec<SpecialistView>> {
    Json(specialist_views(&state).await)
}

/// The specialists with their registrations and live routing state; never
/// an address, number or password.
async fn specialist_views(state: &HttpState) -> Vec<SpecialistView> {
    use senim_routing::specialists::SpecialistContact;
    let regs = state.calls.registrations.counts();
    let live = state.calls.router.snapshot().await;
    state
        .calls
        .config()
        .specialists
        .iter()
        .map(|s| {
            let (contact, registered) = match &s.contact {
                SpecialistContact::Registered { username, .. } => {
                    ("softphone", Some(regs.get(username).copied().unwrap_or(0)))
                }
                SpecialistContact::Uri(_) => ("uri", None),
                SpecialistContact::Number(_) => ("number", None),
            };
            SpecialistView {
                id: s.id.to_string(),
                name: s.name.clone(),
                skills: s.skills.iter().map(|k| k.as_str().to_string()).collect(),
                languages: s.languages.clone(),
                contact,
                registered,
                live: live
                    .as_ref()
                    .and_then(|l| l.specialists.iter().find(|x| x.id == s.id).cloned()),
            }
        })
        .collect()
}

/// `POST /api/v1/specialists/{id}/pause` (and `/specialists/{id}/pause`):
/// pause a specialist, no calls are offered until resumed; a specialist
/// pauses only themselves.
pub async fn api_pause(
    State(state): State<Arc<HttpState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    body: Option<Json<PauseBody>>,
) -> Response {
    let reason = clean_reason(
        body.and_then(|Json(b)| b.reason)
            .unwrap_or_else(|| "paused over the API".into()),
    );
    change_pause(&state, &caller, id, true, &reason).await
}

/// `POST /api/v1/specialists/{id}/resume` (and `/specialists/{id}/resume`).
pub async fn api_resume(
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
    let (status, body) = set_paused(state, id.clone(), paused, reason).await;
    let action = if paused {
        "pause-specialist"
    } else {
        "resume-specialist"
    };
    let detail = serde_json::json!({ "reason": reason, "status": status.as_u16() });
    // The change is made: an audit failure is logged, not turned into an error.
    if let Err(e) = write_audit(&state.api.store, caller, action, Some(&id), detail).await {
        tracing::error!(error = %e, action, "API: cannot write the audit log");
    }
    (status, body).into_response()
}

#[derive(serde::Deserialize)]
pub struct WrapUpBody {
    kind: String,
}

/// `POST /api/v1/specialists/{id}/wrap-up`: the kind of help given in the
/// specialist's last call, when no code came from the phone (the
/// specialist hung up first, or the menu timed out). Set once; the router
/// applies the kind's rest and crisis count. Audited (`crate::wrap_up`).
pub async fn api_wrap_up(
    State(state): State<Arc<HttpState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Json(body): Json<WrapUpBody>,
) -> Response {
    let who = requester(&caller);
    match crate::wrap_up::give(&state.calls, &state.api.store, &who, &id, &body.kind).await {
        Ok(given) => Json(serde_json::json!({ "id": id, "call": given.call, "kind": given.kind }))
            .into_response(),
        Err(e) => {
            if matches!(e, WrapUpError::NoSpecialist | WrapUpError::NotTheirs) {
                state.api.count_denied(Denied::Forbidden);
            }
            ApiError::from(e).into_response()
        }
    }
}
