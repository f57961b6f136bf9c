//! Senim's sans-IO SIP core.
//!
//! * [`message`]: the project's wrapper around `rsip` (parsing with the gaps of rsip 0.4 filled:
//!   compact header names, line folding, comma-separated Via/Route/Contact, Content-Length
//!   cutting, TCP framing, stateless 400s, serialisation with a correct Content-Length).
//! * [`transaction`]: the RFC 3261 §17 transaction layer (with the RFC 6026 Accepted state) as a
//!   state machine: bytes and time go in, datagrams/frames and events come out.
//! * [`dialog`]: RFC 3261 §12 dialog state and in-dialog request construction.
//! * [`digest`]: server-side digest authentication (RFC 2617 / 7616 / 8760) and nonces.
//! * [`registrar`]: the RFC 3261 §10 registrar for the specialists' phones.
//!
//! Nothing here reads the clock, opens a socket or spawns a task: the driver feeds `now`
//! and drains `poll_transmit` / `poll_event` / `poll_timeout`.

pub mod dialog;
pub mod digest;
pub mod message;
pub mod refer;
pub mod registrar;
pub mod transaction;

pub use rsip;
