//! The reload of a running Senim ([`Reloader`]): read the configuration
//! file again (with the `SENIM_*` environment on top), then the prompts,
//! the data files and the dialplan, each checked against the others; when
//! all of it is good, put it in service for new calls, the router, the
//! registrar and the API's tokens, and name what takes effect only after a
//! restart. When any of it is bad nothing changes, and the answer says why.
//! Calls in progress keep the configuration and plan they started with.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use senim_call::config::{CallConfig, CallbackPolicy, Outbound};
use senim_routing::router::RouterSettings;
use tokio::sync::mpsc;

use super::answer::{self, ConfigReload, ReloadCounts, Reloads};
use super::changes::{self, Changes};
use crate::call::CallContext;
use crate::config::Settings;
use crate::driver::messages::ToEndpoint;
use crate::driver::router::ToRouter;
use crate::http::auth::TokenTable;
use crate::loading::{self, LoadError, Loaded};
use crate::plan::reload_plan;
use crate::util::current::Current;
use crate::util::time::now_ms;

/// The router's settings from `[routing]` (a value that does not parse,
/// which validation refuses, falls back to the default).
pub fn router_settings(settings: &Settings) -> RouterSettings {
    let routing = &settings.config.routing;
    RouterSettings {
        accept_timeout: duration(&routing.accept_timeout, 15),
        announce_every: duration(&routing.announce_every, 45),
        offer_callback_every: duration(&routing.offer_callback_every, 60),
        wrap_up: settings.wrap_up.policy.clone(),
        ..Default::default()
    }
}

fn duration(text: &str, default: u64) -> Duration {
    crate::util::duration::parse_duration(text).unwrap_or(Duration::from_secs(default))
}

/// Where a reload puts what it loaded.
pub struct Handles {
    /// The calls' shared context: the configuration and plan in service,
    /// and the router.
    pub ctx: Arc<CallContext>,
    /// The SIP endpoint (the softphones' accounts, `[registrar]`).
    pub endpoint: mpsc::UnboundedSender<ToEndpoint>,
    /// The API's tokens.
    pub tokens: Arc<Current<TokenTable>>,
    /// The web pages' users and sessions.
    pub web: Arc<crate::web::state::WebState>,
}

/// Reloads of a running Senim, one at a time.
pub struct Reloader {
    /// The file Senim was started with; `None`: the built-in defaults.
    file: Option<PathBuf>,
    /// Where the answer of each reload is written (the data folder in use).
    data_dir: PathBuf,
    handles: Handles,
    /// `[dialplan] watch` of the configuration in service (read by the
    /// file watcher without waiting for a reload in progress).
    watch: AtomicBool,
    /// Reloads accepted and refused, and whether the last was accepted:
    /// read by `/metrics` without waiting for a reload in progress.
    accepted: AtomicU64,
    refused: AtomicU64,
    last_ok: AtomicBool,
    state: Mutex<State>,
}

struct State {
    /// What the process started with: keys that need a restart are
    /// compared with it, so such a change is named until the restart.
    started: Settings,
    /// What the last accepted reload (or the start) put in service.
    serving: Settings,
    /// Reloads attempted.
    seq: u64,
}

/// A new configuration, read and checked, not yet in service.
struct Ready {
    settings: Settings,
    loaded: Loaded,
    tokens: TokenTable,
    users: crate::web::users::UserTable,
    changes: Changes,
    warnings: Vec<String>,
}

impl Reloader {
    /// `settings`: what the process started with, read from `file`.
    pub fn new(file: Option<&Path>, settings: Settings, handles: Handles) -> Reloader {
        Reloader {
            file: file.map(Path::to_path_buf),
            data_dir: settings.data_dir.clone(),
            handles,
            watch: AtomicBool::new(settings.config.dialplan.watch),
            accepted: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            last_ok: AtomicBool::new(true),
            state: Mutex::new(State {
                started: settings.clone(),
                serving: settings,
                seq: 0,
            }),
        }
    }

    /// The dialplan file to look at for changes: the one in service, when
    /// `[dialplan] watch` is on.
    pub fn watched_plan(&self) -> Option<PathBuf> {
        if self.watch.load(Ordering::Relaxed) {
            self.handles.ctx.plans.path()
        } else {
            None
        }
    }

    /// Read the configuration again and apply it (see the module's doc).
    pub fn reload(&self, trigger: &str) -> ConfigReload {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.seq += 1;
        let span = tracing::info_span!("reload", trigger, seq = state.seq);
        let _entered = span.enter();
        let started_at_ms = now_ms();
        let mut answer = ConfigReload {
            pid: std::process::id(),
            seq: state.seq,
            trigger: trigger.to_string(),
            origin: self.file.as_deref().map_or_else(
                || "built-in defaults".to_string(),
                |p| p.display().to_string(),
            ),
            started_at_ms,
            finished_at_ms: started_at_ms,
            accepted: false,
            applied: Vec::new(),
            restart: Vec::new(),
            errors: Vec::new(),
            warnings: Vec::new(),
        };
        match self.load(&state, trigger) {
            Ok(ready) => {
                answer.accepted = true;
                answer.restart = ready.changes.restart.clone();
                answer.warnings = ready.warnings.clone();
                let settings = ready.settings.clone();
                answer.applied = self.apply(ready, trigger);
                state.serving = settings;
            }
            Err(errors) => answer.errors = errors,
        }
        answer.finished_at_ms = now_ms();
        let counter = if answer.accepted {
            &self.accepted
        } else {
            &self.refused
        };
        counter.fetch_add(1, Ordering::Relaxed);
        self.last_ok.store(answer.accepted, Ordering::Relaxed);
        log(&answer);
        if let Err(e) = answer::write(&self.data_dir, &answer) {
            tracing::error!(error = %e, "cannot write the reload's answer for `senim reload`");
        }
        answer
    }

    /// Read and check everything; nothing is changed yet.
    fn load(&self, state: &State, trigger: &str) -> Result<Ready, Vec<String>> {
        let settings =
            crate::config::load(self.file.as_deref()).map_err(|e| vec![e.to_string()])?;
        // Trunks need a restart: the plan is checked against those in service.
        let has_trunk = !self.handles.ctx.config().outbound.trunks.is_empty();
        let loaded = loading::load_checked(&settings, has_trunk).map_err(|e| match e {
            LoadError::Dialplan(lines) => {
                // `GET /dialplan` and `senim status` say so too.
                self.handles.ctx.plans.record_refusal(&lines, trigger);
                lines
            }
            other => vec![other.to_string()],
        })?;
        let cfg = &settings.config;
        // Checked by validation already; kept as a guard.
        let tokens = TokenTable::from_config(&cfg.api, |id| {
            cfg.specialists.iter().any(|s| s.id.as_str() == id)
        })
        .map_err(|faults| {
            faults
                .into_iter()
                .map(|(_, _, e)| format!("{}: key `api.token`: {e}", settings.origin))
                .collect::<Vec<_>>()
        })?;
        let users = crate::web::users::UserTable::from_config(&cfg.users, |id| {
            cfg.specialists.iter().any(|s| s.id.as_str() == id)
        })
        .map_err(|faults| {
            faults
                .into_iter()
                .map(|(_, _, e)| format!("{}: key `user`: {e}", settings.origin))
                .collect::<Vec<_>>()
        })?;
        let changes = changes::compare(&state.started, &state.serving, &settings);
        let mut warnings: Vec<String> = loaded
            .plan_warnings
            .iter()
            .map(ToString::to_string)
            .collect();
        // The plan's warnings are logged when it is installed; these here.
        for w in loading::trunk_warnings(&cfg.specialists, has_trunk) {
            tracing::warn!("{w}");
            warnings.push(w);
        }
        Ok(Ready {
            settings,
            loaded,
            tokens,
            users,
            changes,
            warnings,
        })
    }

    /// Put a checked configuration in service; returns what was applied.
    fn apply(&self, ready: Ready, trigger: &str) -> Vec<String> {
        let Ready {
            settings,
            loaded,
            tokens,
            users,
            changes,
            ..
        } = ready;
        let Loaded {
            prompts,
            data,
            plan,
            plan_warnings,
        } = loaded;
        let ctx = &self.handles.ctx;
        let running = ctx.config();
        let mut applied = changes.applied;
        applied.extend(changes::prompt_changes(&running.prompts, &prompts));
        if running.calendar.holidays() != data.calendar.holidays() {
            applied.push("holidays: the table changed".into());
        }
        if running.partners != data.partners {
            applied.push(format!(
                "partners: the directory changed ({} partners)",
                data.partners.len()
            ));
        }
        let router = router_settings(&settings);
        let cfg = &settings.config;
        let call = CallConfig {
            prompts: Arc::new(prompts),
            schedules: cfg.hours.clone(),
            calendar: data.calendar.clone(),
            partners: data.partners,
            specialists: cfg.specialists.clone(),
            outbound: Outbound {
                display: cfg.centre.name.clone(),
                share_caller_number: cfg.centre.share_caller_number,
                accept_timeout: router.accept_timeout,
                wrap_up: settings.wrap_up.menu.clone(),
                // The centre's number and SIP user, and the trunks: after a restart.
                ..running.outbound.clone()
            },
            lines: settings.lines.clone(),
            // Addresses and keys: after a restart.
            sip_address: running.sip_address,
            tls_address: running.tls_address,
            media_ip: running.media_ip,
            numbers: running.numbers.clone(),
            callbacks: CallbackPolicy {
                area_code: settings.area_code.clone(),
                quota: running.callbacks.quota.clone(),
            },
        };
        let version = ctx.plans.status().version;
        let plan = ctx.put_in_service(Arc::new(call), |plans| {
            plans.install(
                settings.dialplan_file.as_deref(),
                plan,
                &plan_warnings,
                trigger,
            )
        });
        if plan.status.version != version {
            applied.push(format!(
                "dialplan: {} version {} (was {version})",
                plan.status.file, plan.status.version
            ));
        }
        ctx.router.send(ToRouter::Reload {
            specialists: cfg.specialists.clone(),
            schedules: cfg.hours.clone(),
            calendar: data.calendar,
            settings: Box::new(router),
        });
        let _ = self.handles.endpoint.send(ToEndpoint::Accounts {
            specialists: cfg.specialists.clone(),
            registrar: settings.registrar.clone(),
        });
        self.handles.tokens.replace(Arc::new(tokens));
        let changed = self.handles.web.replace_users(users);
        if !changed.is_empty() {
            applied.push(format!(
                "web users: {} changed or removed (their sessions ended)",
                changed.len()
            ));
        }
        self.watch.store(cfg.dialplan.watch, Ordering::Relaxed);
        applied
    }
}

impl Reloads for Reloader {
    fn reload_config(&self, trigger: &str) -> ConfigReload {
        self.reload(trigger)
    }

    fn reload_dialplan(&self, trigger: &str) -> crate::plan::Reload {
        // One reload at a time: the plan is checked against the
        // configuration that stays in service while it is installed.
        let one = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let ctx = &self.handles.ctx;
        reload_plan(
            &ctx.plans,
            &ctx.config(),
            one.serving.first_prompt_limit,
            trigger,
        )
    }

    fn config_reloads(&self) -> ReloadCounts {
        ReloadCounts {
            accepted: self.accepted.load(Ordering::Relaxed),
            refused: self.refused.load(Ordering::Relaxed),
            last_ok: self.last_ok.load(Ordering::Relaxed),
        }
    }
}

/// Say what a reload did in the log, a line each (its warnings were
/// logged as they were found).
fn log(answer: &ConfigReload) {
    if answer.accepted {
        tracing::info!(
            applied = answer.applied.len(),
            restart = answer.restart.len(),
            "configuration reloaded: new calls take it; calls in progress keep theirs"
        );
        for a in &answer.applied {
            tracing::info!("applied: {a}");
        }
        for r in &answer.restart {
            tracing::warn!("{r}");
        }
    } else {
        tracing::error!(
            file = %answer.origin,
            "configuration reload refused; the running configuration is kept in full"
        );
        for e in &answer.errors {
            tracing::error!("{e}");
        }
    }
}
