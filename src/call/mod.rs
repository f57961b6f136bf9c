//! Calls: the controller task that ties one SIP dialog, its media stream and
//! the menu flow together.

pub mod controller;
pub mod leg;
pub mod ports;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use senim_media::prompts::PromptLibrary;
use senim_sip::message::Peer;
use senim_sip::transaction::TxKey;

use crate::driver::media::MediaEngine;
use crate::driver::sip::SipStats;
use crate::plan::PlanHolder;
use crate::privacy::CallerHasher;
use crate::store::Recorder;
use senim_routing::hours::{Calendar, Schedules};
use senim_routing::partners::PartnerDirectory;
use senim_routing::specialists::Specialists;

pub use controller::spawn;

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
    /// A transaction of the call timed out (no answer to a request, no ACK to the 200).
    Timeout { key: TxKey },
    /// Senim is stopping: end the call now.
    Shutdown,
}

/// What every call shares.
pub struct CallContext {
    pub prompts: Arc<PromptLibrary>,
    pub media: MediaEngine,
    pub recorder: Recorder,
    pub hasher: CallerHasher,
    /// The address put in Contact and Via.
    pub sip_address: SocketAddr,
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
    pub registrations: std::sync::Mutex<std::collections::BTreeMap<String, usize>>,
    pub sip_stats: SipStats,
    /// RFC 3261 timer settings for the transaction layer.
    pub sip_timers: senim_sip::transaction::TimerConfig,
}
