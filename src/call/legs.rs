//! The outbound legs of one controller, driven: each sans-IO [`Leg`] with
//! its RTP socket ([`LegSlot`]), its INVITE, CANCEL, ACK and BYE sent
//! through the endpoint, its whisper played and its keys detected.
//!
//! Both controllers use it: a caller's call ([`super::controller`]), whose
//! legs ring specialists and partners, and a call Senim places itself
//! ([`super::click_to_call`]), which rings a specialist and then the person
//! to call back. What a leg means to its owner (the router, a transfer, a
//! bridge) comes out as [`LegEvent`]s; everything SIP and media stays here.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rsip::Method;
use senim_media::dtmf::{self, InbandDetector};
use senim_media::g711::Codec;
use senim_media::prompts::Language;
use senim_media::sdp;
use senim_routing::specialists::{SpecialistContact, SpecialistId};
use senim_sip::message::{self, Peer, Transport};
use senim_sip::transaction::TxKey;
use tokio::sync::mpsc;

use super::leg::{Leg, LegAction, LegConfig, LegEnd};
use super::outbound::{peer_of_uri, LegInput, LegPurpose, LegSlot};
use super::CallContext;
use crate::driver::sip::ToEndpoint;

/// Codecs offered on every leg, in order of preference.
pub const LEG_CODECS: [Codec; 2] = [Codec::Pcmu, Codec::Pcma];
/// The accept key of the whisper.
pub const ACCEPT_DIGIT: char = '1';
/// Most actions one input may make a leg yield (a handful in practice).
const MAX_ACTIONS: usize = 64;

/// Whom to call and how, besides the centre's identity.
#[derive(Debug, Clone)]
pub struct LegPlan {
    pub target: rsip::Uri,
    pub peer: Peer,
    /// Prompt ids of the whisper (empty: none).
    pub whisper: Vec<String>,
    /// The language of the whisper.
    pub language: Language,
    pub ring_timeout: Duration,
    /// Bridge on answer, without whisper or accept key.
    pub bridge_on_answer: bool,
    /// The caller's number as the From display name (only when the centre
    /// shares it with specialists).
    pub caller_identity: Option<String>,
    /// Leave the centre's name out of the From display name (a caller who
    /// asked that the centre not be named when called back).
    pub hide_centre_name: bool,
}

/// What a leg means to its owner.
#[derive(Debug, Clone, PartialEq)]
pub enum LegEvent {
    /// The phone was picked up; its whisper starts.
    PickedUp { id: u64, purpose: LegPurpose },
    /// The accept key was pressed, or a bridge-on-answer leg answered.
    Accepted { id: u64, purpose: LegPurpose },
    /// The leg is over (once per leg).
    Ended {
        id: u64,
        purpose: LegPurpose,
        end: LegEnd,
    },
    /// A step for the call record, with the leg's id for whom
    /// (`"aigerim: answered"`); never a number.
    Record { id: u64, step: String },
}

/// An RTP packet from a bridged leg, for the owner to send on.
#[derive(Debug)]
pub struct Relay {
    pub leg: u64,
    pub data: Vec<u8>,
    pub codec: Codec,
    pub telephone_event: Option<u8>,
}

impl CallContext {
    /// Senim's SIP address as `host:port`.
    pub fn centre_host(&self) -> String {
        match self.sip_address {
            SocketAddr::V4(v4) => format!("{}:{}", v4.ip(), v4.port()),
            SocketAddr::V6(v6) => format!("[{}]:{}", v6.ip(), v6.port()),
        }
    }

    /// The centre's URI: From of every leg, and of a REFER's Referred-By.
    pub fn centre_uri(&self) -> rsip::Uri {
        let text = format!("sip:{}@{}", self.outbound.user, self.centre_host());
        rsip::Uri::try_from(text.as_str()).unwrap_or_default()
    }

    /// Senim's Contact for a dialog over `transport`.
    pub fn contact_for(&self, transport: Transport) -> rsip::Uri {
        let transport = match transport {
            Transport::Udp => "",
            Transport::Tcp => ";transport=tcp",
        };
        let text = format!("sip:senim@{}{transport}", self.centre_host());
        rsip::Uri::try_from(text.as_str()).unwrap_or_default()
    }

    /// A number reached through the (first) trunk.
    pub fn via_trunk(&self, number: &str) -> Result<(rsip::Uri, Peer), String> {
        let trunk = self
            .outbound
            .dial_trunk()
            .ok_or_else(|| "no trunk is configured for numbers".to_string())?;
        let digits: String = number
            .chars()
            .filter(|c| c.is_ascii_digit() || *c == '+')
            .collect();
        if digits.is_empty() {
            return Err("the number has no digits".into());
        }
        let uri = rsip::Uri::try_from(format!("sip:{digits}@{}", trunk.address).as_str())
            .map_err(|e| e.to_string())?;
        Ok((uri, Peer::udp(trunk.address)))
    }

    /// Where a specialist's phone is reached: the softphone's latest
    /// registration, the configured URI, or the number through the trunk.
    pub fn specialist_target(&self, id: &SpecialistId) -> Result<(rsip::Uri, Peer), String> {
        let s = self
            .specialists
            .get(id.as_str())
            .ok_or_else(|| "not configured".to_string())?;
        match &s.contact {
            SpecialistContact::Registered { username, .. } => {
                let regs = self
                    .registrations
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                let b = regs
                    .get(username)
                    .and_then(|l| l.iter().max_by_key(|c| c.registered_at))
                    .ok_or_else(|| "softphone not registered".to_string())?;
                Ok((b.uri.clone(), b.source))
            }
            SpecialistContact::Uri(u) => {
                let uri = rsip::Uri::try_from(u.as_str()).map_err(|e| e.to_string())?;
                let peer = peer_of_uri(&uri)
                    .ok_or_else(|| "the URI's host is not an IP address over UDP".to_string())?;
                Ok((uri, peer))
            }
            SpecialistContact::Number(n) => self.via_trunk(n),
        }
    }
}

/// The outbound legs of one controller.
pub struct Legs {
    ctx: Arc<CallContext>,
    endpoint: mpsc::UnboundedSender<ToEndpoint>,
    /// The Call-ID the endpoint knows the owner by: the legs' transactions
    /// and requests are routed to it.
    owner: String,
    slots: Vec<LegSlot>,
    seq: u64,
    tx: mpsc::UnboundedSender<LegInput>,
    rx: mpsc::UnboundedReceiver<LegInput>,
    /// The key of the leg request being handled (for the leg's `Respond`).
    request_key: Option<TxKey>,
    events: VecDeque<LegEvent>,
}

impl Legs {
    pub fn new(
        ctx: Arc<CallContext>,
        endpoint: mpsc::UnboundedSender<ToEndpoint>,
        owner: String,
    ) -> Legs {
        let (tx, rx) = mpsc::unbounded_channel();
        Legs {
            ctx,
            endpoint,
            owner,
            slots: Vec::new(),
            seq: 0,
            tx,
            rx,
            request_key: None,
            events: VecDeque::new(),
        }
    }

    /// The next RTP packet or prompt event of any leg.
    pub async fn recv(&mut self) -> Option<LegInput> {
        self.rx.recv().await
    }

    /// What the legs did that the owner must act on, oldest first.
    pub fn poll_event(&mut self) -> Option<LegEvent> {
        self.events.pop_front()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &LegSlot> {
        self.slots.iter()
    }

    pub fn get(&self, id: u64) -> Option<&LegSlot> {
        self.slots.iter().find(|l| l.id == id)
    }

    pub fn get_mut(&mut self, id: u64) -> Option<&mut LegSlot> {
        self.slots.iter_mut().find(|l| l.id == id)
    }

    fn ids(&self) -> Vec<u64> {
        self.slots.iter().map(|l| l.id).collect()
    }

    fn by_call_id(&self, call_id: &str) -> Option<u64> {
        self.slots
            .iter()
            .find(|l| l.leg.call_id() == call_id)
            .map(|l| l.id)
    }

    /// Forget the legs whose SIP side is over.
    pub fn retain_live(&mut self) {
        self.slots.retain(|l| !l.leg.is_terminated());
    }

    /// Drop every leg at once (the owner's task ends).
    pub fn clear(&mut self) {
        self.slots.clear();
    }

    // -- placing and driving --------------------------------------------------

    /// Bind media, build the leg and send its INVITE; the leg's id.
    pub fn place(&mut self, purpose: LegPurpose, plan: LegPlan) -> Result<u64, String> {
        let socket = self
            .ctx
            .rtp_ports
            .bind(self.ctx.media_ip)
            .map_err(|e| format!("no RTP port: {e}"))?;
        let port = socket.local_addr().map_err(|e| e.to_string())?.port();
        let outbound = &self.ctx.outbound;
        let from_display = if plan.caller_identity.is_some() || !plan.hide_centre_name {
            Some(outbound.display.clone())
        } else {
            None
        };
        let config = LegConfig {
            target: plan.target,
            peer: plan.peer,
            from_uri: self.ctx.centre_uri(),
            from_display,
            pai: outbound
                .has_number
                .then(|| format!("<sip:{}@{}>", outbound.user, self.ctx.centre_host())),
            local_contact: self.ctx.contact_for(plan.peer.transport),
            via: self.ctx.sip_address,
            sdp_offer: sdp::build_offer(
                self.ctx.media_ip,
                port,
                rand::random::<u32>().into(),
                &LEG_CODECS,
            ),
            codecs: LEG_CODECS.to_vec(),
            ring_timeout: plan.ring_timeout,
            accept_timeout: outbound.accept_timeout,
            accept_digit: ACCEPT_DIGIT,
            decline_digit: None,
            whisper: plan.whisper,
            caller_identity: plan.caller_identity,
            extra_headers: vec![],
            bridge_on_answer: plan.bridge_on_answer,
        };
        let leg = Leg::new(config, Instant::now());
        self.seq += 1;
        let id = self.seq;
        let mut slot = LegSlot::new(id, purpose, leg, socket, self.tx.clone())
            .map_err(|e| format!("RTP socket: {e}"))?;
        slot.language = plan.language;
        let _ = self.endpoint.send(ToEndpoint::Alias {
            leg: slot.leg.call_id().to_string(),
            call_id: self.owner.clone(),
        });
        self.slots.push(slot);
        self.drive(id);
        Ok(id)
    }

    /// Carry out what a leg asks, until it asks nothing more; a leg whose
    /// SIP side is over is forgotten.
    fn drive(&mut self, id: u64) {
        for _ in 0..MAX_ACTIONS {
            let Some(action) = self.get_mut(id).and_then(|s| s.leg.poll_action()) else {
                break;
            };
            self.action(id, action);
        }
        self.slots.retain(|l| l.id != id || !l.leg.is_terminated());
    }

    fn action(&mut self, id: u64, action: LegAction) {
        let Some(slot) = self.get(id) else {
            return;
        };
        let purpose = slot.purpose.clone();
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
                if let Some(key) = self.request_key {
                    let _ = self.endpoint.send(ToEndpoint::Respond { key, response });
                }
            }
            LegAction::ReInvite(request) => self.reinvite(id, &request),
            LegAction::Ringing => {}
            LegAction::PickedUp => {
                self.picked_up(id);
                self.events.push_back(LegEvent::PickedUp { id, purpose });
            }
            LegAction::PlayWhisper(ids) => self.play_whisper(id, &ids),
            LegAction::StopWhisper => {
                if let Some(slot) = self.get_mut(id) {
                    slot.whisper.clear();
                    slot.whisper_token = 0;
                    if let Some(s) = &slot.stream {
                        s.stop();
                    }
                }
            }
            LegAction::Bridge => {
                if let Some(slot) = self.get_mut(id) {
                    slot.accepted = true;
                }
                self.events.push_back(LegEvent::Accepted { id, purpose });
            }
            LegAction::Ended(end) => {
                if let Some(slot) = self.get_mut(id) {
                    slot.stream = None;
                    slot.whisper.clear();
                    slot.looping = None;
                }
                self.events.push_back(LegEvent::Ended { id, purpose, end });
            }
            LegAction::Record(step) => {
                let step = format!("{}: {step}", purpose.who());
                self.events.push_back(LegEvent::Record { id, step });
            }
        }
    }

    fn send_request(&self, request: rsip::Request, peer: Peer) {
        let _ = self.endpoint.send(ToEndpoint::Request {
            call_id: self.owner.clone(),
            request,
            peer,
        });
    }

    /// The phone answered: start the leg's media (whisper stream, DTMF).
    fn picked_up(&mut self, id: u64) {
        let ctx = self.ctx.clone();
        let Some(slot) = self.get_mut(id) else {
            return;
        };
        let Some(n) = slot.leg.negotiated().cloned() else {
            return;
        };
        slot.codec = n.codec;
        slot.telephone_event = n.telephone_event;
        slot.remote = Some(n.remote_rtp);
        slot.inband = n.telephone_event.is_none().then(InbandDetector::new);
        if let Ok(send) = slot.send.try_clone() {
            slot.stream =
                Some(
                    ctx.media
                        .add_stream(send, n.remote_rtp, n.codec, slot.events_tx.clone()),
                );
        }
    }

    fn play_whisper(&mut self, id: u64, ids: &[String]) {
        let ctx = self.ctx.clone();
        let Some(slot) = self.get_mut(id) else {
            return;
        };
        let lang = slot.language;
        slot.whisper = ids
            .iter()
            .filter_map(|p| ctx.prompts.get(p, lang))
            .collect();
        slot.whisper_token = match (slot.whisper.pop_front(), slot.stream.as_mut()) {
            (Some(first), Some(stream)) => stream.play(first),
            // Nothing to play: the accept window still runs.
            _ => 0,
        };
    }

    /// Play `prompt` to a leg over and over (hold audio while the other
    /// side is being called), until the leg is bridged or ends.
    pub fn play_loop(&mut self, id: u64, prompt: &str) {
        let ctx = self.ctx.clone();
        let Some(slot) = self.get_mut(id) else {
            return;
        };
        let Some(p) = ctx.prompts.get(prompt, slot.language) else {
            tracing::warn!(prompt, "prompt missing");
            return;
        };
        slot.whisper.clear();
        slot.whisper_token = 0;
        if let Some(stream) = slot.stream.as_mut() {
            let token = stream.play(p.clone());
            slot.looping = Some((token, p));
        }
    }

    /// A re-INVITE from a leg's far end (hold, a new address): answer with
    /// the leg's own media.
    fn reinvite(&mut self, id: u64, request: &rsip::Request) {
        let Some(key) = self.request_key else {
            return;
        };
        let media_ip = self.ctx.media_ip;
        let ctx = self.ctx.clone();
        let Some(slot) = self.get_mut(id) else {
            return;
        };
        let contact = ctx.contact_for(slot.leg.peer().transport);
        let answer = std::str::from_utf8(&request.body)
            .ok()
            .filter(|b| !b.trim().is_empty())
            .map(|text| {
                sdp::parse(text)
                    .map_err(|e| e.status_code())
                    .and_then(|offer| {
                        sdp::negotiate_offer(&offer, &LEG_CODECS)
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
                let response = message::response(request, code, reason, Some(&tag));
                let _ = self.endpoint.send(ToEndpoint::Respond { key, response });
                return;
            }
            None => sdp::build_offer(media_ip, slot.local_port, 1, &LEG_CODECS),
        };
        let mut ok = message::response(request, 200, "OK", Some(&tag));
        ok.headers
            .push(rsip::Header::Contact(format!("<{contact}>").into()));
        message::set_body(&mut ok, Some("application/sdp"), body.into_bytes());
        let _ = self
            .endpoint
            .send(ToEndpoint::Respond { key, response: ok });
    }

    // -- what the owner asks --------------------------------------------------

    /// Stop ringing a leg (or hang it up once accepted).
    pub fn cancel(&mut self, id: u64) {
        let now = Instant::now();
        if let Some(slot) = self.get_mut(id) {
            if slot.accepted {
                slot.leg.hangup(now);
            } else {
                slot.leg.cancel(now);
            }
        }
        self.drive(id);
    }

    /// End a leg whatever its state (CANCEL while ringing, BYE once answered).
    pub fn hang_up(&mut self, id: u64) {
        if let Some(slot) = self.get_mut(id) {
            slot.leg.hangup(Instant::now());
        }
        self.drive(id);
    }

    /// End every leg.
    pub fn hang_up_all(&mut self) {
        for id in self.ids() {
            self.hang_up(id);
        }
    }

    /// Cancel every leg that matches `which` and is not accepted.
    pub fn cancel_where(&mut self, which: impl Fn(&LegSlot) -> bool) {
        let ids: Vec<u64> = self
            .slots
            .iter()
            .filter(|l| which(l))
            .map(|l| l.id)
            .collect();
        let now = Instant::now();
        for id in ids {
            if let Some(slot) = self.get_mut(id) {
                slot.leg.cancel(now);
            }
            self.drive(id);
        }
    }

    /// The leg's media is bridged from now on: its whisper and hold stop,
    /// its RTP goes to the owner as [`Relay`].
    pub fn bridge(&mut self, id: u64) {
        if let Some(slot) = self.get_mut(id) {
            slot.stream = None;
            slot.whisper.clear();
            slot.looping = None;
            slot.bridged = true;
        }
    }

    /// Send a packet relayed from the other side of a bridge into leg `id`.
    pub fn relay_into(&self, id: u64, data: &[u8], from_codec: Codec, from_te: Option<u8>) {
        if let Some(slot) = self.get(id) {
            if let (Some(remote), Some(out)) = (
                slot.remote,
                super::outbound::relay_packet(
                    data,
                    from_codec,
                    from_te,
                    slot.codec,
                    slot.telephone_event,
                ),
            ) {
                let _ = slot.send.send_to(&out, remote);
            }
        }
    }

    // -- inputs -----------------------------------------------------------------

    /// RTP or a prompt event from a leg; a bridged leg's RTP is handed back.
    pub fn input(&mut self, input: LegInput) -> Option<Relay> {
        match input {
            LegInput::Rtp { leg, data, from } => {
                self.ctx
                    .sip_stats
                    .rtp_packets_in
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let slot = self.get_mut(leg)?;
                slot.latch(from);
                if slot.bridged {
                    return Some(Relay {
                        leg,
                        data,
                        codec: slot.codec,
                        telephone_event: slot.telephone_event,
                    });
                }
                if let Some((digit, source)) = slot.detect_digit(&data) {
                    tracing::info!(digit = %digit, source = source.as_str(), "leg digit");
                    slot.leg.on_digit(digit, Instant::now());
                    self.drive(leg);
                }
                None
            }
            LegInput::PromptFinished { leg, token } => {
                let slot = self.get_mut(leg)?;
                if token == 0 {
                    return None;
                }
                if let Some((t, prompt)) = slot.looping.clone() {
                    if t == token {
                        if let Some(stream) = slot.stream.as_mut() {
                            slot.looping = Some((stream.play(prompt.clone()), prompt));
                        }
                        return None;
                    }
                }
                if token != slot.whisper_token {
                    return None;
                }
                match (slot.whisper.pop_front(), slot.stream.as_mut()) {
                    (Some(next), Some(stream)) => slot.whisper_token = stream.play(next),
                    _ => {
                        slot.whisper_token = 0;
                        slot.leg.on_whisper_finished(Instant::now());
                        self.drive(leg);
                    }
                }
                None
            }
        }
    }

    /// A response for a leg's request. False if no leg has its Call-ID.
    pub fn on_response(&mut self, call_id: &str, response: &rsip::Response) -> bool {
        let Some(id) = self.by_call_id(call_id) else {
            return false;
        };
        if let Some(slot) = self.get_mut(id) {
            slot.leg.on_response(response, Instant::now());
        }
        self.drive(id);
        true
    }

    /// A leg's transaction timed out. False if no leg has that Call-ID.
    pub fn on_timeout(&mut self, call_id: &str, method: Method) -> bool {
        let Some(id) = self.by_call_id(call_id) else {
            return false;
        };
        if method == Method::Invite {
            if let Some(slot) = self.get_mut(id) {
                slot.leg.on_invite_timeout(Instant::now());
            }
            self.drive(id);
        }
        true
    }

    /// A request in a leg's dialog. False if no leg has its Call-ID.
    pub fn on_request(&mut self, key: TxKey, request: &rsip::Request) -> bool {
        let sip = rsip::SipMessage::Request(request.clone());
        let Some(call_id) = message::call_id(&sip) else {
            return false;
        };
        let Some(id) = self.by_call_id(&call_id) else {
            return false;
        };
        let now = Instant::now();
        self.request_key = Some(key);
        if let Some(slot) = self.get_mut(id) {
            slot.leg.on_request(request, now);
        }
        self.drive(id);
        self.request_key = None;
        if request.method == Method::Info {
            let content_type = message::header_value(&sip, "Content-Type").unwrap_or("");
            if let Ok(digit) = dtmf::parse_info_body(content_type, &request.body) {
                if let Some(slot) = self.get_mut(id) {
                    slot.leg.on_digit(digit.as_char(), now);
                }
                self.drive(id);
            }
        }
        true
    }

    /// The next moment a leg needs the clock.
    pub fn wake(&self) -> Option<Instant> {
        self.slots.iter().filter_map(|l| l.leg.poll_timeout()).min()
    }

    /// Let the legs whose time has come act.
    pub fn handle_timeouts(&mut self) {
        let now = Instant::now();
        for id in self.ids() {
            if let Some(slot) = self.get_mut(id) {
                if slot.leg.poll_timeout().is_some_and(|t| t <= now) {
                    slot.leg.handle_timeout(now);
                }
            }
            self.drive(id);
        }
    }
}
