//! One opening range of a day (`09:00-18:00`, `20:00-08:00` across
//! midnight) and a day's value (`"09:00-13:00, 14:00-18:00"`, `"closed"`).

use std::fmt;

use chrono::NaiveTime;

/// Seconds in a day.
pub(super) const DAY_SECS: u32 = 86_400;

/// One opening range of a day, end-exclusive, with second precision.
///
/// When `end <= start` the range crosses midnight and ends on the next day.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeRange {
    pub(super) start: u32,
    pub(super) end: u32,
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
    pub(super) fn contains_same_day(&self, secs: u32) -> bool {
        if self.crosses_midnight() {
            secs >= self.start
        } else {
            self.start <= secs && secs < self.end
        }
    }

    /// Open at `secs` after midnight of the day after the range starts?
    pub(super) fn contains_next_day(&self, secs: u32) -> bool {
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
