//! The trunks' own traffic, driven from the SIP endpoint: each registering
//! trunk's [`Registration`] and each probed trunk's [`OptionsProbe`] (both
//! sans-IO, in `senim-sip`). The endpoint sends what they ask through its
//! transaction layer and hands back the responses and timeouts of those
//! transactions; this room keeps which transaction is whose, turns probe
//! events into the trunk's up/down flag that calls read, and publishes each
//! trunk's report for `GET /trunks` and `/metrics`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use senim_call::trunk::{Trunk, TrunkReport};
use senim_sip::digest::client::ClientCredentials;
use senim_sip::health::{HealthEvent, OptionsProbe, ProbeConfig, TrunkState};
use senim_sip::message::{Peer, Transport};
use senim_sip::outbound::OutgoingRequest;
use senim_sip::registration::{
    Registration, RegistrationConfig, RegistrationEvent, RegistrationState,
};
use senim_sip::transaction::TxKey;

use super::tls::TrunkTls;

/// What the driver needs of one trunk besides the call layer's [`Trunk`].
#[derive(Debug, Clone)]
pub struct TrunkPlan {
    pub trunk: Trunk,
    /// Requested registration lifetime.
    pub register_expires: Duration,
    /// OPTIONS every so often (`None`: never).
    pub probe_every: Option<Duration>,
    /// TCP and TLS: a CRLF ping on the connection every so often (`None`: never).
    pub keepalive: Option<Duration>,
    /// TLS: how to open the connection (the CA to trust, the name to check).
    pub tls: Option<TrunkTls>,
}

/// How to open a connection to a trunk.
#[derive(Debug, Clone)]
pub struct Dial {
    /// Ping the connection this often (`None`: never).
    pub keepalive: Option<Duration>,
    /// Over TLS: the CA and name the trunk's certificate is checked against.
    pub tls: Option<TrunkTls>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Registration,
    Probe,
}

struct Agent {
    trunk: Trunk,
    registration: Option<Registration>,
    probe: Option<OptionsProbe>,
    last_failure: Option<(String, i64)>,
    /// How to open its connection (TCP and TLS trunks).
    dial: Dial,
    /// The probe has found the trunk down since it was last up.
    was_down: bool,
    /// When a lost connection last made the registration start over.
    recovered_at: Option<Instant>,
}

/// A registration starts over after a lost connection at most this often
/// (a trunk that accepts connections and drops them at once is not
/// registered to in a loop).
const FLOW_RECOVERY_EVERY: Duration = Duration::from_secs(30);

/// Every trunk's registration and probe.
pub struct Trunks {
    agents: Vec<Agent>,
    txs: HashMap<TxKey, (usize, Part)>,
    /// Wall time of `base`, to report instants as epoch milliseconds.
    base: (Instant, i64),
}

fn host(addr: SocketAddr) -> String {
    match addr {
        SocketAddr::V4(v4) => format!("{}:{}", v4.ip(), v4.port()),
        SocketAddr::V6(v6) => format!("[{}]:{}", v6.ip(), v6.port()),
    }
}

impl Trunks {
    /// The agents for `plans`; `sip_address` is Senim's address in Via and
    /// Contact (the public one behind NAT), `tls_address` the TLS
    /// listener's (used towards TLS trunks; `None`: no listener, then
    /// `sip_address`), `centre_user` the From user of probes.
    pub fn new(
        plans: &[TrunkPlan],
        sip_address: SocketAddr,
        tls_address: Option<SocketAddr>,
        centre_user: &str,
        now: Instant,
        epoch_ms: i64,
    ) -> Trunks {
        let mut agents = Vec::with_capacity(plans.len());
        for (i, plan) in plans.iter().enumerate() {
            let trunk = plan.trunk.clone();
            let sip_address = match trunk.transport {
                Transport::Tls => tls_address.unwrap_or(sip_address),
                Transport::Udp | Transport::Tcp => sip_address,
            };
            let registration = match (&trunk.credentials, trunk.register) {
                (Some(c), true) => {
                    let domain = trunk.host();
                    let mut config = RegistrationConfig::new(
                        &format!("sip:{domain}"),
                        &format!("sip:{}@{domain}", c.username),
                        &format!(
                            "sip:{}@{}{}",
                            c.username,
                            host(sip_address),
                            match trunk.transport {
                                Transport::Tcp => ";transport=tcp",
                                Transport::Tls => ";transport=tls",
                                Transport::Udp => "",
                            }
                        ),
                        trunk.peer(),
                        sip_address,
                        ClientCredentials::new(c.digest_user(), &c.password),
                    );
                    config.expires = u32::try_from(plan.register_expires.as_secs()).unwrap_or(3600);
                    config.user_agent = Some("Senim".into());
                    config.seed = epoch_ms as u64 ^ (i as u64).wrapping_mul(0x9e37_79b9);
                    match Registration::new(config) {
                        Ok(r) => Some(r),
                        Err(e) => {
                            tracing::error!(trunk = %trunk.id, error = %e, "registration not possible");
                            None
                        }
                    }
                }
                _ => None,
            };
            let probe = plan.probe_every.and_then(|every| {
                let mut config = ProbeConfig::new(
                    &format!("sip:{}", trunk.host()),
                    &format!("sip:{centre_user}@{}", host(sip_address)),
                    trunk.peer(),
                    sip_address,
                );
                config.interval = every;
                config.down_interval = every.min(Duration::from_secs(5));
                config.user_agent = Some("Senim".into());
                match OptionsProbe::new(config) {
                    Ok(p) => Some(p),
                    Err(e) => {
                        tracing::error!(trunk = %trunk.id, error = %e, "probe not possible");
                        None
                    }
                }
            });
            agents.push(Agent {
                trunk,
                registration,
                probe,
                last_failure: None,
                dial: Dial {
                    keepalive: plan.keepalive,
                    tls: plan.tls.clone(),
                },
                was_down: false,
                recovered_at: None,
            });
        }
        let mut trunks = Trunks {
            agents,
            txs: HashMap::new(),
            base: (now, epoch_ms),
        };
        for a in &mut trunks.agents {
            if let Some(r) = a.registration.as_mut() {
                r.register(now);
            }
            if let Some(p) = a.probe.as_mut() {
                p.start(now);
            }
        }
        trunks.publish(now);
        trunks
    }

    fn ms(&self, at: Instant) -> i64 {
        let (base, ms) = self.base;
        match at.checked_duration_since(base) {
            Some(d) => ms.saturating_add(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
            None => ms.saturating_sub(
                i64::try_from(base.duration_since(at).as_millis()).unwrap_or(i64::MAX),
            ),
        }
    }

    /// Requests the trunks want sent, each with its owner to bind to the
    /// transaction's key ([`Trunks::bind`]).
    pub fn poll_requests(&mut self) -> Vec<(OutgoingRequest, usize, bool)> {
        let mut out = Vec::new();
        for (i, a) in self.agents.iter_mut().enumerate() {
            if let Some(r) = a.registration.as_mut() {
                while let Some(req) = r.poll_request() {
                    out.push((req, i, true));
                }
            }
            if let Some(p) = a.probe.as_mut() {
                while let Some(req) = p.poll_request() {
                    out.push((req, i, false));
                }
            }
        }
        out
    }

    /// The transaction `key` carries a request of agent `index`.
    pub fn bind(&mut self, key: TxKey, index: usize, registration: bool) {
        let part = if registration {
            Part::Registration
        } else {
            Part::Probe
        };
        self.txs.insert(key, (index, part));
    }

    /// A response on a trunk's transaction; false when the key is not a trunk's.
    pub fn on_response(&mut self, now: Instant, key: TxKey, response: &rsip::Response) -> bool {
        let Some(&(i, part)) = self.txs.get(&key) else {
            return false;
        };
        if response.status_code.code() >= 200 {
            self.txs.remove(&key);
        }
        if let Some(a) = self.agents.get_mut(i) {
            match part {
                Part::Registration => {
                    if let Some(r) = a.registration.as_mut() {
                        r.handle_response(now, response);
                    }
                }
                Part::Probe => {
                    if let Some(p) = a.probe.as_mut() {
                        p.handle_response(now, response);
                    }
                }
            }
        }
        self.after(now);
        true
    }

    /// A trunk's transaction got no final response; false when not a trunk's.
    pub fn on_transaction_timeout(&mut self, now: Instant, key: TxKey) -> bool {
        let Some((i, part)) = self.txs.remove(&key) else {
            return false;
        };
        if let Some(a) = self.agents.get_mut(i) {
            match part {
                Part::Registration => {
                    if let Some(r) = a.registration.as_mut() {
                        r.handle_transaction_timeout(now);
                    }
                }
                Part::Probe => {
                    if let Some(p) = a.probe.as_mut() {
                        p.handle_transaction_timeout(now);
                    }
                }
            }
        }
        self.after(now);
        true
    }

    /// The earliest timer of any trunk.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.agents
            .iter()
            .flat_map(|a| {
                [
                    a.registration.as_ref().and_then(Registration::poll_timeout),
                    a.probe.as_ref().and_then(OptionsProbe::poll_timeout),
                ]
            })
            .flatten()
            .min()
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        for a in &mut self.agents {
            if let Some(r) = a.registration.as_mut() {
                if r.poll_timeout().is_some_and(|t| t <= now) {
                    r.handle_timeout(now);
                }
            }
            if let Some(p) = a.probe.as_mut() {
                if p.poll_timeout().is_some_and(|t| t <= now) {
                    p.handle_timeout(now);
                }
            }
        }
        self.after(now);
    }

    /// A call found a trunk silent (it marked the trunk down): probe it
    /// faster until it answers.
    pub fn notice_calls(&mut self, now: Instant) {
        let mut changed = false;
        for a in &mut self.agents {
            if let Some(p) = a.probe.as_mut() {
                if !a.trunk.load.is_up() && p.state() != TrunkState::Down {
                    p.mark_failed(now, "a call got no answer from the trunk");
                    changed = true;
                }
            }
        }
        if changed {
            self.after(now);
        }
    }

    /// How to open a connection to `peer` when it is a TCP or TLS trunk's:
    /// Senim opens its connection there when it has something to send.
    /// `None`: not a trunk (a phone's connection is its own to open).
    pub fn stream_dial(&self, peer: Peer) -> Option<Dial> {
        self.agents
            .iter()
            .find(|a| a.trunk.transport.is_reliable() && a.trunk.peer() == peer)
            .map(|a| a.dial.clone())
    }

    /// The TCP or TLS connection to `peer` closed: a trunk registered over
    /// it registers again at once (RFC 5626 §4.4.1), over a new connection,
    /// as the registrar can no longer reach Senim over the old one.
    pub fn flow_closed(&mut self, now: Instant, closed: Peer) {
        for a in &mut self.agents {
            let peer = a.trunk.peer();
            if !peer.transport.is_reliable() || peer != closed {
                continue;
            }
            if a.recovered_at
                .is_some_and(|t| now < t + FLOW_RECOVERY_EVERY)
            {
                continue;
            }
            if let Some(r) = a.registration.as_mut() {
                if r.state() == RegistrationState::Registered {
                    tracing::info!(trunk = %a.trunk.id, "connection to the trunk lost; registering again");
                    a.recovered_at = Some(now);
                    r.register(now);
                }
            }
        }
    }

    /// Remove every registration (shutdown); true when a request went out.
    pub fn unregister_all(&mut self, now: Instant) -> bool {
        let mut any = false;
        for a in &mut self.agents {
            if let Some(r) = a.registration.as_mut() {
                any |= r.unregister(now);
            }
        }
        any
    }

    /// Take the agents' events: log them, set the trunks' up/down flags
    /// and publish the reports.
    fn after(&mut self, now: Instant) {
        let now_ms = self.ms(now);
        for a in &mut self.agents {
            if let Some(r) = a.registration.as_mut() {
                while let Some(ev) = r.poll_event() {
                    match &ev {
                        RegistrationEvent::Registered { .. } => {
                            tracing::info!(trunk = %a.trunk.id, "registered to the trunk")
                        }
                        RegistrationEvent::Failed { failure, .. } => {
                            tracing::warn!(trunk = %a.trunk.id, %failure, "registration failed; retrying");
                            a.last_failure = Some((format!("registration: {failure}"), now_ms));
                        }
                        RegistrationEvent::Expired => {
                            tracing::warn!(trunk = %a.trunk.id, "registration expired");
                        }
                        RegistrationEvent::Unregistered => {
                            tracing::info!(trunk = %a.trunk.id, "registration removed")
                        }
                    }
                }
            }
            if let Some(p) = a.probe.as_mut() {
                while let Some(ev) = p.poll_event() {
                    match ev {
                        HealthEvent::Up => {
                            tracing::info!(trunk = %a.trunk.id, "trunk up");
                            a.trunk.load.set_up(true);
                            // Back from down: it may have restarted and
                            // forgotten Senim's binding, however long the
                            // binding had left. Register again now.
                            if std::mem::take(&mut a.was_down) {
                                if let Some(r) = a.registration.as_mut() {
                                    tracing::info!(trunk = %a.trunk.id, "trunk back up; registering again");
                                    r.register(now);
                                }
                            }
                        }
                        HealthEvent::Down { reason } => {
                            a.was_down = true;
                            tracing::warn!(trunk = %a.trunk.id, %reason, "trunk down");
                            a.trunk.load.set_up(false);
                            a.last_failure = Some((reason.to_string(), now_ms));
                        }
                    }
                }
            }
        }
        self.publish(now);
    }

    fn publish(&self, now: Instant) {
        let _ = now;
        for a in &self.agents {
            let mut report = TrunkReport {
                state: "unprobed".into(),
                ..TrunkReport::default()
            };
            if let Some(p) = &a.probe {
                let status = p.status();
                report.state = status.state.as_str().to_string();
                report.since_ms = status.since.map(|t| self.ms(t));
            } else if !a.trunk.load.is_up() {
                report.state = "down".into();
            }
            if let Some(r) = &a.registration {
                let status = r.status();
                report.registration = Some(status.state.as_str().to_string());
                report.registered_until_ms = match status.state {
                    RegistrationState::Registered => status.registered_until.map(|t| self.ms(t)),
                    _ => None,
                };
                report.public_address = status.public_address.map(|a| a.to_string());
            }
            if let Some((text, at)) = &a.last_failure {
                report.last_failure = Some(text.clone());
                report.last_failure_ms = Some(*at);
            }
            a.trunk.load.set_report(report);
        }
    }

    /// The trunks' load handles (for tests and logs).
    pub fn trunks(&self) -> impl Iterator<Item = &Trunk> {
        self.agents.iter().map(|a| &a.trunk)
    }
}

/// Shared so the HTTP layer can read it without the driver.
pub type TrunkList = Arc<Vec<Trunk>>;
