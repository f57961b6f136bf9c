//! SIP over TLS end to end, with a self-signed certificate made by the test
//! (rcgen): a raw rustls client's OPTIONS is answered over TLS, plain text
//! on the TLS port gets nothing, and a renewed certificate is served
//! without a restart while a broken one is refused. Then baresip, a real
//! softphone, registers over TLS, calls in over TLS (its keys work, it hears
//! the prompts) and is rung over its TLS connection. With its srtp module,
//! on an account that requires SRTP, it calls in with SRTP (it hears the
//! greeting, its keys work), and offering plain RTP it gets 488.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::baresip::Baresip;
use common::caller::{ulaw_decode, Caller};
use common::{http, repo_root, wait_until, Senim};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use senim_media::{Codec, Language};

/// A self-signed certificate for 127.0.0.1 and localhost: (certificate PEM, key PEM).
fn self_signed() -> (String, String) {
    let c = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()])
        .expect("certificate");
    (c.cert.pem(), c.signing_key.serialize_pem())
}

/// The `[sip]` keys that turn TLS on, with the files in `dir`.
fn tls_config(dir: &Path) -> String {
    format!(
        "[sip]\ntls_listen = \"127.0.0.1:0\"\ntls_cert = \"{}\"\ntls_key = \"{}\"\n",
        dir.join("sip.crt").display(),
        dir.join("sip.key").display()
    )
}

fn write_pair(dir: &Path, (cert, key): &(String, String)) {
    std::fs::write(dir.join("sip.crt"), cert).expect("write certificate");
    std::fs::write(dir.join("sip.key"), key).expect("write key");
}

/// A client that trusts only `ca_pem`.
fn client(ca_pem: &str) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.expect("PEM")).expect("root");
    }
    Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth(),
    )
}

/// Send an OPTIONS over a new TLS connection to `addr`; the response's
/// head, or why there is none (a certificate not trusted, no answer).
fn options_over_tls(addr: SocketAddr, config: Arc<rustls::ClientConfig>) -> Result<String, String> {
    let sock =
        TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(|e| e.to_string())?;
    sock.set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    let local = sock.local_addr().map_err(|e| e.to_string())?;
    let name = ServerName::try_from("127.0.0.1").map_err(|e| e.to_string())?;
    let conn = rustls::ClientConnection::new(config, name).map_err(|e| e.to_string())?;
    let mut tls = rustls::StreamOwned::new(conn, sock);
    let request = format!(
        "OPTIONS sip:{addr} SIP/2.0\r\n\
         Via: SIP/2.0/TLS {local};branch=z9hG4bK-tls-{}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:probe@{local}>;tag=t1\r\n\
         To: <sip:{addr}>\r\n\
         Call-ID: tls-options-{}@test\r\n\
         CSeq: 1 OPTIONS\r\n\
         Content-Length: 0\r\n\r\n",
        local.port(),
        local.port()
    );
    tls.write_all(request.as_bytes())
        .map_err(|e| e.to_string())?;
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut got = Vec::new();
    let mut chunk = [0u8; 2048];
    for _ in 0..100 {
        if Instant::now() > deadline {
            break;
        }
        match tls.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&chunk[..n]),
            Err(e) => return Err(e.to_string()),
        }
        if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            return Ok(String::from_utf8_lossy(&got[..end]).into_owned());
        }
    }
    Err(format!(
        "no whole response: {:?}",
        String::from_utf8_lossy(&got)
    ))
}

fn metric(senim: &Senim, line_start: &str) -> f64 {
    let (_, text) = http(senim.http, "GET", "/metrics");
    text.lines()
        .find(|l| l.starts_with(line_start))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

#[test]
fn options_over_tls_are_answered_and_a_renewed_certificate_is_served_without_a_restart() {
    let certs = tempfile::tempdir().expect("tempdir");
    let first = self_signed();
    write_pair(certs.path(), &first);
    let senim = Senim::start_with(Some(&tls_config(certs.path())), &[]);
    let tls = senim.tls.expect("the ready line names the TLS address");

    let head = options_over_tls(tls, client(&first.0)).expect("OPTIONS over TLS");
    assert!(head.starts_with("SIP/2.0 200 "), "{head}");
    assert!(head.contains("Via: SIP/2.0/TLS "), "{head}");
    assert!(head.contains("Allow: "), "{head}");

    // Plain SIP on the TLS port: no handshake, no answer, counted.
    let mut plain = TcpStream::connect(tls).expect("connect");
    plain
        .set_read_timeout(Some(Duration::from_secs(3)))
        .expect("timeout");
    plain
        .write_all(b"OPTIONS sip:x SIP/2.0\r\nContent-Length: 0\r\n\r\n")
        .expect("write");
    let mut back = Vec::new();
    let _ = plain.read_to_end(&mut back);
    assert!(
        !String::from_utf8_lossy(&back).contains("SIP/2.0"),
        "no SIP answer in clear: {back:?}"
    );
    assert!(
        wait_until(Duration::from_secs(5), || metric(
            &senim,
            "senim_sip_refused_total{reason=\"tls-handshake\"}"
        ) >= 1.0),
        "the failed handshake is counted"
    );

    // A renewed certificate (a new key too): new connections get it.
    let second = self_signed();
    write_pair(certs.path(), &second);
    assert!(
        wait_until(Duration::from_secs(10), || options_over_tls(
            tls,
            client(&second.0)
        )
        .is_ok()),
        "the renewed certificate is served:\n{}",
        senim.log()
    );
    assert!(
        options_over_tls(tls, client(&first.0)).is_err(),
        "the old one is not"
    );

    // A broken file: logged, and the certificate in use stays.
    std::fs::write(certs.path().join("sip.crt"), "not a certificate").expect("write");
    assert!(
        wait_until(Duration::from_secs(10), || senim
            .log()
            .contains("SIP TLS certificate not reloaded")),
        "a broken certificate is reported:\n{}",
        senim.log()
    );
    let head = options_over_tls(tls, client(&second.0)).expect("still served");
    assert!(head.starts_with("SIP/2.0 200 "), "{head}");
    let log = senim.log();
    assert!(
        log.contains("sip.tls_cert") && log.contains("no PEM certificate"),
        "the log names the key and the fault:\n{log}"
    );
}

#[test]
fn a_missing_certificate_stops_the_start_naming_the_key() {
    let certs = tempfile::tempdir().expect("tempdir");
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("senim.toml");
    std::fs::write(&config, tls_config(certs.path())).expect("config");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_senim"))
        .arg("check")
        .arg("--config")
        .arg(&config)
        .current_dir(dir.path())
        .output()
        .expect("run senim check");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("sip.tls_cert") && err.contains("cannot read"),
        "{err}"
    );
}

/// What baresip received in its call, from sndfile's recording of the
/// decoded audio in `dir/snd` (16-bit samples).
fn received(dir: &Path) -> Vec<i16> {
    let dec = std::fs::read_dir(dir.join("snd"))
        .expect("snd")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with("-dec.wav"))
        .expect("baresip recorded what it received");
    std::fs::read(&dec)
        .unwrap_or_default()
        .get(44..)
        .unwrap_or(&[])
        .chunks_exact(2)
        .map(|c| i16::from_le_bytes([c[0], c[1]]))
        .collect()
}

fn rms(samples: &[i16]) -> f64 {
    (samples.iter().map(|s| f64::from(*s).powi(2)).sum::<f64>() / samples.len().max(1) as f64)
        .sqrt()
}

/// Is a fifth of a second of the greeting (from its 0.3 s on, past the
/// fade-in), as Senim sends it in PCMU and G.711 decodes it, in `samples`?
/// Either language's recording counts; a sample may differ by a step of
/// the decoder's rounding.
fn greeting_in(samples: &[i16]) -> bool {
    let library = senim::bundled::prompts().expect("the bundled prompts");
    [Language::Ru, Language::Kk].into_iter().any(|lang| {
        let prompt = library.get("greeting-short", lang).expect("the greeting");
        let needle: Vec<i16> = (15..25)
            .filter_map(|i| prompt.frame(Codec::Pcmu, i))
            .flatten()
            .map(|b| ulaw_decode(*b))
            .collect();
        assert_eq!(needle.len(), 10 * 160, "the greeting is long enough");
        assert!(
            rms(&needle) > 500.0,
            "speech, not a pause: {:.0}",
            rms(&needle)
        );
        samples.windows(needle.len()).any(|w| {
            w.iter()
                .zip(&needle)
                .all(|(a, b)| (i32::from(*a) - i32::from(*b)).abs() <= 8)
        })
    })
}

/// baresip registers over TLS (the account says `;transport=tls`; it
/// trusts the test's certificate through `sip_cafile`), calls in over TLS,
/// presses 2 (Russian) by RFC 4733 and hears the prompts; Senim records the
/// call's transport as tls. Then a caller asks for psychology and Senim
/// rings the softphone over the TLS connection it registered on.
#[test]
fn baresip_registers_calls_in_and_is_rung_over_tls() {
    let certs = tempfile::tempdir().expect("tempdir");
    let pair = self_signed();
    write_pair(certs.path(), &pair);
    let config = format!(
        r#"{}
# baresip 1.0 (Debian 12) gives up when a SHA-256 challenge is offered at all.
[registrar]
algorithms = ["MD5"]

[hours.centre]
always = true
holidays = "open"

[routing]
accept_timeout = "10s"

# Senim hangs up the phone at once when the caller leaves (no wrap-up
# menu: that is tests/e2e_wrap_up.rs).
[wrap_up]
menu = false

[[specialist]]
id = "aigerim"
name = "Aigerim"
skills = ["psychology"]
languages = ["kk", "ru"]
username = "aigerim"
password = "correct-horse-42"
wrap_up = "1s"
"#,
        tls_config(certs.path())
    );
    let senim = Senim::start_with(Some(&config), &[]);
    let tls = senim.tls.expect("TLS address");
    let dir = senim.dir.path().join("phone");
    std::fs::create_dir_all(&dir).expect("dir");
    let account = format!(
        "<sip:aigerim@{tls};transport=tls>;auth_pass=correct-horse-42;regint=600;\
         answermode=auto;audio_codecs=PCMU,PCMA"
    );
    let mut phone = Baresip::start_configured(
        &dir,
        Some(&account),
        &repo_root().join("tests/media/caller-speech.wav"),
        &format!("sip_cafile\t{}", certs.path().join("sip.crt").display()),
    );
    let registered = || {
        let (_, body) = http(senim.http, "GET", "/specialists");
        body.contains("\"registered\":1")
    };
    assert!(
        wait_until(Duration::from_secs(10), registered),
        "baresip registered over TLS:\n{}\n{}",
        phone.log(),
        senim.log()
    );
    assert!(
        phone.log().contains("{0/TLS/"),
        "baresip says its registration went over TLS:\n{}",
        phone.log()
    );

    // Calling in over TLS: the menu in Russian, keys by RFC 4733.
    phone.command("dial", &format!("sip:100@{tls}"));
    assert!(
        phone.wait_event("CALL_ESTABLISHED", Duration::from_secs(10)),
        "the call over TLS is answered:\n{}\n{}",
        phone.log(),
        senim.log()
    );
    std::thread::sleep(Duration::from_millis(1500));
    phone.command("sndcode", "2");
    std::thread::sleep(Duration::from_millis(2500));
    phone.command("hangup", "");
    assert!(
        phone.wait_event("CALL_CLOSED", Duration::from_secs(10)),
        "the call over TLS ends with baresip's BYE:\n{}",
        senim.log()
    );
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let calls = rt.block_on(senim.ended_calls(1));
    assert_eq!(calls[0].transport, "tls", "{:?}", calls[0]);
    assert_eq!(calls[0].language.as_deref(), Some("ru"), "{:?}", calls[0]);
    assert_eq!(calls[0].digits, vec![("2".into(), "rfc4733".into())]);
    assert_eq!(
        calls[0].hangup_by.as_deref(),
        Some("caller"),
        "{:?}",
        calls[0]
    );
    let samples = received(&dir);
    let level = rms(&samples);
    assert!(
        samples.len() > 8000 * 2 && level > 300.0,
        "baresip heard the prompts over the TLS call: {} samples, rms {level:.0}",
        samples.len()
    );

    // Rung over TLS: a caller (UDP) asks for psychology (1 Kazakh, 2
    // psychology, by SIP INFO); Senim's INVITE reaches baresip only on its
    // TLS connection (its Contact is a TLS one, its source port ephemeral).
    phone.events.clear();
    let mut caller = Caller::new(senim.sip);
    let offer = caller.offer(
        "0 101",
        "a=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n",
    );
    caller.call(Some(&offer), None);
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(caller.press_info('1'), Some(200), "INFO 1");
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(caller.press_info('2'), Some(200), "INFO 2");
    assert!(
        phone.wait_event("CALL_ESTABLISHED", Duration::from_secs(10)),
        "Senim rings the softphone over TLS and it answers:\n{}\n{}",
        phone.log(),
        senim.log()
    );
    assert!(
        phone
            .events
            .iter()
            .any(|e| e.contains("CALL_ESTABLISHED") && e.contains("\"direction\":\"incoming\"")),
        "{:#?}",
        phone.events
    );
    assert_eq!(caller.bye(), Some(200), "the caller's BYE");
    assert!(
        phone.wait_event("CALL_CLOSED", Duration::from_secs(10)),
        "Senim's BYE reaches the softphone over TLS:\n{}\n{}",
        phone.log(),
        senim.log()
    );
}

/// The must-show of SRTP: a softphone account that requires SRTP
/// (`require_srtp = true`) used by baresip with its srtp module and
/// `mediaenc=srtp-mand` registers over TLS and calls in offering RTP/SAVP
/// with `a=crypto`; Senim answers with SRTP (both logs say so, and no
/// packet fails to decrypt at baresip), baresip hears
/// the greeting (found in its recording, decrypted by it) and its RFC 4733
/// key inside SRTP is taken. The same account over TLS offering plain RTP
/// is refused with 488.
#[test]
fn baresip_calls_over_tls_with_srtp_and_plain_rtp_from_the_same_account_gets_488() {
    let certs = tempfile::tempdir().expect("tempdir");
    let pair = self_signed();
    write_pair(certs.path(), &pair);
    let config = format!(
        r#"{}
[registrar]
algorithms = ["MD5"]

[hours.centre]
always = true
holidays = "open"

[[specialist]]
id = "aigerim"
name = "Aigerim"
skills = ["psychology"]
languages = ["kk", "ru"]
username = "aigerim"
password = "correct-horse-42"
require_srtp = true
"#,
        tls_config(certs.path())
    );
    let senim = Senim::start_with(Some(&config), &[]);
    let tls = senim.tls.expect("TLS address");
    let cafile = format!("sip_cafile\t{}", certs.path().join("sip.crt").display());
    let account = |mediaenc: &str| {
        format!(
            "<sip:aigerim@{tls};transport=tls>;auth_pass=correct-horse-42;regint=600;\
             answermode=auto;audio_codecs=PCMU{mediaenc}"
        )
    };
    // Its log line for a registration's 200 (the ctrl_tcp event may come
    // before the test is connected).
    let registered = |phone: &mut Baresip| {
        wait_until(Duration::from_secs(10), || {
            phone.log().contains("{0/TLS/v4} 200 OK")
        })
    };

    // SRTP: offered by baresip, answered by Senim.
    let dir = senim.dir.path().join("phone-srtp");
    std::fs::create_dir_all(&dir).expect("dir");
    let mut phone = Baresip::start_configured(
        &dir,
        Some(&account(";mediaenc=srtp-mand")),
        &repo_root().join("tests/media/caller-speech.wav"),
        &format!("{cafile}\nmodule\t\t\tsrtp.so"),
    );
    assert!(
        registered(&mut phone),
        "baresip registered over TLS:\n{}\n{}",
        phone.log(),
        senim.log()
    );
    phone.command("dial", &format!("sip:100@{tls}"));
    assert!(
        phone.wait_event("CALL_ESTABLISHED", Duration::from_secs(10)),
        "the SRTP call over TLS is answered:\n{}\n{}",
        phone.log(),
        senim.log()
    );
    std::thread::sleep(Duration::from_millis(2000));
    phone.command("sndcode", "2");
    std::thread::sleep(Duration::from_millis(2500));
    phone.command("hangup", "");
    assert!(
        phone.wait_event("CALL_CLOSED", Duration::from_secs(10)),
        "the SRTP call ends with baresip's BYE:\n{}",
        senim.log()
    );
    let log = phone.log();
    assert!(
        log.contains("SRTP is Enabled (cryptosuite=AES_CM_128_HMAC_SHA1_"),
        "baresip took the key of Senim's RTP/SAVP answer:\n{log}"
    );
    assert!(
        !log.contains("failed to decrypt") && !log.contains("no valid a=crypto"),
        "every packet from Senim decrypted:\n{log}"
    );
    assert!(
        senim
            .log()
            .contains("media: SRTP (SDES keys over TLS) suite=AES_CM_128_HMAC_SHA1_"),
        "Senim answered with SRTP:\n{}",
        senim.log()
    );
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let calls = rt.block_on(senim.ended_calls(1));
    assert_eq!(calls[0].transport, "tls", "{:?}", calls[0]);
    assert!(calls[0].answered, "{:?}", calls[0]);
    assert_eq!(
        calls[0].digits,
        vec![("2".into(), "rfc4733".into())],
        "the key, sent inside SRTP, is taken: {:?}",
        calls[0]
    );
    assert_eq!(calls[0].language.as_deref(), Some("ru"), "{:?}", calls[0]);
    let samples = received(&dir);
    assert!(
        greeting_in(&samples),
        "baresip heard the greeting over SRTP: {} samples, rms {:.0}",
        samples.len(),
        rms(&samples)
    );
    drop(phone);

    // The same account, over TLS, offering plain RTP: 488.
    let dir = senim.dir.path().join("phone-plain");
    std::fs::create_dir_all(&dir).expect("dir");
    let mut phone = Baresip::start_configured(
        &dir,
        Some(&account("")),
        &repo_root().join("tests/media/caller-speech.wav"),
        &cafile,
    );
    assert!(
        registered(&mut phone),
        "baresip registered over TLS:\n{}\n{}",
        phone.log(),
        senim.log()
    );
    phone.command("dial", &format!("sip:100@{tls}"));
    assert!(
        phone.wait_event("CALL_CLOSED", Duration::from_secs(10)),
        "the plain call ends:\n{}\n{}",
        phone.log(),
        senim.log()
    );
    assert!(
        !phone.events.iter().any(|e| e.contains("CALL_ESTABLISHED")),
        "{:#?}",
        phone.events
    );
    let closed = phone
        .events
        .iter()
        .find(|e| e.contains("CALL_CLOSED"))
        .cloned()
        .unwrap_or_default();
    assert!(
        closed.contains("488 Not Acceptable Here"),
        "plain RTP from an account that requires SRTP is refused with 488: {closed}\n{}",
        phone.log()
    );
    assert!(
        senim
            .log()
            .contains("SRTP is required; the offer has only plain RTP"),
        "refused for the rule, not for anything else:\n{}",
        senim.log()
    );
}

/// What a TLS "trunk" run by the test saw: the requests it read, and the
/// handshakes that failed (with rustls's reason).
#[derive(Debug, Default)]
struct TrunkSaw {
    requests: Vec<String>,
    handshake_errors: Vec<String>,
}

/// A registrar over TLS on 127.0.0.1 with `cert`/`key`: every REGISTER it
/// reads gets a 200 with the Contact it names. Serves until `until`.
fn tls_registrar(
    (cert, key): &(String, String),
    until: Instant,
) -> (SocketAddr, std::sync::Arc<std::sync::Mutex<TrunkSaw>>) {
    use rustls::pki_types::PrivateKeyDer;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert.as_bytes())
        .collect::<Result<_, _>>()
        .expect("certificate");
    let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).expect("key");
    let config = Arc::new(
        rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("server certificate"),
    );
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("address");
    listener.set_nonblocking(true).expect("nonblocking");
    let saw = Arc::new(std::sync::Mutex::new(TrunkSaw::default()));
    let shared = saw.clone();
    std::thread::spawn(move || {
        // At most a few connections (Senim reconnects after a failure).
        for _ in 0..2000 {
            if Instant::now() > until {
                return;
            }
            let Ok((sock, _)) = listener.accept() else {
                std::thread::sleep(Duration::from_millis(10));
                continue;
            };
            let config = config.clone();
            let saw = shared.clone();
            std::thread::spawn(move || serve_registrar(sock, config, saw, until));
        }
    });
    (addr, saw)
}

fn serve_registrar(
    sock: TcpStream,
    config: Arc<rustls::ServerConfig>,
    saw: Arc<std::sync::Mutex<TrunkSaw>>,
    until: Instant,
) {
    let _ = sock.set_nonblocking(false);
    let _ = sock.set_read_timeout(Some(Duration::from_millis(300)));
    let Ok(conn) = rustls::ServerConnection::new(config) else {
        return;
    };
    let mut tls = rustls::StreamOwned::new(conn, sock);
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while Instant::now() < until {
        match tls.read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => continue,
            Err(e) => {
                if tls.conn.is_handshaking() {
                    saw.lock()
                        .expect("lock")
                        .handshake_errors
                        .push(e.to_string());
                }
                return;
            }
        }
        // Whole messages only (REGISTER has no body); CRLF pings skipped.
        while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let text = String::from_utf8_lossy(&buf[..end]).into_owned();
            buf.drain(..end + 4);
            let text = text.trim_start_matches(['\r', '\n']).to_string();
            if text.is_empty() {
                continue;
            }
            let header = |name: &str| {
                text.lines()
                    .find(|l| {
                        l.split(':')
                            .next()
                            .is_some_and(|n| n.trim().eq_ignore_ascii_case(name))
                    })
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, v)| v.trim().to_string())
                    .unwrap_or_default()
            };
            let to = header("To");
            let to = if to.contains(";tag=") {
                to
            } else {
                format!("{to};tag=reg")
            };
            let contact = header("Contact");
            let contact = contact.split(";expires").next().unwrap_or("").to_string();
            let reply = format!(
                "SIP/2.0 200 OK\r\nVia: {}\r\nFrom: {}\r\nTo: {to}\r\nCall-ID: {}\r\nCSeq: {}\r\n\
                 Contact: {contact};expires=60\r\nContent-Length: 0\r\n\r\n",
                header("Via"),
                header("From"),
                header("Call-ID"),
                header("CSeq"),
            );
            saw.lock().expect("lock").requests.push(text);
            if tls.write_all(reply.as_bytes()).is_err() {
                return;
            }
        }
    }
}

/// A trunk with `transport = "tls"`: Senim opens a TLS connection to it,
/// checks its certificate against the trunk's `tls_ca`, and registers over
/// it (Via TLS, a Contact that names TLS). A trunk whose certificate is not
/// signed by its `tls_ca` gets no request: the handshake fails at Senim.
#[test]
fn a_tls_trunk_is_registered_to_over_a_connection_whose_certificate_is_checked() {
    let until = Instant::now() + Duration::from_secs(30);
    let provider_pair = self_signed();
    let (good, good_saw) = tls_registrar(&provider_pair, until);
    let (bad, bad_saw) = tls_registrar(&self_signed(), until);
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = dir.path().join("provider-ca.pem");
    std::fs::write(&ca, &provider_pair.0).expect("write CA");
    let trunk = |id: &str, addr: SocketAddr| {
        format!(
            "[[trunk]]\nid = \"{id}\"\naddress = \"{addr}\"\ntransport = \"tls\"\n\
             tls_ca = \"{}\"\nregister = true\nregister_expires = \"60s\"\n\
             username = \"centre\"\npassword = \"trunk-secret-1\"\n\n",
            ca.display()
        )
    };
    let config = format!("{}{}", trunk("provider", good), trunk("impostor", bad));
    let senim = Senim::start_with(Some(&config), &[]);
    assert!(
        wait_until(Duration::from_secs(10), || {
            let (_, body) = http(senim.http, "GET", "/trunks");
            body.contains("\"registered\"")
        }),
        "registered over TLS: {:?}\n{}",
        good_saw.lock().expect("lock"),
        senim.log()
    );
    let register = good_saw
        .lock()
        .expect("lock")
        .requests
        .first()
        .cloned()
        .expect("a REGISTER");
    assert!(
        register.starts_with(&format!("REGISTER sip:{good} SIP/2.0")),
        "{register}"
    );
    assert!(register.contains("Via: SIP/2.0/TLS "), "{register}");
    let contact = register
        .lines()
        .find(|l| l.starts_with("Contact:"))
        .unwrap_or("")
        .to_ascii_lowercase();
    assert!(contact.contains(";transport=tls"), "{register}");
    assert!(
        wait_until(Duration::from_secs(10), || !bad_saw
            .lock()
            .expect("lock")
            .handshake_errors
            .is_empty()),
        "the impostor's handshake fails: {:?}\n{}",
        bad_saw.lock().expect("lock"),
        senim.log()
    );
    assert!(
        bad_saw.lock().expect("lock").requests.is_empty(),
        "nothing is sent to a trunk whose certificate is not trusted"
    );
    assert!(
        senim.log().contains("could not open a connection"),
        "{}",
        senim.log()
    );
}
