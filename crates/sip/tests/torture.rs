//! RFC 4475 torture messages (tests/torture/{valid,invalid,either}/*.sip, CRLF line ends).
//! valid: must parse (or, for well-formed requests with a method rsip cannot represent, be
//! answered 501); invalid: must be rejected (400/505 for requests when one can be built);
//! either: must not panic. Every message also goes through the transaction layer.

#![allow(clippy::disallowed_methods)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Instant;

use senim_sip::message::{self, ParseError, Peer};
use senim_sip::rsip::{self, SipMessage};
use senim_sip::transaction::{Event, TimerConfig, TransactionLayer};

fn files(kind: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/torture")
        .join(kind);
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p: &PathBuf| p.extension().is_some_and(|e| e == "sip"))
        .map(|p| {
            (
                p.file_stem().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

fn peer() -> Peer {
    Peer::udp("192.0.2.200:5070".parse::<SocketAddr>().unwrap())
}

fn run_layer(data: &[u8]) -> (Vec<Event>, Vec<bytes::Bytes>) {
    let now = Instant::now();
    let mut layer = TransactionLayer::new(TimerConfig::default());
    layer.handle_bytes(now, data, peer());
    let mut events = vec![];
    while let Some(e) = layer.poll_event() {
        events.push(e);
    }
    let mut tx = vec![];
    while let Some(t) = layer.poll_transmit() {
        tx.push(t.data);
    }
    (events, tx)
}

const UNKNOWN_METHOD: &[&str] = &["intmeth", "esc02"];

#[test]
fn valid_messages_parse() {
    let all = files("valid");
    assert!(all.len() >= 20, "{} valid vectors", all.len());
    for (name, data) in all {
        match message::parse(&data) {
            Ok(msg) => {
                // Printing and re-parsing must work too.
                let again = message::parse(&message::to_bytes(&msg))
                    .unwrap_or_else(|e| panic!("{name}: reparse failed: {e}"));
                assert_eq!(message::call_id(&again), message::call_id(&msg), "{name}");
                assert_eq!(again.body(), msg.body(), "{name}");
            }
            Err(ParseError::UnknownMethod(_)) if UNKNOWN_METHOD.contains(&name.as_str()) => {}
            Err(e) => panic!("{name}: {e}"),
        }
        let (events, transmits) = run_layer(&data);
        if UNKNOWN_METHOD.contains(&name.as_str()) {
            assert!(
                transmits
                    .iter()
                    .any(|t| t.starts_with(b"SIP/2.0 501 Not Implemented\r\n")),
                "{name}: expected a 501"
            );
        } else if data.starts_with(b"SIP/2.0") {
            assert!(
                matches!(events.as_slice(), [Event::StrayResponse { .. }]),
                "{name}"
            );
        } else {
            assert!(
                matches!(events.as_slice(), [Event::Request { .. }]),
                "{name}: {events:?}"
            );
        }
    }
}

#[test]
fn invalid_messages_are_rejected() {
    let all = files("invalid");
    assert!(all.len() >= 15, "{} invalid vectors", all.len());
    for (name, data) in all {
        let err = match message::parse(&data) {
            Ok(m) => panic!("{name}: accepted {m}"),
            Err(e) => e,
        };
        assert_ne!(err, ParseError::Empty, "{name}");
        let (events, transmits) = run_layer(&data);
        assert!(
            matches!(events.as_slice(), [Event::Malformed { .. }]),
            "{name}: {events:?}"
        );
        let is_request = !data.starts_with(b"SIP/");
        // insuf lacks From/To/Call-ID: nothing to echo, so it is dropped.
        if is_request && name != "insuf" {
            let reply = transmits
                .first()
                .unwrap_or_else(|| panic!("{name}: no error response"));
            let code = err.status_code();
            assert!(
                reply.starts_with(format!("SIP/2.0 {code} ").as_bytes()),
                "{name}: {}",
                String::from_utf8_lossy(reply)
            );
            // The error response echoes what it could find; it parses unless the echoed
            // Via itself is the broken part.
            if !matches!(err, ParseError::BadHeader { .. } | ParseError::Duplicate(_)) {
                let parsed = message::parse(reply).unwrap();
                assert!(matches!(parsed, SipMessage::Response(_)), "{name}");
            }
        } else {
            assert!(transmits.is_empty(), "{name}");
        }
    }
}

#[test]
fn dubious_messages_do_not_panic() {
    for (name, data) in files("either") {
        let _ = message::parse(&data);
        let (events, _) = run_layer(&data);
        assert_eq!(events.len(), 1, "{name}");
    }
}

#[test]
fn expected_errors() {
    let get = |kind: &str, name: &str| {
        let p = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/torture")
            .join(kind)
            .join(format!("{name}.sip"));
        message::parse(&std::fs::read(p).unwrap())
    };
    assert!(matches!(
        get("invalid", "clerr"),
        Err(ParseError::BodyTooShort { declared: 9999, .. })
    ));
    assert!(matches!(
        get("invalid", "ncl"),
        Err(ParseError::ContentLength(_))
    ));
    assert!(matches!(
        get("invalid", "mcl01"),
        Err(ParseError::ContentLength(_))
    ));
    assert!(matches!(
        get("invalid", "badvers"),
        Err(ParseError::Version(_))
    ));
    assert!(matches!(
        get("invalid", "mismatch01"),
        Err(ParseError::CSeqMismatch { .. })
    ));
    assert!(matches!(
        get("invalid", "mismatch02"),
        Err(ParseError::CSeqMismatch { .. })
    ));
    assert!(matches!(
        get("invalid", "multi01"),
        Err(ParseError::Duplicate(_))
    ));
    assert!(matches!(
        get("invalid", "insuf"),
        Err(ParseError::Missing(_))
    ));
    assert!(matches!(
        get("invalid", "escruri"),
        Err(ParseError::RequestUri(_))
    ));
    assert!(matches!(
        get("invalid", "quotbal"),
        Err(ParseError::BadHeader { name: "To", .. })
    ));
    assert!(matches!(
        get("valid", "intmeth"),
        Err(ParseError::UnknownMethod(_))
    ));
}

#[test]
fn wsinv_details() {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/torture/valid/wsinv.sip");
    let msg = message::parse(&std::fs::read(p).unwrap()).unwrap();
    let SipMessage::Request(req) = &msg else {
        panic!("not a request")
    };
    assert_eq!(req.method, rsip::Method::Invite);
    assert_eq!(message::cseq(req), Some((9, rsip::Method::Invite)));
    assert_eq!(message::to_tag(req).as_deref(), Some("1918181833n"));
    assert_eq!(message::from_tag(req).as_deref(), Some("98asjd8"));
    assert_eq!(
        message::call_id(req).as_deref(),
        Some("wsinv.ndaksdj@192.0.2.1")
    );
    let vias = message::header_values(req, "Via");
    assert_eq!(vias.len(), 3);
    assert_eq!(vias[0], "SIP/2.0/UDP 192.0.2.2;branch=390skdjuw");
    assert_eq!(
        vias[1],
        "SIP/2.0/TCP spindle.example.com;branch=z9hG4bK9ikj8"
    );
    assert_eq!(vias[2], "SIP/2.0/UDP 192.168.255.111;branch=z9hG4bK30239");
    assert_eq!(message::header_value(req, "Max-Forwards"), Some("68"));
    assert_eq!(message::header_value(req, "Subject"), Some(""));
    assert_eq!(
        message::header_value(req, "newfangledheader"),
        Some("newfangled value continued newfangled value")
    );
    let contact = message::NameAddr::parse(message::header_value(req, "m").unwrap()).unwrap();
    assert_eq!(contact.uri, "sip:jdrosen@example.com");
    assert_eq!(contact.param("newparam"), Some("newvalue"));
    assert_eq!(contact.param("q"), Some("0.33"));
    assert_eq!(req.body.len(), 150);
    assert_eq!(
        req.uri.host_with_port.host.to_string(),
        "chair-dnrc.example.com"
    );
}
