//! The web pages of the coordinator and the specialists, on the same HTTP
//! server as the API: made on the server from templates checked at
//! compile time (askama), words from the message catalogues (Kazakh,
//! Russian, English), a style sheet and a few lines of script served from
//! the binary (no CDN), live parts by server-sent events.
//!
//! Layout: `i18n` (the catalogues), `users` (`[[user]]`, argon2id),
//! `sessions` (sans-IO: open, touch, end), `state` (what the pages share),
//! `cookies`, `auth` (CSRF, the page guard, sign-in and out), `pages` (the
//! table of pages with their roles), `routes` (its router), `frame` (what
//! every page has), and one module per page: `specialist`, `board`, `calls`, `reports`
//! (`local_time`: days in Almaty). What a
//! user may see and change is decided where the API's answers are decided
//! (`crate::follow_ups`, `store::follow_ups`), with the same audit log.
//! The centre's setup (`setup`) shows what the service reads and the
//! administrator reloads the configuration there, as over the API
//! (`crate::http::configuration`).

pub mod auth;
pub mod board;
pub mod calls;
pub mod cookies;
pub mod frame;
pub mod i18n;
pub mod local_time;
pub mod pages;
pub mod reports;
pub mod routes;
pub mod sessions;
pub mod setup;
pub mod specialist;
pub mod state;
pub mod users;

use std::net::SocketAddr;
use std::sync::Arc;

use askama::Template;
use axum::extract::{ConnectInfo, Form, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;

use auth::{LoginForm, LoginOutcome};
use frame::{render, Frame};
use i18n::Lang;

use crate::http::state::HttpState;

const STYLE: &str = include_str!("../../web/static/senim.css");
const BOARD_SCRIPT: &str = include_str!("../../web/static/board.js");

/// The open routes (sign-in, language, static files) and every page.
pub fn router(state: Arc<HttpState>) -> Router<Arc<HttpState>> {
    Router::new()
        .route("/", get(home))
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/lang", post(lang))
        .route("/static/senim.css", get(style))
        .route("/static/board.js", get(board_script))
        .merge(routes::router(state))
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    f: Frame,
    error: Option<&'static str>,
    no_users: bool,
}

/// `GET /`: the user's page, or the sign-in page.
async fn home(State(state): State<Arc<HttpState>>, headers: HeaderMap) -> Response {
    match state.web.session(&headers, std::time::Instant::now()) {
        Some((_, s)) => Redirect::to(auth::home_of(s.caller.role)).into_response(),
        None => Redirect::to("/login").into_response(),
    }
}

fn login_response(
    state: &HttpState,
    headers: &HeaderMap,
    error: Option<&'static str>,
    code: StatusCode,
) -> Response {
    let (csrf, set) = auth::pre_csrf(state, headers);
    let lang = auth::lang_of(headers, None);
    let mut response = render(&LoginPage {
        f: Frame::signed_out(lang, csrf),
        error,
        no_users: state.web.users().is_empty(),
    });
    *response.status_mut() = code;
    if let Some(cookie) = set {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

/// `GET /login`.
async fn login_page(State(state): State<Arc<HttpState>>, headers: HeaderMap) -> Response {
    if let Some((_, s)) = state.web.session(&headers, std::time::Instant::now()) {
        return Redirect::to(auth::home_of(s.caller.role)).into_response();
    }
    login_response(&state, &headers, None, StatusCode::OK)
}

/// `POST /login`.
async fn login(
    State(state): State<Arc<HttpState>>,
    peer: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    match auth::log_in(&state, &headers, peer.map(|axum::Extension(c)| c), form).await {
        LoginOutcome::In { cookie, home } => {
            let mut response = Redirect::to(home).into_response();
            response.headers_mut().append(header::SET_COOKIE, cookie);
            response
        }
        LoginOutcome::Refused(key) => {
            let code = if key == "login.expired" {
                StatusCode::FORBIDDEN
            } else {
                StatusCode::UNAUTHORIZED
            };
            login_response(&state, &headers, Some(key), code)
        }
    }
}

#[derive(Deserialize)]
struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

/// `POST /logout`.
async fn logout(
    State(state): State<Arc<HttpState>>,
    headers: HeaderMap,
    Form(form): Form<CsrfOnly>,
) -> Response {
    let now = std::time::Instant::now();
    if let Some((_, s)) = state.web.session(&headers, now) {
        if !auth::same_token(&form.csrf, &s.csrf) {
            return auth::refusal(&headers, Some(&s), StatusCode::FORBIDDEN, "refused.expired");
        }
    }
    let cookie = auth::log_out(&state, &headers);
    let mut response = Redirect::to("/login").into_response();
    response.headers_mut().append(header::SET_COOKIE, cookie);
    response
}

#[derive(Deserialize)]
struct LangForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    lang: String,
}

/// `POST /lang`: the language of the pages.
async fn lang(
    State(state): State<Arc<HttpState>>,
    headers: HeaderMap,
    Form(form): Form<LangForm>,
) -> Response {
    let Some(lang) = Lang::parse(&form.lang) else {
        return auth::refusal(&headers, None, StatusCode::BAD_REQUEST, "refused.language");
    };
    let back = headers
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| r.find("://").map(|i| &r[i + 3..]))
        .and_then(|r| r.find('/').map(|i| r[i..].to_string()))
        .filter(|p| p.starts_with('/') && !p.starts_with("//"))
        .unwrap_or_else(|| "/".into());
    match auth::set_lang(&state, &headers, &form.csrf, lang) {
        Ok(cookie) => {
            let mut response = Redirect::to(&back).into_response();
            if let Some(c) = cookie {
                response.headers_mut().append(header::SET_COOKIE, c);
            }
            response
        }
        Err(code) => auth::refusal(&headers, None, code, "refused.expired"),
    }
}

async fn style() -> Response {
    static_file(STYLE, "text/css; charset=utf-8")
}

async fn board_script() -> Response {
    static_file(BOARD_SCRIPT, "text/javascript; charset=utf-8")
}

fn static_file(body: &'static str, kind: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(kind)),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=3600"),
            ),
        ],
        body,
    )
        .into_response()
}
