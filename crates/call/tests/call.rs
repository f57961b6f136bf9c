//! The caller's call, driven without sockets or sleeps: every input with a
//! virtual time, every output looked at (see `harness`).

mod harness;

use std::time::Duration;

use harness::*;
use rsip::Method;
use senim_call::call::Phase;
use senim_call::config::DtmfMode;
use senim_call::core::CallCore;
use senim_call::io::{MediaCommand, MediaId, Metric, Output, ReceiveRule, RouterRequest, SipInput};
use senim_call::record::RecordOp;
use senim_routing::router::{Action as RouterAction, LegResult};
use senim_routing::specialists::{SpecialistContact, SpecialistId};
use senim_sip::message;

const MENU: &str = "tests/dialplans/menu.xml";
const CENTRE: &str = "dialplans/centre.xml";

fn answered(plan: &str, hour: i64) -> Harness {
    let mut h = Harness::start(config(false), plan, &sdp(40000, "0 8 101"), hour);
    h.ack();
    h
}

#[test]
fn answers_with_sdp_and_plays_the_greeting_after_the_ack() {
    let mut h = Harness::start(config(false), MENU, &sdp(40000, "8 101"), 10);
    let ok = h.response(200).expect("200 OK");
    let body = String::from_utf8_lossy(&ok.body).to_string();
    assert!(body.contains("m=audio 30000 RTP/AVP 8 101"), "{body}");
    assert!(
        h.commands(MediaId::Caller).is_empty(),
        "no RTP before the ACK: {:?}",
        h.commands(MediaId::Caller)
    );
    h.ack();
    // The caller's SDP names its own host: vouched, sent to at once.
    assert!(matches!(
        h.commands(MediaId::Caller).first(),
        Some(MediaCommand::Start { remote: Some(r), .. }) if *r == addr(CALLER_RTP)
    ));
    assert_eq!(h.played(MediaId::Caller), ["greeting-bilingual"]);
    assert_eq!(h.call.phase(), Phase::Active);
    let kinds: Vec<_> = h
        .records()
        .iter()
        .map(|r| match r {
            RecordOp::Arrived { caller_hash, .. } => format!("arrived {caller_hash:?}"),
            RecordOp::Answered {
                codec, dtmf_mode, ..
            } => format!("answered {codec} {dtmf_mode}"),
            _ => String::new(),
        })
        .filter(|s| !s.is_empty())
        .collect();
    assert_eq!(
        kinds,
        ["arrived Some(\"hash(12)\")", "answered PCMA rfc4733"]
    );
}

/// An INVITE over TLS: the answer's Contact is at the TLS listener and
/// names TLS (a `sips:` Contact for a `sips:` Request-URI), the record says
/// `tls`, and Senim's BYE goes back on the TLS flow with a TLS Via.
#[test]
fn a_call_over_tls_is_answered_and_ended_over_tls() {
    let tls_caller = senim_sip::message::Peer::tls(addr(CALLER));
    for (request_uri, want_contact) in [
        (
            format!("sip:centre@{SENIM_TLS};transport=tls"),
            format!("<sip:senim@{SENIM_TLS};transport=TLS>"),
        ),
        (
            format!("sips:centre@{SENIM_TLS}"),
            format!("<sips:senim@{SENIM_TLS}>"),
        ),
    ] {
        let mut invite = invite(&sdp(40000, "0 101"));
        invite.uri = message::parse_uri(&request_uri).unwrap();
        let mut h = Harness::start_invite_over(config(false), MENU, invite, 10, tls_caller);
        let ok = h.response(200).expect("200 OK");
        assert_eq!(
            message::header_value(&ok, "Contact"),
            Some(want_contact.as_str()),
            "{request_uri}"
        );
        assert!(h
            .records()
            .iter()
            .any(|r| matches!(r, RecordOp::Arrived { transport, .. } if *transport == "tls")));
        h.ack();
        h.rfc4733('2', 1000);
        h.prompt_finished(MediaId::Caller);
        h.rfc4733('1', 2000);
        h.prompt_finished(MediaId::Caller);
        h.prompt_finished(MediaId::Caller);
        let byes: Vec<_> = h
            .requests()
            .into_iter()
            .filter(|(r, _)| r.method == Method::Bye)
            .map(|(r, p)| (r.clone(), p))
            .collect();
        assert_eq!(byes.len(), 1);
        assert_eq!(byes[0].1, tls_caller, "the BYE goes on the TLS flow");
        let via = message::top_via(&byes[0].0).expect("Via");
        assert_eq!(via.transport, "TLS");
        assert_eq!(via.sent_by(), SENIM_TLS);
    }
}

#[test]
fn no_ack_ends_the_call_with_a_bye() {
    let mut h = Harness::start(config(false), MENU, &sdp(40000, "0"), 10);
    h.advance(Duration::from_secs(32));
    h.sip(SipInput::Timeout {
        key: senim_sip::transaction::TxKey::from_id(1),
        call_id: "call-1@test".into(),
        method: Method::Invite,
    });
    assert_eq!(h.sent(Method::Bye).len(), 1);
    assert_eq!(h.ended(), Some(("no-ack".into(), Some("senim"))));
    assert!(h.call.is_finished(h.now));
}

#[test]
fn a_bad_offer_is_refused_and_no_codec_in_common_is_488() {
    let h = Harness::start(config(false), MENU, "v=0\r\ngarbage", 10);
    assert!(h.response(400).is_some());
    let h = Harness::start(config(false), MENU, &sdp(40000, "18"), 10);
    assert!(h.response(488).is_some());
    assert_eq!(h.ended().map(|e| e.0), Some("rejected-media".into()));
}

#[test]
fn late_offer_takes_the_answer_from_the_ack() {
    let mut h = Harness::start(config(false), MENU, "", 10);
    let ok = h.response(200).expect("200 with Senim's offer");
    assert!(String::from_utf8_lossy(&ok.body).contains("RTP/AVP 0 8"));
    assert!(
        h.commands(MediaId::Caller).is_empty(),
        "no stream before the answer"
    );
    h.in_dialog("ACK", 1, "", &sdp(41000, "0 101"));
    assert!(matches!(
        h.commands(MediaId::Caller).first(),
        Some(MediaCommand::Start { remote, .. }) if *remote == Some(addr("198.51.100.20:41000"))
    ));
}

#[test]
fn cancel_after_the_200_changes_nothing() {
    let mut h = answered(MENU, 10);
    h.sip(SipInput::Cancel {
        invite_key: senim_sip::transaction::TxKey::from_id(1),
    });
    assert_eq!(h.call.phase(), Phase::Active);
    assert!(h.ended().is_none());
}

#[test]
fn cancel_racing_the_200_changes_nothing_and_the_ack_starts_the_menu() {
    // The call answers in its first turn: a CANCEL the endpoint matches
    // afterwards meets a 200 already sent (RFC 3261 §9.2).
    let mut h = Harness::start(config(false), MENU, &sdp(40000, "0 101"), 10);
    h.sip(SipInput::Cancel {
        invite_key: senim_sip::transaction::TxKey::from_id(1),
    });
    assert!(h.ended().is_none());
    h.ack();
    assert_eq!(h.played(MediaId::Caller), ["greeting-bilingual"]);
}

#[test]
fn re_invite_moves_the_stream_and_learns_the_new_source() {
    let mut h = answered(MENU, 10);
    h.clear();
    let key = h.in_dialog("INVITE", 2, "", &sdp(42000, "0 101"));
    let ok = h.response_to(key).expect("an answer");
    assert_eq!(ok.status_code.code(), 200);
    assert!(String::from_utf8_lossy(&ok.body).contains("m=audio 30000"));
    assert!(h.commands(MediaId::Caller).iter().any(
        |c| matches!(c, MediaCommand::SetRemote(a) if *a == Some(addr("198.51.100.20:42000")))
    ));
    // The old address is not taken any more; the new one is, at once.
    h.clear();
    h.rtp(
        MediaId::Caller,
        &rtp_packet(101, 1, 160, &encode('7')),
        CALLER_RTP,
    );
    assert!(h.digits().is_empty(), "{:?}", h.digits());
    assert_eq!(dropped(&h), 1);
    h.rtp(
        MediaId::Caller,
        &rtp_packet(101, 1, 320, &encode('1')),
        "198.51.100.20:42000",
    );
    assert_eq!(h.digits(), [("1".to_string(), "rfc4733")]);
}

/// A re-INVITE from the caller naming an address on another network: no
/// RTP goes there; the stream waits for the caller's RTP and follows it.
#[test]
fn re_invite_to_an_address_the_signalling_does_not_vouch_for_waits_for_rtp() {
    let mut h = answered(MENU, 10);
    h.clear();
    let key = h.in_dialog("INVITE", 2, "", &sdp_at("192.0.2.200", 42000, "0 101"));
    assert_eq!(h.response_to(key).map(|r| r.status_code.code()), Some(200));
    assert_eq!(
        remotes(&h),
        [None],
        "nothing is sent to the address before its RTP is seen"
    );
    // RTP from the address the SDP names is taken and sent to.
    h.rtp(
        MediaId::Caller,
        &rtp_packet(0, 1, 160, &[0xff; 160]),
        "192.0.2.200:42000",
    );
    assert_eq!(remotes(&h), [None, Some(addr("192.0.2.200:42000"))]);
}

fn encode(digit: char) -> [u8; 4] {
    senim_media::dtmf::encode_event(
        senim_media::dtmf::Digit::from_char(digit).expect("digit"),
        true,
        10,
        800,
    )
}

/// RTP packets the call dropped (strict RTP).
fn dropped(h: &Harness) -> usize {
    h.outputs
        .iter()
        .filter(|o| matches!(o, Output::Metric(Metric::RtpDropped)))
        .count()
}

/// Where the caller's stream was told to send, in order (Start and SetRemote).
fn remotes(h: &Harness) -> Vec<Option<std::net::SocketAddr>> {
    h.commands(MediaId::Caller)
        .into_iter()
        .filter_map(|c| match c {
            MediaCommand::Start { remote, .. } | MediaCommand::SetRemote(remote) => Some(*remote),
            _ => None,
        })
        .collect()
}

#[test]
fn bye_from_the_caller_ends_the_call_and_closes_its_port() {
    let mut h = answered(MENU, 10);
    let key = h.in_dialog("BYE", 2, "", "");
    assert_eq!(h.response_to(key).map(|r| r.status_code.code()), Some(200));
    assert_eq!(h.ended(), Some(("caller-hangup".into(), Some("caller"))));
    assert!(h
        .commands(MediaId::Caller)
        .iter()
        .any(|c| matches!(c, MediaCommand::Close)));
    assert!(h.call.is_finished(h.now));
    // A request after the end gets 481.
    let key = h.in_dialog("INFO", 3, "", "");
    assert_eq!(h.response_to(key).map(|r| r.status_code.code()), Some(481));
}

#[test]
fn senim_hangs_up_with_a_bye_when_the_plan_ends() {
    let mut h = answered(MENU, 10);
    h.rfc4733('2', 1000);
    h.prompt_finished(MediaId::Caller); // main menu (emergency notice)
    h.rfc4733('1', 2000);
    h.prompt_finished(MediaId::Caller); // choice recorded
    h.prompt_finished(MediaId::Caller); // goodbye
    assert_eq!(h.sent(Method::Bye).len(), 1);
    assert_eq!(h.ended(), Some(("completed".into(), Some("senim"))));
}

#[test]
fn rtp_from_strangers_is_dropped_and_counted_and_never_moves_the_stream() {
    let mut h = answered(MENU, 10);
    h.clear();
    for (i, from) in [
        "198.51.100.99:50000",
        "198.51.100.98:50002",
        "203.0.113.7:40000",
    ]
    .into_iter()
    .enumerate()
    {
        for seq in 0..10u16 {
            let p = rtp_packet(0, seq, 160 * u32::from(seq), &[0xff; 160]);
            h.rtp(MediaId::Caller, &p, from);
            h.now += Duration::from_millis(20);
        }
        assert_eq!(dropped(&h), 10 * (i + 1));
    }
    assert_eq!(remotes(&h), [], "the stream stays where the SDP said");
    // Garbage is dropped without a panic.
    h.rtp(MediaId::Caller, &[1, 2, 3], "198.51.100.97:1");
    assert_eq!(dropped(&h), 31);
}

/// The caller sends from another port of its host (a NAT that keeps the
/// address, or a phone that does not send from the port it names): the
/// source is learned after a probation, and the stream follows it; then
/// the SDP's own port is refused.
#[test]
fn a_source_on_the_callers_host_is_learned_after_a_probation() {
    let mut h = answered(MENU, 10);
    h.clear();
    let from = "198.51.100.20:50000";
    for seq in 0..4u16 {
        let p = rtp_packet(0, seq, 160 * u32::from(seq), &[0xff; 160]);
        h.rtp(MediaId::Caller, &p, from);
        h.now += Duration::from_millis(20);
    }
    assert_eq!(dropped(&h), 3, "the probation's packets");
    assert_eq!(remotes(&h), [Some(addr(from))]);
    h.rtp(
        MediaId::Caller,
        &rtp_packet(101, 9, 9000, &encode('1')),
        CALLER_RTP,
    );
    assert!(h.digits().is_empty(), "locked on the learned source");
}

/// A caller behind NAT: its SDP names its private address, its SIP comes
/// from the NAT's public one. Senim sends nothing until the caller's RTP
/// comes (from the public address), then sends there; a stranger is never
/// learned.
#[test]
fn behind_nat_nothing_is_sent_until_the_callers_rtp_comes() {
    let mut h = Harness::start(
        config(false),
        MENU,
        &sdp_at("192.168.1.10", 4000, "0 101"),
        10,
    );
    h.ack();
    assert_eq!(remotes(&h), [None], "the stream runs, unheard");
    assert_eq!(h.played(MediaId::Caller), ["greeting-bilingual"]);
    let mut seq = 0u16;
    let mut send = |h: &mut Harness, from: &str| {
        let p = rtp_packet(0, seq, 160 * u32::from(seq), &[0xff; 160]);
        seq += 1;
        h.rtp(MediaId::Caller, &p, from);
        h.now += Duration::from_millis(20);
    };
    for _ in 0..10 {
        send(&mut h, "203.0.113.66:30000");
    }
    assert_eq!(remotes(&h), [None]);
    let nat = "198.51.100.20:61000";
    for _ in 0..4 {
        send(&mut h, nat);
    }
    assert_eq!(remotes(&h), [None, Some(addr(nat))]);
}

/// A trunk's SDP may name its media server, another host than its SIP
/// address: the trunk vouches for it, so the stream goes there at once.
#[test]
fn a_trunks_sdp_is_vouched_for_whatever_its_address() {
    let mut h = Harness::start_from(
        config(false),
        MENU,
        &sdp_at("203.0.113.50", 20000, "0 101"),
        10,
        TRUNK,
    );
    h.ack();
    assert_eq!(remotes(&h), [Some(addr("203.0.113.50:20000"))]);
}

/// A stranger's keys change nothing: neither RFC 4733 events nor tones
/// are taken, the prompt is not cut, no digit is recorded.
#[test]
fn keys_from_a_stranger_are_ignored() {
    let mut h = answered(MENU, 10);
    h.clear();
    let stranger = "198.51.100.66:40000";
    for i in 0..6u16 {
        let p = rtp_packet(101, 500 + i, 8000, &encode('0'));
        h.rtp(MediaId::Caller, &p, stranger);
        h.now += Duration::from_millis(20);
    }
    for (i, chunk) in dtmf_tone('0', 120).chunks(160).enumerate() {
        let mut payload = vec![0u8; chunk.len()];
        senim_media::g711::Codec::Pcmu.encode(chunk, &mut payload);
        let p = rtp_packet(0, 600 + i as u16, 160 * i as u32, &payload);
        h.rtp(MediaId::Caller, &p, stranger);
        h.advance(Duration::from_millis(20));
    }
    assert!(h.digits().is_empty(), "{:?}", h.digits());
    assert!(!h
        .commands(MediaId::Caller)
        .iter()
        .any(|c| matches!(c, MediaCommand::StopPrompt | MediaCommand::SetRemote(_))));
    assert!(dropped(&h) >= 6 + 8);
    // The caller's own key still works.
    h.rfc4733('1', 1000);
    assert_eq!(h.digits(), [("1".to_string(), "rfc4733")]);
}

/// An ACK must carry the dialog's tag: without it (forged for an INVITE
/// from a forged source), no RTP starts and the menu does not run.
#[test]
fn an_ack_without_the_dialogs_tag_starts_nothing() {
    let mut h = Harness::start(config(false), MENU, &sdp(40000, "0 101"), 10);
    let tag = std::mem::take(&mut h.senim_tag);
    h.senim_tag = "not-ours".into();
    h.ack();
    assert_eq!(h.call.phase(), Phase::Answered);
    assert!(h.commands(MediaId::Caller).is_empty());
    assert!(h.played(MediaId::Caller).is_empty());
    h.senim_tag = tag;
    h.ack();
    assert_eq!(h.call.phase(), Phase::Active);
    assert_eq!(h.played(MediaId::Caller), ["greeting-bilingual"]);
}

#[test]
fn rfc4733_key_cuts_the_prompt_and_is_recorded_once() {
    let mut h = answered(MENU, 10);
    h.rfc4733('1', 1000);
    assert_eq!(h.digits(), [("1".to_string(), "rfc4733")]);
    assert!(h
        .commands(MediaId::Caller)
        .iter()
        .any(|c| matches!(c, MediaCommand::StopPrompt)));
    assert!(h
        .outputs
        .iter()
        .any(|o| matches!(o, Output::Metric(Metric::Digit(_)))));
    assert_eq!(
        h.records()
            .iter()
            .filter(|r| matches!(r, RecordOp::Language { language: "kk", .. }))
            .count(),
        1
    );
}

#[test]
fn info_and_rfc4733_for_one_press_are_one_digit() {
    let mut h = answered(MENU, 10);
    let key = h.info(2, '2');
    assert_eq!(h.response_to(key).map(|r| r.status_code.code()), Some(200));
    h.rfc4733('2', 3000);
    assert_eq!(h.digits(), [("2".to_string(), "sip-info")]);
    // The same key again from the same source later is a new press.
    h.advance(Duration::from_secs(1));
    h.info(3, '2');
    assert_eq!(h.digits().len(), 2);
}

#[test]
fn info_with_another_body_type_is_415_and_a_bad_body_400() {
    let mut h = answered(MENU, 10);
    let key = h.in_dialog("INFO", 2, "Content-Type: text/plain\r\n", "hello");
    assert_eq!(h.response_to(key).map(|r| r.status_code.code()), Some(415));
    let key = h.in_dialog(
        "INFO",
        3,
        "Content-Type: application/dtmf-relay\r\n",
        "Signal=x\r\n",
    );
    assert_eq!(h.response_to(key).map(|r| r.status_code.code()), Some(400));
}

#[test]
fn inband_tones_are_keys_when_no_telephone_event_was_agreed() {
    let mut h = Harness::start(config(false), MENU, &sdp(40000, "0"), 10);
    h.ack();
    h.tone('1', 80);
    assert_eq!(h.digits(), [("1".to_string(), "inband")]);
    assert_eq!(h.dtmf_mode(), Some("inband"));
}

/// A caller through the trunk with the given `dtmf` mode, whose offer has
/// telephone-event when `te`.
fn from_trunk(mode: DtmfMode, te: bool) -> Harness {
    let codecs = if te { "0 101" } else { "0" };
    let mut h = Harness::start_from(
        trunk_dtmf_config(mode),
        MENU,
        &sdp(40000, codecs),
        10,
        TRUNK,
    );
    h.ack();
    h
}

fn keys(h: &Harness) -> Vec<(String, &'static str)> {
    h.digits()
}

fn key(digit: &str, source: &'static str) -> (String, &'static str) {
    (digit.to_string(), source)
}

#[test]
fn both_takes_tones_from_a_caller_who_agreed_telephone_event() {
    let mut h = from_trunk(DtmfMode::Both, true);
    assert_eq!(h.dtmf_mode(), Some("both"));
    h.tone('1', 80);
    h.tone('2', 80);
    assert_eq!(keys(&h), [key("1", "inband"), key("2", "inband")]);
}

#[test]
fn both_reports_a_press_sent_both_ways_once() {
    let mut h = from_trunk(DtmfMode::Both, true);
    // The event first, then the tone of the same press.
    h.rfc4733('1', 1000);
    h.tone('1', 80);
    // The tone first; the event arrives at the end of the press (its start
    // packets lost).
    h.tone('2', 120);
    h.rfc4733('2', 3000);
    assert_eq!(keys(&h), [key("1", "rfc4733"), key("2", "inband")]);
    // Later, the same key again: a new press.
    h.advance(Duration::from_secs(1));
    h.rfc4733('2', 12000);
    h.tone('2', 80);
    assert_eq!(keys(&h).len(), 3, "{:?}", keys(&h));
}

#[test]
fn both_counts_one_then_one_again_twice() {
    let mut h = from_trunk(DtmfMode::Both, true);
    // Two quick presses of 1, each sent both ways: 80 ms of tone, 100 ms
    // apart. The second press's event is 180 ms after the first's.
    h.rfc4733('1', 1000);
    h.tone('1', 80);
    h.rfc4733('1', 2440);
    h.tone('1', 80);
    assert_eq!(keys(&h), [key("1", "rfc4733"), key("1", "rfc4733")]);
    // And the tones alone, quickly, twice.
    h.tone('3', 60);
    h.tone('3', 60);
    assert_eq!(keys(&h)[2..], [key("3", "inband"), key("3", "inband")]);
    // A press sent both ways, then a quick second press whose event was
    // lost: its tone alone is a second press.
    h.rfc4733('4', 9000);
    h.tone('4', 80);
    h.tone('4', 60);
    assert_eq!(keys(&h)[4..], [key("4", "rfc4733"), key("4", "inband")]);
}

#[test]
fn both_without_telephone_event_is_inband() {
    let mut h = from_trunk(DtmfMode::Both, false);
    assert_eq!(h.dtmf_mode(), Some("inband"));
    h.tone('1', 80);
    assert_eq!(keys(&h), [key("1", "inband")]);
}

#[test]
fn inband_mode_ignores_telephone_events() {
    let mut h = from_trunk(DtmfMode::Inband, true);
    assert_eq!(h.dtmf_mode(), Some("inband"));
    h.rfc4733('1', 1000);
    assert!(keys(&h).is_empty(), "{:?}", keys(&h));
    h.tone('2', 80);
    h.info(2, '3');
    assert_eq!(keys(&h), [key("2", "inband"), key("3", "sip-info")]);
}

#[test]
fn rfc4733_mode_ignores_tones() {
    let mut h = from_trunk(DtmfMode::Rfc4733, true);
    assert_eq!(h.dtmf_mode(), Some("rfc4733"));
    h.tone('1', 80);
    assert!(keys(&h).is_empty(), "{:?}", keys(&h));
    h.rfc4733('2', 5000);
    h.advance(Duration::from_secs(1));
    h.info(2, '3');
    assert_eq!(keys(&h), [key("2", "rfc4733"), key("3", "sip-info")]);
    // Without telephone-event in the offer, tones are still not keys.
    let mut h = from_trunk(DtmfMode::Rfc4733, false);
    assert_eq!(h.dtmf_mode(), Some("info"));
    h.tone('1', 80);
    assert!(keys(&h).is_empty(), "{:?}", keys(&h));
}

#[test]
fn info_mode_takes_only_info() {
    let mut h = from_trunk(DtmfMode::Info, true);
    assert_eq!(h.dtmf_mode(), Some("info"));
    h.rfc4733('1', 1000);
    h.tone('1', 80);
    assert!(keys(&h).is_empty(), "{:?}", keys(&h));
    let k = h.info(2, '1');
    assert_eq!(h.response_to(k).map(|r| r.status_code.code()), Some(200));
    assert_eq!(keys(&h), [key("1", "sip-info")]);
}

#[test]
fn a_caller_not_from_the_trunk_gets_auto() {
    // The trunk says in-band; a caller from elsewhere with telephone-event
    // is understood by RFC 4733 and their tones are not keys.
    let mut h = Harness::start(
        trunk_dtmf_config(DtmfMode::Inband),
        MENU,
        &sdp(40000, "0 101"),
        10,
    );
    h.ack();
    assert_eq!(h.dtmf_mode(), Some("rfc4733"));
    h.tone('1', 80);
    h.rfc4733('2', 5000);
    assert_eq!(keys(&h), [key("2", "rfc4733")]);
}

#[test]
fn a_silent_caller_hears_the_menu_again_then_goes_on_in_russian() {
    let mut h = answered(MENU, 10);
    for _ in 0..3 {
        h.prompt_finished(MediaId::Caller);
        h.advance(Duration::from_secs(6));
    }
    let played = h.played(MediaId::Caller);
    assert_eq!(
        played.iter().filter(|p| *p == "greeting-bilingual").count(),
        3,
        "{played:?}"
    );
    assert!(
        played.contains(&"main-menu".to_string())
            || played.contains(&"emergency-notice".to_string()),
        "{played:?}"
    );
    assert!(h
        .records()
        .iter()
        .any(|r| matches!(r, RecordOp::Language { language: "ru", .. })));
}

#[test]
fn shutdown_mid_call_sends_bye_and_records_the_end() {
    let mut h = answered(MENU, 10);
    h.sip(SipInput::Shutdown);
    assert_eq!(h.sent(Method::Bye).len(), 1);
    assert_eq!(h.ended(), Some(("shutdown".into(), Some("senim"))));
}

#[test]
fn the_call_ends_by_itself_after_a_day() {
    let mut h = answered(MENU, 10);
    h.prompt_finished(MediaId::Caller);
    // The menu's own timers run out first; a call kept in a plan that waits
    // forever is still let go after the hard limit.
    h.advance(senim_call::call::HARD_LIMIT + Duration::from_secs(1));
    assert!(h.ended().is_some());
    assert!(h.call.is_finished(h.now));
}

// -- routing --------------------------------------------------------------

/// A call in Russian at the psychology route of the default plan, at 10:00.
fn routed() -> Harness {
    let mut h = answered(CENTRE, 10);
    h.rfc4733('2', 1000); // Russian
    h.prompt_finished(MediaId::Caller);
    h.rfc4733('2', 2000); // psychology
    h.prompt_finished(MediaId::Caller); // "connecting"
    h
}

fn ring(h: &mut Harness, who: &str) -> rsip::Request {
    h.call
        .handle_router(h.now, ring_of(who, Duration::from_secs(20)));
    h.drain();
    h.sent(Method::Invite)
        .last()
        .cloned()
        .expect("an INVITE to the phone")
}

#[test]
fn a_route_asks_the_router_and_plays_hold_audio() {
    let h = routed();
    assert!(h
        .router()
        .iter()
        .any(|r| matches!(r, RouterRequest::Start { request, .. } if request.service.as_str() == "psychology")));
    assert_eq!(
        h.played(MediaId::Caller).last().map(String::as_str),
        Some("queue-hold")
    );
    assert!(h
        .records()
        .iter()
        .any(|r| matches!(r, RecordOp::Service { service, .. } if service == "psychology")));
}

#[test]
fn the_queue_announces_busy_and_the_position() {
    let mut h = routed();
    h.call.handle_router(h.now, RouterAction::EnterQueue);
    h.drain();
    h.call
        .handle_router(h.now, RouterAction::AnnouncePosition { position: 2 });
    h.drain();
    h.prompt_finished(MediaId::Caller);
    let played = h.played(MediaId::Caller);
    assert!(
        played.ends_with(&["all-busy".to_string(), "queue-position-2".to_string()]),
        "{played:?}"
    );
}

#[test]
fn ring_no_answer_is_reported_to_the_router() {
    let mut h = routed();
    let inv = ring(&mut h, "aigerim");
    assert!(inv.uri.to_string().contains("aigerim@198.51.100.30:5070"));
    assert!(!String::from_utf8_lossy(&message::request_to_bytes(&inv)).contains(CALLER_NUMBER));
    h.reply(&inv, 180, "");
    h.advance(Duration::from_secs(22));
    assert!(h.router().iter().any(|r| matches!(
        r,
        RouterRequest::LegResult {
            result: LegResult::NoAnswer,
            ..
        }
    )));
    assert_eq!(h.sent(Method::Cancel).len(), 1);
}

#[test]
fn a_declined_ring_is_reported_to_the_router() {
    let mut h = routed();
    let inv = ring(&mut h, "aigerim");
    h.reply(&inv, 603, "");
    assert!(h.router().iter().any(|r| matches!(
        r,
        RouterRequest::LegResult {
            result: LegResult::Declined,
            ..
        }
    )));
}

#[test]
fn a_specialist_added_by_a_reload_is_rung_at_the_contact_the_router_gives() {
    // The call began before the reload: its own configuration has no dana.
    let mut h = routed();
    h.call.handle_router(
        h.now,
        RouterAction::Ring {
            specialists: vec![SpecialistId::new("dana")],
            contacts: vec![SpecialistContact::Uri("sip:dana@198.51.100.40:5070".into())],
            timeout: Duration::from_secs(20),
        },
    );
    h.drain();
    let (invite, peer) = h
        .requests()
        .into_iter()
        .rfind(|(r, _)| r.method == Method::Invite)
        .map(|(r, p)| (r.clone(), p))
        .expect("an INVITE to dana's phone");
    assert_eq!(invite.uri.to_string(), "sip:dana@198.51.100.40:5070");
    assert_eq!(peer.addr.to_string(), "198.51.100.40:5070");
    assert!(!h.router().iter().any(|r| matches!(
        r,
        RouterRequest::LegResult {
            result: LegResult::Failed,
            ..
        }
    )));
}

#[test]
fn a_specialist_not_reachable_is_a_failed_ring() {
    let mut h = routed();
    h.leg_error = Some("no RTP port".into());
    h.call
        .handle_router(h.now, ring_of("aigerim", Duration::from_secs(20)));
    h.drain();
    assert!(h.router().iter().any(|r| matches!(
        r,
        RouterRequest::LegResult {
            result: LegResult::Failed,
            ..
        }
    )));
    assert!(h.steps().iter().any(|s| s.contains("aigerim: cannot ring")));
}

/// Ring aigerim, answer, whisper, accept with 1, bridge.
fn bridged() -> (Harness, rsip::Request) {
    let mut h = routed();
    let inv = ring(&mut h, "aigerim");
    h.reply(&inv, 200, &phone_sdp("0 101"));
    assert_eq!(
        h.outputs
            .iter()
            .filter(|o| matches!(o, Output::Stateless { .. }))
            .count(),
        1,
        "ACK to the phone's 200"
    );
    assert!(h
        .router()
        .iter()
        .any(|r| matches!(r, RouterRequest::LegPickedUp { .. })));
    for _ in 0..3 {
        h.prompt_finished(MediaId::Leg(1));
    }
    let whisper = h.played(MediaId::Leg(1));
    assert!(
        whisper.starts_with(&[
            "service-psychology".into(),
            "language-ru".into(),
            "whisper".into()
        ]),
        "{whisper:?}"
    );
    // The accept key, by RFC 4733 from the phone.
    let key = senim_media::dtmf::encode_event(
        senim_media::dtmf::Digit::from_char('1').expect("digit"),
        true,
        10,
        800,
    );
    h.rtp(MediaId::Leg(1), &rtp_packet(101, 7, 8000, &key), PHONE_RTP);
    assert!(h.router().iter().any(|r| matches!(
        r,
        RouterRequest::LegResult {
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
    (h, inv)
}

/// The accept key must come from the specialist's phone: a stranger's
/// key on the leg's port is dropped and the whisper goes on; the phone's
/// own key accepts.
#[test]
fn a_strangers_accept_key_on_a_leg_is_ignored() {
    let mut h = routed();
    let inv = ring(&mut h, "aigerim");
    h.reply(&inv, 200, &phone_sdp("0 101"));
    h.clear();
    for (i, from) in ["203.0.113.66:45000", "198.51.100.20:45000"]
        .iter()
        .enumerate()
    {
        for n in 0..6u16 {
            let seq = 10 * i as u16 + n;
            h.rtp(
                MediaId::Leg(1),
                &rtp_packet(101, seq, 8000 + 1000 * i as u32, &encode('1')),
                from,
            );
            h.now += Duration::from_millis(20);
        }
    }
    assert!(!h.router().iter().any(|r| matches!(
        r,
        RouterRequest::LegResult {
            result: LegResult::Answered,
            ..
        }
    )));
    assert_eq!(dropped(&h), 12);
    h.rtp(
        MediaId::Leg(1),
        &rtp_packet(101, 7, 9000, &encode('1')),
        PHONE_RTP,
    );
    assert!(h.router().iter().any(|r| matches!(
        r,
        RouterRequest::LegResult {
            result: LegResult::Answered,
            ..
        }
    )));
}

#[test]
fn accept_bridges_and_media_flows_both_ways() {
    let (mut h, _) = bridged();
    assert!(h
        .commands(MediaId::Caller)
        .iter()
        .any(|c| matches!(c, MediaCommand::StopStream)));
    assert!(h
        .outputs
        .iter()
        .any(|o| matches!(o, Output::Metric(Metric::Connected))));
    h.clear();
    h.rtp(
        MediaId::Caller,
        &rtp_packet(0, 1, 160, &[0xff; 160]),
        CALLER_RTP,
    );
    h.rtp(
        MediaId::Leg(1),
        &rtp_packet(0, 1, 160, &[0x7f; 160]),
        PHONE_RTP,
    );
    let sends: Vec<_> = h
        .outputs
        .iter()
        .filter_map(|o| match o {
            Output::SendRtp { from, to, .. } => Some((*from, *to)),
            _ => None,
        })
        .collect();
    assert_eq!(
        sends,
        [
            (MediaId::Leg(1), addr(PHONE_RTP)),
            (MediaId::Caller, addr(CALLER_RTP)),
        ]
    );
    // Keys in the conversation are not recorded.
    let before = h.digits().len();
    h.rfc4733('5', 9000);
    assert_eq!(h.digits().len(), before);
}

/// The last receive rule a port was given (None: none given, or the
/// rule was taken back).
fn receive_rule(h: &Harness, media: MediaId) -> Option<ReceiveRule> {
    h.commands(media).iter().rev().find_map(|c| match c {
        MediaCommand::Receive(rule) => Some(rule.clone()),
        _ => None,
    })?
}

/// Once the caller's source is locked, the media engine gets a rule: run
/// the in-band detector on the audio (no telephone-event was agreed); a
/// digit it reports is a key like any other.
#[test]
fn the_engine_detects_tones_once_the_callers_source_is_locked() {
    let mut h = Harness::start(config(false), MENU, &sdp(40000, "0"), 10);
    h.ack();
    assert_eq!(
        receive_rule(&h, MediaId::Caller),
        None,
        "source not seen yet"
    );
    h.rtp(
        MediaId::Caller,
        &rtp_packet(0, 1, 160, &[0xff; 160]),
        CALLER_RTP,
    );
    assert_eq!(
        receive_rule(&h, MediaId::Caller),
        Some(ReceiveRule {
            source: addr(CALLER_RTP),
            codec: senim_media::g711::Codec::Pcmu,
            inband: true,
            relay: None,
        })
    );
    let one = senim_media::dtmf::Digit::from_char('1').expect("digit");
    h.call.handle_digit(h.now, MediaId::Caller, one);
    h.drain();
    assert_eq!(h.digits(), [("1".to_string(), "inband")]);
}

/// In a bridge each side's audio is relayed by the engine to the other
/// side's far end, from the other side's port; nothing is detected.
#[test]
fn the_engine_relays_a_bridge_both_ways() {
    let (mut h, _) = bridged();
    h.rtp(
        MediaId::Caller,
        &rtp_packet(0, 1, 160, &[0xff; 160]),
        CALLER_RTP,
    );
    h.rtp(
        MediaId::Leg(1),
        &rtp_packet(0, 1, 160, &[0x7f; 160]),
        PHONE_RTP,
    );
    let caller = receive_rule(&h, MediaId::Caller).expect("the caller's rule");
    assert_eq!(caller.source, addr(CALLER_RTP));
    assert!(!caller.inband);
    let relay = caller.relay.expect("relayed");
    assert_eq!((relay.to, relay.remote), (MediaId::Leg(1), addr(PHONE_RTP)));
    let leg = receive_rule(&h, MediaId::Leg(1)).expect("the leg's rule");
    assert_eq!(leg.source, addr(PHONE_RTP));
    let relay = leg.relay.expect("relayed");
    assert_eq!(
        (relay.to, relay.remote),
        (MediaId::Caller, addr(CALLER_RTP))
    );
}

#[test]
fn the_specialist_hanging_up_leaves_the_caller_for_the_survey() {
    let (mut h, inv) = bridged();
    h.clear();
    let key = h.leg_request(&inv, "BYE", "", "");
    assert_eq!(h.response_to(key).map(|r| r.status_code.code()), Some(200));
    assert!(h
        .router()
        .iter()
        .any(|r| matches!(r, RouterRequest::CallEnded { .. })));
    assert!(h
        .commands(MediaId::Caller)
        .iter()
        .any(|c| matches!(c, MediaCommand::Start { .. })));
    assert_eq!(h.played(MediaId::Caller), ["survey"]);
    assert!(h
        .outputs
        .iter()
        .any(|o| matches!(o, Output::Metric(Metric::Disconnected))));
}

#[test]
fn the_caller_hanging_up_in_a_bridge_hangs_up_the_specialist() {
    let (mut h, _) = bridged();
    h.clear();
    h.in_dialog("BYE", 5, "", "");
    assert_eq!(h.sent(Method::Bye).len(), 1, "BYE to the phone");
    assert!(h
        .router()
        .iter()
        .any(|r| matches!(r, RouterRequest::CallerHungUp { .. })));
    assert!(
        !h.call.is_finished(h.now),
        "the router still holds the call"
    );
    h.call.handle_router_released(h.now);
    // The phone's leg waits for its BYE's answer, at most LEG_DRAIN.
    h.advance(senim_call::call::LEG_DRAIN);
    assert!(h.call.is_finished(h.now));
}

#[test]
fn overflow_goes_to_the_plans_branch() {
    let mut h = routed();
    h.call.handle_router(
        h.now,
        RouterAction::Overflow {
            reason: senim_routing::router::OverflowReason::NobodyAvailable,
        },
    );
    h.drain();
    assert!(h
        .steps()
        .iter()
        .any(|s| s.contains("no specialist available")));
}

// -- transfers --------------------------------------------------------------

/// After hours: "closed", then the crisis partner.
fn after_hours(refer: bool) -> Harness {
    after_hours_with(config(refer))
}

fn after_hours_with(cfg: std::sync::Arc<senim_call::config::CallConfig>) -> Harness {
    let mut h = Harness::start_from(cfg, CENTRE, &sdp(40000, "0 101"), 21, TRUNK);
    h.ack();
    h.rfc4733('2', 1000);
    h.prompt_finished(MediaId::Caller);
    h.rfc4733('1', 2000); // legal: closed at 21:00
    h.prompt_finished(MediaId::Caller); // "after hours"
    h
}

/// A NOTIFY from the trunk in the caller's dialog, reporting `sipfrag`.
fn trunk_notify(
    h: &mut Harness,
    cseq: u32,
    state: &str,
    sipfrag: &str,
) -> senim_sip::transaction::TxKey {
    let body = format!("{sipfrag}\r\n");
    let notify = format!(
        "NOTIFY sip:senim@{SENIM} SIP/2.0\r\nVia: SIP/2.0/UDP {TRUNK};branch=z9hG4bK-n{cseq}\r\nMax-Forwards: 70\r\nFrom: <sip:{CALLER_NUMBER}@{TRUNK}>;tag=caller1\r\nTo: <sip:centre@{SENIM}>;tag={}\r\nCall-ID: call-1@test\r\nCSeq: {cseq} NOTIFY\r\nEvent: refer\r\nSubscription-State: {state}\r\nContent-Type: message/sipfrag;version=2.0\r\nContent-Length: {}\r\n\r\n{body}",
        h.senim_tag,
        body.len()
    );
    let key = h.key();
    h.sip(SipInput::Request {
        key,
        request: parse_request(&notify),
        peer: senim_sip::message::Peer::udp(addr(TRUNK)),
    });
    key
}

/// The `result`s of the record's `transfer-ended` steps, with their detail.
fn transfer_ends(h: &Harness) -> Vec<(Option<String>, String)> {
    h.records()
        .into_iter()
        .filter_map(|r| match r {
            RecordOp::Routing {
                step,
                result,
                detail,
                ..
            } if step == "transfer-ended" => Some((result.clone(), detail.clone())),
            _ => None,
        })
        .collect()
}

fn wire(request: &rsip::Request) -> String {
    String::from_utf8_lossy(&message::request_to_bytes(request)).to_string()
}

#[test]
fn refer_through_a_trunk_that_takes_it() {
    let mut h = after_hours(true);
    let refer = h.sent(Method::Refer).last().cloned().expect("a REFER");
    let text = wire(&refer);
    assert!(text.contains("Refer-To: <sip:+77232771922@"), "{text}");
    assert!(
        text.contains("Referred-By: <sip:+77232000000@"),
        "the centre refers (RFC 3892): {text}"
    );
    h.reply(&refer, 202, "");
    let key = trunk_notify(&mut h, 3, "terminated;reason=noresource", "SIP/2.0 200 OK");
    assert_eq!(h.response_to(key).map(|r| r.status_code.code()), Some(200));
    assert_eq!(
        transfer_ends(&h).first().map(|(r, _)| r.clone()),
        Some(Some("handed-over".into()))
    );
}

#[test]
fn a_refer_reported_200_is_handed_over_not_answered() {
    let mut h = after_hours(true);
    let refer = h.sent(Method::Refer).last().cloned().expect("a REFER");
    h.reply(&refer, 202, "");
    let k1 = trunk_notify(&mut h, 3, "active;expires=60", "SIP/2.0 100 Trying");
    assert_eq!(h.response_to(k1).map(|r| r.status_code.code()), Some(200));
    assert!(transfer_ends(&h).is_empty(), "100 Trying ends nothing");
    let k2 = trunk_notify(&mut h, 4, "terminated;reason=noresource", "SIP/2.0 200 OK");
    assert_eq!(h.response_to(k2).map(|r| r.status_code.code()), Some(200));
    let ends = transfer_ends(&h);
    assert_eq!(ends.len(), 1, "{ends:?}");
    assert_eq!(ends[0].0.as_deref(), Some("handed-over"));
    assert!(ends[0].1.contains("\"how\":\"refer\""), "{ends:?}");
    assert!(
        !h.records().iter().any(|r| matches!(
            r,
            RecordOp::Routing { result: Some(res), .. } if res == "answered"
        )),
        "a NOTIFY 200 is not the partner's answer"
    );
    assert!(
        h.steps().iter().any(|s| s == "handed over"),
        "{:?}",
        h.steps()
    );
    // Senim leaves the call: the upstream has it.
    assert_eq!(h.sent(Method::Bye).len(), 1);
    assert_eq!(h.ended(), Some(("handed-over".into(), Some("senim"))));
}

#[test]
fn a_caller_bye_while_a_refer_is_pending_fails_the_transfer_and_ends_the_call() {
    let mut h = after_hours(true);
    let refer = h.sent(Method::Refer).last().cloned().expect("a REFER");
    h.reply(&refer, 202, "");
    trunk_notify(&mut h, 3, "active;expires=60", "SIP/2.0 100 Trying");
    h.clear();
    // Asterisk hangs up the caller before it reports the partner busy.
    let bye = h.in_dialog("BYE", 5, "", "");
    assert_eq!(h.response_to(bye).map(|r| r.status_code.code()), Some(200));
    assert_eq!(h.ended(), Some(("caller-hangup".into(), Some("caller"))));
    let ends = transfer_ends(&h);
    assert_eq!(ends.len(), 1, "{ends:?}");
    assert_eq!(ends[0].0.as_deref(), Some("failed"));
    assert!(
        ends[0]
            .1
            .contains("caller's leg ended before the transfer was confirmed"),
        "{ends:?}"
    );
    assert!(h
        .commands(MediaId::Caller)
        .iter()
        .any(|c| matches!(c, MediaCommand::Close)));
    assert!(h.call.is_finished(h.now));
    // The late NOTIFY 503: no subscription any more, no second number.
    let late = trunk_notify(
        &mut h,
        4,
        "terminated;reason=noresource",
        "SIP/2.0 503 Service Unavailable",
    );
    assert_eq!(h.response_to(late).map(|r| r.status_code.code()), Some(481));
    h.advance(Duration::from_secs(120));
    assert!(
        h.sent(Method::Refer).is_empty(),
        "no REFER into a dead dialog"
    );
    assert!(
        h.sent(Method::Invite).is_empty(),
        "no bridged attempt either"
    );
    assert!(h.played(MediaId::Caller).is_empty(), "no prompts to nobody");
    assert!(
        !h.commands(MediaId::Caller)
            .iter()
            .any(|c| matches!(c, MediaCommand::Start { .. } | MediaCommand::Play { .. })),
        "no RTP to the caller"
    );
    assert!(
        !h.steps()
            .iter()
            .any(|s| s.contains("transfer failed") && !s.contains("confirmed")),
        "the plan's fallback does not run: {:?}",
        h.steps()
    );
    assert_eq!(transfer_ends(&h).len(), 1);
}

#[test]
fn a_notify_503_while_the_caller_is_there_refers_the_next_number_then_falls_back() {
    let mut h = after_hours(true);
    let first = h.sent(Method::Refer).last().cloned().expect("a REFER");
    assert!(wire(&first).contains("Refer-To: <sip:+77232771922@"));
    h.reply(&first, 202, "");
    trunk_notify(&mut h, 3, "active;expires=60", "SIP/2.0 100 Trying");
    h.clear();
    let k = trunk_notify(
        &mut h,
        4,
        "terminated;reason=noresource",
        "SIP/2.0 503 Service Unavailable",
    );
    assert_eq!(h.response_to(k).map(|r| r.status_code.code()), Some(200));
    let second = h
        .sent(Method::Refer)
        .last()
        .cloned()
        .expect("a REFER for the next number");
    assert!(
        wire(&second).contains("Refer-To: <sip:+77714451144@"),
        "{}",
        wire(&second)
    );
    h.reply(&second, 202, "");
    h.clear();
    trunk_notify(
        &mut h,
        5,
        "terminated;reason=noresource",
        "SIP/2.0 486 Busy Here",
    );
    assert!(h.sent(Method::Refer).is_empty(), "no number left");
    assert!(
        h.steps()
            .iter()
            .any(|s| s.contains("transfer to ulba-crisis-centre failed")),
        "{:?}",
        h.steps()
    );
    // The fallback speaks to the caller, who is still there.
    assert!(!h.played(MediaId::Caller).is_empty());
    assert_eq!(h.ended(), None);
}

#[test]
fn a_refer_answered_481_means_the_caller_is_gone() {
    let mut h = after_hours(true);
    let refer = h.sent(Method::Refer).last().cloned().expect("a REFER");
    h.clear();
    h.reply(&refer, 481, "");
    assert!(
        h.sent(Method::Refer).is_empty(),
        "no REFER into a dead dialog"
    );
    assert!(h.played(MediaId::Caller).is_empty());
    assert_eq!(h.ended(), Some(("caller-gone".into(), None)));
    assert_eq!(
        transfer_ends(&h).first().map(|(r, _)| r.clone()),
        Some(Some("failed".into()))
    );
}

#[test]
fn refer_without_the_promise_to_present_the_centre_is_bridged() {
    let h = after_hours_with(config_with(|t| t.refer = true));
    assert!(h.sent(Method::Refer).is_empty(), "no REFER");
    let inv = h
        .sent(Method::Invite)
        .last()
        .cloned()
        .expect("a bridged INVITE to the partner");
    let text = wire(&inv);
    assert!(text.starts_with("INVITE sip:+77232771922@"), "{text}");
    let digits = CALLER_NUMBER.trim_start_matches('+');
    assert!(
        !text.contains(digits),
        "the caller's number never goes out: {text}"
    );
    assert!(h.records().iter().any(|r| matches!(
        r,
        RecordOp::Routing { step, detail, .. }
            if step == "transfer-attempt" && detail.contains("bridged")
    )));
}

/// `[centre] share_caller_number` is for the centre's own specialists: a
/// partner's INVITE presents the centre alone, unless the partner's entry
/// in the directory says `share_caller_number = true`.
#[test]
fn a_partner_sees_the_callers_number_only_when_its_entry_says_so() {
    let digits = CALLER_NUMBER.trim_start_matches('+');
    let partner_invite = |cfg| {
        let h = after_hours_with(cfg);
        let inv = h.sent(Method::Invite).last().cloned();
        wire(&inv.expect("a bridged INVITE to the partner"))
    };
    let shared = |cfg: &mut senim_call::config::CallConfig| {
        cfg.outbound.share_caller_number = true;
    };

    // The centre shares the number with its specialists...
    let mut h = Harness::start(config_changed(shared), CENTRE, &sdp(40000, "0 8 101"), 10);
    h.ack();
    h.rfc4733('2', 1000);
    h.prompt_finished(MediaId::Caller);
    h.rfc4733('2', 2000);
    h.prompt_finished(MediaId::Caller);
    let to_specialist = wire(&ring(&mut h, "aigerim"));
    assert!(to_specialist.contains(digits), "{to_specialist}");

    // ...but not with a partner whose entry says nothing.
    let text = partner_invite(config_changed(shared));
    assert!(text.starts_with("INVITE sip:+77232771922@"), "{text}");
    assert!(!text.contains(digits), "{text}");
    assert!(text.contains("+77232000000"), "the centre's number: {text}");

    // A partner whose entry says so sees it, whatever the centre's setting.
    let directory = senim_routing::partners::BUNDLED_PARTNERS.replacen(
        "id = \"ulba-crisis-centre\"\n",
        "id = \"ulba-crisis-centre\"\nshare_caller_number = true\n",
        1,
    );
    let partners = senim_routing::partners::PartnerDirectory::from_toml_str(
        &directory,
        std::path::Path::new("partners.toml"),
    )
    .expect("directory");
    assert!(partners
        .get("ulba-crisis-centre")
        .is_some_and(|p| p.shares_caller_number()));
    let text = partner_invite(config_changed(|cfg| cfg.partners = partners));
    assert!(text.starts_with("INVITE sip:+77232771922@"), "{text}");
    let from = text
        .lines()
        .find(|l| l.starts_with("From:"))
        .unwrap_or_default();
    assert!(from.contains(digits), "{text}");
}

/// Each of the partner's numbers answers 486 Busy.
fn every_partner_number_busy(h: &mut Harness) {
    for _ in 0..4 {
        let Some(inv) = h.sent(Method::Invite).into_iter().last() else {
            break;
        };
        h.clear();
        h.reply(&inv, 486, "");
        if h.sent(Method::Invite).is_empty() {
            break;
        }
    }
}

#[test]
fn bridged_transfer_tries_each_number_then_the_fallback() {
    let mut h = after_hours(false);
    every_partner_number_busy(&mut h);
    assert!(
        h.steps()
            .iter()
            .any(|s| s.contains("transfer to ulba-crisis-centre failed")),
        "{:?}",
        h.steps()
    );
    // The fallback: the callback request asks about the number.
    assert!(!h.played(MediaId::Caller).is_empty());
}

/// The emergency key on the default plan, pressed at `when` of the call:
/// the crisis partner is called at once (bridged, through the trunk).
fn emergency_key(when: &str) -> Harness {
    let mut h = Harness::start_from(config(false), CENTRE, &sdp(40000, "0 101"), 10, TRUNK);
    match when {
        // RFC 4733 overtakes the ACK: the key waits for the plan to start.
        "before the ack" => {
            h.rfc4733('0', 1000);
            assert!(h.sent(Method::Invite).is_empty(), "nothing before the ACK");
            h.ack();
        }
        // The ACK is in and the greeting has been asked for, but no frame
        // of it has gone out yet.
        "before the greeting plays" => {
            h.ack();
            h.rfc4733('0', 1000);
        }
        // Half a second into the greeting.
        _ => {
            h.ack();
            h.advance(Duration::from_millis(500));
            h.rfc4733('0', 5000);
        }
    }
    h
}

#[test]
fn the_emergency_key_counts_from_the_first_moment_of_the_call() {
    for when in [
        "before the ack",
        "before the greeting plays",
        "during the greeting",
    ] {
        let h = emergency_key(when);
        // The greeting, then the hold audio while the partner is called.
        assert_eq!(
            h.played(MediaId::Caller).first().map(String::as_str),
            Some("greeting-short"),
            "{when}"
        );
        assert_eq!(h.digits(), [("0".to_string(), "rfc4733")], "{when}");
        assert!(
            h.steps().iter().any(|s| s == "emergency 0"),
            "{when}: {:?}",
            h.steps()
        );
        assert_eq!(h.call.node(), "crisis", "{when}");
        let inv = h.sent(Method::Invite);
        assert_eq!(inv.len(), 1, "{when}: the partner is called");
        assert!(inv[0].uri.to_string().contains(TRUNK), "{when}");
    }
}

#[test]
fn bridged_transfer_answered_connects_the_caller() {
    let mut h = after_hours(false);
    let inv = h
        .sent(Method::Invite)
        .last()
        .cloned()
        .expect("INVITE to the partner");
    assert!(inv.uri.to_string().contains(TRUNK));
    h.reply(&inv, 200, &sdp(46000, "8"));
    assert!(h.call.bridged_leg().is_some());
    // The partner hangs up: the caller's call is over.
    h.leg_request(&inv, "BYE", "", "");
    assert_eq!(h.ended(), Some(("transferred".into(), Some("partner"))));
}

// -- callback and voicemail ---------------------------------------------------

#[test]
fn a_callback_request_is_sealed_and_typed_keys_are_not_recorded() {
    let mut h = after_hours(false);
    // The partner does not answer: the plan's fallback takes a callback request.
    every_partner_number_busy(&mut h);
    h.prompt_finished(MediaId::Caller);
    let before = h.digits().len();
    h.rfc4733('2', 5000); // another number
    h.prompt_finished(MediaId::Caller);
    for (i, d) in "87051234567#".chars().enumerate() {
        h.rfc4733(d, 6000 + 1000 * i as u32);
    }
    assert_eq!(
        h.digits().len(),
        before + 1,
        "only the menu key is recorded"
    );
    for _ in 0..6 {
        if let Some(t) = h.last_token(MediaId::Caller) {
            h.call.handle_prompt_finished(h.now, MediaId::Caller, t);
            h.drain();
        }
        h.rfc4733('1', 30000 + 1000 * h.outputs.len() as u32);
    }
    let req = h.records().into_iter().find_map(|r| match r {
        RecordOp::CallbackRequest { number_sealed, .. } => Some(number_sealed.clone()),
        _ => None,
    });
    // Kept in E.164 (+77051234567), whichever way it was typed.
    assert_eq!(req.as_deref(), Some("sealed(12)"));
}

/// A limit that answers `allowed` and remembers what it was asked and charged.
struct Quota {
    allowed: bool,
    asked: std::sync::Mutex<Vec<Vec<String>>>,
    charged: std::sync::Mutex<Vec<Vec<String>>>,
}

impl senim_call::config::CallbackQuota for Quota {
    fn allows(&self, keys: &[String], _at_ms: i64) -> bool {
        if let Ok(mut a) = self.asked.lock() {
            a.push(keys.to_vec());
        }
        self.allowed
    }
    fn charge(&self, keys: &[String], _at_ms: i64) {
        if let Ok(mut c) = self.charged.lock() {
            c.push(keys.to_vec());
        }
    }
}

fn quota(allowed: bool) -> std::sync::Arc<Quota> {
    std::sync::Arc::new(Quota {
        allowed,
        asked: Default::default(),
        charged: Default::default(),
    })
}

#[test]
fn a_caller_over_the_days_callback_limit_hears_so_and_goes_to_the_failed_branch() {
    let q = quota(false);
    let mut h = after_hours_with(harness::config_with_quota(q.clone()));
    every_partner_number_busy(&mut h);
    // The caller's own number was checked (as its keyed hash), refused.
    assert_eq!(q.asked.lock().unwrap().len(), 1);
    assert_eq!(
        h.played(MediaId::Caller).last().map(String::as_str),
        Some("callback-limit-reached")
    );
    assert!(h
        .steps()
        .iter()
        .any(|s| s.contains("the day's limit is reached")));
    h.prompt_finished(MediaId::Caller);
    // The plan's failed branch: a voice message, the call goes on.
    assert_eq!(
        h.played(MediaId::Caller).last().map(String::as_str),
        Some("voicemail")
    );
    assert!(h.ended().is_none());
    assert!(!h
        .records()
        .iter()
        .any(|r| matches!(r, RecordOp::CallbackRequest { .. })));
    assert!(q.charged.lock().unwrap().is_empty());
}

#[test]
fn a_recorded_callback_request_counts_against_the_limit() {
    let q = quota(true);
    let mut h = after_hours_with(harness::config_with_quota(q.clone()));
    every_partner_number_busy(&mut h);
    h.prompt_finished(MediaId::Caller);
    for i in 0..5 {
        h.rfc4733('1', 5000 + 1000 * i);
        if let Some(t) = h.last_token(MediaId::Caller) {
            h.call.handle_prompt_finished(h.now, MediaId::Caller, t);
            h.drain();
        }
    }
    assert!(h
        .records()
        .iter()
        .any(|r| matches!(r, RecordOp::CallbackRequest { .. })));
    // Asked for the caller, then for the number confirmed; charged once
    // with the number's key and the caller's.
    assert_eq!(q.asked.lock().unwrap().len(), 2);
    let charged = q.charged.lock().unwrap().clone();
    assert_eq!(charged.len(), 1, "{charged:?}");
    assert_eq!(charged[0].len(), 2, "{charged:?}");
}

#[test]
fn voicemail_records_after_the_beep_and_a_key_ends_it() {
    let mut h = answered("crates/call/tests/plans/voicemail.xml", 10);
    h.prompt_finished(MediaId::Caller); // "leave a message"
    assert_eq!(
        h.played(MediaId::Caller).last().map(String::as_str),
        Some("beep")
    );
    h.rtp(
        MediaId::Caller,
        &rtp_packet(0, 900, 0, &[0xff; 160]),
        CALLER_RTP,
    );
    assert!(
        receive_rule(&h, MediaId::Caller).is_some(),
        "the source is locked"
    );
    h.prompt_finished(MediaId::Caller);
    assert_eq!(
        receive_rule(&h, MediaId::Caller),
        None,
        "while the message is recorded, every packet goes to the core"
    );
    // Two seconds of speech, then a key.
    let speech: Vec<i16> = (0..16000)
        .map(|i| ((i as f32 * 0.3).sin() * 8000.0) as i16)
        .collect();
    for (i, chunk) in speech.chunks(160).enumerate() {
        let mut payload = vec![0u8; 160];
        senim_media::g711::Codec::Pcmu.encode(chunk, &mut payload);
        h.rtp(
            MediaId::Caller,
            &rtp_packet(0, i as u16, 160 * i as u32, &payload),
            CALLER_RTP,
        );
        h.now += Duration::from_millis(20);
    }
    h.rfc4733('#', 900_000);
    // The audio went out a second at a time as it came, then the end.
    let streamed: usize = h
        .outputs
        .iter()
        .filter_map(|o| match o {
            Output::VoicemailAudio { samples } => Some(samples.len()),
            _ => None,
        })
        .sum();
    assert!(streamed >= 8000, "{streamed}");
    let length = h.outputs.iter().find_map(|o| match o {
        Output::WriteVoicemail { rest, length } => Some((rest.len(), *length)),
        _ => None,
    });
    assert!(
        length.is_some_and(|(rest, n)| n > 8000 && streamed + rest >= n),
        "{length:?}"
    );
    h.call
        .handle_voicemail_written(h.now, Ok("/tmp/x.wav".into()));
    h.drain();
    assert!(h.records().iter().any(|r| matches!(
        r,
        RecordOp::Voicemail {
            ended_by: "key",
            ..
        }
    )));
}

#[test]
fn a_call_to_a_line_starts_at_its_node_and_records_trunk_and_line() {
    use senim_call::config::Line;
    let cfg = config_with_lines(
        false,
        vec![
            Line::new("+77232000000", "greeting", None).unwrap(),
            Line::new("+77232000001", "main", Some("children's line".into())).unwrap(),
        ],
    );
    let arrived = |h: &Harness| {
        h.records().iter().find_map(|r| match r {
            RecordOp::Arrived { trunk, line, .. } => Some((trunk.clone(), line.clone())),
            _ => None,
        })
    };
    // The second line, dialled in the national form, from the trunk.
    let invite = invite_to("87232000001", &sdp(40000, "0 101"));
    let mut h = Harness::start_invite(cfg.clone(), MENU, invite, 10, TRUNK);
    h.ack();
    assert_eq!(h.call.node(), "main");
    assert_eq!(h.played(MediaId::Caller), ["emergency-notice"]);
    assert_eq!(h.call.trunk(), Some("provider"));
    assert_eq!(h.call.line(), Some("77232000001"));
    assert_eq!(
        arrived(&h),
        Some((Some("provider".into()), Some("77232000001".into())))
    );
    // The first line starts at the plan's start; not from the trunk.
    let invite = invite_to("+77232000000", &sdp(40000, "0 101"));
    let mut h = Harness::start_invite(cfg.clone(), MENU, invite, 10, CALLER);
    h.ack();
    assert_eq!(h.call.node(), "greeting");
    assert_eq!(arrived(&h), Some((None, Some("77232000000".into()))));
    // Another number: no line, the plan's start.
    let invite = invite_to("+77232000002", &sdp(40000, "0 101"));
    let mut h = Harness::start_invite(cfg.clone(), MENU, invite, 10, CALLER);
    h.ack();
    assert_eq!(h.call.node(), "greeting");
    assert_eq!(arrived(&h), Some((None, None)));
    // A line whose node the plan does not have (never after a checked
    // load): the plan's start, not a stranded caller.
    let cfg = config_with_lines(
        false,
        vec![Line::new("+77232000001", "nowhere", None).unwrap()],
    );
    let invite = invite_to("+77232000001", &sdp(40000, "0 101"));
    let mut h = Harness::start_invite(cfg, MENU, invite, 10, CALLER);
    h.ack();
    assert_eq!(h.call.node(), "greeting");
}

// ---------------------------------------------------------------------------
// A caller remembered with consent
// ---------------------------------------------------------------------------

#[test]
fn a_remembered_caller_skips_the_language_menu_and_asks_for_their_last_specialist() {
    let mut h = Harness::start_remembered(
        config(false),
        CENTRE,
        &sdp(40000, "0 8 101"),
        10,
        senim_call::memory::Remembered {
            language: "kk".into(),
            specialist: Some("aigerim".into()),
            service: Some("legal".into()),
        },
    );
    h.ack();
    h.prompt_finished(MediaId::Caller);
    // Its own short prompt, with the emergency key: no language menu.
    assert_eq!(h.played(MediaId::Caller), ["welcome-back"]);
    assert!(h.steps().contains(&"recognised".to_string()));
    assert!(h.records().iter().any(|r| matches!(
        r,
        RecordOp::RememberedSeen { specialist: None, caller_hash, .. } if !caller_hash.contains("7011234567")
    )));
    assert!(h
        .outputs
        .iter()
        .any(|o| matches!(o, Output::Metric(Metric::Recognised))));
    // 1: the same specialist; the service of their last conversation.
    h.rfc4733('1', 1000);
    h.prompt_finished(MediaId::Caller); // "connecting"
    let start = h.router().into_iter().find_map(|r| match r {
        RouterRequest::Start { request, .. } => Some(request.clone()),
        _ => None,
    });
    let request = start.expect("a route request");
    assert_eq!(request.service.as_str(), "legal");
    assert_eq!(request.caller_language, "kk");
    assert_eq!(request.preferred, Some(SpecialistId::from("aigerim")));
}

#[test]
fn a_new_caller_is_not_preferred_anyone_and_consent_after_a_specialist_is_recorded() {
    let (mut h, inv) = bridged();
    assert!(h.router().iter().any(|r| matches!(
        r,
        RouterRequest::Start { request, .. } if request.preferred.is_none()
    )));
    // The specialist hangs up: the survey, then the consent question.
    let key = h.leg_request(&inv, "BYE", "", "");
    assert_eq!(h.response_to(key).map(|r| r.status_code.code()), Some(200));
    h.clear();
    h.rfc4733('5', 50_000);
    assert_eq!(h.played(MediaId::Caller), ["remember-offer"]);
    h.rfc4733('1', 51_000);
    let kept: Vec<&RecordOp> = h
        .records()
        .into_iter()
        .filter(|r| matches!(r, RecordOp::Remember { .. }))
        .collect();
    assert_eq!(kept.len(), 1, "{:#?}", h.records());
    let RecordOp::Remember {
        caller_hash,
        language,
        specialist,
        service,
        ..
    } = kept[0]
    else {
        unreachable!()
    };
    assert!(!caller_hash.contains("7011234567"));
    assert_eq!(
        (language.as_str(), specialist.as_str(), service.as_deref()),
        ("ru", "aigerim", Some("psychology"))
    );
    assert!(h
        .outputs
        .iter()
        .any(|o| matches!(o, Output::Metric(Metric::Remembered))));
    assert_eq!(h.played(MediaId::Caller), ["remember-offer", "goodbye"]);
}

// -- the wrap-up menu on the specialist's phone ------------------------------

fn wrap_up_menu() -> senim_call::config::WrapUpMenu {
    senim_call::config::WrapUpMenu {
        prompts: vec![
            "wrap-up-menu".into(),
            "wrap-up-consultation".into(),
            "wrap-up-crisis-intervention".into(),
        ],
        kinds: vec![
            ('1', "consultation".into()),
            ('3', "crisis-intervention".into()),
        ],
        timeout: Duration::from_secs(10),
        confirm: "wrap-up-thanks".into(),
    }
}

/// As [`bridged`], with the wrap-up menu configured.
fn bridged_with_wrap_up() -> (Harness, rsip::Request) {
    let cfg = config_changed(|c| c.outbound.wrap_up = Some(wrap_up_menu()));
    let mut h = Harness::start(cfg, CENTRE, &sdp(40000, "0 8 101"), 10);
    h.ack();
    h.rfc4733('2', 1000); // Russian
    h.prompt_finished(MediaId::Caller);
    h.rfc4733('2', 2000); // psychology
    h.prompt_finished(MediaId::Caller);
    let inv = ring(&mut h, "aigerim");
    h.reply(&inv, 200, &phone_sdp("0 101"));
    h.rtp(
        MediaId::Leg(1),
        &rtp_packet(101, 7, 8000, &encode('1')),
        PHONE_RTP,
    );
    h.call.handle_router(
        h.now,
        RouterAction::Bridge {
            specialist: SpecialistId::new("aigerim"),
        },
    );
    h.drain();
    assert_eq!(h.call.bridged_leg(), Some(1));
    (h, inv)
}

fn wrap_ups(h: &Harness) -> Vec<Option<String>> {
    h.router()
        .iter()
        .filter_map(|r| match r {
            RouterRequest::WrapUp {
                kind, specialist, ..
            } => {
                assert_eq!(specialist.as_str(), "aigerim");
                Some(kind.clone())
            }
            _ => None,
        })
        .collect()
}

#[test]
fn after_the_caller_hangs_up_the_specialist_codes_the_call_on_the_phone() {
    let (mut h, _) = bridged_with_wrap_up();
    h.clear();
    h.in_dialog("BYE", 5, "", "");
    assert!(h.sent(Method::Bye).is_empty(), "the phone stays connected");
    assert!(h
        .router()
        .iter()
        .any(|r| matches!(r, RouterRequest::CallerHungUp { .. })));
    assert!(h
        .commands(MediaId::Leg(1))
        .iter()
        .any(|c| matches!(c, MediaCommand::Start { .. })));
    h.prompt_finished(MediaId::Leg(1));
    h.prompt_finished(MediaId::Leg(1));
    assert_eq!(
        h.played(MediaId::Leg(1)),
        [
            "wrap-up-menu",
            "wrap-up-consultation",
            "wrap-up-crisis-intervention"
        ]
    );
    h.call.handle_router_released(h.now);
    assert!(!h.call.is_finished(h.now), "the menu is on the phone");
    // The specialist presses 3 (RFC 4733) while the menu plays.
    h.rtp(
        MediaId::Leg(1),
        &rtp_packet(101, 20, 30000, &encode('3')),
        PHONE_RTP,
    );
    assert!(h.records().iter().any(|r| matches!(
        r,
        RecordOp::WrapUp { kind, .. } if kind == "crisis-intervention"
    )));
    assert_eq!(wrap_ups(&h), [Some("crisis-intervention".to_string())]);
    assert_eq!(
        h.played(MediaId::Leg(1)).last().map(String::as_str),
        Some("wrap-up-thanks")
    );
    assert!(
        h.sent(Method::Bye).is_empty(),
        "the confirmation plays first"
    );
    h.prompt_finished(MediaId::Leg(1));
    h.prompt_finished(MediaId::Leg(1));
    h.prompt_finished(MediaId::Leg(1));
    h.prompt_finished(MediaId::Leg(1));
    assert_eq!(h.sent(Method::Bye).len(), 1, "BYE after the confirmation");
    assert!(h
        .steps()
        .iter()
        .any(|s| s.contains("aigerim: wrap-up: crisis-intervention")));
    // A second key is not a second code.
    h.rtp(
        MediaId::Leg(1),
        &rtp_packet(101, 30, 40000, &encode('1')),
        PHONE_RTP,
    );
    assert_eq!(wrap_ups(&h).len(), 1);
}

#[test]
fn the_wrap_up_menu_ends_even_when_its_prompts_never_finish() {
    let (mut h, _) = bridged_with_wrap_up();
    h.clear();
    h.in_dialog("BYE", 5, "", "");
    h.advance(senim_call::leg::WRAP_UP_PROMPTS_MAX + Duration::from_secs(9));
    assert!(h.sent(Method::Bye).is_empty());
    h.advance(Duration::from_secs(2));
    assert_eq!(h.sent(Method::Bye).len(), 1);
    assert_eq!(wrap_ups(&h), [None]);
}

#[test]
fn no_key_in_time_ends_the_wrap_up_menu_without_a_code() {
    let (mut h, _) = bridged_with_wrap_up();
    h.clear();
    h.in_dialog("BYE", 5, "", "");
    assert!(h.sent(Method::Bye).is_empty());
    // The time for a key counts from the end of the menu's prompts.
    h.advance(Duration::from_secs(5));
    for _ in 0..3 {
        h.prompt_finished(MediaId::Leg(1));
    }
    h.advance(Duration::from_secs(9));
    assert!(h.sent(Method::Bye).is_empty());
    h.advance(Duration::from_secs(2));
    assert_eq!(h.sent(Method::Bye).len(), 1);
    assert_eq!(wrap_ups(&h), [None]);
    assert!(!h
        .records()
        .iter()
        .any(|r| matches!(r, RecordOp::WrapUp { .. })));
}

#[test]
fn an_unknown_key_ends_the_wrap_up_menu_without_a_code() {
    let (mut h, _) = bridged_with_wrap_up();
    h.clear();
    h.in_dialog("BYE", 5, "", "");
    h.rtp(
        MediaId::Leg(1),
        &rtp_packet(101, 20, 30000, &encode('9')),
        PHONE_RTP,
    );
    assert_eq!(h.sent(Method::Bye).len(), 1);
    assert_eq!(wrap_ups(&h), [None]);
}

#[test]
fn the_specialist_hanging_up_in_the_wrap_up_menu_ends_it_without_a_code() {
    let (mut h, inv) = bridged_with_wrap_up();
    h.clear();
    h.in_dialog("BYE", 5, "", "");
    let key = h.leg_request(&inv, "BYE", "", "");
    assert_eq!(h.response_to(key).map(|r| r.status_code.code()), Some(200));
    assert!(h.sent(Method::Bye).is_empty());
    assert_eq!(wrap_ups(&h), [None]);
    h.call.handle_router_released(h.now);
    assert!(h.call.is_finished(h.now));
}

#[test]
fn the_specialist_hanging_up_first_has_no_menu_and_releases_the_hold() {
    let (mut h, inv) = bridged_with_wrap_up();
    h.clear();
    h.leg_request(&inv, "BYE", "", "");
    assert_eq!(wrap_ups(&h), [None]);
    assert_eq!(h.played(MediaId::Caller), ["survey"]);
}

// -- the silent caller ----------------------------------------------------------

/// A caller of the default plan who never presses a key, at 10:00 with
/// nobody free, on the virtual clock: every prompt ends as soon as it
/// starts, the router answers that nobody is available, a voice message is
/// written when the core asks. Three greetings (then Russian), the main menu
/// three times (then psychology), the callback questions unanswered (then a
/// voice message, which ends with no speech and keeps nothing), goodbye.
/// The same walk on the real binary took four minutes of prompts and
/// timeouts; here it takes none.
#[test]
fn a_silent_caller_is_taken_through_every_timeout_to_a_psychologist_in_russian() {
    let mut h = answered(CENTRE, 10);
    let mut finished = std::collections::HashSet::new();
    let mut routers_answered = 0;
    let mut written = 0;
    for _ in 0..5_000 {
        if h.ended().is_some() {
            break;
        }
        let starts = h
            .router()
            .iter()
            .filter(|r| matches!(r, RouterRequest::Start { .. }))
            .count();
        if starts > routers_answered {
            routers_answered = starts;
            h.call.handle_router(
                h.now,
                RouterAction::Overflow {
                    reason: senim_routing::router::OverflowReason::NobodyAvailable,
                },
            );
            h.drain();
            continue;
        }
        let writes = h
            .outputs
            .iter()
            .filter(|o| matches!(o, Output::WriteVoicemail { .. }))
            .count();
        if writes > written {
            written = writes;
            h.call
                .handle_voicemail_written(h.now, Ok("/tmp/message.wav".into()));
            h.drain();
            continue;
        }
        if let Some(t) = h.last_token(MediaId::Caller) {
            if finished.insert(t) {
                h.call.handle_prompt_finished(h.now, MediaId::Caller, t);
                h.drain();
                continue;
            }
        }
        h.advance(Duration::from_millis(500));
    }
    assert_eq!(
        h.ended().map(|(outcome, _)| outcome).as_deref(),
        Some("completed"),
        "{:#?}",
        h.steps()
    );
    assert!(h
        .records()
        .iter()
        .any(|r| matches!(r, RecordOp::Language { language: "ru", .. })));
    assert!(h.digits().is_empty(), "{:?}", h.digits());
    let steps: Vec<String> = h
        .records()
        .into_iter()
        .filter_map(|r| match r {
            RecordOp::Step { menu, what, .. } => Some(format!("{menu}: {what}")),
            _ => None,
        })
        .collect();
    let mut at = 0;
    for want in [
        "greeting: timeout (1/3)",
        "greeting: timeout (2/3)",
        "main: timeout (1/3)",
        "main: timeout (2/3)",
        "psychology: hours open",
        "route-psychology: no specialist available for psychology",
        "offer-callback: callback: no number given",
        "leave-message: voicemail ended by no-speech: no speech, nothing saved",
        "goodbye: enter play",
        "end: enter hangup completed",
    ] {
        match steps[at..].iter().position(|s| s == want) {
            Some(i) => at += i + 1,
            None => panic!("step {want:?} missing (in order) from the path:\n{steps:#?}"),
        }
    }
}
