//! The coordinator's reports: the API's report of a range (by day, week,
//! month, service, language or hour) as a table and as charts made on the
//! server (SVG, no script), and its CSV download.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde::Deserialize;

use super::auth::SignedIn;
use super::frame::{render, Frame};
use super::local_time::{day_bounds, days_before, today};
use crate::store::reports::{self, Grouping, Report, ReportError};

/// The report page's form.
#[derive(Debug, Default, Deserialize)]
pub struct ReportForm {
    #[serde(default)]
    pub from: String,
    #[serde(default)]
    pub to: String,
    #[serde(default)]
    pub by: String,
}

/// One row of the table.
pub struct Row {
    pub key: String,
    pub offered: u64,
    pub answered: u64,
    pub abandoned: u64,
    pub service_level: String,
    pub wait_avg: String,
    pub wait_p90: String,
    pub callbacks: String,
    pub survey: String,
}

#[derive(Template)]
#[template(path = "reports.html")]
struct ReportsPage {
    f: Frame,
    from: String,
    to: String,
    by: String,
    groupings: Vec<(&'static str, String)>,
    rows: Vec<Row>,
    total: Option<Row>,
    /// Each chart's title and SVG.
    charts: Vec<(String, String)>,
    csv: String,
    error: Option<&'static str>,
}

fn opt(v: Option<f64>) -> String {
    v.map_or(String::new(), |x| format!("{x}"))
}

fn row(key: String, m: &reports::Metrics) -> Row {
    Row {
        key,
        offered: m.offered,
        answered: m.answered,
        abandoned: m.abandoned_menu + m.abandoned_queue,
        service_level: m
            .service_level_pct
            .map_or(String::new(), |p| format!("{p}%")),
        wait_avg: opt(m.wait_avg_s),
        wait_p90: opt(m.wait_p90_s),
        callbacks: format!("{}/{}", m.callbacks_completed, m.callbacks_requested),
        survey: m
            .survey_avg
            .map_or(String::new(), |a| format!("{a} ({})", m.survey_count)),
    }
}

/// The checked range and grouping of a form: the `from` day's start to the
/// end of the `to` day, in Almaty. Public for the fuzz targets (`fuzz/`).
#[doc(hidden)]
pub fn range(form: &ReportForm) -> Option<(String, String, Grouping, i64, i64)> {
    let to = if form.to.trim().is_empty() {
        today()
    } else {
        form.to.trim().to_string()
    };
    let from = if form.from.trim().is_empty() {
        days_before(&to, 6)
    } else {
        form.from.trim().to_string()
    };
    let by = if form.by.trim().is_empty() {
        Grouping::Day
    } else {
        Grouping::parse(form.by.trim())?
    };
    let (from_ms, _) = day_bounds(&from)?;
    let (_, to_ms) = day_bounds(&to)?;
    Some((from, to, by, from_ms, to_ms))
}

/// `GET /reports`.
pub async fn page(
    State(state): State<Arc<crate::http::state::HttpState>>,
    Extension(me): Extension<SignedIn>,
    form: Result<Query<ReportForm>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let form = form.map(|Query(f)| f).unwrap_or_default();
    let groupings = Grouping::ALL
        .iter()
        .map(|g| (g.as_str(), format!("reports.by_{}", g.as_str())))
        .collect();
    let mut page = ReportsPage {
        f: Frame::signed_in(&me, "/reports"),
        from: form.from.clone(),
        to: form.to.clone(),
        by: form.by.clone(),
        groupings,
        rows: Vec::new(),
        total: None,
        charts: Vec::new(),
        csv: String::new(),
        error: None,
    };
    let Some((from, to, by, from_ms, to_ms)) = range(&form) else {
        page.error = Some("reports.bad_range");
        return render(&page);
    };
    page.csv = format!("/reports.csv?from={from}&to={to}&by={}", by.as_str());
    page.from = from;
    page.to = to;
    page.by = by.as_str().to_string();
    match reports::report(&state.api.store, from_ms, to_ms, by).await {
        Ok(r) => {
            page.charts = charts(&r, &me);
            page.rows = r
                .rows
                .iter()
                .map(|x| row(x.key.clone(), &x.metrics))
                .collect();
            page.total = Some(row(String::new(), &r.total));
        }
        Err(ReportError::EmptyRange | ReportError::TooLong | ReportError::OutOfRange) => {
            page.error = Some("reports.bad_range");
        }
        Err(e) => {
            tracing::error!(error = %e, "the reports page could not make the report");
            page.error = Some("error.general");
        }
    }
    render(&page)
}

/// `GET /reports.csv`: the same report as a CSV file.
pub async fn csv(
    State(state): State<Arc<crate::http::state::HttpState>>,
    form: Result<Query<ReportForm>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let form = form.map(|Query(f)| f).unwrap_or_default();
    let Some((from, to, by, from_ms, to_ms)) = range(&form) else {
        return (axum::http::StatusCode::BAD_REQUEST, "from, to: YYYY-MM-DD").into_response();
    };
    match reports::report(&state.api.store, from_ms, to_ms, by).await {
        Ok(r) => {
            let mut response = reports::to_csv(&r).into_response();
            let h = response.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            );
            let name = format!("senim-report-{}-{from}-{to}.csv", by.as_str());
            if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
                h.insert(header::CONTENT_DISPOSITION, v);
            }
            response
        }
        Err(_) => (
            axum::http::StatusCode::BAD_REQUEST,
            "the range cannot be reported",
        )
            .into_response(),
    }
}

/// The bars of a chart: a label and a value per series for each group.
type Bars = Vec<(String, Vec<f64>)>;

/// The charts of a report, as SVG with their titles and legends in the
/// page's words: calls offered, answered and abandoned; the waits (average
/// and 90th percentile); the service level; the survey's average.
fn charts(r: &Report, me: &SignedIn) -> Vec<(String, String)> {
    let t = super::i18n::catalogue(me.session.lang);
    let rows = |f: &dyn Fn(&reports::Metrics) -> Vec<f64>| -> Bars {
        r.rows
            .iter()
            .map(|x| (x.key.clone(), f(&x.metrics)))
            .collect()
    };
    let n = |v: Option<f64>| v.unwrap_or(0.0);
    let specs: [(&str, Vec<&str>, Bars); 4] = [
        (
            "reports.chart_title",
            vec![
                t.get("reports.offered"),
                t.get("reports.answered"),
                t.get("reports.abandoned"),
            ],
            rows(&|m| {
                vec![
                    m.offered as f64,
                    m.answered as f64,
                    (m.abandoned_menu + m.abandoned_queue) as f64,
                ]
            }),
        ),
        (
            "reports.chart_waits",
            vec![t.get("reports.wait_avg"), t.get("reports.wait_p90")],
            rows(&|m| vec![n(m.wait_avg_s), n(m.wait_p90_s)]),
        ),
        (
            "reports.chart_service_level",
            vec![t.get("reports.service_level")],
            rows(&|m| vec![n(m.service_level_pct)]),
        ),
        (
            "reports.chart_survey",
            vec![t.get("reports.survey")],
            rows(&|m| vec![n(m.survey_avg)]),
        ),
    ];
    specs
        .into_iter()
        .map(|(key, series, bars)| {
            let title = t.get(key).to_string();
            let svg = bar_chart(&title, &series, &bars);
            (title, svg)
        })
        .collect()
}

/// Escape text for SVG.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A number as a chart says it: whole when it is, else to one decimal.
fn num(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// A grouped bar chart: a group per label, a bar per series.
pub fn bar_chart(title: &str, series: &[&str], bars: &[(String, Vec<f64>)]) -> String {
    const COLOURS: [&str; 3] = ["#0b5cad", "#1a7f37", "#a4161a"];
    let per = series.len().clamp(1, 3);
    let (height, top, bottom, left) = (220.0_f64, 28.0, 40.0, 36.0);
    let group_w = (per as f64 * 10.0 + 8.0).max(36.0);
    let width = (left + group_w * bars.len().max(1) as f64 + 16.0).max(400.0);
    let max = bars
        .iter()
        .flat_map(|(_, v)| v.iter().copied())
        .filter(|v| v.is_finite())
        .fold(0.0_f64, f64::max);
    let max = if max > 0.0 { max } else { 1.0 };
    let plot = height - top - bottom;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" aria-label=\"{}\" viewBox=\"0 0 {width:.0} {height:.0}\" width=\"{width:.0}\" height=\"{height:.0}\" class=\"chart\">",
        esc(title)
    );
    svg.push_str(&format!("<title>{}</title>", esc(title)));
    for (i, name) in series.iter().take(per).enumerate() {
        let x = left + i as f64 * 120.0;
        svg.push_str(&format!(
            "<rect x=\"{x:.0}\" y=\"6\" width=\"10\" height=\"10\" fill=\"{}\"/><text x=\"{:.0}\" y=\"15\" font-size=\"11\">{}</text>",
            COLOURS[i],
            x + 14.0,
            esc(name)
        ));
    }
    svg.push_str(&format!(
        "<line x1=\"{left}\" y1=\"{:.0}\" x2=\"{width:.0}\" y2=\"{:.0}\" stroke=\"#57606a\"/>",
        height - bottom,
        height - bottom
    ));
    svg.push_str(&format!(
        "<text x=\"{:.0}\" y=\"{:.0}\" font-size=\"10\" text-anchor=\"end\">{}</text>",
        left - 4.0,
        top + 8.0,
        num(max)
    ));
    for (g, (label, values)) in bars.iter().enumerate() {
        let gx = left + g as f64 * group_w + 4.0;
        for (i, v) in values.iter().take(per).enumerate() {
            let v = if v.is_finite() { v.max(0.0) } else { 0.0 };
            let h = plot * v / max;
            svg.push_str(&format!(
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"9\" height=\"{h:.1}\" fill=\"{}\"><title>{}: {}</title></rect>",
                gx + i as f64 * 10.0,
                height - bottom - h,
                COLOURS[i],
                esc(series.get(i).copied().unwrap_or("")),
                num(v)
            ));
        }
        let short: String = label
            .chars()
            .rev()
            .take(5)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        svg.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{:.0}\" font-size=\"10\" text-anchor=\"middle\">{}</text>",
            gx + per as f64 * 5.0,
            height - bottom + 14.0,
            esc(&short)
        ));
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chart_is_svg_with_a_bar_per_number_and_escaped_words() {
        let svg = bar_chart(
            "Calls <by day>",
            &["offered", "answered", "abandoned"],
            &[
                ("2026-03-01".into(), vec![10.0, 7.0, 2.0]),
                ("2026-03-02".into(), vec![0.0, 0.0, 0.0]),
            ],
        );
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("Calls &lt;by day&gt;") && !svg.contains("<by day>"));
        assert_eq!(svg.matches("<rect").count(), 3 + 6);
        assert!(svg.contains("03-01") && svg.contains("offered: 10"));
        // An empty report still draws.
        assert!(bar_chart("x", &["a"], &[]).ends_with("</svg>"));
        // Waits in tenths; a number that is not finite draws nothing.
        let waits = bar_chart("w", &["avg", "p90"], &[("d".into(), vec![12.5, f64::NAN])]);
        assert!(
            waits.contains("avg: 12.5") && waits.contains("p90: 0"),
            "{waits}"
        );
    }

    #[test]
    fn a_range_is_read_from_days_in_almaty() {
        let f = |from: &str, to: &str, by: &str| ReportForm {
            from: from.into(),
            to: to.into(),
            by: by.into(),
        };
        let r = range(&f("2026-03-01", "2026-03-07", "week"));
        let Some((_, _, by, from_ms, to_ms)) = r else {
            panic!("a valid range")
        };
        assert_eq!(by, Grouping::Week);
        assert_eq!(to_ms - from_ms, 7 * 86_400_000);
        assert!(range(&f("2026-03-01", "2026-03-07", "year")).is_none());
        assert!(range(&f("yesterday", "", "")).is_none());
        assert!(range(&f("", "", "")).is_some());
    }
}
