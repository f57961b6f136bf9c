//! The thin I/O layer: sockets, threads and timers around the sans-IO cores.

pub mod admission;
pub mod cluster;
pub mod media;
pub mod messages;
pub mod refusal_log;
pub mod registrar;
pub mod registrations;
pub mod router;
pub mod sip;
pub mod stats;
pub mod tcp;
pub mod tls;
pub mod trunks;
