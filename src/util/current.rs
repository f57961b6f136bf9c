//! [`Current`]: a value that new work takes and a reload replaces whole.
//! A reader gets an `Arc` of the value as it is now and keeps it for as long
//! as it needs it (a call keeps the configuration it started with); the
//! next reader gets the replacement.

use std::sync::{Arc, PoisonError, RwLock};

/// The value in service now.
pub struct Current<T> {
    value: RwLock<Arc<T>>,
}

impl<T> Current<T> {
    pub fn new(value: T) -> Current<T> {
        Current::from_arc(Arc::new(value))
    }

    pub fn from_arc(value: Arc<T>) -> Current<T> {
        Current {
            value: RwLock::new(value),
        }
    }

    /// The value in service now.
    pub fn get(&self) -> Arc<T> {
        self.value
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Put `value` in service; returns the one it replaces (whose holders
    /// keep it).
    pub fn replace(&self, value: Arc<T>) -> Arc<T> {
        let mut slot = self.value.write().unwrap_or_else(PoisonError::into_inner);
        std::mem::replace(&mut *slot, value)
    }
}

impl<T: Default> Default for Current<T> {
    fn default() -> Self {
        Current::new(T::default())
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for Current<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Current").field(&self.get()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_holder_keeps_its_value_and_the_next_reader_gets_the_new_one() {
        let current = Current::new(String::from("first"));
        let held = current.get();
        let old = current.replace(Arc::new(String::from("second")));
        assert_eq!(*held, "first");
        assert!(Arc::ptr_eq(&held, &old));
        assert_eq!(*current.get(), "second");
    }
}
