//! `senim check` on broken plans, and reloads of a running Senim: a broken
//! plan is refused (HTTP, SIGHUP, file change) while a call is in progress,
//! and that call and the next ones stay on the old plan; a good plan is taken
//! by new calls only.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::caller::Caller;
use common::{http, repo_root, wait_until, Senim};

const OFFER_MAPS: &str =
    "a=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n";

/// `<!-- expect: LINE:COL: keyword -->` on the fixture's first line.
fn expected(path: &Path) -> (String, String) {
    let text = std::fs::read_to_string(path).unwrap();
    let first = text.lines().next().unwrap_or("");
    let rest = first
        .trim()
        .trim_start_matches("<!-- expect:")
        .trim_end_matches("-->")
        .trim();
    let mut parts = rest.splitn(3, ':');
    let line = parts.next().unwrap_or("").trim();
    let col = parts.next().unwrap_or("").trim();
    (
        format!("{line}:{col}"),
        parts.next().unwrap_or("").trim().to_string(),
    )
}

#[test]
fn check_reports_each_broken_plan_at_its_position() {
    let dir = repo_root().join("dialplans/broken");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "xml"))
        .collect();
    files.sort();
    assert!(files.len() >= 12);
    for f in files {
        let (pos, keyword) = expected(&f);
        let out = Command::new(env!("CARGO_BIN_EXE_senim"))
            .args(["check", "--dialplan"])
            .arg(&f)
            .env("SENIM_PROMPTS_DIR", repo_root().join("voice-prompts"))
            .output()
            .unwrap();
        assert!(!out.status.success(), "{} passed the check", f.display());
        let err = String::from_utf8_lossy(&out.stderr);
        let want = format!("{}:{pos}: error: ", f.display());
        assert!(
            err.contains(&want),
            "{}: expected {want:?} in:\n{err}",
            f.display()
        );
        assert!(
            err.to_lowercase().contains(&keyword.to_lowercase()),
            "{keyword:?} in {err}"
        );
    }
}

#[test]
fn check_accepts_the_default_plan_and_the_examples() {
    let mut files = vec![repo_root().join("dialplans/centre.xml")];
    for e in std::fs::read_dir(repo_root().join("dialplans/examples")).unwrap() {
        files.push(e.unwrap().path());
    }
    for f in files {
        let out = Command::new(env!("CARGO_BIN_EXE_senim"))
            .args(["check", "--dialplan"])
            .arg(&f)
            .env("SENIM_PROMPTS_DIR", repo_root().join("voice-prompts"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}: {}",
            f.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn a_transfer_to_an_unknown_partner_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("plan.xml");
    let text = std::fs::read_to_string(repo_root().join("dialplans/centre.xml"))
        .unwrap()
        .replace("partner=\"ulba-crisis-centre\"", "partner=\"87771234567\"");
    std::fs::write(&plan, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_senim"))
        .args(["check", "--dialplan"])
        .arg(&plan)
        .env("SENIM_PROMPTS_DIR", repo_root().join("voice-prompts"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not in the partner directory"), "{err}");
    assert!(err.contains(&format!("{}:", plan.display())), "{err}");
}

/// Answer the callback questions the default plan asks when nobody is free:
/// the number is right (1), as soon as possible (1), no message (2), no name (2).
fn answer_callback(c: &mut Caller) {
    std::thread::sleep(Duration::from_millis(5000));
    press(c, "1122");
}

/// Press keys by INFO and collect the call's record path.
fn press(c: &mut Caller, keys: &str) {
    for k in keys.chars() {
        std::thread::sleep(Duration::from_millis(700));
        assert_eq!(c.press_info(k), Some(200));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn broken_reload_is_refused_mid_call_and_a_good_one_serves_new_calls_only() {
    let work = tempfile::tempdir().unwrap();
    let plan = work.path().join("centre.xml");
    let original = std::fs::read_to_string(repo_root().join("dialplans/centre.xml")).unwrap();
    std::fs::write(&plan, &original).unwrap();
    let (admin, entry) = common::make_token("ops", "admin", None);
    let config = format!(
        "[hours]\ncentre = \"24/7\"\n\n[dialplan]\nfile = \"{}\"\nwatch = true\n\n{entry}",
        plan.display()
    );
    let senim = Senim::start_with(Some(&config), &[]);
    let (_, status) = http(senim.http, "GET", "/dialplan");
    let version = status
        .split("\"version\":\"")
        .nth(1)
        .and_then(|v| v.split('"').next())
        .expect("version")
        .to_string();

    // A call in progress, in the greeting.
    let mut first = Caller::new(senim.sip);
    let offer = first.offer("0 101", OFFER_MAPS);
    first.call(Some(&offer), None);

    // Break the file: refused over HTTP, by SIGHUP and by the file watcher.
    let broken = repo_root().join("dialplans/broken/09-dangling-goto.xml");
    std::fs::copy(&broken, &plan).unwrap();
    // Without a token nothing is reloaded.
    let (code, body) = http(senim.http, "POST", "/dialplan/reload");
    assert_eq!(code, 401, "{body}");
    let (code, body) = common::http_as(senim.http, "POST", "/dialplan/reload", &admin);
    assert_eq!(code, 422, "{body}");
    assert!(
        body.contains(&format!("{}:5:23: error: ", plan.display())),
        "{body}"
    );
    let _ = Command::new("kill")
        .args(["-HUP", &senim_pid(&senim)])
        .status();
    assert!(
        wait_until(Duration::from_secs(10), || {
            senim.log().contains("trigger=\"SIGHUP\"") || senim.log().contains("trigger=SIGHUP")
        }),
        "SIGHUP reload attempted:\n{}",
        senim.log()
    );
    let (_, status) = http(senim.http, "GET", "/dialplan");
    assert!(
        status.contains(&format!("\"version\":\"{version}\"")),
        "old plan serves: {status}"
    );
    assert!(status.contains("\"last_ok\":false"), "{status}");

    // The call in progress goes on with the old plan.
    press(&mut first, "11");
    answer_callback(&mut first);
    assert!(first.wait_bye(Duration::from_secs(40)));
    // A new call also gets the old plan.
    let mut second = Caller::new(senim.sip);
    let offer = second.offer("0 101", OFFER_MAPS);
    second.call(Some(&offer), None);
    press(&mut second, "11");
    answer_callback(&mut second);
    assert!(second.wait_bye(Duration::from_secs(40)));

    // A good new plan: main menu 1 now says goodbye. A call already in
    // progress keeps the old plan; the next call takes the new one.
    let mut third = Caller::new(senim.sip);
    let offer = third.offer("0 101", OFFER_MAPS);
    third.call(Some(&offer), None);
    std::thread::sleep(Duration::from_millis(300));
    let changed = original.replace(
        "<choice digit=\"1\" goto=\"legal\"/>",
        "<choice digit=\"1\" goto=\"goodbye\"/><choice digit=\"4\" goto=\"legal\"/>",
    );
    assert_ne!(changed, original);
    std::fs::write(&plan, &changed).unwrap();
    assert!(
        wait_until(Duration::from_secs(15), || {
            let (_, s) = http(senim.http, "GET", "/dialplan");
            s.contains("\"last_ok\":true") && !s.contains(&format!("\"version\":\"{version}\""))
        }),
        "the file watcher took the good plan:\n{}",
        senim.log()
    );
    press(&mut third, "11");
    answer_callback(&mut third);
    assert!(third.wait_bye(Duration::from_secs(40)));
    let mut fourth = Caller::new(senim.sip);
    let offer = fourth.offer("0 101", OFFER_MAPS);
    fourth.call(Some(&offer), None);
    press(&mut fourth, "11");
    assert!(fourth.wait_bye(Duration::from_secs(40)));

    let calls = senim.ended_calls(4).await;
    for (i, call) in calls.iter().enumerate() {
        let old_plan = call.steps.iter().any(|s| s == "legal: hours open");
        let new_plan = call
            .steps
            .windows(2)
            .any(|w| w[0] == "main: choice 1" && w[1] == "goodbye: enter play");
        if i < 3 {
            assert!(
                old_plan && !new_plan,
                "call {i} on the old plan: {:#?}",
                call.steps
            );
        } else {
            assert!(
                new_plan && !old_plan,
                "call {i} on the new plan: {:#?}",
                call.steps
            );
        }
    }
}

fn senim_pid(senim: &Senim) -> String {
    senim.pid().to_string()
}
