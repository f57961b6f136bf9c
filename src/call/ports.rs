//! RTP port allocation from the configured range: even ports, taken in turn,
//! so a port just released is not reused at once (late packets of the last
//! call must not reach the next one).

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicU32, Ordering};

#[derive(Debug)]
pub struct PortAllocator {
    first: u16,
    pairs: u32,
    cursor: AtomicU32,
}

impl PortAllocator {
    /// Even ports from `lo` (rounded up) to `hi`, inclusive.
    pub fn new(lo: u16, hi: u16) -> Self {
        let first = lo + lo % 2;
        let pairs = (u32::from(hi.saturating_sub(first)) / 2 + 1).max(1);
        PortAllocator {
            first,
            pairs,
            cursor: AtomicU32::new(0),
        }
    }

    /// Bind a UDP socket on the next free even port, trying each port once.
    pub fn bind(&self, ip: IpAddr) -> std::io::Result<UdpSocket> {
        let mut last_err = None;
        for _ in 0..self.pairs {
            let n = self.cursor.fetch_add(1, Ordering::Relaxed) % self.pairs;
            let port = u32::from(self.first) + 2 * n;
            let Ok(port) = u16::try_from(port) else {
                continue;
            };
            match UdpSocket::bind(SocketAddr::new(ip, port)) {
                Ok(s) => return Ok(s),
                Err(e) => last_err = Some(e),
            }
        }
        Err(last_err.unwrap_or_else(|| std::io::Error::other("no RTP port free in the range")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_even_ports_in_turn_and_skips_busy_ones() {
        let a = PortAllocator::new(41001, 41010);
        let ip: IpAddr = [127, 0, 0, 1].into();
        let s1 = a.bind(ip).unwrap();
        let s2 = a.bind(ip).unwrap();
        let p1 = s1.local_addr().unwrap().port();
        let p2 = s2.local_addr().unwrap().port();
        assert_eq!(p1 % 2, 0);
        assert_eq!(p2, p1 + 2);
    }
}
