//! When a pacing thread sends: the 20 ms packet time is cut into slots, and
//! each stream sends in its own slot, the same every tick. A thread then
//! sends a few packets every millisecond instead of all of them at once
//! every 20 ms, so a stream's packet does not wait behind every other
//! stream's, and the spacing of each stream stays close to 20 ms however
//! many streams the thread has.
//!
//! Sans-IO: the schedule is given the time and says which slot is due.

use std::time::{Duration, Instant};

/// One RTP packet time.
pub const PTIME: Duration = Duration::from_millis(20);

/// Slots in one packet time.
pub const SLOTS: usize = 20;
/// One slot: 1 ms.
pub const SLOT: Duration = Duration::from_millis(1);
const _: () = assert!(SLOT.as_nanos() * SLOTS as u128 == PTIME.as_nanos());

/// Further behind than this (the machine was suspended, or overloaded), the
/// schedule starts again from now instead of sending everything it missed.
const RESTART_AFTER: Duration = Duration::from_millis(100);
/// A slot sent later than this after its deadline counts as late.
const LATE_AFTER: Duration = Duration::from_millis(2);

/// A slot that is due, and how it was met.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Due {
    pub slot: usize,
    /// Sent more than 2 ms after its deadline.
    pub late: bool,
    /// The schedule had fallen more than 100 ms behind and started again.
    pub restarted: bool,
}

/// Deadlines advance by one slot from the start, never from the time a slot
/// happened to be sent, so drift does not add up; a slot sent late is
/// followed at once by the ones it delayed.
#[derive(Debug, Clone)]
pub struct Schedule {
    next: Instant,
    slot: usize,
}

impl Schedule {
    /// Slot 0 is due at `first`.
    pub fn new(first: Instant) -> Schedule {
        Schedule {
            next: first,
            slot: 0,
        }
    }

    /// When the next slot is due.
    pub fn deadline(&self) -> Instant {
        self.next
    }

    /// The slot due at `now`, if one is; the schedule moves on to the next.
    pub fn due(&mut self, now: Instant) -> Option<Due> {
        if now < self.next {
            return None;
        }
        let behind = now - self.next;
        let restarted = behind > RESTART_AFTER;
        if restarted {
            self.next = now;
        }
        let due = Due {
            slot: self.slot,
            late: behind > LATE_AFTER,
            restarted,
        };
        self.slot = (self.slot + 1) % SLOTS;
        self.next += SLOT;
        Some(due)
    }
}

/// The slot with the fewest streams (the first of them), for a new stream.
pub fn least_loaded(counts: &[usize; SLOTS]) -> usize {
    let mut best = 0;
    for (i, n) in counts.iter().enumerate() {
        if *n < counts[best] {
            best = i;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    // A base instant for the fake clock; nothing here waits.
    #[allow(clippy::disallowed_methods)]
    fn base() -> Instant {
        Instant::now()
    }

    #[test]
    fn slots_come_in_turn_one_millisecond_apart_and_a_tick_is_twenty() {
        let t0 = base();
        let mut s = Schedule::new(t0);
        let mut seen = Vec::new();
        for k in 0..45u32 {
            let now = t0 + SLOT * k;
            assert_eq!(
                s.due(now - Duration::from_micros(1)),
                None,
                "not before its deadline"
            );
            let d = s.due(now).expect("due on its deadline");
            assert!(!d.late && !d.restarted);
            seen.push(d.slot);
            assert_eq!(s.deadline(), now + SLOT);
        }
        assert_eq!(seen[..SLOTS], (0..SLOTS).collect::<Vec<_>>()[..]);
        assert_eq!(seen[SLOTS], 0, "slot 0 again one packet time later");
        assert_eq!(seen[44], 4);
    }

    #[test]
    fn a_late_thread_catches_up_without_drift() {
        let t0 = base();
        let mut s = Schedule::new(t0);
        // Woken 5 ms late: slots 0..=5 are all due at once, 0..=2 late.
        let now = t0 + Duration::from_millis(5);
        let mut due = Vec::new();
        while let Some(d) = s.due(now) {
            due.push(d);
            assert!(due.len() <= SLOTS, "bounded");
        }
        assert_eq!(
            due.iter().map(|d| d.slot).collect::<Vec<_>>(),
            [0, 1, 2, 3, 4, 5]
        );
        assert_eq!(due.iter().filter(|d| d.late).count(), 3);
        assert!(due.iter().all(|d| !d.restarted));
        // The deadlines stay on the original grid.
        assert_eq!(s.deadline(), t0 + Duration::from_millis(6));
    }

    #[test]
    fn far_behind_the_schedule_starts_again_from_now() {
        let t0 = base();
        let mut s = Schedule::new(t0);
        let now = t0 + Duration::from_millis(250);
        let d = s.due(now).expect("due");
        assert!(d.restarted && d.late);
        assert_eq!(d.slot, 0);
        assert_eq!(s.deadline(), now + SLOT);
        assert_eq!(s.due(now), None, "not a burst of 250 slots");
    }

    #[test]
    fn a_new_stream_goes_to_the_emptiest_slot() {
        let mut counts = [3; SLOTS];
        assert_eq!(least_loaded(&counts), 0);
        counts[0] = 4;
        counts[7] = 1;
        counts[9] = 1;
        assert_eq!(least_loaded(&counts), 7);
    }
}
