//! The id of a call being routed ([`CallId`]).

use std::fmt;

use serde::{Serialize, Serializer};

/// A call's id, as the driver names it (e.g. the call record's id).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CallId(String);

impl CallId {
    /// Wraps an id.
    pub fn new(id: impl Into<String>) -> CallId {
        CallId(id.into())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CallId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for CallId {
    fn from(s: &str) -> Self {
        CallId(s.to_string())
    }
}

impl From<String> for CallId {
    fn from(s: String) -> Self {
        CallId(s)
    }
}

impl Serialize for CallId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}
