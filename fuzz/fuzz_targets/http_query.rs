//! Fuzz the HTTP API's query strings: any bytes as the query of
//! `GET /api/v1/reports`, `/calls` (each role), `/follow-ups` and `/audit`
//! and of the web pages `/reports` and `/calls`, decoded as axum's `Query`
//! decodes them, then read by each parser. A
//! query gives a filter or a 400, never a panic; a report query that reads
//! well is run on no calls (the range checked, every group listed) and
//! written as CSV.
//! Run: `cd fuzz && cargo +nightly fuzz run http_query corpus/http_query`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use senim::http::auth::Role;
use senim::http::query::{self, Pairs, MAX_LIMIT};
use senim::http::{audit_log, calls, follow_ups, reports};
use senim::store::reports as report_store;
use senim::util::time::rfc3339;
use senim::web::{calls as call_page, local_time, reports as report_page};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Some(ms) = query::parse_time(text) {
            let _ = rfc3339(ms);
            let _ = reports::file_stamp(ms);
        }
    }
    web_pages(data);
    // What axum's `Query<Vec<(String, String)>>` does with the URI's query.
    let Ok(pairs) = serde_urlencoded::from_bytes::<Pairs>(data) else {
        return;
    };
    let _ = query::query_object(&pairs);
    for (_, v) in &pairs {
        let _ = query::word(v);
        if let Ok(n) = query::limit(v) {
            assert!((1..=MAX_LIMIT).contains(&n));
        }
        if let Some(ms) = query::parse_time(v) {
            let _ = rfc3339(ms);
            let _ = reports::file_stamp(ms);
        }
    }

    if let Ok(q) = reports::parse_query(&pairs) {
        let _ = reports::file_name(&q);
        let _ = (rfc3339(q.from_ms), rfc3339(q.to_ms));
        if let Ok(report) = report_store::report_of_nothing(q.from_ms, q.to_ms, q.by) {
            let _ = report_store::to_csv(&report);
        }
    }
    for role in [Role::Admin, Role::Coordinator, Role::Specialist] {
        if let Ok((filter, with_hash)) = calls::parse_call_query(&pairs, role) {
            assert!(!with_hash || role == Role::Admin);
            assert!((1..=MAX_LIMIT).contains(&filter.limit));
            if let (Some(a), Some(b)) = (filter.from_ms, filter.to_ms) {
                assert!(a < b);
            }
        }
    }
    if let Ok(filter) = follow_ups::parse_list_query(&pairs) {
        assert!((1..=MAX_LIMIT).contains(&filter.limit));
    }
    if let Ok(filter) = audit_log::parse_audit_query(&pairs) {
        assert!((1..=MAX_LIMIT).contains(&filter.limit));
    }
});

/// The web pages' queries: the reports page's range (today's date when a
/// date is left out) and the calls page's day.
fn web_pages(data: &[u8]) {
    if let Ok(form) = serde_urlencoded::from_bytes::<report_page::ReportForm>(data) {
        if let Some((_, _, by, from_ms, to_ms)) = report_page::range(&form) {
            if let Ok(report) = report_store::report_of_nothing(from_ms, to_ms, by) {
                let _ = report_store::to_csv(&report);
            }
        }
        let _ = local_time::days_before(&form.to, 6);
    }
    if let Ok(q) = serde_urlencoded::from_bytes::<call_page::CallsQuery>(data) {
        if let Some((from_ms, to_ms)) = local_time::day_bounds(&q.day) {
            assert!(from_ms < to_ms);
            let _ = local_time::clock(from_ms);
        }
    }
}
