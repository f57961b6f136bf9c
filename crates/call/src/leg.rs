//! One outbound leg of Senim's B2BUA: Senim calls a specialist's phone (or a
//! partner centre) for a caller who waits in the IVR.
//!
//! A sans-IO state machine: no sockets, no tasks, no clock. The call
//! controller feeds it responses, digits, in-dialog requests and timer
//! expiries (each with `now`), and carries out what [`Leg::poll_action`]
//! returns (send the INVITE/ACK/CANCEL/BYE, play the whisper, bridge).
//! See `docs/legs.md` for the driving contract.
//!
//! The life of a leg:
//!
//! ```text
//! Calling ──1xx──> (ringing) ──2xx──> Whisper ──accept key──> Bridged ──BYE either side──> over
//!    │                                  │  no key in time / far-end BYE / decline key ──> BYE, over
//!    │ 3xx-6xx / ring timeout / cancel  └─ cancel / hangup ──> BYE, over
//!    v
//! over (CANCEL sent when needed; a 2xx that races the CANCEL gets ACK + BYE)
//! ```

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use rsip::{Header, Headers, Method, Request, Response, Uri};
use senim_media::g711::Codec;
use senim_media::sdp;
use senim_routing::router::{LegResult, RingResult};
use senim_sip::dialog::{Dialog, DialogError, DialogId};
use senim_sip::digest::client::{authorize_request, new_cnonce, ClientCredentials};
use senim_sip::message::{self, Peer, Transport};

use crate::trunk::TrunkRefusal;

/// Methods a leg answers, in the INVITE's `Allow` and in 405 responses.
pub const LEG_ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO";

/// How long to wait for the final response to a cancelled INVITE before
/// giving up on it (RFC 3261 §9.1: 64·T1).
pub const CANCEL_GUARD: Duration = Duration::from_secs(32);

/// Forks remembered after ACK + BYE (a retransmitted 2xx is then only
/// re-ACKed); bounded so a misbehaving peer cannot grow the leg.
const MAX_CLOSED_FORKS: usize = 16;

/// With another trunk to try, how long a trunk may stay silent (not even a
/// 100 Trying) before the INVITE goes to the next one.
pub const ROUTE_GUARD: Duration = Duration::from_secs(4);

/// Responses after which the next trunk is tried: the trunk (not the
/// called phone) failed.
fn is_trunk_failure(code: u16) -> bool {
    code == 408 || (500..=599).contains(&code)
}

/// Longest display name taken from the configuration (longer ones are cut).
const MAX_DISPLAY: usize = 64;

/// What a leg needs to call someone.
#[derive(Clone, Debug)]
pub struct LegConfig {
    /// Request-URI of the INVITE (a registered binding's Contact, a
    /// specialist's `uri`, or a number at the trunk).
    pub target: Uri,
    /// Where to send the INVITE and CANCEL (the binding's source, the
    /// resolved URI, or the trunk).
    pub peer: Peer,
    /// The centre's identity: the From URI of every outbound leg.
    pub from_uri: Uri,
    /// Display name of the From header when the caller's identity is not
    /// shared (e.g. "Senim"); `None` for none.
    pub from_display: Option<String>,
    /// P-Asserted-Identity (RFC 3325): the centre's number, as a URI
    /// (`sip:+77232...@trunk` or `tel:+7...`; angle brackets optional).
    pub pai: Option<String>,
    /// Senim's Contact.
    pub local_contact: Uri,
    /// Senim's address for the Via sent-by.
    pub via: SocketAddr,
    /// The SDP offer (built with `senim_media::sdp::build_offer`).
    pub sdp_offer: String,
    /// The codecs that offer lists; the answer must pick one of them.
    pub codecs: Vec<Codec>,
    /// How long the phone may ring before Senim cancels (no answer).
    pub ring_timeout: Duration,
    /// How long after pick-up the accept key may be pressed (e.g. 15 s).
    pub accept_timeout: Duration,
    /// The key that accepts the call (usually `'1'`).
    pub accept_digit: char,
    /// A key that declines the call at once (`None`: no such key).
    pub decline_digit: Option<char>,
    /// Prompt ids of the whisper, played in order and repeated until the
    /// accept window ends.
    pub whisper: Vec<String>,
    /// The caller's number, only when the centre configured sharing it with
    /// specialists: then it is the From display name and `Privacy: none` is
    /// added. `None`: the specialist sees only the centre.
    pub caller_identity: Option<String>,
    /// More headers for the INVITE (e.g. context for a partner centre).
    /// Names must be tokens; values lose CR/LF. Identity headers
    /// (From, To, P-Asserted-Identity, Privacy, ...) are refused silently.
    pub extra_headers: Vec<(String, String)>,
    /// Bridge as soon as the far end answers, without whisper or key: for
    /// a partner centre, whose answering is the acceptance.
    pub bridge_on_answer: bool,
    /// The route of the first INVITE when it goes through a trunk: the
    /// trunk's id, its credentials and the `Privacy` header.
    pub trunk: Option<TrunkRoute>,
    /// Further trunks to try, in order, when the first fails within the
    /// same attempt (5xx, 408, or no response at all); each must still be
    /// able to take the call then ([`Leg::fail_over`]).
    pub alternatives: Vec<Route>,
}

impl LegConfig {
    /// Senim's Contact towards the current route: over TCP and TLS it says
    /// so (`;transport=tcp`, `;transport=tls`, unless it is a `sips:` URI),
    /// so that requests back come the same way.
    pub fn contact(&self) -> Uri {
        use senim_sip::message::Transport;
        let mut uri = self.local_contact.clone();
        let has_transport = uri
            .params
            .iter()
            .any(|p| matches!(p, rsip::Param::Transport(_)));
        let sips = uri.scheme == Some(rsip::Scheme::Sips);
        if !has_transport && !sips {
            match self.peer.transport {
                Transport::Tcp => uri
                    .params
                    .push(rsip::Param::Transport(rsip::Transport::Tcp)),
                Transport::Tls => uri
                    .params
                    .push(rsip::Param::Transport(rsip::Transport::Tls)),
                Transport::Udp => {}
            }
        }
        uri
    }
}

/// What changes from one trunk to the next within one attempt.
#[derive(Clone, Debug)]
pub struct Route {
    pub target: Uri,
    pub peer: Peer,
    pub from_uri: Uri,
    pub from_display: Option<String>,
    pub pai: Option<String>,
    /// Senim's Contact towards this route (it names the route's transport).
    pub local_contact: Uri,
    /// Senim's Via sent-by towards this route (the TLS listener's over TLS).
    pub via: SocketAddr,
    /// `None` for a softphone or a configured URI.
    pub trunk: Option<TrunkRoute>,
}

/// A trunk as one route of a leg.
#[derive(Clone, Debug)]
pub struct TrunkRoute {
    /// The trunk's id (records, health).
    pub id: String,
    /// Answer 401/407 challenges with these.
    pub credentials: Option<ClientCredentials>,
    /// The `Privacy` header value (RFC 3323/3325), if any.
    pub privacy: Option<String>,
}

/// How a leg ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LegEnd {
    /// The specialist accepted, and the bridged conversation is over.
    Answered,
    /// Not answered in time, answered without the accept key (voicemail),
    /// or hung up during the whisper.
    NoAnswer,
    /// Declined: 603, or the decline key.
    Declined,
    /// Busy: 486 or 600.
    Busy,
    /// Failed: another error response, no response, an unusable answer.
    Failed(String),
    /// Ended by Senim before acceptance: the caller left, or another phone
    /// answered first (ring-all).
    Cancelled,
}

impl LegEnd {
    /// The result for `Router::leg_result` (`None` for [`LegEnd::Cancelled`]:
    /// the router asked for the cancel and expects no result).
    pub fn routing_result(&self) -> Option<LegResult> {
        match self {
            LegEnd::Answered => Some(LegResult::Answered),
            LegEnd::NoAnswer => Some(LegResult::NoAnswer),
            LegEnd::Declined => Some(LegResult::Declined),
            LegEnd::Busy => Some(LegResult::Busy),
            LegEnd::Failed(_) => Some(LegResult::Failed),
            LegEnd::Cancelled => None,
        }
    }

    /// The ring result for the call record.
    pub fn ring_result(&self) -> RingResult {
        match self.routing_result() {
            Some(r) => r.into(),
            None => RingResult::Cancelled,
        }
    }
}

/// What the controller must do for the leg.
#[derive(Clone, Debug, PartialEq)]
pub enum LegAction {
    /// Send the INVITE (a client transaction) to [`Leg::peer`]; feed its
    /// responses to [`Leg::on_response`].
    SendInvite(Request),
    /// Send this ACK statelessly to [`Leg::request_peer`].
    SendAck(Request),
    /// Send the CANCEL (a client transaction of its own) to [`Leg::peer`].
    SendCancel(Request),
    /// Send the BYE (a client transaction) to [`Leg::request_peer`]. Its
    /// response needs no feeding back.
    SendBye(Request),
    /// Answer the request just given to [`Leg::on_request`] with this
    /// response, on that request's server transaction.
    Respond(Response),
    /// The far end sent a re-INVITE (already checked against the dialog):
    /// the controller answers it (200 with its current SDP, or 488).
    ReInvite(Request),
    /// The phone is ringing (first 180/183): `Router` needs nothing; the
    /// controller may record it.
    Ringing,
    /// The phone was picked up and the whisper starts: call
    /// `Router::leg_picked_up` (the ring timeout becomes the accept timeout).
    PickedUp,
    /// Play these prompts, in order, to the leg's media; call
    /// [`Leg::on_whisper_finished`] when they are done.
    PlayWhisper(Vec<String>),
    /// Stop the whisper now.
    StopWhisper,
    /// The specialist accepted: `Router::leg_result(Answered)`, then bridge
    /// the caller's and the leg's media.
    Bridge,
    /// The leg is over for routing and media (emitted exactly once); its
    /// SIP side may still need [`Leg::on_response`] until
    /// [`Leg::is_terminated`].
    Ended(LegEnd),
    /// A step for the call record.
    Record(String),
    /// The wrap-up menu chose a kind of help (`Some(id)`), or ended
    /// without one (`None`); emitted once per menu, before the leg ends.
    WrapUpCode(Option<String>),
    /// The trunk `trunk` failed (`no_response`: it did not answer at all,
    /// or said 503/408) and other trunks are left. Answer at once with
    /// [`Leg::fail_over`], saying which of them may take the call: the
    /// INVITE then goes to the first that may ([`Leg::peer`] has changed),
    /// or, when none may, the leg goes on as if the failed trunk had been
    /// the only one.
    Failover {
        trunk: String,
        why: String,
        no_response: bool,
    },
}

/// How the current trunk failed, kept while the controller is asked for
/// the next one.
#[derive(Clone, Debug, PartialEq, Eq)]
enum TrunkFailure {
    /// A 408 or 5xx final response: its code and status line.
    Rejected(u16, String),
    /// The INVITE transaction timed out without any response.
    TimedOut,
    /// Nothing at all within [`ROUTE_GUARD`]; the INVITE is still out.
    Silent,
}

impl TrunkFailure {
    /// For the record and the log.
    fn why(&self) -> String {
        match self {
            TrunkFailure::Rejected(_, status) => status.clone(),
            TrunkFailure::TimedOut => "no response".to_string(),
            TrunkFailure::Silent => format!("no response within {} s", ROUTE_GUARD.as_secs()),
        }
    }
}

/// Why the leg did not fail over when no other trunk could take the call.
const NO_TRUNK_LEFT: &str = "no other trunk can take the call";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// INVITE sent, no final response yet.
    Calling,
    /// Cancel wanted before any 2xx; the CANCEL goes out once a provisional
    /// response arrived (RFC 3261 §9.1).
    Cancelling { sent: bool, guard: Instant },
    /// Answered; whisper playing; waiting for the accept key.
    Whisper { deadline: Instant },
    /// Accepted and bridged.
    Bridged,
    /// The caller hung up: the wrap-up menu plays to the specialist, who
    /// may press the key of a kind of help until `deadline`.
    WrapUp { deadline: Instant },
    /// A kind was chosen: the confirmation plays, then BYE (at the latest
    /// at `deadline`).
    WrapUpConfirm { deadline: Instant },
    /// Nothing more to do.
    Done,
}

/// One outbound leg.
#[derive(Debug)]
pub struct Leg {
    config: LegConfig,
    invite: Request,
    invite_cseq: u32,
    call_id: String,
    local_tag: String,
    state: State,
    ring_deadline: Instant,
    ringing: bool,
    provisional: bool,
    early_sdp: Option<String>,
    dialog: Option<Dialog>,
    ack: Option<Request>,
    remote_sdp: Option<String>,
    negotiated: Option<sdp::Negotiated>,
    accepted: bool,
    end: Option<LegEnd>,
    /// Forks that got ACK + BYE (so a retransmitted 2xx is only re-ACKed).
    closed_forks: Vec<(String, Request)>,
    actions: std::collections::VecDeque<LegAction>,
    /// The current INVITE carries an answer to a challenge (a second
    /// challenge that is not `stale` means the credentials are wrong).
    authorized: bool,
    /// With another trunk to try: move on when no response at all came by then.
    route_guard: Option<Instant>,
    /// A [`LegAction::Failover`] waits for [`Leg::fail_over`].
    failover: Option<TrunkFailure>,
    /// The wrap-up menu, once it started.
    wrap_up: Option<WrapUpMenu>,
}

/// The wrap-up menu on a specialist's phone after the caller hung up: what
/// it plays and which key means which kind of help.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WrapUpMenu {
    /// Prompt ids played in order: the question, then each kind's name.
    pub prompts: Vec<String>,
    /// The key of each kind, and the kind's id (stored on the call).
    pub kinds: Vec<(char, String)>,
    /// How long the specialist has to press a key, from the menu's start.
    pub timeout: Duration,
    /// The prompt played after a key that names a kind.
    pub confirm: String,
}

/// The longest the confirmation of a wrap-up code may play before BYE.
pub const WRAP_UP_CONFIRM_MAX: Duration = Duration::from_secs(5);
/// The longest the wrap-up menu's prompts may play: the time for a key
/// counts from their end, or from this long after the menu began when
/// their end is never reported (a prompt missing).
pub const WRAP_UP_PROMPTS_MAX: Duration = Duration::from_secs(12);

fn sent_by(addr: SocketAddr) -> String {
    match addr {
        SocketAddr::V4(a) => a.to_string(),
        SocketAddr::V6(a) => format!("[{}]:{}", a.ip(), a.port()),
    }
}

fn host_of(addr: SocketAddr) -> String {
    match addr.ip() {
        IpAddr::V4(ip) => ip.to_string(),
        IpAddr::V6(ip) => format!("[{ip}]"),
    }
}

/// A quoted-string display name: controls dropped, `"` and `\` escaped, cut
/// to [`MAX_DISPLAY`] characters. `None` when nothing is left.
fn quoted_display(text: &str) -> Option<String> {
    let clean: String = text
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_DISPLAY)
        .collect();
    let clean = clean.trim();
    if clean.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(clean.len() + 2);
    out.push('"');
    for c in clean.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    Some(out)
}

fn no_crlf(text: &str) -> String {
    text.chars().filter(|c| *c != '\r' && *c != '\n').collect()
}

fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-.!%*_+`'~".contains(c))
}

/// Headers a configuration may not add: they carry identities or framing.
const RESERVED_HEADERS: [&str; 16] = [
    "from",
    "to",
    "call-id",
    "cseq",
    "via",
    "contact",
    "max-forwards",
    "content-length",
    "content-type",
    "p-asserted-identity",
    "p-preferred-identity",
    "privacy",
    "remote-party-id",
    "diversion",
    "history-info",
    "route",
];

fn uri_socket_addr(uri: &Uri) -> Option<SocketAddr> {
    let ip: IpAddr = match &uri.host_with_port.host {
        rsip::Host::IpAddr(ip) => *ip,
        rsip::Host::Domain(d) => d.to_string().trim_matches(['[', ']']).parse().ok()?,
    };
    let port = uri.host_with_port.port.map_or(5060, |p| *p.value());
    Some(SocketAddr::new(ip, port))
}

fn status_phrase(response: &Response) -> String {
    let code = response.status_code.code();
    format!("{code} {}", message::reason_phrase(code))
}

impl Leg {
    /// A new leg in the Calling state; the first action is
    /// [`LegAction::SendInvite`].
    pub fn new(config: LegConfig, now: Instant) -> Leg {
        let call_id = message::new_call_id(&host_of(config.via));
        let local_tag = message::new_tag();
        let invite_cseq = 1;
        let invite = build_invite(&config, &call_id, &local_tag, invite_cseq);
        let mut leg = Leg {
            ring_deadline: now + config.ring_timeout,
            config,
            invite: invite.clone(),
            invite_cseq,
            call_id,
            local_tag,
            state: State::Calling,
            ringing: false,
            provisional: false,
            early_sdp: None,
            dialog: None,
            ack: None,
            remote_sdp: None,
            negotiated: None,
            accepted: false,
            end: None,
            closed_forks: Vec::new(),
            actions: std::collections::VecDeque::new(),
            authorized: false,
            route_guard: None,
            failover: None,
            wrap_up: None,
        };
        leg.arm_route_guard(now);
        leg.push(LegAction::SendInvite(invite));
        leg.push(LegAction::Record("calling".into()));
        leg
    }

    fn push(&mut self, action: LegAction) {
        self.actions.push_back(action);
    }

    fn record(&mut self, step: impl Into<String>) {
        self.push(LegAction::Record(step.into()));
    }

    /// Decide the outcome (once): emits [`LegAction::Ended`].
    fn finish(&mut self, end: LegEnd) {
        if self.end.is_none() {
            self.end = Some(end.clone());
            self.push(LegAction::Ended(end));
        }
    }

    /// The next thing to do, in order.
    pub fn poll_action(&mut self) -> Option<LegAction> {
        self.actions.pop_front()
    }

    /// The earliest deadline; call [`Leg::handle_timeout`] then.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Calling => Some(
                self.route_guard
                    .map_or(self.ring_deadline, |g| g.min(self.ring_deadline)),
            ),
            State::Cancelling { guard, .. } => Some(guard),
            State::Whisper { deadline }
            | State::WrapUp { deadline }
            | State::WrapUpConfirm { deadline } => Some(deadline),
            State::Bridged | State::Done => None,
        }
    }

    /// The INVITE's Call-ID (the key for this leg's messages).
    pub fn call_id(&self) -> &str {
        &self.call_id
    }

    /// Senim's From tag.
    pub fn local_tag(&self) -> &str {
        &self.local_tag
    }

    /// The INVITE as sent.
    pub fn invite(&self) -> &Request {
        &self.invite
    }

    /// The dialog, once a 2xx established it.
    pub fn dialog(&self) -> Option<&Dialog> {
        self.dialog.as_ref()
    }

    /// The far end's SDP answer.
    pub fn remote_sdp(&self) -> Option<&str> {
        self.remote_sdp.as_deref()
    }

    /// The negotiated audio (codec, where to send RTP, telephone-event PT).
    pub fn negotiated(&self) -> Option<&sdp::Negotiated> {
        self.negotiated.as_ref()
    }

    /// The trunk the INVITE goes through now, if any.
    pub fn trunk(&self) -> Option<&str> {
        self.config.trunk.as_ref().map(|t| t.id.as_str())
    }

    /// Senim's Contact on this leg (it names the leg's transport).
    pub fn contact(&self) -> Uri {
        self.config.contact()
    }

    /// Where the INVITE and CANCEL go: the configured peer.
    pub fn peer(&self) -> Peer {
        self.config.peer
    }

    /// Where in-dialog requests (ACK, BYE) go: over UDP the first route of
    /// the dialog when it is a numeric address, else the configured peer
    /// (behind NAT, the address that works).
    pub fn request_peer(&self) -> Peer {
        if self.config.peer.transport == Transport::Udp {
            if let Some(addr) = self
                .dialog
                .as_ref()
                .and_then(|d| d.route_set.first())
                .and_then(uri_socket_addr)
            {
                return Peer::udp(addr);
            }
        }
        self.config.peer
    }

    /// The routing result: `Answered` from acceptance on, the failure once
    /// decided, `None` while undecided or when cancelled by Senim.
    pub fn result(&self) -> Option<LegResult> {
        if self.accepted {
            return Some(LegResult::Answered);
        }
        self.end.as_ref().and_then(LegEnd::routing_result)
    }

    /// The outcome, once decided ([`LegAction::Ended`] was emitted).
    pub fn outcome(&self) -> Option<&LegEnd> {
        self.end.as_ref()
    }

    /// The specialist pressed the accept key and the media is bridged (or was).
    pub fn is_accepted(&self) -> bool {
        self.accepted
    }

    /// Nothing more is expected on the SIP side: the controller may drop the
    /// leg (late retransmissions are then stray and ignored by it).
    pub fn is_terminated(&self) -> bool {
        self.state == State::Done
    }

    fn transport(&self) -> Transport {
        self.config.peer.transport
    }

    fn cancel_request(&self) -> Request {
        build_cancel(&self.invite)
    }

    fn send_cancel(&mut self) {
        let cancel = self.cancel_request();
        self.push(LegAction::SendCancel(cancel));
        self.record("cancel sent");
    }

    fn send_bye(&mut self) {
        let (via, transport) = (self.config.via, self.transport());
        if let Some(d) = self.dialog.as_mut() {
            let bye = d.make_request(Method::Bye, via, transport);
            self.push(LegAction::SendBye(bye));
        }
    }

    /// Stop the whisper (if playing), BYE, and finish.
    fn end_answered(&mut self, end: LegEnd, step: &str) {
        if matches!(
            self.state,
            State::Whisper { .. } | State::WrapUp { .. } | State::WrapUpConfirm { .. }
        ) {
            self.push(LegAction::StopWhisper);
        }
        self.send_bye();
        self.record(step);
        self.finish(end);
        self.state = State::Done;
    }

    /// Before a 2xx: CANCEL now if a provisional response came, else as soon
    /// as one comes.
    fn start_cancel(&mut self, end: LegEnd, step: &str, now: Instant) {
        self.record(step);
        self.finish(end);
        let sent = self.provisional;
        self.state = State::Cancelling {
            sent,
            guard: now + CANCEL_GUARD,
        };
        if sent {
            self.send_cancel();
        }
    }

    // -----------------------------------------------------------------------
    // Inputs
    // -----------------------------------------------------------------------

    /// A response from the INVITE's client transaction (responses to other
    /// requests of the leg, such as the BYE's or CANCEL's, are ignored).
    pub fn on_response(&mut self, response: &Response, now: Instant) {
        if message::call_id(response).as_deref() != Some(self.call_id.as_str())
            || message::from_tag(response).as_deref() != Some(self.local_tag.as_str())
        {
            return;
        }
        match message::cseq(response) {
            Some((n, Method::Invite)) if n == self.invite_cseq => {}
            _ => return,
        }
        let code = response.status_code.code();
        match code {
            100..=199 => self.on_provisional(response),
            200..=299 => self.on_success(response, now),
            300..=699 => self.on_failure(response, now),
            _ => {}
        }
    }

    fn on_provisional(&mut self, response: &Response) {
        let code = response.status_code.code();
        self.route_guard = None;
        // RFC 3261 §9.1: any provisional response (100 included) allows a CANCEL.
        self.provisional = true;
        match self.state {
            State::Calling if code > 100 => {
                if !response.body.is_empty() {
                    if let Ok(text) = std::str::from_utf8(&response.body) {
                        self.early_sdp = Some(text.to_string());
                    }
                }
                if !self.ringing {
                    self.ringing = true;
                    self.push(LegAction::Ringing);
                    self.record("ringing");
                }
            }
            State::Cancelling { sent: false, guard } => {
                self.state = State::Cancelling { sent: true, guard };
                self.send_cancel();
            }
            _ => {}
        }
    }

    fn on_failure(&mut self, response: &Response, now: Instant) {
        let code = response.status_code.code();
        let state = self.state;
        if state == State::Calling
            && self.failover.is_none()
            && (code == 401 || code == 407)
            && self.answer_challenge(response, now)
        {
            return;
        }
        match state {
            // The trunk was given up on already: its INVITE's last words.
            State::Calling if self.failover.is_some() => {}
            State::Calling if is_trunk_failure(code) && !self.config.alternatives.is_empty() => {
                let failure = TrunkFailure::Rejected(code, status_phrase(response));
                self.ask_route(failure, matches!(code, 408 | 503));
            }
            State::Calling => self.rejected(code, status_phrase(response)),
            State::Cancelling { .. } => {
                self.record(format!("INVITE ended: {}", status_phrase(response)));
                self.state = State::Done;
            }
            // A final error after a 2xx (another fork) changes nothing.
            _ => {}
        }
    }

    fn on_success(&mut self, response: &Response, now: Instant) {
        let to_tag = message::to_tag(response).unwrap_or_default();
        // A retransmitted 2xx of the established dialog: ACK again.
        if let (Some(d), Some(ack)) = (&self.dialog, &self.ack) {
            if d.id.remote_tag == to_tag {
                let ack = ack.clone();
                self.push(LegAction::SendAck(ack));
                return;
            }
        }
        // A retransmitted 2xx of a fork already closed: ACK again only.
        if let Some((_, ack)) = self.closed_forks.iter().find(|(t, _)| *t == to_tag) {
            let ack = ack.clone();
            self.push(LegAction::SendAck(ack));
            return;
        }
        if self.state != State::Calling {
            // Raced a CANCEL, a timeout, or another fork: ACK and BYE it.
            let state = self.state;
            self.ack_and_bye(response);
            if matches!(state, State::Cancelling { .. }) {
                self.record("answered after cancel: ACK and BYE");
                self.state = State::Done;
            }
            return;
        }
        self.answer(response, now);
    }

    /// ACK and BYE a 2xx that is not wanted (a fork, or a race with CANCEL).
    fn ack_and_bye(&mut self, response: &Response) {
        let to_tag = message::to_tag(response).unwrap_or_default();
        let mut d = match Dialog::new_uac(&self.invite, response, self.config.contact()) {
            Ok(d) => d,
            Err(_) => self.fallback_dialog(response),
        };
        let (via, transport) = (self.config.via, self.transport());
        let ack = d.make_ack(self.invite_cseq, via, transport);
        let bye = d.make_request(Method::Bye, via, transport);
        if self.closed_forks.len() >= MAX_CLOSED_FORKS {
            self.closed_forks.remove(0);
        }
        self.closed_forks.push((to_tag, ack.clone()));
        self.push(LegAction::SendAck(ack));
        self.push(LegAction::SendBye(bye));
    }

    /// A dialog for a 2xx that `Dialog::new_uac` refused (no Contact, no To
    /// tag): enough to ACK and BYE it at the INVITE's target.
    fn fallback_dialog(&self, response: &Response) -> Dialog {
        let remote_header = message::header_value(response, "To")
            .map(no_crlf)
            .unwrap_or_else(|| format!("<{}>", message::uri_to_string(&self.config.target)));
        let local_header = message::header_value(&self.invite, "From")
            .unwrap_or_default()
            .to_string();
        Dialog {
            id: DialogId {
                call_id: self.call_id.clone(),
                local_tag: self.local_tag.clone(),
                remote_tag: message::to_tag(response).unwrap_or_default(),
            },
            local_uri: self.config.from_uri.clone(),
            remote_uri: self.config.target.clone(),
            remote_target: self.config.target.clone(),
            route_set: Vec::new(),
            local_cseq: self.invite_cseq,
            remote_cseq: None,
            local_contact: self.config.contact(),
            local_header,
            remote_header,
        }
    }

    fn answer(&mut self, response: &Response, now: Instant) {
        let dialog = Dialog::new_uac(&self.invite, response, self.config.contact());
        let mut dialog = match dialog {
            Ok(d) => d,
            Err(e) => {
                self.ack_and_bye(response);
                self.fail_after_answer(format!("unusable 2xx: {e}"));
                return;
            }
        };
        let ack = dialog.make_ack(self.invite_cseq, self.config.via, self.transport());
        let body = if response.body.is_empty() {
            self.early_sdp.clone()
        } else {
            std::str::from_utf8(&response.body).ok().map(str::to_string)
        };
        let negotiated = match &body {
            None => Err("the answer has no SDP".to_string()),
            Some(text) => sdp::parse(text).map_err(|e| e.to_string()).and_then(|a| {
                sdp::negotiate_answer(&a, &self.config.codecs).map_err(|e| e.to_string())
            }),
        };
        self.push(LegAction::SendAck(ack.clone()));
        match negotiated {
            Ok(n) => {
                self.dialog = Some(dialog);
                self.ack = Some(ack);
                self.remote_sdp = body;
                self.negotiated = Some(n);
                self.record("answered");
                self.push(LegAction::PickedUp);
                if self.config.bridge_on_answer {
                    self.accepted = true;
                    self.state = State::Bridged;
                    self.push(LegAction::Bridge);
                    return;
                }
                if !self.config.whisper.is_empty() {
                    self.push(LegAction::PlayWhisper(self.config.whisper.clone()));
                }
                self.state = State::Whisper {
                    deadline: now + self.config.accept_timeout,
                };
            }
            Err(why) => {
                let bye = dialog.make_request(Method::Bye, self.config.via, self.transport());
                self.dialog = Some(dialog);
                self.ack = Some(ack);
                self.push(LegAction::SendBye(bye));
                self.fail_after_answer(format!("unusable answer SDP: {why}"));
            }
        }
    }

    /// A final error to the INVITE ends the leg (`status`: the status line,
    /// perhaps with why no other trunk was tried).
    fn rejected(&mut self, code: u16, status: String) {
        let end = match code {
            486 | 600 => LegEnd::Busy,
            603 => LegEnd::Declined,
            408 | 480 | 487 => LegEnd::NoAnswer,
            _ => LegEnd::Failed(status.clone()),
        };
        self.record(format!("rejected: {status}"));
        self.finish(end);
        self.state = State::Done;
    }

    fn fail_after_answer(&mut self, why: String) {
        self.record(why.clone());
        self.finish(LegEnd::Failed(why));
        self.state = State::Done;
    }

    /// Arm the guard that moves to the next trunk when this one does not
    /// answer at all (only when there is a next trunk).
    fn arm_route_guard(&mut self, now: Instant) {
        self.route_guard = (!self.config.alternatives.is_empty()).then_some(now + ROUTE_GUARD);
    }

    /// A 401/407 to the INVITE: answer it once with the trunk's
    /// credentials (again only for a `stale` nonce). False when it cannot
    /// or must not be answered (then it is a failure like any other).
    fn answer_challenge(&mut self, response: &Response, now: Instant) -> bool {
        let Some(credentials) = self
            .config
            .trunk
            .as_ref()
            .and_then(|t| t.credentials.clone())
        else {
            return false;
        };
        let cnonce = new_cnonce(&mut rand::thread_rng());
        let next = self.invite_cseq.saturating_add(1);
        let Ok(answer) = authorize_request(&self.invite, response, &credentials, next, &cnonce)
        else {
            return false;
        };
        if self.authorized && !answer.challenge.stale {
            // Challenged again for the same credentials: they are wrong.
            return false;
        }
        self.authorized = true;
        self.invite_cseq = next;
        self.invite = answer.request.clone();
        self.provisional = false;
        let _ = now;
        self.record(format!(
            "challenged ({}): answered",
            response.status_code.code()
        ));
        self.push(LegAction::SendInvite(answer.request));
        true
    }

    /// The current trunk failed and others are left: ask the controller
    /// which may take the call ([`LegAction::Failover`], then
    /// [`Leg::fail_over`]).
    fn ask_route(&mut self, failure: TrunkFailure, no_response: bool) {
        let trunk = self.trunk().unwrap_or_default().to_string();
        let why = failure.why();
        self.route_guard = None;
        self.failover = Some(failure);
        self.push(LegAction::Failover {
            trunk,
            why,
            no_response,
        });
    }

    /// The controller's answer to [`LegAction::Failover`]: `claim` says
    /// whether a route's trunk may take the call now (up and under its
    /// cap; the controller then holds its slot). The other trunks are
    /// taken in order; those refused are skipped, and recorded. The first
    /// one claimed gets the INVITE (the caller hears nothing of it): a new
    /// INVITE transaction, same Call-ID and tag, the next CSeq. When none
    /// is left, the leg goes on as if the failed trunk had been the only
    /// one: a final error or no response at all ends it, a silent trunk is
    /// waited for until the ring timeout.
    pub fn fail_over(
        &mut self,
        now: Instant,
        mut claim: impl FnMut(&TrunkRoute) -> Result<(), TrunkRefusal>,
    ) {
        let Some(failure) = self.failover.take() else {
            return;
        };
        // Answered, cancelled, or the silent trunk spoke after all.
        if self.state != State::Calling || (failure == TrunkFailure::Silent && self.provisional) {
            return;
        }
        let failed = self.trunk().unwrap_or_default().to_string();
        let why = failure.why();
        while !self.config.alternatives.is_empty() {
            let route = self.config.alternatives.remove(0);
            if let Some(trunk) = &route.trunk {
                if let Err(refusal) = claim(trunk) {
                    self.record(format!("trunk {} skipped: {refusal}", trunk.id));
                    continue;
                }
            }
            self.take_route(now, route, &failed, &why);
            return;
        }
        match failure {
            TrunkFailure::Rejected(code, status) => {
                self.rejected(code, format!("{status}; {NO_TRUNK_LEFT}"))
            }
            TrunkFailure::TimedOut => {
                let why = format!("no response; {NO_TRUNK_LEFT}");
                self.record(why.clone());
                self.finish(LegEnd::Failed(why));
                self.state = State::Done;
            }
            TrunkFailure::Silent => {
                self.record(format!("trunk {failed}: {why}; {NO_TRUNK_LEFT}"));
            }
        }
    }

    /// Send the INVITE through `route` instead of the trunk that failed.
    fn take_route(&mut self, now: Instant, route: Route, failed: &str, why: &str) {
        self.config.target = route.target;
        self.config.peer = route.peer;
        self.config.from_uri = route.from_uri;
        self.config.from_display = route.from_display;
        self.config.pai = route.pai;
        self.config.local_contact = route.local_contact;
        self.config.via = route.via;
        let next = route
            .trunk
            .as_ref()
            .map(|t| t.id.clone())
            .unwrap_or_default();
        self.config.trunk = route.trunk;
        self.invite_cseq = self.invite_cseq.saturating_add(1);
        self.invite = build_invite(
            &self.config,
            &self.call_id,
            &self.local_tag,
            self.invite_cseq,
        );
        self.authorized = false;
        self.provisional = false;
        self.ringing = false;
        self.early_sdp = None;
        self.arm_route_guard(now);
        self.record(format!("trunk {failed}: {why}; trying trunk {next}"));
        self.push(LegAction::SendInvite(self.invite.clone()));
    }

    /// The INVITE's client transaction timed out (Timer B, or the guard for
    /// a phone that rings forever): no final response will come.
    pub fn on_invite_timeout(&mut self, now: Instant) {
        let _ = now;
        match self.state {
            State::Calling if self.failover.is_some() => {}
            State::Calling if !self.provisional && !self.config.alternatives.is_empty() => {
                self.ask_route(TrunkFailure::TimedOut, true);
            }
            State::Calling => {
                self.record("no response from the phone");
                self.finish(LegEnd::Failed("no response".into()));
                self.state = State::Done;
            }
            State::Cancelling { .. } => {
                self.record("no final response to the cancelled INVITE");
                self.state = State::Done;
            }
            _ => {}
        }
    }

    /// The caller hung up a bridged call: instead of BYE, play the wrap-up
    /// menu to the specialist and wait for a key. False (nothing done) when
    /// the leg is not bridged.
    pub fn wrap_up(&mut self, menu: WrapUpMenu, now: Instant) -> bool {
        if self.state != State::Bridged {
            return false;
        }
        self.state = State::WrapUp {
            deadline: now + WRAP_UP_PROMPTS_MAX + menu.timeout,
        };
        self.record("caller hung up; wrap-up menu");
        self.push(LegAction::PlayWhisper(menu.prompts.clone()));
        self.wrap_up = Some(menu);
        true
    }

    /// The wrap-up menu is over without a code (no key, an unknown key, a
    /// hang-up): say so once, before the leg ends.
    fn wrap_up_uncoded(&mut self, why: &str) {
        self.record(format!("wrap-up: no code ({why})"));
        self.push(LegAction::WrapUpCode(None));
    }

    /// A key in the wrap-up menu.
    fn wrap_up_digit(&mut self, digit: char, now: Instant) {
        let kind = self.wrap_up.as_ref().and_then(|m| {
            m.kinds
                .iter()
                .find(|(d, _)| *d == digit)
                .map(|(_, k)| k.clone())
        });
        match kind {
            Some(kind) => {
                self.push(LegAction::StopWhisper);
                self.record(format!("wrap-up: {kind}"));
                self.push(LegAction::WrapUpCode(Some(kind)));
                self.state = State::WrapUpConfirm {
                    deadline: now + WRAP_UP_CONFIRM_MAX,
                };
                let confirm = self.wrap_up.as_ref().map(|m| m.confirm.clone());
                match confirm.filter(|c| !c.is_empty()) {
                    Some(c) => self.push(LegAction::PlayWhisper(vec![c])),
                    None => self.end_answered(LegEnd::Answered, "wrap-up done"),
                }
            }
            None => {
                self.wrap_up_uncoded(&format!("key {digit}"));
                self.end_answered(LegEnd::Answered, "wrap-up ended");
            }
        }
    }

    /// A digit from the leg's media (RFC 4733, in-band, or SIP INFO parsed by
    /// the controller). The whisper and the wrap-up menu listen; digits
    /// during the bridge are the conversation's business.
    pub fn on_digit(&mut self, digit: char, now: Instant) {
        if let State::WrapUp { deadline } = self.state {
            if now >= deadline {
                self.handle_timeout(now);
            } else {
                self.wrap_up_digit(digit, now);
            }
            return;
        }
        let State::Whisper { deadline } = self.state else {
            return;
        };
        if now >= deadline {
            self.handle_timeout(now);
            return;
        }
        if digit == self.config.accept_digit {
            self.push(LegAction::StopWhisper);
            self.record("accepted");
            self.accepted = true;
            self.state = State::Bridged;
            self.push(LegAction::Bridge);
        } else if Some(digit) == self.config.decline_digit {
            self.end_answered(LegEnd::Declined, "declined with the key");
        }
    }

    /// The whisper finished playing: play it again while the accept window
    /// is open.
    pub fn on_whisper_finished(&mut self, now: Instant) {
        if let State::WrapUpConfirm { .. } = self.state {
            self.end_answered(LegEnd::Answered, "wrap-up done");
            return;
        }
        if let State::WrapUp { deadline } = self.state {
            // The menu was heard: the time for a key starts now.
            let timeout = self.wrap_up.as_ref().map_or(Duration::ZERO, |m| m.timeout);
            self.state = State::WrapUp {
                deadline: deadline.min(now + timeout),
            };
            return;
        }
        if let State::Whisper { deadline } = self.state {
            if now < deadline && !self.config.whisper.is_empty() {
                self.push(LegAction::PlayWhisper(self.config.whisper.clone()));
            }
        }
    }

    /// An in-dialog request from the far end (the controller routes it here
    /// by Call-ID). Answers come as [`LegAction::Respond`] at once.
    pub fn on_request(&mut self, request: &Request, now: Instant) {
        let _ = now;
        if request.method == Method::Ack {
            return;
        }
        let Some(dialog) = self.dialog.as_mut() else {
            self.respond(request, 481, None);
            return;
        };
        if request.method == Method::Cancel {
            self.respond(request, 481, None);
            return;
        }
        match dialog.on_request(request) {
            Ok(()) => {}
            Err(DialogError::NotThisDialog) => return self.respond(request, 481, None),
            Err(DialogError::CSeqOutOfOrder { .. }) => return self.respond(request, 500, None),
            Err(_) => return self.respond(request, 400, None),
        }
        match request.method {
            Method::Bye => {
                self.respond(request, 200, None);
                match self.state {
                    State::Whisper { .. } => {
                        self.push(LegAction::StopWhisper);
                        self.record("hung up during the whisper");
                        self.finish(LegEnd::NoAnswer);
                    }
                    State::Bridged => {
                        self.record("specialist hung up");
                        self.finish(LegEnd::Answered);
                    }
                    State::WrapUp { .. } => {
                        self.push(LegAction::StopWhisper);
                        self.wrap_up_uncoded("specialist hung up");
                        self.finish(LegEnd::Answered);
                    }
                    State::WrapUpConfirm { .. } => {
                        self.push(LegAction::StopWhisper);
                        self.finish(LegEnd::Answered);
                    }
                    _ => {}
                }
                self.state = State::Done;
            }
            Method::Invite => match self.state {
                State::Whisper { .. }
                | State::Bridged
                | State::WrapUp { .. }
                | State::WrapUpConfirm { .. } => self.push(LegAction::ReInvite(request.clone())),
                _ => self.respond(request, 481, None),
            },
            Method::Info | Method::Options => self.respond(request, 200, None),
            Method::Cancel | Method::Ack => {}
            _ => self.respond(request, 405, Some(LEG_ALLOW)),
        }
    }

    fn respond(&mut self, request: &Request, code: u16, allow: Option<&str>) {
        let mut response = message::response(request, code, message::reason_phrase(code), None);
        if let Some(allow) = allow {
            response.headers.push(message::make_header("Allow", allow));
        }
        self.push(LegAction::Respond(response));
    }

    /// Senim ends the leg before it was bridged (the caller hung up, another
    /// phone answered first, routing gave up): CANCEL before a 2xx, BYE after.
    /// After the bridge this is [`Leg::hangup`].
    pub fn cancel(&mut self, now: Instant) {
        match self.state {
            State::Calling => self.start_cancel(LegEnd::Cancelled, "cancelled", now),
            State::Whisper { .. } => self.end_answered(LegEnd::Cancelled, "cancelled"),
            State::Bridged | State::WrapUpConfirm { .. } => {
                self.end_answered(LegEnd::Answered, "ended by Senim")
            }
            State::WrapUp { .. } => {
                self.wrap_up_uncoded("ended by Senim");
                self.end_answered(LegEnd::Answered, "ended by Senim");
            }
            State::Cancelling { .. } | State::Done => {}
        }
    }

    /// The caller hung up (or the conversation is over from the caller's
    /// side): BYE after the bridge; before it, the same as [`Leg::cancel`].
    pub fn hangup(&mut self, now: Instant) {
        match self.state {
            State::Bridged => self.end_answered(LegEnd::Answered, "caller hung up"),
            State::Calling => self.start_cancel(LegEnd::Cancelled, "caller hung up", now),
            State::Whisper { .. } => self.end_answered(LegEnd::Cancelled, "caller hung up"),
            State::WrapUp { .. } => {
                self.wrap_up_uncoded("ended by Senim");
                self.end_answered(LegEnd::Answered, "ended by Senim");
            }
            State::WrapUpConfirm { .. } => self.end_answered(LegEnd::Answered, "wrap-up done"),
            State::Cancelling { .. } | State::Done => {}
        }
    }

    /// Timers: the ring timeout (CANCEL, no answer), the accept window (BYE,
    /// no answer: a voicemail), the CANCEL guard.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.state {
            State::Calling
                if self.route_guard.is_some_and(|g| now >= g) && now < self.ring_deadline =>
            {
                self.ask_route(TrunkFailure::Silent, true);
            }
            State::Calling if now >= self.ring_deadline => {
                let secs = self.config.ring_timeout.as_secs();
                self.start_cancel(LegEnd::NoAnswer, &format!("no answer within {secs} s"), now);
            }
            State::Whisper { deadline } if now >= deadline => {
                let secs = self.config.accept_timeout.as_secs();
                self.end_answered(LegEnd::NoAnswer, &format!("no key pressed within {secs} s"));
            }
            State::Cancelling { guard, .. } if now >= guard => {
                self.record("no final response to the cancelled INVITE");
                self.state = State::Done;
            }
            State::WrapUp { deadline } if now >= deadline => {
                let secs = self.wrap_up.as_ref().map_or(0, |m| m.timeout.as_secs());
                self.wrap_up_uncoded(&format!("no key within {secs} s"));
                self.end_answered(LegEnd::Answered, "wrap-up ended");
            }
            State::WrapUpConfirm { deadline } if now >= deadline => {
                self.end_answered(LegEnd::Answered, "wrap-up done");
            }
            _ => {}
        }
    }
}

/// The INVITE (RFC 3261 §8.1.1) with the privacy rules of `docs/legs.md`.
fn build_invite(config: &LegConfig, call_id: &str, local_tag: &str, cseq: u32) -> Request {
    let shared_caller = config.caller_identity.as_deref().and_then(quoted_display);
    let display = match &shared_caller {
        Some(d) => Some(d.clone()),
        None => config.from_display.as_deref().and_then(quoted_display),
    };
    let from_uri = message::uri_to_string(&config.from_uri);
    let from = match display {
        Some(d) => format!("{d} <{from_uri}>;tag={local_tag}"),
        None => format!("<{from_uri}>;tag={local_tag}"),
    };
    let target = message::uri_to_string(&config.target);
    let mut headers: Vec<Header> = vec![
        message::make_header(
            "Via",
            &format!(
                "SIP/2.0/{} {};branch={};rport",
                config.peer.transport.as_str(),
                sent_by(config.via),
                message::new_branch()
            ),
        ),
        message::make_header("Max-Forwards", "70"),
        message::make_header("From", &from),
        message::make_header("To", &format!("<{target}>")),
        message::make_header("Call-ID", call_id),
        message::make_header("CSeq", &format!("{cseq} INVITE")),
        message::make_header(
            "Contact",
            &format!("<{}>", message::uri_to_string(&config.contact())),
        ),
        message::make_header("Allow", LEG_ALLOW),
    ];
    if let Some(pai) = &config.pai {
        let pai = no_crlf(pai);
        let pai = pai.trim();
        if !pai.is_empty() {
            let value = if pai.starts_with('<') || pai.contains('<') {
                pai.to_string()
            } else {
                format!("<{pai}>")
            };
            headers.push(message::make_header("P-Asserted-Identity", &value));
        }
    }
    if shared_caller.is_some() {
        headers.push(message::make_header("Privacy", "none"));
    } else if let Some(privacy) = config.trunk.as_ref().and_then(|t| t.privacy.as_deref()) {
        headers.push(message::make_header("Privacy", &no_crlf(privacy)));
    }
    for (name, value) in &config.extra_headers {
        let name = name.trim();
        if is_token(name) && !RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
            headers.push(message::make_header(name, &no_crlf(value)));
        }
    }
    let mut invite = Request {
        method: Method::Invite,
        uri: config.target.clone(),
        version: rsip::Version::V2,
        headers: Headers::from(headers),
        body: vec![],
    };
    message::set_body(
        &mut invite,
        Some("application/sdp"),
        config.sdp_offer.clone().into_bytes(),
    );
    invite
}

/// The CANCEL for an INVITE (RFC 3261 §9.1): same Request-URI, Call-ID, From,
/// To, CSeq number (method CANCEL), a single Via equal to the INVITE's top
/// Via, the INVITE's Route headers, no body.
pub fn build_cancel(invite: &Request) -> Request {
    let mut headers: Vec<Header> = Vec::new();
    if let Some(via) = message::header_value(invite, "Via") {
        let top = message::split_commas(via)
            .first()
            .map(|s| s.to_string())
            .unwrap_or_default();
        headers.push(message::make_header("Via", &top));
    }
    headers.push(message::make_header("Max-Forwards", "70"));
    for name in ["From", "To", "Call-ID"] {
        if let Some(v) = message::header_value(invite, name) {
            headers.push(message::make_header(name, v));
        }
    }
    let n = message::cseq(invite).map_or(1, |(n, _)| n);
    headers.push(message::make_header("CSeq", &format!("{n} CANCEL")));
    for r in message::header_values(invite, "Route") {
        headers.push(message::make_header("Route", r));
    }
    headers.push(message::make_header("Content-Length", "0"));
    Request {
        method: Method::Cancel,
        uri: invite.uri.clone(),
        version: rsip::Version::V2,
        headers: Headers::from(headers),
        body: vec![],
    }
}

#[cfg(test)]
mod tests;
