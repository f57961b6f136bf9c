//! What the pages share: the users, the open sessions, the lock-outs of
//! wrong passwords, and how cookies are set.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderValue};
use senim_sip::lockout::{FailureTracker, LockoutPolicy};

use super::cookies::cookie;
use super::sessions::{Session, SessionPolicy, Sessions};
use super::users::UserTable;
use crate::util::current::Current;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "senim_session";

/// What the pages share: the users, the open sessions, the lock-outs.
pub struct WebState {
    /// The users in service; a reload of the configuration replaces them.
    users: Current<UserTable>,
    pub sessions: Mutex<Sessions>,
    failures: Mutex<FailureTracker<String>>,
    /// Cookies get `Secure` (HTTPS, or a TLS proxy in front).
    pub secure_cookies: bool,
}

impl WebState {
    pub fn new(users: UserTable, secure_cookies: bool) -> WebState {
        WebState {
            users: Current::new(users),
            sessions: Mutex::new(Sessions::new(SessionPolicy::default())),
            failures: Mutex::new(FailureTracker::new(
                LockoutPolicy {
                    max_failures: 10,
                    lock_for: Duration::from_secs(15 * 60),
                    decay: Duration::from_secs(60),
                },
                10_000,
            )),
            secure_cookies,
        }
    }

    /// The users in service now.
    pub fn users(&self) -> std::sync::Arc<UserTable> {
        self.users.get()
    }

    /// Put a reloaded table of users in service. The sessions of users who
    /// are gone, or whose role, specialist or password changed, end.
    /// Returns the names whose entry changed.
    pub fn replace_users(&self, users: UserTable) -> Vec<String> {
        let changed = users.changed_since(&self.users.get());
        let keep = std::sync::Arc::new(users);
        self.users.replace(keep.clone());
        if !changed.is_empty() {
            lock(&self.sessions)
                .retain_users(|s| !changed.iter().any(|n| n.eq_ignore_ascii_case(&s.user)));
        }
        changed
    }

    /// The session of a request's cookie, when open; touching it.
    pub fn session(&self, headers: &HeaderMap, now: Instant) -> Option<(String, Session)> {
        let id = cookie(headers, SESSION_COOKIE)?;
        let mut sessions = lock(&self.sessions);
        sessions
            .touch(id, now)
            .cloned()
            .map(|s| (id.to_string(), s))
    }

    /// Is this user name or address locked out at `now`?
    pub(super) fn locked(&self, keys: &[String], now: Instant) -> bool {
        let failures = lock(&self.failures);
        keys.iter().any(|k| failures.locked_until(k, now).is_some())
    }

    pub(super) fn fail(&self, keys: &[String], now: Instant) {
        let mut failures = lock(&self.failures);
        for k in keys {
            failures.fail(k, now);
        }
    }

    pub(super) fn clear(&self, keys: &[String], now: Instant) {
        let mut failures = lock(&self.failures);
        for k in keys {
            failures.clear(k, now);
        }
    }

    pub(super) fn cookie(&self, name: &str, value: &str, max_age: Option<Duration>) -> HeaderValue {
        let mut c = format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict");
        if let Some(age) = max_age {
            c.push_str(&format!("; Max-Age={}", age.as_secs()));
        }
        if self.secure_cookies {
            c.push_str("; Secure");
        }
        HeaderValue::from_str(&c).unwrap_or_else(|_| HeaderValue::from_static(""))
    }
}

/// A mutex that a panicked holder did not leave unusable.
pub(super) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::disallowed_methods)] // a test needs one base instant
    use super::*;
    use crate::http::auth::Role;
    use crate::web::i18n::Lang;
    use crate::web::users::{hash_password, UserConfig};

    fn table(entries: &[(&str, &str)]) -> UserTable {
        let users: Vec<UserConfig> = entries
            .iter()
            .map(|(name, hash)| UserConfig {
                name: (*name).into(),
                role: Role::Coordinator,
                specialist: None,
                password_hash: (*hash).into(),
                lang: None,
            })
            .collect();
        UserTable::from_config(&users, |_| true).unwrap_or_default()
    }

    #[test]
    fn a_reload_ends_the_sessions_of_users_who_changed_or_left() {
        let (a, b) = (
            hash_password("first long secret").unwrap_or_default(),
            hash_password("second long secret").unwrap_or_default(),
        );
        let web = WebState::new(table(&[("dana", &a), ("olga", &a), ("ruslan", &a)]), false);
        let now = Instant::now();
        for name in ["dana", "olga", "ruslan"] {
            let caller = web.users().get(name).map(|u| u.caller.clone());
            let Some(caller) = caller else {
                panic!("{name}")
            };
            lock(&web.sessions).open(name, "csrf".into(), name.into(), caller, Lang::En, now);
        }
        // Olga's password changed, Ruslan left, Dana is as she was.
        let changed = web.replace_users(table(&[("dana", &a), ("olga", &b)]));
        assert_eq!(changed, vec!["olga".to_string(), "ruslan".to_string()]);
        let mut sessions = lock(&web.sessions);
        assert!(sessions.touch("dana", now).is_some());
        assert!(sessions.touch("olga", now).is_none());
        assert!(sessions.touch("ruslan", now).is_none());
        drop(sessions);
        assert!(web.users().verify("olga", "second long secret").is_some());
    }
}
