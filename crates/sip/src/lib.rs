//! Senim's sans-IO SIP core.
//!
//! * [`message`]: the project's wrapper around `rsip` (parsing with the gaps of rsip 0.4 filled:
//!   compact header names, line folding, comma-separated Via/Route/Contact, Content-Length
//!   cutting, TCP framing, stateless 400s, serialisation with a correct Content-Length).
//! * [`transaction`]: the RFC 3261 §17 transaction layer (with the RFC 6026 Accepted state) as a
//!   state machine: bytes and time go in, datagrams/frames and events come out.
//! * [`dialog`]: RFC 3261 §12 dialog state and in-dialog request construction.
//! * [`digest`]: digest authentication (RFC 2617 / 7616 / 8760): the server side with nonces,
//!   and in [`digest::client`] the answers to 401/407 challenges.
//! * [`registrar`]: the RFC 3261 §10 registrar for the specialists' phones, with the
//!   [`lockout`] of users and source addresses after repeated wrong passwords.
//! * [`registration`]: the client side of RFC 3261 §10: registering to a SIP provider, with
//!   refreshes, challenges, 423 and retries with back-off.
//! * [`health`]: trunk health by out-of-dialog OPTIONS probes (up/down with events).
//! * [`uas`]: the RFC 3261 §8.2.2 checks of a request a UAS takes (Request-URI scheme, 416;
//!   Require, 420).
//! * [`outbound`]: what the client cores hand to the driver ([`outbound::OutgoingRequest`])
//!   and the pieces they share (the request's headers, Via with rport, back-off with jitter,
//!   the public address).
//!
//! Nothing here reads the clock, opens a socket or spawns a task: the driver feeds `now`
//! and drains `poll_transmit` / `poll_event` / `poll_timeout`.

pub mod dialog;
pub mod digest;
pub mod health;
pub mod keepalive;
pub mod lockout;
pub mod message;
pub mod outbound;
pub mod refer;
pub mod registrar;
pub mod registration;
pub mod source_limit;
pub mod transaction;
pub mod uas;

pub use rsip;
