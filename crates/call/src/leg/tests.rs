//! Deterministic tests of the outbound leg (a fake clock: one base instant
//! plus durations).

#![allow(clippy::disallowed_methods)] // a test needs one base instant

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rsip::{Headers, Method, Request, Response};
use senim_media::g711::Codec;
use senim_media::sdp;
use senim_routing::router::{LegResult, RingResult};
use senim_sip::message::{self, Peer};

use super::{
    build_cancel, Leg, LegAction, LegConfig, LegEnd, Route, TrunkRoute, CANCEL_GUARD, ROUTE_GUARD,
};
use crate::config::{Trunk, TrunkSlot};
use senim_sip::digest::client::ClientCredentials;
use senim_sip::digest::{self, Algorithm};

const SPECIALIST_NUMBER: &str = "+77015550199";
const CALLER_NUMBER: &str = "+77059998877";

fn uri(text: &str) -> rsip::Uri {
    message::parse_uri(text).expect("test URI")
}

fn config() -> LegConfig {
    let senim: SocketAddr = "192.0.2.1:5060".parse().unwrap();
    LegConfig {
        target: uri(&format!("sip:{SPECIALIST_NUMBER}@198.51.100.7:5080")),
        peer: Peer::udp("198.51.100.7:5080".parse().unwrap()),
        from_uri: uri("sip:centre@192.0.2.1"),
        from_display: Some("Senim".into()),
        pai: Some("sip:+77232000000@192.0.2.1".into()),
        local_contact: uri("sip:senim@192.0.2.1:5060"),
        via: senim,
        sdp_offer: sdp::build_offer(senim.ip(), 20000, 42, &[Codec::Pcmu, Codec::Pcma]),
        codecs: vec![Codec::Pcmu, Codec::Pcma],
        ring_timeout: Duration::from_secs(20),
        accept_timeout: Duration::from_secs(15),
        accept_digit: '1',
        decline_digit: None,
        whisper: vec![
            "whisper-service-psychology".into(),
            "language-kk".into(),
            "whisper".into(),
        ],
        caller_identity: None,
        extra_headers: vec![],
        bridge_on_answer: false,
        trunk: None,
        alternatives: vec![],
    }
}

fn drain(leg: &mut Leg) -> Vec<LegAction> {
    std::iter::from_fn(|| leg.poll_action()).collect()
}

/// A new leg and its INVITE.
fn start(cfg: LegConfig, t0: Instant) -> (Leg, Request) {
    let guard = if cfg.alternatives.is_empty() {
        Duration::from_secs(20)
    } else {
        ROUTE_GUARD
    };
    let mut leg = Leg::new(cfg, t0);
    let actions = drain(&mut leg);
    let invite = match &actions[0] {
        LegAction::SendInvite(r) => r.clone(),
        other => panic!("first action {other:?}"),
    };
    assert_eq!(leg.poll_timeout(), Some(t0 + guard));
    (leg, invite)
}

const PHONE_TAG: &str = "phone-tag-1";

fn reply(invite: &Request, code: u16, tag: Option<&str>) -> Response {
    let mut r = message::response(invite, code, message::reason_phrase(code), tag);
    if (200..300).contains(&code) {
        r.headers.push(message::make_header(
            "Contact",
            "<sip:aigerim@198.51.100.7:5080>",
        ));
        let answer = sdp::build_offer(
            IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7)),
            30000,
            7,
            &[Codec::Pcmu],
        );
        message::set_body(&mut r, Some("application/sdp"), answer.into_bytes());
    }
    r
}

/// A request from the phone inside the dialog.
fn from_phone(leg: &Leg, method: Method, cseq: u32) -> Request {
    let d = leg.dialog().expect("dialog");
    let headers = vec![
        message::make_header(
            "Via",
            "SIP/2.0/UDP 198.51.100.7:5080;branch=z9hG4bKphone1;rport",
        ),
        message::make_header("From", &d.remote_header),
        message::make_header("To", &d.local_header),
        message::make_header("Call-ID", leg.call_id()),
        message::make_header("CSeq", &format!("{cseq} {method}")),
        message::make_header("Content-Length", "0"),
    ];
    Request {
        method,
        uri: uri("sip:senim@192.0.2.1:5060"),
        version: rsip::Version::V2,
        headers: Headers::from(headers),
        body: vec![],
    }
}

fn answered(t0: Instant) -> (Leg, Request) {
    let (mut leg, invite) = start(config(), t0);
    leg.on_response(
        &reply(&invite, 180, Some(PHONE_TAG)),
        t0 + Duration::from_secs(1),
    );
    leg.on_response(
        &reply(&invite, 200, Some(PHONE_TAG)),
        t0 + Duration::from_secs(5),
    );
    let actions = drain(&mut leg);
    assert!(actions.contains(&LegAction::Ringing));
    assert!(actions.contains(&LegAction::PickedUp));
    assert!(actions.iter().any(|a| matches!(a, LegAction::SendAck(_))));
    assert!(actions.contains(&LegAction::PlayWhisper(config().whisper)));
    (leg, invite)
}

fn ended(actions: &[LegAction]) -> Vec<LegEnd> {
    actions
        .iter()
        .filter_map(|a| match a {
            LegAction::Ended(e) => Some(e.clone()),
            _ => None,
        })
        .collect()
}

fn sent<'a>(actions: &'a [LegAction], want: &str) -> Vec<&'a Request> {
    actions
        .iter()
        .filter_map(|a| match (a, want) {
            (LegAction::SendAck(r), "ACK")
            | (LegAction::SendBye(r), "BYE")
            | (LegAction::SendCancel(r), "CANCEL") => Some(r),
            _ => None,
        })
        .collect()
}

fn responses(actions: &[LegAction]) -> Vec<u16> {
    actions
        .iter()
        .filter_map(|a| match a {
            LegAction::Respond(r) => Some(r.status_code.code()),
            _ => None,
        })
        .collect()
}

#[test]
fn invite_is_well_formed() {
    let t0 = Instant::now();
    let (leg, invite) = start(config(), t0);
    assert_eq!(invite.method, Method::Invite);
    assert_eq!(message::call_id(&invite).as_deref(), Some(leg.call_id()));
    assert_eq!(message::cseq(&invite), Some((1, Method::Invite)));
    assert!(message::to_tag(&invite).is_none());
    assert_eq!(message::from_tag(&invite).as_deref(), Some(leg.local_tag()));
    assert!(message::top_via_branch(&invite)
        .unwrap()
        .starts_with("z9hG4bK"));
    assert_eq!(
        message::header_value(&invite, "Content-Type"),
        Some("application/sdp")
    );
    // It prints and parses back.
    let bytes = message::request_to_bytes(&invite);
    assert!(message::parse(&bytes).is_ok());
}

#[test]
fn accept_key_bridges_and_the_end_comes_when_the_call_ends() {
    let t0 = Instant::now();
    let (mut leg, _) = answered(t0);
    assert_eq!(leg.poll_timeout(), Some(t0 + Duration::from_secs(20)));
    assert!(leg.remote_sdp().is_some());
    assert_eq!(leg.negotiated().unwrap().codec, Codec::Pcmu);
    // Another key does nothing; the whisper repeats.
    leg.on_digit('5', t0 + Duration::from_secs(6));
    assert!(drain(&mut leg).is_empty());
    leg.on_whisper_finished(t0 + Duration::from_secs(9));
    assert_eq!(
        drain(&mut leg),
        vec![LegAction::PlayWhisper(config().whisper)]
    );
    leg.on_digit('1', t0 + Duration::from_secs(10));
    let actions = drain(&mut leg);
    let stop = actions.iter().position(|a| *a == LegAction::StopWhisper);
    let bridge = actions.iter().position(|a| *a == LegAction::Bridge);
    assert!(stop.unwrap() < bridge.unwrap());
    assert!(ended(&actions).is_empty());
    assert_eq!(leg.result(), Some(LegResult::Answered));
    assert_eq!(leg.poll_timeout(), None);
    // The caller hangs up: BYE, and the leg is over.
    leg.hangup(t0 + Duration::from_secs(300));
    let actions = drain(&mut leg);
    assert_eq!(sent(&actions, "BYE").len(), 1);
    assert_eq!(ended(&actions), vec![LegEnd::Answered]);
    assert!(leg.is_terminated());
    // Nothing more, ever.
    leg.hangup(t0 + Duration::from_secs(301));
    leg.cancel(t0 + Duration::from_secs(301));
    assert!(drain(&mut leg).is_empty());
}

#[test]
fn ringing_then_ring_timeout_cancels_with_no_answer() {
    let t0 = Instant::now();
    let (mut leg, invite) = start(config(), t0);
    leg.on_response(&reply(&invite, 100, None), t0);
    leg.on_response(
        &reply(&invite, 180, Some(PHONE_TAG)),
        t0 + Duration::from_secs(1),
    );
    drain(&mut leg);
    leg.handle_timeout(t0 + Duration::from_secs(19));
    assert!(drain(&mut leg).is_empty());
    leg.handle_timeout(t0 + Duration::from_secs(20));
    let actions = drain(&mut leg);
    let cancels = sent(&actions, "CANCEL");
    assert_eq!(cancels.len(), 1);
    assert_eq!(ended(&actions), vec![LegEnd::NoAnswer]);
    assert_eq!(leg.result(), Some(LegResult::NoAnswer));
    assert!(actions.contains(&LegAction::Record("no answer within 20 s".into())));
    // The 487 ends the SIP side.
    assert!(!leg.is_terminated());
    leg.on_response(
        &reply(&invite, 487, Some(PHONE_TAG)),
        t0 + Duration::from_secs(20),
    );
    assert!(leg.is_terminated());
    assert!(ended(&drain(&mut leg)).is_empty());
}

#[test]
fn answered_without_the_key_is_no_answer() {
    let t0 = Instant::now();
    let (mut leg, _) = answered(t0);
    // The whisper keeps playing until the window closes (voicemail listens).
    leg.on_whisper_finished(t0 + Duration::from_secs(12));
    assert_eq!(drain(&mut leg).len(), 1);
    leg.handle_timeout(t0 + Duration::from_secs(20));
    let actions = drain(&mut leg);
    assert!(actions.contains(&LegAction::StopWhisper));
    assert_eq!(sent(&actions, "BYE").len(), 1);
    assert_eq!(ended(&actions), vec![LegEnd::NoAnswer]);
    assert!(actions.contains(&LegAction::Record("no key pressed within 15 s".into())));
    assert!(leg.is_terminated());
    // A late key is not an acceptance.
    leg.on_digit('1', t0 + Duration::from_secs(21));
    assert!(drain(&mut leg).is_empty());
    assert_eq!(leg.result(), Some(LegResult::NoAnswer));
}

#[test]
fn a_key_after_the_window_is_a_timeout_not_an_acceptance() {
    let t0 = Instant::now();
    let (mut leg, _) = answered(t0);
    leg.on_digit('1', t0 + Duration::from_secs(20));
    let actions = drain(&mut leg);
    assert_eq!(ended(&actions), vec![LegEnd::NoAnswer]);
    assert!(!actions.contains(&LegAction::Bridge));
}

#[test]
fn final_errors_map_to_results() {
    for (code, want, routing) in [
        (486, LegEnd::Busy, LegResult::Busy),
        (600, LegEnd::Busy, LegResult::Busy),
        (603, LegEnd::Declined, LegResult::Declined),
        (480, LegEnd::NoAnswer, LegResult::NoAnswer),
        (408, LegEnd::NoAnswer, LegResult::NoAnswer),
        (487, LegEnd::NoAnswer, LegResult::NoAnswer),
        (
            500,
            LegEnd::Failed("500 Server Internal Error".into()),
            LegResult::Failed,
        ),
        (
            302,
            LegEnd::Failed("302 Moved Temporarily".into()),
            LegResult::Failed,
        ),
    ] {
        let t0 = Instant::now();
        let (mut leg, invite) = start(config(), t0);
        leg.on_response(&reply(&invite, code, Some(PHONE_TAG)), t0);
        let actions = drain(&mut leg);
        assert_eq!(ended(&actions), vec![want.clone()], "{code}");
        assert_eq!(leg.result(), Some(routing));
        assert_eq!(want.ring_result(), RingResult::from(routing));
        // The transaction layer ACKs non-2xx finals itself: nothing to send.
        assert!(sent(&actions, "ACK").is_empty());
        assert!(leg.is_terminated());
        assert_eq!(leg.poll_timeout(), None);
    }
}

#[test]
fn cancel_before_answer_builds_the_rfc_3261_cancel() {
    let t0 = Instant::now();
    let (mut leg, invite) = start(config(), t0);
    leg.on_response(&reply(&invite, 180, Some(PHONE_TAG)), t0);
    drain(&mut leg);
    leg.cancel(t0 + Duration::from_secs(3));
    let actions = drain(&mut leg);
    let cancel = sent(&actions, "CANCEL")[0];
    assert_eq!(cancel.method, Method::Cancel);
    assert_eq!(cancel.uri, invite.uri);
    assert_eq!(message::cseq(cancel), Some((1, Method::Cancel)));
    assert_eq!(message::call_id(cancel), message::call_id(&invite));
    assert_eq!(
        message::header_value(cancel, "From"),
        message::header_value(&invite, "From")
    );
    assert_eq!(
        message::header_value(cancel, "To"),
        message::header_value(&invite, "To")
    );
    assert_eq!(
        message::top_via_branch(cancel),
        message::top_via_branch(&invite)
    );
    assert_eq!(message::header_values(cancel, "Via").len(), 1);
    assert!(cancel.body.is_empty());
    assert_eq!(ended(&actions), vec![LegEnd::Cancelled]);
    assert_eq!(leg.result(), None);
    assert_eq!(LegEnd::Cancelled.ring_result(), RingResult::Cancelled);
    assert_eq!(build_cancel(&invite), cancel.clone());
    // No final response ever: the guard ends it.
    assert_eq!(
        leg.poll_timeout(),
        Some(t0 + Duration::from_secs(3) + CANCEL_GUARD)
    );
    leg.handle_timeout(t0 + Duration::from_secs(3) + CANCEL_GUARD);
    assert!(leg.is_terminated());
}

#[test]
fn cancel_waits_for_a_provisional_response() {
    let t0 = Instant::now();
    let (mut leg, invite) = start(config(), t0);
    leg.cancel(t0);
    let actions = drain(&mut leg);
    assert!(sent(&actions, "CANCEL").is_empty());
    assert_eq!(ended(&actions), vec![LegEnd::Cancelled]);
    leg.on_response(&reply(&invite, 100, None), t0 + Duration::from_millis(30));
    let actions = drain(&mut leg);
    assert_eq!(sent(&actions, "CANCEL").len(), 1);
    // Only once.
    leg.on_response(
        &reply(&invite, 180, Some(PHONE_TAG)),
        t0 + Duration::from_millis(40),
    );
    assert!(sent(&drain(&mut leg), "CANCEL").is_empty());
}

#[test]
fn a_2xx_after_cancel_gets_ack_then_bye() {
    let t0 = Instant::now();
    let (mut leg, invite) = start(config(), t0);
    leg.on_response(&reply(&invite, 180, Some(PHONE_TAG)), t0);
    leg.cancel(t0 + Duration::from_secs(2));
    drain(&mut leg);
    let ok = reply(&invite, 200, Some(PHONE_TAG));
    leg.on_response(&ok, t0 + Duration::from_secs(2));
    let actions = drain(&mut leg);
    let kinds: Vec<&str> = actions
        .iter()
        .filter_map(|a| match a {
            LegAction::SendAck(_) => Some("ACK"),
            LegAction::SendBye(_) => Some("BYE"),
            _ => None,
        })
        .collect();
    assert_eq!(kinds, vec!["ACK", "BYE"]);
    let ack = sent(&actions, "ACK")[0];
    assert_eq!(message::cseq(ack), Some((1, Method::Ack)));
    assert_eq!(message::to_tag(ack).as_deref(), Some(PHONE_TAG));
    let bye = sent(&actions, "BYE")[0];
    assert_eq!(message::cseq(bye), Some((2, Method::Bye)));
    assert_eq!(bye.uri, uri("sip:aigerim@198.51.100.7:5080"));
    assert!(ended(&actions).is_empty());
    assert!(!actions.contains(&LegAction::PlayWhisper(config().whisper)));
    assert!(leg.is_terminated());
    // A retransmitted 200 is ACKed again, not BYEd again.
    leg.on_response(&ok, t0 + Duration::from_secs(3));
    let actions = drain(&mut leg);
    assert_eq!(sent(&actions, "ACK").len(), 1);
    assert!(sent(&actions, "BYE").is_empty());
}

#[test]
fn far_end_bye_during_whisper_is_no_answer() {
    let t0 = Instant::now();
    let (mut leg, _) = answered(t0);
    let bye = from_phone(&leg, Method::Bye, 1);
    leg.on_request(&bye, t0 + Duration::from_secs(8));
    let actions = drain(&mut leg);
    assert_eq!(responses(&actions), vec![200]);
    assert!(actions.contains(&LegAction::StopWhisper));
    assert_eq!(ended(&actions), vec![LegEnd::NoAnswer]);
    assert!(sent(&actions, "BYE").is_empty());
    assert!(leg.is_terminated());
}

#[test]
fn far_end_bye_after_bridge_ends_the_leg() {
    let t0 = Instant::now();
    let (mut leg, _) = answered(t0);
    leg.on_digit('1', t0 + Duration::from_secs(7));
    drain(&mut leg);
    // Digits after the bridge are not the leg's business.
    leg.on_digit('2', t0 + Duration::from_secs(30));
    assert!(drain(&mut leg).is_empty());
    let info = from_phone(&leg, Method::Info, 1);
    leg.on_request(&info, t0 + Duration::from_secs(31));
    assert_eq!(responses(&drain(&mut leg)), vec![200]);
    let bye = from_phone(&leg, Method::Bye, 2);
    leg.on_request(&bye, t0 + Duration::from_secs(600));
    let actions = drain(&mut leg);
    assert_eq!(responses(&actions), vec![200]);
    assert_eq!(ended(&actions), vec![LegEnd::Answered]);
    assert!(sent(&actions, "BYE").is_empty());
    assert_eq!(leg.result(), Some(LegResult::Answered));
}

#[test]
fn in_dialog_checks() {
    let t0 = Instant::now();
    let (mut leg, _) = answered(t0);
    // Not this dialog.
    let mut stray = from_phone(&leg, Method::Bye, 5);
    message::remove_headers(&mut stray, "Call-ID");
    stray
        .headers
        .push(message::make_header("Call-ID", "other@elsewhere"));
    leg.on_request(&stray, t0);
    assert_eq!(responses(&drain(&mut leg)), vec![481]);
    // A re-INVITE goes to the controller.
    let reinvite = from_phone(&leg, Method::Invite, 6);
    leg.on_request(&reinvite, t0);
    assert!(matches!(
        drain(&mut leg).as_slice(),
        [LegAction::ReInvite(_)]
    ));
    // An old CSeq.
    let old = from_phone(&leg, Method::Options, 3);
    leg.on_request(&old, t0);
    assert_eq!(responses(&drain(&mut leg)), vec![500]);
    // A method the leg does not take.
    let refer = from_phone(&leg, Method::Refer, 7);
    leg.on_request(&refer, t0);
    let actions = drain(&mut leg);
    assert_eq!(responses(&actions), vec![405]);
    assert!(!leg.is_terminated());
}

#[test]
fn decline_key_declines() {
    let t0 = Instant::now();
    let mut cfg = config();
    cfg.decline_digit = Some('#');
    let (mut leg, invite) = start(cfg, t0);
    leg.on_response(&reply(&invite, 200, Some(PHONE_TAG)), t0);
    drain(&mut leg);
    leg.on_digit('#', t0 + Duration::from_secs(2));
    let actions = drain(&mut leg);
    assert_eq!(ended(&actions), vec![LegEnd::Declined]);
    assert_eq!(sent(&actions, "BYE").len(), 1);
}

#[test]
fn answer_without_usable_sdp_fails_with_ack_and_bye() {
    let t0 = Instant::now();
    let (mut leg, invite) = start(config(), t0);
    let mut ok = reply(&invite, 200, Some(PHONE_TAG));
    message::set_body(&mut ok, None, vec![]);
    leg.on_response(&ok, t0);
    let actions = drain(&mut leg);
    assert_eq!(sent(&actions, "ACK").len(), 1);
    assert_eq!(sent(&actions, "BYE").len(), 1);
    assert!(matches!(ended(&actions).as_slice(), [LegEnd::Failed(_)]));
}

#[test]
fn a_second_fork_is_acked_and_released() {
    let t0 = Instant::now();
    let (mut leg, invite) = answered(t0);
    leg.on_response(&reply(&invite, 200, Some("other-fork")), t0);
    let actions = drain(&mut leg);
    assert_eq!(sent(&actions, "ACK").len(), 1);
    let bye = sent(&actions, "BYE");
    assert_eq!(message::to_tag(bye[0]).as_deref(), Some("other-fork"));
    assert!(ended(&actions).is_empty());
    // The first dialog goes on.
    assert_eq!(leg.dialog().unwrap().id.remote_tag, PHONE_TAG);
    leg.on_digit('1', t0 + Duration::from_secs(1));
    assert!(drain(&mut leg).contains(&LegAction::Bridge));
}

#[test]
fn caller_number_reaches_the_specialist_only_when_configured() {
    let t0 = Instant::now();
    let (_, invite) = start(config(), t0);
    let from = message::header_value(&invite, "From").unwrap();
    assert!(from.starts_with("\"Senim\" <sip:centre@192.0.2.1>;tag="));
    let wire = String::from_utf8_lossy(&message::request_to_bytes(&invite)).to_string();
    assert!(!wire.contains(CALLER_NUMBER));
    assert!(!wire.contains("Privacy"));
    assert_eq!(
        message::header_value(&invite, "P-Asserted-Identity"),
        Some("<sip:+77232000000@192.0.2.1>")
    );

    let mut cfg = config();
    cfg.caller_identity = Some(CALLER_NUMBER.into());
    let (_, invite) = start(cfg, t0);
    let from = message::header_value(&invite, "From").unwrap();
    assert!(from.starts_with(&format!("\"{CALLER_NUMBER}\" <sip:centre@192.0.2.1>")));
    assert_eq!(message::header_value(&invite, "Privacy"), Some("none"));
    // The asserted identity stays the centre's.
    assert_eq!(
        message::header_value(&invite, "P-Asserted-Identity"),
        Some("<sip:+77232000000@192.0.2.1>")
    );
}

#[test]
fn configured_text_cannot_inject_headers() {
    let t0 = Instant::now();
    let mut cfg = config();
    cfg.caller_identity = Some("+7705\r\nX-Evil: 1\"\\".into());
    cfg.extra_headers = vec![
        ("X-Senim-Service".into(), "psychology\r\nX-Evil: 2".into()),
        ("From".into(), "<sip:someone@else>".into()),
        ("Bad Name".into(), "x".into()),
    ];
    let (_, invite) = start(cfg, t0);
    let wire = String::from_utf8_lossy(&message::request_to_bytes(&invite)).to_string();
    assert!(!wire.contains("\r\nX-Evil"));
    assert_eq!(message::header_values(&invite, "From").len(), 1);
    assert!(message::header_value(&invite, "Bad Name").is_none());
    assert_eq!(
        message::header_value(&invite, "X-Senim-Service"),
        Some("psychologyX-Evil: 2")
    );
    let parsed = message::parse(&message::request_to_bytes(&invite));
    assert!(parsed.is_ok(), "{parsed:?}");
}

#[test]
fn no_response_at_all_fails() {
    let t0 = Instant::now();
    let (mut leg, _) = start(config(), t0);
    leg.on_invite_timeout(t0 + Duration::from_secs(32));
    let actions = drain(&mut leg);
    assert!(matches!(ended(&actions).as_slice(), [LegEnd::Failed(_)]));
    assert!(leg.is_terminated());
}

#[test]
fn responses_to_other_requests_are_ignored() {
    let t0 = Instant::now();
    let (mut leg, invite) = start(config(), t0);
    let cancel = build_cancel(&invite);
    leg.on_response(&reply(&cancel, 200, Some(PHONE_TAG)), t0);
    assert!(drain(&mut leg).is_empty());
    assert!(!leg.is_terminated());
}

/// Random inputs in random order never panic, and `Ended` comes at most once.
#[test]
fn random_inputs_never_panic() {
    let mut rng = StdRng::seed_from_u64(0x5e_4e_17);
    let codes = [
        100, 180, 183, 200, 202, 299, 301, 401, 408, 480, 486, 487, 500, 503, 600, 603, 699,
    ];
    for _ in 0..400 {
        let t0 = Instant::now();
        let (mut leg, invite) = start(config(), t0);
        let mut t = t0;
        let mut ends = 0;
        for step in 0..40u32 {
            t += Duration::from_millis(rng.gen_range(0..6000));
            match rng.gen_range(0..12) {
                0..=3 => {
                    let code = codes[rng.gen_range(0..codes.len())];
                    let tag = match rng.gen_range(0..3) {
                        0 => None,
                        1 => Some(PHONE_TAG),
                        _ => Some("fork-b"),
                    };
                    let mut r = reply(&invite, code, tag);
                    match rng.gen_range(0..6) {
                        0 => message::remove_headers(&mut r, "Contact"),
                        1 => message::remove_headers(&mut r, "CSeq"),
                        2 => {
                            let junk: Vec<u8> =
                                (0..rng.gen_range(0..64)).map(|_| rng.gen()).collect();
                            message::set_body(&mut r, Some("application/sdp"), junk);
                        }
                        3 => {
                            message::remove_headers(&mut r, "To");
                            r.headers.push(message::make_header("To", "garbage <<>"));
                        }
                        _ => {}
                    }
                    leg.on_response(&r, t);
                }
                4 => leg.on_digit(['1', '2', '#', '*'][rng.gen_range(0..4)], t),
                5 => leg.on_whisper_finished(t),
                6 => leg.handle_timeout(t),
                7 => leg.cancel(t),
                8 => leg.hangup(t),
                9 => leg.on_invite_timeout(t),
                _ => {
                    if leg.dialog().is_some() {
                        let method = [Method::Bye, Method::Invite, Method::Info, Method::Notify]
                            [rng.gen_range(0..4)];
                        let mut req = from_phone(&leg, method, step + 1);
                        if rng.gen_bool(0.3) {
                            message::remove_headers(&mut req, "From");
                        }
                        leg.on_request(&req, t);
                    } else {
                        leg.on_request(&invite, t);
                    }
                }
            }
            for a in drain(&mut leg) {
                if matches!(a, LegAction::Ended(_)) {
                    ends += 1;
                }
            }
            if let Some(deadline) = leg.poll_timeout() {
                assert!(deadline >= t0);
            }
        }
        assert!(ends <= 1);
        if leg.is_terminated() {
            assert_eq!(ends, 1);
        }
    }
}

#[test]
fn a_partner_leg_bridges_on_answer_without_whisper_or_key() {
    let t0 = Instant::now();
    let mut cfg = config();
    cfg.bridge_on_answer = true;
    cfg.whisper = vec![];
    let (mut leg, invite) = start(cfg, t0);
    leg.on_response(
        &reply(&invite, 200, Some(PHONE_TAG)),
        t0 + Duration::from_secs(3),
    );
    let actions = drain(&mut leg);
    assert!(actions.iter().any(|a| matches!(a, LegAction::SendAck(_))));
    assert!(actions.contains(&LegAction::Bridge));
    assert!(!actions
        .iter()
        .any(|a| matches!(a, LegAction::PlayWhisper(_))));
    assert_eq!(leg.result(), Some(LegResult::Answered));
    assert_eq!(leg.poll_timeout(), None, "no accept window");
    // The partner hangs up: the end is Answered.
    leg.on_request(
        &from_phone(&leg, Method::Bye, 1),
        t0 + Duration::from_secs(60),
    );
    let actions = drain(&mut leg);
    assert_eq!(responses(&actions), vec![200]);
    assert_eq!(ended(&actions), vec![LegEnd::Answered]);
}

// -- trunks: challenges and failover ------------------------------------------

fn trunk_route(id: &str, addr: &str) -> TrunkRoute {
    let _ = addr;
    TrunkRoute {
        id: id.into(),
        credentials: Some(ClientCredentials {
            username: "centre".into(),
            password: "secret".into(),
        }),
        privacy: Some("id".into()),
    }
}

fn trunk_config() -> LegConfig {
    let mut cfg = config();
    cfg.target = uri("sip:+77015550199@203.0.113.10:5060");
    cfg.peer = Peer::udp("203.0.113.10:5060".parse().unwrap());
    cfg.trunk = Some(trunk_route("first", "203.0.113.10:5060"));
    cfg.alternatives = vec![Route {
        target: uri("sip:87015550199@203.0.113.20:5060"),
        peer: Peer::udp("203.0.113.20:5060".parse().unwrap()),
        from_uri: uri("sip:+77232000000@203.0.113.20:5060"),
        from_display: Some("Senim".into()),
        pai: Some("<sip:+77232000000@203.0.113.20:5060>".into()),
        local_contact: uri("sip:senim@192.0.2.1:5060"),
        via: "192.0.2.1:5060".parse().unwrap(),
        trunk: Some(trunk_route("second", "203.0.113.20:5060")),
    }];
    cfg
}

fn challenge(invite: &Request, code: u16, nonce: &str, stale: bool) -> Response {
    let mut r = message::response(invite, code, message::reason_phrase(code), Some("proxy"));
    let name = if code == 407 {
        "Proxy-Authenticate"
    } else {
        "WWW-Authenticate"
    };
    let stale = if stale { ", stale=true" } else { "" };
    r.headers.push(message::make_header(
        name,
        &format!(
            "Digest realm=\"provider\", nonce=\"{nonce}\", qop=\"auth\", algorithm=MD5{stale}"
        ),
    ));
    r
}

/// The leg's actions after a trunk failed, every other trunk free: the
/// `Failover` is answered as the controller would.
fn fail_over_freely(leg: &mut Leg, now: Instant) -> Vec<LegAction> {
    let mut actions = drain(leg);
    assert!(
        actions
            .iter()
            .any(|a| matches!(a, LegAction::Failover { .. })),
        "{actions:?}"
    );
    leg.fail_over(now, |_| Ok(()));
    actions.extend(drain(leg));
    actions
}

fn invites(actions: &[LegAction]) -> Vec<&Request> {
    actions
        .iter()
        .filter_map(|a| match a {
            LegAction::SendInvite(r) => Some(r),
            _ => None,
        })
        .collect()
}

#[test]
fn a_proxy_challenge_is_answered_once_with_the_trunks_credentials() {
    let t0 = Instant::now();
    let (mut leg, invite) = start(trunk_config(), t0);
    assert_eq!(
        message::header_value(&invite, "Privacy").map(str::to_string),
        Some("id".to_string())
    );
    leg.on_response(&challenge(&invite, 407, "n1", false), t0);
    let actions = drain(&mut leg);
    let again = invites(&actions);
    assert_eq!(again.len(), 1, "{actions:?}");
    let again = again[0].clone();
    assert_eq!(message::cseq(&again), Some((2, Method::Invite)));
    assert_eq!(message::call_id(&again), message::call_id(&invite));
    let auth = message::header_value(&again, "Proxy-Authorization").expect("answer");
    let creds = digest::parse_authorization(auth).expect("parses");
    assert_eq!(creds.algorithm, Algorithm::Md5);
    assert!(digest::verify(&creds, "INVITE", "secret"));
    assert!(ended(&actions).is_empty());
    // The answer is refused too: the password is wrong, no loop.
    leg.on_response(&challenge(&again, 407, "n2", false), t0);
    let actions = drain(&mut leg);
    assert!(invites(&actions).is_empty(), "{actions:?}");
    assert_eq!(ended(&actions).len(), 1);
    assert!(matches!(&ended(&actions)[0], LegEnd::Failed(w) if w.starts_with("407")));
}

#[test]
fn a_stale_nonce_is_answered_again_and_a_2xx_after_it_answers_the_leg() {
    let t0 = Instant::now();
    let (mut leg, invite) = start(trunk_config(), t0);
    leg.on_response(&challenge(&invite, 401, "n1", false), t0);
    let second = invites(&drain(&mut leg))[0].clone();
    assert!(message::header_value(&second, "Authorization").is_some());
    leg.on_response(&challenge(&second, 401, "n2", true), t0);
    let third = invites(&drain(&mut leg))[0].clone();
    assert_eq!(message::cseq(&third), Some((3, Method::Invite)));
    // Responses to an earlier INVITE of the leg change nothing.
    leg.on_response(&reply(&invite, 486, Some(PHONE_TAG)), t0);
    assert!(ended(&drain(&mut leg)).is_empty());
    leg.on_response(&reply(&third, 200, Some(PHONE_TAG)), t0);
    assert!(drain(&mut leg).contains(&LegAction::PickedUp));
}

#[test]
fn a_503_moves_the_invite_to_the_next_trunk_unseen_by_the_caller() {
    let t0 = Instant::now();
    let (mut leg, invite) = start(trunk_config(), t0);
    assert_eq!(leg.trunk(), Some("first"));
    leg.on_response(&reply(&invite, 503, Some("sbc")), t0);
    let actions = fail_over_freely(&mut leg, t0);
    assert!(ended(&actions).is_empty(), "{actions:?}");
    assert!(actions.iter().any(|a| matches!(a,
        LegAction::Failover { trunk, no_response: true, .. } if trunk == "first")));
    let next = invites(&actions)[0].clone();
    assert_eq!(leg.trunk(), Some("second"));
    assert_eq!(leg.peer(), Peer::udp("203.0.113.20:5060".parse().unwrap()));
    assert_eq!(next.uri.to_string(), "sip:87015550199@203.0.113.20:5060");
    assert_eq!(message::call_id(&next), message::call_id(&invite));
    // The last trunk's failure is the leg's.
    leg.on_response(&reply(&next, 503, Some("sbc2")), t0);
    let actions = drain(&mut leg);
    assert!(invites(&actions).is_empty());
    assert_eq!(ended(&actions).len(), 1);
}

#[test]
fn a_busy_phone_is_not_a_trunk_failure() {
    let t0 = Instant::now();
    let (mut leg, invite) = start(trunk_config(), t0);
    leg.on_response(&reply(&invite, 486, Some(PHONE_TAG)), t0);
    let actions = drain(&mut leg);
    assert!(invites(&actions).is_empty());
    assert_eq!(ended(&actions), vec![LegEnd::Busy]);
}

#[test]
fn a_silent_trunk_is_left_after_the_guard_but_a_ringing_one_is_not() {
    let t0 = Instant::now();
    let (mut leg, _invite) = {
        let mut leg = Leg::new(trunk_config(), t0);
        let actions = drain(&mut leg);
        let invite = invites(&actions)[0].clone();
        (leg, invite)
    };
    assert_eq!(leg.poll_timeout(), Some(t0 + ROUTE_GUARD));
    leg.handle_timeout(t0 + ROUTE_GUARD);
    let actions = fail_over_freely(&mut leg, t0 + ROUTE_GUARD);
    let next = invites(&actions)[0].clone();
    assert_eq!(leg.trunk(), Some("second"));
    // No further trunk: the ring timeout is what is left.
    assert_eq!(leg.poll_timeout(), Some(t0 + Duration::from_secs(20)));
    leg.on_response(&reply(&next, 180, Some(PHONE_TAG)), t0 + ROUTE_GUARD);
    assert!(drain(&mut leg).contains(&LegAction::Ringing));
}

// -- trunks at their call limit -----------------------------------------------

/// Three trunks in dial order, each with a cap of one call.
fn three_trunks() -> Vec<Trunk> {
    [
        ("first", "203.0.113.10:5060"),
        ("second", "203.0.113.20:5060"),
        ("third", "203.0.113.30:5060"),
    ]
    .into_iter()
    .map(|(id, addr)| Trunk {
        max_calls: Some(1),
        ..Trunk::new(id, addr.parse().unwrap())
    })
    .collect()
}

/// A leg through `first` with `second` and `third` to fail over to.
fn three_trunk_config() -> LegConfig {
    let mut cfg = trunk_config();
    let mut third = cfg.alternatives[0].clone();
    third.target = uri("sip:87015550199@203.0.113.30:5060");
    third.peer = Peer::udp("203.0.113.30:5060".parse().unwrap());
    third.trunk = Some(trunk_route("third", "203.0.113.30:5060"));
    cfg.alternatives.push(third);
    cfg
}

/// Answer the leg's `Failover` as the controller does: a trunk takes the
/// call if it is up and under its cap, and its slot then replaces `held`.
fn fail_over_to(
    leg: &mut Leg,
    now: Instant,
    trunks: &[Trunk],
    held: &mut Option<TrunkSlot>,
) -> Vec<LegAction> {
    let mut actions = drain(leg);
    assert!(
        actions
            .iter()
            .any(|a| matches!(a, LegAction::Failover { .. })),
        "{actions:?}"
    );
    let mut claimed = None;
    leg.fail_over(now, |route| {
        let trunk = trunks.iter().find(|t| t.id == route.id).expect("a trunk");
        claimed = Some(trunk.claim()?);
        Ok(())
    });
    if claimed.is_some() {
        *held = claimed;
    }
    actions.extend(drain(leg));
    actions
}

fn records(actions: &[LegAction]) -> Vec<&str> {
    actions
        .iter()
        .filter_map(|a| match a {
            LegAction::Record(r) => Some(r.as_str()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_full_trunk_is_skipped_on_failover_and_the_next_takes_the_call() {
    let t0 = Instant::now();
    let trunks = three_trunks();
    let mut held = Some(trunks[0].claim().unwrap());
    // Another call fills the second trunk.
    let _other = trunks[1].claim().unwrap();
    let (mut leg, invite) = start(three_trunk_config(), t0);
    leg.on_response(&reply(&invite, 503, Some("sbc")), t0);
    let actions = fail_over_to(&mut leg, t0, &trunks, &mut held);
    assert!(ended(&actions).is_empty(), "{actions:?}");
    assert_eq!(leg.trunk(), Some("third"));
    assert_eq!(leg.peer(), Peer::udp("203.0.113.30:5060".parse().unwrap()));
    let next = invites(&actions);
    assert_eq!(next.len(), 1);
    assert_eq!(next[0].uri.to_string(), "sip:87015550199@203.0.113.30:5060");
    assert_eq!(message::cseq(next[0]), Some((2, Method::Invite)));
    assert_eq!(
        records(&actions),
        vec![
            "trunk second skipped: at its call limit",
            "trunk first: 503 Service Unavailable; trying trunk third",
        ]
    );
    // No trunk is left to try: no guard, the ring timeout is what is left.
    assert_eq!(leg.poll_timeout(), Some(t0 + Duration::from_secs(20)));
    leg.on_response(&reply(next[0], 180, Some(PHONE_TAG)), t0);
    assert!(drain(&mut leg).contains(&LegAction::Ringing));
}

#[test]
fn a_down_trunk_is_skipped_on_failover() {
    let t0 = Instant::now();
    let trunks = three_trunks();
    let mut held = Some(trunks[0].claim().unwrap());
    trunks[1].load.set_up(false);
    let (mut leg, _) = start(three_trunk_config(), t0);
    leg.handle_timeout(t0 + ROUTE_GUARD);
    let actions = fail_over_to(&mut leg, t0 + ROUTE_GUARD, &trunks, &mut held);
    assert_eq!(leg.trunk(), Some("third"));
    assert_eq!(invites(&actions).len(), 1);
    assert_eq!(
        records(&actions),
        vec![
            "trunk second skipped: down",
            "trunk first: no response within 4 s; trying trunk third",
        ]
    );
}

#[test]
fn with_every_other_trunk_full_the_trunks_failure_ends_the_leg() {
    let t0 = Instant::now();
    let trunks = three_trunks();
    let mut held = Some(trunks[0].claim().unwrap());
    let _others = [trunks[1].claim().unwrap(), trunks[2].claim().unwrap()];
    let (mut leg, invite) = start(three_trunk_config(), t0);
    leg.on_response(&reply(&invite, 503, Some("sbc")), t0);
    let actions = fail_over_to(&mut leg, t0, &trunks, &mut held);
    assert!(invites(&actions).is_empty(), "{actions:?}");
    assert_eq!(
        ended(&actions),
        vec![LegEnd::Failed(
            "503 Service Unavailable; no other trunk can take the call".into()
        )]
    );
    assert_eq!(leg.result(), Some(LegResult::Failed));
    assert_eq!(
        records(&actions),
        vec![
            "trunk second skipped: at its call limit",
            "trunk third skipped: at its call limit",
            "rejected: 503 Service Unavailable; no other trunk can take the call",
        ]
    );
    assert_eq!(leg.trunk(), Some("first"));
    assert!(leg.is_terminated());
    assert_eq!(leg.poll_timeout(), None);
    // The failed trunk's slot is still held: it goes with the leg.
    assert_eq!(trunks[0].load.active(), 1);
    drop(held);
    assert_eq!(trunks[0].load.active(), 0);
}

#[test]
fn with_every_other_trunk_full_no_response_ends_the_leg_and_silence_is_waited_for() {
    let t0 = Instant::now();
    let trunks = three_trunks();
    let _others = [trunks[1].claim().unwrap(), trunks[2].claim().unwrap()];

    // The INVITE transaction times out: the leg fails.
    let mut held = Some(trunks[0].claim().unwrap());
    let (mut leg, _) = start(three_trunk_config(), t0);
    leg.on_invite_timeout(t0 + Duration::from_secs(2));
    let actions = fail_over_to(&mut leg, t0 + Duration::from_secs(2), &trunks, &mut held);
    assert_eq!(
        ended(&actions),
        vec![LegEnd::Failed(
            "no response; no other trunk can take the call".into()
        )]
    );
    assert!(leg.is_terminated());
    drop(held);

    // The first trunk is only silent so far: the leg keeps waiting for it,
    // with its slot, until the ring timeout.
    let mut held = Some(trunks[0].claim().unwrap());
    let (mut leg, invite) = start(three_trunk_config(), t0);
    leg.handle_timeout(t0 + ROUTE_GUARD);
    let actions = fail_over_to(&mut leg, t0 + ROUTE_GUARD, &trunks, &mut held);
    assert!(invites(&actions).is_empty());
    assert!(ended(&actions).is_empty());
    assert_eq!(
        records(&actions)[2],
        "trunk first: no response within 4 s; no other trunk can take the call"
    );
    assert_eq!(leg.trunk(), Some("first"));
    assert_eq!(trunks[0].load.active(), 1);
    assert_eq!(leg.poll_timeout(), Some(t0 + Duration::from_secs(20)));
    leg.on_response(&reply(&invite, 180, Some(PHONE_TAG)), t0 + ROUTE_GUARD);
    assert!(drain(&mut leg).contains(&LegAction::Ringing));
    leg.handle_timeout(t0 + Duration::from_secs(20));
    assert_eq!(ended(&drain(&mut leg)), vec![LegEnd::NoAnswer]);
}

#[test]
fn a_silent_trunk_that_speaks_before_the_answer_keeps_the_call() {
    let t0 = Instant::now();
    let (mut leg, invite) = start(trunk_config(), t0);
    leg.handle_timeout(t0 + ROUTE_GUARD);
    assert!(drain(&mut leg)
        .iter()
        .any(|a| matches!(a, LegAction::Failover { .. })));
    // The 100 Trying arrives before the controller answered.
    leg.on_response(&reply(&invite, 100, None), t0 + ROUTE_GUARD);
    leg.fail_over(t0 + ROUTE_GUARD, |_| panic!("no trunk is needed"));
    assert!(invites(&drain(&mut leg)).is_empty());
    assert_eq!(leg.trunk(), Some("first"));
    // A second answer asks nothing.
    leg.fail_over(t0 + ROUTE_GUARD, |_| panic!("no trunk is needed"));
    assert!(drain(&mut leg).is_empty());
}

// -- the legs of a call: each trunk's count of calls ---------------------------

mod counts {
    use std::collections::VecDeque;
    use std::path::Path;
    use std::sync::{Arc, OnceLock};
    use std::time::{Duration, Instant};

    use senim_media::prompts::{Language, PromptLibrary};
    use senim_routing::hours::{Calendar, Holidays, Schedules};
    use senim_routing::partners::PartnerDirectory;
    use senim_routing::specialists::Specialists;
    use senim_sip::message;

    use super::{PHONE_TAG, SPECIALIST_NUMBER};
    use crate::config::{CallConfig, NumberGuard, Outbound, Trunk};
    use crate::io::{LegId, Output, PreparedLeg};
    use crate::leg::ROUTE_GUARD;
    use crate::legs::{LegEvent, LegPlan, LegPurpose, LegTarget, Legs};

    struct Plain;

    impl NumberGuard for Plain {
        fn hash(&self, number: &str) -> String {
            number.len().to_string()
        }
        fn seal(&self, number: &str) -> String {
            number.len().to_string()
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

    fn config(trunks: Vec<Trunk>) -> Arc<CallConfig> {
        Arc::new(CallConfig {
            prompts: prompts(),
            schedules: Schedules::empty(),
            calendar: Calendar::new(chrono_tz::Asia::Almaty, Holidays::empty()),
            partners: PartnerDirectory::default(),
            specialists: Specialists::empty(),
            outbound: Outbound {
                display: "Senim".into(),
                user: "+77232000000".into(),
                has_number: true,
                share_caller_number: false,
                accept_timeout: Duration::from_secs(15),
                trunks,
                wrap_up: None,
            },
            lines: Vec::new(),
            sip_address: "192.0.2.1:5060".parse().unwrap(),
            tls_address: None,
            media_ip: "192.0.2.1".parse().unwrap(),
            numbers: Arc::new(Plain),
            callbacks: Default::default(),
        })
    }

    /// Place a leg to a number through the trunks; its id.
    fn place(legs: &mut Legs, now: Instant, out: &mut VecDeque<Output>) -> LegId {
        let plan = LegPlan {
            target: LegTarget::Number(SPECIALIST_NUMBER.into()),
            whisper: Vec::new(),
            language: Language::Kk,
            ring_timeout: Duration::from_secs(20),
            bridge_on_answer: true,
            caller_identity: None,
            hide_centre_name: false,
        };
        let id = legs.place(LegPurpose::Callee("f1".into()), plan, out);
        let port = PreparedLeg {
            port: 20000,
            softphone: None,
        };
        legs.prepared(now, id, Ok(port), out);
        id
    }

    /// The last INVITE the legs sent.
    fn last_invite(out: &VecDeque<Output>) -> rsip::Request {
        out.iter()
            .rev()
            .find_map(|o| match o {
                Output::Request { request, .. } if request.method == rsip::Method::Invite => {
                    Some((**request).clone())
                }
                _ => None,
            })
            .expect("an INVITE")
    }

    fn reply(legs: &mut Legs, now: Instant, invite: &rsip::Request, code: u16) {
        let response =
            message::response(invite, code, message::reason_phrase(code), Some(PHONE_TAG));
        let call_id = message::call_id(invite).expect("a Call-ID");
        let mut out = VecDeque::new();
        assert!(legs.on_response(now, &call_id, &response, &mut out));
    }

    fn active(trunks: &[Trunk]) -> Vec<u32> {
        trunks.iter().map(|t| t.load.active()).collect()
    }

    fn steps(legs: &mut Legs) -> Vec<String> {
        std::iter::from_fn(|| legs.poll_event())
            .filter_map(|e| match e {
                LegEvent::Record { step, .. } => Some(step),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn the_slot_moves_to_the_trunk_that_takes_the_call_and_goes_with_the_leg() {
        let t0 = Instant::now();
        let trunks = super::three_trunks();
        let cfg = config(trunks.clone());
        let _other = trunks[1].claim().unwrap();
        let mut legs = Legs::new(cfg);
        let mut out = VecDeque::new();
        let id = place(&mut legs, t0, &mut out);
        assert_eq!(active(&trunks), vec![1, 1, 0]);
        let first = last_invite(&out);
        assert_eq!(first.uri.to_string(), "sip:+77015550199@203.0.113.10:5060");

        out.clear();
        let call_id = message::call_id(&first).unwrap();
        let response = message::response(&first, 503, "Service Unavailable", Some("sbc"));
        assert!(legs.on_response(t0, &call_id, &response, &mut out));
        let third = last_invite(&out);
        assert_eq!(third.uri.to_string(), "sip:+77015550199@203.0.113.30:5060");
        // The first trunk's slot came back, the third's is held, the
        // second stays at its limit (not exceeded).
        assert_eq!(active(&trunks), vec![0, 1, 1]);
        let steps = steps(&mut legs);
        assert!(
            steps.contains(&"callee: trunk second skipped: at its call limit".to_string()),
            "{steps:?}"
        );

        // The phone is busy: the leg ends and gives its slot back.
        reply(&mut legs, t0, &third, 486);
        assert!(legs.get(id).is_none());
        assert_eq!(active(&trunks), vec![0, 1, 0]);
    }

    #[test]
    fn with_no_trunk_free_the_slot_is_held_until_the_leg_ends() {
        let t0 = Instant::now();
        let trunks = super::three_trunks();
        let cfg = config(trunks.clone());
        let mut legs = Legs::new(cfg);
        let mut out = VecDeque::new();
        let id = place(&mut legs, t0, &mut out);
        let _others = [trunks[1].claim().unwrap(), trunks[2].claim().unwrap()];
        assert_eq!(active(&trunks), vec![1, 1, 1]);
        let first = last_invite(&out);

        // Silent past the guard, nowhere to go: the leg waits, slot kept.
        out.clear();
        legs.handle_timeout(t0 + ROUTE_GUARD, &mut out);
        assert!(legs.get(id).is_some());
        assert_eq!(legs.get(id).unwrap().leg.trunk(), Some("first"));
        assert_eq!(active(&trunks), vec![1, 1, 1]);

        // Its 503 at last: no trunk is free, the leg fails and its slot
        // comes back; the others' calls are untouched.
        reply(&mut legs, t0 + ROUTE_GUARD, &first, 503);
        let ended: Vec<LegEvent> = std::iter::from_fn(|| legs.poll_event())
            .filter(|e| matches!(e, LegEvent::Ended { .. }))
            .collect();
        assert_eq!(ended.len(), 1, "{ended:?}");
        assert!(legs.get(id).is_none());
        assert_eq!(active(&trunks), vec![0, 1, 1]);
    }
}
