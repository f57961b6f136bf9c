//! baresip, a real softphone, as a second independent caller: it dials Senim,
//! presses keys by RFC 4733 and records what it hears.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{have, http, port_block, repo_root, wait_until, Senim};

struct Baresip {
    child: Child,
    dir: PathBuf,
    ctrl: TcpStream,
    /// Events seen so far (raw JSON).
    events: Vec<String>,
    buf: Vec<u8>,
}

impl Baresip {
    fn start(dir: &Path) -> Baresip {
        Self::start_with_account(dir, None)
    }

    /// Start with `account` (a baresip account line, `@SIP_PORT@` replaced)
    /// instead of the caller account of the template. When its ports are
    /// taken by something else on the machine, try another block.
    fn start_with_account(dir: &Path, account: Option<&str>) -> Baresip {
        let mut last = String::new();
        for _ in 0..5 {
            match Self::try_start(dir, account) {
                Ok(b) => return b,
                Err(log) if log.contains("Address already in use") => last = log,
                Err(log) => panic!("baresip did not start:\n{log}"),
            }
        }
        panic!("baresip found no free ports:\n{last}");
    }

    fn try_start(dir: &Path, account: Option<&str>) -> Result<Baresip, String> {
        assert!(
            have("baresip"),
            "baresip is not installed: run scripts/test, which installs it"
        );
        let base = port_block();
        let (sip, ctrl, rtp) = (base, base + 5, format!("{}-{}", base + 20, base + 39));
        let snd = dir.join("snd");
        std::fs::create_dir_all(&snd).unwrap();
        let audio = repo_root().join("tests/media/caller-speech.wav");
        for f in ["config", "accounts"] {
            let text = std::fs::read_to_string(repo_root().join("tests/baresip").join(f))
                .unwrap()
                .replace("@SIP_PORT@", &sip.to_string())
                .replace("@CTRL_PORT@", &ctrl.to_string())
                .replace("@RTP_PORTS@", &rtp)
                .replace("@AUDIO@", &audio.display().to_string())
                .replace("@SND_PATH@", &snd.display().to_string());
            std::fs::write(dir.join(f), text).unwrap();
        }
        if let Some(line) = account {
            let line = line.replace("@SIP_PORT@", &sip.to_string());
            std::fs::write(dir.join("accounts"), format!("{line}\n")).unwrap();
        }
        let log = std::fs::File::create(dir.join("baresip.log")).unwrap();
        let mut child = Command::new("baresip")
            .arg("-f")
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start baresip");
        let log_path = dir.join("baresip.log");
        let ready = wait_until(Duration::from_secs(15), || {
            std::fs::read_to_string(&log_path)
                .is_ok_and(|l| l.contains("baresip is ready") || l.contains("init failed"))
        });
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        if !ready || log.contains("init failed") {
            let _ = child.kill();
            let _ = child.wait();
            return Err(log);
        }
        let mut ctrl = None;
        wait_until(Duration::from_secs(5), || {
            ctrl = TcpStream::connect(("127.0.0.1", ctrl_port(base))).ok();
            ctrl.is_some()
        });
        let ctrl = ctrl.expect("ctrl_tcp");
        ctrl.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        Ok(Baresip {
            child,
            dir: dir.to_path_buf(),
            ctrl,
            events: Vec::new(),
            buf: Vec::new(),
        })
    }

    fn command(&mut self, command: &str, params: &str) {
        let json = format!("{{\"command\":\"{command}\",\"params\":\"{params}\",\"token\":\"t\"}}");
        let msg = format!("{}:{},", json.len(), json);
        self.ctrl.write_all(msg.as_bytes()).unwrap();
    }

    /// Read netstrings until one contains `needle` or `limit` passes.
    fn wait_event(&mut self, needle: &str, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            if self.events.iter().any(|e| e.contains(needle)) {
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            let mut chunk = [0u8; 4096];
            match self.ctrl.read(&mut chunk) {
                Ok(0) => return false,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(_) => {}
            }
            // Split netstrings: <len>:<payload>,
            while let Some(colon) = self.buf.iter().position(|b| *b == b':') {
                let Some(len) = std::str::from_utf8(&self.buf[..colon])
                    .ok()
                    .and_then(|s| s.parse::<usize>().ok())
                else {
                    self.buf.clear();
                    break;
                };
                if self.buf.len() < colon + 1 + len + 1 {
                    break;
                }
                let payload =
                    String::from_utf8_lossy(&self.buf[colon + 1..colon + 1 + len]).to_string();
                self.buf.drain(..colon + 1 + len + 1);
                self.events.push(payload);
            }
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("baresip.log")).unwrap_or_default()
    }
}

fn ctrl_port(base: u16) -> u16 {
    base + 5
}

impl Drop for Baresip {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// RMS of a 16-bit WAV's samples.
fn wav_rms(path: &Path) -> (f64, usize) {
    let data = std::fs::read(path).unwrap_or_default();
    let samples: Vec<i16> = data
        .get(44..)
        .unwrap_or(&[])
        .chunks_exact(2)
        .map(|c| i16::from_le_bytes([c[0], c[1]]))
        .collect();
    let n = samples.len().max(1);
    let sum: f64 = samples.iter().map(|s| f64::from(*s).powi(2)).sum();
    ((sum / n as f64).sqrt(), samples.len())
}

#[tokio::test(flavor = "multi_thread")]
async fn baresip_calls_chooses_russian_and_hears_the_prompts() {
    let senim = Senim::start(&[]);
    let dir = senim.dir.path().join("baresip");
    std::fs::create_dir_all(&dir).unwrap();
    let mut phone = Baresip::start(&dir);
    phone.command("dial", &format!("sip:100@{}", senim.sip));
    assert!(
        phone.wait_event("CALL_ESTABLISHED", Duration::from_secs(10)),
        "baresip call established\n{}\n{}",
        phone.log(),
        senim.log()
    );
    std::thread::sleep(Duration::from_millis(1500));
    phone.command("sndcode", "2");
    std::thread::sleep(Duration::from_millis(1500));
    phone.command("sndcode", "1");
    assert!(
        phone.wait_event("CALL_CLOSED", Duration::from_secs(30)),
        "Senim hangs up after goodbye\n{}",
        senim.log()
    );
    let calls = senim.ended_calls(1).await;
    assert_eq!(calls[0].language.as_deref(), Some("ru"), "{:?}", calls[0]);
    assert_eq!(
        calls[0].digits,
        vec![
            ("2".into(), "rfc4733".into()),
            ("1".into(), "rfc4733".into())
        ]
    );
    assert_eq!(calls[0].outcome.as_deref(), Some("completed"));
    // What baresip heard (its decoder's output): the prompts, not silence.
    let snd = dir.join("snd");
    let dec = std::fs::read_dir(&snd)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with("-dec.wav"))
        .expect("baresip recorded what it received");
    let (rms, n) = wav_rms(&dec);
    assert!(
        n > 8000 * 2,
        "at least 2 s of received audio, got {n} samples"
    );
    assert!(
        rms > 300.0,
        "the prompts are audible to the caller (rms {rms:.0})"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_specialists_softphone_registers_with_digest_auth() {
    let config = r#"
[[specialist]]
id = "aigerim"
name = "Aigerim"
skills = ["psychology"]
languages = ["kk", "ru"]
username = "aigerim"
password = "correct-horse-42"

[[specialist]]
id = "daniyar"
name = "Daniyar"
skills = ["legal"]
languages = ["ru"]
username = "daniyar"
password = "another-secret-17"
"#;
    let senim = Senim::start_with(Some(config), &[]);
    let good_dir = senim.dir.path().join("good");
    let bad_dir = senim.dir.path().join("bad");
    std::fs::create_dir_all(&good_dir).unwrap();
    std::fs::create_dir_all(&bad_dir).unwrap();
    let aor = |user: &str, pass: &str| {
        format!(
            "<sip:{user}@{}>;auth_pass={pass};regint=600;answermode=auto;audio_codecs=PCMU,PCMA",
            senim.sip
        )
    };
    let _good = Baresip::start_with_account(&good_dir, Some(&aor("aigerim", "correct-horse-42")));
    let _bad = Baresip::start_with_account(&bad_dir, Some(&aor("daniyar", "wrong-password")));
    let registered = |user: &str| -> Option<usize> {
        let (_, body) = http(senim.http, "GET", "/specialists");
        let at = body.find(&format!("\"id\":\"{user}\""))?;
        let rest = &body[at..];
        let n = rest.split("\"registered\":").nth(1)?;
        n.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
    };
    assert!(
        wait_until(Duration::from_secs(15), || registered("aigerim") == Some(1)),
        "baresip registered with the right password:\n{}",
        senim.log()
    );
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        registered("daniyar"),
        Some(0),
        "a wrong password registers nothing"
    );
    let (_, body) = http(senim.http, "GET", "/specialists");
    assert!(
        !body.contains("correct-horse") && !body.contains("127.0.0.1"),
        "no secrets or addresses: {body}"
    );
}
