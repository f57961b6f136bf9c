//! The dialplan as data: nodes, their references and the positions they came from.
//!
//! A [`Plan`] is only built by [`crate::load`] / [`crate::load_str`], which
//! parse and validate it; a `Plan` in hand has passed validation (it may
//! carry warnings). It is immutable and shared (`Arc<Plan>`) by every call
//! that started with it, so a reload never changes a call in progress.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A position in the plan file: 1-based line, 1-based column in characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

/// A reference to another node (`goto`, `next`, `on-fail`, ...), with the
/// position of the attribute that holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ref {
    /// The id of the node referred to.
    pub target: String,
    /// Position of the attribute.
    pub pos: Pos,
    /// The attribute's name, for messages (`goto`, `on-fail`, ...).
    pub attr: &'static str,
}

/// A `prompt`-like attribute: one or more prompt ids played in sequence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompts {
    pub ids: Vec<String>,
    /// Position of the attribute.
    pub pos: Pos,
}

/// One node of the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub id: String,
    /// Position of the element's `<`.
    pub pos: Pos,
    pub kind: NodeKind,
}

/// What a node does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeKind {
    Menu(Menu),
    Play(Play),
    Language(SetLanguage),
    Route(Route),
    Transfer(Transfer),
    Hours(Hours),
    Callback(Callback),
    Voicemail(Voicemail),
    Survey(Survey),
    Goto(Goto),
    Hangup(Hangup),
    Recognise(Recognise),
    Remember(Remember),
    Forget(Forget),
}

/// `<menu>`: play a prompt, collect one or more digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Menu {
    /// Played once when the call enters the menu, before `prompt`; not
    /// replayed when the menu repeats (`*`, a timeout, an invalid key).
    pub intro: Option<Prompts>,
    pub prompt: Prompts,
    /// How long to wait for the first key after the prompt has finished.
    pub timeout: Duration,
    /// Failures (timeouts and invalid input) before `on_fail`.
    pub max_tries: u32,
    /// Played before the menu prompt after an invalid key.
    pub invalid_prompt: Option<Prompts>,
    pub on_fail: Ref,
    /// Longest choice in digits (1 = single key).
    pub max_digits: usize,
    /// Wait between the keys of a multi-digit choice.
    pub inter_digit_timeout: Duration,
    pub choices: Vec<Choice>,
}

/// `<choice>` inside a menu.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    /// The key or keys, e.g. "1" or "12".
    pub digits: String,
    pub goto: Ref,
    /// Sets the caller's language when chosen.
    pub language: Option<String>,
    pub pos: Pos,
    /// Position of the `digit` attribute.
    pub digit_pos: Pos,
}

/// `<play>`: play a prompt, then go on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Play {
    pub prompt: Prompts,
    pub next: Ref,
}

/// `<language>`: set the caller's language, then go on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetLanguage {
    pub language: String,
    pub language_pos: Pos,
    pub next: Ref,
}

/// How a service's specialists are rung: the routing core's own type, so the
/// plan and the router never disagree on the names.
pub use senim_routing::strategy::Strategy;

/// `<route>`: connect the caller to a specialist of a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub service: String,
    pub strategy: Strategy,
    /// How long one specialist's phone rings.
    pub ring: Duration,
    /// How long the caller waits in the queue at most.
    pub max_wait: Duration,
    /// Where to go when the service is closed (defaults to `overflow`).
    pub closed: Ref,
    /// Where to go when nobody answered in time or routing failed.
    pub overflow: Ref,
    /// Where to go after the specialist hangs up (none: end the call).
    pub after: Option<Ref>,
    /// A specialist who does not speak the caller's language may take the call.
    pub other_language: bool,
    /// Played before routing starts (e.g. "connecting").
    pub prompt: Option<Prompts>,
    /// `prefer="last-specialist"`: a remembered caller's last specialist is
    /// rung first when available (and the remembered service is asked for).
    pub prefer_last: bool,
}

/// `<transfer>`: hand the caller to a partner centre.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    /// An id in the partner directory (never a number typed by the caller).
    pub partner: String,
    pub fallback: Ref,
    /// Played before the transfer starts.
    pub prompt: Option<Prompts>,
}

/// `<hours>`: branch on a schedule (the driver evaluates it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hours {
    pub schedule: String,
    pub open: Ref,
    pub closed: Ref,
}

/// `<callback>`: take a callback request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Callback {
    /// Played when the request was recorded.
    pub prompt: Option<Prompts>,
    pub next: Ref,
    /// Where to go when the request could not be recorded (defaults to `next`).
    pub failed: Option<Ref>,
}

/// `<voicemail>`: play a prompt, record a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Voicemail {
    pub prompt: Prompts,
    pub max_length: Duration,
    pub next: Ref,
}

/// `<survey>`: one digit 1 to 5.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Survey {
    pub prompt: Prompts,
    pub timeout: Duration,
    pub invalid_prompt: Option<Prompts>,
    pub next: Ref,
}

/// `<goto>`: jump.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Goto {
    pub target: Ref,
}

/// `<hangup>`: end the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hangup {
    pub outcome: String,
    /// The author accepts that a silent caller may end here (no warning).
    pub allow_silent: bool,
}

/// `<recognise>`: branch on whether the caller is remembered (they agreed
/// to it in an earlier call). A remembered caller's language is set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recognise {
    /// Where a remembered caller goes.
    pub known: Ref,
    /// Where everyone else goes.
    pub new: Ref,
}

/// `<remember>`: ask the caller whether they may be recognised next time;
/// one key agrees, anything else (or nothing) declines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remember {
    pub prompt: Prompts,
    /// The key that gives consent.
    pub digit: char,
    /// Position of the `digit` attribute.
    pub digit_pos: Pos,
    /// How long to wait for the key after the prompt.
    pub timeout: Duration,
    pub next: Ref,
}

/// `<forget>`: the caller is no longer remembered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forget {
    pub next: Ref,
}

/// How a caller who presses nothing moves along an edge (see `docs/dialplan.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Silent {
    /// A caller who presses nothing never takes this edge (a menu choice).
    No,
    /// Taken without any key, before any human was tried.
    Yes,
    /// Taken without any key after a human was tried and not reached
    /// (route overflow, transfer fallback).
    AfterAttempt,
    /// Taken only after the caller talked to a human (route `after`).
    AfterHuman,
}

/// An edge of the plan graph.
#[derive(Debug, Clone, Copy)]
pub struct Edge<'a> {
    pub to: &'a Ref,
    /// Language set when taking the edge (a menu choice with `language`).
    pub language: Option<&'a str>,
    pub silent: Silent,
}

impl NodeKind {
    /// The element name.
    pub fn name(&self) -> &'static str {
        match self {
            NodeKind::Menu(_) => "menu",
            NodeKind::Play(_) => "play",
            NodeKind::Language(_) => "language",
            NodeKind::Route(_) => "route",
            NodeKind::Transfer(_) => "transfer",
            NodeKind::Hours(_) => "hours",
            NodeKind::Callback(_) => "callback",
            NodeKind::Voicemail(_) => "voicemail",
            NodeKind::Survey(_) => "survey",
            NodeKind::Goto(_) => "goto",
            NodeKind::Hangup(_) => "hangup",
            NodeKind::Recognise(_) => "recognise",
            NodeKind::Remember(_) => "remember",
            NodeKind::Forget(_) => "forget",
        }
    }

    /// Whether entering this node waits for the caller or the outside world
    /// in a way that lets time pass and gives the caller a way out
    /// (menu, survey, route, transfer, callback, voicemail). `play`,
    /// `language`, `goto`, `hours` and `hangup` do not: a cycle made only of
    /// them runs forever without the caller being able to do anything.
    pub fn waits_for_input(&self) -> bool {
        matches!(
            self,
            NodeKind::Menu(_)
                | NodeKind::Survey(_)
                | NodeKind::Route(_)
                | NodeKind::Transfer(_)
                | NodeKind::Callback(_)
                | NodeKind::Voicemail(_)
                | NodeKind::Remember(_)
        )
    }

    /// Whether the emergency digit works in this node.
    pub fn accepts_emergency(&self) -> bool {
        matches!(
            self,
            NodeKind::Menu(_) | NodeKind::Survey(_) | NodeKind::Remember(_)
        )
    }

    /// Every outgoing edge (the implicit emergency edge is not included).
    pub fn edges(&self) -> Vec<Edge<'_>> {
        fn e(to: &Ref, silent: Silent) -> Edge<'_> {
            Edge {
                to,
                language: None,
                silent,
            }
        }
        match self {
            NodeKind::Menu(m) => {
                let mut v: Vec<Edge<'_>> = m
                    .choices
                    .iter()
                    .map(|c| Edge {
                        to: &c.goto,
                        language: c.language.as_deref(),
                        silent: Silent::No,
                    })
                    .collect();
                v.push(e(&m.on_fail, Silent::Yes));
                v
            }
            NodeKind::Play(p) => vec![e(&p.next, Silent::Yes)],
            NodeKind::Language(l) => vec![Edge {
                to: &l.next,
                language: Some(&l.language),
                silent: Silent::Yes,
            }],
            NodeKind::Route(r) => {
                let mut v = vec![
                    e(&r.closed, Silent::Yes),
                    e(&r.overflow, Silent::AfterAttempt),
                ];
                if let Some(a) = &r.after {
                    v.push(e(a, Silent::AfterHuman));
                }
                v
            }
            NodeKind::Transfer(t) => vec![e(&t.fallback, Silent::AfterAttempt)],
            NodeKind::Hours(h) => vec![e(&h.open, Silent::Yes), e(&h.closed, Silent::Yes)],
            NodeKind::Callback(c) => {
                let mut v = vec![e(&c.next, Silent::Yes)];
                if let Some(f) = &c.failed {
                    v.push(e(f, Silent::Yes));
                }
                v
            }
            NodeKind::Voicemail(vm) => vec![e(&vm.next, Silent::Yes)],
            NodeKind::Survey(s) => vec![e(&s.next, Silent::Yes)],
            NodeKind::Goto(g) => vec![e(&g.target, Silent::Yes)],
            NodeKind::Hangup(_) => Vec::new(),
            NodeKind::Recognise(r) => vec![e(&r.known, Silent::Yes), e(&r.new, Silent::Yes)],
            NodeKind::Remember(r) => vec![e(&r.next, Silent::Yes)],
            NodeKind::Forget(f) => vec![e(&f.next, Silent::Yes)],
        }
    }

    /// Every prompt attribute of the node.
    pub fn prompts(&self) -> Vec<&Prompts> {
        match self {
            NodeKind::Menu(m) => m
                .intro
                .iter()
                .chain(std::iter::once(&m.prompt))
                .chain(m.invalid_prompt.as_ref())
                .collect(),
            NodeKind::Play(p) => vec![&p.prompt],
            NodeKind::Route(r) => r.prompt.iter().collect(),
            NodeKind::Transfer(t) => t.prompt.iter().collect(),
            NodeKind::Callback(c) => c.prompt.iter().collect(),
            NodeKind::Voicemail(v) => vec![&v.prompt],
            NodeKind::Survey(s) => std::iter::once(&s.prompt)
                .chain(s.invalid_prompt.as_ref())
                .collect(),
            NodeKind::Remember(r) => vec![&r.prompt],
            NodeKind::Language(_)
            | NodeKind::Hours(_)
            | NodeKind::Goto(_)
            | NodeKind::Hangup(_)
            | NodeKind::Recognise(_)
            | NodeKind::Forget(_) => Vec::new(),
        }
    }
}

/// A parsed and validated dialplan.
#[derive(Debug, Clone)]
pub struct Plan {
    pub(crate) source: PathBuf,
    pub(crate) digest: String,
    pub(crate) start: Ref,
    pub(crate) languages: Vec<String>,
    pub(crate) default_language: String,
    pub(crate) emergency_digit: Option<char>,
    pub(crate) emergency: Option<Ref>,
    pub(crate) repeat_digit: Option<char>,
    pub(crate) nodes: Vec<Node>,
    pub(crate) index: HashMap<String, usize>,
    /// Prompt id -> languages the catalog had it in when the plan was loaded.
    pub(crate) availability: BTreeMap<String, BTreeSet<String>>,
    /// Position of the `<dialplan>` element.
    pub(crate) pos: Pos,
}

impl Plan {
    /// The id of the first node.
    pub fn start(&self) -> &str {
        &self.start.target
    }

    /// The languages the plan serves, in fallback order.
    pub fn languages(&self) -> &[String] {
        &self.languages
    }

    /// The language used before the caller chooses one.
    pub fn default_language(&self) -> &str {
        &self.default_language
    }

    /// Node ids in document order.
    pub fn node_ids(&self) -> impl Iterator<Item = &str> {
        self.nodes.iter().map(|n| n.id.as_str())
    }

    /// Nodes in document order.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// A node by id.
    pub fn node(&self, id: &str) -> Option<&Node> {
        self.index.get(id).and_then(|&i| self.nodes.get(i))
    }

    pub(crate) fn index_of(&self, id: &str) -> Option<usize> {
        self.index.get(id).copied()
    }

    /// Every prompt id the plan can play.
    pub fn prompt_ids(&self) -> BTreeSet<String> {
        self.nodes
            .iter()
            .flat_map(|n| n.kind.prompts())
            .flat_map(|p| p.ids.iter().cloned())
            .collect()
    }

    /// Schedule ids referenced by `hours` nodes.
    pub fn schedules(&self) -> BTreeSet<String> {
        self.nodes
            .iter()
            .filter_map(|n| match &n.kind {
                NodeKind::Hours(h) => Some(h.schedule.clone()),
                _ => None,
            })
            .collect()
    }

    /// Partner ids referenced by `transfer` nodes.
    pub fn partners(&self) -> BTreeSet<String> {
        self.nodes
            .iter()
            .filter_map(|n| match &n.kind {
                NodeKind::Transfer(t) => Some(t.partner.clone()),
                _ => None,
            })
            .collect()
    }

    /// Service ids referenced by `route` nodes.
    pub fn services(&self) -> BTreeSet<String> {
        self.nodes
            .iter()
            .filter_map(|n| match &n.kind {
                NodeKind::Route(r) => Some(r.service.clone()),
                _ => None,
            })
            .collect()
    }

    /// The file the plan was read from.
    pub fn source(&self) -> &Path {
        &self.source
    }

    /// The first 12 hex digits of the SHA-256 of the file text (the plan version).
    pub fn digest(&self) -> String {
        self.digest.clone()
    }

    /// The key that leads to the emergency node from every menu and survey.
    pub fn emergency_digit(&self) -> Option<char> {
        self.emergency_digit
    }

    /// The emergency node's id.
    pub fn emergency(&self) -> Option<&str> {
        self.emergency.as_ref().map(|r| r.target.as_str())
    }

    /// The key that replays a menu without counting a try.
    pub fn repeat_digit(&self) -> Option<char> {
        self.repeat_digit
    }

    /// The language a sequence of prompts is played in for a caller in
    /// `language`: the first of `language`, then `languages()` in order, in
    /// which every prompt of the sequence was found when the plan was loaded;
    /// `language` itself when none has them all.
    pub fn resolve_language(&self, prompts: &[String], language: &str) -> String {
        let has = |lang: &str| {
            prompts.iter().all(|id| {
                self.availability
                    .get(id)
                    .is_none_or(|langs| langs.contains(lang))
            })
        };
        std::iter::once(language)
            .chain(self.languages.iter().map(String::as_str))
            .find(|l| has(l))
            .unwrap_or(language)
            .to_string()
    }
}
