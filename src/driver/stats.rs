//! Counters of the SIP endpoint and the calls, for health and metrics.

/// Counters for health and metrics.
#[derive(Debug, Default)]
pub struct SipStats {
    pub calls_active: std::sync::atomic::AtomicU64,
    pub calls_total: std::sync::atomic::AtomicU64,
    pub messages_in: std::sync::atomic::AtomicU64,
    /// RTP datagrams dropped because they did not come from the port's far
    /// end (strict RTP: a stranger, or a source still on probation).
    pub rtp_packets_dropped: std::sync::atomic::AtomicU64,
    /// Keys accepted (after de-duplication), by source.
    pub dtmf_rfc4733: std::sync::atomic::AtomicU64,
    pub dtmf_sip_info: std::sync::atomic::AtomicU64,
    pub dtmf_inband: std::sync::atomic::AtomicU64,
    /// Calls bridged to a specialist or partner now.
    pub calls_connected: std::sync::atomic::AtomicU64,
    /// Callers recognised (remembered from an earlier call), who agreed to
    /// be remembered, and who asked to be forgotten in a call (no identities).
    pub callers_recognised: std::sync::atomic::AtomicU64,
    pub callers_remembered: std::sync::atomic::AtomicU64,
    pub callers_forgotten: std::sync::atomic::AtomicU64,
    /// New calls refused with 503: `[sip] max_calls` were in progress.
    pub calls_refused_full: std::sync::atomic::AtomicU64,
    /// SIP messages dropped over the per-source rate limit.
    pub rate_limited: std::sync::atomic::AtomicU64,
    /// New requests refused with 503: the transaction table was full.
    pub overload_refused: std::sync::atomic::AtomicU64,
    /// TCP and TLS connections closed at accept: too many in all or from one address.
    pub tcp_refused: std::sync::atomic::AtomicU64,
    /// Accepted TLS connections whose handshake failed or took too long.
    pub tls_handshakes_failed: std::sync::atomic::AtomicU64,
    /// Requests from strangers refused (a 403 or no answer), and unparsable
    /// messages from them dropped.
    pub refused_unknown_source: std::sync::atomic::AtomicU64,
    /// Requests from known scanners dropped.
    pub dropped_scanners: std::sync::atomic::AtomicU64,
    /// REGISTERs whose credentials failed (wrong password, unknown user).
    pub register_failures: std::sync::atomic::AtomicU64,
    /// Lock-outs started, of a user name and of a source address.
    pub register_lockouts_user: std::sync::atomic::AtomicU64,
    pub register_lockouts_source: std::sync::atomic::AtomicU64,
}
