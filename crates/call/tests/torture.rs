//! RFC 4475's INVITEs as the caller's call core sees them (the messages in
//! `crates/sip/tests/torture`): which become calls, which are refused and
//! with what. The running binary gets the same messages in
//! `tests/e2e_torture.rs`.

mod harness;

use harness::*;
use rsip::Method;
use senim_call::call::Phase;
use senim_call::io::{MediaCommand, MediaId, SipInput};
use senim_sip::message::{self, Peer};

const MENU: &str = "tests/dialplans/menu.xml";

fn torture(kind: &str, name: &str) -> rsip::Request {
    let path = format!(
        "{}/../sip/tests/torture/{kind}/{name}.sip",
        env!("CARGO_MANIFEST_DIR")
    );
    let bytes = std::fs::read(&path).expect("torture message");
    match message::parse(&bytes).expect("it parses") {
        rsip::SipMessage::Request(r) => r,
        rsip::SipMessage::Response(_) => panic!("{name} is a response"),
    }
}

fn start(invite: rsip::Request) -> Harness {
    assert_eq!(invite.method, Method::Invite);
    Harness::start_invite(config(false), MENU, invite, 10, CALLER)
}

fn call_for(kind: &str, name: &str) -> Harness {
    start(torture(kind, name))
}

/// The final responses the call sent, by code.
fn finals(h: &Harness) -> Vec<u16> {
    h.responses()
        .iter()
        .map(|r| r.status_code.code())
        .filter(|c| *c >= 200)
        .collect()
}

#[test]
fn offers_with_an_rtpmap_without_clock_rate_are_answered() {
    // Each offers `m=audio 49217 RTP/AVP 0 12`, `m=video 3227 RTP/AVP 31` and
    // `a=rtpmap:31 LPC`; these used to be answered 400. (sdp01 without its
    // Accept header, which is what it tests: see below.)
    for (kind, name) in [
        ("valid", "esc01"),
        ("valid", "longreq"),
        ("valid", "sdp01"),
        ("either", "baddate"),
    ] {
        let mut invite = torture(kind, name);
        message::remove_headers(&mut invite, "Accept");
        let mut h = start(invite);
        assert_eq!(finals(&h), [200], "{name}");
        let ok = h.response(200).expect("200");
        let body = String::from_utf8_lossy(&ok.body).to_string();
        assert!(body.contains("RTP/AVP 0"), "{name}: PCMU\n{body}");
        assert!(body.contains("m=video 0 "), "{name}: video refused\n{body}");
        h.ack();
        assert_eq!(h.call.phase(), Phase::Active, "{name}");
        // The stream starts (sending to the SDP's address once the caller's
        // signalling vouches for it, or its RTP is seen).
        assert!(h.commands(MediaId::Caller).iter().any(|c| matches!(
            c,
            MediaCommand::Start { remote, .. } if remote.is_none_or(|r| r.port() == 49217)
        )));
    }
}

#[test]
fn an_rfc2543_invite_is_answered_and_its_bye_ends_the_call() {
    let mut h = call_for("valid", "inv2543");
    assert_eq!(finals(&h), [200]);
    let ok = h.response(200).expect("200");
    let to = message::header_value(&ok, "To").unwrap_or("").to_string();
    assert!(to.contains(";tag="), "Senim's tag: {to}");
    assert!(
        !message::header_value(&ok, "From")
            .unwrap_or("")
            .contains("tag="),
        "no tag is made up for the caller"
    );
    h.ack();
    assert_eq!(h.call.phase(), Phase::Active);
    // The RFC 2543 UAC hangs up, again without a From tag.
    let bye = parse_request(&format!(
        "BYE sip:UserB@example.com SIP/2.0\r\n\
         Via: SIP/2.0/UDP iftgw.example.com\r\n\
         From: <sip:+13035551111@ift.client.example.net;user=phone>\r\n\
         To: {to}\r\n\
         Call-ID: inv2543.1717@ift.client.example.com\r\n\
         CSeq: 57 BYE\r\n\
         Content-Length: 0\r\n\r\n"
    ));
    let key = h.key();
    h.sip(SipInput::Request {
        key,
        request: bye,
        peer: Peer::udp(CALLER.parse().expect("address")),
    });
    assert_eq!(h.response_to(key).map(|r| r.status_code.code()), Some(200));
    assert_eq!(h.ended(), Some(("caller-hangup".into(), Some("caller"))));
}

#[test]
fn senims_bye_to_an_rfc2543_caller_has_no_to_tag() {
    let mut h = call_for("valid", "inv2543");
    h.ack();
    h.sip(SipInput::Shutdown);
    let byes = h.sent(Method::Bye);
    let bye = byes.first().expect("a BYE");
    let to = message::header_value(bye, "To").unwrap_or("");
    assert!(!to.contains("tag="), "{to}");
    assert_eq!(
        message::call_id(bye).as_deref(),
        Some("inv2543.1717@ift.client.example.com")
    );
}

#[test]
fn a_body_that_is_not_sdp_is_refused_415() {
    // RFC 4475 §3.3.6 (invut): Content-Type application/unknownformat.
    let h = call_for("valid", "invut");
    assert_eq!(finals(&h), [415]);
    let r = h.response(415).expect("415");
    assert_eq!(message::header_value(&r, "Accept"), Some("application/sdp"));
    assert!(message::to_tag(&r).is_some());
    assert_eq!(h.ended().map(|e| e.0), Some("rejected-media".into()));
}

#[test]
fn an_accept_without_sdp_is_refused_406() {
    // RFC 4475 §3.3.15 (sdp01): Accept: text/nobodyKnowsThis, so the answer
    // (SDP) cannot be sent.
    let h = call_for("valid", "sdp01");
    assert_eq!(finals(&h), [406]);
    let r = h.response(406).expect("406");
    assert!(message::header_value(&r, "Warning").is_some_and(|w| w.starts_with("399 ")));
    assert!(h.sent(Method::Bye).is_empty());
    assert!(h.commands(MediaId::Caller).is_empty(), "no media started");
}

#[test]
fn a_reinvite_with_a_body_that_is_not_sdp_is_refused_and_the_call_goes_on() {
    let mut h = Harness::start(config(false), MENU, &sdp(40000, "0 101"), 10);
    h.ack();
    let key = h.in_dialog(
        "INVITE",
        2,
        "Content-Type: text/plain\r\n",
        "hello, this is not SDP",
    );
    assert_eq!(h.response_to(key).map(|r| r.status_code.code()), Some(415));
    assert_eq!(h.call.phase(), Phase::Active);
}
