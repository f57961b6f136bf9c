//! The steps of routing kept in the call record ([`Step`], [`Record`]).

use serde::Serialize;

use super::outcome::Outcome;
use super::ring_result::RingResult;
use crate::specialists::{Skill, SpecialistId};
use crate::strategy::{Strategy, Tier};

/// One step of routing, for the call record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "step", rename_all = "kebab-case")]
pub enum Step {
    /// Routing started.
    Requested {
        /// The service.
        service: Skill,
        /// The caller's language.
        language: String,
        /// The strategy.
        strategy: Strategy,
        /// Other language allowed.
        other_language_allowed: bool,
    },
    /// These phones started ringing (one, or a ring-all wave).
    Rang {
        /// Who.
        specialists: Vec<SpecialistId>,
        /// Their language tier.
        tier: Tier,
        /// The ring timeout, ms.
        timeout_ms: u64,
        /// Rung while the caller was in the queue.
        in_queue: bool,
    },
    /// A phone was picked up and hears the whisper; the accept timeout runs.
    PickedUp {
        /// Who.
        specialist: SpecialistId,
    },
    /// A ring ended.
    RingEnded {
        /// Who.
        specialist: SpecialistId,
        /// How.
        result: RingResult,
        /// How long it rang, ms.
        ring_ms: u64,
    },
    /// The specialist was paused after missed calls.
    AutoPaused {
        /// Who.
        specialist: SpecialistId,
        /// Missed in a row.
        missed: u32,
    },
    /// The caller entered the queue.
    Queued {
        /// Position among callers of the same service (1: next).
        position: usize,
    },
    /// The position was announced.
    PositionAnnounced {
        /// The position.
        position: usize,
    },
    /// The callback offer was played.
    CallbackOffered,
    /// Routing ended.
    Finished {
        /// How.
        #[serde(flatten)]
        outcome: Outcome,
        /// From the start of routing, ms.
        waited_ms: u64,
        /// Time in the queue, ms, if the caller was queued.
        #[serde(skip_serializing_if = "Option::is_none")]
        queue_wait_ms: Option<u64>,
    },
}

/// A routing step with its wall-clock time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Record {
    /// UTC milliseconds since the epoch.
    pub at_ms: i64,
    /// What happened.
    #[serde(flatten)]
    pub step: Step,
}
