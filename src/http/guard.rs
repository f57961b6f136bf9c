//! The token guard in front of every authenticated API route: 401 or 403
//! (counted), or the request goes on with its `Caller` in the extensions.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::auth::{authorize, Role};
use super::state::HttpState;

/// The state of the per-route guard: the shared state and the roles allowed.
#[derive(Clone)]
pub struct Guard {
    pub state: Arc<HttpState>,
    pub roles: &'static [Role],
}

/// Middleware in front of every authenticated route: 401 or 403, or the
/// request goes on with its `Caller` in the extensions.
pub async fn guard(State(g): State<Guard>, mut request: Request, next: Next) -> Response {
    let tokens = g.state.api.tokens.get();
    match authorize(&tokens, request.headers(), g.roles) {
        Ok(caller) => {
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        Err(denied) => {
            g.state.api.count_denied(denied);
            tracing::warn!(
                path = %request.uri().path(),
                why = ?denied,
                "API request refused"
            );
            denied.into_response()
        }
    }
}
