//! Reading and checking the holiday file (`data/holidays-kz.toml`): every
//! error names the file, the line of the entry when it can be found, the
//! entry and the key.

use std::path::Path;

use chrono::{Datelike, NaiveDate, Weekday};
use toml::{Table, Value};

use super::error::HoursError;
use super::holidays::{DayOff, DayOffKind, HolidayYear, Holidays, WorkingDay};
use super::weekday::parse_weekday;
use crate::data_file::{self, line_of, line_of_key};
use crate::toml_value::{parse_date, type_name};
use crate::verified::Verified;

/// The bundled Kazakhstan holiday table (`data/holidays-kz.toml`).
pub const BUNDLED_HOLIDAYS_KZ: &str = include_str!("../../../../data/holidays-kz.toml");

impl Holidays {
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
