//! The router's state for one call: its phase (hunting, queued,
//! connected), its ringing legs and its queue timers.

use std::collections::BTreeMap;
use std::time::Instant;

use crate::specialists::SpecialistId;
use crate::strategy::RouteRequest;

/// One phone ringing for a call.
#[derive(Clone, Debug)]
pub(super) struct Leg {
    pub(super) specialist: SpecialistId,
    pub(super) started: Instant,
    pub(super) deadline: Instant,
}

/// A queued caller's deadline and timers.
#[derive(Clone, Debug)]
pub(super) struct Queue {
    pub(super) deadline: Instant,
    pub(super) expired: bool,
    pub(super) next_announce: Option<Instant>,
    pub(super) next_offer: Option<Instant>,
    pub(super) offered: bool,
}

/// Where a call is in routing.
#[derive(Clone, Debug)]
pub(super) enum Phase {
    /// Ringing the first round, not queued.
    Hunting,
    /// Waiting in the queue (possibly being rung).
    Queued(Queue),
    /// Bridged; kept until the conversation ends (for the wrap-up).
    Connected { specialist: SpecialistId },
}

/// One call being routed.
#[derive(Clone, Debug)]
pub(super) struct Call {
    pub(super) request: RouteRequest,
    pub(super) seq: u64,
    pub(super) started: Instant,
    pub(super) queued_at: Option<Instant>,
    pub(super) phase: Phase,
    pub(super) legs: Vec<Leg>,
    /// Specialists who did not answer this caller, and when the ring ended.
    /// While hunting they are skipped for the round; in the queue, for
    /// `retry_after`.
    pub(super) tried: BTreeMap<SpecialistId, Instant>,
}
