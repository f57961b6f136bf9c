//! How a ring of one specialist ended: as the driver reports it
//! ([`LegResult`]) and as the call record keeps it ([`RingResult`]).

use serde::Serialize;

use crate::availability::RingEnd;

/// How a ring of one specialist ended, as the driver reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LegResult {
    /// The specialist accepted (pressed the accept key after the whisper).
    Answered,
    /// No answer in time, or answered without the accept key (voicemail).
    NoAnswer,
    /// The specialist declined (rejected the call or the whisper).
    Declined,
    /// The phone said busy (486/600).
    Busy,
    /// The leg failed: unreachable, error response, trunk failure.
    Failed,
}

/// How a ring ended, in the call record (a [`LegResult`], or cancelled by Senim).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RingResult {
    /// Accepted.
    Answered,
    /// Not answered in time (or voicemail).
    NoAnswer,
    /// Declined.
    Declined,
    /// Busy.
    Busy,
    /// Failed.
    Failed,
    /// Cancelled by Senim: another phone answered first, or the caller left.
    Cancelled,
}

impl From<LegResult> for RingResult {
    fn from(r: LegResult) -> Self {
        match r {
            LegResult::Answered => RingResult::Answered,
            LegResult::NoAnswer => RingResult::NoAnswer,
            LegResult::Declined => RingResult::Declined,
            LegResult::Busy => RingResult::Busy,
            LegResult::Failed => RingResult::Failed,
        }
    }
}

impl From<RingResult> for RingEnd {
    fn from(r: RingResult) -> Self {
        match r {
            RingResult::Answered => RingEnd::Answered,
            RingResult::NoAnswer => RingEnd::NoAnswer,
            RingResult::Declined => RingEnd::Declined,
            RingResult::Busy => RingEnd::Busy,
            RingResult::Failed => RingEnd::Failed,
            RingResult::Cancelled => RingEnd::Cancelled,
        }
    }
}
