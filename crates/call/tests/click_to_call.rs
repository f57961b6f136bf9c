//! A click-to-call driven without sockets: the specialist is rung first and
//! accepts, then the number through the trunk, then the two are bridged.

#![allow(clippy::disallowed_methods)] // a test needs one base instant

mod harness;

use std::time::{Duration, Instant};

use harness::*;
use rsip::Method;
use senim_call::click_to_call::{ClickToCall, ClickToCallOrder, Stage, StartError};
use senim_call::core::CallCore;
use senim_call::io::{MediaCommand, MediaId, Output, PreparedLeg, SipInput};
use senim_call::kazakh_number::NumberRefusal;
use senim_call::record::RecordOp;
use senim_call::time::WallClock;
use senim_media::prompts::Language;
use senim_routing::specialists::SpecialistId;
use senim_sip::message;
use senim_sip::transaction::TxKey;

struct Driver {
    core: ClickToCall,
    now: Instant,
    outputs: Vec<Output>,
    port: u16,
}

impl Driver {
    fn drain(&mut self) {
        for _ in 0..1000 {
            let Some(o) = self.core.poll_output() else {
                return;
            };
            if let Output::PrepareLeg { leg, .. } = o {
                self.port += 2;
                let prepared = PreparedLeg {
                    port: self.port,
                    softphone: None,
                };
                self.core.handle_leg_prepared(self.now, leg, Ok(prepared));
            } else {
                self.outputs.push(o);
            }
        }
    }

    fn invites(&self) -> Vec<rsip::Request> {
        self.outputs
            .iter()
            .filter_map(|o| match o {
                Output::Request { request, .. } if request.method == Method::Invite => {
                    Some((**request).clone())
                }
                _ => None,
            })
            .collect()
    }

    fn reply(&mut self, request: &rsip::Request, code: u16, body: &str) {
        let mut r = message::response(request, code, "Reason", Some("far-tag"));
        if !body.is_empty() {
            r.headers
                .push(rsip::Header::Contact("<sip:far@198.51.100.30:5070>".into()));
            message::set_body(&mut r, Some("application/sdp"), body.as_bytes().to_vec());
        }
        self.core.handle_sip(
            self.now,
            SipInput::Response {
                key: TxKey::from_id(9),
                response: r,
            },
        );
        self.drain();
    }

    fn finish_prompt(&mut self, leg: u64) {
        let token = self.outputs.iter().rev().find_map(|o| match o {
            Output::Media {
                id,
                command: MediaCommand::Play { token, .. },
            } if *id == MediaId::Leg(leg) => Some(*token),
            _ => None,
        });
        if let Some(t) = token {
            self.core
                .handle_prompt_finished(self.now, MediaId::Leg(leg), t);
            self.drain();
        }
    }
}

fn order(number: &str) -> ClickToCallOrder {
    ClickToCallOrder {
        follow_up: "f1".into(),
        specialist: SpecialistId::new("aigerim"),
        number: number.into(),
        language: Language::Kk,
        service: Some("psychology".into()),
        hide_centre_name: true,
    }
}

#[test]
fn numbers_abroad_are_refused_before_anything_rings() {
    let clock = WallClock::new(Instant::now(), almaty(10));
    let r = ClickToCall::start(config(false), clock, "c1".into(), order("+4420123456"));
    assert!(matches!(
        r,
        Err(StartError::Refused(NumberRefusal::International))
    ));
    // Russia shares +7: outside Kazakhstan's 6xx and 7xx it is refused too.
    let r = ClickToCall::start(config(false), clock, "c2".into(), order("+79161234567"));
    assert!(matches!(
        r,
        Err(StartError::Refused(NumberRefusal::NotKazakh))
    ));
}

#[test]
fn specialist_accepts_then_the_person_answers_and_they_talk() {
    let now = Instant::now();
    let core = ClickToCall::start(
        config(false),
        WallClock::new(now, almaty(10)),
        "c1".into(),
        order("87051234567"),
    )
    .expect("starts");
    let mut d = Driver {
        core,
        now,
        outputs: vec![],
        port: 32000,
    };
    d.drain();
    let to_specialist = d.invites().pop().expect("the specialist is rung first");
    assert!(to_specialist.uri.to_string().contains("aigerim"));
    d.reply(&to_specialist, 200, &phone_sdp("0 101"));
    for _ in 0..3 {
        d.finish_prompt(1);
    }
    let key = senim_media::dtmf::encode_event(
        senim_media::dtmf::Digit::from_char('1').expect("digit"),
        true,
        10,
        800,
    );
    d.core.handle_rtp(
        d.now,
        MediaId::Leg(1),
        &rtp_packet(101, 1, 8000, &key),
        addr(PHONE_RTP),
    );
    d.drain();
    assert_eq!(d.core.stage(), Stage::CallingCallee);
    let to_callee = d.invites().pop().expect("then the number");
    let text = String::from_utf8_lossy(&message::request_to_bytes(&to_callee)).to_string();
    assert!(to_callee.uri.to_string().contains(TRUNK), "{text}");
    assert!(
        !text.contains("aigerim"),
        "the specialist is not named to the callee"
    );
    assert!(!text.contains("Senim"), "the centre is not named: {text}");
    d.reply(&to_callee, 200, &sdp(46000, "8"));
    assert_eq!(d.core.stage(), Stage::Talking);
    // The callee hangs up: the specialist is hung up, the outcome recorded.
    let bye = format!(
        "BYE sip:senim@{SENIM} SIP/2.0\r\nVia: SIP/2.0/UDP {TRUNK};branch=z9hG4bK-b\r\nMax-Forwards: 70\r\nFrom: <sip:x@{TRUNK}>;tag=far-tag\r\nTo: <sip:centre@{SENIM}>;tag={}\r\nCall-ID: {}\r\nCSeq: 9 BYE\r\nContent-Length: 0\r\n\r\n",
        message::from_tag(&to_callee).expect("tag"),
        message::call_id(&to_callee).expect("call id"),
    );
    d.core.handle_sip(
        d.now,
        SipInput::Request {
            key: TxKey::from_id(10),
            request: parse_request(&bye),
            peer: senim_sip::message::Peer::udp(addr(TRUNK)),
        },
    );
    d.drain();
    let outcome = d.outputs.iter().find_map(|o| match o {
        Output::Record(r) => match &**r {
            RecordOp::FollowUpCallEnded { outcome, .. } => Some(*outcome),
            _ => None,
        },
        _ => None,
    });
    assert_eq!(outcome, Some("talked"));
    assert!(d
        .outputs
        .iter()
        .any(|o| matches!(o, Output::Request { request, .. } if request.method == Method::Bye)));
    d.now += Duration::from_secs(40);
    assert!(d.core.is_finished(d.now));
}
