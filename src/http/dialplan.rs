//! `GET /dialplan` (the plan being served and the last load or reload) and
//! `POST /dialplan/reload` (admin token; audited).

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};

use super::audit::write_audit;
use super::auth::Caller;
use super::state::HttpState;
use crate::plan::{PlanStatus, Reload};

/// The plan being served and the result of the last load or reload.
pub async fn status(State(state): State<Arc<HttpState>>) -> Json<PlanStatus> {
    Json(state.calls.plans.status())
}

/// Reload the dialplan now: 200 with the new status, or 422 with the errors
/// (the previous plan keeps serving). Written to the audit log with the
/// token's name.
pub async fn reload(
    State(state): State<Arc<HttpState>>,
    Extension(caller): Extension<Caller>,
) -> (StatusCode, Json<Reload>) {
    let reloads = state.reloads.clone();
    // Files are read: off the async workers.
    let r = match tokio::task::spawn_blocking(move || reloads.reload_dialplan("HTTP")).await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "the dialplan reload did not finish");
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(Reload {
                    accepted: false,
                    status: state.calls.plans.status(),
                }),
            );
        }
    };
    let code = if r.accepted {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let detail = serde_json::json!({
        "accepted": r.accepted,
        "version": r.status.version,
        "status": code.as_u16(),
    });
    // The reload is done: an audit failure is logged, not turned into an error.
    if let Err(e) = write_audit(&state.api.store, &caller, "reload-dialplan", None, detail).await {
        tracing::error!(error = %e, "cannot write the audit log for a dialplan reload");
    }
    (code, Json(r))
}
