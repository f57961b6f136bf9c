//! Wall-clock time inside the core, without reading the clock: the driver
//! gives each call one pair of readings (monotonic and wall) when it starts;
//! every later wall time is that plus the monotonic time since. A record's
//! `at` and the centre's hours are then exact in tests with a fake clock.

use std::time::Instant;

use chrono::{DateTime, Utc};

/// One reading of both clocks, taken together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WallClock {
    /// The monotonic reading.
    pub at: Instant,
    /// The wall clock at `at`, in milliseconds since the Unix epoch.
    pub epoch_ms: i64,
}

impl WallClock {
    pub fn new(at: Instant, epoch_ms: i64) -> WallClock {
        WallClock { at, epoch_ms }
    }

    /// Milliseconds since the Unix epoch at `now`.
    pub fn epoch_ms(&self, now: Instant) -> i64 {
        let since = now.saturating_duration_since(self.at).as_millis();
        self.epoch_ms
            .saturating_add(i64::try_from(since).unwrap_or(i64::MAX))
    }

    /// The UTC time at `now` (for the centre's hours).
    pub fn utc(&self, now: Instant) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(self.epoch_ms(now)).unwrap_or_default()
    }
}
