//! RFC 4733 telephone-event receiver.

use super::digit::Digit;

/// How many recent event timestamps are remembered to suppress repeats.
const HISTORY: usize = 16;

/// Receiver for one RTP telephone-event stream.
///
/// Reports each event exactly once, on its first packet that arrives (for barge-in),
/// keyed on the RTP timestamp that all packets of one event share (together with the
/// event code: SIPp replays its bundled pcaps with their recorded timestamps, so two
/// different digits can arrive with the same timestamp): the three end
/// packets and retransmissions never repeat it, and an event seen only through its
/// end packets is still reported once. Tolerates lost start packets and reordering.
/// Long events split into segments (RFC 4733 §2.5.1.3, duration overflow) are
/// reported once. Allocation-free.
#[derive(Debug, Clone, Default)]
pub struct Rfc4733Receiver {
    /// Ring of recently seen events: (timestamp, event code).
    seen: [Option<(u32, u8)>; HISTORY],
    next: usize,
    /// The most recent event: timestamp, event code, largest duration, end seen.
    current: Option<(u32, u8, u16, bool)>,
}

impl Rfc4733Receiver {
    /// A receiver with no history.
    pub fn new() -> Self {
        Self::default()
    }

    /// Forget all history (e.g. the remote SSRC changed after a re-INVITE).
    pub fn reset(&mut self) {
        *self = Self::default();
    }

    /// Feed one telephone-event payload with its packet's RTP timestamp. Returns the
    /// digit when this packet starts a new event. Payloads shorter than 4 bytes and
    /// events other than the 16 DTMF keys (e.g. flash) return `None`.
    pub fn handle(&mut self, rtp_timestamp: u32, payload: &[u8]) -> Option<Digit> {
        let [event, flags, d0, d1, ..] = *payload else {
            return None;
        };
        let end = flags & 0x80 != 0;
        let duration = u16::from_be_bytes([d0, d1]);
        if self.seen.contains(&Some((rtp_timestamp, event))) {
            if let Some((ts, code, max, ended)) = &mut self.current {
                if *ts == rtp_timestamp && *code == event {
                    *max = (*max).max(duration);
                    *ended |= end;
                }
            }
            return None;
        }
        // A new timestamp. Is it the continuation segment of a long event whose
        // duration field overflowed (same code, not ended, duration near 0xFFFF)?
        let continuation = matches!(self.current, Some((ts, code, max, ended))
            if code == event && !ended && max >= 0xFF00
                && rtp_timestamp.wrapping_sub(ts) <= 0x1_0000 + 8000);
        self.seen[self.next] = Some((rtp_timestamp, event));
        self.next = (self.next + 1) % HISTORY;
        self.current = Some((rtp_timestamp, event, duration, end));
        if continuation {
            return None;
        }
        Digit::from_event_code(event)
    }
}

/// Build a 4-byte RFC 4733 payload (for tests and for sending events):
/// event code, end bit, volume (0-63, in -dBm0), duration in timestamp units.
pub fn encode_event(digit: Digit, end: bool, volume: u8, duration: u16) -> [u8; 4] {
    let d = duration.to_be_bytes();
    [
        digit.event_code(),
        (u8::from(end) << 7) | (volume & 0x3F),
        d[0],
        d[1],
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(c: char) -> Digit {
        Digit::from_char(c).unwrap()
    }

    /// Packets of one event as a sender emits them: start packets every 50 ms, then
    /// three end packets.
    fn event(digit: char, packets: u16) -> Vec<[u8; 4]> {
        let mut v: Vec<[u8; 4]> = (1..=packets)
            .map(|i| encode_event(d(digit), false, 10, i * 400))
            .collect();
        for _ in 0..3 {
            v.push(encode_event(d(digit), true, 10, (packets + 1) * 400));
        }
        v
    }

    fn feed(r: &mut Rfc4733Receiver, ts: u32, packets: &[[u8; 4]]) -> Vec<char> {
        packets
            .iter()
            .filter_map(|p| r.handle(ts, p))
            .map(Digit::as_char)
            .collect()
    }

    #[test]
    fn one_event_three_end_packets() {
        let mut r = Rfc4733Receiver::new();
        let pk = event('5', 4);
        assert_eq!(
            r.handle(1000, &pk[0]),
            Some(d('5')),
            "reported on the first packet"
        );
        assert_eq!(feed(&mut r, 1000, &pk[1..]), Vec::<char>::new());
    }

    #[test]
    fn only_end_packets() {
        let mut r = Rfc4733Receiver::new();
        let pk = event('#', 3);
        assert_eq!(feed(&mut r, 7000, &pk[3..]), vec!['#']);
    }

    #[test]
    fn any_packets_of_an_event_report_it_once() {
        // 7 packets while the key is down, then the 3 end packets (RFC 4733
        // §2.5.1.4), as SIPp's pcaps send them; a bad network delivers any
        // of them (all end packets lost, the start lost...), in either order.
        let pk = event('7', 7);
        for mask in 1u32..(1 << pk.len()) {
            let arrived: Vec<[u8; 4]> = (0..pk.len())
                .filter(|i| mask & (1 << i) != 0)
                .map(|i| pk[i])
                .collect();
            let mut r = Rfc4733Receiver::new();
            assert_eq!(feed(&mut r, 4000, &arrived), vec!['7'], "{mask:#012b}");
            let reversed: Vec<[u8; 4]> = arrived.iter().rev().copied().collect();
            let mut r = Rfc4733Receiver::new();
            assert_eq!(
                feed(&mut r, 4000, &reversed),
                vec!['7'],
                "{mask:#012b} reversed"
            );
            // The next press of the same key, seen only by its end packets
            // and overtaking the rest of the first: two presses.
            let mut r = Rfc4733Receiver::new();
            let mut got = feed(&mut r, 4000, &arrived[..1]);
            got.extend(feed(&mut r, 5600, &pk[7..]));
            got.extend(feed(&mut r, 4000, &arrived[1..]));
            assert_eq!(got, vec!['7', '7'], "{mask:#012b} then a second press");
        }
    }

    #[test]
    fn same_digit_twice() {
        let mut r = Rfc4733Receiver::new();
        let mut got = feed(&mut r, 1000, &event('1', 3));
        got.extend(feed(&mut r, 3000, &event('1', 3)));
        assert_eq!(got, vec!['1', '1']);
    }

    #[test]
    fn reordered_and_retransmitted() {
        let mut r = Rfc4733Receiver::new();
        let a = event('1', 3);
        let b = event('2', 3);
        let mut got = Vec::new();
        // b's first packet overtakes the end of a; a late retransmission of a arrives after b.
        got.extend(feed(&mut r, 1000, &a[..4]));
        got.extend(feed(&mut r, 2600, &b[..1]));
        got.extend(feed(&mut r, 1000, &a[4..]));
        got.extend(feed(&mut r, 2600, &b[1..]));
        got.extend(feed(&mut r, 1000, &a));
        got.extend(feed(&mut r, 2600, &b[2..]));
        assert_eq!(got, vec!['1', '2']);
        // An event whose packets arrive after a later event's is still reported.
        let mut r = Rfc4733Receiver::new();
        let mut got = feed(&mut r, 9000, &event('9', 2));
        got.extend(feed(&mut r, 5000, &event('8', 2)));
        assert_eq!(got, vec!['9', '8']);
    }

    #[test]
    fn different_digits_same_timestamp() {
        // SIPp plays dtmf_2833_1.pcap then dtmf_2833_2.pcap with the same timestamps.
        let mut r = Rfc4733Receiver::new();
        let mut got = feed(&mut r, 0x33e0, &event('1', 3));
        got.extend(feed(&mut r, 0x33e0, &event('2', 3)));
        assert_eq!(got, vec!['1', '2']);
    }

    #[test]
    fn long_event_segments() {
        let mut r = Rfc4733Receiver::new();
        let mut got = feed(&mut r, 0, &[encode_event(d('0'), false, 10, 0xFFFF)]);
        got.extend(feed(&mut r, 0xFFFF, &event('0', 2)));
        assert_eq!(got, vec!['0']);
    }

    #[test]
    fn garbage() {
        let mut r = Rfc4733Receiver::new();
        assert_eq!(r.handle(1, &[]), None);
        assert_eq!(r.handle(1, &[1, 2, 3]), None);
        assert_eq!(r.handle(2, &[16, 0, 0, 0]), None, "flash is not a digit");
        assert_eq!(r.handle(3, &[255, 255, 255, 255]), None);
        assert_eq!(r.handle(4, &[3, 0, 0, 0, 99, 99]), Some(d('3')));
        r.reset();
        assert_eq!(r.handle(4, &[3, 0, 0, 0]), Some(d('3')));
    }
}
