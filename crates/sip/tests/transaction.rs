//! RFC 3261 §17 / RFC 6026 transaction layer tests with a fake clock: a base `Instant`
//! captured once, plus durations.

#![allow(clippy::disallowed_methods)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use senim_sip::message::{self, Peer};
use senim_sip::rsip::{self, SipMessage};
use senim_sip::transaction::{
    Event, TimerConfig, TransactionError, TransactionLayer, Transmit, TxKey,
};

const UAC_ADDR: &str = "192.0.2.10:5062";

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

struct Harness {
    t0: Instant,
    layer: TransactionLayer,
}

impl Harness {
    fn new() -> Self {
        Harness {
            t0: Instant::now(),
            layer: TransactionLayer::new(TimerConfig::default()),
        }
    }
    fn at(&self, d: Duration) -> Instant {
        self.t0 + d
    }
    fn transmits(&mut self) -> Vec<Transmit> {
        std::iter::from_fn(|| self.layer.poll_transmit()).collect()
    }
    fn events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.layer.poll_event()).collect()
    }
    /// Run timers until `end`; returns (offset, transmits, events) per firing.
    fn run_until(&mut self, end: Duration) -> Vec<(Duration, Vec<Transmit>, Vec<Event>)> {
        let mut out = vec![];
        while let Some(t) = self.layer.poll_timeout() {
            if t > self.at(end) {
                break;
            }
            self.layer.handle_timeout(t);
            let tx = self.transmits();
            let ev = self.events();
            out.push((t - self.t0, tx, ev));
        }
        out
    }
    fn receive(&mut self, d: Duration, data: &str, peer: Peer) {
        let now = self.at(d);
        self.layer.handle_bytes(now, data.as_bytes(), peer);
    }
}

fn udp(addr: &str) -> Peer {
    Peer::udp(addr.parse::<SocketAddr>().unwrap())
}
fn tcp(addr: &str) -> Peer {
    Peer::tcp(addr.parse::<SocketAddr>().unwrap())
}
fn tls(addr: &str) -> Peer {
    Peer::tls(addr.parse::<SocketAddr>().unwrap())
}

fn request_text(
    method: &str,
    branch: &str,
    cseq_method: &str,
    via_host: &str,
    extra: &str,
) -> String {
    format!(
        "{method} sip:ivr@192.0.2.1 SIP/2.0\r\n\
         Via: SIP/2.0/UDP {via_host};branch={branch}\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:caller@example.com>;tag=abc\r\n\
         To: <sip:ivr@example.com>\r\n\
         Call-ID: call-1@example.com\r\n\
         CSeq: 1 {cseq_method}\r\n\
         Contact: <sip:caller@192.0.2.10:5062>\r\n\
         {extra}Content-Length: 0\r\n\r\n"
    )
}

fn invite(branch: &str) -> String {
    request_text("INVITE", branch, "INVITE", UAC_ADDR, "")
}

fn client_request(method: rsip::Method) -> rsip::Request {
    let text = format!(
        "{method} sip:bob@192.0.2.20 SIP/2.0\r\n\
         Via: SIP/2.0/UDP 192.0.2.1:5060;branch={}\r\n\
         Max-Forwards: 70\r\n\
         Route: <sip:proxy.example.com;lr>\r\n\
         From: <sip:ivr@example.com>;tag=senim1\r\n\
         To: <sip:bob@example.com>\r\n\
         Call-ID: out-1@192.0.2.1\r\n\
         CSeq: 7 {method}\r\n\
         Content-Length: 0\r\n\r\n",
        message::new_branch()
    );
    match message::parse(text.as_bytes()).unwrap() {
        SipMessage::Request(r) => r,
        _ => unreachable!(),
    }
}

fn response_for(req: &rsip::Request, code: u16, to_tag: Option<&str>) -> String {
    let resp = message::response(req, code, "", to_tag);
    String::from_utf8(message::response_to_bytes(&resp).to_vec()).unwrap()
}

fn offsets(fired: &[(Duration, Vec<Transmit>, Vec<Event>)]) -> Vec<u64> {
    fired
        .iter()
        .filter(|(_, t, _)| !t.is_empty())
        .map(|(d, _, _)| d.as_millis() as u64)
        .collect()
}

fn timeouts(fired: &[(Duration, Vec<Transmit>, Vec<Event>)]) -> Vec<u64> {
    fired
        .iter()
        .filter(|(_, _, e)| e.iter().any(|e| matches!(e, Event::Timeout { .. })))
        .map(|(d, _, _)| d.as_millis() as u64)
        .collect()
}

fn status_of(t: &Transmit) -> u16 {
    match message::parse(&t.data).unwrap() {
        SipMessage::Response(r) => r.status_code.code(),
        SipMessage::Request(r) => panic!("expected a response, got {}", r.method),
    }
}

fn server_key(events: &[Event]) -> TxKey {
    match events {
        [Event::Request { key, .. }] => *key,
        other => panic!("expected one request event, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Client INVITE
// ---------------------------------------------------------------------------------------------

#[test]
fn timer_a_and_b_over_udp() {
    let mut h = Harness::new();
    let req = client_request(rsip::Method::Invite);
    let key = h.layer.send_request(h.t0, req, udp("192.0.2.20:5060"));
    assert_eq!(h.transmits().len(), 1);
    assert_eq!(h.layer.poll_timeout(), Some(h.at(ms(500))));
    let fired = h.run_until(Duration::from_secs(100));
    assert_eq!(offsets(&fired), vec![500, 1500, 3500, 7500, 15500, 31500]);
    assert_eq!(timeouts(&fired), vec![32000]);
    assert!(fired
        .iter()
        .flat_map(|f| &f.2)
        .any(|e| matches!(e, Event::Timeout { key: k } if *k == key)));
    assert!(h.layer.is_empty());
    assert_eq!(h.layer.poll_timeout(), None);
}

#[test]
fn timer_b_over_tcp_without_retransmissions() {
    let mut h = Harness::new();
    h.layer.send_request(
        h.t0,
        client_request(rsip::Method::Invite),
        tcp("192.0.2.20:5060"),
    );
    assert_eq!(h.transmits().len(), 1);
    let fired = h.run_until(Duration::from_secs(100));
    assert_eq!(offsets(&fired), Vec::<u64>::new());
    assert_eq!(timeouts(&fired), vec![32000]);
    assert!(h.layer.is_empty());
}

#[test]
fn tls_is_reliable_like_tcp_no_retransmissions_either_way() {
    // Client INVITE: no Timer A, only Timer B.
    let mut h = Harness::new();
    h.layer.send_request(
        h.t0,
        client_request(rsip::Method::Invite),
        tls("192.0.2.20:5061"),
    );
    assert_eq!(h.transmits().len(), 1);
    let fired = h.run_until(Duration::from_secs(100));
    assert_eq!(offsets(&fired), Vec::<u64>::new());
    assert_eq!(timeouts(&fired), vec![32000]);
    assert!(h.layer.is_empty());

    // Server INVITE: the 404 goes back on the TLS flow once (no Timer G),
    // and Timer I is zero.
    let mut h = Harness::new();
    let uac = tls("192.0.2.10:40001");
    h.receive(ms(0), &invite("z9hG4bKtls1"), uac);
    let key = server_key(&h.events());
    assert_eq!(
        h.transmits()[0].peer,
        uac,
        "responses go back on the TLS flow"
    );
    let req = h.layer.request_of(key).unwrap().clone();
    h.layer
        .send_response(h.t0, key, message::response(&req, 404, "", Some("t")))
        .unwrap();
    let sent = h.transmits();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].peer, uac);
    assert_eq!(
        h.layer.poll_timeout(),
        Some(h.at(ms(32_000))),
        "only Timer H"
    );
    h.receive(
        ms(100),
        &request_text("ACK", "z9hG4bKtls1", "ACK", UAC_ADDR, ""),
        uac,
    );
    assert!(h.layer.is_empty(), "Timer I is zero over TLS");
}

#[test]
fn provisional_stops_timer_a() {
    let mut h = Harness::new();
    let req = client_request(rsip::Method::Invite);
    let key = h
        .layer
        .send_request(h.t0, req.clone(), udp("192.0.2.20:5060"));
    h.transmits();
    h.receive(
        ms(700),
        &response_for(&req, 180, Some("bob1")),
        udp("192.0.2.20:5060"),
    );
    assert!(
        matches!(h.events().as_slice(), [Event::Response { key: k, response }] if *k == key && response.status_code.code() == 180)
    );
    // Timer A was scheduled for 1.5 s: gone. Only the Proceeding guard (180 s after the 180) is left.
    assert_eq!(
        h.layer.poll_timeout(),
        Some(h.at(ms(700) + senim_sip::transaction::PROCEEDING_GUARD))
    );
    let fired = h.run_until(Duration::from_secs(60));
    assert!(fired.is_empty());
}

#[test]
fn non_2xx_is_acked_by_the_transaction_and_timer_d() {
    let mut h = Harness::new();
    let req = client_request(rsip::Method::Invite);
    let branch = message::top_via_branch(&req).unwrap();
    let key = h
        .layer
        .send_request(h.t0, req.clone(), udp("192.0.2.20:5060"));
    h.transmits();
    let busy = response_for(&req, 486, Some("bob1"));
    h.receive(ms(100), &busy, udp("192.0.2.20:5060"));
    assert!(
        matches!(h.events().as_slice(), [Event::Response { key: k, response }] if *k == key && response.status_code.code() == 486)
    );
    let sent = h.transmits();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].peer, udp("192.0.2.20:5060"));
    let SipMessage::Request(ack) = message::parse(&sent[0].data).unwrap() else {
        panic!("ACK expected")
    };
    assert_eq!(ack.method, rsip::Method::Ack);
    assert_eq!(ack.uri, req.uri);
    assert_eq!(message::top_via_branch(&ack).unwrap(), branch);
    assert_eq!(message::cseq(&ack), Some((7, rsip::Method::Ack)));
    assert_eq!(message::to_tag(&ack).as_deref(), Some("bob1"));
    assert_eq!(message::from_tag(&ack).as_deref(), Some("senim1"));
    assert_eq!(message::header_values(&ack, "Via").len(), 1);
    assert_eq!(
        message::header_value(&ack, "Route"),
        Some("<sip:proxy.example.com;lr>")
    );
    // A retransmitted 486 is absorbed and re-ACKed.
    h.receive(ms(2000), &busy, udp("192.0.2.20:5060"));
    assert!(h.events().is_empty());
    assert_eq!(h.transmits().len(), 1);
    // Timer D: 32 s after the response.
    assert_eq!(h.layer.poll_timeout(), Some(h.at(ms(32_100))));
    h.run_until(Duration::from_secs(40));
    assert!(h.layer.is_empty());
}

#[test]
fn non_2xx_over_tcp_terminates_at_once() {
    let mut h = Harness::new();
    let req = client_request(rsip::Method::Invite);
    h.layer
        .send_request(h.t0, req.clone(), tcp("192.0.2.20:5060"));
    h.transmits();
    h.receive(
        ms(100),
        &response_for(&req, 603, Some("x")),
        tcp("192.0.2.20:5060"),
    );
    assert_eq!(h.events().len(), 1);
    assert_eq!(h.transmits().len(), 1, "the ACK");
    assert!(h.layer.is_empty(), "Timer D is zero over TCP");
}

#[test]
fn every_2xx_is_passed_up_until_timer_m() {
    let mut h = Harness::new();
    let req = client_request(rsip::Method::Invite);
    let key = h
        .layer
        .send_request(h.t0, req.clone(), udp("192.0.2.20:5060"));
    h.transmits();
    let ok = response_for(&req, 200, Some("bob1"));
    h.receive(ms(300), &ok, udp("192.0.2.20:5060"));
    h.receive(ms(800), &ok, udp("192.0.2.20:5060"));
    let evs = h.events();
    assert_eq!(evs.len(), 2);
    assert!(evs
        .iter()
        .all(|e| matches!(e, Event::Response { key: k, .. } if *k == key)));
    assert!(
        h.transmits().is_empty(),
        "the TU ACKs a 2xx, not the transaction"
    );
    assert_eq!(h.layer.poll_timeout(), Some(h.at(ms(32_300))));
    h.run_until(Duration::from_secs(40));
    assert!(h.layer.is_empty());
    h.receive(Duration::from_secs(41), &ok, udp("192.0.2.20:5060"));
    assert!(matches!(
        h.events().as_slice(),
        [Event::StrayResponse { .. }]
    ));
}

// ---------------------------------------------------------------------------------------------
// Client non-INVITE
// ---------------------------------------------------------------------------------------------

#[test]
fn timer_e_capped_at_t2_and_timer_f() {
    let mut h = Harness::new();
    h.layer.send_request(
        h.t0,
        client_request(rsip::Method::Options),
        udp("192.0.2.20:5060"),
    );
    h.transmits();
    let fired = h.run_until(Duration::from_secs(100));
    assert_eq!(
        offsets(&fired),
        vec![500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]
    );
    assert_eq!(timeouts(&fired), vec![32000]);
    assert!(h.layer.is_empty());
}

#[test]
fn timer_e_uses_t2_in_proceeding() {
    let mut h = Harness::new();
    let req = client_request(rsip::Method::Bye);
    h.layer
        .send_request(h.t0, req.clone(), udp("192.0.2.20:5060"));
    h.transmits();
    let fired = h.run_until(ms(600));
    assert_eq!(offsets(&fired), vec![500]);
    h.receive(
        ms(700),
        &response_for(&req, 100, None),
        udp("192.0.2.20:5060"),
    );
    assert_eq!(h.events().len(), 1);
    let fired = h.run_until(ms(14_000));
    assert_eq!(offsets(&fired), vec![1500, 5500, 9500, 13500]);
}

#[test]
fn timer_k_absorbs_retransmitted_finals() {
    let mut h = Harness::new();
    let req = client_request(rsip::Method::Bye);
    h.layer
        .send_request(h.t0, req.clone(), udp("192.0.2.20:5060"));
    h.transmits();
    let ok = response_for(&req, 200, None);
    h.receive(ms(200), &ok, udp("192.0.2.20:5060"));
    assert_eq!(h.events().len(), 1);
    h.receive(ms(900), &ok, udp("192.0.2.20:5060"));
    assert!(h.events().is_empty(), "retransmitted final absorbed");
    assert_eq!(
        h.layer.poll_timeout(),
        Some(h.at(ms(5_200))),
        "Timer K = T4"
    );
    let fired = h.run_until(ms(10_000));
    assert!(
        offsets(&fired).is_empty(),
        "no retransmission after the final"
    );
    assert!(h.layer.is_empty());
}

#[test]
fn timer_k_is_zero_over_tcp() {
    let mut h = Harness::new();
    let req = client_request(rsip::Method::Info);
    h.layer
        .send_request(h.t0, req.clone(), tcp("192.0.2.20:5060"));
    h.transmits();
    assert_eq!(
        h.layer.poll_timeout(),
        Some(h.at(ms(32_000))),
        "only Timer F"
    );
    h.receive(
        ms(200),
        &response_for(&req, 200, None),
        tcp("192.0.2.20:5060"),
    );
    assert_eq!(h.events().len(), 1);
    assert!(h.layer.is_empty());
}

// ---------------------------------------------------------------------------------------------
// Server INVITE
// ---------------------------------------------------------------------------------------------

#[test]
fn server_invite_sends_100_and_absorbs_retransmissions() {
    let mut h = Harness::new();
    let uac = udp(UAC_ADDR);
    h.receive(ms(0), &invite("z9hG4bKinv1"), uac);
    let key = server_key(&h.events());
    let sent = h.transmits();
    assert_eq!(sent.len(), 1);
    assert_eq!(status_of(&sent[0]), 100);
    assert_eq!(sent[0].peer, uac);
    // Retransmission: the 100 again, no new event.
    h.receive(ms(500), &invite("z9hG4bKinv1"), uac);
    assert!(h.events().is_empty());
    assert_eq!(status_of(&h.transmits()[0]), 100);
    // After a 180 the retransmission gets the 180.
    let req = h.layer.request_of(key).unwrap().clone();
    h.layer
        .send_response(
            h.at(ms(600)),
            key,
            message::response(&req, 180, "Ringing", Some("ivr1")),
        )
        .unwrap();
    assert_eq!(status_of(&h.transmits()[0]), 180);
    h.receive(ms(1500), &invite("z9hG4bKinv1"), uac);
    assert!(h.events().is_empty());
    assert_eq!(status_of(&h.transmits()[0]), 180);
    // No timers run in Proceeding.
    assert_eq!(h.layer.poll_timeout(), None);
}

#[test]
fn timer_g_capped_at_t2_and_timer_h() {
    let mut h = Harness::new();
    let uac = udp(UAC_ADDR);
    h.receive(ms(0), &invite("z9hG4bKinv2"), uac);
    let key = server_key(&h.events());
    h.transmits();
    let req = h.layer.request_of(key).unwrap().clone();
    h.layer
        .send_response(
            h.t0,
            key,
            message::response(&req, 486, "Busy Here", Some("t")),
        )
        .unwrap();
    assert_eq!(status_of(&h.transmits()[0]), 486);
    let fired = h.run_until(Duration::from_secs(100));
    assert_eq!(
        offsets(&fired),
        vec![500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]
    );
    assert_eq!(timeouts(&fired), vec![32000], "Timer H");
    assert!(h.layer.is_empty());
}

#[test]
fn ack_for_non_2xx_is_absorbed_and_timer_i() {
    let mut h = Harness::new();
    let uac = udp(UAC_ADDR);
    h.receive(ms(0), &invite("z9hG4bKinv3"), uac);
    let key = server_key(&h.events());
    h.transmits();
    let req = h.layer.request_of(key).unwrap().clone();
    h.layer
        .send_response(h.t0, key, message::response(&req, 480, "", Some("t")))
        .unwrap();
    h.transmits();
    let fired = h.run_until(ms(600));
    assert_eq!(offsets(&fired), vec![500]);
    let ack = request_text("ACK", "z9hG4bKinv3", "ACK", UAC_ADDR, "");
    h.receive(ms(700), &ack, uac);
    assert!(h.events().is_empty(), "ACK for a non-2xx is absorbed");
    h.receive(ms(800), &ack, uac);
    assert!(h.events().is_empty());
    assert_eq!(
        h.layer.poll_timeout(),
        Some(h.at(ms(5_700))),
        "Timer I = T4"
    );
    let fired = h.run_until(ms(10_000));
    assert!(offsets(&fired).is_empty(), "Timer G stopped");
    assert!(h.layer.is_empty());
}

#[test]
fn server_invite_over_tcp_no_timer_g_and_zero_timer_i() {
    let mut h = Harness::new();
    let uac = tcp("192.0.2.10:40001");
    h.receive(ms(0), &invite("z9hG4bKinv4"), uac);
    let key = server_key(&h.events());
    assert_eq!(
        h.transmits()[0].peer,
        uac,
        "TCP responses go back on the connection"
    );
    let req = h.layer.request_of(key).unwrap().clone();
    h.layer
        .send_response(h.t0, key, message::response(&req, 404, "", Some("t")))
        .unwrap();
    h.transmits();
    assert_eq!(
        h.layer.poll_timeout(),
        Some(h.at(ms(32_000))),
        "only Timer H"
    );
    h.receive(
        ms(100),
        &request_text("ACK", "z9hG4bKinv4", "ACK", UAC_ADDR, ""),
        uac,
    );
    assert!(h.events().is_empty());
    assert!(h.layer.is_empty(), "Timer I is zero over TCP");
}

#[test]
fn accepted_retransmits_2xx_until_ack() {
    let mut h = Harness::new();
    let uac = udp(UAC_ADDR);
    h.receive(ms(0), &invite("z9hG4bKinv5"), uac);
    let key = server_key(&h.events());
    h.transmits();
    let req = h.layer.request_of(key).unwrap().clone();
    h.layer
        .send_response(h.t0, key, message::response(&req, 200, "OK", Some("ivr5")))
        .unwrap();
    assert_eq!(status_of(&h.transmits()[0]), 200);
    let fired = h.run_until(ms(8_000));
    assert_eq!(offsets(&fired), vec![500, 1500, 3500, 7500]);
    // A retransmitted INVITE in Accepted gets the 2xx again and is not reported.
    h.receive(ms(8_100), &invite("z9hG4bKinv5"), uac);
    assert!(h.events().is_empty());
    assert_eq!(status_of(&h.transmits()[0]), 200);
    // The ACK for the 2xx has its own branch and the To tag.
    let ack = request_text("ACK", "z9hG4bKack5", "ACK", UAC_ADDR, "").replace(
        "To: <sip:ivr@example.com>",
        "To: <sip:ivr@example.com>;tag=ivr5",
    );
    h.receive(ms(9_000), &ack, uac);
    assert!(
        matches!(h.events().as_slice(), [Event::Ack { request, .. }] if request.method == rsip::Method::Ack)
    );
    let fired = h.run_until(Duration::from_secs(60));
    assert!(
        offsets(&fired).is_empty(),
        "2xx retransmission stopped by the ACK"
    );
    assert!(timeouts(&fired).is_empty(), "ACKed: no Timer L timeout");
    assert!(h.layer.is_empty(), "Timer L ended the Accepted state");
}

/// An ACK without the 2xx's To tag (forged, for an INVITE whose source was
/// forged: the forger never saw the 2xx) neither stops the retransmissions
/// nor hides the missing ACK; it is still passed up, for the dialog to refuse.
#[test]
fn an_ack_without_the_2xx_to_tag_is_no_ack() {
    let mut h = Harness::new();
    let uac = udp(UAC_ADDR);
    h.receive(ms(0), &invite("z9hG4bKinv9"), uac);
    let key = server_key(&h.events());
    h.transmits();
    let req = h.layer.request_of(key).unwrap().clone();
    h.layer
        .send_response(h.t0, key, message::response(&req, 200, "OK", Some("ivr9")))
        .unwrap();
    h.transmits();
    let forged = |branch: &str, tag: &str| {
        request_text("ACK", branch, "ACK", UAC_ADDR, "").replace(
            "To: <sip:ivr@example.com>",
            &format!("To: <sip:ivr@example.com>{tag}"),
        )
    };
    // Its own branch (a 2xx ACK) or the INVITE's (a peer that reuses it);
    // no tag, or a guessed one.
    h.receive(ms(100), &forged("z9hG4bKforged1", ""), uac);
    h.receive(ms(200), &forged("z9hG4bKforged2", ";tag=guess"), uac);
    h.receive(ms(300), &forged("z9hG4bKinv9", ";tag=guess"), uac);
    assert_eq!(h.events().len(), 3, "passed up");
    let fired = h.run_until(Duration::from_secs(100));
    assert_eq!(
        offsets(&fired),
        vec![500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500],
        "the 2xx is still retransmitted"
    );
    assert_eq!(
        timeouts(&fired),
        vec![32000],
        "and times out unacknowledged"
    );
}

#[test]
fn timer_l_reports_a_missing_ack() {
    let mut h = Harness::new();
    let uac = udp(UAC_ADDR);
    h.receive(ms(0), &invite("z9hG4bKinv6"), uac);
    let key = server_key(&h.events());
    h.transmits();
    let req = h.layer.request_of(key).unwrap().clone();
    h.layer
        .send_response(h.t0, key, message::response(&req, 200, "OK", Some("ivr6")))
        .unwrap();
    h.transmits();
    let fired = h.run_until(Duration::from_secs(100));
    assert_eq!(
        offsets(&fired),
        vec![500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]
    );
    assert_eq!(timeouts(&fired), vec![32000]);
    assert!(h.layer.is_empty());
}

#[test]
fn accepted_over_tcp_does_not_retransmit() {
    let mut h = Harness::new();
    let uac = tcp("192.0.2.10:40002");
    h.receive(ms(0), &invite("z9hG4bKinv7"), uac);
    let key = server_key(&h.events());
    h.transmits();
    let req = h.layer.request_of(key).unwrap().clone();
    h.layer
        .send_response(h.t0, key, message::response(&req, 200, "OK", Some("ivr7")))
        .unwrap();
    h.transmits();
    let fired = h.run_until(Duration::from_secs(100));
    assert!(offsets(&fired).is_empty());
    assert_eq!(
        timeouts(&fired),
        vec![32000],
        "Timer L still detects a missing ACK"
    );
}

#[test]
fn ack_without_transaction_is_passed_up() {
    let mut h = Harness::new();
    let ack = request_text("ACK", "z9hG4bKlonely", "ACK", UAC_ADDR, "");
    h.receive(ms(0), &ack, udp(UAC_ADDR));
    assert!(matches!(h.events().as_slice(), [Event::Ack { .. }]));
    assert!(h.transmits().is_empty());
    assert!(h.layer.is_empty());
}

// ---------------------------------------------------------------------------------------------
// Server non-INVITE
// ---------------------------------------------------------------------------------------------

#[test]
fn server_non_invite_and_timer_j() {
    let mut h = Harness::new();
    let uac = udp(UAC_ADDR);
    let opts = request_text("OPTIONS", "z9hG4bKopt1", "OPTIONS", UAC_ADDR, "");
    h.receive(ms(0), &opts, uac);
    let key = server_key(&h.events());
    assert!(h.transmits().is_empty(), "no 100 for non-INVITE");
    h.receive(ms(500), &opts, uac);
    assert!(h.events().is_empty());
    assert!(
        h.transmits().is_empty(),
        "retransmission in Trying: nothing to send"
    );
    let req = h.layer.request_of(key).unwrap().clone();
    h.layer
        .send_response(
            h.at(ms(600)),
            key,
            message::response(&req, 200, "OK", Some("o")),
        )
        .unwrap();
    assert_eq!(status_of(&h.transmits()[0]), 200);
    h.receive(ms(1500), &opts, uac);
    assert!(h.events().is_empty());
    assert_eq!(status_of(&h.transmits()[0]), 200, "final re-sent");
    assert_eq!(
        h.layer
            .send_response(h.at(ms(1600)), key, message::response(&req, 500, "", None)),
        Err(TransactionError::InvalidState {
            key,
            state: "Completed",
            code: 500
        })
    );
    assert_eq!(
        h.layer.poll_timeout(),
        Some(h.at(ms(32_600))),
        "Timer J = 64*T1"
    );
    h.run_until(Duration::from_secs(40));
    assert!(h.layer.is_empty());
}

#[test]
fn server_non_invite_provisional_then_final_over_tcp() {
    let mut h = Harness::new();
    let uac = tcp("192.0.2.10:40003");
    let info = request_text("INFO", "z9hG4bKinfo1", "INFO", UAC_ADDR, "");
    h.receive(ms(0), &info, uac);
    let key = server_key(&h.events());
    let req = h.layer.request_of(key).unwrap().clone();
    h.layer
        .send_response(h.t0, key, message::response(&req, 100, "", None))
        .unwrap();
    h.receive(ms(10), &info, uac);
    let sent = h.transmits();
    assert_eq!(sent.len(), 2);
    assert_eq!(
        status_of(&sent[1]),
        100,
        "retransmission in Proceeding re-sends the 1xx"
    );
    h.layer
        .send_response(h.at(ms(20)), key, message::response(&req, 200, "", None))
        .unwrap();
    assert!(h.layer.is_empty(), "Timer J is zero over TCP");
}

#[test]
fn send_response_errors() {
    let mut h = Harness::new();
    let req = client_request(rsip::Method::Options);
    let ckey = h
        .layer
        .send_request(h.t0, req.clone(), udp("192.0.2.20:5060"));
    let resp = message::response(&req, 200, "", None);
    assert_eq!(
        h.layer.send_response(h.t0, ckey, resp.clone()),
        Err(TransactionError::NotServer(ckey))
    );
    h.layer.handle_timeout(h.at(Duration::from_secs(64)));
    assert_eq!(
        h.layer.send_response(h.t0, ckey, resp),
        Err(TransactionError::UnknownTransaction(ckey))
    );
}

// ---------------------------------------------------------------------------------------------
// Matching, CANCEL, transport details
// ---------------------------------------------------------------------------------------------

#[test]
fn cancel_is_its_own_transaction_and_finds_the_invite() {
    let mut h = Harness::new();
    let uac = udp(UAC_ADDR);
    h.receive(ms(0), &invite("z9hG4bKcan1"), uac);
    let invite_key = server_key(&h.events());
    h.transmits();
    h.receive(
        ms(100),
        &request_text("CANCEL", "z9hG4bKcan1", "CANCEL", UAC_ADDR, ""),
        uac,
    );
    let evs = h.events();
    let (cancel_key, cancel) = match evs.as_slice() {
        [Event::Request { key, request, .. }] => (*key, request.clone()),
        other => panic!("{other:?}"),
    };
    assert_ne!(cancel_key, invite_key, "CANCEL is distinct from INVITE");
    assert_eq!(h.layer.find_invite_for_cancel(&cancel), Some(invite_key));
    // The usual TU reaction: 200 to the CANCEL, 487 to the INVITE.
    h.layer
        .send_response(
            h.at(ms(110)),
            cancel_key,
            message::response(&cancel, 200, "", None),
        )
        .unwrap();
    let inv = h.layer.request_of(invite_key).unwrap().clone();
    h.layer
        .send_response(
            h.at(ms(110)),
            invite_key,
            message::response(&inv, 487, "", Some("t")),
        )
        .unwrap();
    let codes: Vec<u16> = h.transmits().iter().map(status_of).collect();
    assert_eq!(codes, vec![200, 487]);
    // A CANCEL with another branch matches nothing.
    let other = request_text("CANCEL", "z9hG4bKother", "CANCEL", UAC_ADDR, "");
    let SipMessage::Request(other) = message::parse(other.as_bytes()).unwrap() else {
        unreachable!()
    };
    assert_eq!(h.layer.find_invite_for_cancel(&other), None);
}

#[test]
fn same_branch_different_sent_by_is_a_different_transaction() {
    let mut h = Harness::new();
    h.receive(ms(0), &invite("z9hG4bKdup"), udp(UAC_ADDR));
    h.receive(
        ms(10),
        &request_text("INVITE", "z9hG4bKdup", "INVITE", "192.0.2.99:5060", ""),
        udp("192.0.2.99:5060"),
    );
    assert_eq!(h.events().len(), 2);
    assert_eq!(h.layer.len(), 2);
}

#[test]
fn rfc2543_requests_without_magic_cookie_still_match() {
    let mut h = Harness::new();
    let text = request_text("INVITE", "oldstyle1", "INVITE", UAC_ADDR, "");
    h.receive(ms(0), &text, udp(UAC_ADDR));
    assert_eq!(h.events().len(), 1);
    h.receive(ms(500), &text, udp(UAC_ADDR));
    assert!(
        h.events().is_empty(),
        "retransmission matched by the RFC 2543 fallback"
    );
    let no_branch = text.replace(";branch=oldstyle1", "");
    h.receive(ms(600), &no_branch, udp(UAC_ADDR));
    h.receive(ms(700), &no_branch, udp(UAC_ADDR));
    assert_eq!(h.events().len(), 1);
}

#[test]
fn rport_and_received_stamping_and_response_destination() {
    let mut h = Harness::new();
    // Behind NAT: private sent-by, empty rport.
    let text = request_text("INVITE", "z9hG4bKnat1", "INVITE", "10.0.0.5:5062", "")
        .replace("branch=z9hG4bKnat1", "branch=z9hG4bKnat1;rport");
    let src = udp("203.0.113.9:40000");
    h.receive(ms(0), &text, src);
    let evs = h.events();
    let [Event::Request { request, peer, .. }] = evs.as_slice() else {
        panic!("{evs:?}")
    };
    assert_eq!(*peer, src);
    assert_eq!(
        message::header_value(request, "Via"),
        Some("SIP/2.0/UDP 10.0.0.5:5062;branch=z9hG4bKnat1;rport=40000;received=203.0.113.9")
    );
    let trying = &h.transmits()[0];
    assert_eq!(trying.peer, src, "received + rport");
    let SipMessage::Response(r) = message::parse(&trying.data).unwrap() else {
        unreachable!()
    };
    assert_eq!(
        message::header_value(&r, "Via"),
        message::header_value(request, "Via"),
        "the response echoes the stamped Via"
    );

    // Numeric sent-by equal to the source IP, no rport: untouched, responses to sent-by port.
    h.receive(ms(0), &invite("z9hG4bKplain"), udp("192.0.2.10:33333"));
    let evs = h.events();
    let [Event::Request { request, .. }] = evs.as_slice() else {
        panic!()
    };
    assert_eq!(
        message::header_value(request, "Via"),
        Some("SIP/2.0/UDP 192.0.2.10:5062;branch=z9hG4bKplain")
    );
    assert_eq!(h.transmits()[0].peer, udp("192.0.2.10:5062"));

    // Host name sent-by: received is added; responses go to received with the sent-by port (5060).
    h.receive(
        ms(0),
        &request_text("OPTIONS", "z9hG4bKname", "OPTIONS", "pbx.example.com", ""),
        udp("198.51.100.7:5099"),
    );
    let evs = h.events();
    let [Event::Request { key, request, .. }] = evs.as_slice() else {
        panic!()
    };
    assert_eq!(
        message::top_via(request).unwrap().param("received"),
        Some(Some("198.51.100.7"))
    );
    assert_eq!(h.layer.reply_peer_of(*key), Some(udp("198.51.100.7:5060")));

    // Over TCP nothing is stamped.
    h.receive(ms(0), &invite("z9hG4bKtcp"), tcp("203.0.113.9:40001"));
    let evs = h.events();
    let [Event::Request { request, .. }] = evs.as_slice() else {
        panic!()
    };
    assert!(message::top_via(request)
        .unwrap()
        .param("received")
        .is_none());
}

#[test]
fn malformed_request_gets_400_and_garbage_is_dropped() {
    let mut h = Harness::new();
    let bad = invite("z9hG4bKbad").replace("CSeq: 1 INVITE", "CSeq: 1 BYE");
    h.receive(ms(0), &bad, udp(UAC_ADDR));
    assert!(matches!(h.events().as_slice(), [Event::Malformed { .. }]));
    let sent = h.transmits();
    assert_eq!(sent.len(), 1);
    assert_eq!(status_of(&sent[0]), 400);
    assert!(h.layer.is_empty());

    h.receive(ms(0), "\u{1}\u{2}garbage\r\n\r\n", udp(UAC_ADDR));
    assert!(matches!(h.events().as_slice(), [Event::Malformed { .. }]));
    assert!(h.transmits().is_empty());

    h.receive(ms(0), "\r\n\r\n", udp(UAC_ADDR));
    assert!(h.events().is_empty(), "keep-alive");
}

#[test]
fn stray_response_is_reported() {
    let mut h = Harness::new();
    let req = client_request(rsip::Method::Options);
    h.receive(
        ms(0),
        &response_for(&req, 200, None),
        udp("192.0.2.20:5060"),
    );
    assert!(matches!(
        h.events().as_slice(),
        [Event::StrayResponse { .. }]
    ));
}

#[test]
fn ack_is_sent_statelessly() {
    let mut h = Harness::new();
    let mut req = client_request(rsip::Method::Invite);
    req.method = rsip::Method::Ack;
    h.layer
        .send_stateless(SipMessage::Request(req.clone()), udp("192.0.2.20:5060"));
    assert_eq!(h.transmits().len(), 1);
    h.layer.send_request(h.t0, req, udp("192.0.2.20:5060"));
    assert_eq!(h.transmits().len(), 1);
    assert!(h.layer.is_empty(), "no transaction for ACK");
}

#[test]
fn ten_thousand_transactions_share_one_timer_set() {
    let mut h = Harness::new();
    for i in 0..10_000u64 {
        let text = request_text("OPTIONS", &format!("z9hG4bK{i}"), "OPTIONS", UAC_ADDR, "");
        h.receive(ms(i % 1000), &text, udp(UAC_ADDR));
    }
    assert_eq!(h.layer.len(), 10_000);
    assert_eq!(h.events().len(), 10_000);
    let start = Instant::now();
    for _ in 0..10_000 {
        assert_eq!(h.layer.poll_timeout(), Some(h.at(ms(32_000))));
    }
    assert!(start.elapsed() < Duration::from_secs(1));
    h.layer.handle_timeout(h.at(Duration::from_secs(40)));
    assert!(h.layer.is_empty());
    assert_eq!(h.layer.poll_timeout(), None);
}

#[test]
fn a_failed_transport_ends_the_client_transactions_on_it_at_once() {
    let mut h = Harness::new();
    let dead = tcp(UAC_ADDR);
    let other = tcp("192.0.2.20:5060");
    let invite = h
        .layer
        .send_request(h.at(ms(0)), client_request(rsip::Method::Invite), dead);
    let options = h
        .layer
        .send_request(h.at(ms(0)), client_request(rsip::Method::Options), dead);
    let elsewhere = h
        .layer
        .send_request(h.at(ms(0)), client_request(rsip::Method::Options), other);
    h.transmits();
    assert_eq!(h.layer.transport_failed(dead), 2);
    let mut ended: Vec<TxKey> = h
        .events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Timeout { key } => Some(key),
            _ => None,
        })
        .collect();
    ended.sort_by_key(|k| k.id());
    let mut expected = vec![invite, options];
    expected.sort_by_key(|k| k.id());
    assert_eq!(ended, expected);
    // Nothing more of them: no second timeout when Timer B/F would fire.
    let later = h.run_until(Duration::from_secs(64));
    assert_eq!(
        later
            .iter()
            .flat_map(|(_, _, ev)| ev)
            .filter(|e| matches!(e, Event::Timeout { key } if *key != elsewhere))
            .count(),
        0
    );
    assert_eq!(h.layer.transport_failed(dead), 0);
}

#[test]
fn a_full_table_refuses_new_requests_with_503_and_keeps_the_old() {
    let mut h = Harness::new();
    h.layer.set_max_server_transactions(2);
    let peer = udp(UAC_ADDR);
    h.receive(ms(0), &invite("z9hG4bK-full-1"), peer);
    h.receive(ms(0), &invite("z9hG4bK-full-2"), peer);
    assert_eq!(h.events().len(), 2);
    h.transmits();
    h.receive(ms(1), &invite("z9hG4bK-full-3"), peer);
    assert!(h.events().is_empty(), "no transaction, no event");
    let sent = h.transmits();
    assert_eq!(sent.len(), 1);
    assert_eq!(status_of(&sent[0]), 503);
    let text = String::from_utf8_lossy(&sent[0].data).to_string();
    assert!(text.contains("Retry-After: 10"), "{text}");
    assert_eq!(h.layer.refused_for_room(), 1);
    // A retransmission of a request that has its transaction is still absorbed.
    h.receive(ms(2), &invite("z9hG4bK-full-1"), peer);
    let again = h.transmits();
    assert_eq!(again.len(), 1);
    assert_eq!(status_of(&again[0]), 100);
    assert_eq!(h.layer.len(), 2);
}
