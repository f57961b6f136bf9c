//! DTMF from the three places a key press can arrive: RFC 4733 telephone-events
//! ([`Rfc4733Receiver`]), SIP INFO bodies ([`parse_info_body`]) and in-band tones
//! ([`InbandDetector`]); plus [`DigitDeduplicator`] for gateways that send one key
//! press twice.

mod dedup;
mod digit;
mod inband;
mod info;
mod rfc4733;

pub use dedup::DigitDeduplicator;
pub use digit::{Digit, DtmfSource};
pub use inband::{dbm0_to_amplitude, tone_frequencies, InbandConfig, InbandDetector};
pub use info::{parse_info_body, DtmfError};
pub use rfc4733::{encode_event, Rfc4733Receiver};
