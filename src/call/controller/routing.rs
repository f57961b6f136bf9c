//! The call's routing side: asking the router for a specialist, ringing
//! specialists with outbound legs (whisper, accept key), the queue's audio,
//! the bridge (media relayed both ways), and transfers to partner centres by
//! REFER or by a bridged leg.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rsip::Method;
use senim_dialplan::{Event as PlanEvent, RouteOutcome, TransferOutcome};
use senim_media::dtmf::{self, InbandDetector};
use senim_media::prompts::Language;
use senim_media::sdp;
use senim_routing::partners::Contact;
use senim_routing::router::{Action as RouterAction, CallId, LegResult, OverflowReason, Record};
use senim_routing::specialists::{Skill, SpecialistContact, SpecialistId};
use senim_routing::strategy::{RouteRequest, Strategy};
use senim_sip::message::{self, Peer, Transport};
use senim_sip::refer::{ReferConfig, ReferState, ReferTransfer};
use senim_sip::transaction::TxKey;
use tokio::sync::mpsc;

use super::{epoch_ms, Call, Phase, CODECS};
use crate::call::leg::{Leg, LegAction, LegConfig, LegEnd};
use crate::call::outbound::{peer_of_uri, relay_packet, LegInput, LegPurpose, LegSlot};
use crate::driver::router::ToRouter;
use crate::driver::sip::ToEndpoint;
use crate::store::RecordOp;

/// After the call ended, how long its legs may take to finish (a CANCEL
/// waits for a provisional response; see `leg::CANCEL_GUARD`).
pub(super) const LEG_DRAIN: Duration = Duration::from_secs(35);
/// The accept key of the whisper.
const ACCEPT_DIGIT: char = '1';
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

/// What an outbound leg needs besides the centre's identity.
struct LegPlan {
    target: rsip::Uri,
    peer: Peer,
    whisper: Vec<String>,
    ring_timeout: Duration,
    bridge_on_answer: bool,
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
        let now = Self::now_std();
        let ids: Vec<u64> = self.legs.iter().map(|l| l.id).collect();
        for id in ids {
            if let Some(slot) = self.slot_mut(id) {
                if slot.specialist().is_some() {
                    slot.leg.cancel(now);
                }
            }
            self.drive_leg(id);
        }
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
        let now = Self::now_std();
        let ids: Vec<u64> = self
            .legs
            .iter()
            .filter(|l| l.specialist().is_some_and(|s| specialists.contains(s)))
            .map(|l| l.id)
            .collect();
        for id in ids {
            if self.bridge == Some(id) {
                continue;
            }
            if let Some(slot) = self.slot_mut(id) {
                if slot.accepted {
                    slot.leg.hangup(now);
                } else {
                    slot.leg.cancel(now);
                }
            }
            self.drive_leg(id);
        }
    }

    /// Ring one specialist; a leg that cannot be placed is reported failed.
    fn ring(&mut self, specialist: SpecialistId, timeout: Duration) {
        let plan = self.specialist_plan(&specialist, timeout);
        let placed = match plan {
            Ok(plan) => self.place_leg(LegPurpose::Specialist(specialist.clone()), plan),
            Err(why) => Err(why),
        };
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
        let s = self
            .ctx
            .specialists
            .get(id.as_str())
            .ok_or_else(|| "not configured".to_string())?;
        let (target, peer) = match &s.contact {
            SpecialistContact::Registered { username, .. } => {
                let regs = self
                    .ctx
                    .registrations
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                let b = regs
                    .get(username)
                    .and_then(|l| l.iter().max_by_key(|c| c.registered_at))
                    .ok_or_else(|| "softphone not registered".to_string())?;
                (b.uri.clone(), b.source)
            }
            SpecialistContact::Uri(u) => {
                let uri = rsip::Uri::try_from(u.as_str()).map_err(|e| e.to_string())?;
                let peer = peer_of_uri(&uri)
                    .ok_or_else(|| "the URI's host is not an IP address over UDP".to_string())?;
                (uri, peer)
            }
            SpecialistContact::Number(n) => self.via_trunk(n)?,
        };
        let service = self.routing.as_ref().map_or("", |r| r.service.as_str());
        Ok(LegPlan {
            target,
            peer,
            whisper: vec![
                format!("service-{service}"),
                format!("language-{}", self.flow.language()),
                "whisper".to_string(),
            ],
            // The router times the ring; the leg's own timeout is a backstop.
            ring_timeout: timeout + Duration::from_secs(1),
            bridge_on_answer: false,
        })
    }

    /// A number reached through the (first) trunk.
    fn via_trunk(&self, number: &str) -> Result<(rsip::Uri, Peer), String> {
        let trunk = self
            .ctx
            .outbound
            .dial_trunk()
            .ok_or_else(|| "no trunk is configured for numbers".to_string())?;
        let digits: String = number
            .chars()
            .filter(|c| c.is_ascii_digit() || *c == '+')
            .collect();
        let uri = rsip::Uri::try_from(format!("sip:{digits}@{}", trunk.address).as_str())
            .map_err(|e| e.to_string())?;
        Ok((uri, Peer::udp(trunk.address)))
    }

    fn centre_host(&self) -> String {
        let a = self.ctx.sip_address;
        match a {
            SocketAddr::V4(v4) => format!("{}:{}", v4.ip(), v4.port()),
            SocketAddr::V6(v6) => format!("[{}]:{}", v6.ip(), v6.port()),
        }
    }

    fn centre_uri(&self) -> rsip::Uri {
        let text = format!("sip:{}@{}", self.ctx.outbound.user, self.centre_host());
        rsip::Uri::try_from(text.as_str()).unwrap_or_default()
    }

    /// Bind media, build the leg and send its INVITE.
    fn place_leg(&mut self, purpose: LegPurpose, plan: LegPlan) -> Result<(), String> {
        let socket = self
            .ctx
            .rtp_ports
            .bind(self.ctx.media_ip)
            .map_err(|e| format!("no RTP port: {e}"))?;
        let port = socket.local_addr().map_err(|e| e.to_string())?.port();
        let outbound = &self.ctx.outbound;
        let host = self.centre_host();
        let mut contact = self.contact_uri();
        if plan.peer.transport == Transport::Udp {
            contact
                .params
                .retain(|p| !matches!(p, rsip::Param::Transport(_)));
        }
        let caller_identity = if outbound.share_caller_number {
            super::caller_number(&self.invite)
        } else {
            None
        };
        let config = LegConfig {
            target: plan.target,
            peer: plan.peer,
            from_uri: self.centre_uri(),
            from_display: Some(outbound.display.clone()),
            pai: outbound
                .has_number
                .then(|| format!("<sip:{}@{host}>", outbound.user)),
            local_contact: contact,
            via: self.ctx.sip_address,
            sdp_offer: sdp::build_offer(
                self.ctx.media_ip,
                port,
                rand::random::<u32>().into(),
                &CODECS,
            ),
            codecs: CODECS.to_vec(),
            ring_timeout: plan.ring_timeout,
            accept_timeout: outbound.accept_timeout,
            accept_digit: ACCEPT_DIGIT,
            decline_digit: None,
            whisper: plan.whisper,
            caller_identity,
            extra_headers: vec![],
            bridge_on_answer: plan.bridge_on_answer,
        };
        let leg = Leg::new(config, Self::now_std());
        self.leg_seq += 1;
        let id = self.leg_seq;
        let slot = LegSlot::new(id, purpose, leg, socket, self.leg_tx.clone())
            .map_err(|e| format!("RTP socket: {e}"))?;
        let _ = self.endpoint.send(ToEndpoint::Alias {
            leg: slot.leg.call_id().to_string(),
            call_id: self.sip_call_id.clone(),
        });
        self.legs.push(slot);
        self.drive_leg(id);
        Ok(())
    }

    pub(super) fn slot_mut(&mut self, id: u64) -> Option<&mut LegSlot> {
        self.legs.iter_mut().find(|l| l.id == id)
    }

    fn slot_by_call_id(&self, call_id: &str) -> Option<u64> {
        self.legs
            .iter()
            .find(|l| l.leg.call_id() == call_id)
            .map(|l| l.id)
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

    /// Carry out what a leg asks, until it asks nothing more.
    pub(super) fn drive_leg(&mut self, id: u64) {
        // Bounded: a leg yields a handful of actions per input.
        for _ in 0..64 {
            let Some(action) = self.slot_mut(id).and_then(|s| s.leg.poll_action()) else {
                break;
            };
            self.leg_action(id, action);
        }
        if self
            .legs
            .iter()
            .any(|l| l.id == id && l.leg.is_terminated())
            && self.bridge != Some(id)
        {
            self.legs.retain(|l| l.id != id);
        }
    }

    fn leg_action(&mut self, id: u64, action: LegAction) {
        let Some(slot) = self.legs.iter().find(|l| l.id == id) else {
            return;
        };
        let purpose = slot.purpose.clone();
        let who = purpose.who().to_string();
        match action {
            LegAction::SendInvite(request) | LegAction::SendCancel(request) => {
                let peer = slot.leg.peer();
                self.send_request(request, peer);
            }
            LegAction::SendBye(request) => {
                let peer = slot.leg.request_peer();
                self.send_request(request, peer);
            }
            LegAction::SendAck(request) => {
                let peer = slot.leg.request_peer();
                let _ = self.endpoint.send(ToEndpoint::Stateless {
                    message: rsip::SipMessage::Request(request),
                    peer,
                });
            }
            LegAction::Respond(response) => {
                if let Some(key) = self.leg_request_key {
                    self.respond(key, response);
                }
            }
            LegAction::ReInvite(request) => self.leg_reinvite(id, &request),
            LegAction::Ringing => {}
            LegAction::PickedUp => self.leg_picked_up(id),
            LegAction::PlayWhisper(ids) => self.play_whisper(id, &ids),
            LegAction::StopWhisper => {
                if let Some(slot) = self.slot_mut(id) {
                    slot.whisper.clear();
                    slot.whisper_token = 0;
                    if let Some(s) = &slot.stream {
                        s.stop();
                    }
                }
            }
            LegAction::Bridge => match purpose {
                LegPurpose::Specialist(specialist) => {
                    if let Some(slot) = self.slot_mut(id) {
                        slot.accepted = true;
                    }
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
                    if let Some(t) = self.transfer.as_mut() {
                        t.playing = false;
                    }
                    self.transfer = None;
                    self.flow_event(PlanEvent::TransferResult(TransferOutcome::Transferred));
                }
            },
            LegAction::Ended(end) => self.leg_ended(id, purpose, end),
            LegAction::Record(step) => {
                let node = self.leg_node();
                self.record_step(&node, format!("{who}: {step}"));
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

    /// The phone answered: start the leg's media (whisper stream, DTMF).
    fn leg_picked_up(&mut self, id: u64) {
        let ctx = self.ctx.clone();
        let Some(slot) = self.slot_mut(id) else {
            return;
        };
        let media = &ctx.media;
        let Some(n) = slot.leg.negotiated().cloned() else {
            return;
        };
        slot.codec = n.codec;
        slot.telephone_event = n.telephone_event;
        slot.remote = Some(n.remote_rtp);
        slot.inband = n.telephone_event.is_none().then(InbandDetector::new);
        if let Ok(send) = slot.send.try_clone() {
            slot.stream =
                Some(media.add_stream(send, n.remote_rtp, n.codec, slot.events_tx.clone()));
        }
        if let LegPurpose::Specialist(specialist) = slot.purpose.clone() {
            self.ctx.router.send(ToRouter::LegPickedUp {
                call: self.router_call(),
                specialist,
            });
        }
    }

    fn play_whisper(&mut self, id: u64, ids: &[String]) {
        let lang = Language::from_code(self.flow.language()).unwrap_or(Language::Ru);
        let prompts: VecDeque<_> = ids
            .iter()
            .filter_map(|p| self.ctx.prompts.get(p, lang))
            .collect();
        let now = Self::now_std();
        let Some(slot) = self.slot_mut(id) else {
            return;
        };
        slot.whisper = prompts;
        match (slot.whisper.pop_front(), slot.stream.as_mut()) {
            (Some(first), Some(stream)) => slot.whisper_token = stream.play(first),
            _ => {
                // Nothing to play: the accept window still runs.
                slot.whisper_token = 0;
                let _ = now;
            }
        }
    }

    /// A re-INVITE from a leg's far end (hold, a new address): answer with
    /// the leg's own media.
    fn leg_reinvite(&mut self, id: u64, request: &rsip::Request) {
        let Some(key) = self.leg_request_key else {
            return;
        };
        let media_ip = self.ctx.media_ip;
        let contact = self.contact_uri();
        let Some(slot) = self.slot_mut(id) else {
            return;
        };
        let answer = std::str::from_utf8(&request.body)
            .ok()
            .filter(|b| !b.trim().is_empty())
            .map(|text| {
                sdp::parse(text)
                    .map_err(|e| e.status_code())
                    .and_then(|offer| {
                        sdp::negotiate_offer(&offer, &CODECS)
                            .map(|n| (offer, n))
                            .map_err(|e| e.status_code())
                    })
            });
        let tag = slot.leg.local_tag().to_string();
        let body = match answer {
            Some(Ok((offer, n))) => {
                slot.codec = n.codec;
                slot.telephone_event = n.telephone_event;
                slot.remote = Some(n.remote_rtp);
                slot.latched = false;
                if let Some(s) = &slot.stream {
                    s.set_remote(n.remote_rtp);
                }
                sdp::build_answer_to_offer(&offer, media_ip, slot.local_port, 1, 2, &n)
            }
            Some(Err(code)) => {
                let reason = if code == 400 {
                    "Bad Request"
                } else {
                    "Not Acceptable Here"
                };
                let r = message::response(request, code, reason, Some(&tag));
                self.respond(key, r);
                return;
            }
            None => sdp::build_offer(media_ip, slot.local_port, 1, &CODECS),
        };
        let mut ok = message::response(request, 200, "OK", Some(&tag));
        ok.headers
            .push(rsip::Header::Contact(format!("<{contact}>").into()));
        message::set_body(&mut ok, Some("application/sdp"), body.into_bytes());
        self.respond(key, ok);
    }

    fn leg_ended(&mut self, id: u64, purpose: LegPurpose, end: LegEnd) {
        if let Some(slot) = self.slot_mut(id) {
            slot.stream = None;
            slot.whisper.clear();
        }
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
                LegPurpose::Partner(_) => {
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
                    } else if self.phase != Phase::Ended {
                        // Accepted, then hung up before the router bridged:
                        // the router's Bridge finds no leg and moves on.
                        if let Some(slot) = self.slot_mut(id) {
                            slot.accepted = false;
                        }
                    }
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
        if let Some(slot) = self.slot_mut(id) {
            slot.stream = None;
            slot.whisper.clear();
        }
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

    /// RTP or a prompt event from a leg.
    pub(super) fn leg_input(&mut self, input: LegInput) {
        match input {
            LegInput::Rtp { leg, data, from } => {
                self.ctx
                    .sip_stats
                    .rtp_packets_in
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let bridged = self.bridge == Some(leg);
                let Some(slot) = self.slot_mut(leg) else {
                    return;
                };
                slot.latch(from);
                if bridged {
                    let (codec, te) = (slot.codec, slot.telephone_event);
                    if let Some(m) = self.media.as_ref() {
                        if let (Some(remote), Some(out)) = (
                            m.remote,
                            relay_packet(&data, codec, te, m.codec, m.telephone_event),
                        ) {
                            let _ = m.socket.get_ref().send_to(&out, remote);
                        }
                    }
                    return;
                }
                if let Some((digit, source)) = slot.detect_digit(&data) {
                    tracing::info!(digit = %digit, source = source.as_str(), "leg digit");
                    slot.leg.on_digit(digit, Self::now_std());
                    self.drive_leg(leg);
                }
            }
            LegInput::PromptFinished { leg, token } => {
                let now = Self::now_std();
                let Some(slot) = self.slot_mut(leg) else {
                    return;
                };
                if token == 0 || token != slot.whisper_token {
                    return;
                }
                match (slot.whisper.pop_front(), slot.stream.as_mut()) {
                    (Some(next), Some(stream)) => slot.whisper_token = stream.play(next),
                    _ => {
                        slot.whisper_token = 0;
                        slot.leg.on_whisper_finished(now);
                        self.drive_leg(leg);
                    }
                }
            }
        }
    }

    /// The caller's RTP during a bridge goes to the other leg. True if relayed.
    pub(super) fn relay_from_caller(&mut self, data: &[u8]) -> bool {
        let Some(id) = self.bridge else {
            return false;
        };
        let (codec, te) = match self.media.as_ref() {
            Some(m) => (m.codec, m.telephone_event),
            None => return true,
        };
        if let Some(slot) = self.legs.iter().find(|l| l.id == id) {
            if let (Some(remote), Some(out)) = (
                slot.remote,
                relay_packet(data, codec, te, slot.codec, slot.telephone_event),
            ) {
                let _ = slot.send.send_to(&out, remote);
            }
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
        let now = Self::now_std();
        if let Some(id) = self.slot_by_call_id(&call_id) {
            if let Some(slot) = self.slot_mut(id) {
                slot.leg.on_response(&response, now);
            }
            self.drive_leg(id);
            return;
        }
        let is_refer = message::cseq(&rsip::SipMessage::Response(response.clone()))
            .is_some_and(|(_, m)| m == Method::Refer);
        if call_id == self.sip_call_id && is_refer {
            if let Some(refer) = self.transfer.as_mut().and_then(|t| t.refer.as_mut()) {
                refer.on_response(&response, now);
            }
            self.check_refer();
        }
    }

    /// A transaction of this call timed out.
    pub(super) fn request_timeout(&mut self, call_id: &str, method: Method) {
        let now = Self::now_std();
        if let Some(id) = self.slot_by_call_id(call_id) {
            if method == Method::Invite {
                if let Some(slot) = self.slot_mut(id) {
                    slot.leg.on_invite_timeout(now);
                }
                self.drive_leg(id);
            }
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
        let sip = rsip::SipMessage::Request(request.clone());
        let Some(call_id) = message::call_id(&sip) else {
            return false;
        };
        let Some(id) = self.slot_by_call_id(&call_id) else {
            return false;
        };
        let now = Self::now_std();
        self.leg_request_key = Some(key);
        if let Some(slot) = self.slot_mut(id) {
            slot.leg.on_request(request, now);
        }
        self.drive_leg(id);
        self.leg_request_key = None;
        if request.method == Method::Info {
            let content_type = message::header_value(&sip, "Content-Type").unwrap_or("");
            if let Ok(digit) = dtmf::parse_info_body(content_type, &request.body) {
                if let Some(slot) = self.slot_mut(id) {
                    slot.leg.on_digit(digit.as_char(), now);
                }
                self.drive_leg(id);
            }
        }
        true
    }

    /// The next moment a leg or the transfer needs the clock.
    pub(super) fn leg_wake(&self) -> Option<tokio::time::Instant> {
        let legs = self.legs.iter().filter_map(|l| l.leg.poll_timeout());
        let refer = self
            .transfer
            .as_ref()
            .and_then(|t| t.refer.as_ref())
            .and_then(|r| r.poll_timeout());
        legs.chain(refer).min().map(tokio::time::Instant::from_std)
    }

    pub(super) fn leg_timeouts(&mut self) {
        let now = Self::now_std();
        let ids: Vec<u64> = self.legs.iter().map(|l| l.id).collect();
        for id in ids {
            if let Some(slot) = self.slot_mut(id) {
                if slot.leg.poll_timeout().is_some_and(|t| t <= now) {
                    slot.leg.handle_timeout(now);
                }
            }
            self.drive_leg(id);
        }
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
        let now = Self::now_std();
        if self.routing.is_some() || self.bridge.is_some() {
            self.ctx.router.send(ToRouter::CallerHungUp {
                call: self.router_call(),
            });
        }
        self.routing = None;
        let ids: Vec<u64> = self.legs.iter().map(|l| l.id).collect();
        for id in ids {
            if let Some(slot) = self.slot_mut(id) {
                slot.leg.hangup(now);
            }
            self.drive_leg(id);
        }
        if self
            .bridge
            .is_some_and(|b| !self.legs.iter().any(|l| l.id == b))
        {
            self.bridge = None;
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
                let (target, peer) = self.via_trunk(n)?;
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
        self.place_leg(
            LegPurpose::Partner(partner.to_string()),
            LegPlan {
                target,
                peer,
                whisper: vec![],
                ring_timeout: PARTNER_RING,
                bridge_on_answer: true,
            },
        )
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
        let centre = self.centre_uri();
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
