//! Whether a fact in a data file was confirmed, and when ([`Verified`]).

use std::fmt;

use chrono::NaiveDate;
use toml::Value;

use crate::toml_value::parse_date;

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

#[cfg(test)]
mod tests {
    use super::*;

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
