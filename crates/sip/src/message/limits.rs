//! Size limits on what is accepted from the wire.

/// Largest message head (start line + headers) accepted, in bytes.
pub const MAX_HEAD: usize = 64 * 1024;
/// Largest body accepted on a stream transport, in bytes.
pub const MAX_BODY: usize = 1024 * 1024;
