//! Senim's configuration: one TOML file, every key optional, environment
//! variables on top. Errors name the file (or variable), the key and the fault.
//!
//! This module only deserializes and checks. A section that belongs to one
//! module is that module's type (`[api]` is `http::auth::ApiConfig`,
//! `[retention]` is `store::retention::RetentionConfig`), so the imports go
//! one way: config uses those modules, and only start-up (`server`, `main`)
//! and the call layer's trunk list (`TrunkConfig`) use config. Shared
//! parsers (durations, port ranges) are in `util`.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use senim_routing::hours::Schedules;
use senim_routing::specialists::SpecialistsError;
use serde::Deserialize;

use crate::driver::admission::UnknownSources;
use crate::driver::registrar::{RegistrarConfig, RegistrarSettings};
use crate::driver::tls::TlsFiles;
use crate::http::auth::{ApiConfig, TokenTable};
use crate::store::retention::{Retention, RetentionConfig};
use crate::util::duration::{parse_duration, parse_port_range};

pub mod places;
pub mod wrap_up;

use places::{Fault, Faults, Places};

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Every fault found: TOML that does not parse, keys of the wrong name
    /// or type, values that make no sense. Each has its own line and
    /// column when the file writes it.
    #[error("{0}")]
    Faults(Faults),
}

impl ConfigError {
    /// The faults, when the file could be read.
    pub fn faults(&self) -> &[Fault] {
        match self {
            ConfigError::Faults(f) => &f.faults,
            ConfigError::Read { .. } => &[],
        }
    }
}

/// The whole configuration, with defaults that serve on loopback.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub sip: SipConfig,
    /// The specialists' softphones' registrar: lock-out, digest algorithms.
    pub registrar: RegistrarConfig,
    pub media: MediaConfig,
    pub http: HttpConfig,
    pub database: DatabaseConfig,
    pub prompts: PromptsConfig,
    pub privacy: PrivacyConfig,
    pub dialplan: DialplanConfig,
    pub data: DataConfig,
    /// Named weekly schedules in Asia/Almaty time, e.g. `[hours.centre]`
    /// `mon = "09:00-18:00"`. Without a `centre` entry, Mon-Fri 09:00-18:00.
    pub hours: senim_routing::hours::Schedules,
    /// The specialists (`[[specialist]]` entries); softphones among them
    /// register to Senim's registrar with their username and password.
    #[serde(rename = "specialist")]
    pub specialists: senim_routing::specialists::Specialists,
    /// How the centre presents itself on outbound calls.
    pub centre: CentreConfig,
    /// Rings, whisper and queue.
    pub routing: RoutingConfig,
    /// SIP trunks (`[[trunk]]`): where phone numbers are dialled, and
    /// whether a caller who came in through the trunk may be transferred by REFER.
    #[serde(rename = "trunk")]
    pub trunks: Vec<TrunkConfig>,
    /// The centre's numbers (`[[line]]`): a call to a line's number starts
    /// the dialplan at the line's node instead of the plan's `start`.
    #[serde(rename = "line")]
    pub lines: Vec<LineConfig>,
    /// Where the callers' voice messages are kept.
    pub voicemail: VoicemailConfig,
    /// Callback requests: how many one caller may leave.
    pub callback: CallbackConfig,
    /// The wrap-up menu on a specialist's phone and the limits that
    /// protect specialists (`config/wrap_up.rs`).
    pub wrap_up: wrap_up::WrapUpConfig,
    /// The HTTP API's tokens (`[[api.token]]`: name, role, sha256 of the
    /// token, and for role specialist their id).
    pub api: ApiConfig,
    /// How long personal data is kept (`docs/call-record.md`, Retention).
    pub retention: RetentionConfig,
    /// The people who sign in to the web pages (`[[user]]`: name, role,
    /// argon2id hash of the password, for role specialist their id).
    #[serde(rename = "user")]
    pub users: Vec<crate::web::users::UserConfig>,
    /// Where the file writes each key, for the faults `validate` finds.
    #[serde(skip)]
    pub places: Places,
}

/// The centre's identity on outbound legs (to specialists and partners).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CentreConfig {
    /// Display name in From (e.g. "Senim").
    pub name: String,
    /// The centre's public number (E.164), sent as From user and
    /// P-Asserted-Identity. Empty: the SIP user (`sip.user`).
    pub number: Option<String>,
    /// Show the caller's number to the centre's own specialists (From
    /// display name); never to partners (their directory entry decides).
    /// Off by default: callers may be victims of violence.
    pub share_caller_number: bool,
    /// The area code of the centre's city, without the country code
    /// (Oskemen: "7232"): callers may leave a local number of that city for
    /// a callback. Empty: only full numbers (+7 / 8 and ten digits).
    pub area_code: String,
}

impl Default for CentreConfig {
    fn default() -> Self {
        CentreConfig {
            name: "Senim".into(),
            number: None,
            share_caller_number: false,
            area_code: "7232".into(),
        }
    }
}

/// The `[callback]` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CallbackConfig {
    /// Callback requests one caller may leave in any 24 hours, counted per
    /// keyed hash of their own number and of the number they leave. 0: no
    /// limit.
    pub max_per_day: u32,
}

impl Default for CallbackConfig {
    fn default() -> Self {
        CallbackConfig { max_per_day: 3 }
    }
}

/// Rings, whisper and queue tunables.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RoutingConfig {
    /// After a specialist picks up, how long they have to press the accept key.
    pub accept_timeout: String,
    /// Announce the caller's position in the queue this often.
    pub announce_every: String,
    /// Offer a callback in the queue this often.
    pub offer_callback_every: String,
}

impl Default for RoutingConfig {
    fn default() -> Self {
        RoutingConfig {
            accept_timeout: "15s".into(),
            announce_every: "45s".into(),
            offer_callback_every: "60s".into(),
        }
    }
}

/// An IP address and port, with a message that says how to write one when
/// the text is a host name or lacks the port (the TOML error keeps its
/// line and column).
fn ip_and_port<'de, D: serde::Deserializer<'de>>(d: D) -> Result<SocketAddr, D::Error> {
    let text = String::deserialize(d)?;
    let text = text.trim();
    if let Ok(addr) = text.parse() {
        return Ok(addr);
    }
    let host = text.rsplit_once(':').map_or(text, |(h, _)| h);
    let message = if text.parse::<IpAddr>().is_ok() {
        format!("{text:?} has no port: write it as \"{text}:5060\" (or the trunk's port)")
    } else if host.chars().any(|c| c.is_ascii_alphabetic()) && !host.contains('[') {
        format!(
            "{text:?} is a host name, and only an IP address with its port is taken here (it is \
             also the address the trunk's calls must come from): look it up (`getent hosts \
             {host}`), write the address, e.g. \"203.0.113.10:5060\", and list the provider's \
             other addresses in `allow`"
        )
    } else {
        format!(
            "{text:?} is not an IP address with a port, e.g. \"203.0.113.10:5060\" or \
             \"[2001:db8::1]:5060\""
        )
    };
    Err(serde::de::Error::custom(message))
}

/// A SIP trunk (the provider or the centre's Asterisk). See `docs/trunks.md`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrunkConfig {
    /// A name for logs, records and `GET /trunks`.
    pub id: String,
    /// Where requests to the trunk go (its proxy or SBC; IP literal and
    /// port), and where its calls come from. A host name is refused with
    /// how to write it: the address is also who may send calls, and a name
    /// looked up once would silently go stale.
    #[serde(deserialize_with = "ip_and_port")]
    pub address: SocketAddr,
    /// `udp` (default), `tcp` or `tls`.
    #[serde(default)]
    pub transport: Option<String>,
    /// For `transport = "tls"`: a PEM file of the CA certificates the
    /// trunk's certificate must chain to. Empty: the system's CA bundle.
    #[serde(default)]
    pub tls_ca: Option<PathBuf>,
    /// The provider's domain for Request-URIs, From and To (and the
    /// registrar's domain); empty: the address.
    #[serde(default)]
    pub domain: Option<String>,
    /// More addresses or CIDR ranges the trunk's calls may come from.
    #[serde(default)]
    pub allow: Vec<String>,
    /// Register to the trunk (needs `username` and `password`).
    #[serde(default)]
    pub register: bool,
    /// Requested registration lifetime, e.g. "3600s" (default one hour).
    #[serde(default)]
    pub register_expires: Option<String>,
    /// The account at the provider (registration and challenges).
    #[serde(default)]
    pub username: Option<String>,
    /// The digest user name when the provider gives one apart from `username`.
    #[serde(default)]
    pub auth_username: Option<String>,
    /// The password; better given by `password_env`.
    #[serde(default)]
    pub password: Option<String>,
    /// Name of an environment variable that holds the password.
    #[serde(default)]
    pub password_env: Option<String>,
    /// The From user on calls out (the centre's number as the provider
    /// knows it); empty: `[centre] number`.
    #[serde(default)]
    pub from_user: Option<String>,
    /// The From display name on calls out; empty: `[centre] name`.
    #[serde(default)]
    pub from_display: Option<String>,
    /// Send P-Asserted-Identity with the centre's number (default true when
    /// the centre has a number).
    #[serde(default)]
    pub assert_identity: Option<bool>,
    /// The `Privacy` header on calls out: "none", "id" or empty for none.
    #[serde(default)]
    pub privacy: Option<String>,
    /// How dialled numbers are written: "e164" (+7…, default), "national"
    /// (8 7…) or "local" (the city's numbers without `area_code`).
    #[serde(default)]
    pub number_format: Option<String>,
    /// The centre's area code for `number_format = "local"` (e.g. "7232").
    #[serde(default)]
    pub area_code: Option<String>,
    /// At most this many outbound calls at once through the trunk.
    #[serde(default)]
    pub max_calls: Option<u32>,
    /// How often to probe the trunk with OPTIONS, e.g. "30s"; empty or "0s": never.
    #[serde(default)]
    pub probe_every: Option<String>,
    /// TCP trunks: a CRLF keep-alive ping on the connection this often
    /// (RFC 5626), e.g. "90s" (the default); "0s": none.
    #[serde(default)]
    pub keepalive: Option<String>,
    /// How keys arrive from the trunk's callers: "auto" (default),
    /// "rfc4733", "inband", "info" or "both".
    #[serde(default)]
    pub dtmf: Option<String>,
    /// The trunk takes REFER for calls it brought in: transfers to
    /// partners are handed to it instead of bridged through Senim.
    #[serde(default)]
    pub refer: bool,
    /// The trunk presents the centre's number (not the caller's) on the
    /// call it places for a REFER (see docs/transfers.md for Asterisk).
    /// Without this promise `refer = true` is not used: transfers are
    /// bridged, so a partner never sees the caller's number.
    #[serde(default)]
    pub refer_presents_centre: bool,
    /// Ask the trunk for no REFER subscription (RFC 4488, `Refer-Sub: false`):
    /// only for trunks trusted to complete a transfer they accepted.
    #[serde(default)]
    pub refer_no_subscription: bool,
    /// Calls from the trunk must use SRTP (SDES keys, so over TLS): a plain
    /// RTP offer, or any offer over UDP or TCP, is refused with 488.
    #[serde(default)]
    pub require_srtp: bool,
}

/// A line: one of the centre's numbers and where its calls start in the
/// dialplan. See `docs/configuration.md` and `docs/dialplan.md`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineConfig {
    /// The number callers dial (`+77232000000`, `8 7232 000000`, or a short
    /// number), compared with the called number in a normalised form.
    pub number: String,
    /// The id of the dialplan node its calls start at.
    pub start: String,
    /// A name for people ("children's line").
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DialplanConfig {
    /// The plan file. Empty: the default plan (`dialplans/centre.xml`) embedded in the binary.
    pub file: Option<PathBuf>,
    /// Reload when the file changes (checked every two seconds).
    pub watch: bool,
    /// The longest a caller may listen before the first choice of a call
    /// (the prompts up to the first menu and its prompt, in the longest
    /// language) before `senim check` and every load warn ("8s").
    pub first_prompt_limit: String,
}

impl Default for DialplanConfig {
    fn default() -> Self {
        DialplanConfig {
            file: None,
            watch: true,
            first_prompt_limit: "8s".into(),
        }
    }
}

/// Voice messages (the dialplan's `<voicemail>`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VoicemailConfig {
    /// Folder for the WAV files. Empty: `voicemail` in the data folder
    /// (`[data] dir`). Created with mode 0700; each file is `<call id>.wav`, mode 0600.
    pub dir: PathBuf,
}

impl Default for VoicemailConfig {
    fn default() -> Self {
        VoicemailConfig {
            dir: PathBuf::new(),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DataConfig {
    /// Senim's data folder: the database, the keys, the voice messages and
    /// the record spool live here unless their own keys say otherwise.
    /// Empty: `$STATE_DIRECTORY` (systemd's `StateDirectory=`), else
    /// `$XDG_DATA_HOME/senim`, else `~/.local/share/senim`; never the
    /// working directory. Created with mode 0700.
    pub dir: Option<PathBuf>,
    /// Public holiday table. Empty: the bundled `data/holidays-kz.toml`.
    pub holidays: Option<PathBuf>,
    /// Partner directory (transfer destinations). Empty: the bundled `data/partners.toml`.
    pub partners: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SipConfig {
    /// Address for SIP over UDP and TCP.
    pub listen: SocketAddr,
    /// Address put in Contact and Via when it differs from `listen` (behind NAT).
    pub public_address: Option<SocketAddr>,
    /// Display name and user of the centre, used in outbound requests.
    pub user: String,
    /// RFC 3261 T1 (round-trip estimate) from which the transaction timers
    /// derive, e.g. "500ms". Change only for links with a known longer RTT.
    pub t1: String,
    /// Digest realm of the registrar for the specialists' softphones.
    pub realm: String,
    /// SIP messages a second one source may send on average (trunks are
    /// not limited); over it, messages are dropped unanswered. 0: no limit.
    pub rate_limit: u32,
    /// Messages one source may send at once before `rate_limit` applies.
    pub rate_burst: u32,
    /// Most calls at once (callers', and those Senim places itself); a new
    /// call beyond gets 503 with Retry-After. Each takes an RTP port and a
    /// little CPU: see BENCHMARKS.md for what a machine holds.
    pub max_calls: u32,
    /// On SIGTERM, how long the calls in progress may go on (new calls and
    /// OPTIONS get 503 meanwhile) before Senim ends them; "0s" (the
    /// default) ends them at once. Behind a dispatcher, e.g. "10m". A
    /// second SIGTERM ends them at once.
    pub drain: String,
    /// What requests from strangers (neither a trunk, nor a registered
    /// softphone, nor part of a call) get: "drop" (no answer, the default)
    /// or "403".
    pub unknown_sources: UnknownSources,
    /// Address for SIP over TLS, e.g. "0.0.0.0:5061". Empty (the default):
    /// no TLS listener.
    pub tls_listen: Option<SocketAddr>,
    /// The TLS listener's certificate chain (PEM, the server's certificate
    /// first); read again when it changes.
    pub tls_cert: Option<PathBuf>,
    /// The private key of `tls_cert` (PEM: PKCS#8, RSA or EC); read again
    /// when it changes.
    pub tls_key: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MediaConfig {
    /// Address RTP sockets bind to; defaults to the SIP address's IP.
    pub ip: Option<IpAddr>,
    /// Address SDP advertises when callers reach RTP at another address
    /// than `ip` (behind NAT, with the RTP range forwarded). Default: the
    /// IP of `[sip] public_address` when that is set, else `ip`.
    pub public_ip: Option<IpAddr>,
    /// RTP port range, inclusive, for example "10000-20000". Even ports are used.
    pub rtp_ports: String,
    /// Pacing threads; 0 means one per core.
    pub pacing_threads: usize,
    /// Hand each millisecond's packets to the kernel together with io_uring
    /// (Linux); false, or where io_uring is not allowed: a system call a
    /// packet.
    pub io_uring: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    pub listen: SocketAddr,
    /// PEM certificate chain; with `tls_key` the listener speaks HTTPS
    /// only. Both files are read again when they change.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of `tls_cert` (PKCS#8, PKCS#1 or SEC1).
    pub tls_key: Option<PathBuf>,
    /// A reverse proxy terminates TLS in front of Senim: a listen address
    /// that is not loopback is then allowed without `tls_cert`.
    pub behind_proxy: bool,
}

impl HttpConfig {
    /// The certificate and key when HTTPS is configured.
    pub fn tls(&self) -> Option<crate::http::tls::TlsFiles> {
        match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Some(crate::http::tls::TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
            }),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `sqlite://path` (created when missing). Empty: `senim.db` in the
    /// data folder (`[data] dir`).
    pub url: String,
    /// Size limit of the spool of call record changes kept while the
    /// database refuses writes (`<database file>.spool`), in MiB.
    pub spool_max_mb: u64,
    /// This instance's name among the instances that share one PostgreSQL
    /// database (letters, digits, `.`, `_`, `-`; at most 63). Empty: the
    /// machine's host name.
    pub instance: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PromptsConfig {
    /// Folder with prompts.toml, kk/ and ru/. Empty: the prompts embedded in the binary.
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PrivacyConfig {
    /// Key for the keyed hash of caller numbers, as hex. When empty, a key is
    /// generated on first start and kept in `caller_hash_key_file` (mode 0600).
    pub caller_hash_key: Option<String>,
    /// Empty: `senim.secret` in the data folder.
    pub caller_hash_key_file: PathBuf,
    /// Key (64 hex digits) that seals the numbers kept for callback requests.
    /// When empty, a key is generated on first start and kept in `number_key_file` (0600).
    /// Its fingerprint is kept in the database: a missing or different key
    /// while sealed numbers exist stops Senim at start (docs/operations.md).
    pub number_key: Option<String>,
    /// Empty: `senim.numbers.key` in the data folder.
    pub number_key_file: PathBuf,
}

impl Default for SipConfig {
    fn default() -> Self {
        SipConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 5060)),
            public_address: None,
            user: "senim".into(),
            t1: "500ms".into(),
            realm: "senim".into(),
            rate_limit: 50,
            rate_burst: 100,
            max_calls: 1000,
            drain: "0s".into(),
            unknown_sources: UnknownSources::default(),
            tls_listen: None,
            tls_cert: None,
            tls_key: None,
        }
    }
}

impl Default for MediaConfig {
    fn default() -> Self {
        MediaConfig {
            ip: None,
            rtp_ports: "10000-20000".into(),
            public_ip: None,
            pacing_threads: 0,
            io_uring: true,
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            tls_cert: None,
            tls_key: None,
            behind_proxy: false,
        }
    }
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            url: String::new(),
            spool_max_mb: 64,
            instance: String::new(),
        }
    }
}

impl Default for PrivacyConfig {
    fn default() -> Self {
        PrivacyConfig {
            caller_hash_key: None,
            caller_hash_key_file: PathBuf::new(),
            number_key: None,
            number_key_file: PathBuf::new(),
        }
    }
}

/// Values derived from the configuration after validation.
#[derive(Debug, Clone)]
pub struct Settings {
    pub config: Config,
    /// Where the configuration came from, for messages.
    pub origin: String,
    pub rtp_ports: (u16, u16),
    /// The address RTP sockets bind to.
    pub media_ip: IpAddr,
    /// The address SDP advertises (the public one behind NAT).
    pub sdp_ip: IpAddr,
    /// The prompts folder; `None`: the prompts embedded in the binary.
    pub prompts_dir: Option<PathBuf>,
    pub sip_t1: Duration,
    /// The dialplan file; `None`: the default plan embedded in the binary.
    pub dialplan_file: Option<PathBuf>,
    /// `[dialplan] first_prompt_limit`: a first prompt longer than this is
    /// a warning of the plan's check.
    pub first_prompt_limit: Duration,
    /// The retention periods and how often the purge runs.
    pub retention: Retention,
    /// The trunks, checked and in the call layer's terms.
    pub trunks: Vec<TrunkSettings>,
    /// The lines, checked (numbers normalised, each once).
    pub lines: Vec<senim_call::config::Line>,
    /// `[registrar]`, checked.
    pub registrar: RegistrarSettings,
    /// The centre's area code (`[centre] area_code`), for local numbers.
    pub area_code: Option<senim_call::config::AreaCode>,
    /// SIP over TLS, when `[sip] tls_listen` is set.
    pub sip_tls: Option<SipTls>,
    /// Senim's data folder (`[data] dir` or its default).
    pub data_dir: PathBuf,
    /// `[wrap_up]`, checked.
    pub wrap_up: wrap_up::WrapUpSettings,
}

/// The TLS listener's address and files (read at start, see `server`).
#[derive(Debug, Clone)]
pub struct SipTls {
    pub listen: SocketAddr,
    pub files: TlsFiles,
}

/// A trunk after validation: what calls use, and what the driver needs to
/// register and probe.
#[derive(Debug, Clone)]
pub struct TrunkSettings {
    pub trunk: senim_call::config::Trunk,
    /// Requested registration lifetime.
    pub register_expires: Duration,
    /// How often to probe with OPTIONS (`None`: never).
    pub probe_every: Option<Duration>,
    /// TCP and TLS: how often to ping the connection (`None`: never).
    pub keepalive: Option<Duration>,
    /// TLS: the CA file the trunk's certificate is checked against
    /// (`None`: the system's bundle).
    pub tls_ca: Option<PathBuf>,
}

impl TrunkConfig {
    /// Check the trunk's values and build its settings; errors name the key.
    pub fn settings(
        &self,
        centre_has_number: bool,
    ) -> Result<TrunkSettings, (&'static str, String)> {
        use senim_call::config::{
            AddressRange, Credentials, DtmfMode, NumberFormat, Presentation, Trunk,
        };
        use senim_sip::message::Transport;
        let mut trunk = Trunk::new(self.id.clone(), self.address);
        trunk.transport = match self.transport.as_deref().unwrap_or("udp") {
            "udp" | "UDP" => Transport::Udp,
            "tcp" | "TCP" => Transport::Tcp,
            "tls" | "TLS" => Transport::Tls,
            other => {
                return Err((
                    "trunk.transport",
                    format!("{other:?} is not \"udp\", \"tcp\" or \"tls\""),
                ))
            }
        };
        if self.tls_ca.is_some() && trunk.transport != Transport::Tls {
            return Err(("trunk.tls_ca", "is for transport = \"tls\" only".into()));
        }
        trunk.domain = self.domain.clone().filter(|d| !d.trim().is_empty());
        if let Some(d) = &trunk.domain {
            if !d
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c))
            {
                return Err(("trunk.domain", format!("{d:?} is not a host name")));
            }
        }
        for a in &self.allow {
            trunk.allow.push(AddressRange::parse(a).ok_or_else(|| {
                (
                    "trunk.allow",
                    format!("{a:?} is not an address or CIDR range like \"192.0.2.0/24\""),
                )
            })?);
        }
        let password = match (&self.password, &self.password_env) {
            (Some(p), _) => Some(p.clone()),
            (None, Some(var)) => Some(std::env::var(var).map_err(|_| {
                (
                    "trunk.password_env",
                    format!("environment variable {var} is not set"),
                )
            })?),
            (None, None) => None,
        };
        trunk.credentials = match (&self.username, password) {
            (Some(u), Some(p)) => Some(Credentials {
                username: u.clone(),
                auth_username: self.auth_username.clone(),
                password: p,
            }),
            (None, Some(_)) => {
                return Err(("trunk.username", "a password needs a username".into()))
            }
            (Some(_), None) if self.register => {
                return Err((
                    "trunk.password",
                    "registering needs a password (or password_env)".into(),
                ))
            }
            _ => None,
        };
        if let Some(u) = &self.username {
            if u.is_empty()
                || !u
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-_.".contains(c))
            {
                return Err(("trunk.username", format!("{u:?} is not a SIP user name")));
            }
        }
        trunk.register = self.register;
        if self.register && trunk.credentials.is_none() {
            return Err((
                "trunk.username",
                "registering needs a username and a password".into(),
            ));
        }
        trunk.presentation = Presentation {
            from_user: self.from_user.clone().filter(|u| !u.is_empty()),
            from_display: self.from_display.clone(),
            assert_identity: self.assert_identity.unwrap_or(centre_has_number),
            privacy: match self.privacy.as_deref().unwrap_or("") {
                "" => None,
                p @ ("none" | "id" | "user" | "header") => Some(p.to_string()),
                other => {
                    return Err((
                        "trunk.privacy",
                        format!("{other:?} is not \"none\", \"id\", \"user\" or \"header\""),
                    ))
                }
            },
        };
        if let Some(u) = &trunk.presentation.from_user {
            if !u
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-_.".contains(c))
            {
                return Err(("trunk.from_user", format!("{u:?} is not a SIP user name")));
            }
        }
        trunk.number_format = match self.number_format.as_deref().unwrap_or("e164") {
            "e164" => NumberFormat::E164,
            "national" => NumberFormat::National,
            "local" => {
                let code = self.area_code.clone().unwrap_or_default();
                if code.is_empty() || !code.chars().all(|c| c.is_ascii_digit()) {
                    return Err((
                        "trunk.area_code",
                        "number_format = \"local\" needs area_code, digits such as \"7232\"".into(),
                    ));
                }
                NumberFormat::Local { area_code: code }
            }
            other => {
                return Err((
                    "trunk.number_format",
                    format!("{other:?} is not \"e164\", \"national\" or \"local\""),
                ))
            }
        };
        trunk.max_calls = self.max_calls;
        trunk.dtmf = match &self.dtmf {
            None => DtmfMode::Auto,
            Some(word) => DtmfMode::parse(word).ok_or_else(|| {
                (
                    "trunk.dtmf",
                    format!(
                        "{word:?} is not \"auto\", \"rfc4733\", \"inband\", \"info\" or \"both\""
                    ),
                )
            })?,
        };
        trunk.refer = self.refer;
        trunk.refer_presents_centre = self.refer_presents_centre;
        trunk.require_srtp = self.require_srtp;
        if self.require_srtp {
            tracing::info!(
                trunk = %self.id,
                "require_srtp = true: the trunk's calls are answered only over TLS with SRTP \
                 (SDES keys); an INVITE from it over UDP or TCP, or with plain RTP, gets 488"
            );
        }
        if self.refer && !self.refer_presents_centre {
            tracing::warn!(
                trunk = %self.id,
                "refer = true without refer_presents_centre = true: the call the trunk places \
                 for a REFER could show the caller's number to the partner, so transfers of \
                 this trunk's callers are bridged instead (see docs/transfers.md)"
            );
        }
        trunk.refer_no_subscription = self.refer_no_subscription;
        let register_expires = match &self.register_expires {
            None => Duration::from_secs(3600),
            Some(text) => parse_duration(text)
                .filter(|d| *d >= Duration::from_secs(10) && *d <= Duration::from_secs(86_400))
                .ok_or_else(|| {
                    (
                        "trunk.register_expires",
                        format!("{text:?} is not a duration between 10s and 24h"),
                    )
                })?,
        };
        let probe_every = match &self.probe_every {
            None => None,
            Some(text) => match parse_duration(text) {
                Some(d) if d.is_zero() => None,
                Some(d) if d >= Duration::from_secs(1) && d <= Duration::from_secs(3600) => Some(d),
                _ => {
                    return Err((
                        "trunk.probe_every",
                        format!("{text:?} is not \"0s\" or a duration between 1s and 1h"),
                    ))
                }
            },
        };
        use senim_sip::message::Transport as Wire;
        let keepalive = match (&self.keepalive, trunk.transport) {
            (None, Wire::Tcp | Wire::Tls) => Some(Duration::from_secs(90)),
            (None, Wire::Udp) => None,
            (Some(text), transport) => match parse_duration(text) {
                Some(d) if d.is_zero() => None,
                Some(_) if !transport.is_reliable() => {
                    return Err((
                        "trunk.keepalive",
                        format!(
                            "{text:?}: CRLF keep-alives are for TCP and TLS trunks; a UDP \
                             trunk's NAT binding is kept open by probe_every"
                        ),
                    ))
                }
                Some(d) if d >= Duration::from_secs(5) && d <= Duration::from_secs(3600) => Some(d),
                _ => {
                    return Err((
                        "trunk.keepalive",
                        format!("{text:?} is not \"0s\" or a duration between 5s and 1h"),
                    ))
                }
            },
        };
        Ok(TrunkSettings {
            trunk,
            register_expires,
            probe_every,
            keepalive,
            tls_ca: self.tls_ca.clone(),
        })
    }
}

impl Config {
    /// Read a TOML file; unknown keys and wrong types are errors with line and column.
    /// Relative paths in the file are taken from the file's folder, not
    /// from wherever Senim was started.
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut config = Self::from_toml(&text, path)?;
        if let Some(folder) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            config.resolve_paths_from(folder);
        }
        Ok(config)
    }

    /// Make every relative path of the file relative to `folder`.
    pub fn resolve_paths_from(&mut self, folder: &Path) {
        let fix = |p: &mut PathBuf| {
            if !p.as_os_str().is_empty() && p.is_relative() {
                *p = folder.join(&*p);
            }
        };
        let fix_opt = |p: &mut Option<PathBuf>| {
            if let Some(p) = p {
                fix(p);
            }
        };
        fix_opt(&mut self.prompts.dir);
        fix_opt(&mut self.dialplan.file);
        fix_opt(&mut self.data.dir);
        fix_opt(&mut self.data.holidays);
        fix_opt(&mut self.data.partners);
        fix(&mut self.voicemail.dir);
        fix(&mut self.privacy.caller_hash_key_file);
        fix(&mut self.privacy.number_key_file);
        fix_opt(&mut self.http.tls_cert);
        fix_opt(&mut self.http.tls_key);
        fix_opt(&mut self.sip.tls_cert);
        fix_opt(&mut self.sip.tls_key);
        for t in &mut self.trunks {
            fix_opt(&mut t.tls_ca);
        }
        if let Some(rest) = self.database.url.strip_prefix("sqlite://") {
            let db = Path::new(rest.split('?').next().unwrap_or(rest));
            if !rest.is_empty() && !rest.starts_with(':') && db.is_relative() {
                self.database.url = format!("sqlite://{}", folder.join(rest).display());
            }
        }
    }

    /// Parse TOML text; `path` is only used in messages. Every fault is
    /// reported, not only the first: each section, and each entry of
    /// `[[specialist]]`, `[[trunk]]` and the like, is read on its own, and
    /// the values of the sections that read well are checked as
    /// [`Config::validate`] would check them.
    pub fn from_toml(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let origin = path.display().to_string();
        let refuse = |faults: Vec<Fault>| {
            ConfigError::Faults(Faults {
                origin: origin.clone(),
                faults,
            })
        };
        let (root, errors) = toml::de::DeTable::parse_recoverable(text);
        if !errors.is_empty() {
            return Err(refuse(
                errors.iter().map(|e| places::toml_fault(text, e)).collect(),
            ));
        }
        let span = root.span();
        let root = root.into_inner();
        let places = Places::of(&root, text);
        let first = match places::document::<Config>(root.clone(), span.clone()) {
            Ok(mut config) => {
                config.places = places;
                return Ok(config);
            }
            Err(e) => places::toml_fault(text, &e),
        };
        let parts = places::parts_of::<Config>(&root, text);
        let mut faults = parts.faults;
        if faults.is_empty() {
            faults.push(first);
        }
        // The values of the parts that read well: their faults too, except
        // those about a section with a part at fault (a missing trunk that
        // is only misspelt is no news).
        if let Ok(mut partial) = places::document::<Config>(parts.good, span) {
            let mut places = places;
            places.renumber(parts.kept);
            partial.places = places;
            let failed = parts.failed_sections;
            if let Err(ConfigError::Faults(more)) = partial.validate(&origin) {
                faults.extend(more.faults.into_iter().filter(|f| {
                    !failed.iter().any(|s| {
                        f.message.contains(&format!("[{s}]"))
                            || f.message.contains(&format!("[{s}."))
                    })
                }));
            }
        }
        faults.sort_by_key(|f| match f.at {
            Some(places::At::Text { line, column }) => (line, column),
            _ => (usize::MAX, 0),
        });
        faults.dedup();
        Err(refuse(faults))
    }

    /// Apply `SENIM_*` environment variables from `vars` (normally `std::env::vars()`).
    pub fn apply_env<I: IntoIterator<Item = (String, String)>>(
        &mut self,
        vars: I,
    ) -> Result<(), ConfigError> {
        for (name, value) in vars {
            let bad = |key: &'static str, message: String| {
                ConfigError::Faults(Faults {
                    origin: format!("environment variable {name}"),
                    faults: vec![Fault {
                        key: Some(key.to_string()),
                        at: Some(places::At::Env(name.clone())),
                        message,
                    }],
                })
            };
            if let Some(key) = env_key(&name) {
                self.places.set_by_env(key, &name);
            }
            match name.as_str() {
                "SENIM_SIP_LISTEN" => {
                    self.sip.listen = value
                        .parse()
                        .map_err(|e| bad("sip.listen", format!("{value:?}: {e}")))?
                }
                "SENIM_SIP_PUBLIC_ADDRESS" => {
                    self.sip.public_address = Some(
                        value
                            .parse()
                            .map_err(|e| bad("sip.public_address", format!("{value:?}: {e}")))?,
                    )
                }
                "SENIM_SIP_TLS_LISTEN" => {
                    self.sip.tls_listen = Some(
                        value
                            .parse()
                            .map_err(|e| bad("sip.tls_listen", format!("{value:?}: {e}")))?,
                    )
                }
                "SENIM_HTTP_LISTEN" => {
                    self.http.listen = value
                        .parse()
                        .map_err(|e| bad("http.listen", format!("{value:?}: {e}")))?
                }
                "SENIM_HTTP_TLS_CERT" => self.http.tls_cert = Some(PathBuf::from(value)),
                "SENIM_HTTP_TLS_KEY" => self.http.tls_key = Some(PathBuf::from(value)),
                "SENIM_DATABASE_URL" => self.database.url = value,
                "SENIM_DATABASE_INSTANCE" => self.database.instance = value,
                "SENIM_RTP_PORTS" => self.media.rtp_ports = value,
                "SENIM_MEDIA_PUBLIC_IP" => {
                    self.media.public_ip = Some(
                        value
                            .parse()
                            .map_err(|e| bad("media.public_ip", format!("{value:?}: {e}")))?,
                    )
                }
                "SENIM_MEDIA_IP" => {
                    self.media.ip = Some(
                        value
                            .parse()
                            .map_err(|e| bad("media.ip", format!("{value:?}: {e}")))?,
                    )
                }
                "SENIM_PROMPTS_DIR" => self.prompts.dir = Some(PathBuf::from(value)),
                "SENIM_CALLER_HASH_KEY_FILE" => {
                    self.privacy.caller_hash_key_file = PathBuf::from(value)
                }
                "SENIM_NUMBER_KEY_FILE" => self.privacy.number_key_file = PathBuf::from(value),
                "SENIM_SIP_T1" => self.sip.t1 = value,
                "SENIM_SIP_RATE_LIMIT" => {
                    self.sip.rate_limit = value
                        .parse()
                        .map_err(|e| bad("sip.rate_limit", format!("{value:?}: {e}")))?
                }
                "SENIM_DIALPLAN" => self.dialplan.file = Some(PathBuf::from(value)),
                "SENIM_VOICEMAIL_DIR" => self.voicemail.dir = PathBuf::from(value),
                "SENIM_DATA_DIR" => self.data.dir = Some(PathBuf::from(value)),
                _ => {}
            }
        }
        Ok(())
    }

    /// Check values that TOML types cannot express and derive the settings.
    /// Every fault is reported, each at the line and column of its key
    /// when the file writes it.
    pub fn validate(mut self, origin: &str) -> Result<Settings, ConfigError> {
        let places = std::mem::take(&mut self.places);
        let mut faults: Vec<Fault> = Vec::new();
        let mut bad = |path: &str, message: String| faults.push(places.fault(path, message));
        let data_dir = match &self.data.dir {
            Some(dir) if dir.as_os_str().is_empty() => {
                bad(
                    "data.dir",
                    "is empty: give a folder or leave the key out".into(),
                );
                None
            }
            Some(dir) => Some(dir.clone()),
            None => {
                let dir = default_data_dir(|name| std::env::var_os(name));
                if dir.is_none() {
                    bad(
                        "data.dir",
                        "is not set and neither STATE_DIRECTORY, XDG_DATA_HOME nor HOME is: \
                         give Senim a data folder (e.g. /var/lib/senim)"
                            .into(),
                    );
                }
                dir
            }
        };
        if let Some(dir) = &data_dir {
            self.place_data_files(dir);
        }
        for (key, listen) in [
            ("sip.listen", Some(self.sip.listen)),
            ("sip.tls_listen", self.sip.tls_listen),
        ] {
            let Some(listen) = listen else { continue };
            if self.trunks.is_empty() && !listen.ip().is_loopback() {
                bad(
                    key,
                    format!(
                        "{listen} is not a loopback address and no [[trunk]] is configured, so \
                         Senim would take calls from anyone who can reach it. Add a [[trunk]] \
                         with the provider's or Asterisk's address (and `allow` for the other \
                         addresses its calls come from; see docs/trunks.md), or listen on \
                         127.0.0.1"
                    ),
                );
            }
        }
        let sip_tls = match self.sip.tls() {
            Ok(tls) => tls,
            Err((key, message)) => {
                bad(key, message);
                None
            }
        };
        let rtp_ports = parse_port_range(&self.media.rtp_ports);
        if rtp_ports.is_none() {
            bad(
                "media.rtp_ports",
                format!(
                    "{:?} is not a range like \"10000-20000\" with room for at least one even port pair",
                    self.media.rtp_ports
                ),
            );
        }
        let first_prompt_limit = parse_duration(&self.dialplan.first_prompt_limit)
            .filter(|d| *d >= Duration::from_secs(1) && *d <= Duration::from_secs(3600));
        if first_prompt_limit.is_none() {
            bad(
                "dialplan.first_prompt_limit",
                format!(
                    "{:?} is not a duration between 1s and 1h",
                    self.dialplan.first_prompt_limit
                ),
            );
        }
        let sip_t1 = parse_duration(&self.sip.t1)
            .filter(|d| *d >= Duration::from_millis(50) && *d <= Duration::from_secs(5));
        if sip_t1.is_none() {
            bad(
                "sip.t1",
                format!("{:?} is not a duration between 50ms and 5s", self.sip.t1),
            );
        }
        if parse_duration(&self.sip.drain).is_none_or(|d| d > Duration::from_secs(24 * 3600)) {
            bad(
                "sip.drain",
                format!("{:?} is not a duration of at most 24h", self.sip.drain),
            );
        }
        match (&self.http.tls_cert, &self.http.tls_key) {
            (Some(_), None) => bad(
                "http.tls_key",
                "http.tls_cert is set: the private key's PEM file is needed too".into(),
            ),
            (None, Some(_)) => bad(
                "http.tls_cert",
                "http.tls_key is set: the certificate's PEM file is needed too".into(),
            ),
            _ => {}
        }
        if !self.http.listen.ip().is_loopback()
            && self.http.tls().is_none()
            && !self.http.behind_proxy
        {
            bad(
                "http.listen",
                format!(
                    "{} is not a loopback address, and bearer tokens and callers' data must \
                     not cross a network in clear: set [http] tls_cert and tls_key (PEM files) \
                     so that Senim serves HTTPS, or behind_proxy = true when a reverse proxy \
                     terminates TLS in front of it",
                    self.http.listen
                ),
            );
        }
        let url = &self.database.url;
        let postgres = url.starts_with("postgres://") || url.starts_with("postgresql://");
        if !url.starts_with("sqlite:") && !postgres {
            bad(
                "database.url",
                format!(
                    "{:?}: give a sqlite: URL (one instance, the default) or a postgres:// URL \
                     (several instances sharing one database)",
                    crate::store::redact(url)
                ),
            );
        }
        let instance = &self.database.instance;
        if instance.len() > 63
            || !instance
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        {
            bad(
                "database.instance",
                format!(
                    "{instance:?}: an instance name is letters, digits, '.', '_' and '-', \
                     at most 63 of them"
                ),
            );
        }
        if let Some(key) = &self.privacy.caller_hash_key {
            if !matches!(hex::decode(key), Ok(k) if k.len() >= 16) {
                bad(
                    "privacy.caller_hash_key",
                    "must be at least 32 hex digits (16 bytes)".into(),
                );
            }
        }
        if let Some(key) = &self.privacy.number_key {
            if !matches!(hex::decode(key.trim()), Ok(k) if k.len() == 32) {
                bad(
                    "privacy.number_key",
                    "must be 64 hex digits (32 bytes)".into(),
                );
            }
        }
        let media_ip = self.media.ip.unwrap_or_else(|| self.sip.listen.ip());
        if media_ip.is_unspecified() {
            bad(
                "media.ip",
                "an address callers can send RTP to is needed when sip.listen is a wildcard".into(),
            );
        }
        let sdp_ip = self
            .media
            .public_ip
            .or_else(|| self.sip.public_address.map(|a| a.ip()))
            .unwrap_or(media_ip);
        if sdp_ip.is_unspecified() && !media_ip.is_unspecified() {
            bad(
                "media.public_ip",
                "must be an address callers can send RTP to, not a wildcard".into(),
            );
        }
        for (key, value) in [
            ("routing.accept_timeout", &self.routing.accept_timeout),
            ("routing.announce_every", &self.routing.announce_every),
            (
                "routing.offer_callback_every",
                &self.routing.offer_callback_every,
            ),
        ] {
            if parse_duration(value).is_none() {
                bad(key, format!("{value:?} is not a duration like \"15s\""));
            }
        }
        if let Some(n) = &self.centre.number {
            match senim_routing::partners::normalize_number(n) {
                Ok(e164) if e164.starts_with('+') => self.centre.number = Some(e164),
                _ => bad(
                    "centre.number",
                    format!("{n:?} is not a number like \"+77232000000\""),
                ),
            }
        }
        let area_code = match self.centre.area_code.trim() {
            "" => None,
            code => match senim_call::config::AreaCode::parse(code) {
                Ok(a) => Some(a),
                Err(e) => {
                    bad("centre.area_code", e.to_string());
                    None
                }
            },
        };
        let mut seen = std::collections::BTreeSet::new();
        let mut trunks = Vec::with_capacity(self.trunks.len());
        for (i, t) in self.trunks.iter().enumerate() {
            if !seen.insert(t.id.clone()) {
                bad(
                    &format!("trunk[{i}].id"),
                    format!("trunk {:?} is defined twice", t.id),
                );
            }
            match t.settings(self.centre.number.is_some()) {
                Ok(settings) => trunks.push(settings),
                Err((key, message)) => bad(
                    &entry_path(key, "trunk", i),
                    format!("trunk {:?}: {message}", t.id),
                ),
            }
        }
        let registrar = match self.registrar.settings() {
            Ok(r) => Some(r),
            Err((key, message)) => {
                bad(key, message);
                None
            }
        };
        let mut lines: Vec<senim_call::config::Line> = Vec::with_capacity(self.lines.len());
        for (i, l) in self.lines.iter().enumerate() {
            let start = l.start.trim();
            if start.is_empty()
                || !start
                    .chars()
                    .all(|c| c.is_alphanumeric() || "-_.".contains(c))
            {
                bad(
                    &format!("line[{i}].start"),
                    format!(
                        "line {:?}: {:?} is not a dialplan node id",
                        l.number, l.start
                    ),
                );
                continue;
            }
            let Some(line) = senim_call::config::Line::new(
                &l.number,
                start,
                l.name.clone().filter(|n| !n.trim().is_empty()),
            ) else {
                bad(
                    &format!("line[{i}].number"),
                    format!("{:?} is not a number like \"+77232000000\"", l.number),
                );
                continue;
            };
            if let Some(first) = lines.iter().find(|o| o.number == line.number) {
                bad(
                    &format!("line[{i}].number"),
                    format!(
                        "{:?} is the same number as a line before it (normalised {}, starting at {:?})",
                        l.number, first.number, first.start
                    ),
                );
                continue;
            }
            lines.push(line);
        }
        if let Err(token_faults) = TokenTable::from_config(&self.api, |id| {
            self.specialists.iter().any(|s| s.id.as_str() == id)
        }) {
            for (i, key, message) in token_faults {
                bad(&format!("api.token[{i}].{key}"), message);
            }
        }
        if let Err(user_faults) = crate::web::users::UserTable::from_config(&self.users, |id| {
            self.specialists.iter().any(|s| s.id.as_str() == id)
        }) {
            for (i, key, message) in user_faults {
                bad(&format!("user[{i}].{key}"), message);
            }
        }
        let retention = match self.retention.parse() {
            Ok(r) => Some(r),
            Err((key, message)) => {
                bad(key, message);
                None
            }
        };
        let wrap_up = match self.wrap_up.settings() {
            Ok(w) => {
                for (i, s) in self.specialists.iter().enumerate() {
                    for kind in s.limits.wrap_up_by_kind.keys() {
                        if w.policy.kind(kind).is_none() {
                            bad(
                                &format!("specialist[{i}].wrap_up_by_kind"),
                                format!(
                                    "specialist `{}`: no wrap-up kind `{kind}` (known: {})",
                                    s.id,
                                    w.policy
                                        .kinds
                                        .iter()
                                        .map(|k| k.id.as_str())
                                        .collect::<Vec<_>>()
                                        .join(", ")
                                ),
                            );
                        }
                    }
                }
                w
            }
            Err(wrap_up_faults) => {
                for (key, message) in wrap_up_faults {
                    bad(&key, message);
                }
                wrap_up::WrapUpSettings::default()
            }
        };
        let prompts_dir = self.prompts.dir.clone();
        let dialplan_file = self.dialplan.file.clone();
        let mut config = self;
        config.hours =
            std::mem::replace(&mut config.hours, Schedules::empty()).with_default_centre();
        // A specialist whose schedule names no [hours] entry would never be
        // rung, and nothing would say why.
        for (i, e) in config.specialists.schedule_faults(&config.hours) {
            let message = match (&e, config.specialists.iter().nth(i)) {
                (SpecialistsError::Invalid { message, .. }, Some(s)) => {
                    format!("specialist `{}`: {message}", s.id)
                }
                _ => e.to_string(),
            };
            bad(&format!("specialist[{i}].schedule"), message);
        }
        config.places = places;
        match (
            data_dir,
            rtp_ports,
            sip_t1,
            registrar,
            retention,
            first_prompt_limit,
        ) {
            (
                Some(data_dir),
                Some(rtp_ports),
                Some(sip_t1),
                Some(registrar),
                Some(retention),
                Some(first_prompt_limit),
            ) if faults.is_empty() => Ok(Settings {
                config,
                origin: origin.to_string(),
                rtp_ports,
                media_ip,
                sdp_ip,
                prompts_dir,
                sip_t1,
                dialplan_file,
                first_prompt_limit,
                retention,
                trunks,
                lines,
                registrar,
                area_code,
                sip_tls,
                data_dir,
                wrap_up,
            }),
            _ => Err(ConfigError::Faults(Faults {
                origin: origin.to_string(),
                faults,
            })),
        }
    }

    /// Put the database, the keys and the voice messages not given their
    /// own place in the data folder.
    fn place_data_files(&mut self, data_dir: &Path) {
        if self.database.url.trim().is_empty() {
            self.database.url = format!("sqlite://{}", data_dir.join("senim.db").display());
        }
        for (file, name) in [
            (&mut self.privacy.caller_hash_key_file, "senim.secret"),
            (&mut self.privacy.number_key_file, "senim.numbers.key"),
            (&mut self.voicemail.dir, "voicemail"),
        ] {
            if file.as_os_str().is_empty() {
                *file = data_dir.join(name);
            }
        }
    }
}

/// `trunk.address` of the `i`th entry of `array`: `trunk[i].address`.
fn entry_path(key: &str, array: &str, i: usize) -> String {
    match key
        .strip_prefix(array)
        .and_then(|rest| rest.strip_prefix('.'))
    {
        Some(rest) => format!("{array}[{i}].{rest}"),
        None => key.to_string(),
    }
}

/// The key a `SENIM_*` environment variable sets.
fn env_key(var: &str) -> Option<&'static str> {
    Some(match var {
        "SENIM_SIP_LISTEN" => "sip.listen",
        "SENIM_SIP_PUBLIC_ADDRESS" => "sip.public_address",
        "SENIM_SIP_TLS_LISTEN" => "sip.tls_listen",
        "SENIM_HTTP_LISTEN" => "http.listen",
        "SENIM_HTTP_TLS_CERT" => "http.tls_cert",
        "SENIM_HTTP_TLS_KEY" => "http.tls_key",
        "SENIM_DATABASE_URL" => "database.url",
        "SENIM_DATABASE_INSTANCE" => "database.instance",
        "SENIM_RTP_PORTS" => "media.rtp_ports",
        "SENIM_MEDIA_PUBLIC_IP" => "media.public_ip",
        "SENIM_MEDIA_IP" => "media.ip",
        "SENIM_PROMPTS_DIR" => "prompts.dir",
        "SENIM_CALLER_HASH_KEY_FILE" => "privacy.caller_hash_key_file",
        "SENIM_NUMBER_KEY_FILE" => "privacy.number_key_file",
        "SENIM_SIP_T1" => "sip.t1",
        "SENIM_SIP_RATE_LIMIT" => "sip.rate_limit",
        "SENIM_DIALPLAN" => "dialplan.file",
        "SENIM_VOICEMAIL_DIR" => "voicemail.dir",
        "SENIM_DATA_DIR" => "data.dir",
        _ => return None,
    })
}

/// The data folder when `[data] dir` is not set: systemd's
/// `STATE_DIRECTORY` (its first entry), else `$XDG_DATA_HOME/senim`, else
/// `$HOME/.local/share/senim`. Only absolute values count: a relative one
/// would depend on the working directory.
pub fn default_data_dir(var: impl Fn(&str) -> Option<std::ffi::OsString>) -> Option<PathBuf> {
    let absolute = |v: std::ffi::OsString| {
        let p = PathBuf::from(v);
        p.is_absolute().then_some(p)
    };
    if let Some(first) = var("STATE_DIRECTORY")
        .and_then(|v| {
            v.to_str()
                .and_then(|s| s.split(':').next())
                .map(PathBuf::from)
        })
        .filter(|p| p.is_absolute())
    {
        return Some(first);
    }
    if let Some(xdg) = var("XDG_DATA_HOME").and_then(absolute) {
        return Some(xdg.join("senim"));
    }
    var("HOME")
        .and_then(absolute)
        .map(|home| home.join(".local/share/senim"))
}

impl SipConfig {
    /// `tls_listen`, `tls_cert` and `tls_key` together, or none of them; the
    /// TLS port apart from the TCP one; a network address only with a trunk
    /// (checked with `listen`). The files are read at start (`server`).
    fn tls(&self) -> Result<Option<SipTls>, (&'static str, String)> {
        let bad = |key: &'static str, message: String| (key, message);
        let Some(listen) = self.tls_listen else {
            if self.tls_cert.is_some() || self.tls_key.is_some() {
                return Err(bad(
                    "sip.tls_listen",
                    "not set, but tls_cert or tls_key is: set tls_listen (for example \
                     \"0.0.0.0:5061\") to take SIP over TLS, or remove them"
                        .into(),
                ));
            }
            return Ok(None);
        };
        let cert = self.tls_cert.clone().ok_or_else(|| {
            bad(
                "sip.tls_cert",
                "needed with tls_listen: the PEM file of the certificate chain".into(),
            )
        })?;
        let key = self.tls_key.clone().ok_or_else(|| {
            bad(
                "sip.tls_key",
                "needed with tls_listen: the PEM file of the certificate's private key".into(),
            )
        })?;
        let clash = listen.port() != 0
            && listen.port() == self.listen.port()
            && (listen.ip() == self.listen.ip()
                || listen.ip().is_unspecified()
                || self.listen.ip().is_unspecified());
        if clash {
            return Err(bad(
                "sip.tls_listen",
                format!(
                    "{listen} takes the port of sip.listen ({}), which is SIP over UDP and TCP; \
                     TLS needs a port of its own (5061 is usual)",
                    self.listen
                ),
            ));
        }
        Ok(Some(SipTls {
            listen,
            files: TlsFiles { cert, key },
        }))
    }
}

/// The configuration Senim serves with: `path` (`None`: the built-in
/// defaults), the `SENIM_*` environment on top, checked. `senim serve`,
/// `senim reload` and each reload of a running Senim take it this way.
pub fn load(path: Option<&Path>) -> Result<Settings, ConfigError> {
    let (mut config, origin) = match path {
        Some(p) => (Config::from_file(p)?, p.display().to_string()),
        None => (Config::default(), "built-in defaults".to_string()),
    };
    config.apply_env(std::env::vars())?;
    config.validate(&origin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trunk_named_by_host_says_how_to_write_its_address() {
        for (address, want) in [
            ("sip.provider.kz:5060", "is a host name"),
            ("sip.provider.kz", "is a host name"),
            ("203.0.113.10", "has no port"),
            ("203.0.113:5060", "is not an IP address with a port"),
        ] {
            let text = format!("\n[[trunk]]\nid = \"p\"\naddress = \"{address}\"\n");
            let err = Config::from_toml(&text, Path::new("c.toml"))
                .unwrap_err()
                .to_string();
            assert!(err.starts_with("c.toml:4:"), "{err}");
            assert!(err.contains(want), "{address}: {err}");
        }
    }

    #[test]
    fn relative_paths_are_taken_from_the_configuration_files_folder() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("senim.toml");
        std::fs::write(
            &file,
            "[database]\nurl = \"sqlite://db/senim.db\"\n[prompts]\ndir = \"prompts\"\n\
             [dialplan]\nfile = \"/etc/senim/plan.xml\"\n[data]\ndir = \"data\"\n",
        )
        .unwrap();
        let c = Config::from_file(&file).unwrap();
        assert_eq!(c.prompts.dir, Some(dir.path().join("prompts")));
        assert_eq!(c.dialplan.file, Some(PathBuf::from("/etc/senim/plan.xml")));
        assert_eq!(c.data.dir, Some(dir.path().join("data")));
        assert_eq!(
            c.database.url,
            format!("sqlite://{}", dir.path().join("db/senim.db").display())
        );
        // Values from the environment stay as given.
        let mut c = c;
        c.apply_env([("SENIM_PROMPTS_DIR".to_string(), "p2".to_string())])
            .unwrap();
        assert_eq!(c.prompts.dir, Some(PathBuf::from("p2")));
    }

    #[test]
    fn every_fault_is_reported_at_once_each_at_its_own_line() {
        let text = "[sip]\n\
                    listen = \"127.0.0.1:5060\"\n\
                    t1 = \"9s\"\n\
                    listn = \"127.0.0.1:5070\"\n\
                    \n\
                    [[specialist]]\n\
                    id = \"dana\"\n\
                    name = \"Dana\"\n\
                    skills = [\"legal\"]\n\
                    languages = [\"ru\"]\n\
                    number = \"8 701 111 22 33\"\n\
                    \n\
                    [[specialist]]\n\
                    id = \"erlan\"\n\
                    name = \"Erlan\"\n\
                    skills = [\"cooking\"]\n\
                    languages = [\"kk\"]\n\
                    number = \"+77011112234\"\n\
                    \n\
                    [[specialist]]\n\
                    id = \"aruzhan\"\n\
                    name = \"Aruzhan\"\n\
                    skills = [\"mediation\"]\n\
                    languages = [\"kk\"]\n\
                    number = \"+77011112235\"\n\
                    schedule = \"nights\"\n\
                    \n\
                    [routing]\n\
                    accept_timeout = \"soon\"\n";
        let err = Config::from_toml(text, Path::new("c.toml")).unwrap_err();
        let lines: Vec<String> = err.to_string().lines().map(str::to_string).collect();
        let at = |line: usize, what: &str| {
            assert!(
                lines
                    .iter()
                    .any(|l| l.starts_with(&format!("c.toml:{line}:")) && l.contains(what)),
                "line {line} should say {what}: {lines:#?}"
            )
        };
        at(3, "key `sip.t1`");
        at(4, "listn");
        at(
            16,
            "specialist #2 `erlan`, key `skills`: unknown skill `cooking`",
        );
        at(26, "nights");
        at(29, "key `routing.accept_timeout`");
        assert_eq!(lines.len(), 5, "{lines:#?}");
        // Fixed, the national form of Dana's number is her number.
        let fixed = text
            .replace("t1 = \"9s\"", "t1 = \"500ms\"")
            .replace("listn = \"127.0.0.1:5070\"\n", "")
            .replace("cooking", "legal")
            .replace("schedule = \"nights\"\n", "")
            .replace("\"soon\"", "\"20s\"");
        let s = Config::from_toml(&fixed, Path::new("c.toml"))
            .and_then(|c| c.validate("c.toml"))
            .map_err(|e| e.to_string())
            .unwrap();
        let dana = s.config.specialists.get("dana").map(|d| d.contact.clone());
        assert_eq!(
            dana,
            Some(senim_routing::specialists::SpecialistContact::Number(
                "+77011112233".into()
            ))
        );
    }

    /// Every cut of a configuration, and every character of it replaced by
    /// a character that TOML gives meaning to, is read or refused, never a
    /// panic (a bounded, deterministic relative of a fuzzer).
    #[test]
    fn any_cut_or_changed_character_is_refused_without_a_panic() {
        let text = "[sip]\nt1 = \"9s\"\n[[specialist]]\nid = \"дана\"\nname = \"Дана\"\n\
                    skills = [\"legal\"]\nlanguages = [\"ru\"]\nnumber = \"8 701 111 22 33\"\n\
                    [[api.token]]\nname = \"x\"\nrole = \"admin\"\nsha256 = \"00\"\n\
                    [hours.centre]\nmon = \"09:00-18:00\"\n";
        let path = Path::new("c.toml");
        let cuts = text.char_indices().map(|(i, _)| i).chain([text.len()]);
        for cut in cuts {
            let _ = Config::from_toml(&text[..cut], path).map(|c| c.validate("c.toml"));
        }
        let chars: Vec<char> = text.chars().collect();
        for i in 0..chars.len() {
            for c in ['[', ']', '"', '=', '\n', '.', '{', '#', 'я'] {
                let mut changed = chars.clone();
                changed[i] = c;
                let changed: String = changed.into_iter().collect();
                let _ = Config::from_toml(&changed, path).map(|c| c.validate("c.toml"));
            }
        }
    }

    #[test]
    fn a_fault_of_a_key_set_by_the_environment_names_the_variable() {
        let mut c = Config::from_toml("[sip]\nt1 = \"1s\"\n", Path::new("c.toml")).unwrap();
        c.apply_env([("SENIM_SIP_T1".to_string(), "1h".to_string())])
            .unwrap();
        let err = c.validate("c.toml").unwrap_err().to_string();
        assert!(
            err.starts_with("environment variable SENIM_SIP_T1: key `sip.t1`"),
            "{err}"
        );
    }

    #[test]
    fn the_centre_number_in_national_form_is_its_e164() {
        let s = Config::from_toml(
            "[centre]\nnumber = \"8 7232 77 19 22\"\n",
            Path::new("c.toml"),
        )
        .and_then(|c| c.validate("c.toml"))
        .map_err(|e| e.to_string())
        .unwrap();
        assert_eq!(s.config.centre.number.as_deref(), Some("+77232771922"));
    }

    #[test]
    fn a_specialist_on_an_unknown_schedule_is_refused() {
        let text = "[hours.day]\nmon = \"09:00-18:00\"\n\n[[specialist]]\nid = \"aigerim\"\nname = \"Aigerim\"\n\
                    skills = [\"legal\"]\nlanguages = [\"kk\"]\nnumber = \"+77011112233\"\n\
                    schedule = \"nights\"\n";
        let err = Config::from_toml(text, Path::new("c.toml"))
            .unwrap()
            .validate("c.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("specialist.schedule"), "{err}");
        assert!(err.contains("aigerim") && err.contains("nights"), "{err}");
        assert!(err.contains("day"), "the known schedules are named: {err}");
        let fixed = text.replace("nights", "day");
        assert!(Config::from_toml(&fixed, Path::new("c.toml"))
            .unwrap()
            .validate("c.toml")
            .is_ok());
    }

    #[test]
    fn data_files_live_in_one_data_folder_never_the_working_directory() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| std::ffi::OsString::from(v))
            }
        };
        assert_eq!(
            default_data_dir(env(&[
                ("STATE_DIRECTORY", "/var/lib/senim:/x"),
                ("HOME", "/root")
            ])),
            Some(PathBuf::from("/var/lib/senim"))
        );
        assert_eq!(
            default_data_dir(env(&[("XDG_DATA_HOME", "/d"), ("HOME", "/root")])),
            Some(PathBuf::from("/d/senim"))
        );
        assert_eq!(
            default_data_dir(env(&[("XDG_DATA_HOME", "rel"), ("HOME", "/root")])),
            Some(PathBuf::from("/root/.local/share/senim"))
        );
        assert_eq!(default_data_dir(env(&[("HOME", "relative")])), None);
        let mut config =
            Config::from_toml("[data]\ndir = \"/srv/senim\"\n", Path::new("c.toml")).unwrap();
        config.privacy.number_key_file = PathBuf::from("/keys/n.key");
        let settings = config.validate("c.toml").unwrap();
        let c = &settings.config;
        assert_eq!(settings.data_dir, PathBuf::from("/srv/senim"));
        assert_eq!(c.database.url, "sqlite:///srv/senim/senim.db");
        assert_eq!(
            c.privacy.caller_hash_key_file,
            PathBuf::from("/srv/senim/senim.secret")
        );
        assert_eq!(
            c.privacy.number_key_file,
            PathBuf::from("/keys/n.key"),
            "its own key wins"
        );
        assert_eq!(c.voicemail.dir, PathBuf::from("/srv/senim/voicemail"));
        let err = Config::from_toml("[data]\ndir = \"\"\n", Path::new("c.toml"))
            .unwrap()
            .validate("c.toml")
            .unwrap_err();
        assert!(err.to_string().contains("data.dir"), "{err}");
    }

    #[test]
    fn defaults_serve_on_loopback() {
        let s = Config::default().validate("defaults").unwrap();
        assert_eq!(s.config.sip.listen.to_string(), "127.0.0.1:5060");
        assert_eq!(s.config.http.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(s.rtp_ports, (10000, 20000));
    }

    #[test]
    fn unknown_key_names_file_line_and_key() {
        let text = "[sip]\nlisten = \"127.0.0.1:5070\"\nlisen = 1\n";
        let err = Config::from_toml(text, Path::new("senim.toml")).unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("senim.toml:3:1:"), "{msg}");
        assert!(msg.contains("lisen"), "{msg}");
    }

    #[test]
    fn wrong_type_is_refused() {
        let text = "[http]\nlisten = 8080\n";
        let err = Config::from_toml(text, Path::new("c.toml")).unwrap_err();
        assert!(err.to_string().starts_with("c.toml:2:"), "{err}");
    }

    #[test]
    fn http_off_loopback_needs_tls_or_a_proxy() {
        let settings = |text: &str| {
            Config::from_toml(text, Path::new("senim.toml"))
                .unwrap()
                .validate("senim.toml")
        };
        let err = settings("[http]\nlisten = \"0.0.0.0:8080\"\n")
            .unwrap_err()
            .to_string();
        for word in [
            "http.listen",
            "0.0.0.0:8080",
            "tls_cert",
            "tls_key",
            "behind_proxy",
        ] {
            assert!(err.contains(word), "{word}: {err}");
        }
        assert!(settings("[http]\nlisten = \"192.0.2.5:8080\"\n").is_err());
        assert!(settings("[http]\nlisten = \"0.0.0.0:8080\"\nbehind_proxy = true\n").is_ok());
        let tls =
            settings("[http]\nlisten = \"[::]:8443\"\ntls_cert = \"c.pem\"\ntls_key = \"k.pem\"\n")
                .unwrap();
        assert_eq!(
            tls.config.http.tls().map(|f| f.cert),
            Some(PathBuf::from("c.pem"))
        );
        // Loopback needs neither; [::1] is loopback too.
        assert!(settings("[http]\nlisten = \"[::1]:8080\"\n").is_ok());
        // One file without the other names the missing key.
        let err = settings("[http]\ntls_cert = \"c.pem\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("http.tls_key"), "{err}");
        let err = settings("[http]\ntls_key = \"k.pem\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("http.tls_cert"), "{err}");
        // From the environment as well.
        let mut c = Config::default();
        c.apply_env([
            ("SENIM_HTTP_LISTEN".to_string(), "0.0.0.0:0".to_string()),
            (
                "SENIM_HTTP_TLS_CERT".to_string(),
                "/etc/senim/c.pem".to_string(),
            ),
            (
                "SENIM_HTTP_TLS_KEY".to_string(),
                "/etc/senim/k.pem".to_string(),
            ),
        ])
        .unwrap();
        assert!(c.validate("env").is_ok());
    }

    #[test]
    fn callback_numbers_and_limit() {
        let settings = |text: &str| {
            Config::from_toml(text, Path::new("senim.toml"))
                .unwrap()
                .validate("senim.toml")
        };
        let d = settings("").unwrap();
        assert_eq!(d.area_code.as_ref().map(|a| a.as_str()), Some("7232"));
        assert_eq!(d.config.callback.max_per_day, 3);
        let s = settings("[centre]\narea_code = \"727\"\n[callback]\nmax_per_day = 0\n").unwrap();
        assert_eq!(s.area_code.map(|a| a.local_length()), Some(7));
        assert_eq!(s.config.callback.max_per_day, 0);
        assert!(settings("[centre]\narea_code = \"\"\n")
            .unwrap()
            .area_code
            .is_none());
        let err = settings("[centre]\narea_code = \"8 7232\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("centre.area_code"), "{err}");
    }

    #[test]
    fn the_first_prompt_limit_is_eight_seconds_unless_set_and_checked_at_its_place() {
        let s = Config::default().validate("defaults").unwrap();
        assert_eq!(s.first_prompt_limit, Duration::from_secs(8));
        let text = "[dialplan]\nfirst_prompt_limit = \"6500ms\"\n";
        let s = Config::from_toml(text, Path::new("senim.toml"))
            .unwrap()
            .validate("senim.toml")
            .unwrap();
        assert_eq!(s.first_prompt_limit, Duration::from_millis(6500));
        for bad in ["0s", "two seconds", "2h"] {
            let text = format!("[dialplan]\nwatch = true\nfirst_prompt_limit = \"{bad}\"\n");
            let err = Config::from_toml(&text, Path::new("senim.toml"))
                .unwrap()
                .validate("senim.toml")
                .unwrap_err()
                .to_string();
            assert!(err.contains("senim.toml:3:"), "{err}");
            assert!(err.contains("dialplan.first_prompt_limit"), "{err}");
            assert!(err.contains("between 1s and 1h"), "{err}");
        }
    }

    #[test]
    fn bad_range_names_the_key() {
        let mut c = Config::default();
        c.media.rtp_ports = "20000-10000".into();
        let err = c.validate("senim.toml").unwrap_err().to_string();
        assert!(err.contains("media.rtp_ports"), "{err}");
    }

    #[test]
    fn refer_is_used_only_with_the_promise_to_present_the_centre() {
        let trunk = |extra: &str| {
            let text = format!("[[trunk]]\nid = \"t\"\naddress = \"127.0.0.1:5090\"\n{extra}");
            let s = Config::from_toml(&text, Path::new("senim.toml"))
                .unwrap()
                .validate("senim.toml")
                .unwrap();
            s.trunks[0].trunk.clone()
        };
        assert!(!trunk("").transfers_by_refer());
        let bare = trunk("refer = true\n");
        assert!(bare.refer && !bare.transfers_by_refer());
        let promised = trunk("refer = true\nrefer_presents_centre = true\n");
        assert!(promised.transfers_by_refer());
        assert!(!trunk("refer_presents_centre = true\n").transfers_by_refer());
    }

    #[test]
    fn env_overrides_and_names_the_variable() {
        let mut c = Config::default();
        c.apply_env([
            ("SENIM_SIP_LISTEN".to_string(), "127.0.0.1:5999".to_string()),
            (
                "SENIM_DATABASE_URL".to_string(),
                "sqlite://x.db".to_string(),
            ),
        ])
        .unwrap();
        assert_eq!(c.sip.listen.port(), 5999);
        assert_eq!(c.database.url, "sqlite://x.db");
        let err = c
            .apply_env([("SENIM_HTTP_LISTEN".to_string(), "nope".to_string())])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("SENIM_HTTP_LISTEN") && err.contains("http.listen"),
            "{err}"
        );
    }

    #[test]
    fn api_tokens_are_checked_at_load() {
        let hash = crate::http::auth::token_sha256_hex("t");
        let ok = format!(
            "[[api.token]]\nname = \"office\"\nrole = \"coordinator\"\nsha256 = \"{hash}\"\n"
        );
        let c = Config::from_toml(&ok, Path::new("c.toml")).unwrap();
        assert_eq!(c.api.tokens.len(), 1);
        c.validate("c.toml").unwrap();
        let no_such = format!(
            "[[api.token]]\nname = \"x\"\nrole = \"specialist\"\nspecialist = \"nobody\"\nsha256 = \"{hash}\"\n"
        );
        let err = Config::from_toml(&no_such, Path::new("c.toml"))
            .unwrap()
            .validate("c.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("api.token") && err.contains("nobody"), "{err}");
        let bad_role =
            format!("[[api.token]]\nname = \"x\"\nrole = \"root\"\nsha256 = \"{hash}\"\n");
        let err = Config::from_toml(&bad_role, Path::new("c.toml")).unwrap_err();
        assert!(err.to_string().starts_with("c.toml:3:"), "{err}");
    }

    #[test]
    fn sdp_names_the_public_address_behind_nat() {
        let settings = |text: &str| {
            Config::from_toml(text, Path::new("c.toml"))
                .and_then(|c| c.validate("c.toml"))
                .map(|s| (s.media_ip.to_string(), s.sdp_ip.to_string()))
                .map_err(|e| e.to_string())
        };
        let lan = "[[trunk]]\nid = \"provider\"\naddress = \"198.51.100.20:5060\"\n\n[sip]\nlisten = \"192.168.1.10:5060\"\n";
        assert_eq!(
            settings(lan).unwrap(),
            ("192.168.1.10".into(), "192.168.1.10".into())
        );
        let nat = format!("{lan}public_address = \"203.0.113.5:5060\"\n");
        assert_eq!(
            settings(&nat).unwrap(),
            ("192.168.1.10".into(), "203.0.113.5".into())
        );
        let own = format!("{nat}[media]\npublic_ip = \"203.0.113.6\"\n");
        assert_eq!(
            settings(&own).unwrap(),
            ("192.168.1.10".into(), "203.0.113.6".into())
        );
        let e = settings(&format!("{lan}[media]\npublic_ip = \"0.0.0.0\"\n")).unwrap_err();
        assert!(e.contains("media.public_ip"), "{e}");
    }

    #[test]
    fn sip_over_tls_is_off_by_default_and_its_keys_come_together() {
        let check = |text: &str| {
            Config::from_toml(text, Path::new("c.toml"))
                .and_then(|c| c.validate("c.toml"))
                .map_err(|e| e.to_string())
        };
        assert!(check("").unwrap().sip_tls.is_none(), "off by default");
        let tls = check(
            "[sip]\ntls_listen = \"127.0.0.1:5061\"\ntls_cert = \"sip.crt\"\ntls_key = \"sip.key\"\n",
        )
        .unwrap()
        .sip_tls
        .expect("on");
        assert_eq!(tls.listen.to_string(), "127.0.0.1:5061");
        assert_eq!(tls.files.cert, PathBuf::from("sip.crt"));
        assert_eq!(tls.files.key, PathBuf::from("sip.key"));
        for (text, key) in [
            ("[sip]\ntls_listen = \"127.0.0.1:5061\"\ntls_key = \"k\"\n", "sip.tls_cert"),
            ("[sip]\ntls_listen = \"127.0.0.1:5061\"\ntls_cert = \"c\"\n", "sip.tls_key"),
            ("[sip]\ntls_cert = \"c\"\ntls_key = \"k\"\n", "sip.tls_listen"),
            // The TCP listener's port.
            (
                "[sip]\nlisten = \"127.0.0.1:5070\"\ntls_listen = \"127.0.0.1:5070\"\ntls_cert = \"c\"\ntls_key = \"k\"\n",
                "sip.tls_listen",
            ),
            // Off loopback without a trunk.
            (
                "[sip]\ntls_listen = \"0.0.0.0:5061\"\ntls_cert = \"c\"\ntls_key = \"k\"\n",
                "sip.tls_listen",
            ),
        ] {
            let e = check(text).unwrap_err();
            assert!(e.contains(&format!("key `{key}`")), "{text}: {e}");
        }
        let mut c = Config::default();
        c.apply_env([("SENIM_SIP_TLS_LISTEN".to_string(), "nonsense".to_string())])
            .map(|_| ())
            .expect_err("a bad address");
        c.apply_env([(
            "SENIM_SIP_TLS_LISTEN".to_string(),
            "127.0.0.1:0".to_string(),
        )])
        .unwrap();
        assert_eq!(c.sip.tls_listen, Some("127.0.0.1:0".parse().unwrap()));
    }

    #[test]
    fn a_trunk_may_be_reached_over_tls() {
        let trunk = |extra: &str| {
            let text = format!("[[trunk]]\nid = \"t\"\naddress = \"192.0.2.5:5061\"\n{extra}");
            Config::from_toml(&text, Path::new("c.toml"))
                .and_then(|c| c.validate("c.toml"))
                .map(|s| s.trunks[0].clone())
                .map_err(|e| e.to_string())
        };
        let t = trunk("transport = \"tls\"\ntls_ca = \"ca.pem\"\n").unwrap();
        assert_eq!(t.trunk.transport, senim_sip::message::Transport::Tls);
        assert_eq!(t.tls_ca, Some(PathBuf::from("ca.pem")));
        assert_eq!(
            t.keepalive,
            Some(Duration::from_secs(90)),
            "pinged like TCP"
        );
        let e = trunk("tls_ca = \"ca.pem\"\n").unwrap_err();
        assert!(e.contains("trunk.tls_ca"), "{e}");
        let e = trunk("transport = \"sctp\"\n").unwrap_err();
        assert!(
            e.contains("trunk.transport") && e.contains("\"tls\""),
            "{e}"
        );
    }

    #[test]
    fn lines_are_checked_at_load() {
        let text = "[[line]]\nnumber = \"+7 7232 000000\"\nstart = \"greeting\"\n\n[[line]]\nnumber = \"87232000001\"\nstart = \"main\"\nname = \"children's line\"\n";
        let s = Config::from_toml(text, Path::new("c.toml"))
            .unwrap()
            .validate("c.toml")
            .unwrap();
        let lines: Vec<_> = s
            .lines
            .iter()
            .map(|l| (l.number.as_str(), l.start.as_str(), l.name.as_deref()))
            .collect();
        assert_eq!(
            lines,
            [
                ("77232000000", "greeting", None),
                ("77232000001", "main", Some("children's line"))
            ]
        );
        let err = |text: &str| {
            Config::from_toml(text, Path::new("c.toml"))
                .and_then(|c| c.validate("c.toml"))
                .map(|_| ())
                .unwrap_err()
                .to_string()
        };
        let e = err("[[line]]\nnumber = \"centre\"\nstart = \"main\"\n");
        assert!(
            e.contains("key `line.number`") && e.contains("centre"),
            "{e}"
        );
        let e = err("[[line]]\nnumber = \"+77232000000\"\nstart = \"\"\n");
        assert!(e.contains("key `line.start`"), "{e}");
        let e = err("[[line]]\nnumber = \"+77232000000\"\nstart = \"a\"\n[[line]]\nnumber = \"87232000000\"\nstart = \"b\"\n");
        assert!(e.contains("same number"), "{e}");
        let e = err("[[line]]\nnumber = \"+77232000000\"\n");
        assert!(e.starts_with("c.toml:1:1:") && e.contains("start"), "{e}");
        assert!(Config::default().validate("d").unwrap().lines.is_empty());
    }

    #[test]
    fn a_network_address_without_a_trunk_is_refused_with_the_fix() {
        let validate = |text: &str| {
            Config::from_toml(text, Path::new("c.toml"))
                .and_then(|c| c.validate("c.toml"))
                .map(|_| ())
                .map_err(|e| e.to_string())
        };
        for listen in ["0.0.0.0:5060", "192.168.1.10:5060", "[::]:5060"] {
            let e = validate(&format!("[sip]\nlisten = \"{listen}\"\n")).unwrap_err();
            assert!(e.contains("key `sip.listen`"), "{e}");
            assert!(e.contains("[[trunk]]") && e.contains("127.0.0.1"), "{e}");
        }
        validate("[sip]\nlisten = \"127.0.0.1:5060\"\n").unwrap();
        validate("[sip]\nlisten = \"[::1]:5060\"\n").unwrap();
        validate(
            "[sip]\nlisten = \"0.0.0.0:5060\"\n[media]\nip = \"192.168.1.10\"\n\
             [[trunk]]\nid = \"provider\"\naddress = \"198.51.100.20:5060\"\n",
        )
        .unwrap();
    }

    #[test]
    fn unknown_sources_and_the_registrar_are_checked_at_load() {
        let settings = |text: &str| {
            Config::from_toml(text, Path::new("c.toml"))
                .and_then(|c| c.validate("c.toml"))
                .map_err(|e| e.to_string())
        };
        let s = settings("").unwrap();
        assert_eq!(s.config.sip.unknown_sources, UnknownSources::Drop);
        assert_eq!(s.registrar, RegistrarSettings::default());
        let s = settings("[sip]\nunknown_sources = \"403\"\n").unwrap();
        assert_eq!(s.config.sip.unknown_sources, UnknownSources::Forbidden);
        let e = settings("[sip]\nunknown_sources = \"reject\"\n").unwrap_err();
        assert!(e.starts_with("c.toml:2:"), "{e}");
        let s =
            settings("[registrar]\nmax_failures = 5\nlockout = \"2s\"\nalgorithms = [\"MD5\"]\n")
                .unwrap();
        assert_eq!(s.registrar.lockout.max_failures, 5);
        assert_eq!(s.registrar.lockout.lock_for, Duration::from_secs(2));
        let e = settings("[registrar]\nlockout = \"2\"\n").unwrap_err();
        assert!(e.contains("key `registrar.lockout`"), "{e}");
    }

    #[test]
    fn retention_errors_name_the_key() {
        let err = Config::from_toml("[retention]\nnumbers = \"30\"\n", Path::new("senim.toml"))
            .unwrap()
            .validate("senim.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("retention.numbers"), "{err}");
        let err = Config::from_toml(
            "[retention]\nremembered = \"180s\"\n",
            Path::new("senim.toml"),
        )
        .unwrap()
        .validate("senim.toml")
        .unwrap_err()
        .to_string();
        assert!(err.contains("senim.toml:2:"), "{err}");
        assert!(err.contains("retention.remembered"), "{err}");
    }
}
