//! Stateless error responses (400, 501, 505, ...) for bytes that could not be parsed, and the
//! methods Senim allows.

use bytes::Bytes;

use super::grammar::is_token;
use super::head::{find_head_end, logical_lines, starts_with_ci};
use super::header_name::expand_compact;
use super::identifiers::new_tag;
use super::limits::MAX_HEAD;
use super::status::reason_phrase;

/// A 400 Bad Request for bytes that failed [`parse`](super::parse); see [`error_response_for_raw`].
pub fn bad_request_for_raw(bytes: &[u8], why: &str) -> Option<Bytes> {
    error_response_for_raw(bytes, 400, why)
}

/// A stateless error response (400, 501, 505...) for bytes that failed [`parse`](super::parse), or `None`
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
