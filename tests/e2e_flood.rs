//! Floods on the SIP port: one source sending far more than any phone
//! would is held to the per-source rate limit (the rest dropped unanswered
//! and counted in `/metrics`), while a call from the trunk, placed during
//! the flood, is answered and hears its greeting; a call beyond
//! `[sip] max_calls` gets 503 with Retry-After. Speed itself is measured
//! in `scripts/bench` (part d), not here.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use common::caller::Caller;
use common::{http, port_block, Senim};

const OFFER_MAPS: &str =
    "a=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n";

fn options(to: SocketAddr, from: SocketAddr, i: u32) -> String {
    format!(
        "OPTIONS sip:senim@{to} SIP/2.0\r\n\
         Via: SIP/2.0/UDP {from};branch=z9hG4bK-flood-{i};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:flood@{from}>;tag=f{i}\r\n\
         To: <sip:senim@{to}>\r\n\
         Call-ID: flood-{i}@{from}\r\n\
         CSeq: 1 OPTIONS\r\n\
         Content-Length: 0\r\n\r\n"
    )
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
fn a_flood_from_one_source_is_limited_while_a_trunk_call_is_answered() {
    let p_trunk = port_block();
    // The trunk is 127.0.0.1; the flood comes from 127.0.0.2, a stranger
    // answered 403 (so that what passes the rate limit can be counted).
    let config = format!(
        "[sip]\nunknown_sources = \"403\"\n\n[[trunk]]\nid = \"provider\"\naddress = \"127.0.0.1:{p_trunk}\"\n"
    );
    let senim = Senim::start_with(Some(&config), &[]);
    let flooder = UdpSocket::bind("127.0.0.2:0").expect("bind 127.0.0.2");
    flooder.set_nonblocking(true).expect("nonblocking");
    let from = flooder.local_addr().expect("address");
    let sent = 5_000u32;
    let started = Instant::now();
    let target = senim.sip;
    let flood = std::thread::spawn(move || {
        let mut answered = 0u32;
        let mut buf = [0u8; 4096];
        for i in 0..sent {
            let _ = flooder.send_to(options(target, from, i).as_bytes(), target);
            // 2,000 a second, in bursts of ten: a flood, but one the
            // kernel's socket buffer takes whole, so Senim sees it all.
            if i % 10 == 9 {
                std::thread::sleep(Duration::from_millis(5));
            }
            // Read what came back, without waiting.
            // At most a few answers are waiting at any time.
            for _ in 0..100 {
                match flooder.recv(&mut buf) {
                    Ok(_) => answered += 1,
                    Err(_) => break,
                }
            }
            if started.elapsed() > Duration::from_secs(20) {
                break;
            }
        }
        // The last answers.
        flooder.set_nonblocking(false).expect("blocking");
        flooder
            .set_read_timeout(Some(Duration::from_millis(300)))
            .expect("timeout");
        for _ in 0..1_000 {
            match flooder.recv(&mut buf) {
                Ok(_) => answered += 1,
                Err(_) => break,
            }
        }
        answered
    });
    // During the flood, the trunk's caller calls and hears the greeting.
    std::thread::sleep(Duration::from_millis(100));
    let mut c = Caller::new(senim.sip);
    let offer = c.offer("0 101", OFFER_MAPS);
    c.call(Some(&offer), None);
    let rtp = c.rtp_for(Duration::from_millis(1000));
    assert!(rtp.len() > 20, "the greeting plays ({} packets)", rtp.len());
    assert_eq!(c.bye(), Some(200));
    let answered = flood.join().expect("the flood's thread");
    let elapsed = started.elapsed().as_secs_f64();
    // 100 at once, then 50 a second.
    let allowed = 100.0 + 50.0 * elapsed + 20.0;
    assert!(
        f64::from(answered) <= allowed,
        "{answered} of {sent} answered in {elapsed:.1} s (at most {allowed:.0} expected)"
    );
    assert!(answered >= 50, "the first ones are answered: {answered}");
    // Most of the rest reached Senim and were dropped there (a few may
    // have been lost on the way, on a loaded machine).
    let dropped = metric(&senim, "senim_sip_refused_total{reason=\"rate-limit\"}");
    assert!(
        dropped >= (f64::from(sent) - allowed) * 0.5,
        "dropped {dropped} of {sent}, {answered} answered"
    );
}

/// `[sip] max_calls`: a call beyond the cap is answered 503 with
/// Retry-After and starts nothing; once a call ends, the next is taken.
#[test]
fn a_call_over_max_calls_gets_503_with_retry_after() {
    let senim = Senim::start_with(Some("[sip]\nmax_calls = 1\n"), &[]);
    let mut first = Caller::new(senim.sip);
    let offer = first.offer("0 101", OFFER_MAPS);
    first.call(Some(&offer), None);
    let second = Caller::new(senim.sip);
    let offer = second.offer("0 101", OFFER_MAPS);
    let invite = second.request(
        "INVITE",
        1,
        "z9hG4bK-over-cap",
        "",
        Some("application/sdp"),
        &offer,
    );
    second.send_raw(&invite);
    let mut refused = None;
    for _ in 0..5 {
        match second.recv(Duration::from_secs(2)) {
            Some(m) if common::caller::status(&m).is_some_and(|c| c >= 200) => {
                refused = Some(m);
                break;
            }
            Some(_) => continue,
            None => break,
        }
    }
    let refused = refused.expect("a final answer to the call over the cap");
    assert_eq!(common::caller::status(&refused), Some(503), "{refused}");
    assert_eq!(
        common::caller::header(&refused, "Retry-After"),
        Some("30"),
        "{refused}"
    );
    assert_eq!(
        metric(&senim, "senim_sip_refused_total{reason=\"max-calls\"}"),
        1.0
    );
    assert_eq!(first.bye(), Some(200));
    // The first is over: a new call is taken.
    let mut third = Caller::new(senim.sip);
    let offer = third.offer("0 101", OFFER_MAPS);
    // The first call's task may take a moment to finish.
    let answered = common::wait_until(Duration::from_secs(10), || {
        let (_, h) = http(senim.http, "GET", "/healthz");
        h.contains("\"calls_active\":0")
    });
    assert!(answered, "the first call ended");
    third.call(Some(&offer), None);
    assert_eq!(third.bye(), Some(200));
}
