//! The HTTP side: health, metrics, the operational routes, and the
//! coordinator's API under `/api/v1/` (bearer tokens with roles, see
//! `docs/api.md`). The listener is on loopback by default.

pub mod api;
pub mod auth;
pub mod click_to_call;
pub mod follow_ups;
pub mod metrics;
pub mod reports;
pub mod retention;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;

use crate::call::CallContext;
use crate::plan::{reload_plan, PlanStatus, Reload};

/// What the HTTP handlers read.
pub struct HttpState {
    /// True once SIP is bound and calls are taken.
    pub ready: AtomicBool,
    pub calls: Arc<CallContext>,
    /// Tokens, the store and counters of the API.
    pub api: api::ApiState,
    /// The SIP endpoint, for calls Senim places (click-to-call).
    pub endpoint: tokio::sync::mpsc::UnboundedSender<crate::driver::sip::ToEndpoint>,
}

#[derive(Serialize)]
struct Health {
    status: &'static str,
    calls_active: u64,
    calls_total: u64,
    rtp_streams: u64,
}

pub fn router(state: Arc<HttpState>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/dialplan", get(dialplan_status))
        .route("/specialists", get(specialists))
        .route("/specialists/{id}/pause", post(pause))
        .route("/specialists/{id}/resume", post(resume))
        .route("/dialplan/reload", post(dialplan_reload))
        .route("/metrics", get(metrics::metrics))
        .merge(api::router(state.clone()))
        .with_state(state)
}

#[derive(Serialize)]
pub(crate) struct SpecialistView {
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
pub(crate) struct PauseBody {
    #[serde(default)]
    pub(crate) reason: Option<String>,
}

/// A pause reason as kept: no control characters, at most 200 characters.
pub(crate) fn clean_reason(reason: String) -> String {
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

/// Pause a specialist: no calls are offered until resumed.
async fn pause(
    State(state): State<Arc<HttpState>>,
    axum::extract::Path(id): axum::extract::Path<String>,
    body: Option<Json<PauseBody>>,
) -> (StatusCode, Json<serde_json::Value>) {
    let reason = body
        .and_then(|Json(b)| b.reason)
        .unwrap_or_else(|| "paused over HTTP".into());
    set_paused(&state, id, true, &clean_reason(reason)).await
}

/// Resume a paused specialist.
async fn resume(
    State(state): State<Arc<HttpState>>,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> (StatusCode, Json<serde_json::Value>) {
    set_paused(&state, id, false, "resumed over HTTP").await
}

pub(crate) async fn set_paused(
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
async fn specialists(State(state): State<Arc<HttpState>>) -> Json<Vec<SpecialistView>> {
    Json(specialist_views(&state).await)
}

/// The specialists with their registrations and live routing state; never
/// an address, number or password.
pub(crate) async fn specialist_views(state: &HttpState) -> Vec<SpecialistView> {
    use senim_routing::specialists::SpecialistContact;
    let regs = state
        .calls
        .registrations
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .iter()
        .map(|(u, l)| (u.clone(), l.len()))
        .collect::<std::collections::BTreeMap<_, _>>();
    let live = state.calls.router.snapshot().await;
    state
        .calls
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

/// The plan being served and the result of the last load or reload.
async fn dialplan_status(State(state): State<Arc<HttpState>>) -> Json<PlanStatus> {
    Json(state.calls.plans.status())
}

/// Reload the dialplan now: 200 with the new status, or 422 with the errors
/// (the previous plan keeps serving).
async fn dialplan_reload(State(state): State<Arc<HttpState>>) -> (StatusCode, Json<Reload>) {
    let ctx = &state.calls;
    let r = reload_plan(
        &ctx.plans,
        &ctx.prompts,
        &ctx.schedules,
        &ctx.partners,
        "HTTP",
    );
    let code = if r.accepted {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    (code, Json(r))
}

async fn healthz(State(state): State<Arc<HttpState>>) -> (StatusCode, Json<Health>) {
    let ready = state.ready.load(Ordering::Relaxed);
    let stats = &state.calls.sip_stats;
    let body = Health {
        status: if ready { "ok" } else { "starting" },
        calls_active: stats.calls_active.load(Ordering::Relaxed),
        calls_total: stats.calls_total.load(Ordering::Relaxed),
        rtp_streams: state.calls.media.stats().streams.load(Ordering::Relaxed),
    };
    let code = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(body))
}
