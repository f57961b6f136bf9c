//! Everything one caller's call holds: its dialog, its media port, the menu
//! interpreter, and the side states of routing, a partner transfer, a
//! voicemail and a callback request. The behaviour lives in the sibling
//! rooms (`dialog`, `menu`, `routing`, `transfer`, `voicemail`, `callback`),
//! each an `impl Call` of one concern.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use senim_dialplan::Interpreter;
use senim_media::dtmf::DigitDeduplicator;
use senim_media::g711::Codec;
use senim_media::sdp::SrtpPolicy;
use senim_routing::partners::Contact;
use senim_routing::specialists::Skill;
use senim_sip::dialog::Dialog;
use senim_sip::message::Peer;
use senim_sip::refer::ReferTransfer;
use senim_sip::transaction::TxKey;

use crate::callback_request::CallbackFlow;
use crate::config::CallConfig;
use crate::io::{LegId, Output};
use crate::legs::Legs;
use crate::media::MediaPort;
use crate::time::WallClock;
use crate::voicemail::MessageRecorder;

/// Codecs Senim offers and accepts, in order of preference when Senim offers.
pub(crate) const CODECS: [Codec; 2] = [Codec::Pcmu, Codec::Pcma];
/// Two reports of one key press by two sources closer than this are one digit.
pub(crate) const DTMF_DEDUP_WINDOW: Duration = Duration::from_millis(250);
/// After the call ended, how long its legs may take to finish (a CANCEL
/// waits for a provisional response; see `leg::CANCEL_GUARD`).
pub const LEG_DRAIN: Duration = Duration::from_secs(35);
/// A call never lasts longer than this.
pub const HARD_LIMIT: Duration = Duration::from_secs(24 * 3600);
/// After the call ended, how long its message's write may take.
pub const WRITE_LIMIT: Duration = Duration::from_secs(10);
/// Keys kept from before the ACK at most (see `Call::early_keys`).
pub(crate) const EARLY_KEYS: usize = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// 200 sent, waiting for the ACK.
    Answered,
    /// ACK received, menus running.
    Active,
    Ended,
}

/// A call being routed by the router (from the `<route>` node to the
/// bridge, overflow, closed, callback or emergency).
#[derive(Debug)]
pub(crate) struct Routing {
    pub node: String,
    pub service: Skill,
    /// Routing is over (bridged): only late actions come.
    pub done: bool,
    /// Announcements to play before the hold audio resumes.
    pub pending: VecDeque<&'static str>,
    /// Whether the hold audio plays now (an announcement may interrupt it).
    pub playing_hold: bool,
    pub playing: bool,
    /// The caller heard "all busy" (with the callback offer) on entering the queue.
    pub announced_busy: bool,
}

/// A transfer to a partner centre in progress.
#[derive(Debug)]
pub(crate) struct PartnerTransfer {
    pub node: String,
    pub partner: String,
    /// Numbers or URIs not yet tried, in the directory's order.
    pub contacts: VecDeque<Contact>,
    pub refer: Option<ReferTransfer>,
    pub playing: bool,
}

/// Where a voicemail of the call stands.
#[derive(Debug, Default)]
pub(crate) struct VoicemailState {
    pub session: Option<VoicemailSession>,
    pub write: Option<PendingWrite>,
    /// A message of this call is saved (one per call: the file is `<call id>.wav`).
    pub saved: bool,
}

#[derive(Debug)]
pub(crate) enum VoicemailSession {
    /// The beep plays; recording starts when it has played.
    Beep { node: String, max_length: Duration },
    Recording {
        node: String,
        recorder: Box<MessageRecorder>,
    },
}

/// A message being written by the driver.
#[derive(Debug)]
pub(crate) struct PendingWrite {
    pub node: String,
    pub ended_by: &'static str,
    pub duration_ms: i64,
    /// When the write started (it may take [`WRITE_LIMIT`] after the call ended).
    pub since: Instant,
}

impl VoicemailState {
    /// The recorder, while recording: the caller's audio goes to it.
    pub fn recorder(&mut self) -> Option<&mut MessageRecorder> {
        match &mut self.session {
            Some(VoicemailSession::Recording { recorder, .. }) => Some(recorder),
            _ => None,
        }
    }
}

/// One caller's call, sans-IO.
#[derive(Debug)]
pub struct Call {
    pub(crate) cfg: Arc<CallConfig>,
    pub(crate) clock: WallClock,
    /// The time of the input being handled.
    pub(crate) now: Instant,
    /// The call record's id.
    pub(crate) id: String,
    pub(crate) sip_call_id: String,
    pub(crate) invite_key: TxKey,
    pub(crate) invite: rsip::Request,
    pub(crate) peer: Peer,
    pub(crate) phase: Phase,
    pub(crate) dialog: Option<Dialog>,
    /// The caller's RTP port (None: none could be bound).
    pub(crate) media: Option<MediaPort>,
    pub(crate) late_offer: bool,
    /// What the call's signalling allows for its media: plain RTP only
    /// (not over TLS), SRTP allowed or required (over TLS, with Senim's own
    /// key for the call).
    pub(crate) srtp: SrtpPolicy,
    /// The registered softphone the call came from (its username), if any.
    pub(crate) softphone: Option<String>,
    /// Where the caller's SRTP packets are unprotected (empty until SRTP
    /// is agreed).
    pub(crate) srtp_buf: Vec<u8>,
    pub(crate) sdp_version: u64,
    pub(crate) session_id: u64,
    pub(crate) flow: Interpreter,
    /// The trunk the call came in through (its id), if any.
    pub(crate) trunk: Option<String>,
    /// The line the caller dialled (its normalised number), if any.
    pub(crate) line: Option<String>,
    /// The menu's (or the callback flow's) timer.
    pub(crate) timer: Option<Instant>,
    pub(crate) dedup: DigitDeduplicator,
    pub(crate) digit_seq: i64,
    /// Keys pressed after Senim's 200 and before the caller's ACK (RTP
    /// may overtake the ACK): the plan takes them as soon as it starts,
    /// so the emergency key counts from the first moment. At most
    /// [`EARLY_KEYS`].
    pub(crate) early_keys: Vec<char>,
    pub(crate) step_seq: i64,
    pub(crate) routing_seq: i64,
    /// Outbound legs: specialists being rung or bridged, partner legs.
    pub(crate) legs: Legs,
    /// Routing in progress (from the plan's `<route>`).
    pub(crate) routing: Option<Routing>,
    /// The router holds the call (until it lets go).
    pub(crate) router_held: bool,
    /// The leg whose media is bridged with the caller's.
    pub(crate) bridge: Option<LegId>,
    /// A transfer to a partner in progress.
    pub(crate) transfer: Option<PartnerTransfer>,
    pub(crate) voicemail: VoicemailState,
    /// A callback request being taken (the plan's `<callback>` node).
    pub(crate) callback: Option<(String, CallbackFlow)>,
    /// The service of the last route (for follow-ups and reports).
    pub(crate) service: Option<String>,
    /// The specialist the caller was last connected to in this call.
    pub(crate) specialist: Option<String>,
    /// The key the caller may be remembered by (the keyed hash of a shown,
    /// usable number); `None`: never remembered.
    pub(crate) memory_key: Option<String>,
    /// The caller's memory from earlier calls (or from consent in this one),
    /// while they are remembered.
    pub(crate) remembered: Option<crate::memory::Remembered>,
    /// When the caller's side ended.
    pub(crate) ended_at: Option<Instant>,
    /// The call hit its time limit: the driver lets go of it at once.
    pub(crate) abandoned: bool,
    pub(crate) hard_limit: Instant,
    pub(crate) out: VecDeque<Output>,
}
