//! Changing the configuration without hanging up, end to end: the real
//! binary, `senim reload` (the real command), SIPp playing the specialists'
//! phones and the test caller from `common::caller`.
//!
//! One Senim, in turn: a call is bridged to aigerim; the file is changed
//! (aigerim removed, dana added) and `senim reload` says so while that call
//! goes on; the next caller reaches dana; aigerim's call ends normally. A
//! broken file is refused by `senim reload` and by `POST /config/reload`
//! with its `file:line:column`, and the next caller still reaches dana. A
//! changed key that needs a restart is named in the reload's answer.

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::caller::Caller;
use common::phone::Phone;
use common::{port_block, Senim};
use sqlx::Row;

const OFFER: &str = "0 8 101";
const RTPMAPS: &str = "a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n";

/// A psychologist speaking Kazakh, reached at a SIPp phone on `port`.
fn specialist(id: &str, port: u16) -> String {
    format!(
        "[[specialist]]\nid = \"{id}\"\nname = \"{id}\"\nskills = [\"psychology\"]\n\
         languages = [\"kk\"]\nuri = \"sip:{id}@127.0.0.1:{port}\"\nwrap_up = \"1s\"\n\n"
    )
}

/// The centre open around the clock, rings and accept kept short, the
/// admin token, and `rest` (specialists, extra sections).
fn config(token: &str, rest: &str) -> String {
    // The wrap-up menu (tests/e2e_wrap_up.rs) would keep the SIPp phones
    // connected after the caller hangs up; this test is not about it.
    format!(
        "[hours.centre]\nalways = true\nholidays = \"open\"\n\n[routing]\n\
         accept_timeout = \"4s\"\n\n[wrap_up]\nmenu = false\n\n{token}\n{rest}"
    )
}

/// `senim reload` for `senim`'s configuration file, as its operator runs it.
fn senim_reload(senim: &Senim) -> Output {
    Command::new(env!("CARGO_BIN_EXE_senim"))
        .args(["reload", "--wait", "30", "--config"])
        .arg(config_file(senim))
        .env("SENIM_DATA_DIR", senim.dir.path())
        .output()
        .expect("run senim reload")
}

fn config_file(senim: &Senim) -> std::path::PathBuf {
    senim.dir.path().join("senim.toml")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Call, choose Kazakh (1) and psychology (2) by INFO.
fn caller_for_psychology(senim: &Senim) -> Caller {
    let mut c = Caller::new(senim.sip);
    let offer = c.offer(OFFER, RTPMAPS);
    c.call(Some(&offer), None);
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(c.press_info('1'), Some(200), "INFO 1");
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(c.press_info('2'), Some(200), "INFO 2");
    c
}

/// The specialist each call was connected to, in the order the calls came.
fn connected(senim: &Senim) -> Vec<String> {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let pool = senim.db().await;
        sqlx::query(
            "SELECT r.specialist FROM call_routing r JOIN calls c ON c.id = r.call_id
             WHERE r.step = 'ring-ended' AND r.result = 'answered'
             ORDER BY c.arrived_at, r.seq",
        )
        .fetch_all(&pool)
        .await
        .expect("query call_routing")
        .into_iter()
        .filter_map(|r| r.get::<Option<String>, _>("specialist"))
        .collect()
    })
}

/// Wait until `n` calls have been connected; else fail with Senim's log.
fn wait_connected(senim: &Senim, n: usize) -> Vec<String> {
    let ok = common::wait_until(Duration::from_secs(25), || connected(senim).len() >= n);
    assert!(
        ok,
        "call {n} was not connected: {:?}\n{}",
        connected(senim),
        senim.log()
    );
    connected(senim)
}

/// `file:line:column: ` of `path` somewhere in `text`.
fn has_position(text: &str, path: &Path) -> bool {
    let prefix = format!("{}:", path.display());
    text.match_indices(&prefix).any(|(i, _)| {
        let rest = &text[i + prefix.len()..];
        let mut parts = rest.splitn(3, ':');
        let line = parts.next().unwrap_or("");
        let column = parts.next().unwrap_or("");
        !line.is_empty()
            && line.chars().all(|c| c.is_ascii_digit())
            && !column.is_empty()
            && column.chars().all(|c| c.is_ascii_digit())
    })
}

#[test]
fn a_specialist_added_while_a_call_goes_on_takes_the_next_caller_and_a_bad_file_changes_nothing() {
    let begun = Instant::now();
    let phones = tempfile::tempdir().expect("tempdir");
    let (port_a, port_d) = (port_block(), port_block());
    let (admin, token) = common::make_token("ops", "admin", None);
    let senim = Senim::start_with(Some(&config(&token, &specialist("aigerim", port_a))), &[]);
    let file = config_file(&senim);

    // A call in progress with aigerim.
    let mut aigerim = Phone::start(phones.path(), "specialist_accept.xml", port_a, senim.sip);
    std::thread::sleep(Duration::from_millis(300));
    let mut first = caller_for_psychology(&senim);
    assert_eq!(wait_connected(&senim, 1), ["aigerim"]);

    // aigerim leaves the configuration, dana joins it: reloaded mid-call.
    std::fs::write(&file, config(&token, &specialist("dana", port_d))).expect("write");
    let out = senim_reload(&senim);
    let said = text(&out);
    assert!(out.status.success(), "{said}\n{}", senim.log());
    assert!(said.contains("reloaded "), "{said}");
    assert!(
        said.contains("applied: specialists: dana added; aigerim removed"),
        "{said}"
    );
    assert!(!said.contains("needs a restart"), "{said}");

    // The next caller reaches dana, the new specialist.
    let mut dana = Phone::start(phones.path(), "specialist_accept.xml", port_d, senim.sip);
    std::thread::sleep(Duration::from_millis(300));
    let mut second = caller_for_psychology(&senim);
    assert_eq!(wait_connected(&senim, 2), ["aigerim", "dana"]);

    // aigerim's call went on all along and ends normally: the caller's BYE
    // is answered and aigerim's phone gets its BYE.
    assert!(
        first.rtp_for(Duration::from_millis(500)).len() > 5,
        "first call's audio"
    );
    assert_eq!(first.bye(), Some(200), "the first call was still up");
    aigerim.assert_ok(Duration::from_secs(20), &senim);
    assert_eq!(second.bye(), Some(200));
    dana.assert_ok(Duration::from_secs(20), &senim);

    // A broken file: `senim reload` refuses it with its position.
    let good = std::fs::read_to_string(&file).expect("read");
    std::fs::write(&file, format!("{good}\n[centre]\ncolour = \"green\"\n")).expect("write");
    let out = senim_reload(&senim);
    let said = text(&out);
    assert!(!out.status.success(), "a broken file was taken: {said}");
    assert!(has_position(&said, &file), "file:line:column in: {said}");
    assert!(said.contains("colour"), "{said}");
    // The running Senim refuses it too (over HTTP) and keeps its configuration.
    let (code, body) = common::http_as(senim.http, "POST", "/config/reload", &admin);
    assert_eq!(code, 422, "{body}");
    assert!(body.contains("\"accepted\":false"), "{body}");
    assert!(has_position(&body, &file), "{body}");
    assert!(senim.log().contains("configuration reload refused"));
    // /metrics counts what the running Senim was asked: one accepted, one
    // refused (`senim reload` refused the broken file without asking it).
    let (_, metrics) = common::http(senim.http, "GET", "/metrics");
    for line in [
        "senim_config_reloads_total{result=\"accepted\"} 1",
        "senim_config_reloads_total{result=\"refused\"} 1",
        "senim_config_last_reload_ok 0",
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line}\n{metrics}");
    }
    let (_, specialists) = common::http(senim.http, "GET", "/specialists");
    assert!(specialists.contains("\"dana\""), "{specialists}");
    assert!(!specialists.contains("\"aigerim\""), "{specialists}");
    // The next caller still reaches dana.
    let mut dana = Phone::start(phones.path(), "specialist_accept.xml", port_d, senim.sip);
    std::thread::sleep(Duration::from_millis(300));
    let mut third = caller_for_psychology(&senim);
    assert_eq!(wait_connected(&senim, 3), ["aigerim", "dana", "dana"]);
    assert_eq!(third.bye(), Some(200));
    dana.assert_ok(Duration::from_secs(20), &senim);

    // A key that needs a restart is named; the rest is applied.
    std::fs::write(
        &file,
        format!(
            "{}\n[sip]\nmax_calls = 77\n\n[centre]\nname = \"Senim Oskemen\"\n",
            config(&token, &specialist("dana", port_d))
        ),
    )
    .expect("write");
    let out = senim_reload(&senim);
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains("needs a restart: sip.max_calls changed: takes effect after a restart"),
        "{said}"
    );
    assert!(
        said.contains("applied: centre.name: \"Senim\" -> \"Senim Oskemen\""),
        "{said}"
    );
    assert!(senim
        .log()
        .contains("sip.max_calls changed: takes effect after a restart"));
    assert!(
        begun.elapsed() < Duration::from_secs(90),
        "took {:?}",
        begun.elapsed()
    );
}
