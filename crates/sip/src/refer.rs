//! Blind call transfer with REFER (RFC 3515, Referred-By RFC 3892, message/sipfrag RFC 3420,
//! `Refer-Sub: false` RFC 4488) as a sans-IO state machine, plus the small header grammars it
//! needs (rsip 0.4 has no Refer-To, Referred-By or sipfrag types).
//!
//! Senim is the transferor: it sends REFER in the caller's dialog with the trunk, the trunk
//! (transferee) calls the partner and reports progress with NOTIFY (`Event: refer`, a
//! `message/sipfrag` body such as `SIP/2.0 180 Ringing`). [`ReferTransfer`] follows one such
//! transfer: the driver sends the REFER it builds through the transaction layer, passes the
//! REFER's responses to [`ReferTransfer::on_response`], in-dialog NOTIFYs (after
//! [`Dialog::on_request`]) to [`ReferTransfer::on_notify`] and deadlines to
//! [`ReferTransfer::handle_timeout`], and reads [`ReferTransfer::state`].

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rsip::{Method, Request, Response, Uri};

use crate::dialog::Dialog;
use crate::message::{self, NameAddr, Transport};

/// Errors of the REFER header and body grammars.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReferError {
    /// The Refer-To / Referred-By value is not a name-addr or addr-spec with a usable URI.
    #[error("malformed Refer-To/Referred-By: {0}")]
    BadAddress(String),
    /// The Refer-To URI carries URI headers (`?Replaces=...`), which this implementation
    /// refuses rather than silently dropping (rsip's `Uri` cannot hold them).
    #[error("URI headers in Refer-To are not supported: {0}")]
    UriHeaders(String),
    /// The message/sipfrag body does not start with a SIP status line.
    #[error("malformed message/sipfrag: {0}")]
    BadSipfrag(String),
}

// ---------------------------------------------------------------------------------------------
// Header helpers
// ---------------------------------------------------------------------------------------------

/// Percent-encode the characters that may never appear literally in a URI inside a name-addr
/// (controls, space, `"<>\^`{|}`, non-ASCII) and a `%` that does not start an escape. Structural
/// characters (`:@;=?&+`...) are left alone, so an already valid URI is unchanged.
fn escape_uri_text(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    for (i, &b) in bytes.iter().enumerate() {
        let literal = match b {
            b'%' => {
                bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                    && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit)
            }
            b'"' | b'<' | b'>' | b'\\' | b'^' | b'`' | b'{' | b'|' | b'}' => false,
            0x21..=0x7e => true,
            _ => false,
        };
        if literal {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `<uri>` for a name-addr header value, with characters that cannot appear in a URI
/// percent-encoded (so the value always stays one well-formed name-addr).
fn bracketed(uri: &Uri) -> String {
    format!("<{}>", escape_uri_text(&message::uri_to_string(uri)))
}

/// The Refer-To header value for `uri`, always in angle brackets (RFC 3515 §2.1 requires them
/// when the URI has `;`, `,` or `?`; Senim uses them always).
pub fn refer_to(uri: &Uri) -> String {
    bracketed(uri)
}

/// The Referred-By header value (RFC 3892) for `uri`, in angle brackets.
pub fn referred_by(uri: &Uri) -> String {
    bracketed(uri)
}

/// Parse a Refer-To (or Referred-By) value: `<uri>;params`, `"Name" <uri>;params` or a bare
/// addr-spec. Header parameters after `>` are accepted and ignored; URI parameters are kept.
/// URI headers (`<sip:x@h?Replaces=...>`, attended transfer) are refused with
/// [`ReferError::UriHeaders`]: rsip's `Uri` cannot carry them and dropping a `Replaces` would
/// silently turn an attended transfer into a blind one.
pub fn parse_refer_to(value: &str) -> Result<Uri, ReferError> {
    let na = NameAddr::parse(value).map_err(ReferError::BadAddress)?;
    if let Some((_, headers)) = na.uri.split_once('?') {
        return Err(ReferError::UriHeaders(headers.to_string()));
    }
    na.parsed_uri()
        .map_err(|e| ReferError::BadAddress(e.to_string()))
}

/// The status code of a message/sipfrag body (RFC 3420) whose first line is a SIP status line,
/// `SIP/2.0 NNN reason`. Tolerant: leading blank lines and whitespace, CRLF or bare LF or no
/// line end at all, an empty reason phrase, any headers or body after the first line, a lower
/// case `sip/2.0`. Refused: an empty body, a request line or headers-only fragment, another
/// version, a code outside 100..=699.
pub fn parse_sipfrag(body: &[u8]) -> Result<u16, ReferError> {
    let start = body
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .ok_or_else(|| ReferError::BadSipfrag("empty body".into()))?;
    let rest = body.get(start..).unwrap_or_default();
    let end = rest
        .iter()
        .position(|b| *b == b'\r' || *b == b'\n')
        .unwrap_or(rest.len());
    let line = String::from_utf8_lossy(rest.get(..end).unwrap_or_default());
    let mut parts = line.trim().splitn(2, [' ', '\t']);
    let version = parts.next().unwrap_or_default();
    if !version.eq_ignore_ascii_case("SIP/2.0") {
        let shown: String = line.chars().take(40).collect();
        return Err(ReferError::BadSipfrag(format!(
            "first line is not a SIP/2.0 status line: {shown:?}"
        )));
    }
    let after = parts.next().unwrap_or_default().trim_start();
    let code_text = after.split([' ', '\t']).next().unwrap_or_default();
    if code_text.len() != 3 || !code_text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ReferError::BadSipfrag(format!(
            "bad status code {:?}",
            code_text.chars().take(10).collect::<String>()
        )));
    }
    let code: u16 = code_text
        .parse()
        .map_err(|_| ReferError::BadSipfrag("bad status code".into()))?;
    if !(100..=699).contains(&code) {
        return Err(ReferError::BadSipfrag(format!(
            "status code {code} out of range"
        )));
    }
    Ok(code)
}

/// The substate of a Subscription-State header (RFC 6665 §8.2.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SubState {
    /// `active`.
    Active,
    /// `pending`.
    Pending,
    /// `terminated`, with its `reason` parameter if any (`noresource`, `rejected`, `timeout`,
    /// `deactivated`, `giveup`, `probation`, ...), lower-cased.
    Terminated {
        /// The `reason` parameter.
        reason: Option<String>,
    },
    /// An unknown substate (lower-cased); treated like `active`.
    Other(String),
}

/// A parsed Subscription-State header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubscriptionState {
    /// The substate.
    pub state: SubState,
    /// The `expires` parameter in seconds, if present and numeric (saturating at `u32::MAX`).
    pub expires: Option<u32>,
}

impl SubscriptionState {
    /// True for `terminated`.
    pub fn is_terminated(&self) -> bool {
        matches!(self.state, SubState::Terminated { .. })
    }
}

/// Parse a Subscription-State value such as `active;expires=60` or
/// `terminated;reason=noresource`. Never fails: an empty or unknown substate becomes
/// [`SubState::Other`], malformed parameters are ignored.
pub fn parse_subscription_state(value: &str) -> SubscriptionState {
    let (head, params) = match value.split_once(';') {
        Some((h, p)) => (h, p),
        None => (value, ""),
    };
    let mut reason = None;
    let mut expires = None;
    for p in params.split(';') {
        let (name, v) = match p.split_once('=') {
            Some((n, v)) => (n.trim(), Some(v.trim().trim_matches('"'))),
            None => (p.trim(), None),
        };
        match v {
            Some(v) if name.eq_ignore_ascii_case("reason") && !v.is_empty() => {
                reason = Some(v.to_ascii_lowercase());
            }
            Some(v)
                if name.eq_ignore_ascii_case("expires")
                    && !v.is_empty()
                    && v.bytes().all(|b| b.is_ascii_digit()) =>
            {
                expires = Some(v.parse::<u32>().unwrap_or(u32::MAX));
            }
            _ => {}
        }
    }
    let head = head.trim().to_ascii_lowercase();
    let state = match head.as_str() {
        "active" => SubState::Active,
        "pending" => SubState::Pending,
        "terminated" => SubState::Terminated { reason },
        _ => SubState::Other(head),
    };
    SubscriptionState { state, expires }
}

/// The Event header's package and `id` parameter (RFC 6665 §8.2.1), or `None` if malformed.
fn parse_event(value: &str) -> Option<(String, Option<String>)> {
    let (package, params) = match value.split_once(';') {
        Some((p, rest)) => (p.trim(), format!(";{rest}")),
        None => (value.trim(), String::new()),
    };
    if package.is_empty()
        || !package
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b))
    {
        return None;
    }
    let params = message::parse_params(&params).ok()?;
    let id = params
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("id"))
        .and_then(|(_, v)| v.clone())
        .map(|v| v.trim_matches('"').to_string());
    Some((package.to_ascii_lowercase(), id))
}

// ---------------------------------------------------------------------------------------------
// The transfer state machine
// ---------------------------------------------------------------------------------------------

/// Why a transfer failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReferFailure {
    /// The REFER got a final non-2xx response (405/501: REFER not supported, 403/603: not
    /// allowed, 401/407: needs credentials, 481, 491...).
    Refused(u16),
    /// The trunk reported a final 3xx-6xx from the partner (sipfrag `SIP/2.0 486 Busy Here`).
    TargetFailed(u16),
    /// The subscription ended (`Subscription-State: terminated`) without a final status.
    NoResult,
    /// No final REFER response within `response_timeout`, the transaction timed out, or no
    /// final NOTIFY within `max_wait` of sending the REFER.
    Timeout,
}

/// Where a transfer stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReferState {
    /// REFER sent, no final response and no NOTIFY yet.
    Sent,
    /// REFER accepted (2xx, or a NOTIFY arrived first), no progress reported yet.
    Accepted,
    /// The last NOTIFY reported this provisional status (100, 180, 183).
    Progress(u16),
    /// The trunk reported a 2xx from the partner (or, without a subscription, the grace
    /// period after the 2xx to the REFER passed; see [`ReferTransfer::is_confirmed`]).
    Succeeded,
    /// The transfer failed; fall back.
    Failed(ReferFailure),
}

/// Tunables of one transfer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReferConfig {
    /// How long to wait for a final response to the REFER (default 32 s = 64·T1, Timer F).
    pub response_timeout: Duration,
    /// How long, from sending the REFER, to wait for the final NOTIFY (default 60 s). This is
    /// the longest a caller waits before the fallback starts.
    pub max_wait: Duration,
    /// Ask for no subscription (RFC 4488): send `Refer-Sub: false` and `Supported: norefersub`.
    /// Only for trunks trusted to complete a transfer they accepted (default false).
    pub no_subscription: bool,
    /// With `no_subscription`, when the 2xx to the REFER confirms it (`Refer-Sub: false`), the
    /// transfer is reported [`ReferState::Succeeded`] (unconfirmed) this long after the 2xx
    /// (default 2 s).
    pub no_subscription_grace: Duration,
}

impl Default for ReferConfig {
    fn default() -> Self {
        ReferConfig {
            response_timeout: Duration::from_secs(32),
            max_wait: Duration::from_secs(60),
            no_subscription: false,
            no_subscription_grace: Duration::from_secs(2),
        }
    }
}

/// The answer the driver sends to a NOTIFY passed to [`ReferTransfer::on_notify`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotifyAnswer {
    /// Status code: 200, 400 (malformed NOTIFY or sipfrag), 415 (not message/sipfrag), 481
    /// (not this subscription), 489 (another event package).
    pub code: u16,
    /// Reason phrase.
    pub reason: &'static str,
    /// Whether [`ReferTransfer::state`] changed.
    pub changed: bool,
}

impl NotifyAnswer {
    fn new(code: u16, reason: &'static str) -> Self {
        NotifyAnswer {
            code,
            reason,
            changed: false,
        }
    }

    /// The response to send for `notify` (an `Accept: message/sipfrag` is added to a 415).
    pub fn response(&self, notify: &Request) -> Response {
        let mut resp = message::response(notify, self.code, self.reason, None);
        if self.code == 415 {
            resp.headers
                .push(message::make_header("Accept", "message/sipfrag"));
        }
        resp
    }
}

/// One REFER transfer in an existing dialog (Senim as transferor). See the module docs.
#[derive(Clone, Debug)]
pub struct ReferTransfer {
    config: ReferConfig,
    state: ReferState,
    call_id: String,
    cseq: u32,
    /// A final response to the REFER was seen.
    answered: bool,
    /// The REFER was accepted with `Refer-Sub: false`: no NOTIFY will come.
    no_subscription: bool,
    /// Succeeded on a sipfrag 2xx (false while not succeeded or when assumed after the grace).
    confirmed: bool,
    response_deadline: Option<Instant>,
    final_deadline: Option<Instant>,
    grace_deadline: Option<Instant>,
}

impl ReferTransfer {
    /// Start a transfer with the default [`ReferConfig`]: builds the REFER (CSeq incremented in
    /// `dialog`) with `Refer-To` and, if given, `Referred-By`. Send it in a new client
    /// transaction to the dialog's next hop.
    pub fn new(
        dialog: &mut Dialog,
        refer_to_uri: &Uri,
        referred_by_uri: Option<&Uri>,
        via: SocketAddr,
        transport: Transport,
        now: Instant,
    ) -> (ReferTransfer, Request) {
        Self::with_config(
            dialog,
            refer_to_uri,
            referred_by_uri,
            via,
            transport,
            now,
            ReferConfig::default(),
        )
    }

    /// [`ReferTransfer::new`] with explicit tunables.
    pub fn with_config(
        dialog: &mut Dialog,
        refer_to_uri: &Uri,
        referred_by_uri: Option<&Uri>,
        via: SocketAddr,
        transport: Transport,
        now: Instant,
        config: ReferConfig,
    ) -> (ReferTransfer, Request) {
        let mut request = dialog.make_request(Method::Refer, via, transport);
        request
            .headers
            .push(message::make_header("Refer-To", &refer_to(refer_to_uri)));
        if let Some(by) = referred_by_uri {
            request
                .headers
                .push(message::make_header("Referred-By", &referred_by(by)));
        }
        if config.no_subscription {
            request
                .headers
                .push(message::make_header("Refer-Sub", "false"));
            request
                .headers
                .push(message::make_header("Supported", "norefersub"));
        }
        let transfer = ReferTransfer {
            config,
            state: ReferState::Sent,
            call_id: dialog.id.call_id.clone(),
            cseq: dialog.local_cseq,
            answered: false,
            no_subscription: false,
            confirmed: false,
            response_deadline: now.checked_add(config.response_timeout),
            final_deadline: now.checked_add(config.max_wait),
            grace_deadline: None,
        };
        (transfer, request)
    }

    /// The current state.
    pub fn state(&self) -> ReferState {
        self.state
    }

    /// True once the state is [`ReferState::Succeeded`] or [`ReferState::Failed`]; it never
    /// changes after that.
    pub fn is_done(&self) -> bool {
        matches!(self.state, ReferState::Succeeded | ReferState::Failed(_))
    }

    /// True if the success was reported by a sipfrag 2xx, false if it was assumed after the
    /// `Refer-Sub: false` grace period (or the transfer has not succeeded).
    pub fn is_confirmed(&self) -> bool {
        self.confirmed
    }

    /// True if the trunk accepted the REFER without a subscription (`Refer-Sub: false`).
    pub fn without_subscription(&self) -> bool {
        self.no_subscription
    }

    /// CSeq number of the REFER (the `id` parameter of the NOTIFYs' Event header).
    pub fn cseq(&self) -> u32 {
        self.cseq
    }

    fn fail(&mut self, why: ReferFailure) {
        self.state = ReferState::Failed(why);
    }

    /// A response for the REFER. Returns false (and changes nothing) if it is not a response
    /// to this REFER (Call-ID, CSeq number and method). 1xx are ignored; 2xx (202 or 200) →
    /// [`ReferState::Accepted`] (if no NOTIFY came first); 3xx-6xx before any 2xx →
    /// [`ReferFailure::Refused`].
    pub fn on_response(&mut self, response: &Response, now: Instant) -> bool {
        let ours = message::call_id(response).as_deref() == Some(self.call_id.as_str())
            && message::cseq(response).is_some_and(|(n, m)| n == self.cseq && m == Method::Refer);
        if !ours {
            return false;
        }
        let code = response.status_code.code();
        if code < 200 || self.is_done() || self.answered {
            return true;
        }
        self.answered = true;
        self.response_deadline = None;
        if code >= 300 {
            self.fail(ReferFailure::Refused(code));
            return true;
        }
        let refer_sub_false = message::header_value(response, "Refer-Sub")
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("false"));
        if self.config.no_subscription && refer_sub_false {
            self.no_subscription = true;
            self.final_deadline = None;
            self.grace_deadline = Some(
                now.checked_add(self.config.no_subscription_grace)
                    .unwrap_or(now),
            );
        }
        if self.state == ReferState::Sent {
            self.state = ReferState::Accepted;
        }
        true
    }

    /// The REFER's client transaction timed out (Timer F, or a transport error):
    /// [`ReferFailure::Timeout`] unless already answered or done.
    pub fn on_transaction_timeout(&mut self) {
        if !self.is_done() && !self.answered {
            self.fail(ReferFailure::Timeout);
        }
    }

    /// An in-dialog NOTIFY (the driver has already run [`Dialog::on_request`] on it, which
    /// answers 481/500 for other dialogs and stale CSeqs). Returns the answer to send and
    /// whether the state changed:
    ///
    /// * not NOTIFY or no/malformed Event → 400; Event package not `refer` → 489; other
    ///   Call-ID, `id` not this REFER's CSeq, or no subscription (refused, timed out, accepted
    ///   with `Refer-Sub: false`) → 481. No state change.
    /// * a body that is not message/sipfrag → 415; a sipfrag without a status line → 400. The
    ///   body is ignored; if the NOTIFY also terminates the subscription the transfer ends
    ///   with [`ReferFailure::NoResult`] (no further NOTIFY can come), else nothing changes.
    /// * otherwise 200 and: sipfrag 1xx → [`ReferState::Progress`]; 2xx →
    ///   [`ReferState::Succeeded`]; 3xx-6xx → [`ReferFailure::TargetFailed`];
    ///   `Subscription-State: terminated` without a final status → [`ReferFailure::NoResult`].
    ///   A NOTIFY before the 2xx to the REFER counts as acceptance.
    /// * after the transfer ended on a NOTIFY (late or repeated NOTIFYs): 200, no change.
    pub fn on_notify(&mut self, request: &Request, _now: Instant) -> NotifyAnswer {
        if request.method != Method::Notify {
            return NotifyAnswer::new(400, "Not a NOTIFY");
        }
        if message::call_id(request).as_deref() != Some(self.call_id.as_str()) {
            return NotifyAnswer::new(481, "Subscription Does Not Exist");
        }
        let Some(event) = message::header_value(request, "Event") else {
            return NotifyAnswer::new(400, "Missing Event");
        };
        let Some((package, id)) = parse_event(event) else {
            return NotifyAnswer::new(400, "Malformed Event");
        };
        if package != "refer" {
            return NotifyAnswer::new(489, "Bad Event");
        }
        if let Some(id) = id {
            if id.trim().parse::<u32>().ok() != Some(self.cseq) {
                return NotifyAnswer::new(481, "Subscription Does Not Exist");
            }
        }
        match self.state {
            ReferState::Failed(ReferFailure::Refused(_) | ReferFailure::Timeout) => {
                return NotifyAnswer::new(481, "Subscription Does Not Exist");
            }
            ReferState::Succeeded | ReferState::Failed(_) => {
                return NotifyAnswer::new(200, "OK");
            }
            _ if self.no_subscription => {
                return NotifyAnswer::new(481, "Subscription Does Not Exist");
            }
            _ => {}
        }
        let sub = message::header_value(request, "Subscription-State")
            .map(parse_subscription_state)
            .unwrap_or(SubscriptionState {
                state: SubState::Active,
                expires: None,
            });
        let before = self.state;
        let body = self.sipfrag_of(request);
        let answer = match body {
            Err(answer) => {
                if sub.is_terminated() {
                    self.fail(ReferFailure::NoResult);
                }
                answer
            }
            Ok(code) => {
                if self.state == ReferState::Sent {
                    self.state = ReferState::Accepted;
                }
                match code {
                    Some(200..=299) => {
                        self.state = ReferState::Succeeded;
                        self.confirmed = true;
                    }
                    Some(c @ 300..=699) => self.fail(ReferFailure::TargetFailed(c)),
                    _ if sub.is_terminated() => self.fail(ReferFailure::NoResult),
                    Some(c) => self.state = ReferState::Progress(c),
                    None => {}
                }
                NotifyAnswer::new(200, "OK")
            }
        };
        NotifyAnswer {
            changed: self.state != before,
            ..answer
        }
    }

    /// The sipfrag status code of a NOTIFY body: `Ok(None)` for an empty body, `Err(answer)`
    /// for a wrong Content-Type (415) or a malformed sipfrag (400).
    fn sipfrag_of(&self, request: &Request) -> Result<Option<u16>, NotifyAnswer> {
        if request.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        let media = message::header_value(request, "Content-Type")
            .and_then(|ct| ct.split(';').next())
            .map(str::trim)
            .unwrap_or_default();
        if !media.eq_ignore_ascii_case("message/sipfrag") {
            return Err(NotifyAnswer::new(415, "Unsupported Media Type"));
        }
        parse_sipfrag(&request.body)
            .map(Some)
            .map_err(|_| NotifyAnswer::new(400, "Bad sipfrag"))
    }

    /// Deadlines: no final response to the REFER by `response_timeout` → Timeout; no final
    /// NOTIFY by `max_wait` after the REFER → Timeout; with `Refer-Sub: false`, the grace
    /// period over → Succeeded (unconfirmed).
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.is_done() {
            return;
        }
        if let Some(grace) = self.grace_deadline {
            if now >= grace {
                self.grace_deadline = None;
                self.state = ReferState::Succeeded;
                return;
            }
        }
        let due = |d: Option<Instant>| d.is_some_and(|d| now >= d);
        if (!self.answered && due(self.response_deadline)) || due(self.final_deadline) {
            self.fail(ReferFailure::Timeout);
        }
    }

    /// The next deadline, `None` when done.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.is_done() {
            return None;
        }
        let response = if self.answered {
            None
        } else {
            self.response_deadline
        };
        [response, self.final_deadline, self.grace_deadline]
            .into_iter()
            .flatten()
            .min()
    }
}
