//! Building a response to a request.

use rsip::headers::UntypedHeader;
use rsip::{Header, Headers, Method, Request, Response};

use super::header_name::make_header;
use super::name_addr::NameAddr;
use super::status::status_code;

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
