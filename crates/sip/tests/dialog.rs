//! RFC 3261 §12 dialog tests.

use std::net::SocketAddr;

use senim_sip::dialog::{self, Dialog, DialogError};
use senim_sip::message::{self, Transport};
use senim_sip::rsip::{self, SipMessage};

fn parse_req(text: &str) -> rsip::Request {
    match message::parse(text.as_bytes()).unwrap() {
        SipMessage::Request(r) => r,
        _ => panic!(),
    }
}

fn parse_resp(text: &str) -> rsip::Response {
    match message::parse(text.as_bytes()).unwrap() {
        SipMessage::Response(r) => r,
        _ => panic!(),
    }
}

const INVITE: &str = "INVITE sip:ivr@192.0.2.1 SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bKd1\r\n\
Record-Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr;ftag=a1>\r\n\
Max-Forwards: 69\r\n\
From: \"Caller\" <sip:caller@example.com>;tag=a1\r\n\
To: <sip:help@example.com>\r\n\
Call-ID: dlg-1@example.com\r\n\
CSeq: 10 INVITE\r\n\
Contact: <sip:caller@192.0.2.10:5062;transport=udp>\r\n\
Content-Length: 0\r\n\r\n";

fn local_contact() -> rsip::Uri {
    message::parse_uri("sip:ivr@192.0.2.1:5060").unwrap()
}

fn sent_by() -> SocketAddr {
    "192.0.2.1:5060".parse().unwrap()
}

#[test]
fn uas_dialog_and_bye() {
    let invite = parse_req(INVITE);
    let mut d = Dialog::new_uas(&invite, "ivr1", local_contact()).unwrap();
    assert_eq!(d.id.call_id, "dlg-1@example.com");
    assert_eq!(d.id.local_tag, "ivr1");
    assert_eq!(d.id.remote_tag, "a1");
    assert_eq!(d.remote_cseq, Some(10));
    assert_eq!(d.route_set.len(), 2);
    assert_eq!(
        message::uri_to_string(d.next_hop()),
        "sip:p1.example.com;lr"
    );
    assert_eq!(
        message::uri_to_string(&d.remote_target),
        "sip:caller@192.0.2.10:5062;transport=UDP"
    );

    let bye = d.make_request(rsip::Method::Bye, sent_by(), Transport::Udp);
    assert_eq!(bye.method, rsip::Method::Bye);
    assert_eq!(
        bye.uri, d.remote_target,
        "loose routing: Request-URI = remote target"
    );
    assert_eq!(
        message::header_values(&bye, "Route"),
        vec!["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr;ftag=a1>"]
    );
    assert_eq!(message::from_tag(&bye).as_deref(), Some("ivr1"));
    assert_eq!(message::to_tag(&bye).as_deref(), Some("a1"));
    assert_eq!(
        message::header_value(&bye, "To"),
        Some("\"Caller\" <sip:caller@example.com>;tag=a1")
    );
    assert_eq!(message::cseq(&bye), Some((1, rsip::Method::Bye)));
    assert_eq!(message::header_value(&bye, "Max-Forwards"), Some("70"));
    assert_eq!(
        message::header_value(&bye, "Contact"),
        None,
        "no Contact in BYE"
    );
    let via = message::top_via(&bye).unwrap();
    assert_eq!(via.sent_by(), "192.0.2.1:5060");
    assert_eq!(via.transport, "UDP");
    assert!(via.branch().unwrap().starts_with("z9hG4bK"));
    // It survives the wire.
    let back = parse_req(std::str::from_utf8(&message::request_to_bytes(&bye)).unwrap());
    assert_eq!(back.uri, bye.uri);

    let info = d.make_request(rsip::Method::Info, sent_by(), Transport::Tcp);
    assert_eq!(message::cseq(&info), Some((2, rsip::Method::Info)));
    assert_eq!(
        message::header_value(&info, "Contact"),
        Some("<sip:ivr@192.0.2.1:5060>")
    );
    assert_eq!(message::top_via(&info).unwrap().transport, "TCP");
    assert_ne!(
        message::top_via_branch(&info),
        message::top_via_branch(&bye)
    );
}

#[test]
fn uac_dialog_route_set_is_reversed() {
    let mut ours = parse_req(INVITE);
    // Senim's INVITE: From is ours.
    ours.headers
        .retain(|h| !matches!(h, rsip::Header::RecordRoute(_)));
    let ok = "SIP/2.0 200 OK\r\n\
Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bKd1\r\n\
Record-Route: <sip:p2.example.com;lr>\r\n\
Record-Route: <sip:p1.example.com;lr>\r\n\
From: \"Caller\" <sip:caller@example.com>;tag=a1\r\n\
To: <sip:help@example.com>;tag=b2\r\n\
Call-ID: dlg-1@example.com\r\n\
CSeq: 10 INVITE\r\n\
Contact: <sip:agent@192.0.2.30>\r\n\
Content-Length: 0\r\n\r\n";
    let resp = parse_resp(ok);
    let mut d = Dialog::new_uac(&ours, &resp, local_contact()).unwrap();
    assert_eq!(d.id.local_tag, "a1");
    assert_eq!(d.id.remote_tag, "b2");
    assert_eq!(d.local_cseq, 10);
    assert_eq!(d.remote_cseq, None);
    assert_eq!(
        message::uri_to_string(&d.route_set[0]),
        "sip:p1.example.com;lr"
    );
    assert_eq!(
        message::uri_to_string(&d.remote_target),
        "sip:agent@192.0.2.30"
    );
    assert_eq!(dialog::uac_dialog_id(&resp), Some(d.id.clone()));

    let ack = d.make_ack(10, sent_by(), Transport::Udp);
    assert_eq!(ack.method, rsip::Method::Ack);
    assert_eq!(message::cseq(&ack), Some((10, rsip::Method::Ack)));
    assert_eq!(d.local_cseq, 10, "ACK does not consume a CSeq");
    let reinvite = d.make_request(rsip::Method::Invite, sent_by(), Transport::Udp);
    assert_eq!(message::cseq(&reinvite), Some((11, rsip::Method::Invite)));
    assert_eq!(
        message::header_value(&reinvite, "To"),
        Some("<sip:help@example.com>;tag=b2")
    );
}

#[test]
fn strict_routing() {
    let invite = parse_req(&INVITE.replace(
        "Record-Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr;ftag=a1>",
        "Record-Route: <sip:strict.example.com;transport=tcp>, <sip:p2.example.com;lr>",
    ));
    let mut d = Dialog::new_uas(&invite, "ivr1", local_contact()).unwrap();
    let bye = d.make_request(rsip::Method::Bye, sent_by(), Transport::Udp);
    assert_eq!(message::uri_to_string(&bye.uri), "sip:strict.example.com");
    assert_eq!(
        message::header_values(&bye, "Route"),
        vec![
            "<sip:p2.example.com;lr>",
            "<sip:caller@192.0.2.10:5062;transport=UDP>"
        ]
    );
}

#[test]
fn in_dialog_requests_are_checked() {
    let invite = parse_req(INVITE);
    let mut d = Dialog::new_uas(&invite, "ivr1", local_contact()).unwrap();
    let in_dialog = |method: &str, cseq: u32, to_tag: &str, extra: &str| {
        parse_req(&format!(
            "{method} sip:ivr@192.0.2.1 SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bK{cseq}{method}\r\n\
From: \"Caller\" <sip:caller@example.com>;tag=a1\r\n\
To: <sip:help@example.com>;tag={to_tag}\r\n\
Call-ID: dlg-1@example.com\r\n\
CSeq: {cseq} {method}\r\n{extra}\
Content-Length: 0\r\n\r\n"
        ))
    };
    let info = in_dialog("INFO", 11, "ivr1", "");
    assert_eq!(dialog::uas_dialog_id(&info), Some(d.id.clone()));
    d.on_request(&info).unwrap();
    assert_eq!(d.remote_cseq, Some(11));
    assert_eq!(
        d.on_request(&info),
        Err(DialogError::CSeqOutOfOrder { got: 11, last: 11 })
    );
    assert_eq!(
        d.on_request(&in_dialog("INFO", 12, "other", "")),
        Err(DialogError::NotThisDialog)
    );
    d.on_request(&in_dialog("ACK", 10, "ivr1", "")).unwrap();
    let reinvite = in_dialog(
        "INVITE",
        12,
        "ivr1",
        "Contact: <sip:caller@198.51.100.4:6000>\r\n",
    );
    d.on_request(&reinvite).unwrap();
    assert_eq!(
        message::uri_to_string(&d.remote_target),
        "sip:caller@198.51.100.4:6000"
    );
    let bye = in_dialog(
        "BYE",
        13,
        "ivr1",
        "Contact: <sip:elsewhere@203.0.113.1>\r\n",
    );
    d.on_request(&bye).unwrap();
    assert_eq!(
        message::uri_to_string(&d.remote_target),
        "sip:caller@198.51.100.4:6000",
        "BYE is not a target refresh"
    );
}

#[test]
fn dialog_errors() {
    let mut no_call_id = parse_req(INVITE);
    message::remove_headers(&mut no_call_id, "Call-ID");
    assert_eq!(
        Dialog::new_uas(&no_call_id, "t", local_contact()),
        Err(DialogError::MissingHeader("Call-ID"))
    );
    assert_eq!(
        dialog::uas_dialog_id(&parse_req(INVITE)),
        None,
        "no To tag yet"
    );
}

/// RFC 4475 §3.4.1 (inv2543): an RFC 2543 INVITE without From tag, Contact,
/// branch, Max-Forwards or Content-Length makes a dialog with a null remote
/// tag (RFC 3261 §12.1.1) and the From URI as remote target; the UAC's BYE,
/// again without From tag, belongs to it, and Senim's own BYE carries no tag
/// in To (§12.2.1.1).
#[test]
fn an_rfc2543_invite_without_from_tag_makes_a_dialog() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/torture/valid/inv2543.sip"
    );
    let invite = parse_req(&String::from_utf8_lossy(&std::fs::read(path).unwrap()));
    let mut d = Dialog::new_uas(&invite, "ivr9", local_contact()).expect("a dialog");
    assert_eq!(d.id.remote_tag, "");
    assert_eq!(d.id.local_tag, "ivr9");
    assert_eq!(
        message::uri_to_string(&d.remote_target),
        "sip:+13035551111@ift.client.example.net;user=phone"
    );
    assert_eq!(d.remote_cseq, Some(56));

    let bye = parse_req(
        "BYE sip:UserB@example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP iftgw.example.com\r\n\
From: <sip:+13035551111@ift.client.example.net;user=phone>\r\n\
To: sip:+16505552222@ss1.example.net;user=phone;tag=ivr9\r\n\
Call-ID: inv2543.1717@ift.client.example.com\r\n\
CSeq: 57 BYE\r\n\r\n",
    );
    assert_eq!(dialog::uas_dialog_id(&bye), Some(d.id.clone()));
    d.on_request(&bye).expect("the BYE is in the dialog");
    let tagged = parse_req(
        &message::to_bytes(&SipMessage::Request(bye))
            .iter()
            .map(|b| *b as char)
            .collect::<String>()
            .replace("user=phone>", "user=phone>;tag=other")
            .replace("CSeq: 57", "CSeq: 58"),
    );
    assert_eq!(d.on_request(&tagged), Err(DialogError::NotThisDialog));

    let ours = d.make_request(rsip::Method::Bye, sent_by(), Transport::Udp);
    let to = message::header_value(&ours, "To").unwrap();
    assert!(!to.contains("tag="), "{to}");
    assert!(message::header_value(&ours, "From")
        .unwrap()
        .contains("tag=ivr9"));
}
