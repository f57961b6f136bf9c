//! HTTPS end to end: the real binary with a self-signed certificate made
//! here (rcgen), reached by curl checking it against that certificate; the
//! mutating routes still need a token over TLS; a renewed certificate is
//! served without a restart; a listen address off loopback without TLS or
//! a proxy is refused at start.

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use common::{have, make_token, wait_until, Senim};

/// A self-signed certificate for `localhost`: (certificate PEM, key PEM).
fn certificate() -> (String, String) {
    let c = rcgen::generate_simple_self_signed(vec!["localhost".to_string()])
        .expect("self-signed certificate");
    (c.cert.pem(), c.signing_key.serialize_pem())
}

/// curl to `https://localhost:PORT{path}` trusting only `ca`; extra args
/// before the URL. Returns curl's output (status line printed last).
fn curl(senim: &Senim, ca: &Path, method: &str, path: &str, extra: &[&str]) -> Output {
    let port = senim.http.port();
    Command::new("curl")
        .args(["-sS", "--max-time", "10", "-X", method])
        .arg("--cacert")
        .arg(ca)
        // The certificate names localhost; connect to the loopback address.
        .args(["--resolve", &format!("localhost:{port}:127.0.0.1")])
        .args(["-w", "\n%{http_code}"])
        .args(extra)
        .arg(format!("https://localhost:{port}{path}"))
        .output()
        .expect("run curl")
}

/// The HTTP status curl printed last, if the request got an answer.
fn status(out: &Output) -> Option<u16> {
    if !out.status.success() {
        return None;
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
}

#[test]
fn https_with_a_self_signed_certificate_tokens_and_a_renewal() {
    assert!(
        have("curl"),
        "curl is not installed: run scripts/test, which installs it"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let (cert, key) = certificate();
    std::fs::write(&cert_path, &cert).expect("write cert");
    std::fs::write(&key_path, &key).expect("write key");
    let ca1 = dir.path().join("ca1.pem");
    std::fs::write(&ca1, &cert).expect("write ca");
    let (admin, entry) = make_token("ops", "admin", None);
    let config = format!(
        "[http]\ntls_cert = \"{}\"\ntls_key = \"{}\"\n\n{entry}\n",
        cert_path.display(),
        key_path.display()
    );
    let senim = Senim::start_with(Some(&config), &[]);

    // HTTPS, the certificate checked by curl against the one made here.
    let out = curl(&senim, &ca1, "GET", "/healthz", &[]);
    assert_eq!(status(&out), Some(200), "{out:?}\n{}", senim.log());
    // Not trusted without it: curl checks the certificate.
    let port = senim.http.port();
    let untrusted = Command::new("curl")
        .args(["-sS", "--max-time", "10"])
        .args(["--resolve", &format!("localhost:{port}:127.0.0.1")])
        .arg(format!("https://localhost:{port}/healthz"))
        .output()
        .expect("run curl");
    assert!(!untrusted.status.success(), "{untrusted:?}");
    // Plain HTTP gets no answer: the port speaks TLS only.
    let (code, _) = common::http(senim.http, "GET", "/healthz");
    assert_ne!(code, 200);

    // A route that changes something: 401 without a token, 200 with one.
    let out = curl(&senim, &ca1, "POST", "/dialplan/reload", &[]);
    assert_eq!(status(&out), Some(401), "{out:?}");
    let auth = format!("Authorization: Bearer {admin}");
    let out = curl(&senim, &ca1, "POST", "/dialplan/reload", &["-H", &auth]);
    assert_eq!(status(&out), Some(200), "{out:?}");
    let out = curl(&senim, &ca1, "GET", "/api/v1/audit", &["-H", &auth]);
    assert_eq!(status(&out), Some(200), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("reload-dialplan"),
        "{out:?}"
    );

    // The certificate is renewed on disk: served without a restart.
    let (cert2, key2) = certificate();
    let ca2 = dir.path().join("ca2.pem");
    std::fs::write(&ca2, &cert2).expect("write ca");
    std::fs::write(&cert_path, &cert2).expect("write cert");
    std::fs::write(&key_path, &key2).expect("write key");
    assert!(
        wait_until(Duration::from_secs(20), || {
            status(&curl(&senim, &ca2, "GET", "/healthz", &[])) == Some(200)
        }),
        "the renewed certificate is served:\n{}",
        senim.log()
    );
    assert_eq!(status(&curl(&senim, &ca1, "GET", "/healthz", &[])), None);
    assert!(senim.log().contains("HTTPS certificate reloaded"));

    // A broken renewal leaves the working certificate in place.
    std::fs::write(&cert_path, "not a certificate").expect("write cert");
    assert!(
        wait_until(Duration::from_secs(20), || senim
            .log()
            .contains("HTTPS certificate not reloaded")),
        "{}",
        senim.log()
    );
    assert_eq!(
        status(&curl(&senim, &ca2, "GET", "/healthz", &[])),
        Some(200)
    );
}

/// `senim serve` in an empty folder with `env`; it must refuse to start.
fn refused(env: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_senim"));
    cmd.arg("serve")
        .current_dir(dir.path())
        .env("SENIM_DATA_DIR", dir.path())
        .env("SENIM_SIP_LISTEN", "127.0.0.1:0")
        .env("SENIM_HTTP_LISTEN", "127.0.0.1:0");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run senim");
    assert!(!out.status.success(), "senim started: {out:?}");
    assert!(
        !dir.path().join("senim.db").exists(),
        "refused before touching the database"
    );
    String::from_utf8_lossy(&out.stderr).to_string()
}

#[test]
fn a_listener_off_loopback_without_tls_or_a_proxy_and_a_bad_certificate_are_refused_at_start() {
    let err = refused(&[("SENIM_HTTP_LISTEN", "0.0.0.0:0")]);
    for word in ["http.listen", "tls_cert", "tls_key", "behind_proxy"] {
        assert!(err.contains(word), "{word}: {err}");
    }
    let err = refused(&[
        ("SENIM_HTTP_TLS_CERT", "/nonexistent/cert.pem"),
        ("SENIM_HTTP_TLS_KEY", "/nonexistent/key.pem"),
    ]);
    assert!(
        err.contains("http.tls_cert") && err.contains("/nonexistent/cert.pem"),
        "{err}"
    );
}
