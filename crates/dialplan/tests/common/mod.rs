//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use senim_dialplan::PromptCatalog;

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The prompt library as the manifest lists it: every id in kk and ru.
pub struct Manifest {
    pub have: BTreeSet<(String, String)>,
}

#[derive(serde::Deserialize)]
struct File {
    prompt: Vec<Entry>,
}

#[derive(serde::Deserialize)]
struct Entry {
    id: String,
    kk: Option<String>,
    ru: Option<String>,
}

impl Manifest {
    pub fn load() -> Manifest {
        let path = repo().join("voice-prompts/prompts.toml");
        let text = std::fs::read_to_string(&path).expect("prompts.toml");
        let file: File = toml::from_str(&text).expect("prompts.toml parses");
        let mut have = BTreeSet::new();
        for p in file.prompt {
            if p.kk.is_some_and(|t| !t.is_empty()) {
                have.insert((p.id.clone(), "kk".to_string()));
            }
            if p.ru.is_some_and(|t| !t.is_empty()) {
                have.insert((p.id.clone(), "ru".to_string()));
            }
        }
        Manifest { have }
    }
}

impl PromptCatalog for Manifest {
    fn has(&self, id: &str, language: &str) -> bool {
        self.have.contains(&(id.to_string(), language.to_string()))
    }
}
