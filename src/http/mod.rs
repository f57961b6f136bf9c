//! The HTTP side: health, metrics, the operational routes, and the
//! coordinator's API under `/api/v1/` (bearer tokens with roles, see
//! `docs/api.md`). The listener is on loopback by default.
//!
//! Only reads are served without a token (`/healthz`, `/metrics`,
//! `GET /dialplan`, `GET /specialists`, `GET /trunks`); every route that
//! changes something is in the route table `routes::ROUTES` with its roles,
//! behind the token guard.
//!
//! Layout: `routes` is the API's route table and the only file that names
//! the handlers; the handlers (`calls`, `specialists`, `audit_log`,
//! `reports`, `follow_ups`, `click_to_call`, `retention`, and `dialplan`,
//! `configuration` for the reloads) use the shared
//! helpers (`error`, `query`, `audit`, `personal`) and the state
//! (`state`), never each other. The follow-up use-cases are in the
//! service `crate::follow_ups`; HTTP parses, calls it and shapes answers.

pub mod audit;
pub mod audit_log;
pub mod auth;
pub mod calls;
pub mod click_to_call;
pub mod configuration;
pub mod dialplan;
pub mod error;
pub mod follow_ups;
pub mod guard;
pub mod health;
pub mod metrics;
pub mod personal;
pub mod query;
pub mod reports;
pub mod retention;
pub mod routes;
pub mod specialists;
pub mod state;
pub mod tls;
pub mod trunks;

pub use state::{ApiState, HttpState};

use std::sync::Arc;

use axum::routing::get;
use axum::Router;

/// Every route: the operational reads (no token) and the route table's
/// (the API and the operational routes that change something).
pub fn router(state: Arc<HttpState>) -> Router {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/dialplan", get(dialplan::status))
        .route("/specialists", get(specialists::specialists))
        .route("/metrics", get(metrics::metrics))
        .route("/trunks", get(trunks::trunks))
        .merge(routes::router(state.clone()))
        .with_state(state)
}
