//! The project's wrapper around `rsip`: parsing, framing, building and printing SIP messages.
//!
//! rsip 0.4 is used for the message *types* (`rsip::Request`, `rsip::Response`, `rsip::Header`,
//! `rsip::Uri`, ...). Its parser and printer have gaps (see `docs/sip.md`), so this module does
//! the wire work itself:
//!
//! * [`parse`] unfolds continuation lines, expands compact header names, splits comma-separated
//!   Via/Route/Record-Route/Contact values into one header each, normalises the whitespace of
//!   Via/From/To/Contact/Route/CSeq values, cuts the body by Content-Length, checks the
//!   mandatory headers and builds the rsip structs directly (rsip's own tokenizer is not used
//!   for headers or URIs: it mis-parses users with dots and IPv6 hosts).
//! * [`to_bytes`] prints messages with real reason phrases, bracketed IPv6 hosts, raw (binary
//!   safe) bodies and a Content-Length that always matches the body.
//!
//! A later parser swap should only touch this module.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use bytes::Bytes;
use rand::distributions::Alphanumeric;
use rand::Rng;
use rsip::headers::UntypedHeader;
use rsip::message::HasHeaders;
use rsip::{Header, Headers, Method, Request, Response, SipMessage, StatusCode, Uri};

/// Largest message head (start line + headers) accepted, in bytes.
pub const MAX_HEAD: usize = 64 * 1024;
/// Largest body accepted on a stream transport, in bytes.
pub const MAX_BODY: usize = 1024 * 1024;

/// The transport a message came in on or goes out on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transport {
    /// Unreliable datagrams: the transaction layer retransmits.
    Udp,
    /// A reliable stream: no retransmissions, framing by Content-Length.
    Tcp,
}

impl Transport {
    /// The Via sent-protocol transport token ("UDP", "TCP").
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
        }
    }

    /// True for stream transports, where RFC 3261 timers A, E, G are not used and D, I, J, K are zero.
    pub fn is_reliable(self) -> bool {
        matches!(self, Transport::Tcp)
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The remote end of a message: transport plus socket address (for TCP, it names the connection).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Peer {
    /// Transport of the message.
    pub transport: Transport,
    /// Remote address (source of a received message, destination of a sent one).
    pub addr: SocketAddr,
}

impl Peer {
    /// A UDP peer.
    pub fn udp(addr: SocketAddr) -> Self {
        Peer {
            transport: Transport::Udp,
            addr,
        }
    }

    /// A TCP peer (the connection to or from `addr`).
    pub fn tcp(addr: SocketAddr) -> Self {
        Peer {
            transport: Transport::Tcp,
            addr,
        }
    }
}

/// Why a datagram or frame could not be turned into a SIP message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The input was empty or only CR/LF keep-alive bytes.
    #[error("empty message (keep-alive)")]
    Empty,
    /// The message head is larger than [`MAX_HEAD`].
    #[error("message head larger than {0} bytes")]
    TooLarge(usize),
    /// The request or status line is malformed.
    #[error("malformed start line: {0}")]
    StartLine(String),
    /// The SIP version is not SIP/2.0 (answer 505).
    #[error("unsupported SIP version: {0}")]
    Version(String),
    /// The Request-URI is malformed or not allowed (e.g. carries headers).
    #[error("bad Request-URI: {0}")]
    RequestUri(String),
    /// The method is well-formed but unknown to rsip's closed `Method` enum (answer 501).
    #[error("method not implemented: {0}")]
    UnknownMethod(String),
    /// A header line has no colon or an invalid name, or a continuation line has nothing to continue.
    #[error("malformed header line: {0}")]
    HeaderLine(String),
    /// A mandatory header (Via, From, To, Call-ID, CSeq) is missing.
    #[error("missing {0} header")]
    Missing(&'static str),
    /// A header that must appear once appears more than once.
    #[error("more than one {0} header")]
    Duplicate(&'static str),
    /// A header value does not follow its grammar.
    #[error("malformed {name} header: {detail}")]
    BadHeader {
        /// Canonical header name.
        name: &'static str,
        /// What is wrong with it.
        detail: String,
    },
    /// The CSeq method differs from the request method.
    #[error("CSeq method {cseq} does not match request method {method}")]
    CSeqMismatch {
        /// Method of the request line.
        method: String,
        /// Method in the CSeq header.
        cseq: String,
    },
    /// Content-Length is not a non-negative number, too large, or given twice with different values.
    #[error("bad Content-Length: {0}")]
    ContentLength(String),
    /// Fewer body bytes arrived than Content-Length announces.
    #[error("body is {actual} bytes but Content-Length says {declared}")]
    BodyTooShort {
        /// Content-Length value.
        declared: usize,
        /// Bytes present after the head.
        actual: usize,
    },
}

impl ParseError {
    /// The status code a UAS answers a request with this error (400, 501 or 505).
    pub fn status_code(&self) -> u16 {
        match self {
            ParseError::UnknownMethod(_) => 501,
            ParseError::Version(_) => 505,
            _ => 400,
        }
    }
}

/// Why a TCP stream cannot be framed (the connection should be closed).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FramingError {
    /// No blank line within [`MAX_HEAD`] bytes.
    #[error("no end of headers within {0} bytes")]
    HeadTooLong(usize),
    /// A stream message must carry Content-Length (RFC 3261 §18.3).
    #[error("Content-Length is required on stream transports")]
    MissingContentLength,
    /// Content-Length is not a number, or given twice with different values.
    #[error("bad Content-Length: {0}")]
    BadContentLength(String),
    /// Content-Length exceeds [`MAX_BODY`].
    #[error("body of {0} bytes exceeds the limit")]
    BodyTooLarge(usize),
}

// ---------------------------------------------------------------------------------------------
// Header names
// ---------------------------------------------------------------------------------------------

macro_rules! header_table {
    ($($variant:ident => $name:literal),* $(,)?) => {
        /// Canonical name and raw value of a header (the name of an `Other` header as received).
        pub fn header_name_value(header: &Header) -> (&str, &str) {
            match header {
                $(Header::$variant(h) => ($name, h.value()),)*
                Header::Other(name, value) => (name.as_str(), value.as_str()),
            }
        }

        /// Build the rsip header for a name (any case; compact forms expanded) and a value.
        pub fn make_header(name: &str, value: &str) -> Header {
            let name = expand_compact(name);
            $(
                if name.eq_ignore_ascii_case($name) {
                    return Header::$variant(rsip::headers::$variant::new(value));
                }
            )*
            Header::Other(name.to_string(), value.to_string())
        }
    };
}

header_table! {
    Accept => "Accept",
    AcceptEncoding => "Accept-Encoding",
    AcceptLanguage => "Accept-Language",
    AlertInfo => "Alert-Info",
    Allow => "Allow",
    AuthenticationInfo => "Authentication-Info",
    Authorization => "Authorization",
    CSeq => "CSeq",
    CallId => "Call-ID",
    CallInfo => "Call-Info",
    Contact => "Contact",
    ContentDisposition => "Content-Disposition",
    ContentEncoding => "Content-Encoding",
    ContentLanguage => "Content-Language",
    ContentLength => "Content-Length",
    ContentType => "Content-Type",
    Date => "Date",
    ErrorInfo => "Error-Info",
    Event => "Event",
    Expires => "Expires",
    From => "From",
    InReplyTo => "In-Reply-To",
    MaxForwards => "Max-Forwards",
    MimeVersion => "MIME-Version",
    MinExpires => "Min-Expires",
    Organization => "Organization",
    Priority => "Priority",
    ProxyAuthenticate => "Proxy-Authenticate",
    ProxyAuthorization => "Proxy-Authorization",
    ProxyRequire => "Proxy-Require",
    RecordRoute => "Record-Route",
    ReplyTo => "Reply-To",
    Require => "Require",
    RetryAfter => "Retry-After",
    Route => "Route",
    Server => "Server",
    Subject => "Subject",
    SubscriptionState => "Subscription-State",
    Supported => "Supported",
    Timestamp => "Timestamp",
    To => "To",
    Unsupported => "Unsupported",
    UserAgent => "User-Agent",
    Via => "Via",
    Warning => "Warning",
    WwwAuthenticate => "WWW-Authenticate",
}

/// Expand a compact header name (RFC 3261 §7.3.3 and later RFCs) to its long form; other names are returned unchanged.
pub fn expand_compact(name: &str) -> &str {
    if name.len() != 1 {
        return name;
    }
    match name.as_bytes().first().map(u8::to_ascii_lowercase) {
        Some(b'v') => "Via",
        Some(b'f') => "From",
        Some(b't') => "To",
        Some(b'i') => "Call-ID",
        Some(b'm') => "Contact",
        Some(b'l') => "Content-Length",
        Some(b'c') => "Content-Type",
        Some(b'k') => "Supported",
        Some(b's') => "Subject",
        Some(b'e') => "Content-Encoding",
        Some(b'o') => "Event",
        Some(b'r') => "Refer-To",
        Some(b'b') => "Referred-By",
        Some(b'x') => "Session-Expires",
        Some(b'u') => "Allow-Events",
        _ => name,
    }
}

/// Standard reason phrase for a status code ("" when unknown).
pub fn reason_phrase(code: u16) -> &'static str {
    match code {
        100 => "Trying",
        180 => "Ringing",
        181 => "Call Is Being Forwarded",
        182 => "Queued",
        183 => "Session Progress",
        199 => "Early Dialog Terminated",
        200 => "OK",
        202 => "Accepted",
        204 => "No Notification",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Moved Temporarily",
        305 => "Use Proxy",
        380 => "Alternative Service",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        410 => "Gone",
        413 => "Request Entity Too Large",
        414 => "Request-URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Unsupported URI Scheme",
        420 => "Bad Extension",
        421 => "Extension Required",
        422 => "Session Interval Too Small",
        423 => "Interval Too Brief",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        482 => "Loop Detected",
        483 => "Too Many Hops",
        484 => "Address Incomplete",
        485 => "Ambiguous",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        489 => "Bad Event",
        491 => "Request Pending",
        493 => "Undecipherable",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Server Time-out",
        505 => "Version Not Supported",
        513 => "Message Too Large",
        600 => "Busy Everywhere",
        603 => "Decline",
        604 => "Does Not Exist Anywhere",
        606 => "Not Acceptable",
        _ => "",
    }
}

/// The rsip status code for `code`: rsip's named variant when the code is known and `reason`
/// is empty or the standard phrase (so `== StatusCode::OK` comparisons work), otherwise
/// `StatusCode::Other(code, reason)` so that the custom phrase goes on the wire.
pub fn status_code(code: u16, reason: &str) -> StatusCode {
    let known = StatusCode::from(code);
    match known {
        StatusCode::Other(..) => StatusCode::Other(code, reason.to_string()),
        named if reason.is_empty() || reason.eq_ignore_ascii_case(reason_phrase(code)) => named,
        _ => StatusCode::Other(code, reason.to_string()),
    }
}

fn status_reason(status: &StatusCode) -> String {
    match status {
        StatusCode::Other(code, reason) => {
            if reason.is_empty() || reason == "Other" {
                reason_phrase(*code).to_string()
            } else {
                reason.clone()
            }
        }
        named => reason_phrase(named.code()).to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// Small lexical helpers
// ---------------------------------------------------------------------------------------------

fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-.!%*_+`'~".contains(c)
}

fn is_token(s: &str) -> bool {
    !s.is_empty() && s.chars().all(is_token_char)
}

/// Index of the closing quote of a quoted string that starts at `s[0] == '"'`.
fn closing_quote(s: &str) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in s.char_indices().skip(1) {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == '"' {
            return Some(i);
        }
    }
    None
}

/// Split a header value at commas that are outside quotes and angle brackets.
pub fn split_commas(value: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut in_quotes = false;
    let mut escaped = false;
    let mut angle = false;
    let mut start = 0;
    for (i, c) in value.char_indices() {
        if in_quotes {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_quotes = false;
            }
            continue;
        }
        match c {
            '"' => in_quotes = true,
            '<' => angle = true,
            '>' => angle = false,
            ',' if !angle => {
                out.push(value[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(value[start..].trim());
    out
}

/// A `;name[=value]` parameter list; names keep their case, values keep quotes.
pub type Params = Vec<(String, Option<String>)>;

/// Parse `;a=b ; c ;d="x y"` (whitespace around `;` and `=` allowed).
pub fn parse_params(input: &str) -> Result<Params, String> {
    let mut out = Vec::new();
    let mut rest = input.trim();
    while !rest.is_empty() {
        rest = rest
            .strip_prefix(';')
            .ok_or_else(|| format!("expected ';' at {rest:?}"))?
            .trim_start();
        let name_end = rest
            .find(|c: char| c == '=' || c == ';' || c.is_whitespace())
            .unwrap_or(rest.len());
        let name = &rest[..name_end];
        if name.is_empty() {
            return Err("empty parameter".into());
        }
        if !name
            .chars()
            .all(|c| is_token_char(c) || c == '[' || c == ']' || c == ':')
        {
            return Err(format!("bad parameter name {name:?}"));
        }
        rest = rest[name_end..].trim_start();
        if let Some(after_eq) = rest.strip_prefix('=') {
            let v = after_eq.trim_start();
            let (value, after) = if v.starts_with('"') {
                let end = closing_quote(v).ok_or("unterminated quoted parameter value")?;
                (&v[..=end], &v[end + 1..])
            } else {
                let end = v
                    .find(|c: char| c == ';' || c.is_whitespace())
                    .unwrap_or(v.len());
                (&v[..end], &v[end..])
            };
            if value.is_empty() {
                return Err(format!("parameter {name} has an empty value"));
            }
            out.push((name.to_string(), Some(value.to_string())));
            rest = after.trim_start();
        } else {
            out.push((name.to_string(), None));
        }
    }
    Ok(out)
}

fn write_params(out: &mut String, params: &Params) {
    for (name, value) in params {
        out.push(';');
        out.push_str(name);
        if let Some(v) = value {
            out.push('=');
            out.push_str(v);
        }
    }
}

fn find_param<'a>(params: &'a Params, name: &str) -> Option<&'a Option<String>> {
    params
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
}

// ---------------------------------------------------------------------------------------------
// Via
// ---------------------------------------------------------------------------------------------

/// One Via value, parsed leniently (LWS anywhere the grammar allows it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ViaInfo {
    /// Protocol name and version, normally "SIP/2.0".
    pub protocol: String,
    /// Transport token as received ("UDP", "TCP", "TLS", "SCTP", ...), upper-cased.
    pub transport: String,
    /// Sent-by host (IPv6 keeps its brackets).
    pub host: String,
    /// Sent-by port, if given.
    pub port: Option<u16>,
    /// Via parameters (branch, received, rport, ...).
    pub params: Params,
}

impl ViaInfo {
    /// Parse one Via value (not a comma-separated list).
    pub fn parse(value: &str) -> Result<ViaInfo, String> {
        let mut parts = value.splitn(3, '/');
        let name = parts.next().unwrap_or("").trim();
        let version = parts.next().unwrap_or("").trim();
        let rest = parts.next().ok_or("missing sent-protocol")?.trim_start();
        if !is_token(name) || !is_token(version) {
            return Err("bad sent-protocol".into());
        }
        let t_end = rest.find(char::is_whitespace).ok_or("missing sent-by")?;
        let transport = &rest[..t_end];
        if !is_token(transport) {
            return Err("bad transport".into());
        }
        let rest = rest[t_end..].trim_start();
        let sb_end = rest.find(';').unwrap_or(rest.len());
        let sent_by = rest[..sb_end].trim();
        let (host, port) = split_host_port(sent_by)?;
        let params = parse_params(&rest[sb_end..])?;
        Ok(ViaInfo {
            protocol: format!("{name}/{version}"),
            transport: transport.to_ascii_uppercase(),
            host: host.to_string(),
            port,
            params,
        })
    }

    /// The branch parameter.
    pub fn branch(&self) -> Option<&str> {
        find_param(&self.params, "branch").and_then(|v| v.as_deref())
    }

    /// The value of a parameter: `None` if absent, `Some(None)` if present without value.
    pub fn param(&self, name: &str) -> Option<Option<&str>> {
        find_param(&self.params, name).map(|v| v.as_deref())
    }

    /// Set (or replace) a parameter.
    pub fn set_param(&mut self, name: &str, value: Option<String>) {
        match self
            .params
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            Some(slot) => slot.1 = value,
            None => self.params.push((name.to_string(), value)),
        }
    }

    /// Sent-by as "host[:port]".
    pub fn sent_by(&self) -> String {
        match self.port {
            Some(p) => format!("{}:{}", self.host, p),
            None => self.host.clone(),
        }
    }

    /// The sent-by host as an IP address, if it is numeric.
    pub fn host_ip(&self) -> Option<IpAddr> {
        self.host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .ok()
    }
}

impl fmt::Display for ViaInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = format!("{}/{} {}", self.protocol, self.transport, self.sent_by());
        write_params(&mut s, &self.params);
        f.write_str(&s)
    }
}

fn split_host_port(s: &str) -> Result<(&str, Option<u16>), String> {
    if s.is_empty() {
        return Err("empty host".into());
    }
    let (host, port) = if s.starts_with('[') {
        let end = s.find(']').ok_or("unterminated IPv6 reference")?;
        let host = &s[..=end];
        let rest = &s[end + 1..];
        match rest.strip_prefix(':') {
            Some(p) => (host, Some(p)),
            None if rest.is_empty() => (host, None),
            None => return Err("junk after IPv6 reference".into()),
        }
    } else {
        match s.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    let host_ok = if host.starts_with('[') {
        host.len() > 2
            && host[1..host.len() - 1]
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
    } else {
        !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_')
    };
    if !host_ok {
        return Err(format!("bad host {host:?}"));
    }
    let port = match port {
        Some(p) => Some(p.parse::<u16>().map_err(|_| format!("bad port {p:?}"))?),
        None => None,
    };
    Ok((host, port))
}

// ---------------------------------------------------------------------------------------------
// name-addr / addr-spec
// ---------------------------------------------------------------------------------------------

/// A From/To/Contact/Route value: optional display name, URI text and header parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NameAddr {
    /// Display name as written (quoted strings keep their quotes).
    pub display: Option<String>,
    /// The URI text (without angle brackets).
    pub uri: String,
    /// Header parameters (tag, expires, lr is a URI param and stays in `uri`...).
    pub params: Params,
}

impl NameAddr {
    /// Parse a name-addr (`"Name" <uri>;p=v`) or addr-spec (`uri;p=v`) value.
    pub fn parse(value: &str) -> Result<NameAddr, String> {
        let s = value.trim();
        let (display, uri, rest) = if s.starts_with('"') {
            let end = closing_quote(s).ok_or("unterminated quoted display name")?;
            let display = &s[..=end];
            let after = s[end + 1..].trim_start();
            let after = after
                .strip_prefix('<')
                .ok_or("expected '<' after the display name")?;
            let close = after.find('>').ok_or("missing '>'")?;
            (Some(display), after[..close].trim(), &after[close + 1..])
        } else if let Some(lt) = s.find('<') {
            let display = s[..lt].trim();
            let after = &s[lt + 1..];
            let close = after.find('>').ok_or("missing '>'")?;
            (
                (!display.is_empty()).then_some(display),
                after[..close].trim(),
                &after[close + 1..],
            )
        } else {
            let end = s.find(';').unwrap_or(s.len());
            let uri = s[..end].trim();
            if uri.contains(['?', ',', '"', '>']) {
                return Err("an addr-spec with '?' or ',' must be enclosed in <>".into());
            }
            (None, uri, &s[end..])
        };
        if uri.is_empty() || uri.contains(char::is_whitespace) {
            return Err(format!("bad URI {uri:?}"));
        }
        let scheme_ok = uri.split_once(':').is_some_and(|(scheme, _)| {
            scheme.starts_with(|c: char| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        });
        if !scheme_ok {
            return Err(format!("URI without scheme: {uri:?}"));
        }
        Ok(NameAddr {
            display: display.map(str::to_string),
            uri: uri.to_string(),
            params: parse_params(rest)?,
        })
    }

    /// A header parameter value (`None` if absent or valueless).
    pub fn param(&self, name: &str) -> Option<&str> {
        find_param(&self.params, name).and_then(|v| v.as_deref())
    }

    /// Set (or replace) a header parameter.
    pub fn set_param(&mut self, name: &str, value: Option<String>) {
        match self
            .params
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            Some(slot) => slot.1 = value,
            None => self.params.push((name.to_string(), value)),
        }
    }

    /// The URI parsed into an rsip [`Uri`].
    pub fn parsed_uri(&self) -> Result<Uri, ParseError> {
        parse_uri(&self.uri)
    }
}

impl fmt::Display for NameAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::new();
        if let Some(d) = &self.display {
            s.push_str(d);
            s.push(' ');
        }
        s.push('<');
        s.push_str(&self.uri);
        s.push('>');
        write_params(&mut s, &self.params);
        f.write_str(&s)
    }
}

// ---------------------------------------------------------------------------------------------
// URIs
// ---------------------------------------------------------------------------------------------

/// Parse a URI into rsip's [`Uri`] with this module's own grammar (rsip 0.4's tokenizer loses
/// users containing dots and cannot read IPv6 references). SIP/SIPS URIs are split into
/// user[:password]@host[:port];params (URI headers after `?` are dropped: rsip cannot hold
/// them); other schemes are kept opaque in the host field.
pub fn parse_uri(text: &str) -> Result<Uri, ParseError> {
    let bad = |why: &str| ParseError::RequestUri(format!("{why}: {text:?}"));
    let (scheme, rest) = text.split_once(':').ok_or_else(|| bad("no scheme"))?;
    if !scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        || !scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    {
        return Err(bad("bad scheme"));
    }
    if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("whitespace in URI"));
    }
    let scheme = if scheme.eq_ignore_ascii_case("sip") {
        rsip::Scheme::Sip
    } else if scheme.eq_ignore_ascii_case("sips") {
        rsip::Scheme::Sips
    } else {
        if rest.is_empty() {
            return Err(bad("empty URI"));
        }
        return Ok(Uri {
            scheme: Some(rsip::Scheme::Other(scheme.to_string())),
            auth: None,
            host_with_port: rsip::HostWithPort {
                host: rsip::Host::Domain(rsip::Domain::from(rest.to_string())),
                port: None,
            },
            params: vec![],
            headers: vec![],
        });
    };
    let (userinfo, hostpart) = match rest.find('@') {
        Some(at) => (Some(&rest[..at]), &rest[at + 1..]),
        None => (None, rest),
    };
    let auth = match userinfo {
        Some("") => return Err(bad("empty user")),
        Some(ui) => Some(match ui.split_once(':') {
            Some((u, p)) => rsip::Auth {
                user: u.to_string(),
                password: Some(p.to_string()),
            },
            None => rsip::Auth {
                user: ui.to_string(),
                password: None,
            },
        }),
        None => None,
    };
    let hostpart = match hostpart.split_once('?') {
        Some((h, _headers)) => h,
        None => hostpart,
    };
    let hp_end = if hostpart.starts_with('[') {
        hostpart
            .find(']')
            .map(|i| {
                i + 1
                    + hostpart[i + 1..]
                        .find(';')
                        .unwrap_or(hostpart.len() - i - 1)
            })
            .ok_or_else(|| bad("unterminated IPv6 reference"))?
    } else {
        hostpart.find(';').unwrap_or(hostpart.len())
    };
    let (host, port) = split_host_port(&hostpart[..hp_end]).map_err(|e| bad(&e))?;
    let host = match host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<IpAddr>()
    {
        Ok(ip) => rsip::Host::IpAddr(ip),
        Err(_) => rsip::Host::Domain(rsip::Domain::from(host.to_string())),
    };
    let mut params = Vec::new();
    for p in hostpart[hp_end..].split(';').skip(1) {
        let (name, value) = match p.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (p, None),
        };
        if name.is_empty() {
            return Err(bad("empty URI parameter"));
        }
        let param = rsip::Param::try_from((name, value)).unwrap_or_else(|_| {
            rsip::Param::Other(name.into(), value.map(rsip::param::OtherParamValue::new))
        });
        params.push(param);
    }
    Ok(Uri {
        scheme: Some(scheme),
        auth,
        host_with_port: rsip::HostWithPort {
            host,
            port: port.map(rsip::Port::from),
        },
        params,
        headers: vec![],
    })
}

/// Print a URI correctly (rsip 0.4 prints `scheme://` for unknown schemes and IPv6 hosts without brackets).
pub fn uri_to_string(uri: &Uri) -> String {
    let mut s = String::new();
    match &uri.scheme {
        Some(rsip::Scheme::Other(scheme)) => {
            s.push_str(scheme);
            s.push(':');
            s.push_str(&uri.host_with_port.host.to_string());
            return s;
        }
        Some(scheme) => {
            s.push_str(&scheme.to_string());
            s.push(':');
        }
        None => s.push_str("sip:"),
    }
    if let Some(auth) = &uri.auth {
        s.push_str(&auth.to_string());
        s.push('@');
    }
    match &uri.host_with_port.host {
        rsip::Host::IpAddr(IpAddr::V6(ip)) => s.push_str(&format!("[{ip}]")),
        host => s.push_str(&host.to_string()),
    }
    if let Some(port) = &uri.host_with_port.port {
        s.push(':');
        s.push_str(&port.to_string());
    }
    for p in &uri.params {
        s.push_str(&p.to_string());
    }
    s
}

// ---------------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------------

/// True if `data` is a non-empty run of CR/LF bytes (a RFC 5626 / RFC 3261 keep-alive).
pub fn is_keepalive(data: &[u8]) -> bool {
    !data.is_empty() && data.iter().all(|b| *b == b'\r' || *b == b'\n')
}

/// Position of the end of the head: (end of the last header line, start of the body).
/// Accepts CRLF CRLF and, leniently, LF LF / LF CRLF.
fn find_head_end(b: &[u8]) -> Option<(usize, usize)> {
    for (i, c) in b.iter().enumerate() {
        if *c != b'\n' {
            continue;
        }
        match (b.get(i + 1), b.get(i + 2)) {
            (Some(b'\n'), _) => return Some((i + 1, i + 2)),
            (Some(b'\r'), Some(b'\n')) => return Some((i + 1, i + 3)),
            _ => {}
        }
    }
    None
}

/// Split a head into the start line and unfolded header lines.
fn logical_lines(head: &str) -> Result<(String, Vec<String>), ParseError> {
    let mut lines = head.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let start = lines.next().unwrap_or("").to_string();
    let mut headers: Vec<String> = Vec::new();
    for line in lines {
        if line.is_empty() {
            continue;
        }
        if line.starts_with([' ', '\t']) {
            match headers.last_mut() {
                Some(last) => {
                    last.push(' ');
                    last.push_str(line.trim());
                }
                None => {
                    return Err(ParseError::HeaderLine(
                        "continuation line after the start line".into(),
                    ))
                }
            }
        } else {
            headers.push(line.to_string());
        }
    }
    Ok((start, headers))
}

enum StartLine {
    Request { method: String, uri: String },
    Response { code: u16, reason: String },
}

fn parse_start_line(line: &str) -> Result<StartLine, ParseError> {
    let bad = || ParseError::StartLine(truncate(line, 120));
    if starts_with_ci(line, "SIP/") {
        let (version, rest) = line.split_once(' ').ok_or_else(bad)?;
        if !version.eq_ignore_ascii_case("SIP/2.0") {
            return Err(ParseError::Version(truncate(version, 40)));
        }
        let code = rest.get(..3).ok_or_else(bad)?;
        let after = rest.get(3..).ok_or_else(bad)?;
        if !code.bytes().all(|b| b.is_ascii_digit())
            || !(after.is_empty() || after.starts_with(' '))
        {
            return Err(bad());
        }
        let code: u16 = code.parse().map_err(|_| bad())?;
        if !(100..=699).contains(&code) {
            return Err(bad());
        }
        return Ok(StartLine::Response {
            code,
            reason: after.trim().to_string(),
        });
    }
    let parts: Vec<&str> = line.split(' ').collect();
    let [method, uri, version] = parts.as_slice() else {
        return Err(bad());
    };
    let (method, uri, version) = (*method, *uri, *version);
    if uri.is_empty() {
        return Err(bad());
    }
    if !is_token(method) {
        return Err(bad());
    }
    if !version.eq_ignore_ascii_case("SIP/2.0") {
        if starts_with_ci(version, "SIP/") {
            return Err(ParseError::Version(truncate(version, 40)));
        }
        return Err(bad());
    }
    Ok(StartLine::Request {
        method: method.to_string(),
        uri: uri.to_string(),
    })
}

/// ASCII case-insensitive prefix test that never slices inside a UTF-8 character.
fn starts_with_ci(s: &str, prefix: &str) -> bool {
    s.as_bytes()
        .get(..prefix.len())
        .is_some_and(|b| b.eq_ignore_ascii_case(prefix.as_bytes()))
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// rsip's method for a token (case-sensitive, as RFC 3261 requires).
pub fn method_from_str(s: &str) -> Option<Method> {
    Method::all().into_iter().find(|m| m.to_string() == s)
}

fn parse_cseq_value(value: &str) -> Result<(u32, String), String> {
    let mut parts = value.split_whitespace();
    let num = parts.next().ok_or("empty CSeq")?;
    let method = parts.next().ok_or("CSeq without method")?;
    if parts.next().is_some() {
        return Err("junk after CSeq method".into());
    }
    if !num.bytes().all(|b| b.is_ascii_digit()) || !is_token(method) {
        return Err("bad CSeq".into());
    }
    let num = num.trim_start_matches('0');
    let n: u64 = if num.is_empty() {
        0
    } else if num.len() > 10 {
        return Err("CSeq number too large".into());
    } else {
        num.parse().map_err(|_| "bad CSeq number")?
    };
    // RFC 3261 §8.1.1.5: the sequence number MUST be less than 2**31.
    if n >= 1 << 31 {
        return Err("CSeq number too large".into());
    }
    Ok((n as u32, method.to_string()))
}

fn parse_small_number(value: &str, max: u64) -> Option<u64> {
    let v = value.trim();
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let v = v.trim_start_matches('0');
    if v.is_empty() {
        return Some(0);
    }
    if v.len() > 19 {
        return None;
    }
    v.parse::<u64>().ok().filter(|n| *n <= max)
}

/// Parse one UDP datagram or one TCP frame into an rsip message.
///
/// Leading CR/LF bytes are skipped (an input of only CR/LF is [`ParseError::Empty`]). Compact
/// header names (`v f t i m l c k s e o r b x u`) are expanded, folded lines are unfolded,
/// comma-separated Via/Route/Record-Route/Contact values become one header each, and the
/// values of Via, From, To, Contact, Route, Record-Route, CSeq and Max-Forwards are checked and
/// normalised. Requests and responses need exactly one From, To, Call-ID and CSeq and at least
/// one Via; a request's CSeq method must equal its method. The body is cut at Content-Length
/// (an error if fewer bytes are present; without Content-Length the rest of the datagram is the
/// body, as RFC 3261 §18.3 allows for UDP); the message then carries one Content-Length header
/// with the body's length.
///
/// Choice: a request whose top Via has no branch (RFC 2543 peers) is accepted; the transaction
/// layer then matches it with the RFC 2543 fallback key.
pub fn parse(bytes: &[u8]) -> Result<SipMessage, ParseError> {
    let start = bytes
        .iter()
        .position(|b| *b != b'\r' && *b != b'\n')
        .ok_or(ParseError::Empty)?;
    let data = &bytes[start..];
    let (head_end, body_start) = match find_head_end(data) {
        Some(x) => x,
        None => (data.len(), data.len()),
    };
    if head_end > MAX_HEAD {
        return Err(ParseError::TooLarge(MAX_HEAD));
    }
    let head = String::from_utf8_lossy(&data[..head_end]);
    let rest = &data[body_start..];
    let (start_line, lines) = logical_lines(&head)?;
    let start_line = parse_start_line(&start_line)?;

    let mut headers: Vec<Header> = Vec::with_capacity(lines.len() + 1);
    let mut content_length: Option<usize> = None;
    let (mut n_from, mut n_to, mut n_call_id, mut n_cseq, mut n_via) = (0, 0, 0, 0, 0);
    let mut cseq: Option<(u32, String)> = None;
    for line in &lines {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| ParseError::HeaderLine(truncate(line, 80)))?;
        let name = name.trim_matches([' ', '\t']);
        if !is_token(name) {
            return Err(ParseError::HeaderLine(truncate(line, 80)));
        }
        let name = expand_compact(name);
        let value = value.trim();
        let is = |n: &str| name.eq_ignore_ascii_case(n);
        if is("Via") {
            for v in split_commas(value) {
                let via = ViaInfo::parse(v).map_err(|detail| ParseError::BadHeader {
                    name: "Via",
                    detail,
                })?;
                headers.push(Header::Via(rsip::headers::Via::new(via.to_string())));
                n_via += 1;
            }
        } else if is("Route") || is("Record-Route") || (is("Contact") && value != "*") {
            let canonical: &'static str = if is("Route") {
                "Route"
            } else if is("Record-Route") {
                "Record-Route"
            } else {
                "Contact"
            };
            for v in split_commas(value) {
                let na = NameAddr::parse(v).map_err(|detail| ParseError::BadHeader {
                    name: canonical,
                    detail,
                })?;
                headers.push(make_header(canonical, &na.to_string()));
            }
        } else if is("From") || is("To") {
            let canonical = if is("From") { "From" } else { "To" };
            let na = NameAddr::parse(value).map_err(|detail| ParseError::BadHeader {
                name: canonical,
                detail,
            })?;
            if canonical == "From" {
                n_from += 1;
            } else {
                n_to += 1;
            }
            headers.push(make_header(canonical, &na.to_string()));
        } else if is("Call-ID") {
            if value.is_empty() || value.contains(char::is_whitespace) {
                return Err(ParseError::BadHeader {
                    name: "Call-ID",
                    detail: "empty or contains whitespace".into(),
                });
            }
            n_call_id += 1;
            headers.push(make_header("Call-ID", value));
        } else if is("CSeq") {
            let (n, m) = parse_cseq_value(value).map_err(|detail| ParseError::BadHeader {
                name: "CSeq",
                detail,
            })?;
            n_cseq += 1;
            headers.push(make_header("CSeq", &format!("{n} {m}")));
            cseq = Some((n, m));
        } else if is("Max-Forwards") {
            let n = parse_small_number(value, 255).ok_or_else(|| ParseError::BadHeader {
                name: "Max-Forwards",
                detail: "not a number between 0 and 255".into(),
            })?;
            headers.push(make_header("Max-Forwards", &n.to_string()));
        } else if is("Content-Length") {
            let n = parse_small_number(value, u32::MAX as u64)
                .ok_or_else(|| ParseError::ContentLength(truncate(value, 40)))?
                as usize;
            if content_length.is_some_and(|old| old != n) {
                return Err(ParseError::ContentLength("several different values".into()));
            }
            content_length = Some(n);
        } else {
            headers.push(make_header(name, value));
        }
    }

    for (count, name) in [
        (n_from, "From"),
        (n_to, "To"),
        (n_call_id, "Call-ID"),
        (n_cseq, "CSeq"),
    ] {
        match count {
            0 => return Err(ParseError::Missing(name)),
            1 => {}
            _ => return Err(ParseError::Duplicate(name)),
        }
    }
    if n_via == 0 {
        return Err(ParseError::Missing("Via"));
    }
    let (_, cseq_method) = cseq.ok_or(ParseError::Missing("CSeq"))?;
    let body = match content_length {
        Some(cl) if rest.len() < cl => {
            return Err(ParseError::BodyTooShort {
                declared: cl,
                actual: rest.len(),
            })
        }
        Some(cl) => &rest[..cl],
        None => rest,
    };
    headers.push(make_header("Content-Length", &body.len().to_string()));

    match start_line {
        StartLine::Request { method, uri } => {
            if cseq_method != method {
                return Err(ParseError::CSeqMismatch {
                    method,
                    cseq: cseq_method,
                });
            }
            let rsip_method = method_from_str(&method).ok_or(ParseError::UnknownMethod(method))?;
            if uri.starts_with('<') {
                return Err(ParseError::RequestUri("enclosed in <>".into()));
            }
            let parsed = parse_uri(&uri)?;
            if matches!(parsed.scheme, Some(rsip::Scheme::Sip | rsip::Scheme::Sips)) {
                let after_at = uri.rsplit('@').next().unwrap_or("");
                if after_at.contains('?') {
                    return Err(ParseError::RequestUri(
                        "headers are not allowed in a Request-URI".into(),
                    ));
                }
            }
            Ok(SipMessage::Request(Request {
                method: rsip_method,
                uri: parsed,
                version: rsip::Version::V2,
                headers: Headers::from(headers),
                body: body.to_vec(),
            }))
        }
        StartLine::Response { code, reason } => {
            if method_from_str(&cseq_method).is_none() {
                return Err(ParseError::BadHeader {
                    name: "CSeq",
                    detail: format!("unknown method {cseq_method}"),
                });
            }
            // Received responses use rsip's named variant whenever the code is known (so
            // comparisons with `StatusCode::BusyHere` work); the phrase is kept for others.
            let status_code = match StatusCode::from(code) {
                StatusCode::Other(..) => StatusCode::Other(code, reason),
                named => named,
            };
            Ok(SipMessage::Response(Response {
                status_code,
                version: rsip::Version::V2,
                headers: Headers::from(headers),
                body: body.to_vec(),
            }))
        }
    }
}

/// TCP framing. `Ok(Some(n))`: `buf` starts with one complete frame of `n` bytes — either a
/// keep-alive (a run of CR/LF bytes, check with [`is_keepalive`] and discard it; answer a
/// double-CRLF ping with a single CRLF pong per RFC 5626 if you like) or a whole message (head,
/// blank line and Content-Length bytes of body). `Ok(None)`: more bytes are needed.
/// `Err`: the stream cannot be framed (no blank line within [`MAX_HEAD`], missing or bad
/// Content-Length, body over [`MAX_BODY`]); close the connection.
pub fn frame_len(buf: &[u8]) -> Result<Option<usize>, FramingError> {
    let ws = buf
        .iter()
        .take_while(|b| **b == b'\r' || **b == b'\n')
        .count();
    if ws > 0 {
        // A lone trailing CR may be the first half of a CRLF: wait for its LF.
        if ws == buf.len() && buf.last() == Some(&b'\r') {
            return Ok(if ws > 1 { Some(ws - 1) } else { None });
        }
        return Ok(Some(ws));
    }
    let search = &buf[..buf.len().min(MAX_HEAD + 4)];
    let head_end = match search.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(p) => p,
        None if buf.len() > MAX_HEAD => return Err(FramingError::HeadTooLong(MAX_HEAD)),
        None => return Ok(None),
    };
    let head = String::from_utf8_lossy(&buf[..head_end]);
    let (_, lines) = logical_lines(&head).map_err(|_| FramingError::MissingContentLength)?;
    let mut cl: Option<usize> = None;
    for line in &lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        if !expand_compact(name.trim()).eq_ignore_ascii_case("Content-Length") {
            continue;
        }
        let n = parse_small_number(value, u32::MAX as u64)
            .ok_or_else(|| FramingError::BadContentLength(truncate(value.trim(), 40)))?
            as usize;
        if cl.is_some_and(|old| old != n) {
            return Err(FramingError::BadContentLength(
                "several different values".into(),
            ));
        }
        cl = Some(n);
    }
    let cl = cl.ok_or(FramingError::MissingContentLength)?;
    if cl > MAX_BODY {
        return Err(FramingError::BodyTooLarge(cl));
    }
    let total = head_end + 4 + cl;
    Ok((buf.len() >= total).then_some(total))
}

/// A 400 Bad Request for bytes that failed [`parse`]; see [`error_response_for_raw`].
pub fn bad_request_for_raw(bytes: &[u8], why: &str) -> Option<Bytes> {
    error_response_for_raw(bytes, 400, why)
}

/// A stateless error response (400, 501, 505...) for bytes that failed [`parse`], or `None`
/// (drop) when the bytes do not look like a request other than ACK, or lack any of Via, From,
/// To, Call-ID, CSeq. Header lines are scanned leniently (compact names, folding); the response
/// echoes all Via values, From, To (with a fresh tag if it has none), Call-ID and CSeq, and
/// carries a `Warning: 399 senim "<why>"` header.
pub fn error_response_for_raw(bytes: &[u8], code: u16, why: &str) -> Option<Bytes> {
    let start = bytes.iter().position(|b| *b != b'\r' && *b != b'\n')?;
    let data = &bytes[start..];
    let head_end = find_head_end(data).map_or(data.len(), |(e, _)| e);
    let head = String::from_utf8_lossy(&data[..head_end.min(MAX_HEAD)]);
    let (start_line, lines) = logical_lines(&head).ok()?;
    let method = start_line.split(' ').next()?;
    if starts_with_ci(method, "SIP/") {
        return None;
    }
    if !is_token(method) || method == "ACK" || start_line.split(' ').count() < 2 {
        return None;
    }
    let mut vias = Vec::new();
    let (mut from, mut to, mut call_id, mut cseq) = (None, None, None, None);
    for line in &lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let name = expand_compact(name.trim());
        let value = value.trim();
        if value.is_empty() || value.contains(['\r', '\n']) {
            continue;
        }
        if name.eq_ignore_ascii_case("Via") {
            vias.push(value.to_string());
        } else if name.eq_ignore_ascii_case("From") {
            from.get_or_insert_with(|| value.to_string());
        } else if name.eq_ignore_ascii_case("To") {
            to.get_or_insert_with(|| value.to_string());
        } else if name.eq_ignore_ascii_case("Call-ID") {
            call_id.get_or_insert_with(|| value.to_string());
        } else if name.eq_ignore_ascii_case("CSeq") {
            cseq.get_or_insert_with(|| value.to_string());
        }
    }
    let (from, mut to, call_id, cseq) = (from?, to?, call_id?, cseq?);
    if vias.is_empty() {
        return None;
    }
    if !to.to_ascii_lowercase().contains("tag=") {
        to.push_str(";tag=");
        to.push_str(&new_tag());
    }
    let reason = match reason_phrase(code) {
        "" => "Error",
        r => r,
    };
    let warning: String = why
        .chars()
        .take(200)
        .map(|c| {
            if c == '"' || c == '\\' || c.is_control() {
                ' '
            } else {
                c
            }
        })
        .collect();
    let mut out = format!("SIP/2.0 {code} {reason}\r\n");
    for v in vias {
        out.push_str(&format!("Via: {v}\r\n"));
    }
    out.push_str(&format!(
        "From: {from}\r\nTo: {to}\r\nCall-ID: {call_id}\r\nCSeq: {cseq}\r\n"
    ));
    if code == 501 || code == 405 {
        out.push_str(&format!("Allow: {ALLOW}\r\n"));
    }
    out.push_str(&format!(
        "Warning: 399 senim \"{warning}\"\r\nContent-Length: 0\r\n\r\n"
    ));
    Some(Bytes::from(out))
}

/// Methods Senim understands (for Allow headers).
pub const ALLOW: &str = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, REFER, NOTIFY";

// ---------------------------------------------------------------------------------------------
// Building
// ---------------------------------------------------------------------------------------------

/// Body access common to [`Request`], [`Response`] and [`SipMessage`].
pub trait Message: HasHeaders {
    /// The body bytes.
    fn body_bytes(&self) -> &[u8];
    /// Mutable body.
    fn body_vec_mut(&mut self) -> &mut Vec<u8>;
}

impl Message for Request {
    fn body_bytes(&self) -> &[u8] {
        &self.body
    }
    fn body_vec_mut(&mut self) -> &mut Vec<u8> {
        &mut self.body
    }
}

impl Message for Response {
    fn body_bytes(&self) -> &[u8] {
        &self.body
    }
    fn body_vec_mut(&mut self) -> &mut Vec<u8> {
        &mut self.body
    }
}

impl Message for SipMessage {
    fn body_bytes(&self) -> &[u8] {
        self.body()
    }
    fn body_vec_mut(&mut self) -> &mut Vec<u8> {
        self.body_mut()
    }
}

/// Build a response to `req`: all Via values, From, To (with `to_tag` added if given and To
/// has no tag), Call-ID, CSeq, and — for 101..=299 responses to INVITE, which may establish a
/// dialog (RFC 3261 §12.1.1) — the Record-Route headers; then `Content-Length: 0`.
/// `reason` is used on the wire when it differs from the standard phrase (see [`status_code`]).
pub fn response(req: &Request, code: u16, reason: &str, to_tag: Option<&str>) -> Response {
    let mut headers: Vec<Header> = Vec::new();
    let copy_rr = req.method == Method::Invite && (101..300).contains(&code);
    for h in req.headers.iter() {
        match h {
            Header::Via(_) | Header::From(_) | Header::CallId(_) | Header::CSeq(_) => {
                headers.push(h.clone())
            }
            Header::RecordRoute(_) if copy_rr => headers.push(h.clone()),
            Header::To(to) => {
                let value = match to_tag {
                    Some(tag) => with_tag(to.value(), tag),
                    None => to.value().to_string(),
                };
                headers.push(Header::To(rsip::headers::To::new(value)));
            }
            _ => {}
        }
    }
    headers.push(make_header("Content-Length", "0"));
    Response {
        status_code: status_code(code, reason),
        version: rsip::Version::V2,
        headers: Headers::from(headers),
        body: vec![],
    }
}

/// `value` with `;tag=tag` added unless it already has a tag.
pub fn with_tag(value: &str, tag: &str) -> String {
    match NameAddr::parse(value) {
        Ok(na) if na.param("tag").is_some() => value.to_string(),
        Ok(mut na) => {
            na.set_param("tag", Some(tag.to_string()));
            na.to_string()
        }
        Err(_) => format!("{value};tag={tag}"),
    }
}

fn random_string(len: usize) -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

/// A fresh From/To tag (12 random alphanumerics).
pub fn new_tag() -> String {
    random_string(12)
}

/// A fresh RFC 3261 branch: the magic cookie `z9hG4bK` and 16 random alphanumerics.
pub fn new_branch() -> String {
    format!("z9hG4bK{}", random_string(16))
}

/// A fresh Call-ID: 20 random alphanumerics `@host`.
pub fn new_call_id(host: &str) -> String {
    format!("{}@{}", random_string(20), host)
}

// ---------------------------------------------------------------------------------------------
// Accessors
// ---------------------------------------------------------------------------------------------

/// The first header named `name` (case-insensitive; compact forms accepted; finds `Other` headers too).
pub fn header_value<'a, M: HasHeaders + ?Sized>(msg: &'a M, name: &str) -> Option<&'a str> {
    let name = expand_compact(name);
    msg.headers().iter().find_map(|h| {
        let (n, v) = header_name_value(h);
        n.eq_ignore_ascii_case(name).then_some(v)
    })
}

/// All values of headers named `name`, in order (comma-separated values are not split).
pub fn header_values<'a, M: HasHeaders + ?Sized>(msg: &'a M, name: &str) -> Vec<&'a str> {
    let name = expand_compact(name);
    msg.headers()
        .iter()
        .filter_map(|h| {
            let (n, v) = header_name_value(h);
            n.eq_ignore_ascii_case(name).then_some(v)
        })
        .collect()
}

/// The Call-ID.
pub fn call_id<M: HasHeaders + ?Sized>(msg: &M) -> Option<String> {
    header_value(msg, "Call-ID").map(|v| v.trim().to_string())
}

/// The tag of the From header.
pub fn from_tag<M: HasHeaders + ?Sized>(msg: &M) -> Option<String> {
    let na = NameAddr::parse(header_value(msg, "From")?).ok()?;
    na.param("tag").map(str::to_string)
}

/// The tag of the To header.
pub fn to_tag<M: HasHeaders + ?Sized>(msg: &M) -> Option<String> {
    let na = NameAddr::parse(header_value(msg, "To")?).ok()?;
    na.param("tag").map(str::to_string)
}

/// CSeq number and method (`None` for a malformed CSeq or a method rsip does not know).
pub fn cseq<M: HasHeaders + ?Sized>(msg: &M) -> Option<(u32, Method)> {
    let (n, m) = parse_cseq_value(header_value(msg, "CSeq")?).ok()?;
    Some((n, method_from_str(&m)?))
}

/// The top Via, parsed.
pub fn top_via<M: HasHeaders + ?Sized>(msg: &M) -> Option<ViaInfo> {
    let v = header_value(msg, "Via")?;
    ViaInfo::parse(split_commas(v).first()?).ok()
}

/// The branch of the top Via.
pub fn top_via_branch<M: HasHeaders + ?Sized>(msg: &M) -> Option<String> {
    top_via(msg)?.branch().map(str::to_string)
}

/// Replace the top Via value (the first value of the first Via header).
pub fn set_top_via<M: HasHeaders + ?Sized>(msg: &mut M, via: &ViaInfo) {
    for h in msg.headers_mut().iter_mut() {
        if let Header::Via(v) = h {
            let values = split_commas(v.value());
            let mut new_value = via.to_string();
            for rest in values.iter().skip(1) {
                new_value.push_str(", ");
                new_value.push_str(rest);
            }
            *v = rsip::headers::Via::new(new_value);
            return;
        }
    }
}

/// Remove every header named `name` (case-insensitive, compact forms accepted).
pub fn remove_headers<M: HasHeaders + ?Sized>(msg: &mut M, name: &str) {
    let name = expand_compact(name);
    msg.headers_mut()
        .retain(|h| !header_name_value(h).0.eq_ignore_ascii_case(name));
}

/// Set the body, Content-Type (replaced when `content_type` is given, removed when the body is
/// empty and no type is given) and Content-Length.
pub fn set_body<M: Message + ?Sized>(msg: &mut M, content_type: Option<&str>, body: Vec<u8>) {
    remove_headers(msg, "Content-Length");
    match content_type {
        Some(ct) => {
            remove_headers(msg, "Content-Type");
            msg.headers_mut().push(make_header("Content-Type", ct));
        }
        None if body.is_empty() => remove_headers(msg, "Content-Type"),
        None => {}
    }
    msg.headers_mut()
        .push(make_header("Content-Length", &body.len().to_string()));
    *msg.body_vec_mut() = body;
}

// ---------------------------------------------------------------------------------------------
// Printing
// ---------------------------------------------------------------------------------------------

fn write_wire(start_line: &str, headers: &Headers, body: &[u8]) -> Bytes {
    let mut out = String::with_capacity(512);
    out.push_str(start_line);
    out.push_str("\r\n");
    for h in headers.iter() {
        let (name, value) = header_name_value(h);
        if name.eq_ignore_ascii_case("Content-Length") {
            continue;
        }
        out.push_str(name);
        out.push_str(": ");
        out.push_str(value);
        out.push_str("\r\n");
    }
    out.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    Bytes::from(bytes)
}

/// Serialise a request (see [`to_bytes`]).
pub fn request_to_bytes(req: &Request) -> Bytes {
    write_wire(
        &format!("{} {} SIP/2.0", req.method, uri_to_string(&req.uri)),
        &req.headers,
        &req.body,
    )
}

/// Serialise a response (see [`to_bytes`]).
pub fn response_to_bytes(resp: &Response) -> Bytes {
    write_wire(
        &format!(
            "SIP/2.0 {} {}",
            resp.status_code.code(),
            status_reason(&resp.status_code)
        ),
        &resp.headers,
        &resp.body,
    )
}

/// Serialise a message for the wire: start line with a real reason phrase, headers in order
/// with canonical names, exactly one Content-Length (the body's real length, whatever the
/// message carried), blank line, body bytes unchanged.
pub fn to_bytes(msg: &SipMessage) -> Bytes {
    match msg {
        SipMessage::Request(r) => request_to_bytes(r),
        SipMessage::Response(r) => response_to_bytes(r),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_and_commas() {
        assert_eq!(closing_quote(r#""a\"b" x"#), Some(5));
        assert_eq!(closing_quote(r#""unterminated"#), None);
        assert_eq!(
            split_commas(r#""a, b" <sip:x@y;p=1,2>, <sip:z@w>"#),
            vec![r#""a, b" <sip:x@y;p=1,2>"#, "<sip:z@w>"]
        );
        assert_eq!(split_commas(""), vec![""]);
    }

    #[test]
    fn params_with_lws() {
        let p = parse_params(" ; tag = x ;lr; q=\"a b\"").unwrap();
        assert_eq!(
            p,
            vec![
                ("tag".to_string(), Some("x".to_string())),
                ("lr".to_string(), None),
                ("q".to_string(), Some("\"a b\"".to_string())),
            ]
        );
        assert!(parse_params(";;").is_err());
        assert!(parse_params(";a=").is_err());
        assert!(parse_params("junk").is_err());
    }

    #[test]
    fn via_grammar() {
        let v =
            ViaInfo::parse("SIP / 2.0 / udp [2001:db8::1]:5070 ; branch=z9hG4bK1;rport").unwrap();
        assert_eq!(v.transport, "UDP");
        assert_eq!(v.host, "[2001:db8::1]");
        assert_eq!(v.port, Some(5070));
        assert_eq!(v.host_ip(), "2001:db8::1".parse().ok());
        assert_eq!(v.param("rport"), Some(None));
        assert_eq!(
            v.to_string(),
            "SIP/2.0/UDP [2001:db8::1]:5070;branch=z9hG4bK1;rport"
        );
        assert!(ViaInfo::parse("SIP/2.0/UDP").is_err());
        assert!(ViaInfo::parse("SIP/2.0/UDP host:99999").is_err());
        assert!(ViaInfo::parse("SIP/2.0/UDP ho st").is_err());
    }

    #[test]
    fn start_lines() {
        assert!(parse_start_line("SIP/2.0 200").is_ok());
        assert!(parse_start_line("SIP/2.0 20").is_err());
        assert!(parse_start_line("SIP/2.0 099 x").is_err());
        assert!(matches!(
            parse_start_line("SIP/3.0 200 OK"),
            Err(ParseError::Version(_))
        ));
        assert!(parse_start_line("INVITE  sip:a@b SIP/2.0").is_err());
        assert!(parse_start_line("INVITE sip:a@b SIP/2.0 ").is_err());
        assert!(parse_start_line("\u{e9}\u{e9} sip:a@b SIP/2.0").is_err());
        assert!(!starts_with_ci("\u{e9}\u{e9}\u{e9}", "SIP/"));
    }

    #[test]
    fn status_codes_keep_custom_phrases() {
        assert_eq!(status_code(200, "OK"), StatusCode::OK);
        assert_eq!(status_code(200, ""), StatusCode::OK);
        assert_eq!(
            status_code(200, "Fine"),
            StatusCode::Other(200, "Fine".into())
        );
        assert_eq!(status_code(299, "x"), StatusCode::Other(299, "x".into()));
        assert_eq!(status_reason(&StatusCode::BadRequest), "Bad Request");
    }
}
