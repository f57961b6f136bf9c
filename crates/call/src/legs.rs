//! The outbound legs of one call, driven without I/O: each sans-IO [`Leg`]
//! with its [`MediaPort`], its INVITE, CANCEL, ACK and BYE as [`Output`]s,
//! its whisper played and its keys detected.
//!
//! Both kinds of call use it: a caller's call ([`crate::call`]), whose legs
//! ring specialists and partners, and a call Senim places itself
//! ([`crate::click_to_call`]), which rings a specialist and then the person
//! to call back. What a leg means to its owner (the router, a transfer, a
//! bridge) comes out as [`LegEvent`]s; everything SIP and media stays here.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rsip::Method;
use senim_media::dtmf;
use senim_media::g711::Codec;
use senim_media::prompts::Language;
use senim_media::sdp;
use senim_routing::specialists::{SpecialistContact, SpecialistId};
use senim_sip::message::{self, Peer};
use senim_sip::transaction::TxKey;

use crate::config::CallConfig;
use crate::config::{TrunkRefusal, TrunkSlot};
use crate::io::{LegId, MediaId, Output, PreparedLeg};
use crate::leg::{Leg, LegAction, LegConfig, LegEnd, Route, TrunkRoute, WrapUpMenu};
use crate::media::{MediaPort, PromptEnd};
use crate::relay::{peer_of_uri, relay_packet};
use senim_sip::digest::client::ClientCredentials;

/// Codecs offered on every leg, in order of preference.
pub const LEG_CODECS: [Codec; 2] = [Codec::Pcmu, Codec::Pcma];
/// The accept key of the whisper.
pub const ACCEPT_DIGIT: char = '1';
/// Most actions one input may make a leg yield (a handful in practice).
const MAX_ACTIONS: usize = 64;

/// Whom a leg calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LegPurpose {
    /// A specialist, for a routed call (whisper, accept key).
    Specialist(SpecialistId),
    /// A partner centre, for a bridged transfer (no whisper).
    Partner(String),
    /// The person a follow-up calls back (click-to-call), by follow-up id.
    Callee(String),
}

impl LegPurpose {
    /// The id for records and logs (never a number or address).
    pub fn who(&self) -> &str {
        match self {
            LegPurpose::Specialist(id) => id.as_str(),
            LegPurpose::Partner(id) => id,
            LegPurpose::Callee(_) => "callee",
        }
    }

    /// The specialist this leg rings, if it is a specialist's leg.
    pub fn specialist(&self) -> Option<&SpecialistId> {
        match self {
            LegPurpose::Specialist(id) => Some(id),
            LegPurpose::Partner(_) | LegPurpose::Callee(_) => None,
        }
    }
}

/// Where a leg's INVITE goes.
#[derive(Debug, Clone, PartialEq)]
pub enum LegTarget {
    /// A known Request-URI and address.
    Address(rsip::Uri, Peer),
    /// A softphone registered to Senim: its latest contact, found by the driver.
    Softphone(String),
    /// A phone number, through the trunks (in order, failing over).
    Number(String),
}

/// Whom to call and how, besides the centre's identity.
#[derive(Debug, Clone)]
pub struct LegPlan {
    pub target: LegTarget,
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
    /// Leave the centre's name out of the From display name.
    pub hide_centre_name: bool,
}

/// What a leg means to its owner.
#[derive(Debug, Clone, PartialEq)]
pub enum LegEvent {
    /// The leg could not be placed (no RTP port, softphone not registered).
    NotPlaced {
        id: LegId,
        purpose: LegPurpose,
        why: String,
    },
    /// The phone was picked up; its whisper starts.
    PickedUp { id: LegId, purpose: LegPurpose },
    /// The accept key was pressed, or a bridge-on-answer leg answered.
    Accepted { id: LegId, purpose: LegPurpose },
    /// The leg is over (once per leg).
    Ended {
        id: LegId,
        purpose: LegPurpose,
        end: LegEnd,
    },
    /// A step for the call record, with the leg's id for whom
    /// (`"aigerim: answered"`); never a number.
    Record { id: LegId, step: String },
    /// The wrap-up menu on the leg chose a kind of help (`Some(id)`) or
    /// ended without one (`None`).
    WrapUpCode {
        id: LegId,
        purpose: LegPurpose,
        kind: Option<String>,
    },
}

/// An RTP packet from a bridged leg, for the owner to send on.
#[derive(Debug, Clone, Copy)]
pub struct Relay {
    pub leg: LegId,
    pub codec: Codec,
    pub telephone_event: Option<u8>,
}

/// One outbound leg of a call.
#[derive(Debug)]
pub struct LegSlot {
    pub id: LegId,
    pub purpose: LegPurpose,
    pub leg: Leg,
    pub media: MediaPort,
    /// The rest of the whisper plays on `media`'s queue; this is set while
    /// the whisper (not hold audio) plays.
    whispering: bool,
    /// The leg accepted (the key, or a bridge-on-answer leg answered).
    pub accepted: bool,
    /// The leg's media is bridged: its RTP goes to the other side.
    pub bridged: bool,
    /// The language of its whisper and hold audio.
    pub language: Language,
    /// Its place under the cap of the trunk it goes through.
    trunk_slot: Option<TrunkSlot>,
}

impl LegSlot {
    /// The specialist this leg rings, if it is a specialist's leg.
    pub fn specialist(&self) -> Option<&SpecialistId> {
        self.purpose.specialist()
    }
}

/// A leg waiting for its port.
#[derive(Debug)]
struct Pending {
    id: LegId,
    purpose: LegPurpose,
    plan: LegPlan,
}

/// Where a number is reached: through the trunks (the route is chosen when
/// the leg is placed). An error when no trunk can write the number.
pub fn via_trunk(cfg: &CallConfig, number: &str) -> Result<LegTarget, String> {
    let trunks = &cfg.outbound.trunks;
    if trunks.is_empty() {
        return Err("no trunk is configured for numbers".into());
    }
    if trunks.iter().all(|t| t.number_uri(number).is_none()) {
        return Err("the number has no digits".into());
    }
    Ok(LegTarget::Number(number.to_string()))
}

/// A number's routes: the first trunk (in dial order) with room under its
/// cap, with its slot, then the later ones to fail over to. Trunks marked
/// down are left out by the dial order (unless every trunk is down); those
/// kept are checked again when the leg fails over, since a trunk may fill
/// up or go down while the first rings.
/// Senim's Contact on a leg to `target` through `peer`: a `sips:` one for
/// a `sips:` target reached over TLS.
fn local_contact(cfg: &CallConfig, peer: Peer, target: &rsip::Uri) -> rsip::Uri {
    let sips = target.scheme == Some(rsip::Scheme::Sips);
    cfg.contact_for(peer.transport, sips)
}

fn trunk_routes(
    cfg: &CallConfig,
    number: &str,
    display: Option<&str>,
) -> Result<(Route, Vec<Route>, TrunkSlot), String> {
    let mut routes = Vec::new();
    let mut slot = None;
    for trunk in cfg.outbound.dial_order() {
        let Some(target) = trunk.number_uri(number) else {
            continue;
        };
        if slot.is_none() {
            match trunk.load.acquire(trunk.max_calls) {
                Some(s) => slot = Some(s),
                None => continue,
            }
        }
        let p = &trunk.presentation;
        let user = p.from_user.as_deref().unwrap_or(&cfg.outbound.user);
        let host = trunk.host();
        let from_uri = rsip::Uri::try_from(format!("sip:{user}@{host}").as_str())
            .map_err(|e| e.to_string())?;
        routes.push(Route {
            local_contact: local_contact(cfg, trunk.peer(), &target),
            via: cfg.address_for(trunk.transport),
            target,
            peer: trunk.peer(),
            from_uri,
            from_display: display.map(|d| p.from_display.clone().unwrap_or_else(|| d.to_string())),
            pai: p.assert_identity.then(|| format!("<sip:{user}@{host}>")),
            trunk: Some(TrunkRoute {
                id: trunk.id.clone(),
                credentials: trunk.credentials.as_ref().map(|c| ClientCredentials {
                    username: c.digest_user().to_string(),
                    password: c.password.clone(),
                }),
                privacy: p.privacy.clone(),
            }),
        });
    }
    let Some(slot) = slot else {
        return Err(if cfg.outbound.trunks.is_empty() {
            "no trunk is configured for numbers".into()
        } else {
            "every trunk is at its call limit".into()
        });
    };
    let mut routes = routes.into_iter();
    let first = routes
        .next()
        .ok_or_else(|| "no trunk can reach the number".to_string())?;
    Ok((first, routes.collect(), slot))
}

/// Where a specialist's phone is reached: the softphone's latest
/// registration (found by the driver), the configured URI, or the number
/// through the trunk.
pub fn specialist_target(cfg: &CallConfig, id: &SpecialistId) -> Result<LegTarget, String> {
    let s = cfg
        .specialists
        .get(id.as_str())
        .ok_or_else(|| "not configured".to_string())?;
    contact_target(cfg, &s.contact)
}

/// Where a specialist's `contact` is reached (see [`specialist_target`]);
/// numbers go through `cfg`'s trunks.
pub fn contact_target(cfg: &CallConfig, contact: &SpecialistContact) -> Result<LegTarget, String> {
    match contact {
        SpecialistContact::Registered { username, .. } => {
            Ok(LegTarget::Softphone(username.clone()))
        }
        SpecialistContact::Uri(u) => {
            let uri = rsip::Uri::try_from(u.as_str()).map_err(|e| e.to_string())?;
            let peer = peer_of_uri(&uri)
                .ok_or_else(|| "the URI's host is not an IP address over UDP".to_string())?;
            Ok(LegTarget::Address(uri, peer))
        }
        SpecialistContact::Number(n) => via_trunk(cfg, n),
    }
}

/// The outbound legs of one call.
#[derive(Debug)]
pub struct Legs {
    cfg: Arc<CallConfig>,
    slots: Vec<LegSlot>,
    pending: Vec<Pending>,
    seq: LegId,
    /// The key of the leg request being handled (for the leg's `Respond`).
    request_key: Option<TxKey>,
    events: VecDeque<LegEvent>,
}

impl Legs {
    pub fn new(cfg: Arc<CallConfig>) -> Legs {
        Legs {
            cfg,
            slots: Vec::new(),
            pending: Vec::new(),
            seq: 0,
            request_key: None,
            events: VecDeque::new(),
        }
    }

    /// What every call shares.
    pub fn config(&self) -> &CallConfig {
        &self.cfg
    }

    /// What the legs did that the owner must act on, oldest first.
    pub fn poll_event(&mut self) -> Option<LegEvent> {
        self.events.pop_front()
    }

    /// No leg is placed or waiting for its port.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty() && self.pending.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &LegSlot> {
        self.slots.iter()
    }

    pub fn get(&self, id: LegId) -> Option<&LegSlot> {
        self.slots.iter().find(|l| l.id == id)
    }

    /// Give each leg's port the rule `rule` computes for it (see
    /// [`crate::media::MediaPort::set_receive_rule`]).
    pub fn update_receive_rules(
        &mut self,
        out: &mut VecDeque<Output>,
        rule: impl Fn(&LegSlot) -> Option<crate::io::ReceiveRule>,
    ) {
        for slot in &mut self.slots {
            let r = rule(slot);
            slot.media.set_receive_rule(r, out);
        }
    }

    fn get_mut(&mut self, id: LegId) -> Option<&mut LegSlot> {
        self.slots.iter_mut().find(|l| l.id == id)
    }

    fn ids(&self) -> Vec<LegId> {
        self.slots.iter().map(|l| l.id).collect()
    }

    fn by_call_id(&self, call_id: &str) -> Option<LegId> {
        self.slots
            .iter()
            .find(|l| l.leg.call_id() == call_id)
            .map(|l| l.id)
    }

    /// Whether a leg has this Call-ID.
    pub fn has_call_id(&self, call_id: &str) -> bool {
        self.by_call_id(call_id).is_some()
    }

    // -- placing and driving --------------------------------------------------

    /// A new leg: the driver is asked for its port (and a softphone's
    /// contact); the INVITE goes out in [`Legs::prepared`]. The leg's id.
    pub fn place(
        &mut self,
        purpose: LegPurpose,
        plan: LegPlan,
        out: &mut VecDeque<Output>,
    ) -> LegId {
        self.seq += 1;
        let id = self.seq;
        let softphone = match &plan.target {
            LegTarget::Softphone(user) => Some(user.clone()),
            LegTarget::Address(..) | LegTarget::Number(_) => None,
        };
        self.pending.push(Pending { id, purpose, plan });
        out.push_back(Output::PrepareLeg { leg: id, softphone });
        id
    }

    /// The driver's answer to `PrepareLeg`: build the leg and send its INVITE.
    pub fn prepared(
        &mut self,
        now: Instant,
        id: LegId,
        result: Result<PreparedLeg, String>,
        out: &mut VecDeque<Output>,
    ) {
        let Some(i) = self.pending.iter().position(|p| p.id == id) else {
            // Cancelled while waiting: give the port back.
            if result.is_ok() {
                out.push_back(Output::Media {
                    id: MediaId::Leg(id),
                    command: crate::io::MediaCommand::Close,
                });
            }
            return;
        };
        let Pending { id, purpose, plan } = self.pending.swap_remove(i);
        let cfg = self.cfg.clone();
        let outbound = &cfg.outbound;
        let from_display = if plan.caller_identity.is_some() || !plan.hide_centre_name {
            Some(outbound.display.clone())
        } else {
            None
        };
        let prepared = result.and_then(|p| {
            let route = match (&plan.target, p.softphone) {
                (LegTarget::Address(u, peer), _) => Route {
                    local_contact: local_contact(&cfg, *peer, u),
                    via: cfg.address_for(peer.transport),
                    target: u.clone(),
                    peer: *peer,
                    from_uri: cfg.centre_uri(),
                    from_display: from_display.clone(),
                    pai: outbound
                        .has_number
                        .then(|| format!("<sip:{}@{}>", outbound.user, cfg.centre_host())),
                    trunk: None,
                },
                (LegTarget::Softphone(_), Some((u, peer))) => Route {
                    local_contact: local_contact(&cfg, peer, &u),
                    via: cfg.address_for(peer.transport),
                    target: u,
                    peer,
                    from_uri: cfg.centre_uri(),
                    from_display: from_display.clone(),
                    pai: outbound
                        .has_number
                        .then(|| format!("<sip:{}@{}>", outbound.user, cfg.centre_host())),
                    trunk: None,
                },
                (LegTarget::Softphone(_), None) => {
                    return Err("softphone not registered".to_string())
                }
                (LegTarget::Number(n), _) => {
                    let (first, rest, slot) = trunk_routes(&cfg, n, from_display.as_deref())?;
                    return Ok((p.port, first, rest, Some(slot)));
                }
            };
            Ok((p.port, route, Vec::new(), None))
        });
        let (port, first, alternatives, trunk_slot) = match prepared {
            Ok(p) => p,
            Err(why) => {
                out.push_back(Output::Media {
                    id: MediaId::Leg(id),
                    command: crate::io::MediaCommand::Close,
                });
                self.events
                    .push_back(LegEvent::NotPlaced { id, purpose, why });
                return;
            }
        };
        let peer = first.peer;
        let config = LegConfig {
            target: first.target,
            peer,
            from_uri: first.from_uri,
            from_display: first.from_display,
            pai: first.pai,
            local_contact: first.local_contact,
            via: first.via,
            sdp_offer: sdp::build_offer(
                cfg.media_ip,
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
            trunk: first.trunk,
            alternatives,
        };
        let leg = Leg::new(config, now);
        out.push_back(Output::Alias {
            leg_call_id: leg.call_id().to_string(),
        });
        self.slots.push(LegSlot {
            id,
            purpose,
            leg,
            media: MediaPort::new(MediaId::Leg(id), port),
            whispering: false,
            accepted: false,
            bridged: false,
            language: plan.language,
            trunk_slot,
        });
        self.drive(now, id, out);
    }

    /// Carry out what a leg asks, until it asks nothing more; a leg whose
    /// SIP side is over is forgotten and its port closed.
    fn drive(&mut self, now: Instant, id: LegId, out: &mut VecDeque<Output>) {
        for _ in 0..MAX_ACTIONS {
            let Some(action) = self.get_mut(id).and_then(|s| s.leg.poll_action()) else {
                break;
            };
            self.action(now, id, action, out);
        }
        let done = self.get(id).is_some_and(|l| l.leg.is_terminated());
        if done {
            self.slots.retain(|l| l.id != id);
            out.push_back(Output::Media {
                id: MediaId::Leg(id),
                command: crate::io::MediaCommand::Close,
            });
        }
    }

    fn action(&mut self, now: Instant, id: LegId, action: LegAction, out: &mut VecDeque<Output>) {
        let cfg = self.cfg.clone();
        let request_key = self.request_key;
        let Some(slot) = self.get_mut(id) else {
            return;
        };
        let purpose = slot.purpose.clone();
        match action {
            LegAction::SendInvite(request) | LegAction::SendCancel(request) => {
                let peer = slot.leg.peer();
                out.push_back(Output::Request {
                    request: Box::new(request),
                    peer,
                });
            }
            LegAction::SendBye(request) => {
                let peer = slot.leg.request_peer();
                out.push_back(Output::Request {
                    request: Box::new(request),
                    peer,
                });
            }
            LegAction::SendAck(request) => {
                let peer = slot.leg.request_peer();
                out.push_back(Output::Stateless {
                    message: Box::new(rsip::SipMessage::Request(request)),
                    peer,
                });
            }
            LegAction::Respond(response) => {
                if let Some(key) = request_key {
                    out.push_back(Output::Respond { key, response });
                }
            }
            LegAction::ReInvite(request) => {
                if let Some(key) = request_key {
                    let response = answer_reinvite(&cfg, slot, &request, out);
                    out.push_back(Output::Respond { key, response });
                }
            }
            LegAction::Ringing => {}
            LegAction::PickedUp => {
                // The phone answered: start the leg's media (whisper stream, DTMF).
                // Senim chose whom to call, and the answer came back in its
                // own transaction: the answer's address is vouched for.
                if let Some(n) = slot.leg.negotiated().cloned() {
                    let signalling = slot.leg.peer().addr.ip();
                    slot.media.agree(&n, signalling, true, out);
                    slot.media.start_stream(out);
                }
                self.events.push_back(LegEvent::PickedUp { id, purpose });
            }
            LegAction::PlayWhisper(ids) => {
                let lang = slot.language;
                let prompts = ids
                    .iter()
                    .filter_map(|p| cfg.prompts.get(p, lang))
                    .collect();
                // Nothing to play: the accept window still runs.
                slot.whispering = slot.media.play(prompts, out);
            }
            LegAction::StopWhisper => {
                slot.whispering = false;
                slot.media.stop_prompt(out);
            }
            LegAction::Bridge => {
                slot.accepted = true;
                self.events.push_back(LegEvent::Accepted { id, purpose });
            }
            LegAction::Ended(end) => {
                slot.whispering = false;
                slot.media.stop_stream(out);
                self.events.push_back(LegEvent::Ended { id, purpose, end });
            }
            LegAction::Record(step) => {
                let step = format!("{}: {step}", purpose.who());
                self.events.push_back(LegEvent::Record { id, step });
            }
            LegAction::WrapUpCode(kind) => {
                self.events
                    .push_back(LegEvent::WrapUpCode { id, purpose, kind });
            }
            LegAction::Failover {
                trunk,
                why,
                no_response,
            } => {
                let failed = cfg.outbound.trunks.iter().find(|t| t.id == trunk);
                if let Some(t) = failed.filter(|t| no_response && t.probed) {
                    tracing::warn!(trunk = %t.id, %why, "trunk marked down until it answers a probe");
                    t.load.set_up(false);
                }
                // The next trunk must be up and under its cap (providers
                // refuse calls over it). The failed trunk's slot is given
                // back once the next one's is held, or with the leg.
                let mut claimed = None;
                slot.leg.fail_over(now, |route| {
                    let trunk = cfg.outbound.trunks.iter().find(|t| t.id == route.id);
                    // Routes come from the configuration; an id not in it
                    // cannot take the call.
                    let held = trunk.ok_or(TrunkRefusal::Down)?.claim()?;
                    claimed = Some(held);
                    Ok(())
                });
                if claimed.is_some() {
                    slot.trunk_slot = claimed;
                }
            }
        }
    }

    /// Play `prompt` to a leg over and over (hold audio while the other
    /// side is being called), until the leg is bridged or ends.
    pub fn play_loop(&mut self, id: LegId, prompt: &str, out: &mut VecDeque<Output>) {
        let cfg = self.cfg.clone();
        let Some(slot) = self.get_mut(id) else {
            return;
        };
        let Some(p) = cfg.prompts.get(prompt, slot.language) else {
            tracing::warn!(prompt, "prompt missing");
            return;
        };
        slot.whispering = false;
        slot.media.play_loop(p, out);
    }

    // -- what the owner asks --------------------------------------------------

    /// Stop ringing a leg (or hang it up once accepted).
    pub fn cancel(&mut self, now: Instant, id: LegId, out: &mut VecDeque<Output>) {
        self.pending.retain(|p| p.id != id);
        if let Some(slot) = self.get_mut(id) {
            if slot.accepted {
                slot.leg.hangup(now);
            } else {
                slot.leg.cancel(now);
            }
        }
        self.drive(now, id, out);
    }

    /// End a leg whatever its state (CANCEL while ringing, BYE once answered).
    pub fn hang_up(&mut self, now: Instant, id: LegId, out: &mut VecDeque<Output>) {
        self.pending.retain(|p| p.id != id);
        if let Some(slot) = self.get_mut(id) {
            slot.leg.hangup(now);
        }
        self.drive(now, id, out);
    }

    /// End every leg (those waiting for a port are dropped).
    pub fn hang_up_all(&mut self, now: Instant, out: &mut VecDeque<Output>) {
        self.hang_up_all_but(now, None, out);
    }

    /// End every leg but `keep` (those waiting for a port are dropped).
    pub fn hang_up_all_but(
        &mut self,
        now: Instant,
        keep: Option<LegId>,
        out: &mut VecDeque<Output>,
    ) {
        self.pending.clear();
        for id in self.ids() {
            if Some(id) != keep {
                self.hang_up(now, id, out);
            }
        }
    }

    /// The caller left a bridged leg: unbridge it and play the wrap-up
    /// menu on it (its stream starts again, its keys are listened to).
    /// False when the leg is not bridged (nothing done).
    pub fn wrap_up(
        &mut self,
        now: Instant,
        id: LegId,
        menu: WrapUpMenu,
        out: &mut VecDeque<Output>,
    ) -> bool {
        let Some(slot) = self.get_mut(id) else {
            return false;
        };
        if !slot.bridged || !slot.leg.wrap_up(menu, now) {
            return false;
        }
        slot.bridged = false;
        slot.media.start_stream(out);
        self.drive(now, id, out);
        true
    }

    /// Cancel every leg that matches `which` (accepted ones are hung up).
    pub fn cancel_where(
        &mut self,
        now: Instant,
        which: impl Fn(&LegPurpose) -> bool,
        out: &mut VecDeque<Output>,
    ) {
        self.pending.retain(|p| !which(&p.purpose));
        let ids: Vec<LegId> = self
            .slots
            .iter()
            .filter(|l| which(&l.purpose))
            .map(|l| l.id)
            .collect();
        for id in ids {
            if let Some(slot) = self.get_mut(id) {
                slot.leg.cancel(now);
            }
            self.drive(now, id, out);
        }
    }

    /// The leg's media is bridged from now on: its whisper and hold stop,
    /// its RTP goes to the owner as [`Relay`].
    pub fn bridge(&mut self, id: LegId, out: &mut VecDeque<Output>) {
        if let Some(slot) = self.get_mut(id) {
            slot.whispering = false;
            slot.media.stop_stream(out);
            slot.bridged = true;
        }
    }

    /// Send a packet relayed from the other side of a bridge into leg `id`.
    pub fn relay_into(
        &self,
        id: LegId,
        data: &[u8],
        from_codec: Codec,
        from_te: Option<u8>,
        out: &mut VecDeque<Output>,
    ) {
        if let Some(slot) = self.get(id) {
            let m = &slot.media;
            if let (Some(remote), Some(packet)) = (
                m.remote(),
                relay_packet(data, from_codec, from_te, m.codec, m.telephone_event),
            ) {
                out.push_back(Output::SendRtp {
                    from: MediaId::Leg(id),
                    to: remote,
                    data: packet,
                });
            }
        }
    }

    // -- inputs -----------------------------------------------------------------

    /// RTP from a leg; a bridged leg's packet is handed back to relay.
    pub fn rtp(
        &mut self,
        now: Instant,
        id: LegId,
        data: &[u8],
        from: SocketAddr,
        out: &mut VecDeque<Output>,
    ) -> Option<Relay> {
        let slot = self.get_mut(id)?;
        // Only the far end's own RTP counts (strict RTP).
        let (header, payload) = slot.media.receive(now, from, data, out)?;
        if slot.bridged {
            return Some(Relay {
                leg: id,
                codec: slot.media.codec,
                telephone_event: slot.media.telephone_event,
            });
        }
        if let Some((digit, source)) = slot.media.detect(&header, payload, None) {
            tracing::info!(digit = %digit.as_char(), source = source.as_str(), "leg digit");
            slot.leg.on_digit(digit.as_char(), now);
            self.drive(now, id, out);
        }
        None
    }

    /// A prompt on a leg's stream ended: the next of the whisper, the hold
    /// loop again, or the whisper is over.
    pub fn prompt_finished(
        &mut self,
        now: Instant,
        id: LegId,
        token: u64,
        out: &mut VecDeque<Output>,
    ) {
        let Some(slot) = self.get_mut(id) else {
            return;
        };
        if slot.media.prompt_finished(token, out) == PromptEnd::Finished && slot.whispering {
            slot.whispering = false;
            slot.leg.on_whisper_finished(now);
            self.drive(now, id, out);
        }
    }

    /// A response for a leg's request. False if no leg has its Call-ID.
    pub fn on_response(
        &mut self,
        now: Instant,
        call_id: &str,
        response: &rsip::Response,
        out: &mut VecDeque<Output>,
    ) -> bool {
        let Some(id) = self.by_call_id(call_id) else {
            return false;
        };
        if let Some(slot) = self.get_mut(id) {
            slot.leg.on_response(response, now);
        }
        self.drive(now, id, out);
        true
    }

    /// A leg's transaction timed out. False if no leg has that Call-ID.
    pub fn on_timeout(
        &mut self,
        now: Instant,
        call_id: &str,
        method: Method,
        out: &mut VecDeque<Output>,
    ) -> bool {
        let Some(id) = self.by_call_id(call_id) else {
            return false;
        };
        if method == Method::Invite {
            if let Some(slot) = self.get_mut(id) {
                slot.leg.on_invite_timeout(now);
            }
            self.drive(now, id, out);
        }
        true
    }

    /// A request in a leg's dialog. False if no leg has its Call-ID.
    pub fn on_request(
        &mut self,
        now: Instant,
        key: TxKey,
        request: &rsip::Request,
        out: &mut VecDeque<Output>,
    ) -> bool {
        let sip = rsip::SipMessage::Request(request.clone());
        let Some(call_id) = message::call_id(&sip) else {
            return false;
        };
        let Some(id) = self.by_call_id(&call_id) else {
            return false;
        };
        self.request_key = Some(key);
        if let Some(slot) = self.get_mut(id) {
            slot.leg.on_request(request, now);
        }
        self.drive(now, id, out);
        self.request_key = None;
        if request.method == Method::Info {
            let content_type = message::header_value(&sip, "Content-Type").unwrap_or("");
            if let Ok(digit) = dtmf::parse_info_body(content_type, &request.body) {
                if let Some(slot) = self.get_mut(id) {
                    slot.leg.on_digit(digit.as_char(), now);
                }
                self.drive(now, id, out);
            }
        }
        true
    }

    /// The next moment a leg needs the clock.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.slots.iter().filter_map(|l| l.leg.poll_timeout()).min()
    }

    /// Let the legs whose time has come act.
    pub fn handle_timeout(&mut self, now: Instant, out: &mut VecDeque<Output>) {
        for id in self.ids() {
            if let Some(slot) = self.get_mut(id) {
                if slot.leg.poll_timeout().is_some_and(|t| t <= now) {
                    slot.leg.handle_timeout(now);
                }
            }
            self.drive(now, id, out);
        }
    }
}

/// A re-INVITE from a leg's far end (hold, a new address): the answer with
/// the leg's own media.
fn answer_reinvite(
    cfg: &CallConfig,
    slot: &mut LegSlot,
    request: &rsip::Request,
    out: &mut VecDeque<Output>,
) -> rsip::Response {
    let contact = slot.leg.contact();
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
    let port = slot.media.local_port;
    let body = match answer {
        Some(Ok((offer, n))) => {
            // In the leg's own dialog: vouched for, as its answer was.
            let signalling = slot.leg.peer().addr.ip();
            slot.media.agree(&n, signalling, true, out);
            sdp::build_answer_to_offer(&offer, cfg.media_ip, port, 1, 2, &n)
        }
        Some(Err(code)) => {
            let reason = if code == 400 {
                "Bad Request"
            } else {
                "Not Acceptable Here"
            };
            return message::response(request, code, reason, Some(&tag));
        }
        None => sdp::build_offer(cfg.media_ip, port, 1, &LEG_CODECS),
    };
    let mut ok = message::response(request, 200, "OK", Some(&tag));
    ok.headers
        .push(rsip::Header::Contact(format!("<{contact}>").into()));
    message::set_body(&mut ok, Some("application/sdp"), body.into_bytes());
    ok
}
