//! The coordinator's API against the real binary: bearer tokens made by
//! `senim token`, roles, a SIPp call listed and read with its timeline, the
//! audit log of that read, `/metrics` in the Prometheus text format and the
//! OpenAPI document; every route that changes something refuses a request
//! without a token.

mod common;

use std::time::Duration;

use common::{http, http_with, info_keys_scenario, make_token, sipp_file, Senim};
use serde_json::Value;

struct Tokens {
    admin: String,
    coordinator: String,
    erlan: String,
}

/// Senim with two specialists (nobody takes legal calls), open round the
/// clock, and one token per role.
fn start() -> (Senim, Tokens) {
    let (admin, admin_entry) = make_token("office admin", "admin", None);
    let (coordinator, coord_entry) = make_token("coordinator Dana", "coordinator", None);
    let (erlan, erlan_entry) = make_token("Erlan", "specialist", Some("erlan"));
    let config = format!(
        "[hours]\ncentre = \"24/7\"\n\n\
         [[specialist]]\nid = \"erlan\"\nname = \"Erlan\"\nskills = [\"psychology\"]\nlanguages = [\"ru\"]\nuri = \"sip:erlan@127.0.0.1:9\"\n\n\
         [[specialist]]\nid = \"aigerim\"\nname = \"Aigerim\"\nskills = [\"mediation\"]\nlanguages = [\"kk\"]\nuri = \"sip:aigerim@127.0.0.1:9\"\n\n\
         {admin_entry}\n{coord_entry}\n{erlan_entry}\n"
    );
    let senim = Senim::start_with(Some(&config), &[]);
    (
        senim,
        Tokens {
            admin,
            coordinator,
            erlan,
        },
    )
}

fn get(senim: &Senim, path: &str, token: &str) -> (u16, Vec<(String, String)>, String) {
    let auth = format!("Bearer {token}");
    http_with(senim.http, "GET", path, &[("Authorization", &auth)], "")
}

fn get_json(senim: &Senim, path: &str, token: &str) -> Value {
    let (code, _, body) = get(senim, path, token);
    assert_eq!(code, 200, "GET {path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
}

fn post(senim: &Senim, path: &str, token: &str) -> (u16, String) {
    let auth = format!("Bearer {token}");
    let (code, _, body) = http_with(
        senim.http,
        "POST",
        path,
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        r#"{"reason":"lunch"}"#,
    );
    (code, body)
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

#[test]
fn tokens_and_roles_decide_every_api_request() {
    let (senim, t) = start();

    // No token, an unknown token, another scheme: 401, a Bearer challenge, no data.
    for headers in [
        vec![],
        vec![("Authorization", "Bearer 0000")],
        vec![("Authorization", "Basic YWRtaW46YWRtaW4=")],
    ] {
        for path in ["/api/v1/calls", "/api/v1/audit", "/api/v1/specialists"] {
            let (code, h, body) = http_with(senim.http, "GET", path, &headers, "");
            assert_eq!(code, 401, "{path} {headers:?}: {body}");
            assert!(
                header(&h, "www-authenticate").is_some_and(|v| v.starts_with("Bearer")),
                "{h:?}"
            );
            let v: Value = serde_json::from_str(&body).unwrap();
            assert_eq!(v.as_object().unwrap().len(), 1, "{body}");
            assert!(v["error"].is_string());
        }
    }
    let (code, _, _) = http_with(
        senim.http,
        "POST",
        "/api/v1/specialists/erlan/pause",
        &[],
        "",
    );
    assert_eq!(code, 401);

    // The wrong role: 403.
    for path in ["/api/v1/calls", "/api/v1/calls/x", "/api/v1/audit"] {
        assert_eq!(get(&senim, path, &t.erlan).0, 403, "{path}");
    }
    assert_eq!(get(&senim, "/api/v1/audit", &t.coordinator).0, 403);
    assert_eq!(
        get(&senim, "/api/v1/calls?include=caller_hash", &t.coordinator).0,
        403
    );

    // Everyone sees the specialists; a specialist pauses and resumes only themselves.
    let list = get_json(&senim, "/api/v1/specialists", &t.erlan);
    let ids: Vec<_> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, ["erlan", "aigerim"]);
    assert!(!list.to_string().contains("127.0.0.1"), "{list}");
    assert_eq!(
        post(&senim, "/api/v1/specialists/aigerim/pause", &t.erlan).0,
        403
    );
    let (code, body) = post(&senim, "/api/v1/specialists/erlan/pause", &t.erlan);
    assert_eq!(code, 200, "{body}");
    let list = get_json(&senim, "/api/v1/specialists", &t.coordinator);
    assert_eq!(list[0]["live"]["state"], "paused", "{list}");
    assert_eq!(list[0]["live"]["paused"]["reason"], "lunch", "{list}");
    assert_eq!(
        post(&senim, "/api/v1/specialists/erlan/resume", &t.erlan).0,
        200
    );
    assert_eq!(
        post(&senim, "/api/v1/specialists/aigerim/pause", &t.coordinator).0,
        200
    );
    assert_eq!(
        post(&senim, "/api/v1/specialists/nobody/pause", &t.admin).0,
        404
    );
    let audit = get_json(&senim, "/api/v1/audit", &t.admin);
    let actions: Vec<_> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            format!(
                "{} {} {}",
                e["token_name"].as_str().unwrap(),
                e["action"].as_str().unwrap(),
                e["target"].as_str().unwrap_or("-")
            )
        })
        .collect();
    for want in [
        "Erlan pause-specialist erlan",
        "Erlan resume-specialist erlan",
        "coordinator Dana pause-specialist aigerim",
        "office admin read-audit -",
    ] {
        assert!(actions.iter().any(|a| a == want), "{want} in {actions:?}");
    }

    // The routes without a token still answer as before.
    assert_eq!(http(senim.http, "GET", "/healthz").0, 200);
    assert_eq!(http(senim.http, "GET", "/specialists").0, 200);

    // The OpenAPI document is public and lists every route.
    let (code, h, body) = http_with(senim.http, "GET", "/api/v1/openapi.json", &[], "");
    assert_eq!(code, 200);
    assert!(header(&h, "content-type").is_some_and(|v| v.starts_with("application/json")));
    let doc: Value = serde_json::from_str(&body).unwrap();
    for r in senim::http::routes::ROUTES {
        assert!(
            doc["paths"][r.path][r.method.to_lowercase()].is_object(),
            "{} {} missing from openapi.json",
            r.method,
            r.path
        );
    }
    assert_eq!(
        doc["paths"].as_object().unwrap().len(),
        senim::http::routes::ROUTES.len()
    );
}

/// `name{labels} value` with a valid name, balanced quoted labels and a number.
fn is_sample_line(line: &str) -> bool {
    let name_end = line.find(['{', ' ']).unwrap_or(line.len());
    let name = &line[..name_end];
    let name_ok = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':');
    let mut rest = &line[name_end..];
    if let Some(labels) = rest.strip_prefix('{') {
        let Some(close) = labels.find('}') else {
            return false;
        };
        for pair in labels[..close].split(',').filter(|p| !p.is_empty()) {
            let Some((k, v)) = pair.split_once('=') else {
                return false;
            };
            if k.is_empty() || !(v.len() >= 2 && v.starts_with('"') && v.ends_with('"')) {
                return false;
            }
        }
        rest = &labels[close + 1..];
    }
    let value = rest.strip_prefix(' ').unwrap_or("x");
    name_ok && value.parse::<f64>().is_ok()
}

fn metrics(senim: &Senim) -> Vec<(String, f64)> {
    let (code, h, body) = http_with(senim.http, "GET", "/metrics", &[], "");
    assert_eq!(code, 200);
    assert!(header(&h, "content-type").is_some_and(|v| v.starts_with("text/plain")));
    let mut samples = Vec::new();
    for line in body.lines() {
        if line.is_empty() || line.starts_with('#') {
            assert!(
                line.is_empty() || line.starts_with("# HELP ") || line.starts_with("# TYPE "),
                "{line:?}"
            );
            continue;
        }
        assert!(is_sample_line(line), "not a Prometheus sample: {line:?}");
        let (name, value) = line.rsplit_once(' ').unwrap();
        samples.push((name.to_string(), value.parse().unwrap()));
    }
    samples
}

#[tokio::test(flavor = "multi_thread")]
async fn coordinator_reads_a_call_and_the_admin_sees_the_read_in_the_audit_log() {
    let (senim, t) = start();
    let before = metrics(&senim);
    let value = |m: &[(String, f64)], name: &str| {
        m.iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| *v)
            .unwrap_or_else(|| panic!("{name} missing"))
    };
    assert_eq!(value(&before, "senim_calls_total"), 0.0);
    assert_eq!(
        value(&before, "senim_specialists{state=\"available\"}"),
        2.0
    );
    assert_eq!(value(&before, "senim_up"), 1.0);

    // One call: Russian, legal help (nobody takes legal calls), then the caller hangs up.
    let keys = [(1000, '2'), (1000, '1')];
    let scenario = info_keys_scenario(&keys, Duration::from_secs(30));
    let cut = scenario
        .find("  <!-- Senim plays goodbye and hangs up. -->")
        .unwrap();
    let end = scenario.find("  <ResponseTimeRepartition").unwrap();
    let bye = format!(
        r#"  <pause milliseconds="2500"/>
  <send retrans="500" start_txn="bye">
    <![CDATA[

      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      [routes]
      From: "Senim test caller" <sip:+77770000001@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      [last_To:]
      Call-ID: [call_id]
      CSeq: {} BYE
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="200" response_txn="bye"/>

"#,
        keys.len() + 2
    );
    let scenario = format!("{}{bye}{}", &scenario[..cut], &scenario[end..]);
    let path = senim.dir.path().join("api-call.xml");
    std::fs::write(&path, scenario).unwrap();
    let run = sipp_file(&senim, &path, &[], Duration::from_secs(40));
    assert!(
        run.success,
        "sipp failed:\n{}\n--- senim ---\n{}",
        run.output,
        senim.log()
    );
    let record = senim.ended_calls(1).await.remove(0);

    // The coordinator lists it: no caller number, no caller hash.
    let (code, _, body) = get(&senim, "/api/v1/calls", &t.coordinator);
    assert_eq!(code, 200, "{body}");
    assert!(!body.contains("7777000000"), "{body}");
    let list: Value = serde_json::from_str(&body).unwrap();
    let calls = list["calls"].as_array().unwrap();
    assert_eq!(calls.len(), 1, "{list}");
    let call = &calls[0];
    assert_eq!(call["id"], record.id.as_str());
    assert_eq!(call["language"], "ru");
    assert_eq!(call["service"], "legal", "{call}");
    assert_eq!(call["outcome"], "caller-hangup");
    assert_eq!(call["hangup_by"], "caller");
    assert_eq!(call["transport"], "udp");
    assert!(call.get("caller_hash").is_none());
    for key in ["arrived", "answered", "ended"] {
        let at = call[key].as_str().unwrap();
        assert!(at.ends_with('Z') && at.contains('T'), "{key}: {at}");
    }
    assert!(list["next"].is_null());

    // Filters.
    let count = |query: &str| {
        get_json(&senim, &format!("/api/v1/calls?{query}"), &t.coordinator)["calls"]
            .as_array()
            .unwrap()
            .len()
    };
    assert_eq!(count("service=legal"), 1);
    assert_eq!(count("service=psychology"), 0);
    assert_eq!(count("language=kk"), 0);
    assert_eq!(count("outcome=caller-hangup&language=ru"), 1);
    assert_eq!(count("from=2999-01-01T00:00:00Z"), 0);
    assert_eq!(count("to=2999-01-01T00:00:00%2B05:00&limit=1"), 1);
    assert_eq!(
        get(&senim, "/api/v1/calls?limit=1001", &t.coordinator).0,
        400
    );

    // The timeline: steps, keys and routing merged in time order.
    let detail = get_json(
        &senim,
        &format!("/api/v1/calls/{}", record.id),
        &t.coordinator,
    );
    assert_eq!(detail["id"], record.id.as_str());
    let timeline = detail["timeline"].as_array().unwrap();
    let digits: Vec<_> = timeline
        .iter()
        .filter(|e| e["kind"] == "digit")
        .map(|e| (e["digit"].as_str().unwrap(), e["source"].as_str().unwrap()))
        .collect();
    assert_eq!(digits, [("2", "sip-info"), ("1", "sip-info")]);
    let steps: Vec<_> = timeline
        .iter()
        .filter(|e| e["kind"] == "step")
        .map(|e| {
            format!(
                "{}: {}",
                e["node"].as_str().unwrap(),
                e["what"].as_str().unwrap()
            )
        })
        .collect();
    assert!(steps.iter().any(|s| s == "greeting: choice 2"), "{steps:?}");
    assert!(steps.iter().any(|s| s == "main: choice 1"), "{steps:?}");
    let times: Vec<_> = timeline
        .iter()
        .map(|e| e["at"].as_str().unwrap().to_string())
        .collect();
    let mut sorted = times.clone();
    sorted.sort();
    assert_eq!(times, sorted, "timeline out of order");
    assert!(!detail.to_string().contains("7777000000"));
    assert_eq!(
        get(&senim, "/api/v1/calls/no-such-call", &t.coordinator).0,
        404
    );

    // The admin asks for caller hashes; that read is audited too.
    let with_hash = get_json(&senim, "/api/v1/calls?include=caller_hash", &t.admin);
    assert_eq!(
        with_hash["calls"][0]["caller_hash"].as_str(),
        record.caller_hash.as_deref()
    );

    // The admin sees the coordinator's read in the audit log.
    let audit = get_json(&senim, "/api/v1/audit", &t.admin);
    let entries = audit["entries"].as_array().unwrap();
    let read = entries
        .iter()
        .find(|e| e["action"] == "read-call" && e["target"] == record.id.as_str())
        .unwrap_or_else(|| panic!("no read-call entry: {audit}"));
    assert_eq!(read["token_name"], "coordinator Dana");
    assert_eq!(read["role"], "coordinator");
    assert!(
        entries
            .iter()
            .any(|e| e["action"] == "list-calls-with-caller-hash"
                && e["token_name"] == "office admin")
    );
    assert!(entries.iter().any(|e| e["action"] == "read-audit"));
    let paged = get_json(&senim, "/api/v1/audit?limit=1", &t.admin);
    assert_eq!(paged["entries"].as_array().unwrap().len(), 1);
    assert!(paged["next"].is_i64());

    // The audit log is in the database, without tokens.
    let pool = senim.db().await;
    let rows: Vec<(String, String, Option<String>)> =
        sqlx::query_as("SELECT token_name, action, target FROM audit_log ORDER BY id")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert!(rows.iter().any(|(n, a, t)| n == "coordinator Dana"
        && a == "read-call"
        && t.as_deref() == Some(record.id.as_str())));
    let dump: Vec<String> = sqlx::query_scalar("SELECT coalesce(detail, '') FROM audit_log")
        .fetch_all(&pool)
        .await
        .unwrap();
    let dump = dump.join(" ");
    for token in [&t.admin, &t.coordinator, &t.erlan] {
        assert!(!dump.contains(token.as_str()));
    }

    // Metrics count the call.
    let after = metrics(&senim);
    assert_eq!(value(&after, "senim_calls_total"), 1.0);
    assert_eq!(value(&after, "senim_calls_active"), 0.0);
    assert!(value(&after, "senim_rtp_packets_sent_total") > 0.0);
    assert_eq!(
        value(&after, "senim_api_requests_refused_total{status=\"401\"}"),
        0.0
    );
}

/// Every route that changes something (the route table's POSTs, the
/// operational ones among them) answers 401 without a token or with an
/// unknown one and changes nothing; with the right token the operational
/// ones work.
#[test]
fn every_route_that_changes_something_refuses_without_a_token() {
    let (senim, t) = start();
    let mutating: Vec<_> = senim::http::routes::ROUTES
        .iter()
        .filter(|r| r.method != "GET")
        .collect();
    assert!(mutating.len() >= 10, "{mutating:?}");
    for r in &mutating {
        let path = r.path.replace("{id}", "erlan");
        let (code, headers, body) = http_with(senim.http, r.method, &path, &[], "{}");
        assert_eq!(code, 401, "{} {path} without a token: {body}", r.method);
        assert!(
            header(&headers, "www-authenticate").is_some_and(|v| v.starts_with("Bearer")),
            "{} {path}: {headers:?}",
            r.method
        );
        let (code, _) = post(&senim, &path, "not-a-token");
        assert_eq!(code, 401, "{} {path} with an unknown token", r.method);
    }
    let state = |senim: &Senim| {
        let (_, body) = http(senim.http, "GET", "/specialists");
        let body = body
            .split_once("\r\n\r\n")
            .map_or("", |(_, b)| b)
            .to_string();
        let list: Value = serde_json::from_str(&body).expect("JSON");
        list.as_array()
            .and_then(|l| l.iter().find(|s| s["id"] == "erlan"))
            .and_then(|s| s["live"]["state"].as_str())
            .unwrap_or_default()
            .to_string()
    };
    assert_ne!(
        state(&senim),
        "paused",
        "nothing was paused without a token"
    );

    // With a token: a specialist pauses and resumes themselves at the
    // operational paths, not someone else; only admin reloads the plan.
    let (code, body) = post(&senim, "/specialists/erlan/pause", &t.erlan);
    assert_eq!(code, 200, "{body}");
    assert_eq!(state(&senim), "paused");
    let (code, _) = post(&senim, "/specialists/aigerim/pause", &t.erlan);
    assert_eq!(code, 403);
    let (code, body) = post(&senim, "/specialists/erlan/resume", &t.erlan);
    assert_eq!(code, 200, "{body}");
    assert_ne!(state(&senim), "paused");
    let (code, _) = post(&senim, "/dialplan/reload", &t.coordinator);
    assert_eq!(code, 403, "a coordinator does not reload the plan");
    let (code, body) = post(&senim, "/dialplan/reload", &t.admin);
    assert_eq!(code, 200, "{body}");
    let reload: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(reload["accepted"], true, "{reload}");
    // The same for the whole configuration.
    let (code, _) = post(&senim, "/config/reload", &t.coordinator);
    assert_eq!(code, 403, "a coordinator does not reload the configuration");
    let (code, body) = post(&senim, "/config/reload", &t.admin);
    assert_eq!(code, 200, "{body}");
    let reload: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(reload["accepted"], true, "{reload}");
    assert_eq!(reload["trigger"], "HTTP", "{reload}");
    assert_eq!(reload["restart"], serde_json::json!([]), "{reload}");

    // Each change is in the audit log with the token's name.
    let audit = get_json(&senim, "/api/v1/audit?limit=100", &t.admin);
    let actions: Vec<(String, String)> = audit["entries"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| {
                    (
                        e["action"].as_str().unwrap_or_default().to_string(),
                        e["token_name"].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    for (action, who) in [
        ("pause-specialist", "Erlan"),
        ("resume-specialist", "Erlan"),
        ("reload-dialplan", "office admin"),
        ("reload-config", "office admin"),
    ] {
        assert!(
            actions.iter().any(|(a, w)| a == action && w == who),
            "{action} by {who}: {actions:?}"
        );
    }
}
