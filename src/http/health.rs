//! `GET /healthz`: 200 once SIP is bound and calls are taken (503 while
//! starting or stopping), with the call and stream counts, and where call
//! record changes stand (`degraded` while the database refuses them), and
//! the log's last warnings and errors (their messages only).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;

use super::state::HttpState;

#[derive(Serialize)]
pub struct Health {
    /// `ok`, `starting`, or `degraded` while call record changes cannot be
    /// written (see `call_records`).
    status: &'static str,
    calls_active: u64,
    calls_total: u64,
    rtp_streams: u64,
    call_records: CallRecords,
    /// The last warnings and errors of the log: time, level and message,
    /// never their fields.
    last_warnings: Vec<crate::util::recent_warnings::Recent>,
}

/// Where call record changes stand.
#[derive(Serialize)]
pub struct CallRecords {
    /// `ok`; `spooling` (the database refuses writes, changes wait in the
    /// spool file); `spool-full` (the spool is full or cannot be written:
    /// changes wait in memory, and past its bound are lost).
    state: &'static str,
    /// Changes waiting in the spool file.
    spooled: u64,
    /// Changes waiting in memory.
    held: u64,
    /// Changes lost since start.
    dropped: u64,
}

pub async fn healthz(State(state): State<Arc<HttpState>>) -> (StatusCode, Json<Health>) {
    let ready = state.ready.load(Ordering::Relaxed);
    let stats = &state.calls.sip_stats;
    let backlog = state.calls.recorder.backlog();
    let records = CallRecords {
        state: if backlog.spool_full.load(Ordering::Relaxed) {
            "spool-full"
        } else if backlog.database_failing.load(Ordering::Relaxed)
            || backlog.spooled.load(Ordering::Relaxed) > 0
        {
            "spooling"
        } else {
            "ok"
        },
        spooled: backlog.spooled.load(Ordering::Relaxed),
        held: backlog.held.load(Ordering::Relaxed),
        dropped: backlog.dropped.load(Ordering::Relaxed),
    };
    let body = Health {
        status: match (ready, records.state) {
            (false, _) => "starting",
            (true, "ok") => "ok",
            (true, _) => "degraded",
        },
        calls_active: stats.calls_active.load(Ordering::Relaxed),
        calls_total: stats.calls_total.load(Ordering::Relaxed),
        rtp_streams: state.calls.media.stats().streams.load(Ordering::Relaxed),
        call_records: records,
        last_warnings: crate::util::recent_warnings::recent(),
    };
    let code = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(body))
}
