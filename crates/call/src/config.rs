//! What every call shares and never changes during a call: the centre's
//! identity, trunks, prompts, schedules, partners and specialists. The driver
//! builds it once from the configuration; the core only reads it.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use senim_media::prompts::PromptLibrary;
use senim_routing::hours::{Calendar, Schedules};
use senim_routing::partners::PartnerDirectory;
use senim_routing::specialists::Specialists;
use senim_sip::message::Transport;

pub use crate::kazakh_number::AreaCode;
pub use crate::leg::WrapUpMenu;
pub use crate::line::Line;
pub use crate::trunk::{
    AddressRange, Credentials, DtmfMode, NumberFormat, Presentation, Trunk, TrunkLoad,
    TrunkRefusal, TrunkSlot,
};

/// Hashes and seals callers' numbers. The binary's implementation holds the
/// keys; the core never sees them.
pub trait NumberGuard: Send + Sync {
    /// A keyed hash of the number, to recognise repeat callers without it.
    fn hash(&self, number: &str) -> String;
    /// The number sealed for a callback (only the API can open it).
    fn seal(&self, number: &str) -> String;
}

/// How many callback requests a caller may leave (see
/// [`crate::callback_limit`]). Keys are keyed hashes of numbers
/// ([`NumberGuard::hash`]): the caller's own and the number left. The
/// binary shares one [`crate::callback_limit::CallbackLimit`] between calls.
pub trait CallbackQuota: Send + Sync {
    /// May a request be taken at `at_ms` (epoch ms) for every one of `keys`?
    fn allows(&self, keys: &[String], at_ms: i64) -> bool;
    /// A request for `keys` was recorded at `at_ms`.
    fn charge(&self, keys: &[String], at_ms: i64);
}

/// No limit.
#[derive(Debug, Clone, Copy, Default)]
pub struct Unlimited;

impl CallbackQuota for Unlimited {
    fn allows(&self, _keys: &[String], _at_ms: i64) -> bool {
        true
    }

    fn charge(&self, _keys: &[String], _at_ms: i64) {}
}

/// What callback requests and click-to-call accept.
#[derive(Clone)]
pub struct CallbackPolicy {
    /// The centre's area code (`[centre] area_code`): local numbers of its
    /// city are taken without it. `None`: only full numbers.
    pub area_code: Option<AreaCode>,
    /// Requests per caller per day.
    pub quota: Arc<dyn CallbackQuota>,
}

impl Default for CallbackPolicy {
    fn default() -> Self {
        CallbackPolicy {
            area_code: None,
            quota: Arc::new(Unlimited),
        }
    }
}

impl std::fmt::Debug for CallbackPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallbackPolicy")
            .field("area_code", &self.area_code)
            .finish_non_exhaustive()
    }
}

/// How outbound legs present the centre, trunks, ring settings.
#[derive(Debug, Clone)]
pub struct Outbound {
    /// From display name.
    pub display: String,
    /// From user and P-Asserted-Identity user: the centre's number, or the SIP user.
    pub user: String,
    /// Whether the centre's number is a real number (then P-Asserted-Identity is sent).
    pub has_number: bool,
    /// Show the caller's number to the centre's own specialists (partners:
    /// their directory entry's `share_caller_number`).
    pub share_caller_number: bool,
    /// Time to press the accept key after pick-up.
    pub accept_timeout: Duration,
    /// SIP trunks.
    pub trunks: Vec<Trunk>,
    /// The wrap-up menu played on a specialist's phone when the caller
    /// hangs up a routed call; `None`: the leg ends at once.
    pub wrap_up: Option<WrapUpMenu>,
}

impl Outbound {
    /// The trunk a request from `peer` came through, if any: the one at
    /// that exact address, else the first whose address or access list
    /// admits the source IP.
    pub fn trunk_of(&self, peer: SocketAddr) -> Option<&Trunk> {
        self.trunks
            .iter()
            .find(|t| t.address == peer)
            // Over TCP and TLS the trunk's requests come on its own
            // connections, from ports of its choosing.
            .or_else(|| {
                self.trunks
                    .iter()
                    .find(|t| t.transport.is_reliable() && t.address.ip() == peer.ip())
            })
            .or_else(|| self.trunks.iter().find(|t| t.admits(peer)))
    }

    /// The trunk an INVITE from `peer` came in through: a registering trunk
    /// whose contact user is the Request-URI's user (the provider forwards
    /// calls to the Contact Senim registered), else [`Outbound::trunk_of`]
    /// the source address (the trunk's address, then its access list).
    pub fn trunk_for(&self, invite: &rsip::Request, peer: SocketAddr) -> Option<&Trunk> {
        let user = invite.uri.user();
        user.and_then(|u| {
            self.trunks
                .iter()
                .find(|t| t.contact_user().is_some_and(|c| c == u))
        })
        .or_else(|| self.trunk_of(peer))
    }

    /// The trunk numbers are dialled through first (the first configured).
    pub fn dial_trunk(&self) -> Option<&Trunk> {
        self.trunks.first()
    }

    /// The trunks to try for a number, in the configured order: those up,
    /// skipping the ones marked down; all of them when every one is down
    /// (a last try beats giving up).
    pub fn dial_order(&self) -> Vec<&Trunk> {
        let up: Vec<&Trunk> = self.trunks.iter().filter(|t| t.load.is_up()).collect();
        if up.is_empty() {
            self.trunks.iter().collect()
        } else {
            up
        }
    }
}

/// What every call shares.
pub struct CallConfig {
    pub prompts: Arc<PromptLibrary>,
    pub schedules: Schedules,
    pub calendar: Calendar,
    pub partners: PartnerDirectory,
    pub specialists: Specialists,
    pub outbound: Outbound,
    /// The centre's lines (`[[line]]`): the called number selects the
    /// dialplan node a call starts at. Empty: every call starts at `start`.
    pub lines: Vec<Line>,
    /// The address put in Contact and Via (UDP and TCP).
    pub sip_address: SocketAddr,
    /// The address put in Contact and Via of dialogs over TLS (the TLS
    /// listener's); `None`: no TLS listener.
    pub tls_address: Option<SocketAddr>,
    /// The address put in SDP (`[media] public_ip` behind NAT; RTP sockets
    /// may be bound to another).
    pub media_ip: IpAddr,
    pub numbers: Arc<dyn NumberGuard>,
    /// Which numbers callbacks are taken for and called on.
    pub callbacks: CallbackPolicy,
}

impl std::fmt::Debug for CallConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallConfig")
            .field("sip_address", &self.sip_address)
            .field("tls_address", &self.tls_address)
            .field("media_ip", &self.media_ip)
            .finish_non_exhaustive()
    }
}

impl CallConfig {
    /// The line an INVITE that came in through `trunk` was made to.
    pub fn line_for(&self, invite: &rsip::Request, trunk: Option<&Trunk>) -> Option<&Line> {
        if self.lines.is_empty() {
            return None;
        }
        let called = crate::line::called_number(invite, trunk.and_then(Trunk::contact_user))?;
        crate::line::line_of(&self.lines, &called)
    }

    /// Senim's SIP address as `host:port`.
    pub fn centre_host(&self) -> String {
        host_port(self.sip_address)
    }

    /// Senim's address in Via and Contact over `transport`: the TLS
    /// listener's over TLS, else [`CallConfig::sip_address`].
    pub fn address_for(&self, transport: Transport) -> SocketAddr {
        match transport {
            Transport::Tls => self.tls_address.unwrap_or(self.sip_address),
            Transport::Udp | Transport::Tcp => self.sip_address,
        }
    }

    /// The centre's URI: From of every leg, and of a REFER's Referred-By.
    pub fn centre_uri(&self) -> rsip::Uri {
        let text = format!("sip:{}@{}", self.outbound.user, self.centre_host());
        rsip::Uri::try_from(text.as_str()).unwrap_or_default()
    }

    /// Senim's Contact for a dialog over `transport`: over TCP and TLS it
    /// names the transport (`;transport=tcp`, `;transport=tls`, at the TLS
    /// listener's address), so requests back come the same way. `sips`: the
    /// dialog's request was for a `sips:` URI, whose Contact must be a
    /// `sips:` URI too (RFC 3261 §8.1.1.8, §12.1.1); only over TLS.
    pub fn contact_for(&self, transport: Transport, sips: bool) -> rsip::Uri {
        let host = host_port(self.address_for(transport));
        let text = match transport {
            Transport::Tls if sips => format!("sips:senim@{host}"),
            Transport::Udp => format!("sip:senim@{host}"),
            Transport::Tcp | Transport::Tls => {
                format!("sip:senim@{host};transport={}", transport.param())
            }
        };
        senim_sip::message::parse_uri(&text).unwrap_or_default()
    }
}

/// `host:port`, an IPv6 host in brackets.
fn host_port(addr: SocketAddr) -> String {
    match addr {
        SocketAddr::V4(v4) => format!("{}:{}", v4.ip(), v4.port()),
        SocketAddr::V6(v6) => format!("[{}]:{}", v6.ip(), v6.port()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trunk::{AddressRange, Credentials};

    fn outbound(trunks: Vec<Trunk>) -> Outbound {
        Outbound {
            display: "Senim".into(),
            user: "senim".into(),
            has_number: false,
            share_caller_number: false,
            accept_timeout: Duration::from_secs(15),
            trunks,
            wrap_up: None,
        }
    }

    fn invite(ruri_user: &str) -> rsip::Request {
        let text = format!(
            "INVITE sip:{ruri_user}@192.0.2.1:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 203.0.113.5:5060;branch=z9hG4bK-1\r\nMax-Forwards: 70\r\nFrom: <sip:+77011234567@203.0.113.5>;tag=a\r\nTo: <sip:+77232000000@192.0.2.1>\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
        );
        match senim_sip::message::parse(text.as_bytes()).expect("parses") {
            rsip::SipMessage::Request(r) => r,
            rsip::SipMessage::Response(_) => panic!("a request"),
        }
    }

    fn addr(text: &str) -> SocketAddr {
        text.parse().expect("address")
    }

    #[test]
    fn a_call_is_matched_to_its_trunk() {
        let asterisk = Trunk::new("asterisk", addr("198.51.100.7:5060"));
        let provider = Trunk {
            allow: vec![AddressRange::parse("203.0.113.0/24").unwrap()],
            ..Trunk::new("provider", addr("203.0.113.5:5060"))
        };
        let registered = Trunk {
            register: true,
            credentials: Some(Credentials {
                username: "77232000000".into(),
                auth_username: None,
                password: "secret".into(),
            }),
            ..Trunk::new("kaztel", addr("192.0.2.77:5060"))
        };
        let o = outbound(vec![asterisk, provider, registered]);
        let id = |user: &str, peer: &str| {
            o.trunk_for(&invite(user), addr(peer))
                .map(|t| t.id.as_str())
        };
        // By address, on any port.
        assert_eq!(id("centre", "198.51.100.7:5080"), Some("asterisk"));
        // By the access list.
        assert_eq!(id("centre", "203.0.113.99:5060"), Some("provider"));
        // By the registration's contact user, from an address not listed
        // (the provider's media gateway).
        assert_eq!(id("77232000000", "192.0.2.200:5060"), Some("kaztel"));
        // The contact user wins over an address another trunk admits.
        assert_eq!(id("77232000000", "203.0.113.99:5060"), Some("kaztel"));
        // Neither.
        assert_eq!(id("centre", "192.0.2.200:5060"), None);
        // A trunk that does not register has no contact user.
        let o = outbound(vec![Trunk {
            credentials: Some(Credentials {
                username: "77232000000".into(),
                auth_username: None,
                password: "secret".into(),
            }),
            ..Trunk::new("plain", addr("192.0.2.77:5060"))
        }]);
        assert!(o
            .trunk_for(&invite("77232000000"), addr("192.0.2.200:5060"))
            .is_none());
    }
}
