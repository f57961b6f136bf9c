//! `GET /dialplan` (the plan being served and the last load or reload) and
//! `POST /dialplan/reload`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;

use super::state::HttpState;
use crate::plan::{reload_plan, PlanStatus, Reload};

/// The plan being served and the result of the last load or reload.
pub async fn status(State(state): State<Arc<HttpState>>) -> Json<PlanStatus> {
    Json(state.calls.plans.status())
}

/// Reload the dialplan now: 200 with the new status, or 422 with the errors
/// (the previous plan keeps serving).
pub async fn reload(State(state): State<Arc<HttpState>>) -> (StatusCode, Json<Reload>) {
    let ctx = &state.calls;
    let r = reload_plan(
        &ctx.plans,
        &ctx.call.prompts,
        &ctx.call.schedules,
        &ctx.call.partners,
        &ctx.call.lines,
        "HTTP",
    );
    let code = if r.accepted {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    (code, Json(r))
}
