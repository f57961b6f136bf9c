//! Senim's call core, sans-IO: one caller's call (dialog, SDP, DTMF from
//! every source, the dialplan interpreter, routing and the bridge, partner
//! transfers, voicemail and callback requests) and a call Senim places itself
//! (click-to-call), each with its outbound legs.
//!
//! A core is fed `handle_*(now, …)` and drained with `poll_output` and
//! `poll_timeout` ([`core::CallCore`]); it never reads the clock (clippy's
//! `disallowed-methods`, see `clippy.toml`) and has no sockets, tasks or
//! channels. The `senim` binary's driver owns those.

pub mod call;
pub mod callback_limit;
pub mod callback_request;
pub mod caller;
pub mod click_to_call;
pub mod config;
pub mod core;
pub mod io;
pub mod kazakh_number;
pub mod leg;
pub mod legs;
pub mod line;
pub mod media;
pub mod memory;
pub mod record;
pub mod relay;
pub mod time;
pub mod trunk;
pub mod voicemail;
