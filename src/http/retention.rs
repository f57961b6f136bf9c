//! `POST /api/v1/callers/erase` (admin): erase one caller's data on
//! request; `POST /api/v1/follow-ups/{id}/erase` (admin): one follow-up
//! and its call's data, for a caller without a number. The number is hashed with the call context's keyed hash (which
//! normalises it, so `+7 701 123 45 67` and `87011234567` are the same
//! caller) and the data is found by that hash; see
//! `store::retention::erase_caller`. The audit entry holds the counts
//! only: neither the number nor its hash. `POST /api/v1/callers/forget`
//! (admin, coordinator): forget a caller remembered with consent, found the
//! same way; nothing else is erased.

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path as AxumPath, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Deserialize;

use super::audit::write_audit;
use super::auth::Caller;
use super::error::ApiError;
use super::state::HttpState;
use crate::store::retention::{self, EraseCounts};

/// The request body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EraseBody {
    /// The caller's number in any usual format.
    pub number: String,
}

/// A number worth hashing: 3 to 20 digits, at most 40 characters.
pub fn plausible_number(number: &str) -> bool {
    let digits = number.chars().filter(char::is_ascii_digit).count();
    number.len() <= 40
        && (3..=20).contains(&digits)
        && number
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '+' | ' ' | '-' | '(' | ')' | '.'))
}

/// The keyed hash of the number in an erase or forget request, once the
/// body reads and the number looks like a phone number.
fn caller_hash(
    state: &HttpState,
    body: Result<Json<EraseBody>, JsonRejection>,
) -> Result<String, ApiError> {
    let Json(body) =
        body.map_err(|e| ApiError::bad(format!("bad request body: {}", e.body_text())))?;
    if !plausible_number(&body.number) {
        return Err(ApiError::bad(
            "`number` must be a phone number (digits, optionally with +, spaces, dashes or brackets)",
        ));
    }
    Ok(state.calls.hasher.hash(&body.number))
}

pub async fn erase_caller(
    State(state): State<Arc<HttpState>>,
    Extension(caller): Extension<Caller>,
    body: Result<Json<EraseBody>, JsonRejection>,
) -> Result<Json<EraseCounts>, ApiError> {
    let hash = caller_hash(&state, body)?;
    let now_ms = chrono::Utc::now().timestamp_millis();
    let store = &state.api.store;
    let counts = retention::erase_caller(store, &hash, now_ms, &state.calls.voicemail_dir)
        .await
        .map_err(unavailable)?;
    settle(&state, &caller, "erase-caller", None, counts).await
}

/// The answer to a forget request.
#[derive(Debug, serde::Serialize)]
pub struct Forgotten {
    /// Whether the caller was remembered (and is not any more).
    pub forgotten: bool,
}

/// `POST /api/v1/callers/forget` (admin, coordinator): the caller is no
/// longer remembered (see `store::memory`). Audited with the result only.
pub async fn forget_caller(
    State(state): State<Arc<HttpState>>,
    Extension(caller): Extension<Caller>,
    body: Result<Json<EraseBody>, JsonRejection>,
) -> Result<Json<Forgotten>, ApiError> {
    let hash = caller_hash(&state, body)?;
    let forgotten = crate::store::memory::forget(&state.api.store, &hash)
        .await
        .map_err(unavailable)?;
    tracing::info!(token = %caller.name, forgotten, "API: a caller was forgotten on request");
    let detail = serde_json::json!({ "forgotten": forgotten });
    // The memory is gone: an audit failure is logged, not turned into an error.
    if let Err(e) = write_audit(&state.api.store, &caller, "forget-caller", None, detail).await {
        tracing::error!(error = %e, "API: cannot write the audit log");
    }
    Ok(Json(Forgotten { forgotten }))
}

/// `POST /api/v1/follow-ups/{id}/erase` (admin): erase one follow-up and
/// the data of the call that made it (see
/// `store::retention::erase_follow_up`), for a caller who cannot be found by
/// number. 404 when there is no such follow-up.
pub async fn erase_follow_up(
    State(state): State<Arc<HttpState>>,
    Extension(caller): Extension<Caller>,
    AxumPath(id): AxumPath<String>,
) -> Result<Json<EraseCounts>, ApiError> {
    let plausible =
        (1..=80).contains(&id.len()) && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if !plausible {
        return Err(ApiError::not_found());
    }
    let now_ms = chrono::Utc::now().timestamp_millis();
    let counts =
        retention::erase_follow_up(&state.api.store, &id, now_ms, &state.calls.voicemail_dir)
            .await
            .map_err(unavailable)?
            .ok_or_else(ApiError::not_found)?;
    settle(&state, &caller, "erase-follow-up", Some(&id), counts).await
}

fn unavailable(e: crate::store::StoreError) -> ApiError {
    tracing::error!(error = %e, "API: erasing personal data failed");
    ApiError {
        status: StatusCode::SERVICE_UNAVAILABLE,
        message: "the database is not available; nothing or part was erased, try again".into(),
    }
}

/// Log and audit an erasure (counts only: the files left are in the answer
/// and the log), and answer with its counts.
async fn settle(
    state: &HttpState,
    caller: &Caller,
    action: &str,
    target: Option<&str>,
    counts: EraseCounts,
) -> Result<Json<EraseCounts>, ApiError> {
    tracing::info!(
        token = %caller.name,
        action,
        follow_ups = counts.follow_ups,
        voicemails = counts.voicemails,
        calls = counts.calls,
        not_deleted = counts.not_deleted.len(),
        "API: personal data was erased on request"
    );
    let detail = serde_json::json!({
        "follow_ups": counts.follow_ups,
        "voicemails": counts.voicemails,
        "voicemail_files_failed": counts.voicemail_files_failed,
        "calls": counts.calls,
        "timeline_rows": counts.timeline_rows,
        "remembered": counts.remembered,
        "complete": counts.complete,
        "not_deleted": counts.not_deleted.len(),
    });
    // The data is gone: an audit failure is logged, not turned into an error.
    if let Err(e) = write_audit(&state.api.store, caller, action, target, detail).await {
        tracing::error!(error = %e, action, "API: cannot write the audit log");
    }
    Ok(Json(counts))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_in_usual_formats_are_accepted() {
        for n in [
            "+7 705 123 45 67",
            "87011234567",
            "+7 (701) 123-45-67",
            "112",
        ] {
            assert!(plausible_number(n), "{n}");
        }
        for n in ["", "12", "abc", "+7 701 123 45 67; DROP", &"1".repeat(21)] {
            assert!(!plausible_number(n), "{n}");
        }
    }
}
