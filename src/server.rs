//! Start-up and shutdown: load and check everything first (prompts, keys,
//! database, sockets), then take calls; on SIGINT/SIGTERM end the calls in
//! progress with BYE, write the last records and stop.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use senim_media::prompts::{Language, PromptLibrary};
use senim_sip::transaction::TimerConfig;
use tokio::sync::mpsc;

use crate::call::flow::Flow;
use crate::call::ports::PortAllocator;
use crate::call::CallContext;
use crate::config::Settings;
use crate::driver::media::MediaEngine;
use crate::driver::sip::{self, SipStats, ToEndpoint};
use crate::http::{self, HttpState};
use crate::privacy::{CallerHasher, KeyError};
use crate::store::{spawn_writer, Store, StoreError};

/// Why Senim could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A prompt file or the manifest is missing or unreadable.
    #[error("prompts: {0}")]
    Prompts(#[from] senim_media::prompts::PromptError),
    /// The call flow needs a prompt the library does not have.
    #[error("prompts in {dir}: prompt {id:?} is missing for language {language}")]
    MissingPrompt {
        dir: PathBuf,
        id: String,
        language: &'static str,
    },
    /// The caller hash key could not be loaded or created.
    #[error(transparent)]
    Key(#[from] KeyError),
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
}

/// Load the prompts and check that every prompt the flow plays exists in both languages.
pub fn load_prompts(settings: &Settings) -> Result<PromptLibrary, StartError> {
    let library = PromptLibrary::load(&settings.prompts_dir)?;
    for id in Flow::PROMPTS {
        for language in Language::ALL {
            if library.get(id, language).is_none() {
                return Err(StartError::MissingPrompt {
                    dir: settings.prompts_dir.clone(),
                    id: id.to_string(),
                    language: language.code(),
                });
            }
        }
    }
    Ok(library)
}

/// Where a running Senim listens (ports resolved when 0 was asked for).
#[derive(Debug, Clone, Copy)]
pub struct Bound {
    pub sip: SocketAddr,
    pub http: SocketAddr,
}

/// Run until SIGINT or SIGTERM.
pub async fn serve(settings: Settings) -> Result<(), StartError> {
    let prompts = Arc::new(load_prompts(&settings)?);
    let cfg = &settings.config;
    let hasher = CallerHasher::load_or_create(
        cfg.privacy.caller_hash_key.as_deref(),
        &cfg.privacy.caller_hash_key_file,
    )?;
    let store = Store::open(&cfg.database.url).await?;
    let (recorder, writer) = spawn_writer(store);
    let media = MediaEngine::start(cfg.media.pacing_threads).map_err(StartError::Media)?;
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
    let ctx = Arc::new(CallContext {
        prompts,
        media,
        recorder,
        hasher,
        sip_address,
        media_ip: settings.media_ip,
        rtp_ports: PortAllocator::new(settings.rtp_ports.0, settings.rtp_ports.1),
        menu_timeout: settings.menu_timeout,
        max_tries: cfg.menu.max_tries,
        sip_stats: SipStats::default(),
        sip_timers: TimerConfig {
            t1: settings.sip_t1,
            ..TimerConfig::default()
        },
    });

    let (ep_tx, ep_rx) = mpsc::unbounded_channel();
    let endpoint = tokio::spawn(sip::run(udp, tcp, ctx.clone(), ep_tx.clone(), ep_rx));

    let http_state = Arc::new(HttpState {
        ready: AtomicBool::new(false),
        calls: ctx.clone(),
    });
    let (http_stop_tx, http_stop_rx) = tokio::sync::oneshot::channel::<()>();
    let app = http::router(http_state.clone());
    let http_task = tokio::spawn(async move {
        let r = axum::serve(http_listener, app)
            .with_graceful_shutdown(async {
                let _ = http_stop_rx.await;
            })
            .await;
        if let Err(e) = r {
            tracing::error!(error = %e, "HTTP server failed");
        }
    });
    drop(ctx);
    http_state.ready.store(true, Ordering::Relaxed);
    let bound = Bound {
        sip: sip_bound,
        http: http_bound,
    };
    tracing::info!(sip = %bound.sip, http = %bound.http, rtp = ?settings.rtp_ports, "senim is taking calls");
    // A plain line for scripts and tests that start Senim with port 0.
    println!("senim ready sip={} http={}", bound.sip, bound.http);

    wait_for_signal().await;
    tracing::info!("stopping: ending calls in progress");
    http_state.ready.store(false, Ordering::Relaxed);
    let _ = ep_tx.send(ToEndpoint::Shutdown);
    drop(ep_tx);
    if tokio::time::timeout(Duration::from_secs(8), endpoint)
        .await
        .is_err()
    {
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
    tracing::info!("stopped");
    Ok(())
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
