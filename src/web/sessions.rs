//! The signed-in users of the web pages, sans-IO: a session is opened by a
//! good password, carries who it is (the same [`Caller`] as an API token),
//! the chosen language and the CSRF token of its forms, and ends by
//! log-out, after [`SessionPolicy::idle`] without a request, or after
//! [`SessionPolicy::max_age`] whatever happens. Every method takes the
//! current instant; the thin layer (`web::auth`) makes the random ids and
//! reads the clock.
//!
//! The table keeps the SHA-256 of each session id, never the id itself, so
//! what is in memory cannot be replayed as a cookie.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::i18n::Lang;
use crate::http::auth::Caller;

/// When sessions end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPolicy {
    /// A session with no request for this long ends.
    pub idle: Duration,
    /// A session ends this long after it was opened, used or not.
    pub max_age: Duration,
    /// At most this many sessions at once: the oldest ends first.
    pub max_sessions: usize,
}

impl Default for SessionPolicy {
    /// 30 minutes idle, 12 hours at most, 500 sessions.
    fn default() -> Self {
        SessionPolicy {
            idle: Duration::from_secs(30 * 60),
            max_age: Duration::from_secs(12 * 3600),
            max_sessions: 500,
        }
    }
}

/// One signed-in user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The user's name, as configured (`[[user]] name`).
    pub user: String,
    /// Who they are to the access rules: role and specialist id.
    pub caller: Caller,
    /// The language of their pages.
    pub lang: Lang,
    /// The token every form of this session must carry.
    pub csrf: String,
    opened: Instant,
    last_seen: Instant,
}

/// The open sessions.
#[derive(Debug)]
pub struct Sessions {
    policy: SessionPolicy,
    by_id: HashMap<[u8; 32], Session>,
}

fn key(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

impl Sessions {
    pub fn new(policy: SessionPolicy) -> Sessions {
        Sessions {
            policy,
            by_id: HashMap::new(),
        }
    }

    /// Open a session under `id` (random, from the caller) with its CSRF
    /// token `csrf` (random too). When the table is full, the session
    /// least recently used ends.
    pub fn open(
        &mut self,
        id: &str,
        csrf: String,
        user: String,
        caller: Caller,
        lang: Lang,
        now: Instant,
    ) {
        self.sweep(now);
        if self.by_id.len() >= self.policy.max_sessions.max(1) {
            if let Some(oldest) = self
                .by_id
                .iter()
                .min_by_key(|(_, s)| s.last_seen)
                .map(|(k, _)| *k)
            {
                self.by_id.remove(&oldest);
            }
        }
        self.by_id.insert(
            key(id),
            Session {
                user,
                caller,
                lang,
                csrf,
                opened: now,
                last_seen: now,
            },
        );
    }

    /// The session of `id`, when it is open at `now`; a request counts as
    /// use, so its idle time starts again.
    pub fn touch(&mut self, id: &str, now: Instant) -> Option<&Session> {
        let k = key(id);
        let policy = self.policy;
        let alive = self.by_id.get(&k).is_some_and(|s| alive(s, &policy, now));
        if !alive {
            self.by_id.remove(&k);
            return None;
        }
        let s = self.by_id.get_mut(&k)?;
        s.last_seen = now;
        Some(s)
    }

    /// Change the language of an open session.
    pub fn set_lang(&mut self, id: &str, lang: Lang) {
        if let Some(s) = self.by_id.get_mut(&key(id)) {
            s.lang = lang;
        }
    }

    /// Log out.
    pub fn end(&mut self, id: &str) {
        self.by_id.remove(&key(id));
    }

    /// End every session of users `keep` says no to (a user removed, or
    /// their password or role changed).
    pub fn retain_users(&mut self, keep: impl Fn(&Session) -> bool) {
        self.by_id.retain(|_, s| keep(s));
    }

    /// End the sessions that are over at `now`.
    pub fn sweep(&mut self, now: Instant) {
        let policy = self.policy;
        self.by_id.retain(|_, s| alive(s, &policy, now));
    }

    /// How many are open (as last swept).
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// True when none is open.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
}

fn alive(s: &Session, policy: &SessionPolicy, now: Instant) -> bool {
    now.saturating_duration_since(s.last_seen) < policy.idle
        && now.saturating_duration_since(s.opened) < policy.max_age
}

#[cfg(test)]
mod tests {
    #![allow(clippy::disallowed_methods)] // a test needs one base instant
    use super::*;
    use crate::http::auth::Role;

    fn dana() -> Caller {
        Caller {
            name: "dana".into(),
            role: Role::Coordinator,
            specialist: None,
        }
    }

    fn policy() -> SessionPolicy {
        SessionPolicy {
            idle: Duration::from_secs(60),
            max_age: Duration::from_secs(600),
            max_sessions: 2,
        }
    }

    #[test]
    fn a_session_ends_after_being_idle_and_after_its_maximum_age() {
        let t0 = Instant::now();
        let mut s = Sessions::new(policy());
        s.open("a", "c".into(), "dana".into(), dana(), Lang::Kk, t0);
        // Used every 50 s: alive until the maximum age.
        let mut t = t0;
        for _ in 0..11 {
            t += Duration::from_secs(50);
            if t.duration_since(t0) < Duration::from_secs(600) {
                assert!(s.touch("a", t).is_some(), "{:?}", t.duration_since(t0));
            } else {
                assert!(s.touch("a", t).is_none());
            }
        }
        s.open("b", "c".into(), "dana".into(), dana(), Lang::Ru, t0);
        assert!(s.touch("b", t0 + Duration::from_secs(59)).is_some());
        assert!(s.touch("b", t0 + Duration::from_secs(118)).is_some());
        assert!(s.touch("b", t0 + Duration::from_secs(180)).is_none());
        // Gone for good, even if asked again earlier.
        assert!(s.touch("b", t0 + Duration::from_secs(120)).is_none());
    }

    #[test]
    fn log_out_and_unknown_ids_and_a_full_table() {
        let t0 = Instant::now();
        let mut s = Sessions::new(policy());
        s.open("a", "ca".into(), "dana".into(), dana(), Lang::En, t0);
        assert_eq!(s.touch("a", t0).map(|x| x.csrf.clone()), Some("ca".into()));
        assert!(s.touch("nope", t0).is_none());
        s.end("a");
        assert!(s.touch("a", t0).is_none());
        let t1 = t0 + Duration::from_secs(1);
        s.open("x", "c".into(), "dana".into(), dana(), Lang::En, t0);
        s.open("y", "c".into(), "dana".into(), dana(), Lang::En, t1);
        assert!(s.touch("x", t1 + Duration::from_secs(1)).is_some());
        // Full: y, least recently used, ends.
        s.open(
            "z",
            "c".into(),
            "dana".into(),
            dana(),
            Lang::En,
            t1 + Duration::from_secs(2),
        );
        assert_eq!(s.len(), 2);
        assert!(s.touch("y", t1 + Duration::from_secs(2)).is_none());
        assert!(s.touch("x", t1 + Duration::from_secs(2)).is_some());
        s.retain_users(|x| x.user != "dana");
        assert!(s.is_empty());
    }
}
