//! The router's status view ([`RouterSnapshot`], [`CallStatus`]).

use serde::Serialize;

use super::call_id::CallId;
use crate::availability::RosterSnapshot;
use crate::specialists::{Skill, SpecialistId};

/// The status view of the router.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RouterSnapshot {
    /// Every specialist.
    pub specialists: RosterSnapshot,
    /// Calls being routed or bridged, by arrival.
    pub calls: Vec<CallStatus>,
}

/// One call in the status view (no caller number: none is known here).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CallStatus {
    /// The call.
    pub call: CallId,
    /// The service.
    pub service: Skill,
    /// The caller's language.
    pub language: String,
    /// `ringing` (first round), `queued` or `connected`.
    pub state: &'static str,
    /// Position in the queue of the service.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<usize>,
    /// Seconds since routing started.
    pub waiting_secs: u64,
    /// Phones ringing for this caller now.
    pub ringing: Vec<SpecialistId>,
    /// The specialist, when connected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub specialist: Option<SpecialistId>,
}
