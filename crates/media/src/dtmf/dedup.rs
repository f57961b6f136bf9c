//! One key press reported once when a gateway sends it through two sources
//! ([`DigitDeduplicator`]).

use std::time::{Duration, Instant};

use super::digit::{Digit, DtmfSource};

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
