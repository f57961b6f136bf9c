//! What the router asks the driver to do for a call ([`Action`], [`Output`]).

use std::time::Duration;

use super::call_id::CallId;
use super::outcome::OverflowReason;
use super::record::Record;
use crate::specialists::{SpecialistContact, SpecialistId};

/// What the driver must do for a call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Ring these specialists (one, or a ring-all wave), each with a whisper
    /// and the accept key. Report each with [`Router::leg_result`](super::Router::leg_result). The
    /// router times the ring out itself (and sends [`Action::Cancel`]).
    Ring {
        /// Who.
        specialists: Vec<SpecialistId>,
        /// How to reach each of `specialists`, in the same order, as the
        /// roster has it when the ring starts: a call that began before a
        /// reload rings whom the router offers, reached as the
        /// configuration in service says.
        contacts: Vec<SpecialistContact>,
        /// The ring timeout (the router enforces it).
        timeout: Duration,
    },
    /// Stop these legs: CANCEL while ringing, BYE if already picked up.
    /// No result is expected for them.
    Cancel {
        /// Whose legs.
        specialists: Vec<SpecialistId>,
    },
    /// Connect the caller to this specialist. Report the end of the
    /// conversation with [`Router::call_ended`](super::Router::call_ended).
    Bridge {
        /// Who.
        specialist: SpecialistId,
    },
    /// The caller is now in the queue ("all specialists are busy").
    EnterQueue,
    /// Play hold audio (until the next action for this call).
    PlayHold,
    /// Say the caller's position in the queue.
    AnnouncePosition {
        /// 1: next in line.
        position: usize,
    },
    /// Offer a callback ("press 1 for a callback").
    OfferCallback,
    /// Routing is over without a specialist: follow the route's overflow.
    Overflow {
        /// Why.
        reason: OverflowReason,
    },
    /// Routing is over: the service is closed (the route's closed branch).
    Closed,
    /// Routing is over: the caller asked for a callback.
    CallbackRequested,
    /// Routing is over: the caller pressed the emergency key.
    Emergency,
    /// A step for the call record.
    Record(Record),
}

impl Action {
    /// Is this the last action of routing for the call (besides records)?
    pub fn is_final(&self) -> bool {
        matches!(
            self,
            Action::Bridge { .. }
                | Action::Overflow { .. }
                | Action::Closed
                | Action::CallbackRequested
                | Action::Emergency
        )
    }
}

/// An action for one call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Output {
    /// The call.
    pub call: CallId,
    /// What to do.
    pub action: Action,
}
