//! The HTTP side: health now, the coordinator's API later.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use crate::call::CallContext;

/// What the HTTP handlers read.
pub struct HttpState {
    /// True once SIP is bound and calls are taken.
    pub ready: AtomicBool,
    pub calls: Arc<CallContext>,
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
        .with_state(state)
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
