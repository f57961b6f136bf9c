//! A headless Chromium driven over WebDriver (Debian's `chromium` and
//! `chromium-driver`, installed by `scripts/test`), for the web pages'
//! tests. The driver runs on a loopback port of its own and is killed, with
//! the browser, when the guard is dropped.

use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};

use super::{have, port_block, wait_until};

/// A running chromedriver.
pub struct Driver {
    child: Child,
    pub url: String,
    profiles: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        // chromedriver runs in its own process group with the browsers it
        // started: end them all.
        // SAFETY: a signal to the process group of a child this test started.
        unsafe {
            libc::kill(-(self.child.id() as i32), libc::SIGKILL);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Driver {
    pub fn start() -> Driver {
        assert!(
            have("chromedriver") && have("chromium"),
            "chromium and chromedriver are not installed: run scripts/test, which installs them"
        );
        let port = port_block() + 50;
        let mut cmd = Command::new("chromedriver");
        cmd.arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let child = cmd.spawn().expect("start chromedriver");
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        assert!(
            wait_until(Duration::from_secs(20), || TcpStream::connect(addr).is_ok()),
            "chromedriver did not listen on {addr}"
        );
        Driver {
            child,
            url: format!("http://{addr}"),
            profiles: tempfile::tempdir().expect("profile folder"),
        }
    }

    /// A new browser (its own profile: no cookie shared with another).
    pub async fn browser(&self, lang: &str) -> Client {
        let profile: PathBuf = self.profiles.path().join(super::caller::rand_hex());
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--no-first-run",
                    "--window-size=1100,900",
                    format!("--lang={lang}"),
                    format!("--user-data-dir={}", profile.display()),
                ],
                "prefs": { "intl.accept_languages": lang },
            }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&self.url)
            .await
            .expect("a browser session")
    }
}

/// The text of the element `css`, or "" when there is none.
pub async fn text_of(c: &Client, css: &str) -> String {
    match c.find(Locator::Css(css)).await {
        Ok(e) => e.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

/// The page's whole text.
pub async fn page_text(c: &Client) -> String {
    text_of(c, "body").await
}

/// Wait (at most `limit`) until the element `css` exists; true when it does.
pub async fn wait_for(c: &Client, css: &str, limit: Duration) -> bool {
    let start = std::time::Instant::now();
    while start.elapsed() < limit {
        if c.find(Locator::Css(css)).await.is_ok() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    false
}

/// Wait (at most `limit`) until the page's text contains `text`: after a
/// click that posts a form, the next page comes when the server has
/// answered (a password check takes a while), not when the click returns.
pub async fn wait_page_contains(c: &Client, text: &str, limit: Duration) -> bool {
    let start = std::time::Instant::now();
    while start.elapsed() < limit {
        if page_text(c).await.contains(text) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    false
}

/// Wait (at most `limit`) until the text of `css` ends with `end`.
pub async fn wait_text_ends(c: &Client, css: &str, end: &str, limit: Duration) -> bool {
    let start = std::time::Instant::now();
    while start.elapsed() < limit {
        if text_of(c, css).await.ends_with(end) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    false
}

/// Save a screenshot of the page as `name`.png into the folder named by
/// `SENIM_SCREENSHOTS` (the docs' pictures are made this way), if set.
pub async fn screenshot(c: &Client, name: &str) {
    let Ok(dir) = std::env::var("SENIM_SCREENSHOTS") else {
        return;
    };
    let dir = PathBuf::from(dir);
    let _ = std::fs::create_dir_all(&dir);
    if let Ok(png) = c.screenshot().await {
        let _ = std::fs::write(dir.join(format!("{name}.png")), png);
    }
}
