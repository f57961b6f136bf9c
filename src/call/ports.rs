//! RTP port allocation from the configured range: even ports chosen at
//! random, so no one can tell a call's port from the one before it (a
//! stranger who guessed it could only send packets the call drops, see
//! `senim_media::peer`, but the port is one secret fewer to give away), and
//! a port just released is unlikely to be taken again at once. Two calls
//! never share a port: each binds its socket, and a bound port cannot be
//! bound again.

use std::net::{IpAddr, SocketAddr, UdpSocket};

use rand::Rng;

/// Random picks before every pair is tried in turn: in a range mostly
/// free, a pick almost always binds at once.
const RANDOM_PICKS: u32 = 16;

#[derive(Debug)]
pub struct PortAllocator {
    first: u16,
    pairs: u32,
}

impl PortAllocator {
    /// Even ports from `lo` (rounded up) to `hi`, inclusive.
    pub fn new(lo: u16, hi: u16) -> Self {
        let first = lo.saturating_add(lo % 2);
        let pairs = (u32::from(hi.saturating_sub(first)) / 2 + 1).max(1);
        PortAllocator { first, pairs }
    }

    /// The even port of pair `n`.
    fn port(&self, n: u32) -> Option<u16> {
        u16::try_from(u32::from(self.first) + 2 * (n % self.pairs)).ok()
    }

    /// The pairs to try, in order: a few random picks, then every pair
    /// once from a random start (a range nearly full still finds its last
    /// free ports). At most `RANDOM_PICKS` + the number of pairs.
    fn candidates<R: Rng>(&self, rng: &mut R) -> impl Iterator<Item = u16> + '_ {
        let picks: Vec<u32> = (0..RANDOM_PICKS.min(self.pairs))
            .map(|_| rng.gen_range(0..self.pairs))
            .collect();
        let start = rng.gen_range(0..self.pairs);
        picks
            .into_iter()
            .chain((0..self.pairs).map(move |i| start.wrapping_add(i)))
            .filter_map(|n| self.port(n))
    }

    /// Bind a UDP socket on a free even port of the range, chosen at random.
    pub fn bind(&self, ip: IpAddr) -> std::io::Result<UdpSocket> {
        let mut last_err = None;
        for port in self.candidates(&mut rand::thread_rng()) {
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
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    #[test]
    fn candidates_are_even_ports_in_the_range_and_cover_every_pair() {
        let a = PortAllocator::new(41001, 41040);
        let mut rng = StdRng::seed_from_u64(7);
        let all: Vec<u16> = a.candidates(&mut rng).collect();
        assert!(all
            .iter()
            .all(|p| p % 2 == 0 && (41002..=41040).contains(p)));
        assert_eq!(
            all.len(),
            16 + 20,
            "bounded: the picks, then each pair once"
        );
        let mut tail = all[16..].to_vec();
        tail.sort_unstable();
        tail.dedup();
        assert_eq!(tail.len(), 20, "every pair is tried");
    }

    #[test]
    fn a_range_of_one_port_is_that_port() {
        let a = PortAllocator::new(41100, 41100);
        let mut rng = StdRng::seed_from_u64(1);
        let all: Vec<u16> = a.candidates(&mut rng).collect();
        assert_eq!(all, [41100, 41100]);
    }

    #[test]
    fn the_next_port_cannot_be_told_from_the_last() {
        let a = PortAllocator::new(20000, 39999);
        let mut rng = StdRng::seed_from_u64(42);
        let firsts: Vec<u16> = (0..50)
            .filter_map(|_| a.candidates(&mut rng).next())
            .collect();
        let steps_of_two = firsts.windows(2).filter(|w| w[1] == w[0] + 2).count();
        assert!(steps_of_two < 3, "not handed out in turn: {firsts:?}");
        let mut distinct = firsts.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert!(distinct.len() > 45, "{firsts:?}");
    }

    #[test]
    fn binds_distinct_even_ports_until_the_range_is_full() {
        let ip: IpAddr = [127, 0, 0, 1].into();
        // Ten pairs; something else on the machine may hold some of them.
        let a = PortAllocator::new(41201, 41220);
        let mut held = Vec::new();
        while let Ok(s) = a.bind(ip) {
            held.push(s);
            assert!(held.len() <= 10, "never more sockets than pairs");
        }
        let mut ports: Vec<u16> = held
            .iter()
            .map(|s| s.local_addr().unwrap().port())
            .collect();
        assert!(ports
            .iter()
            .all(|p| p % 2 == 0 && (41202..=41220).contains(p)));
        let n = ports.len();
        ports.sort_unstable();
        ports.dedup();
        assert_eq!(ports.len(), n, "never two sockets on one port");
        // A port given back is found again.
        if let Some(s) = held.pop() {
            let port = s.local_addr().unwrap().port();
            drop(s);
            let again = a.bind(ip).unwrap();
            assert_eq!(again.local_addr().unwrap().port(), port);
        }
    }
}
