//! Calls: the controller task that ties one SIP dialog, its media stream and
//! the menu flow together.

pub mod callback;
pub mod calls;
pub mod click_to_call;
pub mod controller;
pub mod leg;
pub mod legs;
pub mod outbound;
pub mod ports;
pub mod voicemail;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use senim_media::prompts::PromptLibrary;
use senim_sip::message::Peer;
use senim_sip::transaction::TxKey;

use crate::driver::media::MediaEngine;
use crate::driver::router::RouterHandle;
use crate::driver::sip::SipStats;
use crate::plan::PlanHolder;
use crate::privacy::CallerHasher;
use crate::store::Recorder;
use senim_routing::hours::{Calendar, Schedules};
use senim_routing::partners::PartnerDirectory;
use senim_routing::specialists::Specialists;

pub use controller::spawn;

/// A registered contact of a specialist's softphone.
#[derive(Debug, Clone)]
pub struct SoftphoneContact {
    /// Request-URI for an INVITE.
    pub uri: rsip::Uri,
    /// Where its REGISTER came from: send the INVITE there.
    pub source: Peer,
    /// When it registered (the most recent is rung).
    pub registered_at: std::time::Instant,
}

/// Settings of outbound legs (to specialists and partners).
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
    pub accept_timeout: std::time::Duration,
    /// SIP trunks.
    pub trunks: Vec<crate::config::TrunkConfig>,
}

impl Outbound {
    /// The trunk a request from `peer` came through, if any (same address,
    /// or same IP when no trunk has that exact address).
    pub fn trunk_of(&self, peer: SocketAddr) -> Option<&crate::config::TrunkConfig> {
        self.trunks
            .iter()
            .find(|t| t.address == peer)
            .or_else(|| self.trunks.iter().find(|t| t.address.ip() == peer.ip()))
    }

    /// The trunk numbers are dialled through (the first configured).
    pub fn dial_trunk(&self) -> Option<&crate::config::TrunkConfig> {
        self.trunks.first()
    }
}

/// What the endpoint hands a call.
#[derive(Debug)]
pub enum ToCall {
    /// A request in this call (the first INVITE included).
    Request {
        key: TxKey,
        request: rsip::Request,
        peer: Peer,
    },
    /// An ACK to Senim's 2xx.
    Ack { request: rsip::Request, peer: Peer },
    /// A CANCEL matched the call's INVITE (the endpoint already answered the CANCEL).
    Cancel { invite_key: TxKey },
    /// A response to a request the call sent.
    Response {
        key: TxKey,
        response: rsip::Response,
    },
    /// A transaction of the call timed out (no answer to a request, no ACK
    /// to the 200). `call_id` and `method` are those of the request (a leg's
    /// INVITE has the leg's Call-ID).
    Timeout {
        key: TxKey,
        call_id: String,
        method: rsip::Method,
    },
    /// Senim is stopping: end the call now.
    Shutdown,
}

/// What every call shares.
pub struct CallContext {
    pub prompts: Arc<PromptLibrary>,
    pub media: MediaEngine,
    pub recorder: Recorder,
    pub hasher: CallerHasher,
    /// Seals the numbers kept for callback requests.
    pub sealer: crate::privacy::NumberSealer,
    /// The address put in Contact and Via.
    pub sip_address: SocketAddr,
    /// Where voicemail messages are written (absolute; mode 0700).
    pub voicemail_dir: std::path::PathBuf,
    pub media_ip: IpAddr,
    pub rtp_ports: ports::PortAllocator,
    /// The dialplan new calls start with.
    pub plans: Arc<PlanHolder>,
    pub schedules: Schedules,
    pub calendar: Calendar,
    pub partners: PartnerDirectory,
    pub specialists: Specialists,
    /// Digest realm of the registrar.
    pub realm: String,
    /// Registered contacts per softphone user name, kept by the SIP endpoint.
    pub registrations: std::sync::Mutex<std::collections::BTreeMap<String, Vec<SoftphoneContact>>>,
    /// The router task (specialists, queue).
    pub router: RouterHandle,
    /// How outbound legs present the centre, trunks, ring settings.
    pub outbound: Outbound,
    pub sip_stats: SipStats,
    /// RFC 3261 timer settings for the transaction layer.
    pub sip_timers: senim_sip::transaction::TimerConfig,
}
