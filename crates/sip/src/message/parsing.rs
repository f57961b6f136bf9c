//! Turning one datagram or frame into an rsip message ([`parse`]).

use rsip::headers::UntypedHeader;
use rsip::{Header, Headers, Request, Response, SipMessage, StatusCode};

use super::error::ParseError;
use super::grammar::{is_token, split_commas};
use super::head::{
    find_head_end, logical_lines, method_from_str, parse_cseq_value, parse_small_number,
    parse_start_line, truncate, StartLine,
};
use super::header_name::{expand_compact, make_header};
use super::limits::MAX_HEAD;
use super::name_addr::NameAddr;
use super::uri::parse_uri;
use super::via::ViaInfo;

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
