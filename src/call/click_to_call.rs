//! Click-to-call: a call Senim places itself to call back a follow-up.
//!
//! Senim rings the specialist first; the whisper says it is a callback
//! (service, language, "press 1"). Once the specialist accepts, they hear
//! hold audio while Senim calls the person back through the trunk; when
//! that person answers, the two legs are bridged. Both legs present the
//! centre (From and P-Asserted-Identity), so the specialist's phone never
//! shows the caller's number and the caller never sees the specialist's.
//! When the caller asked that the centre not be named, the From display
//! name is left out on the callee's leg.
//!
//! [`Flow`] is the decision logic, sans-IO; [`start`] runs it in a task
//! with two outbound legs ([`super::legs::Legs`]), registered with the SIP
//! endpoint under a Call-ID of its own.

use std::sync::Arc;
use std::time::Duration;

use rsip::Method;
use senim_media::prompts::Language;
use senim_routing::specialists::SpecialistId;
use senim_sip::message;
use tokio::sync::mpsc;
use tracing::Instrument;

use super::controller::sleep_opt;
use super::leg::LegEnd;
use super::legs::{LegEvent, LegPlan, Legs};
use super::outbound::{LegInput, LegPurpose};
use super::{CallContext, ToCall};
use crate::driver::sip::ToEndpoint;
use crate::store::RecordOp;

/// How long the specialist's phone rings.
const SPECIALIST_RING: Duration = Duration::from_secs(30);
/// How long the person called back may take to answer.
const CALLEE_RING: Duration = Duration::from_secs(45);
/// What the specialist hears while the other side rings.
const HOLD: &str = "queue-hold";
/// After the flow is over, how long the legs may take to finish their SIP.
const DRAIN: Duration = Duration::from_secs(35);
/// A callback never lasts longer than this.
const HARD_LIMIT: Duration = Duration::from_secs(4 * 3600);
/// The same in milliseconds: a callback without an outcome that started
/// longer ago than this is not under way (Senim stopped during it).
pub const HARD_LIMIT_MS: i64 = 4 * 3600 * 1000;

/// Where the flow is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// The specialist's phone rings, or the whisper plays.
    RingingSpecialist,
    /// The specialist accepted; the person is being called.
    CallingCallee,
    /// Both talk.
    Talking,
    Over,
}

/// What happened to a leg.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    SpecialistAccepted,
    SpecialistEnded(LegEnd),
    CalleeAnswered,
    CalleeEnded(LegEnd),
    /// Senim is stopping.
    Shutdown,
}

/// What the controller must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Play hold audio to the specialist.
    HoldSpecialist,
    /// Place the leg to the person called back.
    CallCallee,
    /// Relay media between the two legs.
    Bridge,
    HangUpSpecialist,
    HangUpCallee,
    /// The callback is over: record the outcome.
    Finished(Outcome),
}

/// How a callback ended, as recorded (`follow_up_calls.outcome`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The two talked; who hung up first.
    Talked,
    /// The specialist did not take the callback.
    SpecialistNoAnswer,
    SpecialistBusy,
    SpecialistDeclined,
    SpecialistFailed,
    /// The specialist hung up while the person was being called.
    SpecialistLeft,
    /// The person did not answer (or was busy, declined, unreachable).
    CalleeNoAnswer,
    CalleeBusy,
    CalleeDeclined,
    CalleeFailed,
    /// Senim stopped.
    Shutdown,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Talked => "talked",
            Outcome::SpecialistNoAnswer => "specialist-no-answer",
            Outcome::SpecialistBusy => "specialist-busy",
            Outcome::SpecialistDeclined => "specialist-declined",
            Outcome::SpecialistFailed => "specialist-failed",
            Outcome::SpecialistLeft => "specialist-left",
            Outcome::CalleeNoAnswer => "callee-no-answer",
            Outcome::CalleeBusy => "callee-busy",
            Outcome::CalleeDeclined => "callee-declined",
            Outcome::CalleeFailed => "callee-failed",
            Outcome::Shutdown => "shutdown",
        }
    }

    fn specialist(end: &LegEnd) -> Outcome {
        match end {
            LegEnd::Busy => Outcome::SpecialistBusy,
            LegEnd::Declined => Outcome::SpecialistDeclined,
            LegEnd::Failed(_) => Outcome::SpecialistFailed,
            LegEnd::NoAnswer | LegEnd::Cancelled | LegEnd::Answered => Outcome::SpecialistNoAnswer,
        }
    }

    fn callee(end: &LegEnd) -> Outcome {
        match end {
            LegEnd::Busy => Outcome::CalleeBusy,
            LegEnd::Declined => Outcome::CalleeDeclined,
            LegEnd::Failed(_) => Outcome::CalleeFailed,
            LegEnd::NoAnswer | LegEnd::Cancelled | LegEnd::Answered => Outcome::CalleeNoAnswer,
        }
    }
}

/// The decision logic of one callback.
#[derive(Debug)]
pub struct Flow {
    stage: Stage,
}

impl Default for Flow {
    fn default() -> Self {
        Flow::new()
    }
}

impl Flow {
    /// A callback whose specialist leg has just been placed.
    pub fn new() -> Flow {
        Flow {
            stage: Stage::RingingSpecialist,
        }
    }

    pub fn stage(&self) -> Stage {
        self.stage
    }

    pub fn handle(&mut self, input: Input) -> Vec<Output> {
        use Output::*;
        let (next, out) = match (self.stage, input) {
            (Stage::Over, _) => return vec![],
            (_, Input::Shutdown) => (
                Stage::Over,
                vec![HangUpSpecialist, HangUpCallee, Finished(Outcome::Shutdown)],
            ),
            (Stage::RingingSpecialist, Input::SpecialistAccepted) => {
                (Stage::CallingCallee, vec![HoldSpecialist, CallCallee])
            }
            (Stage::RingingSpecialist, Input::SpecialistEnded(end)) => {
                (Stage::Over, vec![Finished(Outcome::specialist(&end))])
            }
            (Stage::CallingCallee, Input::SpecialistEnded(_)) => (
                Stage::Over,
                vec![HangUpCallee, Finished(Outcome::SpecialistLeft)],
            ),
            (Stage::CallingCallee, Input::CalleeAnswered) => (Stage::Talking, vec![Bridge]),
            (Stage::CallingCallee, Input::CalleeEnded(end)) => (
                Stage::Over,
                vec![HangUpSpecialist, Finished(Outcome::callee(&end))],
            ),
            (Stage::Talking, Input::SpecialistEnded(_)) => {
                (Stage::Over, vec![HangUpCallee, Finished(Outcome::Talked)])
            }
            (Stage::Talking, Input::CalleeEnded(_)) => (
                Stage::Over,
                vec![HangUpSpecialist, Finished(Outcome::Talked)],
            ),
            // Anything else (a late or repeated event) changes nothing.
            (stage, _) => (stage, vec![]),
        };
        self.stage = next;
        out
    }
}

/// What a callback needs.
#[derive(Clone)]
pub struct Callback {
    /// The follow-up being called back.
    pub follow_up: String,
    /// The specialist rung first.
    pub specialist: SpecialistId,
    /// The number to call (unsealed; never logged or recorded).
    pub number: String,
    /// The caller's language (the whisper's and the hold audio's).
    pub language: Language,
    /// The follow-up's service, for the whisper.
    pub service: Option<String>,
    /// Leave the centre's name out of the callee's display.
    pub hide_centre_name: bool,
}

impl std::fmt::Debug for Callback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Callback")
            .field("follow_up", &self.follow_up)
            .field("specialist", &self.specialist)
            .field("number", &"<sealed>")
            .finish_non_exhaustive()
    }
}

/// Why a callback cannot start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("the specialist cannot be rung: {0}")]
    Specialist(String),
    #[error("the number cannot be called: {0}")]
    Number(String),
}

/// Whether a number may be called back. International numbers are refused
/// (a caller could type a premium-rate number abroad: toll fraud); the
/// centre calls numbers in Kazakhstan: `+7`, `8` or `7` and ten digits,
/// or a local number of five to seven digits.
pub fn callable(number: &str) -> Result<(), String> {
    let (plus, digits) = match number.strip_prefix('+') {
        Some(rest) => (true, rest),
        None => (false, number),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err("not a phone number".into());
    }
    let national = (digits.len() == 11 && digits.starts_with('7'))
        || (!plus && digits.len() == 11 && digits.starts_with('8'));
    let local = !plus && (5..=7).contains(&digits.len()) && !digits.starts_with('0');
    if national || local {
        Ok(())
    } else {
        Err("only numbers in Kazakhstan are called back".into())
    }
}

/// Start callback `id` (its `follow_up_calls` row is written by the
/// caller): checks that both sides can be reached, then rings the
/// specialist. Its outcome is recorded when it ends.
pub fn start(
    ctx: Arc<CallContext>,
    endpoint: mpsc::UnboundedSender<ToEndpoint>,
    id: String,
    callback: Callback,
) -> Result<(), StartError> {
    let (target, peer) = ctx
        .specialist_target(&callback.specialist)
        .map_err(StartError::Specialist)?;
    callable(&callback.number).map_err(StartError::Number)?;
    if ctx.outbound.dial_trunk().is_none() {
        return Err(StartError::Number(
            "no trunk is configured to call numbers through".into(),
        ));
    }
    let owner = format!("senim-callback-{id}");
    let (tx, rx) = mpsc::unbounded_channel();
    let _ = endpoint.send(ToEndpoint::Register {
        call_id: owner.clone(),
        handle: tx,
    });
    let mut whisper = Vec::new();
    if let Some(s) = &callback.service {
        whisper.push(format!("service-{s}"));
    }
    whisper.push(format!("language-{}", callback.language.code()));
    whisper.push("whisper-callback".to_string());
    let plan = LegPlan {
        target,
        peer,
        whisper,
        language: callback.language,
        ring_timeout: SPECIALIST_RING,
        bridge_on_answer: false,
        caller_identity: None,
        hide_centre_name: false,
    };
    let span = tracing::info_span!("callback", call_id = %owner, follow_up = %callback.follow_up);
    let task = CallbackCall {
        legs: Legs::new(ctx.clone(), endpoint.clone(), owner.clone()),
        ctx,
        endpoint,
        owner,
        id,
        callback,
        flow: Flow::new(),
        specialist_leg: None,
        callee_leg: None,
        answered_at: None,
    };
    tokio::spawn(task.run(rx, plan).instrument(span));
    Ok(())
}

struct CallbackCall {
    ctx: Arc<CallContext>,
    endpoint: mpsc::UnboundedSender<ToEndpoint>,
    owner: String,
    id: String,
    callback: Callback,
    flow: Flow,
    legs: Legs,
    specialist_leg: Option<u64>,
    callee_leg: Option<u64>,
    answered_at: Option<i64>,
}

impl CallbackCall {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<ToCall>, plan: LegPlan) {
        let purpose = LegPurpose::Specialist(self.callback.specialist.clone());
        match self.legs.place(purpose, plan) {
            Ok(id) => self.specialist_leg = Some(id),
            Err(why) => {
                tracing::info!(%why, "cannot ring the specialist");
                let out = self
                    .flow
                    .handle(Input::SpecialistEnded(LegEnd::Failed(why)));
                self.outputs(out);
            }
        }
        self.events();
        let hard_limit = tokio::time::Instant::now() + HARD_LIMIT;
        let mut over_at: Option<tokio::time::Instant> = None;
        loop {
            if self.flow.stage() == Stage::Over {
                self.legs.retain_live();
                let t = *over_at.get_or_insert_with(tokio::time::Instant::now);
                if self.legs.is_empty() || t.elapsed() > DRAIN {
                    break;
                }
            }
            let wake = self.legs.wake().map(tokio::time::Instant::from_std);
            tokio::select! {
                msg = rx.recv() => match msg {
                    Some(m) => self.sip(m),
                    None => break,
                },
                input = self.legs.recv() => {
                    if let Some(input) = input {
                        self.media(input);
                    }
                }
                _ = sleep_opt(wake) => self.legs.handle_timeouts(),
                _ = tokio::time::sleep_until(hard_limit) => {
                    let out = self.flow.handle(Input::Shutdown);
                    self.outputs(out);
                    break;
                }
            }
            self.events();
        }
        self.legs.clear();
        let _ = self.endpoint.send(ToEndpoint::CallEnded {
            call_id: self.owner.clone(),
        });
    }

    fn sip(&mut self, msg: ToCall) {
        match msg {
            ToCall::Request { key, request, .. } => {
                if !self.legs.on_request(key, &request) {
                    let response =
                        message::response(&request, 481, "Call/Transaction Does Not Exist", None);
                    let _ = self.endpoint.send(ToEndpoint::Respond { key, response });
                }
            }
            ToCall::Response { response, .. } => {
                let call_id = message::call_id(&rsip::SipMessage::Response(response.clone()))
                    .unwrap_or_default();
                self.legs.on_response(&call_id, &response);
            }
            ToCall::Timeout {
                call_id, method, ..
            } => {
                if method == Method::Invite || method == Method::Bye {
                    self.legs.on_timeout(&call_id, method);
                }
            }
            ToCall::Shutdown => {
                let out = self.flow.handle(Input::Shutdown);
                self.outputs(out);
            }
            ToCall::Ack { .. } | ToCall::Cancel { .. } => {}
        }
    }

    /// RTP between the two legs once bridged.
    fn media(&mut self, input: LegInput) {
        let Some(relay) = self.legs.input(input) else {
            return;
        };
        let other = if Some(relay.leg) == self.specialist_leg {
            self.callee_leg
        } else if Some(relay.leg) == self.callee_leg {
            self.specialist_leg
        } else {
            None
        };
        if let Some(other) = other {
            self.legs
                .relay_into(other, &relay.data, relay.codec, relay.telephone_event);
        }
    }

    fn events(&mut self) {
        for _ in 0..256 {
            let Some(event) = self.legs.poll_event() else {
                break;
            };
            let input = match event {
                LegEvent::Accepted { id, .. } if Some(id) == self.specialist_leg => {
                    Some(Input::SpecialistAccepted)
                }
                LegEvent::Accepted { id, .. } if Some(id) == self.callee_leg => {
                    Some(Input::CalleeAnswered)
                }
                LegEvent::Ended { id, end, .. } if Some(id) == self.specialist_leg => {
                    Some(Input::SpecialistEnded(end))
                }
                LegEvent::Ended { id, end, .. } if Some(id) == self.callee_leg => {
                    Some(Input::CalleeEnded(end))
                }
                LegEvent::Record { step, .. } => {
                    tracing::info!(%step, "callback leg");
                    None
                }
                _ => None,
            };
            if let Some(input) = input {
                let out = self.flow.handle(input);
                self.outputs(out);
            }
        }
    }

    fn outputs(&mut self, outputs: Vec<Output>) {
        for o in outputs {
            match o {
                Output::HoldSpecialist => {
                    if let Some(id) = self.specialist_leg {
                        self.legs.play_loop(id, HOLD);
                    }
                }
                Output::CallCallee => self.call_callee(),
                Output::Bridge => {
                    self.answered_at = Some(super::controller::epoch_ms());
                    for id in [self.specialist_leg, self.callee_leg].into_iter().flatten() {
                        self.legs.bridge(id);
                    }
                    self.ctx
                        .sip_stats
                        .calls_connected
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    tracing::info!("callback bridged");
                }
                Output::HangUpSpecialist => {
                    if let Some(id) = self.specialist_leg {
                        self.legs.hang_up(id);
                    }
                }
                Output::HangUpCallee => {
                    if let Some(id) = self.callee_leg {
                        self.legs.hang_up(id);
                    }
                }
                Output::Finished(outcome) => {
                    if self.answered_at.is_some() {
                        let _ = self.ctx.sip_stats.calls_connected.fetch_update(
                            std::sync::atomic::Ordering::Relaxed,
                            std::sync::atomic::Ordering::Relaxed,
                            |n| n.checked_sub(1),
                        );
                    }
                    tracing::info!(outcome = outcome.as_str(), "callback over");
                    self.ctx.recorder.record(RecordOp::FollowUpCallEnded {
                        id: self.id.clone(),
                        at: super::controller::epoch_ms(),
                        answered_at: self.answered_at,
                        outcome: outcome.as_str(),
                    });
                }
            }
        }
    }

    fn call_callee(&mut self) {
        let placed = self
            .ctx
            .via_trunk(&self.callback.number)
            .and_then(|(target, peer)| {
                let plan = LegPlan {
                    target,
                    peer,
                    whisper: vec![],
                    language: self.callback.language,
                    ring_timeout: CALLEE_RING,
                    bridge_on_answer: true,
                    caller_identity: None,
                    hide_centre_name: self.callback.hide_centre_name,
                };
                let purpose = LegPurpose::Callee(self.callback.follow_up.clone());
                self.legs.place(purpose, plan)
            });
        match placed {
            Ok(id) => self.callee_leg = Some(id),
            Err(why) => {
                tracing::info!(%why, "cannot call the number back");
                let out = self.flow.handle(Input::CalleeEnded(LegEnd::Failed(why)));
                self.outputs(out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_callback_calls_the_person_then_bridges() {
        let mut f = Flow::new();
        assert_eq!(
            f.handle(Input::SpecialistAccepted),
            vec![Output::HoldSpecialist, Output::CallCallee]
        );
        assert_eq!(f.handle(Input::CalleeAnswered), vec![Output::Bridge]);
        assert_eq!(
            f.handle(Input::CalleeEnded(LegEnd::Answered)),
            vec![Output::HangUpSpecialist, Output::Finished(Outcome::Talked)]
        );
        assert_eq!(f.stage(), Stage::Over);
        assert!(f
            .handle(Input::SpecialistEnded(LegEnd::Answered))
            .is_empty());
    }

    #[test]
    fn specialist_who_does_not_accept_ends_it_before_anyone_is_called() {
        let mut f = Flow::new();
        assert_eq!(
            f.handle(Input::SpecialistEnded(LegEnd::NoAnswer)),
            vec![Output::Finished(Outcome::SpecialistNoAnswer)]
        );
        assert!(f.handle(Input::CalleeAnswered).is_empty());
    }

    #[test]
    fn person_not_reached_hangs_up_the_specialist() {
        let mut f = Flow::new();
        f.handle(Input::SpecialistAccepted);
        assert_eq!(
            f.handle(Input::CalleeEnded(LegEnd::Busy)),
            vec![
                Output::HangUpSpecialist,
                Output::Finished(Outcome::CalleeBusy)
            ]
        );
    }

    #[test]
    fn specialist_leaving_while_the_person_rings_cancels_that_leg() {
        let mut f = Flow::new();
        f.handle(Input::SpecialistAccepted);
        assert_eq!(
            f.handle(Input::SpecialistEnded(LegEnd::Answered)),
            vec![
                Output::HangUpCallee,
                Output::Finished(Outcome::SpecialistLeft)
            ]
        );
    }

    #[test]
    fn shutdown_hangs_up_both() {
        let mut f = Flow::new();
        f.handle(Input::SpecialistAccepted);
        f.handle(Input::CalleeAnswered);
        let out = f.handle(Input::Shutdown);
        assert!(out.contains(&Output::HangUpSpecialist) && out.contains(&Output::HangUpCallee));
        assert!(out.contains(&Output::Finished(Outcome::Shutdown)));
    }

    #[test]
    fn only_numbers_in_kazakhstan_are_called_back() {
        for ok in [
            "+77231234567",
            "87231234567",
            "77011234567",
            "451234",
            "12345",
        ] {
            assert!(callable(ok).is_ok(), "{ok}");
        }
        for bad in [
            "+4412345678901",
            "0012345678",
            "81012345678901",
            "+123",
            "",
            "12a45",
            "012345",
            "+87231234567",
            "1234",
        ] {
            assert!(callable(bad).is_err(), "{bad}");
        }
    }
}
