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

mod calendar;
mod error;
mod holiday_file;
mod holidays;
mod schedules;
mod time_range;
mod weekday;
mod weekly_schedule;

pub use calendar::{Calendar, NEXT_OPENING_HORIZON_DAYS};
pub use error::HoursError;
pub use holiday_file::BUNDLED_HOLIDAYS_KZ;
pub use holidays::{DayOff, DayOffKind, DayStatus, HolidayYear, Holidays, WorkingDay};
pub use schedules::Schedules;
pub use time_range::{parse_day, TimeRange};
pub use weekday::{parse_weekday, weekday_key};
pub use weekly_schedule::WeeklySchedule;
