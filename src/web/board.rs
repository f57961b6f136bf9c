//! The coordinator's live board: the calls in progress by state (in the
//! menu, waiting with their place and time, talking to whom, transferring),
//! the queue of each service, and the specialists (available, on a call,
//! wrap-up, paused) with pause and resume. The page is made on the server;
//! `/board/events` sends the live part again, as server-sent events, when
//! it changes (checked every second), and a few lines of the page's own
//! script put it in place. Never a number.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use askama::Template;
use axum::extract::{Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;

use super::auth::SignedIn;
use super::frame::{render, Frame};
use super::i18n::{catalogue, Catalogue};
use crate::http::state::HttpState;
use crate::util::time::now_ms;

/// One call on the board.
pub struct CallRow {
    pub id: String,
    /// Catalogue key of the state.
    pub state: String,
    pub detail: String,
    pub language: String,
    pub service: String,
    pub secs: i64,
}

/// One specialist on the board.
pub struct SpecialistRow {
    pub id: String,
    pub name: String,
    /// Catalogue key of the state.
    pub state: String,
    pub paused: bool,
    pub calls: u32,
    /// Calls answered today (Asia/Almaty).
    pub today: u32,
    /// Catalogue keys of the alerts about this specialist now (a long
    /// call, an automatic break, the day's cap).
    pub alerts: Vec<String>,
}

/// The live part of the board.
#[derive(Template)]
#[template(path = "board_live.html")]
pub struct Live {
    pub t: &'static Catalogue,
    pub csrf: String,
    pub calls: Vec<CallRow>,
    pub queues: Vec<(String, usize)>,
    pub specialists: Vec<SpecialistRow>,
}

#[derive(Template)]
#[template(path = "board.html")]
struct BoardPage {
    f: Frame,
    live: String,
}

/// What the board shows now.
async fn live(state: &HttpState, me: &SignedIn) -> Live {
    let routed = state.calls.router.board().await;
    let now = now_ms();
    let mut calls = Vec::new();
    for c in state.calls.live.list() {
        let routing = routed
            .as_ref()
            .and_then(|r| r.calls.iter().find(|x| x.call.as_str() == c.id));
        let (state_key, detail) = match (c.state, routing) {
            (_, Some(r)) => match r.state {
                "connected" => (
                    "call.talking".to_string(),
                    r.specialist
                        .as_ref()
                        .map(|s| s.to_string())
                        .unwrap_or_default(),
                ),
                "queued" => (
                    "call.waiting".to_string(),
                    r.position.map(|p| format!("#{p}")).unwrap_or_default(),
                ),
                _ => ("call.ringing".to_string(), String::new()),
            },
            ("transferring", None) => (
                "call.transferring".to_string(),
                c.partner.clone().unwrap_or_default(),
            ),
            (s, None) => (format!("call.{s}"), c.menu.clone().unwrap_or_default()),
        };
        calls.push(CallRow {
            id: c.id.chars().take(8).collect(),
            state: state_key,
            detail,
            language: c.language.clone().unwrap_or_default(),
            service: c
                .service
                .as_deref()
                .map_or(String::new(), |s| format!("service.{s}")),
            secs: (now - c.since_ms).max(0) / 1000,
        });
    }
    let mut queues: Vec<(String, usize)> = Vec::new();
    if let Some(r) = &routed {
        for c in r.calls.iter().filter(|c| c.state == "queued") {
            let key = format!("service.{}", c.service.as_str());
            match queues.iter_mut().find(|(k, _)| *k == key) {
                Some((_, n)) => *n += 1,
                None => queues.push((key, 1)),
            }
        }
    }
    let specialists = routed
        .map(|r| {
            r.specialists
                .specialists
                .iter()
                .map(|s| SpecialistRow {
                    id: s.id.to_string(),
                    name: s.name.clone(),
                    state: format!("state.{}", s.state),
                    // A resume also ends an automatic break early.
                    paused: s.paused.is_some() || s.break_left_secs.is_some(),
                    calls: s.calls,
                    today: s.calls_today,
                    alerts: s
                        .alerts
                        .iter()
                        .map(|a| format!("alert.{}", a.as_str()))
                        .collect(),
                })
                .collect()
        })
        .unwrap_or_default();
    Live {
        t: catalogue(me.session.lang),
        csrf: me.session.csrf.clone(),
        calls,
        queues,
        specialists,
    }
}

/// `GET /board`.
pub async fn page(
    State(state): State<Arc<HttpState>>,
    Extension(me): Extension<SignedIn>,
) -> Response {
    let live = live(&state, &me).await.render().unwrap_or_default();
    render(&BoardPage {
        f: Frame::signed_in(&me, "/board"),
        live,
    })
}

/// `GET /board/events`: the live part again whenever it changes.
pub async fn events(
    State(state): State<Arc<HttpState>>,
    Extension(me): Extension<SignedIn>,
) -> Sse<impl futures_core::Stream<Item = Result<Event, Infallible>>> {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Event, Infallible>>(4);
    tokio::spawn(async move {
        let mut last = String::new();
        // Bounded: a board left open for a day is asked to reconnect.
        for _ in 0..86_400 {
            let html = live(&state, &me).await.render().unwrap_or_default();
            if html != last {
                let event = Event::default().event("board").data(html.clone());
                if tx.send(Ok(event)).await.is_err() {
                    return;
                }
                last = html;
            }
            if tx.is_closed() {
                return;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
    Sse::new(ReceiverStream(rx)).keep_alive(KeepAlive::default())
}

/// A channel's receiver as a stream.
struct ReceiverStream<T>(tokio::sync::mpsc::Receiver<T>);

impl<T> futures_core::Stream for ReceiverStream<T> {
    type Item = T;
    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<T>> {
        self.0.poll_recv(cx)
    }
}

/// `POST /board/specialists/{id}/pause`.
pub async fn pause(
    State(state): State<Arc<HttpState>>,
    Extension(me): Extension<SignedIn>,
    Path(id): Path<String>,
) -> Response {
    set_paused(&state, &me, &id, true).await
}

/// `POST /board/specialists/{id}/resume`.
pub async fn resume(
    State(state): State<Arc<HttpState>>,
    Extension(me): Extension<SignedIn>,
    Path(id): Path<String>,
) -> Response {
    set_paused(&state, &me, &id, false).await
}

async fn set_paused(state: &HttpState, me: &SignedIn, id: &str, paused: bool) -> Response {
    let reason = format!(
        "{} on the board by {}",
        if paused { "paused" } else { "resumed" },
        me.session.user
    );
    let _ = state.calls.router.set_paused(id, paused, &reason).await;
    Redirect::to("/board").into_response()
}
