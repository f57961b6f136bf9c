//! The centre's setup, for the coordinator and the administrator: the
//! dialplan in service and its last load or reload (with the errors of a
//! refused one, by line and column, as `GET /dialplan` gives them), the
//! trunks and their registration (as `GET /api/v1/trunks`, never a
//! password), the specialists' softphone registrations as counts, and the
//! partner directory: how each partner is reached (the kind only) and
//! whether its details were confirmed. The administrator also reloads the
//! configuration from here (`POST /setup/reload`): the same reload and
//! audit entry as `POST /config/reload`, its answer shown on the page.
//!
//! What the page shows is made by the pure functions below from what the
//! service holds (tested at the end); the two handlers only gather it.

use std::collections::BTreeMap;
use std::sync::Arc;

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use chrono::{DateTime, Utc};
use chrono_tz::Asia::Almaty;
use senim_call::trunk::TrunkReport;
use senim_routing::partners::{Contact, Partner, PartnerDirectory};
use senim_routing::specialists::{Specialist, SpecialistContact};

use super::auth::SignedIn;
use super::frame::{render, Frame};
use super::i18n::{catalogue, Catalogue, Lang};
use crate::http::auth::Role;
use crate::http::configuration::{reload_audited, status_of};
use crate::http::state::HttpState;
use crate::plan::PlanStatus;
use crate::reload::answer::ConfigReload;
use crate::util::time::rfc3339;

/// A moment as the page shows it: local time in Almaty, and RFC 3339 for
/// the `<time>` element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct When {
    pub iso: String,
    pub local: String,
}

impl When {
    /// `ms` (Unix epoch milliseconds) in Asia/Almaty.
    pub fn of(ms: i64) -> When {
        When {
            iso: rfc3339(ms),
            local: DateTime::<Utc>::from_timestamp_millis(ms)
                .map(|t| {
                    t.with_timezone(&Almaty)
                        .format("%Y-%m-%d %H:%M:%S")
                        .to_string()
                })
                .unwrap_or_default(),
        }
    }
}

/// One message of a load or reload, with its place when it names one:
/// `file:line:column: severity: message` (the dialplan's), `file:line:
/// message` (a data file's) or plain text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub file: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub warning: bool,
    pub message: String,
}

impl Finding {
    /// Read the place and severity back from a message's text.
    pub fn parse(text: &str) -> Finding {
        let (file, line, column, rest) = match place(text) {
            Some(p) => (
                &text[..p.file_ends],
                Some(p.line),
                p.column,
                &text[p.message_at..],
            ),
            None => ("", None, None, text),
        };
        let rest = rest.trim_start();
        let (warning, message) = if let Some(m) = rest.strip_prefix("warning: ") {
            (true, m)
        } else {
            (false, rest.strip_prefix("error: ").unwrap_or(rest))
        };
        Finding {
            file: file.to_string(),
            line,
            column,
            warning,
            message: message.to_string(),
        }
    }
}

/// Where a message names its place (byte offsets into its text).
struct Place {
    file_ends: usize,
    line: usize,
    column: Option<usize>,
    message_at: usize,
}

/// The first `:line:column:` or `:line:` (followed by a space) in `text`.
fn place(text: &str) -> Option<Place> {
    let digits_at = |from: usize| -> Option<(usize, usize)> {
        let tail = text.get(from..)?;
        let n = tail.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return None;
        }
        tail[..n].parse().ok().map(|v| (v, from + n))
    };
    // A file's name ends in a letter (`plan.xml`, `senim.toml`): a colon
    // after a digit is a time (`12:30`), and `: ` ends the first part.
    let first_part = text.find(": ").map_or(text.len(), |i| i + 1);
    let after_name = |at: usize| {
        text[..at]
            .chars()
            .next_back()
            .is_some_and(|c| !c.is_ascii_digit())
    };
    for (at, _) in text
        .match_indices(':')
        .filter(|(at, _)| *at > 0 && *at < first_part && after_name(*at))
    {
        let Some((line, end)) = digits_at(at + 1) else {
            continue;
        };
        if text.get(end..end + 1) != Some(":") {
            continue;
        }
        if let Some((column, end2)) = digits_at(end + 1) {
            if text.get(end2..end2 + 1) == Some(":") {
                return Some(Place {
                    file_ends: at,
                    line,
                    column: Some(column),
                    message_at: end2 + 1,
                });
            }
        } else if text.get(end + 1..end + 2) == Some(" ") {
            return Some(Place {
                file_ends: at,
                line,
                column: None,
                message_at: end + 1,
            });
        }
    }
    None
}

/// The catalogue's word for `value` in `group` (`setup.trunk_state` and
/// `up`), or the value itself when the catalogue has none.
fn word(t: &Catalogue, group: &str, value: &str) -> String {
    let key = key_of(group, value);
    let text = t.get(&key);
    if text == key {
        value.to_string()
    } else {
        text.to_string()
    }
}

/// The catalogue key of `value` in `group`: `setup.trigger.file_change`.
fn key_of(group: &str, value: &str) -> String {
    format!("{group}.{}", value.to_ascii_lowercase().replace(' ', "_"))
}

/// The dialplan in service and its last load or reload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialplanView {
    pub file: String,
    pub version: String,
    pub loaded_at: When,
    pub reloads: u64,
    pub last_attempt: When,
    pub last_ok: bool,
    pub trigger: String,
    /// The errors of a refused reload, or the warnings of an accepted one.
    pub findings: Vec<Finding>,
}

impl DialplanView {
    pub fn of(status: &PlanStatus, t: &Catalogue) -> DialplanView {
        DialplanView {
            file: status.file.clone(),
            version: status.version.clone(),
            loaded_at: When::of(status.loaded_at_ms),
            reloads: status.reloads,
            last_attempt: When::of(status.last_attempt_at_ms),
            last_ok: status.last_ok,
            trigger: word(t, "setup.trigger", &status.last_trigger),
            findings: status
                .last_messages
                .iter()
                .map(|m| Finding::parse(m))
                .collect(),
        }
    }
}

/// The answer to a reload of the configuration, as the page says it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReloadView {
    /// `applied`, `restart` (applied, some changes need a restart),
    /// `refused`, or `unfinished` (no answer came).
    pub outcome: &'static str,
    pub origin: String,
    pub at: Option<When>,
    pub applied: Vec<String>,
    pub restart: Vec<String>,
    pub errors: Vec<Finding>,
    pub warnings: Vec<Finding>,
}

impl ReloadView {
    pub fn of(answer: &ConfigReload) -> ReloadView {
        let outcome = match (answer.accepted, answer.restart.is_empty()) {
            (false, _) => "refused",
            (true, true) => "applied",
            (true, false) => "restart",
        };
        ReloadView {
            outcome,
            origin: answer.origin.clone(),
            at: Some(When::of(answer.finished_at_ms)),
            applied: answer.applied.clone(),
            restart: answer.restart.clone(),
            errors: answer.errors.iter().map(|e| Finding::parse(e)).collect(),
            warnings: answer.warnings.iter().map(|w| Finding::parse(w)).collect(),
        }
    }

    /// A reload that gave no answer (see the log).
    pub fn unfinished() -> ReloadView {
        ReloadView {
            outcome: "unfinished",
            origin: String::new(),
            at: None,
            applied: Vec::new(),
            restart: Vec::new(),
            errors: Vec::new(),
            warnings: Vec::new(),
        }
    }
}

/// What a trunk's row is made of: what `GET /api/v1/trunks` reads.
pub struct TrunkFacts<'a> {
    pub id: &'a str,
    pub address: String,
    pub transport: &'static str,
    pub register: bool,
    pub report: TrunkReport,
    pub active_calls: u32,
    pub max_calls: Option<u32>,
}

/// One trunk on the page; never a user name or password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrunkRow {
    pub id: String,
    pub address: String,
    pub transport: String,
    /// `up`, `down`, `unknown` or `unprobed`, for the row's `data-state`.
    pub state_code: String,
    pub state: String,
    pub since: Option<When>,
    /// `None`: Senim does not register to this trunk.
    pub registration: Option<String>,
    pub registered_until: Option<When>,
    pub last_failure: Option<String>,
    pub last_failure_at: Option<When>,
    pub calls: String,
}

impl TrunkRow {
    pub fn of(facts: TrunkFacts<'_>, t: &Catalogue) -> TrunkRow {
        let r = facts.report;
        TrunkRow {
            id: facts.id.to_string(),
            address: facts.address,
            transport: facts.transport.to_ascii_uppercase(),
            state: word(t, "setup.trunk_state", &r.state),
            state_code: r.state,
            since: r.since_ms.map(When::of),
            registration: facts.register.then(|| {
                word(
                    t,
                    "setup.registration",
                    r.registration.as_deref().unwrap_or("unregistered"),
                )
            }),
            registered_until: r.registered_until_ms.map(When::of),
            last_failure: r.last_failure,
            last_failure_at: r.last_failure_ms.map(When::of),
            calls: match facts.max_calls {
                Some(max) => format!("{} / {max}", facts.active_calls),
                None => facts.active_calls.to_string(),
            },
        }
    }
}

/// One specialist's phone: its kind, and for a softphone how many
/// registrations it has (never an address).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneRow {
    pub id: String,
    pub name: String,
    pub contact: String,
    /// `None`: not a softphone (a fixed URI or a number, always reachable).
    pub registered: Option<usize>,
}

/// The specialists' phones and how many softphones are registered.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Phones {
    pub rows: Vec<PhoneRow>,
    pub softphones: usize,
    /// Softphones with at least one registration.
    pub registered: usize,
}

impl Phones {
    /// `counts`: registrations per softphone user name (the registrar's).
    pub fn of<'a>(
        specialists: impl Iterator<Item = &'a Specialist>,
        counts: &BTreeMap<String, usize>,
        t: &Catalogue,
    ) -> Phones {
        let mut out = Phones::default();
        for s in specialists {
            let (kind, registered) = match &s.contact {
                SpecialistContact::Registered { username, .. } => {
                    let n = counts.get(username).copied().unwrap_or(0);
                    out.softphones += 1;
                    if n > 0 {
                        out.registered += 1;
                    }
                    ("softphone", Some(n))
                }
                SpecialistContact::Uri(_) => ("uri", None),
                SpecialistContact::Number(_) => ("number", None),
            };
            out.rows.push(PhoneRow {
                id: s.id.to_string(),
                name: s.name.clone(),
                contact: word(t, "setup.contact", kind),
                registered,
            });
        }
        out
    }
}

/// What stands for a number or an address left out of a text.
const LEFT_OUT: &str = "…";

/// `text` (a partner's `source` or `notes`) without the numbers and SIP
/// addresses it may quote: a run of digits (with spaces, `-`, `.`,
/// brackets, a leading `+`) holding five digits or more, other than a date
/// (`2026-11-25`), and any `sip:`/`sips:` word, each become `…`.
pub fn without_contacts(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let rest: String = chars[i..chars.len().min(i + 5)].iter().collect();
        let rest = rest.to_ascii_lowercase();
        if rest.starts_with("sip:") || rest.starts_with("sips:") {
            while i < chars.len() && !chars[i].is_whitespace() && !matches!(chars[i], ',' | ';') {
                i += 1;
            }
            out.push_str(LEFT_OUT);
            continue;
        }
        if c.is_ascii_digit() || (c == '+' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) {
            let mut end = i + 1;
            while end < chars.len()
                && (chars[end].is_ascii_digit()
                    || matches!(chars[end], ' ' | '-' | '.' | '(' | ')'))
            {
                end += 1;
            }
            // A run ends at its last digit or closing bracket.
            while end > i && !(chars[end - 1].is_ascii_digit() || chars[end - 1] == ')') {
                end -= 1;
            }
            let run: String = chars[i..end].iter().collect();
            let digits = run.chars().filter(char::is_ascii_digit).count();
            if digits >= 5 && !is_date(&run) {
                out.push_str(LEFT_OUT);
            } else {
                out.push_str(&run);
            }
            i = end;
            continue;
        }
        out.push(c);
        i += 1;
    }
    out
}

/// `YYYY-MM-DD`, possibly followed by a bracket.
fn is_date(run: &str) -> bool {
    let run = run.trim_end_matches(')');
    chrono::NaiveDate::parse_from_str(run, "%Y-%m-%d").is_ok()
}

/// One partner on the page: how it is reached as a kind only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartnerRow {
    pub id: String,
    pub name: String,
    /// The name's language when it is not the page's (English pages show
    /// the Russian name).
    pub name_lang: Option<&'static str>,
    pub services: Vec<String>,
    pub languages: Vec<String>,
    /// E.g. "SIP address", "number × 2".
    pub reached: Vec<String>,
    /// The date its details were confirmed; `None`: not confirmed.
    pub verified: Option<String>,
    pub source: String,
    pub notes: String,
}

impl PartnerRow {
    pub fn of(p: &Partner, lang: Lang, t: &Catalogue) -> PartnerRow {
        let (name, name_lang) = match lang {
            Lang::Kk => (p.name_kk(), None),
            Lang::Ru => (p.name_ru(), None),
            Lang::En => (p.name_ru(), Some("ru")),
        };
        let uris = p
            .contacts()
            .iter()
            .filter(|c| matches!(c, Contact::Uri(_)))
            .count();
        let numbers = p.contacts().len() - uris;
        let reached = [("uri", uris), ("number", numbers)]
            .into_iter()
            .filter(|(_, n)| *n > 0)
            .map(|(kind, n)| {
                let w = word(t, "setup.contact", kind);
                if n > 1 {
                    format!("{w} × {n}")
                } else {
                    w
                }
            })
            .collect();
        PartnerRow {
            id: p.id().to_string(),
            name: name.to_string(),
            name_lang,
            services: p
                .services()
                .iter()
                .map(|s| word(t, "setup.services", s))
                .collect(),
            languages: p.languages().to_vec(),
            reached,
            verified: p.verified().date().map(|d| d.to_string()),
            source: without_contacts(p.source()),
            notes: without_contacts(p.notes()),
        }
    }
}

/// The directory as a whole: where it comes from, when it was checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryView {
    pub source: String,
    pub verified: Option<String>,
    pub partners: Vec<PartnerRow>,
    /// Partners whose details were confirmed.
    pub confirmed: usize,
}

impl DirectoryView {
    pub fn of(dir: &PartnerDirectory, lang: Lang, t: &Catalogue) -> DirectoryView {
        let partners: Vec<PartnerRow> = dir.iter().map(|p| PartnerRow::of(p, lang, t)).collect();
        DirectoryView {
            source: without_contacts(dir.source()),
            verified: dir.verified().date().map(|d| d.to_string()),
            confirmed: partners.iter().filter(|p| p.verified.is_some()).count(),
            partners,
        }
    }
}

#[derive(Template)]
#[template(path = "setup.html")]
struct SetupPage {
    f: Frame,
    /// The administrator may reload the configuration.
    admin: bool,
    answer: Option<ReloadView>,
    plan: DialplanView,
    trunks: Vec<TrunkRow>,
    phones: Phones,
    directory: DirectoryView,
}

/// The page, with the answer of a reload just made.
fn show(
    state: &HttpState,
    me: &SignedIn,
    answer: Option<ReloadView>,
    code: StatusCode,
) -> Response {
    let lang = me.session.lang;
    let t = catalogue(lang);
    let config = state.calls.config();
    let trunks = config
        .outbound
        .trunks
        .iter()
        .map(|tr| {
            TrunkRow::of(
                TrunkFacts {
                    id: &tr.id,
                    address: tr.address.to_string(),
                    transport: tr.transport.as_str(),
                    register: tr.register,
                    report: tr.load.report(),
                    active_calls: tr.load.active(),
                    max_calls: tr.max_calls,
                },
                t,
            )
        })
        .collect();
    let counts = state.calls.registrations.counts();
    let mut response = render(&SetupPage {
        f: Frame::signed_in(me, "/setup"),
        admin: me.session.caller.role == Role::Admin,
        answer,
        plan: DialplanView::of(&state.calls.plans.status(), t),
        trunks,
        phones: Phones::of(config.specialists.iter(), &counts, t),
        directory: DirectoryView::of(&config.partners, lang, t),
    });
    if response.status() == StatusCode::OK {
        *response.status_mut() = code;
    }
    response
}

/// `GET /setup`.
pub async fn page(
    State(state): State<Arc<HttpState>>,
    Extension(me): Extension<SignedIn>,
) -> Response {
    show(&state, &me, None, StatusCode::OK)
}

/// `POST /setup/reload` (administrators, by the table of pages): reload the
/// configuration as `POST /config/reload` does, audited with the user's
/// name, and show the page with the answer.
pub async fn reload(
    State(state): State<Arc<HttpState>>,
    Extension(me): Extension<SignedIn>,
) -> Response {
    let (answer, code) = match reload_audited(&state, &me.session.caller).await {
        Ok(answer) => (ReloadView::of(&answer), status_of(&answer)),
        Err(e) => {
            tracing::error!(error = %e, user = %me.session.user, "the configuration reload did not finish");
            (ReloadView::unfinished(), StatusCode::INTERNAL_SERVER_ERROR)
        }
    };
    show(&state, &me, Some(answer), code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn a_dialplan_error_gives_its_file_line_and_column() {
        let f = Finding::parse("/etc/senim/plan.xml:12:5: error: menu \"main\": no such node");
        assert_eq!(f.file, "/etc/senim/plan.xml");
        assert_eq!((f.line, f.column), (Some(12), Some(5)));
        assert!(!f.warning);
        assert_eq!(f.message, "menu \"main\": no such node");

        let w = Finding::parse("plan.xml:3:1: warning: transfer \"t\": by number only");
        assert!(w.warning);
        assert_eq!((w.line, w.column), (Some(3), Some(1)));

        // A data file names a line only; a path may hold a colon.
        let d = Finding::parse("/srv/a:b/partners.toml:7: partner #2 `x`, key `number`: bad");
        assert_eq!(d.file, "/srv/a:b/partners.toml");
        assert_eq!((d.line, d.column), (Some(7), None));
        assert_eq!(d.message, "partner #2 `x`, key `number`: bad");

        // The configuration's own messages.
        let c = Finding::parse("/etc/senim/senim.toml:3:1: unknown field `colour`");
        assert_eq!((c.line, c.column), (Some(3), Some(1)));
        assert_eq!(c.message, "unknown field `colour`");

        // No place: the whole text is the message.
        let p = Finding::parse("senim.toml: key `user`: a name is used twice");
        assert_eq!((p.file.as_str(), p.line), ("", None));
        assert_eq!(p.message, "senim.toml: key `user`: a name is used twice");
        let times = Finding::parse("at 12:30: nothing");
        assert_eq!(times.line, None);
    }

    #[test]
    fn the_dialplan_status_of_a_refused_reload_lists_its_errors() {
        let t = catalogue(Lang::En);
        let status = PlanStatus {
            file: "plan.xml".into(),
            version: "a1b2c3d4".into(),
            loaded_at_ms: 1_764_028_800_000,
            reloads: 2,
            last_attempt_at_ms: 1_764_032_400_000,
            last_ok: false,
            last_trigger: "file change".into(),
            last_messages: vec!["plan.xml:4:9: error: bad".into()],
        };
        let v = DialplanView::of(&status, t);
        assert_eq!(v.version, "a1b2c3d4");
        // Midnight UTC is 05:00 in Almaty.
        assert_eq!(v.loaded_at.local, "2025-11-25 05:00:00");
        assert_eq!(v.loaded_at.iso, "2025-11-25T00:00:00.000Z");
        assert!(!v.last_ok);
        assert_eq!(v.trigger, "a change of the file");
        assert_eq!(v.findings.len(), 1);
        assert_eq!(
            (v.findings[0].line, v.findings[0].column),
            (Some(4), Some(9))
        );
        // A trigger the catalogue does not know is shown as it is.
        let other = PlanStatus {
            last_trigger: "something new".into(),
            ..status
        };
        assert_eq!(DialplanView::of(&other, t).trigger, "something new");
    }

    fn answer(accepted: bool, restart: &[&str]) -> ConfigReload {
        ConfigReload {
            pid: 1,
            seq: 2,
            trigger: "HTTP".into(),
            origin: "/etc/senim/senim.toml".into(),
            started_at_ms: 0,
            finished_at_ms: 1,
            accepted,
            applied: vec!["specialists: dana added".into()],
            restart: restart.iter().map(|r| r.to_string()).collect(),
            errors: if accepted {
                Vec::new()
            } else {
                vec!["/etc/senim/senim.toml:3:1: unknown field `colour`".into()]
            },
            warnings: Vec::new(),
        }
    }

    #[test]
    fn a_reload_is_applied_needs_a_restart_or_is_refused() {
        assert_eq!(ReloadView::of(&answer(true, &[])).outcome, "applied");
        let r = ReloadView::of(&answer(true, &["sip.listen changed"]));
        assert_eq!(r.outcome, "restart");
        assert_eq!(r.restart, ["sip.listen changed"]);
        let refused = ReloadView::of(&answer(false, &[]));
        assert_eq!(refused.outcome, "refused");
        assert_eq!(
            (refused.errors[0].line, refused.errors[0].column),
            (Some(3), Some(1))
        );
        assert_eq!(ReloadView::unfinished().outcome, "unfinished");
    }

    #[test]
    fn a_trunk_shows_its_state_and_registration_never_a_secret() {
        let t = catalogue(Lang::Ru);
        let row = TrunkRow::of(
            TrunkFacts {
                id: "provider",
                address: "192.0.2.1:5060".into(),
                transport: "udp",
                register: true,
                report: TrunkReport {
                    state: "up".into(),
                    since_ms: Some(0),
                    registration: Some("registered".into()),
                    registered_until_ms: Some(3_600_000),
                    ..TrunkReport::default()
                },
                active_calls: 1,
                max_calls: Some(10),
            },
            t,
        );
        assert_eq!(row.state_code, "up");
        assert_eq!(row.state, t.get("setup.trunk_state.up"));
        assert_eq!(
            row.registration.as_deref(),
            Some(t.get("setup.registration.registered"))
        );
        assert_eq!(row.calls, "1 / 10");
        assert_eq!(row.transport, "UDP");
        let quiet = TrunkRow::of(
            TrunkFacts {
                id: "second",
                address: "192.0.2.2:5060".into(),
                transport: "tls",
                register: false,
                report: TrunkReport {
                    state: "unprobed".into(),
                    ..TrunkReport::default()
                },
                active_calls: 0,
                max_calls: None,
            },
            t,
        );
        assert_eq!(quiet.registration, None);
        assert_eq!(quiet.calls, "0");
    }

    #[test]
    fn softphones_are_counted_without_their_addresses() {
        let t = catalogue(Lang::En);
        let soft = |id: &str| {
            Specialist::new(
                id,
                id,
                &[],
                &["kk"],
                SpecialistContact::Registered {
                    username: id.into(),
                    password: senim_routing::specialists::Password::new("a long password"),
                },
            )
        };
        let list = [
            soft("aigerim"),
            soft("dana"),
            Specialist::new(
                "erlan",
                "Erlan",
                &[],
                &["ru"],
                SpecialistContact::Number("+77011234567".into()),
            ),
        ];
        let counts = BTreeMap::from([("aigerim".to_string(), 2)]);
        let phones = Phones::of(list.iter(), &counts, t);
        assert_eq!((phones.softphones, phones.registered), (2, 1));
        assert_eq!(phones.rows[0].registered, Some(2));
        assert_eq!(phones.rows[1].registered, Some(0));
        assert_eq!(phones.rows[2].registered, None);
        assert_eq!(phones.rows[2].contact, t.get("setup.contact.number"));
        let shown = format!("{phones:?}");
        assert!(!shown.contains("+7701") && !shown.contains("a long password"));
    }

    const DIRECTORY: &str = r#"source = "the centre's own list"
verified = "2026-11-25"

[[partner]]
id = "crisis"
name = { kk = "Дағдарыс орталығы", ru = "Кризисный центр" }
uri = "sip:crisis@partner.example"
number = ["+77232771922", "+77714451144"]
languages = ["kk", "ru"]
services = ["crisis", "new-kind"]
source = "called on 2026-11-25"
verified = "2026-11-25"

[[partner]]
id = "helpline-150"
name = { kk = "Сенім телефоны 150", ru = "Телефон доверия 150" }
number = "150"
languages = ["kk"]
services = ["children"]
source = "press"
verified = false
notes = "confirm the hours"
"#;

    #[test]
    fn partners_show_how_they_are_reached_as_a_kind_and_whether_confirmed() {
        let dir = PartnerDirectory::from_toml_str(DIRECTORY, Path::new("partners.toml"))
            .expect("directory");
        let en = catalogue(Lang::En);
        let v = DirectoryView::of(&dir, Lang::En, en);
        assert_eq!(v.verified.as_deref(), Some("2026-11-25"));
        assert_eq!(v.confirmed, 1);
        let crisis = &v.partners[0];
        assert_eq!(crisis.name, "Кризисный центр");
        assert_eq!(crisis.name_lang, Some("ru"));
        assert_eq!(
            crisis.reached,
            [
                en.get("setup.contact.uri").to_string(),
                format!("{} × 2", en.get("setup.contact.number"))
            ]
        );
        assert_eq!(
            crisis.services,
            [en.get("setup.services.crisis"), "new-kind"]
        );
        assert_eq!(crisis.verified.as_deref(), Some("2026-11-25"));
        let line = &v.partners[1];
        assert_eq!(line.verified, None);
        assert_eq!(line.notes, "confirm the hours");
        let shown = format!("{v:?}");
        assert!(!shown.contains("7232771922") && !shown.contains("partner.example"));
        let kk = DirectoryView::of(&dir, Lang::Kk, catalogue(Lang::Kk));
        assert_eq!(kk.partners[0].name, "Дағдарыс орталығы");
        assert_eq!(kk.partners[0].name_lang, None);
    }

    #[test]
    fn numbers_and_addresses_are_left_out_of_sources_and_notes() {
        assert_eq!(
            without_contacts("seed document (2021): 8 7232 77-19-22, +7 771 445 11 44"),
            "seed document (2021): …, …"
        );
        assert_eq!(
            without_contacts("26-68-92 (Oskemen, area code 7232), +7 (800) 080 77 71."),
            "… (Oskemen, area code 7232), …."
        );
        assert_eq!(
            without_contacts(
                "called 150 and 1415 on 2026-11-25; see sip:crisis@pbx.example, or SIPS:x@y"
            ),
            "called 150 and 1415 on 2026-11-25; see …, or …"
        );
        assert_eq!(without_contacts("Kazpravda, Orda.kz"), "Kazpravda, Orda.kz");
        assert_eq!(without_contacts(""), "");
    }

    /// The words the page looks up by value are in every catalogue.
    #[test]
    fn every_word_looked_up_by_value_is_in_the_catalogues() {
        let groups: [(&str, &[&str]); 5] = [
            ("setup.trigger", &["start", "HTTP", "SIGHUP", "file change"]),
            ("setup.trunk_state", &["up", "down", "unknown", "unprobed"]),
            (
                "setup.registration",
                &["unregistered", "registering", "registered", "failed"],
            ),
            ("setup.contact", &["softphone", "uri", "number"]),
            (
                "setup.services",
                &[
                    "crisis",
                    "psychology",
                    "children",
                    "violence",
                    "family",
                    "mothers",
                    "emergency",
                    "police",
                ],
            ),
        ];
        for lang in Lang::ALL {
            let t = catalogue(lang);
            for (group, values) in groups {
                for value in values {
                    let key = key_of(group, value);
                    assert!(
                        t.keys().any(|k| k == key),
                        "{}: no word for {key}",
                        lang.code()
                    );
                }
            }
        }
    }
}
