//! `GET /api/v1/reports`: the reports of `store::reports` as JSON or as a
//! CSV download, for the admin and coordinator roles (the route is in the
//! API's route table, behind its token guard). Reports hold counts and
//! averages only, no call ids or caller hashes, so reading one is not
//! written to the audit log.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Timelike, Utc};
use serde::Serialize;

use super::error::ApiError;
use super::query::{checked, parse_time};
use super::state::HttpState;
use crate::store::reports::{self, Grouping, Report, ReportError};
use crate::util::time::rfc3339;

/// The answer's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Csv,
}

/// A checked `GET /api/v1/reports` query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportQuery {
    pub from_ms: i64,
    pub to_ms: i64,
    pub by: Grouping,
    pub format: Format,
}

/// Parse the query: `from` and `to` (RFC 3339 or epoch ms; required),
/// `by` (default `day`), `format` (`json` by default, or `csv`).
pub fn parse_query(pairs: &[(String, String)]) -> Result<ReportQuery, ApiError> {
    const KNOWN: [&str; 4] = ["from", "to", "by", "format"];
    let mut from = None;
    let mut to = None;
    let mut by = Grouping::Day;
    let mut format = Format::Json;
    for param in checked(pairs, &KNOWN) {
        let (k, v) = param?;
        let time = || {
            parse_time(v).ok_or_else(|| {
                ApiError::bad(format!(
                    "`{k}` must be RFC 3339 (2026-03-01T00:00:00+05:00) or epoch milliseconds"
                ))
            })
        };
        match k {
            "from" => from = Some(time()?),
            "to" => to = Some(time()?),
            "by" => {
                by = Grouping::parse(v).ok_or_else(|| {
                    ApiError::bad("`by` must be day, week, month, service, language, hour or kind")
                })?
            }
            _ => {
                format = match v {
                    "json" => Format::Json,
                    "csv" => Format::Csv,
                    _ => return Err(ApiError::bad("`format` must be json or csv")),
                }
            }
        }
    }
    let (Some(from_ms), Some(to_ms)) = (from, to) else {
        return Err(ApiError::bad("`from` and `to` are required"));
    };
    Ok(ReportQuery {
        from_ms,
        to_ms,
        by,
        format,
    })
}

/// A time for a file name: the local date (Asia/Almaty) at local midnight,
/// else the local date and time to the minute (`2026-03-01T0930`).
pub fn file_stamp(ms: i64) -> String {
    let Some(t) = DateTime::<Utc>::from_timestamp_millis(ms)
        .map(|t| t.with_timezone(&chrono_tz::Asia::Almaty))
    else {
        return ms.to_string();
    };
    if t.hour() == 0 && t.minute() == 0 && t.second() == 0 && t.nanosecond() == 0 {
        t.format("%Y-%m-%d").to_string()
    } else {
        t.format("%Y-%m-%dT%H%M").to_string()
    }
}

/// `senim-report-<by>-<from>-<to>.csv`
pub fn file_name(q: &ReportQuery) -> String {
    format!(
        "senim-report-{}-{}-{}.csv",
        q.by.as_str(),
        file_stamp(q.from_ms),
        file_stamp(q.to_ms)
    )
}

/// The JSON answer: the range in RFC 3339 too.
#[derive(Serialize)]
struct ReportView {
    from: String,
    to: String,
    #[serde(flatten)]
    report: Report,
}

/// `GET /api/v1/reports`
pub async fn get_report(
    State(state): State<Arc<HttpState>>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Response {
    let pairs = match query {
        Ok(Query(p)) => p,
        Err(e) => return ApiError::bad(format!("bad query string: {e}")).into_response(),
    };
    let q = match parse_query(&pairs) {
        Ok(q) => q,
        Err(e) => return e.into_response(),
    };
    let report = match reports::report(&state.api.store, q.from_ms, q.to_ms, q.by).await {
        Ok(r) => r,
        Err(ReportError::Query(e)) => return ApiError::store(e).into_response(),
        Err(e) => return ApiError::bad(e.to_string()).into_response(),
    };
    match q.format {
        Format::Json => Json(ReportView {
            from: rfc3339(q.from_ms),
            to: rfc3339(q.to_ms),
            report,
        })
        .into_response(),
        Format::Csv => {
            let disposition = format!("attachment; filename=\"{}\"", file_name(&q));
            let mut response = reports::to_csv(&report).into_response();
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            );
            if let Ok(v) = HeaderValue::from_str(&disposition) {
                headers.insert(header::CONTENT_DISPOSITION, v);
            }
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn query_defaults_and_checks() {
        let q = parse_query(&p(&[
            ("from", "2026-03-01T00:00:00+05:00"),
            ("to", "1772391600000"),
        ]))
        .unwrap();
        assert_eq!(q.from_ms, 1_772_305_200_000);
        assert_eq!(q.to_ms, 1_772_391_600_000);
        assert_eq!((q.by, q.format), (Grouping::Day, Format::Json));
        let q = parse_query(&p(&[
            ("from", "0"),
            ("to", "1"),
            ("by", "hour"),
            ("format", "csv"),
        ]))
        .unwrap();
        assert_eq!((q.by, q.format), (Grouping::Hour, Format::Csv));

        let bad = |list: &[(&str, &str)]| parse_query(&p(list)).unwrap_err().message;
        assert!(bad(&[("from", "0")]).contains("required"));
        assert!(bad(&[("from", "0"), ("to", "1"), ("by", "year")]).contains("`by`"));
        assert!(bad(&[("from", "0"), ("to", "1"), ("format", "xlsx")]).contains("`format`"));
        assert!(bad(&[("from", "soon"), ("to", "1")]).contains("RFC 3339"));
        assert!(bad(&[("from", "0"), ("to", "1"), ("service", "legal")]).contains("unknown"));
        assert!(bad(&[("from", "0"), ("from", "1"), ("to", "2")]).contains("twice"));
    }

    #[test]
    fn file_names_in_local_time() {
        let q = ReportQuery {
            from_ms: parse_time("2026-03-01T00:00:00+05:00").unwrap(),
            to_ms: parse_time("2026-04-01T09:30:00+05:00").unwrap(),
            by: Grouping::Week,
            format: Format::Csv,
        };
        assert_eq!(
            file_name(&q),
            "senim-report-week-2026-03-01-2026-04-01T0930.csv"
        );
        // Midnight UTC is 05:00 in Almaty.
        assert_eq!(
            file_stamp(parse_time("2026-03-01T00:00:00Z").unwrap()),
            "2026-03-01T0500"
        );
    }
}
