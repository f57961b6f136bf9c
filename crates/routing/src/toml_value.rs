//! Reading single TOML values of the data files: dates, and the name of a
//! value's type for messages.

use chrono::NaiveDate;
use toml::Value;

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
