//! `POST /api/v1/callers/erase` (admin): erase one caller's data on
//! request. The number is hashed with the call context's keyed hash (which
//! normalises it, so `+7 701 123 45 67` and `87011234567` are the same
//! caller) and the data is found by that hash; see
//! `store::retention::erase_caller`. The audit entry holds the counts
//! only: neither the number nor its hash.

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::State;
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

pub async fn erase_caller(
    State(state): State<Arc<HttpState>>,
    Extension(caller): Extension<Caller>,
    body: Result<Json<EraseBody>, JsonRejection>,
) -> Result<Json<EraseCounts>, ApiError> {
    let Json(body) =
        body.map_err(|e| ApiError::bad(format!("bad request body: {}", e.body_text())))?;
    if !plausible_number(&body.number) {
        return Err(ApiError::bad(
            "`number` must be a phone number (digits, optionally with +, spaces, dashes or brackets)",
        ));
    }
    let hash = state.calls.hasher.hash(&body.number);
    let now_ms = chrono::Utc::now().timestamp_millis();
    let store = &state.api.store;
    let counts = retention::erase_caller(store, &hash, now_ms, &state.calls.voicemail_dir)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "API: erasing a caller's data failed");
            ApiError {
                status: StatusCode::SERVICE_UNAVAILABLE,
                message: "the database is not available; nothing or part was erased, try again"
                    .into(),
            }
        })?;
    tracing::info!(
        token = %caller.name,
        follow_ups = counts.follow_ups,
        voicemails = counts.voicemails,
        calls = counts.calls,
        not_deleted = counts.not_deleted.len(),
        "API: a caller's data was erased on request"
    );
    // Counts only: the files left are in the answer and the log.
    let detail = serde_json::json!({
        "follow_ups": counts.follow_ups,
        "voicemails": counts.voicemails,
        "voicemail_files_failed": counts.voicemail_files_failed,
        "calls": counts.calls,
        "timeline_rows": counts.timeline_rows,
        "complete": counts.complete,
        "not_deleted": counts.not_deleted.len(),
    });
    // The data is gone: an audit failure is logged, not turned into an error.
    if let Err(e) = write_audit(store, &caller, "erase-caller", None, detail).await {
        tracing::error!(error = %e, action = "erase-caller", "API: cannot write the audit log");
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
