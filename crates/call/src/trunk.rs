//! A SIP trunk as the call core sees it: where numbers are dialled, how the
//! centre is presented, how numbers are written, how many calls it may carry,
//! whether it is up, how DTMF arrives from it and whether it takes REFER.
//!
//! The configuration is fixed for the life of the process; [`TrunkLoad`] is
//! the one piece shared with the driver: the health probe marks a trunk up or
//! down, and calls take and give back a slot of its outbound cap. Both are
//! plain atomics, so the core stays free of I/O.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use senim_sip::message::{Peer, Transport};

/// How keys arrive from a trunk's callers. SIP INFO is understood in every
/// mode; the call's deduplicator drops a press reported by two sources.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DtmfMode {
    /// RFC 4733 when the SDP negotiated telephone-event, else in-band tones;
    /// SIP INFO is always understood.
    #[default]
    Auto,
    /// RFC 4733 only (and INFO).
    Rfc4733,
    /// In-band tones (telephone-event packets are ignored).
    Inband,
    /// SIP INFO only (telephone-event packets and tones are ignored).
    Info,
    /// RFC 4733 and in-band tones both, each key press reported once: for
    /// providers that negotiate telephone-event but pass the tones in the audio.
    Both,
}

impl DtmfMode {
    /// The configuration word (`auto`, `rfc4733`, `inband`, `info`, `both`).
    pub fn parse(word: &str) -> Option<DtmfMode> {
        Some(match word {
            "auto" => DtmfMode::Auto,
            "rfc4733" | "rfc2833" => DtmfMode::Rfc4733,
            "inband" => DtmfMode::Inband,
            "info" => DtmfMode::Info,
            "both" => DtmfMode::Both,
            _ => return None,
        })
    }
}

/// How dialled numbers are written in the Request-URI towards the trunk.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum NumberFormat {
    /// E.164 with `+`: `+77232123456`.
    #[default]
    E164,
    /// Kazakh national form: `87232123456`.
    National,
    /// Numbers of the centre's own city without the area code
    /// (`123456` for `+7 7232 123456` when the code is `7232`), other
    /// numbers in the national form.
    Local {
        /// The city's area code without the country code (`7232` for Oskemen).
        area_code: String,
    },
}

impl NumberFormat {
    /// Write `number` (E.164 `+7…`, national `8…`, or a short code such as
    /// `112`) in this format. Short codes and numbers that are not Kazakh
    /// eleven-digit numbers are passed through as digits (a leading `+` kept).
    pub fn write(&self, number: &str) -> String {
        let digits: String = number.chars().filter(|c| c.is_ascii_digit()).collect();
        let plus = number.trim_start().starts_with('+');
        // The ten digits after the country code, when it is a Kazakh number.
        let kazakh = digits.len() == 11
            && ((plus && digits.starts_with('7')) || (!plus && digits.starts_with('8')));
        let national = if kazakh {
            digits.get(1..).map(str::to_string)
        } else {
            None
        };
        let Some(national) = national else {
            return if plus { format!("+{digits}") } else { digits };
        };
        match self {
            NumberFormat::E164 => format!("+7{national}"),
            NumberFormat::National => format!("8{national}"),
            NumberFormat::Local { area_code } => match national.strip_prefix(area_code.as_str()) {
                Some(local) if !area_code.is_empty() && !local.is_empty() => local.to_string(),
                _ => format!("8{national}"),
            },
        }
    }
}

/// How the centre is presented on calls out through a trunk (RFC 3325).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Presentation {
    /// The From user (the centre's number as the provider knows it). `None`:
    /// the centre's number from `[centre]`, else the SIP user.
    pub from_user: Option<String>,
    /// The From display name. `None`: the centre's name.
    pub from_display: Option<String>,
    /// Send P-Asserted-Identity with the centre's number.
    pub assert_identity: bool,
    /// The `Privacy` header value (`id`, `none`); `None`: no header.
    pub privacy: Option<String>,
}

/// Credentials for a trunk that challenges Senim (REGISTER and INVITE).
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user of the address of record (and of From when registering).
    pub username: String,
    /// The digest user name, when the provider gives one apart from the user.
    pub auth_username: Option<String>,
    pub password: String,
}

impl Credentials {
    /// The name the digest response is computed for.
    pub fn digest_user(&self) -> &str {
        self.auth_username.as_deref().unwrap_or(&self.username)
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("auth_username", &self.auth_username)
            .field("password", &"<hidden>")
            .finish()
    }
}

/// An address range a trunk's requests may come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddressRange {
    pub network: IpAddr,
    pub prefix: u8,
}

impl AddressRange {
    /// Parse `192.0.2.10`, `192.0.2.0/24` or `2001:db8::/32`.
    pub fn parse(text: &str) -> Option<AddressRange> {
        let (ip, prefix) = match text.split_once('/') {
            Some((ip, p)) => (ip.trim(), Some(p.trim().parse::<u8>().ok()?)),
            None => (text.trim(), None),
        };
        let network: IpAddr = ip.parse().ok()?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        (prefix <= max).then_some(AddressRange { network, prefix })
    }

    /// Whether `ip` is in the range.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
            v4 => v4,
        };
        match (self.network, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

/// A SIP trunk (provider or Asterisk box).
#[derive(Debug, Clone)]
pub struct Trunk {
    /// A name for logs, records and `GET /trunks`.
    pub id: String,
    /// Where requests to the trunk are sent (its proxy or SBC).
    pub address: SocketAddr,
    /// The transport towards `address`.
    pub transport: Transport,
    /// The host part of Request-URIs, From and To towards the trunk (the
    /// provider's domain); `None`: `address`.
    pub domain: Option<String>,
    /// Addresses the trunk's requests may come from (besides `address`).
    pub allow: Vec<AddressRange>,
    /// Digest credentials (registration and challenged INVITEs).
    pub credentials: Option<Credentials>,
    /// Senim registers to the trunk; its Contact user then identifies the
    /// trunk's inbound calls.
    pub register: bool,
    /// How the centre is presented on calls out through the trunk.
    pub presentation: Presentation,
    /// How dialled numbers are written.
    pub number_format: NumberFormat,
    /// At most this many outbound calls at once (`None`: no cap).
    pub max_calls: Option<u32>,
    /// How keys arrive from the trunk's callers.
    pub dtmf: DtmfMode,
    /// The trunk takes REFER for calls it brought in.
    pub refer: bool,
    /// The trunk promises that a call it places for a REFER presents the
    /// centre's number, not the transferred caller's. REFER is used only
    /// with both this and `refer` (see [`Trunk::transfers_by_refer`]).
    pub refer_presents_centre: bool,
    /// Ask for no REFER subscription (RFC 4488).
    pub refer_no_subscription: bool,
    /// The driver probes the trunk with OPTIONS: a call that finds it
    /// silent may mark it down (the next answered probe marks it up).
    pub probed: bool,
    /// Health and load, shared with the driver.
    pub load: Arc<TrunkLoad>,
}

impl Trunk {
    /// A trunk at `address` with everything else at its defaults (UDP, open
    /// to its own address only, no credentials, E.164, no cap, DTMF auto,
    /// no REFER).
    pub fn new(id: impl Into<String>, address: SocketAddr) -> Trunk {
        Trunk {
            id: id.into(),
            address,
            transport: Transport::Udp,
            domain: None,
            allow: Vec::new(),
            credentials: None,
            register: false,
            presentation: Presentation::default(),
            number_format: NumberFormat::default(),
            max_calls: None,
            dtmf: DtmfMode::default(),
            refer: false,
            refer_presents_centre: false,
            refer_no_subscription: false,
            probed: false,
            load: Arc::new(TrunkLoad::default()),
        }
    }

    /// Where requests to the trunk go.
    pub fn peer(&self) -> Peer {
        Peer {
            transport: self.transport,
            addr: self.address,
        }
    }

    /// The host of URIs towards the trunk.
    pub fn host(&self) -> String {
        match &self.domain {
            Some(d) => d.clone(),
            None => match self.address {
                SocketAddr::V4(v4) => format!("{}:{}", v4.ip(), v4.port()),
                SocketAddr::V6(v6) => format!("[{}]:{}", v6.ip(), v6.port()),
            },
        }
    }

    /// The Request-URI for `number` through this trunk.
    pub fn number_uri(&self, number: &str) -> Option<rsip::Uri> {
        let written = self.number_format.write(number);
        if written.is_empty() || written.trim_start_matches('+').is_empty() {
            return None;
        }
        let transport = match self.transport {
            Transport::Tcp => ";transport=tcp",
            Transport::Tls => ";transport=tls",
            Transport::Udp => "",
        };
        rsip::Uri::try_from(format!("sip:{written}@{}{transport}", self.host()).as_str()).ok()
    }

    /// Whether partner transfers of this trunk's callers are handed to it
    /// by REFER: it takes REFER and presents the centre on the new call
    /// (else the partner would see the caller's number; a bridged leg is
    /// used instead).
    pub fn transfers_by_refer(&self) -> bool {
        self.refer && self.refer_presents_centre
    }

    /// Whether a request from `peer` may have come through this trunk.
    pub fn admits(&self, peer: SocketAddr) -> bool {
        peer.ip() == self.address.ip() || self.allow.iter().any(|r| r.contains(peer.ip()))
    }

    /// The contact user Senim registers with (inbound calls to it belong here).
    pub fn contact_user(&self) -> Option<&str> {
        if self.register {
            self.credentials.as_ref().map(|c| c.username.as_str())
        } else {
            None
        }
    }

    /// A slot for one more outbound call when the trunk is up and has room
    /// under `max_calls` (the cap is hard: providers refuse calls over it).
    pub fn claim(&self) -> Result<TrunkSlot, TrunkRefusal> {
        if !self.load.is_up() {
            return Err(TrunkRefusal::Down);
        }
        self.load
            .acquire(self.max_calls)
            .ok_or(TrunkRefusal::AtCallLimit)
    }
}

/// Why a trunk cannot take one more outbound call now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrunkRefusal {
    /// Marked down (a probe or a call found it silent).
    Down,
    /// As many outbound calls as its `max_calls`.
    AtCallLimit,
}

impl std::fmt::Display for TrunkRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TrunkRefusal::Down => "down",
            TrunkRefusal::AtCallLimit => "at its call limit",
        })
    }
}

/// What the driver last knew of a trunk, for `GET /trunks` and `/metrics`
/// (times as Unix epoch milliseconds; never a secret).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct TrunkReport {
    /// `up`, `down`, `unknown` (no probe answered yet) or `unprobed`.
    pub state: String,
    /// Since when the trunk is in that state.
    pub since_ms: Option<i64>,
    /// The registration's state, for a registering trunk: `unregistered`,
    /// `registering`, `registered` or `failed`.
    pub registration: Option<String>,
    /// Registered until.
    pub registered_until_ms: Option<i64>,
    /// The last failure (probe, registration or a call that found it silent).
    pub last_failure: Option<String>,
    pub last_failure_ms: Option<i64>,
    /// Senim's address as the registrar saw it (`received`/`rport`), behind NAT.
    pub public_address: Option<String>,
}

/// A trunk's health and current outbound calls, shared with the driver.
#[derive(Debug)]
pub struct TrunkLoad {
    down: AtomicBool,
    active: AtomicU32,
    report: Mutex<TrunkReport>,
}

impl Default for TrunkLoad {
    fn default() -> Self {
        TrunkLoad {
            down: AtomicBool::new(false),
            active: AtomicU32::new(0),
            report: Mutex::new(TrunkReport {
                state: "unknown".into(),
                ..TrunkReport::default()
            }),
        }
    }
}

impl TrunkLoad {
    /// What the driver last knew of the trunk.
    pub fn report(&self) -> TrunkReport {
        self.report.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// Replace the report (the driver).
    pub fn set_report(&self, report: TrunkReport) {
        if let Ok(mut r) = self.report.lock() {
            *r = report;
        }
    }

    /// Whether the trunk answered its last probe (a trunk is up until a
    /// probe or a call says otherwise).
    pub fn is_up(&self) -> bool {
        !self.down.load(Ordering::Relaxed)
    }

    /// Mark the trunk up or down.
    pub fn set_up(&self, up: bool) {
        self.down.store(!up, Ordering::Relaxed);
    }

    /// Outbound calls on the trunk now.
    pub fn active(&self) -> u32 {
        self.active.load(Ordering::Relaxed)
    }

    /// Take a slot of the outbound cap; `None` when the trunk is full.
    pub fn acquire(self: &Arc<Self>, cap: Option<u32>) -> Option<TrunkSlot> {
        let taken = self
            .active
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| match cap {
                Some(c) if n >= c => None,
                _ => Some(n.saturating_add(1)),
            });
        taken.ok().map(|_| TrunkSlot { load: self.clone() })
    }
}

/// One outbound call's place on a trunk; given back when dropped.
#[derive(Debug)]
pub struct TrunkSlot {
    load: Arc<TrunkLoad>,
}

impl Drop for TrunkSlot {
    fn drop(&mut self) {
        let _ = self
            .load
            .active
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                Some(n.saturating_sub(1))
            });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_written_per_format() {
        let local = NumberFormat::Local {
            area_code: "7232".into(),
        };
        for (format, input, out) in [
            (&NumberFormat::E164, "+77232123456", "+77232123456"),
            (&NumberFormat::E164, "87232123456", "+77232123456"),
            (&NumberFormat::National, "+77051234567", "87051234567"),
            (&NumberFormat::National, "112", "112"),
            (&local, "+77232123456", "123456"),
            (&local, "+77051234567", "87051234567"),
            (&local, "102", "102"),
            (&NumberFormat::E164, "+44 20 7946 0000", "+442079460000"),
        ] {
            assert_eq!(format.write(input), out, "{format:?} {input}");
        }
    }

    #[test]
    fn address_ranges() {
        let r = AddressRange::parse("192.0.2.0/24").unwrap();
        assert!(r.contains("192.0.2.77".parse().unwrap()));
        assert!(!r.contains("192.0.3.1".parse().unwrap()));
        assert!(r.contains("::ffff:192.0.2.5".parse().unwrap()));
        let one = AddressRange::parse("127.0.0.1").unwrap();
        assert!(one.contains("127.0.0.1".parse().unwrap()));
        assert!(!one.contains("127.0.0.2".parse().unwrap()));
        assert!(AddressRange::parse("10.0.0.0/33").is_none());
        assert!(AddressRange::parse("nonsense").is_none());
        let any = AddressRange::parse("0.0.0.0/0").unwrap();
        assert!(any.contains("203.0.113.9".parse().unwrap()));
    }

    #[test]
    fn the_cap_is_kept_and_slots_come_back() {
        let load = Arc::new(TrunkLoad::default());
        let a = load.acquire(Some(2)).unwrap();
        let _b = load.acquire(Some(2)).unwrap();
        assert!(load.acquire(Some(2)).is_none());
        drop(a);
        assert_eq!(load.active(), 1);
        assert!(load.acquire(Some(2)).is_some());
        assert_eq!(load.active(), 1);
    }

    #[test]
    fn a_claim_needs_the_trunk_up_and_under_its_cap() {
        let trunk = Trunk {
            max_calls: Some(1),
            ..Trunk::new("t", "192.0.2.9:5060".parse().unwrap())
        };
        let held = trunk.claim().unwrap();
        assert_eq!(trunk.claim().unwrap_err(), TrunkRefusal::AtCallLimit);
        drop(held);
        trunk.load.set_up(false);
        assert_eq!(trunk.claim().unwrap_err(), TrunkRefusal::Down);
        assert_eq!(trunk.load.active(), 0);
        trunk.load.set_up(true);
        assert!(trunk.claim().is_ok());
    }
}
