//! The last warnings and errors of the log, kept in memory so that `senim
//! status` (through `GET /healthz`) can say what went wrong lately without
//! a look at the journal. Each keeps its time, level and message only,
//! never its fields: fields carry addresses and ids, and `/healthz` needs
//! no token.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Mutex;

use serde::Serialize;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::Context;

/// How many are kept: the oldest goes first.
pub const KEPT: usize = 10;

/// The longest message kept, in characters.
const MESSAGE_CHARS: usize = 200;

/// One warning or error.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Recent {
    /// When, UTC, RFC 3339 to the second.
    pub at: String,
    /// `WARN` or `ERROR`.
    pub level: &'static str,
    /// The log line's message, without its fields.
    pub message: String,
}

static RECENT: Mutex<VecDeque<Recent>> = Mutex::new(VecDeque::new());

/// The last warnings and errors of this process, oldest first.
pub fn recent() -> Vec<Recent> {
    match RECENT.lock() {
        Ok(ring) => ring.iter().cloned().collect(),
        Err(poisoned) => poisoned.into_inner().iter().cloned().collect(),
    }
}

fn keep(ring: &mut VecDeque<Recent>, recent: Recent) {
    if ring.len() >= KEPT {
        ring.pop_front();
    }
    ring.push_back(recent);
}

/// The layer of the log that keeps them; added where the log is set up.
pub struct RecentWarnings;

impl<S: Subscriber> tracing_subscriber::Layer<S> for RecentWarnings {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let level = *event.metadata().level();
        let level = if level == Level::ERROR {
            "ERROR"
        } else if level == Level::WARN {
            "WARN"
        } else {
            return;
        };
        let mut visitor = MessageOnly(String::new());
        event.record(&mut visitor);
        let message: String = visitor.0.chars().take(MESSAGE_CHARS).collect();
        let recent = Recent {
            at: chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            level,
            message,
        };
        match RECENT.lock() {
            Ok(mut ring) => keep(&mut ring, recent),
            Err(poisoned) => keep(&mut poisoned.into_inner(), recent),
        }
    }
}

struct MessageOnly(String);

impl Visit for MessageOnly {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0 = value.to_string();
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::layer::SubscriberExt;

    #[test]
    fn warnings_and_errors_are_kept_without_their_fields_and_only_the_last_ones() {
        let subscriber = tracing_subscriber::registry().with(RecentWarnings);
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!("not kept");
            tracing::warn!(source = "192.0.2.7:5060", "a stranger was refused");
            for i in 0..KEPT {
                tracing::error!(n = i, "error {i}");
            }
        });
        let kept = recent();
        assert_eq!(kept.len(), KEPT);
        assert!(kept.iter().all(|r| r.level == "ERROR"), "{kept:?}");
        assert_eq!(kept[KEPT - 1].message, format!("error {}", KEPT - 1));
        assert!(kept.iter().all(|r| !r.message.contains("192.0.2.7")));
        let mut ring = VecDeque::new();
        for i in 0..3 {
            keep(
                &mut ring,
                Recent {
                    at: String::new(),
                    level: "WARN",
                    message: format!("{i}"),
                },
            );
        }
        assert_eq!(ring.len(), 3);
    }
}
