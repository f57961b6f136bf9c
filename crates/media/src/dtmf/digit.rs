//! One DTMF key ([`Digit`]) and where it came from ([`DtmfSource`]).

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
}
