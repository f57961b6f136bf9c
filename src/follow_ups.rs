//! The follow-up queue's use-cases: list, read (with the number or the
//! recording), claim, release, notes, complete and click-to-call.
//!
//! Each takes plain arguments (who asks, the follow-up's id, the values of
//! the request) and returns the follow-up or a [`FollowUpError`]; HTTP
//! parses requests, maps errors to status codes and shapes the answers.
//! Who may see and change what is decided in `store::follow_ups`, next to
//! the queries; this module adds the audit log, opens the sealed number and
//! starts the callback through the [`Calls`] handle.
//!
//! The number is opened only after its read or use is written to the audit
//! log; when that write fails, nothing is returned and no call is placed.
//!
//! Least access: the number, the recording and the notes go only to staff
//! and to the specialist who claimed the follow-up ([`Actor::opens`]). A
//! specialist sees any other follow-up as a [`Summary`], the same whether
//! or not a number or a recording is kept. Every answer that carries notes
//! is in the audit log, a list too (one entry naming the follow-ups).

use std::path::PathBuf;

use senim_call::kazakh_number::NumberRefusal;
use senim_media::prompts::Language;
use senim_routing::specialists::SpecialistId;

use crate::call::calls::{Calls, ClickToCallOrder, StartError, HARD_LIMIT_MS};
use crate::privacy::NumberSealer;
use crate::store::audit::{self, AuditEntry};
use crate::store::follow_ups::{self as fu, Actor, Change, FollowUp, FollowUpCall, FollowUpFilter};
use crate::store::{Store, StoreError};
use crate::util::time::{now_ms, rfc3339};

/// Why a follow-up use-case was refused. The message of each variant is
/// the one the API answers with (the store's and the audit log's are
/// replaced by a general one there).
#[derive(Debug, thiserror::Error)]
pub enum FollowUpError {
    /// No such follow-up, or one the requester may not see or change.
    #[error("not found")]
    NotFound,
    /// A specialist's token that names no specialist.
    #[error("this token names no specialist")]
    NoSpecialist,
    /// A specialist tried to claim a follow-up for someone else.
    #[error("a specialist claims follow-ups only for themselves")]
    ClaimForOther,
    /// Staff claimed a follow-up without naming who takes it.
    #[error("pass {{\"specialist\": \"id\"}}: who takes the follow-up")]
    NoClaimant,
    /// Staff named a specialist who is not configured.
    #[error("no specialist with id {0:?}")]
    UnknownSpecialist(String),
    /// A note that is empty once cleaned, or too long.
    #[error("`text` must hold 1 to {} characters", fu::MAX_NOTE_CHARS)]
    BadNote,
    /// A completion result that is not one of `store::follow_ups::RESULTS`.
    #[error("`result` must be one of {}", fu::RESULTS.join(", "))]
    BadResult,
    /// The follow-up is not in a state that allows the change.
    #[error("{0}")]
    Conflict(&'static str),
    /// Click-to-call on a voicemail: there is no number to call.
    #[error("only a callback request has a number to call back")]
    NotACallback,
    /// Click-to-call on a follow-up that is done.
    #[error("the follow-up is done")]
    Done,
    /// Click-to-call on a follow-up nobody claimed.
    #[error("claim the follow-up first")]
    NotClaimed,
    /// Click-to-call on a follow-up whose number was not kept (or is gone).
    #[error("no number is kept for this follow-up")]
    NoNumber,
    /// A callback for the follow-up is ringing or talking already.
    #[error("a callback for this follow-up is under way")]
    CallUnderWay,
    /// The sealed number does not open with the configured number key.
    #[error("the number cannot be opened with the configured number key")]
    NumberKey,
    /// The specialist's phone cannot be rung now.
    #[error("the specialist's phone cannot be rung now (softphone not registered, or no trunk)")]
    SpecialistUnreachable,
    /// The number cannot be called now (no trunk is configured).
    #[error("the number cannot be called back: {0}")]
    Uncallable(String),
    /// The number kept is not one the centre calls back: abroad, outside
    /// Kazakhstan's +7 ranges, or incomplete (a number kept before these
    /// checks existed).
    #[error("the number cannot be called back: {0}")]
    NumberRefused(NumberRefusal),
    /// A query failed.
    #[error("database: {0}")]
    Store(StoreError),
    /// The audit entry could not be written, so the read or use is refused.
    #[error("the audit log cannot be written: {0}")]
    Audit(StoreError),
}

/// Who asks: what the audit log names, and what they may see.
#[derive(Debug, Clone, Copy)]
pub struct Requester<'a> {
    /// The token's name.
    pub name: &'a str,
    /// The token's role, as written to the audit log.
    pub role: &'a str,
    /// Staff (admin, coordinator) see and change every follow-up.
    pub staff: bool,
    /// A specialist's id (a specialist's token always names one).
    pub specialist: Option<&'a str>,
}

impl<'a> Requester<'a> {
    /// The requester as the store sees them.
    fn actor(&self) -> Result<Actor<'a>, FollowUpError> {
        if self.staff {
            return Ok(Actor::Staff);
        }
        self.specialist
            .map(Actor::Specialist)
            .ok_or(FollowUpError::NoSpecialist)
    }
}

/// What a specialist sees of a follow-up they have not claimed: enough to
/// decide whether to take it, and nothing that tells whether a number or a
/// recording is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub id: String,
    /// `callback` or `voicemail`.
    pub kind: String,
    pub status: String,
    pub service: Option<String>,
    pub language: Option<String>,
    /// When the caller asked to be called back (`soon`, `evening`, `tomorrow`).
    pub call_window: Option<String>,
    /// Epoch ms (the answer shows the age, not the time).
    pub created_at: i64,
}

impl From<FollowUp> for Summary {
    fn from(f: FollowUp) -> Summary {
        Summary {
            id: f.id,
            kind: f.kind,
            status: f.status,
            service: f.service,
            language: f.language,
            call_window: f.call_window,
            created_at: f.created_at,
        }
    }
}

/// A follow-up as one requester may see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shown {
    /// Staff, or the specialist who claimed it: every field (for a
    /// specialist without the call's id: call records are staff's).
    Full(FollowUp),
    /// Anyone else: the summary.
    Summary(Summary),
}

impl Shown {
    /// `f` as `actor` may see it.
    pub fn of(actor: Option<Actor<'_>>, mut f: FollowUp) -> Shown {
        match actor {
            Some(Actor::Staff) => Shown::Full(f),
            Some(a) if a.opens(&f) => {
                f.call_id = None;
                Shown::Full(f)
            }
            _ => Shown::Summary(f.into()),
        }
    }

    /// The follow-up's id.
    pub fn id(&self) -> &str {
        match self {
            Shown::Full(f) => &f.id,
            Shown::Summary(s) => &s.id,
        }
    }

    /// Does the answer carry notes?
    pub fn has_notes(&self) -> bool {
        matches!(self, Shown::Full(f) if f.notes.as_deref().is_some_and(|n| !n.is_empty()))
    }

    /// Leave the notes out (when their read could not be audited).
    fn without_notes(self) -> Shown {
        match self {
            Shown::Full(mut f) => {
                f.notes = None;
                Shown::Full(f)
            }
            s => s,
        }
    }
}

/// One follow-up with what is needed to act on it.
#[derive(Debug)]
pub struct Detail {
    pub follow_up: Shown,
    /// Callbacks shown in full: `Some(number)`, or `Some(None)` when it
    /// cannot be opened. `None` for voicemails and summaries.
    pub number: Option<Option<String>>,
    /// Voicemails shown in full: whether the recording's file is there.
    pub has_recording: bool,
    /// Callbacks: the calls Senim placed for it, oldest first.
    pub calls: Vec<FollowUpCall>,
}

/// A voicemail's recording, opened for reading.
#[derive(Debug)]
pub struct Recording {
    pub file: tokio::fs::File,
    /// Its length in bytes, when known.
    pub len: Option<u64>,
}

/// A callback that was started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartedCall {
    /// The callback's id (in the follow-up's `calls`).
    pub call: String,
    /// The specialist rung first.
    pub specialist: String,
}

/// Follow-up ids: UUIDs, or `voicemail-` and a call id.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn note(text: &str) -> Result<String, FollowUpError> {
    fu::clean_note(text).ok_or(FollowUpError::BadNote)
}

/// The follow-up queue's use-cases.
#[derive(Debug)]
pub struct FollowUps {
    store: Store,
    /// Opens the numbers kept for callback requests.
    sealer: NumberSealer,
    /// Starts click-to-call; knows the specialists in service (who staff
    /// may assign a follow-up to).
    calls: Calls,
}

impl FollowUps {
    pub fn new(store: Store, sealer: NumberSealer, calls: Calls) -> FollowUps {
        FollowUps {
            store,
            sealer,
            calls,
        }
    }

    /// Write an audit entry for `who`.
    async fn audit(
        &self,
        who: &Requester<'_>,
        action: &str,
        target: Option<&str>,
        detail: serde_json::Value,
    ) -> Result<(), StoreError> {
        let entry = AuditEntry {
            at_ms: now_ms(),
            token_name: who.name,
            role: who.role,
            action,
            target,
            detail: Some(detail.to_string()),
        };
        audit::write(&self.store, &entry).await.map(|_| ())
    }

    /// The follow-ups `who` may see that match `filter`, oldest first, each
    /// as they may see it. When notes go out, one audit entry names the
    /// follow-ups whose notes they are, before the list is returned.
    pub async fn list(
        &self,
        who: &Requester<'_>,
        filter: &FollowUpFilter,
    ) -> Result<Vec<Shown>, FollowUpError> {
        let actor = who.actor()?;
        let rows = fu::list(&self.store, actor, filter)
            .await
            .map_err(FollowUpError::Store)?;
        let shown: Vec<Shown> = rows
            .into_iter()
            .map(|f| Shown::of(Some(actor), f))
            .collect();
        let with_notes: Vec<&str> = shown
            .iter()
            .filter(|s| s.has_notes())
            .map(Shown::id)
            .collect();
        if !with_notes.is_empty() {
            let detail = serde_json::json!({ "notes_of": with_notes });
            self.audit(who, "list-follow-ups-with-notes", None, detail)
                .await
                .map_err(FollowUpError::Audit)?;
        }
        Ok(shown)
    }

    /// The follow-up `id` if `who` may see it.
    async fn visible(&self, who: &Requester<'_>, id: &str) -> Result<FollowUp, FollowUpError> {
        if !valid_id(id) {
            return Err(FollowUpError::NotFound);
        }
        let f = fu::get(&self.store, id)
            .await
            .map_err(FollowUpError::Store)?;
        f.filter(|f| who.actor().is_ok_and(|a| a.sees(f)))
            .ok_or(FollowUpError::NotFound)
    }

    /// The recording's file of a voicemail follow-up, when it is on disk.
    async fn recording_file(&self, id: &str) -> Result<Option<PathBuf>, FollowUpError> {
        let sealed = fu::sealed(&self.store, id)
            .await
            .map_err(FollowUpError::Store)?;
        let Some(path) = sealed.and_then(|s| s.recording_path).map(PathBuf::from) else {
            return Ok(None);
        };
        Ok(tokio::fs::metadata(&path)
            .await
            .is_ok_and(|m| m.is_file())
            .then_some(path))
    }

    /// The sealed number of follow-up `id`, when one is kept.
    async fn sealed_number(&self, id: &str) -> Result<Option<String>, FollowUpError> {
        Ok(fu::sealed(&self.store, id)
            .await
            .map_err(FollowUpError::Store)?
            .and_then(|s| s.number_sealed)
            .filter(|s| !s.is_empty()))
    }

    /// One follow-up, with the number opened for a callback. The read is
    /// logged before the number is opened; a look at an id one may not see
    /// is logged too. A specialist who has not claimed it gets the summary.
    pub async fn detail(&self, who: &Requester<'_>, id: &str) -> Result<Detail, FollowUpError> {
        let f = match self.visible(who, id).await {
            Ok(f) => f,
            Err(FollowUpError::NotFound) if valid_id(id) => {
                let detail = serde_json::json!({ "found": false });
                self.audit(who, "read-follow-up", Some(id), detail)
                    .await
                    .map_err(FollowUpError::Audit)?;
                return Err(FollowUpError::NotFound);
            }
            Err(e) => return Err(e),
        };
        let actor = who.actor()?;
        if !actor.opens(&f) {
            let detail = serde_json::json!({ "kind": f.kind, "view": "summary" });
            self.audit(who, "read-follow-up", Some(id), detail)
                .await
                .map_err(FollowUpError::Audit)?;
            return Ok(Detail {
                follow_up: Shown::Summary(f.into()),
                number: None,
                has_recording: false,
                calls: Vec::new(),
            });
        }
        let notes = f.notes.as_deref().is_some_and(|n| !n.is_empty());
        let mut number = None;
        let mut has_recording = false;
        if f.kind == "callback" {
            let sealed = self.sealed_number(id).await?;
            let detail = serde_json::json!({
                "kind": "callback",
                "number": sealed.is_some(),
                "notes": notes,
            });
            self.audit(who, "read-number", Some(id), detail)
                .await
                .map_err(FollowUpError::Audit)?;
            let opened = sealed.as_deref().and_then(|s| self.sealer.open(s));
            if sealed.is_some() && opened.is_none() {
                tracing::error!(
                    follow_up = %id,
                    "the callback number cannot be opened with the configured number key"
                );
            }
            number = Some(opened);
        } else {
            let detail = serde_json::json!({ "kind": f.kind, "notes": notes });
            self.audit(who, "read-follow-up", Some(id), detail)
                .await
                .map_err(FollowUpError::Audit)?;
            has_recording = f.kind == "voicemail" && self.recording_file(id).await?.is_some();
        }
        let calls = if f.kind == "callback" {
            fu::calls(&self.store, id)
                .await
                .map_err(FollowUpError::Store)?
        } else {
            Vec::new()
        };
        Ok(Detail {
            follow_up: Shown::of(Some(actor), f),
            number,
            has_recording,
            calls,
        })
    }

    /// A voicemail's recording, opened; the read is logged first. "Not
    /// found" alike when there is none and when `who` may not have it (a
    /// specialist who has not claimed it), so neither tells the other.
    pub async fn recording(
        &self,
        who: &Requester<'_>,
        id: &str,
    ) -> Result<Recording, FollowUpError> {
        let f = self.visible(who, id).await?;
        if f.kind != "voicemail" || !who.actor()?.opens(&f) {
            return Err(FollowUpError::NotFound);
        }
        let path = self
            .recording_file(id)
            .await?
            .ok_or(FollowUpError::NotFound)?;
        let file = tokio::fs::File::open(&path).await.map_err(|e| {
            tracing::error!(error = %e, follow_up = %id, "cannot open the voicemail file");
            FollowUpError::NotFound
        })?;
        let len = file.metadata().await.map(|m| m.len()).ok();
        let detail = serde_json::json!({ "kind": "voicemail", "duration_ms": f.duration_ms });
        self.audit(who, "read-recording", Some(id), detail)
            .await
            .map_err(FollowUpError::Audit)?;
        Ok(Recording { file, len })
    }

    /// Log a change (after it is made: a failed audit write is logged, not
    /// turned into an error) and turn the store's answer into the result,
    /// the follow-up as `who` may now see it. The entry keeps the status
    /// the API answers with (200 or 409) and whether notes go out; when it
    /// cannot be written, the notes are left out of the answer.
    async fn settle(
        &self,
        who: &Requester<'_>,
        action: &str,
        id: &str,
        change: Result<Change, StoreError>,
        mut detail: serde_json::Value,
    ) -> Result<Shown, FollowUpError> {
        let change = change.map_err(FollowUpError::Store)?;
        let (status, shown): (u16, _) = match change {
            Change::Made(f) => (200, Ok(Shown::of(who.actor().ok(), *f))),
            Change::NotFound => return Err(FollowUpError::NotFound),
            Change::Conflict(why) => (409, Err(FollowUpError::Conflict(why))),
        };
        let notes = shown.as_ref().is_ok_and(Shown::has_notes);
        detail["status"] = status.into();
        if notes {
            detail["notes"] = true.into();
        }
        if let Err(e) = self.audit(who, action, Some(id), detail).await {
            tracing::error!(error = %e, action, "API: cannot write the audit log");
            return shown.map(Shown::without_notes);
        }
        shown
    }

    /// Claim `id`: a specialist for themselves (`specialist` is then theirs
    /// or none), staff for the specialist they name.
    pub async fn claim(
        &self,
        who: &Requester<'_>,
        id: &str,
        specialist: Option<String>,
    ) -> Result<Shown, FollowUpError> {
        if !valid_id(id) {
            return Err(FollowUpError::NotFound);
        }
        let actor = who.actor()?;
        let specialist = match (actor, specialist) {
            (Actor::Specialist(me), None) => me.to_string(),
            (Actor::Specialist(me), Some(other)) if other == me => other,
            (Actor::Specialist(_), Some(_)) => return Err(FollowUpError::ClaimForOther),
            (Actor::Staff, None) => return Err(FollowUpError::NoClaimant),
            (Actor::Staff, Some(s)) if !self.calls.is_specialist(&s) => {
                return Err(FollowUpError::UnknownSpecialist(s))
            }
            (Actor::Staff, Some(s)) => s,
        };
        let change = fu::claim(&self.store, actor, id, &specialist, now_ms()).await;
        let detail = serde_json::json!({ "specialist": specialist });
        self.settle(who, "claim-follow-up", id, change, detail)
            .await
    }

    /// Give a claimed follow-up back to the queue.
    pub async fn release(&self, who: &Requester<'_>, id: &str) -> Result<Shown, FollowUpError> {
        if !valid_id(id) {
            return Err(FollowUpError::NotFound);
        }
        let change = fu::release(&self.store, who.actor()?, id).await;
        let detail = serde_json::json!({});
        self.settle(who, "release-follow-up", id, change, detail)
            .await
    }

    /// Append a note, signed with the requester's name and the time.
    pub async fn add_note(
        &self,
        who: &Requester<'_>,
        id: &str,
        text: &str,
    ) -> Result<Shown, FollowUpError> {
        let text = note(text)?;
        if !valid_id(id) {
            return Err(FollowUpError::NotFound);
        }
        let at = rfc3339(now_ms());
        let change = fu::add_note(&self.store, who.actor()?, id, &at, who.name, &text).await;
        // The note itself may name people: the log keeps only its length.
        let detail = serde_json::json!({ "chars": text.chars().count() });
        self.settle(who, "note-follow-up", id, change, detail).await
    }

    /// Complete `id` with `result` (one of `store::follow_ups::RESULTS`)
    /// and, when not blank, a last note.
    pub async fn complete(
        &self,
        who: &Requester<'_>,
        id: &str,
        result: &str,
        notes: Option<&str>,
    ) -> Result<Shown, FollowUpError> {
        if !fu::RESULTS.contains(&result) {
            return Err(FollowUpError::BadResult);
        }
        let text = match notes {
            Some(t) if !t.trim().is_empty() => Some(note(t)?),
            _ => None,
        };
        if !valid_id(id) {
            return Err(FollowUpError::NotFound);
        }
        let at = rfc3339(now_ms());
        let change = fu::complete(
            &self.store,
            who.actor()?,
            id,
            result,
            text.as_deref().map(|t| (at.as_str(), who.name, t)),
            now_ms(),
        )
        .await;
        let detail = serde_json::json!({ "result": result });
        self.settle(who, "complete-follow-up", id, change, detail)
            .await
    }

    /// Click-to-call: ring the specialist who claimed `id`, then the number
    /// the caller left, and bridge them. One callback at a time per
    /// follow-up; the use of the number is logged before it is opened.
    pub async fn call_back(
        &self,
        who: &Requester<'_>,
        id: &str,
    ) -> Result<StartedCall, FollowUpError> {
        let f = self.visible(who, id).await?;
        let actor = who.actor()?;
        if f.kind != "callback" {
            return Err(FollowUpError::NotACallback);
        }
        // The specialist who claimed it is rung; a specialist calls back only
        // what they claimed themselves.
        let specialist = match (f.status.as_str(), f.claimed_by.as_deref()) {
            ("claimed", Some(s)) => s.to_string(),
            ("done", _) => return Err(FollowUpError::Done),
            _ => return Err(FollowUpError::NotClaimed),
        };
        if let Actor::Specialist(me) = actor {
            if me != specialist {
                return Err(FollowUpError::NotFound);
            }
        }
        let Some(sealed) = self.sealed_number(id).await? else {
            return Err(FollowUpError::NoNumber);
        };
        // One callback at a time: a second click while the phones ring or the
        // two talk would call the person twice.
        let call = uuid::Uuid::new_v4().to_string();
        let now = now_ms();
        let since = now - HARD_LIMIT_MS;
        if !fu::begin_call(&self.store, &call, id, &specialist, now, since)
            .await
            .map_err(FollowUpError::Store)?
        {
            return Err(FollowUpError::CallUnderWay);
        }
        let started = self.start(who, &f, &specialist, &sealed, &call).await;
        if started.is_err() {
            if let Err(e) = fu::forget_call(&self.store, &call).await {
                tracing::error!(error = %e, "cannot forget a callback that did not start");
            }
        }
        started?;
        Ok(StartedCall { call, specialist })
    }

    /// Log the use of the number, open it and start the callback.
    async fn start(
        &self,
        who: &Requester<'_>,
        f: &FollowUp,
        specialist: &str,
        sealed: &str,
        call: &str,
    ) -> Result<(), FollowUpError> {
        let detail = serde_json::json!({ "specialist": specialist });
        self.audit(who, "call-follow-up", Some(&f.id), detail)
            .await
            .map_err(FollowUpError::Audit)?;
        let Some(number) = self.sealer.open(sealed) else {
            tracing::error!(follow_up = %f.id, "the callback number cannot be opened with the configured number key");
            return Err(FollowUpError::NumberKey);
        };
        let callback = ClickToCallOrder {
            follow_up: f.id.clone(),
            specialist: SpecialistId::new(specialist),
            number,
            language: f
                .language
                .as_deref()
                .and_then(Language::from_code)
                .unwrap_or(Language::Ru),
            service: f.service.clone(),
            // Unanswered counts as "no": the safe answer.
            hide_centre_name: f.say_centre_name != Some(true),
        };
        self.calls
            .start_click_to_call(call.to_string(), callback)
            .map_err(|e| {
                tracing::info!(follow_up = %f.id, error = %e, "callback not started");
                match e {
                    StartError::Specialist(_) => FollowUpError::SpecialistUnreachable,
                    StartError::Refused(why) => FollowUpError::NumberRefused(why),
                    StartError::Number(why) => FollowUpError::Uncallable(why),
                }
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follow_up_ids() {
        assert!(valid_id("voicemail-3f2c-aa"));
        assert!(valid_id("7d9f0c1e-2b3a-4c5d-8e9f-0a1b2c3d4e5f"));
        assert!(!valid_id("../x"));
        assert!(!valid_id(""));
        assert!(!valid_id(&"a".repeat(129)));
    }

    #[test]
    fn messages_are_the_api_answers() {
        assert_eq!(
            FollowUpError::NoClaimant.to_string(),
            r#"pass {"specialist": "id"}: who takes the follow-up"#
        );
        assert_eq!(
            FollowUpError::UnknownSpecialist("x".into()).to_string(),
            r#"no specialist with id "x""#
        );
        assert_eq!(
            FollowUpError::BadNote.to_string(),
            format!("`text` must hold 1 to {} characters", fu::MAX_NOTE_CHARS)
        );
        assert_eq!(
            FollowUpError::BadResult.to_string(),
            format!("`result` must be one of {}", fu::RESULTS.join(", "))
        );
        assert_eq!(
            FollowUpError::Uncallable("no trunk is configured".into()).to_string(),
            "the number cannot be called back: no trunk is configured"
        );
        assert_eq!(
            FollowUpError::NumberRefused(NumberRefusal::International).to_string(),
            "the number cannot be called back: international numbers are not called back; \
             only numbers in Kazakhstan are"
        );
    }

    #[test]
    fn only_staff_and_the_claimant_see_a_follow_up_in_full() {
        let f = FollowUp {
            id: "a".into(),
            kind: "callback".into(),
            created_at: 0,
            language: Some("kk".into()),
            service: Some("legal".into()),
            call_window: Some("soon".into()),
            leave_message: Some(false),
            say_centre_name: Some(true),
            status: "claimed".into(),
            claimed_by: Some("erlan".into()),
            claimed_at: Some(1),
            completed_at: None,
            result: None,
            notes: Some("a note".into()),
            call_id: Some("call".into()),
            duration_ms: None,
            cut: None,
        };
        let staff = Shown::of(Some(Actor::Staff), f.clone());
        assert_eq!(staff, Shown::Full(f.clone()));
        assert!(staff.has_notes());
        match Shown::of(Some(Actor::Specialist("erlan")), f.clone()) {
            Shown::Full(mine) => {
                assert_eq!(mine.notes.as_deref(), Some("a note"));
                assert_eq!(mine.call_id, None, "call records are staff's");
            }
            other => panic!("{other:?}"),
        }
        let other = Shown::of(Some(Actor::Specialist("aigerim")), f.clone());
        assert!(matches!(other, Shown::Summary(_)) && !other.has_notes());
        let open = FollowUp {
            status: "open".into(),
            claimed_by: None,
            ..f.clone()
        };
        assert!(matches!(
            Shown::of(Some(Actor::Specialist("erlan")), open),
            Shown::Summary(_)
        ));
        assert!(matches!(Shown::of(None, f), Shown::Summary(_)));
    }

    #[test]
    fn a_specialist_token_without_an_id_is_refused() {
        let who = Requester {
            name: "x",
            role: "specialist",
            staff: false,
            specialist: None,
        };
        assert!(matches!(who.actor(), Err(FollowUpError::NoSpecialist)));
        let staff = Requester { staff: true, ..who };
        assert_eq!(staff.actor().ok(), Some(Actor::Staff));
    }
}
