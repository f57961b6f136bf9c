//! Digest authentication, client side: answering the 401/407 challenges of a registrar, a
//! trunk or a proxy (RFC 2617, RFC 7616, RFC 8760, RFC 3261 §22).
//!
//! * [`parse_challenge`] reads a `WWW-Authenticate` / `Proxy-Authenticate` value into the
//!   crate's [`Challenge`] (tolerant of LWS, quoting and case; malformed input is an error).
//! * [`select_challenge`] picks the strongest usable challenge of a 401 or 407: SHA-256 before
//!   MD5 (RFC 8760 servers send one header per algorithm), `qop=auth` before the RFC 2069 form,
//!   the plain variant before `-sess`. Unknown algorithms and `auth-int`-only challenges are
//!   skipped; when none is usable the reason for the first one is returned.
//! * [`authorize`] computes the answer ([`Credentials`], printed by
//!   [`Credentials::to_header_value`]) with the same [`compute_response`] the server side uses.
//! * [`authorize_request`] turns the challenged request into the request to re-send: same
//!   Call-ID, From and To, the CSeq the caller gives, a new Via branch and the authorization
//!   header of the right kind (earlier ones of that kind removed). It is generic over the
//!   method: REGISTER, INVITE, OPTIONS, ...
//!
//! One challenge is answered per response (one realm); `userhash` offers are ignored (the
//! user name is sent in clear, which RFC 7616 allows); the client nonce comes from the caller
//! (see [`new_cnonce`]) so that tests are deterministic.

use std::fmt;

use rand::RngCore;
use rsip::{Request, Response};

use super::{
    compute_response, digest_params, ha1, quote, Algorithm, Challenge, Credentials, DigestError,
    Qop,
};
use crate::message;

/// Which header pair a challenge came in: the server's own (401) or a proxy's (407).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChallengeKind {
    /// `401 Unauthorized` with `WWW-Authenticate`, answered with `Authorization`.
    Www,
    /// `407 Proxy Authentication Required` with `Proxy-Authenticate`, answered with
    /// `Proxy-Authorization`.
    Proxy,
}

impl ChallengeKind {
    /// The kind a status code asks for (`None` unless 401 or 407).
    pub fn from_status(code: u16) -> Option<ChallengeKind> {
        match code {
            401 => Some(ChallengeKind::Www),
            407 => Some(ChallengeKind::Proxy),
            _ => None,
        }
    }

    /// The challenge header name.
    pub fn challenge_header(self) -> &'static str {
        match self {
            ChallengeKind::Www => "WWW-Authenticate",
            ChallengeKind::Proxy => "Proxy-Authenticate",
        }
    }

    /// The answering header name.
    pub fn authorization_header(self) -> &'static str {
        match self {
            ChallengeKind::Www => "Authorization",
            ChallengeKind::Proxy => "Proxy-Authorization",
        }
    }
}

/// Why a challenge could not be answered.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// The response is not a 401 or a 407.
    #[error("status {0} is not a challenge")]
    NotAChallenge(u16),
    /// The 401/407 carries no `WWW-Authenticate` / `Proxy-Authenticate` header.
    #[error("no {0} header in the challenge")]
    NoChallenge(&'static str),
    /// No challenge is usable; the reason given is that of the first one (malformed, not
    /// Digest, an unknown algorithm, `auth-int` only, ...).
    #[error("no usable challenge: {0}")]
    Unusable(DigestError),
    /// The request to re-send lacks a header that must be carried over.
    #[error("the challenged request has no usable {0} header")]
    BadRequest(&'static str),
}

/// The user name and password a client answers challenges with (its `Debug` output hides
/// the password).
#[derive(Clone, PartialEq, Eq)]
pub struct ClientCredentials {
    /// Authentication user name (may differ from the user part of the AOR).
    pub username: String,
    /// Clear-text password.
    pub password: String,
}

impl ClientCredentials {
    /// Credentials from a user name and a password.
    pub fn new(username: &str, password: &str) -> Self {
        ClientCredentials {
            username: username.to_string(),
            password: password.to_string(),
        }
    }
}

impl fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Parse a `WWW-Authenticate` or `Proxy-Authenticate` header value.
///
/// `realm` and `nonce` are required; `algorithm` defaults to MD5; `qop` is a comma-separated
/// list in which `auth` must appear if the parameter is present (`auth-int` alone is
/// [`DigestError::UnsupportedQop`]); `stale` is true when its value is `true` in any case;
/// `domain`, `charset`, `userhash` and unknown parameters are ignored.
pub fn parse_challenge(value: &str) -> Result<Challenge, DigestError> {
    let mut params = digest_params(value)?;
    let mut take = |name: &str| {
        params
            .iter()
            .position(|(n, _)| n == name)
            .map(|i| params.swap_remove(i).1)
    };
    let realm = take("realm").ok_or(DigestError::Missing("realm"))?;
    let nonce = take("nonce").ok_or(DigestError::Missing("nonce"))?;
    let algorithm = match take("algorithm") {
        None => Algorithm::Md5,
        Some(a) => Algorithm::from_token(a.trim())
            .ok_or_else(|| DigestError::UnsupportedAlgorithm(super::printable(&a)))?,
    };
    let qop_auth = match take("qop") {
        None => false,
        Some(q) => {
            if !q.split(',').any(|o| o.trim().eq_ignore_ascii_case("auth")) {
                return Err(DigestError::UnsupportedQop(super::printable(&q)));
            }
            true
        }
    };
    let stale = take("stale").is_some_and(|s| s.trim().eq_ignore_ascii_case("true"));
    let opaque = take("opaque");
    Ok(Challenge {
        realm,
        nonce,
        opaque,
        algorithm,
        qop_auth,
        stale,
    })
}

/// Preference of a challenge: a higher key wins.
fn strength(c: &Challenge) -> (u8, bool, bool) {
    let hash = match c.algorithm.base() {
        Algorithm::Sha256 => 2,
        _ => 1,
    };
    (hash, c.qop_auth, !c.algorithm.is_sess())
}

/// The strongest usable challenge of a 401 (`WWW-Authenticate`) or 407
/// (`Proxy-Authenticate`) response; on a tie the first one in the message.
pub fn select_challenge(response: &Response) -> Result<(ChallengeKind, Challenge), AuthError> {
    let code = response.status_code.code();
    let kind = ChallengeKind::from_status(code).ok_or(AuthError::NotAChallenge(code))?;
    let values = message::header_values(response, kind.challenge_header());
    if values.is_empty() {
        return Err(AuthError::NoChallenge(kind.challenge_header()));
    }
    let mut best: Option<Challenge> = None;
    let mut first_error = None;
    for value in values {
        match parse_challenge(value) {
            Ok(c) => {
                if best.as_ref().is_none_or(|b| strength(&c) > strength(b)) {
                    best = Some(c);
                }
            }
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    match (best, first_error) {
        (Some(c), _) => Ok((kind, c)),
        (None, Some(e)) => Err(AuthError::Unusable(e)),
        (None, None) => Err(AuthError::NoChallenge(kind.challenge_header())),
    }
}

/// A fresh client nonce: 16 lowercase hex digits from the caller's random source.
pub fn new_cnonce(rng: &mut impl RngCore) -> String {
    let mut bytes = [0u8; 8];
    rng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// The answer to `challenge` for a request with `method` and digest-uri `uri` (the
/// Request-URI as sent). With `qop=auth` offered, `qop=auth`, `cnonce` and `nc` (as 8 hex
/// digits) are used; `-sess` algorithms also use `cnonce`. The opaque value is echoed.
pub fn authorize(
    challenge: &Challenge,
    credentials: &ClientCredentials,
    method: &str,
    uri: &str,
    cnonce: &str,
    nc: u32,
) -> Credentials {
    let qop = challenge.qop_auth.then_some(Qop::Auth);
    let mut creds = Credentials {
        username: credentials.username.clone(),
        realm: challenge.realm.clone(),
        nonce: challenge.nonce.clone(),
        uri: uri.to_string(),
        response: String::new(),
        algorithm: challenge.algorithm,
        cnonce: (qop.is_some() || challenge.algorithm.is_sess()).then(|| cnonce.to_string()),
        nc: qop.map(|_| format!("{nc:08x}")),
        qop,
        opaque: challenge.opaque.clone(),
    };
    let h = ha1(
        &credentials.username,
        &challenge.realm,
        &credentials.password,
        challenge.algorithm,
    );
    // cnonce and nc are set above whenever the qop or the algorithm needs them, so the
    // computation always has its inputs.
    creds.response = compute_response(&creds, method, &h).unwrap_or_default();
    creds
}

impl Credentials {
    /// The `Authorization` / `Proxy-Authorization` header value, e.g.
    /// `Digest username="alice", realm="sip.example", nonce="...", uri="sip:sip.example",
    /// response="...", algorithm=MD5, cnonce="...", nc=00000001, qop=auth, opaque="..."`.
    pub fn to_header_value(&self) -> String {
        let mut s = format!(
            "Digest username={}, realm={}, nonce={}, uri={}, response={}, algorithm={}",
            quote(&self.username),
            quote(&self.realm),
            quote(&self.nonce),
            quote(&self.uri),
            quote(&self.response),
            self.algorithm.as_str()
        );
        if let Some(cnonce) = &self.cnonce {
            s.push_str(", cnonce=");
            s.push_str(&quote(cnonce));
        }
        if let (Some(nc), Some(Qop::Auth)) = (&self.nc, self.qop) {
            s.push_str(", nc=");
            s.push_str(nc);
            s.push_str(", qop=auth");
        }
        if let Some(opaque) = &self.opaque {
            s.push_str(", opaque=");
            s.push_str(&quote(opaque));
        }
        s
    }
}

/// A request re-built to answer a challenge.
#[derive(Clone, Debug)]
pub struct AuthorizedRequest {
    /// The request to send (in a new client transaction).
    pub request: Request,
    /// Which header pair was used.
    pub kind: ChallengeKind,
    /// The challenge answered (its `stale` flag tells a fresh nonce from a wrong password).
    pub challenge: Challenge,
}

/// The request to re-send after `response` (a 401 or 407) challenged `original`: a copy of
/// `original` with CSeq number `next_cseq` (normally the old one plus one; the method is
/// kept), a new branch in the top Via, earlier headers of the answering kind removed and the
/// answer to the strongest challenge added (nonce count 1). Call-ID, From (and its tag), To,
/// Contact, Route and the body are unchanged.
pub fn authorize_request(
    original: &Request,
    response: &Response,
    credentials: &ClientCredentials,
    next_cseq: u32,
    cnonce: &str,
) -> Result<AuthorizedRequest, AuthError> {
    let (kind, challenge) = select_challenge(response)?;
    let mut request = original.clone();
    let mut via = message::top_via(&request).ok_or(AuthError::BadRequest("Via"))?;
    via.set_param("branch", Some(message::new_branch()));
    message::set_top_via(&mut request, &via);
    let (_, method) = message::cseq(&request).ok_or(AuthError::BadRequest("CSeq"))?;
    message::remove_headers(&mut request, "CSeq");
    let cseq = message::make_header("CSeq", &format!("{next_cseq} {method}"));
    message::remove_headers(&mut request, kind.authorization_header());
    let method = request.method.to_string();
    let uri = message::uri_to_string(&request.uri);
    let creds = authorize(&challenge, credentials, &method, &uri, cnonce, 1);
    let auth = message::make_header(kind.authorization_header(), &creds.to_header_value());
    insert_before_content_length(&mut request, [cseq, auth]);
    Ok(AuthorizedRequest {
        request,
        kind,
        challenge,
    })
}

/// Insert headers before `Content-Length` (or at the end), keeping the usual order.
fn insert_before_content_length<const N: usize>(request: &mut Request, headers: [rsip::Header; N]) {
    let mut list: Vec<rsip::Header> = request.headers.iter().cloned().collect();
    let at = list
        .iter()
        .position(|h| matches!(h, rsip::Header::ContentLength(_)))
        .unwrap_or(list.len());
    for (i, h) in headers.into_iter().enumerate() {
        list.insert(at + i, h);
    }
    request.headers = rsip::Headers::from(list);
}
