//! `Calls`: the handle through which the rest of Senim starts the calls
//! Senim places itself. It holds the call context and the SIP endpoint's
//! command channel, so nothing above the call layer sees `ToEndpoint`.

use std::sync::Arc;

use tokio::sync::mpsc;

use super::click_to_call;
use super::CallContext;
use crate::driver::messages::ToEndpoint;

pub use super::click_to_call::{ClickToCallOrder, StartError, HARD_LIMIT_MS};

/// Starts calls; cheap to clone.
#[derive(Clone)]
pub struct Calls {
    ctx: Arc<CallContext>,
    endpoint: mpsc::UnboundedSender<ToEndpoint>,
}

impl std::fmt::Debug for Calls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Calls").finish_non_exhaustive()
    }
}

impl Calls {
    pub fn new(ctx: Arc<CallContext>, endpoint: mpsc::UnboundedSender<ToEndpoint>) -> Calls {
        Calls { ctx, endpoint }
    }

    /// Is `id` a specialist of the configuration in service?
    pub fn is_specialist(&self, id: &str) -> bool {
        self.ctx.config().specialists.get(id).is_some()
    }

    /// Start click-to-call `id`: ring the specialist, then the number, and
    /// bridge them (see `click_to_call`). The call runs in its own task;
    /// this returns once it is under way, or why it cannot start.
    pub fn start_click_to_call(
        &self,
        id: String,
        callback: ClickToCallOrder,
    ) -> Result<(), StartError> {
        click_to_call::start(self.ctx.clone(), self.endpoint.clone(), id, callback)
    }
}
