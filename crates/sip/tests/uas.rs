//! The RFC 3261 §8.2.2 checks (`senim_sip::uas`) on RFC 4475's messages and a few others.

use std::path::Path;

use senim_sip::message;
use senim_sip::rsip::{self, SipMessage};
use senim_sip::uas::{self, Refusal};

fn torture(kind: &str, name: &str) -> rsip::Request {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/torture")
        .join(kind)
        .join(format!("{name}.sip"));
    match message::parse(&std::fs::read(path).unwrap()).unwrap() {
        SipMessage::Request(r) => r,
        SipMessage::Response(_) => panic!("{name} is a response"),
    }
}

fn options(uri: &str, extra: &str) -> rsip::Request {
    let text = format!(
        "OPTIONS {uri} SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:b@example.com>;tag=1\r\nTo: <sip:a@example.com>\r\nCall-ID: uas\r\nCSeq: 1 OPTIONS\r\n{extra}Content-Length: 0\r\n\r\n"
    );
    match message::parse(text.as_bytes()).unwrap() {
        SipMessage::Request(r) => r,
        SipMessage::Response(_) => panic!(),
    }
}

#[test]
fn unknown_request_uri_schemes_get_416() {
    // RFC 4475 §3.3.2 (unkscm) and §3.3.3 (novelsc).
    for (name, scheme) in [
        ("unkscm", "nobodyknowsthisscheme"),
        ("novelsc", "soap.beep"),
    ] {
        let request = torture("valid", name);
        let refusal = uas::check(&request, &[]).unwrap_err();
        assert_eq!(refusal, Refusal::UnsupportedScheme(scheme.into()), "{name}");
        let response = refusal.response(&request, Some("t1"));
        assert_eq!(response.status_code.code(), 416);
        assert_eq!(message::to_tag(&response).as_deref(), Some("t1"));
        assert_eq!(message::call_id(&response), message::call_id(&request));
    }
    for uri in [
        "sip:a@example.com",
        "SIP:a@example.com",
        "sips:a@example.com",
        "tel:+77232266892",
    ] {
        assert_eq!(uas::check(&options(uri, ""), &[]), Ok(()), "{uri}");
    }
}

#[test]
fn required_extensions_senim_lacks_get_420_with_unsupported() {
    // RFC 4475 §3.3.5 (bext01): Require lists two unknown option tags and
    // Proxy-Require two more; a UAS looks at Require only.
    let request = torture("valid", "bext01");
    let refusal = uas::check(&request, &["timer"]).unwrap_err();
    assert_eq!(
        refusal,
        Refusal::BadExtension(vec![
            "nothingSupportsThis".into(),
            "nothingSupportsThisEither".into()
        ])
    );
    let response = refusal.response(&request, Some("t2"));
    assert_eq!(response.status_code.code(), 420);
    assert_eq!(
        message::header_value(&response, "Unsupported"),
        Some("nothingSupportsThis, nothingSupportsThisEither")
    );
    // Printed and read back, it is a well-formed response.
    let again = message::parse(&message::to_bytes(&SipMessage::Response(response))).unwrap();
    assert!(matches!(again, SipMessage::Response(_)));

    let supported = options("sip:a@example.com", "Require: Timer\r\n");
    assert_eq!(uas::check(&supported, &["timer"]), Ok(()));
    assert_eq!(
        uas::check(&supported, &[]),
        Err(Refusal::BadExtension(vec!["Timer".into()]))
    );
    let proxy_only = options("sip:a@example.com", "Proxy-Require: foo\r\n");
    assert_eq!(uas::check(&proxy_only, &[]), Ok(()));
}

#[test]
fn the_other_valid_requests_pass() {
    for name in [
        "esc01",
        "inv2543",
        "invut",
        "longreq",
        "lwsdisp",
        "sdp01",
        "semiuri",
        "transports",
        "wsinv",
        "zeromf",
    ] {
        assert_eq!(uas::check(&torture("valid", name), &[]), Ok(()), "{name}");
    }
}

#[test]
fn what_peers_require_is_echoed_within_bounds() {
    let long = "x".repeat(500);
    let many: Vec<String> = (0..100).map(|i| format!("ext{i}")).collect();
    let request = options(
        "sip:a@example.com",
        &format!("Require: {long}\r\nRequire: {}\r\n", many.join(",")),
    );
    let Err(Refusal::BadExtension(tags)) = uas::check(&request, &[]) else {
        panic!("refused")
    };
    assert!(tags.len() <= 16);
    assert!(tags.iter().all(|t| t.len() <= 64));
}
