//! The test call as a sans-IO state machine: INVITE (through the SIP
//! transaction layer, so retransmissions follow RFC 3261), ACK, a pause to
//! listen, each key pressed as RFC 4733 events (or SIP INFO when Senim
//! offers no telephone-event), a pause after each, then BYE. It takes the
//! bytes received and the time, and gives bytes to send, when to wake it,
//! and notes of what happened.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use senim_media::dtmf::Digit;
use senim_media::rtp::RtpSender;
use senim_media::{sdp, Codec};
use senim_sip::dialog::Dialog;
use senim_sip::message::{self, Peer, Transport};
use senim_sip::rsip::{self, Method, Request};
use senim_sip::transaction::{Event, TimerConfig, TransactionLayer, TxKey};

/// The codecs the test caller offers, PCMU first.
const CODECS: [Codec; 2] = [Codec::Pcmu, Codec::Pcma];
/// An RFC 4733 event: five packets 20 ms apart, then three end packets.
const EVENT_PACKETS: u16 = 5;
const END_PACKETS: u16 = 3;
const FRAME: Duration = Duration::from_millis(20);

/// What the test call is asked to do.
#[derive(Debug, Clone)]
pub struct Setup {
    /// Senim's SIP address.
    pub target: SocketAddr,
    /// The caller's SIP socket's address.
    pub local_sip: SocketAddr,
    /// The caller's RTP socket's address.
    pub local_rtp: SocketAddr,
    /// The caller's number (the From user).
    pub from_user: String,
    /// The keys to press, in order.
    pub keys: Vec<Digit>,
    /// How long to listen after the answer and after each key.
    pub listen: Duration,
}

/// Something to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// A SIP message from the SIP socket.
    Sip { to: SocketAddr, data: Vec<u8> },
    /// An RTP packet from the RTP socket.
    Rtp { to: SocketAddr, data: Vec<u8> },
}

/// What happened, for the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Note {
    /// A provisional response.
    Ringing(u16),
    /// Senim answered.
    Answered { codec: Codec, media: SocketAddr },
    /// A key was pressed.
    Pressed { key: char, how: &'static str },
    /// Senim hung up.
    SenimHungUp,
    /// The caller hung up; Senim's answer to the BYE.
    HungUp(Option<u16>),
}

/// How the test call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Answered, keys pressed, hung up by one side.
    Completed,
    /// A final response other than 2xx.
    Refused { status: u16, reason: String },
    /// No final response in time.
    NoAnswer,
    /// The answer could not be used (no SDP, no common codec, no dialog).
    BadAnswer(String),
}

enum Phase {
    Inviting { key: TxKey, invite: Request },
    Talking(Box<Talk>),
    Ending { key: TxKey },
    Done(Outcome),
}

struct Talk {
    dialog: Dialog,
    ack: Request,
    remote_rtp: SocketAddr,
    telephone_event: Option<u8>,
    next: Instant,
    keys: VecDeque<Digit>,
    press: Option<Press>,
}

struct Press {
    digit: Digit,
    timestamp: u32,
    sent: u16,
}

/// One test call.
pub struct TestCall {
    setup: Setup,
    tx: TransactionLayer,
    phase: Phase,
    out: VecDeque<Output>,
    notes: VecDeque<Note>,
    rtp: RtpSender,
    codec: Option<Codec>,
}

impl TestCall {
    /// Send the INVITE.
    pub fn start(now: Instant, setup: Setup) -> TestCall {
        let mut tx = TransactionLayer::new(TimerConfig::default());
        let sdp = sdp::build_offer(
            setup.local_rtp.ip(),
            setup.local_rtp.port(),
            u64::from(rand::random::<u32>()),
            &CODECS,
        );
        let invite = invite(&setup, sdp);
        let key = tx.send_request(now, invite.clone(), Peer::udp(setup.target));
        let mut call = TestCall {
            rtp: RtpSender::new(rand::random(), rand::random(), rand::random()),
            setup,
            tx,
            phase: Phase::Inviting { key, invite },
            out: VecDeque::new(),
            notes: VecDeque::new(),
            codec: None,
        };
        call.drain();
        call
    }

    /// The codec agreed, once answered.
    pub fn codec(&self) -> Option<Codec> {
        self.codec
    }

    /// A datagram on the SIP socket.
    pub fn handle_sip(&mut self, now: Instant, data: &[u8], from: SocketAddr) {
        self.tx.handle_bytes(now, data, Peer::udp(from));
        self.events(now);
    }

    /// Time passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.tx.handle_timeout(now);
        self.events(now);
        self.talk(now);
        self.drain();
    }

    /// When to call `handle_timeout` next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let talk = match &self.phase {
            Phase::Talking(t) => Some(t.next),
            _ => None,
        };
        match (self.tx.poll_timeout(), talk) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    pub fn poll_note(&mut self) -> Option<Note> {
        self.notes.pop_front()
    }

    /// How the call ended, once it has.
    pub fn outcome(&self) -> Option<&Outcome> {
        match &self.phase {
            Phase::Done(o) => Some(o),
            _ => None,
        }
    }

    fn drain(&mut self) {
        while let Some(t) = self.tx.poll_transmit() {
            self.out.push_back(Output::Sip {
                to: t.peer.addr,
                data: t.data.to_vec(),
            });
        }
    }

    fn events(&mut self, now: Instant) {
        // Bounded: each event comes from one input.
        for _ in 0..64 {
            let Some(event) = self.tx.poll_event() else {
                break;
            };
            self.event(now, event);
        }
        self.drain();
    }

    fn event(&mut self, now: Instant, event: Event) {
        match event {
            Event::Response { key, response } => self.response(now, key, response),
            Event::Request { key, request, .. } => self.request(now, key, request),
            Event::Timeout { key } => match &self.phase {
                Phase::Inviting { key: k, .. } if *k == key => {
                    self.phase = Phase::Done(Outcome::NoAnswer)
                }
                Phase::Ending { key: k } if *k == key => {
                    self.notes.push_back(Note::HungUp(None));
                    self.phase = Phase::Done(Outcome::Completed);
                }
                _ => {}
            },
            _ => {}
        }
    }

    fn response(&mut self, now: Instant, key: TxKey, response: rsip::Response) {
        let code = response.status_code.code();
        match &mut self.phase {
            Phase::Inviting { key: k, invite } if *k == key => {
                if code < 200 {
                    if code > 100 {
                        self.notes.push_back(Note::Ringing(code));
                    }
                    return;
                }
                if code >= 300 {
                    let reason = message::reason_phrase(code).to_string();
                    self.phase = Phase::Done(Outcome::Refused {
                        status: code,
                        reason,
                    });
                    return;
                }
                let invite = invite.clone();
                match self.answered(now, &invite, &response) {
                    Ok(talk) => self.phase = Phase::Talking(Box::new(talk)),
                    Err(why) => self.phase = Phase::Done(Outcome::BadAnswer(why)),
                }
            }
            // A 2xx retransmitted: its ACK again.
            Phase::Talking(t) if (200..300).contains(&code) => {
                self.out.push_back(Output::Sip {
                    to: self.setup.target,
                    data: message::request_to_bytes(&t.ack).to_vec(),
                });
            }
            Phase::Ending { key: k } if *k == key && code >= 200 => {
                self.notes.push_back(Note::HungUp(Some(code)));
                self.phase = Phase::Done(Outcome::Completed);
            }
            _ => {}
        }
    }

    fn answered(
        &mut self,
        now: Instant,
        invite: &Request,
        response: &rsip::Response,
    ) -> Result<Talk, String> {
        let contact = local_contact(&self.setup);
        let dialog = Dialog::new_uac(invite, response, contact).map_err(|e| e.to_string())?;
        let invite_cseq = message::cseq(invite).map_or(1, |(n, _)| n);
        let ack = dialog.make_ack(invite_cseq, self.setup.local_sip, Transport::Udp);
        self.out.push_back(Output::Sip {
            to: self.setup.target,
            data: message::request_to_bytes(&ack).to_vec(),
        });
        let body = String::from_utf8_lossy(&response.body).to_string();
        let answer = sdp::parse(&body).map_err(|e| format!("the answer's SDP: {e}"))?;
        let agreed = sdp::negotiate_answer(&answer, &CODECS).map_err(|e| e.to_string())?;
        self.codec = Some(agreed.codec);
        self.notes.push_back(Note::Answered {
            codec: agreed.codec,
            media: agreed.remote_rtp,
        });
        Ok(Talk {
            dialog,
            ack,
            remote_rtp: agreed.remote_rtp,
            telephone_event: agreed.telephone_event,
            next: now + self.setup.listen,
            keys: self.setup.keys.iter().copied().collect(),
            press: None,
        })
    }

    fn request(&mut self, now: Instant, key: TxKey, request: Request) {
        let ok = message::response(&request, 200, "OK", None);
        let _ = self.tx.send_response(now, key, ok);
        if request.method == Method::Bye && matches!(self.phase, Phase::Talking(_)) {
            self.notes.push_back(Note::SenimHungUp);
            self.phase = Phase::Done(Outcome::Completed);
        }
    }

    /// Keys and the end of the call, on the call's own timer.
    fn talk(&mut self, now: Instant) {
        let Phase::Talking(t) = &mut self.phase else {
            return;
        };
        if now < t.next {
            return;
        }
        if let Some(p) = &mut t.press {
            let te = t.telephone_event.unwrap_or(101);
            let end = p.sent >= EVENT_PACKETS;
            let duration = 160 * (p.sent.min(EVENT_PACKETS - 1) + 1);
            let payload = senim_media::dtmf::encode_event(p.digit, end, 10, duration);
            let mut buf = [0u8; 16];
            let len = self
                .rtp
                .write_packet_with_timestamp(te, &payload, p.timestamp, 0, &mut buf);
            self.out.push_back(Output::Rtp {
                to: t.remote_rtp,
                data: buf[..len].to_vec(),
            });
            p.sent += 1;
            if p.sent >= EVENT_PACKETS + END_PACKETS {
                self.rtp.advance(160 * u32::from(EVENT_PACKETS));
                t.press = None;
                t.next = now + self.setup.listen;
            } else {
                t.next = now + FRAME;
            }
            return;
        }
        match t.keys.pop_front() {
            Some(digit) if t.telephone_event.is_some() => {
                self.rtp.mark_talkspurt();
                t.press = Some(Press {
                    digit,
                    timestamp: rand::random(),
                    sent: 0,
                });
                self.notes.push_back(Note::Pressed {
                    key: digit.as_char(),
                    how: "RFC 4733",
                });
                t.next = now;
                self.talk(now);
            }
            Some(digit) => {
                let mut info =
                    t.dialog
                        .make_request(Method::Info, self.setup.local_sip, Transport::Udp);
                message::set_body(
                    &mut info,
                    Some("application/dtmf-relay"),
                    format!("Signal={}\r\nDuration=160\r\n", digit.as_char()).into_bytes(),
                );
                self.tx
                    .send_request(now, info, Peer::udp(self.setup.target));
                self.notes.push_back(Note::Pressed {
                    key: digit.as_char(),
                    how: "SIP INFO",
                });
                t.next = now + self.setup.listen;
            }
            None => {
                let bye = t
                    .dialog
                    .make_request(Method::Bye, self.setup.local_sip, Transport::Udp);
                let key = self.tx.send_request(now, bye, Peer::udp(self.setup.target));
                self.phase = Phase::Ending { key };
            }
        }
    }
}

fn local_contact(setup: &Setup) -> rsip::Uri {
    let text = format!("sip:{}@{}", setup.from_user, setup.local_sip);
    message::parse_uri(&text).unwrap_or_default()
}

/// The INVITE to Senim with the offer.
fn invite(setup: &Setup, sdp: String) -> Request {
    let uri = message::parse_uri(&format!("sip:senim@{}", setup.target)).unwrap_or_default();
    let from = format!("sip:{}@{}", setup.from_user, setup.local_sip.ip());
    let to = format!("sip:senim@{}", setup.target);
    let call_id = message::new_call_id(&setup.local_sip.ip().to_string());
    let tag = message::new_tag();
    let contact = format!("<sip:{}@{}>", setup.from_user, setup.local_sip);
    let mut request = senim_sip::outbound::ClientRequest {
        method: Method::Invite,
        uri: &uri,
        from: &from,
        from_tag: &tag,
        to: &to,
        call_id: &call_id,
        cseq: 1,
        transport: Transport::Udp,
        via_sent_by: setup.local_sip,
        extra: vec![
            message::make_header("Contact", &contact),
            message::make_header("Allow", "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO"),
        ],
        user_agent: Some("senim call"),
    }
    .build();
    message::set_body(&mut request, Some("application/sdp"), sdp.into_bytes());
    request
}

#[cfg(test)]
mod tests;
