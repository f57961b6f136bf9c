//! What the sans-IO client cores ([`crate::registration`], [`crate::health`]) hand to the
//! driver, and the small pieces they share to build out-of-dialog requests: the request's
//! headers ([`ClientRequest`]), the Via with `rport` (RFC 3581), the sent-by text, the public
//! address a response's Via reveals, and the retry back-off with jitter.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use rand::Rng;
use rsip::{Header, Headers, Method, Request, Response, Uri};

use crate::message::{self, Peer, Transport};

/// A request a client core wants sent: the driver starts a client transaction with it
/// (`TransactionLayer::send_request(now, request, peer)`), so retransmissions are the
/// transaction layer's business, and reports the final response or the timeout back.
#[derive(Clone, Debug)]
pub struct OutgoingRequest {
    /// The request.
    pub request: Request,
    /// Where to send it (an outbound proxy may differ from the Request-URI's host).
    pub peer: Peer,
}

/// An out-of-dialog request of a client core (REGISTER, OPTIONS), as far as it differs from
/// one request to the next. [`ClientRequest::build`] gives it the headers every such request
/// carries, in this order: Via (a fresh branch, `rport`), `Max-Forwards: 70`, From with its
/// tag, To, Call-ID, CSeq, then [`ClientRequest::extra`], User-Agent when given, and
/// `Content-Length: 0`; no body.
#[derive(Clone, Debug)]
pub struct ClientRequest<'a> {
    /// The method, also that of the CSeq.
    pub method: Method,
    /// The Request-URI.
    pub uri: &'a Uri,
    /// The From URI, as configured (trimmed and put in angle brackets).
    pub from: &'a str,
    /// The From tag.
    pub from_tag: &'a str,
    /// The To URI, as configured (trimmed and put in angle brackets; no tag).
    pub to: &'a str,
    /// The Call-ID.
    pub call_id: &'a str,
    /// The CSeq number.
    pub cseq: u32,
    /// The transport named in the Via (the peer's).
    pub transport: Transport,
    /// The Via sent-by.
    pub via_sent_by: SocketAddr,
    /// The method's own headers, after CSeq (a REGISTER's Contact and Expires, an OPTIONS'
    /// Accept).
    pub extra: Vec<Header>,
    /// The `User-Agent` header, if any.
    pub user_agent: Option<&'a str>,
}

impl ClientRequest<'_> {
    /// The request, without a body.
    pub fn build(self) -> Request {
        let from = message::with_tag(&format!("<{}>", self.from.trim()), self.from_tag);
        let mut headers = vec![
            message::make_header("Via", &via_value(self.transport, self.via_sent_by)),
            message::make_header("Max-Forwards", "70"),
            message::make_header("From", &from),
            message::make_header("To", &format!("<{}>", self.to.trim())),
            message::make_header("Call-ID", self.call_id),
            message::make_header("CSeq", &format!("{} {}", self.cseq, self.method)),
        ];
        headers.extend(self.extra);
        push_optional(&mut headers, "User-Agent", self.user_agent);
        headers.push(message::make_header("Content-Length", "0"));
        Request {
            method: self.method,
            uri: self.uri.clone(),
            version: rsip::Version::V2,
            headers: Headers::from(headers),
            body: vec![],
        }
    }
}

/// `host:port` of a socket address, IPv6 in brackets.
pub fn sent_by(addr: SocketAddr) -> String {
    match addr {
        SocketAddr::V4(a) => a.to_string(),
        SocketAddr::V6(a) => format!("[{}]:{}", a.ip(), a.port()),
    }
}

/// A Via value with a fresh branch and an empty `rport` (RFC 3581), e.g.
/// `SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK...;rport`.
pub fn via_value(transport: Transport, addr: SocketAddr) -> String {
    format!(
        "SIP/2.0/{} {};branch={};rport",
        transport.as_str(),
        sent_by(addr),
        message::new_branch()
    )
}

/// The address the peer saw our request come from, when the top Via of its response says so
/// (`received` and/or a valued `rport`): the public side of a NAT. `None` when the Via carries
/// neither or they do not form an address.
pub fn public_address(response: &Response) -> Option<SocketAddr> {
    let via = message::top_via(response)?;
    let received = match via.param("received") {
        Some(Some(r)) => Some(
            r.trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
                .ok()?,
        ),
        _ => None,
    };
    let rport = match via.param("rport") {
        Some(Some(p)) => Some(p.parse::<u16>().ok()?),
        _ => None,
    };
    if received.is_none() && rport.is_none() {
        return None;
    }
    let ip = received.or_else(|| via.host_ip())?;
    let port = rport.or(via.port).unwrap_or(5060);
    Some(SocketAddr::new(ip, port))
}

/// Exponential back-off with jitter: `base · 2^(attempt-1)` capped at `max`, then multiplied by
/// a factor drawn uniformly from `[1 - jitter%, 1 + jitter%]` (so the spread is kept even at
/// the cap). `attempt` counts from 1; `jitter_percent` is clamped to 0..=100.
pub fn backoff(
    rng: &mut impl Rng,
    attempt: u32,
    base: Duration,
    max: Duration,
    jitter_percent: u32,
) -> Duration {
    let doublings = attempt.saturating_sub(1).min(30);
    let nominal = base.saturating_mul(1u32 << doublings).min(max);
    let jitter = u64::from(jitter_percent.min(100));
    let per_mille = rng.gen_range(1000 - 10 * jitter..=1000 + 10 * jitter);
    let ms = u64::try_from(nominal.as_millis()).unwrap_or(u64::MAX);
    Duration::from_millis(ms.saturating_mul(per_mille) / 1000)
}

/// The delta-seconds at the start of a `Retry-After` value (`120 (maintenance);duration=60`).
pub fn retry_after(response: &Response) -> Option<u32> {
    let v = message::header_value(response, "Retry-After")?.trim();
    let digits: &str = &v[..v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len())];
    digits.parse().ok()
}

/// A header that only some requests carry: `name: value` appended when `value` is given.
pub(crate) fn push_optional(headers: &mut Vec<Header>, name: &str, value: Option<&str>) {
    if let Some(v) = value {
        headers.push(message::make_header(name, v));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_request_has_the_shared_headers_in_order() {
        let uri = message::parse_uri("sip:provider.example").unwrap();
        let request = ClientRequest {
            method: Method::Register,
            uri: &uri,
            from: " sip:alice@provider.example ",
            from_tag: "t1",
            to: "sip:alice@provider.example",
            call_id: "c1@192.0.2.1",
            cseq: 7,
            transport: Transport::Tcp,
            via_sent_by: "[2001:db8::1]:5070".parse().unwrap(),
            extra: vec![message::make_header("Expires", "60")],
            user_agent: Some("Senim"),
        }
        .build();
        assert_eq!(request.method, Method::Register);
        assert!(request.body.is_empty());
        let branch = message::top_via_branch(&request).unwrap();
        assert!(branch.starts_with("z9hG4bK"));
        let wire = message::request_to_bytes(&request);
        let want = format!(
            "REGISTER sip:provider.example SIP/2.0\r\n\
             Via: SIP/2.0/TCP [2001:db8::1]:5070;branch={branch};rport\r\n\
             Max-Forwards: 70\r\n\
             From: <sip:alice@provider.example>;tag=t1\r\n\
             To: <sip:alice@provider.example>\r\n\
             Call-ID: c1@192.0.2.1\r\n\
             CSeq: 7 REGISTER\r\n\
             Expires: 60\r\n\
             User-Agent: Senim\r\n\
             Content-Length: 0\r\n\r\n"
        );
        assert_eq!(String::from_utf8_lossy(&wire), want);

        // Without extra headers or a User-Agent.
        let request = ClientRequest {
            method: Method::Options,
            uri: &uri,
            from: "sip:senim@192.0.2.1",
            from_tag: "t2",
            to: "sip:provider.example",
            call_id: "c2",
            cseq: 1,
            transport: Transport::Udp,
            via_sent_by: "192.0.2.1:5060".parse().unwrap(),
            extra: Vec::new(),
            user_agent: None,
        }
        .build();
        let names: Vec<String> = request
            .headers
            .iter()
            .map(|h| h.to_string().split(':').next().unwrap_or("").to_string())
            .collect();
        assert_eq!(
            names,
            [
                "Via",
                "Max-Forwards",
                "From",
                "To",
                "Call-ID",
                "CSeq",
                "Content-Length"
            ]
        );
        assert_eq!(message::cseq(&request), Some((1, Method::Options)));
        assert_ne!(message::top_via_branch(&request).unwrap(), branch);
    }
}
