//! The caller as the INVITE shows them.

use rsip::prelude::*;

/// The caller's number as the trunk presents it (From user part).
pub fn caller_number(request: &rsip::Request) -> Option<String> {
    let from = request.from_header().ok()?.typed().ok()?;
    from.uri.user().map(str::to_string)
}
