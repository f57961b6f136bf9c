//! The trunks and their health: `GET /trunks` (operational, like
//! `/specialists`) and `GET /api/v1/trunks`. Each trunk's address and
//! settings, whether it answers its probes, its registration and its last
//! failure; never a user name or password.

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use serde::Serialize;

use super::state::HttpState;
use crate::util::time::rfc3339;

#[derive(Serialize)]
pub struct TrunkView {
    id: String,
    /// Where Senim sends the trunk's requests.
    address: String,
    transport: &'static str,
    /// `up`, `down`, `unknown` (no probe answered yet) or `unprobed`.
    state: String,
    since: Option<String>,
    /// Senim registers to the trunk.
    register: bool,
    /// `registered`, `registering`, `failed` or `unregistered`.
    registration: Option<String>,
    registered_until: Option<String>,
    last_failure: Option<String>,
    last_failure_at: Option<String>,
    /// Senim's address as the registrar saw it (behind NAT).
    public_address: Option<String>,
    /// Outbound calls on the trunk now, and the cap.
    active_calls: u32,
    max_calls: Option<u32>,
    dtmf: String,
    refer: bool,
}

/// Every trunk, in dialling order of the configuration.
pub async fn trunks(State(state): State<Arc<HttpState>>) -> Json<Vec<TrunkView>> {
    let views = state
        .calls
        .config()
        .outbound
        .trunks
        .iter()
        .map(|t| {
            let report = t.load.report();
            TrunkView {
                id: t.id.clone(),
                address: t.address.to_string(),
                transport: t.transport.as_str(),
                state: report.state,
                since: report.since_ms.map(rfc3339),
                register: t.register,
                registration: report.registration,
                registered_until: report.registered_until_ms.map(rfc3339),
                last_failure: report.last_failure,
                last_failure_at: report.last_failure_ms.map(rfc3339),
                public_address: report.public_address,
                active_calls: t.load.active(),
                max_calls: t.max_calls,
                dtmf: format!("{:?}", t.dtmf).to_ascii_lowercase(),
                refer: t.refer,
            }
        })
        .collect();
    Json(views)
}
