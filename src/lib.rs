//! Senim: an IVR and telephony service for a helpline.
//!
//! The protocol cores live in their own crates (`senim-sip`, `senim-media`)
//! and never touch a socket or the clock; this crate is the service around
//! them: configuration, the call controller, the I/O drivers, the store and
//! the HTTP side and the web pages.

pub mod backup;
pub mod bundled;
pub mod call;
pub mod config;
pub mod data_dir;
pub mod driver;
pub mod follow_ups;
pub mod http;
pub mod keys;
pub mod loading;
pub mod plan;
pub mod privacy;
pub mod reload;
pub mod server;
pub mod status;
pub mod store;
pub mod test_call;
pub mod util;
pub mod web;
pub mod wrap_up;
