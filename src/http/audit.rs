//! Writing the audit log for a request: who (the token's name and role)
//! did what, to which target, with a JSON detail.

use super::auth::Caller;
use crate::store::audit::{self, AuditEntry};
use crate::store::{Store, StoreError};
use crate::util::time::now_ms;

/// Write an audit entry; a read is refused if this fails, a change already
/// made only logs the failure.
pub async fn write_audit(
    store: &Store,
    caller: &Caller,
    action: &str,
    target: Option<&str>,
    detail: serde_json::Value,
) -> Result<(), StoreError> {
    audit::write(
        store,
        &AuditEntry {
            at_ms: now_ms(),
            token_name: &caller.name,
            role: caller.role.as_str(),
            action,
            target,
            detail: Some(detail.to_string()),
        },
    )
    .await
    .map(|_| ())
}
