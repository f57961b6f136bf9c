//! Trunk health by OPTIONS with a fake clock.

use std::time::{Duration, Instant};

use senim_sip::health::{
    HealthEvent, OptionsProbe, ProbeConfig, ProbeError, ProbeFailure, TrunkState,
};
use senim_sip::message::{self, Peer};
use senim_sip::rsip;

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// The fake clock's origin.
#[allow(clippy::disallowed_methods)] // a test needs one base instant
fn base() -> Instant {
    Instant::now()
}

fn probe(misses_for_down: u32) -> OptionsProbe {
    let mut c = ProbeConfig::new(
        "sip:trunk.example",
        "sip:senim@192.0.2.1",
        Peer::udp("198.51.100.7:5060".parse().unwrap()),
        "192.0.2.1:5060".parse().unwrap(),
    );
    c.misses_for_down = misses_for_down;
    OptionsProbe::new(c).unwrap()
}

fn take(p: &mut OptionsProbe) -> rsip::Request {
    let out = p.poll_request().expect("a probe");
    assert!(p.poll_request().is_none());
    out.request
}

fn events(p: &mut OptionsProbe) -> Vec<HealthEvent> {
    std::iter::from_fn(|| p.poll_event()).collect()
}

fn answer(req: &rsip::Request, code: u16) -> rsip::Response {
    message::response(req, code, "", Some("t"))
}

#[test]
fn probes_while_up_and_any_answer_but_503_is_up() {
    let t0 = base();
    let mut p = probe(1);
    assert_eq!(p.state(), TrunkState::Unknown);
    assert!(p.is_usable());
    p.start(t0);
    let req = take(&mut p);
    assert_eq!(req.method, rsip::Method::Options);
    assert_eq!(message::uri_to_string(&req.uri), "sip:trunk.example");
    assert_eq!(message::cseq(&req), Some((1, rsip::Method::Options)));
    assert!(message::from_tag(&req).is_some());
    assert_eq!(message::to_tag(&req), None);
    let via = message::top_via(&req).unwrap();
    assert_eq!(via.param("rport"), Some(None));
    assert!(via.branch().unwrap().starts_with("z9hG4bK"));
    assert_eq!(message::header_values(&req, "Max-Forwards"), vec!["70"]);

    p.handle_response(t0 + Duration::from_millis(30), &answer(&req, 100));
    assert_eq!(p.state(), TrunkState::Unknown, "provisional ignored");
    let t1 = t0 + Duration::from_millis(40);
    p.handle_response(t1, &answer(&req, 405));
    assert_eq!(p.state(), TrunkState::Up);
    assert_eq!(events(&mut p), vec![HealthEvent::Up]);
    let status = p.status();
    assert_eq!(status.since, Some(t1));
    assert_eq!(status.last_status, Some(405));
    assert_eq!(status.last_rtt, Some(Duration::from_millis(40)));
    assert_eq!(p.poll_timeout(), Some(t1 + secs(30)));

    p.handle_timeout(t1 + secs(29));
    assert!(p.poll_request().is_none());
    let t2 = t1 + secs(30);
    p.handle_timeout(t2);
    let req2 = take(&mut p);
    assert_ne!(message::call_id(&req2), message::call_id(&req));
    // A stale answer to the first probe is ignored.
    p.handle_response(t2, &answer(&req, 503));
    assert_eq!(p.state(), TrunkState::Up);
    p.handle_response(t2, &answer(&req2, 200));
    assert!(events(&mut p).is_empty(), "no change, no event");

    // 503: down at once, probing every 5 s.
    let t3 = t2 + secs(30);
    p.handle_timeout(t3);
    let req3 = take(&mut p);
    p.handle_response(t3, &answer(&req3, 503));
    assert_eq!(p.state(), TrunkState::Down);
    assert!(!p.is_usable());
    assert_eq!(
        events(&mut p),
        vec![HealthEvent::Down {
            reason: ProbeFailure::Unavailable {
                reason: "Service Unavailable".into()
            }
        }]
    );
    assert_eq!(p.poll_timeout(), Some(t3 + secs(5)));
    p.handle_timeout(t3 + secs(5));
    let req4 = take(&mut p);
    p.handle_response(t3 + secs(5), &answer(&req4, 404));
    assert_eq!(p.state(), TrunkState::Up);
    assert_eq!(events(&mut p), vec![HealthEvent::Up]);
    assert_eq!(
        p.status().last_failure.as_deref(),
        Some("503 Service Unavailable"),
        "the last failure is kept for the status page"
    );
}

#[test]
fn timeouts_make_the_trunk_down_after_the_configured_misses() {
    let t0 = base();
    let mut p = probe(2);
    p.start(t0);
    let req = take(&mut p);
    p.handle_response(t0, &answer(&req, 200));
    events(&mut p);
    let mut now = t0 + secs(30);
    p.handle_timeout(now);
    let _ = take(&mut p);
    now += secs(32);
    p.handle_transaction_timeout(now);
    assert_eq!(p.state(), TrunkState::Up, "one miss of two");
    assert!(events(&mut p).is_empty());
    assert_eq!(
        p.poll_timeout(),
        Some(now + secs(5)),
        "a miss speeds probing up"
    );
    now += secs(5);
    p.handle_timeout(now);
    let _ = take(&mut p);
    // The second miss is caught by the guard (no report from the transaction layer).
    assert_eq!(p.poll_timeout(), Some(now + secs(40)));
    now += secs(40);
    p.handle_timeout(now);
    assert_eq!(p.state(), TrunkState::Down);
    assert_eq!(
        events(&mut p),
        vec![HealthEvent::Down {
            reason: ProbeFailure::Timeout { misses: 2 }
        }]
    );
    assert_eq!(p.status().since, Some(now));
    assert_eq!(
        p.status().last_failure.as_deref(),
        Some("no answer to OPTIONS (2 in a row)")
    );
    // While down: every 5 s after each miss.
    assert_eq!(p.poll_timeout(), Some(now + secs(5)));
    now += secs(5);
    p.handle_timeout(now);
    let req = take(&mut p);
    p.handle_response(now + secs(1), &answer(&req, 200));
    assert_eq!(p.state(), TrunkState::Up);
    assert_eq!(events(&mut p), vec![HealthEvent::Up]);
}

#[test]
fn a_failed_call_marks_the_trunk_down_until_a_probe_answers() {
    let t0 = base();
    let mut p = probe(1);
    p.start(t0);
    let req = take(&mut p);
    p.handle_response(t0, &answer(&req, 200));
    events(&mut p);

    let t1 = t0 + secs(10);
    p.mark_failed(t1, "INVITE timed out\r\n");
    assert_eq!(p.state(), TrunkState::Down);
    assert_eq!(
        events(&mut p),
        vec![HealthEvent::Down {
            reason: ProbeFailure::Reported("INVITE timed out".into())
        }]
    );
    assert_eq!(
        p.poll_timeout(),
        Some(t1 + secs(5)),
        "probe sooner than 30 s"
    );
    p.mark_failed(t1 + secs(1), "408");
    assert!(events(&mut p).is_empty(), "already down");
    p.handle_timeout(t1 + secs(5));
    let req = take(&mut p);
    p.handle_response(t1 + secs(5), &answer(&req, 200));
    assert_eq!(p.state(), TrunkState::Up);
    assert_eq!(events(&mut p), vec![HealthEvent::Up]);
    assert_eq!(p.poll_timeout(), Some(t1 + secs(35)));

    // Reported while a probe is under way: the probe's answer decides.
    p.handle_timeout(t1 + secs(35));
    let req = take(&mut p);
    p.mark_failed(t1 + secs(36), "503");
    assert_eq!(p.state(), TrunkState::Down);
    p.handle_response(t1 + secs(36), &answer(&req, 200));
    assert_eq!(p.state(), TrunkState::Up);
}

#[test]
fn unknown_goes_straight_to_down_and_bad_config_is_refused() {
    let t0 = base();
    let mut p = probe(1);
    p.start(t0);
    let _ = take(&mut p);
    p.handle_transaction_timeout(t0 + secs(32));
    assert_eq!(p.state(), TrunkState::Down);
    assert_eq!(events(&mut p).len(), 1);

    let c = ProbeConfig::new(
        "mailto:x@y",
        "sip:senim@192.0.2.1",
        Peer::udp("198.51.100.7:5060".parse().unwrap()),
        "192.0.2.1:5060".parse().unwrap(),
    );
    assert!(matches!(
        OptionsProbe::new(c),
        Err(ProbeError::BadUri {
            field: "target",
            ..
        })
    ));
}
