//! Where a message comes from or goes to: the transport and the remote address.

use std::fmt;
use std::net::SocketAddr;

/// The transport a message came in on or goes out on.
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
    /// The Via sent-protocol transport token ("UDP", "TCP").
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
            Transport::Tls => "TLS",
        }
    }

    /// True for stream transports, where RFC 3261 timers A, E, G are not used and D, I, J, K are zero.
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

/// The remote end of a message: transport plus socket address (for TCP, it names the connection).
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
