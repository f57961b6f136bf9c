//! Digest authentication: RFC vectors, softphone-shaped headers, nonces, hostile input.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use senim_sip::digest::{
    self, parse_authorization, verify, verify_ha1, Algorithm, Challenge, Credentials, DigestError,
    NonceError, NonceManager, NonceStatus, Qop,
};

const SECRET: [u8; 32] = [7; 32];

#[test]
fn rfc2617_example() {
    // RFC 2617 §3.5.
    let header = r#"Digest username="Mufasa",
                 realm="testrealm@host.com",
                 nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
                 uri="/dir/index.html",
                 qop=auth,
                 nc=00000001,
                 cnonce="0a4f113b",
                 response="6629fae49393a05397450978507c4ef1",
                 opaque="5ccc069c403ebaf9f0171e9517f40e41""#;
    let creds = parse_authorization(header).unwrap();
    assert_eq!(creds.username, "Mufasa");
    assert_eq!(creds.realm, "testrealm@host.com");
    assert_eq!(creds.uri, "/dir/index.html");
    assert_eq!(creds.qop, Some(Qop::Auth));
    assert_eq!(creds.nc.as_deref(), Some("00000001"));
    assert_eq!(creds.nc_value(), Some(1));
    assert_eq!(creds.cnonce.as_deref(), Some("0a4f113b"));
    assert_eq!(creds.algorithm, Algorithm::Md5, "MD5 when absent");
    assert_eq!(
        creds.opaque.as_deref(),
        Some("5ccc069c403ebaf9f0171e9517f40e41")
    );
    assert!(verify(&creds, "GET", "Circle Of Life"));
    assert!(!verify(&creds, "GET", "Circle of Life"));
    assert!(!verify(&creds, "POST", "Circle Of Life"));
    let ha1 = digest::ha1(
        "Mufasa",
        "testrealm@host.com",
        "Circle Of Life",
        Algorithm::Md5,
    );
    assert!(verify_ha1(&creds, "GET", &ha1));
    assert!(
        verify_ha1(&creds, "GET", &ha1.to_ascii_uppercase()),
        "HA1 hex case does not matter"
    );
    assert!(!verify_ha1(&creds, "GET", &ha1[..31]), "wrong length");
}

#[test]
fn rfc7616_examples_md5_and_sha256() {
    // RFC 7616 §3.9.1 (note "Circle of Life" here, lowercase "of").
    let base = |alg: &str, response: &str| {
        format!(
            "Digest username=\"Mufasa\", realm=\"http-auth@example.org\", uri=\"/dir/index.html\", \
             algorithm={alg}, nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", nc=00000001, \
             cnonce=\"f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ\", qop=auth, \
             response=\"{response}\", opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\""
        )
    };
    let md5 = parse_authorization(&base("MD5", "8ca523f5e9506fed4657c9700eebdbec")).unwrap();
    assert_eq!(md5.algorithm, Algorithm::Md5);
    assert!(verify(&md5, "GET", "Circle of Life"));

    let sha = parse_authorization(&base(
        "SHA-256",
        "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
    ))
    .unwrap();
    assert_eq!(sha.algorithm, Algorithm::Sha256);
    assert!(verify(&sha, "GET", "Circle of Life"));
    assert!(!verify(&sha, "GET", "Circle Of Life"));
    // An MD5 HA1 cannot verify a SHA-256 response.
    let md5_ha1 = digest::ha1(
        "Mufasa",
        "http-auth@example.org",
        "Circle of Life",
        Algorithm::Md5,
    );
    assert!(!verify_ha1(&sha, "GET", &md5_ha1));
    let sha_ha1 = digest::ha1(
        "Mufasa",
        "http-auth@example.org",
        "Circle of Life",
        Algorithm::Sha256,
    );
    assert_eq!(sha_ha1.len(), 64);
    assert!(verify_ha1(&sha, "GET", &sha_ha1));
}

/// Expected values below were computed independently (Python hashlib) for user `alice`,
/// realm `senim`, password `s3cret`, method REGISTER, uri `sip:127.0.0.1`, nonce `abcdef`.
#[test]
fn register_digests_as_softphones_send_them() {
    assert_eq!(
        digest::ha1("alice", "senim", "s3cret", Algorithm::Md5),
        "f278fdbb6f2338e9b01b558ca0be4193"
    );
    // baresip (libre) style: no space after commas, qop and nc unquoted.
    let baresip = "Digest username=\"alice\",realm=\"senim\",nonce=\"abcdef\",uri=\"sip:127.0.0.1\",\
                   response=\"a45b9089fc459d1e400e21da5238c650\",cnonce=\"0a1b2c3d4e5f6789\",qop=auth,nc=00000001";
    // pjsip (MicroSIP) style: spaces, algorithm given.
    let pjsip = "Digest username=\"alice\", realm=\"senim\", nonce=\"abcdef\", uri=\"sip:127.0.0.1\", \
                 response=\"a45b9089fc459d1e400e21da5238c650\", algorithm=MD5, cnonce=\"0a1b2c3d4e5f6789\", \
                 qop=auth, nc=00000001";
    // Linphone (belle-sip) style: realm first, double spaces, algorithm before username.
    let linphone =
        "Digest realm=\"senim\", nonce=\"abcdef\", algorithm=MD5,  username=\"alice\",  \
                    uri=\"sip:127.0.0.1\",  response=\"a45b9089fc459d1e400e21da5238c650\",  \
                    cnonce=\"0a1b2c3d4e5f6789\", nc=00000001, qop=auth";
    // Old-style quoting of qop and nc, upper-case parameter names and scheme, upper-case hex.
    let odd = "DIGEST USERNAME = \"alice\" , Realm=\"senim\",NONCE=\"abcdef\", Uri=\"sip:127.0.0.1\",\
               Response=\"A45B9089FC459D1E400E21DA5238C650\", CNonce=\"0a1b2c3d4e5f6789\", QOP=\"auth\", NC=\"00000001\"";
    for h in [baresip, pjsip, linphone, odd] {
        let creds = parse_authorization(h).unwrap_or_else(|e| panic!("{h}: {e}"));
        assert!(verify(&creds, "REGISTER", "s3cret"), "{h}");
        assert!(!verify(&creds, "REGISTER", "s3cret "), "{h}");
        assert!(!verify(&creds, "INVITE", "s3cret"), "{h}");
    }

    let sha =
        "Digest username=\"alice\", realm=\"senim\", nonce=\"abcdef\", uri=\"sip:127.0.0.1\", \
               response=\"352fe32bc04421bf03bdcc59a145401251c2a2dc53a694d63e801887e232b86d\", \
               algorithm=SHA-256, cnonce=\"0a1b2c3d4e5f6789\", qop=auth, nc=00000001";
    assert!(verify(
        &parse_authorization(sha).unwrap(),
        "REGISTER",
        "s3cret"
    ));

    // RFC 2069 form (no qop).
    let old =
        "Digest username=\"alice\", realm=\"senim\", nonce=\"abcdef\", uri=\"sip:127.0.0.1\", \
               response=\"3f5c26386c5068d2acee6dc63692366e\"";
    let creds = parse_authorization(old).unwrap();
    assert_eq!(creds.qop, None);
    assert!(verify(&creds, "REGISTER", "s3cret"));

    // MD5-sess.
    let sess =
        "Digest username=\"alice\", realm=\"senim\", nonce=\"abcdef\", uri=\"sip:127.0.0.1\", \
                response=\"297f608112a8c35584de7706d9c25d45\", algorithm=MD5-sess, cnonce=\"cn1\", \
                qop=auth, nc=00000001";
    let creds = parse_authorization(sess).unwrap();
    assert_eq!(creds.algorithm, Algorithm::Md5Sess);
    assert!(verify(&creds, "REGISTER", "s3cret"));
}

#[test]
fn parse_errors() {
    let ok = "username=\"a\", realm=\"r\", nonce=\"n\", uri=\"sip:x\", response=\"00\"";
    assert!(parse_authorization(&format!("Digest {ok}")).is_ok());
    assert_eq!(
        parse_authorization("Basic YWxhZGRpbjpvcGVuc2VzYW1l"),
        Err(DigestError::NotDigest)
    );
    assert_eq!(parse_authorization(""), Err(DigestError::NotDigest));
    assert_eq!(
        parse_authorization("Digest realm=\"r\", nonce=\"n\", uri=\"u\", response=\"0\""),
        Err(DigestError::Missing("username"))
    );
    assert_eq!(
        parse_authorization(&format!("Digest {ok}, username=\"b\"")),
        Err(DigestError::Duplicate("username".into()))
    );
    assert_eq!(
        parse_authorization(&format!(
            "Digest {ok}, qop=auth-int, nc=00000001, cnonce=\"c\""
        )),
        Err(DigestError::UnsupportedQop("auth-int".into()))
    );
    assert_eq!(
        parse_authorization(&format!("Digest {ok}, algorithm=SHA-512-256")),
        Err(DigestError::UnsupportedAlgorithm("SHA-512-256".into()))
    );
    assert_eq!(
        parse_authorization(&format!("Digest {ok}, qop=auth, nc=00000001")),
        Err(DigestError::Missing("cnonce"))
    );
    assert_eq!(
        parse_authorization(&format!("Digest {ok}, qop=auth, cnonce=\"c\"")),
        Err(DigestError::Missing("nc"))
    );
    assert!(matches!(
        parse_authorization(&format!(
            "Digest {ok}, qop=auth, cnonce=\"c\", nc=123456789"
        )),
        Err(DigestError::BadNonceCount(_))
    ));
    assert!(matches!(
        parse_authorization(&format!("Digest {ok}, qop=auth, cnonce=\"c\", nc=zz")),
        Err(DigestError::BadNonceCount(_))
    ));
    assert_eq!(
        parse_authorization(&format!("Digest {ok}, userhash=true")),
        Err(DigestError::UserhashUnsupported)
    );
    assert!(matches!(
        parse_authorization("Digest username=\"a"),
        Err(DigestError::Syntax(_))
    ));
    assert!(matches!(
        parse_authorization("Digest username"),
        Err(DigestError::Syntax(_))
    ));
    assert!(matches!(
        parse_authorization("Digest username=\"a\" realm=\"r\""),
        Err(DigestError::Syntax(_))
    ));
    assert!(matches!(
        parse_authorization("Digest =x"),
        Err(DigestError::Syntax(_))
    ));
    // Empty list elements and unknown parameters are fine; escapes are undone.
    let c = parse_authorization(&format!(
        "Digest ,, {ok},, foo=bar, extra=\"a,b\", username2=\"x\\\"y\""
    ))
    .unwrap();
    assert_eq!(c.username, "a");
    let c = parse_authorization(
        "Digest username=\"al\\\"ice\", realm=\"r\", nonce=\"n\", uri=\"sip:x\", response=\"00\"",
    )
    .unwrap();
    assert_eq!(c.username, "al\"ice");
}

#[test]
fn challenge_header_values() {
    let mut c = Challenge {
        realm: "senim".into(),
        nonce: "abc".into(),
        opaque: Some("op".into()),
        algorithm: Algorithm::Md5,
        qop_auth: true,
        stale: false,
    };
    assert_eq!(
        c.to_header_value(),
        "Digest realm=\"senim\", nonce=\"abc\", opaque=\"op\", algorithm=MD5, qop=\"auth\""
    );
    c.stale = true;
    c.algorithm = Algorithm::Sha256;
    c.opaque = None;
    assert_eq!(
        c.to_header_value(),
        "Digest realm=\"senim\", nonce=\"abc\", algorithm=SHA-256, qop=\"auth\", stale=true"
    );
    c.realm = "a\"b\\c\r\nd".into();
    c.qop_auth = false;
    c.stale = false;
    assert_eq!(
        c.to_header_value(),
        "Digest realm=\"a\\\"b\\\\cd\", nonce=\"abc\", algorithm=SHA-256"
    );
}

#[test]
fn hmac_sha256_rfc4231() {
    // RFC 4231 test cases 2 and 6.
    assert_eq!(
        hex::encode(digest::hmac_sha256(
            b"Jefe",
            &[b"what do ya want ", b"for nothing?"]
        )),
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
    assert_eq!(
        hex::encode(digest::hmac_sha256(
            &[0xaa; 131],
            &[b"Test Using Larger Than Block-Size Key - Hash Key First"]
        )),
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
    );
}

#[test]
fn nonce_lifetime_and_forgery() {
    let m = NonceManager::new(SECRET);
    let n = m.issue(1000);
    assert_eq!(n.len(), 64);
    assert!(n.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_ne!(n, m.issue(1000), "two nonces in the same second differ");
    assert_eq!(m.check(&n, 1000), NonceStatus::Valid);
    assert_eq!(m.check(&n, 1300), NonceStatus::Valid);
    assert_eq!(m.check(&n, 1301), NonceStatus::Stale);
    assert_eq!(m.check(&n, 999), NonceStatus::Invalid, "from the future");
    // Any change breaks the MAC, including the timestamp.
    let newer = format!("{:016x}{}", 5000u64, &n[16..]);
    assert_eq!(m.check(&newer, 5000), NonceStatus::Invalid);
    let mut flipped = n.clone().into_bytes();
    flipped[40] = if flipped[40] == b'0' { b'1' } else { b'0' };
    assert_eq!(
        m.check(&String::from_utf8(flipped).unwrap(), 1000),
        NonceStatus::Invalid
    );
    assert_eq!(m.check(&n[..63], 1000), NonceStatus::Invalid);
    assert_eq!(m.check("", 1000), NonceStatus::Invalid);
    assert_eq!(m.check(&"é".repeat(32), 1000), NonceStatus::Invalid);
    let other = NonceManager::new([8; 32]);
    assert_eq!(other.check(&n, 1000), NonceStatus::Invalid);
    assert_eq!(m.opaque(), NonceManager::new(SECRET).opaque());
    assert_ne!(m.opaque(), other.opaque());
}

#[test]
fn nonce_counts_refuse_replays() {
    let mut m = NonceManager::new(SECRET);
    let n = m.issue(10);
    assert_eq!(m.use_nonce(&n, Some(1), 10), Ok(()));
    assert_eq!(m.use_nonce(&n, Some(1), 11), Err(NonceError::Replay(1)));
    assert_eq!(m.use_nonce(&n, Some(2), 11), Ok(()));
    assert_eq!(m.use_nonce(&n, Some(5), 11), Ok(()));
    // 3 and 4 may still arrive out of order, once each.
    assert_eq!(m.use_nonce(&n, Some(4), 11), Ok(()));
    assert_eq!(m.use_nonce(&n, Some(3), 11), Ok(()));
    assert_eq!(m.use_nonce(&n, Some(3), 11), Err(NonceError::Replay(3)));
    assert_eq!(m.use_nonce(&n, Some(5), 11), Err(NonceError::Replay(5)));
    assert_eq!(m.use_nonce(&n, Some(200), 12), Ok(()));
    assert_eq!(
        m.use_nonce(&n, Some(136), 12),
        Ok(()),
        "64 below: still in the window"
    );
    assert_eq!(m.use_nonce(&n, Some(135), 12), Err(NonceError::Replay(135)));
    assert_eq!(m.use_nonce(&n, Some(201), 311), Err(NonceError::Stale));
    assert_eq!(m.use_nonce("00", Some(1), 12), Err(NonceError::Invalid));

    // Without qop a nonce is good once.
    let n2 = m.issue(20);
    assert_eq!(m.use_nonce(&n2, None, 20), Ok(()));
    assert_eq!(m.use_nonce(&n2, None, 21), Err(NonceError::Replay(1)));
    assert_eq!(m.use_nonce(&n2, Some(1), 21), Err(NonceError::Replay(1)));
    assert_eq!(m.use_nonce(&n2, Some(2), 21), Ok(()));
}

#[test]
fn nonce_memory_is_bounded_without_reopening_replays() {
    let mut m = NonceManager::with_limits(SECRET, 300, 100);
    let nonces: Vec<String> = (0..250u64).map(|i| m.issue(i)).collect();
    for (i, n) in nonces.iter().enumerate() {
        assert_eq!(m.use_nonce(n, Some(1), 250), Ok(()), "nonce {i}");
        assert!(m.tracked() <= 100);
    }
    // The forgotten (oldest) nonces are stale now, so their counts cannot be replayed...
    assert_eq!(m.check(&nonces[0], 250), NonceStatus::Stale);
    assert_eq!(
        m.use_nonce(&nonces[0], Some(1), 250),
        Err(NonceError::Stale)
    );
    assert_eq!(
        m.use_nonce(&nonces[149], Some(1), 250),
        Err(NonceError::Stale)
    );
    // ...while the remembered ones still refuse a replay and take the next count.
    assert_eq!(
        m.use_nonce(&nonces[249], Some(1), 250),
        Err(NonceError::Replay(1))
    );
    assert_eq!(m.use_nonce(&nonces[249], Some(2), 250), Ok(()));
    // A nonce issued after the forgotten ones is fine.
    let fresh = m.issue(251);
    assert_eq!(m.use_nonce(&fresh, Some(1), 251), Ok(()));
    // Time passing forgets histories of expired nonces.
    let later = m.issue(10_000);
    assert_eq!(m.use_nonce(&later, Some(1), 10_000), Ok(()));
    assert_eq!(m.tracked(), 1);
}

/// Hostile Authorization values never panic: random mutations of valid headers and random
/// bytes, with a fixed seed (`SENIM_FUZZ_ITERS` for longer runs).
#[test]
fn malformed_authorization_never_panics() {
    let iters: usize = std::env::var("SENIM_FUZZ_ITERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_000);
    let mut rng = StdRng::seed_from_u64(0x5e41_d16e);
    let seeds = [
        "Digest username=\"alice\", realm=\"senim\", nonce=\"abcdef\", uri=\"sip:127.0.0.1\", response=\"a45b9089fc459d1e400e21da5238c650\", algorithm=MD5, cnonce=\"0a1b2c3d4e5f6789\", qop=auth, nc=00000001, opaque=\"x\"",
        "Digest username=\"Mufasa\", realm=\"http-auth@example.org\", algorithm=SHA-256-sess, nonce=\"n\", nc=ffffffff, cnonce=\"c\", qop=\"auth\", uri=\"/\", response=\"0\"",
    ];
    let alphabet: &[u8] = b"\"\\,= \t\r\nDigestqopnc0f:;@%\xc3\xa9\xff\x00";
    let mut parsed = 0usize;
    for _ in 0..iters {
        let mut bytes = seeds[rng.gen_range(0..seeds.len())].as_bytes().to_vec();
        for _ in 0..rng.gen_range(1..8) {
            let pos = rng.gen_range(0..=bytes.len());
            match rng.gen_range(0..4) {
                0 if pos < bytes.len() => {
                    bytes.remove(pos);
                }
                1 => bytes.insert(pos, alphabet[rng.gen_range(0..alphabet.len())]),
                2 if pos < bytes.len() => bytes[pos] = rng.gen(),
                _ => bytes.truncate(pos),
            }
        }
        let text = String::from_utf8_lossy(&bytes);
        if let Ok(creds) = parse_authorization(&text) {
            parsed += 1;
            let _ = verify(&creds, "REGISTER", "s3cret");
            let _ = verify_ha1(&creds, "REGISTER", "zz");
            let _ = creds.nc_value();
            let _: &Credentials = &creds;
        }
    }
    assert!(parsed > 0, "some mutations still parse");
}
