//! The table of days off and transferred working days ([`Holidays`]) and
//! what it says about a date ([`DayStatus`]).

use std::collections::BTreeMap;

use chrono::{NaiveDate, Weekday};

use crate::verified::Verified;

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
    pub(super) fn parse(s: &str) -> Option<DayOffKind> {
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
    pub(super) country: String,
    pub(super) source: String,
    pub(super) verified: Verified,
    pub(super) years: BTreeMap<i32, HolidayYear>,
    pub(super) days_off: BTreeMap<NaiveDate, DayOff>,
    pub(super) working_days: BTreeMap<NaiveDate, WorkingDay>,
}

impl Holidays {
    /// No holidays at all.
    pub fn empty() -> Holidays {
        Holidays::default()
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
