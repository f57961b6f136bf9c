//! HTTP Digest authentication for SIP (RFC 2617, RFC 7616, RFC 8760): the server side here,
//! the client side (answering challenges) in [`client`].
//!
//! * [`Challenge`] builds a `WWW-Authenticate` value.
//! * [`parse_authorization`] reads an `Authorization` value into [`Credentials`], tolerant of
//!   LWS, quoting and the case of parameter names; malformed input is an error, never a panic.
//! * [`verify`] / [`verify_ha1`] recompute the response and compare it in constant time.
//! * [`NonceManager`] issues stateless nonces (timestamp + random + truncated HMAC-SHA-256
//!   under a secret), tells fresh from stale from forged, and tracks the nonce count (`nc`) of
//!   used nonces in bounded memory so that a replayed request is refused.
//!
//! Supported: `MD5`, `MD5-sess`, `SHA-256`, `SHA-256-sess`, `qop=auth` and the RFC 2069 form
//! without `qop`. Refused with a [`DigestError`]: `qop=auth-int`, `userhash=true`,
//! `SHA-512-256` and unknown algorithms. rsip's digest code is not used (its `-sess` and
//! auth-int handling is wrong and its default algorithm is SHA-256).
//!
//! Time is an argument (whole seconds on any monotonic scale the caller chooses): nothing here
//! reads the clock.

use std::collections::{BTreeSet, HashMap};
use std::fmt;

pub mod client;

pub use client::{
    authorize, authorize_request, new_cnonce, parse_challenge, select_challenge, AuthError,
    AuthorizedRequest, ChallengeKind, ClientCredentials,
};

use md5::Md5;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// A digest hash algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// `MD5` (RFC 2617): what every softphone speaks.
    Md5,
    /// `MD5-sess`: HA1 = MD5(MD5(user:realm:password):nonce:cnonce).
    Md5Sess,
    /// `SHA-256` (RFC 7616, RFC 8760 for SIP).
    Sha256,
    /// `SHA-256-sess`.
    Sha256Sess,
}

impl Algorithm {
    /// The token used on the wire (`MD5`, `MD5-sess`, `SHA-256`, `SHA-256-sess`).
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Md5Sess => "MD5-sess",
            Algorithm::Sha256 => "SHA-256",
            Algorithm::Sha256Sess => "SHA-256-sess",
        }
    }

    /// Parse a wire token (case-insensitive). `None` for unsupported algorithms.
    pub fn from_token(token: &str) -> Option<Algorithm> {
        [
            Algorithm::Md5,
            Algorithm::Md5Sess,
            Algorithm::Sha256,
            Algorithm::Sha256Sess,
        ]
        .into_iter()
        .find(|a| a.as_str().eq_ignore_ascii_case(token))
    }

    /// True for the `-sess` variants.
    pub fn is_sess(self) -> bool {
        matches!(self, Algorithm::Md5Sess | Algorithm::Sha256Sess)
    }

    /// The underlying hash, without `-sess` (`MD5` or `SHA-256`); an HA1 stored for the base
    /// algorithm also serves its `-sess` variant.
    pub fn base(self) -> Algorithm {
        match self {
            Algorithm::Md5 | Algorithm::Md5Sess => Algorithm::Md5,
            Algorithm::Sha256 | Algorithm::Sha256Sess => Algorithm::Sha256,
        }
    }

    /// Length of a lowercase hex digest (32 for MD5, 64 for SHA-256).
    pub fn hex_len(self) -> usize {
        match self.base() {
            Algorithm::Sha256 => 64,
            _ => 32,
        }
    }

    /// Lowercase hex of the hash of `data`.
    pub fn hash_hex(self, data: &[u8]) -> String {
        match self.base() {
            Algorithm::Sha256 => hex::encode(Sha256::digest(data)),
            _ => hex::encode(Md5::digest(data)),
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an `Authorization` value cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    /// The scheme is not `Digest` (e.g. `Basic`).
    #[error("authentication scheme is not Digest")]
    NotDigest,
    /// The parameter list does not follow `name=value` / `name="quoted"` separated by commas.
    #[error("malformed digest parameters: {0}")]
    Syntax(String),
    /// A parameter appears more than once.
    #[error("duplicate digest parameter {0}")]
    Duplicate(String),
    /// A mandatory parameter is missing (`cnonce` and `nc` are mandatory with `qop`).
    #[error("missing digest parameter {0}")]
    Missing(&'static str),
    /// The algorithm is not one Senim implements (e.g. `SHA-512-256`).
    #[error("unsupported digest algorithm {0}")]
    UnsupportedAlgorithm(String),
    /// The qop is not `auth` (`auth-int` is not implemented).
    #[error("unsupported qop {0}")]
    UnsupportedQop(String),
    /// `nc` is not 1 to 8 hex digits.
    #[error("bad nonce count {0:?}")]
    BadNonceCount(String),
    /// `userhash=true` (RFC 7616 §3.4.4) is not implemented.
    #[error("userhash is not supported")]
    UserhashUnsupported,
}

// ---------------------------------------------------------------------------------------------
// Challenge
// ---------------------------------------------------------------------------------------------

/// A `WWW-Authenticate: Digest ...` challenge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Challenge {
    /// Protection space, shown to users by some phones (`senim`).
    pub realm: String,
    /// Server nonce (see [`NonceManager::issue`]).
    pub nonce: String,
    /// Opaque string the client must echo (omitted when `None`).
    pub opaque: Option<String>,
    /// Hash algorithm offered.
    pub algorithm: Algorithm,
    /// Offer `qop="auth"`.
    pub qop_auth: bool,
    /// The previous request had a valid digest but a stale nonce: retry without asking the user.
    pub stale: bool,
}

/// `"value"` with `\` and `"` escaped (RFC 7230 quoted-string); CR, LF and other controls are
/// dropped so a value can never break the header line.
pub fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

impl Challenge {
    /// The header value, e.g.
    /// `Digest realm="senim", nonce="...", opaque="...", algorithm=MD5, qop="auth"`
    /// (`, stale=true` appended when stale).
    pub fn to_header_value(&self) -> String {
        let mut s = format!(
            "Digest realm={}, nonce={}",
            quote(&self.realm),
            quote(&self.nonce)
        );
        if let Some(opaque) = &self.opaque {
            s.push_str(", opaque=");
            s.push_str(&quote(opaque));
        }
        s.push_str(", algorithm=");
        s.push_str(self.algorithm.as_str());
        if self.qop_auth {
            s.push_str(", qop=\"auth\"");
        }
        if self.stale {
            s.push_str(", stale=true");
        }
        s
    }
}

// ---------------------------------------------------------------------------------------------
// Credentials
// ---------------------------------------------------------------------------------------------

/// The quality of protection a client chose.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Qop {
    /// `qop=auth`: the response covers the nonce count and client nonce.
    Auth,
}

/// The parameters of an `Authorization: Digest ...` value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credentials {
    /// Authentication user name.
    pub username: String,
    /// Realm the client answers.
    pub realm: String,
    /// Server nonce echoed.
    pub nonce: String,
    /// The digest-uri the client hashed (normally the Request-URI).
    pub uri: String,
    /// Response digest, lowercased.
    pub response: String,
    /// Algorithm (`MD5` when the parameter is absent, RFC 2617 §3.2.2).
    pub algorithm: Algorithm,
    /// Client nonce (required with `qop`).
    pub cnonce: Option<String>,
    /// Nonce count exactly as sent (required with `qop`); it is part of the hashed string.
    pub nc: Option<String>,
    /// Quality of protection (`None`: the RFC 2069 form).
    pub qop: Option<Qop>,
    /// Opaque value echoed.
    pub opaque: Option<String>,
}

impl Credentials {
    /// The nonce count as a number (`None` without `qop`).
    pub fn nc_value(&self) -> Option<u32> {
        self.nc
            .as_deref()
            .and_then(|nc| u32::from_str_radix(nc, 16).ok())
    }
}

/// Most parameters accepted in one header (bounds the work on hostile input).
const MAX_PARAMS: usize = 64;

fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

/// Split `name=value, name="quoted", ...` into pairs; names lowercased, quoted values unescaped.
fn parse_auth_params(input: &str) -> Result<Vec<(String, String)>, DigestError> {
    let syntax = |why: &str| DigestError::Syntax(why.to_string());
    let mut out: Vec<(String, String)> = Vec::new();
    let mut chars = input.char_indices().peekable();
    loop {
        // Skip separators (empty list elements are allowed, RFC 7230 §7).
        while chars
            .peek()
            .is_some_and(|&(_, c)| c == ',' || c.is_whitespace())
        {
            chars.next();
        }
        let Some(&(start, _)) = chars.peek() else {
            break;
        };
        let mut end = start;
        while let Some(&(i, c)) = chars.peek() {
            if !is_token_char(c) {
                break;
            }
            end = i + c.len_utf8();
            chars.next();
        }
        let name = input.get(start..end).unwrap_or_default();
        if name.is_empty() {
            return Err(syntax("expected a parameter name"));
        }
        while chars.peek().is_some_and(|&(_, c)| c.is_whitespace()) {
            chars.next();
        }
        if chars.next().map(|(_, c)| c) != Some('=') {
            return Err(DigestError::Syntax(format!(
                "expected '=' after {}",
                printable(name)
            )));
        }
        while chars.peek().is_some_and(|&(_, c)| c.is_whitespace()) {
            chars.next();
        }
        let mut value = String::new();
        if chars.peek().is_some_and(|&(_, c)| c == '"') {
            chars.next();
            let mut closed = false;
            while let Some((_, c)) = chars.next() {
                match c {
                    '"' => {
                        closed = true;
                        break;
                    }
                    '\\' => match chars.next() {
                        Some((_, escaped)) => value.push(escaped),
                        None => break,
                    },
                    c => value.push(c),
                }
            }
            if !closed {
                return Err(syntax("unterminated quoted string"));
            }
        } else {
            while let Some(&(_, c)) = chars.peek() {
                if !is_token_char(c) && c != '/' && c != ':' && c != '@' && c != '=' {
                    break;
                }
                value.push(c);
                chars.next();
            }
            if value.is_empty() {
                return Err(DigestError::Syntax(format!(
                    "empty value for {}",
                    printable(name)
                )));
            }
        }
        while chars.peek().is_some_and(|&(_, c)| c.is_whitespace()) {
            chars.next();
        }
        match chars.peek() {
            None | Some(&(_, ',')) => {}
            Some(_) => {
                return Err(DigestError::Syntax(format!(
                    "expected ',' after the value of {}",
                    printable(name)
                )))
            }
        }
        let name = name.to_ascii_lowercase();
        if out.iter().any(|(n, _)| *n == name) {
            return Err(DigestError::Duplicate(name));
        }
        if out.len() >= MAX_PARAMS {
            return Err(syntax("too many parameters"));
        }
        out.push((name, value));
    }
    Ok(out)
}

/// At most 40 printable ASCII characters of `s`, for error messages built from input.
fn printable(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_graphic())
        .filter(|c| *c != '"' && *c != '\\')
        .take(40)
        .collect()
}

/// The parameters of a `Digest ...` header value (challenge or credentials).
fn digest_params(value: &str) -> Result<Vec<(String, String)>, DigestError> {
    let value = value.trim();
    let scheme_end = value
        .find(|c: char| c.is_whitespace())
        .unwrap_or(value.len());
    let (scheme, rest) = value.split_at(scheme_end);
    if !scheme.eq_ignore_ascii_case("Digest") {
        return Err(DigestError::NotDigest);
    }
    parse_auth_params(rest)
}

/// Parse an `Authorization` (or `Proxy-Authorization`) header value.
pub fn parse_authorization(value: &str) -> Result<Credentials, DigestError> {
    let mut params = digest_params(value)?;
    let mut take = |name: &str| {
        params
            .iter()
            .position(|(n, _)| n == name)
            .map(|i| params.swap_remove(i).1)
    };
    let username = take("username").ok_or(DigestError::Missing("username"))?;
    let realm = take("realm").ok_or(DigestError::Missing("realm"))?;
    let nonce = take("nonce").ok_or(DigestError::Missing("nonce"))?;
    let uri = take("uri").ok_or(DigestError::Missing("uri"))?;
    let response = take("response")
        .ok_or(DigestError::Missing("response"))?
        .to_ascii_lowercase();
    let algorithm = match take("algorithm") {
        None => Algorithm::Md5,
        Some(a) => Algorithm::from_token(&a)
            .ok_or_else(|| DigestError::UnsupportedAlgorithm(printable(&a)))?,
    };
    if take("userhash").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
        return Err(DigestError::UserhashUnsupported);
    }
    let qop = match take("qop") {
        None => None,
        Some(q) if q.eq_ignore_ascii_case("auth") => Some(Qop::Auth),
        Some(q) => return Err(DigestError::UnsupportedQop(printable(&q))),
    };
    let cnonce = take("cnonce");
    let nc = take("nc");
    let opaque = take("opaque");
    if let Some(nc) = &nc {
        if nc.is_empty() || nc.len() > 8 || !nc.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(DigestError::BadNonceCount(printable(nc)));
        }
    }
    if qop.is_some() {
        if cnonce.is_none() {
            return Err(DigestError::Missing("cnonce"));
        }
        if nc.is_none() {
            return Err(DigestError::Missing("nc"));
        }
    }
    if algorithm.is_sess() && cnonce.is_none() {
        return Err(DigestError::Missing("cnonce"));
    }
    Ok(Credentials {
        username,
        realm,
        nonce,
        uri,
        response,
        algorithm,
        cnonce,
        nc,
        qop,
        opaque,
    })
}

// ---------------------------------------------------------------------------------------------
// Computation and verification
// ---------------------------------------------------------------------------------------------

/// HA1 = H(username:realm:password) as lowercase hex, for the base hash of `algorithm`
/// (store this instead of the password; it is bound to the realm).
pub fn ha1(username: &str, realm: &str, password: &str, algorithm: Algorithm) -> String {
    algorithm.hash_hex(format!("{username}:{realm}:{password}").as_bytes())
}

/// The expected response for `creds` and `method`, from HA1 of the base algorithm.
/// `None` when a parameter needed by the chosen qop/algorithm is missing.
pub fn compute_response(creds: &Credentials, method: &str, ha1_hex: &str) -> Option<String> {
    let alg = creds.algorithm;
    let ha1_hex = ha1_hex.to_ascii_lowercase();
    let ha1_final = if alg.is_sess() {
        let cnonce = creds.cnonce.as_deref()?;
        alg.hash_hex(format!("{ha1_hex}:{}:{cnonce}", creds.nonce).as_bytes())
    } else {
        ha1_hex
    };
    let ha2 = alg.hash_hex(format!("{method}:{}", creds.uri).as_bytes());
    let data = match creds.qop {
        Some(Qop::Auth) => format!(
            "{ha1_final}:{}:{}:{}:auth:{ha2}",
            creds.nonce,
            creds.nc.as_deref()?,
            creds.cnonce.as_deref()?
        ),
        None => format!("{ha1_final}:{}:{ha2}", creds.nonce),
    };
    Some(alg.hash_hex(data.as_bytes()))
}

/// Compare two byte strings in time independent of where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// Check the response against an HA1 (lowercase or uppercase hex) of the credentials' base
/// algorithm. An HA1 of the wrong length (another algorithm's) never verifies.
pub fn verify_ha1(creds: &Credentials, method: &str, ha1_hex: &str) -> bool {
    if ha1_hex.len() != creds.algorithm.hex_len() {
        return false;
    }
    match compute_response(creds, method, ha1_hex) {
        Some(expected) => constant_time_eq(expected.as_bytes(), creds.response.as_bytes()),
        None => false,
    }
}

/// Check the response against a clear-text password.
pub fn verify(creds: &Credentials, method: &str, password: &str) -> bool {
    let h = ha1(&creds.username, &creds.realm, password, creds.algorithm);
    verify_ha1(creds, method, &h)
}

// ---------------------------------------------------------------------------------------------
// HMAC-SHA-256 (RFC 2104), for the stateless nonces
// ---------------------------------------------------------------------------------------------

/// HMAC-SHA-256 of `parts` (concatenated) under `key`.
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(block.map(|b| b ^ 0x36));
    for p in parts {
        inner.update(p);
    }
    let inner = inner.finalize();
    let mut outer = Sha256::new();
    outer.update(block.map(|b| b ^ 0x5c));
    outer.update(inner);
    let mut out = [0u8; 32];
    out.copy_from_slice(&outer.finalize());
    out
}

// ---------------------------------------------------------------------------------------------
// Nonces
// ---------------------------------------------------------------------------------------------

/// Default nonce lifetime: 5 minutes.
pub const DEFAULT_NONCE_LIFETIME: u64 = 300;
/// Default number of used nonces whose counts are remembered.
pub const DEFAULT_NONCE_CAPACITY: usize = 10_000;
/// Nonce counts below the highest one seen that may still arrive (out of order) and be accepted.
pub const NC_WINDOW: u32 = 64;

/// Length of a nonce: 16 hex (timestamp) + 16 hex (random) + 32 hex (MAC).
const NONCE_LEN: usize = 64;

/// What a nonce is worth at a given time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NonceStatus {
    /// Issued by us and within its lifetime.
    Valid,
    /// Issued by us but too old (or its count history was forgotten): challenge again with
    /// `stale=true` if the digest itself is right.
    Stale,
    /// Not issued by us (forged, truncated, from another secret, or from the future).
    Invalid,
}

/// Why a nonce count was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NonceError {
    /// The nonce is not ours.
    #[error("nonce not issued by this server")]
    Invalid,
    /// The nonce has expired (or its history was evicted): a fresh one is needed.
    #[error("nonce is stale")]
    Stale,
    /// This nonce count was already used (or is too far below the highest one seen).
    #[error("nonce count {0} replayed")]
    Replay(u32),
}

#[derive(Clone, Debug)]
struct NcState {
    highest: u32,
    /// Bit i set: count `highest - 1 - i` was seen.
    seen_below: u64,
}

/// Issues and checks nonces; remembers the counts used with each nonce, in bounded memory.
///
/// A nonce is `hex(timestamp, 8 bytes) || hex(random, 8 bytes) || hex(HMAC-SHA-256(secret,
/// timestamp || random)[..16])`: issuing needs no memory, so unauthenticated floods cost
/// nothing. A nonce is remembered only once a request with a correct digest used it. When
/// more than `capacity` nonces are remembered, the oldest are forgotten, and every nonce not
/// newer than a forgotten one is then treated as stale, so forgetting never re-opens a replay.
#[derive(Clone)]
pub struct NonceManager {
    secret: [u8; 32],
    lifetime: u64,
    capacity: usize,
    used: HashMap<String, NcState>,
    order: BTreeSet<(u64, String)>,
    /// Nonces issued at or before this time and not in `used` are stale.
    floor: Option<u64>,
}

impl fmt::Debug for NonceManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NonceManager")
            .field("secret", &"<redacted>")
            .field("lifetime", &self.lifetime)
            .field("capacity", &self.capacity)
            .field("tracked", &self.used.len())
            .field("floor", &self.floor)
            .finish()
    }
}

impl NonceManager {
    /// A manager with a 5-minute lifetime and room for 10,000 used nonces.
    pub fn new(secret: [u8; 32]) -> Self {
        Self::with_limits(secret, DEFAULT_NONCE_LIFETIME, DEFAULT_NONCE_CAPACITY)
    }

    /// A manager with an explicit lifetime (seconds) and capacity (at least 1).
    pub fn with_limits(secret: [u8; 32], lifetime_secs: u64, capacity: usize) -> Self {
        NonceManager {
            secret,
            lifetime: lifetime_secs,
            capacity: capacity.max(1),
            used: HashMap::new(),
            order: BTreeSet::new(),
            floor: None,
        }
    }

    /// Nonce lifetime in seconds.
    pub fn lifetime(&self) -> u64 {
        self.lifetime
    }

    /// Number of nonces whose counts are remembered.
    pub fn tracked(&self) -> usize {
        self.used.len()
    }

    fn mac(&self, ts: &[u8; 8], random: &[u8; 8]) -> [u8; 16] {
        let full = hmac_sha256(&self.secret, &[b"senim-nonce", ts, random]);
        let mut out = [0u8; 16];
        out.copy_from_slice(&full[..16]);
        out
    }

    /// A fresh nonce bound to `now` (seconds).
    pub fn issue(&self, now: u64) -> String {
        let mut random = [0u8; 8];
        rand::thread_rng().fill_bytes(&mut random);
        self.issue_with(now, random)
    }

    /// A nonce bound to `now` with explicit random bytes (deterministic tests).
    pub fn issue_with(&self, now: u64, random: [u8; 8]) -> String {
        let ts = now.to_be_bytes();
        let mac = self.mac(&ts, &random);
        format!(
            "{}{}{}",
            hex::encode(ts),
            hex::encode(random),
            hex::encode(mac)
        )
    }

    /// The issue time of a nonce whose MAC is right, else `None`.
    fn authentic_time(&self, nonce: &str) -> Option<u64> {
        if nonce.len() != NONCE_LEN {
            return None;
        }
        let raw = hex::decode(nonce).ok()?;
        let ts: [u8; 8] = raw.get(0..8)?.try_into().ok()?;
        let random: [u8; 8] = raw.get(8..16)?.try_into().ok()?;
        let mac = raw.get(16..32)?;
        constant_time_eq(&self.mac(&ts, &random), mac).then(|| u64::from_be_bytes(ts))
    }

    /// Whether `nonce` is ours and fresh at `now`.
    pub fn check(&self, nonce: &str, now: u64) -> NonceStatus {
        let Some(issued) = self.authentic_time(nonce) else {
            return NonceStatus::Invalid;
        };
        if issued > now {
            return NonceStatus::Invalid;
        }
        if now - issued > self.lifetime {
            return NonceStatus::Stale;
        }
        if !self.used.contains_key(nonce) && self.floor.is_some_and(|f| issued <= f) {
            return NonceStatus::Stale;
        }
        NonceStatus::Valid
    }

    /// Record a use of `nonce` with count `nc` (`None` for the RFC 2069 form without qop, which
    /// counts as 1, so such a nonce is good for one request). Call this only after the digest
    /// verified, so that forged requests cannot burn counts. A count is accepted once: above
    /// the highest seen, or up to [`NC_WINDOW`] below it (out-of-order delivery).
    pub fn use_nonce(&mut self, nonce: &str, nc: Option<u32>, now: u64) -> Result<(), NonceError> {
        match self.check(nonce, now) {
            NonceStatus::Valid => {}
            NonceStatus::Stale => return Err(NonceError::Stale),
            NonceStatus::Invalid => return Err(NonceError::Invalid),
        }
        self.forget_expired(now);
        let nc = nc.unwrap_or(1);
        if let Some(state) = self.used.get_mut(nonce) {
            if nc > state.highest {
                let shift = nc - state.highest;
                state.seen_below = if shift >= 64 {
                    0
                } else {
                    (state.seen_below << shift) | (1u64 << (shift - 1))
                };
                state.highest = nc;
                return Ok(());
            }
            let back = state.highest - nc;
            if back == 0 || back > NC_WINDOW {
                return Err(NonceError::Replay(nc));
            }
            let bit = 1u64 << (back - 1);
            if state.seen_below & bit != 0 {
                return Err(NonceError::Replay(nc));
            }
            state.seen_below |= bit;
            return Ok(());
        }
        let Some(issued) = self.authentic_time(nonce) else {
            return Err(NonceError::Invalid);
        };
        while self.used.len() >= self.capacity {
            let Some(oldest) = self.order.pop_first() else {
                break;
            };
            self.used.remove(&oldest.1);
            self.floor = Some(self.floor.map_or(oldest.0, |f| f.max(oldest.0)));
        }
        self.used.insert(
            nonce.to_string(),
            NcState {
                highest: nc,
                seen_below: 0,
            },
        );
        self.order.insert((issued, nonce.to_string()));
        Ok(())
    }

    /// Drop the histories of nonces past their lifetime (they are stale by time anyway).
    fn forget_expired(&mut self, now: u64) {
        while let Some((issued, _)) = self.order.first() {
            if now.saturating_sub(*issued) <= self.lifetime {
                break;
            }
            if let Some((_, nonce)) = self.order.pop_first() {
                self.used.remove(&nonce);
            }
        }
    }

    /// An opaque value derived from the secret (stable for the life of the secret).
    pub fn opaque(&self) -> String {
        hex::encode(&hmac_sha256(&self.secret, &[b"senim-opaque"])[..12])
    }
}
