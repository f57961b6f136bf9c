//! Why bytes could not be read as a SIP message ([`ParseError`]) or a TCP stream could not
//! be cut into frames ([`FramingError`]).

/// Why a datagram or frame could not be turned into a SIP message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The input was empty or only CR/LF keep-alive bytes.
    #[error("empty message (keep-alive)")]
    Empty,
    /// The message head is larger than [`MAX_HEAD`](super::MAX_HEAD).
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
    /// No blank line within [`MAX_HEAD`](super::MAX_HEAD) bytes.
    #[error("no end of headers within {0} bytes")]
    HeadTooLong(usize),
    /// A stream message must carry Content-Length (RFC 3261 §18.3).
    #[error("Content-Length is required on stream transports")]
    MissingContentLength,
    /// Content-Length is not a number, or given twice with different values.
    #[error("bad Content-Length: {0}")]
    BadContentLength(String),
    /// Content-Length exceeds [`MAX_BODY`](super::MAX_BODY).
    #[error("body of {0} bytes exceeds the limit")]
    BodyTooLarge(usize),
}

impl FramingError {
    /// The status code to answer the request the stream could not be cut at, before the
    /// connection is closed: 513 for a head too long, 413 for a body too large, else 400.
    pub fn status_code(&self) -> u16 {
        match self {
            FramingError::HeadTooLong(_) => 513,
            FramingError::BodyTooLarge(_) => 413,
            FramingError::MissingContentLength | FramingError::BadContentLength(_) => 400,
        }
    }
}
