//! `POST /config/reload` (admin token; audited): read the configuration
//! file again and apply what can be applied while calls go on, as SIGHUP
//! and `senim reload` do. The setup page's reload button
//! (`crate::web::setup`) runs the same [`reload_audited`].

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};

use super::audit::write_audit;
use super::auth::Caller;
use super::error::ApiError;
use super::state::HttpState;
use crate::reload::answer::ConfigReload;

/// Why a reload of the configuration gave no answer.
#[derive(Debug, thiserror::Error)]
#[error("the configuration reload did not finish: {0}")]
pub struct ReloadUnfinished(#[from] tokio::task::JoinError);

/// The HTTP status of a reload's answer: 200 when the new configuration
/// serves, 422 when it was refused.
pub fn status_of(answer: &ConfigReload) -> StatusCode {
    if answer.accepted {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    }
}

/// Reload the configuration now, as `caller` asked, and write it to the
/// audit log (`reload-config`) with their name. An audit failure is logged:
/// the reload is done by then.
pub async fn reload_audited(
    state: &HttpState,
    caller: &Caller,
) -> Result<ConfigReload, ReloadUnfinished> {
    let reloads = state.reloads.clone();
    // Files are read and prompts decoded: off the async workers.
    let answer = tokio::task::spawn_blocking(move || reloads.reload_config("HTTP")).await?;
    let detail = serde_json::json!({
        "accepted": answer.accepted,
        "seq": answer.seq,
        "applied": answer.applied.len(),
        "restart": answer.restart,
        "status": status_of(&answer).as_u16(),
    });
    if let Err(e) = write_audit(&state.api.store, caller, "reload-config", None, detail).await {
        tracing::error!(error = %e, "cannot write the audit log for a configuration reload");
    }
    Ok(answer)
}

/// Reload the configuration now: 200 with what was applied and what needs a
/// restart, or 422 with why it was refused (the running configuration is
/// kept in full). Written to the audit log with the token's name.
pub async fn reload(
    State(state): State<Arc<HttpState>>,
    Extension(caller): Extension<Caller>,
) -> Result<(StatusCode, Json<ConfigReload>), ApiError> {
    let answer = reload_audited(&state, &caller).await.map_err(|e| {
        tracing::error!(error = %e, "the configuration reload did not finish");
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: "the reload did not finish; see the log".into(),
        }
    })?;
    Ok((status_of(&answer), Json(answer)))
}
