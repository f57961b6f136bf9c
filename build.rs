//! Embeds the bundled prompts and the default dialplan in the binary, so that
//! `senim` alone serves a working IVR wherever it is copied.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let root = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into());
    let root = Path::new(&root);
    let prompts = root.join("voice-prompts");
    let mut out = String::new();
    let _ = writeln!(
        out,
        "/// `voice-prompts/prompts.toml`.\npub const PROMPTS_MANIFEST: &str = include_str!({:?});",
        prompts.join("prompts.toml")
    );
    out.push_str("/// `(language, id, WAV bytes)` of every bundled prompt.\npub const PROMPT_FILES: &[(&str, &str, &[u8])] = &[\n");
    for lang in ["kk", "ru"] {
        let dir = prompts.join(lang);
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
            .unwrap_or_default();
        files.sort();
        for f in files {
            if f.extension().is_some_and(|e| e == "wav") {
                if let Some(id) = f.file_stem().and_then(|s| s.to_str()) {
                    let _ = writeln!(out, "    ({lang:?}, {id:?}, include_bytes!({f:?})),");
                }
            }
        }
    }
    out.push_str("];\n");
    let _ = writeln!(
        out,
        "/// `dialplans/centre.xml`.\npub const DIALPLAN: &str = include_str!({:?});",
        root.join("dialplans/centre.xml")
    );
    let dest =
        Path::new(&std::env::var("OUT_DIR").unwrap_or_else(|_| ".".into())).join("bundled.rs");
    if let Err(e) = std::fs::write(&dest, out) {
        panic!("cannot write {}: {e}", dest.display());
    }
    println!("cargo:rerun-if-changed=voice-prompts");
    println!("cargo:rerun-if-changed=voice-prompts/kk");
    println!("cargo:rerun-if-changed=voice-prompts/ru");
    println!("cargo:rerun-if-changed=dialplans/centre.xml");
    // sqlx::migrate! embeds the migrations: a new file must rebuild.
    println!("cargo:rerun-if-changed=migrations/sqlite");
    println!("cargo:rerun-if-changed=migrations/postgres");
}
