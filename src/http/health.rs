//! `GET /healthz`: 200 once SIP is bound and calls are taken (503 while
//! starting or stopping), with the call and stream counts.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;

use super::state::HttpState;

#[derive(Serialize)]
pub struct Health {
    status: &'static str,
    calls_active: u64,
    calls_total: u64,
    rtp_streams: u64,
}

pub async fn healthz(State(state): State<Arc<HttpState>>) -> (StatusCode, Json<Health>) {
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
