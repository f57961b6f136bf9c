//! A call Senim places itself for a follow-up (click-to-call): ring the
//! specialist who claimed it (whisper, accept key), then the number left,
//! through the trunk, and bridge the two. [`Flow`] is the decision logic (leg
//! events in, place / bridge / hang up out); [`ClickToCall`] drives it with
//! the legs, sans-IO like the caller's call.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rsip::Method;
use senim_media::prompts::Language;
use senim_routing::specialists::SpecialistId;
use senim_sip::message;

use crate::config::{AreaCode, CallConfig};
use crate::core::CallCore;
use crate::io::{LegId, MediaId, Metric, Output, PreparedLeg, SipInput};
use crate::kazakh_number::{KazakhNumber, NumberRefusal};
use crate::leg::LegEnd;
use crate::legs::{self, LegEvent, LegPlan, LegPurpose, Legs};
use crate::record::RecordOp;
use crate::time::WallClock;

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
pub enum FlowOutput {
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

    pub fn handle(&mut self, input: Input) -> Vec<FlowOutput> {
        use FlowOutput::*;
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
pub struct ClickToCallOrder {
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

impl std::fmt::Debug for ClickToCallOrder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClickToCallOrder")
            .field("follow_up", &self.follow_up)
            .field("specialist", &self.specialist)
            .field("number", &"<sealed>")
            .finish_non_exhaustive()
    }
}

/// The number a callback may ring, in E.164: numbers in Kazakhstan only
/// (see [`KazakhNumber`]); a number abroad or outside Kazakhstan's +7 ranges
/// is refused (a caller could leave a premium-rate number: toll fraud).
/// `area` is the centre's area code, for local numbers of its city.
pub fn callable(number: &str, area: Option<&AreaCode>) -> Result<String, NumberRefusal> {
    KazakhNumber::parse(number, area).map(|n| n.e164())
}

/// Why a callback cannot start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The specialist is not configured or cannot be reached.
    #[error("the specialist cannot be rung: {0}")]
    Specialist(String),
    /// The number is not one the centre calls back (abroad, outside
    /// Kazakhstan's ranges, incomplete).
    #[error("the number cannot be called back: {0}")]
    Refused(#[from] NumberRefusal),
    /// No trunk is configured to call numbers through.
    #[error("the number cannot be called: {0}")]
    Number(String),
}

/// One click-to-call, sans-IO: the flow and its two legs.
#[derive(Debug)]
pub struct ClickToCall {
    /// The follow-up call's id (`follow_up_calls.id`).
    id: String,
    order: ClickToCallOrder,
    clock: WallClock,
    flow: Flow,
    legs: Legs,
    specialist_leg: Option<LegId>,
    callee_leg: Option<LegId>,
    answered_at: Option<i64>,
    /// When the flow ended (the legs may still finish their SIP).
    over_at: Option<Instant>,
    hard_limit: Instant,
    out: VecDeque<Output>,
}

impl ClickToCall {
    /// Check that both sides can be reached, then ring the specialist.
    pub fn start(
        cfg: Arc<CallConfig>,
        clock: WallClock,
        id: String,
        order: ClickToCallOrder,
    ) -> Result<ClickToCall, StartError> {
        let now = clock.at;
        let target =
            legs::specialist_target(&cfg, &order.specialist).map_err(StartError::Specialist)?;
        let mut order = order;
        order.number = callable(&order.number, cfg.callbacks.area_code.as_ref())?;
        if cfg.outbound.dial_trunk().is_none() {
            return Err(StartError::Number(
                "no trunk is configured to call numbers through".into(),
            ));
        }
        let mut whisper = Vec::new();
        if let Some(s) = &order.service {
            whisper.push(format!("service-{s}"));
        }
        whisper.push(format!("language-{}", order.language.code()));
        whisper.push("whisper-callback".to_string());
        let plan = LegPlan {
            target,
            whisper,
            language: order.language,
            ring_timeout: SPECIALIST_RING,
            bridge_on_answer: false,
            caller_identity: None,
            hide_centre_name: false,
        };
        let mut c = ClickToCall {
            id,
            clock,
            flow: Flow::new(),
            legs: Legs::new(cfg),
            specialist_leg: None,
            callee_leg: None,
            answered_at: None,
            over_at: None,
            hard_limit: now + HARD_LIMIT,
            out: VecDeque::new(),
            order,
        };
        let purpose = LegPurpose::Specialist(c.order.specialist.clone());
        c.specialist_leg = Some(c.legs.place(purpose, plan, &mut c.out));
        Ok(c)
    }

    /// The flow's stage.
    pub fn stage(&self) -> Stage {
        self.flow.stage()
    }

    fn events(&mut self, now: Instant) {
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
                LegEvent::NotPlaced { id, why, .. } if Some(id) == self.specialist_leg => {
                    tracing::info!(%why, "cannot ring the specialist");
                    Some(Input::SpecialistEnded(LegEnd::Failed(why)))
                }
                LegEvent::NotPlaced { id, why, .. } if Some(id) == self.callee_leg => {
                    tracing::info!(%why, "cannot call the number back");
                    Some(Input::CalleeEnded(LegEnd::Failed(why)))
                }
                LegEvent::Record { step, .. } => {
                    tracing::info!(%step, "callback leg");
                    None
                }
                _ => None,
            };
            if let Some(input) = input {
                let out = self.flow.handle(input);
                self.outputs(now, out);
            }
        }
        if self.flow.stage() == Stage::Over && self.over_at.is_none() {
            self.over_at = Some(now);
        }
    }

    fn outputs(&mut self, now: Instant, outputs: Vec<FlowOutput>) {
        for o in outputs {
            match o {
                FlowOutput::HoldSpecialist => {
                    if let Some(id) = self.specialist_leg {
                        self.legs.play_loop(id, HOLD, &mut self.out);
                    }
                }
                FlowOutput::CallCallee => self.call_callee(now),
                FlowOutput::Bridge => {
                    self.answered_at = Some(self.clock.epoch_ms(now));
                    for id in [self.specialist_leg, self.callee_leg].into_iter().flatten() {
                        self.legs.bridge(id, &mut self.out);
                    }
                    self.out.push_back(Output::Metric(Metric::Connected));
                    tracing::info!("callback bridged");
                }
                FlowOutput::HangUpSpecialist => {
                    if let Some(id) = self.specialist_leg {
                        self.legs.hang_up(now, id, &mut self.out);
                    }
                }
                FlowOutput::HangUpCallee => {
                    if let Some(id) = self.callee_leg {
                        self.legs.hang_up(now, id, &mut self.out);
                    }
                }
                FlowOutput::Finished(outcome) => {
                    if self.answered_at.is_some() {
                        self.out.push_back(Output::Metric(Metric::Disconnected));
                    }
                    tracing::info!(outcome = outcome.as_str(), "callback over");
                    self.out
                        .push_back(Output::Record(Box::new(RecordOp::FollowUpCallEnded {
                            id: self.id.clone(),
                            at: self.clock.epoch_ms(now),
                            answered_at: self.answered_at,
                            outcome: outcome.as_str(),
                        })));
                }
            }
        }
    }

    fn call_callee(&mut self, now: Instant) {
        match legs::via_trunk(self.legs.config(), &self.order.number) {
            Ok(target) => {
                let plan = LegPlan {
                    target,
                    whisper: vec![],
                    language: self.order.language,
                    ring_timeout: CALLEE_RING,
                    bridge_on_answer: true,
                    caller_identity: None,
                    hide_centre_name: self.order.hide_centre_name,
                };
                let purpose = LegPurpose::Callee(self.order.follow_up.clone());
                self.callee_leg = Some(self.legs.place(purpose, plan, &mut self.out));
            }
            Err(why) => {
                tracing::info!(%why, "cannot call the number back");
                let out = self.flow.handle(Input::CalleeEnded(LegEnd::Failed(why)));
                self.outputs(now, out);
            }
        }
    }
}

impl CallCore for ClickToCall {
    fn handle_sip(&mut self, now: Instant, input: SipInput) {
        match input {
            SipInput::Request { key, request, .. } => {
                if !self.legs.on_request(now, key, &request, &mut self.out) {
                    let response =
                        message::response(&request, 481, "Call/Transaction Does Not Exist", None);
                    self.out.push_back(Output::Respond { key, response });
                }
            }
            SipInput::Response { response, .. } => {
                let call_id = message::call_id(&rsip::SipMessage::Response(response.clone()))
                    .unwrap_or_default();
                self.legs
                    .on_response(now, &call_id, &response, &mut self.out);
            }
            SipInput::Timeout {
                call_id, method, ..
            } => {
                if method == Method::Invite || method == Method::Bye {
                    self.legs.on_timeout(now, &call_id, method, &mut self.out);
                }
            }
            SipInput::Shutdown => {
                let out = self.flow.handle(Input::Shutdown);
                self.outputs(now, out);
            }
            SipInput::Ack { .. } | SipInput::Cancel { .. } => {}
        }
        self.events(now);
    }

    fn handle_rtp(&mut self, now: Instant, media: MediaId, data: &[u8], from: SocketAddr) {
        let MediaId::Leg(leg) = media else {
            return;
        };
        if let Some(relay) = self.legs.rtp(now, leg, data, from, &mut self.out) {
            let other = if Some(relay.leg) == self.specialist_leg {
                self.callee_leg
            } else if Some(relay.leg) == self.callee_leg {
                self.specialist_leg
            } else {
                None
            };
            if let Some(other) = other {
                self.legs.relay_into(
                    other,
                    data,
                    relay.codec,
                    relay.telephone_event,
                    &mut self.out,
                );
            }
        }
        self.events(now);
    }

    fn handle_prompt_finished(&mut self, now: Instant, media: MediaId, token: u64) {
        if let MediaId::Leg(leg) = media {
            self.legs.prompt_finished(now, leg, token, &mut self.out);
            self.events(now);
        }
    }

    fn handle_leg_prepared(
        &mut self,
        now: Instant,
        leg: LegId,
        result: Result<PreparedLeg, String>,
    ) {
        self.legs.prepared(now, leg, result, &mut self.out);
        self.events(now);
    }

    fn handle_timeout(&mut self, now: Instant) {
        if now >= self.hard_limit && self.flow.stage() != Stage::Over {
            let out = self.flow.handle(Input::Shutdown);
            self.outputs(now, out);
        }
        self.legs.handle_timeout(now, &mut self.out);
        self.events(now);
    }

    fn poll_output(&mut self) -> Option<Output> {
        crate::io::pop_output(&mut self.out)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let drain = self.over_at.map(|t| t + DRAIN);
        [self.legs.poll_timeout(), drain, Some(self.hard_limit)]
            .into_iter()
            .flatten()
            .min()
    }

    fn is_finished(&self, now: Instant) -> bool {
        match self.over_at {
            Some(t) => self.legs.is_empty() || now >= t + DRAIN,
            None => false,
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
            vec![FlowOutput::HoldSpecialist, FlowOutput::CallCallee]
        );
        assert_eq!(f.handle(Input::CalleeAnswered), vec![FlowOutput::Bridge]);
        assert_eq!(
            f.handle(Input::CalleeEnded(LegEnd::Answered)),
            vec![
                FlowOutput::HangUpSpecialist,
                FlowOutput::Finished(Outcome::Talked)
            ]
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
            vec![FlowOutput::Finished(Outcome::SpecialistNoAnswer)]
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
                FlowOutput::HangUpSpecialist,
                FlowOutput::Finished(Outcome::CalleeBusy)
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
                FlowOutput::HangUpCallee,
                FlowOutput::Finished(Outcome::SpecialistLeft)
            ]
        );
    }

    #[test]
    fn shutdown_hangs_up_both() {
        let mut f = Flow::new();
        f.handle(Input::SpecialistAccepted);
        f.handle(Input::CalleeAnswered);
        let out = f.handle(Input::Shutdown);
        assert!(
            out.contains(&FlowOutput::HangUpSpecialist) && out.contains(&FlowOutput::HangUpCallee)
        );
        assert!(out.contains(&FlowOutput::Finished(Outcome::Shutdown)));
    }

    #[test]
    fn only_numbers_in_kazakhstan_are_called_back() {
        let oskemen = AreaCode::parse("7232").ok();
        for (number, e164) in [
            ("+77231234567", "+77231234567"),
            ("87231234567", "+77231234567"),
            ("77011234567", "+77011234567"),
            ("771922", "+77232771922"),
        ] {
            assert_eq!(
                callable(number, oskemen.as_ref()).as_deref(),
                Ok(e164),
                "{number}"
            );
        }
        for bad in [
            "+4412345678901",
            "0012345678",
            "81012345678901",
            "+79161234567",
            "89161234567",
            "88091234567",
            "+123",
            "",
            "12a45",
            "012345",
            "+87231234567",
            "1234",
        ] {
            assert!(callable(bad, oskemen.as_ref()).is_err(), "{bad}");
        }
        assert!(
            callable("771922", None).is_err(),
            "no area code, no local numbers"
        );
    }
}
