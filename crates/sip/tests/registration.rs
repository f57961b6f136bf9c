//! The registration client with a fake clock, against the crate's own registrar where a real
//! server helps and hand-made responses where a test needs a particular answer.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use senim_sip::digest::{parse_authorization, Algorithm, ClientCredentials};
use senim_sip::message::{self, Peer};
use senim_sip::registrar::{Registrar, UserAccount};
use senim_sip::registration::{
    refresh_after, Registration, RegistrationConfig, RegistrationError, RegistrationEvent,
    RegistrationFailure, RegistrationState,
};
use senim_sip::rsip;

const SENIM: &str = "192.0.2.1:5060";
const PROXY: &str = "198.51.100.7:5060";

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// The fake clock's origin: every instant in these tests is this plus a duration.
#[allow(clippy::disallowed_methods)] // a test needs one base instant
fn base() -> Instant {
    Instant::now()
}

fn config(password: &str) -> RegistrationConfig {
    let mut c = RegistrationConfig::new(
        "sip:senim.example",
        "sip:alice@senim.example",
        "sip:alice@192.0.2.1:5060",
        Peer::udp(PROXY.parse().unwrap()),
        SENIM.parse().unwrap(),
        ClientCredentials::new("alice", password),
    );
    c.user_agent = Some("Senim".into());
    c.seed = 42;
    c
}

fn registrar(algorithms: Vec<Algorithm>) -> Registrar {
    let mut r = Registrar::new(
        "senim".into(),
        vec![UserAccount::with_password("alice", "s3cret", 1)],
        60,
        3600,
        600,
        [5; 32],
    );
    r.set_algorithms(algorithms);
    r
}

fn src() -> Peer {
    Peer::udp(SENIM.parse().unwrap())
}

fn take(reg: &mut Registration) -> rsip::Request {
    let out = reg.poll_request().expect("a request to send");
    assert_eq!(
        out.peer,
        Peer::udp(PROXY.parse().unwrap()),
        "sent to the proxy"
    );
    assert!(reg.poll_request().is_none(), "one request at a time");
    out.request
}

fn events(reg: &mut Registration) -> Vec<RegistrationEvent> {
    std::iter::from_fn(|| reg.poll_event()).collect()
}

fn reply(req: &rsip::Request, code: u16, extra: &[(&str, &str)]) -> rsip::Response {
    let mut resp = message::response(req, code, "", Some("srv"));
    for (n, v) in extra {
        resp.headers.push(message::make_header(n, v));
    }
    resp
}

fn header<'a>(req: &'a rsip::Request, name: &str) -> Vec<&'a str> {
    message::header_values(req, name)
}

/// One full exchange with the registrar: the request without credentials, the 401, the
/// answer, the final response. Returns the final response's code.
fn exchange(reg: &mut Registration, server: &mut Registrar, now: Instant) -> u16 {
    let first = take(reg);
    assert!(
        header(&first, "Authorization").is_empty(),
        "no pre-emptive credentials"
    );
    let challenge = server.handle_register(now, &first, src());
    assert_eq!(challenge.response.status_code.code(), 401);
    reg.handle_response(now, &challenge.response);
    let second = take(reg);
    let outcome = server.handle_register(now, &second, src());
    reg.handle_response(now, &outcome.response);
    outcome.response.status_code.code()
}

#[test]
fn register_with_md5_challenge_and_refresh() {
    let t0 = base();
    let mut server = registrar(vec![Algorithm::Md5]);
    let mut reg = Registration::new(config("s3cret")).unwrap();
    assert_eq!(reg.state(), RegistrationState::Unregistered);
    assert_eq!(reg.poll_timeout(), None);
    reg.register(t0);
    assert_eq!(reg.state(), RegistrationState::Registering);

    let first = take(&mut reg);
    assert_eq!(first.method, rsip::Method::Register);
    assert_eq!(message::uri_to_string(&first.uri), "sip:senim.example");
    let via = message::top_via(&first).unwrap();
    assert_eq!(via.sent_by(), SENIM);
    assert_eq!(via.transport, "UDP");
    assert_eq!(via.param("rport"), Some(None));
    let branch1 = via.branch().unwrap().to_string();
    assert!(branch1.starts_with("z9hG4bK"));
    assert_eq!(header(&first, "Max-Forwards"), vec!["70"]);
    assert_eq!(header(&first, "To"), vec!["<sip:alice@senim.example>"]);
    let from_tag = message::from_tag(&first).unwrap();
    assert_eq!(message::call_id(&first).as_deref(), Some(reg.call_id()));
    assert_eq!(message::cseq(&first), Some((1, rsip::Method::Register)));
    assert_eq!(
        header(&first, "Contact"),
        vec!["<sip:alice@192.0.2.1:5060>;expires=3600"]
    );
    assert_eq!(header(&first, "Expires"), vec!["3600"]);
    assert_eq!(header(&first, "User-Agent"), vec!["Senim"]);
    let wire = message::request_to_bytes(&first);
    assert!(wire.ends_with(b"Content-Length: 0\r\n\r\n"));

    let challenge = server.handle_register(t0, &first, src());
    reg.handle_response(t0, &challenge.response);
    let second = take(&mut reg);
    assert_eq!(message::cseq(&second), Some((2, rsip::Method::Register)));
    assert_eq!(message::call_id(&second), message::call_id(&first));
    assert_eq!(message::from_tag(&second), Some(from_tag.clone()));
    assert_ne!(message::top_via_branch(&second).unwrap(), branch1);
    let auth = parse_authorization(header(&second, "Authorization")[0]).unwrap();
    assert_eq!(auth.algorithm, Algorithm::Md5);
    assert_eq!(auth.uri, "sip:senim.example");
    let mut ok = server.handle_register(t0, &second, src()).response;
    assert_eq!(ok.status_code.code(), 200);
    // As the transaction layer stamps it behind a NAT.
    let mut via = message::top_via(&ok).unwrap();
    via.set_param("received", Some("203.0.113.9".into()));
    via.set_param("rport", Some("40123".into()));
    message::set_top_via(&mut ok, &via);
    reg.handle_response(t0, &ok);

    assert_eq!(reg.state(), RegistrationState::Registered);
    assert_eq!(reg.registered_until(), Some(t0 + secs(3600)));
    assert_eq!(reg.public_address(), "203.0.113.9:40123".parse().ok());
    assert_eq!(
        events(&mut reg),
        vec![RegistrationEvent::Registered {
            until: t0 + secs(3600)
        }]
    );
    let status = reg.status();
    assert_eq!(status.last_status, Some(200));
    assert_eq!(status.next_attempt, Some(t0 + secs(3480)));
    assert!(
        !format!("{status:?}{reg:?}").contains("s3cret"),
        "no password"
    );

    // Refresh 120 s before expiry: same Call-ID and From tag, next CSeq, a new challenge.
    assert_eq!(reg.poll_timeout(), Some(t0 + secs(3480)));
    reg.handle_timeout(t0 + secs(3479));
    assert!(reg.poll_request().is_none());
    let t1 = t0 + secs(3480);
    reg.handle_timeout(t1);
    let refresh = reg.poll_request().unwrap().request;
    assert_eq!(message::cseq(&refresh), Some((3, rsip::Method::Register)));
    assert_eq!(message::call_id(&refresh), message::call_id(&first));
    assert_eq!(message::from_tag(&refresh), Some(from_tag));
    assert_eq!(reg.state(), RegistrationState::Registered, "still bound");
    let challenge = server.handle_register(t1, &refresh, src());
    assert_eq!(challenge.response.status_code.code(), 401);
    reg.handle_response(t1, &challenge.response);
    let answer = take(&mut reg);
    assert_eq!(message::cseq(&answer), Some((4, rsip::Method::Register)));
    let ok = server.handle_register(t1, &answer, src());
    assert_eq!(ok.response.status_code.code(), 200, "{:?}", ok.result);
    reg.handle_response(t1, &ok.response);
    assert_eq!(reg.registered_until(), Some(t1 + secs(3600)));
    assert!(events(&mut reg).is_empty(), "a refresh is not a change");
    assert_eq!(server.bindings("alice").len(), 1);
}

#[test]
fn sha256_challenge_and_unregister() {
    let t0 = base();
    let mut server = registrar(vec![Algorithm::Sha256, Algorithm::Md5]);
    let mut reg = Registration::new(config("s3cret")).unwrap();
    reg.register(t0);
    let first = take(&mut reg);
    let challenge = server.handle_register(t0, &first, src());
    assert_eq!(
        message::header_values(&challenge.response, "WWW-Authenticate").len(),
        2
    );
    reg.handle_response(t0, &challenge.response);
    let second = take(&mut reg);
    let auth = parse_authorization(header(&second, "Authorization")[0]).unwrap();
    assert_eq!(auth.algorithm, Algorithm::Sha256, "the stronger one");
    let ok = server.handle_register(t0, &second, src());
    reg.handle_response(t0, &ok.response);
    assert_eq!(reg.state(), RegistrationState::Registered);
    events(&mut reg);

    let t1 = t0 + secs(10);
    assert!(reg.unregister(t1));
    let bye = reg.poll_request().unwrap().request;
    assert_eq!(header(&bye, "Expires"), vec!["0"]);
    assert_eq!(
        header(&bye, "Contact"),
        vec!["<sip:alice@192.0.2.1:5060>;expires=0"]
    );
    assert_eq!(message::cseq(&bye), Some((3, rsip::Method::Register)));
    let challenge = server.handle_register(t1, &bye, src());
    reg.handle_response(t1, &challenge.response);
    let answer = take(&mut reg);
    let done = server.handle_register(t1, &answer, src());
    assert_eq!(done.response.status_code.code(), 200);
    reg.handle_response(t1, &done.response);
    assert_eq!(reg.state(), RegistrationState::Unregistered);
    assert_eq!(reg.registered_until(), None);
    assert_eq!(reg.poll_timeout(), None, "no refresh after unregister");
    assert_eq!(events(&mut reg), vec![RegistrationEvent::Unregistered]);
    assert!(server.bindings("alice").is_empty());
    assert!(!reg.unregister(t1), "nothing left to remove");
}

#[test]
fn wrong_password_stops_and_backs_off() {
    let t0 = base();
    let mut server = registrar(vec![Algorithm::Md5]);
    let mut reg = Registration::new(config("wrong")).unwrap();
    reg.register(t0);
    let mut now = t0;
    let mut delays = vec![];
    for attempt in 1..=4u32 {
        let code = exchange(&mut reg, &mut server, now);
        assert_eq!(code, 401);
        assert!(reg.poll_request().is_none(), "no third request: never loop");
        assert_eq!(reg.state(), RegistrationState::Failed);
        assert_eq!(
            reg.last_failure(),
            Some(&RegistrationFailure::AuthenticationFailed { code: 401 })
        );
        assert_eq!(reg.status().consecutive_failures, attempt);
        let retry = reg.poll_timeout().unwrap();
        delays.push(retry - now);
        now = retry;
        reg.handle_timeout(now);
        assert_eq!(reg.state(), RegistrationState::Registering);
    }
    for (i, d) in delays.iter().enumerate() {
        let nominal = 5.0 * f64::from(1u32 << i);
        let d = d.as_secs_f64();
        assert!(d >= nominal * 0.8 && d <= nominal * 1.2, "{i}: {d}");
    }
    assert!(matches!(
        events(&mut reg).first(),
        Some(RegistrationEvent::Failed { .. })
    ));
}

#[test]
fn stale_nonce_is_answered_once_more() {
    let t0 = base();
    let mut reg = Registration::new(config("s3cret")).unwrap();
    reg.register(t0);
    let www = |nonce: &str, stale: bool| {
        format!(
            "Digest realm=\"senim\", nonce=\"{nonce}\", algorithm=MD5, qop=\"auth\"{}",
            if stale { ", stale=true" } else { "" }
        )
    };
    let r1 = take(&mut reg);
    reg.handle_response(
        t0,
        &reply(&r1, 401, &[("WWW-Authenticate", &www("n1", false))]),
    );
    let r2 = take(&mut reg);
    assert_eq!(
        parse_authorization(header(&r2, "Authorization")[0])
            .unwrap()
            .nonce,
        "n1"
    );
    reg.handle_response(
        t0,
        &reply(&r2, 401, &[("WWW-Authenticate", &www("n2", true))]),
    );
    let r3 = take(&mut reg);
    let auths = header(&r3, "Authorization");
    assert_eq!(auths.len(), 1, "the old answer is replaced");
    assert_eq!(parse_authorization(auths[0]).unwrap().nonce, "n2");
    assert_eq!(message::cseq(&r3), Some((3, rsip::Method::Register)));
    // A second stale challenge in the same attempt is not answered.
    reg.handle_response(
        t0,
        &reply(&r3, 401, &[("WWW-Authenticate", &www("n3", true))]),
    );
    assert!(reg.poll_request().is_none());
    assert_eq!(reg.state(), RegistrationState::Failed);

    // A 407 after a 401 answer keeps the Authorization and adds Proxy-Authorization.
    let mut reg = Registration::new(config("s3cret")).unwrap();
    reg.register(t0);
    let r1 = take(&mut reg);
    reg.handle_response(
        t0,
        &reply(&r1, 407, &[("Proxy-Authenticate", &www("p1", false))]),
    );
    let r2 = take(&mut reg);
    assert_eq!(header(&r2, "Proxy-Authorization").len(), 1);
    // An unusable challenge fails the attempt.
    reg.handle_response(
        t0,
        &reply(
            &r2,
            401,
            &[(
                "WWW-Authenticate",
                "Digest realm=x, nonce=y, algorithm=AKAv1-MD5",
            )],
        ),
    );
    assert!(matches!(
        reg.last_failure(),
        Some(RegistrationFailure::Challenge(_))
    ));
}

#[test]
fn backoff_grows_with_jitter_and_is_capped() {
    let t0 = base();
    let mut seen_jitter = false;
    for seed in 0..8 {
        let mut c = config("s3cret");
        c.seed = seed;
        let mut reg = Registration::new(c).unwrap();
        reg.register(t0);
        let mut now = t0;
        let mut last_cseq = 0;
        for n in 0..14u32 {
            let req = take(&mut reg);
            let (cseq, _) = message::cseq(&req).unwrap();
            assert!(cseq > last_cseq);
            last_cseq = cseq;
            reg.handle_transaction_timeout(now);
            assert_eq!(reg.last_failure(), Some(&RegistrationFailure::Timeout));
            assert_eq!(reg.state(), RegistrationState::Failed);
            let retry = reg.poll_timeout().unwrap();
            let d = (retry - now).as_secs_f64();
            let nominal = (5.0 * 2f64.powi(n as i32)).min(300.0);
            assert!(
                d >= nominal * 0.8 - 1e-9 && d <= nominal * 1.2 + 1e-9,
                "{n}: {d}"
            );
            if (d - nominal).abs() > 1e-3 {
                seen_jitter = true;
            }
            now = retry;
            reg.handle_timeout(now);
        }
        assert_eq!(last_cseq, 14, "one request per attempt, CSeq counts up");
    }
    assert!(seen_jitter);
}

#[test]
fn interval_too_brief_retries_with_min_expires() {
    let t0 = base();
    let mut reg = Registration::new(config("s3cret")).unwrap();
    reg.register(t0);
    let r1 = take(&mut reg);
    reg.handle_response(t0, &reply(&r1, 423, &[("Min-Expires", "7200")]));
    let r2 = take(&mut reg);
    assert_eq!(header(&r2, "Expires"), vec!["7200"]);
    assert_eq!(message::cseq(&r2), Some((2, rsip::Method::Register)));
    assert_eq!(reg.requested_expires(), 7200);
    reg.handle_response(
        t0,
        &reply(
            &r2,
            200,
            &[("Contact", "<sip:alice@192.0.2.1:5060>;expires=7200")],
        ),
    );
    assert_eq!(reg.registered_until(), Some(t0 + secs(7200)));
    assert_eq!(reg.poll_timeout(), Some(t0 + secs(7080)));
    reg.handle_timeout(t0 + secs(7080));
    let r3 = take(&mut reg);
    assert_eq!(
        header(&r3, "Expires"),
        vec!["7200"],
        "the raised value is kept"
    );

    // A Min-Expires that is not above what was asked fails the attempt.
    reg.handle_response(t0 + secs(7080), &reply(&r3, 423, &[("Min-Expires", "60")]));
    assert_eq!(
        reg.last_failure(),
        Some(&RegistrationFailure::IntervalTooBrief {
            min_expires: Some(60)
        })
    );
    assert!(reg.poll_request().is_none());
    assert_eq!(
        reg.state(),
        RegistrationState::Registered,
        "the old binding holds"
    );
}

#[test]
fn granted_expiry_from_our_contact_or_the_expires_header() {
    let t0 = base();
    let mut reg = Registration::new(config("s3cret")).unwrap();
    reg.register(t0);
    let r1 = take(&mut reg);
    reg.handle_response(
        t0,
        &reply(
            &r1,
            200,
            &[
                ("Contact", "<sip:alice@10.0.0.5:5060>;expires=3000"),
                (
                    "Contact",
                    "<sip:alice@192.0.2.1:5060;transport=udp>;EXPIRES=90",
                ),
                ("Expires", "1800"),
            ],
        ),
    );
    assert_eq!(reg.registered_until(), Some(t0 + secs(90)));
    assert_eq!(
        reg.poll_timeout(),
        Some(t0 + secs(45)),
        "half of a short interval"
    );

    reg.handle_timeout(t0 + secs(45));
    let r2 = take(&mut reg);
    let t1 = t0 + secs(45);
    reg.handle_response(t1, &reply(&r2, 200, &[("Expires", "600")]));
    assert_eq!(reg.registered_until(), Some(t1 + secs(600)));
    assert_eq!(reg.poll_timeout(), Some(t1 + secs(480)));

    // A zero grant is a failure.
    reg.handle_timeout(t1 + secs(480));
    let r3 = take(&mut reg);
    reg.handle_response(t1 + secs(480), &reply(&r3, 200, &[("Expires", "0")]));
    assert_eq!(reg.last_failure(), Some(&RegistrationFailure::NotGranted));

    assert_eq!(refresh_after(3600), secs(3480));
    assert_eq!(refresh_after(300), secs(180));
    assert_eq!(refresh_after(120), secs(60));
    assert_eq!(refresh_after(1), secs(1));
}

#[test]
fn failed_refresh_keeps_the_old_binding_until_it_lapses() {
    let t0 = base();
    let mut reg = Registration::new(config("s3cret")).unwrap();
    reg.register(t0);
    let r1 = take(&mut reg);
    reg.handle_response(t0, &reply(&r1, 200, &[("Expires", "300")]));
    events(&mut reg);
    let mut now = t0 + secs(180);
    reg.handle_timeout(now);
    // Refreshes time out; the binding still holds until t0 + 300.
    while now < t0 + secs(300) {
        let _ = take(&mut reg);
        reg.handle_transaction_timeout(now);
        if now < t0 + secs(300) {
            assert_eq!(reg.state(), RegistrationState::Registered);
            assert_eq!(reg.registered_until(), Some(t0 + secs(300)));
        }
        assert_eq!(
            reg.status().last_failure.as_deref(),
            Some("no response from the registrar")
        );
        now = reg.poll_timeout().unwrap();
        reg.handle_timeout(now);
    }
    assert_eq!(reg.registered_until(), None);
    let evs = events(&mut reg);
    assert!(evs.contains(&RegistrationEvent::Expired), "{evs:?}");
    // The state after the lapse: Failed if no retry is under way, else Registering.
    assert!(matches!(
        reg.state(),
        RegistrationState::Failed | RegistrationState::Registering
    ));
    // A later success binds again.
    while reg.poll_request().is_some() {
        reg.handle_transaction_timeout(now);
    }
    now = reg.poll_timeout().unwrap();
    reg.handle_timeout(now);
    let req = take(&mut reg);
    assert!(
        reg.status().next_attempt.is_none(),
        "a request is under way"
    );
    reg.handle_response(now, &reply(&req, 200, &[("Expires", "300")]));
    assert_eq!(reg.state(), RegistrationState::Registered);
    assert_eq!(reg.registered_until(), Some(now + secs(300)));
}

#[test]
fn timeouts_retry_and_a_lost_report_is_caught_by_the_guard() {
    let t0 = base();
    let mut reg = Registration::new(config("s3cret")).unwrap();
    reg.register(t0);
    let r1 = take(&mut reg);
    // Neither a response nor a transaction timeout: the guard fires after 40 s.
    assert_eq!(reg.poll_timeout(), Some(t0 + secs(40)));
    reg.handle_timeout(t0 + secs(40));
    assert_eq!(reg.state(), RegistrationState::Failed);
    assert_eq!(reg.last_failure(), Some(&RegistrationFailure::Timeout));
    // A late answer to the abandoned request changes nothing.
    reg.handle_response(t0 + secs(41), &reply(&r1, 200, &[]));
    assert_eq!(reg.state(), RegistrationState::Failed);
    let retry = reg.poll_timeout().unwrap();
    reg.handle_timeout(retry);
    let r2 = take(&mut reg);
    assert_eq!(message::cseq(&r2), Some((2, rsip::Method::Register)));
    assert_eq!(message::call_id(&r2), message::call_id(&r1));
    // Provisional responses and responses to other CSeqs are ignored.
    reg.handle_response(retry, &reply(&r2, 100, &[]));
    reg.handle_response(retry, &reply(&r1, 200, &[]));
    assert_eq!(reg.state(), RegistrationState::Registering);
    reg.handle_response(retry, &reply(&r2, 200, &[]));
    assert_eq!(reg.state(), RegistrationState::Registered);
    assert_eq!(reg.registered_until(), Some(retry + secs(3600)), "as asked");
    assert_eq!(reg.status().consecutive_failures, 0);
}

#[test]
fn rejection_honours_retry_after() {
    let t0 = base();
    let mut reg = Registration::new(config("s3cret")).unwrap();
    reg.register(t0);
    let r1 = take(&mut reg);
    let mut resp = reply(&r1, 503, &[("Retry-After", "120 (maintenance)")]);
    resp.status_code = message::status_code(503, "Down For Maintenance");
    reg.handle_response(t0, &resp);
    assert_eq!(
        reg.last_failure(),
        Some(&RegistrationFailure::Rejected {
            code: 503,
            reason: "Down For Maintenance".into()
        })
    );
    assert_eq!(reg.poll_timeout(), Some(t0 + secs(120)));
    assert_eq!(
        reg.status().last_failure.as_deref(),
        Some("rejected: 503 Down For Maintenance")
    );
}

#[test]
fn bad_configuration_is_an_error() {
    let mut c = config("x");
    c.contact = "not a uri".into();
    assert!(matches!(
        Registration::new(c),
        Err(RegistrationError::BadUri {
            field: "contact",
            ..
        })
    ));
    let mut c = config("x");
    c.registrar = "tel:+7700".into();
    assert!(matches!(
        Registration::new(c),
        Err(RegistrationError::BadUri {
            field: "registrar",
            ..
        })
    ));
    let c = config("x");
    let _: SocketAddr = c.via_sent_by;
}
