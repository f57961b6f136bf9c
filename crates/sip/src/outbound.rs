//! What the sans-IO client cores ([`crate::registration`], [`crate::health`]) hand to the
//! driver, and the small pieces they share to build out-of-dialog requests: the Via with
//! `rport` (RFC 3581), the sent-by text, the public address a response's Via reveals, and the
//! retry back-off with jitter.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use rand::Rng;
use rsip::{Request, Response};

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
pub(crate) fn push_optional(headers: &mut Vec<rsip::Header>, name: &str, value: Option<&str>) {
    if let Some(v) = value {
        headers.push(message::make_header(name, v));
    }
}
