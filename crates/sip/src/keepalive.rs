//! CRLF keep-alives on a connection Senim opened (RFC 5626 §4.4.1 and
//! §3.5.1): every so often a ping (CRLF CRLF); the far end answers with a
//! pong (CRLF), and anything else it sends counts as well. Once the far end
//! has shown that it answers pings, a flow that says nothing for
//! [`PONG_WAIT`] after one has failed: close it, and whatever registered
//! over it registers again. A far end that never answers a ping (pongs are
//! only required of an RFC 5626 registrar) is pinged all the same, which
//! keeps NAT bindings open, and is never judged by its silence.
//!
//! Sans-IO: the connection's task feeds it the time and what it read, and
//! writes the pings it asks for.

use std::time::{Duration, Instant};

/// How long a pong may take (RFC 5626 §4.4.1: 10 seconds).
pub const PONG_WAIT: Duration = Duration::from_secs(10);

/// The ping.
pub const PING: &[u8] = b"\r\n\r\n";

/// The pong.
pub const PONG: &[u8] = b"\r\n";

/// What the connection must do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeepaliveAction {
    /// Write [`PING`].
    SendPing,
    /// No answer to the ping: the flow has failed; close the connection.
    FlowFailed,
}

/// The keep-alive of one connection.
#[derive(Debug, Clone)]
pub struct Keepalive {
    every: Duration,
    /// When the next ping is due (`None` while a ping waits for its pong).
    next_ping: Option<Instant>,
    /// While a ping waits: when its answer is overdue.
    pong_by: Option<Instant>,
    /// The far end has answered a ping: its silence now means failure.
    answers_pings: bool,
}

impl Keepalive {
    /// Ping every `every` (at least one second) from `now` on.
    pub fn new(every: Duration, now: Instant) -> Keepalive {
        let every = every.max(Duration::from_secs(1));
        Keepalive {
            every,
            next_ping: Some(now + every),
            pong_by: None,
            answers_pings: false,
        }
    }

    /// The far end sent something: a pong (`pong`), or a message. Either
    /// shows the flow alive; a pong also shows that the far end answers.
    pub fn on_received(&mut self, now: Instant, pong: bool) {
        self.answers_pings |= pong && self.pong_by.is_some();
        if self.pong_by.take().is_some() {
            self.next_ping = Some(now + self.every);
        }
    }

    /// When [`Keepalive::handle_timeout`] is next needed.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.pong_by.or(self.next_ping)
    }

    /// The time from [`Keepalive::poll_timeout`] has come (or any time).
    pub fn handle_timeout(&mut self, now: Instant) -> Option<KeepaliveAction> {
        if let Some(by) = self.pong_by {
            if now < by {
                return None;
            }
            self.pong_by = None;
            if self.answers_pings {
                self.next_ping = None;
                return Some(KeepaliveAction::FlowFailed);
            }
            // Unanswered, but no answer was ever promised: keep pinging.
            let next = by.checked_sub(PONG_WAIT).unwrap_or(now) + self.every;
            self.next_ping = Some(next.max(now));
            return self.handle_timeout(now);
        }
        match self.next_ping {
            Some(at) if now >= at => {
                self.next_ping = None;
                self.pong_by = Some(now + PONG_WAIT);
                Some(KeepaliveAction::SendPing)
            }
            _ => None,
        }
    }
}

/// A run of CR/LF bytes read from a connection is a ping (a pong is due)
/// when it holds a blank line: CRLF CRLF (or bare LF LF).
pub fn is_ping(frame: &[u8]) -> bool {
    frame.windows(4).any(|w| w == PING) || frame.windows(2).any(|w| w == b"\n\n")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::disallowed_methods)] // a test needs one base instant
    use super::*;

    #[test]
    fn pings_on_schedule_and_a_pong_rearms() {
        let t0 = Instant::now();
        let mut k = Keepalive::new(Duration::from_secs(30), t0);
        assert_eq!(k.poll_timeout(), Some(t0 + Duration::from_secs(30)));
        assert_eq!(k.handle_timeout(t0 + Duration::from_secs(29)), None);
        let t1 = t0 + Duration::from_secs(30);
        assert_eq!(k.handle_timeout(t1), Some(KeepaliveAction::SendPing));
        assert_eq!(k.poll_timeout(), Some(t1 + PONG_WAIT));
        k.on_received(t1 + Duration::from_millis(20), true);
        assert_eq!(
            k.poll_timeout(),
            Some(t1 + Duration::from_millis(20) + Duration::from_secs(30))
        );
    }

    #[test]
    fn silence_after_a_ping_fails_a_flow_that_answered_before() {
        let t0 = Instant::now();
        let mut k = Keepalive::new(Duration::from_secs(5), t0);
        assert_eq!(
            k.handle_timeout(t0 + Duration::from_secs(5)),
            Some(KeepaliveAction::SendPing)
        );
        k.on_received(t0 + Duration::from_secs(5), true);
        let t1 = t0 + Duration::from_secs(10);
        assert_eq!(k.handle_timeout(t1), Some(KeepaliveAction::SendPing));
        assert_eq!(k.handle_timeout(t1 + Duration::from_secs(9)), None);
        assert_eq!(
            k.handle_timeout(t1 + PONG_WAIT),
            Some(KeepaliveAction::FlowFailed)
        );
        assert_eq!(k.poll_timeout(), None);
        assert_eq!(k.handle_timeout(t1 + Duration::from_secs(60)), None);
    }

    #[test]
    fn a_far_end_that_never_answers_is_pinged_on_and_not_failed() {
        let t0 = Instant::now();
        let mut k = Keepalive::new(Duration::from_secs(30), t0);
        let t1 = t0 + Duration::from_secs(30);
        assert_eq!(k.handle_timeout(t1), Some(KeepaliveAction::SendPing));
        assert_eq!(k.handle_timeout(t1 + PONG_WAIT), None);
        assert_eq!(k.poll_timeout(), Some(t1 + Duration::from_secs(30)));
        // A message (not a pong) does not promise pongs.
        assert_eq!(
            k.handle_timeout(t1 + Duration::from_secs(30)),
            Some(KeepaliveAction::SendPing)
        );
        k.on_received(t1 + Duration::from_secs(31), false);
        let t2 = t1 + Duration::from_secs(61);
        assert_eq!(k.handle_timeout(t2), Some(KeepaliveAction::SendPing));
        assert_eq!(k.handle_timeout(t2 + PONG_WAIT), None);
    }

    #[test]
    fn a_short_interval_pings_again_as_soon_as_the_wait_is_over() {
        let t0 = Instant::now();
        let mut k = Keepalive::new(Duration::from_secs(2), t0);
        let t1 = t0 + Duration::from_secs(2);
        assert_eq!(k.handle_timeout(t1), Some(KeepaliveAction::SendPing));
        assert_eq!(
            k.handle_timeout(t1 + PONG_WAIT),
            Some(KeepaliveAction::SendPing)
        );
    }

    #[test]
    fn traffic_before_a_ping_does_not_move_it() {
        let t0 = Instant::now();
        let mut k = Keepalive::new(Duration::from_secs(5), t0);
        k.on_received(t0 + Duration::from_secs(1), true);
        assert_eq!(k.poll_timeout(), Some(t0 + Duration::from_secs(5)));
    }

    #[test]
    fn pings_and_pongs_told_apart() {
        assert!(is_ping(b"\r\n\r\n"));
        assert!(is_ping(b"\n\n"));
        assert!(!is_ping(b"\r\n"));
        assert!(!is_ping(b"\r\n\r"));
    }
}
