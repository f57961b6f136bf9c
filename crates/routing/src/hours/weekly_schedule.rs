//! A week of opening hours ([`WeeklySchedule`]), read from a TOML table or
//! `"24/7"`.

use std::fmt;
use std::path::Path;

use chrono::Weekday;
use serde::{Deserialize, Deserializer};
use toml::{Table, Value};

use super::error::{schedule_err, HoursError};
use super::time_range::{parse_day, TimeRange};
use super::weekday::{parse_weekday, weekday_key, DAY_KEYS};
use crate::data_file;
use crate::toml_value::type_name;

/// True for the strings that mean round-the-clock.
fn is_always_str(s: &str) -> bool {
    matches!(
        s.trim().to_ascii_lowercase().as_str(),
        "24/7" | "24x7" | "always"
    )
}

/// A week of opening hours.
///
/// Build it from TOML ([`WeeklySchedule::from_toml_table`],
/// [`WeeklySchedule::from_toml_value`], or serde) or with the constructors.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WeeklySchedule {
    pub(super) always: bool,
    pub(super) days: [Vec<TimeRange>; 7],
    pub(super) observes_holidays: bool,
    pub(super) notes: String,
}

impl Default for WeeklySchedule {
    /// The centre's default: Mon-Fri 09:00-18:00, closed on holidays.
    fn default() -> Self {
        Self::centre_default()
    }
}

impl WeeklySchedule {
    /// Round the clock, every day, holidays included.
    pub fn always() -> WeeklySchedule {
        WeeklySchedule {
            always: true,
            days: Default::default(),
            observes_holidays: false,
            notes: String::new(),
        }
    }

    /// Never open.
    pub fn closed() -> WeeklySchedule {
        WeeklySchedule {
            always: false,
            days: Default::default(),
            observes_holidays: true,
            notes: String::new(),
        }
    }

    /// Mon-Fri 09:00-18:00, closed on public holidays.
    pub fn centre_default() -> WeeklySchedule {
        let mut s = WeeklySchedule::closed();
        let day = vec![TimeRange {
            start: 9 * 3600,
            end: 18 * 3600,
        }];
        for wd in [
            Weekday::Mon,
            Weekday::Tue,
            Weekday::Wed,
            Weekday::Thu,
            Weekday::Fri,
        ] {
            s.days[wd.num_days_from_monday() as usize] = day.clone();
        }
        s
    }

    /// Returns the schedule with one day replaced (`"09:00-18:00"`, `""`, ...).
    pub fn with_day(mut self, wd: Weekday, text: &str) -> Result<WeeklySchedule, HoursError> {
        let ranges = parse_day(text).map_err(|m| schedule_err(weekday_key(wd), m))?;
        self.days[wd.num_days_from_monday() as usize] = ranges;
        self.always = false;
        Ok(self)
    }

    /// Returns the schedule with its holiday rule set.
    pub fn with_holidays_observed(mut self, observed: bool) -> WeeklySchedule {
        self.observes_holidays = observed;
        self
    }

    /// Round the clock?
    pub fn is_always(&self) -> bool {
        self.always
    }

    /// No opening range at all (and not round the clock)?
    pub fn is_never_open(&self) -> bool {
        !self.always && self.days.iter().all(|d| d.is_empty())
    }

    /// Whether this schedule closes on public holidays (`holidays = "closed"`,
    /// the default for day tables) or ignores them (`holidays = "open"`, the
    /// default for `"24/7"`). Used by [`Calendar::is_open_as_configured`] and
    /// [`Calendar::next_opening`].
    pub fn observes_holidays(&self) -> bool {
        self.observes_holidays && !self.always
    }

    /// The ranges that start on this weekday, sorted by start.
    pub fn ranges(&self, wd: Weekday) -> &[TimeRange] {
        &self.days[wd.num_days_from_monday() as usize]
    }

    /// Free text from the `notes` key.
    pub fn notes(&self) -> &str {
        &self.notes
    }

    /// Parses a TOML document holding one schedule table (`mon = ...` lines).
    pub fn from_toml_str(text: &str) -> Result<WeeklySchedule, HoursError> {
        let table: Table = data_file::parse_table(text, Path::new("<schedule>"))?;
        WeeklySchedule::from_toml_table(&table)
    }

    /// Parses a schedule table. Keys: `mon`..`sun` (a day value), `always`
    /// (bool), `holidays` (`"closed"` or `"open"`), `notes` (text). A missing
    /// day is closed.
    pub fn from_toml_table(table: &Table) -> Result<WeeklySchedule, HoursError> {
        Self::table_at(table, "")
    }

    /// Parses a schedule given as a table or as the string `"24/7"`.
    pub fn from_toml_value(value: &Value) -> Result<WeeklySchedule, HoursError> {
        Self::value_at(value, "")
    }

    /// As [`Self::from_toml_value`], with `prefix` (e.g. `centre`) put in front
    /// of the keys named in errors.
    pub(crate) fn value_at(value: &Value, prefix: &str) -> Result<WeeklySchedule, HoursError> {
        match value {
            Value::String(s) if is_always_str(s) => Ok(WeeklySchedule::always()),
            Value::String(s) => Err(schedule_err(
                key_or(prefix, "(value)"),
                format!("expected a table of days (mon = \"09:00-18:00\", ...) or \"24/7\", found \"{s}\""),
            )),
            Value::Table(t) => Self::table_at(t, prefix),
            other => Err(schedule_err(
                key_or(prefix, "(value)"),
                format!(
                    "expected a table of days (mon = \"09:00-18:00\", ...) or \"24/7\", found {}",
                    type_name(other)
                ),
            )),
        }
    }

    fn table_at(table: &Table, prefix: &str) -> Result<WeeklySchedule, HoursError> {
        let mut s = WeeklySchedule::closed();
        let mut any_day = false;
        let mut always = false;
        let mut holidays: Option<bool> = None;
        for (key, v) in table {
            let full = join_key(prefix, key);
            if key == "always" {
                always = match v {
                    Value::Boolean(b) => *b,
                    other => {
                        return Err(schedule_err(
                            full,
                            format!("expected true or false, found {}", type_name(other)),
                        ))
                    }
                };
                continue;
            }
            if key == "holidays" {
                holidays = Some(match v {
                    Value::String(x) if x.eq_ignore_ascii_case("closed") => true,
                    Value::String(x) if x.eq_ignore_ascii_case("open") => false,
                    _ => {
                        return Err(schedule_err(
                            full,
                            "expected \"closed\" (closed on public holidays) or \"open\" (holidays are ordinary days)",
                        ))
                    }
                });
                continue;
            }
            if key == "notes" || key == "note" {
                match v {
                    Value::String(x) => s.notes = x.clone(),
                    other => {
                        return Err(schedule_err(
                            full,
                            format!("expected text, found {}", type_name(other)),
                        ))
                    }
                }
                continue;
            }
            let Some(wd) = DAY_KEYS.iter().find(|(k, _)| k == key).map(|(_, wd)| *wd) else {
                let hint = parse_weekday(key)
                    .map(|wd| format!(" (write `{}`)", weekday_key(wd)))
                    .unwrap_or_default();
                return Err(schedule_err(
                    full,
                    format!(
                        "unknown key{hint}; expected mon, tue, wed, thu, fri, sat, sun, always, holidays or notes"
                    ),
                ));
            };
            let text = match v {
                Value::String(x) => x,
                other => {
                    return Err(schedule_err(
                        full,
                        format!(
                            "expected a string like \"09:00-18:00\", \"\" or \"closed\", found {}",
                            type_name(other)
                        ),
                    ))
                }
            };
            if is_always_str(text) {
                return Err(schedule_err(
                    full,
                    "\"24/7\" describes a whole week: write `always = true`, or \"00:00-24:00\" for a whole day",
                ));
            }
            let ranges = parse_day(text).map_err(|m| schedule_err(full.clone(), m))?;
            s.days[wd.num_days_from_monday() as usize] = ranges;
            any_day = true;
        }
        if always {
            if any_day {
                return Err(schedule_err(
                    key_or(prefix, "always"),
                    "`always = true` cannot be combined with day keys (mon..sun)",
                ));
            }
            let mut a = WeeklySchedule::always();
            a.notes = s.notes;
            if let Some(h) = holidays {
                a.observes_holidays = h;
            }
            return Ok(a);
        }
        if let Some(h) = holidays {
            s.observes_holidays = h;
        }
        Ok(s)
    }
}

impl fmt::Display for WeeklySchedule {
    /// A one-line summary: `24/7` or `mon 09:00-18:00; tue ...; sat closed`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.always {
            return f.write_str("24/7");
        }
        for (i, (key, _)) in DAY_KEYS.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            let day = &self.days[i];
            if day.is_empty() {
                write!(f, "{key} closed")?;
            } else {
                write!(f, "{key} ")?;
                for (j, r) in day.iter().enumerate() {
                    if j > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{r}")?;
                }
            }
        }
        if !self.observes_holidays {
            f.write_str("; holidays open")?;
        }
        Ok(())
    }
}

impl<'de> Deserialize<'de> for WeeklySchedule {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        WeeklySchedule::from_toml_value(&v).map_err(serde::de::Error::custom)
    }
}

fn join_key(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

fn key_or(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        prefix.to_string()
    }
}
