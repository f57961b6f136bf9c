//! Start-up and the operator's view: health, bad configuration and missing
//! prompts refused with a clear message, `senim check`.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use common::{repo_root, Senim};

fn http_get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect http");
    s.set_read_timeout(Some(Duration::from_secs(5))).ok();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    let code = out.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    (code, out)
}

#[test]
fn healthz_answers_once_calls_are_taken() {
    let senim = Senim::start(&[]);
    let (code, body) = http_get(senim.http, "/healthz");
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("\"status\":\"ok\""), "{body}");
}

#[test]
fn bad_config_is_refused_with_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("senim.toml");
    std::fs::write(
        &cfg,
        "[sip]\nlisten = \"127.0.0.1:5099\"\n\n[media]\nrtp_port = \"1-2\"\n",
    )
    .unwrap();
    for cmd in ["serve", "check"] {
        let out = Command::new(env!("CARGO_BIN_EXE_senim"))
            .args([cmd, "--config"])
            .arg(&cfg)
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("senim.toml:5:1"), "{cmd}: {err}");
        assert!(err.contains("rtp_port"), "{cmd}: {err}");
    }
}

#[test]
fn bad_value_names_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("senim.toml");
    std::fs::write(&cfg, "[menu]\ntimeout = \"soon\"\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_senim"))
        .args(["check", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("menu.timeout") && err.contains("senim.toml"),
        "{err}"
    );
}

#[test]
fn missing_prompt_is_refused_at_start_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let prompts = dir.path().join("prompts");
    let status = Command::new("cp")
        .arg("-r")
        .arg(repo_root().join("voice-prompts"))
        .arg(&prompts)
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::remove_file(prompts.join("ru/main-menu.wav")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_senim"))
        .arg("serve")
        .current_dir(dir.path())
        .env("SENIM_PROMPTS_DIR", &prompts)
        .env("SENIM_SIP_LISTEN", "127.0.0.1:0")
        .env("SENIM_HTTP_LISTEN", "127.0.0.1:0")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("ru/main-menu.wav"), "{err}");
    assert!(
        !dir.path().join("senim.db").exists(),
        "refused before touching the database"
    );
}

#[test]
fn check_passes_on_the_bundled_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_senim"))
        .arg("check")
        .current_dir(dir.path())
        .env("SENIM_PROMPTS_DIR", repo_root().join("voice-prompts"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
