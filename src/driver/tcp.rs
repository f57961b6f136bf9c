//! SIP over TCP: connections accepted from phones and trunks, and those
//! Senim opens itself to a TCP trunk on the first message it sends there.
//! Each connection is a task that frames what it reads by Content-Length
//! and writes what the endpoint gives it. Pings (CRLF CRLF) get a pong
//! (CRLF); on a connection Senim opened, Senim pings too (RFC 5626
//! §4.4.1, see [`senim_sip::keepalive`]).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use senim_sip::keepalive::{self, Keepalive, KeepaliveAction};
use senim_sip::message::{self, Peer, Transport};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use super::messages::ToEndpoint;

/// How long opening a connection to a trunk may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// An accepted connection must bring a whole message this soon.
pub const FIRST_MESSAGE_WITHIN: Duration = Duration::from_secs(10);
/// An accepted connection silent this long is closed (softphones send
/// keep-alives or refresh their registrations far more often).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(15 * 60);
/// Most connections at once, in all.
pub const MAX_CONNECTIONS: usize = 1024;
/// Most connections at once from one IP address.
pub const MAX_PER_ADDRESS: usize = 32;
/// When a connection ends, how long what is already queued for it (such as
/// the answer to the frame that ended it) may take to be written.
const LINGER: Duration = Duration::from_secs(1);

/// How many connections there are, in all and per address: a connection
/// over a limit is closed as soon as it is accepted.
#[derive(Debug, Default)]
pub struct ConnectionLimits {
    open: Mutex<HashMap<IpAddr, usize>>,
    /// Connections refused at accept.
    pub refused: AtomicU64,
}

/// One admitted connection's place; given back when dropped.
pub struct ConnectionSlot {
    limits: Arc<ConnectionLimits>,
    ip: IpAddr,
}

impl ConnectionLimits {
    /// A place for a connection from `ip`, if there is room.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<ConnectionSlot> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let total: usize = open.values().sum();
        let here = open.get(&ip).copied().unwrap_or(0);
        if total >= MAX_CONNECTIONS || here >= MAX_PER_ADDRESS {
            self.refused.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        open.insert(ip, here + 1);
        Some(ConnectionSlot {
            limits: self.clone(),
            ip,
        })
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.open
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .sum()
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut open = self.limits.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = open.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// Accept connections until the task is aborted.
pub async fn accept(
    listener: TcpListener,
    tx: mpsc::UnboundedSender<ToEndpoint>,
    limits: Arc<ConnectionLimits>,
) {
    loop {
        match listener.accept().await {
            Ok((stream, addr)) => {
                let Some(slot) = limits.admit(addr.ip()) else {
                    tracing::debug!(%addr, "TCP connection refused: too many");
                    drop(stream);
                    continue;
                };
                let tx = tx.clone();
                tokio::spawn(async move {
                    let _slot = slot;
                    connection(stream, addr, tx, Role::Accepted).await
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "tcp accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Open a connection to `addr` and serve it, pinging every `keepalive`.
/// A connection that cannot be opened is reported as
/// [`ToEndpoint::TcpFailed`].
pub async fn dial(
    addr: SocketAddr,
    keepalive: Option<Duration>,
    tx: mpsc::UnboundedSender<ToEndpoint>,
) {
    match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await {
        Ok(Ok(stream)) => {
            let _ = stream.set_nodelay(true);
            tracing::info!(%addr, "TCP connection opened");
            connection(stream, addr, tx, Role::Opened { keepalive }).await;
        }
        Ok(Err(e)) => {
            tracing::warn!(%addr, error = %e, "could not open a TCP connection");
            let _ = tx.send(ToEndpoint::TcpFailed { addr });
        }
        Err(_) => {
            tracing::warn!(%addr, "no TCP connection within {CONNECT_TIMEOUT:?}");
            let _ = tx.send(ToEndpoint::TcpFailed { addr });
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(t) => tokio::time::sleep_until(t.into()).await,
        None => std::future::pending().await,
    }
}

/// Who opened a connection.
#[derive(Debug, Clone, Copy)]
enum Role {
    /// The far end (a phone, a trunk): it must speak soon and keep
    /// speaking, or it is closed.
    Accepted,
    /// Senim, to a trunk: kept open, pinged every `keepalive`.
    Opened { keepalive: Option<Duration> },
}

/// One TCP connection: frames by Content-Length on the way in, writes what the
/// endpoint sends on the way out. A hopeless frame closes the connection
/// (answered first when it is a request that names whom to answer: 400, 413
/// or 513), and so does a flow whose pings went unanswered, and an accepted
/// connection that says nothing whole within [`FIRST_MESSAGE_WITHIN`] or
/// nothing at all for [`IDLE_TIMEOUT`]. What is queued when it closes gets
/// [`LINGER`] to go out.
async fn connection(
    stream: TcpStream,
    addr: SocketAddr,
    tx: mpsc::UnboundedSender<ToEndpoint>,
    role: Role,
) {
    let (keepalive, mut silence_limit) = match role {
        Role::Accepted => (None, Some(FIRST_MESSAGE_WITHIN)),
        Role::Opened { keepalive } => (keepalive, None),
    };
    let mut heard_at = Instant::now();
    let (mut read, mut write) = stream.into_split();
    let (wtx, mut wrx) = mpsc::unbounded_channel::<Bytes>();
    if tx
        .send(ToEndpoint::TcpOpened {
            addr,
            writer: wtx.clone(),
        })
        .is_err()
    {
        return;
    }
    let peer = Peer {
        transport: Transport::Tcp,
        addr,
    };
    let mut writer = tokio::spawn(async move {
        while let Some(data) = wrx.recv().await {
            if write.write_all(&data).await.is_err() {
                break;
            }
        }
    });
    let mut pings = keepalive.map(|every| Keepalive::new(every, Instant::now()));
    let mut buf = BytesMut::with_capacity(8192);
    'conn: loop {
        let silent_by = silence_limit.map(|d| heard_at + d);
        let wake = [pings.as_ref().and_then(Keepalive::poll_timeout), silent_by]
            .into_iter()
            .flatten()
            .min();
        tokio::select! {
            r = read.read_buf(&mut buf) => match r {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    // Any bytes keep a connection that has spoken whole
                    // messages alive; before that, only a whole message does.
                    if silence_limit == Some(IDLE_TIMEOUT) {
                        heard_at = Instant::now();
                    }
                }
            },
            _ = sleep_until(wake) => {
                if silent_by.is_some_and(|t| t <= Instant::now()) {
                    tracing::debug!(%addr, "closing a silent TCP connection");
                    break;
                }
                match pings.as_mut().and_then(|k| k.handle_timeout(Instant::now())) {
                    Some(KeepaliveAction::SendPing) => {
                        let _ = wtx.send(Bytes::from_static(keepalive::PING));
                    }
                    Some(KeepaliveAction::FlowFailed) => {
                        tracing::warn!(%addr, "no answer to a keep-alive ping; closing the connection");
                        break;
                    }
                    None => {}
                }
                continue;
            }
        }
        loop {
            match message::frame_len(&buf) {
                Ok(Some(n)) => {
                    let frame = buf.split_to(n).freeze();
                    if message::is_keepalive(&frame) {
                        if keepalive::is_ping(&frame) {
                            let _ = wtx.send(Bytes::from_static(keepalive::PONG));
                        }
                        if let Some(k) = pings.as_mut() {
                            k.on_received(Instant::now(), !keepalive::is_ping(&frame));
                        }
                        continue;
                    }
                    if let Some(k) = pings.as_mut() {
                        k.on_received(Instant::now(), false);
                    }
                    if silence_limit.is_some() {
                        silence_limit = Some(IDLE_TIMEOUT);
                        heard_at = Instant::now();
                    }
                    if tx.send(ToEndpoint::TcpFrame { data: frame, peer }).is_err() {
                        break 'conn;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::debug!(error = %e, %addr, "closing TCP connection on a bad frame");
                    if let Some(reply) =
                        message::error_response_for_raw(&buf, e.status_code(), &e.to_string())
                    {
                        let _ = wtx.send(reply);
                    }
                    break 'conn;
                }
            }
        }
    }
    // The endpoint forgets the connection; once it and this task have let go
    // of the writer's queue, the writer ends after writing what is queued.
    let _ = tx.send(ToEndpoint::TcpClosed { addr });
    drop(wtx);
    if tokio::time::timeout(LINGER, &mut writer).await.is_err() {
        writer.abort();
    }
}
