//! The `mon`..`sun` keys of the schedules and the holiday file.

use chrono::Weekday;

/// The day keys of the files, Monday first.
pub(super) const DAY_KEYS: [(&str, Weekday); 7] = [
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
