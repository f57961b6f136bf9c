//! DTMF from the three places a key press can arrive: RFC 4733 telephone-events
//! ([`Rfc4733Receiver`]), SIP INFO bodies ([`parse_info_body`]) and in-band tones
//! ([`InbandDetector`]); plus [`DigitDeduplicator`] for gateways that send one key
//! press twice.

mod inband;
mod info;
mod rfc4733;

use std::time::{Duration, Instant};

pub use inband::{dbm0_to_amplitude, tone_frequencies, InbandConfig, InbandDetector};
pub use info::{parse_info_body, DtmfError};
pub use rfc4733::{encode_event, Rfc4733Receiver};

/// One DTMF key: `0`-`9`, `*`, `#`, `A`-`D`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Digit(char);

impl Digit {
    /// All sixteen keys, in RFC 4733 event-code order.
    pub const ALL: [Digit; 16] = [
        Digit('0'),
        Digit('1'),
        Digit('2'),
        Digit('3'),
        Digit('4'),
        Digit('5'),
        Digit('6'),
        Digit('7'),
        Digit('8'),
        Digit('9'),
        Digit('*'),
        Digit('#'),
        Digit('A'),
        Digit('B'),
        Digit('C'),
        Digit('D'),
    ];

    /// The key for a character; `a`-`d` are accepted as `A`-`D`.
    pub fn from_char(c: char) -> Option<Digit> {
        match c {
            '0'..='9' | '*' | '#' | 'A'..='D' => Some(Digit(c)),
            'a'..='d' => Some(Digit(c.to_ascii_uppercase())),
            _ => None,
        }
    }

    /// The key as a character.
    pub fn as_char(self) -> char {
        self.0
    }

    /// RFC 4733 event code: 0-9, 10 = `*`, 11 = `#`, 12-15 = `A`-`D`.
    pub fn from_event_code(code: u8) -> Option<Digit> {
        Digit::ALL.get(usize::from(code)).copied()
    }

    /// The RFC 4733 event code of this key.
    pub fn event_code(self) -> u8 {
        match self.0 {
            c @ '0'..='9' => c as u8 - b'0',
            '*' => 10,
            '#' => 11,
            c => (c as u8).wrapping_sub(b'A').wrapping_add(12) & 0x0F,
        }
    }
}

impl std::fmt::Display for Digit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Where a digit came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DtmfSource {
    /// RTP telephone-event (RFC 4733 / RFC 2833).
    Rfc4733,
    /// SIP INFO with application/dtmf-relay or application/dtmf.
    SipInfo,
    /// Tones in the audio, found by [`InbandDetector`].
    Inband,
}

impl DtmfSource {
    /// `"rfc4733"`, `"sip-info"` or `"inband"`.
    pub fn as_str(self) -> &'static str {
        match self {
            DtmfSource::Rfc4733 => "rfc4733",
            DtmfSource::SipInfo => "sip-info",
            DtmfSource::Inband => "inband",
        }
    }
}

/// Reports one digit when a gateway sends the same key press through two sources
/// (e.g. RFC 4733 and SIP INFO): a digit equal to the last accepted one, from a
/// different source, within `window` of it, is a duplicate.
///
/// The same digit twice from the same source is two key presses (each source
/// already de-duplicates itself), so it is accepted.
#[derive(Debug, Clone)]
pub struct DigitDeduplicator {
    window: Duration,
    last: Option<(Instant, Digit, DtmfSource)>,
}

impl DigitDeduplicator {
    /// A deduplicator with the given window (a few hundred ms is typical).
    pub fn new(window: Duration) -> Self {
        DigitDeduplicator { window, last: None }
    }

    /// True when the digit is new and should be acted on; false for a duplicate.
    pub fn accept(&mut self, now: Instant, digit: Digit, source: DtmfSource) -> bool {
        if let Some((at, last_digit, last_source)) = self.last {
            let within = now
                .checked_duration_since(at)
                .is_none_or(|d| d <= self.window);
            if last_digit == digit && last_source != source && within {
                return false;
            }
        }
        self.last = Some((now, digit, source));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits() {
        for (code, d) in Digit::ALL.iter().enumerate() {
            assert_eq!(d.event_code() as usize, code);
            assert_eq!(Digit::from_event_code(code as u8), Some(*d));
            assert_eq!(Digit::from_char(d.as_char()), Some(*d));
        }
        assert_eq!(Digit::from_event_code(16), None);
        assert_eq!(Digit::from_event_code(255), None);
        assert_eq!(Digit::from_char('x'), None);
        assert_eq!(Digit::from_char('b').map(Digit::as_char), Some('B'));
        assert_eq!(Digit::from_char('#').unwrap().event_code(), 11);
        assert_eq!(Digit::from_char('*').unwrap().to_string(), "*");
        assert_eq!(DtmfSource::SipInfo.as_str(), "sip-info");
        assert_eq!(DtmfSource::Rfc4733.as_str(), "rfc4733");
        assert_eq!(DtmfSource::Inband.as_str(), "inband");
    }

    #[test]
    #[allow(clippy::disallowed_methods)] // a test needs some base instant
    fn dedup() {
        let t0 = Instant::now();
        let one = Digit::from_char('1').unwrap();
        let two = Digit::from_char('2').unwrap();
        let ms = Duration::from_millis;
        let mut d = DigitDeduplicator::new(ms(500));
        assert!(d.accept(t0, one, DtmfSource::Rfc4733));
        assert!(
            !d.accept(t0 + ms(40), one, DtmfSource::SipInfo),
            "same press via INFO"
        );
        assert!(
            d.accept(t0 + ms(300), one, DtmfSource::Rfc4733),
            "same source: new press"
        );
        assert!(
            d.accept(t0 + ms(2000), one, DtmfSource::SipInfo),
            "outside the window"
        );
        assert!(
            d.accept(t0 + ms(2100), two, DtmfSource::Rfc4733),
            "different digit"
        );
        // A clock that goes backwards (reordered events) counts as within the window.
        assert!(!d.accept(t0 + ms(2050), two, DtmfSource::SipInfo));
    }
}
