//! The partner directory: the only places a call may be transferred to.
//!
//! Loaded from `data/partners.toml` ([`PartnerDirectory::load`]). Each entry
//! has an `id`, names in Kazakh and Russian, a SIP `uri` and/or phone
//! `number`s reached through the trunk, `languages`, `hours`, `services`,
//! `source`, `verified`, `notes` and `share_caller_number` (off unless the
//! entry says so: a partner sees the centre's number, not the caller's). Everything is checked at load time and
//! errors name the file (with the entry's line when it can be found), the
//! entry and the key.
//!
//! Safety rule: a transfer names a partner by id, and the dialled
//! destination comes only from this directory. Nothing in this module turns
//! digits typed by a caller into a destination.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use toml::{Table, Value};

use crate::data_file::{self, line_of, line_of_key, lines_of_key, DataFileError};
use crate::entry_id::is_valid_id;
use crate::hours::{Calendar, HoursError, WeeklySchedule};
use crate::toml_value::type_name;
use crate::verified::Verified;

/// The bundled seed directory (`data/partners.toml`).
pub const BUNDLED_PARTNERS: &str = include_str!("../../../data/partners.toml");

/// Errors from loading the partner directory.
#[derive(Debug, thiserror::Error)]
pub enum PartnersError {
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
    /// An entry (or the top level) is wrong.
    #[error("{}{}: {entry}{}: {message}",
        path.display(),
        line.map(|l| format!(":{l}")).unwrap_or_default(),
        if key.is_empty() { String::new() } else { format!(", key `{key}`") })]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The line of the entry, when it could be found.
        line: Option<usize>,
        /// The entry, e.g. ``partner #2 `ulba-crisis-centre` `` or `top level`.
        entry: String,
        /// The key, e.g. `number` or `hours.mon`; empty for the whole entry.
        key: String,
        /// What is wrong.
        message: String,
    },
}

impl From<DataFileError> for PartnersError {
    fn from(e: DataFileError) -> Self {
        match e {
            DataFileError::Io { path, source } => PartnersError::Io { path, source },
            DataFileError::Toml { path, message } => PartnersError::Toml { path, message },
        }
    }
}

/// How a partner is reached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Contact {
    /// A SIP URI (`sip:crisis@partner.example`), called directly.
    Uri(String),
    /// A phone number reached through the trunk: E.164 (`+77232771922`) or
    /// a short code (`112`, `150`, `1415`).
    Number(String),
}

impl fmt::Display for Contact {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Contact::Uri(u) => f.write_str(u),
            Contact::Number(n) => f.write_str(n),
        }
    }
}

/// One partner or hotline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Partner {
    id: String,
    name_kk: String,
    name_ru: String,
    contacts: Vec<Contact>,
    languages: Vec<String>,
    hours: Option<WeeklySchedule>,
    services: Vec<String>,
    source: String,
    verified: Verified,
    notes: String,
    share_caller_number: bool,
}

impl Partner {
    /// The id (`[a-z0-9-]`), used by the dialplan (`partner="..."`).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Name in Kazakh.
    pub fn name_kk(&self) -> &str {
        &self.name_kk
    }

    /// Name in Russian.
    pub fn name_ru(&self) -> &str {
        &self.name_ru
    }

    /// The name in `lang` (`"kk"` or `"ru"`; anything else gives Russian).
    pub fn name(&self, lang: &str) -> &str {
        if lang == "kk" {
            &self.name_kk
        } else {
            &self.name_ru
        }
    }

    /// How to reach the partner, in order of preference: the SIP URI first
    /// (when there is one), then the numbers in file order. Never empty.
    pub fn contacts(&self) -> &[Contact] {
        &self.contacts
    }

    /// Languages the partner answers in (`"kk"`, `"ru"`, ...).
    pub fn languages(&self) -> &[String] {
        &self.languages
    }

    /// Does the partner answer in `lang`?
    pub fn speaks(&self, lang: &str) -> bool {
        self.languages.iter().any(|l| l == lang)
    }

    /// The partner's hours; `None` when not known (`hours = "unknown"` or
    /// absent): the caller decides, e.g. try and fall back on no answer.
    pub fn hours(&self) -> Option<&WeeklySchedule> {
        self.hours.as_ref()
    }

    /// Open at `at`, by its hours and its own holiday rule; `None` when the
    /// hours are not known.
    pub fn is_open(&self, calendar: &Calendar, at: DateTime<Utc>) -> Option<bool> {
        self.hours
            .as_ref()
            .map(|h| calendar.is_open_as_configured(h, at))
    }

    /// Services offered (`crisis`, `psychology`, `children`, `violence`, ...).
    pub fn services(&self) -> &[String] {
        &self.services
    }

    /// Does the partner offer `service`?
    pub fn offers(&self, service: &str) -> bool {
        self.services.iter().any(|s| s == service)
    }

    /// Where the contact details come from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Whether (and when) the details were confirmed.
    pub fn verified(&self) -> Verified {
        self.verified
    }

    /// Free text.
    pub fn notes(&self) -> &str {
        &self.notes
    }

    /// Does the partner see the caller's number on a transfer? Only when
    /// its entry says `share_caller_number = true` (an agreement with that
    /// centre); otherwise it sees the centre's number.
    pub fn shares_caller_number(&self) -> bool {
        self.share_caller_number
    }
}

/// The checked partner directory.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct PartnerDirectory {
    source: String,
    verified: Verified,
    partners: Vec<Partner>,
    index: BTreeMap<String, usize>,
}

impl PartnerDirectory {
    /// The bundled seed directory.
    pub fn bundled() -> Result<PartnerDirectory, PartnersError> {
        PartnerDirectory::from_toml_str(BUNDLED_PARTNERS, Path::new("data/partners.toml"))
    }

    /// Reads and checks a partner file.
    pub fn load(path: &Path) -> Result<PartnerDirectory, PartnersError> {
        data_file::load(path, PartnerDirectory::from_toml_str)
    }

    /// Parses and checks the text of a partner file; `path` is used in errors.
    pub fn from_toml_str(text: &str, path: &Path) -> Result<PartnerDirectory, PartnersError> {
        let table: Table = data_file::parse_table(text, path)?;
        Parser { text, path }.parse(&table)
    }

    /// The partner with this id.
    pub fn get(&self, id: &str) -> Option<&Partner> {
        self.index.get(id).and_then(|&i| self.partners.get(i))
    }

    /// True when `id` names a partner.
    pub fn contains(&self, id: &str) -> bool {
        self.index.contains_key(id)
    }

    /// The ids, in file order.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.partners.iter().map(|p| p.id.as_str())
    }

    /// The partners, in file order.
    pub fn iter(&self) -> impl Iterator<Item = &Partner> {
        self.partners.iter()
    }

    /// The partners offering `service`, in file order.
    pub fn offering<'a>(&'a self, service: &'a str) -> impl Iterator<Item = &'a Partner> + 'a {
        self.partners.iter().filter(move |p| p.offers(service))
    }

    /// Number of partners.
    pub fn len(&self) -> usize {
        self.partners.len()
    }

    /// True when there is none.
    pub fn is_empty(&self) -> bool {
        self.partners.is_empty()
    }

    /// The file's `source`.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The file's `verified`.
    pub fn verified(&self) -> Verified {
        self.verified
    }
}

/// Checks and normalises a number: E.164 (`+77232771922`; spaces, dashes,
/// dots and brackets are dropped), the same number in the national form
/// (`8 7232 77-19-22`) or without its `+` (`77232771922`), both written as
/// E.164, or a short code of 3-4 digits.
pub fn normalize_number(raw: &str) -> Result<String, String> {
    let cleaned: String = raw
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '.' | '\u{a0}'))
        .collect();
    if let Some(digits) = cleaned.strip_prefix('+') {
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("`{raw}`: after + only digits may follow"));
        }
        if digits.starts_with('0') {
            return Err(format!("`{raw}`: a country code never starts with 0"));
        }
        if !(8..=15).contains(&digits.len()) {
            return Err(format!(
                "`{raw}`: an E.164 number has 8 to 15 digits after +, this has {}",
                digits.len()
            ));
        }
        if digits.starts_with('7') && digits.len() != 11 {
            return Err(format!(
                "`{raw}`: a Kazakhstan number is +7 and 10 digits (+7 7232 77 19 22), this has {} after +7",
                digits.len() - 1
            ));
        }
        return Ok(cleaned);
    }
    if !cleaned.is_empty() && cleaned.bytes().all(|b| b.is_ascii_digit()) {
        if (3..=4).contains(&cleaned.len()) {
            return Ok(cleaned);
        }
        // The national form (8 and ten digits) and the international one
        // without its + (7 and ten digits) are the same number as +7...
        if cleaned.len() == 11 && (cleaned.starts_with('8') || cleaned.starts_with('7')) {
            return Ok(format!("+7{}", &cleaned[1..]));
        }
        return Err(format!(
            "`{raw}`: write numbers in E.164 (+7...) or as a 3-4 digit short code (112, 150, 1415)"
        ));
    }
    Err(format!(
        "`{raw}` is not a phone number: write E.164 (+7...) or a 3-4 digit short code"
    ))
}

/// Checks a SIP URI: `sip:` or `sips:`, an optional user part, a host
/// (name, IPv4 or `[IPv6]`), an optional port and parameters.
pub fn check_sip_uri(raw: &str) -> Result<String, String> {
    let uri = raw.trim();
    let lower = uri.to_ascii_lowercase();
    let rest = if lower.starts_with("sip:") {
        &uri[4..]
    } else if lower.starts_with("sips:") {
        &uri[5..]
    } else {
        return Err(format!(
            "`{raw}` is not a SIP URI: it must start with sip: (sip:user@host)"
        ));
    };
    if uri.chars().any(|c| {
        c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | '"') || !c.is_ascii()
    }) {
        return Err(format!(
            "`{raw}`: no spaces, quotes, angle brackets or non-ASCII letters in a URI"
        ));
    }
    let addr = rest.split([';', '?']).next().unwrap_or("");
    let hostport = match addr.rsplit_once('@') {
        Some((user, host)) => {
            if user.is_empty() {
                return Err(format!("`{raw}`: empty user part before @"));
            }
            host
        }
        None => addr,
    };
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let Some((h, after)) = v6.split_once(']') else {
            return Err(format!("`{raw}`: unclosed [ in the host"));
        };
        if h.is_empty()
            || !h
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
        {
            return Err(format!("`{raw}`: bad IPv6 address"));
        }
        match after {
            "" => (h, None),
            p => match p.strip_prefix(':') {
                Some(port) => (h, Some(port)),
                None => return Err(format!("`{raw}`: unexpected text after ]")),
            },
        }
    } else {
        match hostport.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    if host.is_empty() {
        return Err(format!("`{raw}`: no host"));
    }
    if !hostport.starts_with('[')
        && !host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
    {
        return Err(format!("`{raw}`: bad host `{host}`"));
    }
    if let Some(p) = port {
        match p.parse::<u16>() {
            Ok(n) if n > 0 => {}
            _ => return Err(format!("`{raw}`: bad port `{p}`")),
        }
    }
    Ok(uri.to_string())
}

struct Parser<'a> {
    text: &'a str,
    path: &'a Path,
}

const PARTNER_KEYS: [&str; 11] = [
    "id",
    "name",
    "uri",
    "number",
    "languages",
    "hours",
    "services",
    "source",
    "verified",
    "notes",
    "share_caller_number",
];

impl Parser<'_> {
    fn err(
        &self,
        needle: &str,
        entry: &str,
        key: &str,
        message: impl Into<String>,
    ) -> PartnersError {
        PartnersError::Invalid {
            path: self.path.to_path_buf(),
            line: if needle.starts_with('"') {
                line_of_key(self.text, "id", needle)
            } else {
                line_of(self.text, needle)
            },
            entry: entry.to_string(),
            key: key.to_string(),
            message: message.into(),
        }
    }

    fn parse(&self, top: &Table) -> Result<PartnerDirectory, PartnersError> {
        for k in top.keys() {
            if !["source", "verified", "updated", "notes", "partner"].contains(&k.as_str()) {
                let hint = if k == "partners" {
                    " (write [[partner]] for each entry)"
                } else {
                    ""
                };
                return Err(self.err(
                    k,
                    "top level",
                    k,
                    format!("unknown key{hint}; expected source, verified, updated, notes or [[partner]]"),
                ));
            }
        }
        let source = match top.get("source") {
            Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_string(),
            _ => {
                return Err(self.err(
                    "source",
                    "top level",
                    "source",
                    "say where the directory comes from (source = \"...\")",
                ))
            }
        };
        let verified = match top.get("verified") {
            Some(v) => Verified::from_value(v)
                .map_err(|m| self.err("verified", "top level", "verified", m))?,
            None => {
                return Err(self.err(
                    "",
                    "top level",
                    "verified",
                    "missing: write the date the directory was checked, or false",
                ))
            }
        };
        let mut dir = PartnerDirectory {
            source,
            verified,
            ..PartnerDirectory::default()
        };
        let entries = match top.get("partner") {
            None => return Ok(dir),
            Some(Value::Array(a)) => a,
            Some(other) => {
                return Err(self.err(
                    "partner",
                    "top level",
                    "partner",
                    format!("expected [[partner]] entries, found {}", type_name(other)),
                ))
            }
        };
        for (i, v) in entries.iter().enumerate() {
            let p = self.parse_partner(v, i)?;
            if let Some(&first) = dir.index.get(&p.id) {
                let needle = id_needle(&p.id);
                let mut e = self.err(
                    &needle,
                    &format!("partner #{} `{}`", i + 1, p.id),
                    "id",
                    format!("duplicate id: partner #{} has the same id", first + 1),
                );
                if let PartnersError::Invalid { line, .. } = &mut e {
                    // Point at the second occurrence, not the first.
                    *line = lines_of_key(self.text, "id", &needle).nth(1).or(*line);
                }
                return Err(e);
            }
            dir.index.insert(p.id.clone(), dir.partners.len());
            dir.partners.push(p);
        }
        Ok(dir)
    }

    fn parse_partner(&self, v: &Value, i: usize) -> Result<Partner, PartnersError> {
        let mut entry = format!("partner #{}", i + 1);
        let Value::Table(t) = v else {
            return Err(self.err("", &entry, "", "expected a [[partner]] table"));
        };
        let id = match t.get("id") {
            Some(Value::String(s)) => s.trim().to_string(),
            Some(other) => {
                return Err(self.err(
                    "",
                    &entry,
                    "id",
                    format!("expected text, found {}", type_name(other)),
                ))
            }
            None => {
                return Err(self.err("", &entry, "id", "missing (id = \"ulba-crisis-centre\")"))
            }
        };
        let needle = id_needle(&id);
        if !is_valid_id(&id) {
            return Err(self.err(
                &needle,
                &entry,
                "id",
                format!(
                    "`{id}`: an id is lower-case letters, digits and `-` (e.g. ulba-crisis-centre)"
                ),
            ));
        }
        entry = format!("partner #{} `{id}`", i + 1);
        let e = entry.as_str();
        let n = needle.as_str();
        for k in t.keys() {
            if !PARTNER_KEYS.contains(&k.as_str()) {
                return Err(self.err(
                    n,
                    e,
                    k,
                    format!("unknown key; expected one of: {}", PARTNER_KEYS.join(", ")),
                ));
            }
        }

        // name = { kk = "...", ru = "..." }
        let (name_kk, name_ru) = match t.get("name") {
            Some(Value::Table(nt)) => {
                for k in nt.keys() {
                    if k != "kk" && k != "ru" {
                        return Err(self.err(
                            n,
                            e,
                            &format!("name.{k}"),
                            "unknown key; expected kk and ru",
                        ));
                    }
                }
                let get = |k: &str| match nt.get(k) {
                    Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.trim().to_string()),
                    _ => Err(self.err(n, e, &format!("name.{k}"), "missing or empty")),
                };
                (get("kk")?, get("ru")?)
            }
            _ => {
                return Err(self.err(
                    n,
                    e,
                    "name",
                    "expected name = { kk = \"...\", ru = \"...\" }",
                ))
            }
        };

        let mut contacts = Vec::new();
        match t.get("uri") {
            None => {}
            Some(Value::String(s)) => contacts.push(Contact::Uri(
                check_sip_uri(s).map_err(|m| self.err(n, e, "uri", m))?,
            )),
            Some(other) => {
                return Err(self.err(
                    n,
                    e,
                    "uri",
                    format!("expected a SIP URI string, found {}", type_name(other)),
                ))
            }
        }
        let numbers: Vec<&Value> = match t.get("number") {
            None => Vec::new(),
            Some(Value::Array(a)) => {
                if a.is_empty() {
                    return Err(self.err(
                        n,
                        e,
                        "number",
                        "an empty list: remove the key or give a number",
                    ));
                }
                a.iter().collect()
            }
            Some(other) => vec![other],
        };
        for nv in numbers {
            let Value::String(s) = nv else {
                return Err(self.err(
                    n,
                    e,
                    "number",
                    format!(
                        "write numbers as strings (\"+77232771922\"), found {}",
                        type_name(nv)
                    ),
                ));
            };
            let num = normalize_number(s).map_err(|m| self.err(n, e, "number", m))?;
            let c = Contact::Number(num);
            if contacts.contains(&c) {
                return Err(self.err(n, e, "number", format!("`{s}` is listed twice")));
            }
            contacts.push(c);
        }
        if contacts.is_empty() {
            return Err(self.err(
                n,
                e,
                "",
                "needs a `uri` (sip:...) or a `number` (E.164 or short code), or both",
            ));
        }

        let languages = self.string_list(
            t,
            "languages",
            e,
            n,
            |l| l.len() >= 2 && l.len() <= 3 && l.bytes().all(|b| b.is_ascii_lowercase()),
            "a language code like kk or ru",
        )?;
        let services = self.string_list(
            t,
            "services",
            e,
            n,
            is_valid_id,
            "a service like crisis, psychology, children, violence",
        )?;

        let hours = match t.get("hours") {
            None => None,
            Some(Value::String(s)) if s.trim().eq_ignore_ascii_case("unknown") => None,
            Some(v) => Some(WeeklySchedule::value_at(v, "hours").map_err(|he| match he {
                HoursError::Schedule { key, message } => self.err(n, e, &key, message),
                other => self.err(n, e, "hours", other.to_string()),
            })?),
        };

        let source = match t.get("source") {
            Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_string(),
            _ => {
                return Err(self.err(
                    n,
                    e,
                    "source",
                    "say where the contact details come from (source = \"...\")",
                ))
            }
        };
        let verified = match t.get("verified") {
            Some(v) => Verified::from_value(v).map_err(|m| self.err(n, e, "verified", m))?,
            None => {
                return Err(self.err(
                    n,
                    e,
                    "verified",
                    "missing: write the date it was confirmed (\"YYYY-MM-DD\") or false",
                ))
            }
        };
        let notes = match t.get("notes") {
            None => String::new(),
            Some(Value::String(s)) => s.trim().to_string(),
            Some(other) => {
                return Err(self.err(
                    n,
                    e,
                    "notes",
                    format!("expected text, found {}", type_name(other)),
                ))
            }
        };

        let share_caller_number = match t.get("share_caller_number") {
            None => false,
            Some(Value::Boolean(b)) => *b,
            Some(other) => {
                return Err(self.err(
                    n,
                    e,
                    "share_caller_number",
                    format!("expected true or false, found {}", type_name(other)),
                ))
            }
        };

        Ok(Partner {
            id,
            name_kk,
            name_ru,
            contacts,
            languages,
            hours,
            services,
            source,
            verified,
            notes,
            share_caller_number,
        })
    }

    fn string_list(
        &self,
        t: &Table,
        key: &str,
        e: &str,
        n: &str,
        ok: impl Fn(&str) -> bool,
        what: &str,
    ) -> Result<Vec<String>, PartnersError> {
        let Some(Value::Array(a)) = t.get(key) else {
            return Err(self.err(n, e, key, format!("expected a list of at least one {what}")));
        };
        if a.is_empty() {
            return Err(self.err(n, e, key, format!("expected a list of at least one {what}")));
        }
        let mut out: Vec<String> = Vec::new();
        for v in a {
            let Value::String(s) = v else {
                return Err(self.err(
                    n,
                    e,
                    key,
                    format!("expected {what}, found {}", type_name(v)),
                ));
            };
            let s = s.trim();
            if !ok(s) {
                return Err(self.err(n, e, key, format!("`{s}`: expected {what}")));
            }
            if out.iter().any(|x| x == s) {
                return Err(self.err(n, e, key, format!("`{s}` is listed twice")));
            }
            out.push(s.to_string());
        }
        Ok(out)
    }
}

fn id_needle(id: &str) -> String {
    format!("\"{id}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(normalize_number("+77232771922").unwrap(), "+77232771922");
        assert_eq!(
            normalize_number("+7 7232 77-19-22").unwrap(),
            "+77232771922"
        );
        assert_eq!(
            normalize_number("+7 (800) 080 77 71").unwrap(),
            "+78000807771"
        );
        assert_eq!(normalize_number("112").unwrap(), "112");
        assert_eq!(normalize_number("1415").unwrap(), "1415");
        assert_eq!(normalize_number("8 7232 77-19-22").unwrap(), "+77232771922");
        assert_eq!(normalize_number("77232771922").unwrap(), "+77232771922");
        assert!(normalize_number("8 10 49 30 123456").is_err());
        assert!(normalize_number("77-19-22").is_err());
        assert!(normalize_number("12").is_err());
        assert!(normalize_number("12345").is_err());
        assert!(normalize_number("+7723277192").is_err());
        assert!(normalize_number("+0123456789").is_err());
        assert!(normalize_number("+7abc").is_err());
        assert!(normalize_number("").is_err());
        assert!(normalize_number("+").is_err());
        assert!(normalize_number("+4930123456").is_ok());
        assert!(normalize_number("*112#").is_err());
    }

    #[test]
    fn uris() {
        assert!(check_sip_uri("sip:crisis@10.0.0.5").is_ok());
        assert!(check_sip_uri("sip:crisis@pbx.example.kz:5070;transport=tcp").is_ok());
        assert!(check_sip_uri("SIP:100@[2001:db8::1]:5060").is_ok());
        assert!(check_sip_uri("sips:partner.example").is_ok());
        assert!(check_sip_uri("tel:+77232771922").is_err());
        assert!(check_sip_uri("sip:").is_err());
        assert!(check_sip_uri("sip:@host").is_err());
        assert!(check_sip_uri("sip:a@").is_err());
        assert!(check_sip_uri("sip:a@host:0").is_err());
        assert!(check_sip_uri("sip:a@host:99999").is_err());
        assert!(check_sip_uri("sip:a b@host").is_err());
        assert!(check_sip_uri("sip:a@ho_st").is_err());
        assert!(check_sip_uri("sip:a@[zz]").is_err());
        assert!(check_sip_uri("sip:a@[::1").is_err());
        assert!(check_sip_uri("<sip:a@host>").is_err());
    }
}
