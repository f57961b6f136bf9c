//! Several Senim instances sharing one PostgreSQL database, end to end: the
//! real binary twice, a real PostgreSQL (the suite's, or a throwaway
//! cluster of the test's own), SIPp and the test caller, and Kamailio's
//! dispatcher from Debian in front (`tests/kamailio/dispatcher.cfg`, the
//! configuration docs/scaling.md describes).
//!
//! - A specialist free in both instances is rung by one of them at a time
//!   when two calls arrive at once, one on each: the other instance finds
//!   the specialist claimed, queues its caller and rings them as soon as
//!   the first instance lets them go.
//! - Behind Kamailio, calls are spread over both instances; one instance is
//!   killed (SIGKILL) with a call in progress: new calls go to the other,
//!   the records of the calls that had finished are all there, and the
//!   killed instance's call is closed as interrupted by the instance that
//!   lives on.
//! - A specialist's softphone registered to Kamailio (the registrar in
//!   front of the instances) is rung by whichever instance routes a call.
//! - SIGTERM drains: OPTIONS and new INVITEs get 503 (the dispatcher moves
//!   on), the call in progress goes on to its end, then the process exits.
//! - PostgreSQL stopped for 30 s while calls go on: the calls are answered
//!   and end as usual, their records wait in the instance's spool and are
//!   all written once the database is back.

mod common;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::baresip::Baresip;
use common::caller::Caller;
use common::kamailio::Kamailio;
use common::phone::Phone;
use common::postgres::Postgres;
use common::{port_block, repo_root, Senim};
use sqlx::Row;

const OPEN: &str = "[hours.centre]\nalways = true\nholidays = \"open\"\n";
const RTPMAPS: &str = "a=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n";

fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Runtime::new().expect("runtime").block_on(f)
}

/// Start an instance named `name` on the database `db` with `config`.
fn instance(name: &str, db: &str, config: &str) -> Senim {
    Senim::start_with(
        Some(config),
        &[
            ("SENIM_DATABASE_URL", db),
            ("SENIM_DATABASE_INSTANCE", name),
        ],
    )
}

/// `(call, step, specialist, result, at)` of every routing row.
type RoutingRow = (String, String, Option<String>, Option<String>, i64);

fn routing(db: &str) -> Vec<RoutingRow> {
    block_on(async {
        let pool = common::connect_any(db).await;
        sqlx::query(
            "SELECT call_id, step, specialist, result, at FROM call_routing ORDER BY at, seq",
        )
        .fetch_all(&pool)
        .await
        .expect("call_routing")
        .into_iter()
        .map(|r| {
            (
                r.get("call_id"),
                r.get("step"),
                r.get("specialist"),
                r.get("result"),
                r.get("at"),
            )
        })
        .collect()
    })
}

/// `(id, instance, outcome)` of every call, in order of arrival.
fn calls(db: &str) -> Vec<(String, Option<String>, Option<String>)> {
    block_on(async {
        let pool = common::connect_any(db).await;
        sqlx::query("SELECT id, instance, outcome FROM calls ORDER BY arrived_at, id")
            .fetch_all(&pool)
            .await
            .expect("calls")
            .into_iter()
            .map(|r| (r.get("id"), r.get("instance"), r.get("outcome")))
            .collect()
    })
}

/// The rings of `who` that really rang (a claim another instance held is
/// recorded as a ring that ended `busy` at once), as (start, end) pairs.
fn rings_of(rows: &[RoutingRow], who: &str) -> Vec<(i64, i64)> {
    let mut out = Vec::new();
    for (call, step, specialist, _, at) in rows {
        if step != "rang" || specialist.as_deref() != Some(who) {
            continue;
        }
        let end = rows.iter().find(|r| {
            &r.0 == call && r.1 == "ring-ended" && r.2.as_deref() == Some(who) && r.4 >= *at
        });
        match end {
            Some(e) if e.3.as_deref() == Some("busy") => {}
            Some(e) => out.push((*at, e.4)),
            None => out.push((*at, i64::MAX)),
        }
    }
    out
}

#[test]
fn a_specialist_free_in_both_instances_is_rung_by_one_at_a_time() {
    let pg = Postgres::get();
    let db = pg.database();
    let dir = tempfile::tempdir().expect("tempdir");
    let phone_port = port_block();
    let config = format!(
        "{OPEN}\n[dialplan]\nfile = \"{}\"\nwatch = false\n\n[wrap_up]\nmenu = false\n\n\
         [[specialist]]\nid = \"asel\"\nname = \"Asel\"\nskills = [\"psychology\"]\n\
         languages = [\"kk\"]\nuri = \"sip:asel@127.0.0.1:{phone_port}\"\nwrap_up = \"0s\"\n",
        repo_root().join("tests/dialplans/route_now.xml").display()
    );
    let a = instance("senim-a", &db, &config);
    let b = instance("senim-b", &db, &config);
    // The phone rings and is never picked up; each instance gives up after
    // the route's 4 s with a CANCEL.
    let mut phone = Phone::start_calls(dir.path(), "specialist_noanswer.xml", phone_port, a.sip, 2);
    std::thread::sleep(Duration::from_millis(300));

    // One caller on each instance, at the same moment.
    let callers: Vec<_> = [a.sip, b.sip]
        .into_iter()
        .map(|sip| {
            std::thread::spawn(move || {
                let mut c = Caller::new(sip);
                let offer = c.offer("0 101", RTPMAPS);
                c.call(Some(&offer), None);
                c
            })
        })
        .collect();
    let mut callers: Vec<Caller> = callers
        .into_iter()
        .map(|h| h.join().expect("caller"))
        .collect();

    // Both instances ring asel once, one after the other.
    let rung_twice = common::wait_until(Duration::from_secs(30), || {
        let rings = rings_of(&routing(&db), "asel");
        rings.len() >= 2 && rings.iter().all(|r| r.1 != i64::MAX)
    });
    let rows = routing(&db);
    assert!(
        rung_twice,
        "{rows:#?}\n--- a ---\n{}\n--- b ---\n{}",
        a.log(),
        b.log()
    );
    let mut rings = rings_of(&rows, "asel");
    rings.sort();
    for pair in rings.windows(2) {
        assert!(
            pair[1].0 >= pair[0].1,
            "asel was rung by both instances at once: {rings:?}\n{rows:#?}"
        );
    }
    // The second instance found her claimed and did not ring her then.
    assert!(
        rows.iter()
            .any(|r| r.1 == "ring-ended" && r.3.as_deref() == Some("busy")),
        "{rows:#?}"
    );
    let log = format!("{}{}", a.log(), b.log());
    assert!(log.contains("held by another instance"), "{log}");
    // One call on each instance, both in the one database.
    let instances: BTreeSet<Option<String>> = calls(&db).into_iter().map(|c| c.1).collect();
    assert_eq!(
        instances,
        BTreeSet::from([Some("senim-a".to_string()), Some("senim-b".to_string())])
    );
    // The calls end by themselves after the longest wait; hang up first.
    for c in &mut callers {
        let _ = c.bye();
    }
    phone.assert_ok(Duration::from_secs(20), &a);
}

/// SIPp callers through `to` (Kamailio): `calls` silent menu callers, two
/// at a time, each holding `hold_ms` and hanging up.
fn callers_through(to: SocketAddr, dir: &Path, calls: u32, hold_ms: u32) -> Child {
    let local = port_block();
    let monitor = port_block();
    Command::new("sipp")
        .arg(to.to_string())
        .arg("-sf")
        .arg(repo_root().join("tests/scenarios/bench_menu_call.xml"))
        .args([
            "-m",
            &calls.to_string(),
            "-l",
            "2",
            "-r",
            "2",
            "-i",
            "127.0.0.1",
        ])
        .args(["-p", &local.to_string()])
        .args(["-d", &hold_ms.to_string()])
        .args(["-set", "monport", &monitor.to_string()])
        .args(["-timeout", "120s", "-timeout_error", "-nostdin"])
        .args(["-trace_err"])
        .arg("-error_file")
        .arg(dir.join(format!("sipp-{local}-errors.log")))
        .current_dir(repo_root())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start sipp")
}

/// Wait for SIPp to end (at most `limit`); its exit status code.
fn finish(mut child: Child, limit: Duration) -> Option<i32> {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return status.code();
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn behind_kamailio_a_killed_instance_leaves_its_calls_interrupted_and_new_calls_go_to_the_other() {
    let pg = Postgres::get();
    let db = pg.database();
    let dir = tempfile::tempdir().expect("tempdir");
    let plan = repo_root().join("tests/dialplans/menu.xml");
    let config = format!(
        "{OPEN}\n[dialplan]\nfile = \"{}\"\nwatch = false\n",
        plan.display()
    );
    let mut a = instance("senim-a", &db, &config);
    let b = instance("senim-b", &db, &config);
    let list = dir.path().join("dispatcher.list");
    std::fs::write(&list, format!("1 sip:{}\n1 sip:{}\n", a.sip, b.sip)).expect("list");
    let k_port = port_block();
    let kamailio = Kamailio::start_with(
        &dir.path().join("kamailio"),
        k_port,
        "dispatcher.cfg",
        &[("@LIST@", list.display().to_string())],
    );
    let k: SocketAddr = ([127, 0, 0, 1], k_port).into();
    // The dispatcher has asked both instances OPTIONS.
    std::thread::sleep(Duration::from_secs(2));

    // Four short calls, spread over both instances.
    let done = finish(
        callers_through(k, dir.path(), 4, 1_000),
        Duration::from_secs(60),
    );
    assert_eq!(done, Some(0), "{}", kamailio.log());
    let finished = common::wait_until(Duration::from_secs(10), || {
        calls(&db).iter().filter(|c| c.2.is_some()).count() == 4
    });
    assert!(finished, "{:?}", calls(&db));
    let before = calls(&db);
    let on: BTreeSet<Option<String>> = before.iter().map(|c| c.1.clone()).collect();
    assert_eq!(on.len(), 2, "both instances take calls: {before:?}");

    // Two long calls, one on each instance; then senim-a is killed.
    let long = callers_through(k, dir.path(), 2, 60_000);
    let up = common::wait_until(Duration::from_secs(15), || {
        let open: BTreeSet<Option<String>> = calls(&db)
            .into_iter()
            .filter(|c| c.2.is_none())
            .map(|c| c.1)
            .collect();
        open.len() == 2
    });
    assert!(up, "{:?}\n{}", calls(&db), kamailio.log());
    a.kill();

    // New calls all go to senim-b and complete.
    let done = finish(
        callers_through(k, dir.path(), 4, 500),
        Duration::from_secs(60),
    );
    assert_eq!(done, Some(0), "{}\n{}", kamailio.log(), b.log());
    let after = calls(&db);
    let new: Vec<_> = after.iter().skip(before.len() + 2).collect();
    assert_eq!(new.len(), 4, "{after:?}");
    assert!(
        new.iter()
            .all(|c| c.1.as_deref() == Some("senim-b") && c.2.is_some()),
        "{after:?}"
    );
    // Every call that had finished before the kill is still there, as it was.
    for c in &before {
        assert!(after.contains(c), "{c:?} changed or went: {after:?}");
    }
    // The killed instance's call is closed as interrupted by senim-b once
    // senim-a has missed its heartbeats.
    let closed = common::wait_until(Duration::from_secs(45), || {
        calls(&db)
            .iter()
            .any(|c| c.1.as_deref() == Some("senim-a") && c.2.as_deref() == Some("interrupted"))
    });
    assert!(closed, "{:?}\n{}", calls(&db), b.log());
    // senim-b's long call goes on until its caller hangs up.
    assert!(calls(&db)
        .iter()
        .any(|c| c.1.as_deref() == Some("senim-b") && c.2.is_none()));
    // The long callers end (the one whose instance was killed fails).
    let _ = finish(long, Duration::from_secs(90));
}

#[test]
fn postgresql_stopped_for_30_seconds_loses_no_call_record() {
    // A cluster of the test's own: it is stopped mid-test.
    let pg = Postgres::own();
    let db = pg.database();
    let dir = tempfile::tempdir().expect("tempdir");
    let plan = repo_root().join("tests/dialplans/menu.xml");
    let config = format!(
        "{OPEN}\n[dialplan]\nfile = \"{}\"\nwatch = false\n",
        plan.display()
    );
    let senim = instance("senim-a", &db, &config);
    let done = finish(
        callers_through(senim.sip, dir.path(), 2, 500),
        Duration::from_secs(60),
    );
    assert_eq!(done, Some(0), "{}", senim.log());
    assert!(common::wait_until(Duration::from_secs(10), || {
        calls(&db).iter().filter(|c| c.2.is_some()).count() == 2
    }));

    pg.stop();
    let stopped = std::time::Instant::now();
    // Calls while the database is away: answered, held, ended as usual.
    let during = finish(
        callers_through(senim.sip, dir.path(), 6, 2_000),
        Duration::from_secs(60),
    );
    assert_eq!(during, Some(0), "{}", senim.log());
    if let Some(rest) = Duration::from_secs(30).checked_sub(stopped.elapsed()) {
        std::thread::sleep(rest);
    }
    assert!(
        senim.log().contains("changes go to the spool"),
        "the records waited in the spool: {}",
        senim.log()
    );
    pg.start();

    // Every call's record arrives, ended.
    let all = common::wait_until(Duration::from_secs(60), || {
        let c = calls(&db);
        c.len() == 8 && c.iter().all(|c| c.2.is_some())
    });
    assert!(all, "{:?}\n{}", calls(&db), senim.log());
    assert!(calls(&db)
        .iter()
        .all(|c| c.1.as_deref() == Some("senim-a") && c.2.as_deref() != Some("interrupted")));
}

#[test]
fn a_softphone_registered_to_kamailio_is_rung_by_either_instance() {
    let pg = Postgres::get();
    let db = pg.database();
    let dir = tempfile::tempdir().expect("tempdir");
    let k_port = port_block();
    // asel's uri names Kamailio, where her softphone registers.
    let config = format!(
        "{OPEN}\n[dialplan]\nfile = \"{}\"\nwatch = false\n\n[wrap_up]\nmenu = false\n\n\
         [[specialist]]\nid = \"asel\"\nname = \"Asel\"\nskills = [\"psychology\"]\n\
         languages = [\"kk\"]\nuri = \"sip:asel@127.0.0.1:{k_port}\"\nwrap_up = \"0s\"\n",
        repo_root().join("tests/dialplans/route_now.xml").display()
    );
    let a = instance("senim-a", &db, &config);
    let b = instance("senim-b", &db, &config);
    let list = dir.path().join("dispatcher.list");
    std::fs::write(&list, format!("1 sip:{}\n1 sip:{}\n", a.sip, b.sip)).expect("list");
    let kamailio = Kamailio::start_with(
        &dir.path().join("kamailio"),
        k_port,
        "dispatcher.cfg",
        &[("@LIST@", list.display().to_string())],
    );
    let phone_dir = dir.path().join("asel");
    std::fs::create_dir_all(&phone_dir).expect("phone dir");
    let mut phone = Baresip::start_with_account(
        &phone_dir,
        Some(&format!(
            "<sip:asel@127.0.0.1:{k_port}>;regint=60;answermode=manual;audio_codecs=PCMU,PCMA"
        )),
    );
    // baresip prints the registrar's answer (its event may come before the
    // control connection is up).
    let registered = common::wait_until(Duration::from_secs(10), || {
        phone.log().contains("200 OK") && phone.log().contains("1 binding")
    });
    assert!(registered, "{}\n{}", phone.log(), kamailio.log());
    // A caller on each instance in turn: the softphone rings each time.
    for senim in [&a, &b] {
        phone.events.clear();
        let mut caller = Caller::new(senim.sip);
        let offer = caller.offer("0 101", RTPMAPS);
        caller.call(Some(&offer), None);
        assert!(
            phone.wait_event("CALL_INCOMING", Duration::from_secs(10)),
            "{}\n{}\n{}",
            phone.log(),
            kamailio.log(),
            senim.log()
        );
        let _ = caller.bye();
        assert!(
            phone.wait_event("CALL_CLOSED", Duration::from_secs(10)),
            "{}",
            phone.log()
        );
    }
    let log = kamailio.log();
    for senim in [&a, &b] {
        assert!(
            log.contains(&format!("instance {} rings asel", senim.sip)),
            "{log}"
        );
    }
}

#[test]
fn sigterm_answers_probes_and_new_calls_with_503_while_the_call_in_progress_ends() {
    let plan = repo_root().join("tests/dialplans/menu.xml");
    let config = format!(
        "[dialplan]\nfile = \"{}\"\nwatch = false\n\n[sip]\ndrain = \"1m\"\n",
        plan.display()
    );
    let mut senim = Senim::start_with(Some(&config), &[]);
    let mut talking = Caller::new(senim.sip);
    let offer = talking.offer("0 101", RTPMAPS);
    talking.call(Some(&offer), None);
    let status = Command::new("kill")
        .arg("-TERM")
        .arg(senim.pid().to_string())
        .status()
        .expect("kill");
    assert!(status.success());
    std::thread::sleep(Duration::from_millis(500));

    // A dispatcher's probe and a new call are turned away.
    let probe = Caller::new(senim.sip);
    let options = probe.request("OPTIONS", 1, &common::caller::rand_hex(), "", None, "");
    probe.send_raw(&options);
    let answer = probe.recv(Duration::from_secs(5)).unwrap_or_default();
    assert_eq!(common::caller::status(&answer), Some(503), "{answer}");
    let late = Caller::new(senim.sip);
    let offer = late.offer("0 101", RTPMAPS);
    let invite = late.request(
        "INVITE",
        1,
        &common::caller::rand_hex(),
        "",
        Some("application/sdp"),
        &offer,
    );
    late.send_raw(&invite);
    let mut answer = String::new();
    for _ in 0..5 {
        answer = late.recv(Duration::from_secs(5)).unwrap_or_default();
        if common::caller::status(&answer).is_none_or(|c| c >= 200) {
            break;
        }
    }
    assert_eq!(common::caller::status(&answer), Some(503), "{answer}");

    // The call in progress goes on: the caller hangs up when done.
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(talking.bye(), Some(200), "{}", senim.log());
    // Then Senim ends by itself.
    let status = senim.stop();
    assert!(status.success(), "{}", senim.log());
}
