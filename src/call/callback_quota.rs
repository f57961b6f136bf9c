//! The day's limit of callback requests, shared by every call: the sans-IO
//! [`CallbackLimit`] behind a lock, seeded at start from the requests stored
//! in the last 24 hours so that a restart gives nobody a fresh allowance.

use std::sync::Mutex;

use senim_call::callback_limit::{CallbackLimit, WINDOW_MS};
use senim_call::config::CallbackQuota;

use crate::store::{follow_ups, Store, StoreError};

/// One limit for every call (`[callback] max_per_day`).
#[derive(Debug)]
pub struct SharedCallbackLimit {
    limit: Mutex<CallbackLimit>,
}

impl SharedCallbackLimit {
    pub fn new(limit: CallbackLimit) -> SharedCallbackLimit {
        SharedCallbackLimit {
            limit: Mutex::new(limit),
        }
    }

    /// At most `max` requests per key in any 24 hours (0: no limit), with
    /// the requests stored since `now_ms` minus 24 hours already counted.
    pub async fn load(
        store: &Store,
        max: u32,
        now_ms: i64,
    ) -> Result<SharedCallbackLimit, StoreError> {
        let mut limit = CallbackLimit::new(max);
        if max > 0 {
            for (at, keys) in follow_ups::recent_callback_keys(store, now_ms - WINDOW_MS).await? {
                limit.charge(keys.iter().map(String::as_str), at);
            }
        }
        Ok(SharedCallbackLimit::new(limit))
    }
}

impl CallbackQuota for SharedCallbackLimit {
    fn allows(&self, keys: &[String], at_ms: i64) -> bool {
        match self.limit.lock() {
            Ok(l) => l.allows(keys.iter().map(String::as_str), at_ms),
            // A panic elsewhere while the lock was held: take the request
            // rather than turn a caller away.
            Err(poisoned) => poisoned
                .into_inner()
                .allows(keys.iter().map(String::as_str), at_ms),
        }
    }

    fn charge(&self, keys: &[String], at_ms: i64) {
        let mut l = match self.limit.lock() {
            Ok(l) => l,
            Err(poisoned) => poisoned.into_inner(),
        };
        l.charge(keys.iter().map(String::as_str), at_ms);
    }
}
