//! `senim call`, the README's first call, and `senim status`, end to end: from a scratch folder
//! the binary calls a running Senim on the default plan, hears the greeting,
//! presses 1 (Kazakh), hears the next prompt, hangs up, and exits 0. (No
//! answer, a refusal and Senim hanging up are unit tests of the call's state
//! machine, on a virtual clock.)

mod common;

use std::process::Command;

use common::Senim;

#[test]
fn the_readme_call_hears_the_greeting_presses_a_key_and_ends_cleanly() {
    // JSON logs, to check the call's id in them is the record's.
    let senim = Senim::start_with(None, &[("SENIM_LOG_FORMAT", "json")]);
    let scratch = tempfile::tempdir().expect("scratch folder");
    let out = Command::new(env!("CARGO_BIN_EXE_senim"))
        .args(["call", "--keys", "1", "--listen", "3", "--to"])
        .arg(senim.sip.to_string())
        .current_dir(scratch.path())
        .env("SENIM_DATA_DIR", scratch.path())
        .output()
        .expect("run senim call");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for want in [
        "answered: PCMU",
        "heard greeting-short",
        "pressed 1",
        "hung up (200)",
        "ok: Senim answered and spoke",
    ] {
        assert!(text.contains(want), "{want:?} not in:\n{text}");
    }
    // After the key, a Kazakh prompt of the next menu.
    let after = &text[text.find("pressed 1").unwrap_or(0)..];
    assert!(after.contains("heard ") && after.contains("(kk)"), "{text}");
    // The call is in the record like any other, hung up by the caller.
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let calls = rt.block_on(senim.ended_calls(1));
    assert_eq!(calls[0].hangup_by.as_deref(), Some("caller"), "{calls:?}");

    // One call id everywhere: the log's `call` is the record's (and the API's) id.
    let log = senim.log();
    let mut in_log = 0;
    for line in log.lines() {
        let value: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
        if value["span"]["call"].as_str() == Some(calls[0].id.as_str()) {
            in_log += 1;
        }
    }
    assert!(in_log > 0, "no log line names call {}:\n{log}", calls[0].id);

    // `senim status` reads the running Senim's health and metrics.
    let out = Command::new(env!("CARGO_BIN_EXE_senim"))
        .arg("status")
        .current_dir(scratch.path())
        .env("SENIM_DATA_DIR", scratch.path())
        .env("SENIM_HTTP_LISTEN", senim.http.to_string())
        .output()
        .expect("run senim status");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for want in [
        "Senim: ok",
        "calls: 0 now, 1 since start",
        "call records: ok",
        "trunks: none configured",
        "dialplan: the last load was accepted",
        // Logged at start: without a trunk, the emergency transfer's
        // partner (reached by number) cannot be called.
        "last warnings and errors (",
        "no [[trunk]]",
    ] {
        assert!(text.contains(want), "{want:?} not in:\n{text}");
    }
}
