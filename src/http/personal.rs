//! What the follow-up handlers share: the caller as the follow-up service
//! sees them, and the header that keeps answers with personal data out of
//! caches.

use axum::http::{header, HeaderValue};
use axum::response::Response;

use super::auth::{Caller, Role};
use crate::follow_ups::Requester;

/// The caller as the follow-up service sees them.
pub fn requester(caller: &Caller) -> Requester<'_> {
    Requester {
        name: &caller.name,
        role: caller.role.as_str(),
        staff: matches!(caller.role, Role::Admin | Role::Coordinator),
        specialist: caller.specialist.as_deref(),
    }
}

/// Answers must not be kept by browsers or proxies: they hold personal data.
pub fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
