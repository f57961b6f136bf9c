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

pub use crate::trunk::{
    AddressRange, Credentials, DtmfMode, NumberFormat, Presentation, Trunk, TrunkLoad, TrunkSlot,
};

/// Hashes and seals callers' numbers. The binary's implementation holds the
/// keys; the core never sees them.
pub trait NumberGuard: Send + Sync {
    /// A keyed hash of the number, to recognise repeat callers without it.
    fn hash(&self, number: &str) -> String;
    /// The number sealed for a callback (only the API can open it).
    fn seal(&self, number: &str) -> String;
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
    /// Show the caller's number to specialists.
    pub share_caller_number: bool,
    /// Time to press the accept key after pick-up.
    pub accept_timeout: Duration,
    /// SIP trunks.
    pub trunks: Vec<Trunk>,
}

impl Outbound {
    /// The trunk a request from `peer` came through, if any: the one at
    /// that exact address, else the first whose address or access list
    /// admits the source IP.
    pub fn trunk_of(&self, peer: SocketAddr) -> Option<&Trunk> {
        self.trunks
            .iter()
            .find(|t| t.address == peer)
            .or_else(|| self.trunks.iter().find(|t| t.admits(peer)))
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
    /// The address put in Contact and Via.
    pub sip_address: SocketAddr,
    /// The address put in SDP.
    pub media_ip: IpAddr,
    pub numbers: Arc<dyn NumberGuard>,
}

impl std::fmt::Debug for CallConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallConfig")
            .field("sip_address", &self.sip_address)
            .field("media_ip", &self.media_ip)
            .finish_non_exhaustive()
    }
}

impl CallConfig {
    /// Senim's SIP address as `host:port`.
    pub fn centre_host(&self) -> String {
        match self.sip_address {
            SocketAddr::V4(v4) => format!("{}:{}", v4.ip(), v4.port()),
            SocketAddr::V6(v6) => format!("[{}]:{}", v6.ip(), v6.port()),
        }
    }

    /// The centre's URI: From of every leg, and of a REFER's Referred-By.
    pub fn centre_uri(&self) -> rsip::Uri {
        let text = format!("sip:{}@{}", self.outbound.user, self.centre_host());
        rsip::Uri::try_from(text.as_str()).unwrap_or_default()
    }

    /// Senim's Contact for a dialog over `transport`.
    pub fn contact_for(&self, transport: Transport) -> rsip::Uri {
        let transport = match transport {
            Transport::Udp => "",
            Transport::Tcp => ";transport=tcp",
        };
        let text = format!("sip:senim@{}{transport}", self.centre_host());
        rsip::Uri::try_from(text.as_str()).unwrap_or_default()
    }
}
