//! Printing messages for the wire, with a Content-Length that always matches the body.

use bytes::Bytes;
use rsip::{Headers, Request, Response, SipMessage};

use super::header_name::header_name_value;
use super::status::status_reason;
use super::uri::uri_to_string;

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
