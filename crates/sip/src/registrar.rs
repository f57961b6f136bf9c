//! RFC 3261 §10 registrar for the centre's specialists' softphones, sans-IO.
//!
//! The driver hands every REGISTER (after the transaction layer) to
//! [`Registrar::handle_register`] with `now` and the [`Peer`] it came from, sends the returned
//! response through the server transaction, calls [`Registrar::handle_timeout`] at
//! [`Registrar::poll_timeout`], and drains [`Registrar::poll_event`] so routing learns when a
//! specialist's phone comes and goes. Calls are sent to [`Binding::source`] (the address and
//! transport the REGISTER came from, which works through NAT) with [`Binding::uri`] as the
//! Request-URI.
//!
//! Authentication is digest ([`crate::digest`]): SHA-256 offered first and MD5 second (RFC 8760,
//! one WWW-Authenticate each), with stateless nonces (5-minute lifetime) and nonce-count replay
//! protection. See `docs/sip.md` for the order of the checks and the status codes.
//!
//! Guessing is made slow and unrewarding ([`crate::lockout`]): wrong passwords are counted per
//! user and per source address, and once either reaches the limit the registrar stops checking
//! passwords for it until the lock-out period is over, answering every attempt with the same
//! fresh 401 challenge a wrong password gets (so the lock itself tells a guesser nothing). A
//! REGISTER from the exact address of one of the user's current bindings is still checked, so
//! a stranger cannot knock a registered phone offline by failing on purpose. With
//! [`Registrar::set_conceal_unknown_users`] an unknown user and a wrong password get the same
//! answer at every step.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use rsip::{Method, Request, Response};

use crate::digest::{
    self, Algorithm, Challenge, Credentials, NonceError, NonceManager, NonceStatus,
};
use crate::lockout::{FailureTracker, LockoutPolicy};
use crate::message::{self, NameAddr, Peer};

/// Most Contact values accepted in one REGISTER.
pub const MAX_CONTACTS_PER_REQUEST: usize = 32;
/// Upper bound of `max_contacts` for any user.
pub const MAX_CONTACTS_LIMIT: usize = 64;
/// Upper bound of the configurable expiries: one year.
pub const MAX_EXPIRES_LIMIT: u32 = 365 * 24 * 3600;
/// Most events kept for [`Registrar::poll_event`] before the oldest are dropped.
const MAX_EVENTS: usize = 4096;
/// Most users, and most source addresses, whose failures are remembered at once.
const MAX_TRACKED: usize = 4096;

/// How a user's secret is configured (its `Debug` output hides the values).
#[derive(Clone, PartialEq, Eq)]
pub enum UserSecret {
    /// The clear-text password.
    Password(String),
    /// Precomputed HA1 values (`H(username:realm:password)`, lowercase hex) for the realm the
    /// registrar runs with; an algorithm without an HA1 cannot be used by this user.
    Ha1 {
        /// HA1 for MD5 (32 hex digits).
        md5: Option<String>,
        /// HA1 for SHA-256 (64 hex digits).
        sha256: Option<String>,
    },
}

impl std::fmt::Debug for UserSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UserSecret::Password(_) => f.write_str("Password(<redacted>)"),
            UserSecret::Ha1 { md5, sha256 } => f
                .debug_struct("Ha1")
                .field("md5", &md5.as_ref().map(|_| "<redacted>"))
                .field("sha256", &sha256.as_ref().map(|_| "<redacted>"))
                .finish(),
        }
    }
}

/// A user allowed to register (a specialist's phone account).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserAccount {
    /// User part of the AOR and the digest user name (they must be equal).
    pub username: String,
    /// Password or HA1.
    pub password_or_ha1: UserSecret,
    /// Most simultaneous bindings (clamped to 1..=[`MAX_CONTACTS_LIMIT`]); when a new contact
    /// would exceed it, the least recently registered binding is dropped.
    pub max_contacts: usize,
}

impl UserAccount {
    /// An account with a clear-text password.
    pub fn with_password(username: &str, password: &str, max_contacts: usize) -> Self {
        UserAccount {
            username: username.to_string(),
            password_or_ha1: UserSecret::Password(password.to_string()),
            max_contacts,
        }
    }
}

/// One registered contact of a user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Binding {
    /// The user (AOR user part).
    pub user: String,
    /// The Contact URI as received (e.g. `sip:alice@192.168.1.20:5060;transport=udp`).
    pub contact: String,
    /// The Contact URI parsed: the Request-URI of an INVITE to this phone.
    pub uri: rsip::Uri,
    /// The whole Contact value without its `expires` parameter (for 200 OK listings).
    pub name_addr: NameAddr,
    /// `q` in thousandths (0..=1000), `None` if absent (ordered as 1.0).
    pub q: Option<u16>,
    /// `+sip.instance` without its quotes (RFC 5626/5627), if given.
    pub instance: Option<String>,
    /// `reg-id` (RFC 5626), if given.
    pub reg_id: Option<String>,
    /// Where the REGISTER came from (transport and source address): send requests here.
    pub source: Peer,
    /// Call-ID of the REGISTER that created or last refreshed the binding.
    pub call_id: String,
    /// Its CSeq number.
    pub cseq: u32,
    /// When the binding was created or last refreshed.
    pub registered_at: Instant,
    /// When it lapses unless refreshed.
    pub expires_at: Instant,
    /// The User-Agent header of the last REGISTER, if any.
    pub user_agent: Option<String>,
    key: String,
}

impl Binding {
    /// Seconds left at `now`, rounded up (0 once expired).
    pub fn expires_in(&self, now: Instant) -> u64 {
        let left = self.expires_at.saturating_duration_since(now);
        left.as_secs() + u64::from(left.subsec_nanos() > 0)
    }

    /// `q` as a number (1.0 when absent).
    pub fn q_value(&self) -> f32 {
        f32::from(self.q.unwrap_or(1000)) / 1000.0
    }

    fn matches(&self, c: &ContactReq) -> bool {
        if self.key == c.key {
            return true;
        }
        match (&self.instance, &c.instance) {
            (Some(a), Some(b)) => a == b && self.reg_id == c.reg_id,
            _ => false,
        }
    }
}

/// A change in a user's reachability.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegistrarEvent {
    /// A new contact was bound (refreshes of an existing binding are not reported).
    Registered {
        /// The user.
        user: String,
        /// The Contact URI.
        contact: String,
    },
    /// A binding was removed by the phone (Expires 0, `*`), replaced, evicted by
    /// `max_contacts`, dropped by a configuration reload, or its connection closed.
    Unregistered {
        /// The user.
        user: String,
        /// The Contact URI.
        contact: String,
    },
    /// A binding lapsed without refresh.
    Expired {
        /// The user.
        user: String,
        /// The Contact URI.
        contact: String,
    },
}

/// Why a REGISTER was not accepted; [`RegisterError::status_code`] is the code sent.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RegisterError {
    /// The request is malformed (400).
    #[error("malformed REGISTER: {0}")]
    Malformed(String),
    /// The request Requires an extension the registrar does not support (420).
    #[error("unsupported extension required: {0}")]
    BadExtension(String),
    /// The To URI is not a sip/sips URI (416).
    #[error("unsupported URI scheme")]
    UnsupportedScheme,
    /// No credentials for our realm: challenged (401).
    #[error("no credentials: challenged")]
    Unauthenticated,
    /// The digest did not verify (wrong password, wrong HA1, tampered request) (401).
    #[error("wrong credentials for {user}")]
    BadCredentials {
        /// The user name the client claimed.
        user: String,
    },
    /// Credentials were given while the user or the source is locked out after repeated
    /// failures: not checked, answered like a wrong password (401 with a fresh challenge).
    #[error("credentials not checked: {0} is locked out")]
    LockedOut(LockTarget),
    /// The nonce was not issued by this registrar (or the opaque differs) (401).
    #[error("invalid nonce")]
    InvalidNonce,
    /// The digest was right but the nonce expired: challenged with `stale=true` (401).
    #[error("stale nonce")]
    StaleNonce,
    /// The digest was right but the nonce count was already used: challenged with
    /// `stale=true` (401).
    #[error("replayed nonce count {0}")]
    Replay(u32),
    /// The client used a digest algorithm the registrar does not offer (401).
    #[error("digest algorithm {0} not offered")]
    AlgorithmNotOffered(Algorithm),
    /// The AOR is not a configured user (404).
    #[error("unknown user {0}")]
    UnknownUser(String),
    /// The authenticated user may not register this AOR (403).
    #[error("{auth_user} may not register {aor_user}")]
    Forbidden {
        /// Digest user name.
        auth_user: String,
        /// AOR user part.
        aor_user: String,
    },
    /// More contacts in one request than the user may have (403).
    #[error("too many contacts ({requested}, at most {max})")]
    TooManyContacts {
        /// Contacts in the request.
        requested: usize,
        /// The user's limit.
        max: usize,
    },
    /// An expiry below the minimum (423, with Min-Expires).
    #[error("expiry {requested} s below the minimum {min} s")]
    IntervalTooBrief {
        /// Requested seconds.
        requested: u32,
        /// Min-Expires.
        min: u32,
    },
    /// Same Call-ID and a CSeq not above the stored one (§10.3 step 7) (500).
    #[error("out-of-order REGISTER (CSeq {cseq} not above {stored})")]
    OutOfOrder {
        /// CSeq of the request.
        cseq: u32,
        /// CSeq stored in the binding.
        stored: u32,
    },
}

impl RegisterError {
    /// The SIP status code sent for this error.
    pub fn status_code(&self) -> u16 {
        match self {
            RegisterError::Malformed(_) => 400,
            RegisterError::BadExtension(_) => 420,
            RegisterError::UnsupportedScheme => 416,
            RegisterError::Unauthenticated
            | RegisterError::BadCredentials { .. }
            | RegisterError::LockedOut(_)
            | RegisterError::InvalidNonce
            | RegisterError::StaleNonce
            | RegisterError::Replay(_)
            | RegisterError::AlgorithmNotOffered(_) => 401,
            RegisterError::UnknownUser(_) => 404,
            RegisterError::Forbidden { .. } | RegisterError::TooManyContacts { .. } => 403,
            RegisterError::IntervalTooBrief { .. } => 423,
            RegisterError::OutOfOrder { .. } => 500,
        }
    }
}

/// Who a lock-out applies to.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum LockTarget {
    /// A configured user name: no source may try its password.
    User(String),
    /// A source IP address (any port): it may try no password.
    Source(IpAddr),
}

impl std::fmt::Display for LockTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LockTarget::User(u) => write!(f, "user {u}"),
            LockTarget::Source(ip) => write!(f, "source {ip}"),
        }
    }
}

/// A lock-out that a REGISTER has just started.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lockout {
    /// The user or source locked.
    pub target: LockTarget,
    /// When the lock ends.
    pub until: Instant,
}

/// The answer to a REGISTER.
#[derive(Clone, Debug)]
pub struct RegisterOutcome {
    /// The response to send (through the server transaction).
    pub response: Response,
    /// `Ok(user)` when the registration (or query) was accepted, else why not.
    pub result: Result<String, RegisterError>,
    /// The request carried credentials that failed (a wrong password, an unknown user, another
    /// user's name): one failure counted towards the lock-outs. Log it with the source.
    pub failed_credentials: bool,
    /// Locks this request's failure started (a user, a source, or both).
    pub locked: Vec<Lockout>,
}

/// One Contact of a REGISTER, checked.
#[derive(Clone, Debug)]
struct ContactReq {
    name_addr: NameAddr,
    uri: rsip::Uri,
    key: String,
    expires: u32,
    q: Option<u16>,
    instance: Option<String>,
    reg_id: Option<String>,
}

/// The registrar state: users, bindings, nonces, pending events.
#[derive(Debug)]
pub struct Registrar {
    realm: String,
    users: HashMap<String, UserAccount>,
    bindings: HashMap<String, Vec<Binding>>,
    min_expires: u32,
    max_expires: u32,
    default_expires: u32,
    nonces: NonceManager,
    opaque: String,
    algorithms: Vec<Algorithm>,
    conceal_unknown_users: bool,
    epoch: Option<Instant>,
    events: VecDeque<RegistrarEvent>,
    /// Lock-out: `None` when switched off.
    lockout: Option<Lockouts>,
    /// What the request being handled counted and locked.
    failed: bool,
    newly_locked: Vec<Lockout>,
}

/// The failure counts per user and per source address.
#[derive(Debug)]
struct Lockouts {
    users: FailureTracker<String>,
    sources: FailureTracker<IpAddr>,
}

impl Lockouts {
    fn new(policy: LockoutPolicy) -> Self {
        Lockouts {
            users: FailureTracker::new(policy, MAX_TRACKED),
            sources: FailureTracker::new(policy, MAX_TRACKED),
        }
    }
}

/// The address a source is counted under: IPv4-mapped IPv6 as IPv4.
fn source_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

impl Registrar {
    /// A registrar for `realm` with expiry bounds in seconds (all capped at one year,
    /// `max_expires` raised to `min_expires` if below it, `default_expires` clamped between
    /// them) and a 32-byte secret for nonces (random per start is fine: outstanding nonces
    /// then just become invalid).
    pub fn new(
        realm: String,
        users: Vec<UserAccount>,
        min_expires: u32,
        max_expires: u32,
        default_expires: u32,
        secret: [u8; 32],
    ) -> Self {
        let min_expires = min_expires.clamp(1, MAX_EXPIRES_LIMIT);
        let max_expires = max_expires.clamp(min_expires, MAX_EXPIRES_LIMIT);
        let nonces = NonceManager::new(secret);
        Registrar {
            lockout: Some(Lockouts::new(LockoutPolicy::default())),
            failed: false,
            newly_locked: Vec::new(),
            realm,
            users: users_map(users),
            bindings: HashMap::new(),
            min_expires,
            max_expires,
            default_expires: default_expires.clamp(min_expires, max_expires),
            opaque: nonces.opaque(),
            nonces,
            algorithms: vec![Algorithm::Sha256, Algorithm::Md5],
            conceal_unknown_users: false,
            epoch: None,
            events: VecDeque::new(),
        }
    }

    /// The digest algorithms offered, most preferred first (one WWW-Authenticate each).
    /// Default: SHA-256 then MD5 (RFC 8760 §2.4: the client takes the first it supports). A
    /// phone that gives up on the first challenge whose algorithm it does not know needs
    /// `[Md5]` (or MD5 first). An empty list is ignored.
    pub fn set_algorithms(&mut self, algorithms: Vec<Algorithm>) {
        let mut list: Vec<Algorithm> = Vec::new();
        for a in algorithms.into_iter().map(Algorithm::base) {
            if !list.contains(&a) {
                list.push(a);
            }
        }
        if !list.is_empty() {
            self.algorithms = list;
        }
    }

    /// Answer REGISTERs for unknown users with a challenge (and later 401s) instead of 404,
    /// and a digest user name that is not the AOR's with 401 instead of 403, so that user names
    /// cannot be probed: an unknown user and a wrong password get the same answer. Default: off
    /// (404 and 403 help set-up).
    pub fn set_conceal_unknown_users(&mut self, conceal: bool) {
        self.conceal_unknown_users = conceal;
    }

    /// The lock-out after repeated failed credentials, or `None` to switch it off. Default:
    /// [`LockoutPolicy::default`]. Setting it forgets the failures counted so far.
    pub fn set_lockout(&mut self, policy: Option<LockoutPolicy>) {
        self.lockout = policy.map(Lockouts::new);
    }

    /// When the user's lock-out ends, if the user is locked out at `now`.
    pub fn user_locked_until(&self, username: &str, now: Instant) -> Option<Instant> {
        self.lockout
            .as_ref()
            .and_then(|l| l.users.locked_until(&username.to_string(), now))
    }

    /// When the source address's lock-out ends, if it is locked out at `now`.
    pub fn source_locked_until(&self, ip: IpAddr, now: Instant) -> Option<Instant> {
        self.lockout
            .as_ref()
            .and_then(|l| l.sources.locked_until(&source_key(ip), now))
    }

    /// Whether `source` (transport and address) is where one of the bindings current at `now`
    /// registered from: requests from there come from a registered phone.
    pub fn is_bound_source(&self, source: Peer, now: Instant) -> bool {
        self.bindings
            .values()
            .flatten()
            .any(|b| b.source == source && b.expires_at > now)
    }

    /// Replace the user table (configuration reload). Bindings of removed users are dropped
    /// and users whose `max_contacts` shrank lose their least recently registered bindings
    /// (both reported as [`RegistrarEvent::Unregistered`]). Other bindings stay, even if the
    /// password changed: the phone re-authenticates at its next refresh.
    pub fn update_users(&mut self, users: Vec<UserAccount>) {
        self.users = users_map(users);
        let mut removed = Vec::new();
        self.bindings.retain(|user, list| {
            if self.users.contains_key(user) {
                true
            } else {
                removed.append(list);
                false
            }
        });
        for (user, list) in self.bindings.iter_mut() {
            let max = self
                .users
                .get(user)
                .map_or(1, |u| clamp_max(u.max_contacts));
            while list.len() > max {
                if let Some(i) = oldest_index(list, &[]) {
                    removed.push(list.remove(i));
                } else {
                    break;
                }
            }
        }
        for b in removed {
            self.push_event(RegistrarEvent::Unregistered {
                user: b.user,
                contact: b.contact,
            });
        }
    }

    /// Current bindings of `username` (those not yet removed by [`Self::handle_timeout`]),
    /// highest q first, then most recently registered first.
    pub fn bindings(&self, username: &str) -> Vec<Binding> {
        let mut list = self.bindings.get(username).cloned().unwrap_or_default();
        sort_bindings(&mut list);
        list
    }

    /// Like [`Self::bindings`] but without those already expired at `now`.
    pub fn bindings_at(&self, username: &str, now: Instant) -> Vec<Binding> {
        let mut list = self.bindings(username);
        list.retain(|b| b.expires_at > now);
        list
    }

    /// Users with at least one binding.
    pub fn registered_users(&self) -> Vec<String> {
        let mut users: Vec<String> = self.bindings.keys().cloned().collect();
        users.sort();
        users
    }

    /// Remove the bindings that lapsed at or before `now` ([`RegistrarEvent::Expired`]).
    pub fn handle_timeout(&mut self, now: Instant) {
        let mut expired = Vec::new();
        for list in self.bindings.values_mut() {
            list.retain(|b| {
                if b.expires_at <= now {
                    expired.push((b.user.clone(), b.contact.clone()));
                    false
                } else {
                    true
                }
            });
        }
        self.bindings.retain(|_, list| !list.is_empty());
        for (user, contact) in expired {
            self.push_event(RegistrarEvent::Expired { user, contact });
        }
    }

    /// The earliest binding expiry, if any.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.bindings
            .values()
            .flat_map(|list| list.iter().map(|b| b.expires_at))
            .min()
    }

    /// The next reachability change.
    pub fn poll_event(&mut self) -> Option<RegistrarEvent> {
        self.events.pop_front()
    }

    /// A stream connection closed: drop the bindings registered over it (a phone behind NAT
    /// cannot be reached on a new connection), reported as [`RegistrarEvent::Unregistered`].
    /// UDP peers are ignored.
    pub fn handle_flow_closed(&mut self, peer: Peer) {
        if !peer.transport.is_reliable() {
            return;
        }
        let mut removed = Vec::new();
        for list in self.bindings.values_mut() {
            list.retain(|b| {
                if b.source == peer {
                    removed.push((b.user.clone(), b.contact.clone()));
                    false
                } else {
                    true
                }
            });
        }
        self.bindings.retain(|_, list| !list.is_empty());
        for (user, contact) in removed {
            self.push_event(RegistrarEvent::Unregistered { user, contact });
        }
    }

    fn push_event(&mut self, event: RegistrarEvent) {
        if self.events.len() >= MAX_EVENTS {
            self.events.pop_front();
        }
        self.events.push_back(event);
    }

    fn secs(&mut self, now: Instant) -> u64 {
        let epoch = *self.epoch.get_or_insert(now);
        now.saturating_duration_since(epoch).as_secs()
    }

    /// Process a REGISTER received from `source` at `now`.
    pub fn handle_register(
        &mut self,
        now: Instant,
        request: &Request,
        source: Peer,
    ) -> RegisterOutcome {
        self.handle_timeout(now);
        self.failed = false;
        self.newly_locked.clear();
        let (response, result) = match self.process(now, request, source) {
            Ok((user, response)) => (response, Ok(user)),
            Err(err) => (self.error_response(now, request, &err), Err(err)),
        };
        RegisterOutcome {
            response,
            result,
            failed_credentials: std::mem::take(&mut self.failed),
            locked: std::mem::take(&mut self.newly_locked),
        }
    }

    /// The lock that stops the credentials of `user` from `ip` being checked at `now`, if any.
    fn lock_on(&self, user: &str, ip: IpAddr, now: Instant) -> Option<LockTarget> {
        let l = self.lockout.as_ref()?;
        if l.sources.locked_until(&ip, now).is_some() {
            return Some(LockTarget::Source(ip));
        }
        let user = user.to_string();
        l.users
            .locked_until(&user, now)
            .map(|_| LockTarget::User(user))
    }

    /// One failed credential check from `ip` (for `user` when its password was tried).
    fn count_failure(&mut self, now: Instant, user: Option<&str>, ip: IpAddr) {
        self.failed = true;
        let Some(l) = self.lockout.as_mut() else {
            return;
        };
        if let Some(user) = user {
            if let Some(until) = l.users.fail(&user.to_string(), now) {
                self.newly_locked.push(Lockout {
                    target: LockTarget::User(user.to_string()),
                    until,
                });
            }
        }
        if let Some(until) = l.sources.fail(&ip, now) {
            self.newly_locked.push(Lockout {
                target: LockTarget::Source(ip),
                until,
            });
        }
    }

    fn error_response(&mut self, now: Instant, request: &Request, err: &RegisterError) -> Response {
        let tag = message::new_tag();
        let reason = match err {
            RegisterError::TooManyContacts { .. } => "Too Many Contacts",
            _ => "",
        };
        let mut resp = message::response(request, err.status_code(), reason, Some(&tag));
        match err {
            RegisterError::Malformed(why) => {
                resp.headers.push(message::make_header(
                    "Warning",
                    &format!("399 senim {}", digest::quote(&truncate(why, 120))),
                ));
            }
            RegisterError::BadExtension(ext) => {
                resp.headers.push(message::make_header("Unsupported", ext));
            }
            RegisterError::IntervalTooBrief { min, .. } => {
                resp.headers
                    .push(message::make_header("Min-Expires", &min.to_string()));
            }
            RegisterError::Unauthenticated
            | RegisterError::BadCredentials { .. }
            | RegisterError::LockedOut(_)
            | RegisterError::InvalidNonce
            | RegisterError::AlgorithmNotOffered(_) => self.add_challenges(now, &mut resp, false),
            RegisterError::StaleNonce | RegisterError::Replay(_) => {
                self.add_challenges(now, &mut resp, true)
            }
            RegisterError::UnknownUser(_) | RegisterError::Forbidden { .. }
                if self.conceal_unknown_users =>
            {
                resp = message::response(request, 401, "", Some(&tag));
                self.add_challenges(now, &mut resp, false);
            }
            _ => {}
        }
        resp
    }

    fn add_challenges(&mut self, now: Instant, resp: &mut Response, stale: bool) {
        let secs = self.secs(now);
        let nonce = self.nonces.issue(secs);
        for &algorithm in &self.algorithms {
            let challenge = Challenge {
                realm: self.realm.clone(),
                nonce: nonce.clone(),
                opaque: Some(self.opaque.clone()),
                algorithm,
                qop_auth: true,
                stale,
            };
            resp.headers.push(message::make_header(
                "WWW-Authenticate",
                &challenge.to_header_value(),
            ));
        }
    }

    fn process(
        &mut self,
        now: Instant,
        request: &Request,
        source: Peer,
    ) -> Result<(String, Response), RegisterError> {
        if request.method != Method::Register {
            return Err(RegisterError::Malformed(format!(
                "{} sent to the registrar",
                request.method
            )));
        }
        // §10.3 step 1: only sip/sips.
        if !matches!(
            request.uri.scheme,
            None | Some(rsip::Scheme::Sip) | Some(rsip::Scheme::Sips)
        ) {
            return Err(RegisterError::UnsupportedScheme);
        }
        // Step 2: Require.
        let required: Vec<String> = message::header_values(request, "Require")
            .into_iter()
            .flat_map(message::split_commas)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| truncate(s, 40))
            .collect();
        if !required.is_empty() {
            return Err(RegisterError::BadExtension(required.join(", ")));
        }
        // The AOR (step 5; looked up before authentication so 404 can be answered).
        let to = message::header_value(request, "To")
            .ok_or_else(|| RegisterError::Malformed("no To header".into()))?;
        let to = NameAddr::parse(to).map_err(|e| RegisterError::Malformed(format!("To: {e}")))?;
        let to_uri = to
            .parsed_uri()
            .map_err(|e| RegisterError::Malformed(format!("To: {e}")))?;
        if !matches!(
            to_uri.scheme,
            Some(rsip::Scheme::Sip) | Some(rsip::Scheme::Sips)
        ) {
            return Err(RegisterError::UnsupportedScheme);
        }
        let aor_user = to_uri
            .auth
            .as_ref()
            .map(|a| percent_decode(&a.user))
            .unwrap_or_default();
        let account = self.users.get(&aor_user).cloned();
        if account.is_none() && !self.conceal_unknown_users {
            return Err(RegisterError::UnknownUser(truncate(&aor_user, 64)));
        }
        // Step 3 and 4: authentication and authorisation. The credentials are read the same
        // way whether the user exists or not, so only the password decides the answer.
        let creds = self.credentials(request)?;
        let ip = source_key(source.addr.ip());
        let from_binding = self
            .bindings
            .get(&aor_user)
            .is_some_and(|l| l.iter().any(|b| b.source == source && b.expires_at > now));
        if !from_binding {
            if let Some(target) = self.lock_on(&aor_user, ip, now) {
                return Err(RegisterError::LockedOut(target));
            }
        }
        let Some(account) = account else {
            // The same work as a wrong password, so the time taken tells nothing either.
            let _ = digest::verify(&creds, "REGISTER", "");
            self.count_failure(now, None, ip);
            return Err(RegisterError::UnknownUser(truncate(&aor_user, 64)));
        };
        match self.authenticate(now, &creds, &account) {
            Ok(()) => {
                if let Some(l) = self.lockout.as_mut() {
                    l.users.clear(&account.username, now);
                }
            }
            Err(e) => {
                match &e {
                    RegisterError::BadCredentials { user } => {
                        let user = user.clone();
                        self.count_failure(now, Some(&user), ip);
                    }
                    RegisterError::Forbidden { .. } => self.count_failure(now, None, ip),
                    _ => {}
                }
                return Err(e);
            }
        }
        let user = account.username.clone();

        let call_id = message::call_id(request)
            .ok_or_else(|| RegisterError::Malformed("no Call-ID".into()))?;
        let (cseq, _) =
            message::cseq(request).ok_or_else(|| RegisterError::Malformed("bad CSeq".into()))?;
        let user_agent = message::header_value(request, "User-Agent").map(|s| truncate(s, 200));
        let header_expires = message::header_value(request, "Expires").map(parse_delta);

        let contact_values = message::header_values(request, "Contact");
        let existing = self.bindings.get(&user).cloned().unwrap_or_default();
        let mut events = Vec::new();
        let new_list: Vec<Binding> = if contact_values.iter().any(|v| v.trim() == "*") {
            // Step 6: wildcard removal.
            if contact_values.len() != 1 {
                return Err(RegisterError::Malformed(
                    "'*' must be the only Contact".into(),
                ));
            }
            if header_expires != Some(Some(0)) {
                return Err(RegisterError::Malformed(
                    "Contact '*' requires Expires: 0".into(),
                ));
            }
            for b in &existing {
                check_order(b, &call_id, cseq)?;
            }
            for b in &existing {
                events.push(RegistrarEvent::Unregistered {
                    user: user.clone(),
                    contact: b.contact.clone(),
                });
            }
            Vec::new()
        } else {
            if contact_values.len() > MAX_CONTACTS_PER_REQUEST {
                return Err(RegisterError::TooManyContacts {
                    requested: contact_values.len(),
                    max: clamp_max(account.max_contacts),
                });
            }
            let default = match header_expires {
                Some(Some(e)) => e,
                _ => self.default_expires,
            };
            let mut contacts = Vec::new();
            for v in &contact_values {
                let c = self.parse_contact(v, default)?;
                if c.expires > 0 && c.expires < self.min_expires {
                    return Err(RegisterError::IntervalTooBrief {
                        requested: c.expires,
                        min: self.min_expires,
                    });
                }
                contacts.push(c);
            }
            // Step 7 checks first, so that a refused request changes nothing.
            for c in &contacts {
                for b in existing.iter().filter(|b| b.matches(c)) {
                    check_order(b, &call_id, cseq)?;
                }
            }
            let adding = contacts.iter().filter(|c| c.expires > 0).count();
            let max = clamp_max(account.max_contacts);
            if adding > max {
                return Err(RegisterError::TooManyContacts {
                    requested: adding,
                    max,
                });
            }
            let mut list = existing.clone();
            let mut touched: Vec<String> = Vec::new();
            for c in contacts {
                let mut replaced_same_uri = false;
                let mut i = 0;
                while i < list.len() {
                    if list[i].matches(&c) {
                        let old = list.remove(i);
                        if old.key == c.key {
                            replaced_same_uri = true;
                        } else {
                            events.push(RegistrarEvent::Unregistered {
                                user: user.clone(),
                                contact: old.contact,
                            });
                        }
                    } else {
                        i += 1;
                    }
                }
                let contact = c.name_addr.uri.clone();
                if c.expires == 0 {
                    if replaced_same_uri {
                        events.push(RegistrarEvent::Unregistered {
                            user: user.clone(),
                            contact,
                        });
                    }
                    continue;
                }
                if !replaced_same_uri {
                    events.push(RegistrarEvent::Registered {
                        user: user.clone(),
                        contact: contact.clone(),
                    });
                }
                touched.push(c.key.clone());
                list.push(Binding {
                    user: user.clone(),
                    contact,
                    uri: c.uri,
                    name_addr: c.name_addr,
                    q: c.q,
                    instance: c.instance,
                    reg_id: c.reg_id,
                    source,
                    call_id: call_id.clone(),
                    cseq,
                    registered_at: now,
                    expires_at: now
                        .checked_add(Duration::from_secs(u64::from(c.expires)))
                        .unwrap_or(now),
                    user_agent: user_agent.clone(),
                    key: c.key,
                });
            }
            // max_contacts: drop the least recently registered bindings not in this request.
            while list.len() > max {
                let Some(i) = oldest_index(&list, &touched) else {
                    break;
                };
                let old = list.remove(i);
                events.push(RegistrarEvent::Unregistered {
                    user: user.clone(),
                    contact: old.contact,
                });
            }
            list
        };

        if new_list.is_empty() {
            self.bindings.remove(&user);
        } else {
            self.bindings.insert(user.clone(), new_list);
        }
        for e in events {
            self.push_event(e);
        }

        // Step 8: 200 OK with all current bindings.
        let tag = message::new_tag();
        let mut resp = message::response(request, 200, "", Some(&tag));
        for b in self.bindings(&user) {
            let mut na = b.name_addr.clone();
            na.set_param("expires", Some(b.expires_in(now).to_string()));
            resp.headers
                .push(message::make_header("Contact", &na.to_string()));
        }
        Ok((user, resp))
    }

    /// Step 3: the credentials for our realm (the first Authorization with it). An
    /// Authorization in a scheme other than Digest is not ours to read and is passed over, so
    /// its request is challenged (RFC 4475 §3.3.7); a malformed Digest one is a 400.
    fn credentials(&self, request: &Request) -> Result<Credentials, RegisterError> {
        let values = message::header_values(request, "Authorization");
        let mut creds: Option<Credentials> = None;
        let mut first_error = None;
        for v in values {
            match digest::parse_authorization(v) {
                Ok(c) if c.realm == self.realm => {
                    creds = Some(c);
                    break;
                }
                Ok(_) | Err(digest::DigestError::NotDigest) => {}
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        creds.ok_or_else(|| match first_error {
            Some(e) => RegisterError::Malformed(format!("Authorization: {e}")),
            None => RegisterError::Unauthenticated,
        })
    }

    /// Steps 3-4: digest authentication of `account` (the AOR's user).
    fn authenticate(
        &mut self,
        now: Instant,
        creds: &Credentials,
        account: &UserAccount,
    ) -> Result<(), RegisterError> {
        if creds.username != account.username {
            return Err(RegisterError::Forbidden {
                auth_user: truncate(&creds.username, 64),
                aor_user: account.username.clone(),
            });
        }
        if !self.algorithms.contains(&creds.algorithm.base()) {
            return Err(RegisterError::AlgorithmNotOffered(creds.algorithm));
        }
        if creds.opaque.as_deref().is_some_and(|o| o != self.opaque) {
            return Err(RegisterError::InvalidNonce);
        }
        let secs = self.secs(now);
        let status = self.nonces.check(&creds.nonce, secs);
        if status == NonceStatus::Invalid {
            return Err(RegisterError::InvalidNonce);
        }
        let good = match &account.password_or_ha1 {
            UserSecret::Password(p) => digest::verify(creds, "REGISTER", p),
            UserSecret::Ha1 { md5, sha256 } => {
                let ha1 = match creds.algorithm.base() {
                    Algorithm::Sha256 => sha256.as_deref(),
                    _ => md5.as_deref(),
                };
                ha1.is_some_and(|h| digest::verify_ha1(creds, "REGISTER", h))
            }
        };
        if !good {
            return Err(RegisterError::BadCredentials {
                user: account.username.clone(),
            });
        }
        if status == NonceStatus::Stale {
            return Err(RegisterError::StaleNonce);
        }
        match self.nonces.use_nonce(&creds.nonce, creds.nc_value(), secs) {
            Ok(()) => Ok(()),
            Err(NonceError::Replay(nc)) => Err(RegisterError::Replay(nc)),
            Err(NonceError::Stale) => Err(RegisterError::StaleNonce),
            Err(NonceError::Invalid) => Err(RegisterError::InvalidNonce),
        }
    }

    fn parse_contact(&self, value: &str, default: u32) -> Result<ContactReq, RegisterError> {
        let bad = |why: String| RegisterError::Malformed(format!("Contact: {why}"));
        let mut na = NameAddr::parse(value).map_err(bad)?;
        let uri = na.parsed_uri().map_err(|e| bad(e.to_string()))?;
        if !matches!(
            uri.scheme,
            Some(rsip::Scheme::Sip) | Some(rsip::Scheme::Sips)
        ) {
            return Err(bad("not a sip/sips URI".into()));
        }
        let expires = match na.param("expires").map(parse_delta) {
            Some(Some(e)) => e,
            _ => default,
        };
        let expires = expires.min(self.max_expires);
        let q = match na.param("q") {
            None => None,
            Some(q) => Some(parse_q(q).ok_or_else(|| bad("bad q value".into()))?),
        };
        let instance = na
            .param("+sip.instance")
            .map(|s| s.trim_matches('"').to_string());
        let reg_id = na.param("reg-id").map(str::to_string);
        na.params
            .retain(|(n, _)| !n.eq_ignore_ascii_case("expires"));
        Ok(ContactReq {
            key: uri_key(&uri),
            name_addr: na,
            uri,
            expires,
            q,
            instance,
            reg_id,
        })
    }
}

fn users_map(users: Vec<UserAccount>) -> HashMap<String, UserAccount> {
    users.into_iter().map(|u| (u.username.clone(), u)).collect()
}

fn clamp_max(max: usize) -> usize {
    max.clamp(1, MAX_CONTACTS_LIMIT)
}

/// §10.3 step 7: same Call-ID needs a higher CSeq.
fn check_order(b: &Binding, call_id: &str, cseq: u32) -> Result<(), RegisterError> {
    if b.call_id == call_id && cseq <= b.cseq {
        return Err(RegisterError::OutOfOrder {
            cseq,
            stored: b.cseq,
        });
    }
    Ok(())
}

/// Index of the least recently registered binding whose key is not in `keep`.
fn oldest_index(list: &[Binding], keep: &[String]) -> Option<usize> {
    list.iter()
        .enumerate()
        .filter(|(_, b)| !keep.contains(&b.key))
        .min_by_key(|(_, b)| b.registered_at)
        .map(|(i, _)| i)
}

fn sort_bindings(list: &mut [Binding]) {
    list.sort_by(|a, b| {
        b.q.unwrap_or(1000)
            .cmp(&a.q.unwrap_or(1000))
            .then(b.registered_at.cmp(&a.registered_at))
    });
}

/// A delta-seconds value: `None` if not all digits; values above 2^32-1 saturate.
fn parse_delta(s: &str) -> Option<u32> {
    let s = s.trim();
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(s.parse::<u32>().unwrap_or(u32::MAX))
}

/// `q` (RFC 3261 §20.10 qvalue: `0[.ddd]` or `1[.000]`) in thousandths.
fn parse_q(s: &str) -> Option<u16> {
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, f),
        None => (s, ""),
    };
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut thousandths: u16 = 0;
    for (i, b) in frac.bytes().enumerate() {
        thousandths += u16::from(b - b'0') * [100, 10, 1][i];
    }
    match int {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

/// Percent-decode (invalid escapes are kept as they are; invalid UTF-8 is replaced).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            if let Some(v) = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A comparison key for Contact URIs (a practical RFC 3261 §19.1.4): scheme and host
/// case-insensitive, user percent-decoded and case-sensitive, port as written, parameters
/// case-insensitive and order-independent.
fn uri_key(uri: &rsip::Uri) -> String {
    let scheme = match &uri.scheme {
        Some(rsip::Scheme::Sips) => "sips",
        _ => "sip",
    };
    let user = uri
        .auth
        .as_ref()
        .map(|a| percent_decode(&a.user))
        .unwrap_or_default();
    let host = uri.host_with_port.host.to_string().to_ascii_lowercase();
    let port = uri
        .host_with_port
        .port
        .as_ref()
        .map(|p| p.to_string())
        .unwrap_or_default();
    let mut params: Vec<String> = uri
        .params
        .iter()
        .map(|p| p.to_string().to_ascii_lowercase())
        .collect();
    params.sort();
    format!("{scheme}:{user}@{host}:{port}{}", params.concat())
}

fn truncate(s: &str, max_chars: usize) -> String {
    s.chars()
        .filter(|c| !c.is_control())
        .take(max_chars)
        .collect()
}
