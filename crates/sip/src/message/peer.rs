//! Where a message comes from or goes to: the transport and the remote address.

use std::fmt;
use std::net::SocketAddr;

/// The transport a message came in on or goes out on.
///
/// The call core reads it from the `peer` of a request: an INVITE whose
/// peer's transport is [`Transport::Tls`] came over a TLS connection to
/// Senim (signalling encrypted from the far end's last hop to Senim).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transport {
    /// Unreliable datagrams: the transaction layer retransmits.
    Udp,
    /// A reliable stream: no retransmissions, framing by Content-Length.
    Tcp,
    /// TCP under TLS: reliable like TCP, and the signalling is secure (the
    /// only transport SDES keys for SRTP may travel over, RFC 4568 §8.3).
    Tls,
}

impl Transport {
    /// The Via sent-protocol transport token ("UDP", "TCP", "TLS").
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
            Transport::Tls => "TLS",
        }
    }

    /// The URI `transport` parameter value, lower case ("udp", "tcp", "tls").
    pub fn param(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
            Transport::Tls => "tls",
        }
    }

    /// The transport a Via token or a URI `transport` parameter names
    /// (any case); `None` for others (SCTP, WS, ...).
    pub fn from_token(token: &str) -> Option<Transport> {
        [Transport::Udp, Transport::Tcp, Transport::Tls]
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(token.trim()))
    }

    /// True for stream transports (TCP, TLS), where RFC 3261 timers A, E, G are not used and
    /// D, I, J, K are zero.
    pub fn is_reliable(self) -> bool {
        matches!(self, Transport::Tcp | Transport::Tls)
    }

    /// True when the signalling is encrypted and authenticated (TLS).
    pub fn is_secure(self) -> bool {
        matches!(self, Transport::Tls)
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The remote end of a message: transport plus socket address (for TCP and TLS, it names the
/// connection: a TCP and a TLS connection from one address are two peers).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Peer {
    /// Transport of the message.
    pub transport: Transport,
    /// Remote address (source of a received message, destination of a sent one).
    pub addr: SocketAddr,
}

impl Peer {
    /// A UDP peer.
    pub fn udp(addr: SocketAddr) -> Self {
        Peer {
            transport: Transport::Udp,
            addr,
        }
    }

    /// A TCP peer (the connection to or from `addr`).
    pub fn tcp(addr: SocketAddr) -> Self {
        Peer {
            transport: Transport::Tcp,
            addr,
        }
    }

    /// A TLS peer (the connection to or from `addr`).
    pub fn tls(addr: SocketAddr) -> Self {
        Peer {
            transport: Transport::Tls,
            addr,
        }
    }
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.transport, self.addr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_is_a_reliable_secure_stream_named_tls() {
        assert_eq!(Transport::Tls.as_str(), "TLS");
        assert_eq!(Transport::Tls.param(), "tls");
        assert!(Transport::Tls.is_reliable() && Transport::Tls.is_secure());
        assert!(Transport::Tcp.is_reliable() && !Transport::Tcp.is_secure());
        assert!(!Transport::Udp.is_reliable());
        assert_eq!(Transport::from_token("tls"), Some(Transport::Tls));
        assert_eq!(Transport::from_token("TCP"), Some(Transport::Tcp));
        assert_eq!(Transport::from_token("sctp"), None);
        let a = "192.0.2.1:5061".parse().unwrap();
        assert_ne!(Peer::tls(a), Peer::tcp(a), "a TLS and a TCP flow never mix");
    }
}
