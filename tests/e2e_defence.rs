//! Defence on the open internet, tried against the running binary on
//! loopback (`docs/defence.md`):
//!
//! - Who may start a call: the trunk's INVITE (from 127.0.0.1) is answered;
//!   the same INVITE from another address (127.0.0.2) starts no call and is
//!   met with silence (the default) or a 403 (`unknown_sources = "403"`),
//!   counted in `/metrics`.
//! - SIPVicious from Debian's `sipvicious` package: `svmap` finds no SIP
//!   device, `svwar` no extension (REGISTER, INVITE and OPTIONS), `svcrack`
//!   no password even with the right one in its list.
//! - The registrar: 20 wrong passwords lock a softphone user out; meanwhile
//!   the right password gets exactly the answer a wrong one gets; once the
//!   lock-out period (3 s here) is over it registers. Failures are logged at
//!   warn with the source address. An unknown user and a wrong password get
//!   the same answers. The digest client here is written from RFC 7616 with
//!   SHA-256 (the algorithm Senim offers first), independent of Senim's own.

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::caller::{self, Caller};
use common::{have, http, repo_root, wait_until, Senim};
use sha2::{Digest, Sha256};

const OFFER: &str = "0 101";
const RTPMAPS: &str =
    "a=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n";
const PASSWORD: &str = "correct-horse-42";

fn specialist(id: &str, password: &str) -> String {
    format!(
        "[[specialist]]\nid = \"{id}\"\nname = \"{id}\"\nskills = [\"psychology\"]\nlanguages = [\"kk\", \"ru\"]\nusername = \"{id}\"\npassword = \"{password}\"\n"
    )
}

fn start(config: &str) -> Senim {
    let plan = repo_root().join("tests/dialplans/menu.xml");
    let plan = plan.display().to_string();
    Senim::start_with(Some(config), &[("SENIM_DIALPLAN", plan.as_str())])
}

/// A sample of `/metrics` (name with its labels, as printed), 0 when absent.
fn metric(senim: &Senim, sample: &str) -> u64 {
    let (code, text) = http(senim.http, "GET", "/metrics");
    assert_eq!(code, 200, "{text}");
    text.lines()
        .find_map(|l| {
            l.strip_prefix(sample)?
                .strip_prefix(' ')?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

fn calls_recorded(senim: &Senim) -> i64 {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let pool = senim.db().await;
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM calls")
            .fetch_one(&pool)
            .await
            .expect("count calls")
    })
}

/// Everything that arrives on the caller's SIP socket within `span`.
fn all_within(c: &Caller, span: Duration) -> Vec<String> {
    let end = Instant::now() + span;
    let mut out = Vec::new();
    while let Some(left) = end.checked_duration_since(Instant::now()) {
        if left.is_zero() {
            break;
        }
        match c.recv(left) {
            Some(m) => out.push(m),
            None => break,
        }
    }
    out
}

const STRANGER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

#[test]
fn an_invite_from_a_stranger_starts_no_call_while_the_trunks_call_is_answered() {
    // The trunk is at 127.0.0.1 (any port): the test caller on 127.0.0.1 is
    // the trunk, the one on 127.0.0.2 a stranger. Port 9 is never sent to
    // (no probes, no registration).
    let config = "[[trunk]]\nid = \"provider\"\naddress = \"127.0.0.1:9\"\nprobe_every = \"0s\"\n";
    let senim = start(config);

    // A stranger: no answer at all, not even 100 Trying, for an INVITE or an OPTIONS.
    let stranger = Caller::new_from(senim.sip, STRANGER);
    let offer = stranger.offer(OFFER, RTPMAPS);
    let invite = stranger.request("INVITE", 1, "bstr1", "", Some("application/sdp"), &offer);
    stranger.send_raw(&invite);
    stranger.send_raw(&stranger.request("OPTIONS", 2, "bstr2", "", None, ""));
    let heard = all_within(&stranger, Duration::from_secs(3));
    assert!(heard.is_empty(), "silence for a stranger: {heard:?}");

    // The trunk's call is answered.
    let mut trunk = Caller::new(senim.sip);
    let offer = trunk.offer(OFFER, RTPMAPS);
    let ok = trunk.call(Some(&offer), None);
    assert_eq!(caller::status(&ok), Some(200));
    assert!(
        trunk.rtp_for(Duration::from_millis(600)).len() > 10,
        "the greeting plays to the trunk's caller"
    );
    assert_eq!(trunk.bye(), Some(200));

    assert_eq!(calls_recorded(&senim), 1, "one call: the trunk's");
    assert_eq!(
        metric(
            &senim,
            "senim_sip_requests_refused_total{reason=\"unknown-source\"}"
        ),
        2
    );
    assert_eq!(metric(&senim, "senim_calls_total"), 1);
    // The operator sees the stranger once at warn (the OPTIONS after the
    // INVITE only at debug: one line per source every five minutes).
    let log = senim.log();
    let warned: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("WARN") && l.contains("refused: not a trunk"))
        .collect();
    assert_eq!(warned.len(), 1, "{log}");
    assert!(warned[0].contains("127.0.0.2"), "{}", warned[0]);
}

#[test]
fn strangers_get_a_403_when_configured() {
    let config = "[sip]\nunknown_sources = \"403\"\n\n[[trunk]]\nid = \"provider\"\naddress = \"127.0.0.1:9\"\nprobe_every = \"0s\"\n";
    let senim = start(config);
    let stranger = Caller::new_from(senim.sip, STRANGER);
    let offer = stranger.offer(OFFER, RTPMAPS);
    stranger.send_raw(&stranger.request(
        "INVITE",
        1,
        "bstr403",
        "",
        Some("application/sdp"),
        &offer,
    ));
    let first = stranger
        .recv(Duration::from_secs(3))
        .expect("an answer to the stranger");
    assert_eq!(
        caller::status(&first),
        Some(403),
        "no 100 Trying first: {first}"
    );
    assert!(
        caller::header(&first, "To").is_some_and(|t| t.contains(";tag=")),
        "{first}"
    );
    // ACK it, as a caller would; nothing else comes.
    let mut ack = stranger.request("ACK", 1, "bstr403", "", None, "");
    let to = caller::header(&first, "To").unwrap_or_default().to_string();
    ack = ack
        .lines()
        .map(|l| {
            if l.starts_with("To:") {
                format!("To: {to}")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\r\n");
    stranger.send_raw(&ack);
    assert!(all_within(&stranger, Duration::from_secs(1)).is_empty());
    assert_eq!(calls_recorded(&senim), 0, "no call record for a stranger");
    // The trunk's call still is.
    let mut trunk = Caller::new(senim.sip);
    let offer = trunk.offer(OFFER, RTPMAPS);
    assert_eq!(caller::status(&trunk.call(Some(&offer), None)), Some(200));
    assert_eq!(trunk.bye(), Some(200));
}

/// Run a command to its end, at most `limit` (then kill it); its output.
fn run_bounded(cmd: &mut Command, limit: Duration) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let out_path = dir.path().join("out");
    let out = std::fs::File::create(&out_path).expect("out file");
    let err = out.try_clone().expect("clone");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .spawn()
        .expect("start the tool");
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(Some(_)) = child.try_wait() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    std::fs::read_to_string(&out_path).unwrap_or_default()
}

#[test]
fn sipvicious_finds_no_device_no_extension_and_no_password() {
    assert!(
        have("svmap") && have("svwar") && have("svcrack"),
        "sipvicious is not installed: run scripts/test"
    );
    // No trunk: the loopback demo, where every local source may call. Even
    // so scanners get nothing. A softphone account exists to be found.
    let senim = start(&specialist("aigerim", PASSWORD));
    let host = senim.sip.ip().to_string();
    let port = senim.sip.port().to_string();
    let dir = tempfile::tempdir().expect("tempdir");
    let names = dir.path().join("names.txt");
    std::fs::write(&names, "aigerim\nadmin\n100\n").expect("names");
    let passwords = dir.path().join("passwords.txt");
    std::fs::write(&passwords, format!("123456\npassword\n{PASSWORD}\n")).expect("passwords");
    let limit = Duration::from_secs(60);

    let svmap = run_bounded(Command::new("svmap").args([&host, "-p", &port]), limit);
    assert!(svmap.contains("found nothing"), "svmap:\n{svmap}");
    assert!(!svmap.contains(&format!(":{port}")), "svmap:\n{svmap}");

    let mut runs = vec![svmap];
    for method in ["REGISTER", "INVITE", "OPTIONS"] {
        for list in [
            vec!["-e", "100-110"],
            vec!["-d", names.to_str().unwrap_or("")],
        ] {
            let mut cmd = Command::new("svwar");
            cmd.args([&host, "-p", &port, "-m", method]).args(&list);
            let out = run_bounded(&mut cmd, limit);
            assert!(
                out.contains("found nothing"),
                "svwar -m {method} {list:?}:\n{out}"
            );
            assert!(!out.contains("aigerim"), "svwar -m {method}:\n{out}");
            runs.push(out);
        }
    }
    let svcrack = run_bounded(
        Command::new("svcrack").args([
            &host,
            "-p",
            &port,
            "-u",
            "aigerim",
            "-d",
            passwords.to_str().unwrap_or(""),
        ]),
        limit,
    );
    assert!(!svcrack.contains(PASSWORD), "svcrack:\n{svcrack}");
    assert!(svcrack.contains("found nothing"), "svcrack:\n{svcrack}");
    runs.push(svcrack);

    let dropped = metric(
        &senim,
        "senim_sip_requests_refused_total{reason=\"scanner\"}",
    );
    assert!(
        dropped >= runs.len() as u64,
        "each tool's requests dropped: {dropped}"
    );
    assert_eq!(metric(&senim, "senim_registrar_failures_total"), 0);
    assert_eq!(calls_recorded(&senim), 0, "no call record from a scanner");
}

// ---------------------------------------------------------------------------
// A REGISTER client with SHA-256 digest (RFC 7616 §3.4.1, qop=auth)
// ---------------------------------------------------------------------------

fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

struct Challenge {
    realm: String,
    nonce: String,
    opaque: Option<String>,
}

/// The first WWW-Authenticate of a 401 (SHA-256 when Senim offers it first).
fn challenge(response: &str) -> Challenge {
    let value = caller::header(response, "WWW-Authenticate").expect("a challenge");
    assert!(
        value.contains("algorithm=SHA-256"),
        "SHA-256 first: {value}"
    );
    let param = |name: &str| {
        let at = value.find(&format!("{name}=\""))? + name.len() + 2;
        let rest = &value[at..];
        Some(rest[..rest.find('"')?].to_string())
    };
    Challenge {
        realm: param("realm").expect("realm"),
        nonce: param("nonce").expect("nonce"),
        opaque: param("opaque"),
    }
}

struct Registering {
    sock: UdpSocket,
    server: SocketAddr,
    call_id: String,
    cseq: u32,
}

impl Registering {
    fn new(server: SocketAddr, ip: IpAddr) -> Registering {
        let sock = UdpSocket::bind(SocketAddr::new(ip, 0)).expect("bind");
        Registering {
            sock,
            server,
            call_id: format!("{}@defence", caller::rand_hex()),
            cseq: 0,
        }
    }

    fn addr(&self) -> SocketAddr {
        self.sock.local_addr().expect("local address")
    }

    /// One REGISTER for `user` (with a digest for `password` answering
    /// `challenge`, if given); Senim's final answer.
    fn send(&mut self, user: &str, auth: Option<(&Challenge, &str)>) -> String {
        self.cseq += 1;
        let me = self.addr();
        let uri = format!("sip:{}", self.server);
        let authorization = auth.map_or(String::new(), |(ch, password)| {
            let cnonce = caller::rand_hex();
            let nc = "00000001";
            let ha1 = sha256_hex(&format!("{user}:{}:{password}", ch.realm));
            let ha2 = sha256_hex(&format!("REGISTER:{uri}"));
            let response = sha256_hex(&format!("{ha1}:{}:{nc}:{cnonce}:auth:{ha2}", ch.nonce));
            let opaque = ch
                .opaque
                .as_ref()
                .map_or(String::new(), |o| format!(", opaque=\"{o}\""));
            format!(
                "Authorization: Digest username=\"{user}\", realm=\"{}\", nonce=\"{}\", uri=\"{uri}\", response=\"{response}\", algorithm=SHA-256, cnonce=\"{cnonce}\", qop=auth, nc={nc}{opaque}\r\n",
                ch.realm, ch.nonce
            )
        });
        let text = format!(
            "REGISTER {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK{}{};rport\r\nMax-Forwards: 70\r\nFrom: <sip:{user}@{host}>;tag={tag}\r\nTo: <sip:{user}@{host}>\r\nCall-ID: {cid}\r\nCSeq: {cseq} REGISTER\r\nContact: <sip:{user}@{me}>\r\nExpires: 600\r\nUser-Agent: defence-test\r\n{authorization}Content-Length: 0\r\n\r\n",
            caller::rand_hex(),
            self.cseq,
            host = self.server.ip(),
            tag = caller::rand_hex(),
            cid = self.call_id,
            cseq = self.cseq,
        );
        self.sock
            .send_to(text.as_bytes(), self.server)
            .expect("send");
        self.sock
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let mut buf = [0u8; 65535];
        let (n, _) = self
            .sock
            .recv_from(&mut buf)
            .expect("an answer to REGISTER");
        String::from_utf8_lossy(&buf[..n]).to_string()
    }

    /// Ask for a challenge, then answer it with `password`.
    fn login(&mut self, user: &str, password: &str) -> (String, String) {
        let first = self.send(user, None);
        assert_eq!(caller::status(&first), Some(401), "{first}");
        let ch = challenge(&first);
        let second = self.send(user, Some((&ch, password)));
        (first, second)
    }
}

/// What a response shows a client, without what changes every time (the
/// nonce, the To tag, the echoed request headers).
fn shape(response: &str) -> Vec<String> {
    response
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (name, value) = l.split_once(':').unwrap_or((l, ""));
            match name.to_ascii_lowercase().as_str() {
                "www-authenticate" => {
                    let at = value.find("nonce=\"").map_or(0, |i| i + 7);
                    let end = value[at..].find('"').map_or(at, |i| at + i);
                    format!("{name}:{}*{}", &value[..at], &value[end..])
                }
                "via" | "from" | "to" | "call-id" | "cseq" => format!("{name}: (echoed)"),
                _ => l.to_string(),
            }
        })
        .collect()
}

fn registered(senim: &Senim, id: &str) -> Option<u64> {
    let (_, body) = http(senim.http, "GET", "/specialists");
    let at = body.find(&format!("\"id\":\"{id}\""))?;
    let n = body[at..].split("\"registered\":").nth(1)?;
    n.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
}

#[test]
fn twenty_wrong_passwords_lock_a_softphone_until_the_lockout_ends() {
    let config = format!(
        "[registrar]\nlockout = \"3s\"\n\n{}\n{}",
        specialist("aigerim", PASSWORD),
        specialist("daniyar", "another-secret-17")
    );
    let senim = start(&config);

    // An unknown user and a known user's wrong password: the same answers
    // (from an address of its own, so its failures lock nothing below).
    let mut probe = Registering::new(senim.sip, IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3)));
    let unknown = probe.login("nosuchuser", "a-guessed-password");
    let wrong = probe.login("daniyar", "a-guessed-password");
    assert_eq!(shape(&unknown.0), shape(&wrong.0), "the first challenge");
    assert_eq!(
        shape(&unknown.1),
        shape(&wrong.1),
        "the answer to a password"
    );
    assert_eq!(caller::status(&wrong.1), Some(401));

    // 20 wrong passwords for aigerim.
    let mut guesser = Registering::new(senim.sip, IpAddr::V4(Ipv4Addr::LOCALHOST));
    let mut last_wrong = String::new();
    for i in 1..=20 {
        let (_, answer) = guesser.login("aigerim", &format!("guess-number-{i}"));
        assert_eq!(caller::status(&answer), Some(401), "guess {i}: {answer}");
        last_wrong = answer;
    }
    let locked_at = Instant::now();
    // Now the right password is refused, with the very answer a wrong one gets.
    let (_, refused) = guesser.login("aigerim", PASSWORD);
    assert_eq!(
        shape(&refused),
        shape(&last_wrong),
        "a lock-out gives nothing away"
    );
    let mut elsewhere = Registering::new(senim.sip, IpAddr::V4(Ipv4Addr::new(127, 0, 0, 4)));
    let (_, refused) = elsewhere.login("aigerim", PASSWORD);
    assert_eq!(
        caller::status(&refused),
        Some(401),
        "the user is locked from any address"
    );
    assert_eq!(registered(&senim, "aigerim"), Some(0));

    // The failures are logged at warn with the source address, and counted.
    let log = senim.log();
    let me = guesser.addr().to_string();
    let warned = log
        .lines()
        .filter(|l| {
            l.contains("WARN") && l.contains("REGISTER with wrong credentials") && l.contains(&me)
        })
        .count();
    assert_eq!(
        warned, 20,
        "one warning per failure with the source:\n{log}"
    );
    assert!(
        log.lines()
            .any(|l| l.contains("WARN") && l.contains("locked out") && l.contains("user aigerim")),
        "{log}"
    );
    assert_eq!(metric(&senim, "senim_registrar_failures_total"), 22);
    assert_eq!(
        metric(&senim, "senim_registrar_lockouts_total{of=\"user\"}"),
        1
    );
    assert_eq!(
        metric(&senim, "senim_registrar_lockouts_total{of=\"source\"}"),
        1
    );

    // After the lock-out period (3 s) the right password works again.
    let mut attempts = 0;
    let mut answer = String::new();
    let ok = wait_until(Duration::from_secs(15), || {
        attempts += 1;
        answer = guesser.login("aigerim", PASSWORD).1;
        if caller::status(&answer) == Some(200) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(400));
        false
    });
    assert!(
        ok,
        "registered after the lock-out: {answer}\n{}",
        senim.log()
    );
    let waited = locked_at.elapsed();
    assert!(
        waited >= Duration::from_millis(2500) && attempts > 1,
        "not before the period is over: {waited:?}, {attempts} attempts"
    );
    assert_eq!(registered(&senim, "aigerim"), Some(1));
}
