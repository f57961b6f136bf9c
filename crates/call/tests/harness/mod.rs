//! A deterministic harness for the call core: a virtual clock, a fake
//! driver that answers `PrepareLeg` with a port and keeps every other
//! output for the test to look at, and builders for the SIP and RTP a
//! caller, a phone or a partner would send. No sockets, no sleeps.

#![allow(dead_code, clippy::disallowed_methods)] // a test needs one base instant

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use senim_call::call::{Call, Incoming};
use senim_call::config::{CallConfig, DtmfMode, NumberGuard, Outbound, Trunk};
use senim_call::core::CallCore;
use senim_call::io::{MediaCommand, MediaId, Output, PreparedLeg, RouterRequest, SipInput};
use senim_call::record::RecordOp;
use senim_call::time::WallClock;
use senim_media::dtmf::{encode_event, Digit};
use senim_media::prompts::PromptLibrary;
use senim_routing::hours::{Calendar, Holidays, Schedules};
use senim_routing::partners::PartnerDirectory;
use senim_routing::specialists::Specialists;
use senim_sip::message::{self, Peer, Transport};
use senim_sip::transaction::TxKey;

pub const CALLER: &str = "198.51.100.20:5062";
pub const CALLER_RTP: &str = "198.51.100.20:40000";
pub const TRUNK: &str = "203.0.113.5:5060";
pub const SENIM: &str = "192.0.2.1:5060";
/// Senim's TLS listener in the harness.
pub const SENIM_TLS: &str = "192.0.2.1:5061";
pub const CALLER_NUMBER: &str = "+77011234567";

/// Hashes and "seals" visibly, so a test can see what went where.
struct TestKeys;

impl NumberGuard for TestKeys {
    fn hash(&self, number: &str) -> String {
        format!("hash({})", number.len())
    }
    fn seal(&self, number: &str) -> String {
        format!("sealed({})", number.len())
    }
}

fn prompts() -> Arc<PromptLibrary> {
    static P: OnceLock<Arc<PromptLibrary>> = OnceLock::new();
    P.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../voice-prompts");
        Arc::new(PromptLibrary::load(&dir).expect("the bundled prompts load"))
    })
    .clone()
}

const SPECIALISTS: &str = r#"
[[specialist]]
id = "aigerim"
name = "Aigerim"
skills = ["psychology"]
languages = ["kk", "ru"]
uri = "sip:aigerim@198.51.100.30:5070"
schedule = "24/7"

[[specialist]]
id = "daniyar"
name = "Daniyar"
skills = ["legal"]
languages = ["ru"]
number = "+77015550199"
schedule = "24/7"
"#;

/// The router's ring of `who` (one of the usual specialists), reached at
/// the contact the configuration gives them.
pub fn ring_of(who: &str, timeout: Duration) -> senim_routing::router::Action {
    let list =
        Specialists::from_toml_str(SPECIALISTS, Path::new("test.toml")).expect("specialists");
    let contact = list
        .get(who)
        .expect("one of the usual specialists")
        .contact
        .clone();
    senim_routing::router::Action::Ring {
        specialists: vec![senim_routing::specialists::SpecialistId::new(who)],
        contacts: vec![contact],
        timeout,
    }
}

/// The centre's settings for tests; `refer` makes the trunk take REFER
/// (and promise to present the centre on the calls it places for one).
pub fn config(refer: bool) -> Arc<CallConfig> {
    config_full(
        |t| {
            t.refer = refer;
            t.refer_presents_centre = refer;
        },
        Vec::new(),
    )
}

/// The centre's settings with these lines (`[[line]]`).
pub fn config_with_lines(refer: bool, lines: Vec<senim_call::config::Line>) -> Arc<CallConfig> {
    config_full(
        |t| {
            t.refer = refer;
            t.refer_presents_centre = refer;
        },
        lines,
    )
}

/// The centre's settings with the trunk's `dtmf` mode (a caller from the
/// trunk: `Harness::start_from(.., TRUNK)`).
pub fn trunk_dtmf_config(dtmf: DtmfMode) -> Arc<CallConfig> {
    config_full(|t| t.dtmf = dtmf, Vec::new())
}

/// The centre's settings with the trunk changed by `trunk`.
pub fn config_with(trunk: impl FnOnce(&mut Trunk)) -> Arc<CallConfig> {
    config_full(trunk, Vec::new())
}

/// The centre's settings changed by `change` (sharing the caller's
/// number, the partner directory, ...).
pub fn config_changed(change: impl FnOnce(&mut CallConfig)) -> Arc<CallConfig> {
    let mut cfg = config_parts(|_| {}, Vec::new(), SPECIALISTS);
    change(&mut cfg);
    Arc::new(cfg)
}

/// The centre's settings with this limit of callback requests.
pub fn config_with_quota(quota: Arc<dyn senim_call::config::CallbackQuota>) -> Arc<CallConfig> {
    let mut cfg = config_parts(|_| {}, Vec::new(), SPECIALISTS);
    cfg.callbacks.quota = quota;
    Arc::new(cfg)
}

/// The centre's settings with the trunk changed by `trunk` and these
/// `[[specialist]]` entries added to the usual two.
pub fn config_with_specialists(trunk: impl FnOnce(&mut Trunk), more: &str) -> Arc<CallConfig> {
    Arc::new(config_parts(
        trunk,
        Vec::new(),
        &format!("{SPECIALISTS}{more}"),
    ))
}

fn config_full(
    trunk: impl FnOnce(&mut Trunk),
    lines: Vec<senim_call::config::Line>,
) -> Arc<CallConfig> {
    Arc::new(config_parts(trunk, lines, SPECIALISTS))
}

fn config_parts(
    trunk: impl FnOnce(&mut Trunk),
    lines: Vec<senim_call::config::Line>,
    specialists: &str,
) -> CallConfig {
    let mut t = Trunk::new("provider", TRUNK.parse().expect("address"));
    trunk(&mut t);
    let schedules = Schedules::from_toml_str(
        "[centre]\nmon = \"09:00-18:00\"\ntue = \"09:00-18:00\"\nwed = \"09:00-18:00\"\nthu = \"09:00-18:00\"\nfri = \"09:00-18:00\"\n",
    )
    .expect("schedules");
    let holidays = Holidays::bundled().expect("holidays");
    CallConfig {
        prompts: prompts(),
        schedules,
        calendar: Calendar::new(chrono_tz::Asia::Almaty, holidays),
        partners: PartnerDirectory::bundled().expect("partners"),
        specialists: Specialists::from_toml_str(specialists, Path::new("test.toml"))
            .expect("specialists"),
        outbound: Outbound {
            display: "Senim".into(),
            user: "+77232000000".into(),
            has_number: true,
            share_caller_number: false,
            accept_timeout: Duration::from_secs(15),
            trunks: vec![t],
            wrap_up: None,
        },
        lines,
        sip_address: SENIM.parse().expect("address"),
        tls_address: Some(SENIM_TLS.parse().expect("address")),
        media_ip: "192.0.2.1".parse().expect("address"),
        numbers: Arc::new(TestKeys),
        callbacks: senim_call::config::CallbackPolicy {
            area_code: senim_call::config::AreaCode::parse("7232").ok(),
            ..Default::default()
        },
    }
}

/// 2026-12-02 (a Wednesday) at `hour`:00 in Asia/Almaty (UTC+5), in ms.
pub fn almaty(hour: i64) -> i64 {
    const WED_2026_12_02_UTC_MIDNIGHT_MS: i64 = 1_796_169_600_000;
    WED_2026_12_02_UTC_MIDNIGHT_MS + (hour - 5) * 3_600_000
}

pub fn plan(file: &str) -> Arc<senim_dialplan::Plan> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(file);
    let text = std::fs::read_to_string(&path).expect("the plan file");
    let (plan, _) =
        senim_dialplan::load_str(&text, &path, &senim_dialplan::AnyPrompt).expect("the plan loads");
    Arc::new(plan)
}

/// The caller's SDP (its address is the caller's: 198.51.100.20).
pub fn sdp(port: u16, codecs: &str) -> String {
    sdp_at("198.51.100.20", port, codecs)
}

/// An SDP naming `ip` as its connection address.
pub fn sdp_at(ip: &str, port: u16, codecs: &str) -> String {
    format!(
        "v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP {codecs}\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n"
    )
}

/// Where the specialist's phone (aigerim, 198.51.100.30) sends its RTP from,
/// as its answer says ([`phone_sdp`]).
pub const PHONE_RTP: &str = "198.51.100.30:45000";

/// The specialist's phone's answer.
pub fn phone_sdp(codecs: &str) -> String {
    sdp_at("198.51.100.30", 45000, codecs)
}

pub fn parse_request(text: &str) -> rsip::Request {
    match message::parse(text.as_bytes()).expect("test SIP parses") {
        rsip::SipMessage::Request(r) => r,
        rsip::SipMessage::Response(_) => panic!("not a request"),
    }
}

fn with_body(head: String, body: &str) -> String {
    if body.is_empty() {
        format!("{head}Content-Length: 0\r\n\r\n")
    } else {
        format!(
            "{head}Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    }
}

pub fn invite(body: &str) -> rsip::Request {
    invite_to("centre", body)
}

/// An INVITE whose Request-URI (and To) user is `user` (a dialled number).
pub fn invite_to(user: &str, body: &str) -> rsip::Request {
    let head = format!(
        "INVITE sip:{user}@{SENIM} SIP/2.0\r\nVia: SIP/2.0/UDP {CALLER};branch=z9hG4bK-inv1\r\nMax-Forwards: 70\r\nFrom: <sip:{CALLER_NUMBER}@{TRUNK}>;tag=caller1\r\nTo: <sip:{user}@{SENIM}>\r\nCall-ID: call-1@test\r\nCSeq: 1 INVITE\r\nContact: <sip:caller@{CALLER}>\r\n"
    );
    parse_request(&with_body(head, body))
}

/// Who the test is, in a running call.
pub struct Harness {
    pub call: Call,
    pub now: Instant,
    /// Every output not consumed by the fake driver, oldest first.
    pub outputs: Vec<Output>,
    /// The local tag Senim gave the caller's dialog.
    pub senim_tag: String,
    next_key: u64,
    next_port: u16,
    /// What `PrepareLeg` answers: a port, or this error.
    pub leg_error: Option<String>,
    /// Where the caller's requests come from (its transport and address).
    pub caller_peer: Peer,
    /// The caller's next audio packet's sequence number and timestamp.
    audio_seq: u16,
    audio_ts: u32,
    /// The transport the caller's requests come over.
    pub transport: Transport,
}

impl Harness {
    /// A call answered with `body` as the INVITE's offer, at `hour` in Almaty.
    pub fn start(cfg: Arc<CallConfig>, plan_file: &str, body: &str, hour: i64) -> Harness {
        Self::start_from(cfg, plan_file, body, hour, CALLER)
    }

    pub fn start_from(
        cfg: Arc<CallConfig>,
        plan_file: &str,
        body: &str,
        hour: i64,
        from: &str,
    ) -> Harness {
        Self::start_invite(cfg, plan_file, invite(body), hour, from)
    }

    /// A call for `invite` from `from` (over UDP).
    pub fn start_invite(
        cfg: Arc<CallConfig>,
        plan_file: &str,
        invite: rsip::Request,
        hour: i64,
        from: &str,
    ) -> Harness {
        Self::start_over(
            cfg,
            plan_file,
            invite,
            hour,
            Peer::udp(from.parse().expect("address")),
            None,
        )
    }

    /// A call for `invite` from `peer` (any transport), not from a softphone.
    pub fn start_invite_over(
        cfg: Arc<CallConfig>,
        plan_file: &str,
        invite: rsip::Request,
        hour: i64,
        peer: Peer,
    ) -> Harness {
        Self::start_over(cfg, plan_file, invite, hour, peer, None)
    }

    /// A call for `invite` from `peer` (its transport too; the caller's
    /// later requests come from there), from the registered softphone
    /// `softphone` if given.
    pub fn start_over(
        cfg: Arc<CallConfig>,
        plan_file: &str,
        invite: rsip::Request,
        hour: i64,
        peer: Peer,
        softphone: Option<&str>,
    ) -> Harness {
        Self::start_full(cfg, plan_file, invite, hour, peer, softphone, None)
    }

    /// A call answered with `body` as the offer from a caller the driver
    /// found remembered (`remembered`) from an earlier call.
    pub fn start_remembered(
        cfg: Arc<CallConfig>,
        plan_file: &str,
        body: &str,
        hour: i64,
        remembered: senim_call::memory::Remembered,
    ) -> Harness {
        let peer = Peer::udp(CALLER.parse().expect("address"));
        Self::start_full(
            cfg,
            plan_file,
            invite(body),
            hour,
            peer,
            None,
            Some(remembered),
        )
    }

    fn start_full(
        cfg: Arc<CallConfig>,
        plan_file: &str,
        invite: rsip::Request,
        hour: i64,
        peer: Peer,
        softphone: Option<&str>,
        remembered: Option<senim_call::memory::Remembered>,
    ) -> Harness {
        let now = Instant::now();
        let call = Call::answer_new(
            cfg,
            plan(plan_file),
            WallClock::new(now, almaty(hour)),
            Incoming {
                id: "0b6f7a3e-2f47-4a51-9a2e-5d1c2e9b8f10".into(),
                key: TxKey::from_id(1),
                invite,
                peer,
                port: Ok(30000),
                softphone: softphone.map(str::to_string),
                remembered,
            },
        );
        let mut h = Harness {
            call,
            now,
            outputs: Vec::new(),
            senim_tag: String::new(),
            next_key: 100,
            next_port: 31000,
            leg_error: None,
            caller_peer: peer,
            audio_seq: 0,
            audio_ts: 0,
            transport: peer.transport,
        };
        h.drain();
        if let Some(r) = h.response(200) {
            h.senim_tag = message::to_tag(&r).unwrap_or_default();
        }
        h
    }

    pub fn key(&mut self) -> TxKey {
        self.next_key += 1;
        TxKey::from_id(self.next_key)
    }

    /// Drain the core; answer `PrepareLeg` as a driver would.
    pub fn drain(&mut self) {
        for _ in 0..10_000 {
            let Some(o) = self.call.poll_output() else {
                return;
            };
            match o {
                Output::PrepareLeg { leg, softphone } => {
                    let result = match &self.leg_error {
                        Some(e) => Err(e.clone()),
                        None => {
                            self.next_port += 2;
                            Ok(PreparedLeg {
                                port: self.next_port,
                                softphone: softphone.map(|_| {
                                    (
                                        message::parse_uri("sip:phone@198.51.100.40:5080")
                                            .expect("uri"),
                                        Peer::udp("198.51.100.40:5080".parse().expect("address")),
                                    )
                                }),
                            })
                        }
                    };
                    self.call.handle_leg_prepared(self.now, leg, result);
                }
                other => self.outputs.push(other),
            }
        }
        panic!("the core did not settle");
    }

    /// Move the virtual clock, firing every timeout on the way.
    pub fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        for _ in 0..10_000 {
            match self.call.poll_timeout() {
                Some(t) if t <= end => {
                    self.now = self.now.max(t);
                    self.call.handle_timeout(self.now);
                    self.drain();
                }
                _ => break,
            }
        }
        self.now = end;
    }

    pub fn sip(&mut self, input: SipInput) {
        self.call.handle_sip(self.now, input);
        self.drain();
    }

    /// A request in the caller's dialog (from the caller's side).
    pub fn in_dialog(&mut self, method: &str, cseq: u32, extra: &str, body: &str) -> TxKey {
        let head = format!(
            "{method} sip:senim@{SENIM} SIP/2.0\r\nVia: SIP/2.0/UDP {CALLER};branch=z9hG4bK-{method}{cseq}\r\nMax-Forwards: 70\r\nFrom: <sip:{CALLER_NUMBER}@{TRUNK}>;tag=caller1\r\nTo: <sip:centre@{SENIM}>;tag={}\r\nCall-ID: call-1@test\r\nCSeq: {cseq} {method}\r\nContact: <sip:caller@{CALLER}>\r\n{extra}",
            self.senim_tag
        );
        let text = if body.is_empty() || extra.contains("Content-Type") {
            format!("{head}Content-Length: {}\r\n\r\n{body}", body.len())
        } else {
            with_body(head, body)
        };
        let request = parse_request(&text);
        let key = self.key();
        let peer = Peer {
            transport: self.transport,
            addr: self.caller_peer.addr,
        };
        if method == "ACK" {
            self.sip(SipInput::Ack { request, peer });
        } else {
            self.sip(SipInput::Request { key, request, peer });
        }
        key
    }

    pub fn ack(&mut self) {
        self.in_dialog("ACK", 1, "", "");
    }

    pub fn info(&mut self, cseq: u32, digit: char) -> TxKey {
        let body = format!("Signal={digit}\r\nDuration=160\r\n");
        self.in_dialog(
            "INFO",
            cseq,
            "Content-Type: application/dtmf-relay\r\n",
            &body,
        )
    }

    pub fn rtp(&mut self, media: MediaId, data: &[u8], from: &str) {
        self.call
            .handle_rtp(self.now, media, data, from.parse().expect("address"));
        self.drain();
    }

    /// An RFC 4733 key press from the caller: a start and three ends.
    pub fn rfc4733(&mut self, digit: char, timestamp: u32) {
        let d = Digit::from_char(digit).expect("a DTMF digit");
        for (i, end) in [false, true, true, true].into_iter().enumerate() {
            let payload = encode_event(d, end, 10, 800);
            let seq = 100 + i as u16;
            let p = rtp_packet(101, seq, timestamp, &payload);
            self.rtp(MediaId::Caller, &p, CALLER_RTP);
        }
    }

    /// A key pressed in the caller's audio: its dual tone for `ms`, then
    /// 100 ms of silence, as PCMU packets every 20 ms of virtual time.
    pub fn tone(&mut self, digit: char, ms: usize) {
        for chunk in dtmf_tone(digit, ms).chunks(160) {
            let mut payload = vec![0u8; chunk.len()];
            senim_media::g711::Codec::Pcmu.encode(chunk, &mut payload);
            let p = rtp_packet(0, self.audio_seq, self.audio_ts, &payload);
            self.rtp(MediaId::Caller, &p, CALLER_RTP);
            self.audio_seq = self.audio_seq.wrapping_add(1);
            self.audio_ts = self.audio_ts.wrapping_add(160);
            self.advance(Duration::from_millis(20));
        }
    }

    /// The call record's DTMF mode (from its answer).
    pub fn dtmf_mode(&self) -> Option<&'static str> {
        self.records().into_iter().find_map(|r| match r {
            RecordOp::Answered { dtmf_mode, .. } => Some(*dtmf_mode),
            _ => None,
        })
    }

    /// The stream of `media` reports the end of its current prompt.
    pub fn prompt_finished(&mut self, media: MediaId) {
        let token = self.last_token(media).expect("a prompt plays");
        self.call.handle_prompt_finished(self.now, media, token);
        self.drain();
    }

    pub fn last_token(&self, media: MediaId) -> Option<u64> {
        self.outputs.iter().rev().find_map(|o| match o {
            Output::Media {
                id,
                command: MediaCommand::Play { token, .. },
            } if *id == media => Some(*token),
            _ => None,
        })
    }

    /// Prompt ids played to `media`, in order.
    pub fn played(&self, media: MediaId) -> Vec<String> {
        self.outputs
            .iter()
            .filter_map(|o| match o {
                Output::Media {
                    id,
                    command: MediaCommand::Play { prompt, .. },
                } if *id == media => Some(prompt.id().to_string()),
                _ => None,
            })
            .collect()
    }

    pub fn commands(&self, media: MediaId) -> Vec<&MediaCommand> {
        self.outputs
            .iter()
            .filter_map(|o| match o {
                Output::Media { id, command } if *id == media => Some(command),
                _ => None,
            })
            .collect()
    }

    pub fn responses(&self) -> Vec<&rsip::Response> {
        self.outputs
            .iter()
            .filter_map(|o| match o {
                Output::Respond { response, .. } => Some(response),
                _ => None,
            })
            .collect()
    }

    pub fn response(&self, code: u16) -> Option<rsip::Response> {
        self.responses()
            .into_iter()
            .find(|r| r.status_code.code() == code)
            .cloned()
    }

    /// The answer given on transaction `key`.
    pub fn response_to(&self, key: TxKey) -> Option<&rsip::Response> {
        self.outputs.iter().find_map(|o| match o {
            Output::Respond { key: k, response } if *k == key => Some(response),
            _ => None,
        })
    }

    /// Requests Senim sent, with where.
    pub fn requests(&self) -> Vec<(&rsip::Request, Peer)> {
        self.outputs
            .iter()
            .filter_map(|o| match o {
                Output::Request { request, peer } => Some((&**request, *peer)),
                _ => None,
            })
            .collect()
    }

    pub fn sent(&self, method: rsip::Method) -> Vec<rsip::Request> {
        self.requests()
            .into_iter()
            .filter(|(r, _)| r.method == method)
            .map(|(r, _)| r.clone())
            .collect()
    }

    pub fn records(&self) -> Vec<&RecordOp> {
        self.outputs
            .iter()
            .filter_map(|o| match o {
                Output::Record(r) => Some(&**r),
                _ => None,
            })
            .collect()
    }

    /// The record's steps (`what`), in order.
    pub fn steps(&self) -> Vec<String> {
        self.records()
            .into_iter()
            .filter_map(|r| match r {
                RecordOp::Step { what, .. } => Some(what.clone()),
                _ => None,
            })
            .collect()
    }

    pub fn digits(&self) -> Vec<(String, &'static str)> {
        self.records()
            .into_iter()
            .filter_map(|r| match r {
                RecordOp::Digit { digit, source, .. } => Some((digit.clone(), *source)),
                _ => None,
            })
            .collect()
    }

    pub fn ended(&self) -> Option<(String, Option<&'static str>)> {
        self.records().into_iter().find_map(|r| match r {
            RecordOp::Ended {
                outcome, hangup_by, ..
            } => Some((outcome.clone(), *hangup_by)),
            _ => None,
        })
    }

    pub fn router(&self) -> Vec<&RouterRequest> {
        self.outputs
            .iter()
            .filter_map(|o| match o {
                Output::Router(r) => Some(&**r),
                _ => None,
            })
            .collect()
    }

    /// Forget what was seen so far.
    pub fn clear(&mut self) {
        self.outputs.clear();
    }

    /// A response from a leg's far end to a request Senim sent.
    pub fn reply(&mut self, request: &rsip::Request, code: u16, body: &str) {
        let mut r = message::response(request, code, "Reason", Some("phone-tag"));
        if !body.is_empty() {
            r.headers.push(rsip::Header::Contact(
                "<sip:phone@198.51.100.30:5070>".into(),
            ));
            message::set_body(&mut r, Some("application/sdp"), body.as_bytes().to_vec());
        }
        let key = self.key();
        self.sip(SipInput::Response { key, response: r });
    }

    /// A request in a leg's dialog, from the leg's far end (after its 200).
    pub fn leg_request(
        &mut self,
        invite: &rsip::Request,
        method: &str,
        extra: &str,
        body: &str,
    ) -> TxKey {
        let call_id = message::call_id(invite).expect("Call-ID");
        let from_tag = message::from_tag(invite).expect("From tag");
        let text = format!(
            "{method} sip:senim@{SENIM} SIP/2.0\r\nVia: SIP/2.0/UDP 198.51.100.30:5070;branch=z9hG4bK-leg-{method}\r\nMax-Forwards: 70\r\nFrom: <sip:phone@198.51.100.30>;tag=phone-tag\r\nTo: <sip:centre@{SENIM}>;tag={from_tag}\r\nCall-ID: {call_id}\r\nCSeq: 5 {method}\r\n{extra}Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let request = parse_request(&text);
        let key = self.key();
        self.sip(SipInput::Request {
            key,
            request,
            peer: Peer::udp("198.51.100.30:5070".parse().expect("address")),
        });
        key
    }
}

/// A DTMF dual tone for `ms` (each tone at -10 dBm0), then 100 ms of silence.
pub fn dtmf_tone(digit: char, ms: usize) -> Vec<i16> {
    let d = Digit::from_char(digit).expect("digit");
    let (lo, hi) = senim_media::dtmf::tone_frequencies(d);
    let amp = senim_media::dtmf::dbm0_to_amplitude(-10.0);
    let mut s: Vec<i16> = (0..ms * 8)
        .map(|i| {
            let t = i as f32 / 8000.0;
            let v = amp
                * ((2.0 * std::f32::consts::PI * lo * t).sin()
                    + (2.0 * std::f32::consts::PI * hi * t).sin());
            v as i16
        })
        .collect();
    s.extend(std::iter::repeat_n(0, 800));
    s
}

pub fn rtp_packet(pt: u8, seq: u16, ts: u32, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, pt];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&[1, 2, 3, 4]);
    p.extend_from_slice(payload);
    p
}

pub fn addr(text: &str) -> SocketAddr {
    text.parse().expect("address")
}
