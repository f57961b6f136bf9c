//! Calls as tasks: each call's sans-IO core ([`senim_call`]) driven by one
//! tokio task ([`task`]) that owns its RTP sockets, pacing streams, timers
//! and channels. A caller's call starts when the endpoint hands it an
//! INVITE ([`Starter`]); a click-to-call when the follow-ups service asks
//! ([`click_to_call`]).

pub mod callback_quota;
pub mod calls;
pub mod click_to_call;
pub mod live;
pub mod ports;
pub mod task;
pub mod voicemail_file;

use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use senim_call::call::{Call, Incoming};
use senim_call::config::{CallConfig, NumberGuard};
use senim_call::time::WallClock;
use senim_dialplan::Plan;
use senim_sip::message::Peer;
use senim_sip::transaction::TxKey;
use tokio::sync::mpsc;
use tracing::Instrument;

use crate::driver::media::MediaEngine;
use crate::driver::messages::{CallSpawner, ToCall, ToEndpoint};
use crate::driver::registrations::Registrations;
use crate::driver::router::RouterHandle;
use crate::driver::stats::SipStats;
use crate::plan::PlanHolder;
use crate::privacy::{CallerHasher, NumberSealer};
use crate::store::{Recorder, Store};
use crate::util::current::Current;

/// What every call's task shares: the core's settings and the driver's handles.
pub struct CallContext {
    /// What the call cores read: a new call takes the configuration in
    /// service ([`CallContext::config`]) and keeps it to its end; a reload
    /// replaces it for the calls after.
    pub call: Current<CallConfig>,
    pub media: MediaEngine,
    pub recorder: Recorder,
    pub hasher: CallerHasher,
    /// Seals the numbers kept for callback requests.
    pub sealer: NumberSealer,
    /// Where voicemail messages are written (absolute; mode 0700).
    pub voicemail_dir: std::path::PathBuf,
    pub rtp_ports: ports::PortAllocator,
    /// The address the calls' RTP sockets bind to (SDP may advertise
    /// another: `CallConfig::media_ip`).
    pub rtp_ip: std::net::IpAddr,
    /// The dialplan new calls start with.
    pub plans: Arc<PlanHolder>,
    /// Held for writing while a reload puts a configuration and its plan in
    /// service, for reading while a call takes both ([`CallContext::serving`]).
    pub swap: RwLock<()>,
    /// Registered contacts per softphone user name, kept by the SIP endpoint.
    pub registrations: Arc<Registrations>,
    /// The router task (specialists, queue).
    pub router: RouterHandle,
    pub sip_stats: Arc<SipStats>,
    /// The calls in progress, for the coordinator's board.
    pub live: Arc<live::LiveCalls>,
    /// The database, read when a call starts: is the caller remembered?
    pub store: Store,
}

/// How long a new call waits for the answer to "is this caller
/// remembered?" before it goes on as for a new caller.
pub const MEMORY_LOOKUP_LIMIT: Duration = Duration::from_millis(300);

/// The memory of the caller of `invite`, if they agreed to be remembered in
/// an earlier call; `None` for a hidden or unusable number, a new caller, or
/// when the database does not answer within [`MEMORY_LOOKUP_LIMIT`] (the
/// call goes on as for a new caller rather than wait).
async fn remembered_caller(
    store: &Store,
    config: &CallConfig,
    invite: &rsip::Request,
) -> Option<senim_call::memory::Remembered> {
    let key = senim_call::memory::memory_key(invite, config.numbers.as_ref())?;
    match tokio::time::timeout(
        MEMORY_LOOKUP_LIMIT,
        crate::store::memory::lookup(store, &key),
    )
    .await
    {
        Ok(Ok(found)) => found,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "cannot tell whether the caller is remembered; taken as new");
            None
        }
        Err(_) => {
            tracing::warn!(
                "the database did not say in time whether the caller is remembered; taken as new"
            );
            None
        }
    }
}

impl CallContext {
    /// The configuration a call starting now takes.
    pub fn config(&self) -> Arc<CallConfig> {
        self.call.get()
    }

    /// The configuration and the plan a caller's call starting now takes:
    /// both from before a reload or both from after it.
    pub fn serving(&self) -> (Arc<CallConfig>, Arc<Plan>) {
        let _both = self.swap.read().unwrap_or_else(PoisonError::into_inner);
        (self.call.get(), self.plans.current())
    }

    /// Put `config` in service and, in the same step for new calls, the plan
    /// `install` puts in the plan holder (checked against `config`).
    pub fn put_in_service<R>(
        &self,
        config: Arc<CallConfig>,
        install: impl FnOnce(&PlanHolder) -> R,
    ) -> R {
        let _both = self.swap.write().unwrap_or_else(PoisonError::into_inner);
        self.call.replace(config);
        install(&self.plans)
    }
}

/// The number keys, as the call core sees them.
pub struct NumberKeys {
    pub hasher: CallerHasher,
    pub sealer: NumberSealer,
}

impl NumberGuard for NumberKeys {
    fn hash(&self, number: &str) -> String {
        self.hasher.hash(number)
    }

    fn seal(&self, number: &str) -> String {
        self.sealer.seal(number)
    }
}

/// Milliseconds since the Unix epoch, now.
pub fn epoch_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Both clocks, read together, for a new call core.
pub fn wall_clock() -> WallClock {
    WallClock::new(Instant::now(), epoch_ms())
}

/// Starts a caller's call for each new INVITE.
pub struct Starter {
    pub ctx: Arc<CallContext>,
}

impl CallSpawner for Starter {
    fn spawn(
        &self,
        endpoint: mpsc::UnboundedSender<ToEndpoint>,
        key: TxKey,
        invite: rsip::Request,
        peer: Peer,
    ) -> mpsc::UnboundedSender<ToCall> {
        let (tx, rx) = mpsc::unbounded_channel();
        let ctx = self.ctx.clone();
        let sip_call_id = senim_call::call::call_id_of(&invite);
        // The call's id in the API and the records, and the SIP Call-ID to
        // match a provider's trace.
        let id = uuid::Uuid::new_v4().to_string();
        let span = tracing::info_span!("call", call = %id, sip_call_id = %sip_call_id);
        let fut = async move {
            let (caller, port) = task::bind_caller(&ctx);
            let softphone = ctx.registrations.user_at(peer);
            let (config, plan) = ctx.serving();
            let remembered = remembered_caller(&ctx.store, &config, &invite).await;
            let mut core = Call::answer_new(
                config,
                plan,
                wall_clock(),
                Incoming {
                    id: id.clone(),
                    key,
                    invite,
                    peer,
                    port,
                    softphone,
                    remembered,
                },
            );
            let mut shell =
                task::Shell::new(ctx, endpoint.clone(), sip_call_id.clone(), id, caller);
            shell.run(&mut core, rx).await;
            let _ = endpoint.send(ToEndpoint::CallEnded {
                call_id: sip_call_id,
            });
        };
        tokio::spawn(fut.instrument(span));
        tx
    }
}
