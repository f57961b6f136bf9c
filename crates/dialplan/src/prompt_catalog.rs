//! What the validator needs to know about the prompt library: which prompt
//! has a recording in which language, and how long it plays.

use std::time::Duration;

/// What the validator needs to know about prompts (the library of WAVs).
pub trait PromptCatalog {
    /// Whether prompt `id` has a recording in `language`.
    fn has(&self, id: &str, language: &str) -> bool;

    /// How long prompt `id` plays in `language`; `None`: not known (the
    /// checks that need a length skip it).
    fn duration(&self, _id: &str, _language: &str) -> Option<Duration> {
        None
    }
}

/// Every prompt exists in every language (for tests and tools that do not check prompts).
#[derive(Debug, Clone, Copy, Default)]
pub struct AnyPrompt;

impl PromptCatalog for AnyPrompt {
    fn has(&self, _id: &str, _language: &str) -> bool {
        true
    }
}

impl<S: std::borrow::Borrow<str> + Ord> PromptCatalog for std::collections::BTreeSet<(S, S)> {
    fn has(&self, id: &str, language: &str) -> bool {
        self.iter()
            .any(|(i, l)| i.borrow() == id && l.borrow() == language)
    }
}

impl<F: Fn(&str, &str) -> bool> PromptCatalog for F {
    fn has(&self, id: &str, language: &str) -> bool {
        self(id, language)
    }
}
