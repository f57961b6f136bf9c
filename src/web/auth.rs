//! Signing in and out, the session cookie, the language, and the guard in
//! front of every page: a page needs a session whose role its route
//! allows, and every form posted needs the CSRF token of its session (or,
//! before signing in, of the browser's `senim_csrf` cookie).
//!
//! The session cookie is `HttpOnly`, `SameSite=Strict`, `Path=/`, and
//! `Secure` when Senim serves HTTPS or sits behind a TLS proxy. Wrong
//! passwords lock a user name, and the address they came from, out for a
//! while (the same tracker as the softphones' registrar).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use rand::RngCore;
use subtle::ConstantTimeEq;

pub use super::cookies::cookie;
use super::i18n::{self, Lang};
use super::sessions::Session;
use super::state::lock;
pub use super::state::{WebState, SESSION_COOKIE};
use crate::http::auth::Role;
use crate::http::state::HttpState;

/// The cookie that carries the forms' CSRF token before signing in.
pub const PRE_CSRF_COOKIE: &str = "senim_csrf";
/// The language chosen before signing in.
pub const LANG_COOKIE: &str = "senim_lang";
/// The largest form Senim reads.
const MAX_FORM_BYTES: usize = 64 * 1024;

/// Is the CSRF token `given` with a form the token `expected` (compared in
/// constant time)? An empty token is never right.
pub fn same_token(given: &str, expected: &str) -> bool {
    !given.is_empty() && bool::from(given.as_bytes().ct_eq(expected.as_bytes()))
}

/// 32 random bytes as 64 hex digits.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// The signed-in user of a page request (put in the request's extensions by
/// [`page_guard`]).
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub session: Session,
}

/// The language of a request: the session's, else the `senim_lang`
/// cookie's, else the browser's.
pub fn lang_of(headers: &HeaderMap, session: Option<&Session>) -> Lang {
    session.map(|s| s.lang).unwrap_or_else(|| {
        cookie(headers, LANG_COOKIE)
            .and_then(Lang::parse)
            .unwrap_or_else(|| {
                i18n::from_accept_language(
                    headers
                        .get(header::ACCEPT_LANGUAGE)
                        .and_then(|v| v.to_str().ok()),
                )
            })
    })
}

/// The guard state of a page route: which roles may open it.
#[derive(Clone)]
pub struct PageGuard {
    pub state: Arc<HttpState>,
    pub roles: &'static [Role],
}

/// A refusal in the words of the request's language: its status and the
/// catalogue key of its text, as a small page with a way back.
pub fn refusal(
    headers: &HeaderMap,
    session: Option<&Session>,
    code: StatusCode,
    key: &str,
) -> Response {
    let t = i18n::catalogue(lang_of(headers, session));
    let body = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><link rel=\"stylesheet\" href=\"/static/senim.css\"><title>Senim</title></head><body><main><p class=\"error\" role=\"alert\">{}</p><p><a href=\"/\">{}</a></p></main></body></html>",
        t.get(key),
        t.get("refused.back")
    );
    (code, axum::response::Html(body)).into_response()
}

/// In front of every page: no session, to the login page; a role the
/// route does not allow, 403; a form without its session's CSRF token,
/// 403. The session goes on in the request's extensions.
pub async fn page_guard(State(g): State<PageGuard>, request: Request, next: Next) -> Response {
    let now = Instant::now();
    let Some((_, session)) = g.state.web.session(request.headers(), now) else {
        if request.method() == Method::GET {
            return Redirect::to("/login").into_response();
        }
        return refusal(
            request.headers(),
            None,
            StatusCode::FORBIDDEN,
            "refused.signed_out",
        );
    };
    if !g.roles.contains(&session.caller.role) {
        tracing::warn!(
            user = %session.user,
            path = %request.uri().path(),
            "page refused: the user's role may not open it"
        );
        return refusal(
            request.headers(),
            Some(&session),
            StatusCode::FORBIDDEN,
            "refused.role",
        );
    }
    let mut request = if request.method() == Method::POST {
        match csrf_checked(request, &session).await {
            Ok(r) => r,
            Err(refused) => return refused,
        }
    } else {
        request
    };
    request.extensions_mut().insert(SignedIn { session });
    let mut response = next.run(request).await;
    // Pages hold personal data: never kept by a browser or a proxy.
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Read a posted form, refuse it unless its `csrf` field is `expected`,
/// and give the request back with the body it had.
async fn csrf_checked(request: Request, session: &Session) -> Result<Request, Response> {
    let expected = session.csrf.as_str();
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_FORM_BYTES)
        .await
        .map_err(|_| {
            refusal(
                &parts.headers,
                Some(session),
                StatusCode::PAYLOAD_TOO_LARGE,
                "refused.too_large",
            )
        })?;
    let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes).unwrap_or_default();
    let given = fields
        .iter()
        .find(|(k, _)| k == "csrf")
        .map(|(_, v)| v.as_str())
        .unwrap_or("");
    if !same_token(given, expected) {
        tracing::warn!(path = %parts.uri.path(), "form refused: no or wrong CSRF token");
        return Err(refusal(
            &parts.headers,
            Some(session),
            StatusCode::FORBIDDEN,
            "refused.expired",
        ));
    }
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

/// The login form's fields.
#[derive(serde::Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    pub csrf: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub password: String,
}

/// What a login attempt came to.
pub enum LoginOutcome {
    /// Signed in: the cookie to set and where to go.
    In {
        cookie: HeaderValue,
        home: &'static str,
    },
    /// Refused: the catalogue key of the message.
    Refused(&'static str),
}

/// The page a role lands on.
pub fn home_of(role: Role) -> &'static str {
    match role {
        Role::Admin | Role::Coordinator => "/board",
        Role::Specialist => "/me",
    }
}

/// Check a login: the pre-session CSRF token, the lock-out, the password
/// (off the async workers: argon2id is slow on purpose).
pub async fn log_in(
    state: &Arc<HttpState>,
    headers: &HeaderMap,
    peer: Option<ConnectInfo<SocketAddr>>,
    form: LoginForm,
) -> LoginOutcome {
    let pre = cookie(headers, PRE_CSRF_COOKIE).unwrap_or("");
    if !same_token(&form.csrf, pre) {
        return LoginOutcome::Refused("login.expired");
    }
    let name = form.name.trim().to_lowercase();
    let mut keys = vec![format!("user:{name}")];
    if let Some(ConnectInfo(addr)) = peer {
        keys.push(format!("ip:{}", addr.ip()));
    }
    let now = Instant::now();
    if state.web.locked(&keys, now) {
        tracing::warn!(user = %name, "web login refused: locked out after wrong passwords");
        return LoginOutcome::Refused("login.locked");
    }
    let verifier = state.clone();
    let (given_name, password) = (form.name.clone(), form.password);
    let user = tokio::task::spawn_blocking(move || {
        verifier
            .web
            .users()
            .verify(&given_name, &password)
            .map(|u| (u.caller.clone(), u.lang))
    })
    .await
    .ok()
    .flatten();
    let Some((caller, lang)) = user else {
        state.web.fail(&keys, now);
        let source = peer.map(|ConnectInfo(a)| a.ip().to_string());
        tracing::warn!(user = %name, source = source.as_deref().unwrap_or("?"), "web login refused: wrong name or password");
        return LoginOutcome::Refused("login.wrong");
    };
    state.web.clear(&keys, now);
    let lang = lang.unwrap_or_else(|| lang_of(headers, None));
    let id = random_token();
    let home = home_of(caller.role);
    lock(&state.web.sessions).open(&id, random_token(), caller.name.clone(), caller, lang, now);
    tracing::info!(user = %name, "signed in to the web pages");
    LoginOutcome::In {
        cookie: state.web.cookie(SESSION_COOKIE, &id, None),
        home,
    }
}

/// Log out: the session ends, the cookie is emptied.
pub fn log_out(state: &HttpState, headers: &HeaderMap) -> HeaderValue {
    if let Some(id) = cookie(headers, SESSION_COOKIE) {
        lock(&state.web.sessions).end(id);
    }
    state
        .web
        .cookie(SESSION_COOKIE, "", Some(Duration::from_secs(0)))
}

/// The pre-session CSRF token of a browser: its cookie's, or a new one to
/// set.
pub fn pre_csrf(state: &HttpState, headers: &HeaderMap) -> (String, Option<HeaderValue>) {
    match cookie(headers, PRE_CSRF_COOKIE) {
        Some(v) if v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()) => {
            (v.to_string(), None)
        }
        _ => {
            let token = random_token();
            let set = state.web.cookie(PRE_CSRF_COOKIE, &token, None);
            (token, Some(set))
        }
    }
}

/// Change the language: the session's, or before signing in the
/// `senim_lang` cookie. The form's CSRF token is checked here, since the
/// route is open to anyone.
pub fn set_lang(
    state: &HttpState,
    headers: &HeaderMap,
    csrf: &str,
    lang: Lang,
) -> Result<Option<HeaderValue>, StatusCode> {
    let now = Instant::now();
    if let Some((id, session)) = state.web.session(headers, now) {
        if !same_token(csrf, &session.csrf) {
            return Err(StatusCode::FORBIDDEN);
        }
        lock(&state.web.sessions).set_lang(&id, lang);
        return Ok(None);
    }
    let pre = cookie(headers, PRE_CSRF_COOKIE).unwrap_or("");
    if !same_token(csrf, pre) {
        return Err(StatusCode::FORBIDDEN);
    }
    Ok(Some(state.web.cookie(
        LANG_COOKIE,
        lang.code(),
        Some(Duration::from_secs(365 * 24 * 3600)),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::users::UserTable;

    #[test]
    fn cookies_are_found_among_others() {
        let mut h = HeaderMap::new();
        h.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; senim_session=abc"),
        );
        h.append(header::COOKIE, HeaderValue::from_static("senim_lang=ru"));
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie(&h, LANG_COOKIE), Some("ru"));
        assert_eq!(cookie(&h, "nope"), None);
        assert_eq!(lang_of(&h, None), Lang::Ru);
    }

    #[test]
    fn the_session_cookie_is_http_only_strict_and_secure_on_tls() {
        let plain = WebState::new(UserTable::default(), false);
        let c = plain.cookie(SESSION_COOKIE, "x", None);
        assert_eq!(
            c.to_str().unwrap_or(""),
            "senim_session=x; Path=/; HttpOnly; SameSite=Strict"
        );
        let tls = WebState::new(UserTable::default(), true);
        assert!(tls
            .cookie(SESSION_COOKIE, "x", None)
            .to_str()
            .unwrap_or("")
            .ends_with("; Secure"));
    }
}
