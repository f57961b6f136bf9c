//! SIP over TCP and TLS: connections accepted from phones and trunks, and
//! those Senim opens itself to a TCP or TLS trunk on the first message it
//! sends there. Each connection is a task that frames what it reads by
//! Content-Length and writes what the endpoint gives it; over TLS the same
//! task runs on the decrypted stream, after the handshake. Pings (CRLF CRLF)
//! get a pong (CRLF); on a connection Senim opened, Senim pings too (RFC
//! 5626 §4.4.1, see [`senim_sip::keepalive`]).
//!
//! A connection is known to the endpoint by its [`Peer`] (transport and
//! address), so a TLS and a TCP connection from one address never mix.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use senim_sip::keepalive::{self, Keepalive, KeepaliveAction};
use senim_sip::message::{self, Peer, Transport};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use super::messages::ToEndpoint;
use super::stats::SipStats;
use super::tls::TrunkTls;

/// How long opening a connection to a trunk may take (with the TLS
/// handshake, over TLS).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// An accepted TLS connection must finish its handshake this soon.
pub const HANDSHAKE_WITHIN: Duration = Duration::from_secs(10);
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

/// Accept connections until the task is aborted: SIP over TCP, or over TLS
/// with `tls` (the handshake first, within [`HANDSHAKE_WITHIN`]; failures
/// counted in `stats`). Both count against the same [`ConnectionLimits`].
pub async fn accept(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    tx: mpsc::UnboundedSender<ToEndpoint>,
    limits: Arc<ConnectionLimits>,
    stats: Arc<SipStats>,
) {
    let transport = if tls.is_some() {
        Transport::Tls
    } else {
        Transport::Tcp
    };
    loop {
        match listener.accept().await {
            Ok((stream, addr)) => {
                let Some(slot) = limits.admit(addr.ip()) else {
                    tracing::debug!(%addr, %transport, "connection refused: too many");
                    drop(stream);
                    continue;
                };
                let tx = tx.clone();
                let tls = tls.clone();
                let stats = stats.clone();
                tokio::spawn(async move {
                    let _slot = slot;
                    let Some(acceptor) = tls else {
                        return connection(stream, Peer::tcp(addr), tx, Role::Accepted).await;
                    };
                    let _ = stream.set_nodelay(true);
                    match tokio::time::timeout(HANDSHAKE_WITHIN, acceptor.accept(stream)).await {
                        Ok(Ok(stream)) => {
                            connection(stream, Peer::tls(addr), tx, Role::Accepted).await
                        }
                        Ok(Err(e)) => {
                            stats.tls_handshakes_failed.fetch_add(1, Ordering::Relaxed);
                            tracing::debug!(%addr, error = %e, "TLS handshake failed");
                        }
                        Err(_) => {
                            stats.tls_handshakes_failed.fetch_add(1, Ordering::Relaxed);
                            tracing::debug!(%addr, "no TLS handshake within {HANDSHAKE_WITHIN:?}");
                        }
                    }
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, %transport, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Open a connection to `peer` (TCP, or TLS with `tls`: the trunk's
/// certificate checked against its CA and name) and serve it, pinging every
/// `keepalive`. A connection that cannot be opened is reported as
/// [`ToEndpoint::TcpFailed`].
pub async fn dial(
    peer: Peer,
    keepalive: Option<Duration>,
    tls: Option<TrunkTls>,
    tx: mpsc::UnboundedSender<ToEndpoint>,
) {
    let addr = peer.addr;
    if peer.transport == Transport::Tls && tls.is_none() {
        // Never SIP in clear to a peer meant to be reached over TLS.
        tracing::error!(%addr, "no TLS settings for this TLS peer; nothing sent");
        let _ = tx.send(ToEndpoint::TcpFailed { peer });
        return;
    }
    let role = Role::Opened { keepalive };
    let opened = tokio::time::timeout(CONNECT_TIMEOUT, async {
        let stream = TcpStream::connect(addr).await?;
        let _ = stream.set_nodelay(true);
        match tls {
            None => Ok(Stream::Tcp(stream)),
            Some(t) => t
                .connector
                .connect(t.name.clone(), stream)
                .await
                .map(|s| Stream::Tls(Box::new(s))),
        }
    })
    .await;
    match opened {
        Ok(Ok(Stream::Tcp(stream))) => {
            tracing::info!(%addr, "TCP connection opened");
            connection(stream, peer, tx, role).await;
        }
        Ok(Ok(Stream::Tls(stream))) => {
            tracing::info!(%addr, "TLS connection opened");
            connection(*stream, peer, tx, role).await;
        }
        Ok(Err(e)) => {
            tracing::warn!(%addr, transport = %peer.transport, error = %e, "could not open a connection");
            let _ = tx.send(ToEndpoint::TcpFailed { peer });
        }
        Err(_) => {
            tracing::warn!(%addr, transport = %peer.transport, "no connection within {CONNECT_TIMEOUT:?}");
            let _ = tx.send(ToEndpoint::TcpFailed { peer });
        }
    }
}

/// A connection Senim opened.
enum Stream {
    Tcp(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
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

/// One TCP or TLS connection: frames by Content-Length on the way in,
/// writes what the endpoint sends on the way out. A hopeless frame closes
/// the connection (answered first when it is a request that names whom to
/// answer: 400, 413 or 513), and so does a flow whose pings went unanswered,
/// and an accepted connection that says nothing whole within
/// [`FIRST_MESSAGE_WITHIN`] or nothing at all for [`IDLE_TIMEOUT`]. What is
/// queued when it closes gets [`LINGER`] to go out.
async fn connection<S>(stream: S, peer: Peer, tx: mpsc::UnboundedSender<ToEndpoint>, role: Role)
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (keepalive, mut silence_limit) = match role {
        Role::Accepted => (None, Some(FIRST_MESSAGE_WITHIN)),
        Role::Opened { keepalive } => (keepalive, None),
    };
    let mut heard_at = Instant::now();
    let (mut read, mut write) = tokio::io::split(stream);
    let (wtx, mut wrx) = mpsc::unbounded_channel::<Bytes>();
    if tx
        .send(ToEndpoint::TcpOpened {
            peer,
            writer: wtx.clone(),
        })
        .is_err()
    {
        return;
    }
    let mut writer = tokio::spawn(async move {
        while let Some(data) = wrx.recv().await {
            // A TLS stream holds written records until flushed.
            if write.write_all(&data).await.is_err() || write.flush().await.is_err() {
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
                    tracing::debug!(%peer, "closing a silent connection");
                    break;
                }
                match pings.as_mut().and_then(|k| k.handle_timeout(Instant::now())) {
                    Some(KeepaliveAction::SendPing) => {
                        let _ = wtx.send(Bytes::from_static(keepalive::PING));
                    }
                    Some(KeepaliveAction::FlowFailed) => {
                        tracing::warn!(%peer, "no answer to a keep-alive ping; closing the connection");
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
                    tracing::debug!(error = %e, %peer, "closing a connection on a bad frame");
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
    let _ = tx.send(ToEndpoint::TcpClosed { peer });
    drop(wtx);
    if tokio::time::timeout(LINGER, &mut writer).await.is_err() {
        writer.abort();
    }
}
