//! RFC 3261 §10 registrar tests with a fake clock.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use senim_sip::digest::{self, Algorithm, Credentials, Qop};
use senim_sip::lockout::LockoutPolicy;
use senim_sip::message::{self, Peer};
use senim_sip::registrar::{
    LockTarget, Lockout, RegisterError, RegisterOutcome, Registrar, RegistrarEvent, UserAccount,
    UserSecret,
};
use senim_sip::rsip::{self, SipMessage};

const REALM: &str = "senim";

/// The fake clock's origin: every instant in these tests is this plus a duration.
#[allow(clippy::disallowed_methods)]
fn base() -> Instant {
    Instant::now()
}

fn registrar() -> Registrar {
    Registrar::new(
        REALM.into(),
        vec![
            UserAccount::with_password("alice", "s3cret", 2),
            UserAccount::with_password("bob", "hunter2", 1),
        ],
        60,
        3600,
        600,
        [42; 32],
    )
}

fn peer(s: &str) -> Peer {
    Peer::udp(s.parse::<SocketAddr>().unwrap())
}

struct Phone {
    user: &'static str,
    password: &'static str,
    call_id: String,
    cseq: u32,
    contact: String,
    nc: u32,
    challenge: Option<(String, Option<String>, Algorithm)>,
}

impl Phone {
    fn new(user: &'static str, password: &'static str, contact: &str) -> Phone {
        Phone {
            user,
            password,
            call_id: format!(
                "reg-{user}-{}@192.168.1.20",
                contact
                    .chars()
                    .filter(char::is_ascii_alphanumeric)
                    .collect::<String>()
            ),
            cseq: 0,
            contact: contact.to_string(),
            nc: 0,
            challenge: None,
        }
    }

    /// A REGISTER with `extra` header lines; Authorization from the last challenge if any.
    fn register(&mut self, extra: &str) -> rsip::Request {
        self.cseq += 1;
        let contact = if self.contact.is_empty() {
            String::new()
        } else {
            format!("Contact: {}\r\n", self.contact)
        };
        let auth = match &self.challenge {
            Some((nonce, opaque, alg)) => {
                self.nc += 1;
                format!(
                    "Authorization: {}\r\n",
                    self.authorization(nonce, opaque, *alg)
                )
            }
            None => String::new(),
        };
        let text = format!(
            "REGISTER sip:127.0.0.1 SIP/2.0\r\n\
             Via: SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bK{user}{cseq};rport\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:{user}@127.0.0.1>;tag=ft{user}\r\n\
             To: <sip:{user}@127.0.0.1>\r\n\
             Call-ID: {call_id}\r\n\
             CSeq: {cseq} REGISTER\r\n\
             User-Agent: baresip v1.0.0\r\n\
             {contact}{auth}{extra}Content-Length: 0\r\n\r\n",
            user = self.user,
            cseq = self.cseq,
            call_id = self.call_id,
        );
        match message::parse(text.as_bytes()).unwrap() {
            SipMessage::Request(r) => r,
            _ => panic!("not a request"),
        }
    }

    fn authorization(&self, nonce: &str, opaque: &Option<String>, alg: Algorithm) -> String {
        let creds = Credentials {
            username: self.user.into(),
            realm: REALM.into(),
            nonce: nonce.into(),
            uri: "sip:127.0.0.1".into(),
            response: String::new(),
            algorithm: alg,
            cnonce: Some("0a1b2c3d".into()),
            nc: Some(format!("{:08x}", self.nc)),
            qop: Some(Qop::Auth),
            opaque: opaque.clone(),
        };
        let ha1 = digest::ha1(self.user, REALM, self.password, alg);
        let response = digest::compute_response(&creds, "REGISTER", &ha1).unwrap();
        let mut s = format!(
            "Digest username=\"{}\",realm=\"{REALM}\",nonce=\"{nonce}\",uri=\"sip:127.0.0.1\",\
             response=\"{response}\",algorithm={alg},cnonce=\"0a1b2c3d\",qop=auth,nc={:08x}",
            self.user, self.nc
        );
        if let Some(o) = opaque {
            s.push_str(&format!(",opaque=\"{o}\""));
        }
        s
    }

    /// Take the challenge from a 401.
    fn learn(&mut self, outcome: &RegisterOutcome) {
        let values = message::header_values(&outcome.response, "WWW-Authenticate");
        let v = values.first().expect("a challenge");
        let param = |name: &str| {
            let start = v.find(&format!("{name}="))? + name.len() + 1;
            let rest = &v[start..];
            let rest = rest.strip_prefix('"').unwrap_or(rest);
            let end = rest.find(['"', ',']).unwrap_or(rest.len());
            Some(rest[..end].to_string())
        };
        let alg = Algorithm::from_token(&param("algorithm").unwrap()).unwrap();
        self.challenge = Some((param("nonce").unwrap(), param("opaque"), alg));
        self.nc = 0;
    }

    /// Register from scratch: unauthenticated REGISTER, 401, authenticated REGISTER.
    fn login(
        &mut self,
        reg: &mut Registrar,
        now: Instant,
        src: Peer,
        extra: &str,
    ) -> RegisterOutcome {
        self.challenge = None;
        let first = reg.handle_register(now, &self.register(extra), src);
        assert_eq!(code(&first), 401, "{:?}", first.result);
        assert_eq!(first.result, Err(RegisterError::Unauthenticated));
        self.learn(&first);
        reg.handle_register(now, &self.register(extra), src)
    }
}

fn code(o: &RegisterOutcome) -> u16 {
    o.response.status_code.code()
}

fn contacts(o: &RegisterOutcome) -> Vec<String> {
    message::header_values(&o.response, "Contact")
        .into_iter()
        .map(str::to_string)
        .collect()
}

fn events(reg: &mut Registrar) -> Vec<RegistrarEvent> {
    std::iter::from_fn(|| reg.poll_event()).collect()
}

fn registered(user: &str, contact: &str) -> RegistrarEvent {
    RegistrarEvent::Registered {
        user: user.into(),
        contact: contact.into(),
    }
}

fn unregistered(user: &str, contact: &str) -> RegistrarEvent {
    RegistrarEvent::Unregistered {
        user: user.into(),
        contact: contact.into(),
    }
}

#[test]
fn challenge_then_authorised_register() {
    let t0 = base();
    let mut reg = registrar();
    let src = peer("203.0.113.7:41000");
    let mut phone = Phone::new(
        "alice",
        "s3cret",
        "<sip:alice@192.168.1.20:5060;transport=udp>",
    );
    let first = reg.handle_register(t0, &phone.register(""), src);
    assert_eq!(code(&first), 401);
    let www = message::header_values(&first.response, "WWW-Authenticate");
    assert_eq!(www.len(), 2, "SHA-256 and MD5 by default (RFC 8760)");
    for (value, algorithm) in www.iter().zip(["SHA-256", "MD5"]) {
        assert!(
            value.starts_with("Digest realm=\"senim\", nonce=\""),
            "{value}"
        );
        assert!(
            value.ends_with(&format!(", algorithm={algorithm}, qop=\"auth\"")),
            "SHA-256 first: {www:?}"
        );
    }
    assert!(
        message::to_tag(&first.response).is_some(),
        "responses carry a To tag"
    );
    assert!(reg.bindings("alice").is_empty());
    assert!(events(&mut reg).is_empty());

    phone.learn(&first);
    let ok = reg.handle_register(t0, &phone.register(""), src);
    assert_eq!(code(&ok), 200, "{:?}", ok.result);
    assert_eq!(ok.result, Ok("alice".to_string()));
    assert_eq!(
        contacts(&ok),
        vec!["<sip:alice@192.168.1.20:5060;transport=udp>;expires=600"]
    );
    let b = reg.bindings("alice");
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].contact, "sip:alice@192.168.1.20:5060;transport=udp");
    assert_eq!(b[0].source, src, "the NAT source address is kept");
    assert_eq!(b[0].expires_at, t0 + Duration::from_secs(600));
    assert_eq!(b[0].registered_at, t0);
    assert_eq!(b[0].user_agent.as_deref(), Some("baresip v1.0.0"));
    assert_eq!(
        message::uri_to_string(&b[0].uri),
        "sip:alice@192.168.1.20:5060;transport=UDP"
    );
    assert_eq!(
        events(&mut reg),
        vec![registered(
            "alice",
            "sip:alice@192.168.1.20:5060;transport=udp"
        )]
    );
    assert_eq!(reg.poll_timeout(), Some(t0 + Duration::from_secs(600)));

    // Refresh with the same nonce (next nc) from a new NAT port: no event, source updated.
    let t1 = t0 + Duration::from_secs(200);
    let src2 = peer("203.0.113.7:41002");
    let ok = reg.handle_register(t1, &phone.register("Expires: 300\r\n"), src2);
    assert_eq!(code(&ok), 200, "{:?}", ok.result);
    assert_eq!(
        contacts(&ok),
        vec!["<sip:alice@192.168.1.20:5060;transport=udp>;expires=300"]
    );
    let b = reg.bindings("alice");
    assert_eq!(b[0].source, src2);
    assert_eq!(b[0].expires_at, t1 + Duration::from_secs(300));
    assert!(events(&mut reg).is_empty(), "a refresh is not a change");

    // Query (no Contact) lists the binding with the time left.
    phone.contact = String::new();
    let q = reg.handle_register(t1 + Duration::from_millis(1500), &phone.register(""), src2);
    assert_eq!(code(&q), 200);
    assert_eq!(
        contacts(&q),
        vec!["<sip:alice@192.168.1.20:5060;transport=udp>;expires=299"]
    );
}

#[test]
fn wrong_password_gets_a_fresh_challenge() {
    let t0 = base();
    let mut reg = registrar();
    let src = peer("198.51.100.1:5060");
    let mut phone = Phone::new("alice", "wrong", "<sip:alice@10.0.0.2>");
    let out = phone.login(&mut reg, t0, src, "");
    assert_eq!(code(&out), 401);
    assert_eq!(
        out.result,
        Err(RegisterError::BadCredentials {
            user: "alice".into()
        })
    );
    let www = message::header_value(&out.response, "WWW-Authenticate").unwrap();
    assert!(!www.contains("stale"), "{www}");
    assert!(
        !www.contains(&phone.challenge.as_ref().unwrap().0),
        "a fresh nonce"
    );
    assert!(reg.bindings("alice").is_empty());
    assert!(events(&mut reg).is_empty());

    // Right password, HA1-configured account.
    reg.update_users(vec![UserAccount {
        username: "alice".into(),
        password_or_ha1: UserSecret::Ha1 {
            md5: Some(digest::ha1("alice", REALM, "s3cret", Algorithm::Md5)),
            sha256: Some(digest::ha1("alice", REALM, "s3cret", Algorithm::Sha256)),
        },
        max_contacts: 1,
    }]);
    phone.password = "s3cret";
    assert_eq!(code(&phone.login(&mut reg, t0, src, "")), 200);
}

#[test]
fn unknown_user_is_404_or_concealed() {
    let t0 = base();
    let mut reg = registrar();
    let mut phone = Phone::new("mallory", "x", "<sip:mallory@10.0.0.9>");
    let out = reg.handle_register(t0, &phone.register(""), peer("198.51.100.9:5060"));
    assert_eq!(code(&out), 404);
    assert_eq!(
        out.result,
        Err(RegisterError::UnknownUser("mallory".into()))
    );
    assert!(message::header_value(&out.response, "WWW-Authenticate").is_none());

    reg.set_conceal_unknown_users(true);
    let out = reg.handle_register(t0, &phone.register(""), peer("198.51.100.9:5060"));
    assert_eq!(code(&out), 401);
    assert!(message::header_value(&out.response, "WWW-Authenticate").is_some());
}

#[test]
fn digest_user_must_match_the_aor() {
    let t0 = base();
    let mut reg = registrar();
    let src = peer("198.51.100.1:5060");
    let mut bob = Phone::new("bob", "hunter2", "<sip:bob@10.0.0.3>");
    let first = reg.handle_register(t0, &bob.register(""), src);
    bob.learn(&first);
    // Bob authenticates correctly but asks to register Alice's AOR.
    let mut req = bob.register("");
    let alice_to = message::make_header("To", "<sip:alice@127.0.0.1>");
    for h in req.headers.iter_mut() {
        if matches!(h, rsip::Header::To(_)) {
            *h = alice_to.clone();
        }
    }
    let out = reg.handle_register(t0, &req, src);
    assert_eq!(code(&out), 403);
    assert!(reg.bindings("alice").is_empty());
}

#[test]
fn replayed_nonce_count_is_refused() {
    let t0 = base();
    let mut reg = registrar();
    let src = peer("198.51.100.1:5060");
    let mut phone = Phone::new("alice", "s3cret", "<sip:alice@10.0.0.2>");
    assert_eq!(code(&phone.login(&mut reg, t0, src, "")), 200);
    events(&mut reg);
    // An attacker replays the same nc with a new CSeq (the digest does not cover CSeq).
    phone.nc -= 1;
    let out = reg.handle_register(t0 + Duration::from_secs(1), &phone.register(""), src);
    assert_eq!(code(&out), 401);
    assert_eq!(out.result, Err(RegisterError::Replay(1)));
    let www = message::header_value(&out.response, "WWW-Authenticate").unwrap();
    assert!(www.ends_with("stale=true"), "{www}");
    // The next count works.
    let out = reg.handle_register(t0 + Duration::from_secs(2), &phone.register(""), src);
    assert_eq!(code(&out), 200, "{:?}", out.result);
}

#[test]
fn stale_nonce_gets_stale_true_and_recovers() {
    let t0 = base();
    let mut reg = registrar();
    let src = peer("198.51.100.1:5060");
    let mut phone = Phone::new("alice", "s3cret", "<sip:alice@10.0.0.2>");
    assert_eq!(
        code(&phone.login(&mut reg, t0, src, "Expires: 3600\r\n")),
        200
    );

    // 10 minutes later the nonce has expired.
    let t1 = t0 + Duration::from_secs(600);
    let out = reg.handle_register(t1, &phone.register("Expires: 3600\r\n"), src);
    assert_eq!(code(&out), 401);
    assert_eq!(out.result, Err(RegisterError::StaleNonce));
    let www = message::header_value(&out.response, "WWW-Authenticate").unwrap();
    assert!(www.ends_with(", stale=true"), "{www}");
    phone.learn(&out);
    let out = reg.handle_register(t1, &phone.register("Expires: 3600\r\n"), src);
    assert_eq!(code(&out), 200, "{:?}", out.result);

    // A stale nonce with a wrong digest is not "stale": the password is wrong.
    let t2 = t1 + Duration::from_secs(600);
    phone.password = "nope";
    let out = reg.handle_register(t2, &phone.register("Expires: 3600\r\n"), src);
    assert_eq!(
        out.result,
        Err(RegisterError::BadCredentials {
            user: "alice".into()
        })
    );
    let www = message::header_value(&out.response, "WWW-Authenticate").unwrap();
    assert!(!www.contains("stale"), "{www}");

    // A forged nonce is just challenged again.
    phone.challenge = Some(("00".repeat(32), None, Algorithm::Md5));
    phone.password = "s3cret";
    let out = reg.handle_register(t2, &phone.register(""), src);
    assert_eq!(out.result, Err(RegisterError::InvalidNonce));
}

#[test]
fn bindings_expire() {
    let t0 = base();
    let mut reg = registrar();
    let src = peer("198.51.100.1:5060");
    let mut phone = Phone::new("alice", "s3cret", "<sip:alice@10.0.0.2>;expires=120");
    assert_eq!(
        code(&phone.login(&mut reg, t0, src, "Expires: 900\r\n")),
        200
    );
    assert_eq!(
        reg.bindings("alice")[0].expires_at,
        t0 + Duration::from_secs(120)
    );
    events(&mut reg);
    let deadline = reg.poll_timeout().unwrap();
    assert_eq!(deadline, t0 + Duration::from_secs(120));
    reg.handle_timeout(deadline - Duration::from_millis(1));
    assert_eq!(reg.bindings("alice").len(), 1);
    assert_eq!(
        reg.bindings_at("alice", deadline).len(),
        0,
        "already lapsed at the deadline"
    );
    reg.handle_timeout(deadline);
    assert!(reg.bindings("alice").is_empty());
    assert_eq!(reg.poll_timeout(), None);
    assert_eq!(
        events(&mut reg),
        vec![RegistrarEvent::Expired {
            user: "alice".into(),
            contact: "sip:alice@10.0.0.2".into()
        }]
    );
}

#[test]
fn expires_bounds_and_423() {
    let t0 = base();
    let mut reg = registrar();
    let src = peer("198.51.100.1:5060");
    let mut phone = Phone::new("alice", "s3cret", "<sip:alice@10.0.0.2>");
    let out = phone.login(&mut reg, t0, src, "Expires: 30\r\n");
    assert_eq!(code(&out), 423);
    assert_eq!(
        out.result,
        Err(RegisterError::IntervalTooBrief {
            requested: 30,
            min: 60
        })
    );
    assert_eq!(
        message::header_value(&out.response, "Min-Expires"),
        Some("60")
    );
    assert!(reg.bindings("alice").is_empty());

    // Too long is shortened to the maximum; malformed falls back to the default.
    let out = reg.handle_register(t0, &phone.register("Expires: 99999999999\r\n"), src);
    assert_eq!(code(&out), 200, "{:?}", out.result);
    assert_eq!(contacts(&out), vec!["<sip:alice@10.0.0.2>;expires=3600"]);
    let out = reg.handle_register(t0, &phone.register("Expires: soon\r\n"), src);
    assert_eq!(contacts(&out), vec!["<sip:alice@10.0.0.2>;expires=600"]);
    // The contact parameter wins over the header.
    phone.contact = "<sip:alice@10.0.0.2>;expires=61".into();
    let out = reg.handle_register(t0, &phone.register("Expires: 3000\r\n"), src);
    assert_eq!(contacts(&out), vec!["<sip:alice@10.0.0.2>;expires=61"]);
}

#[test]
fn expires_zero_removes_one_contact() {
    let t0 = base();
    let mut reg = registrar();
    let src = peer("198.51.100.1:5060");
    let mut desk = Phone::new("alice", "s3cret", "<sip:alice@10.0.0.2>");
    let mut mobile = Phone::new("alice", "s3cret", "<sip:alice@10.0.0.3;transport=tcp>");
    assert_eq!(code(&desk.login(&mut reg, t0, src, "")), 200);
    let t1 = t0 + Duration::from_secs(5);
    let out = mobile.login(&mut reg, t1, peer("198.51.100.2:6000"), "");
    assert_eq!(code(&out), 200);
    assert_eq!(
        out.response
            .headers
            .iter()
            .filter(|h| matches!(h, rsip::Header::Contact(_)))
            .count(),
        2
    );
    events(&mut reg);

    desk.contact = "<sip:alice@10.0.0.2>;expires=0".into();
    let t2 = t1 + Duration::from_secs(5);
    let out = reg.handle_register(t2, &desk.register(""), src);
    assert_eq!(code(&out), 200, "{:?}", out.result);
    assert_eq!(
        contacts(&out),
        vec!["<sip:alice@10.0.0.3;transport=tcp>;expires=595"]
    );
    assert_eq!(
        events(&mut reg),
        vec![unregistered("alice", "sip:alice@10.0.0.2")]
    );

    // Expires: 0 header, removing the last one.
    let out = reg.handle_register(t2, &mobile.register("Expires: 0\r\n"), src);
    assert_eq!(code(&out), 200);
    assert!(contacts(&out).is_empty());
    assert!(reg.bindings("alice").is_empty());
    assert_eq!(
        events(&mut reg),
        vec![unregistered("alice", "sip:alice@10.0.0.3;transport=tcp")]
    );
    // Removing a binding that does not exist is fine and silent.
    let out = reg.handle_register(t2, &mobile.register("Expires: 0\r\n"), src);
    assert_eq!(code(&out), 200);
    assert!(events(&mut reg).is_empty());
}

#[test]
fn star_removes_all() {
    let t0 = base();
    let mut reg = registrar();
    let src = peer("198.51.100.1:5060");
    let mut desk = Phone::new("alice", "s3cret", "<sip:alice@10.0.0.2>");
    let mut mobile = Phone::new("alice", "s3cret", "<sip:alice@10.0.0.3>");
    assert_eq!(code(&desk.login(&mut reg, t0, src, "")), 200);
    assert_eq!(code(&mobile.login(&mut reg, t0, src, "")), 200);
    events(&mut reg);

    desk.contact = "*".into();
    let out = reg.handle_register(t0, &desk.register(""), src);
    assert_eq!(code(&out), 400, "'*' needs Expires: 0");
    assert!(message::header_value(&out.response, "Warning")
        .unwrap()
        .contains("Expires: 0"));
    let out = reg.handle_register(t0, &desk.register("Expires: 0\r\n"), src);
    assert_eq!(code(&out), 200, "{:?}", out.result);
    assert!(contacts(&out).is_empty());
    assert!(reg.bindings("alice").is_empty());
    let mut ev = events(&mut reg);
    ev.sort_by_key(|e| format!("{e:?}"));
    assert_eq!(
        ev,
        vec![
            unregistered("alice", "sip:alice@10.0.0.2"),
            unregistered("alice", "sip:alice@10.0.0.3")
        ]
    );

    // '*' with other contacts is malformed (the parser already refuses a '*' in a list; two
    // Contact headers reach the registrar).
    desk.contact = "*\r\nContact: <sip:alice@10.0.0.2>".into();
    let out = reg.handle_register(t0, &desk.register("Expires: 0\r\n"), src);
    assert_eq!(code(&out), 400);
    assert!(matches!(out.result, Err(RegisterError::Malformed(_))));
}

#[test]
fn two_contacts_order_and_parameters() {
    let t0 = base();
    let mut reg = registrar();
    let src = peer("198.51.100.1:5060");
    let mut phone = Phone::new(
        "alice",
        "s3cret",
        "<sip:alice@10.0.0.2>;q=0.5, \"Alice\" <sip:alice@10.0.0.3;ob>;q=1.0;+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>\";reg-id=1",
    );
    let out = phone.login(&mut reg, t0, src, "");
    assert_eq!(code(&out), 200, "{:?}", out.result);
    let b = reg.bindings("alice");
    assert_eq!(b.len(), 2);
    assert_eq!(b[0].contact, "sip:alice@10.0.0.3;ob", "highest q first");
    assert_eq!(b[0].q, Some(1000));
    assert_eq!(
        b[0].instance.as_deref(),
        Some("<urn:uuid:00000000-0000-1000-8000-000A95A0E128>")
    );
    assert_eq!(b[0].reg_id.as_deref(), Some("1"));
    assert_eq!(b[1].q, Some(500));
    assert_eq!(b[1].q_value(), 0.5);
    assert_eq!(
        contacts(&out),
        vec![
            "\"Alice\" <sip:alice@10.0.0.3;ob>;q=1.0;+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>\";reg-id=1;expires=600",
            "<sip:alice@10.0.0.2>;q=0.5;expires=600",
        ]
    );

    // Same instance, new address (the phone moved from Wi-Fi to LTE): the binding is replaced.
    phone.contact = "<sip:alice@172.16.0.9;ob>;+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>\";reg-id=1".into();
    events(&mut reg);
    let out = reg.handle_register(
        t0 + Duration::from_secs(10),
        &phone.register(""),
        peer("198.51.100.77:1024"),
    );
    assert_eq!(code(&out), 200, "{:?}", out.result);
    let b = reg.bindings("alice");
    assert_eq!(b.len(), 2);
    assert_eq!(
        b[0].contact, "sip:alice@172.16.0.9;ob",
        "no q sorts as 1.0, newer first"
    );
    assert_eq!(
        events(&mut reg),
        vec![
            unregistered("alice", "sip:alice@10.0.0.3;ob"),
            registered("alice", "sip:alice@172.16.0.9;ob")
        ]
    );

    // Bad q is malformed.
    phone.contact = "<sip:alice@10.0.0.2>;q=1.5".into();
    let out = reg.handle_register(t0 + Duration::from_secs(11), &phone.register(""), src);
    assert_eq!(code(&out), 400);
}

#[test]
fn max_contacts_evicts_the_oldest() {
    let t0 = base();
    let mut reg = registrar();
    let src = peer("198.51.100.1:5060");
    // bob may have one contact.
    let mut old = Phone::new("bob", "hunter2", "<sip:bob@10.0.0.2>");
    assert_eq!(code(&old.login(&mut reg, t0, src, "")), 200);
    let mut new = Phone::new("bob", "hunter2", "<sip:bob@10.0.0.3>");
    let out = new.login(&mut reg, t0 + Duration::from_secs(1), src, "");
    assert_eq!(code(&out), 200);
    assert_eq!(contacts(&out), vec!["<sip:bob@10.0.0.3>;expires=600"]);
    assert_eq!(
        events(&mut reg),
        vec![
            registered("bob", "sip:bob@10.0.0.2"),
            registered("bob", "sip:bob@10.0.0.3"),
            unregistered("bob", "sip:bob@10.0.0.2"),
        ]
    );
    // Two contacts in one request for a one-contact user: refused, nothing changes.
    new.contact = "<sip:bob@10.0.0.4>, <sip:bob@10.0.0.5>".into();
    let out = reg.handle_register(t0 + Duration::from_secs(2), &new.register(""), src);
    assert_eq!(code(&out), 403);
    assert!(
        message::response_to_bytes(&out.response).starts_with(b"SIP/2.0 403 Too Many Contacts\r\n")
    );
    assert_eq!(
        out.result,
        Err(RegisterError::TooManyContacts {
            requested: 2,
            max: 1
        })
    );
    assert_eq!(reg.bindings("bob").len(), 1);

    // A reload that lowers alice's limit trims her bindings; one that removes bob drops his.
    let mut a1 = Phone::new("alice", "s3cret", "<sip:alice@10.0.0.2>");
    let mut a2 = Phone::new("alice", "s3cret", "<sip:alice@10.0.0.3>");
    assert_eq!(code(&a1.login(&mut reg, t0, src, "")), 200);
    assert_eq!(
        code(&a2.login(&mut reg, t0 + Duration::from_secs(3), src, "")),
        200
    );
    events(&mut reg);
    reg.update_users(vec![UserAccount::with_password("alice", "s3cret", 1)]);
    assert!(reg.bindings("bob").is_empty());
    assert_eq!(reg.bindings("alice").len(), 1);
    assert_eq!(reg.bindings("alice")[0].contact, "sip:alice@10.0.0.3");
    let mut ev = events(&mut reg);
    ev.sort_by_key(|e| format!("{e:?}"));
    assert_eq!(
        ev,
        vec![
            unregistered("alice", "sip:alice@10.0.0.2"),
            unregistered("bob", "sip:bob@10.0.0.3")
        ]
    );
    assert_eq!(reg.registered_users(), vec!["alice".to_string()]);
}

#[test]
fn call_id_and_cseq_ordering() {
    let t0 = base();
    let mut reg = registrar();
    let src = peer("198.51.100.1:5060");
    let mut phone = Phone::new("alice", "s3cret", "<sip:alice@10.0.0.2>");
    assert_eq!(code(&phone.login(&mut reg, t0, src, "")), 200);
    let stored = reg.bindings("alice")[0].cseq;
    assert_eq!(stored, 2);

    // Same Call-ID, CSeq not higher: 500, nothing changes.
    phone.cseq = 1;
    let out = reg.handle_register(t0, &phone.register("Expires: 100\r\n"), src);
    assert_eq!(code(&out), 500);
    assert_eq!(
        out.result,
        Err(RegisterError::OutOfOrder { cseq: 2, stored: 2 })
    );
    assert_eq!(
        reg.bindings("alice")[0].expires_at,
        t0 + Duration::from_secs(600)
    );
    // A '*' removal with an old CSeq is refused too.
    phone.cseq = 0;
    phone.contact = "*".into();
    let out = reg.handle_register(t0, &phone.register("Expires: 0\r\n"), src);
    assert_eq!(code(&out), 500);
    assert_eq!(reg.bindings("alice").len(), 1);

    // Higher CSeq works.
    phone.cseq = 10;
    phone.contact = "<sip:alice@10.0.0.2>".into();
    let out = reg.handle_register(t0, &phone.register("Expires: 100\r\n"), src);
    assert_eq!(code(&out), 200, "{:?}", out.result);
    assert_eq!(reg.bindings("alice")[0].cseq, 11);

    // Another Call-ID (the phone restarted) may use any CSeq.
    phone.call_id = "restarted@192.168.1.20".into();
    phone.cseq = 0;
    let out = reg.handle_register(t0, &phone.register("Expires: 100\r\n"), src);
    assert_eq!(code(&out), 200, "{:?}", out.result);
    assert_eq!(reg.bindings("alice")[0].call_id, "restarted@192.168.1.20");
    assert_eq!(reg.bindings("alice")[0].cseq, 1);
}

#[test]
fn source_peer_and_flow_closed() {
    let t0 = base();
    let mut reg = registrar();
    let tcp = Peer::tcp("203.0.113.50:50123".parse().unwrap());
    let mut phone = Phone::new(
        "alice",
        "s3cret",
        "<sip:alice@192.168.0.10:5060;transport=tcp>",
    );
    assert_eq!(code(&phone.login(&mut reg, t0, tcp, "")), 200);
    let b = &reg.bindings("alice")[0];
    assert_eq!(b.source, tcp);
    assert_eq!(
        b.contact, "sip:alice@192.168.0.10:5060;transport=tcp",
        "the private Contact is kept too"
    );
    events(&mut reg);
    reg.handle_flow_closed(Peer::udp("203.0.113.50:50123".parse().unwrap()));
    assert_eq!(reg.bindings("alice").len(), 1, "UDP has no flows");
    reg.handle_flow_closed(tcp);
    assert!(reg.bindings("alice").is_empty());
    assert_eq!(
        events(&mut reg),
        vec![unregistered(
            "alice",
            "sip:alice@192.168.0.10:5060;transport=tcp"
        )]
    );
}

#[test]
fn a_tls_flow_is_its_own_source_apart_from_tcp_from_the_same_address() {
    let t0 = base();
    let mut reg = registrar();
    let addr = "203.0.113.50:50123".parse().unwrap();
    let tls = Peer::tls(addr);
    let mut phone = Phone::new(
        "alice",
        "s3cret",
        "<sip:alice@192.168.0.10:5061;transport=tls>",
    );
    assert_eq!(code(&phone.login(&mut reg, t0, tls, "")), 200);
    let b = &reg.bindings("alice")[0];
    assert_eq!(b.source, tls, "the transport is recorded with the address");
    assert!(reg.is_bound_source(tls, t0));
    assert!(!reg.is_bound_source(Peer::tcp(addr), t0));
    events(&mut reg);
    reg.handle_flow_closed(Peer::tcp(addr));
    assert_eq!(
        reg.bindings("alice").len(),
        1,
        "a TCP flow's end is not the TLS flow's"
    );
    reg.handle_flow_closed(tls);
    assert!(reg.bindings("alice").is_empty());
}

#[test]
fn sha256_offered_and_used() {
    let t0 = base();
    let mut reg = registrar();
    let src = peer("198.51.100.1:5060");
    let mut phone = Phone::new("alice", "s3cret", "<sip:alice@10.0.0.2>");
    let first = reg.handle_register(t0, &phone.register(""), src);
    let www = message::header_values(&first.response, "WWW-Authenticate");
    assert_eq!(www.len(), 2);
    assert!(www[0].contains("algorithm=SHA-256"));
    assert!(www[1].contains("algorithm=MD5"));
    phone.learn(&first);
    assert_eq!(phone.challenge.as_ref().unwrap().2, Algorithm::Sha256);
    let out = reg.handle_register(t0, &phone.register(""), src);
    assert_eq!(code(&out), 200, "{:?}", out.result);

    // MD5 only again: a SHA-256 answer is refused.
    reg.set_algorithms(vec![Algorithm::Md5]);
    let out = reg.handle_register(t0, &phone.register(""), src);
    assert_eq!(
        out.result,
        Err(RegisterError::AlgorithmNotOffered(Algorithm::Sha256))
    );
}

#[test]
fn malformed_requests_get_400() {
    let t0 = base();
    let mut reg = registrar();
    let src = peer("198.51.100.1:5060");
    let mut phone = Phone::new("alice", "s3cret", "<sip:alice@10.0.0.2>");
    let out = reg.handle_register(
        t0,
        &phone.register("Authorization: Digest username=\"alice\r\n"),
        src,
    );
    assert_eq!(code(&out), 400);
    assert!(matches!(out.result, Err(RegisterError::Malformed(_))));
    let warning = message::header_value(&out.response, "Warning").unwrap();
    assert!(
        warning.starts_with("399 senim \"Authorization: "),
        "{warning}"
    );
    // Require: an extension we do not have.
    let out = reg.handle_register(t0, &phone.register("Require: gruu\r\n"), src);
    assert_eq!(code(&out), 420);
    assert_eq!(
        message::header_value(&out.response, "Unsupported"),
        Some("gruu")
    );
    // Authorization for another realm only: challenged.
    let out = reg.handle_register(
        t0,
        &phone.register("Authorization: Digest username=\"alice\", realm=\"other\", nonce=\"n\", uri=\"sip:x\", response=\"0\"\r\n"),
        src,
    );
    assert_eq!(out.result, Err(RegisterError::Unauthenticated));
    // Authorization in a scheme Senim does not use (RFC 4475 §3.3.7, regaut01): passed over,
    // so challenged like a REGISTER without credentials; it used to be a 400.
    for other in [
        "NoOneKnowsThisScheme opaque-data=here",
        "Basic YWxpY2U6czNjcmV0",
    ] {
        let out = reg.handle_register(
            t0,
            &phone.register(&format!("Authorization: {other}\r\n")),
            src,
        );
        assert_eq!(code(&out), 401, "{other}");
        assert_eq!(out.result, Err(RegisterError::Unauthenticated), "{other}");
    }
    // A tel: contact.
    let first = reg.handle_register(t0, &phone.register(""), src);
    phone.learn(&first);
    phone.contact = "<tel:+77001234567>".into();
    let out = reg.handle_register(t0, &phone.register(""), src);
    assert_eq!(code(&out), 400);
}

/// Random Authorization and Contact values through the whole registrar never panic, and never
/// register anything (fixed seed; `SENIM_FUZZ_ITERS` for longer runs).
#[test]
fn random_authorization_never_panics() {
    let iters: usize = std::env::var("SENIM_FUZZ_ITERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3_000);
    let mut rng = StdRng::seed_from_u64(0xa11ce);
    let t0 = base();
    let mut reg = registrar();
    // Every mutation is checked: no lock-out stops the checks after 20 wrong digests.
    reg.set_lockout(None);
    let src = peer("198.51.100.1:5060");
    let mut phone = Phone::new("alice", "s3cret", "<sip:alice@10.0.0.2>");
    let first = reg.handle_register(t0, &phone.register(""), src);
    phone.learn(&first);
    let (nonce, opaque, _) = phone.challenge.clone().unwrap();
    phone.nc = 1;
    let valid = phone.authorization(&nonce, &opaque, Algorithm::Md5);
    phone.challenge = None;
    let pieces: &[&str] = &[
        ",",
        "\"",
        "\\",
        "=",
        " ",
        "nc=",
        "qop=",
        "auth-int",
        "algorithm=",
        "SHA-256",
        "00000000",
        "ffffffff",
        "realm=\"senim\"",
        "*",
        ";",
        "é",
    ];
    let mut accepted = 0;
    for i in 0..iters {
        let mut s = valid.clone();
        for _ in 0..rng.gen_range(1..6) {
            let pos = rng.gen_range(0..=s.len());
            let pos = (0..=pos)
                .rev()
                .find(|p| s.is_char_boundary(*p))
                .unwrap_or(0);
            match rng.gen_range(0..3) {
                0 => s.insert_str(pos, pieces[rng.gen_range(0..pieces.len())]),
                1 => {
                    let end = (pos + rng.gen_range(1..10)).min(s.len());
                    let end = (end..=s.len())
                        .find(|p| s.is_char_boundary(*p))
                        .unwrap_or(s.len());
                    s.replace_range(pos..end, "");
                }
                _ => s.truncate(pos),
            }
        }
        if s.contains(['\r', '\n']) {
            continue;
        }
        let req = phone.register(&format!("Authorization: {s}\r\n"));
        let out = reg.handle_register(t0 + Duration::from_millis(i as u64), &req, src);
        if out.result.is_ok() {
            accepted += 1;
        }
        let c = code(&out);
        assert!([200, 400, 401, 403, 500].contains(&c), "{c} for {s}");
    }
    // A mutation can leave the digest intact (e.g. only whitespace changed), but each nonce
    // count is accepted at most once.
    assert!(accepted <= 1, "{accepted}");
}

// ---------------------------------------------------------------------------
// Lock-out after repeated wrong passwords, and answers that give nothing away
// ---------------------------------------------------------------------------

const MINUTE: Duration = Duration::from_secs(60);

/// What a 401 shows a client, with the per-response values (nonce, To tag) masked.
fn shape(o: &RegisterOutcome) -> Vec<String> {
    let mut out = vec![o.response.status_code.to_string()];
    for h in o.response.headers.iter() {
        let text = h.to_string();
        let (name, value) = text.split_once(':').unwrap_or((&text, ""));
        let value = match name.to_ascii_lowercase().as_str() {
            "www-authenticate" => {
                let start = value.find("nonce=\"").unwrap() + 7;
                let end = start + value[start..].find('"').unwrap();
                format!("{}*{}", &value[..start], &value[end..])
            }
            "to" => "*".to_string(),
            "from" | "call-id" | "via" | "cseq" => "(echoed)".to_string(),
            _ => value.to_string(),
        };
        out.push(format!("{name}:{value}"));
    }
    out
}

/// `n` wrong passwords for `user` from `src` at `at`, each answered 401.
fn fail(reg: &mut Registrar, at: Instant, src: Peer, user: &'static str, n: usize) -> Vec<Lockout> {
    let mut phone = Phone::new(user, "not-the-password", "<sip:x@10.0.0.66>");
    let first = reg.handle_register(at, &phone.register(""), src);
    phone.learn(&first);
    let mut locked = Vec::new();
    for _ in 0..n {
        let out = reg.handle_register(at, &phone.register(""), src);
        assert_eq!(code(&out), 401, "{:?}", out.result);
        locked.extend(out.locked);
    }
    locked
}

#[test]
fn twenty_wrong_passwords_lock_the_user_until_the_period_ends() {
    let t0 = base();
    let mut reg = registrar();
    let attacker = peer("203.0.113.66:5060");
    let mut phone = Phone::new("alice", "wrong", "<sip:alice@10.0.0.2>");
    let first = reg.handle_register(t0, &phone.register(""), attacker);
    assert!(
        !first.failed_credentials,
        "asking for a challenge is no failure"
    );
    phone.learn(&first);
    for i in 1..=19 {
        let out = reg.handle_register(t0, &phone.register(""), attacker);
        assert_eq!(
            out.result,
            Err(RegisterError::BadCredentials {
                user: "alice".into()
            })
        );
        assert!(out.failed_credentials);
        assert!(out.locked.is_empty(), "not yet at {i}");
    }
    let wrong = reg.handle_register(t0, &phone.register(""), attacker);
    let until = t0 + 15 * MINUTE;
    assert_eq!(
        wrong.locked,
        vec![
            Lockout {
                target: LockTarget::User("alice".into()),
                until
            },
            Lockout {
                target: LockTarget::Source("203.0.113.66".parse().unwrap()),
                until
            },
        ],
        "the 20th failure locks the user and the address"
    );
    assert_eq!(reg.user_locked_until("alice", t0), Some(until));
    assert_eq!(reg.user_locked_until("bob", t0), None);

    // Locked: the right password, from anywhere, gets what a wrong one gets.
    let office = peer("198.51.100.20:5060");
    phone.password = "s3cret";
    for (at, src) in [(t0, attacker), (t0 + 14 * MINUTE, office)] {
        let out = reg.handle_register(at, &phone.register(""), src);
        assert!(
            matches!(out.result, Err(RegisterError::LockedOut(_))),
            "{:?}",
            out.result
        );
        assert_eq!(
            shape(&out),
            shape(&wrong),
            "a lock-out looks like a wrong password"
        );
        assert!(!out.failed_credentials, "not checked, not counted");
        assert!(reg.bindings("alice").is_empty());
    }
    // The other users are not affected (from another address).
    let mut bob = Phone::new("bob", "hunter2", "<sip:bob@10.0.0.3>");
    assert_eq!(code(&bob.login(&mut reg, t0, office, "")), 200);

    // Once the period is over, the right password works again, from both addresses.
    let out = phone.login(&mut reg, until, office, "");
    assert_eq!(code(&out), 200, "{:?}", out.result);
    assert_eq!(
        reg.source_locked_until("203.0.113.66".parse().unwrap(), until),
        None
    );
    let out = phone.login(&mut reg, until, attacker, "");
    assert_eq!(code(&out), 200, "{:?}", out.result);
}

#[test]
fn failures_decay_so_an_occasional_typo_never_locks() {
    let t0 = base();
    let mut reg = registrar();
    let src = peer("198.51.100.1:5060");
    // 19 failures, then two are forgotten over two minutes: two more do not lock...
    assert!(fail(&mut reg, t0, src, "alice", 19).is_empty());
    assert!(fail(&mut reg, t0 + 2 * MINUTE, src, "alice", 2).is_empty());
    assert_eq!(reg.user_locked_until("alice", t0 + 2 * MINUTE), None);
    // ...the next does.
    let locked = fail(&mut reg, t0 + 2 * MINUTE, src, "alice", 1);
    assert_eq!(locked.len(), 2, "{locked:?}");

    // One wrong password a minute, for hours, never locks.
    let mut reg = registrar();
    for m in 0..300 {
        assert!(fail(&mut reg, t0 + m * MINUTE, src, "alice", 1).is_empty());
    }
    // A right password clears the user's count.
    let mut reg = registrar();
    let mut phone = Phone::new("alice", "s3cret", "<sip:alice@10.0.0.2>");
    fail(&mut reg, t0, src, "alice", 19);
    assert_eq!(
        code(&phone.login(&mut reg, t0, peer("198.51.100.2:5060"), "")),
        200
    );
    let other = peer("198.51.100.3:5060");
    assert!(fail(&mut reg, t0, other, "alice", 19).is_empty());
}

#[test]
fn one_address_trying_many_names_is_locked() {
    let t0 = base();
    let mut reg = registrar();
    reg.set_conceal_unknown_users(true);
    let scanner = peer("203.0.113.9:40000");
    let names = ["admin", "100", "101", "test", "operator"];
    let mut locked = Vec::new();
    for (i, name) in names.iter().cycle().take(20).enumerate() {
        // A new port each time: the address counts, not the port.
        let src = peer(&format!("203.0.113.9:{}", 40000 + i));
        let mut phone = Phone::new(name, "guess", "<sip:x@10.0.0.9>");
        let first = reg.handle_register(t0, &phone.register(""), src);
        assert_eq!(code(&first), 401);
        phone.learn(&first);
        let out = reg.handle_register(t0, &phone.register(""), src);
        assert_eq!(code(&out), 401);
        assert!(
            out.failed_credentials,
            "an unknown user's password is a failure too"
        );
        locked.extend(out.locked);
    }
    assert_eq!(
        locked,
        vec![Lockout {
            target: LockTarget::Source("203.0.113.9".parse().unwrap()),
            until: t0 + 15 * MINUTE
        }],
        "unknown names lock the address, never a user"
    );
    let mut bob = Phone::new("bob", "hunter2", "<sip:bob@10.0.0.3>");
    let out = bob.login(&mut reg, t0, scanner, "");
    assert_eq!(
        out.result,
        Err(RegisterError::LockedOut(LockTarget::Source(
            "203.0.113.9".parse().unwrap()
        )))
    );
    assert_eq!(
        code(&bob.login(&mut reg, t0, peer("198.51.100.1:5060"), "")),
        200
    );
}

#[test]
fn a_registered_phone_keeps_refreshing_while_its_user_is_locked() {
    let t0 = base();
    let mut reg = registrar();
    let desk = peer("198.51.100.20:5062");
    let mut phone = Phone::new("alice", "s3cret", "<sip:alice@10.0.0.2>");
    assert_eq!(
        code(&phone.login(&mut reg, t0, desk, "Expires: 300\r\n")),
        200
    );
    // Someone fails on purpose to lock Alice out.
    let t1 = t0 + MINUTE;
    assert_eq!(
        fail(&mut reg, t1, peer("203.0.113.66:5060"), "alice", 20).len(),
        2
    );
    // Her phone's refresh from where it registered is still checked and accepted...
    let out = phone.login(&mut reg, t1 + 3 * MINUTE, desk, "Expires: 300\r\n");
    assert_eq!(code(&out), 200, "{:?}", out.result);
    // ...but a new registration from elsewhere waits for the end of the lock.
    let mut laptop = Phone::new("alice", "s3cret", "<sip:alice@10.0.0.5>");
    let out = laptop.login(&mut reg, t1 + 5 * MINUTE, peer("198.51.100.30:5060"), "");
    assert_eq!(
        out.result,
        Err(RegisterError::LockedOut(LockTarget::User("alice".into())))
    );
}

#[test]
fn an_unknown_user_and_a_wrong_password_get_the_same_answer() {
    let t0 = base();
    let mut reg = registrar();
    reg.set_conceal_unknown_users(true);
    let src = peer("198.51.100.1:5060");
    let answers = |reg: &mut Registrar, user: &'static str, password: &'static str| {
        let mut phone = Phone::new(user, password, "<sip:x@10.0.0.2>");
        let first = reg.handle_register(t0, &phone.register(""), src);
        phone.learn(&first);
        let second = reg.handle_register(t0, &phone.register(""), src);
        // A malformed Authorization: 400 for everyone.
        let bad = reg.handle_register(
            t0,
            &phone.register("Authorization: Digest username=\"\r\n"),
            src,
        );
        (shape(&first), shape(&second), code(&bad))
    };
    let unknown = answers(&mut reg, "mallory", "guess");
    let wrong = answers(&mut reg, "alice", "guess");
    assert_eq!(unknown, wrong);
    assert_eq!(wrong.1[0], "401 Unauthorized");

    // Another user's name in the digest: the same 401, not a 403 that would confirm the AOR.
    let mut bob = Phone::new("bob", "hunter2", "<sip:bob@10.0.0.3>");
    let first = reg.handle_register(t0, &bob.register(""), src);
    bob.learn(&first);
    let mut req = bob.register("");
    for h in req.headers.iter_mut() {
        if matches!(h, rsip::Header::To(_)) {
            *h = message::make_header("To", "<sip:alice@127.0.0.1>");
        }
    }
    let out = reg.handle_register(t0, &req, src);
    assert_eq!(shape(&out), wrong.1);
    assert!(out.failed_credentials);
}

#[test]
fn the_lock_out_follows_its_policy_or_is_off() {
    let t0 = base();
    let src = peer("198.51.100.1:5060");
    let mut reg = registrar();
    reg.set_lockout(Some(LockoutPolicy {
        max_failures: 3,
        lock_for: Duration::from_secs(2),
        decay: Duration::from_secs(1),
    }));
    assert!(fail(&mut reg, t0, src, "alice", 2).is_empty());
    assert_eq!(fail(&mut reg, t0, src, "alice", 1).len(), 2);
    let mut phone = Phone::new("alice", "s3cret", "<sip:alice@10.0.0.2>");
    assert_eq!(
        code(&phone.login(&mut reg, t0 + Duration::from_millis(1999), src, "")),
        401
    );
    assert_eq!(
        code(&phone.login(&mut reg, t0 + Duration::from_secs(2), src, "")),
        200
    );

    reg.set_lockout(None);
    assert!(fail(&mut reg, t0, src, "alice", 100).is_empty());
    assert_eq!(code(&phone.login(&mut reg, t0, src, "")), 200);
}
