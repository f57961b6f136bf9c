//! What every page has: the words, the language, the signed-in user, the
//! navigation (from the table of pages) and the CSRF token of its forms.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use super::auth::SignedIn;
use super::i18n::{catalogue, Catalogue, Lang};
use super::pages::PAGES;

/// A link of the navigation.
#[derive(Debug, Clone)]
pub struct NavLink {
    pub href: &'static str,
    /// The catalogue key of its text.
    pub key: &'static str,
    pub current: bool,
}

/// What the frame of every page shows.
pub struct Frame {
    pub t: &'static Catalogue,
    pub lang: Lang,
    pub langs: [Lang; 3],
    /// The signed-in user's name.
    pub user: Option<String>,
    pub nav: Vec<NavLink>,
    /// A catalogue key said at the top of the page (what the last form did).
    pub notice: Option<&'static str>,
    /// The CSRF token of the page's forms.
    pub csrf: String,
}

impl Frame {
    /// The frame for a signed-in user on page `path`.
    pub fn signed_in(me: &SignedIn, path: &str) -> Frame {
        let role = me.session.caller.role;
        let nav = PAGES
            .iter()
            .filter(|p| p.nav.is_some() && p.roles.contains(&role))
            .map(|p| NavLink {
                href: p.path,
                key: p.nav.unwrap_or(""),
                current: p.path == path,
            })
            .collect();
        Frame {
            t: catalogue(me.session.lang),
            lang: me.session.lang,
            langs: Lang::ALL,
            user: Some(me.session.user.clone()),
            nav,
            notice: None,
            csrf: me.session.csrf.clone(),
        }
    }

    /// The frame before signing in.
    pub fn signed_out(lang: Lang, csrf: String) -> Frame {
        Frame {
            t: catalogue(lang),
            lang,
            langs: Lang::ALL,
            user: None,
            nav: Vec::new(),
            notice: None,
            csrf,
        }
    }
}

/// Render a template, or say plainly that it could not be.
pub fn render(page: &impl Template) -> Response {
    match page.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "a page could not be rendered");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be made",
            )
                .into_response()
        }
    }
}
