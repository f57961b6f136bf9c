//! What the HTTP handlers share: the call context (for the operational
//! routes), the API's tokens, store and counters, and the follow-up service.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use super::auth::{Denied, TokenTable};
use crate::call::CallContext;
use crate::follow_ups::FollowUps;
use crate::reload::answer::Reloads;
use crate::store::Store;
use crate::util::current::Current;

/// What the HTTP handlers read.
pub struct HttpState {
    /// True once SIP is bound and calls are taken.
    pub ready: AtomicBool,
    pub calls: Arc<CallContext>,
    /// Tokens, the store and counters of the API.
    pub api: ApiState,
    /// The follow-up queue's use-cases (claim, notes, click-to-call, ...).
    pub follow_ups: FollowUps,
    /// The web pages' users and sessions.
    pub web: Arc<crate::web::state::WebState>,
    /// Reloads of the configuration and of the dialplan.
    pub reloads: Arc<dyn Reloads>,
}

/// What the API handlers share.
pub struct ApiState {
    /// The tokens in service; a reload of the configuration replaces them.
    pub tokens: Arc<Current<TokenTable>>,
    pub store: Store,
    /// Requests refused with 401.
    pub unauthenticated: AtomicU64,
    /// Requests refused with 403.
    pub forbidden: AtomicU64,
}

impl ApiState {
    pub fn new(tokens: Arc<Current<TokenTable>>, store: Store) -> ApiState {
        ApiState {
            tokens,
            store,
            unauthenticated: AtomicU64::new(0),
            forbidden: AtomicU64::new(0),
        }
    }

    /// Count a refused request (see `/metrics`).
    pub fn count_denied(&self, denied: Denied) {
        let counter = match denied {
            Denied::Missing | Denied::Invalid => &self.unauthenticated,
            Denied::Forbidden => &self.forbidden,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}
