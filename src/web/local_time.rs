//! Days and times as the centre reads them: Asia/Almaty.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use chrono_tz::Asia::Almaty;

/// Today's date in Almaty, `YYYY-MM-DD`.
pub fn today() -> String {
    Utc::now()
        .with_timezone(&Almaty)
        .format("%Y-%m-%d")
        .to_string()
}

/// The date `days` before `date` (`YYYY-MM-DD`), or `date` itself when it
/// cannot be read.
pub fn days_before(date: &str, days: u64) -> String {
    NaiveDate::parse_from_str(date, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.checked_sub_days(chrono::Days::new(days)))
        .map_or_else(|| date.to_string(), |d| d.format("%Y-%m-%d").to_string())
}

/// The start of day `date` (`YYYY-MM-DD`) in Almaty and the start of the
/// next, in epoch ms.
pub fn day_bounds(date: &str) -> Option<(i64, i64)> {
    let d = NaiveDate::parse_from_str(date.trim(), "%Y-%m-%d").ok()?;
    let start = Almaty
        .from_local_datetime(&d.and_hms_opt(0, 0, 0)?)
        .earliest()?;
    let next = d.checked_add_days(chrono::Days::new(1))?;
    let end = Almaty
        .from_local_datetime(&next.and_hms_opt(0, 0, 0)?)
        .earliest()?;
    Some((start.timestamp_millis(), end.timestamp_millis()))
}

/// `HH:MM:SS` in Almaty of an epoch-ms time.
pub fn clock(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .map(|t| t.with_timezone(&Almaty).format("%H:%M:%S").to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_is_taken_in_almaty() {
        // 2026-03-08 00:00 +05:00 is 2026-03-07T19:00Z.
        let (from, to) = day_bounds("2026-03-08").unwrap_or((0, 0));
        assert_eq!(from, 1_772_910_000_000);
        assert_eq!(to - from, 86_400_000);
        assert_eq!(day_bounds("08.03.2026"), None);
        assert_eq!(clock(from), "00:00:00");
        assert_eq!(days_before("2026-03-08", 7), "2026-03-01");
        assert_eq!(days_before("soon", 7), "soon");
    }
}
