//! Trusted media end to end (strict RTP): the real binary on loopback, the
//! test caller from `common::caller`, and a stranger who knows a call's RTP
//! port and sends to it from another address. The stranger's packets change
//! nothing: the caller hears the prompts as before, the stranger hears
//! nothing, and the stranger's keys (RFC 4733 events, in-band tones) are not
//! taken. A re-INVITE that moves the caller's media is learned again; an SDP
//! address the caller's signalling does not vouch for gets no RTP until the
//! caller's own RTP shows where it is.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::caller::{self, Caller, Received};
use common::{repo_root, Senim};

const OFFER_MAPS: &str = "a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n";

/// Someone who is not in the call and sends RTP to its port.
struct Stranger {
    sock: UdpSocket,
    seq: u16,
    ts: u32,
}

impl Stranger {
    fn bind(addr: &str) -> Stranger {
        let sock = UdpSocket::bind(addr).expect("bind the stranger's socket");
        Stranger {
            sock,
            seq: 7000,
            ts: 90_000,
        }
    }

    fn addr(&self) -> SocketAddr {
        self.sock.local_addr().expect("local address")
    }

    fn packet(&mut self, pt: u8, marker: bool, ts: u32, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0x80, pt | if marker { 0x80 } else { 0 }];
        p.extend_from_slice(&self.seq.to_be_bytes());
        p.extend_from_slice(&ts.to_be_bytes());
        p.extend_from_slice(&0x5eed_0bad_u32.to_be_bytes());
        p.extend_from_slice(payload);
        self.seq = self.seq.wrapping_add(1);
        p
    }

    /// Press `digit` by RFC 4733 (PT 101), as the caller's phone would: three
    /// updates and three end packets, 20 ms apart. Returns packets sent.
    fn press_rfc4733(&mut self, to: SocketAddr, digit: char) -> usize {
        let event = match digit {
            '0'..='9' => digit as u8 - b'0',
            '*' => 10,
            _ => 11,
        };
        let ts = self.ts;
        for i in 0..6u16 {
            let end = i >= 3;
            let duration = 160 * (i.min(3) + 1);
            let mut payload = vec![event, if end { 0x80 | 10 } else { 10 }];
            payload.extend_from_slice(&duration.to_be_bytes());
            let p = self.packet(101, i == 0, ts, &payload);
            let _ = self.sock.send_to(&p, to);
            std::thread::sleep(Duration::from_millis(20));
        }
        self.ts = self.ts.wrapping_add(160 * 8);
        6
    }

    /// Send raw mu-law audio as PCMU, 20 ms a packet, paced. Returns packets sent.
    fn send_pcmu(&mut self, to: SocketAddr, audio: &[u8]) -> usize {
        let start = Instant::now();
        let mut n = 0;
        for (i, chunk) in audio.chunks(160).enumerate() {
            let mut payload = chunk.to_vec();
            payload.resize(160, 0xFF);
            let ts = self.ts;
            let p = self.packet(0, i == 0, ts, &payload);
            let _ = self.sock.send_to(&p, to);
            self.ts = self.ts.wrapping_add(160);
            n += 1;
            let due = start + Duration::from_millis(20 * (i as u64 + 1));
            if let Some(left) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(left);
            }
        }
        n
    }

    /// Datagrams that reached the stranger (none should: Senim never sends
    /// to it).
    fn received(&self) -> usize {
        let mut buf = [0u8; 2048];
        let mut n = 0;
        self.sock.set_nonblocking(true).ok();
        while self.sock.recv_from(&mut buf).is_ok() {
            n += 1;
        }
        n
    }
}

/// Let the stranger do `what` to `to` in a thread of its own; its result is
/// the stranger and the packets it sent.
fn attack(
    mut s: Stranger,
    what: impl FnOnce(&mut Stranger) -> usize + Send + 'static,
) -> JoinHandle<(Stranger, usize)> {
    std::thread::spawn(move || {
        let n = what(&mut s);
        (s, n)
    })
}

/// What the caller heard is one stream, paced and unbroken: about a packet
/// every 20 ms, one SSRC (`ssrc` when given), consecutive sequence numbers.
fn assert_one_stream(heard: &[Received], span: Duration, ssrc: Option<u32>) -> u32 {
    let expected = (span.as_millis() / 20) as usize;
    assert!(
        heard.len() >= expected * 8 / 10,
        "the caller still hears Senim: {} packets in {span:?}",
        heard.len()
    );
    let first = heard[0].ssrc;
    assert!(heard.iter().all(|p| p.ssrc == first), "one SSRC");
    if let Some(s) = ssrc {
        assert_eq!(first, s, "the same stream as before");
    }
    for w in heard.windows(2) {
        assert_eq!(
            w[1].seq,
            w[0].seq.wrapping_add(1),
            "sequence numbers continuous"
        );
    }
    first
}

fn metric(senim: &Senim, name: &str) -> Option<u64> {
    let (_, text) = common::http(senim.http, "GET", "/metrics");
    text.lines()
        .find(|l| l.starts_with(name) && l.as_bytes().get(name.len()) == Some(&b' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

fn tone(digit: char) -> Vec<u8> {
    let path = repo_root().join(format!("tests/media/dtmf-{digit}.ul"));
    std::fs::read(&path).expect("tests/media/dtmf-*.ul")
}

/// A call that negotiated telephone-event: a stranger on another loopback
/// address, then one on the caller's own host, keep pressing 0 (the
/// emergency key: it would transfer the caller away) while the caller
/// listens. Nothing changes; the caller's own keys work.
#[tokio::test(flavor = "multi_thread")]
async fn rfc4733_keys_from_a_third_address_change_nothing() {
    let senim = Senim::start(&[]);
    let mut c = Caller::new(senim.sip);
    let offer = c.offer("0 101", OFFER_MAPS);
    c.call(Some(&offer), None);
    let port = c.remote_rtp.expect("Senim's RTP address");

    // Before the caller has sent anything: a stranger on 127.0.0.3.
    let far = attack(Stranger::bind("127.0.0.3:0"), move |s| {
        (0..8).map(|_| s.press_rfc4733(port, '0')).sum()
    });
    let span = Duration::from_millis(1500);
    let heard = c.rtp_for(span);
    let (far, far_sent) = far.join().expect("the stranger's thread");
    let ssrc = assert_one_stream(&heard, span, None);
    assert_eq!(far.received(), 0, "nothing is sent to the stranger");

    // The caller chooses Kazakh; then a stranger on the caller's own host
    // (another port) presses 0 during the main menu.
    c.press_rfc4733('1', 101);
    c.drain_rtp();
    let near = attack(Stranger::bind("127.0.0.1:0"), move |s| {
        (0..8).map(|_| s.press_rfc4733(port, '0')).sum()
    });
    let heard = c.rtp_for(span);
    let (near, near_sent) = near.join().expect("the stranger's thread");
    assert_one_stream(&heard, span, Some(ssrc));
    assert_eq!(near.received(), 0, "nothing is sent to the stranger");
    assert_ne!(near.addr(), c.rtp.local_addr().expect("caller's address"));

    let dropped = metric(&senim, "senim_rtp_packets_dropped_total").unwrap_or(0);
    assert!(
        dropped >= (far_sent + near_sent) as u64,
        "every stranger's packet dropped and counted: {dropped} of {}",
        far_sent + near_sent
    );

    // The caller's own choice in the main menu ends the call as planned.
    c.press_rfc4733('1', 101);
    assert!(c.wait_bye(Duration::from_secs(30)), "Senim says goodbye");
    let calls = senim.ended_calls(1).await;
    let call = &calls[0];
    assert_eq!(
        call.digits,
        vec![
            ("1".into(), "rfc4733".into()),
            ("1".into(), "rfc4733".into())
        ],
        "only the caller's keys"
    );
    assert!(
        !call.steps.iter().any(|s| s.contains("crisis")),
        "never transferred: {:?}",
        call.steps
    );
    assert_eq!(call.language.as_deref(), Some("kk"));
    assert_eq!(call.outcome.as_deref(), Some("completed"));
}

/// A call without telephone-event (keys as tones in the audio): a
/// stranger's 0 tones, from another loopback address and then from the
/// caller's own host, are not heard by the detector; the caller's are.
#[tokio::test(flavor = "multi_thread")]
async fn inband_keys_from_a_third_address_change_nothing() {
    let senim = Senim::start(&[]);
    let mut c = Caller::new(senim.sip);
    let offer = c.offer("0", "a=rtpmap:0 PCMU/8000\r\n");
    c.call(Some(&offer), None);
    assert!(c.answer.contains("RTP/AVP 0"), "{}", c.answer);
    let port = c.remote_rtp.expect("Senim's RTP address");
    let zero = tone('0');

    let z = zero.clone();
    let far = attack(Stranger::bind("127.0.0.3:0"), move |s| {
        (0..2).map(|_| s.send_pcmu(port, &z)).sum()
    });
    let span = Duration::from_millis(1800);
    let heard = c.rtp_for(span);
    let (far, far_sent) = far.join().expect("the stranger's thread");
    let ssrc = assert_one_stream(&heard, span, None);
    assert_eq!(far.received(), 0, "nothing is sent to the stranger");

    c.send_pcmu(&tone('1'));
    c.drain_rtp();
    let z = zero.clone();
    let near = attack(Stranger::bind("127.0.0.1:0"), move |s| {
        (0..2).map(|_| s.send_pcmu(port, &z)).sum()
    });
    let heard = c.rtp_for(span);
    let (near, near_sent) = near.join().expect("the stranger's thread");
    assert_one_stream(&heard, span, Some(ssrc));
    assert_eq!(near.received(), 0, "nothing is sent to the stranger");

    let dropped = metric(&senim, "senim_rtp_packets_dropped_total").unwrap_or(0);
    assert!(
        dropped >= (far_sent + near_sent) as u64,
        "{dropped} of {}",
        far_sent + near_sent
    );

    c.send_pcmu(&tone('2'));
    assert!(c.wait_bye(Duration::from_secs(30)), "Senim says goodbye");
    let calls = senim.ended_calls(1).await;
    let call = &calls[0];
    assert_eq!(
        call.digits,
        vec![("1".into(), "inband".into()), ("2".into(), "inband".into())],
        "only the caller's keys"
    );
    assert!(
        !call.steps.iter().any(|s| s.contains("crisis")),
        "{:?}",
        call.steps
    );
    assert_eq!(call.outcome.as_deref(), Some("completed"));
}

/// A re-INVITE moves the caller's media to a new socket: Senim sends there,
/// takes the new socket's RTP, and no longer takes the old one's.
#[tokio::test(flavor = "multi_thread")]
async fn a_reinvite_with_a_new_address_is_learned_again() {
    let senim = Senim::start(&[]);
    let mut c = Caller::new(senim.sip);
    let offer = c.offer("0 101", OFFER_MAPS);
    c.call(Some(&offer), None);
    std::thread::sleep(Duration::from_millis(300));
    // The caller's RTP comes from the address its SDP names: locked there.
    c.press_rfc4733('1', 101);

    let moved = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let new_port = moved.local_addr().expect("address").port();
    let new_offer = c
        .offer("0 101", OFFER_MAPS)
        .replace(
            &format!("m=audio {} ", c.rtp_port()),
            &format!("m=audio {new_port} "),
        )
        .replace("o=test 1 1 ", "o=test 1 2 ");
    c.cseq += 1;
    let reinvite = c.request(
        "INVITE",
        c.cseq,
        &caller::rand_hex(),
        "",
        Some("application/sdp"),
        &new_offer,
    );
    c.send_raw(&reinvite);
    let mut ok = None;
    for _ in 0..10 {
        if let Some(m) = c.recv(Duration::from_secs(2)) {
            if caller::status(&m) == Some(200)
                && caller::header(&m, "CSeq").is_some_and(|h| h.contains("INVITE"))
            {
                ok = Some(m);
                break;
            }
        }
    }
    assert!(ok.is_some(), "200 to the re-INVITE");
    let ack = c.request("ACK", c.cseq, &caller::rand_hex(), "", None, "");
    c.send_raw(&ack);

    // From now on the caller's RTP is the new socket's.
    let old = std::mem::replace(&mut c.rtp, moved);
    let heard = c.rtp_for(Duration::from_millis(600));
    assert!(
        heard.len() > 15,
        "RTP comes to the new address: {}",
        heard.len()
    );
    // The new socket's first packets lock the port on it...
    c.send_tone_pcmu(440.0, Duration::from_millis(200));
    // ...so the old socket, though on the caller's host, is refused: its 0
    // (the emergency key) does nothing.
    let port = c.remote_rtp.expect("Senim's RTP address");
    let mut stale = Stranger {
        sock: old,
        seq: 3000,
        ts: 50_000,
    };
    stale.press_rfc4733(port, '0');
    stale.press_rfc4733(port, '0');
    // The caller's key from the new address is taken.
    c.press_rfc4733('2', 101);
    assert!(c.wait_bye(Duration::from_secs(30)), "Senim says goodbye");
    let calls = senim.ended_calls(1).await;
    let call = &calls[0];
    assert_eq!(
        call.digits,
        vec![
            ("1".into(), "rfc4733".into()),
            ("2".into(), "rfc4733".into())
        ]
    );
    assert!(
        !call.steps.iter().any(|s| s.contains("crisis")),
        "{:?}",
        call.steps
    );
}

/// The caller's SDP names an address its signalling does not vouch for (a
/// public address, while its SIP comes from loopback): Senim sends nothing
/// there, nor to a stranger, until the caller's own RTP comes; then it
/// answers where that RTP comes from.
#[tokio::test(flavor = "multi_thread")]
async fn an_sdp_address_the_signalling_does_not_vouch_for_waits_for_the_callers_rtp() {
    let senim = Senim::start(&[]);
    let mut c = Caller::new(senim.sip);
    let offer = c
        .offer("0 101", OFFER_MAPS)
        .replace("c=IN IP4 127.0.0.1", "c=IN IP4 192.0.2.1");
    c.call(Some(&offer), None);
    let port = c.remote_rtp.expect("Senim's RTP address");
    let far = attack(Stranger::bind("127.0.0.3:0"), move |s| {
        s.send_pcmu(port, &[0xFF; 160 * 25])
    });
    assert!(
        c.rtp_for(Duration::from_millis(700)).is_empty(),
        "no RTP before the caller's"
    );
    let (far, _) = far.join().expect("the stranger's thread");
    assert_eq!(far.received(), 0, "a stranger is not learned");
    // The caller talks: after a few packets its source is learned.
    let heard = c.send_tone_pcmu(440.0, Duration::from_millis(400));
    assert!(!heard.is_empty(), "Senim answers the caller's RTP");
    let heard = c.rtp_for(Duration::from_millis(500));
    assert!(heard.len() > 15, "{}", heard.len());
    assert_eq!(c.bye(), Some(200));
}
