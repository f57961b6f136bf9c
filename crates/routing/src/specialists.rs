//! The specialists: who may be rung, for which services and languages, how
//! they are reached and when they work.
//!
//! Written as `[[specialist]]` tables, either inside the main configuration
//! (serde: [`Specialists`] implements `Deserialize`) or in a file of their own
//! ([`Specialists::load`], [`Specialists::from_toml_str`]):
//!
//! ```toml
//! [[specialist]]
//! id = "aigerim"
//! name = "Айгерім Сейітқали"
//! skills = ["psychology", "mediation"]      # legal, psychology, mediation
//! languages = ["kk", "ru"]                  # the caller's language first
//! username = "aigerim"                      # a softphone registered to Senim...
//! password = "..."                          # ...with its SIP password
//! # uri = "sip:aigerim@127.0.0.1:26001"     # or a SIP URI rung directly
//! # number = "+77011234567"                 # or a phone reached through the trunk
//! schedule = "day"                          # an id in [hours], "24/7", or a table
//! max_calls = 1                             # calls at a time (default 1)
//! wrap_up = "30s"                           # rest after each call (default 30 s)
//! require_srtp = false                      # softphone only: its calls must use SRTP
//! # Limits ([wrap_up] gives the centre's defaults; each may be changed here):
//! wrap_up_by_kind = { crisis-intervention = "15m" }  # rest after a call of a kind
//! crisis_in_a_row = 3                       # crisis or long calls before a break (0: off)
//! break = "20m"                             # the automatic break
//! daily_calls = 25                          # answered calls a day (0: no cap)
//! long_call = "30m"                         # a call this long counts as a crisis call
//! alert_after = "45m"                       # alert when a call runs this long
//! ```
//!
//! Every mistake is refused with a message that names the specialist and the
//! key. A password is kept, but never printed by `Debug`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use toml::{Table, Value};

use crate::data_file::{self, line_of, line_of_key, lines_of_key, DataFileError};
use crate::entry_id::is_valid_id;
use crate::hours::{HoursError, Schedules, WeeklySchedule};
use crate::limits::SpecialistLimits;
use crate::partners::{check_sip_uri, normalize_number};
use crate::toml_value::type_name;

/// The default wrap-up time after each call.
pub const DEFAULT_WRAP_UP: Duration = Duration::from_secs(30);
/// The longest wrap-up time accepted.
pub const MAX_WRAP_UP: Duration = Duration::from_secs(3600);
/// The most calls at a time one specialist may be given.
pub const MAX_CALLS_LIMIT: u32 = 8;
/// The shortest softphone password accepted.
pub const MIN_PASSWORD_LEN: usize = 12;

// ---------------------------------------------------------------------------
// Skills and ids
// ---------------------------------------------------------------------------

/// A service the centre offers and a specialist can give.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Skill {
    /// Legal advice (`legal`).
    Legal,
    /// Psychological help (`psychology`).
    Psychology,
    /// Mediation (`mediation`).
    Mediation,
}

impl Skill {
    /// All skills, in menu order.
    pub const ALL: [Skill; 3] = [Skill::Legal, Skill::Psychology, Skill::Mediation];

    /// The name used in files and in the dialplan (`route skill="..."`).
    pub fn as_str(self) -> &'static str {
        match self {
            Skill::Legal => "legal",
            Skill::Psychology => "psychology",
            Skill::Mediation => "mediation",
        }
    }

    /// Parses `legal`, `psychology` or `mediation`.
    pub fn parse(s: &str) -> Option<Skill> {
        match s {
            "legal" => Some(Skill::Legal),
            "psychology" => Some(Skill::Psychology),
            "mediation" => Some(Skill::Mediation),
            _ => None,
        }
    }

    /// A message for a word that is not a skill, with a hint when the word
    /// is close to one.
    fn unknown(word: &str) -> String {
        let lower = word.trim().to_lowercase();
        let hint = match lower.as_str() {
            "law" | "lawyer" | "legal-aid" | "juridical" | "юрист" | "заңгер" => {
                Some("legal")
            }
            "psychological" | "psychologist" | "psych" | "психолог" => Some("psychology"),
            "mediator" | "mediate" | "медиатор" | "медиация" => Some("mediation"),
            other => Skill::parse(other).map(Skill::as_str),
        };
        match hint {
            Some(h) => format!("unknown skill `{word}` (write `{h}`)"),
            None => format!("unknown skill `{word}`; skills are legal, psychology and mediation"),
        }
    }
}

impl fmt::Display for Skill {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Skill {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Skill {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Skill::parse(&s).ok_or_else(|| serde::de::Error::custom(Skill::unknown(&s)))
    }
}

/// A specialist's id: lower-case letters, digits and `-` (`aigerim`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SpecialistId(String);

impl SpecialistId {
    /// Wraps an id (not checked: ids from the configuration are checked at load).
    pub fn new(id: impl Into<String>) -> SpecialistId {
        SpecialistId(id.into())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SpecialistId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for SpecialistId {
    fn from(s: &str) -> Self {
        SpecialistId(s.to_string())
    }
}

impl From<String> for SpecialistId {
    fn from(s: String) -> Self {
        SpecialistId(s)
    }
}

impl std::borrow::Borrow<str> for SpecialistId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for SpecialistId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for SpecialistId {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl Serialize for SpecialistId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

// ---------------------------------------------------------------------------
// Contacts
// ---------------------------------------------------------------------------

/// A SIP password. Kept for the registrar's digest check; `Debug` shows
/// `Password(***)`, and there is no `Display` or `Serialize`.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// Wraps a password.
    pub fn new(p: impl Into<String>) -> Password {
        Password(p.into())
    }

    /// The password itself, for the digest computation only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

/// How a specialist's phone is reached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SpecialistContact {
    /// A SIP URI rung directly (`sip:aigerim@127.0.0.1:26001`), e.g. a desk
    /// phone or softphone with a fixed address. Always counted as online.
    Uri(String),
    /// A softphone registered to Senim's own registrar with this username
    /// and password. Online while it has at least one registration.
    Registered {
        /// The SIP username (the user part it registers as).
        username: String,
        /// The SIP password (never printed).
        password: Password,
    },
    /// A phone number (E.164) reached through the trunk, e.g. a mobile.
    /// Always counted as online; the whisper and accept key keep its
    /// voicemail from taking the call.
    Number(String),
}

impl SpecialistContact {
    /// `sip-uri`, `softphone` or `number`: the kind, for status views that
    /// must not show the address itself.
    pub fn kind(&self) -> &'static str {
        match self {
            SpecialistContact::Uri(_) => "sip-uri",
            SpecialistContact::Registered { .. } => "softphone",
            SpecialistContact::Number(_) => "number",
        }
    }

    /// Whether being online depends on a registration.
    pub fn needs_registration(&self) -> bool {
        matches!(self, SpecialistContact::Registered { .. })
    }
}

/// When a specialist works.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScheduleRef {
    /// A schedule id in [`Schedules`] (the `[hours]` section).
    Named(String),
    /// A schedule written in the specialist's own entry.
    Inline(WeeklySchedule),
}

impl ScheduleRef {
    /// The schedule, looked up in `schedules` when named; `None` when the
    /// name is unknown (refused at load by [`Specialists::check_schedules`]).
    pub fn resolve<'a>(&'a self, schedules: &'a Schedules) -> Option<&'a WeeklySchedule> {
        match self {
            ScheduleRef::Named(id) => schedules.get(id),
            ScheduleRef::Inline(s) => Some(s),
        }
    }
}

// ---------------------------------------------------------------------------
// Specialist
// ---------------------------------------------------------------------------

/// One specialist, as configured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Specialist {
    /// The id (`aigerim`), unique.
    pub id: SpecialistId,
    /// The name shown to the coordinator (never to callers).
    pub name: String,
    /// The services this person gives.
    pub skills: BTreeSet<Skill>,
    /// Languages spoken (`kk`, `ru`), in the order given.
    pub languages: Vec<String>,
    /// How the phone is reached.
    pub contact: SpecialistContact,
    /// Working hours; `None`: whenever the route is open.
    pub schedule: Option<ScheduleRef>,
    /// Calls at a time (default 1).
    pub max_calls: u32,
    /// Rest after each call before the next one is offered (default 30 s).
    pub wrap_up: Duration,
    /// A softphone registered to Senim whose calls must use SRTP (SDES keys
    /// over TLS): a plain RTP offer from it is refused with 488.
    pub require_srtp: bool,
    /// Changes to the centre's limits (`[wrap_up]`) for this person.
    pub limits: SpecialistLimits,
}

impl Specialist {
    /// A specialist with the defaults (no schedule, one call at a time,
    /// 30 s wrap-up). Fields are public for tests and tools; the loader
    /// checks what it builds.
    pub fn new(
        id: &str,
        name: &str,
        skills: &[Skill],
        languages: &[&str],
        contact: SpecialistContact,
    ) -> Specialist {
        Specialist {
            id: SpecialistId::from(id),
            name: name.to_string(),
            skills: skills.iter().copied().collect(),
            languages: languages.iter().map(|l| l.to_string()).collect(),
            contact,
            schedule: None,
            max_calls: 1,
            wrap_up: DEFAULT_WRAP_UP,
            require_srtp: false,
            limits: SpecialistLimits::default(),
        }
    }

    /// Has this skill?
    pub fn has_skill(&self, skill: Skill) -> bool {
        self.skills.contains(&skill)
    }

    /// Speaks this language?
    pub fn speaks(&self, language: &str) -> bool {
        self.languages.iter().any(|l| l == language)
    }
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/// Errors from reading or checking the specialists.
#[derive(Debug, thiserror::Error)]
pub enum SpecialistsError {
    /// The file could not be read.
    #[error("{}: cannot read the file: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// The text is not valid TOML (the message carries line and column).
    #[error("{}: {message}", path.display())]
    Toml {
        /// The file.
        path: PathBuf,
        /// The TOML parser's message.
        message: String,
    },
    /// An entry is wrong.
    #[error("{}{entry}{}: {message}",
        match (path, line) {
            (Some(p), Some(l)) => format!("{}:{l}: ", p.display()),
            (Some(p), None) => format!("{}: ", p.display()),
            _ => String::new(),
        },
        if key.is_empty() { String::new() } else { format!(", key `{key}`") })]
    Invalid {
        /// The file, when read from one.
        path: Option<PathBuf>,
        /// The line of the entry, when it could be found.
        line: Option<usize>,
        /// The entry, e.g. ``specialist #2 `aigerim` ``.
        entry: String,
        /// The key, e.g. `skills` or `schedule.mon`; empty for the whole entry.
        key: String,
        /// What is wrong.
        message: String,
    },
}

impl From<DataFileError> for SpecialistsError {
    fn from(e: DataFileError) -> Self {
        match e {
            DataFileError::Io { path, source } => SpecialistsError::Io { path, source },
            DataFileError::Toml { path, message } => SpecialistsError::Toml { path, message },
        }
    }
}

// ---------------------------------------------------------------------------
// The list
// ---------------------------------------------------------------------------

/// All specialists, in configuration order (the order `sequential` rings).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Specialists {
    list: Vec<Specialist>,
    index: BTreeMap<SpecialistId, usize>,
}

impl Specialists {
    /// No specialists.
    pub fn empty() -> Specialists {
        Specialists::default()
    }

    /// Builds the list from specialists made in code, checking ids,
    /// duplicates and usernames as the loader does.
    pub fn from_list(list: Vec<Specialist>) -> Result<Specialists, SpecialistsError> {
        let mut out = Specialists::default();
        for (i, s) in list.into_iter().enumerate() {
            let entry = format!("specialist #{} `{}`", i + 1, s.id);
            let err = |key: &str, message: String| SpecialistsError::Invalid {
                path: None,
                line: None,
                entry: entry.clone(),
                key: key.to_string(),
                message,
            };
            if !is_valid_id(s.id.as_str()) {
                return Err(err(
                    "id",
                    "an id is lower-case letters, digits and `-`".into(),
                ));
            }
            if s.skills.is_empty() {
                return Err(err("skills", "no skill given".into()));
            }
            if s.languages.is_empty() {
                return Err(err("languages", "no language given".into()));
            }
            if s.max_calls == 0 {
                return Err(err("max_calls", "must be at least 1".into()));
            }
            if let Some(m) = out.clash(&s) {
                return Err(err(m.0, m.1));
            }
            out.push(s);
        }
        Ok(out)
    }

    /// Reads a file of `[[specialist]]` tables.
    pub fn load(path: &Path) -> Result<Specialists, SpecialistsError> {
        data_file::load(path, Specialists::from_toml_str)
    }

    /// Parses a TOML document of `[[specialist]]` tables; `path` is used in
    /// messages, with the line of the entry when it can be found.
    pub fn from_toml_str(text: &str, path: &Path) -> Result<Specialists, SpecialistsError> {
        let top: Table = data_file::parse_table(text, path)?;
        for k in top.keys() {
            if k != "specialist" {
                let hint = if k == "specialists" {
                    " (write [[specialist]] for each entry)"
                } else {
                    ""
                };
                return Err(SpecialistsError::Invalid {
                    path: Some(path.to_path_buf()),
                    line: line_of(text, k),
                    entry: "top level".into(),
                    key: k.clone(),
                    message: format!("unknown key{hint}; expected [[specialist]] entries"),
                });
            }
        }
        let parser = Parser {
            text: Some(text),
            path: Some(path),
        };
        match top.get("specialist") {
            None => Ok(Specialists::empty()),
            Some(v) => parser.parse_list(v),
        }
    }

    /// Parses the value of the `specialist` key (an array of tables).
    pub fn from_toml_value(value: &Value) -> Result<Specialists, SpecialistsError> {
        Parser {
            text: None,
            path: None,
        }
        .parse_list(value)
    }

    /// Checks that every named schedule exists in `schedules`.
    pub fn check_schedules(&self, schedules: &Schedules) -> Result<(), SpecialistsError> {
        match self.schedule_faults(schedules).into_iter().next() {
            Some((_, e)) => Err(e),
            None => Ok(()),
        }
    }

    /// Every specialist whose named schedule is not in `schedules`, with
    /// their position in the list.
    pub fn schedule_faults(&self, schedules: &Schedules) -> Vec<(usize, SpecialistsError)> {
        let mut out = Vec::new();
        for (i, s) in self.list.iter().enumerate() {
            if let Some(ScheduleRef::Named(id)) = &s.schedule {
                if schedules.get(id).is_none() {
                    let known: Vec<&str> = schedules.ids().collect();
                    out.push((
                        i,
                        SpecialistsError::Invalid {
                            path: None,
                            line: None,
                            entry: format!("specialist #{} `{}`", i + 1, s.id),
                            key: "schedule".into(),
                            message: format!(
                                "no schedule `{id}` in [hours] (known: {})",
                                if known.is_empty() {
                                    "none".to_string()
                                } else {
                                    known.join(", ")
                                }
                            ),
                        },
                    ));
                }
            }
        }
        out
    }

    /// The specialist with this id.
    pub fn get(&self, id: &str) -> Option<&Specialist> {
        self.index.get(id).and_then(|&i| self.list.get(i))
    }

    /// The position of this id in configuration order.
    pub fn position(&self, id: &str) -> Option<usize> {
        self.index.get(id).copied()
    }

    /// The registered softphone with this username (compared without case).
    pub fn by_username(&self, username: &str) -> Option<&Specialist> {
        self.list.iter().find(|s| match &s.contact {
            SpecialistContact::Registered { username: u, .. } => u.eq_ignore_ascii_case(username),
            _ => false,
        })
    }

    /// The softphones registered to Senim: `(id, username, password)`, for
    /// the registrar's accounts.
    pub fn softphones(&self) -> impl Iterator<Item = (&SpecialistId, &str, &Password)> {
        self.list.iter().filter_map(|s| match &s.contact {
            SpecialistContact::Registered { username, password } => {
                Some((&s.id, username.as_str(), password))
            }
            _ => None,
        })
    }

    /// All, in configuration order.
    pub fn iter(&self) -> impl Iterator<Item = &Specialist> {
        self.list.iter()
    }

    /// Those with this skill, in configuration order.
    pub fn with_skill(&self, skill: Skill) -> impl Iterator<Item = &Specialist> {
        self.list.iter().filter(move |s| s.has_skill(skill))
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// What would clash with the specialists already in the list: a
    /// duplicate id or softphone username. Returns the key and the message.
    fn clash(&self, s: &Specialist) -> Option<(&'static str, String)> {
        if let Some(&j) = self.index.get(&s.id) {
            return Some((
                "id",
                format!("duplicate id: specialist #{} has the same id", j + 1),
            ));
        }
        if let SpecialistContact::Registered { username, .. } = &s.contact {
            if let Some(other) = self.by_username(username) {
                return Some((
                    "username",
                    format!(
                        "specialist `{}` already registers as `{username}`: usernames must differ",
                        other.id
                    ),
                ));
            }
        }
        None
    }

    fn push(&mut self, s: Specialist) {
        self.index.insert(s.id.clone(), self.list.len());
        self.list.push(s);
    }
}

impl<'de> Deserialize<'de> for Specialists {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        Specialists::from_toml_value(&v).map_err(serde::de::Error::custom)
    }
}

// ---------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------

const KEYS: [&str; 19] = [
    "id",
    "name",
    "skills",
    "languages",
    "uri",
    "number",
    "username",
    "password",
    "schedule",
    "max_calls",
    "wrap_up",
    "notes",
    "require_srtp",
    "wrap_up_by_kind",
    "crisis_in_a_row",
    "break",
    "daily_calls",
    "long_call",
    "alert_after",
];

fn key_hint(k: &str) -> Option<&'static str> {
    Some(match k {
        "skill" | "services" | "service" => "skills",
        "language" | "langs" | "lang" => "languages",
        "phone" | "mobile" | "tel" => "number",
        "sip" | "sip_uri" | "address" => "uri",
        "user" | "login" | "softphone" => "username",
        "secret" | "pass" | "passwd" => "password",
        "hours" => "schedule",
        "wrapup" | "wrap-up" | "wrap_up_time" => "wrap_up",
        "max-calls" | "calls" | "maxcalls" | "calls_at_a_time" => "max_calls",
        "srtp" | "require-srtp" | "requires_srtp" | "srtp_required" => "require_srtp",
        "contact" => "uri, number or username",
        "break_for" | "break_length" | "pause_after_crisis" => "break",
        "daily_cap" | "calls_per_day" | "max_calls_per_day" => "daily_calls",
        "crisis_cap" | "crisis_calls_in_a_row" => "crisis_in_a_row",
        _ => return None,
    })
}

struct Parser<'a> {
    text: Option<&'a str>,
    path: Option<&'a Path>,
}

struct Entry<'a> {
    name: String,
    /// What to look for in the text to find the line: `"id"` quoted.
    needle: String,
    parser: &'a Parser<'a>,
}

impl Entry<'_> {
    fn err(&self, key: &str, message: impl Into<String>) -> SpecialistsError {
        self.parser.err(&self.needle, &self.name, key, message)
    }
}

impl Parser<'_> {
    fn err(
        &self,
        needle: &str,
        entry: &str,
        key: &str,
        message: impl Into<String>,
    ) -> SpecialistsError {
        let line = self.text.and_then(|t| {
            if needle.starts_with('"') {
                line_of_key(t, "id", needle)
            } else {
                line_of(t, needle)
            }
        });
        SpecialistsError::Invalid {
            path: self.path.map(Path::to_path_buf),
            line,
            entry: entry.to_string(),
            key: key.to_string(),
            message: message.into(),
        }
    }

    fn parse_list(&self, v: &Value) -> Result<Specialists, SpecialistsError> {
        let Value::Array(items) = v else {
            return Err(self.err(
                "specialist",
                "top level",
                "specialist",
                format!("expected [[specialist]] entries, found {}", type_name(v)),
            ));
        };
        let mut out = Specialists::default();
        for (i, item) in items.iter().enumerate() {
            let s = self.parse_one(item, i)?;
            if let Some((key, message)) = out.clash(&s) {
                let needle = format!("\"{}\"", s.id);
                let mut e = self.err(
                    &needle,
                    &format!("specialist #{} `{}`", i + 1, s.id),
                    key,
                    message,
                );
                if let (SpecialistsError::Invalid { line, .. }, Some(text), "id") =
                    (&mut e, self.text, key)
                {
                    // Point at the second occurrence, not the first.
                    *line = lines_of_key(text, "id", &needle).nth(1).or(*line);
                }
                return Err(e);
            }
            out.push(s);
        }
        Ok(out)
    }

    fn parse_one(&self, v: &Value, i: usize) -> Result<Specialist, SpecialistsError> {
        let anon = format!("specialist #{}", i + 1);
        let Value::Table(t) = v else {
            return Err(self.err("", &anon, "", "expected a [[specialist]] table"));
        };
        let id = match t.get("id") {
            Some(Value::String(s)) => s.trim().to_string(),
            Some(other) => {
                return Err(self.err(
                    "",
                    &anon,
                    "id",
                    format!("expected text, found {}", type_name(other)),
                ))
            }
            None => return Err(self.err("", &anon, "id", "missing (id = \"aigerim\")")),
        };
        let entry = Entry {
            name: format!("specialist #{} `{id}`", i + 1),
            needle: format!("\"{id}\""),
            parser: self,
        };
        if !is_valid_id(&id) {
            return Err(entry.err(
                "id",
                format!("`{id}`: an id is lower-case letters, digits and `-` (e.g. aigerim)"),
            ));
        }
        for k in t.keys() {
            if !KEYS.contains(&k.as_str()) {
                let hint = key_hint(k)
                    .map(|h| format!(" (write `{h}`)"))
                    .unwrap_or_default();
                return Err(entry.err(
                    k,
                    format!("unknown key{hint}; expected one of: {}", KEYS.join(", ")),
                ));
            }
        }

        let name = match t.get("name") {
            Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_string(),
            Some(Value::String(_)) | None => return Err(entry.err("name", "missing or empty")),
            Some(other) => {
                return Err(entry.err("name", format!("expected text, found {}", type_name(other))))
            }
        };

        let skills = parse_skills(t.get("skills")).map_err(|m| entry.err("skills", m))?;
        let languages =
            parse_languages(t.get("languages")).map_err(|m| entry.err("languages", m))?;
        let contact = parse_contact(t, &entry)?;

        let schedule = match t.get("schedule") {
            None => None,
            Some(Value::String(s)) if s.trim() == "24/7" => {
                Some(ScheduleRef::Inline(WeeklySchedule::always()))
            }
            Some(Value::String(s)) => {
                let s = s.trim();
                if !is_valid_id(s) {
                    return Err(entry.err(
                        "schedule",
                        format!(
                            "`{s}` is not a schedule id: name a schedule from [hours] (e.g. \"centre\"), \
                             write \"24/7\", or give a table (schedule = {{ mon = \"09:00-18:00\" }})"
                        ),
                    ));
                }
                Some(ScheduleRef::Named(s.to_string()))
            }
            Some(v @ Value::Table(_)) => Some(ScheduleRef::Inline(
                WeeklySchedule::value_at(v, "schedule").map_err(|e| match e {
                    HoursError::Schedule { key, message } => entry.err(&key, message),
                    other => entry.err("schedule", other.to_string()),
                })?,
            )),
            Some(other) => {
                return Err(entry.err(
                    "schedule",
                    format!(
                        "expected a schedule id, \"24/7\" or a table, found {}",
                        type_name(other)
                    ),
                ))
            }
        };

        let max_calls =
            match t.get("max_calls") {
                None => 1,
                Some(Value::Integer(n)) if (1..=i64::from(MAX_CALLS_LIMIT)).contains(n) => {
                    u32::try_from(*n).unwrap_or(1)
                }
                Some(Value::Integer(0)) => return Err(entry.err(
                    "max_calls",
                    "0 would never ring: to take someone off duty, pause them or remove the entry",
                )),
                Some(Value::Integer(n)) => {
                    return Err(entry.err(
                        "max_calls",
                        format!("{n}: write a number from 1 to {MAX_CALLS_LIMIT}"),
                    ))
                }
                Some(other) => {
                    return Err(entry.err(
                        "max_calls",
                        format!("expected a whole number, found {}", type_name(other)),
                    ))
                }
            };

        let wrap_up = match t.get("wrap_up") {
            None => DEFAULT_WRAP_UP,
            Some(v) => parse_wrap_up(v).map_err(|m| entry.err("wrap_up", m))?,
        };

        let require_srtp = match t.get("require_srtp") {
            None => false,
            Some(Value::Boolean(b)) => *b,
            Some(other) => {
                return Err(entry.err(
                    "require_srtp",
                    format!("expected true or false, found {}", type_name(other)),
                ))
            }
        };
        if require_srtp && !contact.needs_registration() {
            return Err(entry.err(
                "require_srtp",
                "applies to a softphone registered to Senim (`username`): a `uri` or `number` \
                 is rung by Senim, and its media follows that leg's offer",
            ));
        }

        if let Some(v) = t.get("notes") {
            if !matches!(v, Value::String(_)) {
                return Err(entry.err("notes", format!("expected text, found {}", type_name(v))));
            }
        }

        let limits = parse_limits(t).map_err(|(key, m)| entry.err(&key, m))?;

        Ok(Specialist {
            id: SpecialistId(id),
            name,
            skills,
            languages,
            contact,
            schedule,
            max_calls,
            wrap_up,
            require_srtp,
            limits,
        })
    }
}

/// The most calls a day a cap may allow.
pub const MAX_DAILY_CALLS: u32 = 500;
/// The most crisis or long calls in a row a cap may allow.
pub const MAX_CRISIS_IN_A_ROW: u32 = 50;

/// A duration key of the limits: up to `max`.
fn limit_duration(v: &Value, max: Duration) -> Result<Duration, String> {
    let d = duration_value(v)?;
    if d > max {
        return Err(format!(
            "{}s is longer than the limit of {}s",
            d.as_secs(),
            max.as_secs()
        ));
    }
    Ok(d)
}

/// A count key of the limits: 0 (off) to `max`.
fn limit_count(v: &Value, max: u32) -> Result<u32, String> {
    match v {
        Value::Integer(n) if (0..=i64::from(max)).contains(n) => Ok(u32::try_from(*n).unwrap_or(0)),
        Value::Integer(n) => Err(format!("{n}: write a number from 0 (no cap) to {max}")),
        other => Err(format!(
            "expected a whole number, found {}",
            type_name(other)
        )),
    }
}

/// The keys of a specialist's own limits; the error names the key.
fn parse_limits(t: &Table) -> Result<SpecialistLimits, (String, String)> {
    let mut out = SpecialistLimits::default();
    let day = Duration::from_secs(24 * 3600);
    if let Some(v) = t.get("wrap_up_by_kind") {
        let Value::Table(kinds) = v else {
            return Err((
                "wrap_up_by_kind".into(),
                format!(
                    "expected a table such as {{ crisis-intervention = \"15m\" }}, found {}",
                    type_name(v)
                ),
            ));
        };
        for (kind, d) in kinds {
            if !is_valid_id(kind) {
                return Err((
                    format!("wrap_up_by_kind.{kind}"),
                    "a kind id is lower-case letters, digits and `-`".into(),
                ));
            }
            let d = parse_wrap_up(d).map_err(|m| (format!("wrap_up_by_kind.{kind}"), m))?;
            out.wrap_up_by_kind.insert(kind.clone(), d);
        }
    }
    if let Some(v) = t.get("crisis_in_a_row") {
        out.crisis_in_a_row =
            Some(limit_count(v, MAX_CRISIS_IN_A_ROW).map_err(|m| ("crisis_in_a_row".into(), m))?);
    }
    if let Some(v) = t.get("break") {
        out.break_for = Some(limit_duration(v, day).map_err(|m| ("break".into(), m))?);
    }
    if let Some(v) = t.get("daily_calls") {
        out.daily_calls =
            Some(limit_count(v, MAX_DAILY_CALLS).map_err(|m| ("daily_calls".into(), m))?);
    }
    if let Some(v) = t.get("long_call") {
        out.long_call = Some(limit_duration(v, day).map_err(|m| ("long_call".into(), m))?);
    }
    if let Some(v) = t.get("alert_after") {
        out.alert_after = Some(limit_duration(v, day).map_err(|m| ("alert_after".into(), m))?);
    }
    Ok(out)
}

fn parse_skills(v: Option<&Value>) -> Result<BTreeSet<Skill>, String> {
    let words: Vec<&Value> = match v {
        None => return Err("missing: skills = [\"legal\", \"psychology\", \"mediation\"]".into()),
        Some(s @ Value::String(_)) => vec![s],
        Some(Value::Array(a)) => a.iter().collect(),
        Some(other) => {
            return Err(format!(
                "expected a list of skills, found {}",
                type_name(other)
            ))
        }
    };
    let mut out = BTreeSet::new();
    for w in words {
        let Value::String(s) = w else {
            return Err(format!("expected skill names, found {}", type_name(w)));
        };
        let skill = Skill::parse(s.trim()).ok_or_else(|| Skill::unknown(s))?;
        if !out.insert(skill) {
            return Err(format!("`{skill}` is listed twice"));
        }
    }
    if out.is_empty() {
        return Err("empty: give at least one of legal, psychology, mediation".into());
    }
    Ok(out)
}

/// Checks a language code: two lower-case letters (ISO 639-1), `kk` or `ru`
/// at the centre.
pub fn check_language(code: &str) -> Result<String, String> {
    let c = code.trim();
    let hint = match c.to_lowercase().as_str() {
        "kz" | "kaz" | "қаз" | "каз" | "kazakh" | "қазақ" | "казахский" => {
            Some("kk")
        }
        "rus" | "рус" | "russian" | "орыс" | "русский" => Some("ru"),
        l if l != c && l.len() == 2 && l.chars().all(|ch| ch.is_ascii_lowercase()) => {
            return Err(format!("`{c}`: write language codes in lower case (`{l}`)"))
        }
        _ => None,
    };
    if let Some(h) = hint {
        return Err(format!(
            "`{c}` is not a language code: write `{h}` (kk = Kazakh, ru = Russian)"
        ));
    }
    if c.len() == 2 && c.chars().all(|ch| ch.is_ascii_lowercase()) {
        Ok(c.to_string())
    } else {
        Err(format!(
            "`{c}` is not a language code: write two lower-case letters, kk or ru"
        ))
    }
}

fn parse_languages(v: Option<&Value>) -> Result<Vec<String>, String> {
    let items: Vec<&Value> = match v {
        None => return Err("missing: languages = [\"kk\", \"ru\"]".into()),
        Some(s @ Value::String(_)) => vec![s],
        Some(Value::Array(a)) => a.iter().collect(),
        Some(other) => {
            return Err(format!(
                "expected a list of language codes, found {}",
                type_name(other)
            ))
        }
    };
    let mut out: Vec<String> = Vec::new();
    for item in items {
        let Value::String(s) = item else {
            return Err(format!(
                "expected language codes, found {}",
                type_name(item)
            ));
        };
        let code = check_language(s)?;
        if out.contains(&code) {
            return Err(format!("`{code}` is listed twice"));
        }
        out.push(code);
    }
    if out.is_empty() {
        return Err("empty: give at least one language (kk, ru)".into());
    }
    Ok(out)
}

fn string_key<'a>(
    t: &'a Table,
    key: &str,
    entry: &Entry<'_>,
) -> Result<Option<&'a str>, SpecialistsError> {
    match t.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(other) => Err(entry.err(key, format!("expected text, found {}", type_name(other)))),
    }
}

fn parse_contact(t: &Table, entry: &Entry<'_>) -> Result<SpecialistContact, SpecialistsError> {
    let uri = string_key(t, "uri", entry)?;
    let number = string_key(t, "number", entry)?;
    let username = string_key(t, "username", entry)?;
    let password = string_key(t, "password", entry)?;
    let given: Vec<&str> = [("uri", uri), ("number", number), ("username", username)]
        .iter()
        .filter(|(_, v)| v.is_some())
        .map(|(k, _)| *k)
        .collect();
    if given.len() > 1 {
        return Err(entry.err(
            given.get(1).copied().unwrap_or("uri"),
            format!(
                "give one way to reach the specialist, not {}: uri, number or username",
                given.join(" and ")
            ),
        ));
    }
    if password.is_some() && username.is_none() {
        return Err(entry.err(
            "password",
            "a password belongs to a softphone registered to Senim: give `username` too \
             (a uri or number needs no password here)",
        ));
    }
    if let Some(u) = uri {
        let u = check_sip_uri(u).map_err(|m| entry.err("uri", m))?;
        return Ok(SpecialistContact::Uri(u));
    }
    if let Some(n) = number {
        let n = normalize_number(n).map_err(|m| entry.err("number", m))?;
        if !n.starts_with('+') {
            return Err(entry.err(
                "number",
                format!(
                    "`{n}` is a short code: a specialist's phone is a full number in E.164 (+7...)"
                ),
            ));
        }
        return Ok(SpecialistContact::Number(n));
    }
    if let Some(u) = username {
        let u = u.trim();
        if u.is_empty()
            || u.len() > 64
            || !u
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        {
            return Err(entry.err(
                "username",
                format!("`{u}`: a username is 1-64 letters, digits, `.`, `_` or `-`"),
            ));
        }
        let Some(p) = password else {
            return Err(entry.err(
                "password",
                "missing: a softphone registered to Senim needs a password",
            ));
        };
        if p.chars().count() < MIN_PASSWORD_LEN {
            return Err(entry.err(
                "password",
                format!(
                    "too short: at least {MIN_PASSWORD_LEN} characters (a registered softphone can \
                     make calls through the centre's trunk)"
                ),
            ));
        }
        if p.chars().any(char::is_control) {
            return Err(entry.err("password", "control characters are not allowed"));
        }
        return Ok(SpecialistContact::Registered {
            username: u.to_string(),
            password: Password(p.to_string()),
        });
    }
    Err(entry.err(
        "uri",
        "missing: give uri = \"sip:...\", number = \"+7...\", or username and password for a softphone",
    ))
}

/// A duration written as `"30s"`, `"2m"`, `"1m30s"`, `"1500ms"` or a whole
/// number of seconds.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let s = text.trim();
    if s.is_empty() {
        return None;
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse::<u64>().ok().map(Duration::from_secs);
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 || digits > 9 {
            return None;
        }
        let n: u64 = rest.get(..digits)?.parse().ok()?;
        rest = rest.get(digits..)?;
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = rest.get(..unit_len)?.trim();
        rest = rest.get(unit_len..)?;
        let d = match unit {
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            "m" | "min" => Duration::from_secs(n.checked_mul(60)?),
            "h" => Duration::from_secs(n.checked_mul(3600)?),
            _ => return None,
        };
        total = total.checked_add(d)?;
    }
    Some(total)
}

fn parse_wrap_up(v: &Value) -> Result<Duration, String> {
    let d = duration_value(v)?;
    if d > MAX_WRAP_UP {
        return Err(format!(
            "{}s is longer than the limit of one hour (pause the specialist instead)",
            d.as_secs()
        ));
    }
    Ok(d)
}

/// A duration written as text (`"30s"`) or whole seconds.
fn duration_value(v: &Value) -> Result<Duration, String> {
    let d = match v {
        Value::String(s) => parse_duration(s).ok_or_else(|| {
            format!("`{s}` is not a duration: write e.g. \"30s\", \"2m\" or \"1m30s\"")
        })?,
        Value::Integer(n) => u64::try_from(*n)
            .map(Duration::from_secs)
            .map_err(|_| format!("{n}: a duration cannot be negative"))?,
        other => {
            return Err(format!(
                "expected a duration like \"30s\", found {}",
                type_name(other)
            ))
        }
    };
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse_duration("45"), Some(Duration::from_secs(45)));
        assert_eq!(parse_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("1500ms"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("0s"), Some(Duration::ZERO));
        assert_eq!(parse_duration("2 m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("s"), None);
        assert_eq!(parse_duration("10x"), None);
        assert_eq!(parse_duration(""), None);
        assert_eq!(parse_duration("99999999999999999999s"), None);
    }

    #[test]
    fn languages() {
        assert_eq!(check_language("kk"), Ok("kk".into()));
        assert!(check_language("kz").unwrap_err().contains("`kk`"));
        assert!(check_language("RU").unwrap_err().contains("`ru`"));
        assert!(check_language("русский").unwrap_err().contains("`ru`"));
        assert!(check_language("k").is_err());
    }

    #[test]
    fn require_srtp_is_for_softphones() {
        let base = "[[specialist]]\nid = \"a\"\nname = \"A\"\nskills = [\"legal\"]\nlanguages = [\"ru\"]\n";
        let path = Path::new("specialists.toml");
        let phone =
            format!("{base}username = \"a\"\npassword = \"a-long-secret\"\nrequire_srtp = true\n");
        let list = Specialists::from_toml_str(&phone, path).unwrap();
        assert!(list.iter().all(|s| s.require_srtp));
        let plain = format!("{base}username = \"a\"\npassword = \"a-long-secret\"\n");
        let list = Specialists::from_toml_str(&plain, path).unwrap();
        assert!(list.iter().all(|s| !s.require_srtp));
        let uri = format!("{base}uri = \"sip:a@127.0.0.1:5062\"\nrequire_srtp = true\n");
        let e = Specialists::from_toml_str(&uri, path)
            .unwrap_err()
            .to_string();
        assert!(e.contains("require_srtp"), "{e}");
        let word = format!(
            "{base}username = \"a\"\npassword = \"a-long-secret\"\nrequire_srtp = \"yes\"\n"
        );
        assert!(Specialists::from_toml_str(&word, path).is_err());
    }
}
