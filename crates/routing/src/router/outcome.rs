//! How routing ended for a call ([`Outcome`]), and why it overflowed
//! ([`OverflowReason`]).

use serde::Serialize;

use crate::specialists::SpecialistId;

/// Why a call leaves routing without a specialist (the dialplan's
/// `overflow` branch: a partner, a callback, voicemail).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum OverflowReason {
    /// No specialist has the skill (in a language the route allows).
    NoSpecialist,
    /// Those who have it are offline or paused: nobody to wait for.
    NobodyAvailable,
    /// Everyone free was rung, nobody answered, and nobody is busy.
    NoAnswer,
    /// The caller waited the route's maximum in the queue.
    MaxWait,
}

/// How routing ended for a call.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum Outcome {
    /// Bridged to this specialist.
    Connected {
        /// Who took the call.
        specialist: SpecialistId,
    },
    /// The route's schedule is closed, or every specialist with the skill
    /// is outside their hours.
    Closed,
    /// Overflow, with the reason.
    Overflow {
        /// Why.
        reason: OverflowReason,
    },
    /// The caller pressed the callback key in the queue.
    CallbackRequested,
    /// The caller pressed the emergency key (the crisis centre, now).
    Emergency,
    /// The caller hung up before reaching anyone.
    Abandoned,
}

/// The outcome for a caller nobody can come to.
pub(super) fn hopeless_outcome(with_skill: usize, all_off_schedule: bool, tried: bool) -> Outcome {
    if with_skill == 0 {
        Outcome::Overflow {
            reason: OverflowReason::NoSpecialist,
        }
    } else if all_off_schedule {
        Outcome::Closed
    } else if tried {
        Outcome::Overflow {
            reason: OverflowReason::NoAnswer,
        }
    } else {
        Outcome::Overflow {
            reason: OverflowReason::NobodyAvailable,
        }
    }
}
