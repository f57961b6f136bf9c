//! Query strings of the API: the parameters in order, checked as they come
//! (unknown or repeated names are errors), page sizes and times.

use axum::extract::rejection::QueryRejection;
use axum::extract::Query;

use super::error::ApiError;

/// Default and largest page sizes.
pub const DEFAULT_LIMIT: u32 = 100;
pub const MAX_LIMIT: u32 = 1000;

/// A query string's parameters, in order.
pub type Pairs = Vec<(String, String)>;

/// The parameters, or 400 when the query string cannot be read.
pub fn pairs(query: Result<Query<Pairs>, QueryRejection>) -> Result<Pairs, ApiError> {
    query
        .map(|Query(p)| p)
        .map_err(|e| ApiError::bad(format!("bad query string: {e}")))
}

/// Epoch milliseconds from RFC 3339 (`2026-03-08T09:00:00+05:00`) or from
/// digits (epoch milliseconds). A `+` that arrived unencoded (read as a
/// space) is taken as `+`.
pub fn parse_time(value: &str) -> Option<i64> {
    let v = value.trim();
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        return v.parse().ok();
    }
    chrono::DateTime::parse_from_rfc3339(v)
        .or_else(|_| chrono::DateTime::parse_from_rfc3339(&v.replace(' ', "+")))
        .ok()
        .map(|t| t.timestamp_millis())
}

/// A short word of letters, digits and `-` (language codes, outcomes, ids).
pub fn word(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= 64
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The query's parameters in order, each checked as it comes: an unknown
/// name or one given twice is an error (in its place, so an earlier
/// parameter's own error is still reported first by a caller that reads
/// the values as it goes).
pub fn checked<'a>(
    pairs: &'a [(String, String)],
    allowed: &'a [&'a str],
) -> impl Iterator<Item = Result<(&'a str, &'a str), ApiError>> + 'a {
    let mut seen: Vec<&'a str> = Vec::new();
    pairs.iter().map(move |(k, v)| {
        let k = k.as_str();
        if !allowed.contains(&k) {
            return Err(ApiError::bad(format!(
                "unknown parameter `{k}` (known: {})",
                allowed.join(", ")
            )));
        }
        if seen.contains(&k) {
            return Err(ApiError::bad(format!("parameter `{k}` given twice")));
        }
        seen.push(k);
        Ok((k, v.as_str()))
    })
}

/// All parameters checked, or the first error.
pub fn one<'a>(
    pairs: &'a [(String, String)],
    allowed: &'a [&'a str],
) -> Result<Vec<(&'a str, &'a str)>, ApiError> {
    checked(pairs, allowed).collect()
}

/// `limit`: 1 to [`MAX_LIMIT`].
pub fn limit(value: &str) -> Result<u32, ApiError> {
    value
        .parse::<u32>()
        .ok()
        .filter(|n| (1..=MAX_LIMIT).contains(n))
        .ok_or_else(|| ApiError::bad(format!("`limit` must be 1 to {MAX_LIMIT}")))
}

/// A time parameter (`from`, `to`): RFC 3339 or epoch milliseconds.
pub fn time(name: &str, value: &str) -> Result<i64, ApiError> {
    parse_time(value).ok_or_else(|| {
        ApiError::bad(format!(
            "`{name}` must be RFC 3339 (2026-03-08T09:00:00+05:00) or epoch milliseconds"
        ))
    })
}

/// The parameters as a JSON object, for the audit log.
pub fn query_object(pairs: &Pairs) -> serde_json::Value {
    pairs
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_in_rfc3339_or_epoch_ms() {
        assert_eq!(parse_time("1700000000000"), Some(1_700_000_000_000));
        assert_eq!(
            parse_time("2024-03-04T05:00:00+05:00"),
            Some(1_709_510_400_000)
        );
        assert_eq!(parse_time("2024-03-04T00:00:00Z"), Some(1_709_510_400_000));
        // `+` decoded as a space from an unencoded query string
        assert_eq!(
            parse_time("2024-03-04T05:00:00 05:00"),
            Some(1_709_510_400_000)
        );
        assert_eq!(parse_time("yesterday"), None);
        assert_eq!(parse_time(""), None);
    }

    #[test]
    fn unknown_and_repeated_parameters_are_refused() {
        let p = |list: &[(&str, &str)]| -> Pairs {
            list.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert!(one(&p(&[("a", "1")]), &["a", "b"]).is_ok());
        assert!(one(&p(&[("c", "1")]), &["a", "b"]).is_err());
        assert!(one(&p(&[("a", "1"), ("a", "2")]), &["a"]).is_err());
        assert_eq!(limit("1000"), Ok(1000));
        assert!(limit("0").is_err());
    }
}
