//! Click-to-call as a task: a call Senim places itself to call back a
//! follow-up. The decisions are the sans-IO
//! [`senim_call::click_to_call::ClickToCall`]; this starts it, registers it
//! with the SIP endpoint under a Call-ID of its own and drives it with the
//! same task as a caller's call.
//!
//! Both legs present the centre (From and P-Asserted-Identity), so the
//! specialist's phone never shows the caller's number and the caller never
//! sees the specialist's.

use std::sync::Arc;

use senim_call::click_to_call::ClickToCall;
pub use senim_call::click_to_call::{callable, ClickToCallOrder, StartError, HARD_LIMIT_MS};
use senim_call::legs::{specialist_target, LegTarget};
use tokio::sync::mpsc;
use tracing::Instrument;

use super::task::{CallerPort, Shell};
use super::{wall_clock, CallContext};
use crate::driver::messages::ToEndpoint;

/// Start callback `id` (its `follow_up_calls` row is written by the
/// caller): checks that both sides can be reached, then rings the
/// specialist. Its outcome is recorded when it ends.
pub fn start(
    ctx: Arc<CallContext>,
    endpoint: mpsc::UnboundedSender<ToEndpoint>,
    id: String,
    order: ClickToCallOrder,
) -> Result<(), StartError> {
    let config = ctx.config();
    if let Ok(LegTarget::Softphone(user)) = specialist_target(&config, &order.specialist) {
        if ctx.registrations.latest(&user).is_none() {
            return Err(StartError::Specialist("softphone not registered".into()));
        }
    }
    let span = tracing::info_span!("callback", call = %id, follow_up = %order.follow_up);
    let mut core = ClickToCall::start(config, wall_clock(), id.clone(), order)?;
    let owner = format!("senim-callback-{id}");
    let (tx, rx) = mpsc::unbounded_channel();
    let _ = endpoint.send(ToEndpoint::Register {
        call_id: owner.clone(),
        handle: tx,
    });
    tokio::spawn(
        async move {
            let mut shell =
                Shell::new(ctx, endpoint.clone(), owner.clone(), id, CallerPort::none());
            shell.run(&mut core, rx).await;
            let _ = endpoint.send(ToEndpoint::CallEnded { call_id: owner });
        }
        .instrument(span),
    );
    Ok(())
}
