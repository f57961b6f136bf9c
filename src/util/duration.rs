//! Durations and port ranges as written in the configuration file:
//! `"6s"`, `"1500ms"`, `"90d"`, `"10000-20000"`.

use std::time::Duration;

/// "6s", "1500ms", "2m", "12h", "90d" to a duration.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit())?;
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().ok()?;
    match unit.trim() {
        "ms" => Some(Duration::from_millis(n)),
        "s" => Some(Duration::from_secs(n)),
        "m" | "min" => n.checked_mul(60).map(Duration::from_secs),
        "h" => n.checked_mul(3600).map(Duration::from_secs),
        "d" => n.checked_mul(86_400).map(Duration::from_secs),
        _ => None,
    }
}

/// "10000-20000" to an inclusive range that holds at least one even/odd pair.
pub fn parse_port_range(s: &str) -> Option<(u16, u16)> {
    let (a, b) = s.split_once('-')?;
    let lo: u16 = a.trim().parse().ok()?;
    let hi: u16 = b.trim().parse().ok()?;
    let first_even = lo.checked_add(lo % 2)?;
    (lo > 0 && hi > first_even).then_some((lo, hi))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1500ms"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(
            parse_duration("90d"),
            Some(Duration::from_secs(90 * 86_400))
        );
        assert_eq!(parse_duration("x"), None);
        assert_eq!(parse_duration("5"), None);
    }

    #[test]
    fn port_ranges() {
        assert_eq!(parse_port_range("10000-20000"), Some((10000, 20000)));
        assert_eq!(parse_port_range("20000-10000"), None);
        assert_eq!(parse_port_range("0-10"), None);
        assert_eq!(parse_port_range("10000"), None);
    }
}
