//! Working hours, public holidays and the local calendar.
//!
//! * [`WeeklySchedule`]: a week of opening ranges, read from a TOML table
//!   (`mon = "09:00-18:00"`, `tue = "09:00-13:00, 14:00-18:00"`,
//!   `sat = ""`, `sun = "closed"`, `always = true`) or the string `"24/7"`.
//!   Ranges are end-exclusive; a range whose end is not after its start
//!   crosses midnight (`"20:00-08:00"` runs until 08:00 the next morning) and
//!   belongs to the day it starts on.
//! * [`Schedules`]: named schedules (`[hours.centre]`, `[hours.night]`, ...).
//! * [`Holidays`]: the per-year table of non-working days and transferred
//!   working days (`data/holidays-kz.toml`). The file is the truth; no rule
//!   is computed here.
//! * [`Calendar`]: a time zone plus the holidays; answers [`Calendar::is_open`]
//!   and [`Calendar::next_opening`] for an instant given by the caller.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use chrono::{
    DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, Offset,
    TimeZone, Timelike, Utc, Weekday,
};
use chrono_tz::Tz;
use serde::{Deserialize, Deserializer};
use toml::{Table, Value};

use crate::data_file::{self, DataFileError};
use crate::util::{is_valid_id, line_of, line_of_key, parse_date, type_name, Verified};

/// Seconds in a day.
const DAY_SECS: u32 = 86_400;

/// How far [`Calendar::next_opening`] looks ahead.
pub const NEXT_OPENING_HORIZON_DAYS: i64 = 14;

/// The bundled Kazakhstan holiday table (`data/holidays-kz.toml`).
pub const BUNDLED_HOLIDAYS_KZ: &str = include_str!("../../../data/holidays-kz.toml");

/// Errors from schedules and the holiday file.
#[derive(Debug, thiserror::Error)]
pub enum HoursError {
    /// The holiday file could not be read.
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
    /// A schedule value is wrong. `key` is the dotted key, e.g. `centre.mon`.
    #[error("schedule `{key}`: {message}")]
    Schedule {
        /// The dotted key of the bad value.
        key: String,
        /// What is wrong with it.
        message: String,
    },
    /// An entry of the holiday file is wrong.
    #[error("{}{}: {entry}: {message}", path.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
    Holiday {
        /// The file.
        path: PathBuf,
        /// The line of the entry, when it could be found.
        line: Option<usize>,
        /// The entry and key, e.g. ``year 2026, days_off #3 (2026-03-21), key `kk` ``.
        entry: String,
        /// What is wrong with it.
        message: String,
    },
}

impl From<DataFileError> for HoursError {
    fn from(e: DataFileError) -> Self {
        match e {
            DataFileError::Io { path, source } => HoursError::Io { path, source },
            DataFileError::Toml { path, message } => HoursError::Toml { path, message },
        }
    }
}

fn schedule_err(key: impl Into<String>, message: impl Into<String>) -> HoursError {
    HoursError::Schedule {
        key: key.into(),
        message: message.into(),
    }
}

// ---------------------------------------------------------------------------
// Time ranges and weekly schedules
// ---------------------------------------------------------------------------

/// One opening range of a day, end-exclusive, with second precision.
///
/// When `end <= start` the range crosses midnight and ends on the next day.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeRange {
    start: u32,
    end: u32,
}

impl TimeRange {
    /// A range from `start` to `end` minutes after midnight (`end` may be
    /// 1440, i.e. 24:00). `end <= start` crosses midnight; `end == start` is
    /// refused (write 00:00-24:00 for a whole day).
    pub fn from_minutes(start: u32, end: u32) -> Option<TimeRange> {
        if start >= 24 * 60 || end > 24 * 60 || start == end {
            return None;
        }
        Some(TimeRange {
            start: start * 60,
            end: end * 60,
        })
    }

    /// Start, in seconds after midnight.
    pub fn start_secs(&self) -> u32 {
        self.start
    }

    /// End, in seconds after midnight (86 400 for 24:00). When the range
    /// crosses midnight this is the time on the next day.
    pub fn end_secs(&self) -> u32 {
        self.end
    }

    /// The start as a time of day.
    pub fn start_time(&self) -> NaiveTime {
        NaiveTime::from_num_seconds_from_midnight_opt(self.start, 0).unwrap_or(NaiveTime::MIN)
    }

    /// True when the range ends on the next day.
    pub fn crosses_midnight(&self) -> bool {
        self.end <= self.start
    }

    /// Open at `secs` after midnight of the day the range starts on?
    fn contains_same_day(&self, secs: u32) -> bool {
        if self.crosses_midnight() {
            secs >= self.start
        } else {
            self.start <= secs && secs < self.end
        }
    }

    /// Open at `secs` after midnight of the day after the range starts?
    fn contains_next_day(&self, secs: u32) -> bool {
        self.crosses_midnight() && secs < self.end
    }

    /// Parses `"09:00-18:00"` (also with an en or em dash).
    pub fn parse(text: &str) -> Result<TimeRange, String> {
        let t = text.trim();
        let sep = t
            .char_indices()
            .find(|(_, c)| matches!(c, '-' | '–' | '—'))
            .map(|(i, c)| (i, c.len_utf8()));
        let Some((i, len)) = sep else {
            return Err(format!("`{t}` is not a time range like 09:00-18:00"));
        };
        let (a, b) = (&t[..i], &t[i + len..]);
        let start = parse_hhmm(a.trim(), false).map_err(|e| format!("in `{t}`: {e}"))?;
        let end = parse_hhmm(b.trim(), true).map_err(|e| format!("in `{t}`: {e}"))?;
        if start == end {
            return Err(format!(
                "`{t}` starts and ends at the same time; write 00:00-24:00 for a whole day"
            ));
        }
        Ok(TimeRange {
            start: start * 60,
            end: end * 60,
        })
    }
}

impl fmt::Display for TimeRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (s, e) = (self.start / 60, self.end / 60);
        write!(f, "{:02}:{:02}-{:02}:{:02}", s / 60, s % 60, e / 60, e % 60)
    }
}

/// `H:MM` or `HH:MM` to minutes after midnight; `24:00` only as an end.
fn parse_hhmm(s: &str, is_end: bool) -> Result<u32, String> {
    let Some((h, m)) = s.split_once(':') else {
        return Err(format!("`{s}` is not a time like 09:00"));
    };
    let digits = |x: &str| !x.is_empty() && x.bytes().all(|b| b.is_ascii_digit());
    if !digits(h) || h.len() > 2 || !digits(m) || m.len() != 2 {
        return Err(format!("`{s}` is not a time like 09:00"));
    }
    let h: u32 = h.parse().map_err(|_| format!("`{s}`: bad hour"))?;
    let m: u32 = m.parse().map_err(|_| format!("`{s}`: bad minutes"))?;
    if m > 59 {
        return Err(format!("`{s}`: minutes must be 00-59"));
    }
    if h == 24 && m == 0 {
        if is_end {
            return Ok(24 * 60);
        }
        return Err("24:00 can only end a range; start at 00:00".to_string());
    }
    if h > 23 {
        return Err(format!("`{s}`: hours must be 00-23 (or 24:00 as an end)"));
    }
    Ok(h * 60 + m)
}

/// Parses one day's value: `""` or `"closed"` (closed all day), or
/// comma-separated ranges `"09:00-13:00, 14:00-18:00"`.
pub fn parse_day(text: &str) -> Result<Vec<TimeRange>, String> {
    let t = text.trim();
    if t.is_empty() || t.eq_ignore_ascii_case("closed") {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for part in t.split(',') {
        if part.trim().is_empty() {
            return Err(format!("`{t}` has an empty range between commas"));
        }
        out.push(TimeRange::parse(part)?);
    }
    out.sort_by_key(|r| r.start);
    Ok(out)
}

const DAY_KEYS: [(&str, Weekday); 7] = [
    ("mon", Weekday::Mon),
    ("tue", Weekday::Tue),
    ("wed", Weekday::Wed),
    ("thu", Weekday::Thu),
    ("fri", Weekday::Fri),
    ("sat", Weekday::Sat),
    ("sun", Weekday::Sun),
];

/// The `mon`..`sun` key of a weekday.
pub fn weekday_key(wd: Weekday) -> &'static str {
    DAY_KEYS[wd.num_days_from_monday() as usize].0
}

/// Parses `mon`..`sun` (also full English names, any case).
pub fn parse_weekday(s: &str) -> Option<Weekday> {
    let l = s.trim().to_ascii_lowercase();
    DAY_KEYS
        .iter()
        .find(|(k, wd)| {
            *k == l || format!("{wd:?}").to_ascii_lowercase() == l || full_name(*wd) == l
        })
        .map(|(_, wd)| *wd)
}

fn full_name(wd: Weekday) -> &'static str {
    match wd {
        Weekday::Mon => "monday",
        Weekday::Tue => "tuesday",
        Weekday::Wed => "wednesday",
        Weekday::Thu => "thursday",
        Weekday::Fri => "friday",
        Weekday::Sat => "saturday",
        Weekday::Sun => "sunday",
    }
}

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
    always: bool,
    days: [Vec<TimeRange>; 7],
    observes_holidays: bool,
    notes: String,
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

// ---------------------------------------------------------------------------
// Named schedules
// ---------------------------------------------------------------------------

/// Named schedules, e.g. the `[hours]` section of the configuration:
///
/// ```toml
/// [hours.centre]
/// mon = "09:00-18:00"
/// # ...
/// [hours]
/// night = "24/7"
/// ```
///
/// Ids are `[a-z0-9-]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schedules(BTreeMap<String, WeeklySchedule>);

impl Default for Schedules {
    fn default() -> Self {
        Schedules::default_centre()
    }
}

impl Schedules {
    /// The id of the centre's own schedule.
    pub const CENTRE: &'static str = "centre";

    /// Only `centre`: Mon-Fri 09:00-18:00, closed on holidays.
    pub fn default_centre() -> Schedules {
        let mut m = BTreeMap::new();
        m.insert(Self::CENTRE.to_string(), WeeklySchedule::centre_default());
        Schedules(m)
    }

    /// No schedules at all.
    pub fn empty() -> Schedules {
        Schedules(BTreeMap::new())
    }

    /// Adds `centre` with the default hours when the configuration gave none.
    pub fn with_default_centre(mut self) -> Schedules {
        self.0
            .entry(Self::CENTRE.to_string())
            .or_insert_with(WeeklySchedule::centre_default);
        self
    }

    /// The schedule with this id.
    pub fn get(&self, id: &str) -> Option<&WeeklySchedule> {
        self.0.get(id)
    }

    /// Adds or replaces a schedule. Fails on an id outside `[a-z0-9-]`.
    pub fn insert(&mut self, id: &str, schedule: WeeklySchedule) -> Result<(), HoursError> {
        if !is_valid_id(id) {
            return Err(schedule_err(
                id,
                "a schedule id is lower-case letters, digits and `-`",
            ));
        }
        self.0.insert(id.to_string(), schedule);
        Ok(())
    }

    /// The ids, sorted.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    /// Id and schedule pairs, sorted by id.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &WeeklySchedule)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Number of schedules.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there is none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Parses a table of named schedules (the contents of `[hours]`).
    pub fn from_toml_table(table: &Table) -> Result<Schedules, HoursError> {
        let mut m = BTreeMap::new();
        for (id, v) in table {
            if !is_valid_id(id) {
                return Err(schedule_err(
                    id.as_str(),
                    "a schedule id is lower-case letters, digits and `-`",
                ));
            }
            m.insert(id.clone(), WeeklySchedule::value_at(v, id)?);
        }
        Ok(Schedules(m))
    }

    /// Parses a TOML document whose top level is the table of schedules
    /// (`[centre]`, `[night]` ...).
    pub fn from_toml_str(text: &str) -> Result<Schedules, HoursError> {
        let table: Table = data_file::parse_table(text, Path::new("<schedules>"))?;
        Schedules::from_toml_table(&table)
    }
}

impl<'de> Deserialize<'de> for Schedules {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let t = Table::deserialize(d)?;
        Schedules::from_toml_table(&t).map_err(serde::de::Error::custom)
    }
}

// ---------------------------------------------------------------------------
// Holidays
// ---------------------------------------------------------------------------

/// Why a date is a day off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DayOffKind {
    /// A state or national holiday on its own date (`kind = "holiday"`).
    Holiday,
    /// A religious day off, never carried over (`kind = "religious"`).
    Religious,
    /// A holiday that fell on a weekend, carried to this working day
    /// (`kind = "carried-over"`).
    CarriedOver,
    /// A rest day moved here by a government decree (`kind = "decree"`).
    Decree,
}

impl DayOffKind {
    fn parse(s: &str) -> Option<DayOffKind> {
        match s {
            "holiday" => Some(DayOffKind::Holiday),
            "religious" => Some(DayOffKind::Religious),
            "carried-over" => Some(DayOffKind::CarriedOver),
            "decree" => Some(DayOffKind::Decree),
            _ => None,
        }
    }

    /// The spelling used in the file.
    pub fn as_str(&self) -> &'static str {
        match self {
            DayOffKind::Holiday => "holiday",
            DayOffKind::Religious => "religious",
            DayOffKind::CarriedOver => "carried-over",
            DayOffKind::Decree => "decree",
        }
    }
}

/// A non-working date.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DayOff {
    /// The date (local, Asia/Almaty).
    pub date: NaiveDate,
    /// Name in Kazakh.
    pub name_kk: String,
    /// Name in Russian.
    pub name_ru: String,
    /// Why it is a day off.
    pub kind: DayOffKind,
    /// For a carried-over or decreed day: the date the rest came from.
    pub moved_from: Option<NaiveDate>,
    /// Where the date comes from (the entry's, else its year's).
    pub source: String,
    /// Whether it was confirmed (the entry's, else its year's).
    pub verified: Verified,
}

/// A weekend date made a working day by decree ("transferred working day").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkingDay {
    /// The date.
    pub date: NaiveDate,
    /// Which weekday's hours apply (`works_as`, default Monday).
    pub works_as: Weekday,
    /// Why (text, e.g. "rest day moved to 7 July").
    pub reason: String,
    /// Where it comes from.
    pub source: String,
    /// Whether it was confirmed.
    pub verified: Verified,
}

/// The header of one year's block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HolidayYear {
    /// The year.
    pub year: i32,
    /// Where the year's dates come from.
    pub source: String,
    /// Whether the year as a whole was confirmed.
    pub verified: Verified,
    /// Free text.
    pub notes: String,
}

/// What a date is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DayStatus<'a> {
    /// An ordinary day: the weekly schedule applies as it is.
    Ordinary,
    /// A non-working day.
    DayOff(&'a DayOff),
    /// A weekend made a working day.
    WorkingDay(&'a WorkingDay),
}

/// The table of non-working days and transferred working days, per year.
///
/// Loaded from `data/holidays-kz.toml` ([`Holidays::load`]) or the bundled
/// copy ([`Holidays::bundled`]). Dates outside the years in the file are
/// ordinary days: check [`Holidays::covers`] to warn when a year is missing.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Holidays {
    country: String,
    source: String,
    verified: Verified,
    years: BTreeMap<i32, HolidayYear>,
    days_off: BTreeMap<NaiveDate, DayOff>,
    working_days: BTreeMap<NaiveDate, WorkingDay>,
}

impl Holidays {
    /// No holidays at all.
    pub fn empty() -> Holidays {
        Holidays::default()
    }

    /// The bundled Kazakhstan table.
    pub fn bundled() -> Result<Holidays, HoursError> {
        Holidays::from_toml_str(BUNDLED_HOLIDAYS_KZ, Path::new("data/holidays-kz.toml"))
    }

    /// Reads and checks a holiday file.
    pub fn load(path: &Path) -> Result<Holidays, HoursError> {
        data_file::load(path, Holidays::from_toml_str)
    }

    /// Parses and checks the text of a holiday file; `path` is used in errors.
    pub fn from_toml_str(text: &str, path: &Path) -> Result<Holidays, HoursError> {
        let table: Table = data_file::parse_table(text, path)?;
        HolidayParser { text, path }.parse(&table)
    }

    /// The country code from the file (`country = "KZ"`).
    pub fn country(&self) -> &str {
        &self.country
    }

    /// The file's `source`.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The file's `verified`.
    pub fn verified(&self) -> Verified {
        self.verified
    }

    /// The years in the file.
    pub fn years(&self) -> impl Iterator<Item = &HolidayYear> {
        self.years.values()
    }

    /// Does the file have a block for this year?
    pub fn covers(&self, year: i32) -> bool {
        self.years.contains_key(&year)
    }

    /// All days off, by date.
    pub fn days_off(&self) -> impl Iterator<Item = &DayOff> {
        self.days_off.values()
    }

    /// All transferred working days, by date.
    pub fn working_days(&self) -> impl Iterator<Item = &WorkingDay> {
        self.working_days.values()
    }

    /// The day off on this date, if it is one.
    pub fn day_off(&self, date: NaiveDate) -> Option<&DayOff> {
        self.days_off.get(&date)
    }

    /// The transferred working day on this date, if it is one.
    pub fn working_day(&self, date: NaiveDate) -> Option<&WorkingDay> {
        self.working_days.get(&date)
    }

    /// What this date is.
    pub fn status(&self, date: NaiveDate) -> DayStatus<'_> {
        if let Some(d) = self.days_off.get(&date) {
            DayStatus::DayOff(d)
        } else if let Some(w) = self.working_days.get(&date) {
            DayStatus::WorkingDay(w)
        } else {
            DayStatus::Ordinary
        }
    }
}

struct HolidayParser<'a> {
    text: &'a str,
    path: &'a Path,
}

impl HolidayParser<'_> {
    fn err(&self, needle: &str, entry: String, message: impl Into<String>) -> HoursError {
        HoursError::Holiday {
            path: self.path.to_path_buf(),
            line: if needle.starts_with("year = ") {
                line_of(self.text, needle)
            } else {
                line_of_key(self.text, "date", needle)
            },
            entry,
            message: message.into(),
        }
    }

    fn string(
        &self,
        t: &Table,
        key: &str,
        entry: &str,
        needle: &str,
    ) -> Result<Option<String>, HoursError> {
        match t.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.trim().to_string())),
            Some(other) => Err(self.err(
                needle,
                format!("{entry}, key `{key}`"),
                format!("expected text, found {}", type_name(other)),
            )),
        }
    }

    fn verified(
        &self,
        t: &Table,
        entry: &str,
        needle: &str,
    ) -> Result<Option<Verified>, HoursError> {
        match t.get("verified") {
            None => Ok(None),
            Some(v) => Verified::from_value(v)
                .map(Some)
                .map_err(|m| self.err(needle, format!("{entry}, key `verified`"), m)),
        }
    }

    fn check_keys(
        &self,
        t: &Table,
        allowed: &[&str],
        entry: &str,
        needle: &str,
    ) -> Result<(), HoursError> {
        for k in t.keys() {
            if !allowed.contains(&k.as_str()) {
                return Err(self.err(
                    needle,
                    format!("{entry}, key `{k}`"),
                    format!("unknown key; expected one of: {}", allowed.join(", ")),
                ));
            }
        }
        Ok(())
    }

    fn parse(&self, top: &Table) -> Result<Holidays, HoursError> {
        self.check_keys(
            top,
            &["country", "source", "verified", "updated", "notes", "years"],
            "top level",
            "",
        )?;
        let source = self
            .string(top, "source", "top level", "source")?
            .unwrap_or_default();
        if source.is_empty() {
            return Err(self.err(
                "",
                "top level, key `source`".to_string(),
                "say where the dates come from (source = \"...\")",
            ));
        }
        let verified = self
            .verified(top, "top level", "verified")?
            .ok_or_else(|| {
                self.err(
                    "",
                    "top level, key `verified`".to_string(),
                    "missing: write the date the table was checked, or false",
                )
            })?;
        let country = self
            .string(top, "country", "top level", "country")?
            .unwrap_or_default();
        let mut h = Holidays {
            country,
            source,
            verified,
            ..Holidays::default()
        };
        let years = match top.get("years") {
            None => return Ok(h),
            Some(Value::Array(a)) => a,
            Some(other) => {
                return Err(self.err(
                    "years",
                    "top level, key `years`".to_string(),
                    format!("expected [[years]] blocks, found {}", type_name(other)),
                ))
            }
        };
        for (i, yv) in years.iter().enumerate() {
            let Value::Table(yt) = yv else {
                return Err(self.err(
                    "years",
                    format!("years #{}", i + 1),
                    "expected a [[years]] table",
                ));
            };
            self.parse_year(&mut h, yt, i)?;
        }
        Ok(h)
    }

    fn parse_year(&self, h: &mut Holidays, yt: &Table, i: usize) -> Result<(), HoursError> {
        let entry0 = format!("years #{}", i + 1);
        let year = match yt.get("year") {
            Some(Value::Integer(y)) if (1970..=2200).contains(y) => *y as i32,
            Some(other) => {
                return Err(self.err(
                    "year =",
                    format!("{entry0}, key `year`"),
                    format!("expected a year like 2026, found {other}"),
                ))
            }
            None => {
                return Err(self.err("", format!("{entry0}, key `year`"), "missing (year = 2026)"))
            }
        };
        let entry = format!("year {year}");
        let needle = format!("year = {year}");
        self.check_keys(
            yt,
            &[
                "year",
                "source",
                "verified",
                "notes",
                "days_off",
                "working_days",
            ],
            &entry,
            &needle,
        )?;
        if h.years.contains_key(&year) {
            return Err(self.err(&needle, entry, "this year has two [[years]] blocks"));
        }
        let source = self
            .string(yt, "source", &entry, &needle)?
            .unwrap_or_default();
        if source.is_empty() {
            return Err(self.err(
                &needle,
                format!("{entry}, key `source`"),
                "say where this year's dates come from",
            ));
        }
        let verified = self.verified(yt, &entry, &needle)?.ok_or_else(|| {
            self.err(
                &needle,
                format!("{entry}, key `verified`"),
                "missing: write the date the year was checked, or false",
            )
        })?;
        let notes = self
            .string(yt, "notes", &entry, &needle)?
            .unwrap_or_default();
        h.years.insert(
            year,
            HolidayYear {
                year,
                source: source.clone(),
                verified,
                notes,
            },
        );

        for (j, dv) in array_of(yt.get("days_off")).iter().enumerate() {
            let e = format!("{entry}, days_off #{}", j + 1);
            let d = self.parse_day_off(dv, year, &e, &source, verified)?;
            if let Some(prev) = h.days_off.get(&d.date) {
                return Err(self.err(
                    &d.date.to_string(),
                    format!("{e} ({})", d.date),
                    format!(
                        "{} is already listed as a day off ({})",
                        d.date, prev.name_ru
                    ),
                ));
            }
            h.days_off.insert(d.date, d);
        }
        if let Some(v) = yt.get("days_off") {
            if !matches!(v, Value::Array(_)) {
                return Err(self.err(
                    &needle,
                    format!("{entry}, key `days_off`"),
                    format!(
                        "expected a list of {{ date = ..., kk = ..., ru = ... }}, found {}",
                        type_name(v)
                    ),
                ));
            }
        }
        for (j, wv) in array_of(yt.get("working_days")).iter().enumerate() {
            let e = format!("{entry}, working_days #{}", j + 1);
            let w = self.parse_working_day(wv, year, &e, &source, verified)?;
            if h.days_off.contains_key(&w.date) || h.working_days.contains_key(&w.date) {
                return Err(self.err(
                    &w.date.to_string(),
                    format!("{e} ({})", w.date),
                    format!(
                        "{} is listed twice (as a day off and a working day, or twice)",
                        w.date
                    ),
                ));
            }
            h.working_days.insert(w.date, w);
        }
        if let Some(v) = yt.get("working_days") {
            if !matches!(v, Value::Array(_)) {
                return Err(self.err(
                    &needle,
                    format!("{entry}, key `working_days`"),
                    format!(
                        "expected a list of {{ date = ..., works_as = ... }}, found {}",
                        type_name(v)
                    ),
                ));
            }
        }
        Ok(())
    }

    fn entry_table<'t>(
        &self,
        v: &'t Value,
        e: &str,
        needle: &str,
    ) -> Result<&'t Table, HoursError> {
        match v {
            Value::Table(t) => Ok(t),
            other => Err(self.err(
                needle,
                e.to_string(),
                format!("expected {{ date = ..., ... }}, found {}", type_name(other)),
            )),
        }
    }

    fn date_of(
        &self,
        t: &Table,
        year: i32,
        e: &str,
        needle: &str,
    ) -> Result<NaiveDate, HoursError> {
        let v = t.get("date").ok_or_else(|| {
            self.err(
                needle,
                format!("{e}, key `date`"),
                "missing (date = \"2026-03-23\")",
            )
        })?;
        let date = parse_date(v).map_err(|m| self.err(needle, format!("{e}, key `date`"), m))?;
        if date.year() != year {
            return Err(self.err(
                &date.to_string(),
                format!("{e} ({date}), key `date`"),
                format!("the date is not in {year}: move it to its own year's block"),
            ));
        }
        Ok(date)
    }

    fn parse_day_off(
        &self,
        v: &Value,
        year: i32,
        e: &str,
        year_source: &str,
        year_verified: Verified,
    ) -> Result<DayOff, HoursError> {
        let needle = format!("year = {year}");
        let t = self.entry_table(v, e, &needle)?;
        let date = self.date_of(t, year, e, &needle)?;
        let ds = date.to_string();
        let e = format!("{e} ({date})");
        self.check_keys(
            t,
            &[
                "date",
                "kk",
                "ru",
                "kind",
                "moved_from",
                "source",
                "verified",
                "notes",
            ],
            &e,
            &ds,
        )?;
        let name_kk = self.string(t, "kk", &e, &ds)?.unwrap_or_default();
        let name_ru = self.string(t, "ru", &e, &ds)?.unwrap_or_default();
        if name_kk.is_empty() || name_ru.is_empty() {
            return Err(self.err(
                &ds,
                e,
                "needs a name in Kazakh and Russian (kk = \"...\", ru = \"...\")",
            ));
        }
        let kind = match self.string(t, "kind", &e, &ds)? {
            None => DayOffKind::Holiday,
            Some(k) => DayOffKind::parse(&k).ok_or_else(|| {
                self.err(
                    &ds,
                    format!("{e}, key `kind`"),
                    format!("`{k}`: expected holiday, religious, carried-over or decree"),
                )
            })?,
        };
        let moved_from = match t.get("moved_from") {
            None => None,
            Some(v) => Some(
                parse_date(v).map_err(|m| self.err(&ds, format!("{e}, key `moved_from`"), m))?,
            ),
        };
        if matches!(kind, DayOffKind::CarriedOver | DayOffKind::Decree) && moved_from.is_none() {
            return Err(self.err(
                &ds,
                format!("{e}, key `moved_from`"),
                "a carried-over or decreed day off needs `moved_from` (the date the rest came from)",
            ));
        }
        let source = self
            .string(t, "source", &e, &ds)?
            .unwrap_or_else(|| year_source.to_string());
        let verified = self.verified(t, &e, &ds)?.unwrap_or(year_verified);
        Ok(DayOff {
            date,
            name_kk,
            name_ru,
            kind,
            moved_from,
            source,
            verified,
        })
    }

    fn parse_working_day(
        &self,
        v: &Value,
        year: i32,
        e: &str,
        year_source: &str,
        year_verified: Verified,
    ) -> Result<WorkingDay, HoursError> {
        let needle = format!("year = {year}");
        let t = self.entry_table(v, e, &needle)?;
        let date = self.date_of(t, year, e, &needle)?;
        let ds = date.to_string();
        let e = format!("{e} ({date})");
        self.check_keys(
            t,
            &["date", "works_as", "reason", "source", "verified", "notes"],
            &e,
            &ds,
        )?;
        if !matches!(date.weekday(), Weekday::Sat | Weekday::Sun) {
            return Err(self.err(
                &ds,
                e,
                format!(
                    "{date} is a {:?}, already a working day: a transferred working day is a Saturday or Sunday",
                    date.weekday()
                ),
            ));
        }
        let works_as = match self.string(t, "works_as", &e, &ds)? {
            None => Weekday::Mon,
            Some(s) => parse_weekday(&s).ok_or_else(|| {
                self.err(
                    &ds,
                    format!("{e}, key `works_as`"),
                    format!("`{s}`: expected mon, tue, wed, thu, fri, sat or sun"),
                )
            })?,
        };
        let reason = self.string(t, "reason", &e, &ds)?.unwrap_or_default();
        let source = self
            .string(t, "source", &e, &ds)?
            .unwrap_or_else(|| year_source.to_string());
        let verified = self.verified(t, &e, &ds)?.unwrap_or(year_verified);
        Ok(WorkingDay {
            date,
            works_as,
            reason,
            source,
            verified,
        })
    }
}

fn array_of(v: Option<&Value>) -> &[Value] {
    match v {
        Some(Value::Array(a)) => a.as_slice(),
        _ => &[],
    }
}

// ---------------------------------------------------------------------------
// Calendar
// ---------------------------------------------------------------------------

/// A time zone and a holiday table: the wall-clock facts routing needs.
#[derive(Clone, Debug)]
pub struct Calendar {
    tz: Tz,
    holidays: Holidays,
}

impl Calendar {
    /// A calendar in any IANA zone.
    pub fn new(tz: Tz, holidays: Holidays) -> Calendar {
        Calendar { tz, holidays }
    }

    /// Asia/Almaty (UTC+5 since 2024-03-01, no daylight saving): the zone
    /// for all of Kazakhstan, Oskemen included.
    pub fn almaty(holidays: Holidays) -> Calendar {
        Calendar::new(chrono_tz::Asia::Almaty, holidays)
    }

    /// The zone.
    pub fn tz(&self) -> Tz {
        self.tz
    }

    /// The holiday table.
    pub fn holidays(&self) -> &Holidays {
        &self.holidays
    }

    /// The instant in local time.
    pub fn local_time(&self, at: DateTime<Utc>) -> DateTime<Tz> {
        at.with_timezone(&self.tz)
    }

    /// The local wall-clock time of `at`; `None` at the very ends of the
    /// representable range, where it cannot be written.
    fn local_naive(&self, at: DateTime<Utc>) -> Option<NaiveDateTime> {
        let offset = self.tz.offset_from_utc_datetime(&at.naive_utc()).fix();
        at.naive_utc().checked_add_offset(offset)
    }

    /// Which weekday's ranges apply on `date`; `None` when closed all day.
    fn profile(&self, date: NaiveDate, honour_holidays: bool) -> Option<Weekday> {
        if !honour_holidays {
            return Some(date.weekday());
        }
        match self.holidays.status(date) {
            DayStatus::Ordinary => Some(date.weekday()),
            DayStatus::DayOff(_) => None,
            DayStatus::WorkingDay(w) => Some(w.works_as),
        }
    }

    /// Is `schedule` open at `at`?
    ///
    /// With `honour_holidays`, a day off is closed all day and a transferred
    /// working day uses the hours of its `works_as` weekday. A range that
    /// crosses midnight belongs to the day it starts on: it is skipped as a
    /// whole when that day is off. A round-the-clock schedule is always open.
    pub fn is_open(
        &self,
        schedule: &WeeklySchedule,
        at: DateTime<Utc>,
        honour_holidays: bool,
    ) -> bool {
        if schedule.always {
            return true;
        }
        match self.local_naive(at) {
            Some(local) => self.is_open_local(schedule, local, honour_holidays),
            None => false,
        }
    }

    /// [`Calendar::is_open`] with the schedule's own holiday rule
    /// ([`WeeklySchedule::observes_holidays`]).
    pub fn is_open_as_configured(&self, schedule: &WeeklySchedule, at: DateTime<Utc>) -> bool {
        self.is_open(schedule, at, schedule.observes_holidays())
    }

    fn is_open_local(&self, schedule: &WeeklySchedule, local: NaiveDateTime, honour: bool) -> bool {
        let date = local.date();
        let secs = local.time().num_seconds_from_midnight().min(DAY_SECS - 1);
        if let Some(wd) = self.profile(date, honour) {
            if schedule
                .ranges(wd)
                .iter()
                .any(|r| r.contains_same_day(secs))
            {
                return true;
            }
        }
        if let Some(prev) = date.pred_opt() {
            if let Some(wd) = self.profile(prev, honour) {
                if schedule
                    .ranges(wd)
                    .iter()
                    .any(|r| r.contains_next_day(secs))
                {
                    return true;
                }
            }
        }
        false
    }

    /// The first instant at or after `at`, within 14 days, when `schedule` is
    /// open (following its own holiday rule), in local time: `at` itself when
    /// it is open now, `None` when it does not open within 14 days.
    pub fn next_opening(
        &self,
        schedule: &WeeklySchedule,
        at: DateTime<Utc>,
    ) -> Option<DateTime<Tz>> {
        self.next_opening_with(schedule, at, schedule.observes_holidays())
    }

    /// [`Calendar::next_opening`] with an explicit holiday rule.
    pub fn next_opening_with(
        &self,
        schedule: &WeeklySchedule,
        at: DateTime<Utc>,
        honour_holidays: bool,
    ) -> Option<DateTime<Tz>> {
        if self.is_open(schedule, at, honour_holidays) {
            return Some(self.local_time(at));
        }
        let limit = at.checked_add_signed(Duration::days(NEXT_OPENING_HORIZON_DAYS))?;
        let today = self.local_naive(at)?.date();
        let mut best: Option<DateTime<Utc>> = None;
        for offset in 0..=NEXT_OPENING_HORIZON_DAYS + 1 {
            let Some(date) = today.checked_add_signed(Duration::days(offset)) else {
                break;
            };
            let Some(wd) = self.profile(date, honour_holidays) else {
                continue;
            };
            for r in schedule.ranges(wd) {
                let Some(start) = self.resolve_local(date.and_time(r.start_time())) else {
                    continue;
                };
                if start > at
                    && start <= limit
                    && best.is_none_or(|b| start < b)
                    && self.is_open(schedule, start, honour_holidays)
                {
                    best = Some(start);
                }
            }
            if best.is_some() {
                // Ranges of later days start later still.
                break;
            }
        }
        best.map(|b| self.local_time(b))
    }

    /// A local wall-clock time as an instant: the earlier one when ambiguous,
    /// the end of the gap when it does not exist (a daylight-saving jump).
    fn resolve_local(&self, naive: NaiveDateTime) -> Option<DateTime<Utc>> {
        match self.tz.from_local_datetime(&naive) {
            LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
            LocalResult::Ambiguous(a, _) => Some(a.with_timezone(&Utc)),
            LocalResult::None => {
                let later = naive.checked_add_signed(Duration::hours(1))?;
                self.tz
                    .from_local_datetime(&later)
                    .earliest()
                    .map(|t| t.with_timezone(&Utc))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_ranges() {
        assert_eq!(parse_day("").unwrap(), vec![]);
        assert_eq!(parse_day(" closed ").unwrap(), vec![]);
        assert_eq!(parse_day("Closed").unwrap(), vec![]);
        let r = parse_day("14:00-18:00, 09:00-13:00").unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].to_string(), "09:00-13:00");
        assert_eq!(r[1].to_string(), "14:00-18:00");
        let r = parse_day("20:00-08:00").unwrap();
        assert!(r[0].crosses_midnight());
        assert_eq!(
            parse_day("9:00–18:00").unwrap()[0].to_string(),
            "09:00-18:00"
        );
        assert_eq!(parse_day("00:00-24:00").unwrap()[0].end_secs(), DAY_SECS);
        for bad in [
            "9-18",
            "09:00",
            "25:00-26:00",
            "09:60-10:00",
            "24:00-08:00",
            "09:00-09:00",
            "09:00-18:00,",
            "09:00-18:00,,10:00-11:00",
            "a:bc-18:00",
            "009:00-18:00",
            "09:0-18:00",
            "+9:00-18:00",
        ] {
            assert!(parse_day(bad).is_err(), "{bad} should fail");
        }
    }

    #[test]
    fn from_minutes() {
        assert!(TimeRange::from_minutes(540, 1080).is_some());
        assert!(TimeRange::from_minutes(540, 540).is_none());
        assert!(TimeRange::from_minutes(1440, 10).is_none());
        assert!(TimeRange::from_minutes(0, 1441).is_none());
    }
}
