//! The follow-up queue (`follow_ups`, migrations/sqlite/0005_follow_ups.sql):
//! callback requests and voicemails that a specialist claims, calls back
//! and completes.
//!
//! Who may see and change what is decided here, next to the queries, so the
//! rules hold whichever route uses them:
//!
//! * staff (admin, coordinator) see and change every follow-up;
//! * a specialist sees open follow-ups and those claimed by themselves, and
//!   changes only those they claimed. Anything else is "not found" for
//!   them, so ids cannot be probed.
//! * the personal data of a follow-up (the number, the recording, the
//!   notes) opens only to staff and to the specialist who claimed it
//!   ([`Actor::opens`]); a specialist sees an open follow-up as its kind,
//!   service, language, time window and age, nothing more.
//!
//! Every change is one conditional `UPDATE` on the state that was read, so
//! two specialists claiming at once cannot both win: the loser gets a
//! conflict (or "not found", when the follow-up is no longer visible to them).

use serde::Serialize;

use super::{Store, StoreError};

/// Longest note accepted in one request, in characters (after cleaning).
pub const MAX_NOTE_CHARS: usize = 2000;
/// Longest the notes of one follow-up may grow, in characters.
pub const MAX_NOTES_CHARS: usize = 20_000;

/// How a completed follow-up ended.
pub const RESULTS: &[&str] = &["reached", "no-answer", "wrong-number", "declined", "other"];

/// Who is asking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor<'a> {
    /// Admin or coordinator: every follow-up.
    Staff,
    /// A specialist, by id: open follow-ups and their own.
    Specialist(&'a str),
}

impl Actor<'_> {
    /// May this actor see `f` at all?
    pub fn sees(&self, f: &FollowUp) -> bool {
        match self {
            Actor::Staff => true,
            Actor::Specialist(me) => f.status == "open" || f.claimed_by.as_deref() == Some(*me),
        }
    }

    /// May this actor have the personal data of `f`: the number, the
    /// recording, the notes, the caller's instructions? Staff always; a
    /// specialist only when they claimed it (also once it is done).
    pub fn opens(&self, f: &FollowUp) -> bool {
        match self {
            Actor::Staff => true,
            Actor::Specialist(me) => f.status != "open" && f.claimed_by.as_deref() == Some(*me),
        }
    }

    /// May this actor change `f` (release, complete)? A specialist only
    /// one they claimed and that is not done yet.
    fn works_on(&self, f: &FollowUp) -> bool {
        match self {
            Actor::Staff => true,
            Actor::Specialist(me) => f.status == "claimed" && f.claimed_by.as_deref() == Some(*me),
        }
    }
}

/// Which follow-ups to list (oldest first).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FollowUpFilter {
    /// `open`, `claimed` or `done`.
    pub status: Option<String>,
    /// `callback` or `voicemail`.
    pub kind: Option<String>,
    pub limit: u32,
}

/// A follow-up as the API shows it: never the number, never the path of
/// the recording.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FollowUp {
    pub id: String,
    pub kind: String,
    /// Epoch ms.
    pub created_at: i64,
    pub language: Option<String>,
    pub service: Option<String>,
    pub call_window: Option<String>,
    pub leave_message: Option<bool>,
    pub say_centre_name: Option<bool>,
    pub status: String,
    pub claimed_by: Option<String>,
    pub claimed_at: Option<i64>,
    pub completed_at: Option<i64>,
    pub result: Option<String>,
    pub notes: Option<String>,
    pub call_id: Option<String>,
    /// For a voicemail: the length of the message kept.
    pub duration_ms: Option<i64>,
    /// For a voicemail: cut short (Senim stopped while it was recorded; the
    /// audio up to then was kept).
    pub cut: Option<bool>,
}

impl sqlx::FromRow<'_, sqlx::any::AnyRow> for FollowUp {
    fn from_row(row: &sqlx::any::AnyRow) -> Result<Self, sqlx::Error> {
        use sqlx::Row;
        Ok(FollowUp {
            id: row.try_get("id")?,
            kind: row.try_get("kind")?,
            created_at: row.try_get("created_at")?,
            language: row.try_get("language")?,
            service: row.try_get("service")?,
            call_window: row.try_get("call_window")?,
            leave_message: super::flag(row, "leave_message")?,
            say_centre_name: super::flag(row, "say_centre_name")?,
            status: row.try_get("status")?,
            claimed_by: row.try_get("claimed_by")?,
            claimed_at: row.try_get("claimed_at")?,
            completed_at: row.try_get("completed_at")?,
            result: row.try_get("result")?,
            notes: row.try_get("notes")?,
            call_id: row.try_get("call_id")?,
            duration_ms: row.try_get("duration_ms")?,
            cut: super::flag(row, "cut")?,
        })
    }
}

/// The personal data of a follow-up, read only for the detail view.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Sealed {
    /// `number_sealed`: open with `NumberSealer::open`.
    pub number_sealed: Option<String>,
    /// The voicemail's WAV file.
    pub recording_path: Option<String>,
}

const COLUMNS: &str = "f.id, f.kind, f.created_at, f.language, f.service, f.call_window,
    f.leave_message, f.say_centre_name, f.status, f.claimed_by, f.claimed_at,
    f.completed_at, f.result, f.notes, f.call_id, v.duration_ms, v.cut";

const FROM: &str = "FROM follow_ups f
    LEFT JOIN voicemails v ON f.kind = 'voicemail' AND v.call_id = f.call_id";

/// The follow-ups `actor` may see that match `filter`, oldest first.
pub async fn list(
    store: &Store,
    actor: Actor<'_>,
    filter: &FollowUpFilter,
) -> Result<Vec<FollowUp>, StoreError> {
    let pool = store.pool();
    let me = match actor {
        Actor::Staff => None,
        Actor::Specialist(id) => Some(id),
    };
    // Built from the constants above only; every value is bound.
    sqlx::query_as::<_, FollowUp>(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} {FROM}
          WHERE ($1 IS NULL OR f.status = $1) AND ($2 IS NULL OR f.kind = $2)
            AND ($3 IS NULL OR f.status = 'open' OR f.claimed_by = $3)
          ORDER BY f.created_at, f.id LIMIT $4"
    )))
    .bind(filter.status.as_deref())
    .bind(filter.kind.as_deref())
    .bind(me)
    .bind(i64::from(filter.limit))
    .fetch_all(pool)
    .await
    .map_err(StoreError::from)
}

/// One follow-up, whoever may see it.
pub async fn get(store: &Store, id: &str) -> Result<Option<FollowUp>, StoreError> {
    let pool = store.pool();
    sqlx::query_as::<_, FollowUp>(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} {FROM} WHERE f.id = $1"
    )))
    .bind(id)
    .fetch_optional(pool)
    .await
    .map_err(StoreError::from)
}

/// The sealed number and the recording's path of a follow-up.
pub async fn sealed(store: &Store, id: &str) -> Result<Option<Sealed>, StoreError> {
    let pool = store.pool();
    sqlx::query_as::<_, Sealed>(sqlx::AssertSqlSafe(format!(
        "SELECT f.number_sealed, v.path AS recording_path {FROM} WHERE f.id = $1"
    )))
    .bind(id)
    .fetch_optional(pool)
    .await
    .map_err(StoreError::from)
}

/// What a change came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Made; the follow-up as it is now.
    Made(Box<FollowUp>),
    /// No such follow-up, or not one this actor may see or change.
    NotFound,
    /// The follow-up is not in a state that allows the change.
    Conflict(&'static str),
}

/// Read `id` for a change by `actor`: NotFound when it is not there or not
/// visible to them.
async fn visible(
    store: &Store,
    actor: Actor<'_>,
    id: &str,
) -> Result<Option<FollowUp>, StoreError> {
    Ok(get(store, id).await?.filter(|f| actor.sees(f)))
}

/// A value bound after the four of the state check (`$5`, `$6`, ...).
#[derive(Debug, Clone)]
enum Val {
    Text(Option<String>),
    Int(i64),
}

/// Run a conditional UPDATE that applies only if the row is still in the
/// state `f` shows; then read it back.
async fn update_if_unchanged(
    store: &Store,
    f: &FollowUp,
    set: &str,
    values: Vec<Val>,
) -> Result<Change, StoreError> {
    let sql = format!(
        "UPDATE follow_ups SET {set}
          WHERE id = $1 AND status = $2 AND claimed_by IS NOT DISTINCT FROM $3
            AND notes IS NOT DISTINCT FROM $4"
    );
    // `set` is one of the constant assignments of this module.
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(&f.id)
        .bind(&f.status)
        .bind(f.claimed_by.as_deref())
        .bind(f.notes.as_deref());
    for v in values {
        query = match v {
            Val::Text(t) => query.bind(t),
            Val::Int(n) => query.bind(n),
        };
    }
    let done = query.execute(store.pool()).await?.rows_affected();
    if done == 0 {
        return Ok(Change::Conflict(
            "the follow-up changed meanwhile; read it again",
        ));
    }
    Ok(match get(store, &f.id).await? {
        Some(now) => Change::Made(Box::new(now)),
        None => Change::NotFound,
    })
}

/// Claim `id` for `specialist`. A specialist claims only for themselves;
/// staff assign anyone. Claiming one's own claim again changes nothing.
pub async fn claim(
    store: &Store,
    actor: Actor<'_>,
    id: &str,
    specialist: &str,
    now_ms: i64,
) -> Result<Change, StoreError> {
    if let Actor::Specialist(me) = actor {
        if me != specialist {
            return Ok(Change::NotFound);
        }
    }
    let Some(f) = visible(store, actor, id).await? else {
        return Ok(Change::NotFound);
    };
    match f.status.as_str() {
        "open" => {}
        "claimed" if f.claimed_by.as_deref() == Some(specialist) => {
            return Ok(Change::Made(Box::new(f)))
        }
        "claimed" => return Ok(Change::Conflict("already claimed by someone else")),
        _ => return Ok(Change::Conflict("already done")),
    }
    update_if_unchanged(
        store,
        &f,
        "status = 'claimed', claimed_by = $5, claimed_at = $6",
        vec![Val::Text(Some(specialist.to_string())), Val::Int(now_ms)],
    )
    .await
}

/// Give a claimed follow-up back to the queue.
pub async fn release(store: &Store, actor: Actor<'_>, id: &str) -> Result<Change, StoreError> {
    let Some(f) = visible(store, actor, id).await? else {
        return Ok(Change::NotFound);
    };
    if f.status != "claimed" {
        return Ok(Change::Conflict("not claimed"));
    }
    if !actor.works_on(&f) {
        return Ok(Change::NotFound);
    }
    update_if_unchanged(
        store,
        &f,
        "status = 'open', claimed_by = NULL, claimed_at = NULL",
        vec![],
    )
    .await
}

/// A note as kept: control characters gone (line breaks and tabs become
/// spaces), trimmed; None when nothing is left or it is too long.
pub fn clean_note(text: &str) -> Option<String> {
    let cleaned: String = text
        .chars()
        .filter_map(|c| match c {
            '\n' | '\r' | '\t' => Some(' '),
            c if c.is_control() => None,
            c => Some(c),
        })
        .collect();
    let cleaned = cleaned.trim();
    (!cleaned.is_empty() && cleaned.chars().count() <= MAX_NOTE_CHARS).then(|| cleaned.to_string())
}

/// The notes with `note` appended as a line `<time> <author>: <note>`.
fn appended(notes: Option<&str>, at: &str, author: &str, note: &str) -> Option<String> {
    let author: String = author.chars().filter(|c| !c.is_control()).collect();
    let line = format!("{at} {author}: {note}");
    let all = match notes {
        Some(n) if !n.is_empty() => format!("{n}\n{line}"),
        _ => line,
    };
    (all.chars().count() <= MAX_NOTES_CHARS).then_some(all)
}

/// Append a note (already cleaned with [`clean_note`]). A specialist
/// writes only on follow-ups they claimed (also once done).
pub async fn add_note(
    store: &Store,
    actor: Actor<'_>,
    id: &str,
    at: &str,
    author: &str,
    note: &str,
) -> Result<Change, StoreError> {
    let Some(f) = visible(store, actor, id).await? else {
        return Ok(Change::NotFound);
    };
    if let Actor::Specialist(me) = actor {
        if f.claimed_by.as_deref() != Some(me) {
            return Ok(Change::Conflict("claim the follow-up before writing notes"));
        }
    }
    let Some(notes) = appended(f.notes.as_deref(), at, author, note) else {
        return Ok(Change::Conflict("the notes of this follow-up are full"));
    };
    update_if_unchanged(store, &f, "notes = $5", vec![Val::Text(Some(notes))]).await
}

/// Complete a follow-up with `result` (one of [`RESULTS`]) and an optional
/// note (cleaned): (time, author, text).
pub async fn complete(
    store: &Store,
    actor: Actor<'_>,
    id: &str,
    result: &str,
    note: Option<(&str, &str, &str)>,
    now_ms: i64,
) -> Result<Change, StoreError> {
    let Some(f) = visible(store, actor, id).await? else {
        return Ok(Change::NotFound);
    };
    if f.status == "done" {
        return Ok(Change::Conflict("already done"));
    }
    if !actor.works_on(&f) {
        return Ok(Change::Conflict("claim the follow-up before completing it"));
    }
    let notes = match note {
        Some((at, author, text)) => match appended(f.notes.as_deref(), at, author, text) {
            Some(n) => Some(n),
            None => return Ok(Change::Conflict("the notes of this follow-up are full")),
        },
        None => f.notes.clone(),
    };
    update_if_unchanged(
        store,
        &f,
        "status = 'done', completed_at = $5, result = $6, notes = $7",
        vec![
            Val::Int(now_ms),
            Val::Text(Some(result.to_string())),
            Val::Text(notes),
        ],
    )
    .await
}

/// A call Senim placed to call a follow-up back (click-to-call).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct FollowUpCall {
    pub id: String,
    pub specialist: String,
    /// Epoch ms.
    pub started_at: i64,
    pub answered_at: Option<i64>,
    pub ended_at: Option<i64>,
    /// `talked`, `specialist-no-answer`, `callee-busy`, ...; None while under way.
    pub outcome: Option<String>,
}

/// Record that callback `call` of follow-up `id` starts, unless one that
/// started after `since` (epoch ms) is still under way: then false, and
/// nothing is written. One statement, so two clicks at once cannot both
/// start a call.
pub async fn begin_call(
    store: &Store,
    call: &str,
    id: &str,
    specialist: &str,
    at: i64,
    since: i64,
) -> Result<bool, StoreError> {
    let pool = store.pool();
    let done = sqlx::query(
        "INSERT INTO follow_up_calls (id, follow_up_id, specialist, started_at, instance)
         SELECT $1, $2, $3, $4, $6
          WHERE NOT EXISTS (SELECT 1 FROM follow_up_calls
                             WHERE follow_up_id = $2 AND outcome IS NULL AND started_at >= $5)",
    )
    .bind(call)
    .bind(id)
    .bind(specialist)
    .bind(at)
    .bind(since)
    .bind(store.instance())
    .execute(pool)
    .await?
    .rows_affected();
    Ok(done == 1)
}

/// Forget callback `call` that could not start after all.
pub async fn forget_call(store: &Store, call: &str) -> Result<(), StoreError> {
    let pool = store.pool();
    sqlx::query("DELETE FROM follow_up_calls WHERE id = $1 AND outcome IS NULL")
        .bind(call)
        .execute(pool)
        .await?;
    Ok(())
}

/// The callbacks Senim placed for follow-up `id`, oldest first.
pub async fn calls(store: &Store, id: &str) -> Result<Vec<FollowUpCall>, StoreError> {
    let pool = store.pool();
    sqlx::query_as::<_, FollowUpCall>(
        "SELECT id, specialist, started_at, answered_at, ended_at, outcome
           FROM follow_up_calls WHERE follow_up_id = $1 ORDER BY started_at, id",
    )
    .bind(id)
    .fetch_all(pool)
    .await
    .map_err(StoreError::from)
}

/// The callback requests taken after `since_ms`, oldest first: when, and
/// the keyed hashes they count against (the number left's and, when the
/// call showed a number, the caller's own). Seeds the day's limit at start.
pub async fn recent_callback_keys(
    store: &Store,
    since_ms: i64,
) -> Result<Vec<(i64, Vec<String>)>, StoreError> {
    let pool = store.pool();
    let rows: Vec<(i64, Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT f.created_at, f.caller_hash, c.caller_hash
           FROM follow_ups f LEFT JOIN calls c ON c.id = f.call_id
          WHERE f.kind = 'callback' AND f.created_at > $1
          ORDER BY f.created_at",
    )
    .bind(since_ms)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(at, number, caller)| (at, number.into_iter().chain(caller).collect()))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;
    use sqlx::AnyPool;

    async fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let s = crate::store::open_for_test(dir.path()).await;
        (dir, s)
    }

    async fn add_callback(pool: &AnyPool, id: &str, at: i64) {
        sqlx::query(
            "INSERT INTO follow_ups (id, kind, created_at, number_sealed, call_window,
                                     leave_message, say_centre_name, language, service)
             VALUES ($1, 'callback', $2, 'v1:sealed', 'soon', 1, 0, 'kk', 'legal')",
        )
        .bind(id)
        .bind(at)
        .execute(pool)
        .await
        .unwrap();
    }

    async fn add_voicemail(pool: &AnyPool, call: &str, at: i64) {
        sqlx::query(
            "INSERT INTO calls (id, sip_call_id, arrived_at, transport, language)
             VALUES ($1, 'sip', $2, 'udp', 'ru')",
        )
        .bind(call)
        .bind(at)
        .execute(pool)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO voicemails (call_id, at, path, duration_ms, ended_by)
             VALUES ($1, $2, '/var/lib/senim/voicemail/x.wav', 4200, 'key')",
        )
        .bind(call)
        .bind(at)
        .execute(pool)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO follow_ups (id, call_id, kind, created_at, language)
             VALUES ('voicemail-' || $1, $1, 'voicemail', $2, 'ru')",
        )
        .bind(call)
        .bind(at)
        .execute(pool)
        .await
        .unwrap();
    }

    fn all() -> FollowUpFilter {
        FollowUpFilter {
            limit: 100,
            ..Default::default()
        }
    }

    async fn ids(db: &Store, actor: Actor<'_>, filter: FollowUpFilter) -> Vec<String> {
        list(db, actor, &filter)
            .await
            .unwrap()
            .into_iter()
            .map(|f| f.id)
            .collect()
    }

    fn made(c: Change) -> FollowUp {
        match c {
            Change::Made(f) => *f,
            other => panic!("not made: {other:?}"),
        }
    }

    #[tokio::test]
    async fn specialists_see_open_ones_and_their_own_only() {
        let (_dir, s) = store().await;
        let pool = s.pool();
        let db = &s;
        add_callback(pool, "a", 1000).await;
        add_callback(pool, "b", 2000).await;
        add_voicemail(pool, "call-c", 3000).await;

        let everything = ids(db, Actor::Staff, all()).await;
        assert_eq!(everything, ["a", "b", "voicemail-call-c"]);
        let vm = get(db, "voicemail-call-c").await.unwrap().unwrap();
        assert_eq!(vm.duration_ms, Some(4200));
        assert_eq!(vm.call_id.as_deref(), Some("call-c"));
        let cb = get(db, "a").await.unwrap().unwrap();
        assert_eq!(cb.duration_ms, None);
        assert_eq!(cb.leave_message, Some(true));
        assert_eq!(cb.say_centre_name, Some(false));
        let sealed_cb = sealed(db, "a").await.unwrap().unwrap();
        assert_eq!(sealed_cb.number_sealed.as_deref(), Some("v1:sealed"));
        assert_eq!(sealed_cb.recording_path, None);
        let sealed_vm = sealed(db, "voicemail-call-c").await.unwrap().unwrap();
        assert!(sealed_vm.recording_path.unwrap().ends_with("x.wav"));

        made(
            claim(db, Actor::Specialist("erlan"), "a", "erlan", 5000)
                .await
                .unwrap(),
        );
        made(claim(db, Actor::Staff, "b", "aigerim", 5100).await.unwrap());

        assert_eq!(
            ids(db, Actor::Specialist("erlan"), all()).await,
            ["a", "voicemail-call-c"]
        );
        assert_eq!(
            ids(db, Actor::Specialist("aigerim"), all()).await,
            ["b", "voicemail-call-c"]
        );
        assert_eq!(
            ids(db, Actor::Specialist("dana"), all()).await,
            ["voicemail-call-c"]
        );
        let claimed = FollowUpFilter {
            status: Some("claimed".into()),
            ..all()
        };
        assert_eq!(ids(db, Actor::Staff, claimed.clone()).await, ["a", "b"]);
        assert_eq!(ids(db, Actor::Specialist("erlan"), claimed).await, ["a"]);
        let voicemails = FollowUpFilter {
            kind: Some("voicemail".into()),
            ..all()
        };
        assert_eq!(
            ids(db, Actor::Staff, voicemails).await,
            ["voicemail-call-c"]
        );
        let one = FollowUpFilter { limit: 1, ..all() };
        assert_eq!(ids(db, Actor::Staff, one).await, ["a"]);

        // The personal data opens to staff and to the one who claimed it.
        let a = get(db, "a").await.unwrap().unwrap();
        let vm = get(db, "voicemail-call-c").await.unwrap().unwrap();
        assert!(Actor::Staff.opens(&a) && Actor::Staff.opens(&vm));
        assert!(Actor::Specialist("erlan").opens(&a));
        assert!(!Actor::Specialist("aigerim").opens(&a));
        assert!(!Actor::Specialist("erlan").opens(&vm), "open: nobody's yet");
    }

    #[tokio::test]
    async fn claim_release_notes_and_complete() {
        let (_dir, s) = store().await;
        let pool = s.pool();
        let db = &s;
        add_callback(pool, "a", 1000).await;
        let erlan = Actor::Specialist("erlan");
        let aigerim = Actor::Specialist("aigerim");

        // A specialist claims only for themselves.
        assert_eq!(
            claim(db, erlan, "a", "aigerim", 1).await.unwrap(),
            Change::NotFound
        );
        let f = made(claim(db, erlan, "a", "erlan", 5000).await.unwrap());
        assert_eq!(f.status, "claimed");
        assert_eq!(f.claimed_by.as_deref(), Some("erlan"));
        assert_eq!(f.claimed_at, Some(5000));
        // Claiming again is harmless; keeps the first time.
        let again = made(claim(db, erlan, "a", "erlan", 6000).await.unwrap());
        assert_eq!(again.claimed_at, Some(5000));
        // Another specialist does not see it at all; staff get a conflict.
        for change in [
            claim(db, aigerim, "a", "aigerim", 1).await.unwrap(),
            release(db, aigerim, "a").await.unwrap(),
            complete(db, aigerim, "a", "reached", None, 1)
                .await
                .unwrap(),
            add_note(db, aigerim, "a", "t", "Aigerim", "x")
                .await
                .unwrap(),
        ] {
            assert_eq!(change, Change::NotFound);
        }
        assert!(matches!(
            claim(db, Actor::Staff, "a", "aigerim", 1).await.unwrap(),
            Change::Conflict(_)
        ));
        assert_eq!(
            claim(db, erlan, "nope", "erlan", 1).await.unwrap(),
            Change::NotFound
        );

        // Notes are appended with time and author.
        made(
            add_note(
                db,
                erlan,
                "a",
                "2026-03-09T05:00:00.000Z",
                "Erlan",
                "busy tone",
            )
            .await
            .unwrap(),
        );
        let f = made(
            add_note(
                db,
                Actor::Staff,
                "a",
                "2026-03-09T06:00:00.000Z",
                "Dana",
                "try after 18:00",
            )
            .await
            .unwrap(),
        );
        assert_eq!(
            f.notes.as_deref(),
            Some("2026-03-09T05:00:00.000Z Erlan: busy tone\n2026-03-09T06:00:00.000Z Dana: try after 18:00")
        );

        // Released, it is open again and anyone may claim it.
        let f = made(release(db, erlan, "a").await.unwrap());
        assert_eq!((f.status.as_str(), f.claimed_by.as_deref()), ("open", None));
        assert!(matches!(
            release(db, erlan, "a").await.unwrap(),
            Change::Conflict(_)
        ));
        // An open one is completed by staff only: a specialist claims first.
        assert!(matches!(
            complete(db, erlan, "a", "reached", None, 1).await.unwrap(),
            Change::Conflict(_)
        ));
        assert!(matches!(
            add_note(db, erlan, "a", "t", "Erlan", "x").await.unwrap(),
            Change::Conflict(_)
        ));
        made(claim(db, aigerim, "a", "aigerim", 7000).await.unwrap());
        let f = made(
            complete(
                db,
                aigerim,
                "a",
                "reached",
                Some(("2026-03-09T07:00:00.000Z", "Aigerim", "all fine")),
                8000,
            )
            .await
            .unwrap(),
        );
        assert_eq!(f.status, "done");
        assert_eq!(f.completed_at, Some(8000));
        assert_eq!(f.result.as_deref(), Some("reached"));
        assert_eq!(f.claimed_by.as_deref(), Some("aigerim"));
        assert!(f.notes.unwrap().ends_with("Aigerim: all fine"));
        assert!(matches!(
            complete(db, Actor::Staff, "a", "other", None, 9000)
                .await
                .unwrap(),
            Change::Conflict(_)
        ));
        // Done and claimed by aigerim: erlan no longer sees it.
        assert_eq!(ids(db, erlan, all()).await, Vec::<String>::new());
        assert_eq!(ids(db, aigerim, all()).await, ["a"]);
    }

    #[tokio::test]
    async fn a_stale_read_does_not_overwrite_a_newer_claim() {
        let (_dir, s) = store().await;
        let pool = s.pool();
        let db = &s;
        add_callback(pool, "a", 1000).await;
        let stale = get(db, "a").await.unwrap().unwrap();
        made(
            claim(db, Actor::Specialist("erlan"), "a", "erlan", 5000)
                .await
                .unwrap(),
        );
        let lost = update_if_unchanged(
            db,
            &stale,
            "status = 'claimed', claimed_by = $5, claimed_at = $6",
            vec![Val::Text(Some("aigerim".into())), Val::Int(6000)],
        )
        .await
        .unwrap();
        assert!(matches!(lost, Change::Conflict(_)));
        let f = get(db, "a").await.unwrap().unwrap();
        assert_eq!(f.claimed_by.as_deref(), Some("erlan"));
    }

    #[test]
    fn notes_are_cleaned_and_limited() {
        assert_eq!(
            clean_note("  call\tafter\n18:00\u{7}  ").as_deref(),
            Some("call after 18:00")
        );
        assert_eq!(clean_note(" \u{1b}\n "), None);
        assert!(clean_note(&"x".repeat(MAX_NOTE_CHARS)).is_some());
        assert!(clean_note(&"x".repeat(MAX_NOTE_CHARS + 1)).is_none());
        let long = "y".repeat(MAX_NOTES_CHARS);
        assert_eq!(appended(Some(&long), "t", "a", "b"), None);
        assert_eq!(
            appended(None, "t", "a\u{0}b", "n").as_deref(),
            Some("t ab: n")
        );
    }

    #[tokio::test]
    async fn recent_callback_keys_name_the_number_and_the_caller() {
        let (_dir, s) = store().await;
        let pool = s.pool();
        sqlx::query(
            "INSERT INTO calls (id, sip_call_id, arrived_at, transport, caller_hash)
             VALUES ('c1', 'sip', 100, 'udp', 'caller-hash')",
        )
        .execute(pool)
        .await
        .unwrap();
        for (id, call, at, hash) in [
            ("old", None, 50, Some("n0")),
            ("f1", Some("c1"), 200, Some("n1")),
            ("f2", None, 300, Some("n2")),
            ("f3", None, 400, None),
        ] {
            sqlx::query(
                "INSERT INTO follow_ups (id, call_id, kind, created_at, caller_hash)
                 VALUES ($1, $2, 'callback', $3, $4)",
            )
            .bind(id)
            .bind(call)
            .bind(at)
            .bind(hash)
            .execute(pool)
            .await
            .unwrap();
        }
        add_voicemail(pool, "c2", 250).await;
        let keys = recent_callback_keys(&s, 100).await.unwrap();
        assert_eq!(
            keys,
            vec![
                (200, vec!["n1".to_string(), "caller-hash".to_string()]),
                (300, vec!["n2".to_string()]),
                (400, vec![]),
            ]
        );
    }
}
