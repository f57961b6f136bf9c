//! Reading and changing the headers and body of a message: typed accessors (Call-ID, tags,
//! CSeq, top Via, the body's media type and what Accept allows), header removal and body
//! replacement.

use rsip::headers::UntypedHeader;
use rsip::message::HasHeaders;
use rsip::{Header, Method, Request, Response, SipMessage};

use super::grammar::split_commas;
use super::head::{method_from_str, parse_cseq_value};
use super::header_name::{expand_compact, header_name_value, make_header};
use super::name_addr::NameAddr;
use super::via::ViaInfo;

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

/// The media type of the body from Content-Type: `type/subtype` in lower case, parameters
/// dropped (`None` without Content-Type).
pub fn content_type<M: HasHeaders + ?Sized>(msg: &M) -> Option<String> {
    let value = header_value(msg, "Content-Type")?;
    Some(
        value
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase(),
    )
}

/// Whether a body of `media_type` (`type/subtype`, lower case) suits the Accept headers of
/// `msg` (RFC 3261 §20.1): always without Accept; else when a media range names it, its type
/// with `/*`, or `*/*`, and does not carry `q=0`. An Accept header with no media range at all
/// is read as no preference (RFC 3261 says it accepts nothing; a caller's INVITE that says so
/// is more likely sloppy than sincere).
pub fn accepts<M: HasHeaders + ?Sized>(msg: &M, media_type: &str) -> bool {
    let ranges: Vec<&str> = header_values(msg, "Accept")
        .into_iter()
        .flat_map(split_commas)
        .filter(|r| !r.is_empty())
        .collect();
    if ranges.is_empty() {
        return true;
    }
    let (wanted_type, _) = media_type.split_once('/').unwrap_or((media_type, ""));
    ranges.iter().any(|range| {
        let mut parts = range.split(';');
        let name = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let refused = parts.any(|p| {
            p.split_once('=').is_some_and(|(k, v)| {
                k.trim().eq_ignore_ascii_case("q")
                    && v.trim().parse::<f32>().is_ok_and(|q| q <= 0.0)
            })
        });
        let matches = name == media_type
            || name == "*/*"
            || name.strip_suffix("/*").is_some_and(|t| t == wanted_type);
        matches && !refused
    })
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
