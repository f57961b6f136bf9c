//! A call record change as the store keeps it: [`RecordOp`] with owned text,
//! serialisable, so a change the database could not take can wait in the
//! spool file ([`super::spool`]) and be read back after a restart. Its JSON
//! form is an on-disk format: add variants and optional fields, never
//! rename.

use serde::{Deserialize, Serialize};

use senim_call::record::RecordOp;

/// One change to a call record (see [`RecordOp`] for the meaning of each).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Change {
    Arrived {
        call: String,
        sip_call_id: String,
        at: i64,
        caller_hash: Option<String>,
        transport: String,
        trunk: Option<String>,
        line: Option<String>,
    },
    Answered {
        call: String,
        at: i64,
        codec: String,
        dtmf_mode: String,
    },
    Language {
        call: String,
        language: String,
    },
    Digit {
        call: String,
        seq: i64,
        at: i64,
        digit: String,
        source: String,
        menu: Option<String>,
    },
    Step {
        call: String,
        seq: i64,
        at: i64,
        menu: String,
        what: String,
    },
    Service {
        call: String,
        service: String,
    },
    Voicemail {
        call: String,
        at: i64,
        path: String,
        duration_ms: i64,
        ended_by: String,
        /// The message was cut short (Senim stopped while it was recorded).
        #[serde(default)]
        cut: bool,
    },
    Survey {
        call: String,
        score: u8,
    },
    /// The kind of help given, from the specialist's wrap-up code.
    WrapUp {
        call: String,
        kind: String,
    },
    CallbackRequest {
        id: String,
        call: String,
        at: i64,
        caller_hash: String,
        number_sealed: String,
        number_source: String,
        window: String,
        leave_message: bool,
        say_centre_name: bool,
        language: Option<String>,
        service: Option<String>,
    },
    FollowUpCallEnded {
        id: String,
        at: i64,
        answered_at: Option<i64>,
        outcome: String,
    },
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
        hangup_by: Option<String>,
    },
    Remember {
        caller_hash: String,
        at: i64,
        language: String,
        specialist: String,
        service: Option<String>,
    },
    RememberedSeen {
        caller_hash: String,
        at: i64,
        specialist: Option<String>,
        service: Option<String>,
    },
    Forget {
        caller_hash: String,
    },
}

impl From<RecordOp> for Change {
    fn from(op: RecordOp) -> Change {
        let s = |s: &'static str| s.to_string();
        match op {
            RecordOp::Arrived {
                call,
                sip_call_id,
                at,
                caller_hash,
                transport,
                trunk,
                line,
            } => Change::Arrived {
                call,
                sip_call_id,
                at,
                caller_hash,
                transport: s(transport),
                trunk,
                line,
            },
            RecordOp::Answered {
                call,
                at,
                codec,
                dtmf_mode,
            } => Change::Answered {
                call,
                at,
                codec: s(codec),
                dtmf_mode: s(dtmf_mode),
            },
            RecordOp::Language { call, language } => Change::Language {
                call,
                language: s(language),
            },
            RecordOp::Digit {
                call,
                seq,
                at,
                digit,
                source,
                menu,
            } => Change::Digit {
                call,
                seq,
                at,
                digit,
                source: s(source),
                menu,
            },
            RecordOp::Step {
                call,
                seq,
                at,
                menu,
                what,
            } => Change::Step {
                call,
                seq,
                at,
                menu,
                what,
            },
            RecordOp::Service { call, service } => Change::Service { call, service },
            RecordOp::Voicemail {
                call,
                at,
                path,
                duration_ms,
                ended_by,
            } => Change::Voicemail {
                call,
                at,
                path,
                duration_ms,
                ended_by: s(ended_by),
                cut: false,
            },
            RecordOp::Survey { call, score } => Change::Survey { call, score },
            RecordOp::WrapUp { call, kind } => Change::WrapUp { call, kind },
            RecordOp::CallbackRequest {
                id,
                call,
                at,
                caller_hash,
                number_sealed,
                number_source,
                window,
                leave_message,
                say_centre_name,
                language,
                service,
            } => Change::CallbackRequest {
                id,
                call,
                at,
                caller_hash,
                number_sealed,
                number_source: s(number_source),
                window: s(window),
                leave_message,
                say_centre_name,
                language,
                service,
            },
            RecordOp::FollowUpCallEnded {
                id,
                at,
                answered_at,
                outcome,
            } => Change::FollowUpCallEnded {
                id,
                at,
                answered_at,
                outcome: s(outcome),
            },
            RecordOp::Routing {
                call,
                seq,
                at,
                step,
                specialist,
                partner,
                result,
                wait_ms,
                detail,
            } => Change::Routing {
                call,
                seq,
                at,
                step,
                specialist,
                partner,
                result,
                wait_ms,
                detail,
            },
            RecordOp::Ended {
                call,
                at,
                outcome,
                hangup_by,
            } => Change::Ended {
                call,
                at,
                outcome,
                hangup_by: hangup_by.map(str::to_string),
            },
            RecordOp::Remember {
                caller_hash,
                at,
                language,
                specialist,
                service,
            } => Change::Remember {
                caller_hash,
                at,
                language,
                specialist,
                service,
            },
            RecordOp::RememberedSeen {
                caller_hash,
                at,
                specialist,
                service,
            } => Change::RememberedSeen {
                caller_hash,
                at,
                specialist,
                service,
            },
            RecordOp::Forget { caller_hash } => Change::Forget { caller_hash },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_reads_back_as_written() {
        let ops = [
            RecordOp::Arrived {
                call: "c".into(),
                sip_call_id: "s".into(),
                at: 1,
                caller_hash: Some("h".into()),
                transport: "udp",
                trunk: None,
                line: Some("77232".into()),
            },
            RecordOp::Ended {
                call: "c".into(),
                at: 2,
                outcome: "completed".into(),
                hangup_by: Some("caller"),
            },
            RecordOp::Remember {
                caller_hash: "h".into(),
                at: 3,
                language: "kk".into(),
                specialist: "asel".into(),
                service: Some("legal".into()),
            },
            RecordOp::RememberedSeen {
                caller_hash: "h".into(),
                at: 4,
                specialist: None,
                service: None,
            },
            RecordOp::Forget {
                caller_hash: "h".into(),
            },
        ];
        for op in ops {
            let change = Change::from(op);
            let line = serde_json::to_string(&change).unwrap();
            assert!(!line.contains('\n'));
            let back: Change = serde_json::from_str(&line).unwrap();
            assert_eq!(back, change);
        }
    }
}
