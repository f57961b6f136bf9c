//! Digest authentication, client side: RFC vectors, challenge parsing and selection, the
//! re-sent request, and round trips against the crate's own server side.

use std::time::Instant;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use senim_sip::digest::{
    self, authorize, authorize_request, parse_authorization, parse_challenge, select_challenge,
    verify, Algorithm, AuthError, Challenge, ChallengeKind, ClientCredentials, DigestError,
    NonceManager, Qop,
};
use senim_sip::message::{self, Peer};
use senim_sip::registrar::{Registrar, UserAccount};
use senim_sip::rsip::{self, SipMessage};

fn request(text: &str) -> rsip::Request {
    match message::parse(text.as_bytes()).unwrap() {
        SipMessage::Request(r) => r,
        _ => panic!("not a request"),
    }
}

fn challenge_response(req: &rsip::Request, code: u16, headers: &[(&str, &str)]) -> rsip::Response {
    let mut resp = message::response(req, code, "", Some("srvtag"));
    for (n, v) in headers {
        resp.headers.push(message::make_header(n, v));
    }
    resp
}

fn invite() -> rsip::Request {
    request(
        "INVITE sip:+77001234567@trunk.example SIP/2.0\r\n\
         Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKfirst;rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:senim@192.0.2.1>;tag=fromtag1\r\n\
         To: <sip:+77001234567@trunk.example>\r\n\
         Call-ID: out-1@192.0.2.1\r\n\
         CSeq: 10 INVITE\r\n\
         Contact: <sip:senim@192.0.2.1:5060>\r\n\
         Authorization: Digest username=\"senim\", realm=\"other\", nonce=\"x\", uri=\"sip:x\", response=\"00\"\r\n\
         Proxy-Authorization: Digest username=\"senim\", realm=\"old\", nonce=\"y\", uri=\"sip:x\", response=\"00\"\r\n\
         Content-Type: application/sdp\r\n\
         Content-Length: 4\r\n\r\nv=0\n",
    )
}

#[test]
fn rfc2617_vector() {
    // RFC 2617 §3.5.
    let c = parse_challenge(
        r#"Digest
                 realm="testrealm@host.com",
                 qop="auth,auth-int",
                 nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
                 opaque="5ccc069c403ebaf9f0171e9517f40e41""#,
    )
    .unwrap();
    assert_eq!(c.realm, "testrealm@host.com");
    assert_eq!(c.algorithm, Algorithm::Md5, "MD5 when absent");
    assert!(c.qop_auth);
    assert!(!c.stale);
    let creds = authorize(
        &c,
        &ClientCredentials::new("Mufasa", "Circle Of Life"),
        "GET",
        "/dir/index.html",
        "0a4f113b",
        1,
    );
    assert_eq!(creds.response, "6629fae49393a05397450978507c4ef1");
    assert_eq!(creds.nc.as_deref(), Some("00000001"));
    assert_eq!(creds.qop, Some(Qop::Auth));
    let header = creds.to_header_value();
    assert_eq!(
        header,
        "Digest username=\"Mufasa\", realm=\"testrealm@host.com\", \
         nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", uri=\"/dir/index.html\", \
         response=\"6629fae49393a05397450978507c4ef1\", algorithm=MD5, cnonce=\"0a4f113b\", \
         nc=00000001, qop=auth, opaque=\"5ccc069c403ebaf9f0171e9517f40e41\""
    );
    assert_eq!(parse_authorization(&header).unwrap(), creds);
}

#[test]
fn rfc7616_sha256_vector() {
    // RFC 7616 §3.9.1.
    let c = parse_challenge(
        "Digest realm=\"http-auth@example.org\", qop=\"auth, auth-int\", algorithm=SHA-256, \
         nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", \
         opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"",
    )
    .unwrap();
    assert_eq!(c.algorithm, Algorithm::Sha256);
    let creds = authorize(
        &c,
        &ClientCredentials::new("Mufasa", "Circle of Life"),
        "GET",
        "/dir/index.html",
        "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
        1,
    );
    assert_eq!(
        creds.response,
        "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
    );
    assert_eq!(
        creds.opaque.as_deref(),
        Some("FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS")
    );
    // The MD5 answer of the same RFC section.
    let md5 = Challenge {
        algorithm: Algorithm::Md5,
        ..c
    };
    let creds = authorize(
        &md5,
        &ClientCredentials::new("Mufasa", "Circle of Life"),
        "GET",
        "/dir/index.html",
        "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
        1,
    );
    assert_eq!(creds.response, "8ca523f5e9506fed4657c9700eebdbec");
}

#[test]
fn challenge_parsing_is_tolerant_and_strict_where_it_matters() {
    let c = parse_challenge(
        "  DIGEST REALM = \"sip.example\" ,NONCE=\"n\\\"1\",\r\n Algorithm=sha-256-SESS, \
         STALE=TRUE,,  domain=\"sip:sip.example\", QOP=\"auth-int , AUTH\"",
    )
    .unwrap();
    assert_eq!(c.realm, "sip.example");
    assert_eq!(c.nonce, "n\"1");
    assert_eq!(c.algorithm, Algorithm::Sha256Sess);
    assert!(c.stale);
    assert!(c.qop_auth);
    assert_eq!(c.opaque, None);

    // Without qop: the RFC 2069 form, no cnonce/nc in the answer.
    let c = parse_challenge("Digest realm=r, nonce=abc, stale=false").unwrap();
    assert!(!c.qop_auth && !c.stale);
    let creds = authorize(
        &c,
        &ClientCredentials::new("u", "p"),
        "REGISTER",
        "sip:r",
        "cn",
        1,
    );
    assert_eq!((creds.cnonce, creds.nc, creds.qop), (None, None, None));

    assert_eq!(
        parse_challenge("Basic realm=\"x\""),
        Err(DigestError::NotDigest)
    );
    assert_eq!(
        parse_challenge("Digest nonce=\"x\""),
        Err(DigestError::Missing("realm"))
    );
    assert_eq!(
        parse_challenge("Digest realm=\"x\""),
        Err(DigestError::Missing("nonce"))
    );
    assert_eq!(
        parse_challenge("Digest realm=\"x\", nonce=\"y\", qop=\"auth-int\""),
        Err(DigestError::UnsupportedQop("auth-int".into()))
    );
    assert_eq!(
        parse_challenge("Digest realm=\"x\", nonce=\"y\", algorithm=AKAv1-MD5"),
        Err(DigestError::UnsupportedAlgorithm("AKAv1-MD5".into()))
    );
    assert!(matches!(
        parse_challenge("Digest realm=\"x, nonce=\"y\""),
        Err(DigestError::Syntax(_))
    ));
    assert!(matches!(
        parse_challenge("Digest realm=\"x\" nonce=\"y\""),
        Err(DigestError::Syntax(_))
    ));
    assert_eq!(
        parse_challenge("Digest realm=\"x\", realm=\"y\", nonce=z"),
        Err(DigestError::Duplicate("realm".into()))
    );
}

#[test]
fn random_challenges_never_panic() {
    let mut rng = StdRng::seed_from_u64(7);
    let pieces = [
        "Digest",
        " ",
        "realm",
        "nonce",
        "=",
        "\"",
        "\\",
        ",",
        "qop",
        "auth",
        "algorithm",
        "SHA-256",
        "MD5-sess",
        "stale",
        "true",
        "\u{e9}",
        "\r\n",
        "\0",
        ";",
    ];
    for _ in 0..5000 {
        let n = rng.gen_range(0..24);
        let s: String = (0..n)
            .map(|_| pieces[rng.gen_range(0..pieces.len())])
            .collect();
        let _ = parse_challenge(&s);
    }
}

#[test]
fn strongest_usable_challenge_wins() {
    let req = invite();
    let md5 = "Digest realm=\"t\", nonce=\"n1\", algorithm=MD5, qop=\"auth\"";
    let sha = "Digest realm=\"t\", nonce=\"n1\", algorithm=SHA-256, qop=\"auth\"";
    let sha_sess = "Digest realm=\"t\", nonce=\"n1\", algorithm=SHA-256-sess, qop=\"auth\"";
    let unknown = "Digest realm=\"t\", nonce=\"n1\", algorithm=SHA-512-256, qop=\"auth\"";
    let int_only = "Digest realm=\"t\", nonce=\"n1\", qop=\"auth-int\"";

    let r = challenge_response(
        &req,
        401,
        &[
            ("WWW-Authenticate", md5),
            ("WWW-Authenticate", sha_sess),
            ("WWW-Authenticate", sha),
        ],
    );
    let (kind, c) = select_challenge(&r).unwrap();
    assert_eq!(kind, ChallengeKind::Www);
    assert_eq!(
        c.algorithm,
        Algorithm::Sha256,
        "SHA-256 before -sess and MD5"
    );

    let r = challenge_response(
        &req,
        407,
        &[
            ("Proxy-Authenticate", unknown),
            ("Proxy-Authenticate", md5),
            ("WWW-Authenticate", sha),
        ],
    );
    let (kind, c) = select_challenge(&r).unwrap();
    assert_eq!(kind, ChallengeKind::Proxy);
    assert_eq!(
        c.algorithm,
        Algorithm::Md5,
        "unknown skipped, 407 reads Proxy-*"
    );

    let r = challenge_response(
        &req,
        401,
        &[
            ("WWW-Authenticate", int_only),
            ("WWW-Authenticate", unknown),
        ],
    );
    assert_eq!(
        select_challenge(&r).unwrap_err(),
        AuthError::Unusable(DigestError::UnsupportedQop("auth-int".into()))
    );
    let r = challenge_response(&req, 401, &[]);
    assert_eq!(
        select_challenge(&r).unwrap_err(),
        AuthError::NoChallenge("WWW-Authenticate")
    );
    let r = challenge_response(&req, 403, &[("WWW-Authenticate", md5)]);
    assert_eq!(
        select_challenge(&r).unwrap_err(),
        AuthError::NotAChallenge(403)
    );
}

#[test]
fn resent_invite_after_407() {
    let req = invite();
    let r = challenge_response(
        &req,
        407,
        &[(
            "Proxy-Authenticate",
            "Digest realm=\"trunk\", nonce=\"abc\", opaque=\"op\", qop=\"auth\"",
        )],
    );
    let creds = ClientCredentials::new("acct-77", "pw");
    let out = authorize_request(&req, &r, &creds, 11, "c0ffee").unwrap();
    assert_eq!(out.kind, ChallengeKind::Proxy);
    assert!(!out.challenge.stale);
    let new = &out.request;
    assert_eq!(new.method, rsip::Method::Invite);
    assert_eq!(new.uri, req.uri);
    assert_eq!(message::call_id(new), message::call_id(&req));
    assert_eq!(message::from_tag(new).as_deref(), Some("fromtag1"));
    assert_eq!(message::to_tag(new), None);
    assert_eq!(message::cseq(new), Some((11, rsip::Method::Invite)));
    let via = message::top_via(new).unwrap();
    assert_ne!(via.branch(), Some("z9hG4bKfirst"));
    assert!(via.branch().unwrap().starts_with("z9hG4bK"));
    assert_eq!(via.param("rport"), Some(None), "other Via params kept");
    assert_eq!(new.body, b"v=0\n".to_vec(), "body kept");
    assert_eq!(
        message::header_values(new, "Authorization").len(),
        1,
        "the other kind is kept"
    );
    let pa = message::header_values(new, "Proxy-Authorization");
    assert_eq!(pa.len(), 1, "the old Proxy-Authorization is replaced");
    let parsed = parse_authorization(pa[0]).unwrap();
    assert_eq!(parsed.username, "acct-77");
    assert_eq!(parsed.uri, "sip:+77001234567@trunk.example");
    assert_eq!(parsed.opaque.as_deref(), Some("op"));
    assert_eq!(parsed.cnonce.as_deref(), Some("c0ffee"));
    assert!(verify(&parsed, "INVITE", "pw"));
    // The printed request parses back and keeps one CSeq.
    let bytes = message::request_to_bytes(new);
    let back = request(std::str::from_utf8(&bytes).unwrap());
    assert_eq!(message::header_values(&back, "CSeq"), vec!["11 INVITE"]);

    let bare = request(
        "OPTIONS sip:t SIP/2.0\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:t>\r\nCall-ID: c\r\n\
         CSeq: 1 OPTIONS\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\n\r\n",
    );
    let mut no_via = bare.clone();
    message::remove_headers(&mut no_via, "Via");
    let r = challenge_response(
        &bare,
        401,
        &[("WWW-Authenticate", "Digest realm=r, nonce=n")],
    );
    assert_eq!(
        authorize_request(&no_via, &r, &creds, 2, "c").unwrap_err(),
        AuthError::BadRequest("Via")
    );
}

#[test]
fn round_trip_with_the_server_side() {
    let nonces = NonceManager::new([3; 32]);
    for (algorithm, qop_auth) in [
        (Algorithm::Md5, true),
        (Algorithm::Md5, false),
        (Algorithm::Md5Sess, true),
        (Algorithm::Sha256, true),
        (Algorithm::Sha256Sess, false),
    ] {
        let server = Challenge {
            realm: "senim".into(),
            nonce: nonces.issue_with(100, [1; 8]),
            opaque: Some(nonces.opaque()),
            algorithm,
            qop_auth,
            stale: false,
        };
        let parsed = parse_challenge(&server.to_header_value()).unwrap();
        assert_eq!(parsed, server);
        let creds = authorize(
            &parsed,
            &ClientCredentials::new("alice", "s3cret"),
            "REGISTER",
            "sip:senim.example",
            &digest::new_cnonce(&mut StdRng::seed_from_u64(1)),
            3,
        );
        let back = parse_authorization(&creds.to_header_value()).unwrap();
        assert_eq!(back, creds);
        assert!(
            verify(&back, "REGISTER", "s3cret"),
            "{algorithm} {qop_auth}"
        );
        assert!(!verify(&back, "REGISTER", "wrong"));
        assert!(!verify(&back, "INVITE", "s3cret"));
    }
}

#[test]
fn registrar_accepts_the_resent_register() {
    #[allow(clippy::disallowed_methods)] // a test needs one base instant
    let now = Instant::now();
    let mut registrar = Registrar::new(
        "senim".into(),
        vec![UserAccount::with_password("alice", "s3cret", 1)],
        60,
        3600,
        600,
        [9; 32],
    );
    registrar.set_algorithms(vec![Algorithm::Md5, Algorithm::Sha256]);
    let reg = request(
        "REGISTER sip:senim.example SIP/2.0\r\n\
         Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKreg1;rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:alice@senim.example>;tag=a1\r\n\
         To: <sip:alice@senim.example>\r\n\
         Call-ID: reg-1@192.0.2.1\r\n\
         CSeq: 1 REGISTER\r\n\
         Contact: <sip:alice@192.0.2.1:5060>\r\n\
         Content-Length: 0\r\n\r\n",
    );
    let src = Peer::udp("192.0.2.1:5060".parse().unwrap());
    let first = registrar.handle_register(now, &reg, src);
    assert_eq!(first.response.status_code.code(), 401);
    let creds = ClientCredentials::new("alice", "s3cret");
    let out = authorize_request(&reg, &first.response, &creds, 2, "abcdef").unwrap();
    assert_eq!(out.challenge.algorithm, Algorithm::Sha256);
    let second = registrar.handle_register(now, &out.request, src);
    assert_eq!(
        second.response.status_code.code(),
        200,
        "{:?}",
        second.result
    );

    let wrong = ClientCredentials::new("alice", "nope");
    let out = authorize_request(&reg, &first.response, &wrong, 3, "abcdef").unwrap();
    let third = registrar.handle_register(now, &out.request, src);
    assert_eq!(third.response.status_code.code(), 401);
}
