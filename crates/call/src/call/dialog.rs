//! The call's SIP side: answering the INVITE (offer/answer, late offer),
//! the ACK, in-dialog requests (BYE, INFO, re-INVITE, NOTIFY), the call's
//! BYE and its end.

use std::net::{IpAddr, SocketAddr};

use rand::RngCore;
use rsip::prelude::*;
use rsip::Method;
use senim_dialplan::Event as PlanEvent;
use senim_media::dtmf::{self, DtmfSource};
use senim_media::sdp::SrtpPolicy;
use senim_media::srtp::MasterKey;
use senim_media::{peer, sdp};
use senim_sip::dialog::Dialog;
use senim_sip::message::{self, Peer, Transport};
use senim_sip::transaction::TxKey;
use zeroize::Zeroize;

use super::state::{Call, Phase, CODECS};
use crate::io::{MediaCommand, MediaId, Output, SipInput};
use crate::record::RecordOp;

/// Methods Senim allows in its dialogs.
pub const ALLOW: &str = "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, REGISTER";

pub use crate::caller::caller_number;

/// The Call-ID of a request ("" when it has none).
pub fn call_id_of(request: &rsip::Request) -> String {
    request
        .call_id_header()
        .map(|h| h.value().to_string())
        .unwrap_or_default()
}

/// Parse an SDP offer and choose the media as the SRTP policy allows; on
/// failure the status to answer (400 for a malformed body, 488 for nothing
/// acceptable) and why.
fn negotiate_offer(
    body: &[u8],
    srtp: &SrtpPolicy,
) -> Result<(sdp::SessionDescription, sdp::Negotiated), (u16, String)> {
    let text = std::str::from_utf8(body).map_err(|_| (400, "SDP is not UTF-8".to_string()))?;
    let offer = sdp::parse(text).map_err(|e| (e.status_code(), e.to_string()))?;
    let n = sdp::negotiate_offer_with(&offer, &CODECS, srtp)
        .map_err(|e| (e.status_code(), e.to_string()))?;
    Ok((offer, n))
}

/// A fresh SRTP master key and salt for one call, from the system's random
/// source (the thread's generator, itself seeded from it, if that fails).
fn new_master_key() -> MasterKey {
    let mut bytes = [0u8; MasterKey::LEN];
    if rand::rngs::OsRng.try_fill_bytes(&mut bytes).is_err() {
        rand::thread_rng().fill_bytes(&mut bytes);
    }
    let key = MasterKey::from_bytes(&bytes);
    bytes.zeroize();
    key.unwrap_or_else(|| MasterKey::new(rand::random(), rand::random()))
}

/// Refuse an offer with 488 and a Warning that says why.
fn not_acceptable(invite: &rsip::Request, code: u16, why: &str) -> rsip::Response {
    let reason = if code == 400 {
        "Bad Request"
    } else {
        "Not Acceptable Here"
    };
    let mut r = message::response(invite, code, reason, Some(&message::new_tag()));
    r.headers.push(rsip::Header::Warning(
        format!("305 senim \"{}\"", why.replace('"', "'")).into(),
    ));
    r
}

/// A refusal of an INVITE (or re-INVITE) for the types of its bodies: a body
/// that is not SDP gets 415 with `Accept: application/sdp` (RFC 3261 §8.2.3;
/// RFC 4475 §3.3.6), and an Accept that rules out the SDP Senim's 200 always
/// carries gets 406 with a Warning (RFC 3261 §21.4.7; RFC 4475 §3.3.15). A
/// body without Content-Type is read as SDP.
fn refusal_for_types(request: &rsip::Request, tag: Option<&str>) -> Option<rsip::Response> {
    const SDP: &str = "application/sdp";
    if !request.body.is_empty() {
        if let Some(ct) = message::content_type(request) {
            if ct != SDP {
                let mut r = message::response(request, 415, "Unsupported Media Type", tag);
                r.headers.push(rsip::Header::Accept(SDP.into()));
                return Some(r);
            }
        }
    }
    if !message::accepts(request, SDP) {
        let mut r = message::response(request, 406, "Not Acceptable", tag);
        r.headers.push(rsip::Header::Warning(
            "399 senim \"the answer can only be application/sdp\"".into(),
        ));
        return Some(r);
    }
    None
}

fn uri_socket_addr(uri: &rsip::Uri) -> Option<SocketAddr> {
    let ip: IpAddr = match &uri.host_with_port.host {
        rsip::Host::IpAddr(ip) => *ip,
        rsip::Host::Domain(d) => d.to_string().trim_matches(['[', ']']).parse().ok()?,
    };
    let port = uri.host_with_port.port.map_or(5060, |p| *p.value());
    Some(SocketAddr::new(ip, port))
}

impl Call {
    pub(crate) fn record(&mut self, op: RecordOp) {
        self.out.push_back(Output::Record(Box::new(op)));
    }

    pub(crate) fn epoch_ms(&self) -> i64 {
        self.clock.epoch_ms(self.now)
    }

    pub(crate) fn respond(&mut self, key: TxKey, response: rsip::Response) {
        self.out.push_back(Output::Respond { key, response });
    }

    pub(crate) fn respond_code(
        &mut self,
        key: TxKey,
        request: &rsip::Request,
        code: u16,
        reason: &str,
    ) {
        let tag = self.dialog.as_ref().map(|d| d.id.local_tag.clone());
        let response = message::response(request, code, reason, tag.as_deref());
        self.respond(key, response);
    }

    pub(crate) fn send_request(&mut self, request: rsip::Request, peer: Peer) {
        self.out.push_back(Output::Request {
            request: Box::new(request),
            peer,
        });
    }

    /// The caller's side is over: keep a message being recorded, take a
    /// callback request half given, fail a transfer not yet confirmed, end
    /// the legs, write the end.
    pub(crate) fn end(&mut self, outcome: &str, hangup_by: Option<&'static str>) {
        if self.phase == Phase::Ended {
            return;
        }
        self.phase = Phase::Ended;
        self.ended_at = Some(self.now);
        tracing::info!(outcome, hangup_by, "call ended");
        // A message being recorded is kept: its write starts now.
        self.voicemail_call_ended(hangup_by == Some("caller"));
        if let Some((node, mut flow)) = self.callback.take() {
            if let Some(r) = flow.abandon() {
                self.record_step(&node, "callback: recorded when the caller hung up".into());
                self.store_callback(&r);
            }
        }
        self.transfer_call_ended();
        self.end_legs();
        let at = self.epoch_ms();
        self.record(RecordOp::Ended {
            call: self.id.clone(),
            at,
            outcome: outcome.to_string(),
            hangup_by,
        });
        self.timer = None;
        if self.media.take().is_some() {
            self.out.push_back(Output::Media {
                id: MediaId::Caller,
                command: MediaCommand::Close,
            });
        }
    }

    /// Answer the INVITE; false if the call was refused.
    pub(crate) fn answer(&mut self, port: Result<u16, String>) -> bool {
        let transport = self.peer.transport.param();
        let caller_hash = caller_number(&self.invite).map(|n| self.cfg.numbers.hash(&n));
        let at = self.epoch_ms();
        self.record(RecordOp::Arrived {
            call: self.id.clone(),
            sip_call_id: self.sip_call_id.clone(),
            at,
            caller_hash,
            transport,
            trunk: self.trunk.clone(),
            line: self.line.clone(),
        });
        let invite = self.invite.clone();
        if let Some(r) = refusal_for_types(&invite, Some(&message::new_tag())) {
            tracing::info!(
                status = r.status_code.code(),
                "the INVITE's body or Accept rules out SDP"
            );
            self.respond(self.invite_key, r);
            self.end("rejected-media", None);
            return false;
        }
        // SRTP: SDES keys travel in the SDP, so only over TLS; a caller that
        // must use SRTP is refused over anything else.
        let required = self.requires_srtp();
        if required && !self.peer.transport.is_secure() {
            tracing::info!(
                transport = %self.peer.transport,
                "SRTP is required for this caller and SDES keys need TLS: refused"
            );
            let r = not_acceptable(&invite, 488, "SRTP required: call over TLS with RTP/SAVP");
            self.respond(self.invite_key, r);
            self.end("rejected-media", None);
            return false;
        }
        self.srtp = match (self.peer.transport.is_secure(), required) {
            (false, _) => SrtpPolicy::Off,
            (true, false) => SrtpPolicy::Allow(new_master_key()),
            (true, true) => SrtpPolicy::Require(new_master_key()),
        };
        // Offer/answer: an offer in the INVITE, or a late offer.
        let negotiated = if invite.body.is_empty() {
            self.late_offer = true;
            None
        } else {
            match negotiate_offer(&invite.body, &self.srtp) {
                Ok(n) => Some(n),
                Err((code, why)) => {
                    tracing::info!(%why, "no acceptable media in the offer");
                    let r = not_acceptable(&invite, code, &why);
                    self.respond(self.invite_key, r);
                    self.end("rejected-media", None);
                    return false;
                }
            }
        };
        let port = match port {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, "no RTP port free");
                self.respond_code(self.invite_key, &invite, 503, "Service Unavailable");
                self.end("failed", None);
                return false;
            }
        };
        let mut media = crate::media::MediaPort::new(MediaId::Caller, port);
        // Keys arrive as the trunk the INVITE came through says; a caller
        // from anywhere else gets `auto`.
        if let Some(trunk) = self.cfg.outbound.trunk_of(self.peer.addr) {
            media.set_dtmf_mode(trunk.dtmf);
        }
        if let Some((_, n)) = &negotiated {
            if let Some(s) = &n.srtp {
                tracing::info!(suite = %s.suite, tag = s.tag, "media: SRTP (SDES keys over TLS)");
            }
            let vouched = self.vouches(self.peer.addr, n.remote_rtp.ip());
            media.agree(n, self.peer.addr.ip(), vouched, &mut self.out);
        }
        let local_tag = message::new_tag();
        let contact = self.contact_uri();
        let dialog = match Dialog::new_uas(&invite, &local_tag, contact.clone()) {
            Ok(d) => d,
            Err(e) => {
                tracing::info!(error = %e, "INVITE cannot make a dialog");
                let r = message::response(&invite, 400, "Bad Request", Some(&local_tag));
                self.respond(self.invite_key, r);
                // The port was bound for the call: give it back.
                self.media = Some(media);
                self.end("rejected", None);
                return false;
            }
        };
        let body = match &negotiated {
            Some((offer, n)) => sdp::build_answer_to_offer(
                offer,
                self.cfg.media_ip,
                port,
                self.session_id,
                self.sdp_version,
                n,
            ),
            None => self.late_offer_sdp(port),
        };
        let mut ok = message::response(&invite, 200, "OK", Some(&local_tag));
        ok.headers
            .push(rsip::Header::Contact(format!("<{contact}>").into()));
        ok.headers.push(rsip::Header::Allow(ALLOW.into()));
        message::set_body(&mut ok, Some("application/sdp"), body.into_bytes());
        self.respond(self.invite_key, ok);
        self.dialog = Some(dialog);
        self.media = Some(media);
        // The stream starts with the ACK, not now: only an ACK that carries
        // this dialog's tag shows the INVITE's source is real (a forged
        // source never sees the 200), and no prompt plays before it anyway.
        if negotiated.is_some() {
            self.record_answered();
        }
        true
    }

    /// The caller must use SRTP: the trunk it came through, or the
    /// specialist's softphone it came from, says so.
    pub(crate) fn requires_srtp(&self) -> bool {
        let trunk = self.trunk.as_deref().is_some_and(|id| {
            self.cfg
                .outbound
                .trunks
                .iter()
                .any(|t| t.id == id && t.require_srtp)
        });
        let phone = self.softphone.as_deref().is_some_and(|u| {
            self.cfg
                .specialists
                .by_username(u)
                .is_some_and(|s| s.require_srtp)
        });
        trunk || phone
    }

    /// Senim's offer when the INVITE had none: SRTP when it is required
    /// (RTP/SAVP with Senim's key), else plain RTP.
    fn late_offer_sdp(&self, port: u16) -> String {
        match &self.srtp {
            SrtpPolicy::Require(key) => sdp::build_offer_srtp(
                self.cfg.media_ip,
                port,
                self.session_id,
                self.sdp_version,
                &CODECS,
                key,
            ),
            _ => sdp::build_offer(self.cfg.media_ip, port, self.session_id, &CODECS),
        }
    }

    /// What a re-INVITE from `peer` may offer: as the call's own policy, and
    /// no way back to plain RTP once SRTP runs; None if SDES keys cannot
    /// be taken from there (not TLS) while the call needs them.
    fn reinvite_policy(&self, peer: &Peer) -> Option<SrtpPolicy> {
        let running = self.media.as_ref().is_some_and(|m| m.srtp().is_some());
        match &self.srtp {
            SrtpPolicy::Off => Some(SrtpPolicy::Off),
            SrtpPolicy::Allow(_) | SrtpPolicy::Require(_) if !peer.transport.is_secure() => {
                (!running && matches!(self.srtp, SrtpPolicy::Allow(_))).then_some(SrtpPolicy::Off)
            }
            SrtpPolicy::Allow(k) if !running => Some(SrtpPolicy::Allow(k.clone())),
            SrtpPolicy::Allow(k) | SrtpPolicy::Require(k) => Some(SrtpPolicy::Require(k.clone())),
        }
    }

    /// Whether the caller's signalling, from `signalling`, vouches for media
    /// at `sdp`: it came from a configured trunk (by address), or the
    /// addresses alone vouch ([`peer::vouches`]: the same IP, both loopback,
    /// both private in one /24). Otherwise Senim sends nothing until the
    /// caller's own RTP shows where it is.
    pub(crate) fn vouches(&self, signalling: SocketAddr, sdp: IpAddr) -> bool {
        peer::vouches(signalling.ip(), sdp)
            || (self.cfg.outbound.trunk_of(signalling).is_some() && !sdp.is_unspecified())
    }

    fn record_answered(&mut self) {
        let Some((codec, dtmf_mode)) = self.media.as_ref().map(|m| (m.codec, m.dtmf_paths()))
        else {
            return;
        };
        let at = self.epoch_ms();
        self.record(RecordOp::Answered {
            call: self.id.clone(),
            at,
            codec: codec.name(),
            dtmf_mode,
        });
    }

    fn contact_uri(&self) -> rsip::Uri {
        let sips = self.invite.uri.scheme == Some(rsip::Scheme::Sips);
        self.cfg.contact_for(self.peer.transport, sips)
    }

    /// The caller's outgoing stream starts (or starts again after a bridge).
    pub(crate) fn start_caller_stream(&mut self) {
        if let Some(m) = self.media.as_mut() {
            m.start_stream(&mut self.out);
        }
    }

    pub(crate) fn request_peer(&self) -> Peer {
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

    pub(crate) fn send_bye(&mut self) {
        let transport = self.peer.transport;
        let via = self.cfg.address_for(transport);
        let peer = self.request_peer();
        if let Some(d) = self.dialog.as_mut() {
            let bye = d.make_request(Method::Bye, via, transport);
            self.send_request(bye, peer);
        }
    }

    pub(crate) fn sip(&mut self, msg: SipInput) {
        match msg {
            SipInput::Request { key, request, peer } => self.in_dialog_request(key, request, peer),
            SipInput::Ack { request, peer } => self.ack(request, peer),
            SipInput::Cancel { .. } => {
                // The 200 went out before the CANCEL arrived: the CANCEL has no
                // effect on an answered call (RFC 3261 §9.2); the caller sends BYE.
            }
            SipInput::Response { response, .. } => self.response(response),
            SipInput::Timeout {
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
            SipInput::Shutdown => {
                self.send_bye();
                self.end("shutdown", Some("senim"));
            }
        }
    }

    fn ack(&mut self, request: rsip::Request, peer: Peer) {
        if self.phase != Phase::Answered {
            return;
        }
        // The ACK must carry the tag Senim gave the dialog in its 200: only
        // whoever received the 200 knows it. An ACK without it (forged for
        // an INVITE from a forged source) starts nothing; the 200 then goes
        // unacknowledged and the call ends.
        let ours = self.dialog.as_ref().map(|d| d.id.local_tag.as_str());
        if ours.is_none() || message::to_tag(&request).as_deref() != ours {
            tracing::info!("ACK without the dialog's tag ignored");
            return;
        }
        if self.late_offer {
            let negotiated = std::str::from_utf8(&request.body)
                .map_err(|_| "body is not UTF-8".to_string())
                .and_then(|t| sdp::parse(t).map_err(|e| e.to_string()))
                .and_then(|a| {
                    // Senim offered SRTP only when it is required.
                    let policy = match &self.srtp {
                        SrtpPolicy::Require(_) => self.srtp.clone(),
                        _ => SrtpPolicy::Off,
                    };
                    sdp::negotiate_answer_with(&a, &CODECS, &policy).map_err(|e| e.to_string())
                });
            match negotiated {
                Ok(n) => {
                    let vouched = self.vouches(peer.addr, n.remote_rtp.ip());
                    if let Some(m) = self.media.as_mut() {
                        m.agree(&n, peer.addr.ip(), vouched, &mut self.out);
                    }
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
        self.start_caller_stream();
        self.phase = Phase::Active;
        tracing::info!(plan = %self.flow.plan().digest(), "call answered; menus start");
        self.flow_event(PlanEvent::Started);
        self.early_keys();
    }

    fn in_dialog_request(&mut self, key: TxKey, request: rsip::Request, peer: Peer) {
        if message::call_id(&rsip::SipMessage::Request(request.clone())).as_deref()
            != Some(self.sip_call_id.as_str())
        {
            if !self.legs.on_request(self.now, key, &request, &mut self.out) {
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
            Method::Invite => self.reinvite(key, &request, peer),
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

    fn reinvite(&mut self, key: TxKey, request: &rsip::Request, peer: Peer) {
        let Some(local_port) = self.media.as_ref().map(|m| m.local_port) else {
            self.respond_code(key, request, 500, "Server Internal Error");
            return;
        };
        let tag = self.dialog.as_ref().map(|d| d.id.local_tag.clone());
        if let Some(r) = refusal_for_types(request, tag.as_deref()) {
            self.respond(key, r);
            return;
        }
        let Some(policy) = self.reinvite_policy(&peer) else {
            tracing::info!("re-INVITE over signalling that is not TLS while SRTP runs: refused");
            self.respond_code(key, request, 488, "Not Acceptable Here");
            return;
        };
        let negotiated = if request.body.is_empty() {
            None
        } else {
            match negotiate_offer(&request.body, &policy) {
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
                // A new address is learned again, and sent to at once only
                // if this request's source vouches for it.
                let vouched = self.vouches(peer.addr, n.remote_rtp.ip());
                if let Some(m) = self.media.as_mut() {
                    m.agree(n, peer.addr.ip(), vouched, &mut self.out);
                }
                sdp::build_answer_to_offer(
                    offer,
                    self.cfg.media_ip,
                    local_port,
                    self.session_id,
                    self.sdp_version,
                    n,
                )
            }
            None => match (&policy, self.media.as_ref().and_then(|m| m.srtp())) {
                (SrtpPolicy::Require(k), Some(_)) => sdp::build_offer_srtp(
                    self.cfg.media_ip,
                    local_port,
                    self.session_id,
                    self.sdp_version,
                    &CODECS,
                    k,
                ),
                _ => sdp::build_offer(self.cfg.media_ip, local_port, self.session_id, &CODECS),
            },
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
}
