//! One call's controller task. It answers the INVITE (offer/answer, RTP port),
//! keeps the dialog, receives the caller's RTP (symmetric RTP latching, DTMF by
//! RFC 4733 or in-band tones), takes DTMF by SIP INFO, drives the menu flow and
//! writes the call record at every step.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rsip::prelude::*;
use rsip::Method;
use senim_media::dtmf::{self, DigitDeduplicator, DtmfSource, InbandDetector, Rfc4733Receiver};
use senim_media::g711::Codec;
use senim_media::prompts::Language;
use senim_media::{rtp, sdp};
use senim_sip::dialog::Dialog;
use senim_sip::message::{self, Peer, Transport};
use senim_sip::transaction::TxKey;
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::sync::mpsc;
use tracing::Instrument;

use std::collections::VecDeque;

use senim_dialplan::{Action, Event as PlanEvent, Interpreter};
use senim_media::prompts::Prompt;

mod routing;
mod voicemail;

use super::callback::{self as callback_flow, CallbackFlow, CallbackRequest};
use super::legs::Legs;
use super::{CallContext, ToCall};
use crate::driver::media::{MediaEvent, StreamHandle};
use crate::driver::sip::{ToEndpoint, ALLOW};
use crate::store::RecordOp;

/// Codecs Senim offers and accepts, in order of preference when Senim offers.
const CODECS: [Codec; 2] = [Codec::Pcmu, Codec::Pcma];
/// Two reports of one key press by two sources closer than this are one digit.
const DTMF_DEDUP_WINDOW: Duration = Duration::from_millis(250);

/// Start a call's task for a new INVITE; returns where to send its later events.
pub fn spawn(
    ctx: Arc<CallContext>,
    endpoint: mpsc::UnboundedSender<ToEndpoint>,
    key: TxKey,
    invite: rsip::Request,
    peer: Peer,
) -> mpsc::UnboundedSender<ToCall> {
    let (tx, rx) = mpsc::unbounded_channel();
    let sip_call_id = call_id_of(&invite);
    let span = tracing::info_span!("call", call_id = %sip_call_id);
    tokio::spawn(
        async move {
            let mut call = Call::new(
                ctx,
                endpoint.clone(),
                key,
                invite,
                peer,
                sip_call_id.clone(),
            );
            call.run(rx).await;
            let _ = endpoint.send(ToEndpoint::CallEnded {
                call_id: sip_call_id,
            });
        }
        .instrument(span),
    );
    tx
}

fn call_id_of(request: &rsip::Request) -> String {
    request
        .call_id_header()
        .map(|h| h.value().to_string())
        .unwrap_or_default()
}

pub(super) fn epoch_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The caller's number as the trunk presents it (From user part).
pub(super) fn caller_number(request: &rsip::Request) -> Option<String> {
    let from = request.from_header().ok()?.typed().ok()?;
    from.uri.user().map(str::to_string)
}

/// Parse an SDP offer and choose the media; on failure the status to answer
/// (400 for a malformed body, 488 for nothing acceptable) and why.
fn negotiate_offer(
    body: &[u8],
) -> Result<(sdp::SessionDescription, sdp::Negotiated), (u16, String)> {
    let text = std::str::from_utf8(body).map_err(|_| (400, "SDP is not UTF-8".to_string()))?;
    let offer = sdp::parse(text).map_err(|e| (e.status_code(), e.to_string()))?;
    let n = sdp::negotiate_offer(&offer, &CODECS).map_err(|e| (e.status_code(), e.to_string()))?;
    Ok((offer, n))
}

fn uri_socket_addr(uri: &rsip::Uri) -> Option<SocketAddr> {
    let ip: IpAddr = match &uri.host_with_port.host {
        rsip::Host::IpAddr(ip) => *ip,
        rsip::Host::Domain(d) => d.to_string().trim_matches(['[', ']']).parse().ok()?,
    };
    let port = uri.host_with_port.port.map_or(5060, |p| *p.value());
    Some(SocketAddr::new(ip, port))
}

struct Media {
    /// The RTP socket, registered for reading only: the pacing thread sends on
    /// a duplicate of it, and a registration for writing too would wake the
    /// runtime after every packet sent.
    socket: AsyncFd<std::net::UdpSocket>,
    /// None until the remote address is known (late offer: from the ACK).
    stream: Option<StreamHandle>,
    events_tx: mpsc::UnboundedSender<MediaEvent>,
    events: mpsc::UnboundedReceiver<MediaEvent>,
    local_port: u16,
    codec: Codec,
    telephone_event: Option<u8>,
    remote: Option<SocketAddr>,
    /// The remote address was learned from the caller's own RTP (symmetric RTP).
    latched: bool,
    rfc4733: Rfc4733Receiver,
    inband: Option<InbandDetector>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// 200 sent, waiting for the ACK.
    Answered,
    /// ACK received, menus running.
    Active,
    Ended,
}

struct Call {
    ctx: Arc<CallContext>,
    endpoint: mpsc::UnboundedSender<ToEndpoint>,
    id: String,
    sip_call_id: String,
    invite_key: TxKey,
    invite: rsip::Request,
    peer: Peer,
    phase: Phase,
    dialog: Option<Dialog>,
    media: Option<Media>,
    late_offer: bool,
    sdp_version: u64,
    session_id: u64,
    flow: Interpreter,
    timer: Option<tokio::time::Instant>,
    prompt_token: u64,
    /// Prompts still to play after the current one, for a multi-prompt Play.
    prompt_queue: VecDeque<Arc<Prompt>>,
    dedup: DigitDeduplicator,
    digit_seq: i64,
    step_seq: i64,
    routing_seq: i64,
    /// Outbound legs: specialists being rung or bridged, partner legs.
    legs: Legs,
    /// Routing in progress (from the plan's `<route>`).
    routing: Option<routing::Routing>,
    /// The router's actions for this call, until the router forgets it.
    router_rx: Option<mpsc::UnboundedReceiver<senim_routing::router::Action>>,
    /// The leg whose media is bridged with the caller's.
    bridge: Option<u64>,
    /// A transfer to a partner in progress.
    transfer: Option<routing::PartnerTransfer>,
    /// The plan's `<voicemail>`: beep, recording, the file being written.
    voicemail: voicemail::VoicemailState,
    /// A callback request being taken (the plan's `<callback>` node).
    callback: Option<(String, CallbackFlow)>,
    /// The service of the last route (for follow-ups and reports).
    service: Option<String>,
}

impl Call {
    fn new(
        ctx: Arc<CallContext>,
        endpoint: mpsc::UnboundedSender<ToEndpoint>,
        invite_key: TxKey,
        invite: rsip::Request,
        peer: Peer,
        sip_call_id: String,
    ) -> Call {
        let flow = Interpreter::new(ctx.plans.current());
        let legs = Legs::new(ctx.clone(), endpoint.clone(), sip_call_id.clone());
        Call {
            ctx,
            endpoint,
            id: uuid::Uuid::new_v4().to_string(),
            sip_call_id,
            invite_key,
            invite,
            peer,
            phase: Phase::Answered,
            dialog: None,
            media: None,
            late_offer: false,
            sdp_version: 1,
            session_id: rand::random::<u32>().into(),
            flow,
            timer: None,
            prompt_token: 0,
            prompt_queue: VecDeque::new(),
            dedup: DigitDeduplicator::new(DTMF_DEDUP_WINDOW),
            digit_seq: 0,
            step_seq: 0,
            routing_seq: 0,
            legs,
            routing: None,
            router_rx: None,
            bridge: None,
            transfer: None,
            voicemail: voicemail::VoicemailState::default(),
            callback: None,
            service: None,
        }
    }

    fn record(&self, op: RecordOp) {
        self.ctx.recorder.record(op);
    }

    fn respond(&self, key: TxKey, response: rsip::Response) {
        let _ = self.endpoint.send(ToEndpoint::Respond { key, response });
    }

    fn respond_code(&self, key: TxKey, request: &rsip::Request, code: u16, reason: &str) {
        let tag = self.dialog.as_ref().map(|d| d.id.local_tag.clone());
        let response = message::response(request, code, reason, tag.as_deref());
        self.respond(key, response);
    }

    fn end(&mut self, outcome: &str, hangup_by: Option<&'static str>) {
        if self.phase == Phase::Ended {
            return;
        }
        self.phase = Phase::Ended;
        tracing::info!(outcome, hangup_by, "call ended");
        // A message being recorded is kept: its write starts now.
        self.voicemail_call_ended(hangup_by == Some("caller"));
        if let Some((node, mut flow)) = self.callback.take() {
            if let Some(r) = flow.abandon() {
                self.record_step(&node, "callback: recorded when the caller hung up".into());
                self.store_callback(&r);
            }
        }
        self.end_legs();
        self.record(RecordOp::Ended {
            call: self.id.clone(),
            at: epoch_ms(),
            outcome: outcome.to_string(),
            hangup_by,
        });
    }

    /// Answer the INVITE; false if the call was refused.
    fn answer(&mut self) -> bool {
        let transport = match self.peer.transport {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
        };
        let caller_hash = caller_number(&self.invite).map(|n| self.ctx.hasher.hash(&n));
        self.record(RecordOp::Arrived {
            call: self.id.clone(),
            sip_call_id: self.sip_call_id.clone(),
            at: epoch_ms(),
            caller_hash,
            transport,
        });
        let invite = self.invite.clone();
        // Offer/answer: an offer in the INVITE, or a late offer.
        let negotiated = if invite.body.is_empty() {
            self.late_offer = true;
            None
        } else {
            match negotiate_offer(&invite.body) {
                Ok(n) => Some(n),
                Err((code, why)) => {
                    tracing::info!(%why, "no acceptable media in the offer");
                    let reason = if code == 400 {
                        "Bad Request"
                    } else {
                        "Not Acceptable Here"
                    };
                    let mut r = message::response(&invite, code, reason, Some(&message::new_tag()));
                    r.headers.push(rsip::Header::Warning(
                        format!("305 senim \"{}\"", why.replace('"', "'")).into(),
                    ));
                    self.respond(self.invite_key, r);
                    self.end("rejected-media", None);
                    return false;
                }
            }
        };
        let socket = match self.ctx.rtp_ports.bind(self.ctx.media_ip) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "no RTP port free");
                self.respond_code(self.invite_key, &invite, 503, "Service Unavailable");
                self.end("failed", None);
                return false;
            }
        };
        let Some(media) = self.make_media(socket, negotiated.as_ref().map(|(_, n)| n)) else {
            self.respond_code(self.invite_key, &invite, 500, "Server Internal Error");
            self.end("failed", None);
            return false;
        };
        let local_tag = message::new_tag();
        let contact = self.contact_uri();
        let dialog = match Dialog::new_uas(&invite, &local_tag, contact.clone()) {
            Ok(d) => d,
            Err(e) => {
                tracing::info!(error = %e, "INVITE cannot make a dialog");
                let r = message::response(&invite, 400, "Bad Request", Some(&local_tag));
                self.respond(self.invite_key, r);
                self.end("rejected", None);
                return false;
            }
        };
        let body = match &negotiated {
            Some((offer, n)) => sdp::build_answer_to_offer(
                offer,
                self.ctx.media_ip,
                media.local_port,
                self.session_id,
                self.sdp_version,
                n,
            ),
            None => sdp::build_offer(
                self.ctx.media_ip,
                media.local_port,
                self.session_id,
                &CODECS,
            ),
        };
        let mut ok = message::response(&invite, 200, "OK", Some(&local_tag));
        ok.headers
            .push(rsip::Header::Contact(format!("<{contact}>").into()));
        ok.headers.push(rsip::Header::Allow(ALLOW.into()));
        message::set_body(&mut ok, Some("application/sdp"), body.into_bytes());
        self.respond(self.invite_key, ok);
        self.dialog = Some(dialog);
        self.media = Some(media);
        if let Some((_, n)) = &negotiated {
            self.start_stream(n.remote_rtp);
            self.record_answered();
        }
        true
    }

    fn record_answered(&self) {
        if let Some(m) = &self.media {
            self.record(RecordOp::Answered {
                call: self.id.clone(),
                at: epoch_ms(),
                codec: m.codec.name(),
                dtmf_mode: if m.telephone_event.is_some() {
                    "rfc4733"
                } else {
                    "inband"
                },
            });
        }
    }

    fn contact_uri(&self) -> rsip::Uri {
        let a = self.ctx.sip_address;
        let host = match a.ip() {
            IpAddr::V4(ip) => ip.to_string(),
            IpAddr::V6(ip) => format!("[{ip}]"),
        };
        let transport = match self.peer.transport {
            Transport::Udp => "",
            Transport::Tcp => ";transport=tcp",
        };
        let text = format!("sip:senim@{host}:{}{transport}", a.port());
        rsip::Uri::try_from(text.as_str()).unwrap_or_default()
    }

    fn make_media(
        &self,
        socket: std::net::UdpSocket,
        n: Option<&sdp::Negotiated>,
    ) -> Option<Media> {
        let local_port = socket.local_addr().ok()?.port();
        socket.set_nonblocking(true).ok()?;
        // SAFETY: a std UdpSocket owns its descriptor, keeps it open until it
        // is dropped, and `as_raw_fd` always returns that same descriptor; the
        // AsyncFd owns the socket for its whole life.
        let socket = unsafe { AsyncFd::register_with_interest(socket, Interest::READABLE) }.ok()?;
        let (events_tx, events) = mpsc::unbounded_channel();
        let media = Media {
            socket,
            stream: None,
            events_tx,
            events,
            local_port,
            codec: n.map_or(Codec::Pcmu, |n| n.codec),
            telephone_event: n.and_then(|n| n.telephone_event),
            remote: n.map(|n| n.remote_rtp),
            latched: false,
            rfc4733: Rfc4733Receiver::new(),
            inband: None,
        };
        Some(media)
    }

    fn start_stream(&mut self, remote: SocketAddr) {
        let Some(m) = self.media.as_mut() else {
            return;
        };
        m.remote = Some(remote);
        m.inband = m.telephone_event.is_none().then(InbandDetector::new);
        let send = match m.socket_std_clone() {
            Some(s) => s,
            None => {
                tracing::error!("cannot clone the RTP socket");
                return;
            }
        };
        m.stream = Some(
            self.ctx
                .media
                .add_stream(send, remote, m.codec, m.events_tx.clone()),
        );
    }

    fn request_peer(&self) -> Peer {
        // Over TCP: the connection the call came in on. Over UDP: the first
        // route if the dialog has one, else where the INVITE came from (the
        // trunk or its SBC), which also works for callers behind NAT.
        if self.peer.transport == Transport::Udp {
            if let Some(addr) = self
                .dialog
                .as_ref()
                .and_then(|d| d.route_set.first())
                .and_then(uri_socket_addr)
            {
                return Peer {
                    transport: Transport::Udp,
                    addr,
                };
            }
        }
        self.peer
    }

    fn send_bye(&mut self) {
        let via = self.ctx.sip_address;
        let transport = self.peer.transport;
        let peer = self.request_peer();
        if let Some(d) = self.dialog.as_mut() {
            let bye = d.make_request(Method::Bye, via, transport);
            let _ = self.endpoint.send(ToEndpoint::Request {
                call_id: self.sip_call_id.clone(),
                request: bye,
                peer,
            });
        }
    }

    async fn run(&mut self, mut rx: mpsc::UnboundedReceiver<ToCall>) {
        if !self.answer() {
            return;
        }
        let mut buf = [0u8; 2048];
        // Bounded: a call never lasts more than a day.
        let hard_limit = tokio::time::Instant::now() + Duration::from_secs(24 * 3600);
        let mut ended_at: Option<tokio::time::Instant> = None;
        loop {
            if self.phase == Phase::Ended {
                // The caller's side is over; outbound legs may still need
                // their CANCEL, BYE or final responses.
                self.media = None;
                self.legs.retain_live();
                let t = *ended_at.get_or_insert_with(tokio::time::Instant::now);
                // The router's last records (an abandoned caller's wait) come
                // after the hang-up: wait for it to let go of the call too.
                let settled = self.legs.is_empty() && self.router_rx.is_none();
                if settled || t.elapsed() > routing::LEG_DRAIN {
                    break;
                }
            }
            let timer = self.timer;
            let leg_wake = self.leg_wake();
            let voicemail_wake = self.voicemail_wake();
            let (events, socket) = match self.media.as_mut() {
                Some(m) => (Some(&mut m.events), Some(&m.socket)),
                None => (None, None),
            };
            let actions = self.router_rx.as_mut();
            tokio::select! {
                msg = rx.recv() => match msg {
                    Some(m) => self.sip(m),
                    None => {
                        self.end("failed", None);
                        break;
                    }
                },
                ev = recv_opt(events) => {
                    if let Some(MediaEvent::PromptFinished { token }) = ev {
                        if token == self.prompt_token && token != 0 {
                            self.prompt_token = 0;
                            self.prompt_done();
                        }
                    }
                }
                r = recv_from_opt(socket, &mut buf) => {
                    if let Ok((n, from)) = r {
                        if let Some(data) = buf.get(..n) {
                            self.rtp(data, from);
                        }
                    }
                }
                a = recv_opt(actions) => match a {
                    Some(a) => self.router_action(a),
                    None => {
                        // The router forgot the call (it stopped, or the call is over).
                        self.router_rx = None;
                    }
                },
                input = self.legs.recv() => {
                    if let Some(input) = input {
                        self.leg_input(input);
                    }
                }
                _ = sleep_opt(timer) => {
                    self.timer = None;
                    if self.callback.is_some() {
                        let out = self.callback.as_mut().map(|(_, f)| f.timeout()).unwrap_or_default();
                        self.callback_outputs(out);
                    } else {
                        self.flow_event(PlanEvent::Timeout);
                    }
                }
                _ = sleep_opt(leg_wake) => self.leg_timeouts(),
                _ = sleep_opt(voicemail_wake) => self.voicemail_timeout(),
                written = voicemail::join_opt(self.voicemail.write_handle()) => {
                    self.voicemail_written(written);
                }
                _ = tokio::time::sleep_until(hard_limit) => {
                    self.send_bye();
                    self.end("time-limit", Some("senim"));
                    break;
                }
            }
            self.leg_events();
        }
        // Dropping the media stops the stream.
        self.media = None;
        self.legs.clear();
        if self.bridge.take().is_some() {
            self.bridge_ended();
        }
        // A message the caller left just before the end is still being written.
        self.voicemail_drain().await;
    }

    fn sip(&mut self, msg: ToCall) {
        match msg {
            ToCall::Request { key, request, peer } => self.in_dialog_request(key, request, peer),
            ToCall::Ack { request, .. } => self.ack(request),
            ToCall::Cancel { .. } => {
                // The 200 went out before the CANCEL arrived: the CANCEL has no
                // effect on an answered call (RFC 3261 §9.2); the caller sends BYE.
            }
            ToCall::Response { response, .. } => self.response(response),
            ToCall::Timeout {
                key,
                call_id,
                method,
            } => {
                if call_id != self.sip_call_id || method == Method::Refer {
                    self.request_timeout(&call_id, method);
                } else if key == self.invite_key && self.phase == Phase::Answered {
                    tracing::info!("no ACK for the 200; ending the call");
                    self.send_bye();
                    self.end("no-ack", Some("senim"));
                }
            }
            ToCall::Shutdown => {
                self.send_bye();
                self.end("shutdown", Some("senim"));
            }
        }
    }

    fn ack(&mut self, request: rsip::Request) {
        if self.phase != Phase::Answered {
            return;
        }
        if self.late_offer {
            let negotiated = std::str::from_utf8(&request.body)
                .map_err(|_| "body is not UTF-8".to_string())
                .and_then(|t| sdp::parse(t).map_err(|e| e.to_string()))
                .and_then(|a| sdp::negotiate_answer(&a, &CODECS).map_err(|e| e.to_string()));
            match negotiated {
                Ok(n) => {
                    if let Some(m) = self.media.as_mut() {
                        m.codec = n.codec;
                        m.telephone_event = n.telephone_event;
                    }
                    self.start_stream(n.remote_rtp);
                    self.record_answered();
                }
                Err(why) => {
                    tracing::info!(%why, "ACK has no usable answer to Senim's offer");
                    self.send_bye();
                    self.end("failed-media", Some("senim"));
                    return;
                }
            }
        }
        self.phase = Phase::Active;
        tracing::info!(plan = %self.flow.plan().digest(), "call answered; menus start");
        self.flow_event(PlanEvent::Started);
    }

    fn in_dialog_request(&mut self, key: TxKey, request: rsip::Request, _peer: Peer) {
        if message::call_id(&request).as_deref() != Some(self.sip_call_id.as_str()) {
            if !self.leg_request(key, &request) {
                self.respond_code(key, &request, 481, "Call/Transaction Does Not Exist");
            }
            return;
        }
        if self.phase == Phase::Ended {
            self.respond_code(key, &request, 481, "Call/Transaction Does Not Exist");
            return;
        }
        let check = self.dialog.as_mut().map(|d| d.on_request(&request));
        match check {
            Some(Ok(())) => {}
            Some(Err(e)) => {
                tracing::debug!(error = %e, "in-dialog request refused");
                self.respond_code(key, &request, 500, "Server Internal Error");
                return;
            }
            None => {
                self.respond_code(key, &request, 481, "Call/Transaction Does Not Exist");
                return;
            }
        }
        match request.method {
            Method::Bye => {
                self.respond_code(key, &request, 200, "OK");
                self.end("caller-hangup", Some("caller"));
            }
            Method::Info => self.info(key, &request),
            Method::Invite => self.reinvite(key, &request),
            Method::Notify => self.notify(key, &request),
            Method::Refer => {
                let mut r = message::response(
                    &request,
                    405,
                    "Method Not Allowed",
                    self.dialog.as_ref().map(|d| d.id.local_tag.as_str()),
                );
                r.headers.push(rsip::Header::Allow(ALLOW.into()));
                self.respond(key, r);
            }
            _ => self.respond_code(key, &request, 501, "Not Implemented"),
        }
    }

    fn info(&mut self, key: TxKey, request: &rsip::Request) {
        let sip = rsip::SipMessage::Request(request.clone());
        let content_type = message::header_value(&sip, "Content-Type")
            .unwrap_or("")
            .to_string();
        let base = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if base != "application/dtmf-relay" && base != "application/dtmf" {
            let mut r = message::response(request, 415, "Unsupported Media Type", None);
            r.headers.push(rsip::Header::Accept(
                "application/dtmf-relay, application/dtmf".into(),
            ));
            self.respond(key, r);
            return;
        }
        match dtmf::parse_info_body(&content_type, &request.body) {
            Ok(digit) => {
                self.respond_code(key, request, 200, "OK");
                self.digit(digit, DtmfSource::SipInfo);
            }
            Err(e) => {
                tracing::debug!(error = %e, "bad DTMF INFO body");
                self.respond_code(key, request, 400, "Bad Request");
            }
        }
    }

    fn reinvite(&mut self, key: TxKey, request: &rsip::Request) {
        let Some(local_port) = self.media.as_ref().map(|m| m.local_port) else {
            self.respond_code(key, request, 500, "Server Internal Error");
            return;
        };
        let negotiated = if request.body.is_empty() {
            None
        } else {
            match negotiate_offer(&request.body) {
                Ok(n) => Some(n),
                Err((code, why)) => {
                    tracing::info!(%why, "re-INVITE offer refused");
                    let reason = if code == 400 {
                        "Bad Request"
                    } else {
                        "Not Acceptable Here"
                    };
                    self.respond_code(key, request, code, reason);
                    return;
                }
            }
        };
        self.sdp_version += 1;
        let body = match &negotiated {
            Some((offer, n)) => {
                if let Some(m) = self.media.as_mut() {
                    m.codec = n.codec;
                    m.telephone_event = n.telephone_event;
                    m.remote = Some(n.remote_rtp);
                    m.latched = false;
                    if let Some(s) = &m.stream {
                        s.set_remote(n.remote_rtp);
                    }
                }
                sdp::build_answer_to_offer(
                    offer,
                    self.ctx.media_ip,
                    local_port,
                    self.session_id,
                    self.sdp_version,
                    n,
                )
            }
            None => sdp::build_offer(self.ctx.media_ip, local_port, self.session_id, &CODECS),
        };
        let tag = self.dialog.as_ref().map(|d| d.id.local_tag.clone());
        let mut ok = message::response(request, 200, "OK", tag.as_deref());
        ok.headers.push(rsip::Header::Contact(
            format!("<{}>", self.contact_uri()).into(),
        ));
        ok.headers.push(rsip::Header::Allow(ALLOW.into()));
        message::set_body(&mut ok, Some("application/sdp"), body.into_bytes());
        self.respond(key, ok);
    }

    fn rtp(&mut self, data: &[u8], from: SocketAddr) {
        self.ctx
            .sip_stats
            .rtp_packets_in
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let Ok((header, payload)) = rtp::parse(data) else {
            return;
        };
        if self.bridge.is_some() {
            self.latch(from);
            self.relay_from_caller(data);
            return;
        }
        let mut found = None;
        self.latch(from);
        if let Some(m) = self.media.as_mut() {
            if Some(header.payload_type) == m.telephone_event {
                found = m
                    .rfc4733
                    .handle(header.timestamp, payload)
                    .map(|d| (d, DtmfSource::Rfc4733));
            } else if let Some(codec) = Codec::from_payload_type(header.payload_type) {
                // The audio is decoded once, for the in-band detector and
                // for a voicemail being recorded. The recorder gets each
                // chunk before the detector, so a key's tone is in the
                // message only up to the key, which the recorder cuts off.
                let mut recorder = self.voicemail.recorder();
                if m.inband.is_some() || recorder.is_some() {
                    let now = Instant::now();
                    let mut pcm = [0i16; 160];
                    let mut ts = header.timestamp;
                    for chunk in payload.chunks(160) {
                        let out = &mut pcm[..chunk.len()];
                        codec.decode(chunk, out);
                        if let Some(r) = recorder.as_deref_mut() {
                            r.push_rtp(now, header.ssrc, ts, out);
                        }
                        ts = ts.wrapping_add(160);
                        if let Some(d) = m.inband.as_mut().and_then(|det| det.push(out)) {
                            found = Some((d, DtmfSource::Inband));
                        }
                    }
                }
            }
        }
        if let Some((digit, source)) = found {
            self.digit(digit, source);
        }
        self.voicemail_check();
    }

    /// Symmetric RTP: send to where the caller's RTP comes from. Latch
    /// once; a re-INVITE allows one new latch.
    fn latch(&mut self, from: SocketAddr) {
        if let Some(m) = self.media.as_mut() {
            if !m.latched {
                m.latched = true;
                if m.remote != Some(from) {
                    tracing::debug!(%from, "RTP latched to the caller's source address");
                    m.remote = Some(from);
                    if let Some(s) = &m.stream {
                        s.set_remote(from);
                    }
                }
            }
        }
    }

    fn digit(&mut self, digit: dtmf::Digit, source: DtmfSource) {
        if !self.dedup.accept(Instant::now(), digit, source) {
            return;
        }
        let counter = match source {
            DtmfSource::Rfc4733 => &self.ctx.sip_stats.dtmf_rfc4733,
            DtmfSource::SipInfo => &self.ctx.sip_stats.dtmf_sip_info,
            DtmfSource::Inband => &self.ctx.sip_stats.dtmf_inband,
        };
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if self.bridge.is_some() {
            // The conversation's keys are the caller's and the specialist's
            // business: relayed, not recorded.
            return;
        }
        if self
            .callback
            .as_ref()
            .is_some_and(|(_, f)| f.is_entering_number())
        {
            // A phone number being typed: neither logged nor recorded.
            let out = self
                .callback
                .as_mut()
                .map(|(_, f)| f.digit(digit.as_char()))
                .unwrap_or_default();
            self.callback_outputs(out);
            return;
        }
        tracing::info!(digit = %digit.as_char(), source = source.as_str(), "digit");
        self.digit_seq += 1;
        self.record(RecordOp::Digit {
            call: self.id.clone(),
            seq: self.digit_seq,
            at: epoch_ms(),
            digit: digit.as_char().to_string(),
            source: source.as_str(),
            menu: Some(self.flow.node().to_string()),
        });
        if self.voicemail_key() {
            return;
        }
        if self.routing.is_some() {
            self.ctx
                .router
                .send(crate::driver::router::ToRouter::CallerPressed {
                    call: senim_routing::router::CallId::new(self.id.clone()),
                    digit: digit.as_char(),
                });
            return;
        }
        if self.callback.is_some() {
            let out = self
                .callback
                .as_mut()
                .map(|(_, f)| f.digit(digit.as_char()))
                .unwrap_or_default();
            self.callback_outputs(out);
            return;
        }
        if self.phase == Phase::Active && self.transfer.is_none() {
            self.flow_event(PlanEvent::Digit(digit.as_char()));
        }
    }

    /// The prompt that played has ended: the next of the sequence, or tell the plan.
    fn prompt_done(&mut self) {
        if self.voicemail_prompt_done() {
            return;
        }
        if self.prompt_queue.is_empty() && self.callback.is_some() {
            let out = self
                .callback
                .as_mut()
                .map(|(_, f)| f.prompt_finished())
                .unwrap_or_default();
            self.callback_outputs(out);
            return;
        }
        if self.prompt_queue.is_empty() && self.background_owns_audio() {
            self.background_next();
            return;
        }
        match self.prompt_queue.pop_front() {
            Some(next) => {
                if let Some(s) = self.media.as_mut().and_then(|m| m.stream.as_mut()) {
                    self.prompt_token = s.play(next);
                } else {
                    self.flow_event(PlanEvent::PromptFinished);
                }
            }
            None => self.flow_event(PlanEvent::PromptFinished),
        }
    }

    fn flow_event(&mut self, event: PlanEvent) {
        let mut queue = VecDeque::from([event]);
        // Bounded: a plan step yields a handful of actions and results.
        let mut budget = 256;
        while let Some(ev) = queue.pop_front() {
            if self.phase == Phase::Ended {
                return;
            }
            budget -= 1;
            if budget == 0 {
                tracing::error!("dialplan did not settle; ending the call");
                self.send_bye();
                self.end("dialplan-loop", Some("senim"));
                return;
            }
            for action in self.flow.handle(ev) {
                if let Some(next) = self.action(action) {
                    queue.push_back(next);
                }
            }
            if self.flow.is_done() && self.phase != Phase::Ended && self.bridge.is_none() {
                let outcome = self.flow.outcome().unwrap_or("completed").to_string();
                self.send_bye();
                self.end(&outcome, Some("senim"));
            }
        }
    }

    fn record_step(&mut self, node: &str, what: String) {
        self.step_seq += 1;
        self.record(RecordOp::Step {
            call: self.id.clone(),
            seq: self.step_seq,
            at: epoch_ms(),
            menu: node.to_string(),
            what,
        });
    }

    fn play(&mut self, ids: &[String], language: &str) -> Option<PlanEvent> {
        let lang = Language::from_code(language).unwrap_or(Language::Ru);
        let mut prompts: VecDeque<Arc<Prompt>> = ids
            .iter()
            .filter_map(|id| {
                let p = self.ctx.prompts.get(id, lang);
                if p.is_none() {
                    tracing::error!(prompt = %id, language, "prompt missing; skipping it");
                }
                p
            })
            .collect();
        let stream = self.media.as_mut().and_then(|m| m.stream.as_mut());
        match (prompts.pop_front(), stream) {
            (Some(first), Some(s)) => {
                self.prompt_token = s.play(first);
                self.prompt_queue = prompts;
                None
            }
            _ => Some(PlanEvent::PromptFinished),
        }
    }

    fn action(&mut self, action: Action) -> Option<PlanEvent> {
        match action {
            Action::Play { prompts, language } => self.play(&prompts, &language),
            Action::StopPrompt => {
                self.prompt_token = 0;
                self.prompt_queue.clear();
                if let Some(s) = self.media.as_ref().and_then(|m| m.stream.as_ref()) {
                    s.stop();
                }
                None
            }
            Action::StartTimer(d) => {
                self.timer = Some(tokio::time::Instant::now() + d);
                None
            }
            Action::CancelTimer => {
                self.timer = None;
                None
            }
            Action::SetLanguage(language) => {
                if let Some(l) = Language::from_code(&language) {
                    self.record(RecordOp::Language {
                        call: self.id.clone(),
                        language: l.code(),
                    });
                }
                None
            }
            Action::Record { node, what } => {
                self.record_step(&node, what);
                None
            }
            Action::CheckHours { schedule } => {
                let open = self.ctx.schedules.get(&schedule).is_some_and(|s| {
                    self.ctx
                        .calendar
                        .is_open_as_configured(s, chrono::Utc::now())
                });
                Some(PlanEvent::HoursResult { open })
            }
            Action::Route {
                node,
                service,
                strategy,
                ring,
                max_wait,
                other_language,
            } => self.start_route(node, &service, &strategy, ring, max_wait, other_language),
            Action::Transfer { node, partner } => self.start_transfer(node, partner),
            Action::Callback { node } => {
                let mut flow = CallbackFlow::new(
                    callback_flow::Settings::default(),
                    caller_number(&self.invite),
                );
                let out = flow.start();
                self.callback = Some((node, flow));
                self.callback_outputs(out);
                None
            }
            Action::Voicemail { node, max_length } => self.start_voicemail(node, max_length),
            Action::SurveyScore { score, .. } => {
                self.record(RecordOp::Survey {
                    call: self.id.clone(),
                    score,
                });
                None
            }
            Action::Hangup { outcome } => {
                self.send_bye();
                self.end(&outcome, Some("senim"));
                None
            }
        }
    }
}

impl Call {
    /// Carry out what the callback flow asks.
    fn callback_outputs(&mut self, outputs: Vec<callback_flow::Output>) {
        use callback_flow::Output;
        let node = self
            .callback
            .as_ref()
            .map(|(n, _)| n.clone())
            .unwrap_or_default();
        for o in outputs {
            match o {
                Output::Play(ids) => {
                    let language = self.flow.language().to_string();
                    if self.play(&ids, &language).is_some() {
                        // Nothing could be played: go on as if it had.
                        let more = self
                            .callback
                            .as_mut()
                            .map(|(_, f)| f.prompt_finished())
                            .unwrap_or_default();
                        self.callback_outputs(more);
                    }
                }
                Output::StopPrompt => {
                    self.prompt_token = 0;
                    self.prompt_queue.clear();
                    if let Some(s) = self.media.as_ref().and_then(|m| m.stream.as_ref()) {
                        s.stop();
                    }
                }
                Output::StartTimer(d) => self.timer = Some(tokio::time::Instant::now() + d),
                Output::CancelTimer => self.timer = None,
                Output::Record(what) => self.record_step(&node, what),
                Output::Done(request) => {
                    self.callback = None;
                    self.timer = None;
                    let recorded = match request {
                        Some(r) => {
                            self.store_callback(&r);
                            true
                        }
                        None => false,
                    };
                    self.flow_event(PlanEvent::CallbackResult { recorded });
                }
            }
        }
    }

    /// The request becomes a follow-up; the number only sealed.
    fn store_callback(&mut self, r: &CallbackRequest) {
        let sealed = self.ctx.sealer.seal(&r.number);
        self.record(RecordOp::CallbackRequest {
            id: uuid::Uuid::new_v4().to_string(),
            call: self.id.clone(),
            at: epoch_ms(),
            caller_hash: self.ctx.hasher.hash(&r.number),
            number_sealed: sealed,
            number_source: r.source.as_str(),
            window: r.window.as_str(),
            leave_message: r.leave_message,
            say_centre_name: r.say_centre_name,
            language: Some(self.flow.language().to_string()),
            service: self.service.clone(),
        });
    }
}

impl Media {
    fn socket_std_clone(&self) -> Option<std::net::UdpSocket> {
        use std::os::fd::{AsFd, OwnedFd};
        let fd: OwnedFd = self.socket.get_ref().as_fd().try_clone_to_owned().ok()?;
        Some(std::net::UdpSocket::from(fd))
    }
}

/// Receive one datagram from a read-only registered socket.
pub(super) async fn recv_from(
    socket: &AsyncFd<std::net::UdpSocket>,
    buf: &mut [u8],
) -> std::io::Result<(usize, SocketAddr)> {
    loop {
        let mut guard = socket.readable().await?;
        match guard.try_io(|s| s.get_ref().recv_from(buf)) {
            Ok(result) => return result,
            Err(_would_block) => continue,
        }
    }
}

/// Receive from a channel that may not exist (then wait forever).
async fn recv_opt<T>(rx: Option<&mut mpsc::UnboundedReceiver<T>>) -> Option<T> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

async fn recv_from_opt(
    socket: Option<&AsyncFd<std::net::UdpSocket>>,
    buf: &mut [u8],
) -> std::io::Result<(usize, SocketAddr)> {
    match socket {
        Some(s) => recv_from(s, buf).await,
        None => std::future::pending().await,
    }
}

pub(super) async fn sleep_opt(at: Option<tokio::time::Instant>) {
    match at {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}
