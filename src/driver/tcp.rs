//! SIP over TCP: connections accepted from phones and trunks, and those
//! Senim opens itself to a TCP trunk on the first message it sends there.
//! Each connection is a task that frames what it reads by Content-Length
//! and writes what the endpoint gives it. Pings (CRLF CRLF) get a pong
//! (CRLF); on a connection Senim opened, Senim pings too (RFC 5626
//! §4.4.1, see [`senim_sip::keepalive`]).

use std::net::SocketAddr;
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

/// Accept connections until the task is aborted.
pub async fn accept(listener: TcpListener, tx: mpsc::UnboundedSender<ToEndpoint>) {
    loop {
        match listener.accept().await {
            Ok((stream, addr)) => {
                tokio::spawn(connection(stream, addr, tx.clone(), None));
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
            connection(stream, addr, tx, keepalive).await;
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

/// One TCP connection: frames by Content-Length on the way in, writes what the
/// endpoint sends on the way out. A hopeless frame closes the connection, and
/// so does a flow whose pings went unanswered.
async fn connection(
    stream: TcpStream,
    addr: SocketAddr,
    tx: mpsc::UnboundedSender<ToEndpoint>,
    keepalive: Option<Duration>,
) {
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
    let writer = tokio::spawn(async move {
        while let Some(data) = wrx.recv().await {
            if write.write_all(&data).await.is_err() {
                break;
            }
        }
    });
    let mut pings = keepalive.map(|every| Keepalive::new(every, Instant::now()));
    let mut buf = BytesMut::with_capacity(8192);
    'conn: loop {
        let wake = pings.as_ref().and_then(Keepalive::poll_timeout);
        tokio::select! {
            r = read.read_buf(&mut buf) => match r {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            },
            _ = sleep_until(wake) => {
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
                    if tx.send(ToEndpoint::TcpFrame { data: frame, peer }).is_err() {
                        break 'conn;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::debug!(error = %e, %addr, "closing TCP connection on a bad frame");
                    break 'conn;
                }
            }
        }
    }
    writer.abort();
    let _ = tx.send(ToEndpoint::TcpClosed { addr });
}
