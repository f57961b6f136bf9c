//! Tunables of the queue and the rings ([`RouterSettings`]).

use std::time::Duration;

use crate::limits::WrapUpPolicy;

/// Tunables of the queue and rings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouterSettings {
    /// Announce the position this often in the queue (zero: only on entry).
    pub announce_every: Duration,
    /// Offer a callback this often in the queue (zero: never periodically).
    pub offer_callback_every: Duration,
    /// Offer a callback right when the caller enters the queue.
    pub offer_callback_on_entry: bool,
    /// A queued caller is not offered to the same specialist again for this
    /// long after that specialist did not answer them.
    pub retry_after: Duration,
    /// After a phone is picked up (whisper playing), how long the
    /// specialist has to press the accept key.
    pub accept_timeout: Duration,
    /// While someone waits, look at schedules again at least this often
    /// (a specialist's hours may begin).
    pub recheck_every: Duration,
    /// The key that takes the callback offer.
    pub callback_digit: char,
    /// The key that leaves the queue for the emergency branch at any time.
    pub emergency_digit: Option<char>,
    /// The wrap-up kinds and the limits that protect specialists.
    pub wrap_up: WrapUpPolicy,
}

impl Default for RouterSettings {
    fn default() -> Self {
        RouterSettings {
            announce_every: Duration::from_secs(45),
            offer_callback_every: Duration::from_secs(60),
            offer_callback_on_entry: true,
            retry_after: Duration::from_secs(30),
            accept_timeout: Duration::from_secs(15),
            recheck_every: Duration::from_secs(30),
            callback_digit: '1',
            emergency_digit: Some('0'),
            wrap_up: WrapUpPolicy::default(),
        }
    }
}
