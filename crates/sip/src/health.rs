//! Trunk health by out-of-dialog OPTIONS probes, sans-IO.
//!
//! [`OptionsProbe`] follows the same driving contract as [`crate::registration`]: the driver
//! calls [`OptionsProbe::start`], sends what [`OptionsProbe::poll_request`] yields through the
//! transaction layer, feeds back final responses ([`OptionsProbe::handle_response`]) and
//! transaction timeouts ([`OptionsProbe::handle_transaction_timeout`]), calls
//! [`OptionsProbe::handle_timeout`] at [`OptionsProbe::poll_timeout`], and drains
//! [`OptionsProbe::poll_event`] for the `Up` / `Down` changes.
//!
//! The rules:
//! * One probe at a time; the next one goes `interval` (default 30 s) after the previous one
//!   was answered while the trunk is up, `down_interval` (default 5 s) while it is down, not
//!   yet known, or has just missed an answer.
//! * Any final response proves the peer alive (404, 405, 501 included: many trunks refuse
//!   OPTIONS yet route calls) and makes the trunk Up, except 503 Service Unavailable, which
//!   makes it Down at once (RFC 3261 §21.5.4, RFC 3263 §4.3: try another server).
//! * A probe without a final response (transaction timeout, or nothing at all within
//!   [`RESPONSE_GUARD`]) is a miss; `misses_for_down` misses in a row (default 1) make the
//!   trunk Down.
//! * [`OptionsProbe::mark_failed`] lets the call layer report an INVITE that got no answer
//!   (408, 503, timeout): the trunk is Down until the next probe is answered.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rsip::{Method, Response, Uri};

use crate::message::{self, Peer};
use crate::outbound::{ClientRequest, OutgoingRequest};
use crate::registration::reason_text;

/// Probe interval while the trunk is up.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
/// Probe interval while the trunk is down or unknown.
pub const DEFAULT_DOWN_INTERVAL: Duration = Duration::from_secs(5);
/// A probe with neither a final response nor a transaction timeout this long after it was
/// handed out (Timer F is 32 s) counts as a miss.
pub const RESPONSE_GUARD: Duration = Duration::from_secs(40);
/// Shortest interval accepted (shorter configured values are raised to it).
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);
/// Most events kept for [`OptionsProbe::poll_event`] before the oldest are dropped.
const MAX_EVENTS: usize = 32;

/// What to probe and how often.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeConfig {
    /// Request-URI of the OPTIONS (e.g. `sip:provider.example`); also the To URI.
    pub target: String,
    /// Our URI, the From URI (e.g. `sip:senim@192.0.2.1`).
    pub from: String,
    /// Where to send and over which transport.
    pub peer: Peer,
    /// The address in our Via sent-by.
    pub via_sent_by: SocketAddr,
    /// Interval while up (default [`DEFAULT_INTERVAL`]).
    pub interval: Duration,
    /// Interval while down or unknown (default [`DEFAULT_DOWN_INTERVAL`]).
    pub down_interval: Duration,
    /// Misses in a row that make the trunk Down (default 1; 0 is taken as 1).
    pub misses_for_down: u32,
    /// `User-Agent` header, if any.
    pub user_agent: Option<String>,
}

impl ProbeConfig {
    /// A configuration with the default intervals, one miss for Down, no User-Agent.
    pub fn new(target: &str, from: &str, peer: Peer, via_sent_by: SocketAddr) -> Self {
        ProbeConfig {
            target: target.to_string(),
            from: from.to_string(),
            peer,
            via_sent_by,
            interval: DEFAULT_INTERVAL,
            down_interval: DEFAULT_DOWN_INTERVAL,
            misses_for_down: 1,
            user_agent: None,
        }
    }
}

/// Why a [`ProbeConfig`] cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProbeError {
    /// The target or from URI does not parse or is not sip/sips.
    #[error("bad {field} URI {value:?}: {detail}")]
    BadUri {
        /// `target` or `from`.
        field: &'static str,
        /// The configured text.
        value: String,
        /// What is wrong.
        detail: String,
    },
}

/// What is known about the trunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrunkState {
    /// No probe has been answered or missed yet.
    Unknown,
    /// The last probe was answered (with anything but 503).
    Up,
    /// Probes are missing, the peer answered 503, or the call layer reported a failure.
    Down,
}

impl TrunkState {
    /// Lowercase name for status pages (`unknown`, `up`, `down`).
    pub fn as_str(self) -> &'static str {
        match self {
            TrunkState::Unknown => "unknown",
            TrunkState::Up => "up",
            TrunkState::Down => "down",
        }
    }
}

/// Why the trunk is considered down.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProbeFailure {
    /// Probes got no final response.
    #[error("no answer to OPTIONS ({misses} in a row)")]
    Timeout {
        /// Misses in a row.
        misses: u32,
    },
    /// The peer answered 503.
    #[error("503 {reason}")]
    Unavailable {
        /// Reason phrase as received.
        reason: String,
    },
    /// The call layer reported a failed call through the trunk.
    #[error("call failed: {0}")]
    Reported(String),
}

/// A change of the trunk's state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HealthEvent {
    /// The trunk answers.
    Up,
    /// The trunk is down.
    Down {
        /// Why.
        reason: ProbeFailure,
    },
}

/// A snapshot for status pages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthStatus {
    /// The probed URI.
    pub target: String,
    /// What is known.
    pub state: TrunkState,
    /// Since when the state holds (`None` while Unknown).
    pub since: Option<Instant>,
    /// The last reason for Down, as text.
    pub last_failure: Option<String>,
    /// The status code of the last answered probe.
    pub last_status: Option<u16>,
    /// Round-trip time of the last answered probe (as seen by the core: hand-out to answer).
    pub last_rtt: Option<Duration>,
    /// When the next probe goes out, if none is under way.
    pub next_probe: Option<Instant>,
}

#[derive(Clone, Debug)]
struct Pending {
    call_id: String,
    cseq: u32,
    sent_at: Instant,
}

/// OPTIONS keep-alive of one trunk.
#[derive(Debug)]
pub struct OptionsProbe {
    config: ProbeConfig,
    target_uri: Uri,
    state: TrunkState,
    since: Option<Instant>,
    pending: Option<Pending>,
    next_probe: Option<Instant>,
    misses: u32,
    cseq: u32,
    last_failure: Option<ProbeFailure>,
    last_status: Option<u16>,
    last_rtt: Option<Duration>,
    outbox: VecDeque<OutgoingRequest>,
    events: VecDeque<HealthEvent>,
}

fn sip_uri(field: &'static str, value: &str) -> Result<Uri, ProbeError> {
    let bad = |detail: String| ProbeError::BadUri {
        field,
        value: value.to_string(),
        detail,
    };
    let uri = message::parse_uri(value.trim()).map_err(|e| bad(e.to_string()))?;
    match uri.scheme {
        Some(rsip::Scheme::Sip) | Some(rsip::Scheme::Sips) => Ok(uri),
        _ => Err(bad("not a sip/sips URI".into())),
    }
}

impl OptionsProbe {
    /// A probe for `config`, not started (call [`OptionsProbe::start`]).
    pub fn new(mut config: ProbeConfig) -> Result<Self, ProbeError> {
        let target_uri = sip_uri("target", &config.target)?;
        sip_uri("from", &config.from)?;
        config.interval = config.interval.max(MIN_INTERVAL);
        config.down_interval = config.down_interval.max(MIN_INTERVAL);
        config.misses_for_down = config.misses_for_down.max(1);
        Ok(OptionsProbe {
            config,
            target_uri,
            state: TrunkState::Unknown,
            since: None,
            pending: None,
            next_probe: None,
            misses: 0,
            cseq: 0,
            last_failure: None,
            last_status: None,
            last_rtt: None,
            outbox: VecDeque::new(),
            events: VecDeque::new(),
        })
    }

    /// Send the first probe now (or probe again at once).
    pub fn start(&mut self, now: Instant) {
        self.send(now);
    }

    /// The next request to send, if any.
    pub fn poll_request(&mut self) -> Option<OutgoingRequest> {
        self.outbox.pop_front()
    }

    /// The next state change, if any.
    pub fn poll_event(&mut self) -> Option<HealthEvent> {
        self.events.pop_front()
    }

    /// When [`Self::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match &self.pending {
            Some(p) => Some(p.sent_at + RESPONSE_GUARD),
            None => self.next_probe,
        }
    }

    /// Fire what is due: a probe with no answer within [`RESPONSE_GUARD`] counts as a miss,
    /// and the next probe goes out when its time has come.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self
            .pending
            .as_ref()
            .is_some_and(|p| p.sent_at + RESPONSE_GUARD <= now)
        {
            self.handle_transaction_timeout(now);
        }
        if self.pending.is_none() && self.next_probe.is_some_and(|t| t <= now) {
            self.send(now);
        }
    }

    /// A final response to the probe under way (provisional responses and responses to other
    /// requests are ignored).
    pub fn handle_response(&mut self, now: Instant, response: &Response) {
        let code = response.status_code.code();
        if code < 200 {
            return;
        }
        let ours = self.pending.as_ref().is_some_and(|p| {
            message::call_id(response).as_deref() == Some(p.call_id.as_str())
                && message::cseq(response) == Some((p.cseq, Method::Options))
        });
        if !ours {
            return;
        }
        let Some(pending) = self.pending.take() else {
            return;
        };
        self.last_status = Some(code);
        self.last_rtt = Some(now.saturating_duration_since(pending.sent_at));
        self.misses = 0;
        if code == 503 {
            self.go_down(
                now,
                ProbeFailure::Unavailable {
                    reason: reason_text(response),
                },
            );
            self.next_probe = Some(now + self.config.down_interval);
        } else {
            self.go_up(now);
            self.next_probe = Some(now + self.config.interval);
        }
    }

    /// The probe's transaction ended without a final response.
    pub fn handle_transaction_timeout(&mut self, now: Instant) {
        if self.pending.take().is_none() {
            return;
        }
        self.misses = self.misses.saturating_add(1);
        if self.misses >= self.config.misses_for_down {
            self.go_down(
                now,
                ProbeFailure::Timeout {
                    misses: self.misses,
                },
            );
        }
        self.next_probe = Some(now + self.config.down_interval);
    }

    /// The call layer saw a call through this trunk fail for lack of an answer (408, 503, a
    /// timeout): the trunk is Down until the next probe is answered, and probing speeds up.
    pub fn mark_failed(&mut self, now: Instant, reason: &str) {
        let reason: String = reason
            .chars()
            .filter(|c| !c.is_control())
            .take(120)
            .collect();
        self.go_down(now, ProbeFailure::Reported(reason));
        if self.pending.is_none() {
            let soon = now + self.config.down_interval;
            self.next_probe = Some(self.next_probe.map_or(soon, |t| t.min(soon)));
        }
    }

    /// What is known about the trunk.
    pub fn state(&self) -> TrunkState {
        self.state
    }

    /// False only while the trunk is Down: Unknown trunks are worth a try.
    pub fn is_usable(&self) -> bool {
        self.state != TrunkState::Down
    }

    /// The snapshot for status pages.
    pub fn status(&self) -> HealthStatus {
        HealthStatus {
            target: self.config.target.clone(),
            state: self.state,
            since: self.since,
            last_failure: self.last_failure.as_ref().map(|f| f.to_string()),
            last_status: self.last_status,
            last_rtt: self.last_rtt,
            next_probe: if self.pending.is_none() {
                self.next_probe
            } else {
                None
            },
        }
    }

    fn push_event(&mut self, event: HealthEvent) {
        if self.events.len() >= MAX_EVENTS {
            self.events.pop_front();
        }
        self.events.push_back(event);
    }

    fn go_up(&mut self, now: Instant) {
        if self.state != TrunkState::Up {
            self.state = TrunkState::Up;
            self.since = Some(now);
            self.push_event(HealthEvent::Up);
        }
    }

    fn go_down(&mut self, now: Instant, reason: ProbeFailure) {
        self.last_failure = Some(reason.clone());
        if self.state != TrunkState::Down {
            self.state = TrunkState::Down;
            self.since = Some(now);
            self.push_event(HealthEvent::Down { reason });
        }
    }

    fn send(&mut self, now: Instant) {
        self.cseq = self.cseq.wrapping_add(1) % (1 << 31);
        let call_id = message::new_call_id(&self.config.via_sent_by.ip().to_string());
        let from_tag = message::new_tag();
        let request = ClientRequest {
            method: Method::Options,
            uri: &self.target_uri,
            from: &self.config.from,
            from_tag: &from_tag,
            to: &self.config.target,
            call_id: &call_id,
            cseq: self.cseq,
            transport: self.config.peer.transport,
            via_sent_by: self.config.via_sent_by,
            extra: vec![message::make_header("Accept", "application/sdp")],
            user_agent: self.config.user_agent.as_deref(),
        }
        .build();
        self.outbox.clear();
        self.outbox.push_back(OutgoingRequest {
            request,
            peer: self.config.peer,
        });
        self.next_probe = None;
        self.pending = Some(Pending {
            call_id,
            cseq: self.cseq,
            sent_at: now,
        });
    }
}
