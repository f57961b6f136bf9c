//! Header names: the canonical names of rsip's typed headers, building a header from a name
//! and a value, and the expansion of compact names (`v`, `f`, `t`, ...).

use rsip::headers::UntypedHeader;
use rsip::Header;

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
