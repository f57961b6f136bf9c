//! Calls: the controller task that ties one SIP dialog, its media stream and
//! the menu flow together.

pub mod controller;
pub mod flow;
pub mod ports;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use senim_media::prompts::PromptLibrary;
use senim_sip::message::Peer;
use senim_sip::transaction::TxKey;

use crate::driver::media::MediaEngine;
use crate::driver::sip::SipStats;
use crate::privacy::CallerHasher;
use crate::store::Recorder;

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
    pub menu_timeout: Duration,
    pub max_tries: u32,
    pub sip_stats: SipStats,
    /// RFC 3261 timer settings for the transaction layer.
    pub sip_timers: senim_sip::transaction::TimerConfig,
}
