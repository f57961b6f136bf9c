//! The specialist's page: available or paused, the follow-up queue (the
//! open ones they may take, shown without anything personal, and their
//! own claims), and one follow-up: the number only once they claimed it,
//! the voice message in the browser, notes, click-to-call and completion.
//! Every read and change goes through the follow-up service
//! (`crate::follow_ups`), which decides who may see what and writes the
//! audit log, exactly as for the API.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Form, Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;
use serde::Deserialize;

use super::auth::SignedIn;
use super::frame::{render, Frame};
use crate::follow_ups::{FollowUpError, Shown};
use crate::http::personal::requester;
use crate::http::state::HttpState;
use crate::store::follow_ups::{FollowUp, FollowUpFilter, RESULTS};
use crate::util::time::now_ms;
use crate::web::i18n::{catalogue, Catalogue};
use crate::wrap_up::WrapUpError;

/// A follow-up in a list, as the page shows it.
pub struct Row {
    pub id: String,
    /// Catalogue key of the kind.
    pub kind: String,
    pub service: String,
    pub language: String,
    pub window: String,
    /// Minutes since it was left.
    pub age_min: i64,
}

impl Row {
    fn of(
        id: &str,
        kind: &str,
        service: Option<&str>,
        language: Option<&str>,
        window: Option<&str>,
        created_at: i64,
    ) -> Row {
        Row {
            id: id.to_string(),
            kind: format!("kind.{kind}"),
            service: service.map_or("service.none".into(), |s| format!("service.{s}")),
            language: language.unwrap_or("").to_string(),
            window: window.map_or("window.none".into(), |w| format!("window.{w}")),
            age_min: (now_ms() - created_at).max(0) / 60_000,
        }
    }
}

#[derive(Template)]
#[template(path = "me.html")]
struct MePage {
    f: Frame,
    /// Their calls today: time, language, service key, wait in seconds.
    today: Vec<(String, String, String, String)>,
    paused: bool,
    state: String,
    open: Vec<Row>,
    mine: Vec<Row>,
    /// The kinds of help to choose from (id, label) when the last call
    /// has no kind yet.
    wrap_up: Option<Vec<(String, String)>>,
    error: Option<&'static str>,
}

#[derive(Template)]
#[template(path = "follow_up.html")]
struct FollowUpPage {
    f: Frame,
    row: Row,
    status: String,
    number: Option<String>,
    number_unreadable: bool,
    has_recording: bool,
    recording_secs: i64,
    cut: bool,
    notes: Vec<String>,
    /// Each result and its catalogue key.
    results: Vec<(&'static str, String)>,
    done: bool,
    /// Shown in full: the specialist's own claim.
    mine: bool,
    error: Option<&'static str>,
}

fn results() -> Vec<(&'static str, String)> {
    RESULTS
        .iter()
        .map(|r| (*r, format!("result.{r}")))
        .collect()
}

/// The catalogue key of a follow-up service error.
fn error_key(e: &FollowUpError) -> &'static str {
    match e {
        FollowUpError::NotFound | FollowUpError::NoSpecialist => "error.not_found",
        FollowUpError::BadNote => "error.bad_note",
        FollowUpError::BadResult => "error.bad_result",
        FollowUpError::Conflict(_) => "error.conflict",
        FollowUpError::NotClaimed => "error.not_claimed",
        FollowUpError::Done => "error.done",
        FollowUpError::NoNumber | FollowUpError::NotACallback => "error.no_number",
        FollowUpError::CallUnderWay => "error.call_under_way",
        FollowUpError::SpecialistUnreachable => "error.unreachable",
        FollowUpError::Uncallable(_) | FollowUpError::NumberRefused(_) => "error.uncallable",
        _ => "error.general",
    }
}

/// `GET /me`.
pub async fn page(
    State(state): State<Arc<HttpState>>,
    Extension(me): Extension<SignedIn>,
) -> Response {
    me_page(&state, &me, None).await
}

async fn me_page(state: &HttpState, me: &SignedIn, error: Option<&'static str>) -> Response {
    me_page_with(state, me, None, error).await
}

/// The catalogue key of a wrap-up error, as the page says it.
fn wrap_up_error_key(e: &WrapUpError) -> &'static str {
    match e {
        WrapUpError::NoSpecialist | WrapUpError::NotTheirs | WrapUpError::UnknownSpecialist => {
            "error.not_found"
        }
        WrapUpError::UnknownKind(_) => "error.bad_kind",
        WrapUpError::NoCall => "error.no_call",
        WrapUpError::AlreadyGiven => "error.kind_given",
        WrapUpError::Stopping | WrapUpError::Store(_) => "error.general",
    }
}

/// The label of a wrap-up kind in the page's language: its text under
/// `help_kind`, else the id itself (a kind configured without a text).
fn kind_label(t: &Catalogue, id: &str) -> String {
    let key = format!("help_kind.{id}");
    let text = t.get(&key);
    if text == key {
        id.to_string()
    } else {
        text.to_string()
    }
}

/// The kinds to choose from, when the specialist's last call has none.
async fn wrap_up_choices(
    state: &HttpState,
    me: &SignedIn,
    own: &str,
) -> Option<Vec<(String, String)>> {
    match crate::wrap_up::uncoded_last_call(&state.api.store, own).await {
        Ok(Some(_)) => {}
        Ok(None) => return None,
        Err(e) => {
            tracing::warn!(error = %e, "the specialist's last call could not be read");
            return None;
        }
    }
    let kinds = crate::wrap_up::kinds(&state.calls).await.ok()?;
    let t = catalogue(me.session.lang);
    Some(
        kinds
            .into_iter()
            .map(|id| {
                let label = kind_label(t, &id);
                (id, label)
            })
            .collect(),
    )
}

async fn me_page_with(
    state: &HttpState,
    me: &SignedIn,
    notice: Option<&'static str>,
    error: Option<&'static str>,
) -> Response {
    let who = requester(&me.session.caller);
    let own = me.session.caller.specialist.clone().unwrap_or_default();
    let list = |status: &str| FollowUpFilter {
        status: Some(status.to_string()),
        kind: None,
        limit: 200,
    };
    let open = state.follow_ups.list(&who, &list("open")).await;
    let claimed = state.follow_ups.list(&who, &list("claimed")).await;
    let (open, claimed, error) = match (open, claimed) {
        (Ok(o), Ok(c)) => (o, c, error),
        _ => (Vec::new(), Vec::new(), Some("error.general")),
    };
    let row = |s: &Shown| match s {
        Shown::Full(f) => Row::of(
            &f.id,
            &f.kind,
            f.service.as_deref(),
            f.language.as_deref(),
            f.call_window.as_deref(),
            f.created_at,
        ),
        Shown::Summary(x) => Row::of(
            &x.id,
            &x.kind,
            x.service.as_deref(),
            x.language.as_deref(),
            x.call_window.as_deref(),
            x.created_at,
        ),
    };
    let mine = claimed
        .iter()
        .filter(|s| matches!(s, Shown::Full(f) if f.claimed_by.as_deref() == Some(own.as_str())))
        .map(row)
        .collect();
    let live = state.calls.router.snapshot().await;
    let status = live
        .as_ref()
        .and_then(|l| l.specialists.iter().find(|s| s.id.as_str() == own));
    let mut today = Vec::new();
    if let Some((from, to)) = super::local_time::day_bounds(&super::local_time::today()) {
        match crate::store::calls::calls_of_specialist(&state.api.store, &own, from, to).await {
            Ok(rows) => {
                today = rows
                    .into_iter()
                    .map(|r| {
                        (
                            super::local_time::clock(r.arrived_at),
                            r.language.unwrap_or_default(),
                            r.service.map_or(String::new(), |s| format!("service.{s}")),
                            r.wait_ms
                                .map_or(String::new(), |ms| format!("{:.0}", ms as f64 / 1000.0)),
                        )
                    })
                    .collect();
            }
            Err(e) => {
                tracing::warn!(error = %e, "the specialist's calls of today could not be read")
            }
        }
    }
    let wrap_up = wrap_up_choices(state, me, &own).await;
    let mut f = Frame::signed_in(me, "/me");
    f.notice = notice;
    render(&MePage {
        f,
        today,
        paused: status.is_some_and(|s| s.paused.is_some()),
        state: format!("state.{}", status.map_or("offline", |s| s.state)),
        open: open.iter().map(row).collect(),
        mine,
        wrap_up,
        error,
    })
}

/// `POST /me/pause`.
pub async fn pause(
    State(state): State<Arc<HttpState>>,
    Extension(me): Extension<SignedIn>,
) -> Response {
    set_paused(&state, &me, true).await
}

/// `POST /me/resume`.
pub async fn resume(
    State(state): State<Arc<HttpState>>,
    Extension(me): Extension<SignedIn>,
) -> Response {
    set_paused(&state, &me, false).await
}

async fn set_paused(state: &HttpState, me: &SignedIn, paused: bool) -> Response {
    let Some(id) = me.session.caller.specialist.as_deref() else {
        return me_page(state, me, Some("error.not_found")).await;
    };
    let reason = if paused {
        "paused on the web page"
    } else {
        "resumed on the web page"
    };
    match state.calls.router.set_paused(id, paused, reason).await {
        Some(true) => Redirect::to("/me").into_response(),
        _ => me_page(state, me, Some("error.general")).await,
    }
}

/// The wrap-up form.
#[derive(Deserialize)]
pub struct WrapUpForm {
    #[serde(default)]
    pub kind: String,
}

/// `POST /me/wrap-up`: the kind of help in the specialist's last call,
/// when their phone gave none; the page again, with a confirmation.
pub async fn wrap_up(
    State(state): State<Arc<HttpState>>,
    Extension(me): Extension<SignedIn>,
    Form(form): Form<WrapUpForm>,
) -> Response {
    let who = requester(&me.session.caller);
    let own = me.session.caller.specialist.clone().unwrap_or_default();
    match crate::wrap_up::give(&state.calls, &state.api.store, &who, &own, &form.kind).await {
        Ok(_) => me_page_with(&state, &me, Some("me.wrap_up_saved"), None).await,
        Err(e) => me_page(&state, &me, Some(wrap_up_error_key(&e))).await,
    }
}

/// `GET /follow-ups/{id}`.
pub async fn follow_up(
    State(state): State<Arc<HttpState>>,
    Extension(me): Extension<SignedIn>,
    Path(id): Path<String>,
) -> Response {
    follow_up_page(&state, &me, &id, None).await
}

async fn follow_up_page(
    state: &HttpState,
    me: &SignedIn,
    id: &str,
    error: Option<&'static str>,
) -> Response {
    let who = requester(&me.session.caller);
    let detail = match state.follow_ups.detail(&who, id).await {
        Ok(d) => d,
        Err(e) => {
            let key = error_key(&e);
            return (StatusCode::NOT_FOUND, me_page(state, me, Some(key)).await).into_response();
        }
    };
    let f = Frame::signed_in(me, "/me");
    let page = match &detail.follow_up {
        Shown::Full(fu) => full_page(f, fu, detail.number.clone(), detail.has_recording, error),
        Shown::Summary(s) => FollowUpPage {
            f,
            row: Row::of(
                &s.id,
                &s.kind,
                s.service.as_deref(),
                s.language.as_deref(),
                s.call_window.as_deref(),
                s.created_at,
            ),
            status: format!("status.{}", s.status),
            number: None,
            number_unreadable: false,
            has_recording: false,
            recording_secs: 0,
            cut: false,
            notes: Vec::new(),
            results: results(),
            done: s.status == "done",
            mine: false,
            error,
        },
    };
    render(&page)
}

fn full_page(
    f: Frame,
    fu: &FollowUp,
    number: Option<Option<String>>,
    has_recording: bool,
    error: Option<&'static str>,
) -> FollowUpPage {
    FollowUpPage {
        f,
        row: Row::of(
            &fu.id,
            &fu.kind,
            fu.service.as_deref(),
            fu.language.as_deref(),
            fu.call_window.as_deref(),
            fu.created_at,
        ),
        status: format!("status.{}", fu.status),
        number_unreadable: matches!(number, Some(None)),
        number: number.flatten(),
        has_recording,
        recording_secs: fu.duration_ms.unwrap_or(0) / 1000,
        cut: fu.cut.unwrap_or(false),
        notes: fu
            .notes
            .as_deref()
            .unwrap_or("")
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(str::to_string)
            .collect(),
        results: results(),
        done: fu.status == "done",
        mine: true,
        error,
    }
}

/// `GET /follow-ups/{id}/recording`: the voice message, for the claimant.
pub async fn recording(
    State(state): State<Arc<HttpState>>,
    Extension(me): Extension<SignedIn>,
    Path(id): Path<String>,
) -> Response {
    let who = requester(&me.session.caller);
    match state.follow_ups.recording(&who, &id).await {
        Ok(r) => {
            let mut response = crate::http::personal::file_body(r.file).into_response();
            let h = response.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static("audio/wav"),
            );
            if let Some(len) = r.len {
                if let Ok(v) = header::HeaderValue::from_str(&len.to_string()) {
                    h.insert(header::CONTENT_LENGTH, v);
                }
            }
            response
        }
        Err(_) => StatusCode::NOT_FOUND.into_response(),
    }
}

/// `POST /follow-ups/{id}/claim`: the specialist takes it.
pub async fn claim(
    State(state): State<Arc<HttpState>>,
    Extension(me): Extension<SignedIn>,
    Path(id): Path<String>,
) -> Response {
    let who = requester(&me.session.caller);
    let own = me.session.caller.specialist.clone();
    match state.follow_ups.claim(&who, &id, own).await {
        Ok(_) => Redirect::to(&format!("/follow-ups/{id}")).into_response(),
        Err(e) => me_page(&state, &me, Some(error_key(&e))).await,
    }
}

/// `POST /follow-ups/{id}/release`: give it back to the queue.
pub async fn release(
    State(state): State<Arc<HttpState>>,
    Extension(me): Extension<SignedIn>,
    Path(id): Path<String>,
) -> Response {
    let who = requester(&me.session.caller);
    match state.follow_ups.release(&who, &id).await {
        Ok(_) => Redirect::to("/me").into_response(),
        Err(e) => follow_up_page(&state, &me, &id, Some(error_key(&e))).await,
    }
}

/// A note's form.
#[derive(Deserialize)]
pub struct NoteForm {
    #[serde(default)]
    pub text: String,
}

/// `POST /follow-ups/{id}/notes`.
pub async fn note(
    State(state): State<Arc<HttpState>>,
    Extension(me): Extension<SignedIn>,
    Path(id): Path<String>,
    Form(form): Form<NoteForm>,
) -> Response {
    let who = requester(&me.session.caller);
    match state.follow_ups.add_note(&who, &id, &form.text).await {
        Ok(_) => Redirect::to(&format!("/follow-ups/{id}")).into_response(),
        Err(e) => follow_up_page(&state, &me, &id, Some(error_key(&e))).await,
    }
}

/// The completion form.
#[derive(Deserialize)]
pub struct CompleteForm {
    #[serde(default)]
    pub result: String,
    #[serde(default)]
    pub notes: String,
}

/// `POST /follow-ups/{id}/complete`.
pub async fn complete(
    State(state): State<Arc<HttpState>>,
    Extension(me): Extension<SignedIn>,
    Path(id): Path<String>,
    Form(form): Form<CompleteForm>,
) -> Response {
    let who = requester(&me.session.caller);
    let notes = Some(form.notes.as_str()).filter(|n| !n.trim().is_empty());
    match state
        .follow_ups
        .complete(&who, &id, &form.result, notes)
        .await
    {
        Ok(_) => Redirect::to(&format!("/follow-ups/{id}")).into_response(),
        Err(e) => follow_up_page(&state, &me, &id, Some(error_key(&e))).await,
    }
}

/// `POST /follow-ups/{id}/call`: ring the specialist, then the caller.
pub async fn call_back(
    State(state): State<Arc<HttpState>>,
    Extension(me): Extension<SignedIn>,
    Path(id): Path<String>,
) -> Response {
    let who = requester(&me.session.caller);
    match state.follow_ups.call_back(&who, &id).await {
        Ok(_) => Redirect::to(&format!("/follow-ups/{id}")).into_response(),
        Err(e) => follow_up_page(&state, &me, &id, Some(error_key(&e))).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::i18n::Lang;

    #[test]
    fn a_kind_without_a_text_is_named_by_its_id() {
        let t = catalogue(Lang::Ru);
        assert_eq!(
            kind_label(t, "crisis-intervention"),
            "Кризисное вмешательство"
        );
        assert_eq!(kind_label(t, "legal-aid"), "legal-aid");
    }

    /// The keys made from the domain's words have a text in every language.
    #[test]
    fn every_word_of_the_domain_has_a_text() {
        let mut keys: Vec<String> = Vec::new();
        keys.extend(RESULTS.iter().map(|r| format!("result.{r}")));
        keys.extend(
            senim_routing::specialists::Skill::ALL
                .iter()
                .map(|s| format!("service.{}", s.as_str())),
        );
        for k in ["callback", "voicemail"] {
            keys.push(format!("kind.{k}"));
        }
        for w in ["soon", "evening", "tomorrow", "none"] {
            keys.push(format!("window.{w}"));
        }
        for st in ["open", "claimed", "done"] {
            keys.push(format!("status.{st}"));
        }
        for st in [
            "available",
            "offline",
            "busy",
            "ringing",
            "paused",
            "wrap-up",
            "off-schedule",
        ] {
            keys.push(format!("state.{st}"));
        }
        for c in [
            "arriving",
            "menu",
            "routing",
            "transferring",
            "message",
            "talking",
            "waiting",
            "ringing",
        ] {
            keys.push(format!("call.{c}"));
        }
        let errors = [
            FollowUpError::NotFound,
            FollowUpError::BadNote,
            FollowUpError::Done,
            FollowUpError::CallUnderWay,
        ];
        keys.extend(errors.iter().map(|e| error_key(e).to_string()));
        keys.push("error.general".into());
        let wrap_up_errors = [
            WrapUpError::UnknownKind("tea".into()),
            WrapUpError::NoCall,
            WrapUpError::AlreadyGiven,
            WrapUpError::Stopping,
        ];
        keys.extend(
            wrap_up_errors
                .iter()
                .map(|e| wrap_up_error_key(e).to_string()),
        );
        keys.push("me.wrap_up_saved".into());
        keys.extend(
            senim_routing::limits::default_kinds()
                .iter()
                .map(|k| format!("help_kind.{}", k.id)),
        );
        for lang in Lang::ALL {
            let t = catalogue(lang);
            for k in &keys {
                assert!(t.keys().any(|x| x == k), "{}: no text for {k}", lang.code());
            }
        }
    }
}
