//! Senim's dialplan: the XML format, its validator and its interpreter.
//!
//! * [`load`] / [`load_str`] read a plan file and check it (`senim check`
//!   prints the [`Diagnostic`]s as `file:line:column: severity: message`).
//! * [`Interpreter`] runs one call through a [`Plan`]: a pure state machine,
//!   events in, actions out. No clock, no sockets, no tokio: timers are
//!   requested as durations and come back as [`Event::Timeout`].
//!
//! The format is documented for plan authors in `docs/dialplan.md`.

mod diagnostic;
pub mod interpreter;
mod loading;
pub mod model;
pub mod parse;
mod prompt_catalog;
pub mod validate;

pub use diagnostic::{Diagnostic, Severity};
pub use interpreter::{Action, Event, Interpreter, RouteOutcome, TransferOutcome};
pub use loading::{load, load_str, load_str_with_entries, load_unchecked, load_with_entries};
pub use model::Plan;
pub use prompt_catalog::{AnyPrompt, PromptCatalog};
pub use validate::{first_prompt, EntryPoint, DEFAULT_FIRST_PROMPT_LIMIT};
