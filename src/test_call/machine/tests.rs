#![allow(clippy::disallowed_methods)] // a test needs one base instant

use super::*;
use senim_sip::rsip::headers::UntypedHeader;
use senim_sip::rsip::SipMessage;

const SENIM: &str = "127.0.0.1:5060";

fn setup(keys: &str) -> Setup {
    Setup {
        target: SENIM.parse().unwrap(),
        local_sip: "127.0.0.1:40000".parse().unwrap(),
        local_rtp: "127.0.0.1:40002".parse().unwrap(),
        from_user: "+77011234567".into(),
        keys: keys.chars().filter_map(Digit::from_char).collect(),
        listen: Duration::from_secs(2),
    }
}

fn sip_out(call: &mut TestCall) -> Vec<SipMessage> {
    let mut out = Vec::new();
    while let Some(o) = call.poll_output() {
        if let Output::Sip { data, .. } = o {
            out.push(message::parse(&data).unwrap());
        }
    }
    out
}

fn request(msgs: &[SipMessage], method: Method) -> Request {
    msgs.iter()
        .find_map(|m| match m {
            SipMessage::Request(r) if r.method == method => Some(r.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no {method} in {msgs:?}"))
}

const ANSWER: &str =
    "v=0\r\no=senim 1 1 IN IP4 127.0.0.1\r\ns=senim\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
m=audio 12000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-15\r\na=sendrecv\r\n";

fn answer(invite: &Request, code: u16, sdp: &str) -> Vec<u8> {
    let mut r = message::response(invite, code, message::reason_phrase(code), Some("senimtag"));
    r.headers.push(message::make_header(
        "Contact",
        &format!("<sip:senim@{SENIM}>"),
    ));
    if !sdp.is_empty() {
        message::set_body(&mut r, Some("application/sdp"), sdp.as_bytes().to_vec());
    }
    message::response_to_bytes(&r).to_vec()
}

#[test]
fn a_call_is_answered_keys_are_pressed_and_it_hangs_up() {
    let t0 = Instant::now();
    let mut call = TestCall::start(t0, setup("12"));
    let invite = request(&sip_out(&mut call), Method::Invite);
    assert!(String::from_utf8_lossy(&invite.body).contains("m=audio 40002"));
    let senim = SENIM.parse().unwrap();
    call.handle_sip(t0, &answer(&invite, 180, ""), senim);
    assert_eq!(call.poll_note(), Some(Note::Ringing(180)));
    call.handle_sip(t0, &answer(&invite, 200, ANSWER), senim);
    request(&sip_out(&mut call), Method::Ack);
    assert_eq!(
        call.poll_note(),
        Some(Note::Answered {
            codec: Codec::Pcmu,
            media: "127.0.0.1:12000".parse().unwrap()
        })
    );
    // Listening: nothing until the pause is over.
    assert_eq!(call.poll_timeout(), Some(t0 + Duration::from_secs(2)));
    let mut now = t0;
    let mut events = Vec::new();
    let mut bye = None;
    for _ in 0..1000 {
        let Some(next) = call.poll_timeout() else {
            break;
        };
        now = next.max(now);
        call.handle_timeout(now);
        while let Some(o) = call.poll_output() {
            match o {
                Output::Rtp { data, to } => {
                    assert_eq!(to, "127.0.0.1:12000".parse().unwrap());
                    let (h, p) = senim_media::rtp::parse(&data).unwrap();
                    assert_eq!(h.payload_type, 101);
                    events.push((p[0], p[1] & 0x80 != 0));
                }
                Output::Sip { data, .. } => {
                    if let Ok(SipMessage::Request(r)) = message::parse(&data) {
                        if r.method == Method::Bye {
                            bye = Some(r);
                        }
                    }
                }
            }
        }
        if bye.is_some() {
            break;
        }
    }
    // Two events of eight packets each (five, then three ends).
    assert_eq!(events.len(), 16);
    assert!(events[..8].iter().all(|(e, _)| *e == 1));
    assert!(events[8..].iter().all(|(e, _)| *e == 2));
    assert_eq!(events.iter().filter(|(_, end)| *end).count(), 6);
    let bye = bye.expect("a BYE after the last pause");
    assert!(
        now >= t0 + Duration::from_secs(6),
        "listen, key, listen, key, listen"
    );
    let notes: Vec<Note> = std::iter::from_fn(|| call.poll_note()).collect();
    assert_eq!(
        notes,
        vec![
            Note::Pressed {
                key: '1',
                how: "RFC 4733"
            },
            Note::Pressed {
                key: '2',
                how: "RFC 4733"
            }
        ]
    );
    let ok = message::response(&bye, 200, "OK", None);
    call.handle_sip(now, &message::response_to_bytes(&ok), senim);
    assert_eq!(call.outcome(), Some(&Outcome::Completed));
    assert_eq!(call.poll_note(), Some(Note::HungUp(Some(200))));
}

#[test]
fn a_refusal_and_silence_end_the_call_with_a_reason() {
    let t0 = Instant::now();
    let mut call = TestCall::start(t0, setup(""));
    let invite = request(&sip_out(&mut call), Method::Invite);
    call.handle_sip(t0, &answer(&invite, 503, ""), SENIM.parse().unwrap());
    assert!(matches!(
        call.outcome(),
        Some(Outcome::Refused { status: 503, .. })
    ));

    let mut quiet = TestCall::start(t0, setup(""));
    let mut now = t0;
    for _ in 0..100 {
        let Some(next) = quiet.poll_timeout() else {
            break;
        };
        now = next;
        quiet.handle_timeout(now);
    }
    assert_eq!(quiet.outcome(), Some(&Outcome::NoAnswer));
    assert!(now - t0 >= Duration::from_secs(32), "Timer B");
}

#[test]
fn senim_hanging_up_ends_the_call() {
    let t0 = Instant::now();
    let mut call = TestCall::start(t0, setup("1"));
    let invite = request(&sip_out(&mut call), Method::Invite);
    let senim = SENIM.parse().unwrap();
    call.handle_sip(t0, &answer(&invite, 200, ANSWER), senim);
    let _ = sip_out(&mut call);
    let bye = format!(
        "BYE sip:+77011234567@127.0.0.1:40000 SIP/2.0\r\nVia: SIP/2.0/UDP {SENIM};branch=z9hG4bKbye1\r\n\
         Max-Forwards: 70\r\nFrom: <sip:senim@{SENIM}>;tag=senimtag\r\n{}\r\n\
         Call-ID: {}\r\nCSeq: 1 BYE\r\nContent-Length: 0\r\n\r\n",
        invite
            .headers
            .iter()
            .find_map(|h| match h {
                rsip::Header::From(f) => Some(format!("To: {}", f.value())),
                _ => None,
            })
            .unwrap(),
        message::call_id(&invite).unwrap()
    );
    call.handle_sip(t0, bye.as_bytes(), senim);
    let out = sip_out(&mut call);
    assert!(out
        .iter()
        .any(|m| matches!(m, SipMessage::Response(r) if r.status_code.code() == 200)));
    assert_eq!(call.outcome(), Some(&Outcome::Completed));
}
