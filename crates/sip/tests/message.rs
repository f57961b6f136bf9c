//! Parser, framing and builder tests for `senim_sip::message`.

use senim_sip::message::{self, FramingError, NameAddr, ParseError};
use senim_sip::rsip::{self, SipMessage};

fn req(text: &str) -> rsip::Request {
    match message::parse(text.as_bytes()).unwrap() {
        SipMessage::Request(r) => r,
        SipMessage::Response(_) => panic!("response"),
    }
}

const COMPACT: &str = "INVITE sip:ivr@192.0.2.1 SIP/2.0\r\n\
v: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bKc1, SIP/2.0/UDP 192.0.2.9;branch=z9hG4bKc0\r\n\
f: \"Caller\" <sip:caller@example.com>;tag=a1\r\n\
t: <sip:ivr@example.com>\r\n\
i: compact-1@example.com\r\n\
m: <sip:caller@192.0.2.10:5062>\r\n\
k: timer, replaces\r\n\
s: help\r\n\
c: application/sdp\r\n\
CSeq: 1 INVITE\r\n\
l: 4\r\n\
\r\n\
v=0\r\nTRAILING JUNK";

#[test]
fn compact_headers_are_expanded() {
    let r = req(COMPACT);
    assert_eq!(
        message::call_id(&r).as_deref(),
        Some("compact-1@example.com")
    );
    assert_eq!(message::from_tag(&r).as_deref(), Some("a1"));
    assert_eq!(message::to_tag(&r), None);
    assert_eq!(
        message::header_value(&r, "Contact"),
        Some("<sip:caller@192.0.2.10:5062>")
    );
    assert_eq!(
        message::header_value(&r, "m"),
        Some("<sip:caller@192.0.2.10:5062>")
    );
    assert_eq!(
        message::header_value(&r, "supported"),
        Some("timer, replaces")
    );
    assert_eq!(message::header_value(&r, "Subject"), Some("help"));
    assert_eq!(
        message::header_value(&r, "content-type"),
        Some("application/sdp")
    );
    assert_eq!(
        message::header_values(&r, "Via").len(),
        2,
        "comma list split"
    );
    assert_eq!(message::top_via_branch(&r).as_deref(), Some("z9hG4bKc1"));
    assert_eq!(message::cseq(&r), Some((1, rsip::Method::Invite)));
    // Typed rsip headers work on the result.
    use rsip::prelude::*;
    assert_eq!(r.call_id_header().unwrap().value(), "compact-1@example.com");
    assert_eq!(r.cseq_header().unwrap().seq().unwrap(), 1);
    assert!(r.from_header().unwrap().typed().is_ok());
    // Content-Length cut the body; exactly one Content-Length remains.
    assert_eq!(r.body, b"v=0\r");
    assert_eq!(message::header_values(&r, "Content-Length"), vec!["4"]);
}

#[test]
fn other_compact_forms() {
    let text = "REFER sip:ivr@192.0.2.1 SIP/2.0\r\nv: SIP/2.0/TCP h;branch=z9hG4bK1\r\nf: <sip:a@b>;tag=1\r\nt: <sip:c@d>;tag=2\r\ni: x\r\nCSeq: 2 REFER\r\nr: <sip:agent@example.com>\r\nb: <sip:a@b>\r\nx: 1800\r\nu: talk\r\no: refer\r\ne: gzip\r\nl: 0\r\n\r\n";
    let r = req(text);
    assert_eq!(
        message::header_value(&r, "Refer-To"),
        Some("<sip:agent@example.com>")
    );
    assert_eq!(message::header_value(&r, "Referred-By"), Some("<sip:a@b>"));
    assert_eq!(message::header_value(&r, "Session-Expires"), Some("1800"));
    assert_eq!(message::header_value(&r, "Allow-Events"), Some("talk"));
    assert_eq!(message::header_value(&r, "Event"), Some("refer"));
    assert_eq!(message::header_value(&r, "Content-Encoding"), Some("gzip"));
}

#[test]
fn body_shorter_than_content_length_is_an_error() {
    let text = COMPACT.replace("l: 4", "l: 400");
    assert!(matches!(
        message::parse(text.as_bytes()),
        Err(ParseError::BodyTooShort { declared: 400, .. })
    ));
}

#[test]
fn no_content_length_takes_the_rest_of_the_datagram() {
    let text = COMPACT.replace("l: 4\r\n", "");
    let r = req(&text);
    assert_eq!(r.body, b"v=0\r\nTRAILING JUNK");
    assert_eq!(message::header_value(&r, "Content-Length"), Some("18"));
}

#[test]
fn leading_crlf_and_bare_lf_are_tolerated() {
    let text = format!(
        "\r\n\r\n{}",
        COMPACT.replace("\r\n", "\n").replace("l: 4", "l: 3")
    );
    let r = req(&text);
    assert_eq!(r.body, b"v=0");
    assert_eq!(message::parse(b"\r\n\r\n"), Err(ParseError::Empty));
    assert_eq!(message::parse(b""), Err(ParseError::Empty));
}

#[test]
fn mandatory_headers() {
    for (name, needle) in [
        ("Via", "v: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bKc1, SIP/2.0/UDP 192.0.2.9;branch=z9hG4bKc0\r\n"),
        ("From", "f: \"Caller\" <sip:caller@example.com>;tag=a1\r\n"),
        ("To", "t: <sip:ivr@example.com>\r\n"),
        ("Call-ID", "i: compact-1@example.com\r\n"),
        ("CSeq", "CSeq: 1 INVITE\r\n"),
    ] {
        let text = COMPACT.replace(needle, "");
        assert_eq!(
            message::parse(text.as_bytes()),
            Err(ParseError::Missing(name)),
            "{name}"
        );
    }
    let text = COMPACT.replace("CSeq: 1 INVITE", "CSeq: 1 BYE");
    assert!(matches!(
        message::parse(text.as_bytes()),
        Err(ParseError::CSeqMismatch { .. })
    ));
    let text = COMPACT.replace("CSeq: 1 INVITE", "CSeq: x INVITE");
    assert!(matches!(
        message::parse(text.as_bytes()),
        Err(ParseError::BadHeader { name: "CSeq", .. })
    ));
}

#[test]
fn responses_parse_with_custom_reasons() {
    let text = "SIP/2.0 486 Busy Here Now\r\nVia: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nCall-ID: r1\r\nCSeq: 5 INVITE\r\nContent-Length: 0\r\n\r\n";
    let SipMessage::Response(r) = message::parse(text.as_bytes()).unwrap() else {
        panic!()
    };
    assert_eq!(r.status_code, rsip::StatusCode::BusyHere);
    assert_eq!(message::cseq(&r), Some((5, rsip::Method::Invite)));
    let out = message::response_to_bytes(&r);
    assert!(out.starts_with(b"SIP/2.0 486 Busy Here\r\n"));
}

// ---------------------------------------------------------------------------------------------
// TCP framing
// ---------------------------------------------------------------------------------------------

fn options(cseq: u32, body: &str) -> String {
    format!(
        "OPTIONS sip:ivr@192.0.2.1 SIP/2.0\r\nVia: SIP/2.0/TCP 192.0.2.10;branch=z9hG4bK{cseq}\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: f1\r\nCSeq: {cseq} OPTIONS\r\nContent-Type: text/plain\r\nl: {}\r\n\r\n{body}",
        body.len()
    )
}

/// A stream reader as a driver would write it: append bytes, cut frames, drop keep-alives.
fn read_stream(chunks: &[&[u8]]) -> (Vec<Vec<u8>>, usize) {
    let mut buf: Vec<u8> = vec![];
    let mut frames = vec![];
    let mut keepalives = 0;
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        while let Some(n) = message::frame_len(&buf).unwrap() {
            let frame: Vec<u8> = buf.drain(..n).collect();
            if message::is_keepalive(&frame) {
                keepalives += 1;
            } else {
                frames.push(frame);
            }
        }
    }
    assert!(
        buf.is_empty(),
        "left over: {:?}",
        String::from_utf8_lossy(&buf)
    );
    (frames, keepalives)
}

#[test]
fn framing_two_messages_and_keepalives_split_everywhere() {
    let a = options(1, "hello");
    let b = options(2, "");
    let stream = format!("\r\n\r\n{a}\r\n{b}\r\n\r\n");
    let bytes = stream.as_bytes();
    for split in 0..=bytes.len() {
        let (frames, keepalives) = read_stream(&[&bytes[..split], &bytes[split..]]);
        assert_eq!(
            frames,
            vec![a.as_bytes().to_vec(), b.as_bytes().to_vec()],
            "split at {split}"
        );
        assert!(keepalives >= 3, "split at {split}");
    }
    // Byte by byte.
    let chunks: Vec<&[u8]> = bytes.chunks(1).collect();
    let (frames, _) = read_stream(&chunks);
    assert_eq!(frames.len(), 2);
    for f in frames {
        message::parse(&f).unwrap();
    }
}

#[test]
fn framing_errors() {
    let no_cl = "OPTIONS sip:x SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\n\r\n";
    assert_eq!(
        message::frame_len(no_cl.as_bytes()),
        Err(FramingError::MissingContentLength)
    );
    let bad = "OPTIONS sip:x SIP/2.0\r\nContent-Length: -1\r\n\r\n";
    assert!(matches!(
        message::frame_len(bad.as_bytes()),
        Err(FramingError::BadContentLength(_))
    ));
    let huge = "OPTIONS sip:x SIP/2.0\r\nContent-Length: 99999999\r\n\r\n";
    assert!(matches!(
        message::frame_len(huge.as_bytes()),
        Err(FramingError::BodyTooLarge(_))
    ));
    let endless = vec![b'a'; message::MAX_HEAD + 10];
    assert!(matches!(
        message::frame_len(&endless),
        Err(FramingError::HeadTooLong(_))
    ));
    assert_eq!(
        message::frame_len(b"OPTIONS sip:x SIP/2.0\r\nl: 3\r\n\r\nab"),
        Ok(None)
    );
    assert_eq!(
        message::frame_len(b"OPTIONS sip:x SIP/2.0\r\nl: 3\r\n\r\nabcdef"),
        Ok(Some(34))
    );
    assert_eq!(message::frame_len(b""), Ok(None));
    assert_eq!(message::frame_len(b"\r"), Ok(None));
    assert_eq!(message::frame_len(b"\r\n\r\nINV"), Ok(Some(4)));
}

// ---------------------------------------------------------------------------------------------
// Stateless 400
// ---------------------------------------------------------------------------------------------

#[test]
fn bad_request_for_raw_echoes_headers() {
    let raw = "INVITE sip:ivr@192.0.2.1 SIP/2.0\r\nv: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bK1\r\nVia: SIP/2.0/UDP 192.0.2.9;branch=z9hG4bK0\r\nf: <sip:a@b>;tag=1\r\nt: <sip:c@d>\r\ni: raw-1\r\nCSeq: 1 INVITE\r\nMax-Forwards: banana\r\n\r\n";
    let err = message::parse(raw.as_bytes()).unwrap_err();
    let out = message::bad_request_for_raw(raw.as_bytes(), &err.to_string()).unwrap();
    let SipMessage::Response(r) = message::parse(&out).unwrap() else {
        panic!()
    };
    assert_eq!(r.status_code.code(), 400);
    assert_eq!(message::header_values(&r, "Via").len(), 2);
    assert_eq!(message::call_id(&r).as_deref(), Some("raw-1"));
    assert!(
        message::to_tag(&r).is_some(),
        "a final response gets a To tag"
    );
    assert!(message::header_value(&r, "Warning")
        .unwrap()
        .contains("Max-Forwards"));
    // Not a request, an ACK, or missing headers: drop.
    assert!(message::bad_request_for_raw(b"SIP/2.0 200 OK\r\n\r\n", "x").is_none());
    assert!(
        message::bad_request_for_raw(raw.replace("INVITE sip", "ACK sip").as_bytes(), "x")
            .is_none()
    );
    assert!(
        message::bad_request_for_raw(raw.replace("i: raw-1\r\n", "").as_bytes(), "x").is_none()
    );
    assert!(message::bad_request_for_raw(b"\x00\xff\xfe", "x").is_none());
}

// ---------------------------------------------------------------------------------------------
// Building and printing
// ---------------------------------------------------------------------------------------------

const INVITE: &str = "INVITE sip:ivr@192.0.2.1 SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bKr1;received=192.0.2.10\r\n\
Via: SIP/2.0/UDP 192.0.2.9;branch=z9hG4bKr0\r\n\
Record-Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>\r\n\
Max-Forwards: 69\r\n\
From: \"Caller\" <sip:caller@example.com>;tag=a1\r\n\
To: <sip:ivr@example.com>\r\n\
Call-ID: build-1@example.com\r\n\
CSeq: 10 INVITE\r\n\
Contact: <sip:caller@192.0.2.10:5062>\r\n\
Content-Length: 0\r\n\r\n";

#[test]
fn response_copies_the_right_headers() {
    let r = req(INVITE);
    let ok = message::response(&r, 200, "OK", Some("ivrtag"));
    assert_eq!(ok.status_code, rsip::StatusCode::OK);
    assert_eq!(
        message::header_values(&ok, "Via"),
        message::header_values(&r, "Via")
    );
    assert_eq!(message::header_values(&ok, "Record-Route").len(), 2);
    assert_eq!(message::to_tag(&ok).as_deref(), Some("ivrtag"));
    assert_eq!(message::from_tag(&ok).as_deref(), Some("a1"));
    assert_eq!(message::cseq(&ok), Some((10, rsip::Method::Invite)));
    assert_eq!(message::header_value(&ok, "Content-Length"), Some("0"));
    assert_eq!(message::header_value(&ok, "Contact"), None);
    let trying = message::response(&r, 100, "Trying", None);
    assert_eq!(message::to_tag(&trying), None);
    assert!(message::header_value(&trying, "Record-Route").is_none());
    let custom = message::response(&r, 480, "Specialists busy", Some("x"));
    assert!(message::response_to_bytes(&custom).starts_with(b"SIP/2.0 480 Specialists busy\r\n"));
    // An existing To tag is kept.
    let in_dialog = req(&INVITE.replace(
        "To: <sip:ivr@example.com>",
        "To: <sip:ivr@example.com>;tag=old",
    ));
    let again = message::response(&in_dialog, 200, "", Some("new"));
    assert_eq!(message::to_tag(&again).as_deref(), Some("old"));
}

#[test]
fn set_body_and_binary_bodies_round_trip() {
    let mut r = req(INVITE);
    let body: Vec<u8> = (0..=255u8).collect();
    message::set_body(&mut r, Some("application/octet-stream"), body.clone());
    assert_eq!(message::header_value(&r, "Content-Length"), Some("256"));
    assert_eq!(
        message::header_value(&r, "c"),
        Some("application/octet-stream")
    );
    let wire = message::request_to_bytes(&r);
    let SipMessage::Request(back) = message::parse(&wire).unwrap() else {
        panic!()
    };
    assert_eq!(back.body, body);
    let mut msg = SipMessage::Request(back);
    message::set_body(&mut msg, None, vec![]);
    assert_eq!(message::header_value(&msg, "Content-Type"), None);
    assert_eq!(message::header_value(&msg, "Content-Length"), Some("0"));
    // to_bytes always writes exactly one, correct Content-Length.
    msg.body_mut().extend_from_slice(b"abc");
    let wire = message::to_bytes(&msg);
    let text = String::from_utf8_lossy(&wire);
    assert_eq!(text.matches("Content-Length").count(), 1);
    assert!(text.contains("Content-Length: 3\r\n"));
}

#[test]
fn uris_are_parsed_and_printed_correctly() {
    let u = message::parse_uri("sip:j.user@example.com:5070;transport=tcp;lr").unwrap();
    assert_eq!(u.user(), Some("j.user"));
    assert_eq!(u.host().to_string(), "example.com");
    assert_eq!(u.port().map(|p| *p.value()), Some(5070));
    assert_eq!(
        message::uri_to_string(&u),
        "sip:j.user@example.com:5070;transport=TCP;lr"
    );
    let v6 = message::parse_uri("sip:bob@[2001:db8::1]:5060").unwrap();
    assert_eq!(message::uri_to_string(&v6), "sip:bob@[2001:db8::1]:5060");
    let tel = message::parse_uri("tel:+77001234567").unwrap();
    assert_eq!(message::uri_to_string(&tel), "tel:+77001234567");
    assert!(message::parse_uri("no scheme").is_err());
    assert!(message::parse_uri("sip:").is_err());
    let na = NameAddr::parse("\"A, B\" <sip:a@b;lr>;tag=x;expires=60").unwrap();
    assert_eq!(na.param("tag"), Some("x"));
    assert_eq!(na.to_string(), "\"A, B\" <sip:a@b;lr>;tag=x;expires=60");
    assert!(NameAddr::parse("sip:a@b?x=y").is_err());
}

#[test]
fn identifiers() {
    let b = message::new_branch();
    assert!(b.starts_with("z9hG4bK") && b.len() > 10);
    assert_ne!(message::new_tag(), message::new_tag());
    let c = message::new_call_id("senim.example");
    assert!(c.ends_with("@senim.example"));
}

#[test]
fn content_type_and_accept() {
    let with = |extra: &str| {
        req(&format!(
            "INVITE sip:a@example.com SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:b@example.com>;tag=1\r\nTo: <sip:a@example.com>\r\nCall-ID: ct\r\nCSeq: 1 INVITE\r\n{extra}Content-Length: 0\r\n\r\n"
        ))
    };
    assert_eq!(message::content_type(&with("")), None);
    assert_eq!(
        message::content_type(&with("c: Application/SDP ; charset=x\r\n")).as_deref(),
        Some("application/sdp")
    );
    let sdp = "application/sdp";
    assert!(message::accepts(&with(""), sdp), "no Accept: SDP assumed");
    assert!(message::accepts(&with("Accept: application/sdp\r\n"), sdp));
    assert!(message::accepts(
        &with("Accept: text/plain\r\nAccept: application/*;q=0.5\r\n"),
        sdp
    ));
    assert!(message::accepts(&with("Accept: */*\r\n"), sdp));
    assert!(
        message::accepts(&with("Accept: \r\n"), sdp),
        "empty: lenient"
    );
    // RFC 4475 §3.3.15 (sdp01).
    assert!(!message::accepts(
        &with("Accept: text/nobodyKnowsThis\r\n"),
        sdp
    ));
    assert!(!message::accepts(
        &with("Accept: application/sdp;q=0, text/plain\r\n"),
        sdp
    ));
    assert!(!message::accepts(
        &with("Accept: application/sdpx\r\n"),
        sdp
    ));
}

/// On a stream, RFC 4475's mcl01 (two Content-Lengths) and ncl (a negative
/// one), and inv2543 (none: it is a datagram), cannot be cut into frames; the
/// connection is closed, after a 400 built from the head.
#[test]
fn unframeable_requests_are_answered_before_the_close() {
    let read = |kind: &str, name: &str| {
        std::fs::read(format!(
            "{}/tests/torture/{kind}/{name}.sip",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap()
    };
    for (kind, name) in [
        ("invalid", "mcl01"),
        ("invalid", "ncl"),
        ("valid", "inv2543"),
    ] {
        let data = read(kind, name);
        let err = message::frame_len(&data).unwrap_err();
        assert_eq!(err.status_code(), 400, "{name}");
        let reply = message::error_response_for_raw(&data, err.status_code(), &err.to_string())
            .unwrap_or_else(|| panic!("{name}: an answer"));
        let SipMessage::Response(r) = message::parse(&reply).unwrap() else {
            panic!("{name}: a response")
        };
        assert_eq!(r.status_code.code(), 400, "{name}");
        assert!(message::to_tag(&r).is_some(), "{name}");
    }
    assert_eq!(FramingError::HeadTooLong(1).status_code(), 513);
    assert_eq!(FramingError::BodyTooLarge(1).status_code(), 413);
}
