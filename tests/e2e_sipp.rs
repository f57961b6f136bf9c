//! End-to-end calls from SIPp, an independent SIP implementation, to the real
//! binary: each DTMF source, late offer, hang-up in the menu, CANCEL,
//! malformed input. What the caller received is checked from a packet capture
//! (tcpdump on loopback); what was stored is read from the database.

mod common;

use std::time::Duration;

use common::capture::{Capture, Packet};
use common::{sipp, Senim};

const LIMIT: Duration = Duration::from_secs(60);

fn run_ok(senim: &Senim, scenario: &str) {
    let run = sipp(senim, scenario, &[], LIMIT);
    assert!(
        run.success,
        "{scenario} failed:\n{}\n--- senim ---\n{}",
        run.output,
        senim.log()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sipp_rfc4733_kazakh_and_rtp_every_20ms() {
    let senim = Senim::start(&[]);
    // SIPp's media port for this run is its port block + 10; capture what arrives there.
    let capture = Capture::start(senim.dir.path());
    let run = sipp(&senim, "caller_rfc4733.xml", &[], LIMIT);
    let packets = capture.stop();
    assert!(
        run.success,
        "sipp failed:\n{}\n--- senim ---\n{}",
        run.output,
        senim.log()
    );
    let calls = senim.ended_calls(1).await;
    assert_eq!(calls[0].language.as_deref(), Some("kk"));
    assert_eq!(
        calls[0].digits,
        vec![
            ("1".into(), "rfc4733".into()),
            ("2".into(), "rfc4733".into())
        ]
    );
    assert_eq!(calls[0].dtmf_mode.as_deref(), Some("rfc4733"));
    assert_eq!(calls[0].outcome.as_deref(), Some("completed"));

    // RTP from Senim's media port to SIPp's.
    let sport_lo = senim.rtp_base + 50;
    let rtp: Vec<&Packet> = packets
        .iter()
        .filter(|p| p.src_port >= sport_lo && p.src_port < sport_lo + 50 && p.payload.len() >= 12)
        .collect();
    assert!(
        rtp.len() > 100,
        "RTP reached the SIPp caller: {} packets",
        rtp.len()
    );
    let pt = rtp[0].payload[1] & 0x7f;
    assert!(pt == 0 || pt == 8, "PCMU or PCMA, got PT {pt}");
    let mut intervals = Vec::new();
    for w in rtp.windows(2) {
        let seq0 = u16::from_be_bytes([w[0].payload[2], w[0].payload[3]]);
        let seq1 = u16::from_be_bytes([w[1].payload[2], w[1].payload[3]]);
        assert_eq!(seq1, seq0.wrapping_add(1), "no gap in the sequence");
        intervals.push(w[1].at_us - w[0].at_us);
    }
    let mean = intervals.iter().sum::<i64>() / intervals.len() as i64;
    assert!(
        (18_000..=22_000).contains(&mean),
        "a packet every 20 ms on average: {mean} µs"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sipp_info_digits() {
    let senim = Senim::start(&[]);
    run_ok(&senim, "caller_info.xml");
    let calls = senim.ended_calls(1).await;
    assert_eq!(calls[0].language.as_deref(), Some("kk"));
    assert!(
        calls[0].digits.iter().all(|(_, s)| s == "sip-info") && calls[0].digits.len() == 2,
        "{:?}",
        calls[0].digits
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sipp_inband_tones() {
    let senim = Senim::start(&[]);
    run_ok(&senim, "caller_inband.xml");
    let calls = senim.ended_calls(1).await;
    assert_eq!(calls[0].language.as_deref(), Some("kk"));
    assert_eq!(calls[0].dtmf_mode.as_deref(), Some("inband"));
    assert_eq!(
        calls[0].digits,
        vec![("1".into(), "inband".into()), ("2".into(), "inband".into())]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sipp_trunk_dtmf_both_counts_each_key_once() {
    // The trunk is at 127.0.0.1: a call from that IP is the trunk's (matched
    // by address, else by IP), so the SIPp caller, on whatever free port it
    // finds, calls through it.
    let p_trunk = common::port_block();
    let plan = common::repo_root().join("tests/dialplans/menu.xml");
    let plan = plan.display().to_string();
    let config = format!(
        "[[trunk]]\nid = \"provider\"\naddress = \"127.0.0.1:{p_trunk}\"\ndtmf = \"both\"\n"
    );
    let senim = Senim::start_with(Some(&config), &[("SENIM_DIALPLAN", plan.as_str())]);
    // Key 1 as a tone and an RFC 4733 event at once, key 2 as a tone only,
    // though telephone-event was agreed.
    run_ok(&senim, "trunk_caller_dtmf_both.xml");
    let calls = senim.ended_calls(1).await;
    assert_eq!(calls[0].dtmf_mode.as_deref(), Some("both"));
    let keys: Vec<&str> = calls[0].digits.iter().map(|(d, _)| d.as_str()).collect();
    assert_eq!(keys, ["1", "2"], "each key once: {:?}", calls[0].digits);
    assert_eq!(calls[0].digits[1].1, "inband", "{:?}", calls[0].digits);
    assert_eq!(calls[0].language.as_deref(), Some("kk"));
    assert_eq!(calls[0].outcome.as_deref(), Some("caller-hangup"));
}

#[tokio::test(flavor = "multi_thread")]
async fn sipp_late_offer() {
    let senim = Senim::start(&[]);
    run_ok(&senim, "caller_late_offer.xml");
    let calls = senim.ended_calls(1).await;
    assert_eq!(calls[0].language.as_deref(), Some("kk"));
    assert_eq!(calls[0].digits.len(), 2, "{:?}", calls[0].digits);
    assert_eq!(calls[0].digits[0].1, "rfc4733");
}

#[tokio::test(flavor = "multi_thread")]
async fn sipp_hangup_in_menu() {
    let senim = Senim::start(&[]);
    run_ok(&senim, "caller_hangup_in_menu.xml");
    let calls = senim.ended_calls(1).await;
    assert_eq!(calls[0].outcome.as_deref(), Some("caller-hangup"));
    assert_eq!(calls[0].hangup_by.as_deref(), Some("caller"));
}

#[tokio::test(flavor = "multi_thread")]
async fn sipp_cancel() {
    let senim = Senim::start(&[]);
    run_ok(&senim, "caller_cancel.xml");
    let calls = senim.ended_calls(1).await;
    assert!(calls[0].outcome.is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn sipp_malformed_then_options() {
    let senim = Senim::start(&[]);
    run_ok(&senim, "malformed_then_options.xml");
}

#[tokio::test(flavor = "multi_thread")]
async fn sipp_over_tcp() {
    let senim = Senim::start(&[]);
    let run = sipp(&senim, "caller_info.xml", &["-t", "t1"], LIMIT);
    assert!(
        run.success,
        "sipp over TCP failed:\n{}\n--- senim ---\n{}",
        run.output,
        senim.log()
    );
    let calls = senim.ended_calls(1).await;
    assert_eq!(calls[0].transport, "tcp");
    assert_eq!(calls[0].language.as_deref(), Some("kk"));
    assert_eq!(calls[0].outcome.as_deref(), Some("completed"));
}
