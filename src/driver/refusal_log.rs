//! Which refused requests to log at `warn`: a source's first refusal, then
//! at most one line per source every five minutes with how many were
//! refused since, so that an operator sees every stranger and every
//! misconfigured phone or trunk without a scanner's flood filling the log.
//! Sans-IO: the time comes in; the table is bounded.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// One line per source at most this often.
pub const EVERY: Duration = Duration::from_secs(300);
/// Sources remembered; past this, the oldest is forgotten (and logged
/// again when it comes back).
const SOURCES: usize = 4096;

/// The refusals of each source since its last line.
#[derive(Debug, Default)]
pub struct RefusalLog {
    sources: HashMap<IpAddr, (Instant, u64)>,
}

impl RefusalLog {
    /// A request from `source` was refused at `now`: `Some(n)` when a line
    /// is due, `n` being the refusals not logged since the last line.
    pub fn refused(&mut self, now: Instant, source: IpAddr) -> Option<u64> {
        if let Some((last, quiet)) = self.sources.get_mut(&source) {
            if now.saturating_duration_since(*last) < EVERY {
                *quiet += 1;
                return None;
            }
            let n = *quiet;
            *last = now;
            *quiet = 0;
            return Some(n);
        }
        if self.sources.len() >= SOURCES {
            let oldest = self
                .sources
                .iter()
                .min_by_key(|(_, (last, _))| *last)
                .map(|(ip, _)| *ip);
            if let Some(ip) = oldest {
                self.sources.remove(&ip);
            }
        }
        self.sources.insert(source, (now, 0));
        Some(0)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::disallowed_methods)] // a test needs one base instant
    use super::*;

    #[test]
    fn the_first_refusal_then_one_line_per_source_every_five_minutes() {
        let t0 = Instant::now();
        let a: IpAddr = "203.0.113.7".parse().unwrap();
        let b: IpAddr = "198.51.100.9".parse().unwrap();
        let mut log = RefusalLog::default();
        assert_eq!(log.refused(t0, a), Some(0));
        for i in 1..=100 {
            assert_eq!(log.refused(t0 + Duration::from_secs(i), a), None);
        }
        assert_eq!(log.refused(t0 + Duration::from_secs(2), b), Some(0));
        assert_eq!(log.refused(t0 + EVERY, a), Some(100));
        assert_eq!(log.refused(t0 + EVERY + Duration::from_secs(1), a), None);
    }

    #[test]
    fn the_table_is_bounded() {
        let t0 = Instant::now();
        let mut log = RefusalLog::default();
        for i in 0..(SOURCES as u32 + 10) {
            let ip = IpAddr::from(std::net::Ipv4Addr::from(0x0A00_0000 + i));
            log.refused(t0 + Duration::from_millis(u64::from(i)), ip);
        }
        assert_eq!(log.sources.len(), SOURCES);
    }
}
