//! One key press reported once when a gateway sends it through two sources
//! ([`DigitDeduplicator`]).

use std::time::{Duration, Instant};

use super::digit::{Digit, DtmfSource};

/// Reports one digit when the same key press arrives through several sources
/// (RFC 4733 and SIP INFO from a gateway that sends both; RFC 4733 and the
/// in-band tone on a trunk whose tones stay in the audio).
///
/// A press is the last digit accepted and the sources that have reported it
/// so far. A report of the same digit, from a source that has not reported
/// this press yet, within `window` of the press's first report, is the same
/// press: a duplicate. Every other report is a new press.
///
/// Each source already reports a press once (an RFC 4733 event once per
/// timestamp, a tone once until it stops, an INFO once per request), so a
/// second report from a source that already reported the press is a new
/// press: "1 1" pressed quickly counts twice even when the second press's
/// first report comes from the other source than the first press's.
/// The sources may report one press at slightly different times (an RFC
/// 4733 event on its first packet, an in-band tone after about 40 ms of
/// tone, an INFO when the gateway sends it): the window covers that.
#[derive(Debug, Clone)]
pub struct DigitDeduplicator {
    window: Duration,
    last: Option<Press>,
}

/// The press last accepted.
#[derive(Debug, Clone, Copy)]
struct Press {
    /// Its first report.
    at: Instant,
    digit: Digit,
    /// The sources that reported it (one bit each).
    sources: u8,
}

fn bit(source: DtmfSource) -> u8 {
    match source {
        DtmfSource::Rfc4733 => 1,
        DtmfSource::SipInfo => 2,
        DtmfSource::Inband => 4,
    }
}

impl DigitDeduplicator {
    /// A deduplicator with the given window (a few hundred ms is typical).
    pub fn new(window: Duration) -> Self {
        DigitDeduplicator { window, last: None }
    }

    /// True when the digit is new and should be acted on; false for a duplicate.
    pub fn accept(&mut self, now: Instant, digit: Digit, source: DtmfSource) -> bool {
        if let Some(press) = &mut self.last {
            // A clock that goes backwards (reordered events) counts as within.
            let within = now
                .checked_duration_since(press.at)
                .is_none_or(|d| d <= self.window);
            if press.digit == digit && press.sources & bit(source) == 0 && within {
                press.sources |= bit(source);
                return false;
            }
        }
        self.last = Some(Press {
            at: now,
            digit,
            sources: bit(source),
        });
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(c: char) -> Digit {
        Digit::from_char(c).unwrap()
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    #[allow(clippy::disallowed_methods)] // a test needs some base instant
    fn dedup() {
        let t0 = Instant::now();
        let (one, two) = (d('1'), d('2'));
        let mut dd = DigitDeduplicator::new(ms(500));
        assert!(dd.accept(t0, one, DtmfSource::Rfc4733));
        assert!(
            !dd.accept(t0 + ms(40), one, DtmfSource::SipInfo),
            "same press via INFO"
        );
        assert!(
            dd.accept(t0 + ms(300), one, DtmfSource::Rfc4733),
            "same source: new press"
        );
        assert!(
            dd.accept(t0 + ms(2000), one, DtmfSource::SipInfo),
            "outside the window"
        );
        assert!(
            dd.accept(t0 + ms(2100), two, DtmfSource::Rfc4733),
            "different digit"
        );
        // A clock that goes backwards (reordered events) counts as within the window.
        assert!(!dd.accept(t0 + ms(2050), two, DtmfSource::SipInfo));
    }

    #[test]
    #[allow(clippy::disallowed_methods)] // a test needs some base instant
    fn rfc4733_and_inband_of_one_press_and_two_quick_presses() {
        let t0 = Instant::now();
        let one = d('1');
        let mut dd = DigitDeduplicator::new(ms(250));
        // First press: the event on its first packet, the tone 40 ms later.
        assert!(dd.accept(t0, one, DtmfSource::Rfc4733));
        assert!(!dd.accept(t0 + ms(40), one, DtmfSource::Inband));
        // Second press 150 ms later, the tone found before the event (its
        // start packets lost): still a new press, and its event a duplicate.
        assert!(dd.accept(t0 + ms(190), one, DtmfSource::Inband));
        assert!(!dd.accept(t0 + ms(260), one, DtmfSource::Rfc4733));
        // A third report of the second press from a source that already
        // reported it is a third press.
        assert!(dd.accept(t0 + ms(300), one, DtmfSource::Rfc4733));
    }

    #[test]
    #[allow(clippy::disallowed_methods)] // a test needs some base instant
    fn three_sources_one_press() {
        let t0 = Instant::now();
        let five = d('5');
        let mut dd = DigitDeduplicator::new(ms(250));
        assert!(dd.accept(t0, five, DtmfSource::Inband));
        assert!(!dd.accept(t0 + ms(10), five, DtmfSource::Rfc4733));
        assert!(!dd.accept(t0 + ms(120), five, DtmfSource::SipInfo));
        assert!(dd.accept(t0 + ms(400), five, DtmfSource::SipInfo));
    }
}
