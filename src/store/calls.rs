//! Reads of the call record for the API: the call list, one call, and its
//! timeline (digits, menu steps and routing steps merged by time).
//!
//! These run on the shared pool directly (not through the record writer):
//! reads never wait behind call record changes.

use serde::Serialize;

use super::{sql, Dialect, Store, StoreError};

/// Which calls to list. Times are epoch milliseconds; `from` is inclusive,
/// `to` exclusive, both on the arrival time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallFilter {
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    /// `legal`, `psychology` or `mediation`.
    pub service: Option<String>,
    pub language: Option<String>,
    pub outcome: Option<String>,
    /// At most this many (newest first).
    pub limit: u32,
    /// Only calls before this one in the listing order: (arrival ms, call id).
    pub before: Option<(i64, String)>,
}

/// One call as listed, with what routing adds to it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct CallRow {
    pub id: String,
    pub arrived_at: i64,
    pub answered_at: Option<i64>,
    pub ended_at: Option<i64>,
    pub language: Option<String>,
    /// The service the call was routed for (the first routing request),
    /// else the service of the first `<route>` the call entered.
    pub service: Option<String>,
    pub outcome: Option<String>,
    pub hangup_by: Option<String>,
    pub transport: String,
    pub codec: Option<String>,
    pub dtmf_mode: Option<String>,
    pub caller_hash: Option<String>,
    /// The trunk the call came in through (its configured id).
    pub trunk: Option<String>,
    /// The line dialled (its normalised number).
    pub line: Option<String>,
    /// From the start of routing to its end (the last `finished` step).
    pub wait_ms: Option<i64>,
    /// Time in the queue, when the caller was queued.
    pub queue_wait_ms: Option<i64>,
    /// How routing finished: connected, overflow, closed, callback-requested, ...
    pub routing_result: Option<String>,
}

/// The columns of a listed call, derived per call. Service: `calls.service`
/// (set when the call is routed), else the first routing request's `service`, else the first step `enter route <service>`.
fn call_columns(d: Dialect) -> String {
    format!(
        "
    c.id, c.arrived_at, c.answered_at, c.ended_at, c.language, c.outcome, c.hangup_by,
    c.transport, c.codec, c.dtmf_mode, c.caller_hash, c.trunk, c.line,
    COALESCE(
        c.service,
        (SELECT {service} FROM call_routing r
          WHERE r.call_id = c.id AND r.step = 'requested' ORDER BY r.seq LIMIT 1),
        (SELECT substr(s.what, 13) FROM call_steps s
          WHERE s.call_id = c.id AND s.what LIKE 'enter route %' ORDER BY s.seq LIMIT 1)
    ) AS service,
    COALESCE(c.kept_wait_ms, (SELECT r.wait_ms FROM call_routing r
      WHERE r.call_id = c.id AND r.step = 'finished' ORDER BY r.seq DESC LIMIT 1)) AS wait_ms,
    COALESCE(c.kept_queue_wait_ms, (SELECT {queue_wait} FROM call_routing r
      WHERE r.call_id = c.id AND r.step = 'finished' ORDER BY r.seq DESC LIMIT 1)) AS queue_wait_ms,
    COALESCE(c.kept_routing_result, (SELECT r.result FROM call_routing r
      WHERE r.call_id = c.id AND r.step = 'finished' ORDER BY r.seq DESC LIMIT 1)) AS routing_result",
        service = d.json_text("r.detail", "service"),
        queue_wait = d.json_int("r.detail", "queue_wait_ms"),
    )
}

/// Calls matching `filter`, newest first.
pub async fn list_calls(store: &Store, filter: &CallFilter) -> Result<Vec<CallRow>, StoreError> {
    let pool = store.pool();
    let text = format!(
        "SELECT * FROM (SELECT {} FROM calls c
            WHERE ($1 IS NULL OR c.arrived_at >= $1)
              AND ($2 IS NULL OR c.arrived_at < $2)
              AND ($3 IS NULL OR c.language = $3)
              AND ($4 IS NULL OR c.outcome = $4)
              AND ($5 IS NULL OR c.arrived_at < $5 OR (c.arrived_at = $5 AND c.id < $6))
         ) AS listed
         WHERE ($7 IS NULL OR service = $7)
         ORDER BY arrived_at DESC, id DESC
         LIMIT $8",
        call_columns(store.dialect())
    );
    let (before_ms, before_id) = match &filter.before {
        Some((ms, id)) => (Some(*ms), Some(id.as_str())),
        None => (None, None),
    };
    sqlx::query_as::<_, CallRow>(sql(text))
        .bind(filter.from_ms)
        .bind(filter.to_ms)
        .bind(filter.language.as_deref())
        .bind(filter.outcome.as_deref())
        .bind(before_ms)
        .bind(before_id)
        .bind(filter.service.as_deref())
        .bind(i64::from(filter.limit))
        .fetch_all(pool)
        .await
        .map_err(StoreError::from)
}

/// The calls a specialist talked with in [from, to): those whose routing
/// has a ring of theirs that ended `answered`, newest first. For the specialist's
/// own page: time, language, service and wait only.
pub async fn calls_of_specialist(
    store: &Store,
    specialist: &str,
    from_ms: i64,
    to_ms: i64,
) -> Result<Vec<CallRow>, StoreError> {
    let text = format!(
        "SELECT {} FROM calls c
            WHERE c.arrived_at >= $1 AND c.arrived_at < $2
              AND EXISTS (SELECT 1 FROM call_routing r
                          WHERE r.call_id = c.id AND r.step = 'ring-ended'
                            AND r.result = 'answered' AND r.specialist = $3)
         ORDER BY c.arrived_at DESC, c.id DESC
         LIMIT 200",
        call_columns(store.dialect())
    );
    sqlx::query_as::<_, CallRow>(sql(text))
        .bind(from_ms)
        .bind(to_ms)
        .bind(specialist)
        .fetch_all(store.pool())
        .await
        .map_err(StoreError::from)
}

/// The specialist's last call (the latest whose ring of theirs ended
/// `answered`): its id and its wrap-up kind, if one was given.
pub async fn last_call_of_specialist(
    store: &Store,
    specialist: &str,
) -> Result<Option<(String, Option<String>)>, StoreError> {
    sqlx::query_as(
        "SELECT c.id, c.wrap_up FROM call_routing r JOIN calls c ON c.id = r.call_id
          WHERE r.step = 'ring-ended' AND r.result = 'answered' AND r.specialist = $1
          ORDER BY r.at DESC, c.arrived_at DESC LIMIT 1",
    )
    .bind(specialist)
    .fetch_optional(store.pool())
    .await
    .map_err(StoreError::from)
}

/// Give a call its wrap-up kind, unless it has one already. True when set.
pub async fn set_wrap_up(store: &Store, call: &str, kind: &str) -> Result<bool, StoreError> {
    let done = sqlx::query("UPDATE calls SET wrap_up = $2 WHERE id = $1 AND wrap_up IS NULL")
        .bind(call)
        .bind(kind)
        .execute(store.pool())
        .await
        .map_err(StoreError::from)?;
    Ok(done.rows_affected() == 1)
}

/// One call by its id.
pub async fn call(store: &Store, id: &str) -> Result<Option<CallRow>, StoreError> {
    let pool = store.pool();
    let text = format!(
        "SELECT {} FROM calls c WHERE c.id = $1",
        call_columns(store.dialect())
    );
    sqlx::query_as::<_, CallRow>(sql(text))
        .bind(id)
        .fetch_optional(pool)
        .await
        .map_err(StoreError::from)
}

/// A call's voice message as the call record shows it: `saved`, or `cut`
/// (Senim stopped while it was recorded; the audio up to then was kept);
/// `None` without one.
pub async fn voicemail_state(store: &Store, id: &str) -> Result<Option<String>, StoreError> {
    let cut: Option<(i64,)> = sqlx::query_as("SELECT cut FROM voicemails WHERE call_id = $1")
        .bind(id)
        .fetch_optional(store.pool())
        .await?;
    Ok(cut.map(|(cut,)| if cut != 0 { "cut" } else { "saved" }.to_string()))
}

/// One entry of a call's timeline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimelineEntry {
    /// Epoch milliseconds.
    #[serde(skip)]
    pub at_ms: i64,
    /// The entry's sequence number within its kind.
    pub seq: i64,
    #[serde(flatten)]
    pub event: TimelineEvent,
}

/// What happened, by the table it comes from.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum TimelineEvent {
    /// A key (`call_digits`).
    Digit {
        digit: String,
        source: String,
        menu: Option<String>,
    },
    /// A step through the dialplan or of an outbound leg (`call_steps`).
    Step { node: String, what: String },
    /// A routing or transfer step (`call_routing`).
    Routing {
        step: String,
        specialist: Option<String>,
        partner: Option<String>,
        result: Option<String>,
        wait_ms: Option<i64>,
        /// The whole step as recorded (JSON).
        detail: serde_json::Value,
    },
}

impl TimelineEvent {
    /// At the same millisecond: the key first, then the step it caused,
    /// then routing.
    fn rank(&self) -> u8 {
        match self {
            TimelineEvent::Digit { .. } => 0,
            TimelineEvent::Step { .. } => 1,
            TimelineEvent::Routing { .. } => 2,
        }
    }
}

/// Merge the three parts of a call's record into one list ordered by time.
pub fn merge_timeline(mut entries: Vec<TimelineEntry>) -> Vec<TimelineEntry> {
    entries.sort_by_key(|e| (e.at_ms, e.event.rank(), e.seq));
    entries
}

/// A call's digits, steps and routing steps, ordered by time.
pub async fn timeline(store: &Store, id: &str) -> Result<Vec<TimelineEntry>, StoreError> {
    let pool = store.pool();
    let mut entries = Vec::new();
    let digits: Vec<(i64, i64, String, String, Option<String>)> =
        sqlx::query_as("SELECT seq, at, digit, source, menu FROM call_digits WHERE call_id = $1")
            .bind(id)
            .fetch_all(pool)
            .await?;
    for (seq, at_ms, digit, source, menu) in digits {
        entries.push(TimelineEntry {
            at_ms,
            seq,
            event: TimelineEvent::Digit {
                digit,
                source,
                menu,
            },
        });
    }
    let steps: Vec<(i64, i64, String, String)> =
        sqlx::query_as("SELECT seq, at, menu, what FROM call_steps WHERE call_id = $1")
            .bind(id)
            .fetch_all(pool)
            .await?;
    for (seq, at_ms, node, what) in steps {
        entries.push(TimelineEntry {
            at_ms,
            seq,
            event: TimelineEvent::Step { node, what },
        });
    }
    type RoutingRow = (
        i64,
        i64,
        String,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<i64>,
        String,
    );
    let routing: Vec<RoutingRow> = sqlx::query_as(
        "SELECT seq, at, step, specialist, partner, result, wait_ms, detail
           FROM call_routing WHERE call_id = $1",
    )
    .bind(id)
    .fetch_all(pool)
    .await?;
    for (seq, at_ms, step, specialist, partner, result, wait_ms, detail) in routing {
        entries.push(TimelineEntry {
            at_ms,
            seq,
            event: TimelineEvent::Routing {
                step,
                specialist,
                partner,
                result,
                wait_ms,
                detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::String(detail)),
            },
        });
    }
    Ok(merge_timeline(entries))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::AnyPool;

    async fn store() -> (tempfile::TempDir, crate::store::Store) {
        let dir = tempfile::tempdir().unwrap();
        let s = crate::store::open_for_test(dir.path()).await;
        (dir, s)
    }

    async fn add_call(pool: &AnyPool, id: &str, at: i64, language: &str, outcome: &str) {
        sqlx::query(
            "INSERT INTO calls (id, sip_call_id, arrived_at, ended_at, caller_hash, language, transport, outcome)
             VALUES ($1, 'sip', $2, $2 + 1000, 'hash', $3, 'udp', $4)",
        )
        .bind(id)
        .bind(at)
        .bind(language)
        .bind(outcome)
        .execute(pool)
        .await
        .unwrap();
    }

    async fn add_routing(pool: &AnyPool, id: &str, seq: i64, at: i64, step: &str, detail: &str) {
        let json: serde_json::Value = serde_json::from_str(detail).unwrap();
        sqlx::query(
            "INSERT INTO call_routing (call_id, seq, at, step, result, wait_ms, detail)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(id)
        .bind(seq)
        .bind(at)
        .bind(step)
        .bind(json["outcome"].as_str())
        .bind(json["waited_ms"].as_i64())
        .bind(detail)
        .execute(pool)
        .await
        .unwrap();
    }

    async fn add_step(pool: &AnyPool, id: &str, seq: i64, at: i64, node: &str, what: &str) {
        sqlx::query(
            "INSERT INTO call_steps (call_id, seq, at, menu, what) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(seq)
        .bind(at)
        .bind(node)
        .bind(what)
        .execute(pool)
        .await
        .unwrap();
    }

    #[tokio::test]
    async fn a_specialists_calls_are_those_they_answered() {
        let (_dir, s) = store().await;
        let pool = s.pool();
        for (id, at) in [("a", 1000), ("b", 2000), ("c", 3000), ("d", 99_000)] {
            add_call(pool, id, at, "ru", "completed").await;
        }
        for (id, specialist, result) in [
            ("a", "erlan", "answered"),
            ("b", "erlan", "no-answer"),
            ("c", "dana", "answered"),
            ("d", "erlan", "answered"),
        ] {
            sqlx::query(
                "INSERT INTO call_routing (call_id, seq, at, step, specialist, result, detail)
                 VALUES ($1, 1, 0, 'ring-ended', $2, $3, '{}')",
            )
            .bind(id)
            .bind(specialist)
            .bind(result)
            .execute(pool)
            .await
            .unwrap();
        }
        let ids: Vec<String> = calls_of_specialist(&s, "erlan", 0, 10_000)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(ids, ["a"]);
    }

    #[tokio::test]
    async fn filters_service_from_routing_or_steps_and_pages() {
        let (_dir, s) = store().await;
        let pool = s.pool();
        let db = &s;
        add_call(pool, "a", 1000, "kk", "completed").await;
        add_routing(
            pool,
            "a",
            1,
            1100,
            "requested",
            r#"{"step":"requested","service":"legal"}"#,
        )
        .await;
        add_routing(
            pool,
            "a",
            2,
            1500,
            "finished",
            r#"{"step":"finished","outcome":"overflow","waited_ms":400,"queue_wait_ms":300}"#,
        )
        .await;
        add_call(pool, "b", 2000, "ru", "caller-hangup").await;
        add_step(
            pool,
            "b",
            1,
            2100,
            "route-mediation",
            "enter route mediation",
        )
        .await;
        add_call(pool, "c", 3000, "ru", "completed").await;
        add_step(pool, "c", 1, 3100, "main", "enter menu").await;

        let all = CallFilter {
            limit: 100,
            ..Default::default()
        };
        let rows = list_calls(db, &all).await.unwrap();
        let ids: Vec<_> = rows.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["c", "b", "a"]);
        assert_eq!(rows[2].service.as_deref(), Some("legal"));
        assert_eq!(rows[2].wait_ms, Some(400));
        assert_eq!(rows[2].queue_wait_ms, Some(300));
        assert_eq!(rows[2].routing_result.as_deref(), Some("overflow"));
        assert_eq!(rows[1].service.as_deref(), Some("mediation"));
        assert_eq!(rows[0].service, None);

        let f = |f: CallFilter| async move {
            list_calls(db, &f)
                .await
                .unwrap()
                .into_iter()
                .map(|r| r.id)
                .collect::<Vec<_>>()
        };
        let only = |service: &str| CallFilter {
            service: Some(service.into()),
            ..all.clone()
        };
        assert_eq!(f(only("legal")).await, ["a"]);
        assert_eq!(f(only("mediation")).await, ["b"]);
        assert!(f(only("psychology")).await.is_empty());
        let lang = CallFilter {
            language: Some("ru".into()),
            outcome: Some("completed".into()),
            ..all.clone()
        };
        assert_eq!(f(lang).await, ["c"]);
        let range = CallFilter {
            from_ms: Some(2000),
            to_ms: Some(3000),
            ..all.clone()
        };
        assert_eq!(f(range).await, ["b"]);
        let page1 = CallFilter {
            limit: 2,
            ..all.clone()
        };
        assert_eq!(f(page1).await, ["c", "b"]);
        let page2 = CallFilter {
            limit: 2,
            before: Some((2000, "b".into())),
            ..all.clone()
        };
        assert_eq!(f(page2).await, ["a"]);
    }

    #[tokio::test]
    async fn timeline_merges_by_time() {
        let (_dir, s) = store().await;
        let pool = s.pool();
        let db = &s;
        add_call(pool, "a", 1000, "kk", "completed").await;
        add_step(pool, "a", 1, 1000, "greeting", "enter menu").await;
        add_step(pool, "a", 2, 1200, "greeting", "choice 1").await;
        sqlx::query(
            "INSERT INTO call_digits (call_id, seq, at, digit, source, menu) VALUES ('a', 1, 1200, '1', 'sip-info', 'greeting')",
        )
        .execute(pool)
        .await
        .unwrap();
        add_routing(
            pool,
            "a",
            1,
            1100,
            "requested",
            r#"{"step":"requested","service":"legal"}"#,
        )
        .await;
        let t = timeline(db, "a").await.unwrap();
        let kinds: Vec<_> = t
            .iter()
            .map(|e| match &e.event {
                TimelineEvent::Digit { .. } => "digit",
                TimelineEvent::Step { .. } => "step",
                TimelineEvent::Routing { .. } => "routing",
            })
            .collect();
        assert_eq!(kinds, ["step", "routing", "digit", "step"]);
        assert!(timeline(db, "zz").await.unwrap().is_empty());
        assert!(call(db, "zz").await.unwrap().is_none());
    }
}
