//! What goes in and out of the call core: SIP from the endpoint, requests to
//! the router, media commands, records and metrics. The driver turns each
//! [`Output`] into a channel send, a socket write or a stream command.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;

use senim_media::dtmf::DtmfSource;
use senim_media::g711::Codec;
use senim_media::prompts::Prompt;
use senim_media::srtp::{MasterKey, Suite};
use senim_routing::router::{CallId, LegResult};
use senim_routing::specialists::SpecialistId;
use senim_routing::strategy::RouteRequest;
use senim_sip::message::Peer;
use senim_sip::transaction::TxKey;

use crate::record::RecordOp;

/// An outbound leg of a call, numbered by the call.
pub type LegId = u64;

/// One RTP port of a call: the caller's, or one of its legs'.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaId {
    Caller,
    Leg(LegId),
}

/// What the SIP endpoint hands a call.
#[derive(Debug)]
pub enum SipInput {
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

/// What a call tells the router (the call's id goes with it).
#[derive(Debug, Clone, PartialEq)]
pub enum RouterRequest {
    /// The caller asks for a specialist.
    Start { call: CallId, request: RouteRequest },
    /// A specialist's phone was picked up (the whisper plays).
    LegPickedUp {
        call: CallId,
        specialist: SpecialistId,
    },
    /// A ring ended.
    LegResult {
        call: CallId,
        specialist: SpecialistId,
        result: LegResult,
    },
    /// The caller pressed a key while waiting.
    CallerPressed { call: CallId, digit: char },
    /// The caller hung up.
    CallerHungUp { call: CallId },
    /// The bridged conversation ended.
    CallEnded { call: CallId },
    /// The wrap-up menu on the specialist's phone chose a kind of help
    /// (`Some(id)`), or ended without one (`None`).
    WrapUp {
        call: CallId,
        specialist: SpecialistId,
        kind: Option<String>,
    },
}

/// What the pacing engine does with a port's outgoing stream.
#[derive(Debug, Clone)]
pub enum MediaCommand {
    /// Start the stream in `codec` (silence until a prompt plays), sending
    /// to `remote`; with no remote it keeps time and sends nothing until a
    /// `SetRemote` gives it somewhere to send.
    Start {
        remote: Option<SocketAddr>,
        codec: Codec,
        /// Protect every packet with SRTP under this suite and key.
        srtp: Option<SrtpSend>,
    },
    /// Play a prompt from its first frame; its end is reported with `token`.
    Play { prompt: Arc<Prompt>, token: u64 },
    /// Stop the prompt: silence from the next frame.
    StopPrompt,
    /// Send to this address from now on (the far end's learned source, a
    /// re-INVITE); None: send nothing until told again.
    SetRemote(Option<SocketAddr>),
    /// Protect the stream's packets from now on with this (None: plain
    /// RTP), after a re-INVITE changed the SRTP agreed.
    SetSrtp(Option<SrtpSend>),
    /// Stop the stream; the port stays open (its RTP is relayed).
    StopStream,
    /// What the media engine may do with the port's incoming RTP itself
    /// (None: hand every packet to the core).
    Receive(Option<ReceiveRule>),
    /// Close the port: the leg is gone.
    Close,
}

/// Incoming RTP the media engine handles without the core: the audio
/// packets of the port's locked source in the agreed codec, which the core
/// would only run through the in-band detector or relay to the other side
/// of a bridge. Everything else (another source, another payload type such
/// as telephone-event, anything that is not RTP) still goes to the core.
/// The core gives a rule only for plain RTP (no SRTP on either side) and
/// while no message is being recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiveRule {
    /// The far end's locked source (strict RTP).
    pub source: SocketAddr,
    pub codec: Codec,
    /// Run the in-band DTMF detector and report each digit.
    pub inband: bool,
    /// Relay each packet to another port's far end.
    pub relay: Option<RelayRule>,
}

/// Where a bridged port's audio goes, and in what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayRule {
    /// The port whose socket sends it.
    pub to: MediaId,
    pub remote: SocketAddr,
    /// The receiving port's telephone-event payload type.
    pub from_telephone_event: Option<u8>,
    pub to_codec: Codec,
    pub to_telephone_event: Option<u8>,
}

/// How a stream protects what it sends: SRTP under Senim's own key for
/// the call (the pacing engine keeps the index of each packet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SrtpSend {
    pub suite: Suite,
    pub key: MasterKey,
}

/// Counters for `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// A key accepted after de-duplication, by source.
    Digit(DtmfSource),
    /// A conversation started (bridge made).
    Connected,
    /// A conversation ended.
    Disconnected,
    /// An RTP packet dropped: its source is not the call's far end (strict
    /// RTP), or is still on probation, or (SRTP) its tag does not verify or
    /// it is a replay.
    RtpDropped,
    /// A caller was recognised (remembered from an earlier call).
    Recognised,
    /// A caller agreed to be remembered.
    Remembered,
    /// A caller asked to be forgotten.
    Forgotten,
}

/// What a leg needs from the world before its INVITE can go out.
#[derive(Debug, Clone)]
pub struct PreparedLeg {
    /// The RTP port bound for the leg.
    pub port: u16,
    /// For a registered softphone: its latest contact (Request-URI) and where
    /// its REGISTER came from.
    pub softphone: Option<(rsip::Uri, Peer)>,
}

/// What the core asks the driver to do. The large payloads are boxed: a
/// call keeps room for a few outputs between inputs, and thousands of calls
/// wait at once.
#[derive(Debug)]
pub enum Output {
    /// Answer on a server transaction.
    Respond {
        key: TxKey,
        response: rsip::Response,
    },
    /// Start a client transaction; its responses come back as [`SipInput`].
    Request {
        request: Box<rsip::Request>,
        peer: Peer,
    },
    /// Send without a transaction (an ACK to a 2xx).
    Stateless {
        message: Box<rsip::SipMessage>,
        peer: Peer,
    },
    /// Requests with this Call-ID (a leg's) belong to this call.
    Alias {
        leg_call_id: String,
    },
    /// Bind an RTP port for leg `leg` and, for a softphone, find its latest
    /// contact; answer with `handle_leg_prepared`.
    PrepareLeg {
        leg: LegId,
        softphone: Option<String>,
    },
    /// A command for a port's outgoing stream.
    Media {
        id: MediaId,
        command: MediaCommand,
    },
    /// Send an RTP packet from a port (bridged media).
    SendRtp {
        from: MediaId,
        to: SocketAddr,
        data: Vec<u8>,
    },
    /// A change to the call record.
    Record(Box<RecordOp>),
    /// Tell the router.
    Router(Box<RouterRequest>),
    Metric(Metric),
    /// Append the caller's message's audio (8 kHz PCM) so far to its
    /// partial file, creating it first (about a second at a time).
    VoicemailAudio {
        samples: Vec<i16>,
    },
    /// Complete the message: append `rest`, cut the file to `length`
    /// samples, and put it in place; answer with `handle_voicemail_written`.
    WriteVoicemail {
        rest: Vec<i16>,
        length: usize,
    },
    /// The message is not kept: remove its partial file, if any.
    DiscardVoicemail,
}

/// Outputs a call keeps room for between inputs; a larger burst (answering,
/// ringing several phones) gives its room back once drained, so thousands
/// of waiting calls do not each hold the largest burst they ever had.
const KEEP_OUTPUTS: usize = 4;

/// The next output of a core's queue, oldest first.
pub(crate) fn pop_output(queue: &mut VecDeque<Output>) -> Option<Output> {
    let next = queue.pop_front();
    if next.is_none() && queue.capacity() > KEEP_OUTPUTS {
        *queue = VecDeque::new();
    }
    next
}
