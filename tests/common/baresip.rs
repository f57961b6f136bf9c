//! baresip, a real softphone, driven over its ctrl_tcp interface (see
//! `tests/baresip/README.md`): started in a test's directory on free ports,
//! killed when dropped.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{have, port_block, repo_root, wait_until};

pub struct Baresip {
    child: Child,
    dir: PathBuf,
    ctrl: TcpStream,
    /// Events seen so far (raw JSON).
    pub events: Vec<String>,
    buf: Vec<u8>,
}

impl Baresip {
    pub fn start(dir: &Path) -> Baresip {
        Self::start_with_account(dir, None)
    }

    /// Start with `account` (a baresip account line, `@SIP_PORT@` replaced)
    /// instead of the caller account of the template. When its ports are
    /// taken by something else on the machine, try another block.
    pub fn start_with_account(dir: &Path, account: Option<&str>) -> Baresip {
        let audio = repo_root().join("tests/media/caller-speech.wav");
        Self::start_with_audio(dir, account, &audio)
    }

    /// Like `start_with_account`, with `audio` (a WAV) as the microphone.
    pub fn start_with_audio(dir: &Path, account: Option<&str>, audio: &Path) -> Baresip {
        Self::start_configured(dir, account, audio, "")
    }

    /// Like `start_with_audio`, with `extra_config` (lines such as
    /// `sip_cafile /path/ca.pem`) added to the configuration.
    pub fn start_configured(
        dir: &Path,
        account: Option<&str>,
        audio: &Path,
        extra_config: &str,
    ) -> Baresip {
        let mut last = String::new();
        for _ in 0..5 {
            match Self::try_start(dir, account, audio, extra_config) {
                Ok(b) => return b,
                Err(log) if log.contains("Address already in use") => last = log,
                Err(log) => panic!("baresip did not start:\n{log}"),
            }
        }
        panic!("baresip found no free ports:\n{last}");
    }

    fn try_start(
        dir: &Path,
        account: Option<&str>,
        audio: &Path,
        extra_config: &str,
    ) -> Result<Baresip, String> {
        assert!(
            have("baresip"),
            "baresip is not installed: run scripts/test, which installs it"
        );
        let base = port_block();
        let (sip, ctrl, rtp) = (base, base + 5, format!("{}-{}", base + 20, base + 39));
        let snd = dir.join("snd");
        std::fs::create_dir_all(&snd).unwrap();
        for f in ["config", "accounts"] {
            let text = std::fs::read_to_string(repo_root().join("tests/baresip").join(f))
                .unwrap()
                .replace("@SIP_PORT@", &sip.to_string())
                .replace("@CTRL_PORT@", &ctrl.to_string())
                .replace("@RTP_PORTS@", &rtp)
                .replace("@AUDIO@", &audio.display().to_string())
                .replace("@SND_PATH@", &snd.display().to_string());
            let text = if f == "config" {
                format!("{text}\n{extra_config}\n")
            } else {
                text
            };
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

    pub fn command(&mut self, command: &str, params: &str) {
        let json = format!("{{\"command\":\"{command}\",\"params\":\"{params}\",\"token\":\"t\"}}");
        let msg = format!("{}:{},", json.len(), json);
        self.ctrl.write_all(msg.as_bytes()).unwrap();
    }

    /// Read netstrings until one contains `needle` or `limit` passes.
    pub fn wait_event(&mut self, needle: &str, limit: Duration) -> bool {
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

    pub fn log(&self) -> String {
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
