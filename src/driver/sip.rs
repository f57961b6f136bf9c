//! The SIP endpoint task: owns the sans-IO transaction layer, the UDP socket
//! and the TCP and TLS connections, feeds it bytes and the time, carries out
//! what it asks (transmit, wake me at) and hands its events to calls.
//!
//! Requests outside any call are answered here: OPTIONS (200 with Allow,
//! Accept, Supported; 503 while stopping), unknown dialogs (481), methods Senim does not take
//! (405 or 501), merged INVITEs (482), new calls while stopping (503). The
//! requests Senim takes are first checked for their Request-URI scheme (416)
//! and what they Require (420), RFC 3261 §8.2.2.
//!
//! Before any of that, every request passes [`Admission`]: scanners are
//! dropped, and only trunks, registered softphones and calls in progress
//! (or loopback, with no trunk) get further; strangers get a 403 or nothing.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use rsip::Method;
use senim_sip::message::{self, Peer, Transport};
use senim_sip::registrar::{LockTarget, RegisterError, Registrar, RegistrarEvent};
use senim_sip::source_limit::{self, SourceLimitConfig, SourceLimiter};
use senim_sip::transaction::{Event, TransactionLayer, Transmit, TxKey};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::mpsc;

use super::admission::{Admission, Facts, UnknownSources, Verdict};
use super::messages::{CallSpawner, ToCall, ToEndpoint};
use super::registrar::{make_registrar, RegistrarSettings};
use super::registrations::{Registrations, SoftphoneContact};
use super::router::{RouterHandle, ToRouter};
use super::stats::SipStats;
use super::trunks::{TrunkPlan, Trunks};
use senim_routing::specialists::Specialists;
use senim_sip::transaction::TimerConfig;

/// Methods Senim answers.
pub use senim_call::call::ALLOW;
/// Methods Senim knows but does not take (405 rather than 501).
const KNOWN_NOT_ALLOWED: [&str; 7] = [
    "SUBSCRIBE",
    "NOTIFY",
    "MESSAGE",
    "REFER",
    "PRACK",
    "UPDATE",
    "PUBLISH",
];
/// Option tags Senim supports as a UAS (RFC 3261 §8.2.2.3): none yet, so a
/// request that Requires any is answered 420.
const SUPPORTED: [&str; 0] = [];
const MAX_TCP_CONNECTIONS: usize = 1024;
/// Most messages waiting for one connection Senim is opening.
const MAX_WAITING_FOR_CONNECTION: usize = 64;
/// After the last call has ended on shutdown, how long its final requests may take.
const STOP_GRACE: std::time::Duration = std::time::Duration::from_secs(1);
const MAX_DATAGRAM: usize = 65_535;

/// Bind the SIP sockets (UDP and TCP on the same address).
pub async fn bind(listen: SocketAddr) -> std::io::Result<(UdpSocket, TcpListener)> {
    let udp = UdpSocket::bind(listen).await?;
    let tcp = TcpListener::bind(udp.local_addr()?).await?;
    Ok((udp, tcp))
}

/// The sockets the endpoint serves.
pub struct Sockets {
    pub udp: UdpSocket,
    pub tcp: TcpListener,
    /// SIP over TLS (`[sip] tls_listen`): the listener and its handshakes.
    pub tls: Option<(TcpListener, tokio_rustls::TlsAcceptor)>,
}

/// What the endpoint is given: the registrar's accounts, timers, where
/// registrations and counters go, and who starts a call for a new INVITE.
pub struct EndpointSetup {
    /// Digest realm of the registrar.
    pub realm: String,
    /// The specialists (their softphones' accounts).
    pub specialists: Specialists,
    /// RFC 3261 timer settings for the transaction layer.
    pub timers: TimerConfig,
    pub stats: Arc<SipStats>,
    /// Registered contacts per softphone user name, published here.
    pub registrations: Arc<Registrations>,
    /// The router, told who is online.
    pub router: RouterHandle,
    /// Starts a call's task for a new INVITE.
    pub calls: Arc<dyn CallSpawner>,
    /// The trunks to register to and probe.
    pub trunks: Vec<TrunkPlan>,
    /// Senim's address in Via and Contact (the public one behind NAT).
    pub sip_address: SocketAddr,
    /// The TLS listener's address in Via and Contact (`None`: no listener).
    pub tls_address: Option<SocketAddr>,
    /// The From user of Senim's probes.
    pub centre_user: String,
    /// Per-source limit of SIP messages (`None`: no limit).
    pub source_limit: Option<SourceLimitConfig>,
    /// Most calls at once; a new INVITE beyond gets 503 with Retry-After.
    pub max_calls: usize,
    /// Lock-out and digest algorithms of the registrar.
    pub registrar: RegistrarSettings,
    /// What requests from strangers get.
    pub unknown_sources: UnknownSources,
}

/// Run the endpoint until shut down and every call has ended.
pub async fn run(
    sockets: Sockets,
    ctx: EndpointSetup,
    tx: mpsc::UnboundedSender<ToEndpoint>,
    mut rx: mpsc::UnboundedReceiver<ToEndpoint>,
) {
    let Sockets { udp, tcp, tls } = sockets;
    let trunks = Trunks::new(
        &ctx.trunks,
        ctx.sip_address,
        ctx.tls_address,
        &ctx.centre_user,
        Instant::now(),
        crate::util::time::now_ms(),
    );
    let limiter = ctx
        .source_limit
        .map(|config| SourceLimiter::new(config, Instant::now()));
    let tcp_limits = Arc::new(super::tcp::ConnectionLimits::default());
    let shared: Vec<senim_call::config::Trunk> =
        ctx.trunks.iter().map(|t| t.trunk.clone()).collect();
    let mut ep = Endpoint {
        limiter,
        tcp_limits: tcp_limits.clone(),
        trunks,
        admission: Admission::new(&shared, ctx.unknown_sources),
        refusals: Default::default(),
        registrar: make_registrar(&ctx.realm, &ctx.specialists, &ctx.registrar),
        layer: TransactionLayer::new(ctx.timers),
        udp,
        tcp_writers: HashMap::new(),
        dialing: HashMap::new(),
        calls: HashMap::new(),
        aliases: HashMap::new(),
        call_aliases: HashMap::new(),
        published: HashMap::new(),
        call_keys: HashMap::new(),
        tx_calls: HashMap::new(),
        ctx,
        tx: tx.clone(),
        stopping: None,
        draining_until: None,
        calls_gone: None,
    };
    let acceptor = tokio::spawn(super::tcp::accept(
        tcp,
        None,
        tx.clone(),
        tcp_limits.clone(),
        ep.ctx.stats.clone(),
    ));
    let tls_acceptor = tls.map(|(listener, handshakes)| {
        tokio::spawn(super::tcp::accept(
            listener,
            Some(handshakes),
            tx.clone(),
            tcp_limits,
            ep.ctx.stats.clone(),
        ))
    });
    let mut buf = vec![0u8; MAX_DATAGRAM];
    // The trunks' first REGISTERs and probes.
    ep.flush().await;
    loop {
        let wake = [
            ep.layer.poll_timeout(),
            ep.registrar.poll_timeout(),
            ep.trunks.poll_timeout(),
            ep.stop_at(),
        ]
        .into_iter()
        .flatten()
        .min();
        tokio::select! {
            r = ep.udp.recv_from(&mut buf) => match r {
                Ok((n, from)) => {
                    ep.ctx.stats.messages_in.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let peer = Peer { transport: Transport::Udp, addr: from };
                    if let Some(data) = buf.get(..n) {
                        let now = Instant::now();
                        if ep.admits_traffic(now, from) {
                            ep.receive(now, data, peer);
                        }
                    }
                }
                Err(e) => tracing::debug!(error = %e, "udp receive error"),
            },
            msg = rx.recv() => match msg {
                Some(m) => ep.command(m),
                None => break,
            },
            _ = sleep_until(wake) => {
                let now = Instant::now();
                ep.layer.handle_timeout(now);
                ep.registrar.handle_timeout(now);
                ep.trunks.handle_timeout(now);
            }
        }
        ep.trunks.notice_calls(Instant::now());
        ep.flush().await;
        ep.publish_counters();
        if ep.draining_until.is_some_and(|t| Instant::now() >= t) {
            tracing::info!(
                calls = ep.calls.len(),
                "stopping: the drain is over; the calls left are ended"
            );
            ep.end_calls(Instant::now());
        }
        if let Some(deadline) = ep.stopping {
            // Once the calls are gone, give their last BYEs a moment to be
            // answered (or retransmitted), then stop.
            let now = Instant::now();
            if ep.calls.is_empty() {
                let since = *ep.calls_gone.get_or_insert(now);
                if ep.layer.is_empty() || now >= since + STOP_GRACE {
                    break;
                }
            }
            if now >= deadline {
                break;
            }
        }
    }
    acceptor.abort();
    if let Some(a) = tls_acceptor {
        a.abort();
    }
    ep.flush().await;
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(t) => tokio::time::sleep_until(t.into()).await,
        None => std::future::pending().await,
    }
}

/// Which call a transaction belongs to, and what it was.
#[derive(Debug, Clone)]
struct TxOwner {
    call_id: String,
    request_call_id: String,
    method: Method,
}

struct Endpoint {
    /// Per-source limit of what arrives (trunks are not limited).
    limiter: Option<SourceLimiter>,
    /// Counts of TCP and TLS connections, shared with the acceptors.
    tcp_limits: Arc<super::tcp::ConnectionLimits>,
    /// The trunks' registrations and probes.
    trunks: Trunks,
    /// Who may talk to Senim.
    admission: Admission,
    /// Which refusals are logged at warn (a source's first, then one line
    /// every five minutes).
    refusals: super::refusal_log::RefusalLog,
    registrar: Registrar,
    layer: TransactionLayer,
    udp: UdpSocket,
    /// The open TCP and TLS connections, by peer (transport and address).
    tcp_writers: HashMap<Peer, mpsc::UnboundedSender<Bytes>>,
    /// Connections Senim is opening, with what waits to be written on them.
    dialing: HashMap<Peer, Vec<Bytes>>,
    /// Call-ID to the call's task.
    calls: HashMap<String, mpsc::UnboundedSender<ToCall>>,
    /// Leg Call-IDs to the Call-ID of the call that placed them.
    aliases: HashMap<String, String>,
    /// The reverse, to forget them when the call ends.
    call_aliases: HashMap<String, Vec<String>>,
    /// Registered contacts per softphone user as last told to the router.
    published: HashMap<String, usize>,
    /// Transactions that belong to a call (its INVITE, the requests it sent)
    /// to the call's Call-ID (and the request's own Call-ID and method), so
    /// their responses and timeouts reach it.
    tx_calls: HashMap<TxKey, TxOwner>,
    /// The reverse, to forget them when the call ends.
    call_keys: HashMap<String, Vec<TxKey>>,
    ctx: EndpointSetup,
    tx: mpsc::UnboundedSender<ToEndpoint>,
    /// Set when shutting down: the time by which to stop regardless.
    stopping: Option<Instant>,
    /// When stopping with calls in progress: until then they may go on.
    draining_until: Option<Instant>,
    /// When stopping: the moment the last call ended.
    calls_gone: Option<Instant>,
}

impl Endpoint {
    /// Whether a message from `from` is taken: a trunk's always, anyone
    /// else's within the per-source rate limit. Dropped ones are counted,
    /// and logged once per burst.
    fn admits_traffic(&mut self, now: Instant, from: SocketAddr) -> bool {
        let Some(limiter) = self.limiter.as_mut() else {
            return true;
        };
        if self.ctx.trunks.iter().any(|p| p.trunk.admits(from)) {
            return true;
        }
        match limiter.check(now, from.ip()) {
            source_limit::Verdict::Allow => true,
            source_limit::Verdict::Drop { first } => {
                self.ctx
                    .stats
                    .rate_limited
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if first {
                    tracing::warn!(source = %from.ip(), "SIP messages over the per-source rate limit are dropped");
                }
                false
            }
        }
    }

    /// Counters kept elsewhere, copied to the stats.
    fn publish_counters(&self) {
        use std::sync::atomic::Ordering::Relaxed;
        let stats = &self.ctx.stats;
        stats
            .overload_refused
            .store(self.layer.refused_for_room(), Relaxed);
        stats
            .tcp_refused
            .store(self.tcp_limits.refused.load(Relaxed), Relaxed);
    }

    /// End every call (a goodbye and BYE), then stop within 5 s.
    fn end_calls(&mut self, now: Instant) {
        self.draining_until = None;
        self.stopping = Some(now + std::time::Duration::from_secs(5));
        for call in self.calls.values() {
            let _ = call.send(ToCall::Shutdown);
        }
    }

    /// When stopping, the next moment to check whether to stop.
    fn stop_at(&self) -> Option<Instant> {
        if let Some(until) = self.draining_until {
            return Some(until);
        }
        let deadline = self.stopping?;
        Some(
            self.calls_gone
                .map_or(deadline, |t| t + STOP_GRACE)
                .min(deadline),
        )
    }

    fn command(&mut self, cmd: ToEndpoint) {
        let now = Instant::now();
        match cmd {
            ToEndpoint::Respond { key, response } => {
                if let Err(e) = self.layer.send_response(now, key, response) {
                    tracing::debug!(error = %e, "response on a finished transaction");
                }
            }
            ToEndpoint::Request {
                call_id,
                request,
                peer,
            } => {
                let owner = TxOwner {
                    request_call_id: message::call_id(&request).unwrap_or_default(),
                    method: request.method,
                    call_id,
                };
                let key = self.layer.send_request(now, request, peer);
                self.bind_tx(key, owner);
            }
            ToEndpoint::Register { call_id, handle } => {
                if self.stopping.is_some() {
                    let _ = handle.send(ToCall::Shutdown);
                }
                if self.calls.insert(call_id, handle).is_none() {
                    self.ctx
                        .stats
                        .calls_active
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
            ToEndpoint::Alias { leg, call_id } => {
                self.call_aliases
                    .entry(call_id.clone())
                    .or_default()
                    .push(leg.clone());
                self.aliases.insert(leg, call_id);
            }
            ToEndpoint::Stateless { message, peer } => self.layer.send_stateless(message, peer),
            ToEndpoint::CallEnded { call_id } => {
                for key in self.call_keys.remove(&call_id).unwrap_or_default() {
                    self.tx_calls.remove(&key);
                }
                for leg in self.call_aliases.remove(&call_id).unwrap_or_default() {
                    self.aliases.remove(&leg);
                }
                if self.calls.remove(&call_id).is_some() {
                    self.ctx
                        .stats
                        .calls_active
                        .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
            ToEndpoint::Accounts {
                specialists,
                registrar,
            } => self.update_accounts(&specialists, registrar),
            ToEndpoint::TcpFrame { data, peer } => {
                if self.admits_traffic(now, peer.addr) {
                    self.receive(now, &data, peer)
                }
            }
            ToEndpoint::TcpOpened { peer, writer } => {
                let waiting = self.dialing.remove(&peer).unwrap_or_default();
                if self.tcp_writers.len() < MAX_TCP_CONNECTIONS {
                    for data in waiting {
                        let _ = writer.send(data);
                    }
                    self.tcp_writers.insert(peer, writer);
                }
            }
            ToEndpoint::TcpClosed { peer } => {
                self.tcp_writers.remove(&peer);
                self.registrar.handle_flow_closed(peer);
                self.layer.transport_failed(peer);
                self.trunks.flow_closed(now, peer);
            }
            ToEndpoint::TcpFailed { peer } => {
                self.dialing.remove(&peer);
                let ended = self.layer.transport_failed(peer);
                tracing::debug!(%peer, requests = ended, "requests ended: no connection");
            }
            ToEndpoint::Shutdown { drain } => {
                if self.stopping.is_none() {
                    self.trunks.unregister_all(now);
                }
                if drain.is_zero() || self.calls.is_empty() {
                    self.end_calls(now);
                } else {
                    let until = now + drain;
                    tracing::info!(calls = self.calls.len(), drain = ?drain,
                        "stopping: new calls are refused; the calls in progress may go on");
                    self.draining_until = Some(self.draining_until.map_or(until, |d| d.min(until)));
                    self.stopping = Some(self.stopping.map_or(until, |s| s.max(until)));
                }
            }
        }
    }

    /// Bytes from a peer: let them in to the transaction layer, or not.
    fn receive(&mut self, now: Instant, data: &[u8], peer: Peer) {
        if message::is_keepalive(data) {
            return;
        }
        let request = match message::parse(data) {
            Ok(rsip::SipMessage::Request(request)) => request,
            Ok(response) => {
                self.layer.handle_message(now, response, peer);
                return;
            }
            Err(_) => {
                let phone = self.registrar.is_bound_source(peer, now);
                if self.admission.answer_unparsable(peer, phone) {
                    // The layer answers 400 (or 501, 505) where it can.
                    self.layer.handle_bytes(now, data, peer);
                } else {
                    self.count(&self.ctx.stats.refused_unknown_source);
                    match self.refusals.refused(now, peer.addr.ip()) {
                        Some(since) => tracing::warn!(
                            from = %peer.addr,
                            refused_since = since,
                            "unparsable message from a stranger dropped"
                        ),
                        None => {
                            tracing::debug!(from = %peer.addr, "unparsable message from a stranger dropped")
                        }
                    }
                }
                return;
            }
        };
        let call_id = message::call_id(&request);
        let in_call = call_id
            .as_deref()
            .is_some_and(|c| self.call_by_id(c).is_some())
            || (request.method == rsip::Method::Cancel
                && self.layer.find_invite_for_cancel(&request).is_some());
        let request_user = request.uri.user().map(str::to_string);
        let verdict = self.admission.decide(&Facts {
            method: &request.method,
            user_agent: message::header_value(&request, "User-Agent"),
            request_user: request_user.as_deref(),
            source: peer,
            in_call,
            registered_phone: self.registrar.is_bound_source(peer, now),
        });
        match verdict {
            Verdict::Admit(_) => {
                self.layer
                    .handle_message(now, rsip::SipMessage::Request(request), peer)
            }
            Verdict::Scanner => {
                self.count(&self.ctx.stats.dropped_scanners);
                match self.refusals.refused(now, peer.addr.ip()) {
                    Some(since) => tracing::warn!(
                        from = %peer.addr,
                        method = %request.method,
                        refused_since = since,
                        "scanner dropped (a SIP scanner's User-Agent)"
                    ),
                    None => {
                        tracing::debug!(from = %peer.addr, method = %request.method, "scanner dropped")
                    }
                }
            }
            Verdict::Refuse {
                answer,
                claimed_trunk,
            } => {
                self.count(&self.ctx.stats.refused_unknown_source);
                match claimed_trunk {
                    Some(trunk) => tracing::info!(
                        from = %peer.addr,
                        method = %request.method,
                        %trunk,
                        "refused: the request names this trunk's registered user but comes from \
                         an address the trunk does not list; add it to the trunk's `allow` if it \
                         is the provider's"
                    ),
                    None => match self.refusals.refused(now, peer.addr.ip()) {
                        Some(since) => tracing::warn!(
                            from = %peer.addr,
                            method = %request.method,
                            refused_since = since,
                            "refused: not a trunk, a registered softphone or a call in progress \
                             (a phone or trunk of the centre's? see docs/trunks.md, `allow`)"
                        ),
                        None => tracing::debug!(
                            from = %peer.addr,
                            method = %request.method,
                            "refused: not a trunk, a registered softphone or a call in progress"
                        ),
                    },
                }
                if answer {
                    let response =
                        message::response(&request, 403, "Forbidden", Some(&message::new_tag()));
                    self.layer
                        .send_stateless(rsip::SipMessage::Response(response), peer);
                }
            }
        }
    }

    fn count(&self, counter: &std::sync::atomic::AtomicU64) {
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// Log a REGISTER's failure with where it came from, count it, and say
    /// when it locked a user or an address out.
    fn note_register(&self, outcome: &senim_sip::registrar::RegisterOutcome, peer: Peer) {
        match &outcome.result {
            Err(e) if outcome.failed_credentials => {
                self.count(&self.ctx.stats.register_failures);
                let user = match e {
                    RegisterError::BadCredentials { user } => user.as_str(),
                    RegisterError::UnknownUser(user) => user.as_str(),
                    RegisterError::Forbidden { auth_user, .. } => auth_user.as_str(),
                    _ => "",
                };
                tracing::warn!(from = %peer.addr, user = ?user, error = %e, "REGISTER with wrong credentials");
            }
            Err(e @ RegisterError::LockedOut(_)) => {
                tracing::debug!(from = %peer.addr, error = %e, "REGISTER refused unchecked");
            }
            // The challenges of every registration's first round: not news.
            Err(
                e @ (RegisterError::Unauthenticated
                | RegisterError::StaleNonce
                | RegisterError::InvalidNonce
                | RegisterError::Replay(_)),
            ) => tracing::debug!(from = %peer.addr, error = %e, "REGISTER challenged"),
            Err(e) => tracing::warn!(from = %peer.addr, error = %e, "REGISTER refused"),
            Ok(_) => {}
        }
        for lock in &outcome.locked {
            let secs = lock
                .until
                .saturating_duration_since(Instant::now())
                .as_secs();
            match &lock.target {
                LockTarget::User(_) => self.count(&self.ctx.stats.register_lockouts_user),
                LockTarget::Source(_) => self.count(&self.ctx.stats.register_lockouts_source),
            }
            tracing::warn!(
                from = %peer.addr,
                locked = %lock.target,
                for_secs = secs,
                "too many wrong passwords: locked out; the right password is refused until the \
                 lock-out ends"
            );
        }
    }

    /// Send what the layer wants sent and hand its events on.
    async fn flush(&mut self) {
        loop {
            let mut progressed = false;
            let now = Instant::now();
            for (out, index, registration) in self.trunks.poll_requests() {
                progressed = true;
                let key = self.layer.send_request(now, out.request, out.peer);
                self.trunks.bind(key, index, registration);
            }
            while let Some(t) = self.layer.poll_transmit() {
                progressed = true;
                self.transmit(t).await;
            }
            while let Some(ev) = self.layer.poll_event() {
                progressed = true;
                self.event(ev);
            }
            while let Some(ev) = self.registrar.poll_event() {
                progressed = true;
                log_registration(&ev);
                self.publish_registrations();
            }
            if !progressed {
                break;
            }
        }
    }

    async fn transmit(&mut self, t: Transmit) {
        match t.peer.transport {
            Transport::Udp => {
                if let Err(e) = self.udp.send_to(&t.data, t.peer.addr).await {
                    tracing::debug!(error = %e, to = %t.peer.addr, "udp send failed");
                }
            }
            Transport::Tcp | Transport::Tls => match self.tcp_writers.get(&t.peer) {
                Some(w) => {
                    let _ = w.send(t.data);
                }
                None => self.dial(t.peer, t.data),
            },
        }
    }

    /// A message for a TCP or TLS peer with no connection: open one (to a
    /// trunk only: a phone's connection is its own to open) and send it once
    /// open.
    fn dial(&mut self, peer: Peer, data: Bytes) {
        if let Some(waiting) = self.dialing.get_mut(&peer) {
            if waiting.len() < MAX_WAITING_FOR_CONNECTION {
                waiting.push(data);
            }
            return;
        }
        let Some(how) = self.trunks.stream_dial(peer) else {
            tracing::debug!(to = %peer, "no connection for this peer; message dropped");
            return;
        };
        if self.tcp_writers.len() + self.dialing.len() >= MAX_TCP_CONNECTIONS {
            tracing::warn!(to = %peer, "too many TCP and TLS connections; message dropped");
            return;
        }
        self.dialing.insert(peer, vec![data]);
        tokio::spawn(super::tcp::dial(
            peer,
            how.keepalive,
            how.tls,
            self.tx.clone(),
        ));
    }

    fn event(&mut self, ev: Event) {
        match ev {
            Event::Request { key, request, peer } => self.request(key, request, peer),
            Event::Ack { request, peer } => {
                if let Some(call) = self.call_for(&request) {
                    let _ = call.send(ToCall::Ack { request, peer });
                }
            }
            Event::Response { key, response } => {
                if self.trunks.on_response(Instant::now(), key, &response) {
                    return;
                }
                if let Some(call) = self.call_of_tx(key) {
                    let _ = call.send(ToCall::Response { key, response });
                }
            }
            Event::Timeout { key } => {
                if self.trunks.on_transaction_timeout(Instant::now(), key) {
                    return;
                }
                if let Some(owner) = self.tx_calls.get(&key) {
                    if let Some(call) = self.calls.get(&owner.call_id) {
                        let _ = call.send(ToCall::Timeout {
                            key,
                            call_id: owner.request_call_id.clone(),
                            method: owner.method,
                        });
                    }
                }
            }
            #[allow(unreachable_patterns)]
            _ => {}
        }
    }

    /// Share the registered contacts per softphone user: with calls (where
    /// to send an INVITE), HTTP, and the router (who is online).
    /// A reload: new softphone accounts and registrar settings. The router
    /// has a new roster, so it is told again who is registered.
    fn update_accounts(&mut self, specialists: &Specialists, settings: RegistrarSettings) {
        super::registrar::update_registrar(
            &mut self.registrar,
            specialists,
            &self.ctx.registrar,
            &settings,
        );
        self.ctx.registrar = settings;
        self.ctx.specialists = specialists.clone();
        self.publish_registrations();
        for (user, n) in &self.published {
            self.ctx.router.send(ToRouter::Registered {
                username: user.clone(),
                bindings: u32::try_from(*n).unwrap_or(u32::MAX),
            });
        }
    }

    fn publish_registrations(&mut self) {
        let now = Instant::now();
        let contacts: std::collections::BTreeMap<String, Vec<SoftphoneContact>> = self
            .registrar
            .registered_users()
            .into_iter()
            .map(|u| {
                let list = self
                    .registrar
                    .bindings_at(&u, now)
                    .into_iter()
                    .map(|b| SoftphoneContact {
                        uri: b.uri.clone(),
                        source: b.source,
                        registered_at: b.registered_at,
                    })
                    .collect();
                (u, list)
            })
            .collect();
        let mut changed: Vec<(String, usize)> = contacts
            .iter()
            .filter(|(u, l)| self.published.get(*u) != Some(&l.len()))
            .map(|(u, l)| (u.clone(), l.len()))
            .collect();
        changed.extend(
            self.published
                .keys()
                .filter(|u| !contacts.contains_key(*u))
                .map(|u| (u.clone(), 0)),
        );
        for (user, n) in changed {
            if n == 0 {
                self.published.remove(&user);
            } else {
                self.published.insert(user.clone(), n);
            }
            self.ctx.router.send(ToRouter::Registered {
                username: user,
                bindings: u32::try_from(n).unwrap_or(u32::MAX),
            });
        }
        self.ctx.registrations.replace(contacts);
    }

    fn bind_tx(&mut self, key: TxKey, owner: TxOwner) {
        self.call_keys
            .entry(owner.call_id.clone())
            .or_default()
            .push(key);
        self.tx_calls.insert(key, owner);
    }

    fn call_of_tx(&self, key: TxKey) -> Option<&mpsc::UnboundedSender<ToCall>> {
        self.tx_calls
            .get(&key)
            .and_then(|o| self.calls.get(&o.call_id))
    }

    /// The call a request belongs to: by its Call-ID, or the Call-ID of one
    /// of the call's outbound legs.
    fn call_by_id(&self, call_id: &str) -> Option<&mpsc::UnboundedSender<ToCall>> {
        self.calls.get(call_id).or_else(|| {
            self.aliases
                .get(call_id)
                .and_then(|parent| self.calls.get(parent))
        })
    }

    fn call_for(&self, request: &rsip::Request) -> Option<&mpsc::UnboundedSender<ToCall>> {
        let call_id = message::call_id(request)?;
        self.call_by_id(&call_id)
    }

    fn respond(&mut self, key: TxKey, request: &rsip::Request, code: u16, reason: &str) {
        let mut response = message::response(request, code, reason, Some(&message::new_tag()));
        if code == 405 || code == 200 {
            response.headers.push(rsip::Header::Allow(ALLOW.into()));
        }
        if let Err(e) = self.layer.send_response(Instant::now(), key, response) {
            tracing::debug!(error = %e, "could not respond");
        }
    }

    /// RFC 3261 §8.2.2 for a request whose method Senim takes: answers 416
    /// for a Request-URI scheme it does not serve, 420 for extensions it
    /// does not support, and says whether it did.
    fn refused_by_uas_checks(&mut self, key: TxKey, request: &rsip::Request) -> bool {
        let Err(refusal) = senim_sip::uas::check(request, &SUPPORTED) else {
            return false;
        };
        tracing::debug!(error = %refusal, method = %request.method, "request refused");
        let response = refusal.response(request, Some(&message::new_tag()));
        if let Err(e) = self.layer.send_response(Instant::now(), key, response) {
            tracing::debug!(error = %e, "could not respond");
        }
        true
    }

    fn request(&mut self, key: TxKey, request: rsip::Request, peer: Peer) {
        let call_id = message::call_id(&request);
        let has_to_tag = message::to_tag(&request).is_some();
        let method = request.method;
        let taken = matches!(
            method,
            Method::Options | Method::Invite | Method::Bye | Method::Info
        ) || (has_to_tag && matches!(method, Method::Notify | Method::Refer));
        if taken && self.refused_by_uas_checks(key, &request) {
            return;
        }
        match method {
            // Stopping: 503, so that a dispatcher's probe (Kamailio) sends
            // new calls elsewhere while the calls in progress end.
            Method::Options if self.stopping.is_some() => {
                self.respond(key, &request, 503, "Service Unavailable")
            }
            Method::Options => {
                let mut response =
                    message::response(&request, 200, "OK", Some(&message::new_tag()));
                response.headers.push(rsip::Header::Allow(ALLOW.into()));
                response.headers.push(rsip::Header::Accept(
                    "application/sdp, application/dtmf-relay, application/dtmf".into(),
                ));
                response.headers.push(rsip::Header::Supported("".into()));
                let _ = self.layer.send_response(Instant::now(), key, response);
            }
            Method::Cancel => match self.layer.find_invite_for_cancel(&request) {
                Some(invite_key) => {
                    self.respond(key, &request, 200, "OK");
                    if let Some(call) = call_id.as_ref().and_then(|c| self.calls.get(c)) {
                        let _ = call.send(ToCall::Cancel { invite_key });
                    }
                }
                None => self.respond(key, &request, 481, "Call/Transaction Does Not Exist"),
            },
            Method::Invite if !has_to_tag => {
                let Some(call_id) = call_id else {
                    self.respond(key, &request, 400, "Bad Request");
                    return;
                };
                if self.stopping.is_some() {
                    self.respond(key, &request, 503, "Service Unavailable");
                    return;
                }
                if self.calls.contains_key(&call_id) || self.aliases.contains_key(&call_id) {
                    self.respond(key, &request, 482, "Loop Detected");
                    return;
                }
                if self.calls.len() >= self.ctx.max_calls {
                    self.ctx
                        .stats
                        .calls_refused_full
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    tracing::warn!(
                        calls = self.calls.len(),
                        "call refused: [sip] max_calls reached"
                    );
                    let mut busy = message::response(
                        &request,
                        503,
                        "Service Unavailable",
                        Some(&message::new_tag()),
                    );
                    busy.headers
                        .push(rsip::Header::Other("Retry-After".into(), "30".into()));
                    if let Err(e) = self.layer.send_response(Instant::now(), key, busy) {
                        tracing::debug!(error = %e, "could not respond");
                    }
                    return;
                }
                let handle = self.ctx.calls.spawn(self.tx.clone(), key, request, peer);
                self.bind_tx(
                    key,
                    TxOwner {
                        call_id: call_id.clone(),
                        request_call_id: call_id.clone(),
                        method: Method::Invite,
                    },
                );
                self.calls.insert(call_id, handle);
                self.ctx
                    .stats
                    .calls_active
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                self.ctx
                    .stats
                    .calls_total
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            Method::Register => {
                let outcome = self
                    .registrar
                    .handle_register(Instant::now(), &request, peer);
                self.note_register(&outcome, peer);
                if let Err(e) = self
                    .layer
                    .send_response(Instant::now(), key, outcome.response)
                {
                    tracing::debug!(error = %e, "could not answer REGISTER");
                }
            }
            // In-dialog requests go to the call (or the call whose leg it is).
            Method::Invite | Method::Bye | Method::Info | Method::Notify | Method::Refer
                if has_to_tag =>
            {
                let sent = match call_id.as_deref().and_then(|c| self.call_by_id(c)) {
                    Some(call) => call.send(ToCall::Request { key, request, peer }),
                    None => Err(mpsc::error::SendError(ToCall::Request {
                        key,
                        request,
                        peer,
                    })),
                };
                // No call, or its task has just ended (a NOTIFY right after
                // the caller's BYE): the dialog is gone. Unanswered, the
                // request's retransmissions would be absorbed for good.
                if let Err(mpsc::error::SendError(ToCall::Request { key, request, .. })) = sent {
                    self.respond(key, &request, 481, "Call/Transaction Does Not Exist");
                }
            }
            Method::Bye | Method::Info => {
                self.respond(key, &request, 481, "Call/Transaction Does Not Exist")
            }
            other => {
                let name = other.to_string();
                if KNOWN_NOT_ALLOWED.contains(&name.as_str()) {
                    self.respond(key, &request, 405, "Method Not Allowed");
                } else {
                    self.respond(key, &request, 501, "Not Implemented");
                }
            }
        }
    }
}

/// A registration change: the user (the specialist's SIP user) at `info`;
/// the phone's Contact, which says where the specialist is, only at
/// `debug`.
fn log_registration(ev: &RegistrarEvent) {
    let (what, user, contact) = match ev {
        RegistrarEvent::Registered { user, contact } => ("registered", user, contact),
        RegistrarEvent::Unregistered { user, contact } => ("unregistered", user, contact),
        RegistrarEvent::Expired { user, contact } => ("expired", user, contact),
    };
    tracing::info!(%user, what, "registration");
    tracing::debug!(%user, what, %contact, "registration contact");
}
