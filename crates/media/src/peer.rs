//! Whose RTP a port takes, and where the port's own RTP may go: strict RTP,
//! after Asterisk's `strictrtp`, narrowed to the addresses the call's
//! signalling names.
//!
//! A [`MediaPeer`] is told the address an SDP names ([`MediaPeer::expect`]),
//! with the IP address the SIP came from and whether the signalling vouches
//! for the SDP (see [`vouches`]). Then, packet by packet
//! ([`MediaPeer::check`]):
//!
//! * a packet from exactly the SDP's address is taken, and the port locks on
//!   that address;
//! * behind NAT the media comes from another address: a source whose IP is
//!   the SDP's or the signalling's is learned once it has sent
//!   [`PROBATION_PACKETS`] RTP packets of one SSRC with consecutive sequence
//!   numbers over at least [`PROBATION_SPAN`]; the packets of the probation
//!   are dropped, the one that ends it is taken, and the port locks on it;
//! * once locked, only the locked address is taken, until an SDP names a new
//!   address (a re-INVITE); an SDP that repeats the old address, or names the
//!   locked one, changes nothing;
//! * everything else is dropped and counted.
//!
//! Where the port sends ([`MediaPeer::destination`]): the locked address;
//! before that, the SDP's address if the signalling vouches for it, else
//! nowhere (the stream waits for the far end's first RTP).
//!
//! No clock and no socket: the time of each packet is an argument.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// Packets in sequence a source must send before it is learned (Asterisk's
/// `probation` default).
pub const PROBATION_PACKETS: u16 = 4;

/// Least time between the first and the last packet of a probation: a burst
/// of packets (a flood, or a replay) does not qualify; real audio (20 ms a
/// packet) and RFC 4733 events (one packet per 20 to 50 ms) do.
pub const PROBATION_SPAN: Duration = Duration::from_millis(40);

/// What to do with one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Take it: it comes from the locked source (or the SDP's own address
    /// before anything was locked).
    Accept,
    /// Take it: this packet locked the port on its source (the SDP's address
    /// seen for the first time, or the end of a probation). Where the port
    /// sends may have changed.
    Learned,
    /// Drop it: its source is on probation (the far end behind NAT, most
    /// likely), not learned yet.
    Probation,
    /// Drop it: its source is not one the call takes media from.
    Stranger,
}

impl Verdict {
    /// The packet is taken.
    pub fn is_accepted(self) -> bool {
        matches!(self, Verdict::Accept | Verdict::Learned)
    }
}

/// A source being qualified.
#[derive(Debug, Clone, Copy)]
struct Probation {
    from: SocketAddr,
    ssrc: u32,
    last_seq: u16,
    packets: u16,
    since: Instant,
}

#[derive(Debug, Clone, Copy)]
enum State {
    /// No source yet (a new SDP, or none at all).
    Learning(Option<Probation>),
    /// Only this source is taken.
    Locked(SocketAddr),
}

/// The trusted far end of one RTP port.
#[derive(Debug, Clone)]
pub struct MediaPeer {
    /// The address the latest SDP names (None: no SDP yet, or it names no
    /// usable address, such as `0.0.0.0` for hold).
    sdp: Option<SocketAddr>,
    /// The IP the SDP's SIP came from (or went to, for a call Senim placed).
    signalling: Option<IpAddr>,
    /// The signalling vouches for the SDP's address: Senim may send to it
    /// before the far end's RTP is seen.
    vouched: bool,
    state: State,
    dropped: u64,
    strangers: u64,
}

impl Default for MediaPeer {
    fn default() -> Self {
        MediaPeer::new()
    }
}

impl MediaPeer {
    /// A port with no SDP yet: it takes nothing and sends nowhere.
    pub fn new() -> MediaPeer {
        MediaPeer {
            sdp: None,
            signalling: None,
            vouched: false,
            state: State::Learning(None),
            dropped: 0,
            strangers: 0,
        }
    }

    /// An SDP (an offer, an answer, a re-INVITE's) names `sdp`; its SIP came
    /// from `signalling`; `vouched` says whether that signalling vouches for
    /// the address (see [`vouches`]). A new address starts learning again;
    /// the same address as before, or the locked one, changes nothing.
    /// Returns whether anything changed.
    pub fn expect(&mut self, sdp: SocketAddr, signalling: IpAddr, vouched: bool) -> bool {
        let sdp = usable(sdp).then_some(sdp);
        let signalling = canonical(signalling);
        let unchanged =
            self.sdp.is_some() && sdp == self.sdp && Some(signalling) == self.signalling;
        let locked_there =
            matches!(self.state, State::Locked(a) if sdp.is_some_and(|s| same(s, a)));
        self.sdp = sdp;
        self.signalling = Some(signalling);
        self.vouched = vouched && sdp.is_some();
        if unchanged || locked_there {
            return false;
        }
        self.state = State::Learning(None);
        true
    }

    /// Whether a packet from `from`, arriving at `now`, is taken; `rtp` is
    /// its SSRC and sequence number when it parses as RTP (a source is only
    /// learned from RTP).
    pub fn check(&mut self, now: Instant, from: SocketAddr, rtp: Option<(u32, u16)>) -> Verdict {
        let verdict = self.verdict(now, from, rtp);
        match verdict {
            Verdict::Accept | Verdict::Learned => {}
            Verdict::Probation => self.dropped += 1,
            Verdict::Stranger => {
                self.dropped += 1;
                self.strangers += 1;
            }
        }
        verdict
    }

    fn verdict(&mut self, now: Instant, from: SocketAddr, rtp: Option<(u32, u16)>) -> Verdict {
        if let State::Locked(source) = self.state {
            return if same(source, from) {
                Verdict::Accept
            } else {
                Verdict::Stranger
            };
        }
        if self.sdp.is_some_and(|s| same(s, from)) {
            self.state = State::Locked(from);
            return Verdict::Learned;
        }
        let ip = canonical(from.ip());
        let candidate = self.sdp.is_some_and(|s| canonical(s.ip()) == ip)
            || self.signalling.is_some_and(|s| s == ip);
        if !candidate {
            return Verdict::Stranger;
        }
        let Some((ssrc, seq)) = rtp else {
            return Verdict::Probation;
        };
        let State::Learning(learning) = &mut self.state else {
            return Verdict::Stranger;
        };
        match learning {
            Some(p)
                if same(p.from, from) && p.ssrc == ssrc && seq == p.last_seq.wrapping_add(1) =>
            {
                p.last_seq = seq;
                p.packets = p.packets.saturating_add(1);
                if p.packets < PROBATION_PACKETS {
                    return Verdict::Probation;
                }
                if now.saturating_duration_since(p.since) < PROBATION_SPAN {
                    // Too fast for audio: start the probation again here.
                    *p = Probation {
                        from,
                        ssrc,
                        last_seq: seq,
                        packets: 1,
                        since: now,
                    };
                    return Verdict::Probation;
                }
                self.state = State::Locked(from);
                Verdict::Learned
            }
            _ => {
                // A new candidate (or one out of sequence) starts over; two
                // sources competing keep each other from qualifying.
                *learning = Some(Probation {
                    from,
                    ssrc,
                    last_seq: seq,
                    packets: 1,
                    since: now,
                });
                Verdict::Probation
            }
        }
    }

    /// Where the port's RTP goes now: the locked source, else the SDP's
    /// address when the signalling vouches for it, else nowhere yet.
    pub fn destination(&self) -> Option<SocketAddr> {
        match self.state {
            State::Locked(a) => Some(a),
            State::Learning(_) => self.sdp.filter(|_| self.vouched),
        }
    }

    /// The source the port is locked on, if any.
    pub fn locked(&self) -> Option<SocketAddr> {
        match self.state {
            State::Locked(a) => Some(a),
            State::Learning(_) => None,
        }
    }

    /// The address the latest SDP names, if usable.
    pub fn sdp_address(&self) -> Option<SocketAddr> {
        self.sdp
    }

    /// Whether the signalling vouches for the SDP's address.
    pub fn is_vouched(&self) -> bool {
        self.vouched
    }

    /// Packets dropped so far (probation and strangers).
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Packets dropped so far because their source could never be learned.
    pub fn strangers(&self) -> u64 {
        self.strangers
    }
}

/// Whether the signalling that came from `signalling` vouches for media at
/// `sdp` by the addresses alone: the same IP; both loopback; or both private
/// (RFC 1918, RFC 4193 unique local) in one /24 (IPv4) or /64 (IPv6). A
/// caller's own trunk vouches for any address (the call core checks that).
pub fn vouches(signalling: IpAddr, sdp: IpAddr) -> bool {
    let (a, b) = (canonical(signalling), canonical(sdp));
    if !usable_ip(b) {
        return false;
    }
    if a == b || (a.is_loopback() && b.is_loopback()) {
        return true;
    }
    match (a, b) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            a.is_private() && b.is_private() && a.octets()[..3] == b.octets()[..3]
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let unique_local = |ip: &std::net::Ipv6Addr| (ip.segments()[0] & 0xfe00) == 0xfc00;
            unique_local(&a) && unique_local(&b) && a.segments()[..4] == b.segments()[..4]
        }
        _ => false,
    }
}

/// IPv4-mapped IPv6 addresses as IPv4, so one host is one address.
fn canonical(ip: IpAddr) -> IpAddr {
    ip.to_canonical()
}

fn same(a: SocketAddr, b: SocketAddr) -> bool {
    a.port() == b.port() && canonical(a.ip()) == canonical(b.ip())
}

fn usable_ip(ip: IpAddr) -> bool {
    !ip.is_unspecified() && !ip.is_multicast()
}

/// An address media can be sent to and come from.
fn usable(a: SocketAddr) -> bool {
    a.port() != 0 && usable_ip(canonical(a.ip()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::disallowed_methods)] // a test needs one base instant

    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    const SDP: &str = "198.51.100.20:40000";
    const SIP: &str = "198.51.100.20";

    /// A fake clock: packets every 20 ms from `t0`.
    struct Clock {
        t0: Instant,
        n: u32,
    }

    impl Clock {
        fn new() -> Clock {
            Clock {
                t0: Instant::now(),
                n: 0,
            }
        }
        fn tick(&mut self) -> Instant {
            self.n += 1;
            self.t0 + Duration::from_millis(20) * self.n
        }
    }

    fn expecting(vouched: bool) -> MediaPeer {
        let mut p = MediaPeer::new();
        assert!(p.expect(addr(SDP), ip(SIP), vouched));
        p
    }

    #[test]
    fn nothing_is_taken_before_an_sdp() {
        let mut p = MediaPeer::new();
        let mut c = Clock::new();
        for seq in 0..10 {
            assert_eq!(
                p.check(c.tick(), addr(SDP), Some((1, seq))),
                Verdict::Stranger
            );
        }
        assert_eq!(p.destination(), None);
        assert_eq!(p.dropped(), 10);
    }

    #[test]
    fn the_sdp_address_is_taken_at_once_and_locks() {
        let mut p = expecting(true);
        let mut c = Clock::new();
        assert_eq!(p.destination(), Some(addr(SDP)));
        assert_eq!(p.check(c.tick(), addr(SDP), Some((1, 5))), Verdict::Learned);
        assert_eq!(p.locked(), Some(addr(SDP)));
        assert_eq!(p.check(c.tick(), addr(SDP), Some((1, 6))), Verdict::Accept);
        // Anything that is not RTP from the locked source is still "taken"
        // (the caller decides what to do with it).
        assert_eq!(p.check(c.tick(), addr(SDP), None), Verdict::Accept);
        // Once locked, even another port of the same host is refused.
        for seq in 0..20 {
            assert_eq!(
                p.check(c.tick(), addr("198.51.100.20:40002"), Some((2, seq))),
                Verdict::Stranger
            );
        }
        assert_eq!(p.destination(), Some(addr(SDP)));
        assert_eq!(p.dropped(), 20);
    }

    #[test]
    fn a_stranger_is_never_taken_nor_learned() {
        for vouched in [true, false] {
            let mut p = expecting(vouched);
            let mut c = Clock::new();
            for seq in 0..50 {
                assert_eq!(
                    p.check(c.tick(), addr("203.0.113.66:40000"), Some((7, seq))),
                    Verdict::Stranger
                );
            }
            assert_eq!(p.locked(), None);
            assert_eq!(p.strangers(), 50);
            // The real far end still locks afterwards.
            assert_eq!(p.check(c.tick(), addr(SDP), Some((1, 1))), Verdict::Learned);
        }
    }

    #[test]
    fn behind_nat_a_source_on_the_signalling_ip_is_learned_after_probation() {
        // The SDP names a private address; SIP and RTP come from the NAT's
        // public address.
        let mut p = MediaPeer::new();
        let sip = ip("203.0.113.9");
        assert!(p.expect(
            addr("192.168.1.10:4000"),
            sip,
            vouches(sip, ip("192.168.1.10"))
        ));
        assert!(!p.is_vouched());
        assert_eq!(
            p.destination(),
            None,
            "nothing sent before the far end's RTP"
        );
        let nat = addr("203.0.113.9:61000");
        let mut c = Clock::new();
        for seq in 100..103 {
            assert_eq!(p.check(c.tick(), nat, Some((9, seq))), Verdict::Probation);
            assert_eq!(p.destination(), None);
        }
        assert_eq!(p.check(c.tick(), nat, Some((9, 103))), Verdict::Learned);
        assert_eq!(p.destination(), Some(nat));
        assert_eq!(p.dropped(), 3);
        assert_eq!(p.strangers(), 0);
        // Another port of the same public address is refused once locked.
        assert_eq!(
            p.check(c.tick(), addr("203.0.113.9:61002"), Some((9, 104))),
            Verdict::Stranger
        );
    }

    #[test]
    fn another_port_of_the_sdp_host_is_learned_too() {
        // A phone that sends from another port than the one it names.
        let mut p = expecting(true);
        let from = addr("198.51.100.20:40100");
        let mut c = Clock::new();
        let verdicts: Vec<_> = (0..4)
            .map(|s| p.check(c.tick(), from, Some((3, s))))
            .collect();
        assert_eq!(
            verdicts,
            [
                Verdict::Probation,
                Verdict::Probation,
                Verdict::Probation,
                Verdict::Learned
            ]
        );
        assert_eq!(p.destination(), Some(from));
    }

    #[test]
    fn probation_needs_consecutive_sequence_numbers_of_one_ssrc() {
        let mut p = expecting(false);
        let from = addr("198.51.100.20:50000");
        let mut c = Clock::new();
        // Gaps, a new SSRC and reordering each start the count over.
        for (ssrc, seq) in [
            (1, 10),
            (1, 11),
            (1, 13),
            (1, 14),
            (2, 15),
            (2, 16),
            (2, 15),
        ] {
            assert_eq!(
                p.check(c.tick(), from, Some((ssrc, seq))),
                Verdict::Probation
            );
        }
        // Not RTP: never qualifies.
        assert_eq!(p.check(c.tick(), from, None), Verdict::Probation);
        // Counted from the last restart (15): 16 and 17 on probation, 18 ends it.
        for seq in 16..18 {
            assert_eq!(p.check(c.tick(), from, Some((2, seq))), Verdict::Probation);
        }
        assert_eq!(p.check(c.tick(), from, Some((2, 18))), Verdict::Learned);
    }

    #[test]
    fn sequence_numbers_wrap() {
        let mut p = expecting(false);
        let from = addr("198.51.100.20:50000");
        let mut c = Clock::new();
        for seq in [65534, 65535, 0] {
            assert_eq!(p.check(c.tick(), from, Some((1, seq))), Verdict::Probation);
        }
        assert_eq!(p.check(c.tick(), from, Some((1, 1))), Verdict::Learned);
    }

    #[test]
    fn a_burst_does_not_qualify() {
        let mut p = expecting(false);
        let from = addr("198.51.100.20:50000");
        let t0 = Instant::now();
        // Four packets in sequence within a millisecond: too fast for audio.
        for seq in 0..4 {
            let at = t0 + Duration::from_micros(200 * u64::from(seq));
            assert_eq!(p.check(at, from, Some((1, seq))), Verdict::Probation);
        }
        // Paced packets that follow qualify (counted from the restart).
        let mut at = t0;
        for seq in 4..6 {
            at += Duration::from_millis(20);
            assert_eq!(p.check(at, from, Some((1, seq))), Verdict::Probation);
        }
        at += Duration::from_millis(20);
        assert_eq!(p.check(at, from, Some((1, 6))), Verdict::Learned);
    }

    #[test]
    fn competing_sources_keep_each_other_from_qualifying() {
        let mut p = expecting(false);
        let a = addr("198.51.100.20:50000");
        let b = addr("198.51.100.20:50002");
        let mut c = Clock::new();
        for seq in 0..20 {
            assert_eq!(p.check(c.tick(), a, Some((1, seq))), Verdict::Probation);
            assert_eq!(p.check(c.tick(), b, Some((2, seq))), Verdict::Probation);
        }
        assert_eq!(p.locked(), None);
        // The SDP's own address wins at once.
        assert_eq!(p.check(c.tick(), addr(SDP), Some((3, 0))), Verdict::Learned);
    }

    #[test]
    fn a_new_sdp_address_learns_again_and_the_same_one_changes_nothing() {
        let mut p = expecting(true);
        let mut c = Clock::new();
        assert_eq!(p.check(c.tick(), addr(SDP), Some((1, 1))), Verdict::Learned);
        // A session refresh: the same SDP address.
        assert!(!p.expect(addr(SDP), ip(SIP), true));
        assert_eq!(p.locked(), Some(addr(SDP)));
        // The far end moves (a re-INVITE): the old source is refused, the new
        // address is sent to (vouched) and learned from its first packet.
        let moved = addr("198.51.100.20:42000");
        assert!(p.expect(moved, ip(SIP), true));
        assert_eq!(p.locked(), None);
        assert_eq!(p.destination(), Some(moved));
        assert_eq!(
            p.check(c.tick(), addr(SDP), Some((1, 2))),
            Verdict::Probation
        );
        assert_eq!(p.check(c.tick(), moved, Some((5, 1))), Verdict::Learned);
        assert_eq!(
            p.check(c.tick(), addr(SDP), Some((1, 3))),
            Verdict::Stranger
        );
    }

    #[test]
    fn an_sdp_naming_the_learned_source_keeps_the_lock() {
        // Behind NAT: learned the public mapping; a re-INVITE then names it.
        let mut p = MediaPeer::new();
        let sip = ip("203.0.113.9");
        p.expect(addr("192.168.1.10:4000"), sip, false);
        let nat = addr("203.0.113.9:61000");
        let mut c = Clock::new();
        for seq in 0..4 {
            p.check(c.tick(), nat, Some((9, seq)));
        }
        assert_eq!(p.locked(), Some(nat));
        assert!(!p.expect(nat, sip, true));
        assert_eq!(p.locked(), Some(nat));
    }

    #[test]
    fn an_unvouched_new_address_sends_nowhere_until_learned() {
        let mut p = expecting(true);
        let mut c = Clock::new();
        p.check(c.tick(), addr(SDP), Some((1, 1)));
        // A re-INVITE names an address on another network.
        assert!(p.expect(addr("192.0.2.200:30000"), ip(SIP), false));
        assert_eq!(p.destination(), None);
        // The caller's RTP, from its signalling IP, is learned.
        let from = addr("198.51.100.20:40000");
        for seq in 2..5 {
            assert_eq!(p.check(c.tick(), from, Some((1, seq))), Verdict::Probation);
        }
        assert_eq!(p.check(c.tick(), from, Some((1, 5))), Verdict::Learned);
        assert_eq!(p.destination(), Some(from));
    }

    #[test]
    fn hold_with_no_address_sends_nowhere() {
        let mut p = expecting(true);
        assert!(p.expect(addr("0.0.0.0:40000"), ip(SIP), true));
        assert_eq!(p.sdp_address(), None);
        assert!(!p.is_vouched());
        assert_eq!(p.destination(), None);
        let mut c = Clock::new();
        assert_eq!(
            p.check(c.tick(), addr("0.0.0.0:40000"), Some((1, 1))),
            Verdict::Stranger,
            "0.0.0.0 is never the SDP's address"
        );
    }

    #[test]
    fn ipv4_mapped_addresses_are_the_same_host() {
        let mut p = expecting(true);
        let mut c = Clock::new();
        assert_eq!(
            p.check(c.tick(), addr("[::ffff:198.51.100.20]:40000"), Some((1, 1))),
            Verdict::Learned
        );
        assert_eq!(p.check(c.tick(), addr(SDP), Some((1, 2))), Verdict::Accept);
    }

    #[test]
    fn which_addresses_the_signalling_vouches_for() {
        let v = |a: &str, b: &str| vouches(ip(a), ip(b));
        assert!(v("198.51.100.20", "198.51.100.20"), "the same host");
        assert!(v("127.0.0.1", "127.0.0.3"), "loopback");
        assert!(v("::1", "127.0.0.1"), "loopback, v6 and v4");
        assert!(v("192.168.1.5", "192.168.1.77"), "one private /24");
        assert!(v("10.1.2.3", "10.1.2.200"));
        assert!(v("fd00:1:2:3::5", "fd00:1:2:3::9"), "one unique local /64");
        assert!(v("::ffff:198.51.100.20", "198.51.100.20"), "mapped");
        assert!(!v("192.168.1.5", "192.168.2.5"), "another private /24");
        assert!(!v("203.0.113.9", "192.168.1.10"), "a phone behind NAT");
        assert!(!v("198.51.100.20", "198.51.100.21"), "a public neighbour");
        assert!(!v("198.51.100.20", "192.0.2.200"), "someone else");
        assert!(
            !v("127.0.0.1", "192.0.2.200"),
            "loopback signalling, remote media"
        );
        assert!(!v("fd00:1:2:3::5", "fd00:1:2:4::5"), "another /64");
        assert!(!v("198.51.100.20", "0.0.0.0"), "no address");
        assert!(!v("198.51.100.20", "224.0.0.1"), "multicast");
    }
}
