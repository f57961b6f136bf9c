//! The calls in progress as the coordinator's board shows them: where each
//! is (answered, in a menu, routed, transferring, leaving a message), in
//! which language and for which service, since when. Kept from the call
//! record operations every call emits (`Output::Record`), so nothing in
//! the call core knows of the board. Never a number, nor a caller hash.

use std::collections::HashMap;
use std::sync::Mutex;

use senim_call::record::RecordOp;
use serde::Serialize;

/// One call in progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LiveCall {
    /// The call's id (as in the API and the call records).
    pub id: String,
    /// Epoch ms when it arrived.
    pub since_ms: i64,
    /// `arriving`, `menu`, `routing`, `transferring`, `message`.
    pub state: &'static str,
    /// The menu or node the caller is in, while in the dialplan.
    pub menu: Option<String>,
    pub language: Option<String>,
    pub service: Option<String>,
    /// The partner being transferred to.
    pub partner: Option<String>,
    /// Keys pressed so far.
    pub keys: String,
}

/// The calls in progress, by id.
#[derive(Debug, Default)]
pub struct LiveCalls {
    calls: Mutex<HashMap<String, LiveCall>>,
}

/// Calls older than this are dropped from the board even without their
/// end (a call's end is always recorded; this only bounds the table).
const AT_MOST: usize = 20_000;

impl LiveCalls {
    pub fn new() -> LiveCalls {
        LiveCalls::default()
    }

    /// Take in what a call recorded.
    pub fn apply(&self, op: &RecordOp) {
        let mut calls = self
            .calls
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        apply(&mut calls, op);
    }

    /// Every call in progress, oldest first.
    pub fn list(&self) -> Vec<LiveCall> {
        let calls = self
            .calls
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut out: Vec<LiveCall> = calls.values().cloned().collect();
        out.sort_by(|a, b| a.since_ms.cmp(&b.since_ms).then(a.id.cmp(&b.id)));
        out
    }
}

fn apply(calls: &mut HashMap<String, LiveCall>, op: &RecordOp) {
    match op {
        RecordOp::Arrived { call, at, .. } => {
            if calls.len() >= AT_MOST {
                return;
            }
            calls.insert(
                call.clone(),
                LiveCall {
                    id: call.clone(),
                    since_ms: *at,
                    state: "arriving",
                    menu: None,
                    language: None,
                    service: None,
                    partner: None,
                    keys: String::new(),
                },
            );
        }
        RecordOp::Answered { call, .. } => with(calls, call, |c| c.state = "menu"),
        RecordOp::Language { call, language } => {
            with(calls, call, |c| c.language = Some((*language).to_string()))
        }
        RecordOp::Digit { call, digit, .. } => with(calls, call, |c| {
            if c.keys.chars().count() < 64 {
                c.keys.push_str(digit);
            }
        }),
        RecordOp::Step { call, menu, .. } => with(calls, call, |c| {
            if c.state != "transferring" {
                c.state = "menu";
            }
            c.menu = Some(menu.clone());
        }),
        RecordOp::Service { call, service } => with(calls, call, |c| {
            c.service = Some(service.clone());
            c.state = "routing";
        }),
        RecordOp::Routing {
            call,
            step,
            partner,
            ..
        } => with(calls, call, |c| match step.as_str() {
            "transfer-attempt" => {
                c.state = "transferring";
                c.partner = partner.clone();
            }
            "transfer-ended" => {
                c.state = "menu";
                c.partner = None;
            }
            _ => {}
        }),
        RecordOp::Ended { call, .. } => {
            calls.remove(call);
        }
        _ => {}
    }
}

fn with(calls: &mut HashMap<String, LiveCall>, id: &str, f: impl FnOnce(&mut LiveCall)) {
    if let Some(c) = calls.get_mut(id) {
        f(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_is_followed_from_arrival_to_its_end() {
        let live = LiveCalls::new();
        let id = "c1".to_string();
        live.apply(&RecordOp::Arrived {
            call: id.clone(),
            sip_call_id: "x".into(),
            at: 5,
            caller_hash: Some("h".into()),
            transport: "udp",
            trunk: None,
            line: None,
        });
        assert_eq!(live.list()[0].state, "arriving");
        live.apply(&RecordOp::Answered {
            call: id.clone(),
            at: 6,
            codec: "PCMU",
            dtmf_mode: "rfc4733",
        });
        live.apply(&RecordOp::Step {
            call: id.clone(),
            seq: 1,
            at: 7,
            menu: "main".into(),
            what: "play".into(),
        });
        live.apply(&RecordOp::Digit {
            call: id.clone(),
            seq: 2,
            at: 8,
            digit: "1".into(),
            source: "rfc4733",
            menu: Some("main".into()),
        });
        live.apply(&RecordOp::Language {
            call: id.clone(),
            language: "kk",
        });
        let c = &live.list()[0];
        assert_eq!(
            (
                c.state,
                c.menu.as_deref(),
                c.keys.as_str(),
                c.language.as_deref()
            ),
            ("menu", Some("main"), "1", Some("kk"))
        );
        live.apply(&RecordOp::Service {
            call: id.clone(),
            service: "legal".into(),
        });
        assert_eq!(live.list()[0].state, "routing");
        live.apply(&RecordOp::Ended {
            call: id,
            at: 9,
            outcome: "completed".into(),
            hangup_by: None,
        });
        assert!(live.list().is_empty());
    }
}
