//! The media engine's counters, for `/metrics`.

use std::sync::atomic::AtomicU64;

/// Counters shared by all pacing threads.
#[derive(Debug, Default)]
pub struct MediaStats {
    pub packets_sent: AtomicU64,
    pub send_errors: AtomicU64,
    /// Slots (1 ms of streams) sent more than 2 ms after their deadline.
    pub late_ticks: AtomicU64,
    pub streams: AtomicU64,
    /// Packets read from the ports.
    pub packets_received: AtomicU64,
    /// Of those, handled by the engine under a rule (not handed to a call).
    pub packets_handled: AtomicU64,
    /// Packets relayed by the engine to the other side of a bridge.
    pub packets_relayed: AtomicU64,
    /// Packets dropped at the port because its call had
    /// [`MAX_QUEUED_PACKETS`](crate::driver::media::MAX_QUEUED_PACKETS)
    /// waiting already.
    pub packets_dropped: AtomicU64,
}
