//! The route table: the coordinator's API under `/api/v1/` and the
//! operational routes that change something (pause, resume, dialplan and
//! configuration reloads). Every such route is in [`ROUTES`] with the roles whose token it
//! needs; [`ROUTES`] builds the router and is checked against the OpenAPI
//! document (`openapi.json`) by a test, so the two cannot drift apart, and
//! another test refuses a route that changes something without a role.
//! Only this file names the handlers; they share the helpers of `error`,
//! `query` and `audit`.

use std::sync::Arc;

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::{on, MethodFilter, MethodRouter};
use axum::{middleware, Router};

use super::auth::Role;
use super::guard::{guard, Guard};
use super::state::HttpState;
use super::{
    audit_log, calls, click_to_call, configuration, dialplan, follow_ups, reports, retention,
    specialists, trunks,
};

/// Which handler a route runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `src/http/calls.rs`
    ListCalls,
    GetCall,
    /// `src/http/specialists.rs`
    Specialists,
    PauseSpecialist,
    ResumeSpecialist,
    WrapUpSpecialist,
    /// `src/http/audit_log.rs`
    Audit,
    /// `src/http/reports.rs`
    Reports,
    /// `src/http/follow_ups.rs`
    ListFollowUps,
    GetFollowUp,
    FollowUpRecording,
    ClaimFollowUp,
    ReleaseFollowUp,
    FollowUpNotes,
    CompleteFollowUp,
    /// `src/http/click_to_call.rs`
    CallFollowUp,
    /// `src/http/retention.rs`
    EraseCaller,
    EraseFollowUp,
    ForgetCaller,
    /// `src/http/trunks.rs`
    Trunks,
    /// `src/http/dialplan.rs`
    ReloadDialplan,
    /// `src/http/configuration.rs`
    ReloadConfig,
    /// The OpenAPI document, [`OPENAPI`].
    OpenApi,
}

/// One route of the API.
#[derive(Debug, Clone, Copy)]
pub struct ApiRoute {
    /// `GET` or `POST`.
    pub method: &'static str,
    /// The path, in axum's and OpenAPI's common `{param}` syntax.
    pub path: &'static str,
    /// Roles allowed; empty: no token needed.
    pub roles: &'static [Role],
    pub endpoint: Endpoint,
}

const STAFF: &[Role] = &[Role::Admin, Role::Coordinator];
const EVERYONE: &[Role] = &[Role::Admin, Role::Coordinator, Role::Specialist];
const ADMIN: &[Role] = &[Role::Admin];

/// Every route of the API (and nothing else is routed under `/api/v1/`),
/// and the operational routes that change something.
pub const ROUTES: &[ApiRoute] = &[
    ApiRoute {
        method: "GET",
        path: "/api/v1/calls",
        roles: STAFF,
        endpoint: Endpoint::ListCalls,
    },
    ApiRoute {
        method: "GET",
        path: "/api/v1/calls/{id}",
        roles: STAFF,
        endpoint: Endpoint::GetCall,
    },
    ApiRoute {
        method: "GET",
        path: "/api/v1/specialists",
        roles: EVERYONE,
        endpoint: Endpoint::Specialists,
    },
    ApiRoute {
        method: "POST",
        path: "/api/v1/specialists/{id}/pause",
        roles: EVERYONE,
        endpoint: Endpoint::PauseSpecialist,
    },
    ApiRoute {
        method: "POST",
        path: "/api/v1/specialists/{id}/resume",
        roles: EVERYONE,
        endpoint: Endpoint::ResumeSpecialist,
    },
    ApiRoute {
        method: "POST",
        path: "/api/v1/specialists/{id}/wrap-up",
        roles: EVERYONE,
        endpoint: Endpoint::WrapUpSpecialist,
    },
    ApiRoute {
        method: "GET",
        path: "/api/v1/audit",
        roles: ADMIN,
        endpoint: Endpoint::Audit,
    },
    ApiRoute {
        method: "GET",
        path: "/api/v1/reports",
        roles: STAFF,
        endpoint: Endpoint::Reports,
    },
    ApiRoute {
        method: "GET",
        path: "/api/v1/follow-ups",
        roles: EVERYONE,
        endpoint: Endpoint::ListFollowUps,
    },
    ApiRoute {
        method: "GET",
        path: "/api/v1/follow-ups/{id}",
        roles: EVERYONE,
        endpoint: Endpoint::GetFollowUp,
    },
    ApiRoute {
        method: "GET",
        path: "/api/v1/follow-ups/{id}/recording",
        roles: EVERYONE,
        endpoint: Endpoint::FollowUpRecording,
    },
    ApiRoute {
        method: "POST",
        path: "/api/v1/follow-ups/{id}/claim",
        roles: EVERYONE,
        endpoint: Endpoint::ClaimFollowUp,
    },
    ApiRoute {
        method: "POST",
        path: "/api/v1/follow-ups/{id}/release",
        roles: EVERYONE,
        endpoint: Endpoint::ReleaseFollowUp,
    },
    ApiRoute {
        method: "POST",
        path: "/api/v1/follow-ups/{id}/notes",
        roles: EVERYONE,
        endpoint: Endpoint::FollowUpNotes,
    },
    ApiRoute {
        method: "POST",
        path: "/api/v1/follow-ups/{id}/complete",
        roles: EVERYONE,
        endpoint: Endpoint::CompleteFollowUp,
    },
    ApiRoute {
        method: "POST",
        path: "/api/v1/follow-ups/{id}/call",
        roles: EVERYONE,
        endpoint: Endpoint::CallFollowUp,
    },
    ApiRoute {
        method: "POST",
        path: "/api/v1/callers/erase",
        roles: ADMIN,
        endpoint: Endpoint::EraseCaller,
    },
    ApiRoute {
        method: "POST",
        path: "/api/v1/follow-ups/{id}/erase",
        roles: ADMIN,
        endpoint: Endpoint::EraseFollowUp,
    },
    ApiRoute {
        method: "POST",
        path: "/api/v1/callers/forget",
        roles: STAFF,
        endpoint: Endpoint::ForgetCaller,
    },
    ApiRoute {
        method: "GET",
        path: "/api/v1/trunks",
        roles: STAFF,
        endpoint: Endpoint::Trunks,
    },
    ApiRoute {
        method: "GET",
        path: "/api/v1/openapi.json",
        roles: &[],
        endpoint: Endpoint::OpenApi,
    },
    // The operational routes that change something: a token like the API's.
    ApiRoute {
        method: "POST",
        path: "/specialists/{id}/pause",
        roles: EVERYONE,
        endpoint: Endpoint::PauseSpecialist,
    },
    ApiRoute {
        method: "POST",
        path: "/specialists/{id}/resume",
        roles: EVERYONE,
        endpoint: Endpoint::ResumeSpecialist,
    },
    ApiRoute {
        method: "POST",
        path: "/dialplan/reload",
        roles: ADMIN,
        endpoint: Endpoint::ReloadDialplan,
    },
    ApiRoute {
        method: "POST",
        path: "/config/reload",
        roles: ADMIN,
        endpoint: Endpoint::ReloadConfig,
    },
];

/// The OpenAPI 3.1 document of [`ROUTES`], written by hand.
pub const OPENAPI: &str = include_str!("openapi.json");

/// The API's routes, each behind the guard of its roles.
pub fn router(state: Arc<HttpState>) -> Router<Arc<HttpState>> {
    let mut router = Router::new();
    for route in ROUTES {
        let filter = match route.method {
            "POST" => MethodFilter::POST,
            _ => MethodFilter::GET,
        };
        let mut handler: MethodRouter<Arc<HttpState>> = match route.endpoint {
            Endpoint::ListCalls => on(filter, calls::list_calls),
            Endpoint::GetCall => on(filter, calls::get_call),
            Endpoint::Specialists => on(filter, specialists::specialists),
            Endpoint::PauseSpecialist => on(filter, specialists::api_pause),
            Endpoint::ResumeSpecialist => on(filter, specialists::api_resume),
            Endpoint::WrapUpSpecialist => on(filter, specialists::api_wrap_up),
            Endpoint::Audit => on(filter, audit_log::audit_log),
            Endpoint::Reports => on(filter, reports::get_report),
            Endpoint::ListFollowUps => on(filter, follow_ups::list),
            Endpoint::GetFollowUp => on(filter, follow_ups::get_one),
            Endpoint::FollowUpRecording => on(filter, follow_ups::recording),
            Endpoint::ClaimFollowUp => on(filter, follow_ups::claim),
            Endpoint::ReleaseFollowUp => on(filter, follow_ups::release),
            Endpoint::FollowUpNotes => on(filter, follow_ups::notes),
            Endpoint::CompleteFollowUp => on(filter, follow_ups::complete),
            Endpoint::CallFollowUp => on(filter, click_to_call::call),
            Endpoint::EraseCaller => on(filter, retention::erase_caller),
            Endpoint::EraseFollowUp => on(filter, retention::erase_follow_up),
            Endpoint::ForgetCaller => on(filter, retention::forget_caller),
            Endpoint::Trunks => on(filter, trunks::trunks),
            Endpoint::ReloadDialplan => on(filter, dialplan::reload),
            Endpoint::ReloadConfig => on(filter, configuration::reload),
            Endpoint::OpenApi => on(filter, openapi),
        };
        if !route.roles.is_empty() {
            handler = handler.route_layer(middleware::from_fn_with_state(
                Guard {
                    state: state.clone(),
                    roles: route.roles,
                },
                guard,
            ));
        }
        router = router.route(route.path, handler);
    }
    router
}

async fn openapi() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// A route that changes something (anything but GET) needs a token.
    #[test]
    fn every_route_that_changes_something_needs_a_token() {
        for r in ROUTES {
            assert!(
                r.method == "GET" || !r.roles.is_empty(),
                "{} {} has no roles",
                r.method,
                r.path
            );
        }
        for path in [
            "/specialists/{id}/pause",
            "/specialists/{id}/resume",
            "/dialplan/reload",
            "/config/reload",
        ] {
            assert!(
                ROUTES.iter().any(|r| r.path == path && r.method == "POST"),
                "{path} is in the table"
            );
        }
    }

    /// Every route in ROUTES is in the OpenAPI document and the other way round,
    /// with the same roles (`x-roles`) and no security on public routes.
    #[test]
    fn openapi_document_matches_the_routes() {
        let doc: serde_json::Value = serde_json::from_str(OPENAPI).expect("openapi.json is JSON");
        assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
        let mut documented = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for (method, op) in item.as_object().unwrap() {
                if !["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                    continue;
                }
                let mut roles: Vec<String> = op["x-roles"]
                    .as_array()
                    .unwrap_or_else(|| panic!("{method} {path}: no x-roles"))
                    .iter()
                    .map(|r| r.as_str().unwrap().to_string())
                    .collect();
                roles.sort();
                documented.insert((method.to_uppercase(), path.clone(), roles));
            }
        }
        let routed: BTreeSet<_> = ROUTES
            .iter()
            .map(|r| {
                let mut roles: Vec<String> =
                    r.roles.iter().map(|x| x.as_str().to_string()).collect();
                roles.sort();
                (r.method.to_string(), r.path.to_string(), roles)
            })
            .collect();
        assert_eq!(routed, documented);
        for r in ROUTES {
            let op = &doc["paths"][r.path][r.method.to_lowercase()];
            let public = op["security"].as_array().is_some_and(|s| s.is_empty());
            assert_eq!(public, r.roles.is_empty(), "{} {}", r.method, r.path);
        }
    }
}
