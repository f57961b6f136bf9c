//! HTTPS for the HTTP listener (`[http] tls_cert` and `tls_key`): rustls
//! through `axum-server`, the certificate and key read from PEM files at
//! start and read again when they change (a renewed certificate is served
//! without a restart; connections already open keep theirs).
//!
//! The decision when to reload is [`ReloadWatch`], pure and tested with
//! made-up file stamps; [`watch`] is the thin tokio loop that feeds it the
//! files' stamps every few seconds and loads what it says.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use axum_server::tls_rustls::RustlsConfig;

/// Why the certificate or key could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file cannot be read.
    #[error("{key} {path}: cannot read: {source}")]
    Read {
        key: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// The files are read but rustls refuses them (not PEM, no certificate,
    /// no key, a key that does not belong to the certificate).
    #[error("http.tls_cert {cert} and http.tls_key {key}: not a usable PEM certificate and key: {message}")]
    Unusable {
        cert: PathBuf,
        key: PathBuf,
        message: String,
    },
}

/// The certificate chain and key files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TlsFiles {
    /// Read and check both files: the TLS configuration to serve with.
    pub async fn load(&self) -> Result<RustlsConfig, TlsError> {
        let (cert, key) = self.read().await?;
        RustlsConfig::from_pem(cert, key)
            .await
            .map_err(|e| self.unusable(e))
    }

    /// Read both files again into `config`; on any fault `config` is left
    /// as it was.
    pub async fn reload(&self, config: &RustlsConfig) -> Result<(), TlsError> {
        let (cert, key) = self.read().await?;
        config
            .reload_from_pem(cert, key)
            .await
            .map_err(|e| self.unusable(e))
    }

    async fn read(&self) -> Result<(Vec<u8>, Vec<u8>), TlsError> {
        let read = |key: &'static str, path: &Path| {
            let path = path.to_path_buf();
            async move {
                tokio::fs::read(&path)
                    .await
                    .map_err(|source| TlsError::Read { key, path, source })
            }
        };
        let cert = read("http.tls_cert", &self.cert).await?;
        let key = read("http.tls_key", &self.key).await?;
        if !String::from_utf8_lossy(&cert).contains("-----BEGIN CERTIFICATE-----") {
            return Err(self.unusable("no PEM certificate in the certificate file"));
        }
        Ok((cert, key))
    }

    fn unusable(&self, message: impl std::fmt::Display) -> TlsError {
        TlsError::Unusable {
            cert: self.cert.clone(),
            key: self.key.clone(),
            message: message.to_string(),
        }
    }

    /// What the two files look like now (modification time and length).
    fn stamp(&self) -> Stamp {
        let one = |p: &Path| {
            std::fs::metadata(p)
                .ok()
                .map(|m| (m.modified().ok(), m.len()))
        };
        Stamp(one(&self.cert), one(&self.key))
    }
}

/// The modification times and lengths of the two files (`None`: missing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamp(FileStamp, FileStamp);

type FileStamp = Option<(Option<SystemTime>, u64)>;

/// When to reload: whenever the files look different from the ones last
/// loaded. A failed load is tried again on the next look (a renewal may
/// write the certificate and the key one after the other), but reported
/// only once per change, so a broken file does not flood the log.
#[derive(Debug, Clone)]
pub struct ReloadWatch {
    loaded: Stamp,
    reported: Option<Stamp>,
}

/// What to do after a look at the files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Look {
    /// Unchanged since the last load.
    Nothing,
    /// Changed: load them.
    Reload,
}

impl ReloadWatch {
    /// Watching files as loaded at start.
    pub fn new(loaded: Stamp) -> ReloadWatch {
        ReloadWatch {
            loaded,
            reported: None,
        }
    }

    pub fn look(&self, now: &Stamp) -> Look {
        if *now == self.loaded {
            Look::Nothing
        } else {
            Look::Reload
        }
    }

    /// The load of files that looked like `stamp` succeeded.
    pub fn loaded(&mut self, stamp: Stamp) {
        self.loaded = stamp;
        self.reported = None;
    }

    /// The load of files that looked like `stamp` failed: should it be
    /// reported (the first failure for this look of the files)?
    pub fn failed(&mut self, stamp: Stamp) -> bool {
        let first = self.reported.as_ref() != Some(&stamp);
        self.reported = Some(stamp);
        first
    }
}

/// How often the files are looked at.
pub const WATCH_EVERY: Duration = Duration::from_secs(2);

/// Reload `config` from `files` whenever they change, until the task is
/// dropped. A file that cannot be used is logged and the certificate in
/// use stays.
pub async fn watch(files: TlsFiles, config: RustlsConfig) {
    let mut w = ReloadWatch::new(files.stamp());
    let mut tick = tokio::time::interval(WATCH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tick.tick().await;
        let now = files.stamp();
        if w.look(&now) == Look::Nothing {
            continue;
        }
        match files.reload(&config).await {
            Ok(()) => {
                tracing::info!(cert = %files.cert.display(), "HTTPS certificate reloaded");
                w.loaded(now);
            }
            Err(e) => {
                if w.failed(now) {
                    tracing::error!(error = %e, "HTTPS certificate not reloaded; the one in use stays");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(cert: u64, key: u64) -> Stamp {
        Stamp(Some((None, cert)), Some((None, key)))
    }

    #[test]
    fn a_change_reloads_and_a_failure_is_reported_once_and_tried_again() {
        let mut w = ReloadWatch::new(stamp(1, 1));
        assert_eq!(w.look(&stamp(1, 1)), Look::Nothing);
        // The certificate is rewritten, the key not yet: the load fails.
        assert_eq!(w.look(&stamp(2, 1)), Look::Reload);
        assert!(w.failed(stamp(2, 1)), "reported");
        assert_eq!(w.look(&stamp(2, 1)), Look::Reload, "tried again");
        assert!(!w.failed(stamp(2, 1)), "not reported twice");
        // Then the key: the pair loads.
        assert_eq!(w.look(&stamp(2, 2)), Look::Reload);
        w.loaded(stamp(2, 2));
        assert_eq!(w.look(&stamp(2, 2)), Look::Nothing);
        // A later fault is reported again.
        assert!(w.failed(stamp(3, 2)));
        // A file deleted is a change too (and fails to load).
        assert_eq!(w.look(&Stamp(None, Some((None, 2)))), Look::Reload);
    }

    fn pem_pair(name: &str) -> (String, String) {
        let c = rcgen::generate_simple_self_signed(vec![name.to_string()]).expect("certificate");
        (c.cert.pem(), c.signing_key.serialize_pem())
    }

    #[tokio::test]
    async fn files_are_checked_and_reloaded_only_when_usable() {
        let dir = tempfile::tempdir().expect("tempdir");
        let files = TlsFiles {
            cert: dir.path().join("cert.pem"),
            key: dir.path().join("key.pem"),
        };
        // Missing files name the key.
        let e = files.load().await.expect_err("missing");
        assert!(e.to_string().contains("http.tls_cert"), "{e}");
        let (cert, key) = pem_pair("localhost");
        std::fs::write(&files.cert, &cert).expect("write");
        let e = files.load().await.expect_err("no key");
        assert!(e.to_string().contains("http.tls_key"), "{e}");
        std::fs::write(&files.key, &key).expect("write");
        let config = files.load().await.expect("usable");
        // Garbage, or a key of another certificate, is refused and the
        // configuration in use stays.
        let before = config.get_inner();
        std::fs::write(&files.cert, "not a certificate").expect("write");
        assert!(files.reload(&config).await.is_err());
        let (_, other_key) = pem_pair("localhost");
        std::fs::write(&files.cert, &cert).expect("write");
        std::fs::write(&files.key, &other_key).expect("write");
        let e = files.reload(&config).await.expect_err("mismatched key");
        assert!(e.to_string().contains("not a usable"), "{e}");
        assert!(std::sync::Arc::ptr_eq(&before, &config.get_inner()));
        // A new pair is taken.
        let (cert2, key2) = pem_pair("localhost");
        std::fs::write(&files.cert, &cert2).expect("write");
        std::fs::write(&files.key, &key2).expect("write");
        files.reload(&config).await.expect("reloaded");
        assert!(!std::sync::Arc::ptr_eq(&before, &config.get_inner()));
    }
}
