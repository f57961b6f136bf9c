//! Start-up and shutdown: load and check everything first (prompts, keys,
//! database, sockets), then take calls; on SIGHUP reload the configuration
//! (`reload::live`); on SIGINT/SIGTERM end the calls in progress with BYE,
//! write the last records and stop.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use senim_sip::transaction::TimerConfig;
use tokio::sync::mpsc;

use crate::call::calls::Calls;
use crate::call::ports::PortAllocator;
use crate::call::voicemail_file;
use crate::call::CallContext;
use crate::config::Settings;
use crate::data_dir::{DataDirError, DataLock};
use crate::driver::media::MediaEngine;
use crate::driver::messages::ToEndpoint;
use crate::driver::sip;
use crate::driver::stats::SipStats;
use crate::driver::tls::{TlsError, TlsListener, TrunkTls};
use crate::follow_ups::FollowUps;
use crate::http::{self, ApiState, HttpState};
use crate::keys::KeyError;
use crate::loading::{load_all, trunk_warnings};
use crate::reload::answer::Reloads;
use crate::reload::live::{Handles, Reloader};
use crate::store::spool::{self, Spool};
use crate::store::{recovery, replay_spool, spawn_writer, Store, StoreError};
use crate::util::current::Current;

/// Why Senim could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The prompts, a data file or the dialplan was refused.
    #[error(transparent)]
    Load(#[from] crate::loading::LoadError),
    /// A key could not be loaded or created, or does not match the data.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The data folder cannot be made or is held by another Senim.
    #[error("data.dir: {0}")]
    DataDir(#[from] DataDirError),
    /// The database could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A socket could not be bound.
    #[error("cannot listen for {what} on {addr}: {source}")]
    Bind {
        what: &'static str,
        addr: SocketAddr,
        source: std::io::Error,
    },
    /// The media threads could not be started.
    #[error("cannot start the media threads: {0}")]
    Media(std::io::Error),
    /// A file with personal data could not be made private.
    #[error(transparent)]
    Private(crate::util::private_files::ModeError),
    /// The voicemail folder could not be created or made private.
    #[error("voicemail.dir: {0}")]
    Voicemail(#[from] crate::call::voicemail_file::VoicemailError),
    /// The HTTPS certificate or key cannot be used.
    #[error(transparent)]
    HttpTls(#[from] crate::http::tls::TlsError),
    /// The TLS listener's certificate or key cannot be used.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// A TLS trunk's CA file or name cannot be used.
    #[error("trunk {trunk:?}: {source}")]
    TrunkTls { trunk: String, source: TlsError },
}

/// SIP over TLS, read and checked: the listener (its certificate and key)
/// and, for each trunk in order, how to open a TLS connection to it
/// (`None` for trunks over UDP or TCP).
pub struct Tls {
    pub listener: Option<TlsListener>,
    pub trunks: Vec<Option<TrunkTls>>,
}

/// Read and check the TLS files: `[sip] tls_cert` and `tls_key`, and each
/// TLS trunk's `tls_ca` (`senim check` and start-up).
pub fn load_tls(settings: &Settings) -> Result<Tls, StartError> {
    let listener = settings
        .sip_tls
        .as_ref()
        .map(|t| TlsListener::load(t.files.clone()))
        .transpose()?;
    let trunks = settings
        .trunks
        .iter()
        .map(|t| {
            if t.trunk.transport != senim_sip::message::Transport::Tls {
                return Ok(None);
            }
            TrunkTls::new(
                t.tls_ca.as_deref(),
                t.trunk.domain.as_deref(),
                t.trunk.address,
            )
            .map(Some)
            .map_err(|source| StartError::TrunkTls {
                trunk: t.trunk.id.clone(),
                source,
            })
        })
        .collect::<Result<_, _>>()?;
    Ok(Tls { listener, trunks })
}

/// The files and folders that hold personal data and must be readable by
/// Senim's user only: the database with its `-wal` and `-shm`, the key
/// files, the voicemail folder and the files in it.
pub fn private_paths(settings: &Settings) -> Vec<crate::util::private_files::Private> {
    use crate::util::private_files::{database_files, voicemail_files, Private};
    let cfg = &settings.config;
    let mut paths = Store::file_of(&cfg.database.url)
        .map(|db| database_files(&db))
        .unwrap_or_default();
    paths.push(Private::new(
        cfg.privacy.caller_hash_key_file.clone(),
        "caller hash key",
    ));
    paths.push(Private::new(
        cfg.privacy.number_key_file.clone(),
        "number key",
    ));
    paths.extend(voicemail_files(&cfg.voicemail.dir));
    paths
}

/// Where a running Senim listens (ports resolved when 0 was asked for).
#[derive(Debug, Clone, Copy)]
pub struct Bound {
    pub sip: SocketAddr,
    pub http: SocketAddr,
    /// SIP over TLS, when on.
    pub tls: Option<SocketAddr>,
}

/// How `senim serve` was asked to start.
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    /// Give up keys that are missing or differ from the recorded ones
    /// (`--new-keys`; logged and audited).
    pub new_keys: bool,
    /// The configuration file the settings came from (`None`: the built-in
    /// defaults): a reload reads it again.
    pub config_file: Option<PathBuf>,
}

/// Create the data folder and take its lock (one process per folder).
pub fn hold_data_dir(settings: &Settings, who: &str) -> Result<DataLock, StartError> {
    crate::data_dir::prepare(&settings.data_dir)?;
    Ok(crate::data_dir::lock(&settings.data_dir, who)?)
}

/// Senim once kept its database and keys in the working directory: when
/// such files are there and not in use, say so, so that an upgrade does not
/// look like an empty centre.
fn warn_of_files_left_in_working_dir(settings: &Settings) {
    let Ok(cwd) = std::env::current_dir() else {
        return;
    };
    if cwd == settings.data_dir {
        return;
    }
    let cfg = &settings.config;
    let db = cfg.database.url.trim_start_matches("sqlite://");
    let used: Vec<PathBuf> = [
        Path::new(db),
        cfg.privacy.caller_hash_key_file.as_path(),
        cfg.privacy.number_key_file.as_path(),
    ]
    .iter()
    .map(|p| cwd.join(p))
    .collect();
    for name in ["senim.db", "senim.secret", "senim.numbers.key"] {
        let path = cwd.join(name);
        if path.exists() && !used.contains(&path) {
            tracing::warn!(
                file = %path.display(),
                data_dir = %settings.data_dir.display(),
                "a Senim data file is in the working directory but Senim keeps its data in the \
                 data folder: move the database and both keys there together (docs/operations.md) \
                 or set [data] dir"
            );
        }
    }
}

/// This instance's name: `[database] instance`, else the machine's host
/// name, else `senim`.
fn instance_name(database: &crate::config::DatabaseConfig) -> String {
    if !database.instance.is_empty() {
        return database.instance.clone();
    }
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| {
            !h.is_empty()
                && h.len() <= 63
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        })
        .unwrap_or_else(|| crate::store::DEFAULT_INSTANCE.to_string())
}

/// What a crash, kill or power loss left, put right before calls are taken:
/// the spool's call record changes are replayed (those the database still
/// refuses wait for the writer), partial voice messages are completed and
/// recorded as cut, and calls and callbacks without an end are closed as
/// interrupted. Returns the spool for the writer.
async fn recover_after_crash(
    store: &Store,
    database: &crate::config::DatabaseConfig,
    data_dir: &std::path::Path,
    voicemail_dir: &std::path::Path,
) -> Result<Option<Spool>, StartError> {
    let mut spool = match spool::path_for(&database.url, data_dir) {
        Some(path) => Some(
            Spool::open(&path, database.spool_max_mb.saturating_mul(1024 * 1024))
                .map_err(StoreError::from)?,
        ),
        None => None,
    };
    if let Some(s) = spool.as_mut().filter(|s| !s.is_empty()) {
        if let Err(e) = replay_spool(store, s).await {
            tracing::warn!(error = %e, waiting = s.waiting(), "record spool not fully replayed at start; the writer goes on trying");
        }
    }
    let handle = tokio::runtime::Handle::current();
    let dir = voicemail_dir.to_path_buf();
    let db = store.clone();
    let recovered = tokio::task::spawn_blocking(move || {
        voicemail_file::recover_partials(&dir, |r| {
            let path = r.path.display().to_string();
            let done = handle.block_on(recovery::recovered_voicemail(
                &db,
                &r.call_id,
                r.at,
                &path,
                r.duration_ms,
            ));
            match done {
                Ok(()) => true,
                Err(e) => {
                    tracing::error!(error = %e, call = %r.call_id, "voicemail: a message cut short could not be recorded; it is completed at the next start");
                    false
                }
            }
        })
    })
    .await;
    match recovered {
        Ok(Ok(done)) => {
            for r in &done {
                tracing::warn!(call = %r.call_id, duration_ms = r.duration_ms, "voicemail: a message cut short by a stop was completed");
            }
        }
        Ok(Err(e)) => {
            tracing::error!(error = %e, "voicemail: partial messages could not be looked for")
        }
        Err(e) => {
            tracing::error!(error = %e, "voicemail: partial messages could not be looked for")
        }
    }
    // Claims this instance held before it stopped are no longer true.
    crate::store::instances::leave(store).await?;
    let closed = recovery::close_interrupted(store, crate::call::epoch_ms()).await?;
    if closed.calls > 0 || closed.callbacks > 0 {
        tracing::warn!(
            calls = closed.calls,
            callbacks = closed.callbacks,
            "calls and callbacks in progress when Senim last stopped are closed as interrupted"
        );
    }
    Ok(spool)
}

/// Run until SIGINT or SIGTERM.
pub async fn serve(settings: Settings, options: ServeOptions) -> Result<(), StartError> {
    // SIGHUP asks for a reload from the first moment: one that comes while
    // Senim starts waits for the reloader instead of ending the process
    // (the default action of SIGHUP).
    #[cfg(unix)]
    let hangups = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .map_err(|e| tracing::warn!(error = %e, "SIGHUP cannot be taken: reload over HTTP"))
        .ok();
    let (prompts, data, plans) = load_all(&settings)?;
    let tls = load_tls(&settings)?;
    let prompts = Arc::new(prompts);
    let plans = Arc::new(plans);
    tracing::info!(file = %plans.status().file, version = %plans.status().version, "dialplan loaded");
    let cfg = &settings.config;
    let _data_lock = hold_data_dir(&settings, "senim serve")?;
    tracing::info!(dir = %settings.data_dir.display(), "data folder");
    warn_of_files_left_in_working_dir(&settings);
    if let Some((limit, need)) = crate::util::open_files::raise(u64::from(cfg.sip.max_calls)) {
        if limit < need {
            tracing::warn!(
                limit,
                need,
                max_calls = cfg.sip.max_calls,
                "the open files limit is below what [sip] max_calls may need: raise it (systemd: LimitNOFILE)"
            );
        }
    }
    for warning in trunk_warnings(&cfg.specialists, !settings.trunks.is_empty()) {
        tracing::warn!("{warning}");
    }
    let voicemail_dir = crate::call::voicemail_file::prepare_dir(&cfg.voicemail.dir)?;
    // HTTPS: the certificate and key are checked before anything listens.
    let https = match cfg.http.tls() {
        Some(files) => Some((files.load().await?, files)),
        None => None,
    };
    // The database, the keys and the messages: readable by Senim's user only
    // (before the database is opened: SQLite gives a new `-wal` and `-shm`
    // the database file's mode).
    crate::util::private_files::make_private(&private_paths(&settings))
        .map_err(StartError::Private)?;
    let store = Store::open(&cfg.database.url)
        .await?
        .for_instance(&instance_name(&cfg.database));
    let shared = (store.dialect() == crate::store::Dialect::Postgres).then(|| store.clone());
    let crate::keys::Keys { hasher, sealer } = crate::keys::open(
        &store,
        &cfg.privacy,
        options.new_keys,
        crate::call::epoch_ms(),
    )
    .await?;
    let spool =
        recover_after_crash(&store, &cfg.database, &settings.data_dir, &voicemail_dir).await?;
    let api_store = store.clone();
    // Personal data past its retention period goes at start and every `retention.every`.
    let retention = tokio::spawn(crate::store::retention::run(
        store.clone(),
        settings.retention,
        voicemail_dir.clone(),
    ));
    // The day's limit of callback requests counts those already stored.
    let callback_limit = crate::call::callback_quota::SharedCallbackLimit::load(
        &store,
        cfg.callback.max_per_day,
        crate::call::epoch_ms(),
    )
    .await?;
    let (recorder, writer) = spawn_writer(store, spool);
    let media = MediaEngine::start(cfg.media.pacing_threads, cfg.media.io_uring)
        .map_err(StartError::Media)?;
    let (udp, tcp) = sip::bind(cfg.sip.listen)
        .await
        .map_err(|source| StartError::Bind {
            what: "SIP (UDP and TCP)",
            addr: cfg.sip.listen,
            source,
        })?;
    let sip_bound = udp.local_addr().map_err(|source| StartError::Bind {
        what: "SIP",
        addr: cfg.sip.listen,
        source,
    })?;
    let tls_socket = match &settings.sip_tls {
        Some(t) => {
            let bind_error = |source| StartError::Bind {
                what: "SIP over TLS",
                addr: t.listen,
                source,
            };
            let listener = tokio::net::TcpListener::bind(t.listen)
                .await
                .map_err(bind_error)?;
            let bound = listener.local_addr().map_err(bind_error)?;
            Some((listener, bound))
        }
        None => None,
    };
    let http_listener = tokio::net::TcpListener::bind(cfg.http.listen)
        .await
        .map_err(|source| StartError::Bind {
            what: "HTTP",
            addr: cfg.http.listen,
            source,
        })?;
    let http_bound = http_listener
        .local_addr()
        .map_err(|source| StartError::Bind {
            what: "HTTP",
            addr: cfg.http.listen,
            source,
        })?;
    let sip_address = cfg.sip.public_address.unwrap_or(sip_bound);
    // In Contact and Via over TLS: the public IP behind NAT (the TLS port
    // forwarded as it is), or the listener's address, a wildcard replaced
    // by the SIP address's IP.
    let tls_address = tls_socket.as_ref().map(|(_, bound)| {
        if cfg.sip.public_address.is_some() || bound.ip().is_unspecified() {
            SocketAddr::new(sip_address.ip(), bound.port())
        } else {
            *bound
        }
    });
    let router_settings = crate::reload::live::router_settings(&settings);
    let accept_timeout = router_settings.accept_timeout;
    let router = crate::driver::router::spawn(
        cfg.specialists.clone(),
        cfg.hours.clone(),
        data.calendar.clone(),
        router_settings,
        shared.clone(),
    );
    let cluster = shared.map(|store| {
        tracing::info!(
            instance = store.instance(),
            "sharing the database with other instances"
        );
        crate::driver::cluster::join(store, cfg.database.url.clone(), router.clone())
    });
    let outbound = senim_call::config::Outbound {
        display: cfg.centre.name.clone(),
        user: cfg
            .centre
            .number
            .clone()
            .unwrap_or_else(|| cfg.sip.user.clone()),
        has_number: cfg.centre.number.is_some(),
        share_caller_number: cfg.centre.share_caller_number,
        accept_timeout,
        trunks: settings.trunks.iter().map(|t| t.trunk.clone()).collect(),
        wrap_up: settings.wrap_up.menu.clone(),
    };
    let call_config = Current::new(senim_call::config::CallConfig {
        prompts,
        schedules: cfg.hours.clone(),
        calendar: data.calendar,
        partners: data.partners,
        specialists: cfg.specialists.clone(),
        outbound,
        lines: settings.lines.clone(),
        sip_address,
        tls_address,
        media_ip: settings.sdp_ip,
        numbers: Arc::new(crate::call::NumberKeys {
            hasher: hasher.clone(),
            sealer: sealer.clone(),
        }),
        callbacks: senim_call::config::CallbackPolicy {
            area_code: settings.area_code.clone(),
            quota: Arc::new(callback_limit),
        },
    });
    let registrations = Arc::new(crate::driver::registrations::Registrations::default());
    let sip_stats = Arc::new(SipStats::default());
    let ctx = Arc::new(CallContext {
        call: call_config,
        media,
        recorder,
        hasher,
        sealer,
        voicemail_dir,
        rtp_ports: PortAllocator::new(settings.rtp_ports.0, settings.rtp_ports.1),
        rtp_ip: settings.media_ip,
        plans,
        swap: std::sync::RwLock::new(()),
        registrations: registrations.clone(),
        router: router.clone(),
        sip_stats: sip_stats.clone(),
        live: Arc::new(crate::call::live::LiveCalls::new()),
        store: api_store.clone(),
    });
    let serving = ctx.config();
    let setup = sip::EndpointSetup {
        realm: cfg.sip.realm.clone(),
        specialists: cfg.specialists.clone(),
        timers: TimerConfig {
            t1: settings.sip_t1,
            ..TimerConfig::default()
        },
        stats: sip_stats,
        registrations,
        router,
        calls: Arc::new(crate::call::Starter { ctx: ctx.clone() }),
        trunks: settings
            .trunks
            .iter()
            .zip(&serving.outbound.trunks)
            .zip(tls.trunks)
            .map(|((t, shared), tls)| crate::driver::trunks::TrunkPlan {
                trunk: shared.clone(),
                register_expires: t.register_expires,
                probe_every: t.probe_every,
                keepalive: t.keepalive,
                tls,
            })
            .collect(),
        sip_address: serving.sip_address,
        tls_address,
        centre_user: serving.outbound.user.clone(),
        max_calls: usize::try_from(cfg.sip.max_calls.max(1)).unwrap_or(usize::MAX),
        source_limit: (cfg.sip.rate_limit > 0).then(|| {
            senim_sip::source_limit::SourceLimitConfig {
                rate: f64::from(cfg.sip.rate_limit),
                burst: cfg.sip.rate_burst.max(1),
                ..Default::default()
            }
        }),
        registrar: settings.registrar.clone(),
        unknown_sources: cfg.sip.unknown_sources,
    };

    let tls_bound = tls_socket.as_ref().map(|(_, bound)| *bound);
    let (tls_socket, tls_watch) = match (tls_socket, tls.listener) {
        (Some((listener, bound)), Some(tls)) => {
            tracing::info!(%bound, cert = %tls.files.cert.display(), "SIP over TLS");
            let acceptor = tls.acceptor.clone();
            let watch = tokio::spawn(crate::driver::tls::watch(
                tls,
                crate::driver::tls::WATCH_EVERY,
            ));
            (Some((listener, acceptor)), Some(watch))
        }
        _ => (None, None),
    };
    let (ep_tx, ep_rx) = mpsc::unbounded_channel();
    let sockets = sip::Sockets {
        udp,
        tcp,
        tls: tls_socket,
    };
    let endpoint = tokio::spawn(sip::run(sockets, setup, ep_tx.clone(), ep_rx));

    // Checked by Config::validate already; an error here leaves no token (all refused).
    let tokens = http::auth::TokenTable::from_config(&cfg.api, |id| {
        cfg.specialists.iter().any(|s| s.id.as_str() == id)
    })
    .unwrap_or_else(|faults| {
        for (_, _, e) in faults {
            tracing::error!(error = %e, "api tokens refused; the API answers 401 to everyone");
        }
        http::auth::TokenTable::default()
    });
    match (&https, http_bound.ip().is_loopback()) {
        (Some((_, files)), _) => {
            tracing::info!(http = %http_bound, cert = %files.cert.display(), "HTTPS: the listener speaks TLS only")
        }
        (None, false) => tracing::info!(
            http = %http_bound,
            "HTTP on a non-loopback address in clear: [http] behind_proxy says a reverse proxy \
             terminates TLS; let only the proxy reach this address"
        ),
        (None, true) => {}
    }
    if tokens.is_empty() {
        tracing::info!("no [[api.token]] configured: the API under /api/v1/ refuses every request");
    }
    let tokens = Arc::new(Current::new(tokens));
    // Checked by Config::validate already; an error here leaves no user.
    let users = crate::web::users::UserTable::from_config(&cfg.users, |id| {
        cfg.specialists.iter().any(|s| s.id.as_str() == id)
    })
    .unwrap_or_default();
    let secure_cookies = https.is_some() || cfg.http.behind_proxy;
    let web = Arc::new(crate::web::state::WebState::new(users, secure_cookies));
    let reloads = Arc::new(Reloader::new(
        options.config_file.as_deref(),
        settings.clone(),
        Handles {
            ctx: ctx.clone(),
            endpoint: ep_tx.clone(),
            tokens: tokens.clone(),
            web: web.clone(),
        },
    ));
    let reload_task = tokio::spawn(reload_triggers(
        reloads.clone(),
        #[cfg(unix)]
        hangups,
    ));
    let follow_ups = FollowUps::new(
        api_store.clone(),
        ctx.sealer.clone(),
        Calls::new(ctx.clone(), ep_tx.clone()),
    );
    let http_state = Arc::new(HttpState {
        ready: AtomicBool::new(false),
        calls: ctx.clone(),
        api: ApiState::new(tokens, api_store),
        follow_ups,
        web,
        reloads,
    });
    let (http_stop_tx, http_stop_rx) = tokio::sync::oneshot::channel::<()>();
    // The API and the web pages on one listener; each names its own routes.
    let app = http::router(http_state.clone())
        .merge(crate::web::router(http_state.clone()).with_state(http_state.clone()));
    let mut cert_watch = None;
    let http_task = match https {
        None => tokio::spawn(async move {
            let r = axum::serve(
                http_listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(async {
                let _ = http_stop_rx.await;
            })
            .await;
            if let Err(e) = r {
                tracing::error!(error = %e, "HTTP server failed");
            }
        }),
        Some((config, files)) => {
            cert_watch = Some(tokio::spawn(http::tls::watch(files, config.clone())));
            let handle = axum_server::Handle::<SocketAddr>::new();
            let stopper = handle.clone();
            tokio::spawn(async move {
                let _ = http_stop_rx.await;
                stopper.graceful_shutdown(Some(Duration::from_secs(2)));
            });
            tokio::spawn(async move {
                let r = axum_server::Server::from_listener(http_listener)
                    .acceptor(axum_server::tls_rustls::RustlsAcceptor::new(config))
                    .handle(handle)
                    .serve(app.into_make_service_with_connect_info::<SocketAddr>())
                    .await;
                if let Err(e) = r {
                    tracing::error!(error = %e, "HTTPS server failed");
                }
            })
        }
    };
    drop(ctx);
    http_state.ready.store(true, Ordering::Relaxed);
    let bound = Bound {
        sip: sip_bound,
        http: http_bound,
        tls: tls_bound,
    };
    tracing::info!(sip = %bound.sip, http = %bound.http, tls = ?bound.tls, rtp = ?settings.rtp_ports, "senim is taking calls");
    // A plain line for scripts and tests that start Senim with port 0.
    match bound.tls {
        Some(tls) => println!(
            "senim ready sip={} http={} tls={tls}",
            bound.sip, bound.http
        ),
        None => println!("senim ready sip={} http={}", bound.sip, bound.http),
    }

    wait_for_signal().await;
    let drain = crate::util::duration::parse_duration(&cfg.sip.drain).unwrap_or_default();
    if drain.is_zero() {
        tracing::info!("stopping: ending calls in progress");
    }
    reload_task.abort();
    retention.abort();
    if let Some(w) = cert_watch {
        w.abort();
    }
    if let Some(w) = tls_watch {
        w.abort();
    }
    http_state.ready.store(false, Ordering::Relaxed);
    let _ = ep_tx.send(ToEndpoint::Shutdown { drain });
    // A second signal ends the calls at once.
    let again = ep_tx.clone();
    let second = tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("stopping: a second signal; ending calls in progress now");
        let _ = again.send(ToEndpoint::Shutdown {
            drain: Duration::ZERO,
        });
    });
    drop(ep_tx);
    let stopped = tokio::time::timeout(drain + Duration::from_secs(8), endpoint).await;
    second.abort();
    if stopped.is_err() {
        tracing::warn!("SIP endpoint did not stop in time");
    }
    let _ = http_stop_tx.send(());
    let _ = tokio::time::timeout(Duration::from_secs(2), http_task).await;
    drop(http_state);
    if tokio::time::timeout(Duration::from_secs(10), writer)
        .await
        .is_err()
    {
        tracing::warn!("call record writer did not finish in time");
    }
    if let Some(c) = cluster {
        let _ = tokio::time::timeout(Duration::from_secs(5), c.leave()).await;
    }
    tracing::info!("stopped");
    Ok(())
}

/// Reload the whole configuration on SIGHUP, and the dialplan when its
/// file changes and `[dialplan] watch` is on (looked at every two seconds:
/// no extra dependency, and an editor's write-then-rename is seen as well
/// as an in-place write). Reloads read files: they run off the async workers.
async fn reload_triggers(
    reloads: Arc<Reloader>,
    #[cfg(unix)] mut hangups: Option<tokio::signal::unix::Signal>,
) {
    let stamp = |p: &Path| {
        std::fs::metadata(p)
            .ok()
            .map(|m| (m.modified().ok(), m.len()))
    };
    // The embedded default plan cannot change: nothing to watch.
    let mut watched = reloads.watched_plan();
    let mut last = watched.as_deref().and_then(stamp);
    let mut tick = tokio::time::interval(Duration::from_secs(2));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        #[cfg(unix)]
        let hup_fired = async {
            match hangups.as_mut() {
                Some(h) => {
                    h.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let hup_fired = std::future::pending::<()>();
        tokio::select! {
            _ = hup_fired => {
                let r = reloads.clone();
                if let Err(e) = tokio::task::spawn_blocking(move || r.reload("SIGHUP")).await {
                    tracing::error!(error = %e, "the configuration reload did not finish");
                }
                // The reload read the plan file as it is now.
                last = watched.as_deref().and_then(stamp);
            }
            _ = tick.tick() => {
                // The reload may have named another file, or switched watching.
                let now_watched = reloads.watched_plan();
                if now_watched != watched {
                    watched = now_watched;
                    last = watched.as_deref().and_then(stamp);
                    continue;
                }
                let Some(path) = watched.clone() else { continue };
                let now = stamp(&path);
                if now != last {
                    last = now;
                    let r = reloads.clone();
                    if let Err(e) = tokio::task::spawn_blocking(move || {
                        r.reload_dialplan("file change")
                    })
                    .await
                    {
                        tracing::error!(error = %e, "the dialplan reload did not finish");
                    }
                }
            }
        }
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) {
            (Ok(mut int), Ok(mut term)) => {
                tokio::select! {
                    _ = int.recv() => {}
                    _ = term.recv() => {}
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
