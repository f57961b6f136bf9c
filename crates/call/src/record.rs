//! The call record as the call core writes it: one change at a time, in
//! order, each as it happens, so a crash leaves an honest partial record.
//! The driver hands them to the store's writer.

/// One change to a call record. Times are epoch milliseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordOp {
    Arrived {
        call: String,
        sip_call_id: String,
        at: i64,
        caller_hash: Option<String>,
        transport: &'static str,
        /// The trunk the call came in through (its configured id).
        trunk: Option<String>,
        /// The line dialled (its normalised number, `[[line]]`).
        line: Option<String>,
    },
    Answered {
        call: String,
        at: i64,
        codec: &'static str,
        dtmf_mode: &'static str,
    },
    Language {
        call: String,
        language: &'static str,
    },
    Digit {
        call: String,
        seq: i64,
        at: i64,
        digit: String,
        source: &'static str,
        menu: Option<String>,
    },
    Step {
        call: String,
        seq: i64,
        at: i64,
        menu: String,
        what: String,
    },
    /// The service the call was routed to.
    Service { call: String, service: String },
    /// A voice message saved (migrations/sqlite/0004_voicemail.sql).
    Voicemail {
        call: String,
        at: i64,
        /// The WAV file (absolute).
        path: String,
        duration_ms: i64,
        /// key, max-length, silence, hangup, call-ended
        ended_by: &'static str,
    },
    /// The caller's survey score (1-5).
    Survey { call: String, score: u8 },
    /// The kind of help the specialist gave, from the wrap-up menu
    /// (migrations/sqlite/0016_wrap_up.sql).
    WrapUp { call: String, kind: String },
    /// A callback request became a follow-up (migrations/sqlite/0005_follow_ups.sql).
    CallbackRequest {
        id: String,
        call: String,
        at: i64,
        caller_hash: String,
        number_sealed: String,
        number_source: &'static str,
        window: &'static str,
        leave_message: bool,
        say_centre_name: bool,
        language: Option<String>,
        service: Option<String>,
    },
    /// How a callback of a follow-up ended (migrations/sqlite/0008_follow_up_calls.sql).
    FollowUpCallEnded {
        id: String,
        at: i64,
        answered_at: Option<i64>,
        outcome: &'static str,
    },
    /// A routing or transfer step (see migrations/sqlite/0002_routing.sql).
    Routing {
        call: String,
        seq: i64,
        at: i64,
        step: String,
        specialist: Option<String>,
        partner: Option<String>,
        result: Option<String>,
        wait_ms: Option<i64>,
        detail: String,
    },
    Ended {
        call: String,
        at: i64,
        outcome: String,
        hangup_by: Option<&'static str>,
    },
    /// The caller agreed to be remembered (migrations/sqlite/0015_remembered_callers.sql):
    /// keep (or renew) their memory. `caller_hash` is the keyed hash of a
    /// usable, shown number; never the number.
    Remember {
        caller_hash: String,
        at: i64,
        language: String,
        specialist: String,
        service: Option<String>,
    },
    /// A remembered caller called again (and, when given, talked to this
    /// specialist): when they were last seen, and whom they spoke to.
    RememberedSeen {
        caller_hash: String,
        at: i64,
        specialist: Option<String>,
        service: Option<String>,
    },
    /// The caller asked to be forgotten.
    Forget { caller_hash: String },
}
