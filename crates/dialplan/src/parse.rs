//! Reading the XML: syntax (quick-xml), then elements, attributes and values.
//!
//! Two steps. [`parse_xml`] turns the text into a small element tree with the
//! position of every element and attribute (quick-xml checks the syntax;
//! attribute positions are found by scanning the raw tag, which quick-xml has
//! already checked). [`build`] turns the tree into a [`Plan`], reporting
//! unknown elements and attributes, missing required attributes and bad
//! values. References between nodes are checked later, in `validate`.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Duration;

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use crate::diagnostic::{suggest, Diagnostic, Severity};
use crate::model::*;

/// Longest accepted duration (anything longer is a typo).
const MAX_DURATION: Duration = Duration::from_secs(24 * 3600);

/// Maps byte offsets to 1-based line and character column.
pub(crate) struct Lines<'a> {
    text: &'a str,
    starts: Vec<usize>,
}

impl<'a> Lines<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Lines { text, starts }
    }

    pub(crate) fn pos(&self, offset: usize) -> Pos {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = match self.starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i.saturating_sub(1),
        };
        let start = self.starts.get(line).copied().unwrap_or(0).min(offset);
        let column = self
            .text
            .get(start..offset)
            .map_or(0, |s| s.chars().count())
            + 1;
        Pos {
            line: line + 1,
            column,
        }
    }
}

/// An attribute as written.
#[derive(Debug, Clone)]
pub(crate) struct Attr {
    pub name: String,
    pub value: String,
    pub pos: Pos,
}

/// An element as written.
#[derive(Debug, Clone)]
pub(crate) struct Elem {
    pub name: String,
    pub pos: Pos,
    pub attrs: Vec<Attr>,
    pub children: Vec<Elem>,
}

struct Ctx<'a> {
    path: &'a Path,
    diags: Vec<Diagnostic>,
}

impl Ctx<'_> {
    fn error(&mut self, pos: Pos, message: impl Into<String>) {
        self.push(pos, Severity::Error, message.into());
    }

    fn push(&mut self, pos: Pos, severity: Severity, message: String) {
        self.diags.push(Diagnostic {
            path: self.path.to_path_buf(),
            line: pos.line,
            column: pos.column,
            severity,
            message,
        });
    }
}

/// Offsets (relative to `raw`) of each attribute name in a tag's text,
/// `raw` starting at the element name. Only called on tags quick-xml parsed.
fn attr_offsets(raw: &str) -> Vec<usize> {
    let b = raw.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    // Skip the element name.
    while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'/' && b[i] != b'>' {
        i += 1;
    }
    loop {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= b.len() || b[i] == b'/' || b[i] == b'>' {
            break;
        }
        out.push(i);
        while i < b.len() && b[i] != b'=' && !b[i].is_ascii_whitespace() {
            i += 1;
        }
        while i < b.len() && (b[i].is_ascii_whitespace() || b[i] == b'=') {
            i += 1;
        }
        match b.get(i) {
            Some(&q) if q == b'"' || q == b'\'' => {
                i += 1;
                while i < b.len() && b[i] != q {
                    i += 1;
                }
                i += 1;
            }
            _ => {
                while i < b.len() && !b[i].is_ascii_whitespace() {
                    i += 1;
                }
            }
        }
    }
    out
}

fn to_usize(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

fn element(
    ctx: &mut Ctx<'_>,
    lines: &Lines<'_>,
    text: &str,
    before: usize,
    e: &BytesStart<'_>,
) -> Option<Elem> {
    // The tag starts at the first '<' at or after the end of the previous event.
    let start = text
        .get(before..)
        .and_then(|rest| rest.find('<'))
        .map_or(before, |i| before + i);
    let pos = lines.pos(start);
    let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
    let raw_start = start + 1;
    let raw = text.get(raw_start..).unwrap_or("");
    let raw = raw.get(..e.len().min(raw.len())).unwrap_or(raw);
    let offsets = attr_offsets(raw);
    let mut attrs = Vec::new();
    for (i, a) in e.attributes().with_checks(true).enumerate() {
        let apos = offsets.get(i).map_or(pos, |&o| lines.pos(raw_start + o));
        match a {
            Ok(a) => {
                let aname = String::from_utf8_lossy(a.key.as_ref()).into_owned();
                match a.unescape_value() {
                    Ok(v) => attrs.push(Attr {
                        name: aname,
                        value: v.into_owned(),
                        pos: apos,
                    }),
                    Err(err) => {
                        ctx.error(apos, format!("XML syntax: attribute `{aname}`: {err}"));
                        return None;
                    }
                }
            }
            Err(err) => {
                use quick_xml::events::attributes::AttrError;
                let (p, what) = match &err {
                    AttrError::ExpectedEq(p) => (*p, "expected `=` after the attribute name"),
                    AttrError::ExpectedValue(p) => (*p, "the attribute has no value"),
                    AttrError::UnquotedValue(p) => (*p, "the attribute value must be in quotes"),
                    AttrError::ExpectedQuote(p, _) => {
                        (*p, "the attribute value is missing its closing quote")
                    }
                    AttrError::Duplicated(p, _) => (*p, "the attribute is given twice"),
                };
                ctx.error(
                    lines.pos(raw_start.saturating_add(p)),
                    format!("XML syntax: {what}"),
                );
                return None;
            }
        }
    }
    Some(Elem {
        name,
        pos,
        attrs,
        children: Vec::new(),
    })
}

/// A finished element goes into its parent, or becomes the root.
fn attach(stack: &mut [Elem], root: &mut Option<Elem>, el: Elem) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(el),
        None => *root = Some(el),
    }
}

/// XML text to an element tree; `Err` on a syntax error (the first one).
pub(crate) fn parse_xml(text: &str, path: &Path) -> Result<Elem, Vec<Diagnostic>> {
    let lines = Lines::new(text);
    let mut ctx = Ctx {
        path,
        diags: Vec::new(),
    };
    let mut reader = Reader::from_str(text);
    reader.config_mut().check_end_names = true;
    let mut stack: Vec<Elem> = Vec::new();
    let mut root: Option<Elem> = None;
    loop {
        let before = to_usize(reader.buffer_position());
        let ev = match reader.read_event() {
            Ok(ev) => ev,
            Err(err) => {
                let p = lines.pos(to_usize(reader.error_position()));
                ctx.error(p, format!("XML syntax: {err}"));
                return Err(ctx.diags);
            }
        };
        match ev {
            Event::Start(_) | Event::Empty(_) if root.is_some() => {
                let p = lines.pos(
                    text.get(before..)
                        .and_then(|r| r.find('<'))
                        .map_or(before, |i| before + i),
                );
                ctx.error(p, "XML syntax: content after the root element");
                return Err(ctx.diags);
            }
            Event::Start(e) => {
                let Some(el) = element(&mut ctx, &lines, text, before, &e) else {
                    return Err(ctx.diags);
                };
                stack.push(el);
            }
            Event::Empty(e) => {
                let Some(el) = element(&mut ctx, &lines, text, before, &e) else {
                    return Err(ctx.diags);
                };
                attach(&mut stack, &mut root, el);
            }
            Event::End(_) => {
                let Some(el) = stack.pop() else {
                    let p = lines.pos(before);
                    ctx.error(p, "XML syntax: closing tag without an opening tag");
                    return Err(ctx.diags);
                };
                attach(&mut stack, &mut root, el);
            }
            Event::Text(t) => {
                let raw: &[u8] = t.as_ref();
                if let Some(i) = raw.iter().position(|b| !b.is_ascii_whitespace()) {
                    ctx.error(
                        lines.pos(before + i),
                        "unexpected text (only elements and comments are allowed)",
                    );
                    return Err(ctx.diags);
                }
            }
            Event::GeneralRef(_) | Event::CData(_) => {
                ctx.error(
                    lines.pos(before),
                    "unexpected text (only elements and comments are allowed)",
                );
                return Err(ctx.diags);
            }
            Event::DocType(_) => {
                ctx.error(lines.pos(before), "XML syntax: DOCTYPE is not allowed");
                return Err(ctx.diags);
            }
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) => {}
            Event::Eof => break,
        }
    }
    if let Some(open) = stack.last() {
        ctx.error(
            open.pos,
            format!("XML syntax: <{}> is never closed", open.name),
        );
        return Err(ctx.diags);
    }
    match root {
        Some(r) => Ok(r),
        None => {
            ctx.error(
                Pos { line: 1, column: 1 },
                "XML syntax: no <dialplan> element",
            );
            Err(ctx.diags)
        }
    }
}

/// Attribute access for one element: reports unknown and missing attributes.
struct Attrs<'e> {
    elem: &'e Elem,
}

impl<'e> Attrs<'e> {
    fn new(ctx: &mut Ctx<'_>, elem: &'e Elem, allowed: &[&str]) -> Self {
        for a in &elem.attrs {
            if !allowed.contains(&a.name.as_str()) {
                let hint = suggest(&a.name, allowed.iter().copied())
                    .map(|s| format!(" (did you mean `{s}`?)"))
                    .unwrap_or_default();
                ctx.error(
                    a.pos,
                    format!(
                        "unknown attribute `{}` on <{}>{hint}; allowed: {}",
                        a.name,
                        elem.name,
                        allowed.join(", ")
                    ),
                );
            }
        }
        Attrs { elem }
    }

    fn get(&self, name: &str) -> Option<&'e Attr> {
        self.elem.attrs.iter().find(|a| a.name == name)
    }

    fn required(&self, ctx: &mut Ctx<'_>, name: &str) -> Option<&'e Attr> {
        let a = self.get(name);
        if a.is_none() {
            ctx.error(
                self.elem.pos,
                format!("<{}> needs the attribute `{name}`", self.elem.name),
            );
        }
        a
    }
}

/// A duration: a whole number and a unit, `ms`, `s`, `m` or `h` ("6s", "1500ms", "3m").
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit())?;
    let (num, unit) = s.split_at(split);
    if num.is_empty() || num.len() > 9 {
        return None;
    }
    let n: u64 = num.parse().ok()?;
    let d = match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.checked_mul(60)?),
        "h" => Duration::from_secs(n.checked_mul(3600)?),
        _ => return None,
    };
    Some(d)
}

/// Ids of nodes, prompts, partners, schedules, services: letters, digits, `-`, `_`, `.`
/// (a prompt id becomes a file name, so no `/` and no leading `.`).
pub(crate) fn is_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && !s.starts_with('.')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
}

fn is_language(s: &str) -> bool {
    (2..=3).contains(&s.len()) && s.chars().all(|c| c.is_ascii_lowercase())
}

const PLAN_ATTRS: &[&str] = &[
    "version",
    "start",
    "languages",
    "default-language",
    "emergency-digit",
    "emergency",
    "repeat-digit",
];

/// Element name -> allowed attributes, for node elements.
const NODE_ATTRS: &[(&str, &[&str])] = &[
    (
        "menu",
        &[
            "id",
            "intro",
            "prompt",
            "timeout",
            "max-tries",
            "invalid-prompt",
            "on-fail",
            "max-digits",
            "inter-digit-timeout",
        ],
    ),
    ("play", &["id", "prompt", "next"]),
    ("language", &["id", "language", "next"]),
    (
        "route",
        &[
            "id",
            "service",
            "strategy",
            "ring",
            "max-wait",
            "closed",
            "overflow",
            "after",
            "other-language",
            "prompt",
            "prefer",
        ],
    ),
    ("transfer", &["id", "partner", "fallback", "prompt"]),
    ("hours", &["id", "schedule", "open", "closed"]),
    ("callback", &["id", "prompt", "next", "failed"]),
    ("voicemail", &["id", "prompt", "max-length", "next"]),
    (
        "survey",
        &["id", "prompt", "timeout", "invalid-prompt", "next"],
    ),
    ("goto", &["id", "target"]),
    ("hangup", &["id", "outcome", "allow-silent"]),
    ("recognise", &["id", "known", "new"]),
    ("remember", &["id", "prompt", "digit", "timeout", "next"]),
    ("forget", &["id", "next"]),
];

const CHOICE_ATTRS: &[&str] = &["digit", "goto", "language"];

/// Keys a choice may use (`#` ends multi-digit input and is never a choice).
pub(crate) fn is_choice_key(c: char) -> bool {
    c.is_ascii_digit() || matches!(c, '*' | 'A' | 'B' | 'C' | 'D')
}

struct Builder<'c, 'p> {
    ctx: &'c mut Ctx<'p>,
    languages: Vec<String>,
}

impl Builder<'_, '_> {
    fn reference(&mut self, attrs: &Attrs<'_>, name: &'static str) -> Option<Ref> {
        let a = attrs.required(self.ctx, name)?;
        self.make_ref(a, name)
    }

    fn opt_reference(&mut self, attrs: &Attrs<'_>, name: &'static str) -> Option<Option<Ref>> {
        match attrs.get(name) {
            None => Some(None),
            Some(a) => self.make_ref(a, name).map(Some),
        }
    }

    fn make_ref(&mut self, a: &Attr, name: &'static str) -> Option<Ref> {
        let v = a.value.trim();
        if !is_id(v) {
            self.ctx.error(
                a.pos,
                format!(
                    "`{name}` must name a node (letters, digits, `-`, `_`), not {:?}",
                    a.value
                ),
            );
            return None;
        }
        Some(Ref {
            target: v.to_string(),
            pos: a.pos,
            attr: name,
        })
    }

    fn prompts(&mut self, a: &Attr) -> Option<Prompts> {
        let ids: Vec<String> = a.value.split_whitespace().map(str::to_string).collect();
        if ids.is_empty() {
            self.ctx
                .error(a.pos, format!("`{}` needs at least one prompt id", a.name));
            return None;
        }
        if let Some(bad) = ids.iter().find(|id| !is_id(id)) {
            self.ctx.error(
                a.pos,
                format!("bad prompt id {bad:?} (letters, digits, `-`, `_`, `.`; no `/`)"),
            );
            return None;
        }
        Some(Prompts { ids, pos: a.pos })
    }

    fn req_prompts(&mut self, attrs: &Attrs<'_>, name: &str) -> Option<Prompts> {
        let a = attrs.required(self.ctx, name)?;
        self.prompts(a)
    }

    fn opt_prompts(&mut self, attrs: &Attrs<'_>, name: &str) -> Option<Option<Prompts>> {
        match attrs.get(name) {
            None => Some(None),
            Some(a) => self.prompts(a).map(Some),
        }
    }

    fn duration(&mut self, attrs: &Attrs<'_>, name: &str, default: Duration) -> Option<Duration> {
        let Some(a) = attrs.get(name) else {
            return Some(default);
        };
        match parse_duration(&a.value) {
            Some(d) if d.is_zero() => {
                self.ctx
                    .error(a.pos, format!("`{name}` must be longer than zero"));
                None
            }
            Some(d) if d > MAX_DURATION => {
                self.ctx
                    .error(a.pos, format!("`{name}` {:?} is longer than 24h", a.value));
                None
            }
            Some(d) => Some(d),
            None => {
                self.ctx.error(
                    a.pos,
                    format!(
                        "bad duration {:?} for `{name}` (a whole number and ms, s, m or h: \"6s\", \"1500ms\", \"3m\")",
                        a.value
                    ),
                );
                None
            }
        }
    }

    fn number(
        &mut self,
        attrs: &Attrs<'_>,
        name: &str,
        default: u32,
        range: std::ops::RangeInclusive<u32>,
    ) -> Option<u32> {
        let Some(a) = attrs.get(name) else {
            return Some(default);
        };
        match a.value.trim().parse::<u32>() {
            Ok(n) if range.contains(&n) => Some(n),
            _ => {
                self.ctx.error(
                    a.pos,
                    format!(
                        "`{name}` must be a whole number from {} to {}, not {:?}",
                        range.start(),
                        range.end(),
                        a.value
                    ),
                );
                None
            }
        }
    }

    fn token(&mut self, attrs: &Attrs<'_>, name: &str, default: Option<&str>) -> Option<String> {
        let a = match (attrs.get(name), default) {
            (Some(a), _) => a,
            (None, Some(d)) => return Some(d.to_string()),
            (None, None) => {
                attrs.required(self.ctx, name);
                return None;
            }
        };
        let v = a.value.trim();
        if is_id(v) {
            Some(v.to_string())
        } else {
            self.ctx.error(
                a.pos,
                format!(
                    "`{name}` must be an id (letters, digits, `-`, `_`, `.`), not {:?}",
                    a.value
                ),
            );
            None
        }
    }

    fn language(&mut self, a: &Attr) -> Option<String> {
        let v = a.value.trim();
        if self.languages.iter().any(|l| l == v) {
            Some(v.to_string())
        } else {
            self.ctx.error(
                a.pos,
                format!(
                    "language {:?} is not one of the plan's languages ({})",
                    a.value,
                    self.languages.join(" ")
                ),
            );
            None
        }
    }

    fn flag(
        &mut self,
        attrs: &Attrs<'_>,
        name: &str,
        yes: &str,
        no: &str,
        default: bool,
    ) -> Option<bool> {
        let Some(a) = attrs.get(name) else {
            return Some(default);
        };
        match a.value.trim() {
            v if v == yes => Some(true),
            v if v == no => Some(false),
            _ => {
                self.ctx.error(
                    a.pos,
                    format!("`{name}` must be \"{yes}\" or \"{no}\", not {:?}", a.value),
                );
                None
            }
        }
    }

    fn node(&mut self, el: &Elem, allowed: &[&str]) -> Option<Node> {
        let attrs = Attrs::new(self.ctx, el, allowed);
        let unknown_attr = el.attrs.iter().any(|a| !allowed.contains(&a.name.as_str()));
        if el.name != "menu" {
            if let Some(child) = el.children.first() {
                self.ctx.error(
                    child.pos,
                    format!(
                        "<{}> cannot contain elements (found <{}>)",
                        el.name, child.name
                    ),
                );
            }
        }
        let id = self.token(&attrs, "id", None);
        let kind = match el.name.as_str() {
            "menu" => self.menu(el, &attrs),
            "play" => {
                let prompt = self.req_prompts(&attrs, "prompt");
                let next = self.reference(&attrs, "next");
                Some(NodeKind::Play(Play {
                    prompt: prompt?,
                    next: next?,
                }))
            }
            "language" => {
                let lang = attrs
                    .required(self.ctx, "language")
                    .and_then(|a| Some((self.language(a)?, a.pos)));
                let next = self.reference(&attrs, "next");
                let (language, language_pos) = lang?;
                Some(NodeKind::Language(SetLanguage {
                    language,
                    language_pos,
                    next: next?,
                }))
            }
            "route" => self.route(&attrs),
            "transfer" => {
                let partner = self.token(&attrs, "partner", None);
                let fallback = self.reference(&attrs, "fallback");
                let prompt = self.opt_prompts(&attrs, "prompt");
                Some(NodeKind::Transfer(Transfer {
                    partner: partner?,
                    fallback: fallback?,
                    prompt: prompt?,
                }))
            }
            "hours" => {
                let schedule = self.token(&attrs, "schedule", Some("centre"));
                let open = self.reference(&attrs, "open");
                let closed = self.reference(&attrs, "closed");
                Some(NodeKind::Hours(Hours {
                    schedule: schedule?,
                    open: open?,
                    closed: closed?,
                }))
            }
            "callback" => {
                let prompt = self.opt_prompts(&attrs, "prompt");
                let next = self.reference(&attrs, "next");
                let failed = self.opt_reference(&attrs, "failed");
                Some(NodeKind::Callback(Callback {
                    prompt: prompt?,
                    next: next?,
                    failed: failed?,
                }))
            }
            "voicemail" => {
                let prompt = self.req_prompts(&attrs, "prompt");
                let max_length = self.duration(&attrs, "max-length", Duration::from_secs(120));
                let next = self.reference(&attrs, "next");
                Some(NodeKind::Voicemail(Voicemail {
                    prompt: prompt?,
                    max_length: max_length?,
                    next: next?,
                }))
            }
            "survey" => {
                let prompt = self.req_prompts(&attrs, "prompt");
                let timeout = self.duration(&attrs, "timeout", Duration::from_secs(8));
                let invalid_prompt = self.opt_prompts(&attrs, "invalid-prompt");
                let next = self.reference(&attrs, "next");
                Some(NodeKind::Survey(Survey {
                    prompt: prompt?,
                    timeout: timeout?,
                    invalid_prompt: invalid_prompt?,
                    next: next?,
                }))
            }
            "goto" => {
                let target = self.reference(&attrs, "target");
                Some(NodeKind::Goto(Goto { target: target? }))
            }
            "hangup" => {
                let outcome = self.token(&attrs, "outcome", Some("completed"));
                let allow_silent = self.flag(&attrs, "allow-silent", "true", "false", false);
                Some(NodeKind::Hangup(Hangup {
                    outcome: outcome?,
                    allow_silent: allow_silent?,
                }))
            }
            "recognise" => {
                let known = self.reference(&attrs, "known");
                let new = self.reference(&attrs, "new");
                Some(NodeKind::Recognise(Recognise {
                    known: known?,
                    new: new?,
                }))
            }
            "remember" => self.remember(&attrs),
            "forget" => {
                let next = self.reference(&attrs, "next");
                Some(NodeKind::Forget(Forget { next: next? }))
            }
            _ => None,
        };
        if unknown_attr {
            return None;
        }
        Some(Node {
            id: id?,
            pos: el.pos,
            kind: kind?,
        })
    }

    fn menu(&mut self, el: &Elem, attrs: &Attrs<'_>) -> Option<NodeKind> {
        let intro = self.opt_prompts(attrs, "intro");
        let prompt = self.req_prompts(attrs, "prompt");
        let timeout = self.duration(attrs, "timeout", Duration::from_secs(6));
        let max_tries = self.number(attrs, "max-tries", 3, 1..=10);
        let invalid_prompt = self.opt_prompts(attrs, "invalid-prompt");
        let on_fail = self.reference(attrs, "on-fail");
        let max_digits = self.number(attrs, "max-digits", 1, 1..=16);
        let inter_digit_timeout =
            self.duration(attrs, "inter-digit-timeout", Duration::from_secs(3));
        let mut choices = Vec::new();
        let mut ok = true;
        for c in &el.children {
            if c.name != "choice" {
                self.ctx.error(
                    c.pos,
                    format!(
                        "unknown element <{}> in <menu> (only <choice> is allowed)",
                        c.name
                    ),
                );
                ok = false;
                continue;
            }
            if let Some(first) = c.children.first() {
                self.ctx
                    .error(first.pos, "<choice> cannot contain elements");
                ok = false;
            }
            let ca = Attrs::new(self.ctx, c, CHOICE_ATTRS);
            if c.attrs
                .iter()
                .any(|a| !CHOICE_ATTRS.contains(&a.name.as_str()))
            {
                ok = false;
            }
            let digits = ca.required(self.ctx, "digit").and_then(|a| {
                let v = a.value.trim();
                if !v.is_empty() && v.len() <= 16 && v.chars().all(is_choice_key) {
                    Some((v.to_string(), a.pos))
                } else {
                    self.ctx.error(
                        a.pos,
                        format!(
                            "bad digit {:?}: keys 0-9, * or A-D (`#` ends multi-digit input and cannot be a choice)",
                            a.value
                        ),
                    );
                    None
                }
            });
            let goto = self.reference(&ca, "goto");
            let language = match ca.get("language") {
                None => Some(None),
                Some(a) => self.language(a).map(Some),
            };
            match (digits, goto, language) {
                (Some((digits, digit_pos)), Some(goto), Some(language)) => choices.push(Choice {
                    digits,
                    goto,
                    language,
                    pos: c.pos,
                    digit_pos,
                }),
                _ => ok = false,
            }
        }
        if !ok {
            return None;
        }
        Some(NodeKind::Menu(Menu {
            intro: intro?,
            prompt: prompt?,
            timeout: timeout?,
            max_tries: max_tries?,
            invalid_prompt: invalid_prompt?,
            on_fail: on_fail?,
            max_digits: usize::try_from(max_digits?).ok()?,
            inter_digit_timeout: inter_digit_timeout?,
            choices,
        }))
    }

    fn route(&mut self, attrs: &Attrs<'_>) -> Option<NodeKind> {
        let service = self.token(attrs, "service", None);
        let strategy = match attrs.get("strategy") {
            None => Some(Strategy::LongestIdle),
            Some(a) => {
                let s = Strategy::parse(a.value.trim());
                if s.is_none() {
                    self.ctx.error(
                        a.pos,
                        format!(
                            "unknown strategy {:?} (longest-idle, ring-all, sequential or round-robin)",
                            a.value
                        ),
                    );
                }
                s
            }
        };
        let ring = self.duration(attrs, "ring", Duration::from_secs(20));
        let max_wait = self.duration(attrs, "max-wait", Duration::from_secs(180));
        let overflow = self.reference(attrs, "overflow");
        let closed = self.opt_reference(attrs, "closed");
        let after = self.opt_reference(attrs, "after");
        let other_language = self.flag(attrs, "other-language", "allow", "deny", false);
        let prompt = self.opt_prompts(attrs, "prompt");
        let prefer_last = self.flag(attrs, "prefer", "last-specialist", "none", false);
        let overflow = overflow?;
        let closed = closed?.unwrap_or_else(|| Ref {
            attr: "overflow",
            ..overflow.clone()
        });
        Some(NodeKind::Route(Route {
            service: service?,
            strategy: strategy?,
            ring: ring?,
            max_wait: max_wait?,
            closed,
            overflow,
            after: after?,
            other_language: other_language?,
            prompt: prompt?,
            prefer_last: prefer_last?,
        }))
    }

    fn remember(&mut self, attrs: &Attrs<'_>) -> Option<NodeKind> {
        let prompt = self.req_prompts(attrs, "prompt");
        let timeout = self.duration(attrs, "timeout", Duration::from_secs(6));
        let next = self.reference(attrs, "next");
        let digit = match attrs.required(self.ctx, "digit") {
            None => None,
            Some(a) => {
                let mut chars = a.value.trim().chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) if is_choice_key(c) => Some((c, a.pos)),
                    _ => {
                        self.ctx.error(
                            a.pos,
                            format!("`digit` must be one key (0-9, *, A-D), not {:?}", a.value),
                        );
                        None
                    }
                }
            }
        };
        let (digit, digit_pos) = digit?;
        Some(NodeKind::Remember(Remember {
            prompt: prompt?,
            digit,
            digit_pos,
            timeout: timeout?,
            next: next?,
        }))
    }
}

fn digit_attr(
    ctx: &mut Ctx<'_>,
    attrs: &Attrs<'_>,
    name: &str,
    default: char,
) -> Option<(Option<char>, Option<Pos>)> {
    let Some(a) = attrs.get(name) else {
        return Some((Some(default), None));
    };
    let v = a.value.trim();
    if v == "none" {
        return Some((None, Some(a.pos)));
    }
    let mut chars = v.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) if is_choice_key(c) => Some((Some(c), Some(a.pos))),
        _ => {
            ctx.error(
                a.pos,
                format!(
                    "`{name}` must be one key (0-9, *, A-D) or \"none\", not {:?}",
                    a.value
                ),
            );
            None
        }
    }
}

/// Element tree to a plan. `Err` when anything is wrong at this level.
pub(crate) fn build(root: &Elem, text: &str, path: &Path) -> (Option<Plan>, Vec<Diagnostic>) {
    let mut ctx = Ctx {
        path,
        diags: Vec::new(),
    };
    if root.name != "dialplan" {
        ctx.error(
            root.pos,
            format!("the root element must be <dialplan>, not <{}>", root.name),
        );
        return (None, ctx.diags);
    }
    let attrs = Attrs::new(&mut ctx, root, PLAN_ATTRS);
    let version = attrs.required(&mut ctx, "version");
    if let Some(v) = version {
        if v.value.trim() != "1" {
            ctx.error(
                v.pos,
                format!(
                    "unsupported dialplan version {:?} (this Senim reads version \"1\")",
                    v.value
                ),
            );
        }
    }
    let start = attrs.required(&mut ctx, "start");
    let languages: Vec<String> = match attrs.get("languages") {
        None => vec!["kk".to_string(), "ru".to_string()],
        Some(a) => {
            let ls: Vec<String> = a.value.split_whitespace().map(str::to_string).collect();
            if ls.is_empty() || !ls.iter().all(|l| is_language(l)) {
                ctx.error(
                    a.pos,
                    format!(
                        "`languages` must list language codes such as \"kk ru\", not {:?}",
                        a.value
                    ),
                );
            } else if let Some(dup) = ls.iter().enumerate().find(|(i, l)| ls[..*i].contains(l)) {
                ctx.error(a.pos, format!("language {:?} is listed twice", dup.1));
            }
            ls
        }
    };
    let default_language = match attrs.get("default-language") {
        None => languages.first().cloned().unwrap_or_default(),
        Some(a) => {
            let v = a.value.trim().to_string();
            if !languages.contains(&v) {
                ctx.error(
                    a.pos,
                    format!(
                        "default-language {:?} is not one of the plan's languages ({})",
                        a.value,
                        languages.join(" ")
                    ),
                );
            }
            v
        }
    };
    let emergency_digit = digit_attr(&mut ctx, &attrs, "emergency-digit", '0');
    let repeat_digit = digit_attr(&mut ctx, &attrs, "repeat-digit", '*');
    let emergency = attrs.get("emergency");
    let (emergency_digit, emergency_digit_pos) = emergency_digit.unwrap_or((None, None));
    let (repeat_digit, repeat_digit_pos) = repeat_digit.unwrap_or((None, None));
    if let (Some(e), Some(r)) = (emergency_digit, repeat_digit) {
        if e == r {
            ctx.error(
                repeat_digit_pos.or(emergency_digit_pos).unwrap_or(root.pos),
                format!("the emergency digit and the repeat digit are both {e:?}"),
            );
        }
    }
    if emergency_digit.is_some() && emergency.is_none() {
        ctx.error(
            root.pos,
            "<dialplan> needs the attribute `emergency` (the node the emergency digit leads to), or emergency-digit=\"none\"",
        );
    }
    let mut b = Builder {
        ctx: &mut ctx,
        languages: languages.clone(),
    };
    let start = start.and_then(|a| b.make_ref(a, "start"));
    let emergency = emergency.and_then(|a| b.make_ref(a, "emergency"));
    let mut nodes = Vec::new();
    for el in &root.children {
        match NODE_ATTRS.iter().find(|(n, _)| *n == el.name) {
            Some((_, allowed)) => {
                if let Some(n) = b.node(el, allowed) {
                    nodes.push(n);
                }
            }
            None => {
                let hint = suggest(&el.name, NODE_ATTRS.iter().map(|(n, _)| *n))
                    .map(|s| format!(" (did you mean <{s}>?)"))
                    .unwrap_or_default();
                let extra = if el.name == "choice" {
                    " (a <choice> belongs inside a <menu>)"
                } else {
                    ""
                };
                b.ctx.error(
                    el.pos,
                    format!(
                        "unknown element <{}>{hint}{extra}; a dialplan holds menu, play, language, route, transfer, hours, callback, voicemail, survey, goto, hangup, recognise, remember and forget",
                        el.name
                    ),
                );
            }
        }
    }
    if root.children.is_empty() {
        ctx.error(root.pos, "the dialplan has no nodes");
    }
    let failed = ctx.diags.iter().any(|d| d.severity == Severity::Error);
    let Some(start) = start.filter(|_| !failed) else {
        return (None, ctx.diags);
    };
    let mut index = HashMap::new();
    for (i, n) in nodes.iter().enumerate() {
        index.entry(n.id.clone()).or_insert(i);
    }
    let plan = Plan {
        source: path.to_path_buf(),
        digest: digest(text),
        start,
        languages,
        default_language,
        emergency_digit,
        emergency,
        repeat_digit,
        nodes,
        index,
        availability: BTreeMap::new(),
        pos: root.pos,
    };
    (Some(plan), ctx.diags)
}

fn digest(text: &str) -> String {
    use sha2::{Digest, Sha256};
    let hash = Sha256::digest(text.as_bytes());
    hash.iter().take(6).map(|b| format!("{b:02x}")).collect()
}
