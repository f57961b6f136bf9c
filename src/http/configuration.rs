//! `POST /config/reload` (admin token; audited): read the configuration
//! file again and apply what can be applied while calls go on, as SIGHUP
//! and `senim reload` do.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};

use super::audit::write_audit;
use super::auth::Caller;
use super::error::ApiError;
use super::state::HttpState;
use crate::reload::answer::ConfigReload;

/// Reload the configuration now: 200 with what was applied and what needs a
/// restart, or 422 with why it was refused (the running configuration is
/// kept in full). Written to the audit log with the token's name.
pub async fn reload(
    State(state): State<Arc<HttpState>>,
    Extension(caller): Extension<Caller>,
) -> Result<(StatusCode, Json<ConfigReload>), ApiError> {
    let reloads = state.reloads.clone();
    // Files are read and prompts decoded: off the async workers.
    let answer = tokio::task::spawn_blocking(move || reloads.reload_config("HTTP"))
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "the configuration reload did not finish");
            ApiError {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                message: "the reload did not finish; see the log".into(),
            }
        })?;
    let code = if answer.accepted {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    let detail = serde_json::json!({
        "accepted": answer.accepted,
        "seq": answer.seq,
        "applied": answer.applied.len(),
        "restart": answer.restart,
        "status": code.as_u16(),
    });
    // The reload is done: an audit failure is logged, not turned into an error.
    if let Err(e) = write_audit(&state.api.store, &caller, "reload-config", None, detail).await {
        tracing::error!(error = %e, "cannot write the audit log for a configuration reload");
    }
    Ok((code, Json(answer)))
}
