//! Errors from the router ([`RouterError`]).

use super::call_id::CallId;

/// Errors from the router.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouterError {
    /// `start` was called twice for one call.
    #[error("call {0} is already being routed")]
    CallExists(CallId),
}
