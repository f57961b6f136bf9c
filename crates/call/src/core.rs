//! The face every call core shows its driver: events in with the time,
//! outputs and the next timeout out. The caller's call
//! ([`crate::call::Call`]) and a click-to-call
//! ([`crate::click_to_call::ClickToCall`]) both have it, so one tokio task
//! drives either.

use std::net::SocketAddr;
use std::time::Instant;

use senim_media::dtmf::Digit;
use senim_routing::router::Action as RouterAction;

use crate::io::{LegId, MediaId, Output, PreparedLeg, SipInput};

/// A call as a sans-IO state machine. Every `handle_*` takes the current
/// time; nothing here reads a clock or touches a socket.
pub trait CallCore {
    /// SIP for this call (its own dialog or one of its legs').
    fn handle_sip(&mut self, now: Instant, input: SipInput);
    /// An RTP datagram on one of the call's ports.
    fn handle_rtp(&mut self, now: Instant, media: MediaId, data: &[u8], from: SocketAddr);
    /// A digit the media engine detected in-band in a port's audio (under
    /// a [`crate::io::ReceiveRule`] with `inband`).
    fn handle_digit(&mut self, _now: Instant, _media: MediaId, _digit: Digit) {}
    /// A prompt on one of the call's streams played to its end.
    fn handle_prompt_finished(&mut self, now: Instant, media: MediaId, token: u64);
    /// The driver's answer to [`Output::PrepareLeg`].
    fn handle_leg_prepared(
        &mut self,
        now: Instant,
        leg: LegId,
        result: Result<PreparedLeg, String>,
    );
    /// An action of the router for this call.
    fn handle_router(&mut self, _now: Instant, _action: RouterAction) {}
    /// The router let go of the call (it forgot it, or it stopped).
    fn handle_router_released(&mut self, _now: Instant) {}
    /// The caller's message was written (its path) or not (why).
    fn handle_voicemail_written(&mut self, _now: Instant, _result: Result<String, String>) {}
    /// The time from [`CallCore::poll_timeout`] has come.
    fn handle_timeout(&mut self, now: Instant);
    /// The next thing to do, oldest first.
    fn poll_output(&mut self) -> Option<Output>;
    /// When the core next needs [`CallCore::handle_timeout`].
    fn poll_timeout(&self) -> Option<Instant>;
    /// The call is over and nothing of it needs the driver any more.
    fn is_finished(&self, now: Instant) -> bool;
}
