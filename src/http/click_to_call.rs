//! `POST /api/v1/follow-ups/{id}/call`: click-to-call. Senim rings the
//! specialist who claimed the follow-up, then the number the caller left,
//! and bridges them (see `call::click_to_call`). The number is opened only
//! inside Senim and never returned; the use is written to the audit log
//! before it is opened.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use senim_media::prompts::Language;
use senim_routing::specialists::SpecialistId;
use serde::Serialize;

use super::api::{write_audit, ApiError};
use super::auth::Caller;
use super::follow_ups::{actor, audit_error, no_store, not_found, store_error, visible};
use super::HttpState;
use crate::call::click_to_call::{self, ClickToCallOrder, StartError};
use crate::store::follow_ups as fu;
use crate::store::follow_ups::{Actor, FollowUp};

fn conflict(message: &str) -> ApiError {
    ApiError {
        status: StatusCode::CONFLICT,
        message: message.into(),
    }
}

#[derive(Serialize)]
struct Started {
    /// The callback's id (in the follow-up's `calls`).
    call: String,
    follow_up: String,
    /// The specialist rung first.
    specialist: String,
    state: &'static str,
}

pub(super) async fn call(
    State(state): State<Arc<HttpState>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let f = visible(&state, &caller, &id).await?;
    let who = actor(&caller)?;
    if f.kind != "callback" {
        return Err(conflict(
            "only a callback request has a number to call back",
        ));
    }
    // The specialist who claimed it is rung; a specialist calls back only
    // what they claimed themselves.
    let specialist = match (f.status.as_str(), f.claimed_by.as_deref()) {
        ("claimed", Some(s)) => s.to_string(),
        ("done", _) => return Err(conflict("the follow-up is done")),
        _ => return Err(conflict("claim the follow-up first")),
    };
    if let Actor::Specialist(me) = who {
        if me != specialist {
            return Err(not_found());
        }
    }
    let sealed = fu::sealed(state.api.store.pool(), &id)
        .await
        .map_err(store_error)?
        .and_then(|s| s.number_sealed)
        .filter(|s| !s.is_empty());
    let Some(sealed) = sealed else {
        return Err(conflict("no number is kept for this follow-up"));
    };
    // One callback at a time: a second click while the phones ring or the
    // two talk would call the person twice.
    let pool = state.api.store.pool();
    let call = uuid::Uuid::new_v4().to_string();
    let now = chrono::Utc::now().timestamp_millis();
    let since = now - click_to_call::HARD_LIMIT_MS;
    if !fu::begin_call(pool, &call, &id, &specialist, now, since)
        .await
        .map_err(store_error)?
    {
        return Err(conflict("a callback for this follow-up is under way"));
    }
    let started = start(&state, &caller, &f, &specialist, &sealed, &call).await;
    if started.is_err() {
        if let Err(e) = fu::forget_call(pool, &call).await {
            tracing::error!(error = %e, "cannot forget a callback that did not start");
        }
    }
    started?;
    let body = Started {
        call,
        follow_up: id,
        specialist,
        state: "ringing-specialist",
    };
    Ok(no_store((StatusCode::ACCEPTED, Json(body)).into_response()))
}

/// Log the use of the number, open it and start the callback.
async fn start(
    state: &HttpState,
    caller: &Caller,
    f: &FollowUp,
    specialist: &str,
    sealed: &str,
    call: &str,
) -> Result<(), ApiError> {
    // The use of the number is logged before it is opened.
    let detail = serde_json::json!({ "specialist": specialist });
    write_audit(state, caller, "call-follow-up", Some(&f.id), detail)
        .await
        .map_err(audit_error)?;
    let Some(number) = state.calls.sealer.open(sealed) else {
        tracing::error!(follow_up = %f.id, "the callback number cannot be opened with the configured number key");
        return Err(conflict(
            "the number cannot be opened with the configured number key",
        ));
    };
    let callback = ClickToCallOrder {
        follow_up: f.id.clone(),
        specialist: SpecialistId::new(specialist),
        number,
        language: f
            .language
            .as_deref()
            .and_then(Language::from_code)
            .unwrap_or(Language::Ru),
        service: f.service.clone(),
        // Unanswered counts as "no": the safe answer.
        hide_centre_name: f.say_centre_name != Some(true),
    };
    click_to_call::start(
        state.calls.clone(),
        state.endpoint.clone(),
        call.to_string(),
        callback,
    )
    .map_err(|e| {
        tracing::info!(follow_up = %f.id, error = %e, "callback not started");
        match e {
            StartError::Specialist(_) => conflict(
                "the specialist's phone cannot be rung now (softphone not registered, or no trunk)",
            ),
            StartError::Number(why) => ApiError {
                status: StatusCode::CONFLICT,
                message: format!("the number cannot be called back: {why}"),
            },
        }
    })
}
