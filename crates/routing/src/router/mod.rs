//! The router: every call that is looking for a specialist, the queue, and
//! the roster, in one sans-IO state machine.
//!
//! The driver feeds events (`start`, `leg_result`, `caller_pressed`,
//! `caller_hung_up`, `call_ended`, `registered`, `set_paused`,
//! `specialist_available`, `handle_timeout`), each with [`Now`], and drains
//! [`Output`]s (`poll_output`) and the next wake-up (`poll_timeout`). The
//! router never reads the clock and never touches a socket.
//!
//! One router serves all calls, so fairness is decided in one place: the
//! queue is first come, first served per service; when a specialist becomes
//! free, the longest-waiting caller they can serve in the caller's own
//! language gets them, then the longest-waiting caller who accepted another
//! language. See `docs/routing.md`.

mod action;
mod call_id;
mod call_state;
mod error;
mod machine;
mod outcome;
mod record;
mod ring_result;
mod settings;
mod snapshot;

pub use action::{Action, Output};
pub use call_id::CallId;
pub use error::RouterError;
pub use machine::Router;
pub use outcome::{Outcome, OverflowReason};
pub use record::{Record, Step};
pub use ring_result::{LegResult, RingResult};
pub use settings::RouterSettings;
pub use snapshot::{CallStatus, RouterSnapshot};
