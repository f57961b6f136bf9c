//! Fuzz the dialplan loader (XML parser, validator) and run what loads through
//! the interpreter with a fixed sequence of events.
//! Run: `cd crates/dialplan/fuzz && cargo +nightly fuzz run load corpus/load`.
#![no_main]

use std::path::Path;
use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use senim_dialplan::{AnyPrompt, Event, Interpreter, RouteOutcome, TransferOutcome};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok((plan, _warnings)) = senim_dialplan::load_str(text, Path::new("fuzz.xml"), &AnyPrompt) else {
        return;
    };
    let mut call = Interpreter::new(Arc::new(plan));
    let events = [
        Event::Started,
        Event::PromptFinished,
        Event::Digit('1'),
        Event::Timeout,
        Event::Digit('0'),
        Event::HoursResult { open: false },
        Event::RouteResult(RouteOutcome::NoAnswer),
        Event::TransferResult(TransferOutcome::Failed),
        Event::CallbackResult { recorded: true },
        Event::VoicemailResult { recorded: false },
        Event::PromptFinished,
        Event::Timeout,
    ];
    for e in events {
        let _ = call.handle(e);
    }
});
