//! Start-up and the operator's view: health, bad configuration and missing
//! prompts refused with a clear message, `senim check`.

mod common;

use std::process::Command;

use common::{http, repo_root, Senim};

#[test]
fn healthz_answers_once_calls_are_taken() {
    let senim = Senim::start(&[]);
    let (code, body) = http(senim.http, "GET", "/healthz");
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
    std::fs::write(&cfg, "[sip]\nt1 = \"soon\"\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_senim"))
        .args(["check", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("sip.t1") && err.contains("senim.toml"),
        "{err}"
    );
}

#[test]
fn a_network_listen_address_without_a_trunk_is_refused_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("senim.toml");
    std::fs::write(
        &cfg,
        "[sip]\nlisten = \"0.0.0.0:5060\"\n\n[media]\nip = \"192.0.2.10\"\n",
    )
    .unwrap();
    for cmd in ["serve", "check"] {
        let out = Command::new(env!("CARGO_BIN_EXE_senim"))
            .args([cmd, "--config"])
            .arg(&cfg)
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(!out.status.success(), "{cmd} refuses it");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("senim.toml") && err.contains("key `sip.listen`"),
            "{cmd}: {err}"
        );
        assert!(
            err.contains("add a [[trunk]]") || err.contains("Add a [[trunk]]"),
            "{cmd}: the fix is named: {err}"
        );
    }
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
        .env("SENIM_DATA_DIR", dir.path())
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
fn check_passes_on_the_defaults_embedded_in_the_binary() {
    // An empty working directory: prompts and dialplan come from the binary.
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_senim"))
        .arg("check")
        .current_dir(dir.path())
        .env_remove("SENIM_PROMPTS_DIR")
        .env_remove("SENIM_DIALPLAN")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn each_cause_of_an_error_is_said_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(env!("CARGO_BIN_EXE_senim"))
        .args(["check", "--config"])
        .arg(dir.path().join("absent.toml"))
        .current_dir(dir.path())
        .output()
        .expect("run senim check");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("absent.toml"), "{err}");
    assert_eq!(err.matches("No such file or directory").count(), 1, "{err}");
}

#[test]
fn without_a_trunk_check_says_what_cannot_be_called() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("senim.toml");
    std::fs::write(
        &cfg,
        "[[specialist]]\nid = \"dana\"\nname = \"Dana\"\nskills = [\"legal\"]\n\
         languages = [\"ru\"]\nnumber = \"+77011112233\"\n",
    )
    .expect("write config");
    let out = Command::new(env!("CARGO_BIN_EXE_senim"))
        .args(["check", "--config"])
        .arg(&cfg)
        .current_dir(dir.path())
        .output()
        .expect("run senim check");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("specialists reached by number (dana) are never rung"),
        "{text}"
    );
    // The bundled plan's emergency transfer reaches its partner by number.
    assert!(
        text.contains("is reached by number only and no [[trunk]]"),
        "{text}"
    );
}

/// Five faults in three sections: `senim check` lists all five, each at the
/// line of its own key, and refuses the file.
#[test]
fn check_lists_every_fault_each_at_its_own_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("senim.toml");
    std::fs::write(
        &cfg,
        "[sip]\n\
         t1 = \"9s\"\n\
         listn = \"127.0.0.1:5070\"\n\
         \n\
         [[specialist]]\n\
         id = \"dana\"\n\
         name = \"Dana\"\n\
         skills = [\"cooking\"]\n\
         languages = [\"ru\"]\n\
         number = \"8 701 111 22 33\"\n\
         \n\
         [[specialist]]\n\
         id = \"erlan\"\n\
         name = \"Erlan\"\n\
         skills = [\"legal\"]\n\
         languages = [\"kk\"]\n\
         number = \"+77011112234\"\n\
         schedule = \"nights\"\n\
         \n\
         [routing]\n\
         accept_timeout = \"soon\"\n",
    )
    .expect("write config");
    let out = Command::new(env!("CARGO_BIN_EXE_senim"))
        .args(["check", "--config"])
        .arg(&cfg)
        .current_dir(dir.path())
        .output()
        .expect("run senim check");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    let name = cfg.display().to_string();
    for (line, what) in [
        (2, "key `sip.t1`"),
        (3, "unknown field `listn`"),
        (8, "unknown skill `cooking`"),
        (18, "no schedule `nights`"),
        (21, "key `routing.accept_timeout`"),
    ] {
        assert!(
            err.lines()
                .any(|l| l.contains(&format!("{name}:{line}:")) && l.contains(what)),
            "line {line} should say {what}:\n{err}"
        );
    }
    assert_eq!(err.matches(&format!("{name}:")).count(), 5, "{err}");
}
