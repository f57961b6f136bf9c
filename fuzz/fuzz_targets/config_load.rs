//! Fuzz the configuration reader: any UTF-8 text as `senim.toml`, read and
//! checked as `senim serve` reads and checks it (without the environment
//! and without touching any file). It gives settings or faults that name
//! the file, never a panic.
//! Run: `cd fuzz && cargo +nightly fuzz run config_load corpus/config_load`.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use senim::config::places::At;
use senim::config::{Config, ConfigError};

const FOLDER: &str = "/etc/senim";
const FILE: &str = "/etc/senim/senim.toml";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let result = Config::from_toml(text, Path::new(FILE)).and_then(|mut config| {
        config.resolve_paths_from(Path::new(FOLDER));
        config.validate(FILE)
    });
    if let Err(e) = result {
        check_refusal(text, &e);
    }
});

/// A refusal names the file, and each place it gives is in the text.
fn check_refusal(text: &str, e: &ConfigError) {
    let faults = e.faults();
    assert!(!faults.is_empty(), "a refusal without a fault: {e}");
    let lines = text.split('\n').count();
    for fault in faults {
        assert!(!fault.message.is_empty(), "a fault without a message: {e}");
        match &fault.at {
            Some(At::Text { line, column }) => {
                assert!(*line >= 1 && *line <= lines, "line {line} of {lines}: {e}");
                assert!(*column >= 1, "column {column}: {e}");
            }
            Some(At::Env(var)) => panic!("no environment was given, yet {var}: {e}"),
            None => {}
        }
    }
    let message = e.to_string();
    assert!(message.starts_with(FILE), "{message}");
}
