//! The coordinator's calls: the calls of a day, filtered by service and
//! language, and one call's timeline (menus, keys, routing steps,
//! transfers; never a number). Reading one call is written to the audit
//! log, as for the API.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde::Deserialize;

use super::auth::SignedIn;
use super::frame::{render, Frame};
use super::local_time::{clock, day_bounds, today};
use crate::http::audit::write_audit;
use crate::store::calls::{self as q, CallFilter, TimelineEvent};

/// The filters of the calls page.
#[derive(Debug, Default, Deserialize)]
pub struct CallsQuery {
    #[serde(default)]
    pub day: String,
    #[serde(default)]
    pub service: String,
    #[serde(default)]
    pub language: String,
}

/// One call in the list.
pub struct Row {
    pub id: String,
    pub short: String,
    pub time: String,
    pub language: String,
    pub service: String,
    pub outcome: String,
    pub wait: String,
}

#[derive(Template)]
#[template(path = "calls.html")]
struct CallsPage {
    f: Frame,
    day: String,
    service: String,
    language: String,
    services: Vec<(&'static str, String)>,
    calls: Vec<Row>,
    error: Option<&'static str>,
}

/// One line of a call's timeline.
pub struct Line {
    pub time: String,
    /// Catalogue key of the kind of line.
    pub kind: &'static str,
    pub text: String,
}

#[derive(Template)]
#[template(path = "call.html")]
struct CallPage {
    f: Frame,
    row: Row,
    transport: String,
    trunk: String,
    timeline: Vec<Line>,
}

fn service_key(s: Option<&str>) -> String {
    s.map_or(String::new(), |s| format!("service.{s}"))
}

fn secs(ms: Option<i64>) -> String {
    ms.map_or(String::new(), |ms| format!("{:.0}", ms as f64 / 1000.0))
}

/// `GET /calls`.
pub async fn list(
    State(state): State<Arc<crate::http::state::HttpState>>,
    Extension(me): Extension<SignedIn>,
    query: Result<Query<CallsQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let q = query.map(|Query(q)| q).unwrap_or_default();
    let day = if q.day.trim().is_empty() {
        today()
    } else {
        q.day.trim().to_string()
    };
    let services = senim_routing::specialists::Skill::ALL
        .iter()
        .map(|s| (s.as_str(), format!("service.{}", s.as_str())))
        .collect();
    let mut page = CallsPage {
        f: Frame::signed_in(&me, "/calls"),
        day: day.clone(),
        service: q.service.clone(),
        language: q.language.clone(),
        services,
        calls: Vec::new(),
        error: None,
    };
    let Some((from_ms, to_ms)) = day_bounds(&day) else {
        page.error = Some("calls.bad_day");
        return render(&page);
    };
    let word = |v: &str| {
        let v = v.trim();
        (!v.is_empty()
            && v.len() <= 32
            && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        .then(|| v.to_string())
    };
    let filter = CallFilter {
        from_ms: Some(from_ms),
        to_ms: Some(to_ms),
        service: word(&q.service).filter(|s| senim_routing::specialists::Skill::parse(s).is_some()),
        language: word(&q.language),
        outcome: None,
        limit: 500,
        before: None,
    };
    match q::list_calls(&state.api.store, &filter).await {
        Ok(rows) => {
            page.calls = rows
                .into_iter()
                .map(|r| Row {
                    short: r.id.chars().take(8).collect(),
                    time: clock(r.arrived_at),
                    language: r.language.unwrap_or_default(),
                    service: service_key(r.service.as_deref()),
                    outcome: r.outcome.unwrap_or_default(),
                    wait: secs(r.wait_ms),
                    id: r.id,
                })
                .collect();
        }
        Err(e) => {
            tracing::error!(error = %e, "the calls page could not read the calls");
            page.error = Some("error.general");
        }
    }
    render(&page)
}

/// `GET /calls/{id}`.
pub async fn one(
    State(state): State<Arc<crate::http::state::HttpState>>,
    Extension(me): Extension<SignedIn>,
    Path(id): Path<String>,
) -> Response {
    if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return StatusCode::NOT_FOUND.into_response();
    }
    let store = &state.api.store;
    let row = match q::call(store, &id).await {
        Ok(r) => r,
        Err(_) => return (StatusCode::SERVICE_UNAVAILABLE, "database").into_response(),
    };
    let detail = serde_json::json!({ "found": row.is_some(), "page": true });
    if write_audit(store, &me.session.caller, "read-call", Some(&id), detail)
        .await
        .is_err()
    {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "the audit log cannot be written",
        )
            .into_response();
    }
    let Some(r) = row else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let timeline = q::timeline(store, &id)
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|e| {
            let (kind, text) = match e.event {
                TimelineEvent::Digit { digit, menu, .. } => (
                    "calls.key",
                    match menu {
                        Some(m) => format!("{digit} ({m})"),
                        None => digit,
                    },
                ),
                TimelineEvent::Step { node, what } => ("calls.step", format!("{node}: {what}")),
                TimelineEvent::Routing {
                    step,
                    specialist,
                    partner,
                    result,
                    ..
                } => (
                    "calls.routing",
                    [Some(step), specialist, partner, result]
                        .into_iter()
                        .flatten()
                        .collect::<Vec<_>>()
                        .join(" · "),
                ),
            };
            Line {
                time: clock(e.at_ms),
                kind,
                text,
            }
        })
        .collect();
    render(&CallPage {
        f: Frame::signed_in(&me, "/calls"),
        transport: r.transport.clone(),
        trunk: r.trunk.clone().unwrap_or_default(),
        row: Row {
            short: r.id.chars().take(8).collect(),
            time: clock(r.arrived_at),
            language: r.language.unwrap_or_default(),
            service: service_key(r.service.as_deref()),
            outcome: r.outcome.unwrap_or_default(),
            wait: secs(r.wait_ms),
            id: r.id,
        },
        timeline,
    })
}
