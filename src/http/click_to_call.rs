//! `POST /api/v1/follow-ups/{id}/call`: click-to-call. Senim rings the
//! specialist who claimed the follow-up, then the number the caller left,
//! and bridges them (the use-case is `FollowUps::call_back`, the call
//! itself `call::click_to_call`). The number is opened only inside Senim
//! and never returned; the use is written to the audit log before it is
//! opened.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Serialize;

use super::auth::Caller;
use super::error::ApiError;
use super::personal::{no_store, requester};
use super::state::HttpState;

#[derive(Serialize)]
struct Started {
    /// The callback's id (in the follow-up's `calls`).
    call: String,
    follow_up: String,
    /// The specialist rung first.
    specialist: String,
    state: &'static str,
}

pub async fn call(
    State(state): State<Arc<HttpState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let started = state.follow_ups.call_back(&requester(&caller), &id).await?;
    let body = Started {
        call: started.call,
        follow_up: id,
        specialist: started.specialist,
        state: "ringing-specialist",
    };
    Ok(no_store((StatusCode::ACCEPTED, Json(body)).into_response()))
}
