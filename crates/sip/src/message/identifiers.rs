//! Fresh random identifiers: tags, branches and Call-IDs.

use rand::distributions::Alphanumeric;
use rand::Rng;

/// `len` random ASCII letters and digits.
fn random_string(len: usize) -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

/// A fresh From/To tag (12 random alphanumerics).
pub fn new_tag() -> String {
    random_string(12)
}

/// A fresh RFC 3261 branch: the magic cookie `z9hG4bK` and 16 random alphanumerics.
pub fn new_branch() -> String {
    format!("z9hG4bK{}", random_string(16))
}

/// A fresh Call-ID: 20 random alphanumerics `@host`.
pub fn new_call_id(host: &str) -> String {
    format!("{}@{}", random_string(20), host)
}
