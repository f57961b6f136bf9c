//! The messages between the SIP endpoint and the calls, below both: the
//! endpoint hands a new INVITE to whoever starts calls (a [`CallSpawner`])
//! and never imports the call layer; calls talk to it with [`ToEndpoint`].

use bytes::Bytes;
use senim_sip::message::Peer;
use senim_sip::transaction::TxKey;
use tokio::sync::mpsc;

/// What the endpoint hands a call (the call core's SIP input).
pub type ToCall = senim_call::io::SipInput;

/// Starts a call's task for a new INVITE; the endpoint sends the call's
/// later SIP to the returned sender.
pub trait CallSpawner: Send + Sync {
    fn spawn(
        &self,
        endpoint: mpsc::UnboundedSender<ToEndpoint>,
        key: TxKey,
        invite: rsip::Request,
        peer: Peer,
    ) -> mpsc::UnboundedSender<ToCall>;
}

/// What calls and the server ask of the endpoint.
#[derive(Debug)]
pub enum ToEndpoint {
    /// Answer on a server transaction.
    Respond {
        key: TxKey,
        response: rsip::Response,
    },
    /// Start a client transaction for this call; its responses go back to the call.
    Request {
        call_id: String,
        request: rsip::Request,
        peer: Peer,
    },
    /// Send without a transaction (ACK to a 2xx).
    Stateless {
        message: rsip::SipMessage,
        peer: Peer,
    },
    /// The call is over; forget it (and its legs' Call-IDs).
    CallEnded {
        call_id: String,
    },
    /// A call Senim placed itself (a callback): requests, responses and
    /// timeouts under `call_id` and its aliases go to `handle`.
    Register {
        call_id: String,
        handle: mpsc::UnboundedSender<ToCall>,
    },
    /// Requests with Call-ID `leg` (an outbound leg of the call) go to `call_id`'s task.
    Alias {
        leg: String,
        call_id: String,
    },
    /// A message read from a TCP or TLS connection (`peer` names the
    /// connection: its transport and the far end's address).
    TcpFrame {
        data: Bytes,
        peer: Peer,
    },
    /// A TCP or TLS connection was opened (with its writer) or closed.
    TcpOpened {
        peer: Peer,
        writer: mpsc::UnboundedSender<Bytes>,
    },
    TcpClosed {
        peer: Peer,
    },
    /// A connection Senim was opening could not be opened.
    TcpFailed {
        peer: Peer,
    },
    /// The configuration was reloaded: the softphones' accounts (from the
    /// specialists) and `[registrar]` settings in service from now on.
    Accounts {
        specialists: senim_routing::specialists::Specialists,
        registrar: crate::driver::registrar::RegistrarSettings,
    },
    /// Stop taking calls (new calls and OPTIONS get 503); the calls in
    /// progress may go on for `drain`, then they are ended; then stop.
    Shutdown {
        drain: std::time::Duration,
    },
}
