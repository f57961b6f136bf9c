//! The follow-up queue against the real binary: a caller leaves a callback
//! request (the test caller of `common::caller`, keys by SIP INFO), a
//! voicemail follow-up is put in the database the way the recorder writes
//! it, and the API's roles decide who sees, claims, reads and completes
//! them; every read of a number or a recording is in the audit log, and
//! the report counts the callback done.

mod common;

use common::walks::leave_callback_request;
use common::{http_with, make_token, Senim};
use serde_json::Value;

/// Open round the clock; two specialists, both for legal help in Russian
/// only, so a Kazakh psychology call overflows to the callback questions.
const CENTRE: &str = "[hours.centre]\nalways = true\nholidays = \"open\"\n\n\
    [[specialist]]\nid = \"erlan\"\nname = \"Erlan\"\nskills = [\"legal\"]\nlanguages = [\"ru\"]\nuri = \"sip:erlan@127.0.0.1:9\"\n\n\
    [[specialist]]\nid = \"aigerim\"\nname = \"Aigerim\"\nskills = [\"legal\"]\nlanguages = [\"ru\"]\nuri = \"sip:aigerim@127.0.0.1:9\"\n";
/// The test caller's number (From of `common::caller`).
const CALLER: &str = "+77011234567";

struct Api {
    senim: Senim,
    admin: String,
    coordinator: String,
    erlan: String,
    aigerim: String,
}

impl Api {
    fn start() -> Api {
        let (admin, a) = make_token("office admin", "admin", None);
        let (coordinator, c) = make_token("coordinator Dana", "coordinator", None);
        let (erlan, e) = make_token("Erlan", "specialist", Some("erlan"));
        let (aigerim, g) = make_token("Aigerim", "specialist", Some("aigerim"));
        let config = format!("{CENTRE}\n{a}\n{c}\n{e}\n{g}\n");
        Api {
            senim: Senim::start_with(Some(&config), &[]),
            admin,
            coordinator,
            erlan,
            aigerim,
        }
    }

    fn request(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: &str,
    ) -> (u16, Vec<(String, String)>, String) {
        let auth = format!("Bearer {token}");
        http_with(
            self.senim.http,
            method,
            path,
            &[
                ("Authorization", &auth),
                ("Content-Type", "application/json"),
            ],
            body,
        )
    }

    fn get(&self, path: &str, token: &str) -> (u16, String) {
        let (code, _, body) = self.request("GET", path, token, "");
        (code, body)
    }

    fn get_json(&self, path: &str, token: &str) -> Value {
        let (code, body) = self.get(path, token);
        assert_eq!(code, 200, "GET {path}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
    }

    fn post(&self, path: &str, token: &str, body: &str) -> (u16, Value) {
        let (code, _, text) = self.request("POST", path, token, body);
        let v = serde_json::from_str(&text).unwrap_or_else(|e| panic!("POST {path}: {e}: {text}"));
        (code, v)
    }

    fn ids(&self, path: &str, token: &str) -> Vec<String> {
        self.get_json(path, token)["follow_ups"]
            .as_array()
            .expect("follow_ups")
            .iter()
            .map(|f| f["id"].as_str().unwrap().to_string())
            .collect()
    }

    fn audit(&self) -> Vec<Value> {
        self.get_json("/api/v1/audit?limit=1000", &self.admin)["entries"]
            .as_array()
            .unwrap()
            .clone()
    }
}

/// A voicemail follow-up as the recorder leaves it: the call, the WAV file
/// (one second of a tone), the `voicemails` row and the follow-up.
fn add_voicemail(senim: &Senim) -> String {
    add_voicemail_of(senim, "5e1d7c9a-0000-4000-8000-00000000cafe", true)
}

/// A voicemail follow-up for call `call`; without its file when `file` is
/// false (the row says there was one).
fn add_voicemail_of(senim: &Senim, call: &str, file: bool) -> String {
    let wav = senim.dir.path().join(format!("{call}.wav"));
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(&wav, spec).unwrap();
    for i in 0..8000 {
        let s = (f64::from(i) * 2.0 * std::f64::consts::PI * 440.0 / 8000.0).sin();
        w.write_sample((s * 8000.0) as i16).unwrap();
    }
    w.finalize().unwrap();
    if !file {
        std::fs::remove_file(&wav).unwrap();
    }
    let now = chrono::Utc::now().timestamp_millis();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let pool = senim.db_rw().await;
        sqlx::query(
            "INSERT INTO calls (id, sip_call_id, arrived_at, ended_at, transport, language, outcome)
             VALUES ($1, $1 || '@test', $2, $2, 'udp', 'ru', 'completed')",
        )
        .bind(call)
        .bind(now)
        .execute(&pool)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO voicemails (call_id, at, path, duration_ms, ended_by)
             VALUES ($1, $2, $3, 1000, 'key')",
        )
        .bind(call)
        .bind(now)
        .bind(wav.display().to_string())
        .execute(&pool)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO follow_ups (id, call_id, kind, created_at, language)
             VALUES ('voicemail-' || $1, $1, 'voicemail', $2, 'ru')",
        )
        .bind(call)
        .bind(now)
        .execute(&pool)
        .await
        .unwrap();
        pool.close().await;
    });
    format!("voicemail-{call}")
}

#[test]
fn the_follow_up_queue_by_role() {
    let api = Api::start();
    let cb = leave_callback_request(&api.senim);
    let vm = add_voicemail(&api.senim);
    let digits = CALLER.trim_start_matches('+');

    // No token or a wrong one: 401 and nothing but the error.
    for token in [None, Some("Bearer 0000")] {
        let headers: Vec<(&str, &str)> = token.map(|t| ("Authorization", t)).into_iter().collect();
        for (method, path) in [
            ("GET", "/api/v1/follow-ups".to_string()),
            ("GET", format!("/api/v1/follow-ups/{cb}")),
            ("GET", format!("/api/v1/follow-ups/{vm}/recording")),
            ("POST", format!("/api/v1/follow-ups/{cb}/claim")),
            ("POST", format!("/api/v1/follow-ups/{cb}/complete")),
        ] {
            let (code, _, body) = http_with(api.senim.http, method, &path, &headers, "");
            assert_eq!(code, 401, "{method} {path}: {body}");
            let v: Value = serde_json::from_str(&body).unwrap();
            assert_eq!(v.as_object().unwrap().len(), 1, "{body}");
            assert!(!body.contains(digits));
        }
    }

    // The coordinator lists both, oldest first, without the number.
    let (code, body) = api.get("/api/v1/follow-ups", &api.coordinator);
    assert_eq!(code, 200, "{body}");
    assert!(!body.contains(digits), "the list holds the number: {body}");
    let list: Value = serde_json::from_str(&body).unwrap();
    let items = list["follow_ups"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{list}");
    let item = &items[0];
    assert_eq!(item["id"], cb.as_str());
    assert_eq!(item["kind"], "callback");
    assert_eq!(item["status"], "open");
    assert_eq!(item["language"], "kk");
    assert_eq!(item["service"], "psychology");
    assert_eq!(item["call_window"], "evening");
    assert_eq!(item["leave_message"], false);
    assert_eq!(item["say_centre_name"], true);
    assert!(item["call_id"].is_string());
    assert!(item.get("number").is_none() && item.get("duration_ms").is_none());
    assert_eq!(items[1]["id"], vm.as_str());
    assert_eq!(items[1]["duration_ms"], 1000);
    assert_eq!(
        api.ids("/api/v1/follow-ups?kind=voicemail", &api.coordinator),
        [vm.as_str()]
    );
    assert_eq!(
        api.get("/api/v1/follow-ups?status=lost", &api.coordinator)
            .0,
        400
    );

    // Specialist A claims the callback and reads the number.
    assert_eq!(
        api.ids("/api/v1/follow-ups", &api.erlan),
        [cb.clone(), vm.clone()]
    );
    let (code, f) = api.post(&format!("/api/v1/follow-ups/{cb}/claim"), &api.erlan, "");
    assert_eq!(code, 200, "{f}");
    assert_eq!(f["status"], "claimed");
    assert_eq!(f["claimed_by"], "erlan");
    assert!(f["claimed_at"].is_string());
    let (code, headers, body) =
        api.request("GET", &format!("/api/v1/follow-ups/{cb}"), &api.erlan, "");
    assert_eq!(code, 200, "{body}");
    assert!(headers
        .iter()
        .any(|(k, v)| k == "cache-control" && v == "no-store"));
    let detail: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(detail["number"], CALLER);
    assert_eq!(detail["status"], "claimed");

    // Specialist B: not in the list, 404 for it whatever they try, no audit log.
    assert_eq!(api.ids("/api/v1/follow-ups", &api.aigerim), [vm.as_str()]);
    assert!(api
        .ids("/api/v1/follow-ups?status=claimed", &api.aigerim)
        .is_empty());
    assert_eq!(
        api.get(&format!("/api/v1/follow-ups/{cb}"), &api.aigerim).0,
        404
    );
    for (action, body) in [
        ("claim", ""),
        ("release", ""),
        ("notes", r#"{"text":"mine now"}"#),
        ("complete", r#"{"result":"reached"}"#),
    ] {
        let (code, v) = api.post(
            &format!("/api/v1/follow-ups/{cb}/{action}"),
            &api.aigerim,
            body,
        );
        assert_eq!(code, 404, "{action}: {v}");
        assert!(!v.to_string().contains(digits));
    }
    assert_eq!(api.get("/api/v1/audit", &api.aigerim).0, 403);
    // Nor can a specialist claim for someone else; staff cannot take it from A.
    let (code, _) = api.post(
        &format!("/api/v1/follow-ups/{vm}/claim"),
        &api.aigerim,
        r#"{"specialist":"erlan"}"#,
    );
    assert_eq!(code, 403);
    let (code, v) = api.post(
        &format!("/api/v1/follow-ups/{cb}/claim"),
        &api.coordinator,
        r#"{"specialist":"aigerim"}"#,
    );
    assert_eq!(code, 409, "{v}");

    // B takes the voicemail and listens to it.
    let (code, v) = api.post(&format!("/api/v1/follow-ups/{vm}/claim"), &api.aigerim, "");
    assert_eq!(code, 200, "{v}");
    let detail = api.get_json(&format!("/api/v1/follow-ups/{vm}"), &api.aigerim);
    assert_eq!(detail["duration_ms"], 1000);
    let url = detail["recording"]
        .as_str()
        .expect("recording url")
        .to_string();
    assert_eq!(url, format!("/api/v1/follow-ups/{vm}/recording"));
    assert!(detail.get("number").is_none());
    let (code, headers, audio) = api.request("GET", &url, &api.aigerim, "");
    assert_eq!(code, 200);
    assert!(headers
        .iter()
        .any(|(k, v)| k == "content-type" && v == "audio/wav"));
    assert!(
        headers
            .iter()
            .any(|(k, v)| k == "content-length" && v == "16044"),
        "{headers:?}"
    );
    assert!(audio.starts_with("RIFF") && audio.contains("WAVE"));
    // A no longer sees the voicemail B claimed.
    assert_eq!(api.get(&url, &api.erlan).0, 404);

    // A notes and completes the callback.
    let (code, f) = api.post(
        &format!("/api/v1/follow-ups/{cb}/notes"),
        &api.erlan,
        "{\"text\":\"busy tone,\\nagain at 19:00\\u0007\"}",
    );
    assert_eq!(code, 200, "{f}");
    assert!(
        f["notes"]
            .as_str()
            .unwrap()
            .ends_with("Erlan: busy tone, again at 19:00"),
        "{f}"
    );
    let (code, v) = api.post(
        &format!("/api/v1/follow-ups/{cb}/complete"),
        &api.erlan,
        r#"{"result":"called"}"#,
    );
    assert_eq!(code, 400, "{v}");
    let (code, f) = api.post(
        &format!("/api/v1/follow-ups/{cb}/complete"),
        &api.erlan,
        r#"{"result":"reached","notes":"spoke, referred to the lawyer"}"#,
    );
    assert_eq!(code, 200, "{f}");
    assert_eq!(f["status"], "done");
    assert_eq!(f["result"], "reached");
    assert!(f["completed_at"].is_string());
    let (code, _) = api.post(
        &format!("/api/v1/follow-ups/{cb}/complete"),
        &api.coordinator,
        r#"{"result":"other"}"#,
    );
    assert_eq!(code, 409);
    assert_eq!(
        api.ids("/api/v1/follow-ups?status=done", &api.coordinator),
        [cb.as_str()]
    );

    // The admin sees the reads and the changes in the audit log, by whom.
    let audit = api.audit();
    let has = |who: &str, action: &str, target: &str| {
        audit
            .iter()
            .any(|e| e["token_name"] == who && e["action"] == action && e["target"] == target)
    };
    assert!(has("Erlan", "read-number", &cb), "{audit:#?}");
    assert!(has("Erlan", "claim-follow-up", &cb));
    assert!(has("Erlan", "note-follow-up", &cb));
    assert!(has("Erlan", "complete-follow-up", &cb));
    assert!(has("Aigerim", "read-recording", &vm));
    assert!(
        has("Aigerim", "read-follow-up", &cb),
        "B's look at A's follow-up"
    );
    assert!(!serde_json::to_string(&audit).unwrap().contains(digits));

    // The report counts one callback requested and one completed.
    let now = chrono::Utc::now().timestamp_millis();
    let report = api.get_json(
        &format!(
            "/api/v1/reports?from={}&to={}&by=service",
            now - 86_400_000,
            now + 86_400_000
        ),
        &api.coordinator,
    );
    assert_eq!(report["total"]["callbacks_requested"], 1, "{report}");
    assert_eq!(report["total"]["callbacks_completed"], 1, "{report}");
}

/// A callback request kept without a number (the way one made before the
/// number was kept, or whose number was erased, looks).
fn add_callback_without_number(senim: &Senim, id: &str) {
    let now = chrono::Utc::now().timestamp_millis();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let pool = senim.db_rw().await;
        sqlx::query(
            "INSERT INTO follow_ups (id, kind, created_at, language, service, call_window,
                                     leave_message, say_centre_name)
             VALUES ($1, 'callback', $2, 'kk', 'psychology', 'evening', 0, 1)",
        )
        .bind(id)
        .bind(now)
        .execute(&pool)
        .await
        .unwrap();
        pool.close().await;
    });
}

/// The keys of a JSON object, sorted.
fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .cloned()
        .collect();
    k.sort();
    k
}

const SUMMARY_KEYS: [&str; 7] = [
    "age_minutes",
    "call_window",
    "id",
    "kind",
    "language",
    "service",
    "status",
];

#[test]
fn a_specialist_gets_the_number_and_the_recording_only_once_they_claim() {
    let api = Api::start();
    let cb = leave_callback_request(&api.senim);
    let cb_none = "0b6c0d0e-5b1a-4c55-9a53-000000000001";
    add_callback_without_number(&api.senim, cb_none);
    let vm = add_voicemail_of(&api.senim, "5e1d7c9a-0000-4000-8000-0000000000a1", true);
    let vm_gone = add_voicemail_of(&api.senim, "5e1d7c9a-0000-4000-8000-0000000000a2", false);
    assert!(
        common::caller_numbers().contains(&CALLER),
        "the scan of the logs knows the caller's number"
    );
    let digits = CALLER.trim_start_matches('+');
    let local = &digits[1..];
    let no_number = |body: &str| !body.contains(digits) && !body.contains(local);

    // The coordinator writes a note on the callback before anyone takes it.
    let (code, v) = api.post(
        &format!("/api/v1/follow-ups/{cb}/notes"),
        &api.coordinator,
        r#"{"text":"asked twice, be careful"}"#,
    );
    assert_eq!(code, 200, "{v}");

    // Erlan's list: all four, as kind, service, language, window and age only.
    let (code, body) = api.get("/api/v1/follow-ups", &api.erlan);
    assert_eq!(code, 200, "{body}");
    assert!(no_number(&body), "{body}");
    for hidden in ["notes", "call_id", "duration_ms", "recording", "careful"] {
        assert!(!body.contains(hidden), "{hidden} in {body}");
    }
    let list: Value = serde_json::from_str(&body).unwrap();
    let items = list["follow_ups"].as_array().unwrap();
    assert_eq!(items.len(), 4, "{list}");
    for item in items {
        assert_eq!(keys(item), SUMMARY_KEYS, "{item}");
        assert_eq!(item["status"], "open");
        assert_eq!(item["age_minutes"], 0);
    }

    // Before claiming: the same answer whether a number or a recording is
    // kept or not, and the recording route answers alike for both.
    let summary_of = |id: &str| {
        let (code, body) = api.get(&format!("/api/v1/follow-ups/{id}"), &api.erlan);
        assert_eq!(code, 200, "{id}: {body}");
        assert!(no_number(&body), "{body}");
        let mut v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(keys(&v), SUMMARY_KEYS, "{v}");
        v.as_object_mut().unwrap().remove("id");
        v
    };
    assert_eq!(summary_of(&cb), summary_of(cb_none));
    assert_eq!(summary_of(&vm), summary_of(&vm_gone));
    let (code_kept, body_kept) = api.get(&format!("/api/v1/follow-ups/{vm}/recording"), &api.erlan);
    let (code_gone, body_gone) = api.get(
        &format!("/api/v1/follow-ups/{vm_gone}/recording"),
        &api.erlan,
    );
    assert_eq!((code_kept, &body_kept), (404, &body_gone));
    assert_eq!(code_gone, 404);
    let audit = api.audit();
    let erlan_read = |audit: &[Value], action: &str, target: &str| {
        audit
            .iter()
            .any(|e| e["token_name"] == "Erlan" && e["action"] == action && e["target"] == target)
    };
    assert!(!erlan_read(&audit, "read-number", &cb), "{audit:#?}");
    assert!(!erlan_read(&audit, "read-recording", &vm));
    assert!(
        erlan_read(&audit, "read-follow-up", &cb),
        "the look is logged"
    );

    // After claiming: the number, the notes and the recording, each read
    // in the audit log.
    for id in [&cb, &vm] {
        let (code, v) = api.post(&format!("/api/v1/follow-ups/{id}/claim"), &api.erlan, "");
        assert_eq!(code, 200, "{v}");
        assert_eq!(v["claimed_by"], "erlan");
    }
    let detail = api.get_json(&format!("/api/v1/follow-ups/{cb}"), &api.erlan);
    assert_eq!(detail["number"], CALLER);
    assert!(detail["notes"].as_str().unwrap().ends_with("be careful"));
    assert!(
        detail["call_id"].is_null(),
        "call records are staff's: {detail}"
    );
    let detail = api.get_json(&format!("/api/v1/follow-ups/{vm}"), &api.erlan);
    assert_eq!(
        detail["recording"],
        format!("/api/v1/follow-ups/{vm}/recording")
    );
    let (code, _, audio) = api.request(
        "GET",
        &format!("/api/v1/follow-ups/{vm}/recording"),
        &api.erlan,
        "",
    );
    assert_eq!(code, 200);
    assert!(audio.starts_with("RIFF"));
    // Aigerim, who did not claim them, no longer sees them at all.
    assert_eq!(
        api.get(&format!("/api/v1/follow-ups/{cb}"), &api.aigerim).0,
        404
    );
    assert_eq!(
        api.get(&format!("/api/v1/follow-ups/{vm}/recording"), &api.aigerim)
            .0,
        404
    );

    // Lists that carry notes are audited, naming whose notes went out.
    let (code, body) = api.get("/api/v1/follow-ups", &api.erlan);
    assert_eq!(code, 200);
    assert!(body.contains("be careful"));
    let (code, body) = api.get("/api/v1/follow-ups", &api.coordinator);
    assert_eq!(code, 200);
    assert!(body.contains("be careful"));

    let audit = api.audit();
    assert!(erlan_read(&audit, "read-number", &cb), "{audit:#?}");
    assert!(erlan_read(&audit, "read-recording", &vm));
    for who in ["Erlan", "coordinator Dana"] {
        let listed = audit
            .iter()
            .find(|e| e["token_name"] == who && e["action"] == "list-follow-ups-with-notes");
        let listed = listed.unwrap_or_else(|| panic!("{who}: {audit:#?}"));
        let detail = &listed["detail"];
        assert_eq!(detail["notes_of"], serde_json::json!([cb]), "{detail}");
    }
    assert!(!serde_json::to_string(&audit).unwrap().contains(digits));
}
