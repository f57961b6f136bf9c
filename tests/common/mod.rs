//! Shared helpers for the end-to-end tests: start the real `senim` binary on
//! free loopback ports in its own directory, run SIPp against it, read the
//! call records. Everything started is killed when its guard is dropped.
#![allow(dead_code)]

pub mod baresip;
pub mod browser;
pub mod caller;
pub mod capture;
pub mod kamailio;
pub mod netns;
pub mod nfqueue;
pub mod phone;
pub mod postgres;
pub mod walks;

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Row};

/// Blocks of ports handed to each test so parallel tests never collide.
static NEXT_BLOCK: AtomicU16 = AtomicU16::new(0);

/// The lock files of the blocks this process holds (locked until it exits).
static HELD: std::sync::Mutex<Vec<std::fs::File>> = std::sync::Mutex::new(Vec::new());

/// Blocks between 21000 and 32500, below the kernel's ephemeral ports.
const BLOCKS: u16 = 115;

/// A block of 100 ports: [base, base+100). Within one test binary, blocks
/// differ; across test processes running at the same time (two checkouts
/// tested at once), a lock file per block in the temporary directory keeps
/// each block to one process.
pub fn port_block() -> u16 {
    let dir = std::env::temp_dir().join("senim-test-ports");
    let _ = std::fs::create_dir_all(&dir);
    for _ in 0..BLOCKS {
        let n = NEXT_BLOCK.fetch_add(1, Ordering::Relaxed) % BLOCKS;
        let base = 21000 + n * 100;
        let Ok(file) = std::fs::File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(format!("{base}.lock")))
        else {
            return base;
        };
        // SAFETY: flock on a descriptor this process owns and keeps open.
        let locked = unsafe {
            libc::flock(
                std::os::fd::AsRawFd::as_raw_fd(&file),
                libc::LOCK_EX | libc::LOCK_NB,
            )
        } == 0;
        if locked {
            HELD.lock().unwrap_or_else(|e| e.into_inner()).push(file);
            return base;
        }
    }
    panic!("every port block is taken by other test processes");
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The callers' numbers the tests use (From of the test callers and of the
/// SIPp scenarios, numbers typed for a callback), one a line in
/// `tests/caller-numbers.txt`. Senim must never log one: `scripts/test`
/// scans every Senim log of the run for them (`scripts/scan-test-logs`).
/// A test that makes up a new caller's number adds it there.
pub const CALLER_NUMBERS: &str = include_str!("../caller-numbers.txt");

/// The callers' numbers of [`CALLER_NUMBERS`], as written there.
pub fn caller_numbers() -> Vec<&'static str> {
    CALLER_NUMBERS
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

/// Where every Senim the tests start writes its log, kept for the whole
/// run: `$SENIM_TEST_LOGS` (set by `scripts/test`, which clears it first
/// and scans it last), else `senim-test-logs` in cargo's temporary
/// directory for tests.
pub fn test_logs_dir() -> PathBuf {
    std::env::var_os("SENIM_TEST_LOGS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("senim-test-logs"))
}

/// Senim processes started by this test process, to name their logs.
static STARTED: AtomicU16 = AtomicU16::new(0);

/// A new log file's path in [`test_logs_dir`], named after the test binary,
/// the test (its thread's name), the process and a count.
fn new_log_path() -> PathBuf {
    let dir = test_logs_dir();
    let _ = std::fs::create_dir_all(&dir);
    let binary = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().to_string()))
        .unwrap_or_else(|| "tests".into());
    let binary = binary.split('-').next().unwrap_or("tests").to_string();
    let test: String = std::thread::current()
        .name()
        .unwrap_or("main")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let n = STARTED.fetch_add(1, Ordering::Relaxed);
    dir.join(format!("{binary}.{test}.{}.{n}.log", std::process::id()))
}

/// A command for `program`, run through `prefix` when it is not empty
/// (for example `ip netns exec NAME`, [`netns::Netns::prefix`]).
pub fn command_in(prefix: &[String], program: impl AsRef<OsStr>) -> Command {
    match prefix.split_first() {
        None => Command::new(program),
        Some((first, rest)) => {
            let mut cmd = Command::new(first);
            cmd.args(rest).arg(program);
            cmd
        }
    }
}

/// A running Senim; killed on drop.
pub struct Senim {
    child: Child,
    pub sip: SocketAddr,
    pub http: SocketAddr,
    /// SIP over TLS, when the configuration turns it on.
    pub tls: Option<SocketAddr>,
    pub dir: tempfile::TempDir,
    pub db_path: PathBuf,
    /// The database Senim writes: `sqlite://<db_path>`, or a PostgreSQL
    /// database of its own when the suite runs on PostgreSQL
    /// (`SENIM_TEST_POSTGRES`, see [`test_database_url`]).
    pub db_url: String,
    pub rtp_base: u16,
    log: PathBuf,
    /// How it was started, for `restart`.
    config: Option<String>,
    env: Vec<(String, String)>,
    /// The command prefix it runs under (empty: none); the SIPp callers
    /// of [`sipp`] run under the same one, to reach it.
    pub prefix: Vec<String>,
}

impl Senim {
    /// Start Senim with its defaults except ports and files, and the test plan
    /// `tests/dialplans/menu.xml` (greeting, main menu, goodbye: the same at
    /// every hour); `extra_env` on top.
    pub fn start(extra_env: &[(&str, &str)]) -> Senim {
        let plan = repo_root().join("tests/dialplans/menu.xml");
        let plan = plan.display().to_string();
        let mut env: Vec<(&str, &str)> = vec![("SENIM_DIALPLAN", plan.as_str())];
        env.extend_from_slice(extra_env);
        Self::start_with(None, &env)
    }

    /// Start Senim with a configuration file made of `config` (TOML). When
    /// its ports are taken by something else on the machine, try another block.
    pub fn start_with(config: Option<&str>, extra_env: &[(&str, &str)]) -> Senim {
        let env: Vec<(String, String)> = extra_env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Self::start_in(None, config, env, Vec::new())
    }

    /// As [`Senim::start_with`], run through `prefix` (for example inside a
    /// network namespace: [`netns::Netns::prefix`]). Its process is Senim's
    /// own once the prefix execs it, as `ip netns exec` does.
    pub fn start_inside(
        prefix: &[String],
        config: Option<&str>,
        extra_env: &[(&str, &str)],
    ) -> Senim {
        let env: Vec<(String, String)> = extra_env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Self::start_in(None, config, env, prefix.to_vec())
    }

    /// Start again in the same folder (database, keys, voice messages) with
    /// the same configuration, after `stop` or a kill.
    pub fn restart(mut self) -> Senim {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().expect("tempdir"));
        let config = self.config.take();
        let mut env = std::mem::take(&mut self.env);
        // The same database again.
        if !env.iter().any(|(k, _)| k == "SENIM_DATABASE_URL") {
            env.push(("SENIM_DATABASE_URL".into(), self.db_url.clone()));
        }
        let prefix = std::mem::take(&mut self.prefix);
        Self::start_in(Some(dir), config.as_deref(), env, prefix)
    }

    fn start_in(
        mut dir: Option<tempfile::TempDir>,
        config: Option<&str>,
        env: Vec<(String, String)>,
        prefix: Vec<String>,
    ) -> Senim {
        let mut last = String::new();
        for _ in 0..5 {
            let folder = dir
                .take()
                .unwrap_or_else(|| tempfile::tempdir().expect("tempdir"));
            match Self::try_start(folder, config, &env, &prefix) {
                Ok(s) => return s,
                Err((folder, log)) if log.contains("Address already in use") => {
                    dir = Some(folder);
                    last = log;
                }
                Err((_, log)) => panic!("senim did not become ready; its log:\n{log}"),
            }
        }
        panic!("senim found no free ports; its last log:\n{last}");
    }

    fn try_start(
        dir: tempfile::TempDir,
        config: Option<&str>,
        extra_env: &[(String, String)],
        prefix: &[String],
    ) -> Result<Senim, (tempfile::TempDir, String)> {
        let base = port_block();
        let db_path = dir.path().join("senim.db");
        // A test of SQLite's own behaviour asks for it with `ON_SQLITE`.
        let db_url = match extra_env.iter().find(|(k, _)| k == "SENIM_DATABASE_URL") {
            Some((_, url)) => url.clone(),
            None if extra_env.iter().any(|(k, _)| k == ON_SQLITE.0) => {
                format!("sqlite://{}", db_path.display())
            }
            None => test_database_url(&db_path),
        };
        let log = new_log_path();
        let log_file = std::fs::File::create(&log).expect("log file");
        let mut cmd = command_in(prefix, env!("CARGO_BIN_EXE_senim"));
        cmd.arg("serve");
        if let Some(text) = config {
            let path = dir.path().join("senim.toml");
            std::fs::write(&path, text).expect("write config");
            // Next to the log: the numbers it configures (specialists',
            // partners', lines') are not callers' numbers for the scan.
            let _ = std::fs::write(log.with_extension("toml"), text);
            cmd.arg("--config").arg(path);
        }
        cmd.current_dir(dir.path())
            .env("SENIM_SIP_LISTEN", format!("127.0.0.1:{}", base))
            .env("SENIM_HTTP_LISTEN", "127.0.0.1:0")
            .env("SENIM_DATABASE_URL", &db_url)
            .env("SENIM_DATA_DIR", dir.path())
            .env("SENIM_RTP_PORTS", format!("{}-{}", base + 50, base + 99))
            .env("RUST_LOG", "senim=debug,info")
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_file));
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start senim");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("senim ready ") {
                    let _ = tx.send(rest.to_string());
                }
            }
        });
        let ready = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(r) => r,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                return Err((dir, text));
            }
        };
        let mut sip = None;
        let mut http = None;
        let mut tls = None;
        for part in ready.split_whitespace() {
            if let Some(v) = part.strip_prefix("tls=") {
                tls = v.parse().ok();
            }
            if let Some(v) = part.strip_prefix("sip=") {
                sip = v.parse().ok();
            }
            if let Some(v) = part.strip_prefix("http=") {
                http = v.parse().ok();
            }
        }
        Ok(Senim {
            child,
            sip: sip.expect("sip address"),
            http: http.expect("http address"),
            tls,
            dir,
            db_path,
            db_url,
            rtp_base: base,
            log,
            config: config.map(str::to_string),
            env: extra_env.to_vec(),
            prefix: prefix.to_vec(),
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Kill the process (SIGKILL) and wait for it to end.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Send SIGTERM and wait for the process to end.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("senim did not stop after SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Senim's database, to read (SQLite: read-only).
    pub async fn db(&self) -> AnyPool {
        let url = if self.db_url.starts_with("sqlite:") {
            format!("{}?mode=ro", self.db_url)
        } else {
            self.db_url.clone()
        };
        connect_any(&url).await
    }

    /// Senim's database, to write (a test that prepares rows).
    pub async fn db_rw(&self) -> AnyPool {
        connect_any(&self.db_url).await
    }

    /// Wait until `n` calls have ended and return their records, oldest first.
    pub async fn ended_calls(&self, n: usize) -> Vec<CallRecord> {
        let pool = self.db().await;
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let rows = sqlx::query(
                "SELECT id, language, outcome, hangup_by, codec, dtmf_mode, transport, caller_hash, answered_at
                 FROM calls WHERE ended_at IS NOT NULL ORDER BY arrived_at",
            )
            .fetch_all(&pool)
            .await
            .expect("query calls");
            if rows.len() >= n {
                let mut out = Vec::new();
                for r in rows {
                    let id: String = r.get("id");
                    let digits = sqlx::query(
                        "SELECT digit, source, menu FROM call_digits WHERE call_id = $1 ORDER BY seq",
                    )
                    .bind(&id)
                    .fetch_all(&pool)
                    .await
                    .expect("query digits")
                    .into_iter()
                    .map(|d| (d.get::<String, _>("digit"), d.get::<String, _>("source")))
                    .collect();
                    let steps = sqlx::query(
                        "SELECT menu, what FROM call_steps WHERE call_id = $1 ORDER BY seq",
                    )
                    .bind(&id)
                    .fetch_all(&pool)
                    .await
                    .expect("query steps")
                    .into_iter()
                    .map(|d| {
                        format!(
                            "{}: {}",
                            d.get::<String, _>("menu"),
                            d.get::<String, _>("what")
                        )
                    })
                    .collect();
                    out.push(CallRecord {
                        id,
                        language: r.get("language"),
                        outcome: r.get("outcome"),
                        hangup_by: r.get("hangup_by"),
                        codec: r.get("codec"),
                        dtmf_mode: r.get("dtmf_mode"),
                        transport: r.get("transport"),
                        caller_hash: r.get("caller_hash"),
                        answered: r.get::<Option<i64>, _>("answered_at").is_some(),
                        digits,
                        steps,
                    });
                }
                return out;
            }
            if Instant::now() > deadline {
                panic!(
                    "only {} of {n} calls ended in time; senim log:\n{}",
                    rows.len(),
                    self.log()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Senim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug, Clone)]
pub struct CallRecord {
    pub id: String,
    pub language: Option<String>,
    pub outcome: Option<String>,
    pub hangup_by: Option<String>,
    pub codec: Option<String>,
    pub dtmf_mode: Option<String>,
    pub transport: String,
    pub caller_hash: Option<String>,
    pub answered: bool,
    /// (digit, source)
    pub digits: Vec<(String, String)>,
    pub steps: Vec<String>,
}

/// Every call's path through the menus (`call_steps`), oldest first, as
/// "menu: what". For synchronous tests (it runs its own runtime).
pub fn call_steps(senim: &Senim) -> Vec<String> {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let pool = senim.db().await;
        sqlx::query("SELECT menu, what FROM call_steps ORDER BY at, seq")
            .fetch_all(&pool)
            .await
            .map(|rows| {
                rows.into_iter()
                    .map(|r| {
                        format!(
                            "{}: {}",
                            r.get::<String, _>("menu"),
                            r.get::<String, _>("what")
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    })
}

/// A token made by `senim token`: (the token, its `[[api.token]]` entry).
pub fn make_token(name: &str, role: &str, specialist: Option<&str>) -> (String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_senim"));
    cmd.args(["token", "--name", name, "--role", role]);
    if let Some(id) = specialist {
        cmd.args(["--specialist", id]);
    }
    let out = cmd.output().expect("run senim token");
    assert!(out.status.success(), "senim token failed: {out:?}");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let token = text
        .lines()
        .next()
        .and_then(|l| l.rsplit(' ').next())
        .expect("token line")
        .to_string();
    assert!(token.starts_with("senim_") && token.len() == 70, "{text}");
    let entry = text[text.find("[[api.token]]").expect("entry")..].to_string();
    (token, entry)
}

/// Is a program on PATH?
pub fn have(program: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {program}"))
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Result of one SIPp run.
pub struct SippRun {
    pub success: bool,
    pub output: String,
    pub dir: PathBuf,
}

/// Run a SIPp scenario from tests/scenarios against Senim, one call, and wait
/// for it (at most `limit`). `local` is a port block for SIPp's own ports.
/// SIPp runs under Senim's command prefix (in its network namespace, if any).
pub fn sipp(senim: &Senim, scenario: &str, extra: &[&str], limit: Duration) -> SippRun {
    sipp_file(
        senim,
        &repo_root().join("tests/scenarios").join(scenario),
        extra,
        limit,
    )
}

/// Run a SIPp scenario file (for example one written by the test). When
/// SIPp's ports are taken by something else on the machine, try another block.
pub fn sipp_file(senim: &Senim, scenario_path: &Path, extra: &[&str], limit: Duration) -> SippRun {
    let mut run = sipp_once(senim, scenario_path, extra, limit);
    for _ in 0..4 {
        if run.success || !run.output.contains("Address already in use") {
            break;
        }
        run = sipp_once(senim, scenario_path, extra, limit);
    }
    run
}

fn sipp_once(senim: &Senim, scenario_path: &Path, extra: &[&str], limit: Duration) -> SippRun {
    assert!(
        have("sipp"),
        "sipp is not installed: run scripts/test, which installs it"
    );
    let local = port_block();
    let scenario = scenario_path.file_name().map_or_else(
        || "scenario".to_string(),
        |n| n.to_string_lossy().to_string(),
    );
    let dir = senim.dir.path().join(format!("sipp-{scenario}-{local}"));
    std::fs::create_dir_all(&dir).expect("sipp dir");
    let mut cmd = command_in(&senim.prefix, "sipp");
    cmd.arg(senim.sip.to_string())
        .arg("-sf")
        .arg(scenario_path)
        .args(["-m", "1", "-l", "1", "-i", "127.0.0.1"])
        .args(["-p", &local.to_string()])
        .args(["-mp", &(local + 10).to_string()])
        .args(["-timeout", &format!("{}s", limit.as_secs())])
        .arg("-timeout_error")
        .arg("-trace_err")
        .arg("-trace_msg")
        .arg("-nostdin")
        .args(extra)
        .current_dir(repo_root())
        .stdin(Stdio::null());
    // SIPp writes its traces next to the scenario unless told otherwise.
    cmd.arg("-error_file").arg(dir.join("errors.log"));
    cmd.arg("-message_file").arg(dir.join("messages.log"));
    let out = cmd.output().expect("run sipp");
    let mut output = String::from_utf8_lossy(&out.stdout).to_string();
    output.push_str(&String::from_utf8_lossy(&out.stderr));
    for f in ["errors.log", "messages.log"] {
        if let Ok(t) = std::fs::read_to_string(dir.join(f)) {
            output.push_str(&format!("\n--- {f} ---\n{t}"));
        }
    }
    SippRun {
        success: out.status.success(),
        output,
        dir,
    }
}

pub fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

pub fn path_str(p: &Path) -> String {
    p.display().to_string()
}

/// A SIPp caller scenario that presses `keys` by SIP INFO, each after its
/// pause in milliseconds, then waits up to `bye_within` for Senim's BYE.
/// Built from tests/scenarios/caller_info.xml (its INVITE, ACK and BYE parts).
pub fn info_keys_scenario(keys: &[(u64, char)], bye_within: Duration) -> String {
    let base = std::fs::read_to_string(repo_root().join("tests/scenarios/caller_info.xml"))
        .expect("caller_info.xml");
    let head_end = base
        .find("  <!-- Listen to the greeting")
        .expect("caller_info.xml has the greeting marker");
    let tail_start = base
        .find("  <!-- Senim plays goodbye and hangs up. -->")
        .expect("caller_info.xml has the goodbye marker");
    let mut out = base[..head_end].to_string();
    for (i, (pause, key)) in keys.iter().enumerate() {
        let cseq = i + 2;
        out.push_str(&format!(
            r#"  <pause milliseconds="{pause}"/>
  <send retrans="500" start_txn="info{cseq}">
    <![CDATA[

      INFO [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      [routes]
      From: "Senim test caller" <sip:+77770000001@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      [last_To:]
      Call-ID: [call_id]
      CSeq: {cseq} INFO
      Contact: <sip:+77770000001@[local_ip]:[local_port];transport=[transport]>
      Max-Forwards: 70
      Content-Type: application/dtmf-relay
      Content-Length: [len]

      Signal={key}
      Duration=160

    ]]>
  </send>
  <recv response="200" response_txn="info{cseq}"/>

"#
        ));
    }
    out.push_str(&base[tail_start..].replace(
        r#"<recv request="BYE" timeout="30000"/>"#,
        &format!(
            r#"<recv request="BYE" timeout="{}"/>"#,
            bye_within.as_millis()
        ),
    ));
    out
}

/// An HTTP/1.1 request with extra headers (`("Authorization", "Bearer x")`)
/// and a body; returns the status, the response headers (names in lower
/// case) and the body.
pub fn http_with(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, Vec<(String, String)>, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connect http");
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let mut request =
        format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    s.write_all(request.as_bytes()).expect("write");
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let out = String::from_utf8_lossy(&out).to_string();
    let code = out.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    let (head, mut rest) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    let response_headers: Vec<(String, String)> = head
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let chunked = response_headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"));
    let mut body = String::new();
    if chunked {
        // Chunk sizes in hex, each chunk followed by CRLF; a 0 chunk ends it.
        while let Some((size, tail)) = rest.split_once("\r\n") {
            let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
            if n == 0 || tail.len() < n {
                break;
            }
            body.push_str(&tail[..n]);
            rest = tail[n..].strip_prefix("\r\n").unwrap_or(&tail[n..]);
        }
    } else {
        body = rest.to_string();
    }
    (code, response_headers, body)
}

/// A request with `Authorization: Bearer {token}` and no body; returns the
/// status and the body.
pub fn http_as(addr: SocketAddr, method: &str, path: &str, token: &str) -> (u16, String) {
    let auth = format!("Bearer {token}");
    let (code, _, body) = http_with(addr, method, path, &[("Authorization", &auth)], "");
    (code, body)
}

/// A plain HTTP/1.1 request; returns the status and the whole response text.
pub fn http(addr: SocketAddr, method: &str, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connect http");
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    // A listener that closes at once (an HTTPS one, to plain HTTP) may
    // break the pipe before the request is written: no answer, status 0.
    if write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .is_err()
    {
        return (0, String::new());
    }
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    let code = out.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    (code, out)
}

/// A pool on a database URL of either engine.
pub async fn connect_any(url: &str) -> AnyPool {
    sqlx::any::install_default_drivers();
    AnyPoolOptions::new()
        .max_connections(1)
        .connect(url)
        .await
        .unwrap_or_else(|e| panic!("open {url}: {e}"))
}

/// Give this in a test's environment to run its Senim on SQLite even when
/// the suite runs on PostgreSQL (a test of SQLite's own locks or files).
pub const ON_SQLITE: (&str, &str) = ("SENIM_TEST_ON_SQLITE", "1");

/// Whether the suite runs on PostgreSQL: `SENIM_TEST_POSTGRES` names a
/// server (scripts/test starts a throwaway one with scripts/postgres).
pub fn on_postgres() -> bool {
    std::env::var("SENIM_TEST_POSTGRES").is_ok_and(|s| !s.is_empty())
}

/// The database for a new Senim: SQLite at `db_path`, or a new database
/// of its own on the PostgreSQL server `SENIM_TEST_POSTGRES` names.
pub fn test_database_url(db_path: &Path) -> String {
    match std::env::var("SENIM_TEST_POSTGRES") {
        Ok(server) if !server.is_empty() => new_postgres_database(&server),
        _ => format!("sqlite://{}", db_path.display()),
    }
}

/// Create an empty database on a PostgreSQL server (with `psql`) and
/// return its URL.
pub fn new_postgres_database(server: &str) -> String {
    let name = format!("senim_e2e_{}", uuid::Uuid::new_v4().simple());
    let out = Command::new("psql")
        .arg(server)
        .args(["-v", "ON_ERROR_STOP=1", "-q", "-c"])
        .arg(format!("CREATE DATABASE {name}"))
        .output()
        .expect("run psql");
    assert!(
        out.status.success(),
        "create a test database: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    match server.rfind('/') {
        Some(i) => format!("{}/{name}", &server[..i]),
        None => panic!("SENIM_TEST_POSTGRES {server:?} names no database"),
    }
}
