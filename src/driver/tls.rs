//! SIP over TLS (rustls with the ring provider): the listener's certificate
//! and key, read from PEM files at start and read again when they change,
//! and the client side for trunks reached over TLS.
//!
//! The listener's rustls configuration is built once; its certificate comes
//! from a [`CertStore`] that [`watch`] swaps when the files change (a renewed
//! certificate is served to new connections without a restart; open
//! connections keep theirs). A file that cannot be used leaves the
//! certificate in use as it was, and is logged. When to reload is decided
//! by [`ReloadWatch`], pure and tested with made-up file stamps.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

/// How often the certificate and key files are looked at.
pub const WATCH_EVERY: Duration = Duration::from_secs(2);

/// CA bundles of the system, tried in order when a TLS trunk has no
/// `tls_ca` (Debian and Ubuntu, then Fedora and RHEL, then Alpine and SUSE).
pub const SYSTEM_CA_BUNDLES: [&str; 3] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
];

/// Why a certificate, a key or a CA file could not be used. Each names the
/// configuration key of the file.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file cannot be read.
    #[error("{key} {path}: cannot read: {source}")]
    Read {
        key: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// The certificate (or CA) file holds no PEM certificate, or a broken one.
    #[error("{key} {path}: no PEM certificate (-----BEGIN CERTIFICATE-----) in it{detail}")]
    NoCertificate {
        key: &'static str,
        path: PathBuf,
        detail: String,
    },
    /// The key file holds no PEM private key (PKCS#8, PKCS#1 RSA or SEC1 EC).
    #[error("{key} {path}: no PEM private key (PKCS#8, RSA or EC) in it")]
    NoKey { key: &'static str, path: PathBuf },
    /// The key is of a kind rustls cannot sign with, or the certificate is
    /// not one it can parse.
    #[error("{key} {path}: not usable: {message}")]
    Unusable {
        key: &'static str,
        path: PathBuf,
        message: String,
    },
    /// The key does not belong to the certificate.
    #[error("{key_key} {key_path} is not the private key of {cert_key} {cert_path}")]
    Mismatch {
        cert_key: &'static str,
        cert_path: PathBuf,
        key_key: &'static str,
        key_path: PathBuf,
    },
    /// A name to check a trunk's certificate against is not a host name or
    /// an IP address.
    #[error(
        "{key}: {name:?} is not a host name or an IP address to check the certificate against"
    )]
    BadName { key: &'static str, name: String },
    /// No CA file given and none of the system's bundles found.
    #[error(
        "{key}: not set, and no system CA bundle found (looked for {}); give the CA \
         that signed the trunk's certificate",
        SYSTEM_CA_BUNDLES.join(", ")
    )]
    NoSystemBundle { key: &'static str },
    /// rustls refused the protocol versions of the provider (not expected).
    #[error("TLS setup: {0}")]
    Setup(String),
}

/// The listener's certificate chain and key files (`[sip] tls_cert`, `tls_key`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

const CERT_KEY: &str = "sip.tls_cert";
const KEY_KEY: &str = "sip.tls_key";

fn read(key: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        key,
        path: path.to_path_buf(),
        source,
    })
}

/// Every PEM certificate in `pem`; an error when there is none.
fn certificates(
    key: &'static str,
    path: &Path,
    pem: &[u8],
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let no_certificate = |detail: String| TlsError::NoCertificate {
        key,
        path: path.to_path_buf(),
        detail,
    };
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| no_certificate(format!(": {e}")))?;
    if certs.is_empty() {
        return Err(no_certificate(String::new()));
    }
    Ok(certs)
}

/// The ring provider all of Senim's TLS uses.
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl TlsFiles {
    /// Read both files and check them: a chain of PEM certificates, a PEM
    /// private key of a kind rustls signs with, the key belonging to the
    /// first certificate.
    pub fn load(&self) -> Result<Arc<CertifiedKey>, TlsError> {
        let cert_pem = read(CERT_KEY, &self.cert)?;
        let key_pem = read(KEY_KEY, &self.key)?;
        let chain = certificates(CERT_KEY, &self.cert, &cert_pem)?;
        let private = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|_| TlsError::NoKey {
            key: KEY_KEY,
            path: self.key.clone(),
        })?;
        let signing = provider()
            .key_provider
            .load_private_key(private)
            .map_err(|e| TlsError::Unusable {
                key: KEY_KEY,
                path: self.key.clone(),
                message: e.to_string(),
            })?;
        let certified = CertifiedKey::new(chain, signing);
        match certified.keys_match() {
            Ok(()) => Ok(Arc::new(certified)),
            Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
                Err(TlsError::Mismatch {
                    cert_key: CERT_KEY,
                    cert_path: self.cert.clone(),
                    key_key: KEY_KEY,
                    key_path: self.key.clone(),
                })
            }
            // The key cannot tell its public half: nothing to compare.
            Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {
                Ok(Arc::new(certified))
            }
            Err(e) => Err(TlsError::Unusable {
                key: CERT_KEY,
                path: self.cert.clone(),
                message: e.to_string(),
            }),
        }
    }

    /// What the two files look like now (modification time and length).
    pub fn stamp(&self) -> Stamp {
        let one = |p: &Path| {
            std::fs::metadata(p)
                .ok()
                .map(|m| (m.modified().ok(), m.len()))
        };
        Stamp(one(&self.cert), one(&self.key))
    }
}

/// The certificate the listener serves now; swapped on reload.
#[derive(Debug)]
pub struct CertStore {
    current: RwLock<Arc<CertifiedKey>>,
}

impl CertStore {
    pub fn new(first: Arc<CertifiedKey>) -> Arc<CertStore> {
        Arc::new(CertStore {
            current: RwLock::new(first),
        })
    }

    /// The certificate served from now on.
    pub fn replace(&self, next: Arc<CertifiedKey>) {
        *self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = next;
    }

    /// The certificate served now.
    pub fn current(&self) -> Arc<CertifiedKey> {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

/// The listener's rustls configuration: TLS 1.2 and 1.3 (rustls's safe
/// defaults), no client certificates, the certificate from `store`.
pub fn server_config(store: Arc<CertStore>) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Setup(e.to_string()))?
        .with_no_client_auth()
        .with_cert_resolver(store);
    Ok(Arc::new(config))
}

/// The listener: its certificate store and the acceptor built on it.
#[derive(Clone)]
pub struct TlsListener {
    pub files: TlsFiles,
    pub store: Arc<CertStore>,
    pub acceptor: tokio_rustls::TlsAcceptor,
}

impl std::fmt::Debug for TlsListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsListener")
            .field("files", &self.files)
            .finish_non_exhaustive()
    }
}

impl TlsListener {
    /// Load the files and build the acceptor.
    pub fn load(files: TlsFiles) -> Result<TlsListener, TlsError> {
        let store = CertStore::new(files.load()?);
        let acceptor = tokio_rustls::TlsAcceptor::from(server_config(store.clone())?);
        Ok(TlsListener {
            files,
            store,
            acceptor,
        })
    }
}

/// How Senim opens TLS connections to one trunk: the CA certificates it
/// trusts for that trunk and the name its certificate must carry.
#[derive(Clone)]
pub struct TrunkTls {
    pub connector: tokio_rustls::TlsConnector,
    pub name: ServerName<'static>,
}

impl std::fmt::Debug for TrunkTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrunkTls")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl TrunkTls {
    /// For a trunk at `address` whose certificate names `domain` (when set;
    /// else the address's IP): trust the CA certificates of `ca` (PEM), or
    /// the system's bundle when `ca` is `None`.
    pub fn new(
        ca: Option<&Path>,
        domain: Option<&str>,
        address: SocketAddr,
    ) -> Result<TrunkTls, TlsError> {
        const CA_KEY: &str = "trunk.tls_ca";
        let path = match ca {
            Some(p) => p.to_path_buf(),
            None => SYSTEM_CA_BUNDLES
                .iter()
                .map(PathBuf::from)
                .find(|p| p.is_file())
                .ok_or(TlsError::NoSystemBundle { key: CA_KEY })?,
        };
        let pem = read(CA_KEY, &path)?;
        let mut roots = rustls::RootCertStore::empty();
        let (added, _ignored) = roots.add_parsable_certificates(certificates(CA_KEY, &path, &pem)?);
        if added == 0 {
            return Err(TlsError::NoCertificate {
                key: CA_KEY,
                path,
                detail: ": none usable as a trust anchor".into(),
            });
        }
        let name_text = match domain {
            Some(d) => host_of(d).to_string(),
            None => address.ip().to_string(),
        };
        let name = ServerName::try_from(name_text.clone()).map_err(|_| TlsError::BadName {
            key: "trunk.domain",
            name: name_text,
        })?;
        let config = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Setup(e.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(TrunkTls {
            connector: tokio_rustls::TlsConnector::from(Arc::new(config)),
            name,
        })
    }
}

/// The host of `host[:port]` (an IPv6 reference without its brackets).
fn host_of(text: &str) -> &str {
    let text = text.trim();
    if let Some(rest) = text.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match text.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') && port.chars().all(|c| c.is_ascii_digit()) => {
            host
        }
        _ => text,
    }
}

/// The modification times and lengths of the two files (`None`: missing).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamp(FileStamp, FileStamp);

type FileStamp = Option<(Option<SystemTime>, u64)>;

/// When to reload: whenever the files look different from the ones last
/// loaded. A failed load is tried again on the next look (a renewal may
/// write the certificate and the key one after the other), but reported
/// only once per look of the files, so a broken file does not flood the log.
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

/// Reload the listener's certificate whenever its files change, until the
/// task is aborted. A pair that cannot be used is logged and the
/// certificate in use stays.
pub async fn watch(listener: TlsListener, every: Duration) {
    let files = listener.files;
    let mut w = ReloadWatch::new(files.stamp());
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tick.tick().await;
        let now = files.stamp();
        if w.look(&now) == Look::Nothing {
            continue;
        }
        match files.load() {
            Ok(key) => {
                listener.store.replace(key);
                tracing::info!(cert = %files.cert.display(), "SIP TLS certificate reloaded");
                w.loaded(now);
            }
            Err(e) => {
                if w.failed(now) {
                    tracing::error!(
                        error = %e,
                        "SIP TLS certificate not reloaded; the one in use stays"
                    );
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

    #[test]
    fn files_are_checked_naming_the_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let files = TlsFiles {
            cert: dir.path().join("cert.pem"),
            key: dir.path().join("key.pem"),
        };
        let e = files.load().expect_err("missing");
        assert!(e.to_string().starts_with("sip.tls_cert "), "{e}");
        let (cert, key) = pem_pair("localhost");
        std::fs::write(&files.cert, &cert).expect("write");
        let e = files.load().expect_err("no key file");
        assert!(e.to_string().starts_with("sip.tls_key "), "{e}");
        std::fs::write(&files.key, "not a key").expect("write");
        let e = files.load().expect_err("no key in it");
        assert!(matches!(e, TlsError::NoKey { .. }), "{e}");
        std::fs::write(&files.key, &key).expect("write");
        files.load().expect("a usable pair");
        // A key in the certificate's place, and a key of another certificate.
        std::fs::write(&files.cert, &key).expect("write");
        let e = files.load().expect_err("no certificate");
        assert!(
            matches!(
                e,
                TlsError::NoCertificate {
                    key: "sip.tls_cert",
                    ..
                }
            ),
            "{e}"
        );
        let (_, other_key) = pem_pair("localhost");
        std::fs::write(&files.cert, &cert).expect("write");
        std::fs::write(&files.key, &other_key).expect("write");
        let e = files.load().expect_err("mismatched key");
        assert!(matches!(e, TlsError::Mismatch { .. }), "{e}");
        assert!(
            e.to_string()
                .contains("is not the private key of sip.tls_cert"),
            "{e}"
        );
    }

    #[test]
    fn the_store_serves_the_latest_certificate() {
        let dir = tempfile::tempdir().expect("tempdir");
        let files = TlsFiles {
            cert: dir.path().join("cert.pem"),
            key: dir.path().join("key.pem"),
        };
        let (cert, key) = pem_pair("localhost");
        std::fs::write(&files.cert, &cert).expect("write");
        std::fs::write(&files.key, &key).expect("write");
        let first = files.load().expect("first");
        let store = CertStore::new(first.clone());
        assert!(Arc::ptr_eq(&store.current(), &first));
        let (cert2, key2) = pem_pair("localhost");
        std::fs::write(&files.cert, &cert2).expect("write");
        std::fs::write(&files.key, &key2).expect("write");
        let second = files.load().expect("second");
        store.replace(second.clone());
        assert!(Arc::ptr_eq(&store.current(), &second));
        assert!(server_config(store).is_ok());
    }

    #[test]
    fn a_trunks_name_and_ca_are_checked() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ca = dir.path().join("ca.pem");
        let address: SocketAddr = "192.0.2.5:5061".parse().unwrap();
        let e = TrunkTls::new(Some(&ca), None, address).expect_err("missing");
        assert!(e.to_string().starts_with("trunk.tls_ca "), "{e}");
        let (cert, _) = pem_pair("sip.example.kz");
        std::fs::write(&ca, &cert).expect("write");
        let t = TrunkTls::new(Some(&ca), Some("sip.example.kz:5061"), address).expect("by name");
        assert_eq!(t.name.to_str(), "sip.example.kz");
        let t = TrunkTls::new(Some(&ca), None, address).expect("by address");
        assert_eq!(t.name.to_str(), "192.0.2.5");
        assert_eq!(host_of("[2001:db8::1]:5061"), "2001:db8::1");
        assert_eq!(host_of("2001:db8::1"), "2001:db8::1");
        assert_eq!(host_of("sip.example.kz"), "sip.example.kz");
    }
}
