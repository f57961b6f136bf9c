//! SRTP with SDES keys (RFC 4568) in the caller's call: an RTP/SAVP offer
//! over TLS is answered with Senim's own key; the caller's packets are
//! taken only under the caller's key; what Senim sends goes out under its
//! own; a caller that must use SRTP is refused plain RTP with 488.

mod harness;

use std::net::IpAddr;
use std::time::Duration;

use harness::*;
use senim_call::core::CallCore;
use senim_call::io::{MediaCommand, MediaId, Metric, Output, SrtpSend};
use senim_media::dtmf::{encode_event, Digit};
use senim_media::sdp;
use senim_media::srtp::{MasterKey, SrtpContext, Suite, MAX_TAG_LEN};
use senim_routing::router::{Action as RouterAction, LegResult};
use senim_routing::specialists::SpecialistId;
use senim_sip::message::{Peer, Transport};

const MENU: &str = "tests/dialplans/menu.xml";
const CENTRE: &str = "dialplans/centre.xml";
const SUITE: Suite = Suite::AesCm128HmacSha1_80;

/// The caller's own key, as its offer carries it.
fn caller_key() -> MasterKey {
    MasterKey::new([0x11; 16], [0x22; 14])
}

/// The caller's RTP/SAVP offer: PCMU, PCMA, telephone-event, one key.
fn savp_offer() -> String {
    let ip: IpAddr = "198.51.100.20".parse().expect("address");
    sdp::build_offer_srtp(ip, 40000, 1, 1, &[senim_media::Codec::Pcmu], &caller_key())
}

fn tls() -> Peer {
    Peer::tls(CALLER.parse().expect("address"))
}

/// The body of Senim's 200, parsed.
fn answer(h: &Harness) -> sdp::SessionDescription {
    let ok = h.response(200).expect("200 OK");
    sdp::parse(&String::from_utf8_lossy(&ok.body)).expect("the answer parses")
}

/// Senim's key, from its answer.
fn senim_key(h: &Harness) -> MasterKey {
    let a = answer(h);
    a.media[0].crypto[0].usable().expect("a usable key").key
}

/// What the caller's side of an SRTP call holds.
struct Caller {
    /// Protects what the caller sends.
    tx: SrtpContext,
    /// Unprotects what Senim sends.
    rx: SrtpContext,
    seq: u16,
}

impl Caller {
    fn new(h: &Harness) -> Caller {
        Caller {
            tx: SrtpContext::new(SUITE, &caller_key()),
            rx: SrtpContext::new(SUITE, &senim_key(h)),
            seq: 500,
        }
    }

    fn protect(&mut self, plain: &[u8]) -> Vec<u8> {
        let mut buf = plain.to_vec();
        buf.resize(plain.len() + MAX_TAG_LEN, 0);
        let n = self.tx.protect(&mut buf, plain.len()).expect("protects");
        buf.truncate(n);
        buf
    }

    /// An RFC 4733 key press, protected: a start and three ends.
    fn key(&mut self, h: &mut Harness, digit: char, timestamp: u32) -> Vec<Vec<u8>> {
        let d = Digit::from_char(digit).expect("a DTMF digit");
        let mut sent = Vec::new();
        for end in [false, true, true, true] {
            let plain = rtp_packet(101, self.seq, timestamp, &encode_event(d, end, 10, 800));
            self.seq = self.seq.wrapping_add(1);
            let p = self.protect(&plain);
            h.rtp(MediaId::Caller, &p, CALLER_RTP);
            sent.push(p);
        }
        sent
    }
}

fn answered_over_tls(plan: &str, cfg: std::sync::Arc<senim_call::config::CallConfig>) -> Harness {
    let mut h = Harness::start_over(cfg, plan, invite(&savp_offer()), 10, tls(), None);
    h.ack();
    h
}

fn dropped(h: &Harness) -> usize {
    h.outputs
        .iter()
        .filter(|o| matches!(o, Output::Metric(Metric::RtpDropped)))
        .count()
}

#[test]
fn an_srtp_offer_over_tls_is_answered_with_senims_own_key() {
    let h = answered_over_tls(MENU, config(false));
    let a = answer(&h);
    let m = &a.media[0];
    assert_eq!(m.protocol, "RTP/SAVP");
    assert_eq!(m.port, 30000);
    assert_eq!(m.crypto.len(), 1);
    assert_eq!(m.crypto[0].tag, sdp::OFFER_CRYPTO_TAG, "the offer's tag");
    assert_eq!(m.crypto[0].suite, SUITE.name());
    let key = senim_key(&h);
    assert_ne!(key, caller_key(), "Senim's own key, not the caller's");
    // The stream starts with the ACK, protected under that key.
    let start = h
        .commands(MediaId::Caller)
        .into_iter()
        .find_map(|c| match c {
            MediaCommand::Start { srtp, .. } => Some(srtp.clone()),
            _ => None,
        });
    assert_eq!(
        start,
        Some(Some(SrtpSend {
            suite: SUITE,
            key: key.clone()
        }))
    );
    assert_eq!(h.played(MediaId::Caller), ["greeting-bilingual"]);
    // Every call has a fresh key.
    let other = answered_over_tls(MENU, config(false));
    assert_ne!(senim_key(&other), key);
}

#[test]
fn the_callers_protected_keys_are_taken_and_forged_or_replayed_ones_are_not() {
    let mut h = answered_over_tls(MENU, config(false));
    let mut caller = Caller::new(&h);
    h.clear();
    let sent = caller.key(&mut h, '1', 1000);
    assert_eq!(h.digits(), [("1".to_string(), "rfc4733")]);
    assert_eq!(dropped(&h), 0);
    // The same packets again (a replay): refused before they count.
    h.clear();
    for p in &sent {
        h.rtp(MediaId::Caller, p, CALLER_RTP);
    }
    assert_eq!(dropped(&h), 4);
    // A key in plain RTP, or under another key, is not the caller's.
    h.advance(Duration::from_secs(1));
    h.clear();
    let d = Digit::from_char('2').expect("digit");
    for i in 0..4u16 {
        let plain = rtp_packet(101, 600 + i, 3000, &encode_event(d, i > 0, 10, 800));
        h.rtp(MediaId::Caller, &plain, CALLER_RTP);
        let mut stranger = SrtpContext::new(SUITE, &MasterKey::new([3; 16], [4; 14]));
        let mut forged = plain.clone();
        forged.resize(plain.len() + MAX_TAG_LEN, 0);
        let n = stranger
            .protect(&mut forged, plain.len())
            .expect("protects");
        h.rtp(MediaId::Caller, &forged[..n], CALLER_RTP);
    }
    assert!(h.digits().is_empty(), "{:?}", h.digits());
    assert_eq!(dropped(&h), 8);
    // The caller's next key still works.
    caller.key(&mut h, '2', 4000);
    assert_eq!(h.digits(), [("2".to_string(), "rfc4733")]);
}

/// Ring aigerim from an SRTP call, answer, accept, bridge.
fn bridged_srtp() -> (Harness, Caller) {
    let mut h = answered_over_tls(CENTRE, config(false));
    let mut caller = Caller::new(&h);
    caller.key(&mut h, '2', 1000); // Russian
    h.prompt_finished(MediaId::Caller);
    caller.key(&mut h, '2', 2000); // psychology
    h.prompt_finished(MediaId::Caller);
    h.call
        .handle_router(h.now, ring_of("aigerim", Duration::from_secs(20)));
    h.drain();
    let inv = h
        .sent(rsip::Method::Invite)
        .last()
        .cloned()
        .expect("an INVITE to the phone");
    h.reply(&inv, 200, &phone_sdp("0 101"));
    for _ in 0..3 {
        h.prompt_finished(MediaId::Leg(1));
    }
    let accept = encode_event(Digit::from_char('1').expect("digit"), true, 10, 800);
    h.rtp(
        MediaId::Leg(1),
        &rtp_packet(101, 7, 8000, &accept),
        PHONE_RTP,
    );
    assert!(h.router().iter().any(|r| matches!(
        r,
        senim_call::io::RouterRequest::LegResult {
            result: LegResult::Answered,
            ..
        }
    )));
    h.call.handle_router(
        h.now,
        RouterAction::Bridge {
            specialist: SpecialistId::new("aigerim"),
        },
    );
    h.drain();
    assert_eq!(h.call.bridged_leg(), Some(1));
    (h, caller)
}

#[test]
fn in_a_bridge_the_callers_srtp_is_unprotected_and_the_specialists_voice_protected() {
    let (mut h, mut caller) = bridged_srtp();
    h.clear();
    let from_caller = rtp_packet(0, 900, 160, &[0xff; 160]);
    let p = caller.protect(&from_caller);
    h.rtp(MediaId::Caller, &p, CALLER_RTP);
    let from_phone = rtp_packet(0, 1, 160, &[0x7f; 160]);
    h.rtp(MediaId::Leg(1), &from_phone, PHONE_RTP);
    let sends: Vec<(MediaId, Vec<u8>)> = h
        .outputs
        .iter()
        .filter_map(|o| match o {
            Output::SendRtp { from, data, .. } => Some((*from, data.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(sends.len(), 2, "{sends:?}");
    // To the phone (plain RTP leg): the caller's audio, unprotected.
    assert_eq!(sends[0], (MediaId::Leg(1), from_caller));
    // To the caller: the phone's audio under Senim's key.
    let (to, mut protected) = sends[1].clone();
    assert_eq!(to, MediaId::Caller);
    assert_eq!(protected.len(), from_phone.len() + SUITE.tag_len());
    assert_ne!(protected[12..172], from_phone[12..]);
    let n = caller.rx.unprotect(&mut protected).expect("Senim's key");
    assert_eq!(&protected[..n], &from_phone[..]);
}

#[test]
fn an_sdes_offer_over_udp_is_refused() {
    let h = Harness::start(config(false), MENU, &savp_offer(), 10);
    let r = h.response(488).expect("488");
    let warning =
        senim_sip::message::header_value(&rsip::SipMessage::Response(r.clone()), "Warning")
            .unwrap_or_default()
            .to_string();
    assert!(warning.contains("RTP/SAVP"), "{warning}");
    assert!(h.response(200).is_none());
}

#[test]
fn plain_rtp_over_tls_is_answered_plain_unless_srtp_is_required() {
    let h = Harness::start_over(
        config(false),
        MENU,
        invite(&sdp(40000, "0 101")),
        10,
        tls(),
        None,
    );
    let a = answer(&h);
    assert_eq!(a.media[0].protocol, "RTP/AVP");
    assert!(a.media[0].crypto.is_empty());
}

fn trunk_requires_srtp() -> std::sync::Arc<senim_call::config::CallConfig> {
    config_with(|t| t.require_srtp = true)
}

#[test]
fn a_trunk_that_requires_srtp_gets_488_for_plain_rtp_and_its_srtp_call_is_answered() {
    let trunk = || Peer {
        transport: Transport::Tls,
        addr: TRUNK.parse().expect("address"),
    };
    // Plain RTP over TLS.
    let h = Harness::start_over(
        trunk_requires_srtp(),
        MENU,
        invite(&sdp(40000, "0 101")),
        10,
        trunk(),
        None,
    );
    assert!(h.response(488).is_some());
    assert!(h.response(200).is_none());
    assert!(h.ended().is_some_and(|(o, _)| o == "rejected-media"));
    // Anything over UDP, SRTP offers included.
    let h = Harness::start_from(trunk_requires_srtp(), MENU, &savp_offer(), 10, TRUNK);
    assert!(h.response(488).is_some());
    // SRTP over TLS.
    let h = Harness::start_over(
        trunk_requires_srtp(),
        MENU,
        invite(&savp_offer()),
        10,
        trunk(),
        None,
    );
    assert_eq!(answer(&h).media[0].protocol, "RTP/SAVP");
    // Another source (not the trunk) is not held to the trunk's rule.
    let h = Harness::start_over(
        trunk_requires_srtp(),
        MENU,
        invite(&sdp(40000, "0 101")),
        10,
        tls(),
        None,
    );
    assert!(h.response(200).is_some());
}

const SARA: &str = r#"
[[specialist]]
id = "sara"
name = "Sara"
skills = ["mediation"]
languages = ["kk"]
username = "sara"
password = "a-long-enough-secret"
require_srtp = true
"#;

#[test]
fn a_softphone_that_requires_srtp_gets_488_for_plain_rtp() {
    let cfg = config_with_specialists(|_| {}, SARA);
    let h = Harness::start_over(
        cfg.clone(),
        MENU,
        invite(&sdp(40000, "0 101")),
        10,
        tls(),
        Some("sara"),
    );
    let r = h.response(488).expect("488");
    assert_eq!(r.status_code.code(), 488);
    let h = Harness::start_over(
        cfg.clone(),
        MENU,
        invite(&savp_offer()),
        10,
        tls(),
        Some("sara"),
    );
    assert!(h.response(200).is_some());
    // Another account, without the requirement, may use plain RTP.
    let h = Harness::start_over(
        cfg,
        MENU,
        invite(&sdp(40000, "0 101")),
        10,
        tls(),
        Some("aigerim"),
    );
    assert!(h.response(200).is_some());
}

#[test]
fn a_late_offer_to_a_caller_that_must_use_srtp_is_an_srtp_offer() {
    let cfg = config_with_specialists(|_| {}, SARA);
    let mut h = Harness::start_over(cfg, MENU, invite(""), 10, tls(), Some("sara"));
    let offer = answer(&h);
    assert_eq!(offer.media[0].protocol, "RTP/SAVP");
    let senim = offer.media[0].crypto[0].usable().expect("a key").key;
    // The caller's answer in the ACK: tag 1, its own key.
    let ip: IpAddr = "198.51.100.20".parse().expect("address");
    let body = sdp::build_offer_srtp(ip, 40000, 1, 1, &[senim_media::Codec::Pcmu], &caller_key());
    h.in_dialog("ACK", 1, "", &body);
    let start = h
        .commands(MediaId::Caller)
        .into_iter()
        .find_map(|c| match c {
            MediaCommand::Start { srtp, .. } => Some(srtp.clone()),
            _ => None,
        });
    assert_eq!(
        start,
        Some(Some(SrtpSend {
            suite: SUITE,
            key: senim
        }))
    );
    // A plain answer ends the call.
    let cfg = config_with_specialists(|_| {}, SARA);
    let mut h = Harness::start_over(cfg, MENU, invite(""), 10, tls(), Some("sara"));
    h.in_dialog("ACK", 1, "", &sdp(40000, "0 101"));
    assert!(h.ended().is_some_and(|(o, _)| o == "failed-media"));
}

#[test]
fn a_re_invite_keeps_srtp_and_cannot_fall_back_to_plain_rtp() {
    let mut h = answered_over_tls(MENU, config(false));
    let key = senim_key(&h);
    h.clear();
    // The same offer again (a session refresh): the same key answers.
    let k = h.in_dialog("INVITE", 2, "", &savp_offer());
    let ok = h.response_to(k).expect("an answer").clone();
    assert_eq!(ok.status_code.code(), 200);
    let a = sdp::parse(&String::from_utf8_lossy(&ok.body)).expect("parses");
    assert_eq!(a.media[0].crypto[0].usable().expect("key").key, key);
    // Plain RTP now: refused.
    let k = h.in_dialog("INVITE", 3, "", &sdp(40000, "0 101"));
    assert_eq!(h.response_to(k).map(|r| r.status_code.code()), Some(488));
}
