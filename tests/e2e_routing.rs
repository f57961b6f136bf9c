//! Routing end to end: the real binary, SIPp playing the specialists' phones,
//! partner centres and trunks, the test caller from `common::caller`.
//!
//! Every SIPp phone is a separate process on its own loopback port; each
//! scenario checks its side of the exchange (CANCEL, BYE, REFER...) and the
//! test checks the call record (`call_routing`).

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::caller::Caller;
use common::phone::Phone;
use common::{port_block, repo_root, Senim};
use sqlx::Row;

/// The centre open around the clock, holidays included.
const OPEN: &str = "[hours.centre]\nalways = true\nholidays = \"open\"\n";
/// The centre never open.
const CLOSED: &str = "[hours.centre]\nmon = \"closed\"\n";
const OFFER: &str = "0 8 101";
const RTPMAPS: &str = "a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n";
/// The test caller's number (see `common::caller`): it must never reach a specialist.
const CALLER_NUMBER: &str = "77011234567";

/// The default plan with some attributes changed (shorter rings and waits).
fn plan(dir: &std::path::Path, replace: &[(&str, &str)]) -> PathBuf {
    let mut text = std::fs::read_to_string(repo_root().join("dialplans/centre.xml"))
        .expect("dialplans/centre.xml");
    for (from, to) in replace {
        assert!(text.contains(from), "centre.xml has {from:?}");
        text = text.replace(from, to);
    }
    let path = dir.join("plan.xml");
    std::fs::write(&path, text).expect("write plan");
    path
}

/// A partner directory with one crisis centre reached at `contact`
/// (`uri = "..."` or `number = "..."`).
fn partners(dir: &std::path::Path, contact: &str) -> PathBuf {
    let text = format!(
        r#"source = "test"
verified = false
updated = "2026-11-25"

[[partner]]
id = "ulba-crisis-centre"
name = {{ kk = "Дағдарыс орталығы", ru = "Кризисный центр" }}
{contact}
languages = ["kk", "ru"]
hours = "24/7"
services = ["crisis"]
source = "test"
verified = false
"#
    );
    let path = dir.join("partners.toml");
    std::fs::write(&path, text).expect("write partners");
    path
}

fn specialist(id: &str, skills: &str, languages: &str, port: u16) -> String {
    format!(
        "[[specialist]]\nid = \"{id}\"\nname = \"{id}\"\nskills = {skills}\nlanguages = {languages}\nuri = \"sip:{id}@127.0.0.1:{port}\"\nwrap_up = \"1s\"\n\n"
    )
}

/// One row of `call_routing`.
#[derive(Debug, Clone)]
struct RoutingRow {
    call: String,
    step: String,
    specialist: Option<String>,
    partner: Option<String>,
    result: Option<String>,
    detail: String,
}

fn routing_rows(senim: &Senim) -> Vec<RoutingRow> {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let pool = senim.db().await;
        sqlx::query(
            "SELECT r.call_id, r.step, r.specialist, r.partner, r.result, r.detail
             FROM call_routing r JOIN calls c ON c.id = r.call_id
             ORDER BY c.arrived_at, r.seq",
        )
        .fetch_all(&pool)
        .await
        .expect("query call_routing")
        .into_iter()
        .map(|r| RoutingRow {
            call: r.get("call_id"),
            step: r.get("step"),
            specialist: r.get("specialist"),
            partner: r.get("partner"),
            result: r.get("result"),
            detail: r.get("detail"),
        })
        .collect()
    })
}

fn call_outcomes(senim: &Senim) -> Vec<(String, Option<String>)> {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let pool = senim.db().await;
        sqlx::query("SELECT id, outcome FROM calls ORDER BY arrived_at")
            .fetch_all(&pool)
            .await
            .expect("query calls")
            .into_iter()
            .map(|r| (r.get("id"), r.get("outcome")))
            .collect()
    })
}

/// Wait until a routing row matches.
fn wait_row(senim: &Senim, limit: Duration, f: impl Fn(&RoutingRow) -> bool) -> bool {
    common::wait_until(limit, || routing_rows(senim).iter().any(&f))
}

/// Wait until a routing row of `step` is written; else fail with Senim's log.
fn assert_reaches(senim: &Senim, limit: Duration, step: &str) {
    assert!(
        wait_row(senim, limit, |r| r.step == step),
        "{}",
        senim.log()
    );
}

fn rows_text(rows: &[RoutingRow]) -> String {
    rows.iter()
        .map(|r| {
            format!(
                "{} {} {:?} {:?} {:?} {}",
                &r.call[..8.min(r.call.len())],
                r.step,
                r.specialist,
                r.partner,
                r.result,
                r.detail
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A transfer to a partner ended answered, its detail naming `how`
/// (`refer` or `bridged`).
fn assert_transfer_answered(senim: &Senim, how: &str) {
    let rows = routing_rows(senim);
    assert!(
        rows.iter().any(|r| r.step == "transfer-ended"
            && r.detail.contains(how)
            && r.result.as_deref() == Some("answered")),
        "{}",
        rows_text(&rows)
    );
}

/// Call, choose Kazakh (1) and a service by INFO.
fn caller_choosing(senim: &Senim, service_key: char) -> Caller {
    let mut c = Caller::new(senim.sip);
    let offer = c.offer(OFFER, RTPMAPS);
    c.call(Some(&offer), None);
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(c.press_info('1'), Some(200), "INFO 1");
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(c.press_info(service_key), Some(200), "INFO service");
    c
}

fn config(hours: &str, plan: &std::path::Path, extra: &str) -> String {
    // The wrap-up menu (tests/e2e_wrap_up.rs) would keep the SIPp phones
    // connected after the caller hangs up; these tests are not about it.
    format!(
        "{hours}\n[dialplan]\nfile = \"{}\"\nwatch = false\n\n[routing]\naccept_timeout = \"4s\"\n\n[wrap_up]\nmenu = false\n\n{extra}",
        plan.display()
    )
}

#[test]
fn kazakh_psychology_goes_to_the_kazakh_psychologist_past_no_answer_and_voicemail() {
    let dir = tempfile::tempdir().expect("tempdir");
    let base = port_block();
    let (p_noanswer, p_voicemail, p_accept, p_ru) = (base, base + 20, base + 40, base + 60);
    let legal = port_block();
    let plan = plan(dir.path(), &[(r#"ring="20s""#, r#"ring="5s""#)]);
    // Config order makes longest-idle ties deterministic: the unanswered
    // phone first, then the voicemail, then the one who accepts. A Russian
    // psychologist and a Kazakh lawyer (no phones at all) must not be rung.
    let extra = [
        specialist("olga", r#"["psychology"]"#, r#"["ru"]"#, p_ru),
        specialist("bauyrzhan", r#"["legal"]"#, r#"["kk"]"#, legal),
        specialist("aigerim", r#"["psychology"]"#, r#"["kk"]"#, p_noanswer),
        specialist("dana", r#"["psychology"]"#, r#"["kk", "ru"]"#, p_voicemail),
        specialist(
            "erlan",
            r#"["psychology", "mediation"]"#,
            r#"["kk"]"#,
            p_accept,
        ),
    ]
    .concat();
    let senim = Senim::start_with(Some(&config(OPEN, &plan, &extra)), &[]);
    let mut noanswer = Phone::start(dir.path(), "specialist_noanswer.xml", p_noanswer, senim.sip);
    let mut voicemail = Phone::start(
        dir.path(),
        "specialist_voicemail.xml",
        p_voicemail,
        senim.sip,
    );
    let mut accept = Phone::start(dir.path(), "specialist_accept.xml", p_accept, senim.sip);
    std::thread::sleep(Duration::from_millis(300));

    let mut caller = caller_choosing(&senim, '2');
    let before: std::collections::BTreeSet<u32> = caller
        .rtp_for(Duration::from_millis(500))
        .iter()
        .map(|p| p.ssrc)
        .collect();
    assert!(
        wait_row(&senim, Duration::from_secs(60), |r| r.step == "finished"),
        "routing did not finish:\n{}\n{}",
        rows_text(&routing_rows(&senim)),
        senim.log()
    );
    // Bridged: what the caller hears now is the specialist's phone, relayed
    // (another source than Senim's own prompts).
    let relayed = caller.rtp_for(Duration::from_millis(1500));
    assert!(
        relayed.iter().any(|p| !before.contains(&p.ssrc)),
        "no relayed audio after the bridge"
    );
    // The metrics see the conversation, the keys and the RTP.
    let (_, metrics) = common::http(senim.http, "GET", "/metrics");
    let value = |line: &str| -> Option<u64> {
        metrics
            .lines()
            .find(|l| l.starts_with(line))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
    };
    assert_eq!(
        value("senim_calls{state=\"connected\"}"),
        Some(1),
        "{metrics}"
    );
    assert_eq!(
        value("senim_queue_length{service=\"psychology\"}"),
        Some(0),
        "{metrics}"
    );
    assert!(
        value("senim_dtmf_total{source=\"sip-info\"}").is_some_and(|n| n >= 2),
        "{metrics}"
    );
    assert!(
        value("senim_rtp_packets_received_total ").is_some_and(|n| n > 0),
        "{metrics}"
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(caller.bye(), Some(200));
    noanswer.assert_ok(Duration::from_secs(20), &senim);
    voicemail.assert_ok(Duration::from_secs(20), &senim);
    accept.assert_ok(Duration::from_secs(20), &senim);

    let rows = routing_rows(&senim);
    let text = rows_text(&rows);
    let rang: Vec<&str> = rows
        .iter()
        .filter(|r| r.step == "rang")
        .filter_map(|r| r.specialist.as_deref())
        .collect();
    assert_eq!(rang, ["aigerim", "dana", "erlan"], "{text}");
    let ended: Vec<(&str, &str)> = rows
        .iter()
        .filter(|r| r.step == "ring-ended")
        .map(|r| {
            (
                r.specialist.as_deref().unwrap_or(""),
                r.result.as_deref().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        ended,
        [
            ("aigerim", "no-answer"),
            ("dana", "no-answer"),
            ("erlan", "answered")
        ],
        "{text}"
    );
    assert!(
        rows.iter()
            .any(|r| r.step == "picked-up" && r.specialist.as_deref() == Some("dana")),
        "{text}"
    );
    let finished = rows
        .iter()
        .find(|r| r.step == "finished")
        .expect("finished");
    assert_eq!(finished.result.as_deref(), Some("connected"), "{text}");
    assert!(finished.detail.contains("erlan"), "{text}");
    // Privacy: the caller's number reached no phone.
    for phone in [&noanswer, &voicemail, &accept] {
        let m = phone.messages();
        assert!(m.contains("INVITE sip:"), "{}: no INVITE seen", phone.name);
        assert!(
            !m.contains(CALLER_NUMBER),
            "{} saw the caller's number",
            phone.name
        );
    }
    let m = accept.messages();
    let from = m
        .lines()
        .find(|l| l.starts_with("From:"))
        .unwrap_or_default();
    assert!(from.contains("Senim"), "From shows the centre: {from}");
}

#[test]
fn ring_all_cancels_the_phones_that_lose() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (p_loser, p_winner) = (port_block(), port_block());
    let plan = plan(
        dir.path(),
        &[(
            r#"service="psychology" strategy="longest-idle""#,
            r#"service="psychology" strategy="ring-all""#,
        )],
    );
    let extra = [
        specialist("gulnar", r#"["psychology"]"#, r#"["kk"]"#, p_loser),
        specialist("marat", r#"["psychology"]"#, r#"["kk"]"#, p_winner),
    ]
    .concat();
    let senim = Senim::start_with(Some(&config(OPEN, &plan, &extra)), &[]);
    let mut loser = Phone::start(dir.path(), "specialist_noanswer.xml", p_loser, senim.sip);
    let mut winner = Phone::start(dir.path(), "specialist_accept.xml", p_winner, senim.sip);
    std::thread::sleep(Duration::from_millis(300));
    let mut caller = caller_choosing(&senim, '2');
    assert_reaches(&senim, Duration::from_secs(40), "finished");
    // The loser gets its CANCEL (its scenario requires it) right away.
    loser.assert_ok(Duration::from_secs(15), &senim);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(caller.bye(), Some(200));
    winner.assert_ok(Duration::from_secs(20), &senim);
    let rows = routing_rows(&senim);
    let text = rows_text(&rows);
    let wave: Vec<&RoutingRow> = rows.iter().filter(|r| r.step == "rang").collect();
    assert_eq!(wave.len(), 1, "one wave: {text}");
    assert_eq!(
        wave[0].specialist.as_deref(),
        Some("gulnar,marat"),
        "{text}"
    );
    assert!(
        rows.iter().any(|r| r.step == "ring-ended"
            && r.specialist.as_deref() == Some("gulnar")
            && r.result.as_deref() == Some("cancelled")),
        "{text}"
    );
}

#[test]
fn all_busy_waits_in_the_queue_then_goes_to_the_partner() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (p_solo, p_partner) = (port_block(), port_block());
    let plan = plan(
        dir.path(),
        &[(
            r#"<route id="route-psychology" service="psychology" strategy="longest-idle" ring="20s" max-wait="3m"
         other-language="allow" prompt="connecting"
         closed="closed" overflow="offer-callback""#,
            r#"<route id="route-psychology" service="psychology" strategy="longest-idle" ring="10s" max-wait="6s"
         other-language="allow" prompt="connecting"
         closed="closed" overflow="crisis""#,
        )],
    );
    let partners = partners(
        dir.path(),
        &format!("uri = \"sip:crisis@127.0.0.1:{p_partner}\""),
    );
    let extra = format!(
        "[data]\npartners = \"{}\"\n\n{}",
        partners.display(),
        specialist("solo", r#"["psychology"]"#, r#"["kk", "ru"]"#, p_solo)
    );
    let senim = Senim::start_with(Some(&config(OPEN, &plan, &extra)), &[]);
    let mut solo = Phone::start(dir.path(), "specialist_accept.xml", p_solo, senim.sip);
    let mut partner = Phone::start(dir.path(), "partner_answer.xml", p_partner, senim.sip);
    std::thread::sleep(Duration::from_millis(300));

    // The first caller talks to the only psychologist.
    let mut first = caller_choosing(&senim, '2');
    assert_reaches(&senim, Duration::from_secs(40), "finished");
    // The second finds everyone busy: the queue, then the partner.
    let mut second = caller_choosing(&senim, '2');
    assert!(
        wait_row(&senim, Duration::from_secs(60), |r| r.step
            == "transfer-ended"),
        "{}\n{}",
        rows_text(&routing_rows(&senim)),
        senim.log()
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(second.bye(), Some(200));
    partner.assert_ok(Duration::from_secs(20), &senim);
    assert_eq!(first.bye(), Some(200));
    solo.assert_ok(Duration::from_secs(20), &senim);

    let rows = routing_rows(&senim);
    let text = rows_text(&rows);
    let second_id = rows
        .iter()
        .rev()
        .find(|r| r.step == "requested")
        .map(|r| r.call.clone())
        .expect("second call routed");
    let mine: Vec<&RoutingRow> = rows.iter().filter(|r| r.call == second_id).collect();
    assert!(mine.iter().any(|r| r.step == "queued"), "{text}");
    let finished = mine
        .iter()
        .find(|r| r.step == "finished")
        .expect("finished");
    assert_eq!(finished.result.as_deref(), Some("overflow"), "{text}");
    assert!(finished.detail.contains("max-wait"), "{text}");
    assert!(
        mine.iter().any(|r| r.step == "transfer-ended"
            && r.partner.as_deref() == Some("ulba-crisis-centre")
            && r.result.as_deref() == Some("answered")),
        "{text}"
    );
}

#[test]
fn after_hours_goes_to_the_partner() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p_partner = port_block();
    let plan = plan(dir.path(), &[]);
    let partners = partners(
        dir.path(),
        &format!("uri = \"sip:crisis@127.0.0.1:{p_partner}\""),
    );
    let extra = format!("[data]\npartners = \"{}\"\n", partners.display());
    let senim = Senim::start_with(Some(&config(CLOSED, &plan, &extra)), &[]);
    let mut partner = Phone::start(dir.path(), "partner_answer.xml", p_partner, senim.sip);
    std::thread::sleep(Duration::from_millis(300));
    let mut caller = caller_choosing(&senim, '1');
    assert_reaches(&senim, Duration::from_secs(60), "transfer-ended");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(caller.bye(), Some(200));
    partner.assert_ok(Duration::from_secs(20), &senim);
    let rows = routing_rows(&senim);
    assert!(
        rows.iter().all(|r| r.step != "rang"),
        "{}",
        rows_text(&rows)
    );
    assert!(rows
        .iter()
        .any(|r| r.step == "transfer-ended" && r.result.as_deref() == Some("answered")));
}

#[test]
fn refer_transfer_through_a_trunk_that_accepts_refer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p_trunk = port_block();
    let plan = plan(dir.path(), &[]);
    let partners = partners(dir.path(), "number = \"+77232771922\"");
    let extra = format!(
        "[data]\npartners = \"{}\"\n\n[[trunk]]\nid = \"provider\"\naddress = \"127.0.0.1:{p_trunk}\"\nrefer = true\nrefer_presents_centre = true\n",
        partners.display()
    );
    let senim = Senim::start_with(Some(&config(OPEN, &plan, &extra)), &[]);
    let mut trunk = Phone::start(dir.path(), "trunk_refer_caller.xml", p_trunk, senim.sip);
    trunk.assert_ok(Duration::from_secs(60), &senim);
    let m = trunk.messages();
    let refer_to = m
        .lines()
        .find(|l| l.starts_with("Refer-To:"))
        .unwrap_or_default();
    assert!(
        refer_to.contains(&format!("+77232771922@127.0.0.1:{p_trunk}")),
        "Refer-To names the partner's number at the trunk: {refer_to}"
    );
    assert!(
        common::wait_until(Duration::from_secs(10), || {
            call_outcomes(&senim)
                .iter()
                .any(|(_, o)| o.as_deref() == Some("handed-over"))
        }),
        "{:?}",
        call_outcomes(&senim)
    );
    // A NOTIFY "200 OK" says the trunk has the call, not that the partner
    // answered it.
    let rows = routing_rows(&senim);
    assert!(
        rows.iter().any(|r| r.step == "transfer-ended"
            && r.detail.contains("refer")
            && r.result.as_deref() == Some("handed-over")),
        "{}",
        rows_text(&rows)
    );
    assert!(
        !rows.iter().any(|r| r.result.as_deref() == Some("answered")),
        "{}",
        rows_text(&rows)
    );
}

/// Asterisk on a busy partner: the caller's call is hung up (BYE) before
/// the NOTIFY 503. The transfer failed, the call is over, no REFER for the
/// partner's second number goes into the dead dialog, and the caller's
/// number goes nowhere.
#[test]
fn a_trunk_bye_before_the_final_notify_fails_the_refer_and_ends_the_call() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p_trunk = port_block();
    let plan = plan(dir.path(), &[]);
    let partners = partners(dir.path(), "number = [\"+77232771922\", \"+77714451144\"]");
    let extra = format!(
        "[data]\npartners = \"{}\"\n\n[[trunk]]\nid = \"asterisk\"\naddress = \"127.0.0.1:{p_trunk}\"\nrefer = true\nrefer_presents_centre = true\n",
        partners.display()
    );
    let senim = Senim::start_with(Some(&config(OPEN, &plan, &extra)), &[]);
    let mut trunk = Phone::start(
        dir.path(),
        "trunk_refer_caller_hangs_up.xml",
        p_trunk,
        senim.sip,
    );
    // The scenario fails on a 200 to the late NOTIFY or on a second REFER.
    trunk.assert_ok(Duration::from_secs(60), &senim);
    let m = trunk.messages();
    // Distinct REFERs (a retransmission repeats its CSeq).
    let refers: std::collections::BTreeSet<&str> = m
        .lines()
        .filter(|l| l.starts_with("CSeq:") && l.trim_end().ends_with(" REFER"))
        .collect();
    assert_eq!(refers.len(), 1, "one REFER only:\n{m}");
    let caller_digits = "77051234567";
    for header in ["Refer-To:", "Referred-By:"] {
        let line = m
            .lines()
            .find(|l| l.starts_with(header))
            .unwrap_or_default();
        assert!(!line.is_empty(), "{header} in the REFER:\n{m}");
        assert!(
            !line.contains(caller_digits),
            "the caller's number in {line}"
        );
    }
    assert!(
        m.lines()
            .find(|l| l.starts_with("Referred-By:"))
            .is_some_and(|l| l.contains("sip:")),
        "Referred-By names the centre (RFC 3892):\n{m}"
    );
    assert!(
        common::wait_until(Duration::from_secs(10), || {
            call_outcomes(&senim)
                .iter()
                .any(|(_, o)| o.as_deref() == Some("caller-hangup"))
        }),
        "{:?}\n{}",
        call_outcomes(&senim),
        senim.log()
    );
    let rows = routing_rows(&senim);
    let attempts: Vec<&RoutingRow> = rows
        .iter()
        .filter(|r| r.step == "transfer-attempt")
        .collect();
    assert_eq!(attempts.len(), 1, "{}", rows_text(&rows));
    assert!(attempts[0].detail.contains("refer"), "{}", rows_text(&rows));
    let ends: Vec<&RoutingRow> = rows.iter().filter(|r| r.step == "transfer-ended").collect();
    assert_eq!(ends.len(), 1, "{}", rows_text(&rows));
    assert_eq!(
        ends[0].result.as_deref(),
        Some("failed"),
        "{}",
        rows_text(&rows)
    );
    assert!(
        ends[0]
            .detail
            .contains("caller's leg ended before the transfer was confirmed"),
        "{}",
        rows_text(&rows)
    );
    // No fallback ran on the dead dialog: no callback questions.
    let steps = common::call_steps(&senim);
    assert!(!steps.iter().any(|s| s.contains("callback")), "{steps:#?}");
    // The caller's number is in no record either.
    for r in &rows {
        assert!(!r.detail.contains(caller_digits), "{}", r.detail);
    }
}

#[test]
fn bridged_transfer_through_a_trunk_without_refer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (p_in, p_out) = (port_block(), port_block());
    let plan = plan(dir.path(), &[]);
    let partners = partners(dir.path(), "number = \"+77232771922\"");
    // Calls to numbers leave by the first trunk; the caller comes in by the second.
    let extra = format!(
        "[data]\npartners = \"{}\"\n\n[[trunk]]\nid = \"out\"\naddress = \"127.0.0.1:{p_out}\"\n\n[[trunk]]\nid = \"in\"\naddress = \"127.0.0.1:{p_in}\"\nrefer = false\n",
        partners.display()
    );
    let senim = Senim::start_with(Some(&config(OPEN, &plan, &extra)), &[]);
    let mut partner = Phone::start(dir.path(), "partner_answer.xml", p_out, senim.sip);
    std::thread::sleep(Duration::from_millis(300));
    let mut trunk = Phone::start(dir.path(), "trunk_caller_emergency.xml", p_in, senim.sip);
    trunk.assert_ok(Duration::from_secs(60), &senim);
    partner.assert_ok(Duration::from_secs(20), &senim);
    let invite = partner.messages();
    assert!(
        invite.contains("INVITE sip:+77232771922@127.0.0.1"),
        "the partner's number at the trunk"
    );
    assert_transfer_answered(&senim, "bridged");
}

#[test]
fn a_paused_specialist_is_not_rung_and_pause_is_set_over_http() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (p_paused, p_accept) = (port_block(), port_block());
    let plan = plan(dir.path(), &[]);
    let extra = [
        specialist("asel", r#"["psychology"]"#, r#"["kk"]"#, p_paused),
        specialist("erlan", r#"["psychology"]"#, r#"["kk"]"#, p_accept),
    ]
    .concat();
    let (coordinator, entry) = common::make_token("coordinator", "coordinator", None);
    let (asel, asel_entry) = common::make_token("Asel", "specialist", Some("asel"));
    let extra = format!("{extra}\n{entry}\n{asel_entry}\n");
    let senim = Senim::start_with(Some(&config(OPEN, &plan, &extra)), &[]);
    // Pausing needs a token: nothing changes without one.
    let (code, _) = common::http(senim.http, "POST", "/specialists/asel/pause");
    assert_eq!(code, 401);
    let (_, body) = common::http(senim.http, "GET", "/specialists");
    assert_eq!(state_of(&body, "asel"), "available", "{body}");
    let (code, _) = common::http_as(senim.http, "POST", "/specialists/asel/pause", &coordinator);
    assert_eq!(code, 200);
    let (code, _) = common::http_as(
        senim.http,
        "POST",
        "/specialists/nobody/pause",
        &coordinator,
    );
    assert_eq!(code, 404);
    let (_, body) = common::http(senim.http, "GET", "/specialists");
    assert_eq!(state_of(&body, "asel"), "paused", "{body}");
    assert!(
        !body.contains(&format!("127.0.0.1:{p_paused}")),
        "no addresses in the status view: {body}"
    );
    let mut accept = Phone::start(dir.path(), "specialist_accept.xml", p_accept, senim.sip);
    std::thread::sleep(Duration::from_millis(300));
    let mut caller = caller_choosing(&senim, '2');
    assert_reaches(&senim, Duration::from_secs(40), "finished");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(caller.bye(), Some(200));
    accept.assert_ok(Duration::from_secs(20), &senim);
    let rows = routing_rows(&senim);
    let rang: Vec<&str> = rows
        .iter()
        .filter(|r| r.step == "rang")
        .filter_map(|r| r.specialist.as_deref())
        .collect();
    assert_eq!(rang, ["erlan"], "{}", rows_text(&rows));
    // Resumed (by herself), she is available again.
    let (code, _) = common::http(senim.http, "POST", "/specialists/asel/resume");
    assert_eq!(code, 401);
    let (code, _) = common::http_as(senim.http, "POST", "/specialists/asel/resume", &asel);
    assert_eq!(code, 200);
    let (_, body) = common::http(senim.http, "GET", "/specialists");
    assert_eq!(state_of(&body, "asel"), "available", "{body}");
}

/// A specialist's `live.state` in the `GET /specialists` answer.
fn state_of(response: &str, id: &str) -> String {
    let body = response.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    let list: serde_json::Value = serde_json::from_str(body).expect("JSON list");
    list.as_array()
        .and_then(|l| l.iter().find(|s| s["id"] == id))
        .and_then(|s| s["live"]["state"].as_str())
        .unwrap_or_default()
        .to_string()
}

#[test]
fn when_the_specialist_hangs_up_first_the_caller_rates_the_call() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p_spec = port_block();
    let plan = plan(dir.path(), &[]);
    let extra = specialist("erlan", r#"["psychology"]"#, r#"["kk"]"#, p_spec);
    let senim = Senim::start_with(Some(&config(OPEN, &plan, &extra)), &[]);
    let mut phone = Phone::start(
        dir.path(),
        "specialist_accept_then_hangup.xml",
        p_spec,
        senim.sip,
    );
    std::thread::sleep(Duration::from_millis(300));
    let mut caller = caller_choosing(&senim, '2');
    assert_reaches(&senim, Duration::from_secs(40), "finished");
    // The specialist hangs up after a few seconds; the caller stays and
    // hears the survey, then rates the call 4.
    phone.assert_ok(Duration::from_secs(30), &senim);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(caller.press_info('4'), Some(200));
    assert!(
        caller.wait_bye(Duration::from_secs(30)),
        "goodbye, then BYE"
    );
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (service, score): (Option<String>, Option<i64>) = rt.block_on(async {
        let pool = senim.db().await;
        let row = sqlx::query("SELECT service, survey_score FROM calls")
            .fetch_one(&pool)
            .await
            .expect("call row");
        (row.get("service"), row.get("survey_score"))
    });
    assert_eq!(service.as_deref(), Some("psychology"));
    assert_eq!(score, Some(4));
}
