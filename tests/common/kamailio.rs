//! Kamailio from Debian as a SIP provider's registrar and proxy, started
//! by a test with its own configuration (`tests/kamailio/provider.cfg`)
//! and user database (db_text files in the test's directory); stopped
//! (SIGTERM, then SIGKILL) when dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{have, repo_root};

/// The provider's account for Senim.
pub const USER: &str = "77232000000";
pub const PASSWORD: &str = "s3cret-trunk";

/// A running Kamailio; stopped on drop.
pub struct Kamailio {
    child: Option<Child>,
    dir: PathBuf,
    cfg: PathBuf,
    pub port: u16,
    runs: u32,
}

impl Kamailio {
    /// Start Kamailio on 127.0.0.1:`port` with digest `algorithm` (`MD5`
    /// or `SHA-256`); it relays Senim's INVITEs (From user `centre`) to the
    /// phone at 127.0.0.1:`phone_port`.
    pub fn start(
        dir: &Path,
        port: u16,
        algorithm: &str,
        centre: &str,
        phone_port: u16,
    ) -> Kamailio {
        assert!(
            have("kamailio"),
            "kamailio is not installed: run scripts/test"
        );
        let dir = dir.join(format!("kamailio-{port}"));
        let db = dir.join("db");
        std::fs::create_dir_all(&db).expect("kamailio dir");
        std::fs::write(
            db.join("version"),
            "id(int,auto) table_name(string) table_version(int) \n0:version:1\n1:subscriber:7\n",
        )
        .expect("version table");
        std::fs::write(
            db.join("subscriber"),
            format!(
                "id(int,auto) username(string) domain(string) password(string) ha1(string) ha1b(string) \n1:{USER}:provider.test:{PASSWORD}:unused:unused\n"
            ),
        )
        .expect("subscriber table");
        Kamailio::start_with(
            &dir,
            port,
            "provider.cfg",
            &[
                ("@ALGORITHM@", algorithm.to_string()),
                ("@DBDIR@", db.display().to_string()),
                ("@CENTRE@", centre.to_string()),
                ("@PHONE_PORT@", phone_port.to_string()),
                ("@USER@", USER.to_string()),
            ],
        )
    }

    /// Start Kamailio on 127.0.0.1:`port` with `tests/kamailio/<config>`,
    /// its `@PORT@` and the other placeholders filled in, in `dir`.
    pub fn start_with(
        dir: &Path,
        port: u16,
        config: &str,
        placeholders: &[(&str, String)],
    ) -> Kamailio {
        assert!(
            have("kamailio"),
            "kamailio is not installed: run scripts/test"
        );
        std::fs::create_dir_all(dir).expect("kamailio dir");
        let template = std::fs::read_to_string(repo_root().join("tests/kamailio").join(config))
            .unwrap_or_else(|e| panic!("tests/kamailio/{config}: {e}"));
        let mut cfg_text = template.replace("@PORT@", &port.to_string());
        for (name, value) in placeholders {
            cfg_text = cfg_text.replace(name, value);
        }
        let cfg = dir.join(config);
        std::fs::write(&cfg, cfg_text).expect("write the kamailio configuration");
        let mut k = Kamailio {
            child: None,
            dir: dir.to_path_buf(),
            cfg,
            port,
            runs: 0,
        };
        k.run();
        k
    }

    fn log_path(&self, run: u32) -> PathBuf {
        self.dir.join(format!("kamailio-{run}.log"))
    }

    fn run(&mut self) {
        let port = self.port;
        assert!(
            super::wait_until(Duration::from_secs(10), || port_free(port)),
            "port {port} (UDP or TCP) is taken: a process of an earlier run?"
        );
        self.runs += 1;
        let log = std::fs::File::create(self.log_path(self.runs)).expect("kamailio log");
        let runtime = self.dir.join("run");
        std::fs::create_dir_all(&runtime).expect("runtime dir");
        let mut command = Command::new("kamailio");
        // SAFETY: prctl is async-signal-safe and touches only the child.
        // Should the test process die without dropping this guard (an abort),
        // Kamailio is told to stop (SIGTERM: it takes its workers with it)
        // rather than holding its ports for the next run.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut command, || {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                // Its own process group, so that stopping it stops its
                // workers too, even when the main process has to be killed.
                libc::setpgid(0, 0);
                Ok(())
            });
        }
        let child = command
            .arg("-f")
            .arg(&self.cfg)
            .args(["-DD", "-E"])
            .arg("-Y")
            .arg(&runtime)
            .arg("-w")
            .arg(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start kamailio");
        self.child = Some(child);
        let started = super::wait_until(Duration::from_secs(10), || {
            self.log().contains("Listening on") || self.log().contains("udp_server")
        });
        assert!(started, "kamailio did not start:\n{}", self.log());
        std::thread::sleep(Duration::from_millis(300));
    }

    /// This run's log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path(self.runs)).unwrap_or_default()
    }

    /// Every run's log.
    pub fn all_logs(&self) -> String {
        (1..=self.runs)
            .map(|r| std::fs::read_to_string(self.log_path(r)).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n--- restart ---\n")
    }

    /// Stop it (its registrations are forgotten: usrloc keeps them in memory).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = child.id() as libc::pid_t;
            // SAFETY: signalling the process group of a child this test
            // started (its pid is the group's id, see `run`).
            unsafe {
                libc::kill(-pid, libc::SIGTERM);
            }
            let deadline = Instant::now() + Duration::from_secs(5);
            loop {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            // Workers that outlived it (a killed main process leaves them
            // holding its sockets) go with the group.
            // SAFETY: as above.
            unsafe {
                libc::kill(-pid, libc::SIGKILL);
            }
            // Its workers leave after it, holding its sockets until they do.
            let port = self.port;
            super::wait_until(Duration::from_secs(10), || port_free(port));
        }
    }

    /// Stop and start again on the same port.
    pub fn restart(&mut self) {
        self.stop();
        self.run();
    }
}

/// Nothing listens on 127.0.0.1:`port`, over UDP or TCP.
fn port_free(port: u16) -> bool {
    std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok()
        && std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
}

impl Drop for Kamailio {
    fn drop(&mut self) {
        self.stop();
    }
}
