//! Per-source rate limits for what arrives on the SIP port, sans-IO.
//!
//! Each source IP has a token bucket: `rate` messages a second on average,
//! up to `burst` at once. A message over the limit is dropped unanswered
//! (an answer would only feed a flood). The table of sources is bounded:
//! when it is full, buckets that have filled up again (sources gone quiet)
//! are forgotten; when none has, new sources share one overflow bucket, so
//! a flood from many addresses costs a fixed amount of memory and is still
//! limited as a whole.
//!
//! Sources the driver trusts (configured trunks, which carry many calls at
//! once) are not put through the limiter at all.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// The limiter's settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SourceLimitConfig {
    /// Messages a second each source may send on average.
    pub rate: f64,
    /// Messages a source may send at once.
    pub burst: u32,
    /// Most sources followed one by one.
    pub max_sources: usize,
}

impl Default for SourceLimitConfig {
    fn default() -> Self {
        SourceLimitConfig {
            rate: 50.0,
            burst: 100,
            max_sources: 10_000,
        }
    }
}

/// What to do with a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Take it.
    Allow,
    /// Drop it. `first` is set on the first drop after the source was last
    /// allowed (log once per burst, not once per message).
    Drop { first: bool },
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
    dropping: bool,
}

impl Bucket {
    fn full(burst: u32, now: Instant) -> Bucket {
        Bucket {
            tokens: f64::from(burst),
            at: now,
            dropping: false,
        }
    }

    fn refill(&mut self, config: &SourceLimitConfig, now: Instant) {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * config.rate).min(f64::from(config.burst));
        self.at = now;
    }

    fn take(&mut self, config: &SourceLimitConfig, now: Instant) -> Verdict {
        self.refill(config, now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            self.dropping = false;
            Verdict::Allow
        } else {
            let first = !self.dropping;
            self.dropping = true;
            Verdict::Drop { first }
        }
    }

    /// Full again by `now`: the source has been quiet.
    fn idle(&self, config: &SourceLimitConfig, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens + elapsed * config.rate >= f64::from(config.burst)
    }
}

/// The per-source token buckets.
#[derive(Debug)]
pub struct SourceLimiter {
    config: SourceLimitConfig,
    buckets: HashMap<IpAddr, Bucket>,
    overflow: Bucket,
    dropped: u64,
}

impl SourceLimiter {
    /// A limiter with `config` (a rate under one a second is raised to one,
    /// a burst under one to one, at least one source is followed).
    pub fn new(config: SourceLimitConfig, now: Instant) -> SourceLimiter {
        let config = SourceLimitConfig {
            rate: if config.rate.is_finite() {
                config.rate.max(1.0)
            } else {
                1.0
            },
            burst: config.burst.max(1),
            max_sources: config.max_sources.max(1),
        };
        SourceLimiter {
            overflow: Bucket::full(config.burst, now),
            config,
            buckets: HashMap::new(),
            dropped: 0,
        }
    }

    /// A message from `ip` arrived at `now`.
    pub fn check(&mut self, now: Instant, ip: IpAddr) -> Verdict {
        let config = self.config;
        let verdict = if let Some(b) = self.buckets.get_mut(&ip) {
            b.take(&config, now)
        } else {
            if self.buckets.len() >= config.max_sources {
                self.buckets.retain(|_, b| !b.idle(&config, now));
            }
            if self.buckets.len() < config.max_sources {
                let mut b = Bucket::full(config.burst, now);
                let v = b.take(&config, now);
                self.buckets.insert(ip, b);
                v
            } else {
                self.overflow.take(&config, now)
            }
        };
        if verdict != Verdict::Allow {
            self.dropped = self.dropped.saturating_add(1);
        }
        verdict
    }

    /// Messages dropped so far.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Sources followed now.
    pub fn sources(&self) -> usize {
        self.buckets.len()
    }

    /// How long a source that has used its burst waits for one message.
    pub fn interval(&self) -> Duration {
        Duration::from_secs_f64(1.0 / self.config.rate)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::disallowed_methods)] // a test needs one base instant
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([192, 0, 2, last])
    }

    fn config(rate: f64, burst: u32, max_sources: usize) -> SourceLimitConfig {
        SourceLimitConfig {
            rate,
            burst,
            max_sources,
        }
    }

    #[test]
    fn a_burst_then_the_rate() {
        let t0 = Instant::now();
        let mut l = SourceLimiter::new(config(10.0, 5, 100), t0);
        for _ in 0..5 {
            assert_eq!(l.check(t0, ip(1)), Verdict::Allow);
        }
        assert_eq!(l.check(t0, ip(1)), Verdict::Drop { first: true });
        assert_eq!(l.check(t0, ip(1)), Verdict::Drop { first: false });
        // Another source is not held back by the first.
        assert_eq!(l.check(t0, ip(2)), Verdict::Allow);
        // A tenth of a second later: one more.
        let t1 = t0 + Duration::from_millis(100);
        assert_eq!(l.check(t1, ip(1)), Verdict::Allow);
        assert_eq!(l.check(t1, ip(1)), Verdict::Drop { first: true });
        assert_eq!(l.dropped(), 3);
    }

    #[test]
    fn a_steady_source_under_the_rate_is_never_dropped() {
        let t0 = Instant::now();
        let mut l = SourceLimiter::new(config(50.0, 10, 100), t0);
        for i in 0..10_000u64 {
            let now = t0 + Duration::from_millis(25 * i);
            assert_eq!(l.check(now, ip(1)), Verdict::Allow, "message {i}");
        }
    }

    #[test]
    fn a_flood_passes_at_the_rate_only() {
        let t0 = Instant::now();
        let mut l = SourceLimiter::new(config(50.0, 100, 100), t0);
        let mut allowed = 0;
        // 10 s at 5,000 messages a second.
        for i in 0..50_000u64 {
            let now = t0 + Duration::from_micros(200 * i);
            if l.check(now, ip(1)) == Verdict::Allow {
                allowed += 1;
            }
        }
        assert!((500..=601).contains(&allowed), "{allowed}");
    }

    #[test]
    fn the_table_is_bounded_and_quiet_sources_make_room() {
        let t0 = Instant::now();
        let mut l = SourceLimiter::new(config(10.0, 2, 3), t0);
        for last in 1..=3 {
            assert_eq!(l.check(t0, ip(last)), Verdict::Allow);
        }
        assert_eq!(l.sources(), 3);
        // Full: new sources share the overflow bucket (burst 2).
        assert_eq!(l.check(t0, ip(4)), Verdict::Allow);
        assert_eq!(l.check(t0, ip(5)), Verdict::Allow);
        assert_eq!(l.check(t0, ip(6)), Verdict::Drop { first: true });
        assert_eq!(l.sources(), 3);
        // A second later every bucket is full again: the quiet sources go.
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!(l.check(t1, ip(7)), Verdict::Allow);
        assert_eq!(l.sources(), 1);
    }

    #[test]
    fn nonsense_settings_are_made_safe() {
        let t0 = Instant::now();
        let mut l = SourceLimiter::new(config(f64::NAN, 0, 0), t0);
        assert_eq!(l.check(t0, ip(1)), Verdict::Allow);
        assert_eq!(l.check(t0, ip(1)), Verdict::Drop { first: true });
        assert_eq!(l.interval(), Duration::from_secs(1));
    }
}
