//! End-to-end tests with the in-repo test caller (independent of Senim's SIP
//! code): RTP timing and headers, each DTMF source, late offer, bad input.

mod common;

use std::time::Duration;

use common::caller::{self, Caller};
use common::Senim;

const OFFER_MAPS: &str = "a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n";

#[tokio::test(flavor = "multi_thread")]
async fn rtp_every_20ms_then_rfc4733_digits_choose_kazakh() {
    let senim = Senim::start(&[]);
    let mut c = Caller::new(senim.sip);
    let offer = c.offer("0 8 101", OFFER_MAPS);
    let ok = c.call(Some(&offer), None);
    assert!(ok.contains("m=audio "), "200 carries an answer:\n{ok}");
    assert!(
        c.answer.contains("RTP/AVP 0 101"),
        "PCMU + telephone-event:\n{}",
        c.answer
    );

    let pkts = c.rtp_for(Duration::from_secs(2));
    assert!(
        (85..=110).contains(&pkts.len()),
        "about 100 packets in 2 s, got {}",
        pkts.len()
    );
    assert!(
        pkts.iter().all(|p| p.pt == 0 && p.len == 12 + 160),
        "PCMU, 20 ms payloads"
    );
    assert!(pkts.iter().all(|p| p.ssrc == pkts[0].ssrc), "one SSRC");
    for w in pkts.windows(2) {
        assert_eq!(
            w[1].seq,
            w[0].seq.wrapping_add(1),
            "sequence numbers continuous"
        );
        assert_eq!(
            w[1].ts,
            w[0].ts.wrapping_add(160),
            "timestamps +160 a packet"
        );
    }
    let span = pkts.last().unwrap().at - pkts[0].at;
    let mean = span / (pkts.len() as u32 - 1);
    assert!(
        mean > Duration::from_millis(18) && mean < Duration::from_millis(22),
        "mean interval {mean:?}"
    );

    c.press_rfc4733('1', 101);
    std::thread::sleep(Duration::from_millis(500));
    c.press_rfc4733('2', 101);
    assert!(
        c.wait_bye(Duration::from_secs(30)),
        "Senim says goodbye and hangs up"
    );

    let calls = senim.ended_calls(1).await;
    let call = &calls[0];
    assert_eq!(call.language.as_deref(), Some("kk"));
    assert_eq!(
        call.digits,
        vec![
            ("1".into(), "rfc4733".into()),
            ("2".into(), "rfc4733".into())
        ]
    );
    assert_eq!(call.outcome.as_deref(), Some("completed"));
    assert_eq!(call.hangup_by.as_deref(), Some("senim"));
    assert_eq!(call.codec.as_deref(), Some("PCMU"));
    let hash = call.caller_hash.as_deref().unwrap_or("");
    assert_eq!(hash.len(), 32, "keyed hash stored");
    assert!(!hash.contains("7011234567"), "never the number itself");
    assert!(
        call.steps.iter().any(|s| s == "main: choice 2"),
        "{:?}",
        call.steps
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sip_info_digits_choose_russian() {
    let senim = Senim::start(&[]);
    let mut c = Caller::new(senim.sip);
    let offer = c.offer("8 101", OFFER_MAPS);
    c.call(Some(&offer), None);
    assert!(
        c.answer.contains("RTP/AVP 8"),
        "PCMA chosen as offered:\n{}",
        c.answer
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(c.press_info('2'), Some(200));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(c.press_info('3'), Some(200));
    assert!(c.wait_bye(Duration::from_secs(30)));
    let calls = senim.ended_calls(1).await;
    assert_eq!(calls[0].language.as_deref(), Some("ru"));
    assert_eq!(
        calls[0].digits,
        vec![
            ("2".into(), "sip-info".into()),
            ("3".into(), "sip-info".into())
        ]
    );
    assert_eq!(calls[0].codec.as_deref(), Some("PCMA"));
}

#[tokio::test(flavor = "multi_thread")]
async fn late_offer_answer_in_ack() {
    let senim = Senim::start(&[]);
    let mut c = Caller::new(senim.sip);
    let answer = c.offer(
        "0 101",
        "a=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n",
    );
    c.call(None, Some(&answer));
    assert!(
        c.answer.contains("RTP/AVP 0 8 101"),
        "Senim offers in the 200:\n{}",
        c.answer
    );
    let pkts = c.rtp_for(Duration::from_millis(600));
    assert!(
        pkts.len() > 20 && pkts.iter().all(|p| p.pt == 0),
        "RTP after the ACK's answer"
    );
    c.press_rfc4733('1', 101);
    std::thread::sleep(Duration::from_millis(300));
    c.press_rfc4733('1', 101);
    assert!(c.wait_bye(Duration::from_secs(30)));
    let calls = senim.ended_calls(1).await;
    assert_eq!(calls[0].language.as_deref(), Some("kk"));
    assert_eq!(calls[0].digits.len(), 2, "{:?}", calls[0].digits);
}

#[tokio::test(flavor = "multi_thread")]
async fn caller_hangs_up_in_the_menu() {
    let senim = Senim::start(&[]);
    let mut c = Caller::new(senim.sip);
    let offer = c.offer("0 101", OFFER_MAPS);
    c.call(Some(&offer), None);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(c.bye(), Some(200));
    let calls = senim.ended_calls(1).await;
    assert_eq!(calls[0].outcome.as_deref(), Some("caller-hangup"));
    assert_eq!(calls[0].hangup_by.as_deref(), Some("caller"));
    assert!(calls[0].digits.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn no_common_codec_gets_488() {
    let senim = Senim::start(&[]);
    let c = Caller::new(senim.sip);
    let offer = c.offer("18", "a=rtpmap:18 G729/8000\r\n");
    let invite = c.request("INVITE", 1, "b488", "", Some("application/sdp"), &offer);
    c.send_raw(&invite);
    let mut got = None;
    for _ in 0..5 {
        if let Some(m) = c.recv(Duration::from_secs(2)) {
            match caller::status(&m) {
                Some(s) if s >= 200 => {
                    got = Some(s);
                    break;
                }
                _ => {}
            }
        }
    }
    assert_eq!(got, Some(488));
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_request_then_options_still_answered() {
    let senim = Senim::start(&[]);
    let c = Caller::new(senim.sip);
    // No CSeq: a 400 (or silence), never a crash.
    let bad = "INVITE sip:100@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:1;branch=z9hG4bKbad\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:100@127.0.0.1>\r\nCall-ID: bad@test\r\nContent-Length: 0\r\n\r\n";
    c.send_raw(bad);
    c.send_raw("\x00\x01garbage that is not SIP at all\r\n\r\n");
    c.send_raw("OPTIONS sip:x SIP/2.0\r\nContent-Length: 99999999999999999999\r\n\r\n");
    // A 400 may come back for the first; drain until the OPTIONS answer.
    let options = c.request("OPTIONS", 7, "bopt", "", None, "");
    std::thread::sleep(Duration::from_millis(200));
    c.send_raw(&options);
    let mut statuses = Vec::new();
    let mut options_ok = None;
    for _ in 0..6 {
        let Some(m) = c.recv(Duration::from_secs(2)) else {
            break;
        };
        let s = caller::status(&m);
        if caller::header(&m, "CSeq").is_some_and(|h| h.contains("OPTIONS")) {
            options_ok = Some(m);
            break;
        }
        statuses.push(s);
    }
    assert!(
        statuses.iter().all(|s| *s == Some(400)),
        "only 400s before: {statuses:?}"
    );
    let ok = options_ok.expect("OPTIONS answered after malformed input");
    assert_eq!(caller::status(&ok), Some(200));
    let allow = caller::header(&ok, "Allow").unwrap_or("");
    assert!(allow.contains("INVITE") && allow.contains("INFO"), "{ok}");
}

#[tokio::test(flavor = "multi_thread")]
async fn other_methods_and_unknown_dialogs() {
    let senim = Senim::start(&[]);
    let mut c = Caller::new(senim.sip);
    let expect = |c: &Caller, method: &str, req: String| -> Option<u16> {
        c.send_raw(&req);
        for _ in 0..4 {
            let m = c.recv(Duration::from_secs(2))?;
            if caller::header(&m, "CSeq").is_some_and(|h| h.contains(method)) {
                return caller::status(&m);
            }
        }
        None
    };
    // REGISTER without credentials: a digest challenge (the registrar of the
    // specialists' softphones); SUBSCRIBE is known but not taken.
    let register = c.request("REGISTER", 1, "breg", "", None, "");
    assert_eq!(expect(&c, "REGISTER", register), Some(401));
    let subscribe = c.request("SUBSCRIBE", 1, "bsub", "Event: presence\r\n", None, "");
    assert_eq!(expect(&c, "SUBSCRIBE", subscribe), Some(405));
    let foo = c.request("FOO", 1, "bfoo", "", None, "");
    assert_eq!(expect(&c, "FOO", foo), Some(501));
    c.to_tag = "nosuchdialog".into();
    let bye = c.request("BYE", 2, "bbye", "", None, "");
    assert_eq!(expect(&c, "BYE", bye), Some(481));
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_ends_calls_and_keeps_their_records() {
    let mut senim = Senim::start(&[]);
    let mut c = Caller::new(senim.sip);
    let offer = c.offer("0 101", OFFER_MAPS);
    c.call(Some(&offer), None);
    std::thread::sleep(Duration::from_millis(300));
    let status = senim.stop();
    assert!(status.success(), "clean exit: {status:?}\n{}", senim.log());
    assert!(
        c.wait_bye(Duration::from_secs(2)),
        "calls in progress get a BYE"
    );
    let calls = senim.ended_calls(1).await;
    assert_eq!(calls[0].outcome.as_deref(), Some("shutdown"));
    assert!(
        !senim.log().contains("did not stop in time"),
        "{}",
        senim.log()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_after_a_finished_call_stops_without_waiting_for_old_transactions() {
    // A call that ended leaves transactions in their wait states (Timer J,
    // K); stopping must not wait for them.
    let mut senim = Senim::start(&[]);
    let mut c = Caller::new(senim.sip);
    let offer = c.offer("0 101", OFFER_MAPS);
    c.call(Some(&offer), None);
    assert_eq!(c.press_info('1'), Some(200));
    assert_eq!(c.bye(), Some(200));
    senim.ended_calls(1).await;
    let status = senim.stop();
    assert!(status.success());
    let log = senim.log();
    assert!(!log.contains("did not stop in time"), "{log}");
    assert!(log.contains("stopped"), "{log}");
}

#[tokio::test(flavor = "multi_thread")]
async fn database_locked_mid_call_loses_nothing() {
    use sqlx::Connection;
    let senim = Senim::start(&[common::ON_SQLITE]);
    let mut lock =
        sqlx::SqliteConnection::connect(&format!("sqlite://{}", senim.db_path.display()))
            .await
            .expect("open db");
    // Hold the write lock longer than Senim's busy timeout (5 s).
    sqlx::query("BEGIN EXCLUSIVE")
        .execute(&mut lock)
        .await
        .expect("lock");
    let mut c = Caller::new(senim.sip);
    let offer = c.offer("0 101", OFFER_MAPS);
    c.call(Some(&offer), None);
    std::thread::sleep(Duration::from_millis(300));
    c.press_rfc4733('2', 101);
    std::thread::sleep(Duration::from_millis(300));
    c.press_rfc4733('1', 101);
    assert!(
        c.wait_bye(Duration::from_secs(30)),
        "the call goes on while the database is locked"
    );
    std::thread::sleep(Duration::from_secs(6));
    sqlx::query("COMMIT")
        .execute(&mut lock)
        .await
        .expect("unlock");
    drop(lock);
    let calls = senim.ended_calls(1).await;
    assert_eq!(calls[0].language.as_deref(), Some("ru"));
    assert_eq!(calls[0].digits.len(), 2);
    assert_eq!(calls[0].outcome.as_deref(), Some("completed"));
    assert!(
        senim.log().contains("changes go to the spool"),
        "the failure was seen and the changes spooled"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn no_ack_for_the_200_ends_the_call_with_bye() {
    // T1 = 100 ms: the 200 is retransmitted, and after 64*T1 without an ACK
    // the call is ended with a BYE.
    let senim = Senim::start(&[("SENIM_SIP_T1", "100ms")]);
    let c = Caller::new(senim.sip);
    let offer = c.offer("0 101", OFFER_MAPS);
    let invite = c.request("INVITE", 1, "bnoack", "", Some("application/sdp"), &offer);
    c.send_raw(&invite);
    let mut oks = 0;
    let mut bye = false;
    for _ in 0..40 {
        let Some(m) = c.recv(Duration::from_secs(5)) else {
            break;
        };
        if caller::status(&m) == Some(200) {
            oks += 1;
        }
        if m.starts_with("BYE ") {
            bye = true;
            break;
        }
    }
    assert!(oks >= 3, "the 200 is retransmitted until ACKed, got {oks}");
    assert!(bye, "no ACK: Senim ends the call with BYE");
    let calls = senim.ended_calls(1).await;
    assert_eq!(calls[0].outcome.as_deref(), Some("no-ack"));
}

#[tokio::test(flavor = "multi_thread")]
async fn reinvite_moves_media_and_hold_is_answered() {
    let senim = Senim::start(&[]);
    let mut c = Caller::new(senim.sip);
    let offer = c.offer("0 101", OFFER_MAPS);
    c.call(Some(&offer), None);
    assert!(!c.rtp_for(Duration::from_millis(300)).is_empty());
    // Move the media to a new port with a re-INVITE.
    let moved = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = moved.local_addr().unwrap().port();
    let new_offer = format!(
        "v=0\r\no=test 1 2 IN IP4 127.0.0.1\r\ns=test\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {port} RTP/AVP 0 101\r\n{OFFER_MAPS}a=sendrecv\r\n"
    );
    c.cseq += 1;
    let reinvite = c.request(
        "INVITE",
        c.cseq,
        "breinv",
        "",
        Some("application/sdp"),
        &new_offer,
    );
    c.send_raw(&reinvite);
    let mut ok = None;
    for _ in 0..6 {
        if let Some(m) = c.recv(Duration::from_secs(2)) {
            if caller::status(&m) == Some(200)
                && caller::header(&m, "CSeq").is_some_and(|h| h.contains("INVITE"))
            {
                ok = Some(m);
                break;
            }
        }
    }
    let ok = ok.expect("200 to the re-INVITE");
    assert!(caller::body(&ok).contains("m=audio"), "{ok}");
    let ack = c.request("ACK", c.cseq, "breinvack", "", None, "");
    c.send_raw(&ack);
    moved
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let mut buf = [0u8; 512];
    let (n, _) = moved
        .recv_from(&mut buf)
        .expect("RTP arrives at the new address");
    assert!(n >= 12);
    assert_eq!(c.bye(), Some(200));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_digit_cuts_the_greeting() {
    let senim = Senim::start(&[]);
    let mut c = Caller::new(senim.sip);
    let offer = c.offer("0 101", OFFER_MAPS);
    c.call(Some(&offer), None);
    let before = c.rtp_for(Duration::from_millis(1000));
    assert!(
        before.first().is_some_and(|p| p.marker),
        "the greeting starts a talkspurt"
    );
    c.press_rfc4733('2', 101);
    // The greeting lasts over 10 s; the main menu must start (a new talkspurt,
    // marker bit) long before that.
    let after = c.rtp_for(Duration::from_millis(1000));
    let marker = after.iter().position(|p| p.marker);
    assert!(
        marker.is_some(),
        "the main menu started at once after the digit"
    );
    // Timestamps stay continuous across the cut (one stream, +160 a packet).
    let all: Vec<_> = before.iter().chain(after.iter()).collect();
    for w in all.windows(2) {
        assert_eq!(w[1].ts, w[0].ts.wrapping_add(160));
    }
    assert_eq!(c.bye(), Some(200));
}

#[tokio::test(flavor = "multi_thread")]
async fn symmetric_rtp_follows_the_callers_source_address() {
    // The caller's SDP names one port (as a phone behind NAT would name its
    // private address), but its RTP comes from another: Senim must send to
    // where the RTP comes from.
    let senim = Senim::start(&[]);
    let mut c = Caller::new(senim.sip);
    let decoy = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let decoy_port = decoy.local_addr().unwrap().port();
    let offer = c.offer("0 101", OFFER_MAPS).replace(
        &format!("m=audio {} ", c.rtp_port()),
        &format!("m=audio {decoy_port} "),
    );
    c.call(Some(&offer), None);
    decoy
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let mut buf = [0u8; 512];
    assert!(
        decoy.recv_from(&mut buf).is_ok(),
        "RTP first goes to the SDP address"
    );
    // One packet from the real source port (a DTMF key press).
    c.press_rfc4733('1', 101);
    let pkts = c.rtp_for(Duration::from_millis(500));
    assert!(
        pkts.len() > 10,
        "RTP now comes to the caller's source port: {}",
        pkts.len()
    );
    assert_eq!(c.bye(), Some(200));
}

/// Behind NAT: SDP names `[media] public_ip` while the RTP sockets stay
/// bound to the local address, and the caller still gets the greeting
/// (Senim sends from its local port to where the caller's RTP comes from).
#[tokio::test(flavor = "multi_thread")]
async fn sdp_names_the_public_media_address() {
    let senim = Senim::start(&[("SENIM_MEDIA_PUBLIC_IP", "192.0.2.77")]);
    let mut c = Caller::new(senim.sip);
    let offer = c.offer("0 101", OFFER_MAPS);
    let answer = c.call(Some(&offer), None);
    let sdp = caller::body(&answer);
    assert!(sdp.contains("c=IN IP4 192.0.2.77"), "{answer}");
    assert!(!sdp.contains("127.0.0.1"), "{answer}");
    assert!(!c.rtp_for(Duration::from_millis(500)).is_empty());
    assert_eq!(c.bye(), Some(200));
}
