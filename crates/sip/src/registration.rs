//! Registering Senim to a SIP provider (RFC 3261 §10.2), client side, sans-IO.
//!
//! The driver calls [`Registration::register`] once, then sends every request drained from
//! [`Registration::poll_request`] through the transaction layer (which retransmits), feeds the
//! final responses to [`Registration::handle_response`] and transaction timeouts to
//! [`Registration::handle_transaction_timeout`], and calls [`Registration::handle_timeout`]
//! at [`Registration::poll_timeout`] for refreshes and retries. [`Registration::status`] is
//! the snapshot for `GET /trunks`; [`Registration::poll_event`] reports changes for the log.
//! [`Registration::unregister`] removes the binding (Expires 0) at shutdown.
//!
//! The rules:
//! * Every REGISTER of the binding carries the same Call-ID and From tag, a CSeq one higher
//!   than the last, a fresh Via branch with `;rport`, `Max-Forwards: 70`, the Contact with
//!   `;expires=` and an `Expires` header with the same value, `Content-Length: 0`.
//! * A 401/407 is answered once per attempt ([`crate::digest::authorize_request`]). A second
//!   challenge right after the answer is a failure (wrong user name or password) unless it
//!   says `stale=true`, which is answered once more with the new nonce. Challenges are not
//!   answered pre-emptively: each refresh starts without credentials, so a registrar that
//!   restarted (forgetting its nonces) costs nothing special.
//! * A 2xx grants the `expires` of the Contact matching ours (user, host, port), else the one
//!   Contact's, else the `Expires` header, else what was asked. The refresh is sent after
//!   `max(granted / 2, granted - 120 s)` (at least 1 s): 3600 s is refreshed after 3480 s,
//!   300 s after 180 s, 120 s and below at half time. The 120 s margin leaves room for a
//!   refresh that times out (32 s) and a retry before the binding lapses.
//! * A 423 is retried at once with its `Min-Expires` (when it is above what was asked and at
//!   most one day); the raised value is kept for later refreshes.
//! * Any other failure (3xx-6xx, a transaction timeout, an unusable challenge, no response
//!   within [`RESPONSE_GUARD`]) schedules a retry after an exponential back-off with jitter:
//!   5 s, 10 s, 20 s, ... capped at 5 min, each ±20 % from a seeded RNG, forever; a
//!   `Retry-After` longer than that (at most one hour) is honoured. A failed refresh keeps
//!   the state Registered until the old binding lapses, then the state becomes Failed.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::SeedableRng;
use rsip::{Method, Request, Response, Uri};

use crate::digest::{self, AuthError, ClientCredentials};
use crate::message::{self, NameAddr, Peer};
use crate::outbound::{self, ClientRequest, OutgoingRequest};

/// Expiry asked for by default (seconds).
pub const DEFAULT_EXPIRES: u32 = 3600;
/// The refresh is sent at least this long before the binding lapses (when the interval allows).
pub const REFRESH_MARGIN: Duration = Duration::from_secs(120);
/// First retry delay after a failure.
pub const RETRY_BASE: Duration = Duration::from_secs(5);
/// Longest nominal retry delay.
pub const RETRY_MAX: Duration = Duration::from_secs(300);
/// Jitter of retry delays, in percent either way.
pub const RETRY_JITTER_PERCENT: u32 = 20;
/// Longest `Retry-After` honoured.
pub const RETRY_AFTER_MAX: Duration = Duration::from_secs(3600);
/// If neither a final response nor a transaction timeout came this long after a request was
/// handed out (Timer F is 32 s), the attempt counts as timed out.
pub const RESPONSE_GUARD: Duration = Duration::from_secs(40);
/// Highest `Min-Expires` of a 423 that is followed (one day).
pub const MAX_MIN_EXPIRES: u32 = 86_400;
/// Most events kept for [`Registration::poll_event`] before the oldest are dropped.
const MAX_EVENTS: usize = 32;

/// What to register where.
#[derive(Clone, Debug)]
pub struct RegistrationConfig {
    /// Request-URI of the REGISTER (the registrar's domain, e.g. `sip:provider.example`).
    pub registrar: String,
    /// Address of record, the From and To URI (e.g. `sip:77172000000@provider.example`).
    pub aor: String,
    /// The Contact URI to bind (where the provider sends calls, e.g. `sip:senim@192.0.2.1:5060`).
    pub contact: String,
    /// Where to send (the registrar, or an outbound proxy) and over which transport.
    pub peer: Peer,
    /// The address in our Via sent-by.
    pub via_sent_by: SocketAddr,
    /// Digest user name (may differ from the AOR's user) and password.
    pub credentials: ClientCredentials,
    /// Expiry to ask for, in seconds (default [`DEFAULT_EXPIRES`]; 0 is raised to 1).
    pub expires: u32,
    /// `User-Agent` header, if any.
    pub user_agent: Option<String>,
    /// Seed of the retry jitter and the client nonces.
    pub seed: u64,
}

impl RegistrationConfig {
    /// A configuration with the default expiry, no User-Agent and seed 0.
    pub fn new(
        registrar: &str,
        aor: &str,
        contact: &str,
        peer: Peer,
        via_sent_by: SocketAddr,
        credentials: ClientCredentials,
    ) -> Self {
        RegistrationConfig {
            registrar: registrar.to_string(),
            aor: aor.to_string(),
            contact: contact.to_string(),
            peer,
            via_sent_by,
            credentials,
            expires: DEFAULT_EXPIRES,
            user_agent: None,
            seed: 0,
        }
    }
}

/// Why a [`RegistrationConfig`] cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RegistrationError {
    /// A URI of the configuration does not parse or is not sip/sips.
    #[error("bad {field} URI {value:?}: {detail}")]
    BadUri {
        /// Which field (`registrar`, `aor`, `contact`).
        field: &'static str,
        /// The configured text.
        value: String,
        /// What is wrong.
        detail: String,
    },
}

/// Where the registration stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegistrationState {
    /// Not started, or removed by [`Registration::unregister`].
    Unregistered,
    /// The first REGISTER (or the first after a lapse) is under way.
    Registering,
    /// Bound until [`RegistrationStatus::registered_until`] (refreshes may be failing).
    Registered,
    /// Not bound; a retry is scheduled.
    Failed,
}

impl RegistrationState {
    /// Lowercase name for status pages (`unregistered`, `registering`, `registered`, `failed`).
    pub fn as_str(self) -> &'static str {
        match self {
            RegistrationState::Unregistered => "unregistered",
            RegistrationState::Registering => "registering",
            RegistrationState::Registered => "registered",
            RegistrationState::Failed => "failed",
        }
    }
}

/// Why an attempt failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RegistrationFailure {
    /// The registrar answered with a final error (3xx-6xx other than a usable 401/407/423).
    #[error("rejected: {code} {reason}")]
    Rejected {
        /// Status code.
        code: u16,
        /// Reason phrase as received.
        reason: String,
    },
    /// The answer to a challenge was challenged again without `stale=true` (or a stale nonce
    /// came twice): the user name or password is probably wrong.
    #[error("authentication failed ({code}): wrong user name or password?")]
    AuthenticationFailed {
        /// 401 or 407.
        code: u16,
    },
    /// The challenge could not be answered (no usable algorithm, malformed, ...).
    #[error("cannot answer the challenge: {0}")]
    Challenge(AuthError),
    /// A 423 without a `Min-Expires` above the asked expiry (or above one day).
    #[error("423 Interval Too Brief with unusable Min-Expires {min_expires:?}")]
    IntervalTooBrief {
        /// The `Min-Expires` value, if it parsed.
        min_expires: Option<u32>,
    },
    /// No final response: the transaction timed out.
    #[error("no response from the registrar")]
    Timeout,
    /// A 2xx that grants 0 seconds to our contact.
    #[error("the registrar granted no time to our contact")]
    NotGranted,
    /// The binding lapsed before a refresh succeeded.
    #[error("the registration expired before a refresh succeeded")]
    Expired,
}

/// A change worth logging.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegistrationEvent {
    /// Bound (reported when the state becomes Registered, not on every refresh).
    Registered {
        /// When the binding lapses unless refreshed.
        until: Instant,
    },
    /// An attempt failed; the next one is at `retry_at`.
    Failed {
        /// Why.
        failure: RegistrationFailure,
        /// When the next attempt is made.
        retry_at: Instant,
    },
    /// The binding lapsed (a retry is scheduled).
    Expired,
    /// The binding was removed by [`Registration::unregister`] (or the removal got a final
    /// answer of any kind).
    Unregistered,
}

/// A snapshot for status pages; it never contains the password.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegistrationStatus {
    /// The address of record.
    pub aor: String,
    /// The registrar Request-URI.
    pub registrar: String,
    /// Where the registration stands.
    pub state: RegistrationState,
    /// When the current binding lapses unless refreshed.
    pub registered_until: Option<Instant>,
    /// When the next REGISTER (refresh or retry) is due, if one is scheduled.
    pub next_attempt: Option<Instant>,
    /// The last failure, as text.
    pub last_failure: Option<String>,
    /// The status code of the last final response.
    pub last_status: Option<u16>,
    /// Failures since the last success.
    pub consecutive_failures: u32,
    /// Our address as the registrar saw it (Via `received`/`rport` of the last response).
    pub public_address: Option<SocketAddr>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Purpose {
    Register,
    Unregister,
}

#[derive(Clone, Debug)]
struct Pending {
    request: Request,
    cseq: u32,
    expires: u32,
    purpose: Purpose,
    sent_at: Instant,
    answered: bool,
    stale_answered: bool,
}

/// The client side of one registration binding (one AOR, one Contact).
#[derive(Debug)]
pub struct Registration {
    config: RegistrationConfig,
    registrar_uri: Uri,
    contact_uri: Uri,
    expires: u32,
    call_id: String,
    from_tag: String,
    cseq: u32,
    rng: StdRng,
    state: RegistrationState,
    registered_until: Option<Instant>,
    next_attempt: Option<Instant>,
    pending: Option<Pending>,
    last_failure: Option<RegistrationFailure>,
    last_status: Option<u16>,
    failures: u32,
    public_address: Option<SocketAddr>,
    outbox: VecDeque<OutgoingRequest>,
    events: VecDeque<RegistrationEvent>,
}

fn sip_uri(field: &'static str, value: &str) -> Result<Uri, RegistrationError> {
    let bad = |detail: String| RegistrationError::BadUri {
        field,
        value: value.to_string(),
        detail,
    };
    let uri = message::parse_uri(value.trim()).map_err(|e| bad(e.to_string()))?;
    match uri.scheme {
        Some(rsip::Scheme::Sip) | Some(rsip::Scheme::Sips) => Ok(uri),
        _ => Err(bad("not a sip/sips URI".into())),
    }
}

/// Same user, host (case-insensitive) and port.
fn same_contact(a: &Uri, b: &Uri) -> bool {
    let user = |u: &Uri| u.auth.as_ref().map(|a| a.user.clone());
    let port = |u: &Uri| u.host_with_port.port.as_ref().map(|p| p.to_string());
    user(a) == user(b)
        && a.host_with_port
            .host
            .to_string()
            .eq_ignore_ascii_case(&b.host_with_port.host.to_string())
        && port(a) == port(b)
}

fn parse_seconds(value: &str) -> Option<u32> {
    let v = value.trim();
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(v.parse::<u32>().unwrap_or(u32::MAX))
}

/// The reason phrase of a response (the standard one when it carries none), at most 80
/// printable characters.
pub(crate) fn reason_text(response: &Response) -> String {
    let code = response.status_code.code();
    match &response.status_code {
        rsip::StatusCode::Other(_, r) if !r.trim().is_empty() && r != "Other" => {
            r.chars().filter(|c| !c.is_control()).take(80).collect()
        }
        _ => message::reason_phrase(code).to_string(),
    }
}

/// The refresh delay for a granted expiry (see the module documentation).
pub fn refresh_after(granted: u32) -> Duration {
    let g = Duration::from_secs(u64::from(granted));
    (g / 2)
        .max(g.saturating_sub(REFRESH_MARGIN))
        .max(Duration::from_secs(1))
}

impl Registration {
    /// A registration for `config`, not started (call [`Registration::register`]).
    pub fn new(config: RegistrationConfig) -> Result<Self, RegistrationError> {
        let registrar_uri = sip_uri("registrar", &config.registrar)?;
        sip_uri("aor", &config.aor)?;
        let contact_uri = sip_uri("contact", &config.contact)?;
        let call_id = message::new_call_id(&config.via_sent_by.ip().to_string());
        Ok(Registration {
            registrar_uri,
            contact_uri,
            expires: config.expires.max(1),
            call_id,
            from_tag: message::new_tag(),
            cseq: 0,
            rng: StdRng::seed_from_u64(config.seed),
            state: RegistrationState::Unregistered,
            registered_until: None,
            next_attempt: None,
            pending: None,
            last_failure: None,
            last_status: None,
            failures: 0,
            public_address: None,
            outbox: VecDeque::new(),
            events: VecDeque::new(),
            config,
        })
    }

    /// Start (or restart at once) registering: a REGISTER is queued for [`Self::poll_request`].
    /// An answer to an earlier request still under way is ignored from now on.
    pub fn register(&mut self, now: Instant) {
        if self.state != RegistrationState::Registered {
            self.state = RegistrationState::Registering;
        }
        self.send(now, self.expires, Purpose::Register);
    }

    /// Remove the binding (a REGISTER with Expires 0) and stop refreshing. Returns false, and
    /// sends nothing, when no binding exists or may exist (never registered, or already
    /// removed); the state is then Unregistered at once.
    pub fn unregister(&mut self, now: Instant) -> bool {
        self.next_attempt = None;
        let may_be_bound = self.registered_until.is_some()
            || self
                .pending
                .as_ref()
                .is_some_and(|p| p.purpose == Purpose::Register);
        if !may_be_bound {
            self.pending = None;
            self.state = RegistrationState::Unregistered;
            return false;
        }
        self.send(now, 0, Purpose::Unregister);
        true
    }

    /// The next request to send, if any.
    pub fn poll_request(&mut self) -> Option<OutgoingRequest> {
        self.outbox.pop_front()
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<RegistrationEvent> {
        self.events.pop_front()
    }

    /// When [`Self::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let guard = self.pending.as_ref().map(|p| p.sent_at + RESPONSE_GUARD);
        let next = if self.pending.is_none() {
            self.next_attempt
        } else {
            None
        };
        [guard, next, self.registered_until]
            .into_iter()
            .flatten()
            .min()
    }

    /// Fire what is due at `now`: a missing response (after [`RESPONSE_GUARD`]), the lapse of
    /// the binding, a refresh or a retry.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self
            .pending
            .as_ref()
            .is_some_and(|p| p.sent_at + RESPONSE_GUARD <= now)
        {
            self.handle_transaction_timeout(now);
        }
        if self.registered_until.is_some_and(|u| u <= now) {
            self.registered_until = None;
            if self.state == RegistrationState::Registered {
                self.state = if self.pending.is_some() {
                    RegistrationState::Registering
                } else {
                    RegistrationState::Failed
                };
                self.last_failure = Some(RegistrationFailure::Expired);
                self.push_event(RegistrationEvent::Expired);
            }
        }
        if self.pending.is_none() && self.next_attempt.is_some_and(|t| t <= now) {
            self.next_attempt = None;
            if self.state == RegistrationState::Failed {
                self.state = RegistrationState::Registering;
            }
            self.send(now, self.expires, Purpose::Register);
        }
    }

    /// A final response (provisional ones are ignored) to the request under way; a response
    /// whose Call-ID or CSeq is not the one under way is ignored.
    pub fn handle_response(&mut self, now: Instant, response: &Response) {
        let code = response.status_code.code();
        if code < 200 {
            return;
        }
        let Some(pending) = self.pending.take() else {
            return;
        };
        let ours = message::call_id(response).as_deref() == Some(self.call_id.as_str())
            && message::cseq(response) == Some((pending.cseq, Method::Register));
        if !ours {
            self.pending = Some(pending);
            return;
        }
        self.last_status = Some(code);
        if let Some(addr) = outbound::public_address(response) {
            self.public_address = Some(addr);
        }
        match code {
            200..=299 => self.on_success(now, response, &pending),
            401 | 407 => self.on_challenge(now, response, pending),
            423 if pending.purpose == Purpose::Register => {
                let min = message::header_value(response, "Min-Expires").and_then(parse_seconds);
                match min {
                    Some(m) if m > pending.expires && m <= MAX_MIN_EXPIRES => {
                        self.expires = m;
                        self.send(now, m, Purpose::Register);
                    }
                    _ => self.fail(
                        now,
                        RegistrationFailure::IntervalTooBrief { min_expires: min },
                        None,
                        pending.purpose,
                    ),
                }
            }
            _ => {
                let failure = RegistrationFailure::Rejected {
                    code,
                    reason: reason_text(response),
                };
                let retry = outbound::retry_after(response);
                self.fail(now, failure, retry, pending.purpose);
            }
        }
    }

    /// The transaction of the request under way ended without a final response.
    pub fn handle_transaction_timeout(&mut self, now: Instant) {
        if let Some(pending) = self.pending.take() {
            self.fail(now, RegistrationFailure::Timeout, None, pending.purpose);
        }
    }

    /// The snapshot for status pages.
    pub fn status(&self) -> RegistrationStatus {
        RegistrationStatus {
            aor: self.config.aor.clone(),
            registrar: self.config.registrar.clone(),
            state: self.state,
            registered_until: self.registered_until,
            next_attempt: if self.pending.is_none() {
                self.next_attempt
            } else {
                None
            },
            last_failure: self.last_failure.as_ref().map(|f| f.to_string()),
            last_status: self.last_status,
            consecutive_failures: self.failures,
            public_address: self.public_address,
        }
    }

    /// Where the registration stands.
    pub fn state(&self) -> RegistrationState {
        self.state
    }

    /// When the current binding lapses unless refreshed.
    pub fn registered_until(&self) -> Option<Instant> {
        self.registered_until
    }

    /// The last failure.
    pub fn last_failure(&self) -> Option<&RegistrationFailure> {
        self.last_failure.as_ref()
    }

    /// Our address as the registrar saw it (`received`/`rport` of the last response's Via),
    /// for NAT detection: it differs from the configured sent-by behind a NAT.
    pub fn public_address(&self) -> Option<SocketAddr> {
        self.public_address
    }

    /// The Call-ID shared by all REGISTERs of this binding.
    pub fn call_id(&self) -> &str {
        &self.call_id
    }

    /// The expiry currently asked for (raised by a 423).
    pub fn requested_expires(&self) -> u32 {
        self.expires
    }

    fn push_event(&mut self, event: RegistrationEvent) {
        if self.events.len() >= MAX_EVENTS {
            self.events.pop_front();
        }
        self.events.push_back(event);
    }

    fn build(&mut self, expires: u32) -> Request {
        self.cseq += 1;
        let mut contact = NameAddr {
            display: None,
            uri: self.config.contact.trim().to_string(),
            params: vec![],
        };
        contact.set_param("expires", Some(expires.to_string()));
        ClientRequest {
            method: Method::Register,
            uri: &self.registrar_uri,
            from: &self.config.aor,
            from_tag: &self.from_tag,
            to: &self.config.aor,
            call_id: &self.call_id,
            cseq: self.cseq,
            transport: self.config.peer.transport,
            via_sent_by: self.config.via_sent_by,
            extra: vec![
                message::make_header("Contact", &contact.to_string()),
                message::make_header("Expires", &expires.to_string()),
            ],
            user_agent: self.config.user_agent.as_deref(),
        }
        .build()
    }

    /// Start a new attempt (a request without credentials).
    fn send(&mut self, now: Instant, expires: u32, purpose: Purpose) {
        let request = self.build(expires);
        self.dispatch(
            now,
            Pending {
                request,
                cseq: self.cseq,
                expires,
                purpose,
                sent_at: now,
                answered: false,
                stale_answered: false,
            },
        );
    }

    fn dispatch(&mut self, now: Instant, mut pending: Pending) {
        pending.sent_at = now;
        // Only the latest request matters: an unsent older one is dropped.
        self.outbox.clear();
        self.outbox.push_back(OutgoingRequest {
            request: pending.request.clone(),
            peer: self.config.peer,
        });
        self.pending = Some(pending);
    }

    fn on_success(&mut self, now: Instant, response: &Response, pending: &Pending) {
        if pending.purpose == Purpose::Unregister {
            self.finish_unregister();
            return;
        }
        let granted = self.granted(response).unwrap_or(pending.expires);
        if granted == 0 {
            self.fail(now, RegistrationFailure::NotGranted, None, pending.purpose);
            return;
        }
        let until = now + Duration::from_secs(u64::from(granted));
        self.failures = 0;
        self.registered_until = Some(until);
        self.next_attempt = Some(now + refresh_after(granted));
        if self.state != RegistrationState::Registered {
            self.state = RegistrationState::Registered;
            self.push_event(RegistrationEvent::Registered { until });
        }
    }

    /// The expiry a 2xx grants our contact.
    fn granted(&self, response: &Response) -> Option<u32> {
        let contacts: Vec<NameAddr> = message::header_values(response, "Contact")
            .into_iter()
            .filter_map(|v| NameAddr::parse(v).ok())
            .collect();
        let ours = contacts.iter().find(|na| {
            na.parsed_uri()
                .is_ok_and(|u| same_contact(&u, &self.contact_uri))
        });
        let chosen = match (ours, contacts.as_slice()) {
            (Some(na), _) => Some(na),
            (None, [only]) => Some(only),
            _ => None,
        };
        chosen
            .and_then(|na| na.param("expires"))
            .and_then(parse_seconds)
            .or_else(|| message::header_value(response, "Expires").and_then(parse_seconds))
    }

    fn on_challenge(&mut self, now: Instant, response: &Response, mut pending: Pending) {
        let code = response.status_code.code();
        let cnonce = digest::new_cnonce(&mut self.rng);
        let authorized = digest::authorize_request(
            &pending.request,
            response,
            &self.config.credentials,
            self.cseq + 1,
            &cnonce,
        );
        let out = match authorized {
            Ok(out) => out,
            Err(e) => {
                self.fail(
                    now,
                    RegistrationFailure::Challenge(e),
                    None,
                    pending.purpose,
                );
                return;
            }
        };
        if !pending.answered {
            pending.answered = true;
        } else if out.challenge.stale && !pending.stale_answered {
            pending.stale_answered = true;
        } else {
            self.fail(
                now,
                RegistrationFailure::AuthenticationFailed { code },
                None,
                pending.purpose,
            );
            return;
        }
        self.cseq += 1;
        pending.cseq = self.cseq;
        pending.request = out.request;
        self.dispatch(now, pending);
    }

    fn finish_unregister(&mut self) {
        self.pending = None;
        self.next_attempt = None;
        self.registered_until = None;
        self.state = RegistrationState::Unregistered;
        self.push_event(RegistrationEvent::Unregistered);
    }

    fn fail(
        &mut self,
        now: Instant,
        failure: RegistrationFailure,
        retry_after: Option<u32>,
        purpose: Purpose,
    ) {
        self.pending = None;
        self.last_failure = Some(failure.clone());
        if purpose == Purpose::Unregister {
            // Shutting down: the binding will lapse on its own.
            self.finish_unregister();
            return;
        }
        self.failures = self.failures.saturating_add(1);
        let mut delay = outbound::backoff(
            &mut self.rng,
            self.failures,
            RETRY_BASE,
            RETRY_MAX,
            RETRY_JITTER_PERCENT,
        );
        if let Some(secs) = retry_after {
            delay = delay.max(Duration::from_secs(u64::from(secs)).min(RETRY_AFTER_MAX));
        }
        let retry_at = now + delay;
        self.next_attempt = Some(retry_at);
        self.state = if self.registered_until.is_some_and(|u| u > now) {
            RegistrationState::Registered
        } else {
            self.registered_until = None;
            RegistrationState::Failed
        };
        self.push_event(RegistrationEvent::Failed { failure, retry_at });
    }
}
