//! REFER transfer tests: header grammars, the transferor state machine, timers, and seeded
//! never-panic runs of the parsers.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use senim_sip::dialog::Dialog;
use senim_sip::message::{self, Transport};
use senim_sip::refer::{
    self, NotifyAnswer, ReferConfig, ReferError, ReferFailure, ReferState, ReferTransfer, SubState,
};
use senim_sip::rsip::{self, SipMessage};

/// The test's fixed origin of time (the core itself never reads the clock).
#[allow(clippy::disallowed_methods)]
fn t0() -> Instant {
    Instant::now()
}

fn parse_req(text: &str) -> rsip::Request {
    match message::parse(text.as_bytes()).unwrap() {
        SipMessage::Request(r) => r,
        _ => panic!("not a request"),
    }
}

const INVITE: &str = "INVITE sip:ivr@192.0.2.1 SIP/2.0\r\n\
Via: SIP/2.0/UDP 203.0.113.5:5060;branch=z9hG4bKtr1\r\n\
Record-Route: <sip:edge.trunk.example;lr>\r\n\
Max-Forwards: 69\r\n\
From: <sip:+77011234567@trunk.example>;tag=a1\r\n\
To: <sip:150@192.0.2.1>\r\n\
Call-ID: call-1@trunk.example\r\n\
CSeq: 10 INVITE\r\n\
Contact: <sip:gw@203.0.113.5:5060>\r\n\
Content-Length: 0\r\n\r\n";

fn dialog() -> Dialog {
    let invite = parse_req(INVITE);
    Dialog::new_uas(
        &invite,
        "ivr1",
        message::parse_uri("sip:ivr@192.0.2.1:5060").unwrap(),
    )
    .unwrap()
}

fn sent_by() -> SocketAddr {
    "192.0.2.1:5060".parse().unwrap()
}

fn partner() -> rsip::Uri {
    message::parse_uri("sip:+77232771922@trunk.example").unwrap()
}

fn start(config: ReferConfig) -> (ReferTransfer, rsip::Request, Instant) {
    let mut d = dialog();
    let now = t0();
    let by = message::parse_uri("sip:ivr@192.0.2.1").unwrap();
    let (t, req) = ReferTransfer::with_config(
        &mut d,
        &partner(),
        Some(&by),
        sent_by(),
        Transport::Udp,
        now,
        config,
    );
    (t, req, now)
}

fn respond(refer: &rsip::Request, code: u16, extra: &[(&str, &str)]) -> rsip::Response {
    let mut resp = message::response(refer, code, message::reason_phrase(code), None);
    for (n, v) in extra {
        resp.headers.push(message::make_header(n, v));
    }
    resp
}

fn notify_with(
    cseq: u32,
    event: &str,
    state: &str,
    ctype: Option<&str>,
    body: &str,
) -> rsip::Request {
    let mut text = format!(
        "NOTIFY sip:ivr@192.0.2.1:5060 SIP/2.0\r\n\
Via: SIP/2.0/UDP 203.0.113.5:5060;branch=z9hG4bKn{cseq}\r\n\
Max-Forwards: 70\r\n\
From: <sip:+77011234567@trunk.example>;tag=a1\r\n\
To: <sip:150@192.0.2.1>;tag=ivr1\r\n\
Call-ID: call-1@trunk.example\r\n\
CSeq: {cseq} NOTIFY\r\n\
Contact: <sip:gw@203.0.113.5:5060>\r\n\
Event: {event}\r\n\
Subscription-State: {state}\r\n"
    );
    if let Some(ct) = ctype {
        text.push_str(&format!("Content-Type: {ct}\r\n"));
    }
    text.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    parse_req(&text)
}

fn notify(cseq: u32, state: &str, body: &str) -> rsip::Request {
    notify_with(
        cseq,
        "refer",
        state,
        Some("message/sipfrag;version=2.0"),
        body,
    )
}

fn ok(a: NotifyAnswer) {
    assert_eq!(a.code, 200, "{a:?}");
}

// ---------------------------------------------------------------------------------------------
// The REFER
// ---------------------------------------------------------------------------------------------

#[test]
fn refer_request_is_built_from_the_dialog() {
    let mut d = dialog();
    let before = d.local_cseq;
    let now = t0();
    let by = message::parse_uri("sip:ivr@192.0.2.1").unwrap();
    let (t, req) = ReferTransfer::new(
        &mut d,
        &partner(),
        Some(&by),
        sent_by(),
        Transport::Udp,
        now,
    );
    assert_eq!(req.method, rsip::Method::Refer);
    assert_eq!(d.local_cseq, before + 1);
    assert_eq!(t.cseq(), before + 1);
    assert_eq!(message::cseq(&req), Some((before + 1, rsip::Method::Refer)));
    // Loose route: Request-URI = remote target, Route = the Record-Route.
    assert_eq!(message::uri_to_string(&req.uri), "sip:gw@203.0.113.5:5060");
    assert_eq!(
        message::header_values(&req, "Route"),
        vec!["<sip:edge.trunk.example;lr>"]
    );
    assert_eq!(
        message::header_value(&req, "Refer-To"),
        Some("<sip:+77232771922@trunk.example>")
    );
    assert_eq!(
        message::header_value(&req, "Referred-By"),
        Some("<sip:ivr@192.0.2.1>")
    );
    assert!(message::header_value(&req, "Contact").is_some());
    assert!(message::header_value(&req, "Refer-Sub").is_none());
    assert_eq!(message::to_tag(&req).as_deref(), Some("a1"));
    assert_eq!(message::from_tag(&req).as_deref(), Some("ivr1"));
    assert_eq!(t.state(), ReferState::Sent);
    assert!(!t.is_done());
    assert_eq!(t.poll_timeout(), Some(now + Duration::from_secs(32)));

    // It prints and re-parses, and Refer-To survives.
    let bytes = message::request_to_bytes(&req);
    let again = match message::parse(&bytes).unwrap() {
        SipMessage::Request(r) => r,
        _ => panic!(),
    };
    let value = message::header_value(&again, "Refer-To").unwrap();
    assert_eq!(refer::parse_refer_to(value).unwrap(), partner());

    // A second REFER in the same dialog uses the next CSeq.
    let (t2, _) = ReferTransfer::new(&mut d, &partner(), None, sent_by(), Transport::Udp, now);
    assert_eq!(t2.cseq(), before + 2);
}

#[test]
fn no_referred_by_when_not_given_and_refer_sub_when_asked() {
    let mut d = dialog();
    let now = t0();
    let (_, req) = ReferTransfer::with_config(
        &mut d,
        &partner(),
        None,
        sent_by(),
        Transport::Tcp,
        now,
        ReferConfig {
            no_subscription: true,
            ..ReferConfig::default()
        },
    );
    assert!(message::header_value(&req, "Referred-By").is_none());
    assert_eq!(message::header_value(&req, "Refer-Sub"), Some("false"));
    assert_eq!(message::header_value(&req, "Supported"), Some("norefersub"));
    assert!(message::header_value(&req, "Via")
        .unwrap()
        .contains("SIP/2.0/TCP"));
}

// ---------------------------------------------------------------------------------------------
// Flows
// ---------------------------------------------------------------------------------------------

#[test]
fn accepted_trying_ok_succeeds() {
    let (mut t, refer, now) = start(ReferConfig::default());
    assert!(t.on_response(&respond(&refer, 100, &[]), now));
    assert_eq!(t.state(), ReferState::Sent);
    assert!(t.on_response(&respond(&refer, 202, &[]), now));
    assert_eq!(t.state(), ReferState::Accepted);
    // Response timer gone; max_wait remains.
    assert_eq!(t.poll_timeout(), Some(now + Duration::from_secs(60)));

    let a = t.on_notify(
        &notify(11, "active;expires=60", "SIP/2.0 100 Trying\r\n"),
        now,
    );
    ok(a);
    assert!(a.changed);
    assert_eq!(t.state(), ReferState::Progress(100));
    ok(t.on_notify(
        &notify(12, "active;expires=60", "SIP/2.0 180 Ringing\r\n"),
        now,
    ));
    assert_eq!(t.state(), ReferState::Progress(180));
    let a = t.on_notify(
        &notify(13, "terminated;reason=noresource", "SIP/2.0 200 OK\r\n"),
        now,
    );
    ok(a);
    assert!(a.changed);
    assert_eq!(t.state(), ReferState::Succeeded);
    assert!(t.is_done());
    assert!(t.is_confirmed());
    assert_eq!(t.poll_timeout(), None);
    // A late NOTIFY is answered 200 and changes nothing.
    let a = t.on_notify(
        &notify(14, "terminated", "SIP/2.0 503 Service Unavailable"),
        now,
    );
    ok(a);
    assert!(!a.changed);
    assert_eq!(t.state(), ReferState::Succeeded);
}

#[test]
fn accepted_200_also_counts() {
    let (mut t, refer, now) = start(ReferConfig::default());
    t.on_response(&respond(&refer, 200, &[]), now);
    assert_eq!(t.state(), ReferState::Accepted);
}

#[test]
fn busy_target_fails() {
    let (mut t, refer, now) = start(ReferConfig::default());
    t.on_response(&respond(&refer, 202, &[]), now);
    ok(t.on_notify(&notify(11, "active", "SIP/2.0 100 Trying"), now));
    ok(t.on_notify(
        &notify(
            12,
            "terminated;reason=noresource",
            "SIP/2.0 486 Busy Here\r\n",
        ),
        now,
    ));
    assert_eq!(
        t.state(),
        ReferState::Failed(ReferFailure::TargetFailed(486))
    );
    assert!(t.is_done());
    assert!(!t.is_confirmed());
}

#[test]
fn refused_refer() {
    for code in [405u16, 501, 603, 403, 481, 491] {
        let (mut t, refer, now) = start(ReferConfig::default());
        assert!(t.on_response(&respond(&refer, code, &[]), now));
        assert_eq!(t.state(), ReferState::Failed(ReferFailure::Refused(code)));
        assert!(t.is_done());
        assert_eq!(t.poll_timeout(), None);
        // No subscription exists: a NOTIFY is 481.
        let a = t.on_notify(&notify(11, "active", "SIP/2.0 200 OK"), now);
        assert_eq!(a.code, 481);
        assert!(!a.changed);
    }
}

#[test]
fn response_for_another_request_is_ignored() {
    let (mut t, refer, now) = start(ReferConfig::default());
    let mut other = respond(&refer, 486, &[]);
    message::remove_headers(&mut other, "CSeq");
    other.headers.push(message::make_header("CSeq", "99 REFER"));
    assert!(!t.on_response(&other, now));
    let mut bye = respond(&refer, 486, &[]);
    message::remove_headers(&mut bye, "CSeq");
    bye.headers
        .push(message::make_header("CSeq", &format!("{} BYE", t.cseq())));
    assert!(!t.on_response(&bye, now));
    assert_eq!(t.state(), ReferState::Sent);
}

#[test]
fn notify_before_202_counts_as_acceptance() {
    let (mut t, refer, now) = start(ReferConfig::default());
    ok(t.on_notify(&notify(11, "active", "SIP/2.0 100 Trying"), now));
    assert_eq!(t.state(), ReferState::Progress(100));
    // The late 202 does not move it back.
    t.on_response(&respond(&refer, 202, &[]), now);
    assert_eq!(t.state(), ReferState::Progress(100));
    // Initial NOTIFY without body: accepted, no change.
    let (mut t, _, now) = start(ReferConfig::default());
    let n = notify_with(11, "refer", "pending", None, "");
    let a = t.on_notify(&n, now);
    ok(a);
    assert_eq!(t.state(), ReferState::Accepted);
}

#[test]
fn terminated_without_final_is_no_result() {
    let (mut t, refer, now) = start(ReferConfig::default());
    t.on_response(&respond(&refer, 202, &[]), now);
    ok(t.on_notify(
        &notify(11, "terminated;reason=timeout", "SIP/2.0 180 Ringing"),
        now,
    ));
    assert_eq!(t.state(), ReferState::Failed(ReferFailure::NoResult));

    let (mut t, refer, now) = start(ReferConfig::default());
    t.on_response(&respond(&refer, 202, &[]), now);
    let n = notify_with(11, "refer", "terminated;reason=rejected", None, "");
    ok(t.on_notify(&n, now));
    assert_eq!(t.state(), ReferState::Failed(ReferFailure::NoResult));
}

#[test]
fn wrong_event_is_489_without_change() {
    let (mut t, refer, now) = start(ReferConfig::default());
    t.on_response(&respond(&refer, 202, &[]), now);
    let n = notify_with(
        11,
        "dialog",
        "active",
        Some("message/sipfrag"),
        "SIP/2.0 200 OK",
    );
    let a = t.on_notify(&n, now);
    assert_eq!((a.code, a.changed), (489, false));
    assert_eq!(t.state(), ReferState::Accepted);
    // The response built from the answer.
    let resp = a.response(&n);
    assert_eq!(resp.status_code.code(), 489);
    assert_eq!(message::cseq(&resp), Some((11, rsip::Method::Notify)));

    // Event id of another REFER: 481.
    let n = notify_with(
        12,
        "refer;id=999",
        "active",
        Some("message/sipfrag"),
        "SIP/2.0 200 OK",
    );
    assert_eq!(t.on_notify(&n, now).code, 481);
    // Our id (with spaces and case): accepted.
    let id = format!("REFER ; id={}", t.cseq());
    let n = notify_with(
        13,
        &id,
        "active",
        Some("message/sipfrag"),
        "SIP/2.0 180 Ringing",
    );
    ok(t.on_notify(&n, now));
    assert_eq!(t.state(), ReferState::Progress(180));
    // Compact Event name `o`.
    let text = message::request_to_bytes(&notify(14, "active", "SIP/2.0 183 Session Progress"));
    let text = String::from_utf8_lossy(&text).replace("Event: refer", "o: refer");
    ok(t.on_notify(&parse_req(&text), now));
    assert_eq!(t.state(), ReferState::Progress(183));
    // Malformed Event: 400.
    let n = notify_with(
        15,
        "refer;;",
        "active",
        Some("message/sipfrag"),
        "SIP/2.0 200 OK",
    );
    assert_eq!(t.on_notify(&n, now).code, 400);
    assert_eq!(t.state(), ReferState::Progress(183));
}

#[test]
fn other_call_id_is_481() {
    let (mut t, refer, now) = start(ReferConfig::default());
    t.on_response(&respond(&refer, 202, &[]), now);
    let text = message::request_to_bytes(&notify(11, "active", "SIP/2.0 200 OK"));
    let text = String::from_utf8_lossy(&text).replace("call-1@", "call-2@");
    let a = t.on_notify(&parse_req(&text), now);
    assert_eq!((a.code, a.changed), (481, false));
}

#[test]
fn garbage_sipfrag_is_400_without_change() {
    let (mut t, refer, now) = start(ReferConfig::default());
    t.on_response(&respond(&refer, 202, &[]), now);
    for body in [
        "hello",
        "SIP/2.0 abc OK",
        "INVITE sip:x@y SIP/2.0",
        "SIP/3.0 200 OK",
        "SIP/2.0 999 Nope",
    ] {
        let a = t.on_notify(&notify(11, "active", body), now);
        assert_eq!((a.code, a.changed), (400, false), "{body}");
        assert_eq!(t.state(), ReferState::Accepted);
    }
    // Wrong Content-Type: 415 with Accept.
    let n = notify_with(12, "refer", "active", Some("text/plain"), "SIP/2.0 200 OK");
    let a = t.on_notify(&n, now);
    assert_eq!((a.code, a.changed), (415, false));
    assert_eq!(
        message::header_value(&a.response(&n), "Accept"),
        Some("message/sipfrag")
    );
    // Garbage in a terminating NOTIFY: 400, and the transfer ends without a result.
    let a = t.on_notify(&notify(13, "terminated;reason=noresource", "garbage"), now);
    assert_eq!((a.code, a.changed), (400, true));
    assert_eq!(t.state(), ReferState::Failed(ReferFailure::NoResult));
}

// ---------------------------------------------------------------------------------------------
// Timers
// ---------------------------------------------------------------------------------------------

#[test]
fn no_response_times_out_at_32_s() {
    let (mut t, _, now) = start(ReferConfig::default());
    t.handle_timeout(now + Duration::from_millis(31_999));
    assert_eq!(t.state(), ReferState::Sent);
    t.handle_timeout(now + Duration::from_secs(32));
    assert_eq!(t.state(), ReferState::Failed(ReferFailure::Timeout));
    assert_eq!(t.poll_timeout(), None);
}

#[test]
fn transaction_timeout_fails() {
    let (mut t, _, _) = start(ReferConfig::default());
    t.on_transaction_timeout();
    assert_eq!(t.state(), ReferState::Failed(ReferFailure::Timeout));
}

#[test]
fn no_final_notify_times_out_at_max_wait() {
    let config = ReferConfig {
        max_wait: Duration::from_secs(45),
        ..ReferConfig::default()
    };
    let (mut t, refer, now) = start(config);
    t.on_response(&respond(&refer, 202, &[]), now + Duration::from_secs(1));
    ok(t.on_notify(&notify(11, "active", "SIP/2.0 180 Ringing"), now));
    // The 32 s response timer no longer applies.
    t.handle_timeout(now + Duration::from_secs(40));
    assert_eq!(t.state(), ReferState::Progress(180));
    assert_eq!(t.poll_timeout(), Some(now + Duration::from_secs(45)));
    t.handle_timeout(now + Duration::from_secs(45));
    assert_eq!(t.state(), ReferState::Failed(ReferFailure::Timeout));
    // The trunk's subscription is refused from now on.
    assert_eq!(
        t.on_notify(&notify(12, "terminated", "SIP/2.0 200 OK"), now)
            .code,
        481
    );
    assert_eq!(t.state(), ReferState::Failed(ReferFailure::Timeout));
}

#[test]
fn huge_durations_do_not_panic() {
    let config = ReferConfig {
        response_timeout: Duration::MAX,
        max_wait: Duration::MAX,
        no_subscription: true,
        no_subscription_grace: Duration::MAX,
    };
    let (mut t, refer, now) = start(config);
    assert_eq!(t.poll_timeout(), None);
    t.on_response(&respond(&refer, 202, &[("Refer-Sub", "false")]), now);
    t.handle_timeout(now + Duration::from_secs(1));
    assert!(t.is_done());
}

// ---------------------------------------------------------------------------------------------
// RFC 4488: Refer-Sub: false
// ---------------------------------------------------------------------------------------------

#[test]
fn refer_sub_false_succeeds_after_grace_unconfirmed() {
    let config = ReferConfig {
        no_subscription: true,
        no_subscription_grace: Duration::from_secs(3),
        ..ReferConfig::default()
    };
    let (mut t, refer, now) = start(config);
    t.on_response(&respond(&refer, 200, &[("Refer-Sub", "false")]), now);
    assert_eq!(t.state(), ReferState::Accepted);
    assert!(t.without_subscription());
    assert_eq!(t.poll_timeout(), Some(now + Duration::from_secs(3)));
    // No subscription: a NOTIFY is 481.
    assert_eq!(
        t.on_notify(&notify(11, "active", "SIP/2.0 100 Trying"), now)
            .code,
        481
    );
    t.handle_timeout(now + Duration::from_secs(2));
    assert_eq!(t.state(), ReferState::Accepted);
    t.handle_timeout(now + Duration::from_secs(3));
    assert_eq!(t.state(), ReferState::Succeeded);
    assert!(!t.is_confirmed());
}

#[test]
fn refer_sub_asked_but_subscription_created() {
    let config = ReferConfig {
        no_subscription: true,
        ..ReferConfig::default()
    };
    let (mut t, refer, now) = start(config);
    t.on_response(&respond(&refer, 202, &[]), now);
    assert!(!t.without_subscription());
    t.handle_timeout(now + Duration::from_secs(10));
    assert_eq!(t.state(), ReferState::Accepted);
    ok(t.on_notify(&notify(11, "terminated", "SIP/2.0 200 OK"), now));
    assert_eq!(t.state(), ReferState::Succeeded);
    assert!(t.is_confirmed());
}

#[test]
fn refer_sub_false_not_asked_is_ignored() {
    let (mut t, refer, now) = start(ReferConfig::default());
    t.on_response(&respond(&refer, 202, &[("Refer-Sub", "false")]), now);
    assert!(!t.without_subscription());
    t.handle_timeout(now + Duration::from_secs(30));
    assert_eq!(t.state(), ReferState::Accepted);
}

// ---------------------------------------------------------------------------------------------
// Grammars
// ---------------------------------------------------------------------------------------------

#[test]
fn refer_to_round_trip_and_escaping() {
    let uri = message::parse_uri("sip:112@trunk.example;user=phone").unwrap();
    assert_eq!(refer::refer_to(&uri), "<sip:112@trunk.example;user=phone>");
    assert_eq!(refer::parse_refer_to(&refer::refer_to(&uri)).unwrap(), uri);
    let v6 = message::parse_uri("sip:+77232771922@[2001:db8::1]:5070").unwrap();
    assert_eq!(
        refer::refer_to(&v6),
        "<sip:+77232771922@[2001:db8::1]:5070>"
    );
    assert_eq!(refer::parse_refer_to(&refer::refer_to(&v6)).unwrap(), v6);

    // A user built in code with characters that cannot appear literally.
    let mut odd = partner();
    odd.auth = Some(rsip::Auth {
        user: "a b>c%zz\"é".into(),
        password: None,
    });
    let v = refer::refer_to(&odd);
    assert_eq!(v, "<sip:a%20b%3Ec%25zz%22%C3%A9@trunk.example>");
    assert!(refer::parse_refer_to(&v).is_ok());
    // An existing escape is kept.
    let esc = message::parse_uri("sip:a%20b@trunk.example").unwrap();
    assert_eq!(refer::referred_by(&esc), "<sip:a%20b@trunk.example>");
}

#[test]
fn parse_refer_to_forms() {
    let p = |s| refer::parse_refer_to(s);
    assert_eq!(
        p("sip:112@trunk.example").unwrap().to_string(),
        "sip:112@trunk.example"
    );
    assert_eq!(
        p("  <sip:112@trunk.example> ").unwrap().to_string(),
        "sip:112@trunk.example"
    );
    let u = p("\"Crisis centre\" <sip:+77232771922@trunk.example;user=phone>;foo=bar").unwrap();
    assert_eq!(
        message::uri_to_string(&u),
        "sip:+77232771922@trunk.example;user=phone"
    );
    assert_eq!(
        p("<sip:bob@b.example?Replaces=abc%40x%3Bto-tag%3D1%3Bfrom-tag%3D2>"),
        Err(ReferError::UriHeaders(
            "Replaces=abc%40x%3Bto-tag%3D1%3Bfrom-tag%3D2".into()
        ))
    );
    assert!(matches!(
        p("sip:bob@b.example?Replaces=x"),
        Err(ReferError::BadAddress(_))
    ));
    assert!(matches!(p(""), Err(ReferError::BadAddress(_))));
    assert!(matches!(p("<>"), Err(ReferError::BadAddress(_))));
    assert!(matches!(
        p("<sip:bob@b.example"),
        Err(ReferError::BadAddress(_))
    ));
    assert!(matches!(p("bob"), Err(ReferError::BadAddress(_))));
    assert!(p("<tel:+77232771922>").is_ok());
}

#[test]
fn sipfrag_forms() {
    let f = |b: &[u8]| refer::parse_sipfrag(b);
    assert_eq!(f(b"SIP/2.0 100 Trying\r\n"), Ok(100));
    assert_eq!(f(b"SIP/2.0 200 OK"), Ok(200));
    assert_eq!(
        f(b"\r\n  SIP/2.0 180 Ringing\nContact: <sip:x@y>\n"),
        Ok(180)
    );
    assert_eq!(
        f(b"SIP/2.0 486 Busy Here\r\nWarning: 399 x \"y\"\r\nContent-Length: 0\r\n\r\n"),
        Ok(486)
    );
    assert_eq!(f(b"sip/2.0 603"), Ok(603));
    assert_eq!(f(b"SIP/2.0  503\tService Unavailable"), Ok(503));
    assert_eq!(f(b"SIP/2.0 200 \xff\xfe"), Ok(200));
    for bad in [
        &b""[..],
        b"\r\n\r\n",
        b"SIP/2.0",
        b"SIP/2.0 ",
        b"SIP/2.0 20",
        b"SIP/2.0 2000 OK",
        b"SIP/2.0 099 x",
        b"SIP/2.0 700 x",
        b"SIP/2.0 +20 x",
        b"SIP/2.0200 OK",
        b"HTTP/1.1 200 OK",
        b"INVITE sip:a@b SIP/2.0",
        b"From: <sip:a@b>",
        b"\xff\xfe",
    ] {
        assert!(matches!(f(bad), Err(ReferError::BadSipfrag(_))), "{bad:?}");
    }
}

#[test]
fn subscription_state_forms() {
    let s = refer::parse_subscription_state("active;expires=60");
    assert_eq!((s.state, s.expires), (SubState::Active, Some(60)));
    let s = refer::parse_subscription_state(" Pending ; expires = 30 ");
    assert_eq!((s.state, s.expires), (SubState::Pending, Some(30)));
    let s = refer::parse_subscription_state("terminated;reason=NoResource");
    assert!(s.is_terminated());
    assert_eq!(
        s.state,
        SubState::Terminated {
            reason: Some("noresource".into())
        }
    );
    assert_eq!(
        refer::parse_subscription_state("TERMINATED").state,
        SubState::Terminated { reason: None }
    );
    assert_eq!(
        refer::parse_subscription_state("active;expires=99999999999").expires,
        Some(u32::MAX)
    );
    assert_eq!(
        refer::parse_subscription_state("active;expires=x").expires,
        None
    );
    assert_eq!(
        refer::parse_subscription_state("").state,
        SubState::Other(String::new())
    );
    assert!(!refer::parse_subscription_state("waiting").is_terminated());
}

// ---------------------------------------------------------------------------------------------
// Seeded never-panic runs
// ---------------------------------------------------------------------------------------------

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const ALPHABET: &[u8] = b"SIP/2.0 123456789<>;=?@:\"\\%,\r\n\t abcdefghijklmnopqrstuvwxyzREFERterminatedactive\x00\xff\xc3\xa9";

fn mutate(rng: &mut Rng, base: &[u8]) -> Vec<u8> {
    let mut out = base.to_vec();
    for _ in 0..=rng.below(6) {
        let pick = ALPHABET[rng.below(ALPHABET.len())];
        match rng.below(4) {
            0 if !out.is_empty() => {
                let i = rng.below(out.len());
                out[i] = pick;
            }
            1 => {
                let i = rng.below(out.len() + 1);
                out.insert(i, pick);
            }
            2 if !out.is_empty() => {
                let i = rng.below(out.len());
                out.remove(i);
            }
            _ => {
                let i = rng.below(out.len() + 1);
                out.truncate(i);
            }
        }
    }
    out
}

#[test]
fn parsers_never_panic() {
    let seeds: &[&[u8]] = &[
        b"SIP/2.0 200 OK\r\n",
        b"SIP/2.0 486 Busy Here\r\nWarning: 399 x \"y\"\r\n",
        b"<sip:+77232771922@trunk.example;user=phone>;x=y",
        b"\"Centre\" <sip:112@[2001:db8::1]:5070?Replaces=a%40b>",
        b"terminated;reason=noresource;expires=0",
        b"active;expires=60",
        b"refer;id=11",
    ];
    let mut rng = Rng(0x5E41_4D5E_F00D_0001);
    for _ in 0..20_000 {
        let base = seeds[rng.below(seeds.len())];
        let input = mutate(&mut rng, base);
        let _ = refer::parse_sipfrag(&input);
        let text = String::from_utf8_lossy(&input);
        if let Ok(uri) = refer::parse_refer_to(&text) {
            // Whatever parses prints as a value that parses again.
            let printed = refer::refer_to(&uri);
            assert!(
                refer::parse_refer_to(&printed).is_ok(),
                "{text:?} -> {printed:?}"
            );
        }
        let _ = refer::parse_subscription_state(&text);
    }
}

#[test]
fn state_machine_never_panics_on_mutated_notifies() {
    let mut rng = Rng(0x0BAD_5EED_0000_0042);
    let base =
        message::request_to_bytes(&notify(11, "active;expires=60", "SIP/2.0 180 Ringing\r\n"));
    let mut parsed = 0;
    for _ in 0..5_000 {
        let (mut t, refer, now) = start(ReferConfig::default());
        if rng.below(2) == 0 {
            t.on_response(&respond(&refer, 202, &[]), now);
        }
        for _ in 0..3 {
            let input = mutate(&mut rng, &base);
            if let Ok(SipMessage::Request(req)) = message::parse(&input) {
                parsed += 1;
                let before = t.state();
                let a = t.on_notify(&req, now);
                assert!(matches!(a.code, 200 | 400 | 415 | 481 | 489), "{a:?}");
                assert_eq!(a.changed, t.state() != before);
                let _ = a.response(&req);
            }
        }
        t.handle_timeout(now + Duration::from_secs(rng.below(100) as u64));
        let _ = t.poll_timeout();
    }
    assert!(parsed > 1_000, "only {parsed} mutated NOTIFYs parsed");
}
