//! The pages' router: each page of the table (`pages::PAGES`) with its
//! handler, behind the guard of its roles.

use std::sync::Arc;

use axum::routing::{on, MethodFilter, MethodRouter};
use axum::{middleware, Router};

use super::auth::{page_guard, PageGuard};
use super::pages::{Handler, PAGES};
use super::setup;
use super::{board, calls, reports, specialist};
use crate::http::state::HttpState;

/// The pages, each behind the guard of its roles.
pub fn router(state: Arc<HttpState>) -> Router<Arc<HttpState>> {
    let mut router = Router::new();
    for page in PAGES {
        let filter = match page.method {
            "POST" => MethodFilter::POST,
            _ => MethodFilter::GET,
        };
        let handler: MethodRouter<Arc<HttpState>> = match page.handler {
            Handler::Board => on(filter, board::page),
            Handler::BoardEvents => on(filter, board::events),
            Handler::PauseFromBoard => on(filter, board::pause),
            Handler::ResumeFromBoard => on(filter, board::resume),
            Handler::Me => on(filter, specialist::page),
            Handler::MePause => on(filter, specialist::pause),
            Handler::MeResume => on(filter, specialist::resume),
            Handler::MeWrapUp => on(filter, specialist::wrap_up),
            Handler::FollowUp => on(filter, specialist::follow_up),
            Handler::Recording => on(filter, specialist::recording),
            Handler::Claim => on(filter, specialist::claim),
            Handler::Release => on(filter, specialist::release),
            Handler::Note => on(filter, specialist::note),
            Handler::Complete => on(filter, specialist::complete),
            Handler::CallBack => on(filter, specialist::call_back),
            Handler::Calls => on(filter, calls::list),
            Handler::Call => on(filter, calls::one),
            Handler::Reports => on(filter, reports::page),
            Handler::ReportCsv => on(filter, reports::csv),
            Handler::Setup => on(filter, setup::page),
            Handler::SetupReload => on(filter, setup::reload),
        };
        let handler = handler.route_layer(middleware::from_fn_with_state(
            PageGuard {
                state: state.clone(),
                roles: page.roles,
            },
            page_guard,
        ));
        router = router.route(page.path, handler);
    }
    router
}
