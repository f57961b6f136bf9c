//! The table of pages with the roles that may open each and their place
//! in the navigation. `web::routes` builds the router from it, as the API's
//! route table does, so no page can be routed without its roles.

use crate::http::auth::Role;

/// Which handler a page route runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handler {
    Board,
    BoardEvents,
    PauseFromBoard,
    ResumeFromBoard,
    Me,
    MePause,
    MeResume,
    MeWrapUp,
    FollowUp,
    Recording,
    Claim,
    Release,
    Note,
    Complete,
    CallBack,
    Calls,
    Call,
    Reports,
    ReportCsv,
    Setup,
    SetupReload,
}

/// One page or form target, with the roles that may use it.
#[derive(Debug, Clone, Copy)]
pub struct Page {
    pub method: &'static str,
    pub path: &'static str,
    pub roles: &'static [Role],
    /// The catalogue key of its link in the navigation, if it has one.
    pub nav: Option<&'static str>,
    pub handler: Handler,
}

const STAFF: &[Role] = &[Role::Admin, Role::Coordinator];
const SPECIALIST: &[Role] = &[Role::Specialist];
const ADMIN: &[Role] = &[Role::Admin];

/// Every page behind a session. The sign-in page, the language switch and
/// the style sheet are open (`web::router`).
pub const PAGES: &[Page] = &[
    Page {
        method: "GET",
        path: "/board",
        roles: STAFF,
        nav: Some("nav.board"),
        handler: Handler::Board,
    },
    Page {
        method: "GET",
        path: "/board/events",
        roles: STAFF,
        nav: None,
        handler: Handler::BoardEvents,
    },
    Page {
        method: "POST",
        path: "/board/specialists/{id}/pause",
        roles: STAFF,
        nav: None,
        handler: Handler::PauseFromBoard,
    },
    Page {
        method: "POST",
        path: "/board/specialists/{id}/resume",
        roles: STAFF,
        nav: None,
        handler: Handler::ResumeFromBoard,
    },
    Page {
        method: "GET",
        path: "/calls",
        roles: STAFF,
        nav: Some("nav.calls"),
        handler: Handler::Calls,
    },
    Page {
        method: "GET",
        path: "/calls/{id}",
        roles: STAFF,
        nav: None,
        handler: Handler::Call,
    },
    Page {
        method: "GET",
        path: "/reports",
        roles: STAFF,
        nav: Some("nav.reports"),
        handler: Handler::Reports,
    },
    Page {
        method: "GET",
        path: "/reports.csv",
        roles: STAFF,
        nav: None,
        handler: Handler::ReportCsv,
    },
    Page {
        method: "GET",
        path: "/me",
        roles: SPECIALIST,
        nav: Some("nav.me"),
        handler: Handler::Me,
    },
    Page {
        method: "POST",
        path: "/me/pause",
        roles: SPECIALIST,
        nav: None,
        handler: Handler::MePause,
    },
    Page {
        method: "POST",
        path: "/me/resume",
        roles: SPECIALIST,
        nav: None,
        handler: Handler::MeResume,
    },
    Page {
        method: "POST",
        path: "/me/wrap-up",
        roles: SPECIALIST,
        nav: None,
        handler: Handler::MeWrapUp,
    },
    Page {
        method: "GET",
        path: "/follow-ups/{id}",
        roles: SPECIALIST,
        nav: None,
        handler: Handler::FollowUp,
    },
    Page {
        method: "GET",
        path: "/follow-ups/{id}/recording",
        roles: SPECIALIST,
        nav: None,
        handler: Handler::Recording,
    },
    Page {
        method: "POST",
        path: "/follow-ups/{id}/claim",
        roles: SPECIALIST,
        nav: None,
        handler: Handler::Claim,
    },
    Page {
        method: "POST",
        path: "/follow-ups/{id}/release",
        roles: SPECIALIST,
        nav: None,
        handler: Handler::Release,
    },
    Page {
        method: "POST",
        path: "/follow-ups/{id}/notes",
        roles: SPECIALIST,
        nav: None,
        handler: Handler::Note,
    },
    Page {
        method: "POST",
        path: "/follow-ups/{id}/complete",
        roles: SPECIALIST,
        nav: None,
        handler: Handler::Complete,
    },
    Page {
        method: "POST",
        path: "/follow-ups/{id}/call",
        roles: SPECIALIST,
        nav: None,
        handler: Handler::CallBack,
    },
    Page {
        method: "GET",
        path: "/setup",
        roles: STAFF,
        nav: Some("nav.setup"),
        handler: Handler::Setup,
    },
    Page {
        method: "POST",
        path: "/setup/reload",
        roles: ADMIN,
        nav: None,
        handler: Handler::SetupReload,
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_page_names_its_roles_and_no_page_is_routed_twice() {
        let mut seen = std::collections::BTreeSet::new();
        for p in PAGES {
            assert!(!p.roles.is_empty(), "{}", p.path);
            assert!(seen.insert((p.method, p.path)), "{} {}", p.method, p.path);
        }
    }
}
