//! The call's routing side: asking the router for a specialist, ringing
//! specialists with outbound legs (whisper, accept key), the queue's audio,
//! the bridge (media relayed both ways), and what the legs report.

use std::collections::VecDeque;
use std::time::Duration;

use senim_dialplan::{Event as PlanEvent, RouteOutcome, TransferOutcome};
use senim_routing::router::{Action as RouterAction, CallId, LegResult, OverflowReason, Record};
use senim_routing::specialists::{Skill, SpecialistContact, SpecialistId};
use senim_routing::strategy::{RouteRequest, Strategy};

use super::state::{Call, Phase, Routing};
use crate::io::{LegId, Metric, Output, RouterRequest};
use crate::leg::LegEnd;
use crate::legs::{self, LegEvent, LegPlan, LegPurpose};
use crate::record::RecordOp;

/// The hold audio, looped while the caller waits.
pub(crate) const HOLD: &str = "queue-hold";

impl Call {
    pub(crate) fn router_call(&self) -> CallId {
        CallId::new(self.id.clone())
    }

    fn tell_router(&mut self, request: RouterRequest) {
        self.out.push_back(Output::Router(Box::new(request)));
    }

    /// The plan's `<route>`: ask the router; the caller hears hold audio.
    #[allow(clippy::too_many_arguments)] // the route node's attributes, one by one
    pub(crate) fn start_route(
        &mut self,
        node: String,
        service: &str,
        strategy: &str,
        ring: Duration,
        max_wait: Duration,
        other_language: bool,
        preferred: Option<String>,
    ) -> Option<PlanEvent> {
        let Some(skill) = Skill::parse(service) else {
            self.record_step(&node, format!("unknown service {service}"));
            return Some(PlanEvent::RouteResult(RouteOutcome::Failed));
        };
        self.service = Some(skill.as_str().to_string());
        self.record(RecordOp::Service {
            call: self.id.clone(),
            service: skill.as_str().to_string(),
        });
        let mut request = RouteRequest::new(skill, self.flow.language());
        request.other_language_allowed = other_language;
        request.strategy = Strategy::parse(strategy).unwrap_or_default();
        request.ring_timeout = ring;
        request.max_wait = max_wait;
        request.preferred = preferred.map(|p| SpecialistId::from(p.as_str()));
        let call = self.router_call();
        self.tell_router(RouterRequest::Start { call, request });
        self.router_held = true;
        self.routing = Some(Routing {
            node,
            service: skill,
            done: false,
            pending: VecDeque::new(),
            playing_hold: false,
            playing: false,
            announced_busy: false,
        });
        self.background_next();
        None
    }

    /// One action from the router for this call.
    pub(crate) fn router_action(&mut self, action: RouterAction) {
        // After routing finished only the record and cancels still matter.
        if self.routing.is_none() {
            match action {
                RouterAction::Record(r) => self.record_router(&r),
                RouterAction::Cancel { specialists } => self.cancel_specialists(&specialists),
                _ => {}
            }
            return;
        }
        if self.phase == Phase::Ended {
            // Late actions: only cancels matter (the legs are already ending).
            if let RouterAction::Cancel { specialists } = action {
                self.cancel_specialists(&specialists);
            }
            return;
        }
        match action {
            RouterAction::Ring {
                specialists,
                contacts,
                timeout,
            } => {
                let mut contacts = contacts.into_iter();
                for s in specialists {
                    let contact = contacts.next();
                    self.ring(s, contact.as_ref(), timeout);
                }
            }
            RouterAction::Cancel { specialists } => self.cancel_specialists(&specialists),
            RouterAction::Bridge { specialist } => self.router_bridge(&specialist),
            RouterAction::EnterQueue => {
                if let Some(r) = self.routing.as_mut() {
                    r.announced_busy = true;
                    r.pending.push_back("all-busy");
                }
                self.interrupt_hold();
            }
            RouterAction::PlayHold => self.background_next_if_idle(),
            RouterAction::AnnouncePosition { position } => {
                let id = match position {
                    1 => "queue-position-1",
                    2 => "queue-position-2",
                    3 => "queue-position-3",
                    4 => "queue-position-4",
                    5 => "queue-position-5",
                    _ => "queue-position-many",
                };
                if let Some(r) = self.routing.as_mut() {
                    r.pending.push_back(id);
                }
                self.interrupt_hold();
            }
            RouterAction::OfferCallback => {
                if let Some(r) = self.routing.as_mut() {
                    // "All busy" already offers the callback on entry.
                    if r.announced_busy {
                        r.announced_busy = false;
                    } else {
                        r.pending.push_back("queue-callback-offer");
                    }
                }
                self.interrupt_hold();
            }
            RouterAction::Overflow { reason } => {
                if let Some(r) = &self.routing {
                    let what = match reason {
                        OverflowReason::NoSpecialist | OverflowReason::NobodyAvailable => {
                            format!("no specialist available for {}", r.service.as_str())
                        }
                        other => format!(
                            "overflow: {}",
                            serde_json::to_value(other)
                                .ok()
                                .and_then(|v| v.as_str().map(str::to_string))
                                .unwrap_or_default()
                        ),
                    };
                    let node = r.node.clone();
                    self.record_step(&node, what);
                }
                self.finish_routing(RouteOutcome::NoAnswer)
            }
            RouterAction::CallbackRequested => {
                if let Some(node) = self.routing.as_ref().map(|r| r.node.clone()) {
                    self.record_step(&node, "callback requested in the queue".into());
                }
                self.finish_routing(RouteOutcome::NoAnswer)
            }
            RouterAction::Closed => self.finish_routing(RouteOutcome::Closed),
            RouterAction::Emergency => self.finish_routing(RouteOutcome::Emergency),
            RouterAction::Record(r) => self.record_router(&r),
        }
    }

    /// Routing ended without a specialist: back to the plan.
    fn finish_routing(&mut self, outcome: RouteOutcome) {
        self.routing = None;
        self.stop_caller_audio();
        // The router cancelled its rings already; make sure nothing rings on.
        self.legs
            .cancel_where(self.now, |p| p.specialist().is_some(), &mut self.out);
        self.flow_event(PlanEvent::RouteResult(outcome));
    }

    /// The router connects the caller to the specialist whose leg accepted.
    fn router_bridge(&mut self, specialist: &SpecialistId) {
        if let Some(r) = self.routing.as_mut() {
            r.done = true;
        }
        let found = self
            .legs
            .iter()
            .find(|l| l.accepted && l.specialist() == Some(specialist))
            .map(|l| l.id);
        match found {
            Some(id) => {
                self.specialist = Some(specialist.as_str().to_string());
                self.remembered_seen(Some(specialist.as_str().to_string()));
                self.bridge_to(id);
                self.flow_event(PlanEvent::RouteResult(RouteOutcome::Connected));
            }
            None => {
                // The specialist hung up before the bridge was made.
                let call = self.router_call();
                self.tell_router(RouterRequest::CallEnded { call });
                self.routing = None;
                self.flow_event(PlanEvent::RouteResult(RouteOutcome::Connected));
                self.flow_event(PlanEvent::PeerHungUp);
            }
        }
    }

    fn cancel_specialists(&mut self, specialists: &[SpecialistId]) {
        let ids: Vec<LegId> = self
            .legs
            .iter()
            .filter(|l| l.specialist().is_some_and(|s| specialists.contains(s)))
            .map(|l| l.id)
            .collect();
        for id in ids {
            if self.bridge != Some(id) {
                self.legs.cancel(self.now, id, &mut self.out);
            }
        }
    }

    /// Ring one specialist, reached at `contact` as the router's roster has
    /// it (else as this call's configuration has it); a leg that cannot be
    /// placed is reported failed.
    fn ring(
        &mut self,
        specialist: SpecialistId,
        contact: Option<&SpecialistContact>,
        timeout: Duration,
    ) {
        match self.specialist_plan(&specialist, contact, timeout) {
            Ok(plan) => {
                self.legs
                    .place(LegPurpose::Specialist(specialist), plan, &mut self.out);
            }
            Err(why) => self.ring_failed(specialist, &why),
        }
    }

    fn ring_failed(&mut self, specialist: SpecialistId, why: &str) {
        tracing::info!(specialist = %specialist, %why, "cannot ring");
        let node = self.leg_node();
        self.record_step(&node, format!("{specialist}: cannot ring: {why}"));
        let call = self.router_call();
        self.tell_router(RouterRequest::LegResult {
            call,
            specialist,
            result: LegResult::Failed,
        });
    }

    fn specialist_plan(
        &self,
        id: &SpecialistId,
        contact: Option<&SpecialistContact>,
        timeout: Duration,
    ) -> Result<LegPlan, String> {
        // The router's contact first: a specialist added by a reload after
        // this call began is not in the call's own configuration.
        let target = match contact {
            Some(contact) => legs::contact_target(&self.cfg, contact)?,
            None => legs::specialist_target(&self.cfg, id)?,
        };
        let service = self.routing.as_ref().map_or("", |r| r.service.as_str());
        Ok(LegPlan {
            target,
            whisper: vec![
                format!("service-{service}"),
                format!("language-{}", self.flow.language()),
                "whisper".to_string(),
            ],
            language: self.language(),
            // The router times the ring; the leg's own timeout is a backstop.
            ring_timeout: timeout + Duration::from_secs(1),
            bridge_on_answer: false,
            caller_identity: self.shared_caller_identity(),
            hide_centre_name: false,
        })
    }

    /// The caller's number for a specialist's display, only when the
    /// centre chose to share it with its own specialists (partners: see
    /// `partner_caller_identity`).
    pub(crate) fn shared_caller_identity(&self) -> Option<String> {
        if self.cfg.outbound.share_caller_number {
            super::dialog::caller_number(&self.invite)
        } else {
            None
        }
    }

    /// The node a leg's steps are recorded under.
    pub(crate) fn leg_node(&self) -> String {
        if let Some(t) = &self.transfer {
            return t.node.clone();
        }
        self.routing
            .as_ref()
            .map_or_else(|| self.flow.node().to_string(), |r| r.node.clone())
    }

    /// Act on what the legs did. Bounded: each event comes from one input.
    pub(crate) fn leg_events(&mut self) {
        for _ in 0..256 {
            let Some(event) = self.legs.poll_event() else {
                break;
            };
            self.leg_event(event);
        }
    }

    fn leg_event(&mut self, event: LegEvent) {
        match event {
            LegEvent::NotPlaced { purpose, why, .. } => match purpose {
                LegPurpose::Specialist(specialist) => self.ring_failed(specialist, &why),
                LegPurpose::Partner(partner) => self.partner_not_placed(&partner, &why),
                LegPurpose::Callee(_) => {}
            },
            LegEvent::PickedUp { purpose, .. } => {
                if let LegPurpose::Specialist(specialist) = purpose {
                    let call = self.router_call();
                    self.tell_router(RouterRequest::LegPickedUp { call, specialist });
                }
            }
            LegEvent::Accepted { id, purpose } => match purpose {
                LegPurpose::Specialist(specialist) => {
                    // Bridging waits for the router's Bridge.
                    let call = self.router_call();
                    self.tell_router(RouterRequest::LegResult {
                        call,
                        specialist,
                        result: LegResult::Answered,
                    });
                }
                LegPurpose::Partner(partner) => {
                    self.bridge_to(id);
                    self.record_transfer_end(
                        &partner,
                        Some("answered".into()),
                        serde_json::json!({ "partner": partner, "how": "bridged" }),
                    );
                    self.transfer = None;
                    self.flow_event(PlanEvent::TransferResult(TransferOutcome::Transferred));
                }
                LegPurpose::Callee(_) => {}
            },
            LegEvent::Ended { id, purpose, end } => self.leg_ended(id, purpose, end),
            LegEvent::Record { step, .. } => {
                let node = self.leg_node();
                self.record_step(&node, step);
            }
            LegEvent::WrapUpCode { purpose, kind, .. } => {
                if let LegPurpose::Specialist(specialist) = purpose {
                    self.wrap_up_code(specialist, kind);
                }
            }
        }
    }

    /// The wrap-up menu's answer: stored on the call, and told to the
    /// router (the kind's rest and the crisis count, or the end of the hold).
    fn wrap_up_code(&mut self, specialist: SpecialistId, kind: Option<String>) {
        tracing::info!(specialist = %specialist, kind = kind.as_deref().unwrap_or("none"), "wrap-up");
        if let Some(k) = &kind {
            self.record(RecordOp::WrapUp {
                call: self.id.clone(),
                kind: k.clone(),
            });
        }
        let call = self.router_call();
        self.tell_router(RouterRequest::WrapUp {
            call,
            specialist,
            kind,
        });
    }

    fn leg_ended(&mut self, id: LegId, purpose: LegPurpose, end: LegEnd) {
        if self.bridge == Some(id) {
            self.bridge = None;
            self.bridge_ended();
            match purpose {
                LegPurpose::Specialist(specialist) => {
                    let call = self.router_call();
                    self.tell_router(RouterRequest::CallEnded { call });
                    // The specialist hung up: no menu on their phone. The
                    // kind may still be given from their page.
                    self.tell_router(RouterRequest::WrapUp {
                        call: self.router_call(),
                        specialist,
                        kind: None,
                    });
                    self.routing = None;
                    if self.phase != Phase::Ended {
                        tracing::info!("the specialist hung up; the caller stays");
                        self.start_caller_stream();
                        self.flow_event(PlanEvent::PeerHungUp);
                    }
                }
                LegPurpose::Partner(_) | LegPurpose::Callee(_) => {
                    if self.phase != Phase::Ended {
                        self.send_bye();
                        self.end("transferred", Some("partner"));
                    }
                }
            }
            return;
        }
        match purpose {
            LegPurpose::Specialist(specialist) => {
                if let Some(result) = end.routing_result() {
                    if result != LegResult::Answered {
                        let call = self.router_call();
                        self.tell_router(RouterRequest::LegResult {
                            call,
                            specialist,
                            result,
                        });
                    }
                    // Accepted, then hung up before the router bridged: the
                    // leg is gone, so the router's Bridge finds none and
                    // moves on.
                }
            }
            LegPurpose::Partner(partner) => {
                if self.phase != Phase::Ended && end != LegEnd::Cancelled {
                    self.partner_leg_ended(&partner, &end);
                }
            }
            LegPurpose::Callee(_) => {}
        }
    }

    /// The bridged specialist's leg stays up for the wrap-up menu, when one
    /// is configured; its id.
    fn start_wrap_up(&mut self) -> Option<LegId> {
        let menu = self.cfg.outbound.wrap_up.clone()?;
        let id = self.bridge?;
        self.legs.get(id)?.specialist()?;
        self.legs
            .wrap_up(self.now, id, menu, &mut self.out)
            .then_some(id)
    }

    /// Relay starts: the caller's prompts and the whisper stop.
    pub(crate) fn bridge_to(&mut self, id: LegId) {
        if self.bridge.is_none() {
            self.out.push_back(Output::Metric(Metric::Connected));
        }
        self.bridge = Some(id);
        if let Some(m) = self.media.as_mut() {
            m.stop_stream(&mut self.out);
        }
        self.legs.bridge(id, &mut self.out);
        tracing::info!("bridged");
    }

    /// The conversation ended (for the connected-calls gauge).
    pub(crate) fn bridge_ended(&mut self) {
        self.out.push_back(Output::Metric(Metric::Disconnected));
    }

    /// The caller's call ends: stop ringing, hang up the bridge (or keep a
    /// specialist's leg for the wrap-up menu), tell the router.
    pub(crate) fn end_legs(&mut self) {
        if self.routing.is_some() || self.bridge.is_some() {
            let call = self.router_call();
            self.tell_router(RouterRequest::CallerHungUp { call });
        }
        self.routing = None;
        let keep = self.start_wrap_up();
        self.legs.hang_up_all_but(self.now, keep, &mut self.out);
        self.leg_events();
        if self.bridge.take().is_some() {
            self.bridge_ended();
        }
    }

    // -- the caller's audio while waiting -------------------------------------

    /// Does routing or a transfer own the caller's audio (not the plan)?
    pub(crate) fn background_owns_audio(&self) -> bool {
        self.bridge.is_none()
            && (self.routing.as_ref().is_some_and(|r| !r.done)
                || self.transfer.as_ref().is_some_and(|t| t.playing))
    }

    /// The prompt that played ended: the next announcement or the hold audio.
    pub(crate) fn background_next(&mut self) {
        let next = if let Some(r) = self.routing.as_mut().filter(|r| !r.done) {
            let next = r.pending.pop_front();
            r.playing_hold = next.is_none();
            r.playing = true;
            next.unwrap_or(HOLD)
        } else if let Some(t) = self.transfer.as_mut() {
            t.playing = true;
            HOLD
        } else {
            return;
        };
        if !self.play_background(next) && next != HOLD {
            // A missing announcement: go on with the hold audio.
            self.play_background(HOLD);
        }
    }

    fn background_next_if_idle(&mut self) {
        if self.routing.as_ref().is_some_and(|r| !r.playing) {
            self.background_next();
        }
    }

    /// An announcement is waiting: cut the hold audio short for it.
    fn interrupt_hold(&mut self) {
        if self
            .routing
            .as_ref()
            .is_some_and(|r| r.playing_hold || !r.playing)
        {
            self.background_next();
        }
    }

    fn play_background(&mut self, id: &str) -> bool {
        let Some(prompt) = self.cfg.prompts.get(id, self.language()) else {
            tracing::warn!(prompt = id, "prompt missing");
            return false;
        };
        self.media
            .as_mut()
            .is_some_and(|m| m.play(vec![prompt], &mut self.out))
    }

    // -- the call record ------------------------------------------------------

    fn record_router(&mut self, r: &Record) {
        let detail = serde_json::to_value(r).unwrap_or_default();
        let text = |k: &str| detail.get(k).and_then(|v| v.as_str()).map(str::to_string);
        let step = text("step").unwrap_or_else(|| "unknown".into());
        let specialist = text("specialist").or_else(|| {
            detail
                .get("specialists")
                .and_then(|v| v.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str())
                        .collect::<Vec<_>>()
                        .join(",")
                })
        });
        let result = text("result").or_else(|| text("outcome"));
        let wait_ms = ["ring_ms", "waited_ms"]
            .iter()
            .find_map(|k| detail.get(*k).and_then(serde_json::Value::as_i64));
        self.routing_seq += 1;
        self.record(RecordOp::Routing {
            call: self.id.clone(),
            seq: self.routing_seq,
            at: r.at_ms,
            step,
            specialist,
            partner: None,
            result,
            wait_ms,
            detail: detail.to_string(),
        });
    }

    /// A routing or transfer step of the call's own (not the router's).
    pub(crate) fn record_routing(
        &mut self,
        step: &str,
        partner: Option<String>,
        result: Option<String>,
        detail: serde_json::Value,
    ) {
        self.routing_seq += 1;
        let at = self.epoch_ms();
        self.record(RecordOp::Routing {
            call: self.id.clone(),
            seq: self.routing_seq,
            at,
            step: step.to_string(),
            specialist: None,
            partner,
            result,
            wait_ms: None,
            detail: detail.to_string(),
        });
    }
}
