//! One caller's call as a sans-IO state machine: it answers the INVITE,
//! keeps the dialog, receives the caller's RTP (strict RTP, DTMF
//! by RFC 4733, SIP INFO or in-band tones), drives the menu flow, routes to
//! specialists, bridges, transfers to partners, takes voicemail and callback
//! requests, and writes the call record at every step.
//!
//! The state is in [`state`]; each other room is an `impl Call` of one
//! concern. [`Call`] is driven through [`CallCore`].

mod callback;
mod dialog;
mod memory;
mod menu;
mod receive;
mod routing;
mod state;
mod transfer;
mod voicemail;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use senim_dialplan::{Event as PlanEvent, Interpreter, Plan};
use senim_media::dtmf::{Digit, DigitDeduplicator, DtmfSource};
use senim_media::sdp::SrtpPolicy;
use senim_routing::router::Action as RouterAction;
use senim_sip::message::Peer;
use senim_sip::transaction::TxKey;

pub use callback::new_id;
pub use dialog::{call_id_of, caller_number, ALLOW};
pub use state::{Call, Phase, HARD_LIMIT, LEG_DRAIN, WRITE_LIMIT};

use crate::config::CallConfig;
use crate::core::CallCore;
use crate::io::{LegId, MediaId, Output, PreparedLeg, SipInput};
use crate::legs::Legs;
use crate::time::WallClock;
use state::{VoicemailState, DTMF_DEDUP_WINDOW};

/// A new INVITE, as the driver hands it to a new call.
#[derive(Debug)]
pub struct Incoming {
    /// The call record's id (a UUID).
    pub id: String,
    pub key: TxKey,
    pub invite: rsip::Request,
    pub peer: Peer,
    /// The RTP port bound for the caller, or why none could be.
    pub port: Result<u16, String>,
    /// The registered softphone the INVITE came from (where one of its
    /// bindings registered from), by username.
    pub softphone: Option<String>,
    /// The caller as remembered from an earlier call, when the driver found
    /// them (by [`crate::memory::memory_key`]) in time; `None`: a new caller.
    pub remembered: Option<crate::memory::Remembered>,
}

impl Call {
    /// A call for a new INVITE: it answers (or refuses) at once.
    pub fn answer_new(
        cfg: Arc<CallConfig>,
        plan: Arc<Plan>,
        clock: WallClock,
        incoming: Incoming,
    ) -> Call {
        let now = clock.at;
        let Incoming {
            id,
            key,
            invite,
            peer,
            port,
            softphone,
            remembered,
        } = incoming;
        // Where the call came from and which of the centre's numbers it
        // dialled: a line starts the plan at its own node.
        let trunk = cfg.outbound.trunk_for(&invite, peer.addr);
        let line = cfg.line_for(&invite, trunk);
        let mut flow = line
            .and_then(|l| Interpreter::starting_at(plan.clone(), &l.start))
            .unwrap_or_else(|| Interpreter::new(plan));
        let memory_key = crate::memory::memory_key(&invite, cfg.numbers.as_ref());
        let remembered = remembered.filter(|_| memory_key.is_some());
        if let Some(r) = &remembered {
            flow.set_remembered(&r.language);
        }
        if let Some(l) = line {
            tracing::info!(line = %l.number, start = %flow.entry(), "call to a line");
        }
        let trunk = trunk.map(|t| t.id.clone());
        let line = line.map(|l| l.number.clone());
        let mut call = Call {
            legs: Legs::new(cfg.clone()),
            cfg,
            clock,
            now,
            id,
            sip_call_id: call_id_of(&invite),
            invite_key: key,
            invite,
            peer,
            phase: Phase::Answered,
            dialog: None,
            media: None,
            late_offer: false,
            srtp: SrtpPolicy::Off,
            softphone,
            srtp_buf: Vec::new(),
            sdp_version: 1,
            session_id: rand::random::<u32>().into(),
            flow,
            trunk,
            line,
            timer: None,
            dedup: DigitDeduplicator::new(DTMF_DEDUP_WINDOW),
            digit_seq: 0,
            early_keys: Vec::new(),
            step_seq: 0,
            routing_seq: 0,
            routing: None,
            router_held: false,
            bridge: None,
            transfer: None,
            voicemail: VoicemailState::default(),
            callback: None,
            service: None,
            specialist: None,
            memory_key,
            remembered,
            ended_at: None,
            abandoned: false,
            hard_limit: now + HARD_LIMIT,
            out: VecDeque::new(),
        };
        if call.answer(port) {
            call.remembered_seen(None);
        }
        call
    }

    /// The call record's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The caller's SIP Call-ID.
    pub fn sip_call_id(&self) -> &str {
        &self.sip_call_id
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// The dialplan node the caller is at.
    pub fn node(&self) -> &str {
        self.flow.node()
    }

    /// The trunk the call came in through (its id), if any.
    pub fn trunk(&self) -> Option<&str> {
        self.trunk.as_deref()
    }

    /// The line the caller dialled (its normalised number), if any.
    pub fn line(&self) -> Option<&str> {
        self.line.as_deref()
    }

    /// The leg bridged with the caller, if any.
    pub fn bridged_leg(&self) -> Option<LegId> {
        self.bridge
    }

    /// Settle after an input: what the legs did, and the end of the call.
    fn settle(&mut self) {
        self.leg_events();
        self.receive_rules();
    }
}

impl CallCore for Call {
    fn handle_sip(&mut self, now: Instant, input: SipInput) {
        self.now = now;
        self.sip(input);
        self.settle();
    }

    fn handle_rtp(&mut self, now: Instant, media: MediaId, data: &[u8], from: SocketAddr) {
        self.now = now;
        match media {
            MediaId::Caller => self.caller_rtp(data, from),
            MediaId::Leg(leg) => {
                if let Some(relay) = self.legs.rtp(now, leg, data, from, &mut self.out) {
                    if self.bridge == Some(relay.leg) {
                        self.relay_to_caller(data, relay.codec, relay.telephone_event);
                    }
                }
            }
        }
        self.settle();
    }

    fn handle_digit(&mut self, now: Instant, media: MediaId, digit: Digit) {
        self.now = now;
        if media == MediaId::Caller {
            self.digit(digit, DtmfSource::Inband);
        }
        self.settle();
    }

    fn handle_prompt_finished(&mut self, now: Instant, media: MediaId, token: u64) {
        self.now = now;
        match media {
            MediaId::Caller => self.caller_prompt_finished(token),
            MediaId::Leg(leg) => self.legs.prompt_finished(now, leg, token, &mut self.out),
        }
        self.settle();
    }

    fn handle_leg_prepared(
        &mut self,
        now: Instant,
        leg: LegId,
        result: Result<PreparedLeg, String>,
    ) {
        self.now = now;
        self.legs.prepared(now, leg, result, &mut self.out);
        self.settle();
    }

    fn handle_router(&mut self, now: Instant, action: RouterAction) {
        self.now = now;
        self.router_action(action);
        self.settle();
    }

    fn handle_router_released(&mut self, now: Instant) {
        self.now = now;
        self.router_held = false;
    }

    fn handle_voicemail_written(&mut self, now: Instant, result: Result<String, String>) {
        self.now = now;
        self.voicemail_written(result);
        self.settle();
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        if now >= self.hard_limit && !self.abandoned {
            self.send_bye();
            self.end("time-limit", Some("senim"));
            self.abandoned = true;
        }
        if self.timer.is_some_and(|t| t <= now) {
            self.timer = None;
            if self.callback.is_some() {
                self.callback_timeout();
            } else {
                self.flow_event(PlanEvent::Timeout);
            }
        }
        self.legs.handle_timeout(now, &mut self.out);
        self.refer_timeout();
        self.voicemail_timeout();
        self.settle();
    }

    fn poll_output(&mut self) -> Option<Output> {
        crate::io::pop_output(&mut self.out)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let drain = self.ended_at.map(|t| t + LEG_DRAIN);
        [
            self.timer,
            self.legs.poll_timeout(),
            self.refer_wake(),
            self.voicemail_wake(),
            drain,
            Some(self.hard_limit),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn is_finished(&self, now: Instant) -> bool {
        if self.abandoned {
            return true;
        }
        let Some(ended) = self.ended_at else {
            return false;
        };
        if self.voicemail.write.is_some() && self.write_deadline().is_some_and(|t| now < t) {
            return false;
        }
        // The caller's side is over; outbound legs may still need their
        // CANCEL, BYE or final responses, and the router's last records (an
        // abandoned caller's wait) come after the hang-up.
        (self.legs.is_empty() && !self.router_held) || now >= ended + LEG_DRAIN
    }
}
