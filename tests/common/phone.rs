//! SIPp phones for end-to-end tests: a specialist's phone, a partner
//! centre or a trunk caller, each a SIPp process on its own loopback port
//! running a scenario from `tests/scenarios/`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use super::{command_in, have, repo_root, Senim, SippRun};

/// A SIPp phone (UAS or UAC) running in the background; killed on drop.
pub struct Phone {
    pub name: String,
    child: Option<Child>,
    dir: PathBuf,
}

impl Phone {
    /// Start `scenario` on a fixed SIP port (the configuration names it).
    pub fn start(dir: &std::path::Path, scenario: &str, port: u16, remote: SocketAddr) -> Phone {
        Self::start_inside(&[], dir, scenario, port, remote)
    }

    /// The same, for `calls` calls one after the other.
    pub fn start_calls(
        dir: &std::path::Path,
        scenario: &str,
        port: u16,
        remote: SocketAddr,
        calls: u32,
    ) -> Phone {
        Self::run(&[], dir, scenario, port, remote, calls)
    }

    /// As [`Phone::start`], run through `prefix`: pass its Senim's
    /// ([`Senim::prefix`]) to put the phone in the same network namespace.
    pub fn start_inside(
        prefix: &[String],
        dir: &std::path::Path,
        scenario: &str,
        port: u16,
        remote: SocketAddr,
    ) -> Phone {
        Self::run(prefix, dir, scenario, port, remote, 1)
    }

    fn run(
        prefix: &[String],
        dir: &std::path::Path,
        scenario: &str,
        port: u16,
        remote: SocketAddr,
        calls: u32,
    ) -> Phone {
        assert!(have("sipp"), "sipp is not installed: run scripts/test");
        let name = format!("{scenario}-{port}");
        let dir = dir.join(&name);
        std::fs::create_dir_all(&dir).expect("phone dir");
        let child = command_in(prefix, "sipp")
            .arg(remote.to_string())
            .arg("-sf")
            .arg(repo_root().join("tests/scenarios").join(scenario))
            .args(["-m", &calls.to_string(), "-l", "1", "-i", "127.0.0.1"])
            .args(["-p", &port.to_string()])
            .args(["-mp", &(port + 10).to_string()])
            .args(["-timeout", "120s", "-timeout_error"])
            .args(["-trace_err", "-trace_msg", "-nostdin"])
            .arg("-error_file")
            .arg(dir.join("errors.log"))
            .arg("-message_file")
            .arg(dir.join("messages.log"))
            .current_dir(repo_root())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start sipp");
        Phone {
            name,
            child: Some(child),
            dir,
        }
    }

    /// The SIP messages it saw and sent.
    pub fn messages(&self) -> String {
        std::fs::read_to_string(self.dir.join("messages.log")).unwrap_or_default()
    }

    /// Wait for the scenario to end (at most `limit`); its result.
    pub fn finish(&mut self, limit: Duration) -> SippRun {
        let deadline = Instant::now() + limit;
        let mut success = false;
        if let Some(child) = self.child.as_mut() {
            loop {
                if let Ok(Some(status)) = child.try_wait() {
                    success = status.success();
                    break;
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        self.child = None;
        let mut output = format!("=== {} ===\n", self.name);
        for f in ["errors.log", "messages.log"] {
            if let Ok(t) = std::fs::read_to_string(self.dir.join(f)) {
                output.push_str(&format!("\n--- {f} ---\n{t}"));
            }
        }
        SippRun {
            success,
            output,
            dir: self.dir.clone(),
        }
    }

    pub fn assert_ok(&mut self, limit: Duration, senim: &Senim) {
        let run = self.finish(limit);
        assert!(
            run.success,
            "{} failed:\n{}\n--- senim log ---\n{}",
            self.name,
            run.output,
            senim.log()
        );
    }
}

impl Drop for Phone {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
