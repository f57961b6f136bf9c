//! What a port of a call tells the call's task.

use std::net::SocketAddr;

use senim_media::dtmf::Digit;

/// Something a port tells its call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaEvent {
    /// The prompt started with this token has been sent to its last frame.
    PromptFinished { token: u64 },
    /// A packet the engine does not handle itself (see [`Rule`](crate::driver::media::Rule)).
    Rtp { data: Vec<u8>, from: SocketAddr },
    /// A digit the in-band detector found in the audio under a [`Rule`](crate::driver::media::Rule).
    Digit(Digit),
}
