//! Reports for the centre's funders and coordinator: calls offered,
//! answered and abandoned, waits and the service level, transfers to
//! partners, callbacks and survey scores, by day, ISO week, month, service,
//! language, hour of day or the kind of help the specialist gave (their
//! wrap-up code), as rows of numbers or CSV.
//!
//! The definitions are in `docs/reports.md`; keep the two in step. The SQL
//! gathers one line of facts per call (and per callback request); grouping,
//! averages and percentiles are done here, where the calendar (Asia/Almaty)
//! and nearest-rank percentiles are easy to get right.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc};
use chrono_tz::Asia::Almaty;
use serde::Serialize;
use sqlx::Row;

use super::{flag, sql, Dialect, Store, StoreError};

/// Answered within this wait counts for the service level.
pub const SERVICE_LEVEL_MS: i64 = 20_000;

/// The longest range a report covers (ten years and a few leap days).
pub const MAX_SPAN_DAYS: i64 = 3660;

/// The zone of every calendar grouping.
pub const TIME_ZONE: &str = "Asia/Almaty";

/// The services and languages listed even when they had no calls.
const SERVICES: &[&str] = &["legal", "psychology", "mediation"];
const LANGUAGES: &[&str] = &["kk", "ru"];
/// The wrap-up kinds listed even when no call had them (the defaults of
/// `[wrap_up]`; other configured kinds appear when calls have them).
const KINDS: &[&str] = &[
    "consultation",
    "referral",
    "crisis-intervention",
    "information",
];

/// The group of calls with no service or language recorded.
pub const NONE: &str = "none";

/// How the rows of a report are grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Grouping {
    /// Local calendar day, `2026-03-08`.
    Day,
    /// ISO week (Monday to Sunday), `2026-W10`.
    Week,
    /// Calendar month, `2026-03`.
    Month,
    /// `legal`, `psychology`, `mediation` (and `none`).
    Service,
    /// `kk`, `ru` (and `none`).
    Language,
    /// Local hour of day, `00` to `23`.
    Hour,
    /// The kind of help from the specialist's wrap-up code:
    /// `consultation`, `referral`, `crisis-intervention`, `information`, a
    /// configured kind, and `none` (no code given, or no specialist).
    Kind,
}

impl Grouping {
    pub const ALL: [Grouping; 7] = [
        Grouping::Day,
        Grouping::Week,
        Grouping::Month,
        Grouping::Service,
        Grouping::Language,
        Grouping::Hour,
        Grouping::Kind,
    ];

    pub fn parse(text: &str) -> Option<Grouping> {
        Grouping::ALL.into_iter().find(|g| g.as_str() == text)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Grouping::Day => "day",
            Grouping::Week => "week",
            Grouping::Month => "month",
            Grouping::Service => "service",
            Grouping::Language => "language",
            Grouping::Hour => "hour",
            Grouping::Kind => "kind",
        }
    }
}

/// Why a report could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// `from` is not before `to`.
    #[error("`from` must be before `to`")]
    EmptyRange,
    /// The range is longer than [`MAX_SPAN_DAYS`].
    #[error("a report covers at most {MAX_SPAN_DAYS} days")]
    TooLong,
    /// A time outside what a calendar can name.
    #[error("time out of range")]
    OutOfRange,
    /// A query failed.
    #[error(transparent)]
    Query(#[from] StoreError),
}

/// The numbers of one row (or of the whole range). Times in seconds and
/// hours, rounded to 0.1; the survey average to 0.01. `None` (JSON `null`,
/// an empty CSV cell) where there is nothing to average.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Metrics {
    /// Calls that arrived.
    pub offered: u64,
    /// Calls whose routing finished `connected`.
    pub answered: u64,
    /// The caller hung up before any routing, transfer or follow-up.
    pub abandoned_menu: u64,
    /// Routing finished `abandoned`: the caller hung up while waiting.
    pub abandoned_queue: u64,
    /// Calls that reached routing (a `requested` step).
    pub routed: u64,
    /// Answered with a wait of at most 20 s.
    pub answered_within_20s: u64,
    /// `answered_within_20s / routed`, in percent.
    pub service_level_pct: Option<f64>,
    /// Wait of the answered calls, from the route request to the bridge.
    pub wait_avg_s: Option<f64>,
    /// Nearest-rank 90th percentile of the same waits.
    pub wait_p90_s: Option<f64>,
    /// Calls transferred to a partner centre: the partner answered a
    /// bridged call, or the upstream took the call over by REFER
    /// (`handed-over`: whether the partner answered is not known).
    pub transfers_to_partners: u64,
    /// Callback requests made.
    pub callbacks_requested: u64,
    /// Of those, done.
    pub callbacks_completed: u64,
    /// From the request to done, for the completed ones.
    pub callback_avg_h: Option<f64>,
    pub callback_p90_h: Option<f64>,
    /// Average survey score (1-5) of the calls rated.
    pub survey_avg: Option<f64>,
    /// Calls rated.
    pub survey_count: u64,
}

/// One row: the group and its numbers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReportRow {
    /// The group: `2026-03-08`, `2026-W10`, `2026-03`, `legal`, `kk`, `09`.
    pub key: String,
    #[serde(flatten)]
    pub metrics: Metrics,
}

/// A report: its range, grouping and rows, and the totals of the range.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub by: Grouping,
    /// Start of the range, inclusive (epoch ms, UTC).
    pub from_ms: i64,
    /// End of the range, exclusive.
    pub to_ms: i64,
    /// The zone of days, weeks, months and hours.
    pub time_zone: &'static str,
    pub rows: Vec<ReportRow>,
    pub total: Metrics,
}

/// What one call adds to a report.
#[derive(Debug, Clone)]
struct CallFacts {
    arrived_at: i64,
    language: Option<String>,
    service: Option<String>,
    wrap_up: Option<String>,
    hangup_by_caller: bool,
    survey_score: Option<i64>,
    any_routing: bool,
    routed: bool,
    connected: bool,
    connected_wait_ms: Option<i64>,
    abandoned_queue: bool,
    transferred: bool,
    follow_up: bool,
}

/// What one callback request adds.
#[derive(Debug, Clone)]
struct CallbackFacts {
    created_at: i64,
    language: Option<String>,
    service: Option<String>,
    done: bool,
    completed_at: Option<i64>,
}

/// One fact line per call that arrived in [from, to). The service is the
/// one recorded on the call, else that of its first routing request. Once
/// a call's timeline is removed (retention or erasure, see
/// `store::retention`), the same facts come from its `kept_*` columns.
fn calls_sql(d: Dialect) -> String {
    // A fact kept on the call after its timeline went, else found in it.
    let kept = |column: &str, exists: &str| {
        format!("COALESCE(c.{column}, CASE WHEN EXISTS ({exists}) THEN 1 ELSE 0 END)")
    };
    format!(
        "
SELECT c.arrived_at, c.language, c.hangup_by, c.survey_score, c.wrap_up,
  COALESCE(c.service,
    (SELECT {service} FROM call_routing r
      WHERE r.call_id = c.id AND r.step = 'requested' ORDER BY r.seq LIMIT 1)) AS service,
  {any_routing} AS any_routing,
  {routed} AS routed,
  {connected} AS connected,
  COALESCE(c.kept_connected_wait_ms, (SELECT r.wait_ms FROM call_routing r
    WHERE r.call_id = c.id AND r.step = 'finished' AND r.result = 'connected'
    ORDER BY r.seq LIMIT 1)) AS connected_wait_ms,
  {abandoned} AS abandoned_queue,
  {transferred} AS transferred,
  {follow_up} AS follow_up
FROM calls c
WHERE c.arrived_at >= $1 AND c.arrived_at < $2",
        service = d.json_text("r.detail", "service"),
        any_routing = kept(
            "kept_any_routing",
            "SELECT 1 FROM call_routing r WHERE r.call_id = c.id"
        ),
        routed = kept(
            "kept_routed",
            "SELECT 1 FROM call_routing r WHERE r.call_id = c.id AND r.step = 'requested'"
        ),
        connected = kept(
            "kept_connected",
            "SELECT 1 FROM call_routing r
              WHERE r.call_id = c.id AND r.step = 'finished' AND r.result = 'connected'"
        ),
        abandoned = kept(
            "kept_abandoned_queue",
            "SELECT 1 FROM call_routing r
              WHERE r.call_id = c.id AND r.step = 'finished' AND r.result = 'abandoned'"
        ),
        transferred = kept(
            "kept_transferred",
            "SELECT 1 FROM call_routing r
              WHERE r.call_id = c.id AND r.step = 'transfer-ended'
                AND r.result IN ('answered', 'handed-over')"
        ),
        follow_up = kept(
            "kept_follow_up",
            "SELECT 1 FROM follow_ups f WHERE f.call_id = c.id"
        ),
    )
}

/// One line per callback request made in [from, to); language and service
/// from the request, else from its call.
const CALLBACKS_SQL: &str = "
SELECT f.created_at, f.status, f.completed_at,
  COALESCE(f.language, c.language) AS language,
  COALESCE(f.service, c.service) AS service
FROM follow_ups f LEFT JOIN calls c ON c.id = f.call_id
WHERE f.kind = 'callback' AND f.created_at >= $1 AND f.created_at < $2";

/// Make the report of [from_ms, to_ms) grouped `by`.
pub async fn report(
    store: &Store,
    from_ms: i64,
    to_ms: i64,
    by: Grouping,
) -> Result<Report, ReportError> {
    let pool = store.pool();
    check_range(from_ms, to_ms)?;
    let calls = sqlx::query(sql(calls_sql(store.dialect())))
        .bind(from_ms)
        .bind(to_ms)
        .fetch_all(pool)
        .await
        .map_err(StoreError::from)?
        .into_iter()
        .map(|r| {
            Ok(CallFacts {
                arrived_at: r.try_get("arrived_at")?,
                language: r.try_get("language")?,
                service: r.try_get("service")?,
                wrap_up: r.try_get("wrap_up")?,
                hangup_by_caller: r.try_get::<Option<String>, _>("hangup_by")?.as_deref()
                    == Some("caller"),
                survey_score: r.try_get("survey_score")?,
                any_routing: flag(&r, "any_routing")?.unwrap_or(false),
                routed: flag(&r, "routed")?.unwrap_or(false),
                connected: flag(&r, "connected")?.unwrap_or(false),
                connected_wait_ms: r.try_get("connected_wait_ms")?,
                abandoned_queue: flag(&r, "abandoned_queue")?.unwrap_or(false),
                transferred: flag(&r, "transferred")?.unwrap_or(false),
                follow_up: flag(&r, "follow_up")?.unwrap_or(false),
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()
        .map_err(StoreError::from)?;
    let callbacks = sqlx::query(CALLBACKS_SQL)
        .bind(from_ms)
        .bind(to_ms)
        .fetch_all(pool)
        .await
        .map_err(StoreError::from)?
        .into_iter()
        .map(|r| {
            Ok(CallbackFacts {
                created_at: r.try_get("created_at")?,
                language: r.try_get("language")?,
                service: r.try_get("service")?,
                done: r.try_get::<String, _>("status")? == "done",
                completed_at: r.try_get("completed_at")?,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()
        .map_err(StoreError::from)?;
    build(from_ms, to_ms, by, &calls, &callbacks)
}

/// The report of a range without a call or callback request: what
/// [`report`] gives for an empty store, without one (the range checked
/// and every group listed). For the fuzz targets (`fuzz/`).
#[doc(hidden)]
pub fn report_of_nothing(from_ms: i64, to_ms: i64, by: Grouping) -> Result<Report, ReportError> {
    check_range(from_ms, to_ms)?;
    build(from_ms, to_ms, by, &[], &[])
}

fn check_range(from_ms: i64, to_ms: i64) -> Result<(), ReportError> {
    if from_ms >= to_ms {
        return Err(ReportError::EmptyRange);
    }
    local(from_ms).ok_or(ReportError::OutOfRange)?;
    local(to_ms).ok_or(ReportError::OutOfRange)?;
    if to_ms - from_ms > MAX_SPAN_DAYS * 86_400_000 {
        return Err(ReportError::TooLong);
    }
    Ok(())
}

/// Local time in Asia/Almaty.
fn local(ms: i64) -> Option<DateTime<chrono_tz::Tz>> {
    DateTime::<Utc>::from_timestamp_millis(ms).map(|t| t.with_timezone(&Almaty))
}

fn day_key(date: NaiveDate) -> String {
    date.format("%Y-%m-%d").to_string()
}

fn week_key(date: NaiveDate) -> String {
    let w = date.iso_week();
    format!("{}-W{:02}", w.year(), w.week())
}

fn month_key(date: NaiveDate) -> String {
    date.format("%Y-%m").to_string()
}

/// The group of an instant, or of a service, language or wrap-up kind.
fn key(
    by: Grouping,
    at_ms: i64,
    service: Option<&str>,
    language: Option<&str>,
    kind: Option<&str>,
) -> String {
    let label = |v: Option<&str>| v.filter(|s| !s.is_empty()).unwrap_or(NONE).to_string();
    let Some(t) = local(at_ms) else {
        return NONE.to_string();
    };
    match by {
        Grouping::Day => day_key(t.date_naive()),
        Grouping::Week => week_key(t.date_naive()),
        Grouping::Month => month_key(t.date_naive()),
        Grouping::Hour => format!("{:02}", t.hour()),
        Grouping::Service => label(service),
        Grouping::Language => label(language),
        Grouping::Kind => label(kind),
    }
}

/// The groups listed even without calls: every day, week or month the
/// range touches, every hour, the known services and languages.
fn empty_groups(by: Grouping, from_ms: i64, to_ms: i64) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let calendar = |f: fn(NaiveDate) -> String, out: &mut Vec<String>| {
        let (Some(first), Some(last)) = (local(from_ms), local(to_ms - 1)) else {
            return;
        };
        let mut d = first.date_naive();
        let end = last.date_naive();
        while d <= end {
            let k = f(d);
            if out.last() != Some(&k) {
                out.push(k);
            }
            let Some(next) = d.succ_opt() else { break };
            d = next;
        }
    };
    match by {
        Grouping::Day => calendar(day_key, &mut out),
        Grouping::Week => calendar(week_key, &mut out),
        Grouping::Month => calendar(month_key, &mut out),
        Grouping::Hour => out.extend((0..24).map(|h| format!("{h:02}"))),
        Grouping::Service => out.extend(SERVICES.iter().map(|s| s.to_string())),
        Grouping::Language => out.extend(LANGUAGES.iter().map(|s| s.to_string())),
        Grouping::Kind => out.extend(KINDS.iter().map(|s| s.to_string())),
    }
    out
}

/// Counts and samples of one group, before averaging.
#[derive(Debug, Default)]
struct Acc {
    m: Metrics,
    waits_ms: Vec<i64>,
    callback_ms: Vec<i64>,
    survey_sum: i64,
}

impl Acc {
    fn add_call(&mut self, c: &CallFacts) {
        let m = &mut self.m;
        m.offered += 1;
        if c.connected {
            m.answered += 1;
            if let Some(w) = c.connected_wait_ms {
                self.waits_ms.push(w);
                if w <= SERVICE_LEVEL_MS {
                    m.answered_within_20s += 1;
                }
            }
        }
        // Each count that this call adds one to when its fact holds.
        for (holds, count) in [
            (
                c.hangup_by_caller && !c.any_routing && !c.follow_up,
                &mut m.abandoned_menu,
            ),
            (c.abandoned_queue, &mut m.abandoned_queue),
            (c.routed, &mut m.routed),
            (c.transferred, &mut m.transfers_to_partners),
        ] {
            *count += u64::from(holds);
        }
        if let Some(s) = c.survey_score {
            m.survey_count += 1;
            self.survey_sum += s;
        }
    }

    fn add_callback(&mut self, f: &CallbackFacts) {
        self.m.callbacks_requested += 1;
        if f.done {
            self.m.callbacks_completed += 1;
            if let Some(done) = f.completed_at.filter(|t| *t >= f.created_at) {
                self.callback_ms.push(done - f.created_at);
            }
        }
    }

    fn finish(mut self) -> Metrics {
        let mut m = self.m;
        m.service_level_pct = (m.routed > 0)
            .then(|| round(m.answered_within_20s as f64 * 100.0 / m.routed as f64, 1));
        m.wait_avg_s = mean(&self.waits_ms).map(|v| round(v / 1000.0, 1));
        m.wait_p90_s = p90(&mut self.waits_ms).map(|v| round(v as f64 / 1000.0, 1));
        m.callback_avg_h = mean(&self.callback_ms).map(|v| round(v / 3_600_000.0, 1));
        m.callback_p90_h = p90(&mut self.callback_ms).map(|v| round(v as f64 / 3_600_000.0, 1));
        m.survey_avg =
            (m.survey_count > 0).then(|| round(self.survey_sum as f64 / m.survey_count as f64, 2));
        m
    }
}

fn mean(v: &[i64]) -> Option<f64> {
    (!v.is_empty()).then(|| v.iter().map(|x| *x as f64).sum::<f64>() / v.len() as f64)
}

/// Nearest-rank 90th percentile: the value at rank ceil(0.9 n) of the sorted values.
pub fn p90(v: &mut [i64]) -> Option<i64> {
    if v.is_empty() {
        return None;
    }
    v.sort_unstable();
    let rank = (v.len() * 9).div_ceil(10);
    v.get(rank.max(1) - 1).copied()
}

fn round(v: f64, places: i32) -> f64 {
    let f = 10f64.powi(places);
    (v * f).round() / f
}

fn build(
    from_ms: i64,
    to_ms: i64,
    by: Grouping,
    calls: &[CallFacts],
    callbacks: &[CallbackFacts],
) -> Result<Report, ReportError> {
    let mut order = empty_groups(by, from_ms, to_ms);
    let mut groups: BTreeMap<String, Acc> = BTreeMap::new();
    let mut total = Acc::default();
    for c in calls {
        let k = key(
            by,
            c.arrived_at,
            c.service.as_deref(),
            c.language.as_deref(),
            c.wrap_up.as_deref(),
        );
        groups.entry(k).or_default().add_call(c);
        total.add_call(c);
    }
    for f in callbacks {
        let k = key(
            by,
            f.created_at,
            f.service.as_deref(),
            f.language.as_deref(),
            None,
        );
        groups.entry(k).or_default().add_callback(f);
        total.add_callback(f);
    }
    // Groups seen that are not listed in advance (another service or
    // language) come after the known ones, in order, and `none` last.
    let mut extra: Vec<&String> = groups
        .keys()
        .filter(|k| !order.contains(k) && k.as_str() != NONE)
        .collect();
    extra.sort();
    let extra: Vec<String> = extra.into_iter().cloned().collect();
    order.extend(extra);
    if (groups.contains_key(NONE) || by == Grouping::Kind) && !order.iter().any(|k| k == NONE) {
        order.push(NONE.to_string());
    }
    let rows = order
        .into_iter()
        .map(|key| {
            let metrics = groups.remove(&key).unwrap_or_default().finish();
            ReportRow { key, metrics }
        })
        .collect();
    Ok(Report {
        by,
        from_ms,
        to_ms,
        time_zone: TIME_ZONE,
        rows,
        total: total.finish(),
    })
}

// -- CSV ----------------------------------------------------------------------

/// The CSV columns after the group's.
pub const CSV_COLUMNS: [&str; 16] = [
    "offered",
    "answered",
    "abandoned_menu",
    "abandoned_queue",
    "routed",
    "answered_within_20s",
    "service_level_pct",
    "wait_avg_s",
    "wait_p90_s",
    "transfers_to_partners",
    "callbacks_requested",
    "callbacks_completed",
    "callback_avg_h",
    "callback_p90_h",
    "survey_avg",
    "survey_count",
];

/// One CSV field (RFC 4180): quoted when it holds a comma, a quote, CR or
/// LF, quotes doubled. A text starting with `=`, `+`, `-` or `@` gets a
/// leading `'` so a spreadsheet shows it rather than running it as a formula.
pub fn csv_field(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@']) {
        format!("'{text}")
    } else {
        text.to_string()
    };
    if text.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

fn number(v: Option<f64>, places: usize) -> String {
    v.map(|x| format!("{x:.places$}")).unwrap_or_default()
}

fn csv_line(out: &mut String, key: &str, m: &Metrics) {
    let cells = [
        m.offered.to_string(),
        m.answered.to_string(),
        m.abandoned_menu.to_string(),
        m.abandoned_queue.to_string(),
        m.routed.to_string(),
        m.answered_within_20s.to_string(),
        number(m.service_level_pct, 1),
        number(m.wait_avg_s, 1),
        number(m.wait_p90_s, 1),
        m.transfers_to_partners.to_string(),
        m.callbacks_requested.to_string(),
        m.callbacks_completed.to_string(),
        number(m.callback_avg_h, 1),
        number(m.callback_p90_h, 1),
        number(m.survey_avg, 2),
        m.survey_count.to_string(),
    ];
    out.push_str(&csv_field(key));
    for c in cells {
        out.push(',');
        out.push_str(&c);
    }
    out.push_str("\r\n");
}

/// The report as CSV (RFC 4180, CRLF line ends): a header row (the
/// grouping's name, then [`CSV_COLUMNS`]), one row per group, then `total`.
pub fn to_csv(report: &Report) -> String {
    let mut out = String::new();
    out.push_str(report.by.as_str());
    for c in CSV_COLUMNS {
        out.push(',');
        out.push_str(c);
    }
    out.push_str("\r\n");
    for row in &report.rows {
        csv_line(&mut out, &row.key, &row.metrics);
    }
    csv_line(&mut out, "total", &report.total);
    out
}

#[cfg(test)]
mod tests;
