//! Lock-out after repeated failed passwords, sans-IO.
//!
//! A [`FailureTracker`] counts failures per key (the registrar keeps one for user names and one
//! for source addresses). Failures decay: one is forgotten every [`LockoutPolicy::decay`], so a
//! phone that mistypes now and then never reaches the limit while a guesser does. The failure
//! that reaches [`LockoutPolicy::max_failures`] locks the key for [`LockoutPolicy::lock_for`]
//! and starts the count again from zero; the lock ends by itself (checked against `now`, no
//! timer needed).
//!
//! The tracker holds at most a fixed number of keys: when full, keys with nothing to remember go
//! first, then the unlocked key idle longest, then the lock that ends soonest.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// When repeated failures lock a key, and for how long.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LockoutPolicy {
    /// Failures (after decay) that lock the key. At least 1.
    pub max_failures: u32,
    /// How long a lock lasts.
    pub lock_for: Duration,
    /// One failure is forgotten per this period (zero: never forgotten until a lock or a
    /// success clears them).
    pub decay: Duration,
}

impl Default for LockoutPolicy {
    /// 20 failures lock for 15 minutes; one failure is forgotten per minute.
    fn default() -> Self {
        LockoutPolicy {
            max_failures: 20,
            lock_for: Duration::from_secs(15 * 60),
            decay: Duration::from_secs(60),
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    failures: u32,
    /// The instant from which the next decay step is counted.
    since: Instant,
    locked_until: Option<Instant>,
}

impl Entry {
    /// Apply the decay steps due at `now`.
    fn decay(&mut self, now: Instant, decay: Duration) {
        if self.failures == 0 || decay.is_zero() {
            self.since = self.since.max(now);
            return;
        }
        let elapsed = now.saturating_duration_since(self.since);
        let steps = elapsed.as_nanos() / decay.as_nanos();
        let steps_u32 = u32::try_from(steps).unwrap_or(u32::MAX);
        if steps_u32 >= self.failures {
            self.failures = 0;
            self.since = now;
        } else {
            self.failures -= steps_u32;
            // `steps_u32 < failures`, so this stays within a few periods of `since`.
            self.since = self
                .since
                .checked_add(decay.saturating_mul(steps_u32))
                .unwrap_or(now);
        }
    }

    fn locked_at(&self, now: Instant) -> Option<Instant> {
        self.locked_until.filter(|until| *until > now)
    }
}

/// Failure counts and locks per key.
#[derive(Debug)]
pub struct FailureTracker<K> {
    policy: LockoutPolicy,
    capacity: usize,
    entries: HashMap<K, Entry>,
}

impl<K: Hash + Eq + Clone> FailureTracker<K> {
    /// A tracker for at most `capacity` keys (at least 1).
    pub fn new(policy: LockoutPolicy, capacity: usize) -> Self {
        FailureTracker {
            policy: LockoutPolicy {
                max_failures: policy.max_failures.max(1),
                ..policy
            },
            capacity: capacity.max(1),
            entries: HashMap::new(),
        }
    }

    /// The policy in force.
    pub fn policy(&self) -> LockoutPolicy {
        self.policy
    }

    /// The end of the key's lock, if it is locked at `now`.
    pub fn locked_until(&self, key: &K, now: Instant) -> Option<Instant> {
        self.entries.get(key).and_then(|e| e.locked_at(now))
    }

    /// The key's failures at `now`, after decay (0 for an unknown key).
    pub fn failures(&self, key: &K, now: Instant) -> u32 {
        self.entries.get(key).map_or(0, |e| {
            let mut e = *e;
            e.decay(now, self.policy.decay);
            e.failures
        })
    }

    /// Count one failure of `key` at `now`. Returns the end of the lock when this failure
    /// locks the key (not when it was locked already).
    pub fn fail(&mut self, key: &K, now: Instant) -> Option<Instant> {
        if !self.entries.contains_key(key) {
            self.make_room(now);
        }
        let policy = self.policy;
        let entry = self.entries.entry(key.clone()).or_insert(Entry {
            failures: 0,
            since: now,
            locked_until: None,
        });
        entry.decay(now, policy.decay);
        if entry.locked_until.is_some_and(|until| until <= now) {
            entry.locked_until = None;
        }
        entry.failures = entry.failures.saturating_add(1);
        if entry.failures < policy.max_failures || entry.locked_until.is_some() {
            return None;
        }
        let until = now.checked_add(policy.lock_for).unwrap_or(now);
        entry.locked_until = Some(until);
        entry.failures = 0;
        entry.since = now;
        Some(until)
    }

    /// Forget the key's failures (a success). A lock in force stays.
    pub fn clear(&mut self, key: &K, now: Instant) {
        let remove = match self.entries.get_mut(key) {
            Some(e) => {
                e.failures = 0;
                e.since = now;
                e.locked_at(now).is_none()
            }
            None => false,
        };
        if remove {
            self.entries.remove(key);
        }
    }

    /// Keys tracked (for tests and metrics).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no key is tracked.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Drop what has nothing left to remember at `now`; when still full, evict one key.
    fn make_room(&mut self, now: Instant) {
        if self.entries.len() < self.capacity {
            return;
        }
        let decay = self.policy.decay;
        self.entries.retain(|_, e| {
            e.decay(now, decay);
            e.failures > 0 || e.locked_at(now).is_some()
        });
        if self.entries.len() < self.capacity {
            return;
        }
        let victim = self
            .entries
            .iter()
            .filter(|(_, e)| e.locked_at(now).is_none())
            .min_by_key(|(_, e)| e.since)
            .or_else(|| {
                self.entries
                    .iter()
                    .min_by_key(|(_, e)| e.locked_until.unwrap_or(now))
            })
            .map(|(k, _)| k.clone());
        if let Some(k) = victim {
            self.entries.remove(&k);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::disallowed_methods)] // a test needs one base instant
    use super::*;

    fn policy() -> LockoutPolicy {
        LockoutPolicy {
            max_failures: 3,
            lock_for: Duration::from_secs(100),
            decay: Duration::from_secs(10),
        }
    }

    #[test]
    fn the_third_failure_locks_until_the_period_ends() {
        let t0 = Instant::now();
        let mut t = FailureTracker::new(policy(), 8);
        assert_eq!(t.fail(&"a", t0), None);
        assert_eq!(t.fail(&"a", t0), None);
        let until = t.fail(&"a", t0).expect("locked");
        assert_eq!(until, t0 + Duration::from_secs(100));
        assert_eq!(
            t.locked_until(&"a", t0 + Duration::from_secs(99)),
            Some(until)
        );
        assert_eq!(t.locked_until(&"a", until), None, "over at the instant");
        assert_eq!(t.locked_until(&"b", t0), None);
        // A failure while locked neither extends nor reports the lock.
        assert_eq!(t.fail(&"a", t0 + Duration::from_secs(1)), None);
        assert_eq!(
            t.locked_until(&"a", t0 + Duration::from_secs(2)),
            Some(until)
        );
    }

    #[test]
    fn failures_decay_one_per_period() {
        let t0 = Instant::now();
        let mut t = FailureTracker::new(policy(), 8);
        t.fail(&"a", t0);
        t.fail(&"a", t0);
        assert_eq!(t.failures(&"a", t0 + Duration::from_secs(9)), 2);
        assert_eq!(t.failures(&"a", t0 + Duration::from_secs(10)), 1);
        assert_eq!(t.failures(&"a", t0 + Duration::from_secs(25)), 0);
        // Two failures, one forgotten, then two more: 3 only at the last.
        assert_eq!(t.fail(&"a", t0 + Duration::from_secs(10)), None);
        assert_eq!(t.failures(&"a", t0 + Duration::from_secs(10)), 2);
        assert!(t.fail(&"a", t0 + Duration::from_secs(11)).is_some());
    }

    #[test]
    fn a_success_clears_the_count_but_not_a_lock() {
        let t0 = Instant::now();
        let mut t = FailureTracker::new(policy(), 8);
        t.fail(&"a", t0);
        t.fail(&"a", t0);
        t.clear(&"a", t0);
        assert_eq!(t.failures(&"a", t0), 0);
        assert!(t.is_empty());
        for _ in 0..3 {
            t.fail(&"a", t0);
        }
        t.clear(&"a", t0 + Duration::from_secs(1));
        assert!(t.locked_until(&"a", t0 + Duration::from_secs(1)).is_some());
    }

    #[test]
    fn capacity_is_kept_and_locks_are_evicted_last() {
        let t0 = Instant::now();
        let mut t = FailureTracker::new(policy(), 2);
        for _ in 0..3 {
            t.fail(&1, t0);
        }
        t.fail(&2, t0 + Duration::from_secs(1));
        t.fail(&3, t0 + Duration::from_secs(2));
        assert_eq!(t.len(), 2);
        assert!(t.locked_until(&1, t0 + Duration::from_secs(2)).is_some());
        assert_eq!(t.failures(&2, t0 + Duration::from_secs(2)), 0, "evicted");
        assert_eq!(t.failures(&3, t0 + Duration::from_secs(2)), 1);
    }
}
