//! Sans-IO media core for Senim: G.711, RTP, DTMF (RFC 4733, SIP INFO, in-band),
//! prompts, SDP offer/answer and SRTP (RFC 3711, SDES keys).
//!
//! Nothing here touches a socket or reads the clock: time enters as an argument
//! (`Instant` values or RTP sample counts), and every state machine is driven
//! through `&mut self`. The per-packet paths (RTP parse/write, G.711, DTMF
//! receivers, in-band detection) do not allocate.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod dtmf;
pub mod g711;
pub mod peer;
pub mod prompts;
pub mod rtp;
pub mod sdp;
pub mod srtp;

pub use dtmf::{Digit, DtmfSource};
pub use g711::Codec;
pub use prompts::Language;
