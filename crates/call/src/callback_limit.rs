//! How many callback requests one caller may leave: at most `max` in any
//! 24 hours per key, a key being the keyed hash of a number (the caller's
//! own, when the call shows one, and the number left for the callback). A
//! rolling window rather than a calendar day: waiting for midnight gives no
//! fresh allowance, and no time zone is involved.
//!
//! The limit protects the follow-up queue (one person, or a script, leaving
//! dozens of requests) and third parties (a stranger's number left again
//! and again to have the centre call them). Sans-IO: times come in as epoch
//! milliseconds; the binary shares one limit between calls and seeds it
//! from the requests already stored, so a restart does not reset it.

use std::collections::{HashMap, VecDeque};

/// The window the limit counts in: 24 hours.
pub const WINDOW_MS: i64 = 24 * 3600 * 1000;

/// The requests of the last 24 hours per key.
#[derive(Debug, Clone)]
pub struct CallbackLimit {
    /// Requests per key per window; 0: no limit.
    max: u32,
    /// Times of the requests counted, oldest first, per key.
    seen: HashMap<String, VecDeque<i64>>,
}

impl CallbackLimit {
    /// At most `max` requests per key in any 24 hours; 0: no limit.
    pub fn new(max: u32) -> CallbackLimit {
        CallbackLimit {
            max,
            seen: HashMap::new(),
        }
    }

    /// The configured maximum (0: no limit).
    pub fn max(&self) -> u32 {
        self.max
    }

    /// Requests counted for `key` in the 24 hours before `now_ms`.
    pub fn count(&self, key: &str, now_ms: i64) -> usize {
        let since = now_ms - WINDOW_MS;
        self.seen
            .get(key)
            .map_or(0, |times| times.iter().filter(|&&t| t > since).count())
    }

    /// May another request be taken for every one of `keys` at `now_ms`?
    pub fn allows<'a>(&self, keys: impl IntoIterator<Item = &'a str>, now_ms: i64) -> bool {
        if self.max == 0 {
            return true;
        }
        let max = usize::try_from(self.max).unwrap_or(usize::MAX);
        keys.into_iter().all(|k| self.count(k, now_ms) < max)
    }

    /// A request was taken at `at_ms` for `keys` (a key given twice counts
    /// once). Keys with nothing left in the window are forgotten, so the
    /// table holds at most a day of callers.
    pub fn charge<'a>(&mut self, keys: impl IntoIterator<Item = &'a str>, at_ms: i64) {
        let mut done: Vec<&str> = Vec::new();
        for key in keys {
            if done.contains(&key) {
                continue;
            }
            done.push(key);
            let times = self.seen.entry(key.to_string()).or_default();
            times.push_back(at_ms);
            // Only the last `max` times can matter; keep a few more at most.
            let keep = usize::try_from(self.max).unwrap_or(usize::MAX).max(1);
            while times.len() > keep {
                times.pop_front();
            }
        }
        self.forget_before(at_ms - WINDOW_MS);
    }

    /// Drop what is older than `since_ms`.
    fn forget_before(&mut self, since_ms: i64) {
        self.seen.retain(|_, times| {
            while times.front().is_some_and(|&t| t <= since_ms) {
                times.pop_front();
            }
            !times.is_empty()
        });
    }

    /// How many keys are remembered (for tests and metrics).
    pub fn keys(&self) -> usize {
        self.seen.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3600 * 1000;

    #[test]
    fn three_a_day_then_refused_then_allowed_again_after_24_hours() {
        let mut l = CallbackLimit::new(3);
        let t0 = 1_000 * HOUR;
        for i in 0..3 {
            assert!(l.allows(["a"], t0 + i * HOUR), "request {}", i + 1);
            l.charge(["a"], t0 + i * HOUR);
        }
        assert!(!l.allows(["a"], t0 + 3 * HOUR));
        assert!(
            l.allows(["b"], t0 + 3 * HOUR),
            "another caller is not limited"
        );
        // The first request leaves the window 24 hours after it was taken.
        assert!(!l.allows(["a"], t0 + 24 * HOUR - 1));
        assert!(l.allows(["a"], t0 + 24 * HOUR));
        assert_eq!(l.count("a", t0 + 24 * HOUR), 2);
    }

    #[test]
    fn every_key_must_have_room() {
        let mut l = CallbackLimit::new(2);
        l.charge(["caller", "number"], 0);
        l.charge(["number"], 1);
        // The number left is used up, whoever calls to leave it.
        assert!(!l.allows(["other-caller", "number"], 2));
        assert!(l.allows(["caller", "other-number"], 2));
    }

    #[test]
    fn a_key_given_twice_counts_once() {
        let mut l = CallbackLimit::new(2);
        l.charge(["same", "same"], 0);
        assert_eq!(l.count("same", 1), 1);
        assert!(l.allows(["same"], 1));
    }

    #[test]
    fn zero_means_no_limit() {
        let mut l = CallbackLimit::new(0);
        for t in 0..50 {
            l.charge(["a"], t);
        }
        assert!(l.allows(["a"], 51));
    }

    #[test]
    fn old_keys_are_forgotten() {
        let mut l = CallbackLimit::new(3);
        l.charge(["a"], 0);
        l.charge(["b"], 2 * HOUR);
        assert_eq!(l.keys(), 2);
        l.charge(["c"], 25 * HOUR);
        assert_eq!(l.keys(), 2, "a is gone: {l:?}");
        l.charge(["d"], 26 * HOUR);
        assert_eq!(l.keys(), 2, "b is gone: {l:?}");
        // At most `max` times are kept per key.
        for t in 0..10 {
            l.charge(["e"], 26 * HOUR + t);
        }
        assert_eq!(l.seen.get("e").map(VecDeque::len), Some(3));
    }
}
