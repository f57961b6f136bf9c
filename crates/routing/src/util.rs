//! Small helpers shared by the two data files.

use std::fmt;

use chrono::NaiveDate;
use toml::Value;

/// Whether a fact in a data file was confirmed, and when.
///
/// Written in the files as `verified = false` or `verified = "2026-11-25"`
/// (the date someone confirmed it, e.g. by calling the number).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Verified {
    /// Not confirmed: taken from a document or a report and not yet checked.
    #[default]
    No,
    /// Confirmed on this date.
    On(NaiveDate),
}

impl Verified {
    /// True when confirmed.
    pub fn is_verified(&self) -> bool {
        matches!(self, Verified::On(_))
    }

    /// The date of confirmation, if any.
    pub fn date(&self) -> Option<NaiveDate> {
        match self {
            Verified::No => None,
            Verified::On(d) => Some(*d),
        }
    }

    /// Parses the TOML value of a `verified` key.
    pub(crate) fn from_value(v: &Value) -> Result<Verified, String> {
        match v {
            Value::Boolean(false) => Ok(Verified::No),
            Value::Boolean(true) => Err(
                "`verified = true` says nothing about when: write the date it was confirmed \
                 (\"YYYY-MM-DD\") or false"
                    .to_string(),
            ),
            other => parse_date(other)
                .map(Verified::On)
                .map_err(|e| format!("{e} (or false when not confirmed)")),
        }
    }
}

impl fmt::Display for Verified {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verified::No => f.write_str("not verified"),
            Verified::On(d) => write!(f, "verified {d}"),
        }
    }
}

/// A date written either as a TOML local date (`2026-03-23`) or a string
/// (`"2026-03-23"`).
pub(crate) fn parse_date(v: &Value) -> Result<NaiveDate, String> {
    match v {
        Value::String(s) => NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
            .map_err(|_| format!("`{s}` is not a date like 2026-03-23")),
        Value::Datetime(dt) => match (dt.date, dt.time, dt.offset) {
            (Some(d), None, None) => {
                NaiveDate::from_ymd_opt(i32::from(d.year), u32::from(d.month), u32::from(d.day))
                    .ok_or_else(|| format!("`{dt}` is not a valid date"))
            }
            _ => Err(format!("`{dt}` must be a date only, like 2026-03-23")),
        },
        other => Err(format!(
            "expected a date like 2026-03-23, found {}",
            type_name(other)
        )),
    }
}

/// A short name of a TOML value's type, for messages.
pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "a string",
        Value::Integer(_) => "an integer",
        Value::Float(_) => "a number",
        Value::Boolean(_) => "a boolean",
        Value::Datetime(_) => "a date/time",
        Value::Array(_) => "an array",
        Value::Table(_) => "a table",
    }
}

/// `[a-z0-9-]+`, not starting or ending with `-`.
pub(crate) fn is_valid_id(id: &str) -> bool {
    !id.is_empty()
        && !id.starts_with('-')
        && !id.ends_with('-')
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// The 1-based line of the first line of `text` that contains `needle`, for
/// pointing at an entry in an error message.
pub(crate) fn line_of(text: &str, needle: &str) -> Option<usize> {
    if needle.is_empty() {
        return None;
    }
    text.lines()
        .position(|l| {
            let code = l.split('#').next().unwrap_or("");
            code.contains(needle)
        })
        .map(|i| i + 1)
}

/// The 1-based line where `key = <value>` is written (`value` as it appears,
/// e.g. `"ulba"` or `2026-03-23`), else the first line containing `value`.
pub(crate) fn line_of_key(text: &str, key: &str, value: &str) -> Option<usize> {
    lines_of_key(text, key, value)
        .next()
        .or_else(|| line_of(text, value))
}

/// Every 1-based line where `key = <value>` is written.
pub(crate) fn lines_of_key<'a>(
    text: &'a str,
    key: &'a str,
    value: &'a str,
) -> impl Iterator<Item = usize> + 'a {
    text.lines().enumerate().filter_map(move |(n, l)| {
        if value.is_empty() {
            return None;
        }
        let code = l.split('#').next().unwrap_or("");
        let hit = code.match_indices(value).any(|(i, _)| {
            let before = code[..i].trim_end().trim_end_matches('"').trim_end();
            before
                .strip_suffix('=')
                .map(|b| b.trim_end().ends_with(key))
                .unwrap_or(false)
        });
        hit.then_some(n + 1)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines() {
        let t = "a = 1\nmoved_from = 2026-03-08\n{ date = 2026-03-08 }\nid = \"x\" # \"y\"\n";
        assert_eq!(line_of_key(t, "date", "2026-03-08"), Some(3));
        assert_eq!(line_of_key(t, "id", "\"x\""), Some(4));
        assert_eq!(line_of_key(t, "id", "\"y\""), None);
        assert_eq!(line_of_key(t, "id", "a = 1"), Some(1));
        assert_eq!(line_of(t, ""), None);
    }

    #[test]
    fn ids() {
        assert!(is_valid_id("ulba-crisis-centre"));
        assert!(is_valid_id("150"));
        assert!(!is_valid_id("Ulba"));
        assert!(!is_valid_id("a_b"));
        assert!(!is_valid_id("-a"));
        assert!(!is_valid_id(""));
    }

    #[test]
    fn verified_values() {
        assert_eq!(
            Verified::from_value(&Value::Boolean(false)),
            Ok(Verified::No)
        );
        assert!(Verified::from_value(&Value::Boolean(true)).is_err());
        assert_eq!(
            Verified::from_value(&Value::String("2026-11-25".into())),
            Ok(Verified::On(NaiveDate::from_ymd_opt(2026, 11, 25).unwrap()))
        );
        assert!(Verified::from_value(&Value::String("yesterday".into())).is_err());
        assert!(Verified::from_value(&Value::Integer(1)).is_err());
    }
}
