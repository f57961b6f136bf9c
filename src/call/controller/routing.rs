//! The call's routing side: asking the router for a specialist, ringing
//! specialists with outbound legs (whisper, accept key), the queue's audio,
//! the bridge (media relayed both ways), and transfers to partner centres by
//! REFER or by a bridged leg.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rsip::Method;
use senim_dialplan::{Event as PlanEvent, RouteOutcome, TransferOutcome};
use senim_media::prompts::Language;
use senim_routing::partners::Contact;
use senim_routing::router::{Action as RouterAction, CallId, LegResult, OverflowReason, Record};
use senim_routing::specialists::{Skill, SpecialistId};
use senim_routing::strategy::{RouteRequest, Strategy};
use senim_sip::message::{self, Peer};
use senim_sip::refer::{ReferConfig, ReferState, ReferTransfer};
use senim_sip::transaction::TxKey;
use tokio::sync::mpsc;

use super::{epoch_ms, Call, Phase};
use crate::call::leg::LegEnd;
use crate::call::legs::{LegEvent, LegPlan};
use crate::call::outbound::{peer_of_uri, relay_packet, LegInput, LegPurpose};
use crate::driver::router::ToRouter;
use crate::driver::sip::ToEndpoint;
use crate::store::RecordOp;

/// After the call ended, how long its legs may take to finish (a CANCEL
/// waits for a provisional response; see `leg::CANCEL_GUARD`).
pub(super) const LEG_DRAIN: Duration = Duration::from_secs(35);
/// How long a partner's phone may ring before the next number is tried.
const PARTNER_RING: Duration = Duration::from_secs(30);
/// The hold audio, looped while the caller waits.
const HOLD: &str = "queue-hold";

/// A call being routed by the router (from the `<route>` node to the
/// bridge, overflow, closed, callback or emergency).
pub(super) struct Routing {
    node: String,
    service: Skill,
    /// Routing is over (bridged): the channel only brings late actions.
    done: bool,
    /// Announcements to play before the hold audio resumes.
    pending: VecDeque<&'static str>,
    /// Whether the hold audio plays now (an announcement may interrupt it).
    playing_hold: bool,
    playing: bool,
    /// The caller heard "all busy" (with the callback offer) on entering the queue.
    announced_busy: bool,
}

/// A transfer to a partner centre in progress.
pub(super) struct PartnerTransfer {
    node: String,
    partner: String,
    /// Numbers or URIs not yet tried, in the directory's order.
    contacts: VecDeque<Contact>,
    refer: Option<ReferTransfer>,
    playing: bool,
}

impl Call {
    fn router_call(&self) -> CallId {
        CallId::new(self.id.clone())
    }

    fn now_std() -> Instant {
        Instant::now()
    }

    // -- routing ----------------------------------------------------------

    /// The plan's `<route>`: ask the router; the caller hears hold audio.
    pub(super) fn start_route(
        &mut self,
        node: String,
        service: &str,
        strategy: &str,
        ring: Duration,
        max_wait: Duration,
        other_language: bool,
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
        let (tx, rx) = mpsc::unbounded_channel();
        self.ctx.router.send(ToRouter::Start {
            call: self.router_call(),
            request,
            actions: tx,
        });
        self.router_rx = Some(rx);
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
    pub(super) fn router_action(&mut self, action: RouterAction) {
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
                timeout,
            } => {
                for s in specialists {
                    self.ring(s, timeout);
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
        self.legs.cancel_where(|l| l.specialist().is_some());
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
                self.bridge_to(id);
                self.flow_event(PlanEvent::RouteResult(RouteOutcome::Connected));
            }
            None => {
                // The specialist hung up before the bridge was made.
                self.ctx.router.send(ToRouter::CallEnded {
                    call: self.router_call(),
                });
                self.routing = None;
                self.flow_event(PlanEvent::RouteResult(RouteOutcome::Connected));
                self.flow_event(PlanEvent::PeerHungUp);
            }
        }
    }

    fn cancel_specialists(&mut self, specialists: &[SpecialistId]) {
        let ids: Vec<u64> = self
            .legs
            .iter()
            .filter(|l| l.specialist().is_some_and(|s| specialists.contains(s)))
            .map(|l| l.id)
            .collect();
        for id in ids {
            if self.bridge != Some(id) {
                self.legs.cancel(id);
            }
        }
    }

    /// Ring one specialist; a leg that cannot be placed is reported failed.
    fn ring(&mut self, specialist: SpecialistId, timeout: Duration) {
        let placed = self.specialist_plan(&specialist, timeout).and_then(|plan| {
            self.legs
                .place(LegPurpose::Specialist(specialist.clone()), plan)
        });
        if let Err(why) = placed {
            tracing::info!(specialist = %specialist, %why, "cannot ring");
            let node = self.leg_node();
            self.record_step(&node, format!("{specialist}: cannot ring: {why}"));
            self.ctx.router.send(ToRouter::LegResult {
                call: self.router_call(),
                specialist,
                result: LegResult::Failed,
            });
        }
    }

    fn specialist_plan(&self, id: &SpecialistId, timeout: Duration) -> Result<LegPlan, String> {
        let (target, peer) = self.ctx.specialist_target(id)?;
        let service = self.routing.as_ref().map_or("", |r| r.service.as_str());
        Ok(LegPlan {
            target,
            peer,
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

    /// The caller's number for the specialist's display, only when the
    /// centre chose to share it.
    fn shared_caller_identity(&self) -> Option<String> {
        if self.ctx.outbound.share_caller_number {
            super::caller_number(&self.invite)
        } else {
            None
        }
    }

    fn language(&self) -> Language {
        Language::from_code(self.flow.language()).unwrap_or(Language::Ru)
    }

    /// The node a leg's steps are recorded under.
    fn leg_node(&self) -> String {
        if let Some(t) = &self.transfer {
            return t.node.clone();
        }
        self.routing
            .as_ref()
            .map_or_else(|| self.flow.node().to_string(), |r| r.node.clone())
    }

    /// Act on what the legs did. Bounded: each event comes from one input.
    pub(super) fn leg_events(&mut self) {
        for _ in 0..256 {
            let Some(event) = self.legs.poll_event() else {
                break;
            };
            self.leg_event(event);
        }
    }

    fn leg_event(&mut self, event: LegEvent) {
        match event {
            LegEvent::PickedUp { purpose, .. } => {
                if let LegPurpose::Specialist(specialist) = purpose {
                    self.ctx.router.send(ToRouter::LegPickedUp {
                        call: self.router_call(),
                        specialist,
                    });
                }
            }
            LegEvent::Accepted { id, purpose } => match purpose {
                LegPurpose::Specialist(specialist) => {
                    // Bridging waits for the router's Bridge.
                    self.ctx.router.send(ToRouter::LegResult {
                        call: self.router_call(),
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
        }
    }

    fn send_request(&self, request: rsip::Request, peer: Peer) {
        let _ = self.endpoint.send(ToEndpoint::Request {
            call_id: self.sip_call_id.clone(),
            request,
            peer,
        });
    }

    fn leg_ended(&mut self, id: u64, purpose: LegPurpose, end: LegEnd) {
        if self.bridge == Some(id) {
            self.bridge = None;
            self.bridge_ended();
            match purpose {
                LegPurpose::Specialist(_) => {
                    self.ctx.router.send(ToRouter::CallEnded {
                        call: self.router_call(),
                    });
                    self.routing = None;
                    if self.phase != Phase::Ended {
                        tracing::info!("the specialist hung up; the caller stays");
                        self.restart_caller_stream();
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
                        self.ctx.router.send(ToRouter::LegResult {
                            call: self.router_call(),
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
                    let result = end.ring_result();
                    let text = serde_json::to_value(result)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string));
                    let detail = serde_json::json!({ "partner": partner, "how": "bridged", "result": result });
                    self.record_transfer_end(&partner, text, detail);
                    if let Some(ev) = self.transfer_next() {
                        self.flow_event(ev);
                    }
                }
            }
            LegPurpose::Callee(_) => {}
        }
    }

    /// Relay starts: the caller's prompts and the whisper stop.
    fn bridge_to(&mut self, id: u64) {
        if self.bridge.is_none() {
            self.ctx
                .sip_stats
                .calls_connected
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        self.bridge = Some(id);
        self.prompt_token = 0;
        self.prompt_queue.clear();
        if let Some(m) = self.media.as_mut() {
            m.stream = None;
        }
        self.legs.bridge(id);
        tracing::info!("bridged");
    }

    /// The conversation ended (for the connected-calls gauge).
    pub(super) fn bridge_ended(&self) {
        let _ = self.ctx.sip_stats.calls_connected.fetch_update(
            std::sync::atomic::Ordering::Relaxed,
            std::sync::atomic::Ordering::Relaxed,
            |n| n.checked_sub(1),
        );
    }

    fn restart_caller_stream(&mut self) {
        let remote = self.media.as_ref().and_then(|m| m.remote);
        if let Some(remote) = remote {
            self.start_stream(remote);
        }
    }

    // -- media of legs ------------------------------------------------------

    /// RTP or a prompt event from a leg: a bridged leg's RTP goes to the caller.
    pub(super) fn leg_input(&mut self, input: LegInput) {
        let Some(relay) = self.legs.input(input) else {
            return;
        };
        if self.bridge != Some(relay.leg) {
            return;
        }
        if let Some(m) = self.media.as_ref() {
            if let (Some(remote), Some(out)) = (
                m.remote,
                relay_packet(
                    &relay.data,
                    relay.codec,
                    relay.telephone_event,
                    m.codec,
                    m.telephone_event,
                ),
            ) {
                let _ = m.socket.get_ref().send_to(&out, remote);
            }
        }
    }

    /// The caller's RTP during a bridge goes to the other leg. True if relayed.
    pub(super) fn relay_from_caller(&mut self, data: &[u8]) -> bool {
        let Some(id) = self.bridge else {
            return false;
        };
        if let Some(m) = self.media.as_ref() {
            self.legs.relay_into(id, data, m.codec, m.telephone_event);
        }
        true
    }

    // -- SIP of legs --------------------------------------------------------

    /// A response for a request this call sent: a leg's, or the REFER's.
    pub(super) fn response(&mut self, response: rsip::Response) {
        let sip = rsip::SipMessage::Response(response);
        let call_id = message::call_id(&sip).unwrap_or_default();
        let rsip::SipMessage::Response(response) = sip else {
            return;
        };
        if self.legs.on_response(&call_id, &response) {
            return;
        }
        let is_refer = message::cseq(&rsip::SipMessage::Response(response.clone()))
            .is_some_and(|(_, m)| m == Method::Refer);
        if call_id == self.sip_call_id && is_refer {
            if let Some(refer) = self.transfer.as_mut().and_then(|t| t.refer.as_mut()) {
                refer.on_response(&response, Self::now_std());
            }
            self.check_refer();
        }
    }

    /// A transaction of this call timed out.
    pub(super) fn request_timeout(&mut self, call_id: &str, method: Method) {
        if self.legs.on_timeout(call_id, method) {
            return;
        }
        if method == Method::Refer {
            if let Some(refer) = self.transfer.as_mut().and_then(|t| t.refer.as_mut()) {
                refer.on_transaction_timeout();
            }
            self.check_refer();
        }
    }

    /// A request in a leg's dialog. False if no leg has that Call-ID.
    pub(super) fn leg_request(&mut self, key: TxKey, request: &rsip::Request) -> bool {
        self.legs.on_request(key, request)
    }

    /// The next moment a leg or the transfer needs the clock.
    pub(super) fn leg_wake(&self) -> Option<tokio::time::Instant> {
        let refer = self
            .transfer
            .as_ref()
            .and_then(|t| t.refer.as_ref())
            .and_then(|r| r.poll_timeout());
        self.legs
            .wake()
            .into_iter()
            .chain(refer)
            .min()
            .map(tokio::time::Instant::from_std)
    }

    pub(super) fn leg_timeouts(&mut self) {
        let now = Self::now_std();
        self.legs.handle_timeouts();
        let due = self
            .transfer
            .as_ref()
            .and_then(|t| t.refer.as_ref())
            .and_then(|r| r.poll_timeout())
            .is_some_and(|t| t <= now);
        if due {
            if let Some(refer) = self.transfer.as_mut().and_then(|t| t.refer.as_mut()) {
                refer.handle_timeout(now);
            }
            self.check_refer();
        }
    }

    /// The caller's call ends: stop ringing, hang up the bridge, tell the router.
    pub(super) fn end_legs(&mut self) {
        if self.routing.is_some() || self.bridge.is_some() {
            self.ctx.router.send(ToRouter::CallerHungUp {
                call: self.router_call(),
            });
        }
        self.routing = None;
        self.legs.hang_up_all();
        self.leg_events();
        if self.bridge.take().is_some() {
            self.bridge_ended();
        }
    }

    // -- the caller's audio while waiting -------------------------------------

    /// Does routing or a transfer own the caller's audio (not the plan)?
    pub(super) fn background_owns_audio(&self) -> bool {
        self.bridge.is_none()
            && (self.routing.as_ref().is_some_and(|r| !r.done)
                || self.transfer.as_ref().is_some_and(|t| t.playing))
    }

    /// The prompt that played ended: the next announcement or the hold audio.
    pub(super) fn background_next(&mut self) {
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
        let lang = Language::from_code(self.flow.language()).unwrap_or(Language::Ru);
        let Some(prompt) = self.ctx.prompts.get(id, lang) else {
            tracing::warn!(prompt = id, "prompt missing");
            return false;
        };
        self.prompt_queue.clear();
        match self.media.as_mut().and_then(|m| m.stream.as_mut()) {
            Some(s) => {
                self.prompt_token = s.play(prompt);
                true
            }
            None => false,
        }
    }

    fn stop_caller_audio(&mut self) {
        self.prompt_token = 0;
        self.prompt_queue.clear();
        if let Some(s) = self.media.as_ref().and_then(|m| m.stream.as_ref()) {
            s.stop();
        }
    }

    // -- transfers to partners ------------------------------------------------

    /// The plan's `<transfer>`: REFER through the caller's trunk when it
    /// takes REFER, otherwise a bridged leg; each of the partner's numbers
    /// in turn; then the plan's fallback.
    pub(super) fn start_transfer(&mut self, node: String, partner: String) -> Option<PlanEvent> {
        let Some(p) = self.ctx.partners.get(&partner) else {
            self.record_step(
                &node,
                format!("transfer to unknown partner {partner} refused"),
            );
            return Some(PlanEvent::TransferResult(TransferOutcome::Failed));
        };
        let contacts = p.contacts().iter().cloned().collect();
        self.transfer = Some(PartnerTransfer {
            node,
            partner,
            contacts,
            refer: None,
            playing: false,
        });
        let ev = self.transfer_next();
        if ev.is_none() && self.bridge.is_none() {
            self.background_next();
        }
        ev
    }

    /// Try the partner's next number; None while an attempt is under way,
    /// else the plan's answer (failed: nothing left to try).
    fn transfer_next(&mut self) -> Option<PlanEvent> {
        // Bounded by the directory entry's list of numbers.
        for _ in 0..16 {
            let t = self.transfer.as_mut()?;
            t.refer = None;
            let Some(contact) = t.contacts.pop_front() else {
                break;
            };
            let partner = t.partner.clone();
            match self.try_contact(&partner, &contact) {
                Ok(how) => {
                    self.record_routing(
                        "transfer-attempt",
                        None,
                        Some(partner.clone()),
                        None,
                        None,
                        serde_json::json!({ "partner": partner, "how": how }),
                    );
                    return None;
                }
                Err(why) => {
                    tracing::info!(%partner, %why, "transfer attempt impossible");
                    self.record_transfer_end(
                        &partner,
                        Some("failed".into()),
                        serde_json::json!({ "partner": partner, "why": why }),
                    );
                }
            }
        }
        let t = self.transfer.take()?;
        if t.playing {
            self.stop_caller_audio();
        }
        self.record_step(&t.node, format!("transfer to {} failed", t.partner));
        Some(PlanEvent::TransferResult(TransferOutcome::Failed))
    }

    fn try_contact(&mut self, partner: &str, contact: &Contact) -> Result<&'static str, String> {
        match contact {
            Contact::Number(n) => {
                let refer_trunk = self
                    .ctx
                    .outbound
                    .trunk_of(self.peer.addr)
                    .filter(|t| t.refer)
                    .map(|t| (t.address, t.refer_no_subscription));
                if let Some((address, no_subscription)) = refer_trunk {
                    self.send_refer(n, address, no_subscription)?;
                    return Ok("refer");
                }
                let (target, peer) = self.ctx.via_trunk(n)?;
                self.place_partner_leg(partner, target, peer)?;
                Ok("bridged")
            }
            Contact::Uri(u) => {
                let uri = rsip::Uri::try_from(u.as_str()).map_err(|e| e.to_string())?;
                let peer = peer_of_uri(&uri)
                    .ok_or_else(|| "the URI's host is not an IP address over UDP".to_string())?;
                self.place_partner_leg(partner, uri, peer)?;
                Ok("bridged")
            }
        }
    }

    fn place_partner_leg(
        &mut self,
        partner: &str,
        target: rsip::Uri,
        peer: Peer,
    ) -> Result<(), String> {
        let plan = LegPlan {
            target,
            peer,
            whisper: vec![],
            language: self.language(),
            ring_timeout: PARTNER_RING,
            bridge_on_answer: true,
            caller_identity: self.shared_caller_identity(),
            hide_centre_name: false,
        };
        self.legs
            .place(LegPurpose::Partner(partner.to_string()), plan)
            .map(|_| ())
    }

    fn send_refer(
        &mut self,
        number: &str,
        trunk: SocketAddr,
        no_subscription: bool,
    ) -> Result<(), String> {
        let digits: String = number
            .chars()
            .filter(|c| c.is_ascii_digit() || *c == '+')
            .collect();
        let target = rsip::Uri::try_from(format!("sip:{digits}@{trunk}").as_str())
            .map_err(|e| e.to_string())?;
        let centre = self.ctx.centre_uri();
        let via = self.ctx.sip_address;
        let transport = self.peer.transport;
        let peer = self.request_peer();
        let dialog = self
            .dialog
            .as_mut()
            .ok_or_else(|| "no dialog with the caller".to_string())?;
        let (refer, request) = ReferTransfer::with_config(
            dialog,
            &target,
            Some(&centre),
            via,
            transport,
            Self::now_std(),
            ReferConfig {
                no_subscription,
                ..ReferConfig::default()
            },
        );
        self.send_request(request, peer);
        if let Some(t) = self.transfer.as_mut() {
            t.refer = Some(refer);
        }
        Ok(())
    }

    /// A NOTIFY in the caller's dialog: the progress of the REFER.
    pub(super) fn notify(&mut self, key: TxKey, request: &rsip::Request) {
        let now = Self::now_std();
        let answer = self
            .transfer
            .as_mut()
            .and_then(|t| t.refer.as_mut())
            .map(|r| r.on_notify(request, now));
        let tag = self.dialog.as_ref().map(|d| d.id.local_tag.clone());
        match answer {
            Some(a) => {
                self.respond(key, a.response(request));
                self.check_refer();
            }
            None => {
                let r =
                    message::response(request, 481, "Subscription Does Not Exist", tag.as_deref());
                self.respond(key, r);
            }
        }
    }

    fn check_refer(&mut self) {
        let Some(state) = self
            .transfer
            .as_ref()
            .and_then(|t| t.refer.as_ref())
            .map(|r| r.state())
        else {
            return;
        };
        let partner = self
            .transfer
            .as_ref()
            .map(|t| t.partner.clone())
            .unwrap_or_default();
        match state {
            ReferState::Succeeded => {
                self.record_transfer_end(
                    &partner,
                    Some("answered".into()),
                    serde_json::json!({ "partner": partner, "how": "refer" }),
                );
                self.transfer = None;
                self.stop_caller_audio();
                self.flow_event(PlanEvent::TransferResult(TransferOutcome::Transferred));
            }
            ReferState::Failed(why) => {
                let detail = serde_json::json!({ "partner": partner, "how": "refer", "why": format!("{why:?}") });
                self.record_transfer_end(&partner, Some("failed".into()), detail);
                if let Some(ev) = self.transfer_next() {
                    self.flow_event(ev);
                }
            }
            _ => {}
        }
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

    /// How an attempt to reach a partner ended (`result`: answered, failed, ...).
    fn record_transfer_end(
        &mut self,
        partner: &str,
        result: Option<String>,
        detail: serde_json::Value,
    ) {
        self.record_routing(
            "transfer-ended",
            None,
            Some(partner.to_string()),
            result,
            None,
            detail,
        );
    }

    fn record_routing(
        &mut self,
        step: &str,
        specialist: Option<String>,
        partner: Option<String>,
        result: Option<String>,
        wait_ms: Option<i64>,
        detail: serde_json::Value,
    ) {
        self.routing_seq += 1;
        self.record(RecordOp::Routing {
            call: self.id.clone(),
            seq: self.routing_seq,
            at: epoch_ms(),
            step: step.to_string(),
            specialist,
            partner,
            result,
            wait_ms,
            detail: detail.to_string(),
        });
    }
}
