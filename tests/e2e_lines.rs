//! Lines and trunks of inbound calls against the real binary: two
//! `[[line]]`s on one Senim, SIPp callers dialling each (in different
//! written forms), the call record's trunk, line and path as the calls API
//! shows them; `senim check` and a reload refusing a plan that lacks a
//! line's node.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{http_with, info_keys_scenario, make_token, repo_root, sipp_file, Senim};
use serde_json::Value;

/// Two lines on the test plan (`tests/dialplans/menu.xml`): the centre's
/// number starts at the greeting (the plan's start), the children's line
/// at the main menu. Two trunks: one elsewhere, one on loopback (where
/// SIPp calls from).
fn config(plan: &Path, token_entry: &str) -> String {
    format!(
        "[dialplan]\nfile = \"{}\"\nwatch = false\n\n\
         [[line]]\nnumber = \"+7 7232 000000\"\nstart = \"greeting\"\n\n\
         [[line]]\nnumber = \"+77232000001\"\nstart = \"main\"\nname = \"children's line\"\n\n\
         [[trunk]]\nid = \"asterisk\"\naddress = \"192.0.2.10:5060\"\nprobe_every = \"0s\"\n\n\
         [[trunk]]\nid = \"provider\"\naddress = \"127.0.0.1:9\"\nprobe_every = \"0s\"\n\n\
         {token_entry}\n",
        plan.display()
    )
}

/// One SIPp call to `number`, pressing `keys` by INFO; Senim hangs up.
fn call(senim: &Senim, number: &str, keys: &[(u64, char)]) {
    let scenario = senim.dir.path().join(format!("call-{number}.xml"));
    std::fs::write(&scenario, info_keys_scenario(keys, Duration::from_secs(30))).unwrap();
    let run = sipp_file(senim, &scenario, &["-s", number], Duration::from_secs(60));
    assert!(
        run.success,
        "sipp failed:\n{}\n--- senim ---\n{}",
        run.output,
        senim.log()
    );
}

fn get_json(senim: &Senim, path: &str, token: &str) -> Value {
    let auth = format!("Bearer {token}");
    let (code, _, body) = http_with(senim.http, "GET", path, &[("Authorization", &auth)], "");
    assert_eq!(code, 200, "GET {path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
}

/// The call's path as "node: what", from its timeline.
fn path(call: &Value) -> Vec<String> {
    call["timeline"]
        .as_array()
        .expect("timeline")
        .iter()
        .filter(|e| e["kind"] == "step")
        .map(|e| {
            format!(
                "{}: {}",
                e["node"].as_str().unwrap_or(""),
                e["what"].as_str().unwrap_or("")
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_called_number_selects_where_the_plan_starts() {
    let (token, entry) = make_token("coordinator Dana", "coordinator", None);
    let plan = repo_root().join("tests/dialplans/menu.xml");
    let senim = Senim::start_with(Some(&config(&plan, &entry)), &[]);

    // The children's line, dialled in the national form: the main menu at
    // once; 1 is a choice there.
    call(&senim, "87232000001", &[(1500, '1')]);
    // The centre's number: the greeting first (2 Russian, then 1).
    call(&senim, "+77232000000", &[(1500, '2'), (1500, '1')]);
    // A number that is no line: the plan's start.
    call(&senim, "centre", &[(1500, '2'), (1500, '1')]);
    let records = senim.ended_calls(3).await;

    let list = get_json(&senim, "/api/v1/calls?limit=10", &token);
    let calls = list["calls"].as_array().expect("calls");
    assert_eq!(calls.len(), 3, "{list}");
    let detail = |id: &str| get_json(&senim, &format!("/api/v1/calls/{id}"), &token);

    let kids = detail(&records[0].id);
    assert_eq!(kids["line"], "77232000001", "{kids}");
    assert_eq!(kids["trunk"], "provider", "{kids}");
    let p = path(&kids);
    assert_eq!(
        p.first().map(String::as_str),
        Some("main: enter menu"),
        "{p:?}"
    );
    assert!(p.iter().all(|s| !s.starts_with("greeting:")), "{p:?}");
    assert!(p.contains(&"main: choice 1".to_string()), "{p:?}");
    assert_eq!(kids["outcome"], "completed", "{kids}");

    let centre = detail(&records[1].id);
    assert_eq!(centre["line"], "77232000000", "{centre}");
    assert_eq!(centre["trunk"], "provider", "{centre}");
    let p = path(&centre);
    assert_eq!(
        p.first().map(String::as_str),
        Some("greeting: enter menu"),
        "{p:?}"
    );
    assert!(p.contains(&"greeting: choice 2".to_string()), "{p:?}");
    assert!(p.contains(&"main: choice 1".to_string()), "{p:?}");

    let other = detail(&records[2].id);
    assert_eq!(other["line"], Value::Null, "{other}");
    assert_eq!(other["trunk"], "provider", "{other}");
    let p = path(&other);
    assert_eq!(
        p.first().map(String::as_str),
        Some("greeting: enter menu"),
        "{p:?}"
    );

    // The same in the listing.
    let listed: Vec<(&str, &Value)> = calls
        .iter()
        .map(|c| (c["id"].as_str().unwrap_or(""), &c["line"]))
        .collect();
    assert!(
        listed.contains(&(records[0].id.as_str(), &Value::from("77232000001"))),
        "{listed:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plan_without_a_lines_node_is_refused_at_check_and_reload() {
    let work = tempfile::tempdir().unwrap();
    let plan = work.path().join("plan.xml");
    let original = std::fs::read_to_string(repo_root().join("tests/dialplans/menu.xml")).unwrap();
    std::fs::write(&plan, &original).unwrap();
    let config_path = work.path().join("senim.toml");
    std::fs::write(&config_path, config(&plan, "")).unwrap();
    let check = || {
        Command::new(env!("CARGO_BIN_EXE_senim"))
            .arg("check")
            .arg("--config")
            .arg(&config_path)
            .output()
            .unwrap()
    };
    let out = check();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A line naming a node the plan does not have.
    let bad_config = config(&plan, "").replace("start = \"main\"", "start = \"kids\"");
    std::fs::write(&config_path, &bad_config).unwrap();
    let out = check();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("{}:", plan.display()))
            && err.contains(
                "[[line]] 77232000001 (children's line) starts at node \"kids\", which this dialplan does not have"
            ),
        "{err}"
    );

    // A running Senim refuses a reload whose plan loses a line's node, and
    // keeps serving the old plan: calls to the line still start there.
    let (admin, entry) = make_token("ops", "admin", None);
    let senim = Senim::start_with(Some(&config(&plan, &entry)), &[]);
    let renamed = original
        .replace("id=\"main\"", "id=\"main-menu\"")
        .replace("goto=\"main\"", "goto=\"main-menu\"")
        .replace("next=\"main\"", "next=\"main-menu\"");
    assert_ne!(renamed, original);
    std::fs::write(&plan, &renamed).unwrap();
    let (code, body) = common::http_as(senim.http, "POST", "/dialplan/reload", &admin);
    assert_eq!(code, 422, "{body}");
    assert!(
        body.contains("starts at node \\\"main\\\", which this dialplan does not have"),
        "{body}"
    );
    call(&senim, "+77232000001", &[(1500, '1')]);
    let records = senim.ended_calls(1).await;
    assert_eq!(
        records[0].steps.first().map(String::as_str),
        Some("main: enter menu"),
        "{:?}",
        records[0].steps
    );
}
