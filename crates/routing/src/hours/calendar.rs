//! The local calendar ([`Calendar`]): a time zone plus the holidays,
//! answering "is this schedule open at this instant?" and "when does it
//! open next?" for an instant given by the caller.

use chrono::{
    DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, Offset, TimeZone,
    Timelike, Utc, Weekday,
};
use chrono_tz::Tz;

use super::holidays::{DayStatus, Holidays};
use super::time_range::DAY_SECS;
use super::weekly_schedule::WeeklySchedule;

/// How far [`Calendar::next_opening`] looks ahead.
pub const NEXT_OPENING_HORIZON_DAYS: i64 = 14;

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
