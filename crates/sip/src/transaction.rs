//! RFC 3261 §17 transactions (with the RFC 6026 Accepted state) as a sans-IO state machine.
//!
//! Feed it bytes ([`TransactionLayer::handle_bytes`]), requests and responses from the TU
//! ([`TransactionLayer::send_request`], [`TransactionLayer::send_response`]) and time
//! ([`TransactionLayer::handle_timeout`]); drain [`TransactionLayer::poll_transmit`],
//! [`TransactionLayer::poll_event`] and ask [`TransactionLayer::poll_timeout`] when to call again.
//!
//! Timers: all deadlines of all transactions live in one ordered set of
//! `(instant, key, timer)`; each transaction remembers its own entries, so re-arming or
//! cancelling a timer is an exact O(log n) removal and `poll_timeout` is O(log n).

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rsip::{Header, Headers, Method, Request, Response, SipMessage};

use crate::message::{self, ParseError, Peer, Transport};

/// RFC 3261 timer base values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimerConfig {
    /// RTT estimate (default 500 ms).
    pub t1: Duration,
    /// Maximum retransmit interval for non-INVITE requests and INVITE responses (default 4 s).
    pub t2: Duration,
    /// Maximum time a message stays in the network (default 5 s).
    pub t4: Duration,
}

impl Default for TimerConfig {
    fn default() -> Self {
        TimerConfig {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
        }
    }
}

/// Timer D for unreliable transports ("at least 32 s").
pub const TIMER_D: Duration = Duration::from_secs(32);
/// Guard for a client INVITE transaction in Proceeding (like RFC 3261 Timer C, re-armed by
/// every provisional response): if no final response comes, the TU gets `Event::Timeout`.
pub const PROCEEDING_GUARD: Duration = Duration::from_secs(180);

/// Opaque handle of a transaction; never reused within one [`TransactionLayer`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TxKey(u64);

impl TxKey {
    /// A key with the given number, for a core's tests (a driver gets its
    /// keys from the [`TransactionLayer`]).
    pub fn from_id(id: u64) -> TxKey {
        TxKey(id)
    }

    /// The numeric id (for logs).
    pub fn id(self) -> u64 {
        self.0
    }
}

/// Bytes to send to a peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// Where to send (for TCP: the connection to this address).
    pub peer: Peer,
    /// One datagram or one stream frame.
    pub data: Bytes,
}

/// What the transaction layer reports to the TU.
#[derive(Clone, Debug)]
pub enum Event {
    /// A new request started a server transaction (INVITE, BYE, CANCEL, OPTIONS, INFO, REGISTER,
    /// anything but ACK). Retransmissions are absorbed and never reported again.
    Request {
        /// The server transaction; answer with `send_response`.
        key: TxKey,
        /// The request (top Via already stamped with received/rport for UDP).
        request: Request,
        /// Where it came from.
        peer: Peer,
    },
    /// An ACK that did not belong to a non-2xx final response (i.e. the ACK to a 2xx, for the
    /// TU/dialog). Also emitted when an ACK matches an INVITE server transaction in the
    /// Accepted state (which then stops retransmitting the 2xx).
    Ack {
        /// The ACK.
        request: Request,
        /// Where it came from.
        peer: Peer,
    },
    /// A response for a client transaction (provisional, final; for INVITE client transactions
    /// also 2xx retransmissions and 2xx from other forks, so the TU can (re-)ACK).
    Response {
        /// The client transaction.
        key: TxKey,
        /// The response.
        response: Response,
    },
    /// A client transaction timed out (Timer B/F, or the Proceeding guard), or an INVITE server
    /// transaction got no ACK (Timer H, or Timer L ended the Accepted state with no ACK for the
    /// 2xx: the TU should send BYE).
    Timeout {
        /// The transaction.
        key: TxKey,
    },
    /// A response that matched no client transaction (for logging; RFC 3261 §18.1.2 says drop).
    StrayResponse {
        /// The response.
        response: Response,
        /// Where it came from.
        peer: Peer,
    },
    /// Bytes that could not be parsed (a 400/501/505 was queued when one could be built).
    Malformed {
        /// Where they came from.
        peer: Peer,
        /// Why they were rejected.
        error: ParseError,
    },
}

/// Errors of [`TransactionLayer::send_response`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TransactionError {
    /// No live transaction has this key (it never existed or has terminated).
    #[error("no transaction {0:?}")]
    UnknownTransaction(TxKey),
    /// The key names a client transaction; responses go on server transactions.
    #[error("{0:?} is a client transaction")]
    NotServer(TxKey),
    /// The transaction cannot send this response in its state (e.g. a final response was already sent).
    #[error("{key:?} cannot send a {code} response in state {state}")]
    InvalidState {
        /// The transaction.
        key: TxKey,
        /// Its state.
        state: &'static str,
        /// The rejected status code.
        code: u16,
    },
    /// The status code is outside 100..=699.
    #[error("invalid status code {0}")]
    BadStatus(u16),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(clippy::enum_variant_names)]
enum Kind {
    ClientInvite,
    ClientNonInvite,
    ServerInvite,
    ServerNonInvite,
}

impl Kind {
    fn is_server(self) -> bool {
        matches!(self, Kind::ServerInvite | Kind::ServerNonInvite)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Calling,
    Trying,
    Proceeding,
    Completed,
    Accepted,
    Confirmed,
}

impl State {
    fn name(self) -> &'static str {
        match self {
            State::Calling => "Calling",
            State::Trying => "Trying",
            State::Proceeding => "Proceeding",
            State::Completed => "Completed",
            State::Accepted => "Accepted",
            State::Confirmed => "Confirmed",
        }
    }
}

/// The three timer slots of a transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum TimerKind {
    /// A, E, G and the RFC 6026 2xx retransmission.
    Retransmit = 0,
    /// B, F, H, L and the guards.
    Timeout = 1,
    /// D, I, J, K, M.
    Cleanup = 2,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct ServerMatch {
    branch: String,
    sent_by: String,
    method: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct ClientMatch {
    branch: String,
    method: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct AckMatch {
    call_id: String,
    cseq: u32,
    from_tag: String,
    /// The To tag of the 2xx: only whoever received it can put it in the
    /// ACK, so an ACK forged for an INVITE from a forged source matches no
    /// transaction (the 2xx then times out as unacknowledged).
    to_tag: String,
}

struct Tx {
    kind: Kind,
    state: State,
    request: Request,
    /// Client: destination. Server: where the request came from.
    peer: Peer,
    /// Server: where responses go (RFC 3261 §18.2.2 / RFC 3581).
    reply_to: Peer,
    /// Client: the request on the wire, for retransmission.
    request_bytes: Bytes,
    /// Server: the last response sent, for retransmission.
    last_response: Option<Bytes>,
    /// Client INVITE: the ACK for a non-2xx final response.
    ack: Option<Bytes>,
    interval: Duration,
    timers: [Option<Instant>; 3],
    server_match: Option<ServerMatch>,
    client_match: Option<ClientMatch>,
    ack_match: Option<AckMatch>,
    got_ack: bool,
}

/// The transaction layer: all client and server transactions of one SIP endpoint.
pub struct TransactionLayer {
    config: TimerConfig,
    next_id: u64,
    txs: HashMap<TxKey, Tx>,
    timers: BTreeSet<(Instant, TxKey, TimerKind)>,
    server_index: HashMap<ServerMatch, TxKey>,
    client_index: HashMap<ClientMatch, TxKey>,
    accepted_index: HashMap<AckMatch, TxKey>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
    /// Most server transactions at once.
    max_server: usize,
    /// New requests refused for want of room.
    refused: u64,
}

/// Most server transactions at once by default: far above what the
/// centre's calls need, far below what would exhaust memory (a
/// transaction keeps its request, a few hundred bytes to a few KiB).
pub const DEFAULT_MAX_SERVER_TRANSACTIONS: usize = 20_000;

/// What a request refused for want of room is told to wait, in seconds.
pub const OVERLOAD_RETRY_AFTER: u32 = 10;

impl Default for TransactionLayer {
    fn default() -> Self {
        Self::new(TimerConfig::default())
    }
}

impl TransactionLayer {
    /// A layer with the given timer values.
    pub fn new(config: TimerConfig) -> Self {
        TransactionLayer {
            config,
            next_id: 1,
            txs: HashMap::new(),
            timers: BTreeSet::new(),
            server_index: HashMap::new(),
            client_index: HashMap::new(),
            accepted_index: HashMap::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            max_server: DEFAULT_MAX_SERVER_TRANSACTIONS,
            refused: 0,
        }
    }

    /// At most `max` server transactions at once (at least one): a new
    /// request beyond that gets a stateless 503 with Retry-After (RFC 3261
    /// §21.5.4) and no transaction, so a flood cannot grow the table
    /// without bound.
    pub fn set_max_server_transactions(&mut self, max: usize) {
        self.max_server = max.max(1);
    }

    /// New requests refused so far because the table was full.
    pub fn refused_for_room(&self) -> u64 {
        self.refused
    }

    /// The timer configuration.
    pub fn config(&self) -> TimerConfig {
        self.config
    }

    /// Raw bytes from a transport (one UDP datagram or one TCP frame from [`message::frame_len`]).
    ///
    /// Keep-alives (only CR/LF) are ignored. A malformed request gets a stateless 400 (501 for an
    /// unknown method, 505 for a bad version) sent back to `peer` when
    /// [`message::error_response_for_raw`] can build one, and an [`Event::Malformed`] is
    /// reported; nothing here panics.
    ///
    /// Requests over UDP get RFC 3261 §18.2.1 / RFC 3581 stamping of the top Via: `received=`
    /// when the source IP differs from sent-by (or rport was requested) and `rport=` with the
    /// source port when the Via has an empty `rport`. Responses of a server transaction go to the
    /// TCP connection the request came on, or over UDP to received/rport if present, else to the
    /// numeric sent-by host and port (default 5060), else (sent-by is a name) to the source address.
    pub fn handle_bytes(&mut self, now: Instant, data: &[u8], peer: Peer) {
        if message::is_keepalive(data) {
            return;
        }
        match message::parse(data) {
            Err(ParseError::Empty) => {}
            Err(error) => {
                if let Some(reply) =
                    message::error_response_for_raw(data, error.status_code(), &error.to_string())
                {
                    self.transmits.push_back(Transmit { peer, data: reply });
                }
                self.events.push_back(Event::Malformed { peer, error });
            }
            Ok(message) => self.handle_message(now, message, peer),
        }
    }

    /// A message the caller has parsed already ([`message::parse`]), for instance to decide
    /// whether to let it in at all: handled as [`Self::handle_bytes`] handles it after parsing
    /// (the Via stamping included).
    pub fn handle_message(&mut self, now: Instant, message: SipMessage, peer: Peer) {
        match message {
            SipMessage::Request(mut request) => {
                if peer.transport == Transport::Udp {
                    stamp_via(&mut request, peer.addr);
                }
                if request.method == Method::Ack {
                    self.on_ack(now, request, peer);
                } else {
                    self.on_request(now, request, peer);
                }
            }
            SipMessage::Response(response) => self.on_response(now, response, peer),
        }
    }

    /// Start a client transaction (INVITE or non-INVITE) and transmit the request at once.
    ///
    /// The request should carry a top Via with an RFC 3261 branch ([`message::new_branch`]);
    /// a missing branch is added. Do not use for ACK: an ACK is sent statelessly and the
    /// returned key names no transaction.
    pub fn send_request(&mut self, now: Instant, mut request: Request, peer: Peer) -> TxKey {
        let key = self.new_key();
        if request.method == Method::Ack {
            self.send_stateless(SipMessage::Request(request), peer);
            return key;
        }
        let branch = match message::top_via(&request) {
            Some(via) => match via.branch() {
                Some(b) => b.to_string(),
                None => {
                    let mut via = via;
                    let b = message::new_branch();
                    via.set_param("branch", Some(b.clone()));
                    message::set_top_via(&mut request, &via);
                    b
                }
            },
            None => format!("no-via-{}", key.0),
        };
        let invite = request.method == Method::Invite;
        let bytes = message::request_to_bytes(&request);
        let cm = ClientMatch {
            branch,
            method: request.method.to_string(),
        };
        self.client_index.insert(cm.clone(), key);
        self.transmits.push_back(Transmit {
            peer,
            data: bytes.clone(),
        });
        let t1 = self.config.t1;
        self.txs.insert(
            key,
            Tx {
                kind: if invite {
                    Kind::ClientInvite
                } else {
                    Kind::ClientNonInvite
                },
                state: if invite {
                    State::Calling
                } else {
                    State::Trying
                },
                request,
                peer,
                reply_to: peer,
                request_bytes: bytes,
                last_response: None,
                ack: None,
                interval: t1,
                timers: [None; 3],
                server_match: None,
                client_match: Some(cm),
                ack_match: None,
                got_ack: false,
            },
        );
        if peer.transport == Transport::Udp {
            self.set_timer(key, TimerKind::Retransmit, Some(now + t1));
        }
        self.set_timer(key, TimerKind::Timeout, Some(now + 64 * t1));
        key
    }

    /// Send a response on a server transaction.
    ///
    /// INVITE: 1xx keeps Proceeding; 2xx moves to Accepted (RFC 6026): over UDP the layer
    /// retransmits the 2xx at T1, 2T1, ... capped at T2 until the ACK (matched by Call-ID, CSeq
    /// number and From tag, since it has its own branch) arrives; Timer L (64·T1) ends the
    /// state and reports [`Event::Timeout`] if no ACK came. Further 2xx may be sent in Accepted.
    /// 3xx-6xx move to Completed: Timer G retransmits over UDP (T1 doubling, capped at T2),
    /// Timer H (64·T1) reports a missing ACK; the ACK is absorbed and Timer I (T4 UDP, 0 TCP)
    /// ends the transaction. Non-INVITE: Trying/Proceeding/Completed, Timer J (64·T1 UDP, 0 TCP);
    /// request retransmissions re-send the last response.
    pub fn send_response(
        &mut self,
        now: Instant,
        key: TxKey,
        response: Response,
    ) -> Result<(), TransactionError> {
        let code = response.status_code.code();
        if !(100..=699).contains(&code) {
            return Err(TransactionError::BadStatus(code));
        }
        let config = self.config;
        let tx = self
            .txs
            .get_mut(&key)
            .ok_or(TransactionError::UnknownTransaction(key))?;
        if !tx.kind.is_server() {
            return Err(TransactionError::NotServer(key));
        }
        let invalid = TransactionError::InvalidState {
            key,
            state: tx.state.name(),
            code,
        };
        let udp = tx.reply_to.transport == Transport::Udp;
        let bytes = message::response_to_bytes(&response);
        let peer = tx.reply_to;
        match (tx.kind, tx.state) {
            (Kind::ServerInvite, State::Proceeding) => {
                tx.last_response = Some(bytes.clone());
                self.transmits.push_back(Transmit { peer, data: bytes });
                if code >= 300 {
                    tx.state = State::Completed;
                    tx.interval = config.t1;
                    let retransmit = udp.then_some(now + config.t1);
                    self.set_timer(key, TimerKind::Retransmit, retransmit);
                    self.set_timer(key, TimerKind::Timeout, Some(now + 64 * config.t1));
                } else if code >= 200 {
                    tx.state = State::Accepted;
                    tx.interval = config.t1;
                    let am = ack_match(&tx.request).map(|m| AckMatch {
                        to_tag: message::to_tag(&response).unwrap_or_default(),
                        ..m
                    });
                    if let Some(am) = am.clone() {
                        self.accepted_index.insert(am, key);
                    }
                    tx.ack_match = am;
                    let retransmit = udp.then_some(now + config.t1);
                    self.set_timer(key, TimerKind::Retransmit, retransmit);
                    self.set_timer(key, TimerKind::Timeout, Some(now + 64 * config.t1));
                }
                Ok(())
            }
            (Kind::ServerInvite, State::Accepted) if (200..300).contains(&code) => {
                tx.last_response = Some(bytes.clone());
                self.transmits.push_back(Transmit { peer, data: bytes });
                Ok(())
            }
            (Kind::ServerNonInvite, State::Trying | State::Proceeding) => {
                tx.last_response = Some(bytes.clone());
                self.transmits.push_back(Transmit { peer, data: bytes });
                if code < 200 {
                    tx.state = State::Proceeding;
                } else {
                    tx.state = State::Completed;
                    self.set_timer(key, TimerKind::Timeout, None);
                    if udp {
                        self.set_timer(key, TimerKind::Cleanup, Some(now + 64 * config.t1));
                    } else {
                        self.terminate(key);
                    }
                }
                Ok(())
            }
            _ => Err(invalid),
        }
    }

    /// Send a message outside any transaction (the ACK for a 2xx, stateless responses).
    pub fn send_stateless(&mut self, message: SipMessage, peer: Peer) {
        self.transmits.push_back(Transmit {
            peer,
            data: message::to_bytes(&message),
        });
    }

    /// Fire every timer due at or before `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(&entry) = self.timers.first() {
            let (at, key, kind) = entry;
            if at > now {
                break;
            }
            self.timers.remove(&entry);
            if let Some(tx) = self.txs.get_mut(&key) {
                tx.timers[kind as usize] = None;
            }
            self.on_timer(now, key, kind);
        }
    }

    /// The earliest pending timer.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.first().map(|(at, _, _)| *at)
    }

    /// The next datagram/frame to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event for the TU.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The transport to `peer` failed (a TCP connection could not be
    /// opened, or closed under a request). RFC 3261 §8.1.3.1 / §17.1.4: the
    /// client transactions waiting on it end now, each reported as
    /// [`Event::Timeout`], rather than after Timer B or F. Returns how many.
    pub fn transport_failed(&mut self, peer: Peer) -> usize {
        let failed: Vec<TxKey> = self
            .txs
            .iter()
            .filter(|(_, tx)| {
                !tx.kind.is_server()
                    && tx.peer == peer
                    && matches!(tx.state, State::Calling | State::Trying | State::Proceeding)
            })
            .map(|(key, _)| *key)
            .collect();
        for key in &failed {
            self.events.push_back(Event::Timeout { key: *key });
            self.terminate(*key);
        }
        failed.len()
    }

    /// RFC 3261 §9.2: the INVITE server transaction a CANCEL refers to (same top Via branch and
    /// sent-by, Call-ID and CSeq number, method INVITE), if it is still alive.
    pub fn find_invite_for_cancel(&self, cancel: &Request) -> Option<TxKey> {
        let mut m = server_match(cancel)?;
        m.method = Method::Invite.to_string();
        let key = *self.server_index.get(&m)?;
        let tx = self.txs.get(&key)?;
        let same = tx.kind == Kind::ServerInvite
            && message::call_id(&tx.request) == message::call_id(cancel)
            && message::cseq(&tx.request).map(|c| c.0) == message::cseq(cancel).map(|c| c.0);
        same.then_some(key)
    }

    /// The original request of a live transaction.
    pub fn request_of(&self, key: TxKey) -> Option<&Request> {
        self.txs.get(&key).map(|tx| &tx.request)
    }

    /// Where the responses of a live server transaction are sent.
    pub fn reply_peer_of(&self, key: TxKey) -> Option<Peer> {
        self.txs
            .get(&key)
            .filter(|tx| tx.kind.is_server())
            .map(|tx| tx.reply_to)
    }

    /// Number of live transactions.
    pub fn len(&self) -> usize {
        self.txs.len()
    }

    /// True if no transaction is alive.
    pub fn is_empty(&self) -> bool {
        self.txs.is_empty()
    }

    // -----------------------------------------------------------------------------------------

    fn new_key(&mut self) -> TxKey {
        let key = TxKey(self.next_id);
        self.next_id += 1;
        key
    }

    fn set_timer(&mut self, key: TxKey, kind: TimerKind, at: Option<Instant>) {
        let Some(tx) = self.txs.get_mut(&key) else {
            return;
        };
        if let Some(old) = tx.timers[kind as usize].take() {
            self.timers.remove(&(old, key, kind));
        }
        if let Some(at) = at {
            tx.timers[kind as usize] = Some(at);
            self.timers.insert((at, key, kind));
        }
    }

    fn terminate(&mut self, key: TxKey) {
        let Some(tx) = self.txs.remove(&key) else {
            return;
        };
        for (i, kind) in [
            TimerKind::Retransmit,
            TimerKind::Timeout,
            TimerKind::Cleanup,
        ]
        .into_iter()
        .enumerate()
        {
            if let Some(at) = tx.timers[i] {
                self.timers.remove(&(at, key, kind));
            }
        }
        if let Some(m) = tx.server_match {
            if self.server_index.get(&m) == Some(&key) {
                self.server_index.remove(&m);
            }
        }
        if let Some(m) = tx.client_match {
            if self.client_index.get(&m) == Some(&key) {
                self.client_index.remove(&m);
            }
        }
        if let Some(m) = tx.ack_match {
            if self.accepted_index.get(&m) == Some(&key) {
                self.accepted_index.remove(&m);
            }
        }
    }

    fn transmit_request(&mut self, key: TxKey) {
        if let Some(tx) = self.txs.get(&key) {
            self.transmits.push_back(Transmit {
                peer: tx.peer,
                data: tx.request_bytes.clone(),
            });
        }
    }

    fn transmit_last_response(&mut self, key: TxKey) {
        if let Some(tx) = self.txs.get(&key) {
            if let Some(data) = tx.last_response.clone() {
                self.transmits.push_back(Transmit {
                    peer: tx.reply_to,
                    data,
                });
            }
        }
    }

    fn on_timer(&mut self, now: Instant, key: TxKey, kind: TimerKind) {
        let config = self.config;
        let Some(tx) = self.txs.get_mut(&key) else {
            return;
        };
        match (tx.kind, tx.state, kind) {
            // Timer A: INVITE retransmission, doubling without cap.
            (Kind::ClientInvite, State::Calling, TimerKind::Retransmit) => {
                tx.interval = tx.interval.saturating_mul(2);
                let next = now + tx.interval;
                self.transmit_request(key);
                self.set_timer(key, TimerKind::Retransmit, Some(next));
            }
            // Timer E: non-INVITE retransmission, doubling capped at T2 (T2 in Proceeding).
            (Kind::ClientNonInvite, State::Trying | State::Proceeding, TimerKind::Retransmit) => {
                tx.interval = if tx.state == State::Trying {
                    tx.interval.saturating_mul(2).min(config.t2)
                } else {
                    config.t2
                };
                let next = now + tx.interval;
                self.transmit_request(key);
                self.set_timer(key, TimerKind::Retransmit, Some(next));
            }
            // Timer B, the Proceeding guard, Timer F.
            (Kind::ClientInvite, State::Calling | State::Proceeding, TimerKind::Timeout)
            | (Kind::ClientNonInvite, State::Trying | State::Proceeding, TimerKind::Timeout) => {
                self.events.push_back(Event::Timeout { key });
                self.terminate(key);
            }
            // Timer G: non-2xx final retransmission, doubling capped at T2.
            (Kind::ServerInvite, State::Completed, TimerKind::Retransmit) => {
                tx.interval = tx.interval.saturating_mul(2).min(config.t2);
                let next = now + tx.interval;
                self.transmit_last_response(key);
                self.set_timer(key, TimerKind::Retransmit, Some(next));
            }
            // RFC 6026: 2xx retransmission until the ACK arrives.
            (Kind::ServerInvite, State::Accepted, TimerKind::Retransmit) if !tx.got_ack => {
                tx.interval = tx.interval.saturating_mul(2).min(config.t2);
                let next = now + tx.interval;
                self.transmit_last_response(key);
                self.set_timer(key, TimerKind::Retransmit, Some(next));
            }
            // Timer H: no ACK for the non-2xx final response.
            (Kind::ServerInvite, State::Completed, TimerKind::Timeout) => {
                self.events.push_back(Event::Timeout { key });
                self.terminate(key);
            }
            // Timer L: end of Accepted; a timeout if the 2xx was never ACKed.
            (Kind::ServerInvite, State::Accepted, TimerKind::Timeout) => {
                if !tx.got_ack {
                    self.events.push_back(Event::Timeout { key });
                }
                self.terminate(key);
            }
            // A non-INVITE server transaction the TU never answered: the client gave up at
            // 64*T1 (Timer F), so drop it silently.
            (Kind::ServerNonInvite, State::Trying | State::Proceeding, TimerKind::Timeout) => {
                self.terminate(key);
            }
            // Timers D, I, J, K, M.
            (_, _, TimerKind::Cleanup) => self.terminate(key),
            _ => {}
        }
    }

    fn on_request(&mut self, now: Instant, request: Request, peer: Peer) {
        let Some(m) = server_match(&request) else {
            return;
        };
        if let Some(&key) = self.server_index.get(&m) {
            // A retransmission: re-send the last response (none yet in non-INVITE Trying).
            if let Some(tx) = self.txs.get(&key) {
                if tx.state != State::Confirmed {
                    self.transmit_last_response(key);
                }
            }
            return;
        }
        let reply_to = response_destination(&request, peer);
        if self.server_index.len() >= self.max_server {
            self.refused = self.refused.saturating_add(1);
            let mut busy = message::response(&request, 503, "Service Unavailable", None);
            busy.headers.push(rsip::Header::Other(
                "Retry-After".into(),
                OVERLOAD_RETRY_AFTER.to_string(),
            ));
            self.transmits.push_back(Transmit {
                peer: reply_to,
                data: message::response_to_bytes(&busy),
            });
            return;
        }
        let key = self.new_key();
        let invite = request.method == Method::Invite;
        let mut tx = Tx {
            kind: if invite {
                Kind::ServerInvite
            } else {
                Kind::ServerNonInvite
            },
            state: if invite {
                State::Proceeding
            } else {
                State::Trying
            },
            request: request.clone(),
            peer,
            reply_to,
            request_bytes: Bytes::new(),
            last_response: None,
            ack: None,
            interval: self.config.t1,
            timers: [None; 3],
            server_match: Some(m.clone()),
            client_match: None,
            ack_match: None,
            got_ack: false,
        };
        if invite {
            let trying = message::response(&request, 100, "Trying", None);
            let data = message::response_to_bytes(&trying);
            tx.last_response = Some(data.clone());
            self.transmits.push_back(Transmit {
                peer: reply_to,
                data,
            });
        }
        self.txs.insert(key, tx);
        self.server_index.insert(m, key);
        if !invite {
            self.set_timer(key, TimerKind::Timeout, Some(now + 64 * self.config.t1));
        }
        self.events.push_back(Event::Request { key, request, peer });
    }

    fn on_ack(&mut self, now: Instant, request: Request, peer: Peer) {
        let config = self.config;
        if let Some(m) = server_match(&request) {
            if let Some(&key) = self.server_index.get(&m) {
                if let Some(tx) = self.txs.get_mut(&key) {
                    match tx.state {
                        State::Completed => {
                            // ACK for our non-2xx final response: absorbed.
                            tx.state = State::Confirmed;
                            let udp = tx.reply_to.transport == Transport::Udp;
                            self.set_timer(key, TimerKind::Retransmit, None);
                            self.set_timer(key, TimerKind::Timeout, None);
                            if udp {
                                self.set_timer(key, TimerKind::Cleanup, Some(now + config.t4));
                            } else {
                                self.terminate(key);
                            }
                            return;
                        }
                        State::Confirmed => return,
                        State::Accepted => {
                            // A peer that reuses the INVITE branch for the 2xx
                            // ACK; it must still carry the 2xx's To tag.
                            let tag = message::to_tag(&request).unwrap_or_default();
                            if tx.ack_match.as_ref().is_some_and(|m| m.to_tag == tag) {
                                tx.got_ack = true;
                                self.set_timer(key, TimerKind::Retransmit, None);
                            }
                            self.events.push_back(Event::Ack { request, peer });
                            return;
                        }
                        _ => return,
                    }
                }
            }
        }
        if let Some(am) = ack_match(&request) {
            if let Some(&key) = self.accepted_index.get(&am) {
                if let Some(tx) = self.txs.get_mut(&key) {
                    tx.got_ack = true;
                    self.set_timer(key, TimerKind::Retransmit, None);
                }
            }
        }
        self.events.push_back(Event::Ack { request, peer });
    }

    fn on_response(&mut self, now: Instant, response: Response, peer: Peer) {
        let config = self.config;
        let cm = match (message::top_via_branch(&response), message::cseq(&response)) {
            (Some(branch), Some((_, method))) => ClientMatch {
                branch,
                method: method.to_string(),
            },
            _ => {
                self.events
                    .push_back(Event::StrayResponse { response, peer });
                return;
            }
        };
        let Some(&key) = self.client_index.get(&cm) else {
            self.events
                .push_back(Event::StrayResponse { response, peer });
            return;
        };
        let Some(tx) = self.txs.get_mut(&key) else {
            return;
        };
        let code = response.status_code.code();
        let udp = tx.peer.transport == Transport::Udp;
        match (tx.kind, tx.state) {
            (Kind::ClientInvite, State::Calling | State::Proceeding) => {
                if code < 200 {
                    tx.state = State::Proceeding;
                    self.set_timer(key, TimerKind::Retransmit, None);
                    self.set_timer(key, TimerKind::Timeout, Some(now + PROCEEDING_GUARD));
                    self.events.push_back(Event::Response { key, response });
                } else if code < 300 {
                    tx.state = State::Accepted;
                    self.set_timer(key, TimerKind::Retransmit, None);
                    self.set_timer(key, TimerKind::Timeout, None);
                    self.set_timer(key, TimerKind::Cleanup, Some(now + 64 * config.t1));
                    self.events.push_back(Event::Response { key, response });
                } else {
                    let ack = message::request_to_bytes(&build_ack(&tx.request, &response));
                    tx.ack = Some(ack.clone());
                    tx.state = State::Completed;
                    let peer = tx.peer;
                    self.transmits.push_back(Transmit { peer, data: ack });
                    self.set_timer(key, TimerKind::Retransmit, None);
                    self.set_timer(key, TimerKind::Timeout, None);
                    self.events.push_back(Event::Response { key, response });
                    if udp {
                        self.set_timer(key, TimerKind::Cleanup, Some(now + TIMER_D));
                    } else {
                        self.terminate(key);
                    }
                }
            }
            (Kind::ClientInvite, State::Accepted) if (200..300).contains(&code) => {
                self.events.push_back(Event::Response { key, response });
            }
            (Kind::ClientInvite, State::Completed) if code >= 300 => {
                if let Some(ack) = tx.ack.clone() {
                    let peer = tx.peer;
                    self.transmits.push_back(Transmit { peer, data: ack });
                }
            }
            (Kind::ClientNonInvite, State::Trying | State::Proceeding) => {
                if code < 200 {
                    tx.state = State::Proceeding;
                    self.events.push_back(Event::Response { key, response });
                } else {
                    tx.state = State::Completed;
                    self.set_timer(key, TimerKind::Retransmit, None);
                    self.set_timer(key, TimerKind::Timeout, None);
                    self.events.push_back(Event::Response { key, response });
                    if udp {
                        self.set_timer(key, TimerKind::Cleanup, Some(now + config.t4));
                    } else {
                        self.terminate(key);
                    }
                }
            }
            _ => {}
        }
    }
}

/// RFC 3261 §17.2.3 matching key of a request at a server (ACK maps to INVITE). Requests whose
/// branch lacks the magic cookie (RFC 2543 peers) get a fallback key from Call-ID, From tag,
/// CSeq number, Request-URI and the whole top Via.
fn server_match(request: &Request) -> Option<ServerMatch> {
    let via = message::top_via(request)?;
    let method = if request.method == Method::Ack {
        Method::Invite.to_string()
    } else {
        request.method.to_string()
    };
    match via.branch() {
        Some(b) if b.starts_with("z9hG4bK") => Some(ServerMatch {
            branch: b.to_string(),
            sent_by: via.sent_by().to_ascii_lowercase(),
            method,
        }),
        _ => {
            let (n, _) = message::cseq(request)?;
            Some(ServerMatch {
                branch: format!(
                    "rfc2543|{}|{}|{}|{}",
                    message::call_id(request)?,
                    message::from_tag(request).unwrap_or_default(),
                    n,
                    message::uri_to_string(&request.uri)
                ),
                sent_by: via.to_string(),
                method,
            })
        }
    }
}

/// How an ACK for a 2xx is matched to its INVITE (it has a different
/// branch): Call-ID, CSeq number, From tag, and the To tag (the 2xx's).
fn ack_match(request: &Request) -> Option<AckMatch> {
    Some(AckMatch {
        call_id: message::call_id(request)?,
        cseq: message::cseq(request)?.0,
        from_tag: message::from_tag(request).unwrap_or_default(),
        to_tag: message::to_tag(request).unwrap_or_default(),
    })
}

/// RFC 3261 §18.2.1 + RFC 3581 stamping of the top Via of a request received over UDP.
fn stamp_via(request: &mut Request, source: SocketAddr) {
    let Some(mut via) = message::top_via(request) else {
        return;
    };
    let rport_requested = via.param("rport") == Some(None);
    let mut changed = false;
    if via.host_ip() != Some(source.ip()) || rport_requested {
        via.set_param("received", Some(source.ip().to_string()));
        changed = true;
    }
    if rport_requested {
        via.set_param("rport", Some(source.port().to_string()));
        changed = true;
    }
    if changed {
        message::set_top_via(request, &via);
    }
}

/// Where the responses to `request` go (RFC 3261 §18.2.2, RFC 3581 §4).
fn response_destination(request: &Request, source: Peer) -> Peer {
    if source.transport != Transport::Udp {
        return source;
    }
    let Some(via) = message::top_via(request) else {
        return source;
    };
    let default_port = via.port.unwrap_or(5060);
    if let Some(Some(received)) = via.param("received") {
        if let Ok(ip) = received
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
        {
            let port = via
                .param("rport")
                .flatten()
                .and_then(|p| p.parse::<u16>().ok())
                .unwrap_or(default_port);
            return Peer::udp(SocketAddr::new(ip, port));
        }
    }
    match via.host_ip() {
        Some(ip) => Peer::udp(SocketAddr::new(ip, default_port)),
        None => source,
    }
}

/// The ACK for a non-2xx final response (RFC 3261 §17.1.1.3): same Request-URI, Call-ID, From,
/// CSeq number and top Via (same branch) as the INVITE, To from the response, the INVITE's
/// Route headers.
fn build_ack(invite: &Request, response: &Response) -> Request {
    let mut headers: Vec<Header> = Vec::new();
    if let Some(via) = message::header_value(invite, "Via") {
        if let Some(top) = message::split_commas(via).first() {
            headers.push(message::make_header("Via", top));
        }
    }
    headers.push(message::make_header("Max-Forwards", "70"));
    for h in invite.headers.iter() {
        match h {
            Header::From(_) | Header::CallId(_) | Header::Route(_) => headers.push(h.clone()),
            _ => {}
        }
    }
    if let Some(to) = message::header_value(response, "To") {
        headers.push(message::make_header("To", to));
    }
    let n = message::cseq(invite).map_or(0, |c| c.0);
    headers.push(message::make_header("CSeq", &format!("{n} ACK")));
    headers.push(message::make_header("Content-Length", "0"));
    Request {
        method: Method::Ack,
        uri: invite.uri.clone(),
        version: rsip::Version::V2,
        headers: Headers::from(headers),
        body: vec![],
    }
}
